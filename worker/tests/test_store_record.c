/*
 * The record scripts against the real redis-server of the test run
 * ($TEST_NGINX_REDIS_PORT): record.lua for one task (an outcome, a write
 * Redis refuses, a handback) and record_many.lua for several in one
 * call.  Skipped when no Redis is given.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "conf.h"
#include "outcome.h"
#include "rconn.h"
#include "recbatch.h"
#include "store.h"
#include "tap.h"
#include "tgw_lua.h"
#include "tstore.h"


/* Adds a record step for id (its entry e) that sets its status. */
static int
batch_add(tgw_recbatch_t *b, tgw_conf_t *tc, const char *id,
    const char *e, int i)
{
    tgw_plan_t  plan;
    int         rv;

    memset(&plan, 0, sizeof(plan));
    plan.n = 1;
    tgw_args_init(&plan.cmd[0]);
    tgw_args_add(&plan.cmd[0], "HSET");
    tgw_args_keyf(&plan.cmd[0], "p:task:%s", id);
    tgw_args_add(&plan.cmd[0], "status");
    tgw_args_add(&plan.cmd[0], "succeeded");
    rv = tgw_store_record_add(b, tc, "p:q:default:normal", e, &plan,
                              batch_got, (void *) (intptr_t) i);
    tgw_args_free(&plan.cmd[0]);
    return rv;
}


/* record_many.lua: four tasks in one call, one refused by Redis, one no
 * longer pending; each gets its own answer. */
static void
batch_tests(tgw_conf_t *c)
{
    tgw_recbatch_t  b;
    char            e[4][64];
    uint64_t        until;
    redisReply     *r;
    int             i;

    q("DEL p:q:default:normal");
    q("XGROUP CREATE p:q:default:normal workers 0 MKSTREAM");
    q("HSET p:task:B1 status running");
    q("SET p:task:B2 not-a-hash");
    q("HSET p:task:B3 status running");
    q("HSET p:task:B4 status running");
    for (i = 0; i < 4; i++) {
        char id[8];

        snprintf(id, sizeof(id), "B%d", i + 1);
        snprintf(e[i], sizeof(e[i]), "%s", pending_entry(id));
    }
    q("XACK p:q:default:normal workers %s", e[3]);
    r = q("XLEN p:q:default:normal");
    long long len0 = r->integer;

    tgw_recbatch_init(&b, &loop, &rc, tgw_lua_record_many);
    batch_answered = 0;
    ok(batch_add(&b, c, "B1", e[0], 0) == 0
       && batch_add(&b, c, "B2", e[1], 1) == 0
       && batch_add(&b, c, "B3", e[2], 2) == 0
       && batch_add(&b, c, "B4", e[3], 3) == 0, "four record steps added");
    is_int(b.calls, 0, "nothing sent while the loop runs callbacks");
    until = uv_now(&loop) + 5000;
    while (batch_answered < 4 && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    is_int(batch_answered, 4, "every step answered");
    is_int(b.calls, 1, "in one call");
    ok(batch_type[0] == REDIS_REPLY_INTEGER && batch_int[0] == 1,
       "B1: recorded");
    ok(batch_type[1] == REDIS_REPLY_ERROR
       && strstr(batch_err[1], "WRONGTYPE") != NULL,
       "B2 (a string): its own error");
    ok(batch_type[2] == REDIS_REPLY_INTEGER && batch_int[2] == 1,
       "B3 after it: recorded all the same");
    ok(batch_type[3] == REDIS_REPLY_INTEGER && batch_int[3] == 0,
       "B4 (not pending): nothing written");
    is_str(hget("p:task:B1", "status"), "succeeded", "B1 written");
    is_str(hget("p:task:B3", "status"), "succeeded", "B3 written");
    is_str(hget("p:task:B4", "status"), "running", "B4 untouched");
    r = q("XPENDING p:q:default:normal workers - + 10");
    ok(r->elements == 1 && strcmp(r->element[0]->element[0]->str, e[1]) == 0,
       "only B2's entry is still pending");
    r = q("XLEN p:q:default:normal");
    is_int(r->integer, len0 - 2, "B1's and B3's entries deleted");

    /* more than a call holds: the full batch goes out when the next
     * task is added, the rest at the end of the turn */
    q("HSET p:task:B5 status running");
    snprintf(e[0], sizeof(e[0]), "%s", pending_entry("B5"));
    batch_answered = 0;
    for (i = 0; i < 300; i++) {
        if (batch_add(&b, c, "B5", e[0], i) != 0) {
            break;
        }
    }
    is_int(i, 300, "300 record steps added");
    is_int(b.calls, 2, "a full call went out while adding");
    is_int(batch_answered, 0, "... and nothing was answered inside add");
    until = uv_now(&loop) + 5000;
    while (batch_answered < 300 && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    is_int(batch_answered, 300, "every step answered");
    is_int(b.calls, 3, "in two calls");
    ok(batch_int[0] == 1 && batch_int[1] == 0 && batch_int[299] == 0,
       "the first recorded; the same entry after it: not pending");

    /* the short form of a succeeded task, beside a plan's block: what
     * an earlier attempt left (error, result_encoding) goes, an outside
     * TTL is replaced by result_ttl, a key of another type is that
     * task's error alone */
    q("HSET p:task:S1 status running error old result_encoding base64");
    q("PEXPIRE p:task:S1 5000");
    q("HSET p:task:S2 status running error old");
    q("SET p:task:S3 not-a-hash");
    q("HSET p:task:S4 status running");
    for (i = 0; i < 4; i++) {
        char id[8];

        snprintf(id, sizeof(id), "S%d", i + 1);
        snprintf(e[i], sizeof(e[i]), "%s", pending_entry(id));
    }
    batch_answered = 0;
    ok(tgw_store_succeeded_add(&b, c, "p:q:default:normal", e[0], "S1",
                               "\"pong\"", NULL, 777, 0, batch_got,
                               (void *) (intptr_t) 0) == 0
       && tgw_store_succeeded_add(&b, c, "p:q:default:normal", e[1], "S2",
                                  "\"AAE=\"", "base64", 778, 0, batch_got,
                                  (void *) (intptr_t) 1) == 0
       && tgw_store_succeeded_add(&b, c, "p:q:default:normal", e[2], "S3",
                                  NULL, NULL, 779, 0, batch_got,
                                  (void *) (intptr_t) 2) == 0
       && batch_add(&b, c, "S4", e[3], 3) == 0,
       "three short blocks and a plan's added");
    until = uv_now(&loop) + 5000;
    while (batch_answered < 4 && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    is_int(batch_answered, 4, "every step answered");
    is_int(b.calls, 4, "in one call");
    ok(batch_type[0] == REDIS_REPLY_INTEGER && batch_int[0] == 1,
       "S1: recorded");
    is_str(hget("p:task:S1", "status"), "succeeded", "S1: succeeded");
    is_str(hget("p:task:S1", "result"), "\"pong\"", "S1: its result");
    is_str(hget("p:task:S1", "finished_at"), "777", "S1: finished_at");
    ok(hget("p:task:S1", "error") == NULL, "S1: the old error is gone");
    ok(hget("p:task:S1", "result_encoding") == NULL,
       "S1: the stale result_encoding is gone");
    r = q("PTTL p:task:S1");
    ok(r->integer > 5000 && r->integer <= (long long) c->result_ttl_ms,
       "S1: the outside TTL replaced by result_ttl");
    ok(batch_type[1] == REDIS_REPLY_INTEGER && batch_int[1] == 1,
       "S2: recorded");
    is_str(hget("p:task:S2", "result_encoding"), "base64",
           "S2: its result_encoding");
    ok(hget("p:task:S2", "error") == NULL, "S2: the old error is gone");
    ok(batch_type[2] == REDIS_REPLY_ERROR
       && strstr(batch_err[2], "WRONGTYPE") != NULL,
       "S3 (a string): its own error");
    ok(batch_type[3] == REDIS_REPLY_INTEGER && batch_int[3] == 1,
       "S4 (a plan's block after it): recorded");
    for (i = 0; i < 4; i++) {
        r = q("XPENDING p:q:default:normal workers %s %s 1", e[i], e[i]);
        is_int((long long) r->elements, i == 2,
               i == 2 ? "S3's entry still pending" : "entry acked");
    }

    /* the short form of a task whose take saw nothing stale ("c"): the
     * same record, without the HDEL (shown here by a field the take
     * would have reported, which that form leaves alone) */
    q("HSET p:task:S5 status running");
    q("HSET p:task:S6 status running error set-after-the-take");
    snprintf(e[0], sizeof(e[0]), "%s", pending_entry("S5"));
    snprintf(e[1], sizeof(e[1]), "%s", pending_entry("S6"));
    batch_answered = 0;
    ok(tgw_store_succeeded_add(&b, c, "p:q:default:normal", e[0], "S5",
                               "\"AAE=\"", "base64", 780, 1, batch_got,
                               (void *) (intptr_t) 0) == 0
       && tgw_store_succeeded_add(&b, c, "p:q:default:normal", e[1], "S6",
                                  NULL, NULL, 781, 1, batch_got,
                                  (void *) (intptr_t) 1) == 0,
       "two clean short blocks added");
    until = uv_now(&loop) + 5000;
    while (batch_answered < 2 && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ok(batch_answered == 2 && batch_int[0] == 1 && batch_int[1] == 1,
       "S5, S6: recorded");
    is_str(hget("p:task:S5", "status"), "succeeded", "S5: succeeded");
    is_str(hget("p:task:S5", "result_encoding"), "base64",
           "S5: its result_encoding");
    is_str(hget("p:task:S5", "finished_at"), "780", "S5: finished_at");
    r = q("PTTL p:task:S5");
    ok(r->integer > 0 && r->integer <= (long long) c->result_ttl_ms,
       "S5: result_ttl");
    is_str(hget("p:task:S6", "result"), "null", "S6: its result");
    is_str(hget("p:task:S6", "error"), "set-after-the-take",
           "S6: no HDEL in the clean form");
    for (i = 0; i < 2; i++) {
        r = q("XPENDING p:q:default:normal workers %s %s 1", e[i], e[i]);
        is_int((long long) r->elements, 0, "entry acked");
    }

    tgw_recbatch_close(&b);
    uv_run(&loop, UV_RUN_NOWAIT);
    q("DEL p:task:B1 p:task:B2 p:task:B3 p:task:B4 p:task:B5");
    q("DEL p:task:S1 p:task:S2 p:task:S3 p:task:S4 p:task:S5 p:task:S6");
    q("DEL p:q:default:normal");
    q("XGROUP CREATE p:q:default:normal workers 0 MKSTREAM");
}


int
main(void)
{
    char            e[64];
    int             rv;
    tgw_conf_t     *c;
    tgw_plan_t      plan;
    tgw_plan_in_t   in;
    tgw_outcome_t   o;
    redisReply     *r;

    if ((c = tstore_start(&rv)) == NULL) {
        return rv;
    }

    /* ---- the record script ---- */
    memset(&o, 0, sizeof(o));
    o.next = TGW_NEXT_DEAD;
    o.error = "broke";
    memset(&in, 0, sizeof(in));
    in.prefix = "p";
    in.id = "A";
    in.queue = "default";
    in.stream = "p:q:default:normal";
    in.rec = TGW_REC_OUTCOME;
    in.outcome = &o;
    in.attempts = 2;
    in.finished_ms = 777;
    in.result_ttl_ms = 60000;
    snprintf(e, sizeof(e), "%s", pending_entry("A"));
    tgw_plan_build(&in, &plan);
    ok(wait_reply(tgw_store_record(&rc, c, "p:q:default:normal", e, &plan,
                                   got, NULL)) == 0, "record A dead");
    is_int(last->integer, 1, "recorded");
    is_str(hget("p:task:A", "status"), "dead", "status dead");
    is_str(hget("p:task:A", "error"), "broke", "error written");
    is_int(num("XLEN %s", "p:dead:default"), 1, "one dead-letter entry");
    r = q("XPENDING p:q:default:normal workers - + 10 w1");
    ok(r && r->type == REDIS_REPLY_ARRAY, "XPENDING answers");
    wait_reply(tgw_store_record(&rc, c, "p:q:default:normal", e, &plan, got,
                                NULL));
    is_int(last->integer, 0, "recording again: not pending, nothing done");
    is_int(num("XLEN %s", "p:dead:default"), 1,
           "still one dead-letter entry");
    tgw_plan_free(&plan);

    /* a write Redis refuses keeps the entry pending */
    q("SET p:dead:default notastream");
    snprintf(e, sizeof(e), "%s", pending_entry("D"));
    in.id = "D";
    tgw_plan_build(&in, &plan);
    wait_reply(tgw_store_record(&rc, c, "p:q:default:normal", e, &plan, got,
                                NULL));
    ok(last->type == REDIS_REPLY_ERROR, "a dead-letter key of another "
       "type: the record fails");
    r = q("XPENDING p:q:default:normal workers %s %s 1", e, e);
    is_int(r->elements, 1, "and the entry stays pending");
    tgw_plan_free(&plan);
    q("DEL p:dead:default");

    /* handback: a new entry at the end of the stream, the old one acked */
    in.rec = TGW_REC_HANDBACK;
    in.outcome = NULL;
    tgw_plan_build(&in, &plan);
    wait_reply(tgw_store_record(&rc, c, "p:q:default:normal", e, &plan, got,
                                NULL));
    is_int(last->integer, 1, "handback recorded");
    r = q("XPENDING p:q:default:normal workers %s %s 1", e, e);
    is_int(r->elements, 0, "the old entry is no longer pending");
    r = q("XREADGROUP GROUP workers w2 COUNT 10 STREAMS "
          "p:q:default:normal >");
    ok(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1
       && r->element[0]->element[1]->elements == 1
       && strcmp(r->element[0]->element[1]->element[0]->element[1]
                 ->element[1]->str, "D") == 0,
       "another consumer reads the handed-back task at once");
    tgw_plan_free(&plan);

    /* ---- several record steps in one call ---- */
    batch_tests(c);

    tstore_close(c);
    return done_testing();
}
