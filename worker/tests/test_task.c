/*
 * The task state machine and the processor (task*.c, processor.c) against
 * the real redis-server of the test run ($TEST_NGINX_REDIS_PORT): entries
 * are read with a plain hiredis connection and handed to a processor on a
 * libuv loop, which runs them to their record; what they wrote is read
 * back.  Skipped when no Redis is given.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "conf.h"
#include "log.h"
#include "processor.h"
#include "rconn.h"
#include "tap.h"
#include "tredis.h"

#define STREAM  "tt:q:default:normal"

static uv_loop_t        loop;
static tgw_rconn_t      rc;
static tgw_processor_t  proc;
static int              finals;


static const char *
hget(const char *id, const char *field)
{
    redisReply *r = q("HGET tt:task:%s %s", id, field);

    return r && r->type == REDIS_REPLY_STRING ? r->str : "";
}


static long long
num(const char *fmt, ...)
{
    va_list ap;

    freeReplyObject(qr);
    va_start(ap, fmt);
    qr = redisvCommand(sync_, fmt, ap);
    va_end(ap);
    return qr && qr->type == REDIS_REPLY_INTEGER ? qr->integer : -999;
}


/* A task hash as the module writes it, and its stream entry. */
static void
task(const char *id, const char *type, const char *queue,
    const char *attempts, const char *payload)
{
    q("HSET tt:task:%s id %s queue %s type %s priority normal "
      "status queued payload %s created_at 1 attempts %s", id, id, queue,
      type, payload, attempts);
    q("XADD " STREAM " * id %s", id);
}


/* Reads every new entry as consumer w1 and gives them to the processor. */
static int
take_all(void)
{
    redisReply *r, *e;
    size_t      i;
    int         n = 0;

    r = redisCommand(sync_, "XREADGROUP GROUP workers w1 COUNT 100 "
                     "STREAMS " STREAM " >");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        e = r->element[0]->element[1];
        for (i = 0; i < e->elements; i++) {
            redisReply *f = e->element[i]->element[1];

            n += tgw_processor_take(&proc, STREAM, e->element[i]->element[0]
                                                   ->str,
                                    f->element[1]->str, f->element[1]->len);
        }
    }
    freeReplyObject(r);
    tgw_processor_pump(&proc);
    return n;
}


/* Runs the loop until the processor holds nothing (10 s at most). */
static int
drain(void)
{
    uint64_t until = uv_now(&loop) + 10000;

    while (proc.ntasks > 0 && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
        tgw_processor_retry(&proc);
    }
    return proc.ntasks == 0 ? 0 : -1;
}


static void
on_final(void *data, tgw_task_t *t, const char *status)
{
    finals++;
}


static long long
pending(void)
{
    redisReply *r = q("XPENDING " STREAM " workers");

    return r && r->type == REDIS_REPLY_ARRAY ? r->element[0]->integer : -1;
}


int
main(void)
{
    const char        *port = getenv("TEST_NGINX_REDIS_PORT");
    char               json[1024], big[701];
    tgw_conf_t        *c;
    tgw_conf_errors_t  errs;
    uint64_t           until;
    long long          ping_done, second_done;

    if (port == NULL) {
        printf("1..0 # SKIP no TEST_NGINX_REDIS_PORT\n");
        return 0;
    }
    tgw_log_init(0, TGW_LOG_ERROR + 1);     /* quiet */
    snprintf(json, sizeof(json),
             "{\"redis\":\"127.0.0.1:%s\",\"prefix\":\"tt\",\"db\":9,"
             "\"name\":\"w1\",\"concurrency\":2,"
             "\"webhook\":{\"url\":\"http://127.0.0.1:9/hook\"},"
             "\"retry\":{\"max_attempts\":2,\"base\":\"1s\",\"cap\":\"1s\"},"
             "\"handlers\":{\"system.ping\":{\"builtin\":\"ping\"},"
             "\"capped\":{\"builtin\":\"sleep\",\"concurrency\":1},"
             "\"slow\":{\"builtin\":\"sleep\"}}}", port);
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
    q("XGROUP CREATE " STREAM " workers 0 MKSTREAM");

    uv_loop_init(&loop);
    tgw_rconn_init(&rc, &loop, "cmd", c);
    until = uv_now(&loop) + 5000;
    while (rc.state != TGW_RCONN_READY && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ok(rc.state == TGW_RCONN_READY, "connected");
    if (tgw_processor_init(&proc, &loop, &rc, c) != 0) {
        printf("Bail out! out of memory\n");
        return 1;
    }
    proc.on_final = on_final;

    /* ---- a task runs and is recorded ---- */
    task("P1", "system.ping", "default", "0", "");
    is_int(take_all(), 1, "one entry taken");
    ok(drain() == 0, "the task is done");
    is_str(hget("P1", "status"), "succeeded", "succeeded");
    is_str(hget("P1", "result"), "\"pong\"", "its result");
    is_str(hget("P1", "attempts"), "1", "one attempt");
    is_int(pending(), 0, "its entry is acked");
    is_int(num("XLEN %s", STREAM), 0, "and deleted");
    is_int(proc.n.succeeded, 1, "counted");

    /* ---- a task whose attempts were all used without an outcome ---- */
    task("X1", "system.ping", "default", "2", "");
    q("HSET tt:task:X1 status running");
    take_all();
    ok(drain() == 0, "the used-up task is done");
    is_str(hget("X1", "status"), "dead", "attempts used up: dead");
    ok(strstr(hget("X1", "error"), "attempts used up (2 of 2)") != NULL,
       "its error says why");
    is_int(num("XLEN %s", "tt:dead:default"), 1, "in the dead-letter queue");
    is_int(pending(), 0, "its entry is acked");

    /* ---- a queue field that is no queue name ---- */
    memset(big, 'q', 700);
    big[700] = '\0';
    task("H1", "system.ping", big, "0", "");
    take_all();
    ok(drain() == 0, "the hostile task is done");
    is_str(hget("H1", "status"), "dead", "a 700-byte queue field: dead");
    is_str(hget("H1", "error"), "invalid queue field in the task hash",
           "with an error saying so");
    is_int(num("XLEN %s", "tt:dead:default"), 2,
           "in the dead-letter queue of the stream it came from");
    is_int(pending(), 0, "nothing left pending");

    /* ---- an attempts field no run of ours wrote ---- */
    /* No number, or negative: counted as 0, the task runs as attempt 1.
     * Past 10^9, or more than any max_attempts allows: used up, dead
     * without a run, and the error says the field was the cause, not a
     * worker stopping during runs that never were. */
    task("A1", "system.ping", "default", "abc", "");
    task("A2", "system.ping", "default", "-3", "");
    task("A3", "system.ping", "default", "1e400", "");
    task("A4", "system.ping", "default", "5000", "");
    take_all();
    ok(drain() == 0, "the tasks with odd attempts are done");
    is_str(hget("A1", "status"), "succeeded", "attempts \"abc\": runs");
    is_str(hget("A1", "attempts"), "1", "as attempt 1");
    is_str(hget("A2", "status"), "succeeded", "attempts \"-3\": runs");
    is_str(hget("A2", "attempts"), "1", "as attempt 1");
    is_str(hget("A3", "status"), "dead", "attempts \"1e400\": dead");
    ok(strstr(hget("A3", "error"), "stopped during the run") == NULL
       && strstr(hget("A3", "error"), "attempts field") != NULL,
       "its error blames the field: %s", hget("A3", "error"));
    is_str(hget("A4", "status"), "dead", "attempts \"5000\": dead");
    ok(strstr(hget("A4", "error"), "stopped during the run") == NULL
       && strstr(hget("A4", "error"), "5000") != NULL,
       "its error blames the field: %s", hget("A4", "error"));
    is_int(pending(), 0, "nothing left pending");

    /* ---- a capped type holds no room: the ping behind runs first ---- */
    task("C1", "capped", "default", "0", "{\"ms\":400}");
    task("C2", "capped", "default", "0", "{\"ms\":400}");
    take_all();
    until = uv_now(&loop) + 5000;
    while (strcmp(hget("C1", "status"), "running") != 0
           && uv_now(&loop) < until)
    {
        uv_run(&loop, UV_RUN_ONCE);
    }
    is_str(hget("C1", "status"), "running", "the first capped task runs");
    ok(tgw_processor_room(&proc) >= 1,
       "room is left while the second waits for the cap (%d)",
       tgw_processor_room(&proc));
    task("P2", "system.ping", "default", "0", "");
    is_int(take_all(), 1, "the ping is taken beside them");
    ok(drain() == 0, "all done");
    ping_done = strtoll(hget("P2", "finished_at"), NULL, 10);
    second_done = strtoll(hget("C2", "finished_at"), NULL, 10);
    ok(ping_done > 0 && ping_done < second_done,
       "the ping finished before the second capped task");
    is_str(hget("C2", "status"), "succeeded", "the capped ones succeed");

    /* ---- a stop hands back what did not start ---- */
    /* Both slots busy, so the two taken behind them wait unstarted.  (A
     * task whose take, the load and start in one script, is already out
     * when the stop comes has started: it runs, as one whose start was
     * out does.) */
    task("Z1", "slow", "default", "0", "{\"ms\":300}");
    task("Z2", "slow", "default", "0", "{\"ms\":300}");
    is_int(take_all(), 2, "two slow ones taken");
    until = uv_now(&loop) + 5000;
    while ((strcmp(hget("Z1", "status"), "running") != 0
            || strcmp(hget("Z2", "status"), "running") != 0)
           && uv_now(&loop) < until)
    {
        uv_run(&loop, UV_RUN_ONCE);
    }
    is_str(hget("Z2", "status"), "running", "both slots run");
    task("S1", "system.ping", "default", "0", "");
    task("S2", "system.ping", "default", "0", "");
    is_int(take_all(), 2, "two entries taken");
    tgw_processor_stop(&proc);
    ok(drain() == 0, "the stopping processor lets them go");
    is_str(hget("S1", "status"), "queued", "not run");
    is_str(hget("Z1", "status"), "succeeded", "the running ones finished");
    is_int(pending(), 0, "their entries are no longer pending");
    is_int(num("XLEN %s", STREAM), 2, "two new entries wait in the stream");
    is_int(proc.n.handed_back, 2, "counted as handed back");

    is_int(finals, 12, "a final status for each finished task (webhooks)");

    tgw_processor_free(&proc);
    tgw_rconn_close(&rc, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    q("FLUSHDB");
    tredis_close();
    tgw_conf_unref(c);
    return done_testing();
}
