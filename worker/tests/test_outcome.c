/*
 * outcome.c: classifying a run and the record plan (the writes each kind
 * of record makes, in order, with their arguments).
 */

#include <stdlib.h>
#include <string.h>

#include "outcome.h"
#include "tap.h"
#include "tgw_keys.h"


/* The plan's command i as one space-joined string. */
static const char *
cmd(const tgw_plan_t *p, int i)
{
    static char buf[4096];
    size_t      n = 0;
    int         j;

    buf[0] = '\0';
    if (i >= p->n) {
        return "(none)";
    }
    for (j = 0; j < p->cmd[i].argc && n + p->cmd[i].len[j] + 2 < sizeof(buf);
         j++)
    {
        if (j) {
            buf[n++] = ' ';
        }
        memcpy(buf + n, p->cmd[i].argv[j], p->cmd[i].len[j]);
        n += p->cmd[i].len[j];
        buf[n] = '\0';
    }
    return buf;
}


/*
 * Overwrites the stack below the caller's frame, where the frame of a
 * function the caller called last lay: a plan must not point into the
 * frame of tgw_plan_build(), which is gone when the plan is sent.
 */
static void __attribute__((noinline))
clobber_stack(void)
{
    volatile char junk[16384];
    size_t        i;

    for (i = 0; i < sizeof(junk); i++) {
        junk[i] = 'Z';
    }
}


static void
plan_in(tgw_plan_in_t *in, tgw_rec_t rec, const tgw_outcome_t *o)
{
    memset(in, 0, sizeof(*in));
    in->prefix = "p";
    in->id = "T1";
    in->queue = "q";
    in->stream = "p:q:q:normal";
    in->rec = rec;
    in->outcome = o;
    in->attempts = 2;
    in->finished_ms = 1000;
    in->due_ms = 5000;
    in->result_ttl_ms = 60000;
}


int
main(void)
{
    tgw_outcome_t  o;
    tgw_plan_in_t  in;
    tgw_plan_t     p;
    char          *big;

    /* Classifying a run. */
    ok(tgw_outcome_classify(TGW_RUN_SUCCESS, "{\"a\":1}", 7, 0, NULL, 1, 3,
                            &o) == 0, "classify a success");
    is_int(o.next, TGW_NEXT_SUCCEEDED, "success succeeds");
    is_str(o.result, "{\"a\":1}", "JSON output is the result as it is");
    is_str(o.error, NULL, "no error text");
    tgw_outcome_free(&o);

    tgw_outcome_classify(TGW_RUN_SUCCESS, "\xff\xfe", 2, 0, NULL, 1, 3, &o);
    is_str(o.result_enc, "base64", "bytes that are no UTF-8: base64");
    tgw_outcome_free(&o);

    tgw_outcome_classify(TGW_RUN_RETRYABLE, NULL, 0, 0, "boom", 1, 3, &o);
    is_int(o.next, TGW_NEXT_RETRYING, "retryable with attempts left");
    is_str(o.error, "boom", "the handler's error text");
    tgw_outcome_free(&o);

    tgw_outcome_classify(TGW_RUN_RETRYABLE, NULL, 0, 0, NULL, 3, 3, &o);
    is_int(o.next, TGW_NEXT_DEAD, "retryable on the last attempt is dead");
    is_str(o.error, "failed", "no text: \"failed\"");
    tgw_outcome_free(&o);

    tgw_outcome_classify(TGW_RUN_PERMANENT, NULL, 0, 0, "bad", 1, 3, &o);
    is_int(o.next, TGW_NEXT_DEAD, "permanent is dead at once");
    tgw_outcome_free(&o);

    /* The plans. */
    tgw_outcome_classify(TGW_RUN_SUCCESS, "pong", 4, 0, NULL, 2, 3, &o);
    plan_in(&in, TGW_REC_OUTCOME, &o);
    ok(tgw_plan_build(&in, &p) == 0, "succeeded: plan built");
    is_int(p.n, 4, "succeeded: four writes");
    is_int(p.terminal, 1, "succeeded is final");
    is_str(cmd(&p, 0), "HSET p:task:T1 status succeeded result \"pong\" "
           "finished_at 1000", "succeeded: status, result, finished_at");
    is_str(cmd(&p, 1), "HDEL p:task:T1 error result_encoding",
           "succeeded: an earlier error goes");
    is_str(cmd(&p, 2), "PEXPIRE p:task:T1 60000", "succeeded: result_ttl");
    is_str(cmd(&p, 3), "PUBLISH p:events:done T1",
           "succeeded: announced last, once recorded");
    tgw_plan_free(&p);
    in.hook_url = "http://h/x";
    tgw_plan_build(&in, &p);
    is_str(cmd(&p, 2), "HSET p:task:T1 webhook_status pending "
           "webhook_attempts 0", "with a webhook: webhook_status pending");
    is_str(cmd(&p, 3), "HSET p:event:msg_T1_1000 task_id T1 "
           "type task.succeeded url http://h/x "
           "created_at 1000", "with a webhook: the event's hash");
    is_str(cmd(&p, 4), "ZADD p:outbox 1000 msg_T1_1000",
           "with a webhook: the event is due in the outbox at once");
    is_str(cmd(&p, 5), "PEXPIRE p:task:T1 60000",
           "with a webhook: then the TTL");
    is_str(cmd(&p, 6), "PUBLISH p:events:done T1",
           "with a webhook: announced last");
    is_int(p.n, 7, "with a webhook: seven writes in one script");
    tgw_plan_free(&p);
    tgw_plan_build(&in, &p);
    clobber_stack();
    is_str(cmd(&p, 3), "HSET p:event:msg_T1_1000 task_id T1 "
           "type task.succeeded url http://h/x "
           "created_at 1000", "the event's hash outlives the plan's making");
    is_str(cmd(&p, 4), "ZADD p:outbox 1000 msg_T1_1000",
           "... and so does its id in the outbox");
    tgw_plan_free(&p);
    in.rec = TGW_REC_CANCELLED;
    tgw_plan_build(&in, &p);
    is_str(cmd(&p, 2), "HSET p:event:msg_T1_1000 task_id T1 "
           "type task.cancelled url http://h/x "
           "created_at 1000", "cancelled: a task.cancelled event");
    tgw_plan_free(&p);
    tgw_outcome_free(&o);

    tgw_outcome_classify(TGW_RUN_RETRYABLE, NULL, 0, 0, "later", 2, 3, &o);
    plan_in(&in, TGW_REC_OUTCOME, &o);
    tgw_plan_build(&in, &p);
    is_int(p.terminal, 0, "retrying is not final");
    is_str(cmd(&p, 0), "HSET p:task:T1 status retrying error later",
           "retrying: status and error");
    is_str(cmd(&p, 1), "ZADD p:scheduled 5000 T1",
           "retrying: into the scheduled set at due_ms");
    is_int(p.n, 2, "retrying: nothing else (not announced)");
    tgw_plan_free(&p);
    tgw_outcome_free(&o);

    tgw_outcome_classify(TGW_RUN_RETRYABLE, NULL, 0, 0, "gone", 3, 3, &o);
    plan_in(&in, TGW_REC_OUTCOME, &o);
    in.attempts = 3;
    tgw_plan_build(&in, &p);
    is_str(cmd(&p, 0), "HSET p:task:T1 status dead error gone "
           "finished_at 1000", "dead: status, error, finished_at");
    is_str(cmd(&p, 1), "XADD p:dead:q * id T1 error gone attempts 3 "
           "failed_at 1000", "dead: a dead-letter entry in its queue's");
    is_str(cmd(&p, 2), "PEXPIRE p:task:T1 60000", "dead: result_ttl");
    is_str(cmd(&p, 3), "PUBLISH p:events:done T1", "dead: announced");
    tgw_plan_free(&p);

    /* A queue name of any length names its key: no fixed buffer cuts
     * it, and the plan never fails for it. */
    big = malloc(5001);
    memset(big, 'a', 5000);
    big[5000] = '\0';
    in.queue = big;
    ok(tgw_plan_build(&in, &p) == 0, "a 5000-byte queue name: plan built");
    is_int((long long) p.cmd[1].len[1], 5000 + strlen("p:dead:"),
           "the dead-letter key is whole");
    tgw_plan_free(&p);
    free(big);
    tgw_outcome_free(&o);

    plan_in(&in, TGW_REC_CANCELLED, NULL);
    tgw_plan_build(&in, &p);
    is_str(cmd(&p, 0), "HSET p:task:T1 status cancelled finished_at 1000",
           "cancelled: status and finished_at");
    is_int(p.terminal, 1, "cancelled is final");
    is_str(cmd(&p, p.n - 1), "PUBLISH p:events:done T1",
           "cancelled: announced");
    tgw_plan_free(&p);

    plan_in(&in, TGW_REC_DEFER, NULL);
    tgw_plan_build(&in, &p);
    is_str(cmd(&p, 0), "HSET p:task:T1 status scheduled",
           "defer: status scheduled");
    is_str(cmd(&p, 1), "ZADD p:scheduled 5000 T1", "defer: scheduled set");
    is_int(p.n, 2, "defer: two writes");
    tgw_plan_free(&p);

    plan_in(&in, TGW_REC_POSTPONE, NULL);
    tgw_plan_build(&in, &p);
    is_str(cmd(&p, 0), "ZADD p:scheduled 5000 T1",
           "postpone: the scheduled set only, status stays");
    is_int(p.n, 1, "postpone: one write");
    tgw_plan_free(&p);

    plan_in(&in, TGW_REC_HANDBACK, NULL);
    tgw_plan_build(&in, &p);
    is_str(cmd(&p, 0), "XADD p:q:q:normal * id T1",
           "handback: a new entry at the end of its stream");
    is_int(p.terminal, 0, "handback is not final");
    tgw_plan_free(&p);

    plan_in(&in, TGW_REC_ACK, NULL);
    tgw_plan_build(&in, &p);
    is_int(p.n, 0, "ack: nothing written");

    return done_testing();
}
