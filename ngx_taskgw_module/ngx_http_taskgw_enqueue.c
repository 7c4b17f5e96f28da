
/*
 * ngx_http_taskgw_enqueue: the taskgw_enqueue content handler and the
 * request's checks (method, headers, callback, trace, size, JSON) before
 * its body goes to Redis as a task (ngx_http_taskgw_enqueue_store.c),
 * answered 202 only after Redis acknowledged it (_enqueue_reply.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_json.h"
#include "ngx_http_taskgw_body.h"
#include "ngx_http_taskgw_parse.h"
#include "ngx_http_taskgw_enqueue.h"


static ngx_int_t ngx_http_taskgw_enqueue_describe(ngx_http_request_t *r,
    ngx_table_elt_t **h, ngx_uint_t repeated, const char **message);
static ngx_int_t ngx_http_taskgw_enqueue_when(ngx_http_taskgw_ctx_t *ctx,
    ngx_table_elt_t **h, ngx_uint_t repeated, time_t max_delay,
    const char **message);
static ngx_int_t ngx_http_taskgw_enqueue_idem(ngx_http_taskgw_ctx_t *ctx,
    ngx_table_elt_t **h, ngx_uint_t repeated, const char **message);
static void ngx_http_taskgw_enqueue_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_taskgw_too_large(ngx_http_request_t *r);




/*
 * The request headers an enqueue reads, found in one walk of the list
 * (ngx_http_taskgw_find_headers): their places in
 * ngx_http_taskgw_enqueue_headers, and each one's bit in the mask of
 * those repeated.
 */
#define NGX_HTTP_TASKGW_H_PRIORITY     0
#define NGX_HTTP_TASKGW_H_DELAY        1
#define NGX_HTTP_TASKGW_H_RUN_AT       2
#define NGX_HTTP_TASKGW_H_IDEM         3
#define NGX_HTTP_TASKGW_H_CALLBACK     4
#define NGX_HTTP_TASKGW_H_TRACEPARENT  5
#define NGX_HTTP_TASKGW_H_N            6

#define ngx_http_taskgw_h_repeated(repeated, i)                              \
    ((repeated) & ((ngx_uint_t) 1 << (i)))


static ngx_str_t  ngx_http_taskgw_enqueue_headers[NGX_HTTP_TASKGW_H_N] = {
    ngx_string("X-Task-Priority"),
    ngx_string("X-Task-Delay"),
    ngx_string("X-Task-Run-At"),
    ngx_string("Idempotency-Key"),
    ngx_string("X-Callback-URL"),
    ngx_string("traceparent")
};


ngx_int_t
ngx_http_taskgw_enqueue_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_uint_t                   repeated;
    const char                  *message;
    ngx_table_elt_t             *h[NGX_HTTP_TASKGW_H_N];
    ngx_http_taskgw_ctx_t       *ctx;
    ngx_http_taskgw_loc_conf_t  *tlcf;

    if (!(r->method & (NGX_HTTP_POST|NGX_HTTP_PUT))) {
        return ngx_http_taskgw_not_allowed(r, "POST, PUT",
                                           "use POST or PUT to enqueue a "
                                           "task");
    }

    repeated = ngx_http_taskgw_find_headers(r,
                                            ngx_http_taskgw_enqueue_headers,
                                            NGX_HTTP_TASKGW_H_N, h);

    rc = ngx_http_taskgw_enqueue_describe(r, h, repeated, &message);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            /* 400 on a broken chunked body, as nginx says */
            return rc;
        }

        return ngx_http_taskgw_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "bad_request", message);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    rc = ngx_http_taskgw_callback_check(r, h[NGX_HTTP_TASKGW_H_CALLBACK],
                                        ngx_http_taskgw_h_repeated(repeated,
                                            NGX_HTTP_TASKGW_H_CALLBACK),
                                        &ctx->callback_url, &message);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_taskgw_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "callback_not_allowed", message);
    }

    /* the client's traceparent, or a new trace (ngx_http_taskgw_trace.c) */

    if (ngx_http_taskgw_trace_from(r, ctx, h[NGX_HTTP_TASKGW_H_TRACEPARENT],
                                   ngx_http_taskgw_h_repeated(repeated,
                                       NGX_HTTP_TASKGW_H_TRACEPARENT))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a body announced larger than taskgw_max_payload is not even read */

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (r->headers_in.content_length_n > (off_t) tlcf->max_payload) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_taskgw_too_large(r);
    }

    /* the body may be large or in a temp file: read it all, then store */

    rc = ngx_http_read_client_request_body(r, ngx_http_taskgw_enqueue_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * What the task is: its queue, type and priority, from the directive and
 * the request (h: its headers the enqueue reads, repeated: the mask of
 * those that are there more than once).  NGX_DECLINED with *message when
 * the request is at fault.
 */

static ngx_int_t
ngx_http_taskgw_enqueue_describe(ngx_http_request_t *r, ngx_table_elt_t **h,
    ngx_uint_t repeated, const char **message)
{
    ngx_int_t                    p;
    ngx_http_taskgw_ctx_t       *ctx;
    ngx_http_taskgw_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    if (ngx_http_complex_value(r, tlcf->queue, &ctx->queue) != NGX_OK) {
        return NGX_ERROR;
    }

    if (tlcf->type == NULL) {
        ctx->type = ctx->queue;

    } else if (ngx_http_complex_value(r, tlcf->type, &ctx->type) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->priority = tlcf->priority;

    if (ngx_http_taskgw_h_repeated(repeated, NGX_HTTP_TASKGW_H_PRIORITY)) {
        *message = "duplicate X-Task-Priority header";
        return NGX_DECLINED;
    }

    *message = "X-Task-Priority must be one of high, normal, low";

    if (h[NGX_HTTP_TASKGW_H_PRIORITY] != NULL) {
        p = ngx_http_taskgw_parse_priority(
                                       &h[NGX_HTTP_TASKGW_H_PRIORITY]->value);
        if (p == NGX_ERROR) {
            return NGX_DECLINED;
        }

        ctx->priority = p;
    }

    if (ngx_http_taskgw_enqueue_idem(ctx, h, repeated, message) != NGX_OK) {
        return NGX_DECLINED;
    }

    /*
     * a queue or type without variables was checked with the directive
     * (a type taken from the queue is one: a queue name is a valid type)
     */

    if (tlcf->queue->lengths != NULL
        && ngx_http_taskgw_valid_name(&ctx->queue, NGX_HTTP_TASKGW_QUEUE_MAX,
                                      0)
           != NGX_OK)
    {
        *message = "queue name must be 1-64 characters of A-Z a-z 0-9 . _ -";
        return NGX_DECLINED;
    }

    if (tlcf->type != NULL && tlcf->type->lengths != NULL
        && ngx_http_taskgw_valid_name(&ctx->type, NGX_HTTP_TASKGW_TYPE_MAX, 1)
           != NGX_OK)
    {
        *message = "task type must be 1-128 characters of "
                   "A-Z a-z 0-9 . _ - :";
        return NGX_DECLINED;
    }

    return ngx_http_taskgw_enqueue_when(ctx, h, repeated, tlcf->max_delay,
                                        message);
}


/*
 * When the task may run: X-Task-Delay (seconds from now) or X-Task-Run-At
 * (unix seconds), each header at most once, the rest as
 * ngx_http_taskgw_parse_when() says.  Sets ctx->run_at (unix ms) for a
 * task that is to be scheduled.
 */

static ngx_int_t
ngx_http_taskgw_enqueue_when(ngx_http_taskgw_ctx_t *ctx, ngx_table_elt_t **h,
    ngx_uint_t repeated, time_t max_delay, const char **message)
{
    ngx_table_elt_t  *d, *at;

    if (ngx_http_taskgw_h_repeated(repeated, NGX_HTTP_TASKGW_H_DELAY)) {
        *message = "duplicate X-Task-Delay header";
        return NGX_DECLINED;
    }

    if (ngx_http_taskgw_h_repeated(repeated, NGX_HTTP_TASKGW_H_RUN_AT)) {
        *message = "duplicate X-Task-Run-At header";
        return NGX_DECLINED;
    }

    d = h[NGX_HTTP_TASKGW_H_DELAY];
    at = h[NGX_HTTP_TASKGW_H_RUN_AT];

    if (d == NULL && at == NULL) {
        return NGX_OK;
    }

    return ngx_http_taskgw_parse_when(d ? &d->value : NULL,
                                      at ? &at->value : NULL,
                                      ngx_http_taskgw_now_ms(), max_delay,
                                      &ctx->run_at, message);
}


/*
 * Idempotency-Key: 1-255 visible ASCII characters (no space), at most
 * once.  Which task it names is settled in Redis (enqueue.lua).
 */

static ngx_int_t
ngx_http_taskgw_enqueue_idem(ngx_http_taskgw_ctx_t *ctx, ngx_table_elt_t **h,
    ngx_uint_t repeated, const char **message)
{
    ngx_table_elt_t  *k;

    if (ngx_http_taskgw_h_repeated(repeated, NGX_HTTP_TASKGW_H_IDEM)) {
        *message = "duplicate Idempotency-Key header";
        return NGX_DECLINED;
    }

    *message = "Idempotency-Key must be 1-255 visible ASCII characters";

    k = h[NGX_HTTP_TASKGW_H_IDEM];

    if (k == NULL) {
        return NGX_OK;
    }

    if (ngx_http_taskgw_valid_idem_key(&k->value) != NGX_OK) {
        return NGX_DECLINED;
    }

    ctx->idem_key = k->value;

    return NGX_OK;
}


/*
 * taskgw_max_payload bounds what one request puts on the worker's shared
 * Redis link, whatever client_max_body_size lets nginx read.
 */

static ngx_int_t
ngx_http_taskgw_too_large(ngx_http_request_t *r)
{
    return ngx_http_taskgw_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "too_large",
                                      "the body is larger than "
                                      "taskgw_max_payload");
}


static void
ngx_http_taskgw_enqueue_body(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    body;
    ngx_http_taskgw_ctx_t       *ctx;
    ngx_http_taskgw_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (ngx_http_taskgw_body_length(r) > (off_t) tlcf->max_payload) {
        /* a chunked body, its size known only now */
        ngx_http_finalize_request(r, ngx_http_taskgw_too_large(r));
        return;
    }

    /* taskgw_enqueue_duration_seconds: observed at the log phase */
    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);
    ctx->started_us = ngx_http_taskgw_clock_us();

    if (tlcf->validate_json) {
        if (ngx_http_taskgw_read_body(r, &body) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (ngx_http_taskgw_json_valid(body.data, body.len) != NGX_OK) {
            ngx_http_finalize_request(r,
                ngx_http_taskgw_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_json",
                                           "the body is not one valid JSON "
                                           "value"));
            return;
        }
    }

    /* the body goes to Redis from nginx's buffers and temp file */

    rc = ngx_http_taskgw_enqueue_store(r, 0);

    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_http_finalize_request(r, rc);

    } else if (rc != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_unavailable(r, "task store is unavailable"));
    }
}
