
/*
 * ngx_http_taskgw_enqueue_store: a task into Redis in one atomic step (a
 * MULTI/EXEC, or one call of the enqueue script when the idempotency or
 * backlog checks apply), and what Redis answered.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/sha.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_body.h"
#include "ngx_http_taskgw_record.h"
#include "ngx_http_taskgw_enqueue.h"
#include "tgw_lua.h"


static ngx_int_t ngx_http_taskgw_enqueue_send(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n, ngx_uint_t txn);
static void ngx_http_taskgw_enqueue_done(ngx_http_request_t *r,
    redisReply *reply);




/*
 * A payload up to this many bytes goes to Redis as an argument of the
 * enqueue script; a larger one is written apart (see enqueue_store).
 */
#define NGX_HTTP_TASKGW_SCRIPT_PAYLOAD_MAX  16384


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

ngx_int_t
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
