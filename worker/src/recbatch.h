/*
 * Steps of several tasks sent as one script call instead of one call
 * each: the record steps (record_many.lua instead of record.lua per
 * task) and the take steps (take_many.lua for the entries a read
 * brought).  What a loop iteration's tasks want sent is collected and
 * sent when the iteration's callbacks are done (a check handle, and an
 * idle handle so the loop does not wait first), never on a timer: a task
 * alone is sent in the same or the next iteration, before the loop
 * waits.
 *
 * A call is the script's leading arguments (its head: the same for every
 * task of the call, e.g. the consumer group) and one block of arguments
 * per task.  Each task's block is formatted when it is added, so what it
 * was made from need not outlive the add.  Each added callback runs
 * exactly once: with its task's element of the reply, or with the whole
 * reply (NULL when the connection failed, or Redis's error when the call
 * as a whole was refused): the task then stalls and tries again, as any
 * failed step does (a record step on its own, record.lua).  A callback
 * never runs inside an add: a call that cannot go out there is answered
 * from the loop's handlers.
 */

#ifndef TGW_RECBATCH_H
#define TGW_RECBATCH_H

#include <stddef.h>

#include <uv.h>

#include "outcome.h"
#include "rconn.h"

/* A call holds at most this many tasks, and about this many bytes of
 * their arguments: a bigger batch is sent in several calls. */
#define TGW_RECBATCH_MAX        256
#define TGW_RECBATCH_MAX_BYTES  (512 * 1024)

typedef struct tgw_recbatch_call_s tgw_recbatch_call_t;

typedef struct {
    tgw_rconn_reply_cb  cb;
    void               *data;
} tgw_recbatch_item_t;

typedef struct {
    uv_loop_t          *loop;
    tgw_rconn_t        *rc;
    const char         *script;     /* what a call runs (tgw_lua.h) */
    char               *head;       /* the call's leading arguments,
                                       formatted, of what is collected */
    size_t              head_len;
    size_t              head_argc;
    size_t              mark_len;   /* where the block being added began */
    size_t              mark_argc;
    uv_check_t          check;      /* sends after the iteration's
                                       callbacks */
    uv_idle_t           idle;       /* keeps the loop from waiting while
                                       something is collected */
    int                 active;     /* check and idle started */
    int                 n;
    tgw_recbatch_item_t items[TGW_RECBATCH_MAX];
    char               *buf;        /* the blocks, formatted */
    size_t              len, size;
    size_t              argc;       /* arguments in buf */
    tgw_recbatch_call_t *failed;    /* calls that could not go out while
                                       a task was added, answered from
                                       the handlers */
    uint64_t            calls;      /* calls sent (for tests, stats) */
    uint64_t            tasks;      /* tasks sent in them */
} tgw_recbatch_t;

/* script: record_many.lua or take_many.lua of tgw_lua.h. */
void tgw_recbatch_init(tgw_recbatch_t *b, uv_loop_t *loop, tgw_rconn_t *rc,
    const char *script);

/*
 * Adding a task's block: begin with the call's head (argc arguments,
 * formatted as bulk strings; a batch collected under another head is
 * sent first), append the block's arguments, then commit with the
 * callback of its element, or cancel.  Each returns 0, or -1 when
 * nothing was added (the connection is not ready, the batch under
 * another head could not be sent first, no memory): the block is then
 * cancelled and the caller stalls as for a failed send.
 */
int tgw_recbatch_begin(tgw_recbatch_t *b, const char *head, size_t len,
    size_t argc);
int tgw_recbatch_arg(tgw_recbatch_t *b, const char *s, size_t len);
int tgw_recbatch_num(tgw_recbatch_t *b, size_t v);
int tgw_recbatch_commit(tgw_recbatch_t *b, tgw_rconn_reply_cb cb,
    void *data);
void tgw_recbatch_cancel(tgw_recbatch_t *b);

/*
 * Adds a task's record step (record_many.lua): its entry and the plan's
 * writes, under the call's head (argc arguments formatted as bulk
 * strings: record_many.lua's leading arguments, store.c).  Returns as
 * tgw_recbatch_begin().
 */
int tgw_recbatch_add(tgw_recbatch_t *b, const char *head, size_t len,
    size_t argc, const char *stream, const char *entry,
    const tgw_plan_t *plan, tgw_rconn_reply_cb cb, void *data);

/* Sends what is collected now. */
void tgw_recbatch_flush(tgw_recbatch_t *b);

/* Drops what is collected without calling back (its tasks are being
 * destroyed) and closes the handles. */
void tgw_recbatch_close(tgw_recbatch_t *b);

#endif /* TGW_RECBATCH_H */
