/*
 * Every Redis operation of the worker: each function composes one
 * command (the scripts come from worker/common/lua/ through tgw_lua.h,
 * key and field names from tgw_keys.h) and sends it on the connection it
 * is given.  Each returns 0 when cb will be called with the reply (NULL
 * when the connection failed first), -1 when nothing was sent (the
 * connection is not ready, or no memory): the caller tries again later.
 * The reply helpers at the end turn stream replies into entries.
 */

#ifndef TGW_STORE_H
#define TGW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "outcome.h"
#include "rconn.h"
#include "recbatch.h"

/* Codes of the start script's reply {code, attempts}. */
#define TGW_START_ELSEWHERE    -4   /* pending under another consumer:
                                       reclaimed, that worker runs it */
#define TGW_START_EXHAUSTED    -3   /* attempts used up: not run */
#define TGW_START_NOT_PENDING  -2   /* finished elsewhere */
#define TGW_START_GONE         -1   /* the hash is gone */
#define TGW_START_CANCELLED     0   /* cancel requested */
#define TGW_START_OK            1   /* running; attempts counted */
#define TGW_START_LOADED        2   /* take_many.lua: loaded, not started */

/* The stream of queue q at priority p (0 high): "<prefix>:q:<q>:<p>",
 * allocated; NULL when out of memory. */
char *tgw_store_stream(const tgw_conf_t *c, const char *queue, int prio);

/* HGETALL of a task hash. */
int tgw_store_load(tgw_rconn_t *rc, const tgw_conf_t *c, const char *id,
    tgw_rconn_reply_cb cb, void *data);

/* TYPE of a task's hash key: whether a write refused as WRONGTYPE
 * was refused on the task's own key. */
int tgw_store_task_type(tgw_rconn_t *rc, const tgw_conf_t *c, const char *id,
    tgw_rconn_reply_cb cb, void *data);

/* The take script (worker/common/lua/take_many.lua) for one task: the
 * task's hash, and its run started unless the worker has to look at it
 * first.  again_ms: the now of a start of this task whose answer was
 * lost (0: none); a task running since then is answered as started,
 * not counted again.  The reply is an array of one element, the task's
 * answer ({code, attempts, values}) or its error. */
int tgw_store_take(tgw_rconn_t *rc, tgw_conf_t *c, const char *id,
    const char *stream, const char *entry, uint64_t now_ms,
    uint64_t again_ms, tgw_rconn_reply_cb cb, void *data);

/* The same added to b (a batch of take_many.lua, recbatch.h) with the
 * other tasks taken in this loop iteration: cb gets the task's element.
 * Returns as tgw_recbatch_begin(). */
int tgw_store_take_add(tgw_recbatch_t *b, tgw_conf_t *c,
    const char *id, const char *stream, const char *entry, uint64_t now_ms,
    uint64_t again_ms, tgw_rconn_reply_cb cb, void *data);

/* Reads up to count new entries of the streams for the group, in their
 * order (the next only while fewer than count were read), and takes
 * their tasks in the same call (worker/common/lua/read_take.lua): the
 * reply is first one element per stream, the number of entries read
 * from it or its read's error (the streams after it are not read), then
 * per entry TGW_READ_TAKE_WIDTH elements: its id, the task id, and the
 * take's answer flat (tgw_store_take()'s code, attempts and values; or
 * the task's error and nils; a nil code when the entry has no usable
 * id: nothing was taken). */
int tgw_store_read_take(tgw_rconn_t *rc, tgw_conf_t *c, char *const *streams,
    size_t nstreams, int count, uint64_t now_ms, tgw_rconn_reply_cb cb,
    void *data);

/* The start script (worker/common/lua/start.lua); again_ms as for
 * tgw_store_take(). */
int tgw_store_start(tgw_rconn_t *rc, const tgw_conf_t *c, const char *id,
    const char *stream, const char *entry, uint64_t now_ms,
    uint64_t again_ms, int max_attempts, tgw_rconn_reply_cb cb, void *data);

/* The record script: plan's writes, then XACK and XDEL of the entry. */
int tgw_store_record(tgw_rconn_t *rc, const tgw_conf_t *c,
    const char *stream, const char *entry, const tgw_plan_t *plan,
    tgw_rconn_reply_cb cb, void *data);

/* The same added to b (a batch of record_many.lua, recbatch.h). */
int tgw_store_record_add(tgw_recbatch_t *b, tgw_conf_t *c,
    const char *stream, const char *entry, const tgw_plan_t *plan,
    tgw_rconn_reply_cb cb, void *data);

/*
 * The record of a task that succeeded and has no webhook, added to b in
 * record_many.lua's short form: the entry, the id, finished_ms, the result
 * (NULL: "null") and its encoding (NULL: none); the script writes what the
 * plan of such an outcome writes (outcome.h: status, result, finished_at,
 * result_encoding when given; error and a stale result_encoding removed;
 * the TTL; the id published) from the config's prefix and result_ttl.
 * clean: the task's hash held neither an error nor a result_encoding
 * when it was taken, so there is nothing stale to remove (the script
 * skips that write); 0 when not known.
 */
int tgw_store_succeeded_add(tgw_recbatch_t *b, tgw_conf_t *c,
    const char *stream, const char *entry, const char *id,
    const char *result, const char *result_enc, uint64_t finished_ms,
    int clean, tgw_rconn_reply_cb cb, void *data);

/* XREADGROUP of one stream, without blocking, from ">" (new entries) or
 * from an id (this consumer's own pending entries after it). */
int tgw_store_read(tgw_rconn_t *rc, const tgw_conf_t *c,
    const char *stream, const char *from, int count, tgw_rconn_reply_cb cb,
    void *data);

/* XREADGROUP COUNT 1 BLOCK block_ms over several streams. */
int tgw_store_read_blocking(tgw_rconn_t *rc, const tgw_conf_t *c,
    char * const *streams, size_t n, uint64_t block_ms,
    tgw_rconn_reply_cb cb, void *data);

/* CLIENT ID of the connection; CLIENT UNBLOCK of another one's blocking
 * command (it returns at once, as if its time were up). */
int tgw_store_client_id(tgw_rconn_t *rc, tgw_rconn_reply_cb cb,
    void *data);
int tgw_store_client_unblock(tgw_rconn_t *rc, long long id,
    tgw_rconn_reply_cb cb, void *data);

/* XGROUP CREATE stream group 0 MKSTREAM. */
int tgw_store_group_create(tgw_rconn_t *rc, const tgw_conf_t *c,
    const char *stream, tgw_rconn_reply_cb cb, void *data);

/* XAUTOCLAIM of entries idle claim_idle or more, from cursor. */
int tgw_store_autoclaim(tgw_rconn_t *rc, const tgw_conf_t *c,
    const char *stream, const char *cursor, int count,
    tgw_rconn_reply_cb cb, void *data);

/*
 * The extend script (worker/common/lua/extend.lua) for n entries this
 * consumer holds (streams[i], entries[i]): re-claims those still pending
 * under its name; the reply is the array of the (1-based) numbers of
 * the others.  Returns as tgw_rconn_cmd().
 */
int tgw_store_extend_many(tgw_rconn_t *rc, const tgw_conf_t *c, size_t n,
    const char *const *streams, const char *const *entries,
    tgw_rconn_reply_cb cb, void *data);

/* The prune script (worker/common/lua/prune.lua): deletes the group's
 * consumers that hold nothing and idled min_idle_ms, and own_name when it
 * holds nothing (NULL: none). */
int tgw_store_prune(tgw_rconn_t *rc, const tgw_conf_t *c,
    const char *stream, uint64_t min_idle_ms, const char *own_name,
    tgw_rconn_reply_cb cb, void *data);

/* The move script: due ids of the scheduled set back to their streams. */
#define TGW_MOVE_BATCH      100     /* ids per run */
#define TGW_MOVE_RETRY_MS   10000   /* a due id whose stream refused it
                                       is tried again this much later */
int tgw_store_move(tgw_rconn_t *rc, const tgw_conf_t *c, uint64_t now_ms,
    tgw_rconn_reply_cb cb, void *data);

/* SET <prefix>:worker:<name> text PX ttl; and its DEL at exit. */
int tgw_store_heartbeat(tgw_rconn_t *rc, const tgw_conf_t *c,
    const char *text, uint64_t ttl_ms, tgw_rconn_reply_cb cb, void *data);
int tgw_store_worker_gone(tgw_rconn_t *rc, const tgw_conf_t *c,
    tgw_rconn_reply_cb cb, void *data);

/*
 * SET <prefix>:config:result_ttl <ms>: how long finished tasks are kept,
 * for those that finish a task outside a worker (a cancel by nginx or
 * taskgwctl).  No TTL: the last value written stays.
 */
int tgw_store_result_ttl(tgw_rconn_t *rc, const tgw_conf_t *c,
    tgw_rconn_reply_cb cb, void *data);

/* The create script with a guard: schedule s's tick `minute` (unix
 * minutes) creates task id, once across every worker. */
#define TGW_CRON_GUARD_MS   (48 * 3600 * 1000)  /* life of a tick guard */
int tgw_store_cron_fire(tgw_rconn_t *rc, const tgw_conf_t *c,
    const tgw_schedule_conf_t *s, uint64_t minute, const char *id,
    uint64_t now_ms, tgw_rconn_reply_cb cb, void *data);

/*
 * The outbox of webhook events (outbox_claim.lua, outbox_done.lua):
 * claim up to batch due events for lease_ms (the reply has one
 * {id, claim, task id, type, url, attempts, body, traceparent} per event),
 * and write
 * the answer of a try under its claim.
 */
int tgw_store_outbox_claim(tgw_rconn_t *rc, const tgw_conf_t *c,
    uint64_t now_ms, uint64_t lease_ms, int batch, tgw_rconn_reply_cb cb,
    void *data);

typedef struct {
    const char         *event_id;
    const char         *claim;      /* the claim the try was made under */
    const char         *task_id;
    const char         *outcome;    /* delivered, failed, pending, drop,
                                       release */
    int                 attempts;   /* tries with a known answer */
    const char         *error;      /* webhook_last_error, NULL: keep */
    uint64_t            due_ms;     /* pending, release: due again then */
    const char         *body;       /* pending: kept for the retries */
    size_t              body_len;
    const char         *url;        /* pending: kept for the retries */
    const char         *traceparent; /* pending: kept for the retries */
} tgw_outbox_done_t;

int tgw_store_outbox_done(tgw_rconn_t *rc, const tgw_conf_t *c,
    const tgw_outbox_done_t *d, tgw_rconn_reply_cb cb, void *data);

/* ---- replies ----------------------------------------------------------- */

/* One stream entry: its id and the task id it names (NULL: none).
 * Returns 1 when the entry was taken, 0 when not (held already). */
typedef int (*tgw_store_entry_cb)(void *data, const char *stream,
    const char *entry, const char *id, size_t id_len);

/* Calls cb for each entry of an entry list ([[id, [f, v, ...]], ...]);
 * returns how many were taken. */
int tgw_store_entries(const char *stream, const redisReply *entries,
    tgw_store_entry_cb cb, void *data);

/* Same for an XREADGROUP reply ([[stream, [entries]], ...], or nil). */
int tgw_store_read_entries(const redisReply *r, tgw_store_entry_cb cb,
    void *data);

/* 1 when r is an error reply or missing (the connection failed). */
int tgw_reply_failed(const redisReply *r);

/* The text of a failed reply, for logs. */
const char *tgw_reply_error(const redisReply *r);

#endif /* TGW_STORE_H */
