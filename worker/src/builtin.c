/*
 * The built-in handlers (ping, echo, sleep, fail), for tests and health
 * checks.  Each completes from a timer (0 ms except sleep), so every
 * handler reports asynchronously through the same path.  A type without
 * a handler runs here too, failing at once (tgw_run_start set that).
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "run.h"
#include "tgw_duration.h"



static void
tgw_builtin_fire(uv_timer_t *t)
{
    tgw_run_t    *run = t->data;
    json_t       *j, *perm;
    json_error_t  err;

    if (run->timed_out || run->handler == NULL) {
        /* status and error were set when the run started */
        tgw_run_close_handle(run, (uv_handle_t *) &run->timer);
        return;
    }

    switch (run->handler->builtin) {
    case TGW_BUILTIN_PING:
        run->output = strdup("pong");
        run->output_len = 4;
        if (run->output == NULL) {
            run->status = TGW_RUN_RETRYABLE;
            tgw_run_set_error(run, "out of memory");
        }
        break;

    case TGW_BUILTIN_ECHO:
        run->output_len = run->payload_len < run->result_max
                          ? run->payload_len : run->result_max;
        run->truncated = run->payload_len > run->result_max;
        run->output = malloc(run->output_len + 1);
        if (run->output == NULL) {
            run->status = TGW_RUN_RETRYABLE;
            tgw_run_set_error(run, "out of memory");
            break;
        }
        memcpy(run->output, run->payload, run->output_len);
        run->output[run->output_len] = '\0';
        break;

    case TGW_BUILTIN_SLEEP:
        /* the payload was checked at start; the delay is over */
        break;

    case TGW_BUILTIN_FAIL:
        j = json_loadb(run->payload, run->payload_len, JSON_DECODE_ANY, &err);
        perm = json_is_object(j) ? json_object_get(j, "permanent") : NULL;
        run->status = json_is_true(perm) ? TGW_RUN_PERMANENT
                                         : TGW_RUN_RETRYABLE;
        tgw_run_set_error(run, "fail: failing on purpose%s",
                          json_is_true(perm) ? " (permanent)" : "");
        json_decref(j);
        break;
    }

    tgw_run_close_handle(run, (uv_handle_t *) &run->timer);
}


/* Validates a sleep payload {"ms":N}; returns N or -1. */
static int64_t
tgw_builtin_sleep_ms(const tgw_run_t *run)
{
    json_t       *j, *ms;
    json_error_t  err;
    int64_t       n = -1;

    j = json_loadb(run->payload, run->payload_len, JSON_DECODE_ANY, &err);
    ms = json_is_object(j) ? json_object_get(j, "ms") : NULL;
    if (json_is_integer(ms) && json_integer_value(ms) >= 0
        && json_integer_value(ms) <= 7LL * 24 * 3600 * 1000)
    {
        n = json_integer_value(ms);
    }
    json_decref(j);
    return n;
}


static int
tgw_builtin_start(tgw_run_t *run)
{
    uint64_t delay = 0;
    int64_t  ms;
    char     buf[32];

    if (run->handler != NULL && run->handler->builtin == TGW_BUILTIN_SLEEP) {
        ms = tgw_builtin_sleep_ms(run);
        if (ms < 0) {
            run->status = TGW_RUN_PERMANENT;
            tgw_run_set_error(run, "sleep: payload must be {\"ms\":N} "
                              "with 0 <= N <= 604800000");
        } else {
            delay = (uint64_t) ms;
            if (run->handler->timeout_ms && delay > run->handler->timeout_ms)
            {
                delay = run->handler->timeout_ms;
                run->timed_out = 1;
                run->status = TGW_RUN_RETRYABLE;
                tgw_run_set_error(run, "timeout after %s",
                                  tgw_duration_format(delay, buf,
                                                      sizeof(buf)));
            } else if (asprintf(&run->output, "{\"slept_ms\":%" PRId64 "}",
                                ms) > 0)
            {
                run->output_len = strlen(run->output);
            } else {
                run->output = NULL;
            }
        }
    }

    uv_timer_init(run->loop, &run->timer);
    run->timer.data = run;
    run->open_handles++;
    uv_timer_start(&run->timer, tgw_builtin_fire, delay, 0);
    return 0;
}


static void
tgw_builtin_abort(tgw_run_t *run)
{
    if (!uv_is_closing((uv_handle_t *) &run->timer)) {
        uv_timer_stop(&run->timer);
        run->status = TGW_RUN_RETRYABLE;
        tgw_run_set_error(run, "aborted at shutdown");
        tgw_run_close_handle(run, (uv_handle_t *) &run->timer);
    }
}


const tgw_handler_ops_t tgw_builtin_ops = {
    tgw_builtin_start,
    tgw_builtin_abort,
    NULL
};
