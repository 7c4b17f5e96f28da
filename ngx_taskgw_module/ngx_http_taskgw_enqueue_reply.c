
/*
 * ngx_http_taskgw_enqueue_reply: the answer to an enqueue once Redis
 * acknowledged it: the 202 of a stored task, the 200 replay of an
 * Idempotency-Key, the 503 of a full queue.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_parse.h"
#include "ngx_http_taskgw_enqueue.h"


static ngx_int_t ngx_http_taskgw_reply_str(redisReply *reply, size_t i,
    ngx_str_t *s);




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


/*
 * 503 queue_full: the stream already holds taskgw_max_backlog entries.
 * Workers drain a stream at their own pace; a client is asked to wait a
 * little longer than for a Redis hiccup.
 */

ngx_int_t
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

void
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
