/*
 * store.c against the real redis-server of the test run
 * ($TEST_NGINX_REDIS_PORT): each script and command is sent through the
 * worker's own connection on a libuv loop, and what it did is read back
 * with a plain hiredis connection.  Skipped when no Redis is given.
 */

#include <stdarg.h>
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
#include "tgw_keys.h"
#include "tgw_lua.h"
#include "tredis.h"

static uv_loop_t    loop;
static tgw_rconn_t  rc;
static redisReply   *last;          /* the reply the last call got */
static int          answered;


/* A deep copy of a reply (hiredis frees r after the callback). */
static redisReply *
dup_reply(const redisReply *r)
{
    redisReply *d = calloc(1, sizeof(*d));
    size_t      i;

    d->type = r->type;
    d->integer = r->integer;
    if (r->str) {
        d->str = strdup(r->str);
        d->len = r->len;
    }
    if (r->type == REDIS_REPLY_ARRAY) {
        d->elements = r->elements;
        d->element = calloc(r->elements + 1, sizeof(redisReply *));
        for (i = 0; i < r->elements; i++) {
            d->element[i] = dup_reply(r->element[i]);
        }
    }
    return d;
}


static void
got(tgw_rconn_t *c, redisReply *r, void *data)
{
    answered = 1;
    freeReplyObject(last);
    last = r ? dup_reply(r) : NULL;
}


/* Runs the loop until the request sent answered (5 s at most). */
static int
wait_reply(int sent)
{
    uint64_t until = uv_now(&loop) + 5000;

    if (sent != 0) {
        return -1;
    }
    while (!answered && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    answered = 0;
    return last ? 0 : -1;
}


static const char *
hget(const char *key, const char *field)
{
    redisReply *r = q("HGET %s %s", key, field);

    return r && r->type == REDIS_REPLY_STRING ? r->str : NULL;
}


static long long
num(const char *fmt, const char *arg)
{
    redisReply *r = q(fmt, arg);

    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
}


/* A pending entry for id in stream p:q:default:normal; returns its id. */
static const char *
pending_entry(const char *id)
{
    static char entry[64];
    redisReply *r;

    r = q("XADD p:q:default:normal * id %s", id);
    snprintf(entry, sizeof(entry), "%s", r->str);
    q("XREADGROUP GROUP workers w1 COUNT 100 STREAMS p:q:default:normal >");
    return entry;
}


static void
ready(void)
{
    uint64_t until = uv_now(&loop) + 5000;

    while (rc.state != TGW_RCONN_READY && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}


/* The answers of a batched record call, one per task added. */
static int          batch_type[300];
static long long    batch_int[300];
static char         batch_err[300][64];
static int          batch_answered;


static void
batch_got(tgw_rconn_t *c, redisReply *r, void *data)
{
    int i = (int) (intptr_t) data;

    batch_type[i] = r ? r->type : -1;
    batch_int[i] = r ? r->integer : 0;
    snprintf(batch_err[i], sizeof(batch_err[i]), "%s",
             r && r->type == REDIS_REPLY_ERROR ? r->str : "");
    batch_answered++;
}


/* The same for a take step: the code of its answer in batch_int. */
static void
batch_got_take(tgw_rconn_t *c, redisReply *r, void *data)
{
    int i = (int) (intptr_t) data;

    batch_type[i] = r ? r->type : -1;
    batch_int[i] = r && r->type == REDIS_REPLY_ARRAY && r->elements == 3
                   ? r->element[0]->integer : -999;
    snprintf(batch_err[i], sizeof(batch_err[i]), "%s",
             r && r->type == REDIS_REPLY_ERROR ? r->str : "");
    batch_answered++;
}


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


/* take_many.lua for id alone on its pending entry, under conf tc at
 * now, again (0: none); last is then the task's answer. */
static long long
take_at(tgw_conf_t *tc, const char *id, uint64_t now, uint64_t again)
{
    char        e[64];
    redisReply *one;

    snprintf(e, sizeof(e), "%s", pending_entry(id));
    if (wait_reply(tgw_store_take(&rc, tc, id, "p:q:default:normal", e, now,
                                  again, got, NULL)) != 0
        || last->type != REDIS_REPLY_ARRAY || last->elements != 1)
    {
        return -999;
    }
    one = last->element[0];
    last->element[0] = NULL;
    last->elements = 0;
    freeReplyObject(last);
    last = one;
    if (last->type != REDIS_REPLY_ARRAY || last->elements != 3) {
        return -999;
    }
    return last->element[0]->integer;
}


/* The same at now 1000, no again. */
static long long
take(tgw_conf_t *tc, const char *id)
{
    return take_at(tc, id, 1000, 0);
}


/* The value take_many.lua returned at i (0 status ... 8 payload), or
 * NULL; 10 (whether the hash holds a stale error or result_encoding)
 * as "1". */
static const char *
took(size_t i)
{
    redisReply *v = last->element[2];

    if (i < v->elements && v->element[i]->type == REDIS_REPLY_INTEGER) {
        return v->element[i]->integer == 1 ? "1" : "?";
    }
    return i < v->elements && v->element[i]->type == REDIS_REPLY_STRING
           ? v->element[i]->str : NULL;
}


static void
take_tests(tgw_conf_t *c, const char *port)
{
    char               json[4096];
    size_t             n, i;
    tgw_conf_t        *hc, *many;
    tgw_conf_errors_t  errs;

    q("HSET p:task:T1 status queued attempts 0 type system.ping "
      "queue default priority high payload {\"a\":1} "
      "content_type application/json callback_url http://h/x");
    is_int(take(c, "T1"), TGW_START_OK, "a queued task: started");
    is_int(last->element[1]->integer, 1, "as attempt 1");
    is_str(took(0), "queued", "with its fields: status before the start");
    is_str(took(3), "default", "queue");
    is_str(took(4), "system.ping", "type");
    is_str(took(5), "high", "priority");
    is_str(took(6), "http://h/x", "callback_url");
    is_str(took(7), "application/json", "content_type");
    is_str(took(8), "{\"a\":1}", "payload");
    ok(last->element[2]->elements == TGW_TAKE_VALUES && took(10) == NULL,
       "last, nothing stale (no error, no result_encoding): nil");
    for (i = 0, n = 0; i < TGW_TAKE_VALUES; i++) {
        n += took(i) != NULL && strcmp(took(i), "0") == 0;
    }
    is_int((long long) n, 0,
           "the attempts field is not among the values (the count is)");
    is_str(hget("p:task:T1", "status"), "running", "status running");
    is_str(hget("p:task:T1", "attempts"), "1", "attempts counted");
    is_str(hget("p:task:T1", "started_at"), "1000", "started_at");

    q("HSET p:task:T7 status retrying attempts 1 error old");
    is_int(take(c, "T7"), TGW_START_OK, "a retry: started");
    is_str(took(10), "1", "an earlier attempt's error: stale, 1");
    is_str(hget("p:task:T7", "error"), "old", "the error stays meanwhile");
    q("HSET p:task:T8 status queued result_encoding base64");
    is_int(take(c, "T8"), TGW_START_OK, "started");
    is_str(took(10), "1", "a result_encoding: stale, 1");
    q("DEL p:task:T7 p:task:T8");

    /* the TTL goes when the task once finished (finished_at: a task put
     * back by hand); a hash that never finished has none of ours */
    q("HSET p:task:T9 status queued attempts 1 finished_at 500");
    q("PEXPIRE p:task:T9 100000");
    is_int(take(c, "T9"), TGW_START_OK, "a finished task put back: started");
    is_int(num("PTTL %s", "p:task:T9"), -1, "its TTL is gone");
    q("HSET p:task:T10 status queued");
    q("PEXPIRE p:task:T10 100000");
    is_int(take(c, "T10"), TGW_START_OK, "never finished: started");
    ok(num("PTTL %s", "p:task:T10") > 0,
       "an outside TTL on it is not looked for (no PERSIST)");
    q("DEL p:task:T9 p:task:T10");

    q("HSET p:task:T2 status queued attempts 0 cancel_requested 1");
    is_int(take(c, "T2"), TGW_START_CANCELLED, "cancel requested");
    is_str(hget("p:task:T2", "status"), "queued", "not started");

    q("HSET p:task:T3 status succeeded attempts 1");
    is_int(take(c, "T3"), TGW_START_LOADED, "finished: loaded, not started");
    is_str(took(0), "succeeded", "its status comes back");
    is_str(hget("p:task:T3", "attempts"), "1", "attempts untouched");

    q("HSET p:task:T4 status queued run_at 5000");
    is_int(take(c, "T4"), TGW_START_LOADED, "run_at ahead: not started");
    q("HSET p:task:T4 run_at 12abc");
    is_int(take(c, "T4"), TGW_START_LOADED,
           "run_at not a number: left to the worker");
    q("HSET p:task:T4 run_at 1040");
    is_int(take(c, "T4"), TGW_START_OK, "run_at within 50 ms: started");

    q("HSET p:task:T5 status queued queue %s", "a b");
    is_int(take(c, "T5"), TGW_START_LOADED,
           "a queue field that is no queue name: not started");
    is_int(num("HEXISTS p:task:T5 %s", "attempts"), 0, "attempts untouched");

    q("HSET p:task:T6 foo bar");
    is_int(take(c, "T6"), TGW_START_OK,
           "a hash without any field the worker knows still starts");
    is_int(take(c, "nope"), TGW_START_GONE, "no hash: gone");
    if (wait_reply(tgw_store_take(&rc, c, "T6", "p:q:default:normal", "1-1",
                                  1000, 0, got, NULL)) == 0)
    {
        ok(last->type == REDIS_REPLY_ARRAY && last->elements == 1
           && last->element[0]->type == REDIS_REPLY_ARRAY
           && last->element[0]->element[0]->integer == TGW_START_NOT_PENDING,
           "an entry not pending: not ours");
    }

    /* again: a take sent once more after its answer was lost is that
     * same start, even on the last attempt (max 5 here), and the run
     * starts now; a task running since before the lost start (another
     * worker's) or not running counts */
    q("HSET p:task:T12 status running started_at 1000 attempts 5");
    is_int(take_at(c, "T12", 2000, 1000), TGW_START_OK,
           "again, on the last attempt: started, not used up");
    is_int(last->element[1]->integer, 5, "as the attempt it was");
    is_str(hget("p:task:T12", "attempts"), "5", "attempts not counted again");
    is_str(hget("p:task:T12", "started_at"), "2000",
           "started_at now, not the lost try's");
    q("HSET p:task:T13 status running started_at 1500 attempts 1");
    is_int(take_at(c, "T13", 2000, 1000), TGW_START_OK,
           "running since a later try (lost too): started");
    is_str(hget("p:task:T13", "attempts"), "1", "still attempt 1");
    is_str(hget("p:task:T13", "started_at"), "2000", "started_at now");
    q("HSET p:task:T14 status running started_at 999 attempts 1");
    is_int(take_at(c, "T14", 2000, 1000), TGW_START_OK,
           "running since another moment: a new start");
    is_str(hget("p:task:T14", "attempts"), "2", "counted");
    is_str(hget("p:task:T14", "started_at"), "2000", "started now");
    q("HSET p:task:T15 status retrying started_at 1000 attempts 1");
    is_int(take_at(c, "T15", 2000, 1000), TGW_START_OK,
           "not running (that run recorded its outcome): a new start");
    is_str(hget("p:task:T15", "attempts"), "2", "counted");
    q("HSET p:task:T16 status running started_at 1000 attempts 5");
    is_int(take_at(c, "T16", 2000, 0), TGW_START_EXHAUSTED,
           "without again, the same hash: attempts used up");
    q("DEL p:task:T12 p:task:T13 p:task:T14 p:task:T15 p:task:T16");

    /* handlers: a capped type is held back, another has its own max */
    snprintf(json, sizeof(json),
             "{\"redis\":\"127.0.0.1:%s\",\"prefix\":\"p\",\"db\":9,"
             "\"name\":\"w1\",\"handlers\":{"
             "\"capped\":{\"builtin\":\"sleep\",\"concurrency\":1},"
             "\"twice\":{\"builtin\":\"ping\",\"max_attempts\":2}}}",
             port);
    hc = tgw_conf_parse(json, strlen(json), "test", &errs);
    tgw_conf_errors_free(&errs);
    ok(hc != NULL, "a config with handlers");
    if (hc == NULL) {
        return;
    }
    q("HSET p:task:T7 status queued type capped attempts 0");
    is_int(take(hc, "T7"), TGW_START_LOADED, "a capped type: held back");
    is_str(hget("p:task:T7", "status"), "queued", "not started");
    q("HSET p:task:T8 status retrying type twice attempts 2");
    is_int(take(hc, "T8"), TGW_START_EXHAUSTED,
           "its own max_attempts (2): used up");
    q("HSET p:task:T9 status retrying type system.ping attempts 2");
    is_int(take(hc, "T9"), TGW_START_OK, "another type: the default (5)");
    is_int(last->element[1]->integer, 3, "as attempt 3");
    tgw_conf_unref(hc);

    /* more such handlers than a tgw_args_t holds: all sent */
    n = (size_t) snprintf(json, sizeof(json),
                          "{\"redis\":\"127.0.0.1:%s\",\"prefix\":\"p\","
                          "\"db\":9,\"name\":\"w1\",\"handlers\":{", port);
    for (i = 0; i < 40; i++) {
        n += (size_t) snprintf(json + n, sizeof(json) - n,
                               "%s\"t%zu\":{\"builtin\":\"ping\","
                               "\"max_attempts\":2}", i ? "," : "", i);
    }
    snprintf(json + n, sizeof(json) - n, "}}");
    many = tgw_conf_parse(json, strlen(json), "test", &errs);
    tgw_conf_errors_free(&errs);
    ok(many != NULL, "a config with 40 handlers of their own max_attempts");
    if (many != NULL) {
        q("HSET p:task:T10 status retrying type t39 attempts 2");
        is_int(take(many, "T10"), TGW_START_EXHAUSTED,
               "the 40th handler's own max_attempts (2): used up");
        q("HSET p:task:T11 status retrying type t38 attempts 1");
        is_int(take(many, "T11"), TGW_START_OK, "the 39th's: attempt 2");
        tgw_conf_unref(many);
    }
}


/* take_many.lua with five tasks in one call: one started, one whose key
 * is a string, one whose hash is gone, one not pending, one started
 * after them; each gets its own answer. */
static void
take_batch_tests(tgw_conf_t *c)
{
    static const char  *ids[] = { "K1", "K2", "K3", "K4", "K5" };
    tgw_recbatch_t      b;
    redisReply         *r;
    char                e[5][64];
    uint64_t            until;
    int                 i, added = 0;

    q("HSET p:task:K1 status queued attempts 0 type system.ping");
    q("SET p:task:K2 not-a-hash");
    q("HSET p:task:K5 status queued attempts 0 type system.ping");
    for (i = 0; i < 5; i++) {
        snprintf(e[i], sizeof(e[i]), "%s", pending_entry(ids[i]));
    }
    q("XACK p:q:default:normal workers %s", e[3]);

    tgw_recbatch_init(&b, &loop, &rc, tgw_lua_take_many);
    batch_answered = 0;
    for (i = 0; i < 5; i++) {
        added += tgw_store_take_add(&b, c, ids[i], "p:q:default:normal",
                                    e[i], 1000, 0, batch_got_take,
                                    (void *) (intptr_t) i) == 0;
    }
    is_int(added, 5, "five take steps added");
    is_int(b.calls, 0, "nothing sent while the loop runs callbacks");
    until = uv_now(&loop) + 5000;
    while (batch_answered < 5 && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    is_int(batch_answered, 5, "every step answered");
    is_int(b.calls, 1, "in one call");
    ok(batch_type[0] == REDIS_REPLY_ARRAY && batch_int[0] == TGW_START_OK,
       "K1: started");
    ok(batch_type[1] == REDIS_REPLY_ERROR
       && strstr(batch_err[1], "WRONGTYPE") != NULL,
       "K2 (a string): its own error");
    ok(batch_type[2] == REDIS_REPLY_ARRAY && batch_int[2] == TGW_START_GONE,
       "K3 (no hash): gone");
    ok(batch_type[3] == REDIS_REPLY_ARRAY
       && batch_int[3] == TGW_START_NOT_PENDING, "K4 (acked): not pending");
    ok(batch_type[4] == REDIS_REPLY_ARRAY && batch_int[4] == TGW_START_OK,
       "K5 after them: started all the same");
    is_str(hget("p:task:K1", "attempts"), "1", "K1 attempt counted");
    is_str(hget("p:task:K5", "status"), "running", "K5 running");
    r = q("TYPE p:task:K2");
    is_str(r->str, "string", "K2 untouched");

    tgw_recbatch_close(&b);
    uv_run(&loop, UV_RUN_NOWAIT);
    q("DEL p:task:K1 p:task:K2 p:task:K5");
    q("DEL p:q:default:normal");
    q("XGROUP CREATE p:q:default:normal workers 0 MKSTREAM");
}


/* Elements per entry of a read_take.lua answer. */
#define W  TGW_READ_TAKE_WIDTH


/* read_take.lua: the entries of one read and their takes in one call:
 * a task started, a key that is a string, a hash gone, an entry without
 * an id and one whose id is too long (nothing taken), a task after them
 * started all the same; the entries stay pending under the consumer; a
 * read of a stream that is no stream answers with the read's error. */
static void
read_take_tests(tgw_conf_t *c)
{
    redisReply  *r, **a;
    char         longid[300];
    size_t       i, k, nils;

    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    q("HSET p:task:R1 status queued attempts 0 type system.ping "
      "payload {\"a\":1}");
    q("SET p:task:R2 not-a-hash");
    q("HSET p:task:R6 status retrying attempts 1 type system.ping "
      "error old");
    q("XADD p:q:default:normal * id R1");
    q("XADD p:q:default:normal * id R2");
    q("XADD p:q:default:normal * id R3");
    q("XADD p:q:default:normal * other x");
    q("XADD p:q:default:normal * id %s", longid);
    q("XADD p:q:default:normal * id R6");

    ok(wait_reply(tgw_store_read_take(&rc, c, "p:q:default:normal", 10, 777,
                                      got, NULL)) == 0, "read and take");
    r = last;
    ok(r->type == REDIS_REPLY_ARRAY && r->elements == 6 * W,
       "TGW_READ_TAKE_WIDTH elements for each of the six entries");
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 6 * W) {
        return;
    }
    for (i = 0; i < 6; i++) {
        ok(r->element[W * i]->type == REDIS_REPLY_STRING
           && strchr(r->element[W * i]->str, '-') != NULL,
           "entry %zu: its entry id", i);
    }
    a = &r->element[0];
    is_str(a[1]->str, "R1", "R1: its task id");
    ok(a[2]->type == REDIS_REPLY_INTEGER && a[2]->integer == TGW_START_OK
       && a[3]->type == REDIS_REPLY_INTEGER && a[3]->integer == 1,
       "R1: started, attempt 1");
    ok(a[4]->type == REDIS_REPLY_STRING && strcmp(a[4]->str, "queued") == 0,
       "R1: its status first among the values");
    ok(a[12]->type == REDIS_REPLY_STRING
       && strcmp(a[12]->str, "{\"a\":1}") == 0
       && a[13]->type == REDIS_REPLY_NIL,
       "R1: its payload, then no traceparent");
    ok(a[14]->type == REDIS_REPLY_NIL, "R1: nothing stale");
    a = &r->element[W];
    ok(a[2]->type == REDIS_REPLY_ERROR
       && strstr(a[2]->str, "WRONGTYPE") != NULL,
       "R2 (a string): its own error");
    for (k = 3, nils = 0; k < W; k++) {
        nils += a[k]->type == REDIS_REPLY_NIL;
    }
    is_int((long long) nils, W - 3, "R2: nils after its error");
    a = &r->element[2 * W];
    ok(a[2]->type == REDIS_REPLY_INTEGER && a[2]->integer == TGW_START_GONE,
       "R3 (no hash): gone");
    a = &r->element[3 * W];
    for (k = 1, nils = 0; k < W; k++) {
        nils += a[k]->type == REDIS_REPLY_NIL;
    }
    is_int((long long) nils, W - 1,
           "an entry without an id: no id, nothing taken");
    a = &r->element[4 * W];
    ok(a[1]->type == REDIS_REPLY_STRING && a[1]->len == strlen(longid)
       && a[2]->type == REDIS_REPLY_NIL, "an id too long: nothing taken");
    a = &r->element[5 * W];
    ok(a[2]->type == REDIS_REPLY_INTEGER && a[2]->integer == TGW_START_OK,
       "R6 after them: started all the same");
    ok(a[14]->type == REDIS_REPLY_INTEGER && a[14]->integer == 1,
       "R6: an earlier attempt's error, stale");
    is_str(hget("p:task:R1", "status"), "running", "R1 running");
    is_str(hget("p:task:R1", "started_at"), "777", "R1 started at now");
    is_str(hget("p:task:R6", "attempts"), "2", "R6 attempt counted");
    r = q("TYPE p:task:R2");
    is_str(r->str, "string", "R2 untouched");
    r = q("XPENDING p:q:default:normal workers");
    ok(r->type == REDIS_REPLY_ARRAY && r->element[0]->integer == 6,
       "all six entries pending");
    r = q("XPENDING p:q:default:normal workers - + 10 w1");
    ok(r->type == REDIS_REPLY_ARRAY && r->elements == 6,
       "... under the consumer");

    ok(wait_reply(tgw_store_read_take(&rc, c, "p:q:default:normal", 10, 778,
                                      got, NULL)) == 0, "read again");
    ok(last->type == REDIS_REPLY_ARRAY && last->elements == 0,
       "nothing new: an empty answer");

    q("SET p:q:bad:normal not-a-stream");
    ok(wait_reply(tgw_store_read_take(&rc, c, "p:q:bad:normal", 10, 779,
                                      got, NULL)) == 0, "read a string");
    ok(last->type == REDIS_REPLY_ERROR
       && strncmp(last->str, "WRONGTYPE", 9) == 0,
       "the read's own error, as XREADGROUP gives it");
    q("DEL p:q:nogroup:normal");
    q("XADD p:q:nogroup:normal * id R7");
    ok(wait_reply(tgw_store_read_take(&rc, c, "p:q:nogroup:normal", 10, 779,
                                      got, NULL)) == 0, "read without group");
    ok(last->type == REDIS_REPLY_ERROR
       && strncmp(last->str, "NOGROUP", 7) == 0, "NOGROUP, as XREADGROUP's");

    q("DEL p:task:R1 p:task:R2 p:task:R6 p:q:bad:normal p:q:nogroup:normal");
    q("DEL p:q:default:normal");
    q("XGROUP CREATE p:q:default:normal workers 0 MKSTREAM");
}


/* read_take.lua: what the take works out once a call from a value that
 * tasks share (a queue name found valid, an attempts field as a count)
 * is each task's own answer all the same: the same attempts field
 * counts the same next attempt for two tasks, a queue field that is no
 * queue name holds back each task that has it, another attempts field
 * gets its own count. */
static void
read_take_shared_tests(tgw_conf_t *c)
{
    static const char  *ids[] = { "U1", "U2", "U3", "U4", "U5", "U6" };
    static const int    code[] = { TGW_START_OK, TGW_START_OK,
                                   TGW_START_LOADED, TGW_START_LOADED,
                                   TGW_START_EXHAUSTED, TGW_START_OK };
    static const int    att[] = { 5, 5, 0, 0, 5, 1 };
    static const char  *after[] = { "5", "5", "0", "0", "5", "1" };
    redisReply         *r, **a;
    size_t              i;

    q("HSET p:task:U1 status queued queue default attempts 4");
    q("HSET p:task:U2 status queued queue default attempts 4");
    q("HSET p:task:U3 status queued queue bad/queue attempts 0");
    q("HSET p:task:U4 status queued queue bad/queue attempts 0");
    q("HSET p:task:U5 status queued queue default attempts 5");
    q("HSET p:task:U6 status queued queue default attempts x");
    for (i = 0; i < 6; i++) {
        q("XADD p:q:default:normal * id %s", ids[i]);
    }
    ok(wait_reply(tgw_store_read_take(&rc, c, "p:q:default:normal", 10, 780,
                                      got, NULL)) == 0,
       "one read of six tasks sharing fields");
    r = last;
    ok(r->type == REDIS_REPLY_ARRAY && r->elements == 6 * W,
       "an answer for each");
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 6 * W) {
        return;
    }
    for (i = 0; i < 6; i++) {
        a = &r->element[W * i];
        ok(a[2]->type == REDIS_REPLY_INTEGER && a[2]->integer == code[i]
           && a[3]->type == REDIS_REPLY_INTEGER && a[3]->integer == att[i],
           "%s: code %d, attempts %d", ids[i], code[i], att[i]);
    }
    for (i = 0; i < 6; i++) {
        char key[16], name[48];

        snprintf(key, sizeof(key), "p:task:%s", ids[i]);
        snprintf(name, sizeof(name), "%s: attempts field %s", ids[i],
                 after[i]);
        is_str(hget(key, "attempts"), after[i], name);
    }
    is_str(hget("p:task:U3", "status"), "queued", "U3: not started");
    is_str(hget("p:task:U4", "status"), "queued", "U4: not started");
    q("DEL p:task:U1 p:task:U2 p:task:U3 p:task:U4 p:task:U5 p:task:U6");
    q("DEL p:q:default:normal");
    q("XGROUP CREATE p:q:default:normal workers 0 MKSTREAM");
}


/* The idle time (ms) and delivery count of entry e of stream s, and its
 * consumer (NULL: not pending). */
static const char *
pending_of(const char *s, const char *e, long long *idle, long long *n)
{
    redisReply *r = q("XPENDING %s workers %s %s 1", s, e, e);

    *idle = -1;
    *n = -1;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        return NULL;
    }
    *idle = r->element[0]->element[2]->integer;
    *n = r->element[0]->element[3]->integer;
    return r->element[0]->element[1]->str;
}


/*
 * The claim extension (extend.lua): only the entries still pending under
 * this worker's name (w1) are re-claimed; those another consumer holds
 * and those no longer pending are named in the reply, and left as they
 * are.
 */
static void
extend_tests(tgw_conf_t *c)
{
    const char  *streams[5], *entries[5], *who;
    char         mine[64], other[64], acked[64], high[64], bad[64];
    long long    idle, n;
    size_t       i;

    q("FLUSHDB");
    q("XGROUP CREATE p:q:default:normal workers 0 MKSTREAM");
    q("XGROUP CREATE p:q:default:high workers 0 MKSTREAM");
    snprintf(mine, sizeof(mine), "%s", pending_entry("E1"));
    snprintf(other, sizeof(other), "%s", pending_entry("E2"));
    snprintf(acked, sizeof(acked), "%s", pending_entry("E3"));
    /* E1 idle 50 s under w1 (nearly reclaimable), E2 reclaimed by w2,
     * E3 recorded (acked) */
    q("XCLAIM p:q:default:normal workers w1 0 %s IDLE 50000 JUSTID", mine);
    q("XCLAIM p:q:default:normal workers w2 0 %s JUSTID", other);
    q("XACK p:q:default:normal workers %s", acked);
    /* one of w1's in another stream, and one in a stream with no group */
    q("XADD p:q:default:high * id E4");
    q("XREADGROUP GROUP workers w1 COUNT 1 STREAMS p:q:default:high >");
    snprintf(high, sizeof(high), "%s",
             q("XRANGE p:q:default:high - +")->element[0]->element[0]->str);
    q("XCLAIM p:q:default:high workers w1 0 %s IDLE 50000 JUSTID", high);
    q("XADD p:q:default:low * id E5");
    snprintf(bad, sizeof(bad), "%s",
             q("XRANGE p:q:default:low - +")->element[0]->element[0]->str);

    streams[0] = "p:q:default:normal";  entries[0] = mine;
    streams[1] = "p:q:default:normal";  entries[1] = other;
    streams[2] = "p:q:default:high";    entries[2] = high;
    streams[3] = "p:q:default:normal";  entries[3] = acked;
    streams[4] = "p:q:default:low";     entries[4] = bad;
    ok(wait_reply(tgw_store_extend_many(&rc, c, 5, streams, entries, got,
                                        NULL)) == 0, "extend");
    ok(last->type == REDIS_REPLY_ARRAY && last->elements == 2,
       "two entries named");
    for (i = 0; last->type == REDIS_REPLY_ARRAY && i < last->elements; i++)
    {
        is_int(last->element[i]->integer, i == 0 ? 2 : 4,
               i == 0 ? "the one another consumer holds"
                      : "the one not pending any more");
    }
    who = pending_of("p:q:default:normal", mine, &idle, &n);
    is_str(who, "w1", "ours: still ours");
    ok(idle < 10000, "its idle time reset");
    is_int(n, 1, "no delivery counted");
    who = pending_of("p:q:default:high", high, &idle, &n);
    is_str(who, "w1", "ours in the other stream: still ours");
    ok(idle < 10000, "its idle time reset too");
    who = pending_of("p:q:default:normal", other, &idle, &n);
    is_str(who, "w2", "another's: not taken back");
    ok(pending_of("p:q:default:normal", acked, &idle, &n) == NULL,
       "the acked one: not pending again");

    /* the reply names pairs by their place, also past one stream's
     * range answer (ids out of order, one id that is no id) */
    streams[0] = "p:q:default:normal";  entries[0] = other;
    streams[1] = "p:q:default:normal";  entries[1] = "not-an-id";
    streams[2] = "p:q:default:normal";  entries[2] = mine;
    ok(wait_reply(tgw_store_extend_many(&rc, c, 3, streams, entries, got,
                                        NULL)) == 0, "extend again");
    ok(last->type == REDIS_REPLY_ARRAY && last->elements == 1
       && last->element[0]->integer == 1,
       "only the other consumer's named (a bad id: its question failed)");
    is_str(pending_of("p:q:default:normal", mine, &idle, &n), "w1",
           "ours stays ours");

    /* several of ours in one stream (one XCLAIM names them all): every
     * one's idle time is reset */
    snprintf(acked, sizeof(acked), "%s", pending_entry("E6"));
    q("XCLAIM p:q:default:normal workers w1 0 %s %s IDLE 50000 JUSTID",
      mine, acked);
    streams[0] = "p:q:default:normal";  entries[0] = mine;
    streams[1] = "p:q:default:normal";  entries[1] = other;
    streams[2] = "p:q:default:normal";  entries[2] = acked;
    ok(wait_reply(tgw_store_extend_many(&rc, c, 3, streams, entries, got,
                                        NULL)) == 0, "extend two of ours");
    ok(last->type == REDIS_REPLY_ARRAY && last->elements == 1
       && last->element[0]->integer == 2, "the other's named");
    ok(pending_of("p:q:default:normal", mine, &idle, &n) != NULL
       && idle < 10000, "the first of ours refreshed");
    ok(pending_of("p:q:default:normal", acked, &idle, &n) != NULL
       && idle < 10000, "the second of ours refreshed too");
    q("FLUSHDB");
}


int
main(void)
{
    const char        *port = getenv("TEST_NGINX_REDIS_PORT");
    char               json[256], e[64];
    tgw_conf_t        *c;
    tgw_conf_errors_t  errs;
    tgw_plan_t         plan;
    tgw_plan_in_t      in;
    tgw_outcome_t      o;
    redisReply        *r;

    if (port == NULL) {
        printf("1..0 # SKIP no TEST_NGINX_REDIS_PORT\n");
        return 0;
    }
    snprintf(json, sizeof(json),
             "{\"redis\":\"127.0.0.1:%s\",\"prefix\":\"p\",\"db\":9,"
             "\"name\":\"w1\",\"claim_idle\":\"1s\"}", port);
    c = tgw_conf_parse(json, strlen(json), "test", &errs);
    tgw_conf_errors_free(&errs);
    if (c == NULL) {
        printf("Bail out! config\n");
        return 1;
    }
    if (tredis_open(port, 9) != 0) {
        printf("Bail out! no Redis on port %s\n", port);
        return 1;
    }
    q("FLUSHDB");
    q("XGROUP CREATE p:q:default:normal workers 0 MKSTREAM");

    uv_loop_init(&loop);
    tgw_rconn_init(&rc, &loop, "cmd", c);
    ready();
    ok(rc.state == TGW_RCONN_READY, "connected");

    /* ---- the start script: counting attempts ---- */
    q("HSET p:task:A status queued attempts 0");
    snprintf(e, sizeof(e), "%s", pending_entry("A"));
    ok(wait_reply(tgw_store_start(&rc, c, "A", "p:q:default:normal", e,
                                  123, 0, 2, got, NULL)) == 0, "start A");
    is_int(last->element[0]->integer, TGW_START_OK, "A starts");
    is_int(last->element[1]->integer, 1, "as attempt 1");
    is_str(hget("p:task:A", "attempts"), "1", "attempts counted at start");
    is_str(hget("p:task:A", "status"), "running", "status running");
    is_str(hget("p:task:A", "started_at"), "123", "started_at");
    wait_reply(tgw_store_start(&rc, c, "A", "p:q:default:normal", e, 124,
                               0, 2, got, NULL));
    is_int(last->element[1]->integer, 2,
           "a run that never recorded still used its attempt");
    wait_reply(tgw_store_start(&rc, c, "A", "p:q:default:normal", e, 125,
                               0, 2, got, NULL));
    is_int(last->element[0]->integer, TGW_START_EXHAUSTED,
           "attempts used up: not started again");
    is_str(hget("p:task:A", "attempts"), "2", "attempts stay at the max");
    wait_reply(tgw_store_start(&rc, c, "A", "p:q:default:normal", e, 126,
                               124, 2, got, NULL));
    is_int(last->element[0]->integer, TGW_START_OK,
           "again 124 (the start whose answer was lost): started");
    is_int(last->element[1]->integer, 2, "as attempt 2, not counted again");
    is_str(hget("p:task:A", "started_at"), "126",
           "started_at now: it runs from now on");
    wait_reply(tgw_store_start(&rc, c, "A", "p:q:default:normal", e, 128,
                               127, 2, got, NULL));
    is_int(last->element[0]->integer, TGW_START_EXHAUSTED,
           "running since before the lost start: counted, used up");

    q("HSET p:task:B status queued attempts 2147483647");
    snprintf(e, sizeof(e), "%s", pending_entry("B"));
    wait_reply(tgw_store_start(&rc, c, "B", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_EXHAUSTED,
           "attempts 2147483647: used up, never run");
    is_int(last->element[1]->integer, 1000000000,
           "reported clamped to 10^9");

    q("HSET p:task:C status queued attempts 99999999999999999999999");
    snprintf(e, sizeof(e), "%s", pending_entry("C"));
    wait_reply(tgw_store_start(&rc, c, "C", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_EXHAUSTED,
           "a huge attempts: used up");
    is_int(last->element[1]->integer, 1000000000, "clamped to 10^9");

    q("HSET p:task:D status queued attempts -7");
    snprintf(e, sizeof(e), "%s", pending_entry("D"));
    wait_reply(tgw_store_start(&rc, c, "D", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_OK,
           "negative attempts count as 0");
    is_str(hget("p:task:D", "attempts"), "1", "attempts 1 after it");

    q("HSET p:task:E status queued attempts xyz cancel_requested 1");
    snprintf(e, sizeof(e), "%s", pending_entry("E"));
    wait_reply(tgw_store_start(&rc, c, "E", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_CANCELLED,
           "cancel requested: not started");
    q("HDEL p:task:E cancel_requested");
    wait_reply(tgw_store_start(&rc, c, "E", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_OK,
           "attempts \"xyz\" counts as 0");
    is_str(hget("p:task:E", "attempts"), "1", "and becomes 1");

    /* the TTL goes only when the task once finished, as in the take */
    q("HSET p:task:F status queued attempts 1 finished_at 500");
    q("PEXPIRE p:task:F 100000");
    snprintf(e, sizeof(e), "%s", pending_entry("F"));
    wait_reply(tgw_store_start(&rc, c, "F", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_OK,
           "a finished task put back: started");
    is_int(num("PTTL %s", "p:task:F"), -1, "its TTL is gone");
    q("HSET p:task:G status queued");
    q("PEXPIRE p:task:G 100000");
    snprintf(e, sizeof(e), "%s", pending_entry("G"));
    wait_reply(tgw_store_start(&rc, c, "G", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_OK,
           "never finished: started");
    ok(num("PTTL %s", "p:task:G") > 0,
       "an expiry set by hand on a task that never finished stays");
    q("DEL p:task:F p:task:G");

    wait_reply(tgw_store_start(&rc, c, "nope", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_GONE, "no hash: gone");
    wait_reply(tgw_store_start(&rc, c, "E", "p:q:default:normal", "1-1", 1, 0,
                               5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_NOT_PENDING,
           "an entry not pending: not ours to run");

    /* an entry another worker reclaimed (pending under w2, not w1): its
     * task is that worker's, whatever again says */
    q("HSET p:task:H status running attempts 1 started_at 40");
    snprintf(e, sizeof(e), "%s", pending_entry("H"));
    q("XCLAIM p:q:default:normal workers w2 0 %s JUSTID", e);
    wait_reply(tgw_store_start(&rc, c, "H", "p:q:default:normal", e, 50,
                               40, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_ELSEWHERE,
           "start: pending under another worker: not ours to run");
    ok(wait_reply(tgw_store_take(&rc, c, "H", "p:q:default:normal", e, 50,
                                 40, got, NULL)) == 0
       && last->type == REDIS_REPLY_ARRAY && last->elements == 1
       && last->element[0]->type == REDIS_REPLY_ARRAY
       && last->element[0]->element[0]->integer == TGW_START_ELSEWHERE,
       "take: the same");
    is_str(hget("p:task:H", "attempts"), "1", "no attempt counted");
    is_str(hget("p:task:H", "started_at"), "40", "started_at as it was");
    q("XCLAIM p:q:default:normal workers w1 0 %s JUSTID", e);
    ok(wait_reply(tgw_store_take(&rc, c, "H", "p:q:default:normal", e, 50,
                                 40, got, NULL)) == 0
       && last->type == REDIS_REPLY_ARRAY && last->elements == 1
       && last->element[0]->type == REDIS_REPLY_ARRAY
       && last->element[0]->element[0]->integer == TGW_START_OK,
       "pending under w1 again: the start whose answer was lost");
    is_str(hget("p:task:H", "attempts"), "1", "not counted twice");
    q("XACK p:q:default:normal workers %s", e);
    q("DEL p:task:H");

    /* ---- the take script: load and start in one ---- */
    take_tests(c, port);
    take_batch_tests(c);
    read_take_tests(c);
    read_take_shared_tests(c);

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

    /* ---- the move script ---- */
    q("FLUSHDB");
    q("HSET p:task:M1 status retrying queue default priority high");
    q("HSET p:task:M2 status retrying type x");
    q("HSET p:task:M3 status succeeded queue default");
    q("ZADD p:scheduled 1 M1 1 M2 1 M3 1 M4");
    ok(wait_reply(tgw_store_move(&rc, c, 1000, got, NULL)) == 0, "move");
    is_int(last->element[0]->integer, 4, "four due ids looked at");
    is_int(last->element[1]->integer, 1, "one moved");
    is_int(last->element[4]->elements, 1, "one ended dead");
    is_str(last->element[4]->elements ? last->element[4]->element[0]->str
           : NULL, "M2", "M2 it is");
    is_int(num("XLEN %s", "p:q:default:high"), 1,
           "M1 is in its stream");
    is_str(hget("p:task:M1", "status"), "queued", "M1 queued");
    is_str(hget("p:task:M2", "status"), "dead",
           "M2, without a queue field, is dead");
    is_str(hget("p:task:M2", "error"), "scheduled task has no queue field",
           "with an error saying why");
    is_int(num("ZCARD %s", "p:scheduled"), 0, "the scheduled set is empty");

    /* ---- several record steps in one call ---- */
    batch_tests(c);

    /* ---- the claim extension ---- */
    extend_tests(c);

    /* ---- pruning consumers ---- */
    q("XGROUP CREATE p:q:default:normal workers 0 MKSTREAM");
    q("XADD p:q:default:normal * id Z");
    q("XREADGROUP GROUP workers busy COUNT 1 STREAMS p:q:default:normal >");
    q("XGROUP CREATECONSUMER p:q:default:normal workers idle");
    ok(wait_reply(tgw_store_prune(&rc, c, "p:q:default:normal", 0, NULL,
                                  got, NULL)) == 0, "prune");
    is_int(last->integer, 1, "one consumer pruned");
    r = q("XINFO CONSUMERS p:q:default:normal workers");
    ok(r->elements == 1
       && strcmp(r->element[0]->element[1]->str, "busy") == 0,
       "the one holding an entry stays, the idle one is gone");
    wait_reply(tgw_store_prune(&rc, c, "p:q:default:normal", 3600000,
                               "busy", got, NULL));
    is_int(last->integer, 0, "own name holding entries: kept");

    tgw_rconn_close(&rc, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    freeReplyObject(last);
    q("FLUSHDB");
    tredis_close();
    tgw_conf_unref(c);
    return done_testing();
}
