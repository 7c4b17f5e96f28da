/*
 * Record steps of several tasks sent as one script call (record_many.lua)
 * instead of one record.lua call each: what a loop iteration's finished
 * tasks want recorded is collected and sent when the iteration's
 * callbacks are done (a check handle, and an idle handle so the loop
 * does not wait first), never on a timer: a task finishing alone is sent
 * in the same iteration, as before.
 *
 * Each task's block is formatted when it is added, so the caller's plan
 * need not outlive tgw_recbatch_add().  Each added callback runs exactly
 * once: with its task's element of the reply (1, 0 or an error), or with
 * the whole reply (NULL when the connection failed, or Redis's error
 * when the call as a whole was refused): the task then stalls and tries
 * again on its own (record.lua), as any failed step does.  A callback
 * never runs inside tgw_recbatch_add(): a call that cannot go out there
 * is answered from the loop's handlers.
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
    char               *group_own;  /* the consumer group of what is
                                       collected */
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

void tgw_recbatch_init(tgw_recbatch_t *b, uv_loop_t *loop, tgw_rconn_t *rc);

/*
 * Adds a task's record step: its entry and the plan's writes.  Returns 0
 * when cb will be called, -1 when nothing was added (the connection is
 * not ready, the group differs from the batch's and the batch could not
 * be sent first, or no memory): the caller stalls as for a failed send.
 */
int tgw_recbatch_add(tgw_recbatch_t *b, const char *group,
    const char *stream, const char *entry, const tgw_plan_t *plan,
    tgw_rconn_reply_cb cb, void *data);

/* Sends what is collected now. */
void tgw_recbatch_flush(tgw_recbatch_t *b);

/* Drops what is collected without calling back (its tasks are being
 * destroyed) and closes the handles. */
void tgw_recbatch_close(tgw_recbatch_t *b);

#endif /* TGW_RECBATCH_H */
