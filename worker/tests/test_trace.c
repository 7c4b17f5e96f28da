/*
 * Unit tests of the trace context (common/tgw_trace.h, tgw_trace.c) and of
 * trace_id in log lines (src/log.c): which traceparent values are taken,
 * the trace of a task without one, the span of a run, and the log helper
 * naming a bound task's trace.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"
#include "tgw_trace.h"

#define V00  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


/* The version-00 form of s, or "" when it is not taken. */
static const char *
parse(const char *s)
{
    static char  out[TGW_TRACEPARENT_LEN + 1];

    if (tgw_traceparent_parse((const unsigned char *) s, strlen(s),
                              (unsigned char *) out) != 0)
    {
        return "";
    }
    out[TGW_TRACEPARENT_LEN] = '\0';
    return out;
}


static void
test_parse(void)
{
    is_str(parse(V00), V00, "version 00 taken as it is");
    is_str(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe"),
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe",
           "version 00: flags kept whole");
    is_str(parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-x"),
           V00, "a later version: four fields, then a dash: taken as 00");
    is_str(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02"),
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
           "a later version: only the sampled flag is kept");
    is_str(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"),
           "", "a later version whose flags run on: refused");
    is_str(parse(V00 "-x"), "", "version 00 with more: refused");
    is_str(parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
           "", "version ff: refused");
    is_str(parse("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
           "", "a version that is no hex: refused");
    is_str(parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
           "", "uppercase: refused");
    is_str(parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
           "", "all-zero trace id: refused");
    is_str(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
           "", "all-zero parent id: refused");
    is_str(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"),
           "", "no flags: refused");
    is_str(parse("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"),
           "", "a short trace id: refused");
    is_str(parse("00 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 01"),
           "", "no dashes: refused");
    is_str(parse(""), "", "empty: refused");
}


static void
test_make(void)
{
    unsigned char  zero[24] = { 0 }, ids[24];
    char           out[TGW_TRACEPARENT_LEN + 1];
    size_t         i;

    for (i = 0; i < sizeof(ids); i++) {
        ids[i] = (unsigned char) (i * 17);
    }
    tgw_traceparent_make(ids, ids + 16, "01", (unsigned char *) out);
    out[TGW_TRACEPARENT_LEN] = '\0';
    is_str(out, "00-00112233445566778899aabbccddeeff-102132435465768"
           "7-01", "make: hex of the bytes, version 00");

    tgw_traceparent_make(zero, zero + 16, "01", (unsigned char *) out);
    out[TGW_TRACEPARENT_LEN] = '\0';
    is_str(parse(out), out, "make: all-zero bytes still give a valid one");

    ok(tgw_trace_new(out) == 0, "trace_new succeeds");
    is_str(parse(out), out, "trace_new: a valid traceparent");
}


static void
test_task(void)
{
    char  a[TGW_TRACEPARENT_LEN + 1], b[TGW_TRACEPARENT_LEN + 1];
    char  r1[TGW_TRACEPARENT_LEN + 1], r2[TGW_TRACEPARENT_LEN + 1];
    const char *id = "01a20000-0000-7000-8000-00000000000a";

    tgw_trace_of_task(V00, strlen(V00), id, a);
    is_str(a, V00, "of_task: the stored traceparent");

    tgw_trace_of_task(NULL, 0, id, a);
    tgw_trace_of_task("00-bad", 6, id, b);
    is_str(parse(a), a, "of_task without one: a valid traceparent");
    is_str(b, a, "of_task: a broken field gives the same, from the id");
    tgw_trace_of_task(NULL, 0, "01a20000-0000-7000-8000-00000000000b", b);
    ok(strcmp(a, b) != 0, "of_task: another id, another trace");

    /* printf '<id>\n1\n1795428001000' | sha256sum: 54aed01fc0c015dc... */
    tgw_trace_run(V00, id, 1, 1795428001000ULL, r1);
    is_str(r1, "00-4bf92f3577b34da6a3ce929d0e0e4736-54aed01fc0c015dc-01",
           "run: the trace id, the run's span as parent, the flags");
    ok(strncmp(r1, V00, TGW_PARENT_ID_OFF) == 0, "run: the task's trace id");
    ok(strncmp(r1 + TGW_PARENT_ID_OFF, V00 + TGW_PARENT_ID_OFF,
               TGW_SPAN_ID_LEN) != 0, "run: not the stored parent id");
    ok(strcmp(r1 + TGW_TRACE_FLAGS_OFF, "01") == 0, "run: the task's flags");

    tgw_trace_run(V00, id, 2, 1795428001000ULL, r2);
    ok(strcmp(r1, r2) != 0, "run: another attempt, another span");
    tgw_trace_run(V00, id, 1, 1795428009000ULL, r2);
    ok(strcmp(r1, r2) != 0, "run: attempt 1 again (a replay), another span");
    tgw_trace_run(V00, id, 1, 1795428001000ULL, r2);
    is_str(r2, r1, "run: the same run, the same span (anyone can name it)");
}


/* Runs fn with stderr going to a file; returns what was written. */
static char *
capture(void (*fn)(void))
{
    static char  buf[8192];
    char         path[] = "/tmp/test_trace_XXXXXX";
    int          fd, saved;
    ssize_t      n;

    fd = mkstemp(path);
    saved = dup(2);
    dup2(fd, 2);
    fn();
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    n = read(fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return buf;
}


static tgw_log_trace_t  node1, node2;

static void
log_lines(void)
{
    tgw_log(TGW_LOG_INFO, "one", "task_id", "t-1", "x", "y", NULL);
    tgw_log(TGW_LOG_INFO, "two", "task_id", "t-2", NULL);
    tgw_log(TGW_LOG_INFO, "three", "x", "y", NULL);
}


static void
log_after_unbind(void)
{
    tgw_log_trace_unbind(&node1);
    tgw_log(TGW_LOG_INFO, "four", "task_id", "t-1", NULL);
    tgw_log_trace_unbind(&node2);
    tgw_log(TGW_LOG_INFO, "five", "task_id", "t-1", NULL);
}


static void
test_log(void)
{
    char  *out;

    tgw_log_init(0, TGW_LOG_INFO);
    tgw_log_trace_bind(&node1, "t-1", "4bf92f3577b34da6a3ce929d0e0e4736");
    tgw_log_trace_bind(&node2, "t-1", "4bf92f3577b34da6a3ce929d0e0e4736");
    out = capture(log_lines);
    ok(strstr(out, "event=one task_id=t-1 trace_id="
                   "4bf92f3577b34da6a3ce929d0e0e4736 x=y\n") != NULL,
       "log: trace_id follows a bound task_id");
    ok(strstr(out, "event=two task_id=t-2\n") != NULL,
       "log: no trace_id for a task not bound");
    ok(strstr(out, "event=three x=y\n") != NULL,
       "log: none on a line without a task");

    out = capture(log_after_unbind);
    ok(strstr(out, "event=four task_id=t-1 trace_id=4bf9") != NULL,
       "log: still named while another node binds the id");
    ok(strstr(out, "event=five task_id=t-1\n") != NULL,
       "log: gone once every node is unbound");

    tgw_log_init(1, TGW_LOG_INFO);
    tgw_log_trace_bind(&node1, "t-1", "4bf92f3577b34da6a3ce929d0e0e4736");
    out = capture(log_lines);
    ok(strstr(out, "\"task_id\":\"t-1\",\"trace_id\":"
                   "\"4bf92f3577b34da6a3ce929d0e0e4736\"") != NULL,
       "log --log-json: trace_id is a field");
    tgw_log_trace_unbind(&node1);
}


int
main(void)
{
    test_parse();
    test_make();
    test_task();
    test_log();
    return done_testing();
}
