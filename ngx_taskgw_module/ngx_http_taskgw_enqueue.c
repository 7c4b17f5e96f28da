
/*
 * ngx_http_taskgw_enqueue: the taskgw_enqueue content handler.
 * Validates the request, stores the body as a task in one atomic step
 * (a MULTI/EXEC, or one call of the enqueue script when the idempotency
 * or backlog checks apply), and answers 202 only after Redis acknowledged
 * it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/sha.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_json.h"
#include "ngx_http_taskgw_body.h"
#include "ngx_http_taskgw_parse.h"
#include "ngx_http_taskgw_record.h"
#include "tgw_lua.h"


static ngx_int_t ngx_http_taskgw_enqueue_describe(ngx_http_request_t *r,
    ngx_table_elt_t **h, ngx_uint_t repeated, const char **message);
static ngx_int_t ngx_http_taskgw_enqueue_when(ngx_http_taskgw_ctx_t *ctx,
    ngx_table_elt_t **h, ngx_uint_t repeated, time_t max_delay,
    const char **message);
static ngx_int_t ngx_http_taskgw_enqueue_idem(ngx_http_taskgw_ctx_t *ctx,
    ngx_table_elt_t **h, ngx_uint_t repeated, const char **message);
static void ngx_http_taskgw_enqueue_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_taskgw_too_large(ngx_http_request_t *r);
static ngx_int_t ngx_http_taskgw_enqueue_store(ngx_http_request_t *r,
    ngx_uint_t reload);
static ngx_int_t ngx_http_taskgw_enqueue_send(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n, ngx_uint_t txn);
static void ngx_http_taskgw_enqueue_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_queue_full(ngx_http_request_t *r);
static void ngx_http_taskgw_enqueue_reply(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, redisReply *first);
static ngx_int_t ngx_http_taskgw_reply_str(redisReply *reply, size_t i,
    ngx_str_t *s);




/*
 * A payload up to this many bytes goes to Redis as an argument of the
 * enqueue script; a larger one is written apart (see enqueue_store).
 */
#define NGX_HTTP_TASKGW_SCRIPT_PAYLOAD_MAX  16384


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


/* Retry-After of a 503 queue_full, in seconds. */
#define NGX_HTTP_TASKGW_QUEUE_FULL_RETRY  "5"


static ngx_str_t  ngx_http_taskgw_outcome_accepted =
    ngx_string("accepted");
static ngx_str_t  ngx_http_taskgw_outcome_replayed =
    ngx_string("replayed");
static ngx_str_t  ngx_http_taskgw_outcome_queue_full =
    ngx_string("queue_full");
static ngx_str_t  ngx_http_taskgw_queued = ngx_string("queued");
static ngx_str_t  ngx_http_taskgw_scheduled = ngx_string("scheduled");

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


/*
 * A task with nothing to check is a MULTI/EXEC of HSET and XADD (or
 * ZADD).  Otherwise, one EVALSHA of enqueue.lua carrying the whole task:
 * the script settles what becomes of the request (a replay or a conflict
 * of its Idempotency-Key, a full stream) and, for a task to be stored,
 * writes its hash (the payload straight from nginx's buffers), its stream
 * entry (or schedule entry) and the key, as one atomic step.  The reply waits
 * for the script's.
 *
 * A payload over NGX_HTTP_TASKGW_SCRIPT_PAYLOAD_MAX goes apart: a script
 * argument is copied twice more inside Redis (into Lua and back), which
 * for a body of megabytes holds up every other client of Redis.  Such a
 * payload is written by an HSET in a MULTI/EXEC, before the same script
 * (which deletes the hash when it refuses the task).
 *
 * With reload, a SCRIPT LOAD goes first: the last call found the script
 * missing.  The task keeps its id and key across that second call.
 */

static ngx_int_t
ngx_http_taskgw_enqueue_store(ngx_http_request_t *r, ngx_uint_t reload)
{
    u_char                       *p, *backlog, *run_at;
    size_t                        len;
    ngx_str_t                     qk, sk, ik, tp;
    ngx_chain_t                  *body;
    ngx_http_taskgw_ctx_t        *ctx;
    ngx_http_taskgw_redis_cmd_t   cmds[5], *c;
    ngx_http_taskgw_loc_conf_t   *tlcf;
    ngx_http_taskgw_main_conf_t  *tmcf;
    u_char                        key_sum[SHA256_DIGEST_LENGTH];
    u_char                        key_hex[2 * SHA256_DIGEST_LENGTH];
    u_char                        body_hex[2 * SHA256_DIGEST_LENGTH];

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);
    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    /* the id and the task's key "<prefix>:task:<id>", in one allocation */

    if (!reload) {
        p = ngx_pnalloc(r->pool, tmcf->task_prefix.len
                                 + NGX_HTTP_TASKGW_UUID_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ctx->task_key.data = p;
        ctx->task_key.len = tmcf->task_prefix.len + NGX_HTTP_TASKGW_UUID_LEN;

        p = ngx_cpymem(p, tmcf->task_prefix.data, tmcf->task_prefix.len);

        /* the id is the key's end */

        if (ngx_http_taskgw_uuid7(p) != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->task_id.data = p;
        ctx->task_id.len = NGX_HTTP_TASKGW_UUID_LEN;
    }

    /* the task keys' prefix "<prefix>:task:" */

    tp.data = ctx->task_key.data;
    tp.len = ctx->task_key.len - ctx->task_id.len;

    /*
     * the other keys and numbers, needed only until the command is
     * formatted, in one allocation: the stream of the task's queue and
     * priority (its backlog is checked even for a delayed task), the
     * idempotency key "<prefix>:idem:<owner>:<sha256 hex of the key>" (a
     * request without a token has the empty owner, as its task does),
     * run_at and the backlog limit; the schedule a delayed task waits in
     * is the same for every task
     */

    len = tmcf->queue_key[0].len + ctx->queue.len + tmcf->queue_key[1].len
          + ngx_http_taskgw_priorities[ctx->priority].len
          + tmcf->queue_key[2].len + NGX_INT64_LEN + NGX_INT64_LEN;

    if (ctx->idem_key.len) {
        len += tmcf->prefix.len + sizeof(":idem::") - 1
               + ctx->token_name.len + sizeof(key_hex);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    /* the key schema's pieces (ngx_http_taskgw_queue_key_init) */

    qk.data = p;
    p = ngx_cpymem(p, tmcf->queue_key[0].data, tmcf->queue_key[0].len);
    p = ngx_cpymem(p, ctx->queue.data, ctx->queue.len);
    p = ngx_cpymem(p, tmcf->queue_key[1].data, tmcf->queue_key[1].len);
    p = ngx_cpymem(p, ngx_http_taskgw_priorities[ctx->priority].data,
                   ngx_http_taskgw_priorities[ctx->priority].len);
    p = ngx_cpymem(p, tmcf->queue_key[2].data, tmcf->queue_key[2].len);
    qk.len = p - qk.data;

    sk = tmcf->scheduled;

    run_at = qk.data + qk.len;
    backlog = ngx_http_taskgw_record_int(run_at, ctx->run_at);
    p = ngx_http_taskgw_record_int(backlog, tlcf->max_backlog);

    ngx_str_null(&ik);

    if (ctx->idem_key.len) {
        /* the body's SHA-256 tells a replay from a conflict */

        if (SHA256(ctx->idem_key.data, ctx->idem_key.len, key_sum) == NULL
            || ngx_http_taskgw_body_sha256(r, body_hex) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        (void) ngx_hex_dump(key_hex, key_sum, sizeof(key_sum));

        ik.data = p;
        ik.len = ngx_sprintf(ik.data, NGX_HTTP_TASKGW_KEY_IDEM,
                             &tmcf->prefix, &ctx->token_name,
                             sizeof(key_hex), key_hex)
                 - ik.data;
    }

    /* ctx->traceparent: settled by the handler, before the body was read */

    body = r->request_body ? r->request_body->bufs : NULL;

    c = &cmds[0];

    /*
     * Nothing to check (no Idempotency-Key, no taskgw_max_backlog): no
     * script either.  The hash and the stream entry (or schedule entry)
     * are one MULTI/EXEC of plain commands, which costs Redis about half
     * the CPU of the script call, whose arguments it copies into Lua and
     * back.
     */

    ctx->plain = (ctx->idem_key.len == 0 && tlcf->max_backlog == 0);

    if (ctx->plain) {
        c->argc = 0;
        ngx_http_taskgw_redis_cmd_arg(c, "HSET", 4);
        ngx_http_taskgw_redis_cmd_arg(c, ctx->task_key.data,
                                      ctx->task_key.len);

        if (ngx_http_taskgw_record_add(r, ctx, c, 1) != NGX_OK) {
            return NGX_ERROR;
        }

        c++;
        c->argc = 0;

        if (ctx->run_at) {
            ngx_http_taskgw_redis_cmd_arg(c, "ZADD", 4);
            ngx_http_taskgw_redis_cmd_arg(c, sk.data, sk.len);
            ngx_http_taskgw_redis_cmd_arg(c, run_at, backlog - run_at);

        } else {
            ngx_http_taskgw_redis_cmd_arg(c, "XADD", 4);
            ngx_http_taskgw_redis_cmd_arg(c, qk.data, qk.len);
            ngx_http_taskgw_redis_cmd_arg(c, "*", 1);
            ngx_http_taskgw_redis_cmd_arg(c, "id", 2);
        }

        ngx_http_taskgw_redis_cmd_arg(c, ctx->task_id.data, ctx->task_id.len);

        /* MULTI and EXEC come from the link, which may share them */

        return ngx_http_taskgw_enqueue_send(r, cmds, c - cmds + 1, 1);
    }

    ctx->payload_apart = ngx_http_taskgw_body_length(r)
                         > NGX_HTTP_TASKGW_SCRIPT_PAYLOAD_MAX;

    if (reload) {
        c->argc = 0;
        ngx_http_taskgw_redis_cmd_arg(c, "SCRIPT", 6);
        ngx_http_taskgw_redis_cmd_arg(c, "LOAD", 4);
        ngx_http_taskgw_redis_cmd_arg(c, tgw_lua_enqueue,
                                      sizeof(tgw_lua_enqueue) - 1);
        c++;
    }

    if (ctx->payload_apart) {
        c->argc = 0;
        ngx_http_taskgw_redis_cmd_arg(c, "MULTI", 5);
        c++;

        c->argc = 0;
        ngx_http_taskgw_redis_cmd_arg(c, "HSET", 4);
        ngx_http_taskgw_redis_cmd_arg(c, ctx->task_key.data,
                                      ctx->task_key.len);
        ngx_http_taskgw_redis_cmd_arg(c, TGW_F_PAYLOAD,
                                      sizeof(TGW_F_PAYLOAD) - 1);
        ngx_http_taskgw_redis_cmd_body(c, body);
        c++;
    }

    c->argc = 0;
    ngx_http_taskgw_redis_cmd_arg(c, "EVALSHA", 7);
    ngx_http_taskgw_redis_cmd_arg(c, ngx_http_taskgw_redis_enqueue_sha(),
                                  2 * SHA_DIGEST_LENGTH);
    ngx_http_taskgw_redis_cmd_arg(c, "4", 1);
    ngx_http_taskgw_redis_cmd_arg(c, ctx->task_key.data, ctx->task_key.len);
    ngx_http_taskgw_redis_cmd_arg(c, qk.data, qk.len);
    ngx_http_taskgw_redis_cmd_arg(c, sk.data, sk.len);
    ngx_http_taskgw_redis_cmd_arg(c, ik.data, ik.len);
    ngx_http_taskgw_redis_cmd_arg(c, ctx->task_id.data, ctx->task_id.len);
    ngx_http_taskgw_redis_cmd_arg(c, run_at, backlog - run_at);
    ngx_http_taskgw_redis_cmd_arg(c, backlog, p - backlog);
    ngx_http_taskgw_redis_cmd_arg(c, body_hex, ctx->idem_key.len
                                               ? sizeof(body_hex) : 0);
    ngx_http_taskgw_redis_cmd_arg(c, NGX_HTTP_TASKGW_IDEM_TTL,
                                  sizeof(NGX_HTTP_TASKGW_IDEM_TTL) - 1);
    ngx_http_taskgw_redis_cmd_arg(c, tp.data, tp.len);

    /* then the task hash's fields */

    if (ngx_http_taskgw_record_add(r, ctx, c, !ctx->payload_apart)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->payload_apart) {
        c++;
        c->argc = 0;
        ngx_http_taskgw_redis_cmd_arg(c, "EXEC", 4);
    }

    return ngx_http_taskgw_enqueue_send(r, cmds, c - cmds + 1, 0);
}


/*
 * A location under taskgw_redis_wait stores its tasks over the worker's
 * wait link, whose WAITs must not hold up anybody else's commands.
 */

static ngx_int_t
ngx_http_taskgw_enqueue_send(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n, ngx_uint_t txn)
{
    ngx_http_taskgw_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (tlcf->wait_replicas) {
        return ngx_http_taskgw_wait_send(r, cmds, n, txn,
                                         ngx_http_taskgw_enqueue_done);
    }

    if (txn) {
        return ngx_http_taskgw_redis_send_txn(r, cmds, n,
                                              ngx_http_taskgw_enqueue_done);
    }

    return ngx_http_taskgw_redis_send(r, cmds, n,
                                      ngx_http_taskgw_enqueue_done);
}


/*
 * The script's reply, {code, ...} (for a payload sent apart, the second
 * of EXEC's).  A NOSCRIPT means Redis lost the script (a SCRIPT FLUSH
 * under the live link) and the script ran nothing: it is loaded and the
 * same task sent again, once (a payload sent apart is written again over
 * the same key).  Any other error means nothing may be trusted to be
 * stored: 503, and the hash goes.
 */

static void
ngx_http_taskgw_enqueue_done(ngx_http_request_t *r, redisReply *reply)
{
    ngx_int_t                     rc;
    ngx_str_t                     err;
    redisReply                   *res;
    ngx_http_taskgw_ctx_t        *ctx;
    ngx_http_taskgw_redis_cmd_t   del;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    res = reply;

    if (ctx->plain) {
        /* EXEC's reply: HSET's count, then XADD's id or ZADD's count */

        if (ngx_http_taskgw_redis_reply_ok(reply)
            && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2)
        {
            ngx_http_taskgw_enqueue_reply(r, ctx, NULL);
            return;
        }

        res = NULL;

    } else if (ctx->payload_apart) {
        res = NULL;

        if (ngx_http_taskgw_redis_reply_ok(reply)
            && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2)
        {
            res = reply->element[1];
        }
    }

    if (res == NULL || res->type != REDIS_REPLY_ARRAY || res->elements == 0
        || res->element[0]->type != REDIS_REPLY_INTEGER)
    {
        ngx_http_taskgw_redis_reply_error(reply, &err);

        if (reply && !ctx->reloaded
            && err.len >= 8 && ngx_strncmp(err.data, "NOSCRIPT", 8) == 0)
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "taskgw: redis lost the enqueue script (NOSCRIPT), "
                          "loading it again for task %V", &ctx->task_id);

            ctx->reloaded = 1;

            rc = ngx_http_taskgw_enqueue_store(r, 1);

            if (rc == NGX_OK) {
                return;
            }

            ngx_str_null(&ctx->task_id);
            ngx_http_finalize_request(r,
                rc == NGX_HTTP_INTERNAL_SERVER_ERROR
                ? rc
                : ngx_http_taskgw_unavailable(r, "task store is "
                                                 "unavailable"));
            return;
        }

        if (reply) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "taskgw: redis refused task %V: %V",
                          &ctx->task_id, &err);

            /*
             * A script or a MULTI/EXEC that fails part of the way keeps
             * what it wrote: the hash may be there without its stream
             * entry.  The client gets 503 and retries, so that hash must
             * not stay (the script takes the idempotency key last, after
             * every write that can fail: a failed enqueue leaves no key).
             */

            del.argc = 0;
            ngx_http_taskgw_redis_cmd_arg(&del, "DEL", 3);
            ngx_http_taskgw_redis_cmd_arg(&del, ctx->task_key.data,
                                          ctx->task_key.len);
            ngx_http_taskgw_redis_fire(&del);
        }

        ngx_str_null(&ctx->task_id);
        ngx_http_finalize_request(r,
            ngx_http_taskgw_unavailable(r, "task store is unavailable"));
        return;
    }

    switch (res->element[0]->integer) {

    case 1:
        ngx_http_taskgw_enqueue_reply(r, ctx, NULL);
        return;

    case 2:
        ngx_http_taskgw_enqueue_reply(r, ctx, res);
        return;

    case 3:
        ngx_str_null(&ctx->task_id);
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, 422, "idempotency_conflict",
                                       "this Idempotency-Key was used with "
                                       "another body"));
        return;

    case 4:
        ngx_str_null(&ctx->task_id);
        ngx_http_finalize_request(r, ngx_http_taskgw_queue_full(r));
        return;

    default:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "taskgw: unexpected reply of the enqueue script");
        ngx_str_null(&ctx->task_id);
        ngx_http_finalize_request(r,
            ngx_http_taskgw_unavailable(r, "task store is unavailable"));
        return;
    }
}


/*
 * 503 queue_full: the stream already holds taskgw_max_backlog entries.
 * Workers drain a stream at their own pace; a client is asked to wait a
 * little longer than for a Redis hiccup.
 */

static ngx_int_t
ngx_http_taskgw_queue_full(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_table_elt_t        *h;
    ngx_http_taskgw_ctx_t  *ctx;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    ngx_str_set(&h->value, NGX_HTTP_TASKGW_QUEUE_FULL_RETRY);

    rc = ngx_http_taskgw_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "queue_full",
                                    "the queue holds taskgw_max_backlog "
                                    "tasks already");

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);
    ctx->outcome = ngx_http_taskgw_outcome_queue_full;

    return rc;
}


/*
 * The 202 of a stored task, or (first != NULL: enqueue.lua's {2, id,
 * queue, type, priority, run_at}) the 200 replay of the task first stored
 * under the request's Idempotency-Key: the same JSON as that task's 202,
 * rebuilt from its hash (the request's own values stand in for fields of
 * a hash that has expired), with Idempotent-Replayed: true.  Under
 * taskgw_redis_wait the answer is kept until the replicas acknowledged
 * the write (a replay too: the first request's write may not have reached
 * them yet).
 */

static void
ngx_http_taskgw_enqueue_reply(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, redisReply *first)
{
    u_char                      *body, *p;
    size_t                       len;
    ngx_str_t                    prio, *status, queue, type, run_at, id;
    ngx_http_taskgw_loc_conf_t  *tlcf;

    prio = ngx_http_taskgw_priorities[ctx->priority];
    status = ctx->run_at ? &ngx_http_taskgw_scheduled : &ngx_http_taskgw_queued;
    queue = ctx->queue;
    type = ctx->type;

    if (first) {
        if (ngx_http_taskgw_reply_str(first, 1, &id) != NGX_OK
            || ngx_http_taskgw_valid_uuid(&id) != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "taskgw: an idempotency record names no task id");
            ngx_str_null(&ctx->task_id);
            ngx_http_finalize_request(r,
                ngx_http_taskgw_unavailable(r, "task store is unavailable"));
            return;
        }

        /* the reply goes when this returns; the answer may wait longer */

        ctx->task_id.data = ngx_pstrdup(r->pool, &id);
        if (ctx->task_id.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ctx->task_id.len = id.len;

        if (ngx_http_taskgw_reply_str(first, 2, &queue) == NGX_OK) {
            /* the hash is there: the task's own fields, as first sent */

            if (ngx_http_taskgw_reply_str(first, 3, &type) != NGX_OK
                || ngx_http_taskgw_reply_str(first, 4, &prio) != NGX_OK)
            {
                type = queue;
            }

            status = ngx_http_taskgw_reply_str(first, 5, &run_at) == NGX_OK
                     && run_at.len
                     ? &ngx_http_taskgw_scheduled : &ngx_http_taskgw_queued;
        }

        /* the values go into JSON as they are: they must need no escape */

        if (ngx_http_taskgw_valid_name(&queue, NGX_HTTP_TASKGW_QUEUE_MAX, 0)
            != NGX_OK
            || ngx_http_taskgw_valid_name(&type, NGX_HTTP_TASKGW_TYPE_MAX, 1)
               != NGX_OK
            || ngx_http_taskgw_valid_name(&prio, 16, 0) != NGX_OK)
        {
            queue = ctx->queue;
            type = ctx->type;
            prio = ngx_http_taskgw_priorities[ctx->priority];
        }

        ctx->replayed = 1;
    }

    len = sizeof("{\"id\":\"\",\"status\":\"\",\"queue\":\"\","
                 "\"type\":\"\",\"priority\":\"\"}") - 1
          + ctx->task_id.len + status->len + queue.len + type.len
          + prio.len;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /*
     * queue and type were checked to need no JSON escaping; written piece
     * by piece, as ngx_sprintf() walks its format at every request
     */

    p = ngx_cpymem(body, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
    p = ngx_cpymem(p, ctx->task_id.data, ctx->task_id.len);
    p = ngx_cpymem(p, "\",\"status\":\"", sizeof("\",\"status\":\"") - 1);
    p = ngx_cpymem(p, status->data, status->len);
    p = ngx_cpymem(p, "\",\"queue\":\"", sizeof("\",\"queue\":\"") - 1);
    p = ngx_cpymem(p, queue.data, queue.len);
    p = ngx_cpymem(p, "\",\"type\":\"", sizeof("\",\"type\":\"") - 1);
    p = ngx_cpymem(p, type.data, type.len);
    p = ngx_cpymem(p, "\",\"priority\":\"", sizeof("\",\"priority\":\"") - 1);
    p = ngx_cpymem(p, prio.data, prio.len);
    p = ngx_cpymem(p, "\"}", sizeof("\"}") - 1);

    ctx->reply_body.data = body;
    ctx->reply_body.len = p - body;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  first ? "taskgw: task %V replayed for its idempotency key"
                          " (%V, %V)"
                        : "taskgw: task %V accepted into %V (%V)",
                  &ctx->task_id, &queue, status);

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (tlcf->wait_replicas) {
        ngx_http_taskgw_wait_start(r);
        return;
    }

    ngx_http_taskgw_enqueue_answer(r);
}


/* Sends the answer enqueue_reply() made, and finalizes the request. */

void
ngx_http_taskgw_enqueue_answer(ngx_http_request_t *r)
{
    ngx_table_elt_t             *h;
    ngx_http_taskgw_ctx_t       *ctx;
    ngx_http_taskgw_srv_conf_t  *tscf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    if (ctx->replayed) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Idempotent-Replayed");
        ngx_str_set(&h->value, "true");
    }

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_taskgw_module);

    if (tscf->status_location.len) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        h->value.len = tscf->status_location.len + ctx->task_id.len;
        h->value.data = ngx_pnalloc(r->pool, h->value.len);
        if (h->value.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        /* "<status location>/<id>": two copies, no format walked */

        ngx_memcpy(ngx_cpymem(h->value.data, tscf->status_location.data,
                              tscf->status_location.len),
                   ctx->task_id.data, ctx->task_id.len);

        h->hash = 1;
        ngx_str_set(&h->key, "Location");

        /* a relative Location: nginx must not make it absolute */
        r->headers_out.location = NULL;
    }

    /* the body enqueue_reply() made is in the request's pool: no copy */

    ngx_http_finalize_request(r,
        ngx_http_taskgw_send_json_body(r,
                                       ctx->replayed ? NGX_HTTP_OK
                                                     : NGX_HTTP_ACCEPTED,
                                       ctx->replayed
                                       ? &ngx_http_taskgw_outcome_replayed
                                       : &ngx_http_taskgw_outcome_accepted,
                                       ctx->reply_body.data,
                                       ctx->reply_body.len, 0));
}


/* Element i of an array reply as a string; NGX_DECLINED when nil. */

static ngx_int_t
ngx_http_taskgw_reply_str(redisReply *reply, size_t i, ngx_str_t *s)
{
    if (i >= reply->elements
        || reply->element[i]->type != REDIS_REPLY_STRING)
    {
        return NGX_DECLINED;
    }

    s->data = (u_char *) reply->element[i]->str;
    s->len = reply->element[i]->len;

    return NGX_OK;
}
