
/*
 * ngx_http_taskgw_enqueue: the taskgw_enqueue content handler.
 * Validates the request, stores the body as a task in one MULTI/EXEC
 * (with the idempotency and backlog checks), and answers 202 only after
 * Redis acknowledged it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/random.h>
#include <openssl/sha.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_json.h"
#include "ngx_http_taskgw_body.h"
#include "tgw_lua.h"


static ngx_int_t ngx_http_taskgw_enqueue_describe(ngx_http_request_t *r,
    const char **message);
static ngx_int_t ngx_http_taskgw_enqueue_when(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, time_t max_delay, const char **message);
static ngx_int_t ngx_http_taskgw_enqueue_idem(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, const char **message);
static void ngx_http_taskgw_enqueue_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_taskgw_too_large(ngx_http_request_t *r);
static ngx_int_t ngx_http_taskgw_enqueue_store(ngx_http_request_t *r);
static void ngx_http_taskgw_enqueue_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_queue_full(ngx_http_request_t *r);
static void ngx_http_taskgw_enqueue_reply(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, redisReply *first);
static ngx_int_t ngx_http_taskgw_reply_str(redisReply *reply, size_t i,
    ngx_str_t *s);
static ngx_int_t ngx_http_taskgw_uuid7(u_char *dst);


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


ngx_int_t
ngx_http_taskgw_enqueue_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    const char                  *message;
    ngx_http_taskgw_ctx_t       *ctx;
    ngx_http_taskgw_loc_conf_t  *tlcf;

    if (!(r->method & (NGX_HTTP_POST|NGX_HTTP_PUT))) {
        return ngx_http_taskgw_not_allowed(r, "POST, PUT",
                                           "use POST or PUT to enqueue a "
                                           "task");
    }

    rc = ngx_http_taskgw_enqueue_describe(r, &message);

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

    rc = ngx_http_taskgw_callback_check(r, &ctx->callback_url, &message);

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
 * the request.  NGX_DECLINED with *message when the request is at fault.
 */

static ngx_int_t
ngx_http_taskgw_enqueue_describe(ngx_http_request_t *r, const char **message)
{
    ngx_uint_t                   p;
    ngx_table_elt_t             *h;
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

    if (ngx_http_taskgw_find_header(r, "X-Task-Priority", &h) != NGX_OK) {
        *message = "duplicate X-Task-Priority header";
        return NGX_DECLINED;
    }

    *message = "X-Task-Priority must be one of high, normal, low";

    if (h != NULL) {
        for (p = 0; ngx_http_taskgw_priorities[p].len; p++) {
            if (h->value.len == ngx_http_taskgw_priorities[p].len
                && ngx_strncasecmp(h->value.data,
                                   ngx_http_taskgw_priorities[p].data,
                                   h->value.len) == 0)
            {
                break;
            }
        }

        if (ngx_http_taskgw_priorities[p].len == 0) {
            return NGX_DECLINED;
        }

        ctx->priority = p;
    }

    if (ngx_http_taskgw_enqueue_idem(r, ctx, message) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ngx_http_taskgw_valid_name(&ctx->queue, NGX_HTTP_TASKGW_QUEUE_MAX, 0)
        != NGX_OK)
    {
        *message = "queue name must be 1-64 characters of A-Z a-z 0-9 . _ -";
        return NGX_DECLINED;
    }

    if (ngx_http_taskgw_valid_name(&ctx->type, NGX_HTTP_TASKGW_TYPE_MAX, 1)
        != NGX_OK)
    {
        *message = "task type must be 1-128 characters of "
                   "A-Z a-z 0-9 . _ - :";
        return NGX_DECLINED;
    }

    return ngx_http_taskgw_enqueue_when(r, ctx, tlcf->max_delay, message);
}


/*
 * When the task may run: X-Task-Delay (seconds from now) or X-Task-Run-At
 * (unix seconds), at most one of them, within taskgw_max_delay.  A time
 * that is not in the future means now.  Sets ctx->run_at (unix ms) for a
 * task that is to be scheduled.
 */

static ngx_int_t
ngx_http_taskgw_enqueue_when(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, time_t max_delay, const char **message)
{
    int64_t           now, delay;
    ngx_int_t         n;
    ngx_table_elt_t  *d, *at;

    if (ngx_http_taskgw_find_header(r, "X-Task-Delay", &d) != NGX_OK) {
        *message = "duplicate X-Task-Delay header";
        return NGX_DECLINED;
    }

    if (ngx_http_taskgw_find_header(r, "X-Task-Run-At", &at) != NGX_OK) {
        *message = "duplicate X-Task-Run-At header";
        return NGX_DECLINED;
    }

    if (d == NULL && at == NULL) {
        return NGX_OK;
    }

    if (d != NULL && at != NULL) {
        *message = "give X-Task-Delay or X-Task-Run-At, not both";
        return NGX_DECLINED;
    }

    now = ngx_http_taskgw_now_ms();

    if (d != NULL) {
        n = ngx_atoi(d->value.data, d->value.len);
        if (n == NGX_ERROR) {
            *message = "X-Task-Delay must be a whole number of seconds";
            return NGX_DECLINED;
        }

        delay = n;

    } else {
        n = ngx_atoi(at->value.data, at->value.len);
        if (n == NGX_ERROR) {
            *message = "X-Task-Run-At must be a time in unix seconds";
            return NGX_DECLINED;
        }

        delay = n - now / 1000;
    }

    /*
     * compared before any multiplication: max_delay is at most 10 years
     * (taskgw_max_delay refuses more), so the milliseconds below stay far
     * from overflowing 64 bits whatever number the client sent
     */

    if (delay > (int64_t) max_delay) {
        *message = "the task's start is beyond taskgw_max_delay";
        return NGX_DECLINED;
    }

    if (d != NULL) {
        ctx->run_at = delay > 0 ? now + delay * 1000 : 0;

    } else {
        ctx->run_at = (int64_t) n * 1000 > now ? (int64_t) n * 1000 : 0;
    }

    return NGX_OK;
}


/*
 * Idempotency-Key: 1-255 visible ASCII characters (no space), at most
 * once.  Which task it names is settled in Redis (enqueue.lua).
 */

static ngx_int_t
ngx_http_taskgw_enqueue_idem(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, const char **message)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    if (ngx_http_taskgw_find_header(r, "Idempotency-Key", &h) != NGX_OK) {
        *message = "duplicate Idempotency-Key header";
        return NGX_DECLINED;
    }

    *message = "Idempotency-Key must be 1-255 visible ASCII characters";

    if (h == NULL) {
        return NGX_OK;
    }

    if (h->value.len == 0 || h->value.len > NGX_HTTP_TASKGW_IDEM_KEY_MAX) {
        return NGX_DECLINED;
    }

    last = h->value.data + h->value.len;

    for (p = h->value.data; p < last; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            return NGX_DECLINED;
        }
    }

    ctx->idem_key = h->value;

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

    rc = ngx_http_taskgw_enqueue_store(r);

    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_http_finalize_request(r, rc);

    } else if (rc != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_unavailable(r, "task store is unavailable"));
    }
}


/*
 * One MULTI/EXEC: HSET writes the task hash (its payload straight from
 * nginx's buffers), then enqueue.lua settles, atomically with it, what
 * becomes of the request: a replay or a conflict of its Idempotency-Key,
 * a full stream, or the stream entry (or schedule entry) and the key.
 * The reply waits for EXEC's.
 */

static ngx_int_t
ngx_http_taskgw_enqueue_store(ngx_http_request_t *r)
{
    u_char                       *id, *created, *run_at, *backlog, *p;
    size_t                        run_at_len;
    ngx_str_t                     id_s, tk, qk, sk, ik, tp, *status;
    ngx_table_elt_t              *ct;
    ngx_http_taskgw_ctx_t        *ctx;
    ngx_http_variable_value_t    *rid;
    ngx_http_taskgw_redis_cmd_t   cmds[4], *c;
    ngx_http_taskgw_loc_conf_t   *tlcf;
    ngx_http_taskgw_main_conf_t  *tmcf;
    u_char                        key_sum[SHA256_DIGEST_LENGTH];
    u_char                        key_hex[2 * SHA256_DIGEST_LENGTH];
    u_char                       *body_hex;

    static ngx_str_t  request_id = ngx_string("request_id");

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);
    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    id = ngx_pnalloc(r->pool, NGX_HTTP_TASKGW_UUID_LEN);
    if (id == NULL || ngx_http_taskgw_uuid7(id) != NGX_OK) {
        return NGX_ERROR;
    }

    id_s.data = id;
    id_s.len = NGX_HTTP_TASKGW_UUID_LEN;

    /* the task keys' prefix "<prefix>:task:", then the task's own key */

    tp.data = ngx_pnalloc(r->pool, tmcf->prefix.len + sizeof(":task:") - 1
                                   + id_s.len);
    if (tp.data == NULL) {
        return NGX_ERROR;
    }

    tk.data = tp.data;
    tk.len = ngx_sprintf(tk.data, NGX_HTTP_TASKGW_KEY_TASK, &tmcf->prefix,
                         &id_s)
             - tk.data;
    tp.len = tk.len - id_s.len;

    /*
     * the stream of the task's queue and priority (its backlog is checked
     * even for a delayed task), and the schedule a delayed task waits in
     */

    qk.data = ngx_pnalloc(r->pool, tmcf->prefix.len + sizeof(":q::") - 1
                          + ctx->queue.len
                          + ngx_http_taskgw_priorities[ctx->priority].len);
    sk.data = ngx_pnalloc(r->pool, tmcf->prefix.len + sizeof(":scheduled"));
    if (qk.data == NULL || sk.data == NULL) {
        return NGX_ERROR;
    }

    qk.len = ngx_sprintf(qk.data, NGX_HTTP_TASKGW_KEY_QUEUE,
                         &tmcf->prefix, &ctx->queue,
                         &ngx_http_taskgw_priorities[ctx->priority])
             - qk.data;
    sk.len = ngx_sprintf(sk.data, NGX_HTTP_TASKGW_KEY_SCHEDULED,
                         &tmcf->prefix)
             - sk.data;

    /*
     * "<prefix>:idem:<owner>:<sha256 hex of the key>", with the body's
     * SHA-256 to tell a replay from a conflict; a request without a token
     * has the empty owner, as its task does
     */

    ngx_str_null(&ik);
    body_hex = (u_char *) "";

    if (ctx->idem_key.len) {
        body_hex = ngx_pnalloc(r->pool, 2 * SHA256_DIGEST_LENGTH);
        ik.data = ngx_pnalloc(r->pool, tmcf->prefix.len + sizeof(":idem::")
                                       - 1 + ctx->token_name.len
                                       + sizeof(key_hex));
        if (body_hex == NULL || ik.data == NULL) {
            return NGX_ERROR;
        }

        if (SHA256(ctx->idem_key.data, ctx->idem_key.len, key_sum) == NULL
            || ngx_http_taskgw_body_sha256(r, body_hex) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        (void) ngx_hex_dump(key_hex, key_sum, sizeof(key_sum));

        ik.len = ngx_sprintf(ik.data, NGX_HTTP_TASKGW_KEY_IDEM,
                             &tmcf->prefix, &ctx->token_name,
                             sizeof(key_hex), key_hex)
                 - ik.data;
    }

    status = ctx->run_at ? &ngx_http_taskgw_scheduled : &ngx_http_taskgw_queued;

    created = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    run_at = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    backlog = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (created == NULL || run_at == NULL || backlog == NULL) {
        return NGX_ERROR;
    }

    run_at_len = ngx_sprintf(run_at, "%L", ctx->run_at) - run_at;

    /* the client's traceparent, or a new trace (ngx_http_taskgw_trace.c) */

    if (ngx_http_taskgw_trace(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    rid = ngx_http_get_variable(r, &request_id, ngx_hash_key(request_id.data,
                                                             request_id.len));

    ct = r->headers_in.content_type;

    c = &cmds[0];
    c->argc = 0;
    ngx_http_taskgw_redis_cmd_arg(c, "MULTI", 5);

    c = &cmds[1];
    c->argc = 0;
    ngx_http_taskgw_redis_cmd_arg(c, "HSET", 4);
    ngx_http_taskgw_redis_cmd_arg(c, tk.data, tk.len);
    ngx_http_taskgw_redis_cmd_arg(c, "id", 2);
    ngx_http_taskgw_redis_cmd_arg(c, id, id_s.len);
    ngx_http_taskgw_redis_cmd_arg(c, "queue", 5);
    ngx_http_taskgw_redis_cmd_arg(c, ctx->queue.data, ctx->queue.len);
    ngx_http_taskgw_redis_cmd_arg(c, "type", 4);
    ngx_http_taskgw_redis_cmd_arg(c, ctx->type.data, ctx->type.len);
    ngx_http_taskgw_redis_cmd_arg(c, "priority", 8);
    ngx_http_taskgw_redis_cmd_arg(c,
                            ngx_http_taskgw_priorities[ctx->priority].data,
                            ngx_http_taskgw_priorities[ctx->priority].len);
    ngx_http_taskgw_redis_cmd_arg(c, "status", 6);
    ngx_http_taskgw_redis_cmd_arg(c, status->data, status->len);
    ngx_http_taskgw_redis_cmd_arg(c, "payload", 7);
    ngx_http_taskgw_redis_cmd_body(c, r->request_body ? r->request_body->bufs
                                                      : NULL);

    /* fields with nothing to say are left out of the record */

    if (ct && ct->value.len) {
        ngx_http_taskgw_redis_cmd_arg(c, "content_type", 12);
        ngx_http_taskgw_redis_cmd_arg(c, ct->value.data, ct->value.len);
    }

    if (rid && !rid->not_found && rid->len) {
        ngx_http_taskgw_redis_cmd_arg(c, "request_id", 10);
        ngx_http_taskgw_redis_cmd_arg(c, rid->data, rid->len);
    }

    if (ctx->callback_url.len) {
        ngx_http_taskgw_redis_cmd_arg(c, "callback_url", 12);
        ngx_http_taskgw_redis_cmd_arg(c, ctx->callback_url.data,
                                      ctx->callback_url.len);
    }

    if (ctx->token_name.len) {
        ngx_http_taskgw_redis_cmd_arg(c, "owner", 5);
        ngx_http_taskgw_redis_cmd_arg(c, ctx->token_name.data,
                                      ctx->token_name.len);
    }

    ngx_http_taskgw_redis_cmd_arg(c, "client_addr", 11);
    ngx_http_taskgw_redis_cmd_arg(c, r->connection->addr_text.data,
                                  r->connection->addr_text.len);
    ngx_http_taskgw_redis_cmd_arg(c, TGW_F_TRACEPARENT,
                                  sizeof(TGW_F_TRACEPARENT) - 1);
    ngx_http_taskgw_redis_cmd_arg(c, ctx->traceparent.data,
                                  ctx->traceparent.len);
    ngx_http_taskgw_redis_cmd_arg(c, "created_at", 10);
    ngx_http_taskgw_redis_cmd_arg(c, created,
                                  ngx_sprintf(created, "%L",
                                              ngx_http_taskgw_now_ms())
                                  - created);
    ngx_http_taskgw_redis_cmd_arg(c, "attempts", 8);
    ngx_http_taskgw_redis_cmd_arg(c, "0", 1);

    if (ctx->run_at) {
        ngx_http_taskgw_redis_cmd_arg(c, "run_at", 6);
        ngx_http_taskgw_redis_cmd_arg(c, run_at, run_at_len);
    }

    c = &cmds[2];
    c->argc = 0;
    /* by digest: the link loads the script on every connect */
    ngx_http_taskgw_redis_cmd_arg(c, "EVALSHA", 7);
    ngx_http_taskgw_redis_cmd_arg(c, ngx_http_taskgw_redis_enqueue_sha(),
                                  2 * SHA_DIGEST_LENGTH);
    ngx_http_taskgw_redis_cmd_arg(c, "4", 1);
    ngx_http_taskgw_redis_cmd_arg(c, tk.data, tk.len);
    ngx_http_taskgw_redis_cmd_arg(c, qk.data, qk.len);
    ngx_http_taskgw_redis_cmd_arg(c, sk.data, sk.len);
    ngx_http_taskgw_redis_cmd_arg(c, ik.data, ik.len);
    ngx_http_taskgw_redis_cmd_arg(c, id, id_s.len);
    ngx_http_taskgw_redis_cmd_arg(c, run_at, run_at_len);
    p = ngx_sprintf(backlog, "%i", tlcf->max_backlog);
    ngx_http_taskgw_redis_cmd_arg(c, backlog, p - backlog);
    ngx_http_taskgw_redis_cmd_arg(c, body_hex, ctx->idem_key.len
                                               ? 2 * SHA256_DIGEST_LENGTH
                                               : 0);
    ngx_http_taskgw_redis_cmd_arg(c, NGX_HTTP_TASKGW_IDEM_TTL,
                                  sizeof(NGX_HTTP_TASKGW_IDEM_TTL) - 1);
    ngx_http_taskgw_redis_cmd_arg(c, tp.data, tp.len);

    c = &cmds[3];
    c->argc = 0;
    ngx_http_taskgw_redis_cmd_arg(c, "EXEC", 4);

    ctx->task_id = id_s;
    ctx->task_key = tk;

    return ngx_http_taskgw_redis_send(r, cmds, 4,
                                      ngx_http_taskgw_enqueue_done);
}


/*
 * EXEC's reply: the HSET's, then enqueue.lua's {code, ...}.  Any error
 * means nothing may be trusted to be stored: 503, and the hash goes.
 */

static void
ngx_http_taskgw_enqueue_done(ngx_http_request_t *r, redisReply *reply)
{
    redisReply                   *res;
    ngx_str_t                     err;
    ngx_http_taskgw_ctx_t        *ctx;
    ngx_http_taskgw_redis_cmd_t   del;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    res = NULL;

    if (ngx_http_taskgw_redis_reply_ok(reply)
        && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2)
    {
        res = reply->element[1];

        if (res->type != REDIS_REPLY_ARRAY || res->elements == 0
            || res->element[0]->type != REDIS_REPLY_INTEGER)
        {
            res = NULL;
        }
    }

    if (res == NULL) {
        if (reply) {
            ngx_http_taskgw_redis_reply_error(reply, &err);
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "taskgw: redis refused task %V: %V",
                          &ctx->task_id, &err);

            if (err.len >= 8 && ngx_strncmp(err.data, "NOSCRIPT", 8) == 0) {
                /* a SCRIPT FLUSH: this request fails, later ones not */
                ngx_http_taskgw_redis_enqueue_lost();
            }

            /*
             * EXEC runs every queued command even when one fails: the
             * hash may have been written without its stream entry.  The
             * client gets 503 and retries, so that hash must not stay
             * (enqueue.lua takes the idempotency key last, after every
             * write that can fail: a failed enqueue leaves no key).
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
 * a hash that has expired), with Idempotent-Replayed: true.
 */

static void
ngx_http_taskgw_enqueue_reply(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, redisReply *first)
{
    u_char                      *body, *p;
    size_t                       len;
    ngx_str_t                    prio, *status, queue, type, run_at;
    ngx_uint_t                   code;
    ngx_str_t                   *outcome;
    ngx_table_elt_t             *h;
    ngx_http_taskgw_srv_conf_t  *tscf;

    prio = ngx_http_taskgw_priorities[ctx->priority];
    status = ctx->run_at ? &ngx_http_taskgw_scheduled : &ngx_http_taskgw_queued;
    queue = ctx->queue;
    type = ctx->type;
    code = NGX_HTTP_ACCEPTED;
    outcome = &ngx_http_taskgw_outcome_accepted;

    if (first) {
        if (ngx_http_taskgw_reply_str(first, 1, &ctx->task_id) != NGX_OK
            || ngx_http_taskgw_valid_uuid(&ctx->task_id) != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "taskgw: an idempotency record names no task id");
            ngx_str_null(&ctx->task_id);
            ngx_http_finalize_request(r,
                ngx_http_taskgw_unavailable(r, "task store is unavailable"));
            return;
        }

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

        code = NGX_HTTP_OK;
        outcome = &ngx_http_taskgw_outcome_replayed;

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

        h->value.len = tscf->status_location.len + 1 + ctx->task_id.len;
        h->value.data = ngx_pnalloc(r->pool, h->value.len);
        if (h->value.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_sprintf(h->value.data, "%V/%V", &tscf->status_location,
                    &ctx->task_id);

        h->hash = 1;
        ngx_str_set(&h->key, "Location");

        /* a relative Location: nginx must not make it absolute */
        r->headers_out.location = NULL;
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

    /* queue and type were checked to need no JSON escaping */

    p = ngx_sprintf(body, "{\"id\":\"%V\",\"status\":\"%V\","
                    "\"queue\":\"%V\",\"type\":\"%V\",\"priority\":\"%V\"}",
                    &ctx->task_id, status, &queue, &type, &prio);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  first ? "taskgw: task %V replayed for its idempotency key"
                          " (%V, %V)"
                        : "taskgw: task %V accepted into %V (%V)",
                  &ctx->task_id, &queue, status);

    ngx_http_finalize_request(r,
        ngx_http_taskgw_send_json(r, code, outcome, body, p - body));
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


/*
 * A UUIDv7 (RFC 9562) in lowercase canonical text: 48 bits of unix time
 * in milliseconds, version 7, 12 random bits, variant 10, 62 random bits.
 * The random bits come from the kernel's CSPRNG, fetched in blocks; a
 * block over 256 bytes may come in parts (a signal can interrupt it).
 */

static ngx_int_t
ngx_http_taskgw_uuid7(u_char *dst)
{
    u_char         u[16];
    size_t         got;
    ssize_t        n;
    int64_t        ms;
    ngx_uint_t     i;

    static u_char  pool[512];
    static size_t  avail;

    if (avail < 10) {
        for (got = 0; got < sizeof(pool); got += n) {
            n = getrandom(pool + got, sizeof(pool) - got, GRND_NONBLOCK);

            if (n == -1 && ngx_errno == NGX_EINTR) {
                n = 0;
                continue;
            }

            if (n <= 0) {
                ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                              "taskgw: getrandom() failed");
                return NGX_ERROR;
            }
        }

        avail = sizeof(pool);
    }

    ms = ngx_http_taskgw_now_ms();

    for (i = 0; i < 6; i++) {
        u[i] = (u_char) (ms >> (40 - 8 * i));
    }

    avail -= 10;
    ngx_memcpy(&u[6], &pool[avail], 10);
    ngx_memzero(&pool[avail], 10);

    u[6] = 0x70 | (u[6] & 0x0f);
    u[8] = 0x80 | (u[8] & 0x3f);

    dst = ngx_hex_dump(dst, u, 4);
    *dst++ = '-';
    dst = ngx_hex_dump(dst, u + 4, 2);
    *dst++ = '-';
    dst = ngx_hex_dump(dst, u + 6, 2);
    *dst++ = '-';
    dst = ngx_hex_dump(dst, u + 8, 2);
    *dst++ = '-';
    (void) ngx_hex_dump(dst, u + 10, 6);

    return NGX_OK;
}


/* Queue names: [A-Za-z0-9._-]{1,max}; task types may also hold ':'. */

ngx_int_t
ngx_http_taskgw_valid_name(ngx_str_t *s, size_t max, ngx_uint_t colon)
{
    u_char  *p, *last;

    if (s->len == 0 || s->len > max) {
        return NGX_ERROR;
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_'
            || *p == '-' || (colon && *p == ':'))
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}
