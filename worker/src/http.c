/*
 * The http handler: POST the payload to the handler's URL (hreq.c).
 *
 * The rule: a 2xx answer within the timeout is success and its body the
 * result; 408, 429, 5xx and transport errors (refused, reset, DNS,
 * timeout) are retryable; any other status (3xx is not followed, other
 * 4xx) is permanent.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

#define TGW_HTTP_ERR_BODY  512      /* bytes of a failing body in error */


#define tgw_http_error(run, st, ...)                                       \
    do {                                                                    \
        tgw_run_set_error(run, __VA_ARGS__);                                \
        (run)->status = (st);                                               \
    } while (0)


static void
tgw_http_done(tgw_hreq_t *r)
{
    tgw_run_t *run = r->data;
    size_t     n;

    if (run->aborted) {
        tgw_http_error(run, TGW_RUN_RETRYABLE, "aborted at shutdown");
    } else if (r->rc != CURLE_OK) {
        tgw_http_error(run, TGW_RUN_RETRYABLE, "%s%s",
                       r->rc == CURLE_OPERATION_TIMEDOUT ? "timeout: " : "",
                       tgw_hreq_error(r));
    } else if (r->status >= 200 && r->status <= 299) {
        run->status = TGW_RUN_SUCCESS;
        run->output = r->resp;      /* the body is the result */
        run->output_len = r->resp_len;
        run->truncated = r->truncated;
        r->resp = NULL;
    } else {
        /* A failing answer: its status and the start of its body. */
        n = r->resp_len < TGW_HTTP_ERR_BODY ? r->resp_len
                                            : TGW_HTTP_ERR_BODY;
        tgw_http_error(run, (r->status == 408 || r->status == 429
                             || r->status >= 500)
                            ? TGW_RUN_RETRYABLE : TGW_RUN_PERMANENT,
                       "HTTP %ld%s%.*s", r->status, n ? ": " : "", (int) n,
                       r->resp ? r->resp : "");
    }
    tgw_hreq_cleanup(r);
    tgw_run_handle_gone(run);
}


/* A header value taken from the task must not smuggle in header lines. */
static int
tgw_http_header_safe(const char *v)
{
    for ( ; v && *v; v++) {
        if ((unsigned char) *v < 0x20 || *v == 0x7f) {
            return 0;
        }
    }
    return 1;
}


static int
tgw_http_start(tgw_run_t *run)
{
    const tgw_handler_conf_t *h = run->handler;
    uint64_t                  timeout = h->http_timeout_ms;

    if (h->timeout_ms && h->timeout_ms < timeout) {
        timeout = h->timeout_ms;
    }
    if (asprintf(&run->hdr[0], "Content-Type: %s",
                 run->content_type && *run->content_type
                 && tgw_http_header_safe(run->content_type)
                 ? run->content_type : "application/octet-stream") < 0)
    {
        run->hdr[0] = NULL;
        return -1;
    }
    if (asprintf(&run->hdr[1], "X-Task-Id: %s",
                 tgw_http_header_safe(run->task_id) ? run->task_id : "")
        < 0)
    {
        run->hdr[1] = NULL;
        return -1;
    }
    if (asprintf(&run->hdr[2], "X-Task-Attempt: %d", run->attempt) < 0) {
        run->hdr[2] = NULL;
        return -1;
    }
    run->hdr[3] = NULL;
    if (run->traceparent
        && asprintf(&run->hdr[3], "traceparent: %s", run->traceparent) < 0)
    {
        run->hdr[3] = NULL;
        return -1;
    }
    run->hdr[4] = NULL;

    memset(&run->hreq, 0, sizeof(run->hreq));
    run->hreq.loop = run->loop;
    run->hreq.url = h->http_url;
    run->hreq.headers = (const char * const *) run->hdr;
    run->hreq.body = run->payload;
    run->hreq.body_len = run->payload_len;
    run->hreq.timeout_ms = timeout;
    run->hreq.max_body = run->result_max;
    run->hreq.done = tgw_http_done;
    run->hreq.data = run;

    /* the request counts as one handle of the run */
    run->open_handles++;
    if (tgw_hreq_start(&run->hreq) != 0) {
        run->open_handles--;
        return -1;
    }
    return 0;
}


static void
tgw_http_abort(tgw_run_t *run)
{
    tgw_hreq_abort(&run->hreq);
}


const tgw_handler_ops_t tgw_http_ops = {
    tgw_http_start,
    tgw_http_abort,
    NULL
};
