/*
 * One task inside the worker: the state machine from the stream entry to
 * the acked outcome.  Each state sends one Redis request (store.c); a
 * request that fails leaves the task "stalled" and its owner sends the
 * same step again later (every step is safe to repeat).  A task reports
 * to its owner through tgw_task_events_t and never reaches up into
 * fetching or shutdown: the owner (processor.c) decides when it starts.
 */

#ifndef TGW_TASK_H
#define TGW_TASK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "conf.h"
#include "log.h"
#include "outcome.h"
#include "rconn.h"
#include "recbatch.h"
#include "run.h"
#include "tgw_trace.h"

/*
 * A task's life inside this worker.  Every state but NEW and BLOCKED
 * holds one of the `concurrency` slots.
 *
 *   NEW -> LOADING -> BLOCKED -> STARTING -> RUNNING -> RECORDING
 *
 * and from LOADING, BLOCKED or STARTING straight to RECORDING when there
 * is nothing to run (cancelled, finished, not due, hostile, handed back).
 * LOADING is one script (take_many.lua, one call for the tasks taken in
 * a loop iteration) that loads the task and, unless the worker must look
 * at it first (its type capped, not due, finished, hostile), starts it:
 * then LOADING goes straight to RUNNING.  When no memory is left to send
 * it, LOADING is a plain HGETALL and the start a step of its own.
 */
typedef enum {
    TGW_TASK_NEW = 0,               /* entry read, waiting for a slot */
    TGW_TASK_LOADING,               /* take_many.lua (or HGETALL) */
    TGW_TASK_BLOCKED,               /* loaded; waits for a slot or for its
                                       type to be under its cap */
    TGW_TASK_STARTING,              /* the start script: counts the
                                       attempt, status "running" */
    TGW_TASK_RUNNING,               /* the handler runs */
    TGW_TASK_RECORDING              /* the record script, then it is gone */
} tgw_task_state_t;

typedef struct tgw_task_s tgw_task_t;

/* A stream entry naming a longer task id is a bad entry (ids are UUIDs,
 * 36 characters; this leaves room for ids made by other tools). */
#define TGW_TASK_ID_MAX  256

/* What a task tells its owner. */
typedef struct {
    void (*loaded)(tgw_task_t *t);      /* now BLOCKED: may be started */
    void (*recorded)(tgw_task_t *t);    /* the record script wrote its
                                           writes (not called when the
                                           entry was no longer pending) */
    void (*released)(tgw_task_t *t);    /* done: the owner unlinks it and
                                           calls tgw_task_destroy() */
    void (*refused)(tgw_task_t *t, const char *was);
                                        /* its record was refused on
                                           t->wait_key (another type):
                                           the owner may park it; was:
                                           the key it waited on before,
                                           now fixed (NULL: none) */
    void (*stream_bad)(tgw_task_t *t);  /* recorded, but its stream key
                                           holds another type: nothing
                                           was acked (said by the owner,
                                           before recorded) */
    void (*ran)(tgw_task_t *t);         /* its run ended and its record
                                           is sent (or stalled): the
                                           owner may free its slot */
} tgw_task_events_t;

struct tgw_task_s {
    tgw_task_t         *prev, *next;    /* the owner's list */
    tgw_task_t         *hnext;      /* the owner's lookup by entry */
    unsigned            hkey;       /* hash of stream and entry */
    const tgw_task_events_t *ev;
    void               *owner;
    uv_loop_t          *loop;
    tgw_rconn_t        *rc;         /* the command connection */
    tgw_conf_t         *conf;       /* config the task was taken under:
                                       a SIGHUP does not change it midway */
    tgw_task_state_t    state;
    int                 busy;       /* a Redis request for it is out */
    int                 stalled;    /* its last Redis step failed; the
                                       owner sends it again */
    int                 drop;       /* forget it when its request or run
                                       comes back: the entry stays pending
                                       for another worker */
    int                 elsewhere;  /* given up while running: another
                                       worker reclaimed its entry */
    unsigned            errors;     /* error replies to its current step */

    char               *stream;     /* stream key the entry came from */
    char               *entry;      /* entry id there, for XACK/XDEL */
    char               *id;         /* task id (NULL: malformed entry) */

    /* From the task hash. */
    char               *queue;      /* always a valid queue name once
                                       loaded (the stream's when the hash
                                       has none) */
    char               *type;
    char               *priority;
    char               *payload;
    size_t              payload_len;
    char               *content_type;
    char               *callback_url; /* X-Callback-URL of the request */
    int                 attempts;   /* runs so far, this one included (the
                                       start script counts it) */
    uint64_t            run_at;     /* ms; 0 when none */
    int                 clean;      /* the hash held neither an error nor
                                       a result_encoding when loaded (an
                                       earlier attempt's): a success need
                                       not delete them */

    /* Its trace (tgw_trace.h): the stored traceparent, or one made from
     * the id when none is stored ("" until loaded); and the one this run
     * sends on, whose parent id is the run's own span. */
    char                traceparent[TGW_TRACEPARENT_LEN + 1];
    char                run_traceparent[TGW_TRACEPARENT_LEN + 1];
    tgw_log_trace_t     log_trace;  /* trace_id in its log lines */

    const tgw_handler_conf_t *handler;  /* NULL: unknown type */
    tgw_run_t           run;
    uint64_t            started_ms; /* this run's start (wall clock) */
    uint64_t            again_ms;   /* the first start sent whose answer
                                       was lost (its started_ms; 0:
                                       none): the start sent again finds
                                       a task running since then to be
                                       that start, not counted twice */

    /* The record step. */
    tgw_rec_t           rec;
    tgw_outcome_t       outcome;    /* TGW_REC_OUTCOME: where it goes */
    uint64_t            finished_ms;
    uint64_t            due_ms;     /* retrying, defer, postpone: when */
    int                 missing;    /* its hash was gone (counted) */
    tgw_recbatch_t     *batch;      /* record steps sent with others';
                                       NULL: each on its own */
    tgw_recbatch_t     *takes;      /* take steps sent with others'
                                       (take_many.lua); NULL: each on
                                       its own */
    int                 solo;       /* a record sent with others failed:
                                       this task's goes on its own */
    char               *wait_key;   /* a key its record writes that holds
                                       another type (not its hash): the
                                       record waits until it is fixed */
    char               *was_key;    /* the one it waited on before, now
                                       fixed: handed to the owner with
                                       the next refused event */
    uint64_t            retry_ms;   /* then: not sent again before this
                                       (tgw_clock_mono_ms, redis_backoff) */
    int                 parked;     /* then, set by the owner: it waits
                                       without its slot */
    int                 unslotted;  /* set by the owner: its run ended,
                                       its record is out and it holds no
                                       slot (it stays held until the
                                       record is written) */
};

/* A new task for an entry (id NULL: the entry names none), in state NEW.
 * NULL when out of memory. */
tgw_task_t *tgw_task_create(tgw_conf_t *conf, uv_loop_t *loop,
    tgw_rconn_t *rc, const char *stream, const char *entry, const char *id,
    size_t id_len, const tgw_task_events_t *ev, void *owner);
void tgw_task_destroy(tgw_task_t *t);

/* Frees the task objects kept for reuse (at exit, once no task is left). */
void tgw_task_cache_free(void);

/* NEW -> LOADING: read the hash, and start it when nothing stands in the
 * way.  Ends in RUNNING, in ev->loaded (BLOCKED) or in RECORDING when
 * there is nothing to run. */
void tgw_task_load(tgw_task_t *t);

/* A NEW task whose take was done with its read (read_take.lua): r is the
 * take's answer for it, as the take step's reply, made at now_ms. */
void tgw_task_answer(tgw_task_t *t, redisReply *r, uint64_t now_ms);

/* BLOCKED -> STARTING: count the attempt and run. */
void tgw_task_start(tgw_task_t *t);

/* -> RECORDING: write what rec says (t->due_ms set for POSTPONE), ack. */
void tgw_task_record(tgw_task_t *t, tgw_rec_t rec);

/* Sends the current step again (after a failure; a record waiting on a
 * key of another type, once its backoff is over). */
void tgw_task_retry(tgw_task_t *t);

/* Stops caring for the task: a running handler is killed; the entry
 * stays pending.  Returns 1 when the owner may destroy it now, 0 when a
 * request or the run is still out (ev->released follows). */
int tgw_task_abandon(tgw_task_t *t);

/*
 * The claim extension found the task's entry pending under another
 * worker, or not at all: it was reclaimed while this worker was held up
 * past claim_idle.  A running task is given up (its handler killed,
 * nothing recorded by this worker; ev->released follows); a task in any
 * other state is left to its next script, which checks the entry's
 * owner itself.
 */
void tgw_task_elsewhere(tgw_task_t *t);

/* 1 when the task holds one of the worker's slots (a parked record and
 * an unslotted one hold none). */
int tgw_task_holds_slot(const tgw_task_t *t);

/* Where the task's webhook goes (its callback URL, else its handler's,
 * else webhook.url), or NULL for none. */
const char *tgw_task_hook_url(const tgw_task_t *t);

/* The status a recorded task reached, or NULL when not terminal. */
const char *tgw_task_final_status(const tgw_task_t *t);

/* Returns a pointer to the name of a task state, for logs. */
const char *tgw_task_state_name(tgw_task_state_t s);

#endif /* TGW_TASK_H */
