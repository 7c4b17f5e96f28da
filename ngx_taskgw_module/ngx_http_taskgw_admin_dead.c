
/*
 * ngx_http_taskgw_admin_dead: the admin API's dead-letter routes: list
 * a queue's dead letters, replay one, purge one.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_ops.h"
#include "ngx_http_taskgw_json.h"
#include "tgw_lua.h"
#include "ngx_http_taskgw_admin.h"


#define NGX_HTTP_TASKGW_ADMIN_DEAD_LIMIT    100    /* GET dead default */
#define NGX_HTTP_TASKGW_ADMIN_DEAD_MAX      1000


static void ngx_http_taskgw_admin_dead_list_done(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_taskgw_admin_dead_done(ngx_http_request_t *r,
    redisReply *reply);


/* ------------------------------------------------------------------ */
/* Dead-letter queues                                                  */
/* ------------------------------------------------------------------ */


/* GET dead?queue=Q&limit=N: the newest N entries of Q's dead letters. */

ngx_int_t
ngx_http_taskgw_admin_dead_list(ngx_http_request_t *r, ngx_str_t *arg)
{
    u_char                       *key;
    ngx_int_t                     limit;
    ngx_str_t                     queue, s;
    ngx_http_taskgw_admin_ctx_t  *actx;
    ngx_http_taskgw_redis_cmd_t   cmd;
    ngx_http_taskgw_main_conf_t  *tmcf;

    actx = ngx_http_taskgw_admin_get_ctx(r);
    if (actx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "queue", 5, &queue) != NGX_OK) {
        ngx_str_set(&queue, "default");
    }

    if (ngx_http_taskgw_valid_name(&queue, NGX_HTTP_TASKGW_QUEUE_MAX, 0)
        != NGX_OK)
    {
        return ngx_http_taskgw_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "bad_request",
                                          "queue must be 1-64 characters of "
                                          "A-Z a-z 0-9 . _ -");
    }

    limit = NGX_HTTP_TASKGW_ADMIN_DEAD_LIMIT;

    if (ngx_http_arg(r, (u_char *) "limit", 5, &s) == NGX_OK) {
        limit = ngx_atoi(s.data, s.len);

        if (limit < 1 || limit > NGX_HTTP_TASKGW_ADMIN_DEAD_MAX) {
            return ngx_http_taskgw_send_error(r, NGX_HTTP_BAD_REQUEST,
                                              "bad_request",
                                              "limit must be 1-1000");
        }
    }

    actx->queue = queue;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    key = ngx_pnalloc(r->pool, tmcf->prefix.len + sizeof(":dead:") - 1
                               + queue.len + NGX_INT_T_LEN);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "XREVRANGE", 9);
    ngx_http_taskgw_redis_cmd_arg(&cmd, key,
                                  ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_DEAD,
                                              &tmcf->prefix, &queue)
                                  - key);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "+", 1);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "-", 1);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "COUNT", 5);

    key += cmd.argvlen[1];
    ngx_http_taskgw_redis_cmd_arg(&cmd, key,
                                  ngx_sprintf(key, "%i", limit) - key);

    return ngx_http_taskgw_admin_redis(r, &cmd,
                                       ngx_http_taskgw_admin_dead_list_done);
}


/*
 * {"queue":…,"dead":[{"id":…,"error":…,"attempts":…,"failed_at":…,
 * "entry":…}]}, newest first; "entry" is the dead-letter stream's own id.
 */

static void
ngx_http_taskgw_admin_dead_list_done(ngx_http_request_t *r,
    redisReply *reply)
{
    int64_t                       ms;
    ngx_int_t                     n;
    ngx_uint_t                    i, k;
    redisReply                   *e, *f, *name, *value;
    ngx_http_taskgw_jw_t          jw;
    ngx_http_taskgw_admin_ctx_t  *actx;
    u_char                        iso[sizeof("2026-11-23T10:00:00.123Z")];

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_taskgw_admin_failed(r, reply);
        return;
    }

    actx = ngx_http_taskgw_admin_get_ctx(r);

    ngx_http_taskgw_jw_init(&jw, r->pool);
    ngx_http_taskgw_jw_open(&jw, '{');
    ngx_http_taskgw_jw_key(&jw, "queue");
    ngx_http_taskgw_jw_str(&jw, actx->queue.data, actx->queue.len);
    ngx_http_taskgw_jw_key(&jw, "dead");
    ngx_http_taskgw_jw_open(&jw, '[');

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING
            || e->element[1]->type != REDIS_REPLY_ARRAY)
        {
            continue;
        }

        f = e->element[1];

        ngx_http_taskgw_jw_open(&jw, '{');

        for (k = 0; k + 1 < f->elements; k += 2) {
            name = f->element[k];
            value = f->element[k + 1];

            if (name->type != REDIS_REPLY_STRING
                || value->type != REDIS_REPLY_STRING)
            {
                continue;
            }

            if (name->len == 8 && ngx_strncmp(name->str, "attempts", 8) == 0)
            {
                n = ngx_atoi((u_char *) value->str, value->len);
                if (n != NGX_ERROR) {
                    ngx_http_taskgw_jw_key(&jw, "attempts");
                    ngx_http_taskgw_jw_int(&jw, n);
                    continue;
                }
            }

            if (name->len == 9 && ngx_strncmp(name->str, "failed_at", 9) == 0)
            {
                n = ngx_atoof((u_char *) value->str, value->len);
                if (n != NGX_ERROR) {
                    ms = n;
                    ngx_http_taskgw_jw_key(&jw, "failed_at");
                    ngx_http_taskgw_jw_str(&jw, iso,
                                           ngx_http_taskgw_iso_time(iso, ms)
                                           - iso);
                    continue;
                }
            }

            /* id, error and any field a later worker adds, as strings */

            ngx_http_taskgw_jw_str(&jw, (u_char *) name->str, name->len);
            ngx_http_taskgw_jw_raw(&jw, ":", 1);
            jw.after_key = 1;
            ngx_http_taskgw_jw_str(&jw, (u_char *) value->str, value->len);
        }

        ngx_http_taskgw_jw_key(&jw, "entry");
        ngx_http_taskgw_jw_str(&jw, (u_char *) e->element[0]->str,
                               e->element[0]->len);
        ngx_http_taskgw_jw_close(&jw, '}');
    }

    ngx_http_taskgw_jw_close(&jw, ']');
    ngx_http_taskgw_jw_close(&jw, '}');

    ngx_http_finalize_request(r,
                              ngx_http_taskgw_admin_send(r, NGX_HTTP_OK, &jw));
}


/*
 * POST dead/<id>/replay and DELETE dead/<id>: the scripts taskgwctl's
 * dead replay and dead purge run, so both doors follow one rule.
 */

static ngx_int_t
ngx_http_taskgw_admin_dead_script(ngx_http_request_t *r, ngx_str_t *id,
    const char *script, size_t len)
{
    u_char                       *now;
    size_t                        nlen = 0;
    ngx_str_t                    *who, queue;
    ngx_http_taskgw_admin_ctx_t  *actx;
    ngx_http_taskgw_redis_cmd_t   cmd;
    ngx_http_taskgw_main_conf_t  *tmcf;

    if (ngx_http_taskgw_valid_uuid(id) != NGX_OK) {
        return ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                          "no dead task with this id");
    }

    actx = ngx_http_taskgw_admin_get_ctx(r);
    who = ngx_http_taskgw_admin_who(r);
    now = ngx_http_taskgw_admin_now(r, &nlen);

    if (actx == NULL || who == NULL || now == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    actx->arg = *id;

    /* a purge may name the queue of a task whose hash has expired */

    if (ngx_http_arg(r, (u_char *) "queue", 5, &queue) != NGX_OK
        || ngx_http_taskgw_valid_name(&queue, NGX_HTTP_TASKGW_QUEUE_MAX, 0)
           != NGX_OK)
    {
        ngx_str_null(&queue);
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "EVAL", 4);
    ngx_http_taskgw_redis_cmd_arg(&cmd, script, len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "0", 1);
    ngx_http_taskgw_redis_cmd_arg(&cmd, tmcf->prefix.data, tmcf->prefix.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, id->data, id->len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, now, nlen);
    ngx_http_taskgw_redis_cmd_arg(&cmd, who->data, who->len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, queue.data ? queue.data
                                                   : (u_char *) "",
                                  queue.len);

    return ngx_http_taskgw_admin_redis(r, &cmd,
                                       ngx_http_taskgw_admin_dead_done);
}


ngx_int_t
ngx_http_taskgw_admin_dead_replay(ngx_http_request_t *r, ngx_str_t *arg)
{
    return ngx_http_taskgw_admin_dead_script(r, arg, tgw_lua_dead_replay,
                                             sizeof(tgw_lua_dead_replay) - 1);
}


ngx_int_t
ngx_http_taskgw_admin_dead_purge(ngx_http_request_t *r, ngx_str_t *arg)
{
    return ngx_http_taskgw_admin_dead_script(r, arg, tgw_lua_dead_purge,
                                             sizeof(tgw_lua_dead_purge) - 1);
}


/* {"id":…,"status":"queued"|"purged","queue":…}, or 404. */

static void
ngx_http_taskgw_admin_dead_done(ngx_http_request_t *r, redisReply *reply)
{
    redisReply                   *q;
    ngx_http_taskgw_jw_t          jw;
    ngx_http_taskgw_admin_ctx_t  *actx;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        ngx_http_taskgw_admin_failed(r, reply);
        return;
    }

    if (reply->element[0]->integer == 0 || reply->elements < 2) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no dead task with this id"));
        return;
    }

    actx = ngx_http_taskgw_admin_get_ctx(r);
    q = reply->element[1];

    ngx_http_taskgw_jw_init(&jw, r->pool);
    ngx_http_taskgw_jw_open(&jw, '{');
    ngx_http_taskgw_jw_key(&jw, "id");
    ngx_http_taskgw_jw_str(&jw, actx->arg.data, actx->arg.len);
    ngx_http_taskgw_jw_key(&jw, "status");
    ngx_http_taskgw_jw_cstr(&jw, r->method == NGX_HTTP_DELETE ? "purged"
                                                              : "queued");
    ngx_http_taskgw_jw_key(&jw, "queue");
    ngx_http_taskgw_jw_str(&jw, (u_char *) q->str,
                           q->type == REDIS_REPLY_STRING ? q->len : 0);
    ngx_http_taskgw_jw_close(&jw, '}');

    ngx_http_finalize_request(r,
                              ngx_http_taskgw_admin_send(r, NGX_HTTP_OK, &jw));
}
