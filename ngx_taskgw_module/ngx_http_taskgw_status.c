
/*
 * ngx_http_taskgw_status: the taskgw_status content handler.
 * GET renders a task hash as the task JSON of docs/directives.md; DELETE
 * cancels.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_json.h"
#include "tgw_lua.h"


/* The task hash fields the JSON shows, in the order it shows them. */
typedef enum {
    TGW_FIELD_ID = 0,
    TGW_FIELD_QUEUE,
    TGW_FIELD_TYPE,
    TGW_FIELD_PRIORITY,
    TGW_FIELD_STATUS,
    TGW_FIELD_ATTEMPTS,
    TGW_FIELD_OWNER,
    TGW_FIELD_TRACEPARENT,
    TGW_FIELD_CREATED_AT,
    TGW_FIELD_RUN_AT,
    TGW_FIELD_STARTED_AT,
    TGW_FIELD_FINISHED_AT,
    TGW_FIELD_RESULT,
    TGW_FIELD_RESULT_ENCODING,
    TGW_FIELD_ERROR,
    TGW_FIELD_WEBHOOK_STATUS,
    TGW_FIELD_WEBHOOK_ATTEMPTS,
    TGW_FIELD_COUNT
} ngx_http_taskgw_field_e;


/* How a field is rendered. */
typedef enum {
    TGW_JSON_STRING,       /* "text", null when empty */
    TGW_JSON_OPTIONAL,     /* "text", left out when empty */
    TGW_JSON_INT,          /* 12, 0 when empty */
    TGW_JSON_TIME,         /* unix ms -> "2026-...Z", null when empty */
    TGW_JSON_RAW,          /* stored JSON embedded as is, null when empty */
    TGW_JSON_SKIP          /* rendered by hand */
} ngx_http_taskgw_json_kind_e;


typedef struct {
    ngx_str_t                     name;
    ngx_http_taskgw_json_kind_e   kind;
} ngx_http_taskgw_field_t;


static ngx_http_taskgw_field_t  ngx_http_taskgw_fields[TGW_FIELD_COUNT] = {
    { ngx_string("id"), TGW_JSON_STRING },
    { ngx_string("queue"), TGW_JSON_STRING },
    { ngx_string("type"), TGW_JSON_STRING },
    { ngx_string("priority"), TGW_JSON_STRING },
    { ngx_string("status"), TGW_JSON_STRING },
    { ngx_string("attempts"), TGW_JSON_INT },
    { ngx_string("owner"), TGW_JSON_STRING },
    { ngx_string("traceparent"), TGW_JSON_OPTIONAL },
    { ngx_string("created_at"), TGW_JSON_TIME },
    { ngx_string("run_at"), TGW_JSON_TIME },
    { ngx_string("started_at"), TGW_JSON_TIME },
    { ngx_string("finished_at"), TGW_JSON_TIME },
    { ngx_string("result"), TGW_JSON_RAW },
    { ngx_string("result_encoding"), TGW_JSON_SKIP },
    { ngx_string("error"), TGW_JSON_STRING },
    { ngx_string("webhook_status"), TGW_JSON_SKIP },
    { ngx_string("webhook_attempts"), TGW_JSON_SKIP }
};


/*
 * Cancellation is worker/common/lua/cancel.lua, the script taskgwctl
 * sends too: a queued task is flagged for the worker to mark cancelled
 * instead of running it; a scheduled or retrying task still in the
 * schedule is cancelled at once and its task.cancelled webhook event
 * written to the outbox.
 *
 * How long a task cancelled here is kept when no worker has published its
 * result_ttl (<prefix>:config:result_ttl): the worker's default, 7 days.
 */
#define NGX_HTTP_TASKGW_CANCELLED_TTL  "604800000"


static ngx_int_t ngx_http_taskgw_status_id(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_int_t ngx_http_taskgw_status_scope(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_http_taskgw_redis_cmd_t *cmd);
static void ngx_http_taskgw_status_done(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_taskgw_cancel_done(ngx_http_request_t *r,
    redisReply *reply);
static u_char *ngx_http_taskgw_render_task(ngx_http_request_t *r,
    ngx_str_t *f, size_t *len);
static u_char *ngx_http_taskgw_render_string(u_char *p, ngx_str_t *s);




ngx_int_t
ngx_http_taskgw_status_handler(ngx_http_request_t *r)
{
    u_char                       *key, *now, *event;
    size_t                        now_len;
    int64_t                       ms;
    ngx_int_t                     rc;
    ngx_uint_t                    f;
    ngx_str_t                     id;
    ngx_http_taskgw_ctx_t        *ctx;
    ngx_http_taskgw_redis_cmd_t   cmd;
    ngx_http_taskgw_main_conf_t  *tmcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_DELETE))) {
        return ngx_http_taskgw_not_allowed(r, "GET, HEAD, DELETE",
                                           "use GET to read a task, DELETE "
                                           "to cancel it");
    }

    if (ngx_http_taskgw_status_id(r, &id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_taskgw_valid_uuid(&id) != NGX_OK) {
        return ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                          "no such task");
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);
    ctx->task_id = id;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    key = ngx_pnalloc(r->pool, 5 * tmcf->prefix.len + 2 * id.len
                               + sizeof(":task::scheduled:config:result_ttl"
                                        ":outbox:event:msg__")
                               + NGX_INT64_LEN);
    now = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (key == NULL || now == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cmd.argc = 0;

    if (r->method == NGX_HTTP_DELETE) {
        /* cancel.lua: the rule shared with taskgwctl */
        ngx_http_taskgw_redis_cmd_arg(&cmd, "EVAL", 4);
        ngx_http_taskgw_redis_cmd_arg(&cmd, tgw_lua_cancel,
                                      sizeof(tgw_lua_cancel) - 1);
        ngx_http_taskgw_redis_cmd_arg(&cmd, "5", 1);
    } else {
        ngx_http_taskgw_redis_cmd_arg(&cmd, "HMGET", 5);
    }

    ngx_http_taskgw_redis_cmd_arg(&cmd, key,
                                  ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_TASK,
                                              &tmcf->prefix, &id)
                                  - key);

    if (r->method != NGX_HTTP_DELETE) {

        /* the fields the JSON shows, never the payload: it may be large */

        for (f = 0; f < TGW_FIELD_COUNT; f++) {
            ngx_http_taskgw_redis_cmd_arg(&cmd,
                                          ngx_http_taskgw_fields[f].name.data,
                                          ngx_http_taskgw_fields[f].name.len);
        }
    }

    if (r->method == NGX_HTTP_DELETE) {
        ms = ngx_http_taskgw_now_ms();
        now_len = ngx_sprintf(now, "%L", ms) - now;

        key += cmd.argvlen[cmd.argc - 1];
        ngx_http_taskgw_redis_cmd_arg(&cmd, key,
                                      ngx_sprintf(key,
                                              NGX_HTTP_TASKGW_KEY_SCHEDULED,
                                              &tmcf->prefix)
                                      - key);
        key += cmd.argvlen[cmd.argc - 1];
        ngx_http_taskgw_redis_cmd_arg(&cmd, key,
                                      ngx_sprintf(key,
                                          NGX_HTTP_TASKGW_KEY_RESULT_TTL,
                                          &tmcf->prefix)
                                      - key);
        key += cmd.argvlen[cmd.argc - 1];
        ngx_http_taskgw_redis_cmd_arg(&cmd, key,
                                      ngx_sprintf(key,
                                              NGX_HTTP_TASKGW_KEY_OUTBOX,
                                              &tmcf->prefix)
                                      - key);

        /* the task.cancelled event: its id is its webhook-id */
        key += cmd.argvlen[cmd.argc - 1];
        event = ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_EVENT, &tmcf->prefix,
                            &id, ms);
        ngx_http_taskgw_redis_cmd_arg(&cmd, key, event - key);
        ngx_http_taskgw_redis_cmd_arg(&cmd, id.data, id.len);
        ngx_http_taskgw_redis_cmd_arg(&cmd, now, now_len);
        ngx_http_taskgw_redis_cmd_arg(&cmd, NGX_HTTP_TASKGW_CANCELLED_TTL,
                                  sizeof(NGX_HTTP_TASKGW_CANCELLED_TTL) - 1);

        if (ngx_http_taskgw_status_scope(r, ctx, &cmd) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the event id: the event key without "<prefix>:event:" */
        ngx_http_taskgw_redis_cmd_arg(&cmd,
                                      key + tmcf->prefix.len
                                      + sizeof(":event:") - 1,
                                      event - key - tmcf->prefix.len
                                      - (sizeof(":event:") - 1));
    }

    rc = ngx_http_taskgw_redis_send(r, &cmd, 1,
                                    r->method == NGX_HTTP_DELETE
                                        ? ngx_http_taskgw_cancel_done
                                        : ngx_http_taskgw_status_done);

    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        return rc;
    }

    if (rc != NGX_OK) {
        return ngx_http_taskgw_unavailable(r, "task store is unavailable");
    }

    r->main->count++;

    return NGX_DONE;
}


/* The task id: the id= value, else the last segment of the path. */

static ngx_int_t
ngx_http_taskgw_status_id(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char                      *p;
    ngx_http_taskgw_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (tlcf->status_id) {
        return ngx_http_complex_value(r, tlcf->status_id, id);
    }

    p = r->uri.data + r->uri.len;

    while (p > r->uri.data && p[-1] != '/') {
        p--;
    }

    id->data = p;
    id->len = r->uri.data + r->uri.len - p;

    return NGX_OK;
}


/*
 * What the caller's token may see, as the cancel script's ARGV[4] and
 * ARGV[5]: a dev token only its own tasks, a token with queues= only
 * tasks of those queues.  Without a token (taskgw_auth off) everything.
 */

static ngx_int_t
ngx_http_taskgw_status_scope(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_http_taskgw_redis_cmd_t *cmd)
{
    u_char      *p, *list;
    size_t       len;
    ngx_str_t   *q;
    ngx_uint_t   i;

    if (ctx->role == NGX_HTTP_TASKGW_ROLE_DEV) {
        ngx_http_taskgw_redis_cmd_arg(cmd, ctx->token_name.data,
                                      ctx->token_name.len);
    } else {
        ngx_http_taskgw_redis_cmd_arg(cmd, "", 0);
    }

    if (ctx->token_queues == NULL) {
        ngx_http_taskgw_redis_cmd_arg(cmd, "", 0);
        return NGX_OK;
    }

    q = ctx->token_queues->elts;
    len = 1;

    for (i = 0; i < ctx->token_queues->nelts; i++) {
        len += q[i].len + 1;
    }

    list = ngx_pnalloc(r->pool, len);
    if (list == NULL) {
        return NGX_ERROR;
    }

    p = list;
    *p++ = ',';

    for (i = 0; i < ctx->token_queues->nelts; i++) {
        p = ngx_cpymem(p, q[i].data, q[i].len);
        *p++ = ',';
    }

    ngx_http_taskgw_redis_cmd_arg(cmd, list, len);

    return NGX_OK;
}


/* Canonical lowercase UUID text: 8-4-4-4-12 hex digits. */

ngx_int_t
ngx_http_taskgw_valid_uuid(ngx_str_t *id)
{
    ngx_uint_t  i;

    if (id->len != NGX_HTTP_TASKGW_UUID_LEN) {
        return NGX_ERROR;
    }

    for (i = 0; i < id->len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id->data[i] != '-') {
                return NGX_ERROR;
            }

            continue;
        }

        if (!((id->data[i] >= '0' && id->data[i] <= '9')
              || (id->data[i] >= 'a' && id->data[i] <= 'f')))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * HMGET's reply: the fields of ngx_http_taskgw_fields, in that order, nil
 * where the hash has none.  A task whose every field is nil does not
 * exist.  The values are rendered before this returns and hiredis frees
 * the reply.
 */

static void
ngx_http_taskgw_status_done(ngx_http_request_t *r, redisReply *reply)
{
    u_char                 *body;
    size_t                  len;
    ngx_str_t               fields[TGW_FIELD_COUNT];
    ngx_uint_t              f, found;
    redisReply             *v;
    ngx_http_taskgw_ctx_t  *ctx;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != TGW_FIELD_COUNT)
    {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_unavailable(r, "task store is unavailable"));
        return;
    }

    ngx_memzero(fields, sizeof(fields));
    found = 0;

    for (f = 0; f < TGW_FIELD_COUNT; f++) {
        v = reply->element[f];

        if (v->type == REDIS_REPLY_STRING) {
            fields[f].data = (u_char *) v->str;
            fields[f].len = v->len;
            found = 1;
        }
    }

    if (!found) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no such task"));
        return;
    }

    /* a dev token sees its own tasks only: another's is as unknown */

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    if (ctx->role == NGX_HTTP_TASKGW_ROLE_DEV
        && (fields[TGW_FIELD_OWNER].len != ctx->token_name.len
            || ngx_strncmp(fields[TGW_FIELD_OWNER].data, ctx->token_name.data,
                           ctx->token_name.len) != 0))
    {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no such task"));
        return;
    }

    if (ngx_http_taskgw_queue_allowed(ctx, &fields[TGW_FIELD_QUEUE]) != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                       "queue not in the token's queues"));
        return;
    }

    body = ngx_http_taskgw_render_task(r, fields, &len);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_taskgw_send_json(r, NGX_HTTP_OK,
                                  NULL,
                                  body, len));
}


/*
 * The task JSON shown by GET.  The payload is never shown; "result" is the
 * worker's stored JSON value, embedded as it is when it parses, else shown
 * as a string.
 */

static u_char *
ngx_http_taskgw_render_task(ngx_http_request_t *r, ngx_str_t *f, size_t *len)
{
    u_char      *body, *p;
    size_t       size;
    int64_t      ms;
    ngx_int_t    n;
    ngx_uint_t   i;

    size = sizeof("{\"webhook\":{\"status\":,\"attempts\":},"
                  "\"result_encoding\":\"base64\",}") + NGX_INT_T_LEN;

    for (i = 0; i < TGW_FIELD_COUNT; i++) {
        size += ngx_http_taskgw_fields[i].name.len + sizeof("\"\":null,")
                + 2 + ngx_http_taskgw_json_escape_len(f[i].data, f[i].len)
                + sizeof("2026-11-23T10:00:00.123Z") + NGX_INT_T_LEN;
    }

    body = ngx_pnalloc(r->pool, size);
    if (body == NULL) {
        return NULL;
    }

    p = body;
    *p++ = '{';

    for (i = 0; i < TGW_FIELD_COUNT; i++) {

        if (ngx_http_taskgw_fields[i].kind == TGW_JSON_SKIP
            || (ngx_http_taskgw_fields[i].kind == TGW_JSON_OPTIONAL
                && f[i].len == 0))
        {
            continue;
        }

        if (p != body + 1) {
            *p++ = ',';
        }

        *p++ = '"';
        p = ngx_cpymem(p, ngx_http_taskgw_fields[i].name.data,
                       ngx_http_taskgw_fields[i].name.len);
        *p++ = '"';
        *p++ = ':';

        switch (ngx_http_taskgw_fields[i].kind) {

        case TGW_JSON_INT:
            n = ngx_atoi(f[i].data, f[i].len);
            p = ngx_sprintf(p, "%i", n == NGX_ERROR ? 0 : n);
            break;

        case TGW_JSON_TIME:
            n = ngx_atoi(f[i].data, f[i].len);
            if (n == NGX_ERROR || f[i].len == 0) {
                p = ngx_cpymem(p, "null", 4);
                break;
            }

            ms = (int64_t) n;
            *p++ = '"';
            p = ngx_http_taskgw_iso_time(p, ms);
            *p++ = '"';
            break;

        case TGW_JSON_RAW:
            if (f[i].len == 0) {
                p = ngx_cpymem(p, "null", 4);

            } else if (ngx_http_taskgw_json_valid(f[i].data, f[i].len)
                       == NGX_OK)
            {
                p = ngx_cpymem(p, f[i].data, f[i].len);

            } else {
                p = ngx_http_taskgw_render_string(p, &f[i]);
            }

            break;

        default: /* TGW_JSON_STRING, TGW_JSON_OPTIONAL */
            p = ngx_http_taskgw_render_string(p, &f[i]);
            break;
        }
    }

    if (f[TGW_FIELD_RESULT_ENCODING].len) {
        p = ngx_cpymem(p, ",\"result_encoding\":", 19);
        p = ngx_http_taskgw_render_string(p, &f[TGW_FIELD_RESULT_ENCODING]);
    }

    p = ngx_cpymem(p, ",\"webhook\":", 11);

    if (f[TGW_FIELD_WEBHOOK_STATUS].len) {
        n = ngx_atoi(f[TGW_FIELD_WEBHOOK_ATTEMPTS].data,
                     f[TGW_FIELD_WEBHOOK_ATTEMPTS].len);

        p = ngx_cpymem(p, "{\"status\":", 10);
        p = ngx_http_taskgw_render_string(p, &f[TGW_FIELD_WEBHOOK_STATUS]);
        p = ngx_sprintf(p, ",\"attempts\":%i}", n == NGX_ERROR ? 0 : n);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    *p++ = '}';

    *len = p - body;

    return body;
}


static u_char *
ngx_http_taskgw_render_string(u_char *p, ngx_str_t *s)
{
    if (s->len == 0) {
        return ngx_cpymem(p, "null", 4);
    }

    *p++ = '"';
    p = ngx_http_taskgw_json_escape(p, s->data, s->len);
    *p++ = '"';

    return p;
}


static void
ngx_http_taskgw_cancel_done(ngx_http_request_t *r, redisReply *reply)
{
    u_char                 *body;
    ngx_int_t               code;
    ngx_http_taskgw_ctx_t  *ctx;

    /* cancel.lua's {code, status} */

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "taskgw: cancel script failed: %*s",
                          (size_t) reply->len, reply->str);
        }

        ngx_http_finalize_request(r,
            ngx_http_taskgw_unavailable(r, "task store is unavailable"));
        return;
    }

    code = reply->element[0]->integer;

    if (code == 0) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no such task"));
        return;
    }

    if (code == 3) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                       "queue not in the token's queues"));
        return;
    }

    if (code == 2) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_CONFLICT, "conflict",
                                       "the task is running or finished"));
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    body = ngx_pnalloc(r->pool, sizeof("{\"id\":\"\",\"status\":"
                                       "\"cancelling\"}")
                                + ctx->task_id.len);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_taskgw_send_json(r, NGX_HTTP_ACCEPTED,
                                  NULL, body,
                                  ngx_sprintf(body, "{\"id\":\"%V\","
                                              "\"status\":\"cancelling\"}",
                                              &ctx->task_id)
                                  - body));
}
