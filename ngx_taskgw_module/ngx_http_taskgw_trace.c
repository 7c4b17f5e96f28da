
/*
 * ngx_http_taskgw_trace: the W3C trace context of a request.
 * Owns the request's traceparent (the client's when valid, else a new
 * one from the kernel's CSPRNG) and the $taskgw_trace_id variable.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_record.h"
#include "tgw_trace.h"




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
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    if (ctx->traceparent.len) {
        return NGX_OK;
    }

    rc = ngx_http_taskgw_find_header(r, "traceparent", &h);

    return ngx_http_taskgw_trace_from(r, ctx, h, rc != NGX_OK);
}


/*
 * The same, for a caller that has looked for the header already (the
 * enqueue, in its one walk of the request's headers): h is the first
 * traceparent, NULL without one; repeated when there are more.
 */

ngx_int_t
ngx_http_taskgw_trace_from(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx,
    ngx_table_elt_t *h, ngx_uint_t repeated)
{
    u_char  *p;
    u_char   ids[24];

    if (ctx->traceparent.len) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, TGW_TRACEPARENT_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (!repeated
        && h != NULL
        && tgw_traceparent_parse(h->value.data, h->value.len, p) == 0)
    {
        ctx->traceparent.data = p;
        ctx->traceparent.len = TGW_TRACEPARENT_LEN;
        return NGX_OK;
    }

    if (ngx_http_taskgw_random(ids, sizeof(ids)) != NGX_OK) {
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
