
/*
 * ngx_http_taskgw_enqueue: the taskgw_enqueue content handler.
 * Validates the request, stores the body as a task in one MULTI/EXEC,
 * and answers 202 only after Redis acknowledged it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/random.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_json.h"


static ngx_int_t ngx_http_taskgw_enqueue_describe(ngx_http_request_t *r,
    const char **message);
static ngx_int_t ngx_http_taskgw_enqueue_when(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, time_t max_delay, const char **message);
static void ngx_http_taskgw_enqueue_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_taskgw_too_large(ngx_http_request_t *r);
static off_t ngx_http_taskgw_body_length(ngx_http_request_t *r);
static ngx_int_t ngx_http_taskgw_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_taskgw_read_file(ngx_http_request_t *r,
    ngx_buf_t *b, u_char *p);
static ngx_int_t ngx_http_taskgw_enqueue_store(ngx_http_request_t *r);
static void ngx_http_taskgw_enqueue_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_uuid7(u_char *dst);


/* The most read from a body's temp file in one blocking read. */
#define NGX_HTTP_TASKGW_FILE_READ_MAX  (1024 * 1024)


static ngx_str_t  ngx_http_taskgw_outcome_accepted =
    ngx_string("accepted");
static ngx_str_t  ngx_http_taskgw_queued = ngx_string("queued");
static ngx_str_t  ngx_http_taskgw_scheduled = ngx_string("scheduled");


ngx_int_t
ngx_http_taskgw_enqueue_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    const char                  *message;
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

    *message = "X-Task-Priority must be one of high, normal, low";

    if (ngx_http_taskgw_find_header(r, "X-Task-Priority", &h) != NGX_OK) {
        return NGX_DECLINED;
    }

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

    if (ngx_http_taskgw_find_header(r, "X-Task-Delay", &d) != NGX_OK
        || ngx_http_taskgw_find_header(r, "X-Task-Run-At", &at) != NGX_OK)
    {
        *message = "X-Task-Delay and X-Task-Run-At may each appear once";
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


static off_t
ngx_http_taskgw_body_length(ngx_http_request_t *r)
{
    off_t         len;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    return len;
}


/*
 * The whole request body as one contiguous buffer, for the JSON check: a
 * body nginx holds in one memory buffer is used where it is, any other is
 * copied, the parts nginx spooled to a temp file read back from it.
 */

static ngx_int_t
ngx_http_taskgw_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    off_t         len, size;
    ngx_buf_t    *b, *one;
    ngx_uint_t    parts;
    ngx_chain_t  *cl;

    body->data = (u_char *) "";
    body->len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;
    parts = 0;
    one = NULL;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        size = b->in_file ? b->file_last - b->file_pos : b->last - b->pos;

        if (size > 0) {
            len += size;
            parts++;
            one = b;
        }
    }

    if (len == 0) {
        return NGX_OK;
    }

    if (parts == 1 && !one->in_file) {
        body->data = one->pos;
        body->len = (size_t) len;
        return NGX_OK;
    }

    body->data = ngx_pnalloc(r->pool, (size_t) len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            if (ngx_http_taskgw_read_file(r, b, p) != NGX_OK) {
                return NGX_ERROR;
            }

            p += b->file_last - b->file_pos;
            continue;
        }

        /* the chunked parser's last_buf is empty, with no memory at all */

        if (b->last != b->pos) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * Reads back, for the JSON check, the part of the body nginx spooled to
 * its temp file (the task itself is sent to Redis from the file with
 * sendfile()).  This read blocks the worker process: accepted for the
 * local disk that client_body_temp_path is on, where the file was just
 * written and is normally still in the page cache.  It is bounded: the
 * whole body is at most taskgw_max_payload, and one read at most
 * NGX_HTTP_TASKGW_FILE_READ_MAX.
 */

static ngx_int_t
ngx_http_taskgw_read_file(ngx_http_request_t *r, ngx_buf_t *b, u_char *p)
{
    off_t    pos;
    size_t   size;
    ssize_t  n;

    for (pos = b->file_pos; pos < b->file_last; pos += n) {
        size = (size_t) ngx_min(b->file_last - pos,
                                NGX_HTTP_TASKGW_FILE_READ_MAX);

        n = ngx_read_file(b->file, p, size, pos);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (n == 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "taskgw: short read of the request body "
                          "temp file");
            return NGX_ERROR;
        }

        p += n;
    }

    return NGX_OK;
}


/*
 * One MULTI/EXEC: the task hash and its stream entry are written together
 * or not at all, and the 202 waits for EXEC's reply.
 */

static ngx_int_t
ngx_http_taskgw_enqueue_store(ngx_http_request_t *r)
{
    u_char                       *id, *created, *run_at;
    size_t                        run_at_len;
    ngx_str_t                     id_s, tk, qk, *status;
    ngx_table_elt_t              *ct;
    ngx_http_taskgw_ctx_t        *ctx;
    ngx_http_variable_value_t    *rid;
    ngx_http_taskgw_redis_cmd_t   cmds[4], *c;
    ngx_http_taskgw_main_conf_t  *tmcf;

    static ngx_str_t  request_id = ngx_string("request_id");

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    id = ngx_pnalloc(r->pool, NGX_HTTP_TASKGW_UUID_LEN);
    if (id == NULL || ngx_http_taskgw_uuid7(id) != NGX_OK) {
        return NGX_ERROR;
    }

    id_s.data = id;
    id_s.len = NGX_HTTP_TASKGW_UUID_LEN;

    tk.data = ngx_pnalloc(r->pool, tmcf->prefix.len + sizeof(":task:") - 1
                                   + id_s.len);
    if (tk.data == NULL) {
        return NGX_ERROR;
    }

    tk.len = ngx_sprintf(tk.data, NGX_HTTP_TASKGW_KEY_TASK, &tmcf->prefix,
                         &id_s)
             - tk.data;

    /* a ready task goes to its stream, a delayed one to the schedule */

    qk.data = ngx_pnalloc(r->pool, tmcf->prefix.len + sizeof(":q::") - 1
                          + ctx->queue.len
                          + ngx_http_taskgw_priorities[ctx->priority].len
                          + sizeof(":scheduled"));
    if (qk.data == NULL) {
        return NGX_ERROR;
    }

    if (ctx->run_at) {
        qk.len = ngx_sprintf(qk.data, NGX_HTTP_TASKGW_KEY_SCHEDULED,
                             &tmcf->prefix)
                 - qk.data;

    } else {
        qk.len = ngx_sprintf(qk.data, NGX_HTTP_TASKGW_KEY_QUEUE,
                             &tmcf->prefix, &ctx->queue,
                             &ngx_http_taskgw_priorities[ctx->priority])
                 - qk.data;
    }

    status = ctx->run_at ? &ngx_http_taskgw_scheduled : &ngx_http_taskgw_queued;

    created = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    run_at = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (created == NULL || run_at == NULL) {
        return NGX_ERROR;
    }

    run_at_len = ngx_sprintf(run_at, "%L", ctx->run_at) - run_at;

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

    if (ctx->token_name.len) {
        ngx_http_taskgw_redis_cmd_arg(c, "owner", 5);
        ngx_http_taskgw_redis_cmd_arg(c, ctx->token_name.data,
                                      ctx->token_name.len);
    }

    ngx_http_taskgw_redis_cmd_arg(c, "client_addr", 11);
    ngx_http_taskgw_redis_cmd_arg(c, r->connection->addr_text.data,
                                  r->connection->addr_text.len);
    ngx_http_taskgw_redis_cmd_arg(c, "created_at", 10);
    ngx_http_taskgw_redis_cmd_arg(c, created,
                                  ngx_sprintf(created, "%L",
                                              ngx_http_taskgw_now_ms())
                                  - created);
    ngx_http_taskgw_redis_cmd_arg(c, "attempts", 8);
    ngx_http_taskgw_redis_cmd_arg(c, "0", 1);

    c = &cmds[2];
    c->argc = 0;

    if (ctx->run_at) {
        ngx_http_taskgw_redis_cmd_arg(&cmds[1], "run_at", 6);
        ngx_http_taskgw_redis_cmd_arg(&cmds[1], run_at, run_at_len);

        ngx_http_taskgw_redis_cmd_arg(c, "ZADD", 4);
        ngx_http_taskgw_redis_cmd_arg(c, qk.data, qk.len);
        ngx_http_taskgw_redis_cmd_arg(c, run_at, run_at_len);
        ngx_http_taskgw_redis_cmd_arg(c, id, id_s.len);

    } else {
        ngx_http_taskgw_redis_cmd_arg(c, "XADD", 4);
        ngx_http_taskgw_redis_cmd_arg(c, qk.data, qk.len);
        ngx_http_taskgw_redis_cmd_arg(c, "*", 1);
        ngx_http_taskgw_redis_cmd_arg(c, "id", 2);
        ngx_http_taskgw_redis_cmd_arg(c, id, id_s.len);
    }

    c = &cmds[3];
    c->argc = 0;
    ngx_http_taskgw_redis_cmd_arg(c, "EXEC", 4);

    ctx->task_id = id_s;
    ctx->task_key = tk;

    return ngx_http_taskgw_redis_send(r, cmds, 4,
                                      ngx_http_taskgw_enqueue_done);
}


static void
ngx_http_taskgw_enqueue_done(ngx_http_request_t *r, redisReply *reply)
{
    u_char                      *body, *p;
    size_t                       len;
    ngx_str_t                   *prio, *status;
    ngx_table_elt_t             *h;
    ngx_http_taskgw_ctx_t       *ctx;
    ngx_http_taskgw_srv_conf_t  *tscf;
    ngx_str_t                    err;
    ngx_http_taskgw_redis_cmd_t  del;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    if (!ngx_http_taskgw_redis_reply_ok(reply)) {
        if (reply) {
            ngx_http_taskgw_redis_reply_error(reply, &err);
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "taskgw: redis refused task %V: %V",
                          &ctx->task_id, &err);

            /*
             * EXEC runs every queued command even when one fails: the
             * hash may have been written without its stream entry.  The
             * client gets 503 and retries, so that hash must not stay.
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

    prio = &ngx_http_taskgw_priorities[ctx->priority];
    status = ctx->run_at ? &ngx_http_taskgw_scheduled : &ngx_http_taskgw_queued;

    len = sizeof("{\"id\":\"\",\"status\":\"\",\"queue\":\"\","
                 "\"type\":\"\",\"priority\":\"\"}") - 1
          + ctx->task_id.len + status->len + ctx->queue.len + ctx->type.len
          + prio->len;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* queue and type were checked to need no JSON escaping */

    p = ngx_sprintf(body, "{\"id\":\"%V\",\"status\":\"%V\","
                    "\"queue\":\"%V\",\"type\":\"%V\",\"priority\":\"%V\"}",
                    &ctx->task_id, status, &ctx->queue, &ctx->type, prio);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "taskgw: task %V accepted into %V (%V)", &ctx->task_id,
                  &ctx->queue, status);

    ngx_http_finalize_request(r,
        ngx_http_taskgw_send_json(r, NGX_HTTP_ACCEPTED,
                                  &ngx_http_taskgw_outcome_accepted,
                                  body, p - body));
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
