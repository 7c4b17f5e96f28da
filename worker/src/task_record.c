/*
 * A task's record (task.h): its outcome written and its entry acked in
 * one script, alone or with the other tasks of a loop iteration.
 */

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "task.h"
#include "task_int.h"


static void
tgw_task_recorded(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_task_t *t = data;

    if ((t = tgw_task_reply(t, r, "record")) == NULL) {
        return;
    }
    if (r->type != REDIS_REPLY_INTEGER) {
        t->stalled = 1;
        return;
    }
    if (r->integer == 0) {
        /* Not pending any more: this outcome was written already (the
         * reply of the first try was lost), or another worker finished
         * the task; either way it is not ours to write or announce. */
        tgw_log(TGW_LOG_INFO, "task_already_recorded", "task_id", t->id,
                "type", t->type, NULL);
        t->ev->released(t);
        return;
    }
    if (r->integer == 2) {
        /* Written, but its stream key holds another type now: the entry
         * went with the stream, nothing to ack (the read side leaves the
         * key alone: stream_error). */
        t->ev->stream_bad(t);
    }
    switch (t->rec) {
    case TGW_REC_CANCELLED:
        tgw_log(TGW_LOG_INFO, "task_cancelled", "task_id", t->id,
                "type", t->type, NULL);
        break;
    case TGW_REC_DEFER:
        tgw_log(TGW_LOG_INFO, "task_deferred", "task_id", t->id,
                "type", t->type, NULL);
        break;
    default:
        break;
    }
    t->ev->recorded(t);
    t->ev->released(t);
}


/* The task's element of a record_many.lua reply (or the whole reply when
 * the call failed): as for its own record call, and when it failed, the
 * next try goes on its own, so nothing else in a batch can fail it
 * again. */
static void
tgw_task_recorded_many(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_task_t *t = data;

    if (tgw_reply_failed(r) || r->type != REDIS_REPLY_INTEGER) {
        t->solo = 1;
    }
    tgw_task_recorded(rc, r, data);
}


/*
 * Records the task and acks its entry, in one script (record.lua, or
 * record_many.lua with the other tasks finished in this loop iteration,
 * recbatch.h): the
 * entry leaves the stream only once the outcome is written, so a crash or
 * an error in between can only make the task run again, never lose it.
 * A plan that cannot be built (no memory) stalls the task; one whose
 * writes Redis refuses is retried, logged once per 40 tries (on a key
 * of another type, after a backoff: tgw_task_typed()).
 */
void
tgw_task_send_record(tgw_task_t *t)
{
    /* Some 25 KB, built and sent here and never kept: one for all
     * tasks (the worker has one thread), not an allocation per record. */
    static tgw_plan_t   plan_buf;
    tgw_plan_t         *plan = &plan_buf;
    tgw_plan_in_t       in;
    int                 rv;

    memset(&in, 0, sizeof(in));
    in.prefix = t->conf->prefix;
    in.id = t->id;
    in.queue = t->queue;
    in.stream = t->stream;
    in.rec = t->rec;
    in.outcome = &t->outcome;
    in.attempts = t->attempts;
    in.finished_ms = t->finished_ms ? t->finished_ms : tgw_now_ms();
    in.due_ms = t->due_ms;
    in.result_ttl_ms = t->conf->result_ttl_ms;
    in.hook_url = tgw_task_hook_url(t);
    if (t->id == NULL) {
        in.rec = TGW_REC_ACK;       /* a bad entry: nothing to write */
    }
    if (t->batch != NULL && !t->solo && in.rec == TGW_REC_OUTCOME
        && t->outcome.next == TGW_NEXT_SUCCEEDED && in.hook_url == NULL)
    {
        /* the most common record, in the batch's short form: no plan */
        if (tgw_store_succeeded_add(t->batch, t->conf, t->stream, t->entry,
                                    t->id, t->outcome.result,
                                    t->outcome.result_enc, in.finished_ms,
                                    t->clean, tgw_task_recorded_many, t)
            != 0)
        {
            t->stalled = 1;
            return;
        }
        t->busy = 1;
        return;
    }
    if (tgw_plan_build(&in, plan) != 0) {
        tgw_plan_free(plan);
        t->stalled = 1;
        return;
    }
    if (t->batch != NULL && !t->solo) {
        rv = tgw_store_record_add(t->batch, t->conf, t->stream, t->entry,
                                  plan, tgw_task_recorded_many, t);
    } else {
        rv = tgw_store_record(t->rc, t->conf, t->stream, t->entry, plan,
                              tgw_task_recorded, t);
    }
    tgw_plan_free(plan);
    if (rv != 0) {
        t->stalled = 1;
        return;
    }
    t->busy = 1;
}
