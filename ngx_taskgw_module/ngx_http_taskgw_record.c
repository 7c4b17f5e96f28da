
/*
 * ngx_http_taskgw_record: the task record written at enqueue (its fields,
 * in one table), the request id stored with it, and the module's ids and
 * random bytes (task ids, request ids, new traces).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/random.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_record.h"
#include "tgw_keys.h"
#include "tgw_hex.h"


/*
 * A field of the task hash: its value is the ngx_str_t at offset in the
 * request's context, or what get() says; or, with offset
 * NGX_HTTP_TASKGW_FIELD_BODY, the request body.
 */
typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   resp;   /* the name as a RESP argument,
                                           in ngx_http_taskgw_record_resp */
    ngx_int_t                 (*get)(ngx_http_request_t *r,
                                     ngx_http_taskgw_ctx_t *ctx,
                                     ngx_str_t *v);
    size_t                      offset;
} ngx_http_taskgw_record_field_t;

#define NGX_HTTP_TASKGW_FIELD_BODY  ((size_t) -1)


static ngx_int_t ngx_http_taskgw_field_priority(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v);
static ngx_int_t ngx_http_taskgw_field_status(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v);
static ngx_int_t ngx_http_taskgw_field_content_type(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v);
static ngx_int_t ngx_http_taskgw_field_request_id(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v);
static ngx_int_t ngx_http_taskgw_field_client_addr(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v);
static ngx_int_t ngx_http_taskgw_field_created_at(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v);
static ngx_int_t ngx_http_taskgw_field_attempts(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v);
static ngx_int_t ngx_http_taskgw_field_run_at(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v);


/*
 * The fields of the task hash written at enqueue, in the order they are
 * sent; adding a field is one line here.  A field whose value is empty is
 * left out of the record, except the payload (an empty body is a task).
 */

#define ngx_http_taskgw_ctx_field(name, member)                              \
    { ngx_string(name), ngx_null_string, NULL,                               \
      offsetof(ngx_http_taskgw_ctx_t, member) }
#define ngx_http_taskgw_get_field(name, get)                                 \
    { ngx_string(name), ngx_null_string, get, 0 }

static ngx_http_taskgw_record_field_t  ngx_http_taskgw_record_fields[] = {
    ngx_http_taskgw_ctx_field(TGW_F_ID, task_id),
    ngx_http_taskgw_ctx_field(TGW_F_QUEUE, queue),
    ngx_http_taskgw_ctx_field(TGW_F_TYPE, type),
    ngx_http_taskgw_get_field(TGW_F_PRIORITY, ngx_http_taskgw_field_priority),
    ngx_http_taskgw_get_field(TGW_F_STATUS, ngx_http_taskgw_field_status),
    { ngx_string(TGW_F_PAYLOAD), ngx_null_string, NULL,
      NGX_HTTP_TASKGW_FIELD_BODY },
    ngx_http_taskgw_get_field(TGW_F_CONTENT_TYPE,
                              ngx_http_taskgw_field_content_type),
    ngx_http_taskgw_get_field(TGW_F_REQUEST_ID,
                              ngx_http_taskgw_field_request_id),
    ngx_http_taskgw_ctx_field(TGW_F_CALLBACK_URL, callback_url),
    ngx_http_taskgw_ctx_field(TGW_F_OWNER, token_name),
    ngx_http_taskgw_get_field(TGW_F_CLIENT_ADDR,
                              ngx_http_taskgw_field_client_addr),
    ngx_http_taskgw_ctx_field(TGW_F_TRACEPARENT, traceparent),
    ngx_http_taskgw_get_field(TGW_F_CREATED_AT,
                              ngx_http_taskgw_field_created_at),
    ngx_http_taskgw_get_field(TGW_F_ATTEMPTS, ngx_http_taskgw_field_attempts),
    ngx_http_taskgw_get_field(TGW_F_RUN_AT, ngx_http_taskgw_field_run_at),
    { ngx_null_string, ngx_null_string, NULL, 0 }
};


/*
 * The field names above as RESP arguments, written once by
 * ngx_http_taskgw_record_init(); the same bytes every time, so a reload
 * that fails leaves nothing dangling.
 */
static u_char  ngx_http_taskgw_record_resp[512];


/*
 * Writes the field names in RESP, so that an enqueue copies each name's
 * framed bytes instead of counting and framing it again.
 */

ngx_int_t
ngx_http_taskgw_record_init(ngx_conf_t *cf)
{
    u_char                           *p, *end;
    ngx_http_taskgw_record_field_t   *f;

    p = ngx_http_taskgw_record_resp;
    end = p + sizeof(ngx_http_taskgw_record_resp);

    for (f = ngx_http_taskgw_record_fields; f->name.len; f++) {
        if ((size_t) (end - p)
            < f->name.len + NGX_HTTP_TASKGW_REDIS_RESP_FRAME)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "taskgw: the task record's field names do "
                               "not fit in %uz bytes",
                               sizeof(ngx_http_taskgw_record_resp));
            return NGX_ERROR;
        }

        f->resp.data = p;
        p = ngx_http_taskgw_redis_resp_arg(p, f->name.data, f->name.len);
        f->resp.len = p - f->resp.data;
    }

    return NGX_OK;
}


/*
 * The task hash's fields and values as arguments of c, in the order of
 * ngx_http_taskgw_record_fields; those with nothing to say left out, the
 * payload only with body.
 */

ngx_int_t
ngx_http_taskgw_record_add(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_http_taskgw_redis_cmd_t *c,
    ngx_uint_t body)
{
    ngx_str_t                         v;
    ngx_http_taskgw_record_field_t   *f;

    for (f = ngx_http_taskgw_record_fields; f->name.len; f++) {

        if (f->offset == NGX_HTTP_TASKGW_FIELD_BODY) {
            if (body) {
                ngx_http_taskgw_redis_cmd_arg(c, f->resp.data, f->resp.len
                                              | NGX_HTTP_TASKGW_REDIS_RESP);
                ngx_http_taskgw_redis_cmd_body(c, r->request_body
                                                  ? r->request_body->bufs
                                                  : NULL);
            }

            continue;
        }

        if (f->get == NULL) {
            v = *(ngx_str_t *) ((u_char *) ctx + f->offset);

        } else if (f->get(r, ctx, &v) != NGX_OK) {
            return NGX_ERROR;
        }

        if (v.len) {
            ngx_http_taskgw_redis_cmd_arg(c, f->resp.data, f->resp.len
                                          | NGX_HTTP_TASKGW_REDIS_RESP);
            ngx_http_taskgw_redis_cmd_arg(c, v.data, v.len);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_field_priority(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v)
{
    *v = ngx_http_taskgw_priorities[ctx->priority];

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_field_status(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v)
{
    if (ctx->run_at) {
        ngx_str_set(v, "scheduled");

    } else {
        ngx_str_set(v, "queued");
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_field_content_type(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v)
{
    if (r->headers_in.content_type) {
        *v = r->headers_in.content_type->value;

    } else {
        ngx_str_null(v);
    }

    return NGX_OK;
}


/*
 * The request's $request_id: the value it already has, else one made
 * here the way nginx makes it (16 random bytes as 32 hex digits) but from
 * the module's buffered kernel randomness instead of a RAND_bytes() call
 * per request, which costs several thousand instructions.  The value made
 * here becomes the variable's, so logs and headers show the one stored.
 */

static ngx_int_t
ngx_http_taskgw_field_request_id(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v)
{
    u_char                       *p, rnd[16];
    ngx_http_variable_value_t    *vv;
    ngx_http_taskgw_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    ngx_str_null(v);

    if (tmcf->request_id_index == NGX_CONF_UNSET) {
        return NGX_OK;
    }

    vv = &r->variables[tmcf->request_id_index];

    if (!vv->valid && !vv->not_found) {
        p = ngx_pnalloc(r->pool, 2 * sizeof(rnd));
        if (p == NULL || ngx_http_taskgw_random(rnd, sizeof(rnd)) != NGX_OK) {
            return NGX_ERROR;
        }

        vv->len = tgw_hex_write(p, rnd, sizeof(rnd)) - p;
        vv->data = p;
        vv->valid = 1;
        vv->no_cacheable = 0;
        vv->not_found = 0;
    }

    if (vv->valid) {
        v->data = vv->data;
        v->len = vv->len;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_field_client_addr(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v)
{
    *v = r->connection->addr_text;

    return NGX_OK;
}


/*
 * The clock in milliseconds, as text: written once a millisecond and
 * copied by the enqueues in between (a copy, as the command is formatted
 * later, in the link's turn, and the text may have moved on by then).
 */

static ngx_int_t
ngx_http_taskgw_field_created_at(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v)
{
    int64_t         ms;

    static int64_t  last = -1;
    static size_t   len;
    static u_char   text[NGX_INT64_LEN];

    ms = ngx_http_taskgw_now_ms();

    if (ms != last) {
        len = ngx_http_taskgw_record_int(text, ms) - text;
        last = ms;
    }

    v->data = ngx_pnalloc(r->pool, len);
    if (v->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(v->data, text, len);
    v->len = len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_field_attempts(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v)
{
    ngx_str_set(v, "0");

    return NGX_OK;
}


/* run_at only for a delayed task */

static ngx_int_t
ngx_http_taskgw_field_run_at(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_str_t *v)
{
    ngx_str_null(v);

    if (ctx->run_at == 0) {
        return NGX_OK;
    }

    v->data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (v->data == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_http_taskgw_record_int(v->data, ctx->run_at) - v->data;

    return NGX_OK;
}


/* n in decimal, as "%L" would write it (the digits: redis_fmt.c's) */

u_char *
ngx_http_taskgw_record_int(u_char *p, int64_t n)
{
    if (n < 0) {
        *p++ = '-';
        return ngx_http_taskgw_redis_decimal(p, (uint64_t) 0 - (uint64_t) n);
    }

    return ngx_http_taskgw_redis_decimal(p, (uint64_t) n);
}


/*
 * n random bytes from the kernel's CSPRNG, fetched in blocks: one
 * getrandom() call serves many requests.  GRND_NONBLOCK: it never blocks
 * the worker (it fails only while the kernel's pool is not yet
 * initialized, early at boot).  A block over 256 bytes may come in parts
 * (a signal can interrupt it).  Bytes handed out are wiped from the block.
 */

ngx_int_t
ngx_http_taskgw_random(u_char *dst, size_t n)
{
    size_t         got;
    ssize_t        k;

    static u_char  pool[4096];
    static size_t  avail;

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
    ngx_memcpy(dst, &pool[avail], n);
    ngx_memzero(&pool[avail], n);

    return NGX_OK;
}


/*
 * A UUIDv7 (RFC 9562) in lowercase canonical text: 48 bits of unix time
 * in milliseconds, version 7, 12 random bits, variant 10, 62 random bits.
 */

ngx_int_t
ngx_http_taskgw_uuid7(u_char *dst)
{
    u_char      u[16];
    int64_t     ms;
    ngx_uint_t  i;

    if (ngx_http_taskgw_random(&u[6], 10) != NGX_OK) {
        return NGX_ERROR;
    }

    ms = ngx_http_taskgw_now_ms();

    for (i = 0; i < 6; i++) {
        u[i] = (u_char) (ms >> (40 - 8 * i));
    }

    u[6] = 0x70 | (u[6] & 0x0f);
    u[8] = 0x80 | (u[8] & 0x3f);

    dst = tgw_hex_write(dst, u, 4);
    *dst++ = '-';
    dst = tgw_hex_write(dst, u + 4, 2);
    *dst++ = '-';
    dst = tgw_hex_write(dst, u + 6, 2);
    *dst++ = '-';
    dst = tgw_hex_write(dst, u + 8, 2);
    *dst++ = '-';
    (void) tgw_hex_write(dst, u + 10, 6);

    return NGX_OK;
}
