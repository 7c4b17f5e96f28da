
/*
 * ngx_http_taskgw_trace: the W3C trace context of a request.
 * Owns the request's traceparent (the client's when valid, else a new
 * one from the kernel's CSPRNG) and the $taskgw_trace_id variable.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/random.h>
#include "ngx_http_taskgw_module.h"
#include "tgw_trace.h"


static ngx_int_t ngx_http_taskgw_trace_random(u_char *buf, size_t n);


/*
 * The request's traceparent, settled once and kept in ctx so that the
 * task, the access log and every later look agree: the client's header
 * when there is exactly one and it is valid (docs/operations.md, "Trace
 * context"), else a new trace.  A bad header is replaced, never refused:
 * tracing must not cost a client its request.
 */

ngx_int_t
ngx_http_taskgw_trace(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx)
{
    u_char            *p;
    u_char             ids[24];
    ngx_table_elt_t   *h;

    if (ctx->traceparent.len) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, TGW_TRACEPARENT_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_taskgw_find_header(r, "traceparent", &h) == NGX_OK
        && h != NULL
        && tgw_traceparent_parse(h->value.data, h->value.len, p) == 0)
    {
        ctx->traceparent.data = p;
        ctx->traceparent.len = TGW_TRACEPARENT_LEN;
        return NGX_OK;
    }

    if (ngx_http_taskgw_trace_random(ids, sizeof(ids)) != NGX_OK) {
        return NGX_ERROR;
    }

    tgw_traceparent_make(ids, ids + 16, TGW_TRACE_FLAGS_NEW, p);
    ngx_memzero(ids, sizeof(ids));

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "taskgw: new trace, %s traceparent",
                   h ? "invalid" : "no");

    ctx->traceparent.data = p;
    ctx->traceparent.len = TGW_TRACEPARENT_LEN;

    return NGX_OK;
}


/* $taskgw_trace_id: the 32 hex digits of the request's trace id. */

ngx_int_t
ngx_http_taskgw_trace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_taskgw_ctx_t  *ctx;

    ctx = ngx_http_taskgw_get_ctx(r);

    if (ctx == NULL || ngx_http_taskgw_trace(r, ctx) != NGX_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = TGW_TRACE_ID_LEN;
    v->data = ctx->traceparent.data + TGW_TRACE_ID_OFF;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * n random bytes from the kernel's CSPRNG: getrandom(2) with GRND_NONBLOCK,
 * which never blocks the worker (it fails only while the kernel's pool is
 * not yet initialized, early at boot).  Bytes are fetched in blocks and
 * each one is handed out once, then wiped.
 */

static ngx_int_t
ngx_http_taskgw_trace_random(u_char *buf, size_t n)
{
    size_t         got;
    ssize_t        k;

    static u_char  pool[480];
    static size_t  avail;

    if (n > sizeof(pool)) {
        return NGX_ERROR;
    }

    if (avail < n) {
        for (got = 0; got < sizeof(pool); got += k) {
            k = getrandom(pool + got, sizeof(pool) - got, GRND_NONBLOCK);

            if (k == -1 && ngx_errno == NGX_EINTR) {
                k = 0;
                continue;
            }

            if (k <= 0) {
                ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                              "taskgw: getrandom() failed");
                return NGX_ERROR;
            }
        }

        avail = sizeof(pool);
    }

    avail -= n;
    ngx_memcpy(buf, &pool[avail], n);
    ngx_memzero(&pool[avail], n);

    return NGX_OK;
}
