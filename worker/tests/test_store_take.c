/*
 * The take scripts against the real redis-server of the test run
 * ($TEST_NGINX_REDIS_PORT): take_many.lua for one task and for several in
 * one call, read_take.lua (a read and its takes in one call).  Skipped
 * when no Redis is given.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "conf.h"
#include "rconn.h"
#include "recbatch.h"
#include "store.h"
#include "tap.h"
#include "tgw_lua.h"
#include "tstore.h"


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
 * read of a stream that is no stream answers with the read's error in
 * that stream's place.  The answer starts with the entries read from
 * each stream (one here). */
static void
read_take_tests(tgw_conf_t *c)
{
    static char *normal[] = { "p:q:default:normal" },
                 *bad[] = { "p:q:bad:normal" },
                 *nogroup[] = { "p:q:nogroup:normal" };
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

    ok(wait_reply(tgw_store_read_take(&rc, c, normal, 1, 10, 777,
                                      got, NULL)) == 0, "read and take");
    r = last;
    ok(r->type == REDIS_REPLY_ARRAY && r->elements == 1 + 6 * W,
       "the stream's count, TGW_READ_TAKE_WIDTH elements for each of the "
       "six entries");
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 + 6 * W) {
        return;
    }
    ok(r->element[0]->type == REDIS_REPLY_INTEGER
       && r->element[0]->integer == 6, "six entries read from the stream");
    for (i = 0; i < 6; i++) {
        ok(r->element[1 + W * i]->type == REDIS_REPLY_STRING
           && strchr(r->element[1 + W * i]->str, '-') != NULL,
           "entry %zu: its entry id", i);
    }
    a = &r->element[1];
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
    a = &r->element[1 + W];
    ok(a[2]->type == REDIS_REPLY_ERROR
       && strstr(a[2]->str, "WRONGTYPE") != NULL,
       "R2 (a string): its own error");
    for (k = 3, nils = 0; k < W; k++) {
        nils += a[k]->type == REDIS_REPLY_NIL;
    }
    is_int((long long) nils, W - 3, "R2: nils after its error");
    a = &r->element[1 + 2 * W];
    ok(a[2]->type == REDIS_REPLY_INTEGER && a[2]->integer == TGW_START_GONE,
       "R3 (no hash): gone");
    a = &r->element[1 + 3 * W];
    for (k = 1, nils = 0; k < W; k++) {
        nils += a[k]->type == REDIS_REPLY_NIL;
    }
    is_int((long long) nils, W - 1,
           "an entry without an id: no id, nothing taken");
    a = &r->element[1 + 4 * W];
    ok(a[1]->type == REDIS_REPLY_STRING && a[1]->len == strlen(longid)
       && a[2]->type == REDIS_REPLY_NIL, "an id too long: nothing taken");
    a = &r->element[1 + 5 * W];
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

    ok(wait_reply(tgw_store_read_take(&rc, c, normal, 1, 10, 778,
                                      got, NULL)) == 0, "read again");
    ok(last->type == REDIS_REPLY_ARRAY && last->elements == 1
       && last->element[0]->type == REDIS_REPLY_INTEGER
       && last->element[0]->integer == 0,
       "nothing new: no entry read from the stream");

    q("SET p:q:bad:normal not-a-stream");
    ok(wait_reply(tgw_store_read_take(&rc, c, bad, 1, 10, 779,
                                      got, NULL)) == 0, "read a string");
    ok(last->type == REDIS_REPLY_ARRAY && last->elements == 1
       && last->element[0]->type == REDIS_REPLY_ERROR
       && strncmp(last->element[0]->str, "WRONGTYPE", 9) == 0,
       "the read's own error in the stream's place, as XREADGROUP gives "
       "it");
    q("DEL p:q:nogroup:normal");
    q("XADD p:q:nogroup:normal * id R7");
    ok(wait_reply(tgw_store_read_take(&rc, c, nogroup, 1, 10, 779,
                                      got, NULL)) == 0, "read without group");
    ok(last->type == REDIS_REPLY_ARRAY && last->elements == 1
       && last->element[0]->type == REDIS_REPLY_ERROR
       && strncmp(last->element[0]->str, "NOGROUP", 7) == 0,
       "NOGROUP, as XREADGROUP's");

    q("DEL p:task:R1 p:task:R2 p:task:R6 p:q:bad:normal p:q:nogroup:normal");
    q("DEL p:q:default:normal");
    q("XGROUP CREATE p:q:default:normal workers 0 MKSTREAM");
}


/* read_take.lua over a queue's streams in one call (high, normal, low):
 * an empty one is passed over, the next read only for what is still
 * wanted, each stream's count first, then its entries in the streams'
 * order; a stream that errors answers its error in its place and the
 * streams after it are not read. */
static void
read_take_streams_tests(tgw_conf_t *c)
{
    static char *mk[] = { "p:q:mk:high", "p:q:mk:normal", "p:q:mk:low" },
                *mkbad[] = { "p:q:mkbad:high", "p:q:mkbad:normal",
                             "p:q:mkbad:low" };
    static const char *ids[] = { "P1", "P2", "P3", "P4" };
    redisReply  *r;
    size_t       i;

    for (i = 0; i < 3; i++) {
        q("XGROUP CREATE %s workers 0 MKSTREAM", mk[i]);
    }
    q("XGROUP CREATE p:q:mkbad:high workers 0 MKSTREAM");
    q("XGROUP CREATE p:q:mkbad:low workers 0 MKSTREAM");
    q("SET p:q:mkbad:normal not-a-stream");
    for (i = 1; i <= 6; i++) {
        q("HSET p:task:P%d status queued attempts 0 type system.ping",
          (int) i);
    }
    q("XADD p:q:mk:normal * id P1");
    q("XADD p:q:mk:normal * id P2");
    q("XADD p:q:mk:normal * id P3");
    q("XADD p:q:mk:low * id P4");
    q("XADD p:q:mk:low * id P5");

    ok(wait_reply(tgw_store_read_take(&rc, c, mk, 3, 4, 781, got,
                                      NULL)) == 0, "one read of three streams");
    r = last;
    ok(r->type == REDIS_REPLY_ARRAY && r->elements == 3 + 4 * W,
       "three counts, then four entries");
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 + 4 * W) {
        return;
    }
    ok(r->element[0]->type == REDIS_REPLY_INTEGER
       && r->element[0]->integer == 0
       && r->element[1]->type == REDIS_REPLY_INTEGER
       && r->element[1]->integer == 3
       && r->element[2]->type == REDIS_REPLY_INTEGER
       && r->element[2]->integer == 1,
       "high empty, normal's three, one of low's for the fourth");
    for (i = 0; i < 4; i++) {
        char name[32];

        snprintf(name, sizeof(name), "entry %zu: %s", i, ids[i]);
        is_str(r->element[3 + W * i + 1]->str, ids[i], name);
        ok(r->element[3 + W * i + 2]->type == REDIS_REPLY_INTEGER
           && r->element[3 + W * i + 2]->integer == TGW_START_OK,
           "%s: started", ids[i]);
    }
    is_str(hget("p:task:P5", "status"), "queued", "P5: not read, not taken");
    r = q("XPENDING p:q:mk:low workers");
    ok(r->type == REDIS_REPLY_ARRAY && r->element[0]->integer == 1,
       "low: only the entry read is pending");

    ok(wait_reply(tgw_store_read_take(&rc, c, mk, 3, 4, 782, got,
                                      NULL)) == 0, "read again");
    r = last;
    ok(r->type == REDIS_REPLY_ARRAY && r->elements == 3 + W
       && r->element[2]->integer == 1
       && strcmp(r->element[3 + 1]->str, "P5") == 0,
       "low's last entry, P5");

    q("XADD p:q:mkbad:high * id P6");
    q("XADD p:q:mkbad:low * id P7");
    ok(wait_reply(tgw_store_read_take(&rc, c, mkbad, 3, 10, 783, got,
                                      NULL)) == 0, "a stream that is no stream "
                                                   "in the middle");
    r = last;
    ok(r->type == REDIS_REPLY_ARRAY && r->elements == 3 + W
       && r->element[0]->type == REDIS_REPLY_INTEGER
       && r->element[0]->integer == 1
       && r->element[1]->type == REDIS_REPLY_ERROR
       && strncmp(r->element[1]->str, "WRONGTYPE", 9) == 0
       && r->element[2]->type == REDIS_REPLY_INTEGER
       && r->element[2]->integer == 0,
       "high's entry, normal's error, low not read");
    r = q("XPENDING p:q:mkbad:low workers");
    ok(r->type == REDIS_REPLY_ARRAY && r->element[0]->integer == 0,
       "low: nothing pending");

    q("DEL p:q:mk:high p:q:mk:normal p:q:mk:low p:q:mkbad:high "
      "p:q:mkbad:normal p:q:mkbad:low");
    q("DEL p:task:P1 p:task:P2 p:task:P3 p:task:P4 p:task:P5 p:task:P6");
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
    static char        *normal[] = { "p:q:default:normal" };
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
    ok(wait_reply(tgw_store_read_take(&rc, c, normal, 1, 10, 780,
                                      got, NULL)) == 0,
       "one read of six tasks sharing fields");
    r = last;
    ok(r->type == REDIS_REPLY_ARRAY && r->elements == 1 + 6 * W,
       "an answer for each");
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 + 6 * W) {
        return;
    }
    for (i = 0; i < 6; i++) {
        a = &r->element[1 + W * i];
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


int
main(void)
{
    int          rv;
    tgw_conf_t  *c;

    if ((c = tstore_start(&rv)) == NULL) {
        return rv;
    }

    take_tests(c, getenv("TEST_NGINX_REDIS_PORT"));
    take_batch_tests(c);
    read_take_tests(c);
    read_take_streams_tests(c);
    read_take_shared_tests(c);

    tstore_close(c);
    return done_testing();
}
