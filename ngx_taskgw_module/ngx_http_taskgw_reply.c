
/*
 * ngx_http_taskgw_reply: the JSON replies of taskgw locations (its own
 * and the errors nginx makes), the $taskgw_* variables, the clock.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_json.h"


static ngx_int_t ngx_http_taskgw_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_taskgw_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_taskgw_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* HTTP status -> (error code, outcome label) for replies nginx makes. */
typedef struct {
    ngx_uint_t   status;
    const char  *code;
    const char  *message;
    ngx_str_t    outcome;
} ngx_http_taskgw_error_map_t;


static ngx_http_taskgw_error_map_t  ngx_http_taskgw_errors[] = {
    { NGX_HTTP_BAD_REQUEST, "bad_request", "malformed request",
      ngx_string("bad_request") },
    { NGX_HTTP_UNAUTHORIZED, "unauthorized", "a valid token is required",
      ngx_string("unauthorized") },
    { NGX_HTTP_FORBIDDEN, "forbidden", "access denied",
      ngx_string("forbidden") },
    { NGX_HTTP_NOT_FOUND, "not_found", "not found",
      ngx_string("bad_request") },
    { NGX_HTTP_NOT_ALLOWED, "method_not_allowed", "method not allowed",
      ngx_string("bad_request") },
    { NGX_HTTP_REQUEST_TIME_OUT, "bad_request", "request body timed out",
      ngx_string("bad_request") },
    { NGX_HTTP_CONFLICT, "conflict", "conflict",
      ngx_string("bad_request") },
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "too_large",
      "request body exceeds client_max_body_size",
      ngx_string("too_large") },
    { NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
      "unsupported media type", ngx_string("bad_request") },
    { 422, "idempotency_conflict", "unprocessable request",
      ngx_string("bad_request") },
    { 429, "rate_limited", "rate limit exceeded",
      ngx_string("rate_limited") },
    { NGX_HTTP_SERVICE_UNAVAILABLE, "unavailable",
      "service temporarily unavailable", ngx_string("unavailable") },
    { 0, "unavailable", "internal error", ngx_string("unavailable") }
};


/* any other 4xx nginx makes (412 on If-Match, ...) is the client's fault */
static ngx_http_taskgw_error_map_t  ngx_http_taskgw_client_error =
    { 0, "bad_request", "the request cannot be served",
      ngx_string("bad_request") };



/* $taskgw_* variables: the data is the offset of an ngx_str_t in ctx
 * (for those read by ngx_http_taskgw_variable) */
static ngx_http_variable_t  ngx_http_taskgw_vars[] = {

    { ngx_string("taskgw_task_id"), NULL, ngx_http_taskgw_variable,
      offsetof(ngx_http_taskgw_ctx_t, task_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("taskgw_outcome"), NULL, ngx_http_taskgw_variable,
      offsetof(ngx_http_taskgw_ctx_t, outcome),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("taskgw_limit_status"), NULL, ngx_http_taskgw_variable,
      offsetof(ngx_http_taskgw_ctx_t, limit_status),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("taskgw_token_name"), NULL, ngx_http_taskgw_variable,
      offsetof(ngx_http_taskgw_ctx_t, token_name),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("taskgw_token_role"), NULL, ngx_http_taskgw_variable,
      offsetof(ngx_http_taskgw_ctx_t, token_role),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    /* the request's trace id: the client's traceparent, else a new one */
    { ngx_string("taskgw_trace_id"), NULL, ngx_http_taskgw_trace_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_taskgw_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_taskgw_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_taskgw_init_filters(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_taskgw_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_taskgw_body_filter;

    return NGX_OK;
}




ngx_http_taskgw_ctx_t *
ngx_http_taskgw_get_ctx(ngx_http_request_t *r)
{
    ngx_http_taskgw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_taskgw_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_taskgw_module);
    }

    return ctx;
}


/* Sends a complete JSON response; the result is for finalize_request. */

ngx_int_t
ngx_http_taskgw_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *outcome, u_char *body, size_t len)
{
    return ngx_http_taskgw_send_json_body(r, status, outcome, body, len, 1);
}


/*
 * The same; with copy 0 the body is sent from where it is, which must be
 * the request's pool (the output may still hold it once this returns,
 * when the client's socket is full).
 */

ngx_int_t
ngx_http_taskgw_send_json_body(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *outcome, u_char *body, size_t len, ngx_uint_t copy)
{
    ngx_int_t               rc;
    ngx_buf_t              *b;
    ngx_chain_t             out;
    ngx_http_taskgw_ctx_t  *ctx;

    ctx = ngx_http_taskgw_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->replied = 1;

    if (outcome) {
        ctx->outcome = *outcome;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = (off_t) len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (r->method == NGX_HTTP_HEAD || len == 0) {
        r->header_only = (r->method == NGX_HTTP_HEAD) ? 1 : r->header_only;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (copy) {
        b = ngx_create_temp_buf(r->pool, len);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->last = ngx_cpymem(b->pos, body, len);

    } else {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->pos = body;
        b->last = body + len;
        b->memory = 1;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_http_taskgw_error_map_t *
ngx_http_taskgw_error_for(ngx_uint_t status)
{
    ngx_http_taskgw_error_map_t  *e;

    for (e = ngx_http_taskgw_errors; e->status; e++) {
        if (e->status == status) {
            return e;
        }
    }

    if (status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
        return &ngx_http_taskgw_client_error;
    }

    return e;
}


static u_char *
ngx_http_taskgw_error_body(ngx_pool_t *pool, const char *code,
    const char *message, size_t *len)
{
    u_char  *p, *body;
    size_t   n;

    n = sizeof("{\"error\":\"\",\"message\":\"\"}") - 1
        + ngx_http_taskgw_json_escape_len((u_char *) code, ngx_strlen(code))
        + ngx_http_taskgw_json_escape_len((u_char *) message,
                                          ngx_strlen(message));

    body = ngx_pnalloc(pool, n);
    if (body == NULL) {
        return NULL;
    }

    p = ngx_cpymem(body, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = ngx_http_taskgw_json_escape(p, (u_char *) code, ngx_strlen(code));
    p = ngx_cpymem(p, "\",\"message\":\"", sizeof("\",\"message\":\"") - 1);
    p = ngx_http_taskgw_json_escape(p, (u_char *) message,
                                    ngx_strlen(message));
    *p++ = '"';
    *p++ = '}';

    *len = p - body;

    return body;
}


/*
 * The JSON error every taskgw reply uses:
 * {"error":"<code>","message":"<text>"}.
 * The outcome label follows the status (see ngx_http_taskgw_errors).
 */

ngx_int_t
ngx_http_taskgw_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "taskgw: %ui %s: %s", status, code, message);

    return ngx_http_taskgw_reject(r, status, code, message);
}


/* The same JSON error, for callers that have logged the reason already. */

ngx_int_t
ngx_http_taskgw_reject(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    u_char                       *body;
    size_t                        len;
    ngx_http_taskgw_error_map_t  *e;

    body = ngx_http_taskgw_error_body(r->pool, code, message, &len);
    if (body == NULL) {
        return NGX_ERROR;
    }

    if (r->headers_out.status != 0 && r->header_sent) {
        return NGX_ERROR;
    }

    e = ngx_http_taskgw_error_for(status);

    return ngx_http_taskgw_send_json(r, status, &e->outcome, body, len);
}


/* 405 with Allow: the methods the location takes; the body is dropped. */

ngx_int_t
ngx_http_taskgw_not_allowed(ngx_http_request_t *r, char *allow,
    const char *message)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        /* 400 on a broken chunked body, as nginx says */
        return rc;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = (u_char *) allow;
    h->value.len = ngx_strlen(allow);

    return ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                      "method_not_allowed", message);
}


/* 503 with Retry-After: 1, for any failure to reach or use Redis. */

ngx_int_t
ngx_http_taskgw_unavailable(ngx_http_request_t *r, const char *message)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    ngx_str_set(&h->value, "1");

    return ngx_http_taskgw_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "unavailable", message);
}


/*
 * Finds a request header by name.  *h is NULL when it is absent;
 * NGX_DECLINED when it is repeated, which the module treats as malformed.
 */

ngx_int_t
ngx_http_taskgw_find_header(ngx_http_request_t *r, const char *name,
    ngx_table_elt_t **h)
{
    ngx_str_t  n;

    n.data = (u_char *) name;
    n.len = ngx_strlen(name);

    return ngx_http_taskgw_find_headers(r, &n, 1, h) ? NGX_DECLINED : NGX_OK;
}


/*
 * Finds the n request headers named names[0..n) in one walk of the list,
 * instead of a walk for each: h[k] is the first header named names[k],
 * NULL when there is none.  Bit k of the result is set when names[k] is
 * repeated, which the module treats as malformed.
 */

ngx_uint_t
ngx_http_taskgw_find_headers(ngx_http_request_t *r, ngx_str_t *names,
    ngx_uint_t n, ngx_table_elt_t **h)
{
    ngx_uint_t        i, k, repeated;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *header;

    for (k = 0; k < n; k++) {
        h[k] = NULL;
    }

    repeated = 0;

    part = &r->headers_in.headers.part;
    header = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            header = part->elts;
            i = 0;
        }

        if (header[i].hash == 0) {
            continue;
        }

        for (k = 0; k < n; k++) {
            if (header[i].key.len != names[k].len
                || ngx_strncasecmp(header[i].key.data, names[k].data,
                                   names[k].len)
                   != 0)
            {
                continue;
            }

            if (h[k] == NULL) {
                h[k] = &header[i];

            } else {
                repeated |= (ngx_uint_t) 1 << k;
            }

            break;
        }
    }

    return repeated;
}


/* Wall-clock time in unix milliseconds, from nginx's cached time. */

int64_t
ngx_http_taskgw_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + (int64_t) tp->msec;
}


/* ------------------------------------------------------------------ */
/* JSON for the replies nginx makes itself in taskgw locations         */
/* ------------------------------------------------------------------ */

/*
 * nginx answers some requests before the module sees them (413 when the
 * body exceeds client_max_body_size, 400 on a broken chunked body, 500
 * on an internal failure).  In a taskgw location those replies are
 * rewritten here into the module's JSON error, so clients always get
 * one error format.
 */

static ngx_int_t
ngx_http_taskgw_header_filter(ngx_http_request_t *r)
{
    u_char                       *body;
    size_t                        len;
    ngx_http_taskgw_ctx_t        *ctx;
    ngx_http_taskgw_loc_conf_t   *tlcf;
    ngx_http_taskgw_error_map_t  *e;

    if (r != r->main || r->headers_out.status < NGX_HTTP_BAD_REQUEST) {
        return ngx_http_next_header_filter(r);
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    /* a rate-limited location answers its errors in JSON, whatever it is */

    if (tlcf == NULL
        || (tlcf->handler == NGX_HTTP_TASKGW_NONE && tlcf->limits == NULL))
    {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_taskgw_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->replied) {
        return ngx_http_next_header_filter(r);
    }

    e = ngx_http_taskgw_error_for(r->headers_out.status);

    body = ngx_http_taskgw_error_body(r->pool, e->code, e->message, &len);
    if (body == NULL) {
        return NGX_ERROR;
    }

    ctx->json_error = 1;
    ctx->error_body.data = body;
    ctx->error_body.len = len;
    ctx->outcome = e->outcome;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    r->headers_out.content_length_n = (off_t) len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_taskgw_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t              *b;
    ngx_chain_t            *cl, out;
    ngx_http_taskgw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    if (ctx == NULL || !ctx->json_error) {
        return ngx_http_next_body_filter(r, in);
    }

    /* swallow nginx's own error page */

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (ctx->error_body.len == 0) {
        return NGX_OK;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->error_body.data;
    b->last = ctx->error_body.data + ctx->error_body.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    ctx->error_body.len = 0;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


static ngx_int_t
ngx_http_taskgw_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t              *s;
    ngx_http_taskgw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) ctx + data);

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
