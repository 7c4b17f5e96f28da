
/*
 * ngx_http_taskgw_status: the taskgw_status content handler.
 * GET renders a task hash as the task JSON of docs/directives.md (with
 * ngx_http_taskgw_render.c), at once or, with ?wait=N, once the task has
 * finished; DELETE cancels.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_json.h"
#include "ngx_http_taskgw_parse.h"
#include "ngx_http_taskgw_pubsub.h"
#include "tgw_lua.h"


/*
 * A long poll, GET <location>/<id>?wait=N: the task is read as usual;
 * when it has not finished, the request waits (holding no Redis
 * connection) until the worker process's subscriber hears its id on the
 * channel of finished tasks, then reads it again; when the wait is over
 * it is answered with what the task is then.
 */
typedef struct {
    ngx_http_request_t            *request;
    ngx_http_taskgw_waiter_t       waiter;   /* woken when the id is heard */
    ngx_event_t                    timer;    /* the wait is over */
    unsigned                       reading:1; /* its HMGET is in flight */
    unsigned                       again:1;  /* woken meanwhile: read again */
    unsigned                       expired:1; /* the next read answers */
    unsigned                       waiting:1; /* a read found it unfinished */
} ngx_http_taskgw_status_wait_t;


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
static ngx_int_t ngx_http_taskgw_status_wait_init(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx);
static ngx_int_t ngx_http_taskgw_status_read(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx);
static ngx_uint_t ngx_http_taskgw_status_terminal(ngx_str_t *status);
static ngx_int_t ngx_http_taskgw_status_wait(ngx_http_request_t *r,
    ngx_http_taskgw_status_wait_t *w);
static void ngx_http_taskgw_status_wake(ngx_event_t *ev);
static void ngx_http_taskgw_status_timeout(ngx_event_t *ev);
static void ngx_http_taskgw_status_wait_end(void *data);
static void ngx_http_taskgw_status_done(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_taskgw_cancel_done(ngx_http_request_t *r,
    redisReply *reply);




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

    key = ngx_pnalloc(r->pool, 6 * tmcf->prefix.len + 2 * id.len
                               + sizeof(":task::scheduled:config:result_ttl"
                                        ":outbox:event:msg__")
                               + sizeof(TGW_CHAN_DONE) + NGX_INT64_LEN);
    now = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (key == NULL || now == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method != NGX_HTTP_DELETE) {
        ctx->task_key.data = key;
        ctx->task_key.len = ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_TASK,
                                        &tmcf->prefix, &id)
                            - key;

        rc = ngx_http_taskgw_status_wait_init(r, ctx);

        if (rc == NGX_HTTP_BAD_REQUEST) {
            return ngx_http_taskgw_send_error(r, NGX_HTTP_BAD_REQUEST,
                                              "bad_request",
                                              "wait must be a whole number "
                                              "of seconds");
        }

        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_taskgw_status_read(r, ctx);

        if (ctx->wait && rc == NGX_OK) {
            ((ngx_http_taskgw_status_wait_t *) ctx->wait)->reading = 1;

        } else if (ctx->wait) {
            /* answered now: the wait's timer must not outlive the answer */
            ngx_http_taskgw_status_wait_end(ctx->wait);
        }

        goto sent;
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

        /* where a task cancelled at once is announced as finished */
        key = event;
        ngx_http_taskgw_redis_cmd_arg(&cmd, key,
                                      ngx_sprintf(key,
                                          NGX_HTTP_TASKGW_KEY_CHAN_DONE,
                                          &tmcf->prefix)
                                      - key);
    }

    rc = ngx_http_taskgw_redis_send(r, &cmd, 1, ngx_http_taskgw_cancel_done);

sent:

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
 * ?wait=N: whole seconds, at most taskgw_status_max_wait (a longer wait
 * is cut to it); 0, or no argument, answers at once; anything else is
 * NGX_HTTP_BAD_REQUEST.  A waiting request gets its state, its timer and
 * the clean-up that takes both away when the request goes, whichever way
 * it goes.
 */

static ngx_int_t
ngx_http_taskgw_status_wait_init(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx)
{
    size_t                          i;
    ngx_int_t                       n;
    ngx_str_t                       v;
    ngx_msec_t                      wait;
    ngx_pool_cleanup_t             *cln;
    ngx_http_taskgw_loc_conf_t     *tlcf;
    ngx_http_taskgw_status_wait_t  *w;

    if (ngx_http_arg(r, (u_char *) "wait", 4, &v) != NGX_OK) {
        return NGX_OK;
    }

    n = ngx_atoi(v.data, v.len);

    if (n == NGX_ERROR && v.len > 0) {
        /* digits too many for ngx_atoi are a long wait, cut below */

        for (i = 0; i < v.len && v.data[i] >= '0' && v.data[i] <= '9'; i++) {
            /* void */
        }

        if (i == v.len) {
            n = NGX_MAX_INT_T_VALUE;
        }
    }

    if (n == NGX_ERROR) {
        return NGX_HTTP_BAD_REQUEST;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    wait = (n > (ngx_int_t) (tlcf->status_max_wait / 1000))
           ? tlcf->status_max_wait : (ngx_msec_t) n * 1000;

    if (wait == 0) {
        return NGX_OK;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_taskgw_status_wait_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (w == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->request = r;

    w->waiter.wake.handler = ngx_http_taskgw_status_wake;
    w->waiter.wake.data = w;
    w->waiter.wake.log = r->connection->log;

    /*
     * not cancelable: a worker process that is shutting down answers its
     * waiting requests when their time is up, it does not drop them
     */
    w->timer.handler = ngx_http_taskgw_status_timeout;
    w->timer.data = w;
    w->timer.log = r->connection->log;

    cln->handler = ngx_http_taskgw_status_wait_end;
    cln->data = w;

    ngx_add_timer(&w->timer, wait);

    /*
     * It waits from before its first read: a task that finishes between
     * Redis answering that read and this process handling the answer is
     * announced to a waiter already listening (it then reads again), not
     * to nobody.
     */
    (void) ngx_http_taskgw_pubsub_wait(&w->waiter, &ctx->task_id);

    ctx->wait = w;

    return NGX_OK;
}


/* Reads the task's fields (HMGET of the key in ctx->task_key). */

static ngx_int_t
ngx_http_taskgw_status_read(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx)
{
    ngx_uint_t                    f;
    ngx_http_taskgw_redis_cmd_t   cmd;

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "HMGET", 5);
    ngx_http_taskgw_redis_cmd_arg(&cmd, ctx->task_key.data, ctx->task_key.len);

    /* the fields the JSON shows, never the payload: it may be large */

    for (f = 0; f < TGW_FIELD_COUNT; f++) {
        ngx_http_taskgw_redis_cmd_arg(&cmd,
                                      ngx_http_taskgw_fields[f].name.data,
                                      ngx_http_taskgw_fields[f].name.len);
    }

    return ngx_http_taskgw_redis_send(r, &cmd, 1,
                                      ngx_http_taskgw_status_done);
}


static ngx_uint_t
ngx_http_taskgw_status_terminal(ngx_str_t *status)
{
    static ngx_str_t  terminal[] = {
        ngx_string(TGW_ST_SUCCEEDED),
        ngx_string(TGW_ST_DEAD),
        ngx_string(TGW_ST_CANCELLED)
    };

    ngx_uint_t  i;

    for (i = 0; i < sizeof(terminal) / sizeof(ngx_str_t); i++) {
        if (status->len == terminal[i].len
            && ngx_strncmp(status->data, terminal[i].data, status->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The task has not finished and the wait is not over: the request waits
 * in the table of its worker process (where it is already, unless that
 * failed) and notices its client going away; woken while it was reading,
 * it reads again.  NGX_ERROR: it cannot wait, answer.
 */

static ngx_int_t
ngx_http_taskgw_status_wait(ngx_http_request_t *r,
    ngx_http_taskgw_status_wait_t *w)
{
    ngx_http_taskgw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    if (w->waiter.task == NULL
        && ngx_http_taskgw_pubsub_wait(&w->waiter, &ctx->task_id) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!r->discard_body) {
        r->read_event_handler = ngx_http_test_reading;
    }

    w->waiting = 1;

    /* woken while it was reading: what it read may be older than that */

    if (w->again) {
        w->again = 0;

        if (ngx_http_taskgw_status_read(r, ctx) == NGX_OK) {
            w->reading = 1;
        }
    }

    return NGX_OK;
}


/* The task's id was heard (or the subscriber is back): read it again. */

static void
ngx_http_taskgw_status_wake(ngx_event_t *ev)
{
    ngx_http_taskgw_status_wait_t  *w = ev->data;

    ngx_http_request_t     *r;
    ngx_http_taskgw_ctx_t  *ctx;

    if (w->expired) {
        return;
    }

    if (w->reading) {
        w->again = 1;
        return;
    }

    r = w->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    /* when the link is down, the timer's read answers in the end */

    if (ngx_http_taskgw_status_read(r, ctx) == NGX_OK) {
        w->reading = 1;
    }
}


/* The wait is over: the next read answers, whatever the task is. */

static void
ngx_http_taskgw_status_timeout(ngx_event_t *ev)
{
    ngx_http_taskgw_status_wait_t  *w = ev->data;

    ngx_int_t               rc;
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_taskgw_ctx_t  *ctx;

    w->expired = 1;

    if (w->reading) {
        return;
    }

    r = w->request;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    rc = ngx_http_taskgw_status_read(r, ctx);

    if (rc == NGX_OK) {
        w->reading = 1;
        return;
    }

    ngx_http_taskgw_status_wait_end(w);

    ngx_http_finalize_request(r, rc == NGX_HTTP_INTERNAL_SERVER_ERROR ? rc
                     : ngx_http_taskgw_unavailable(r, "task store is "
                                                      "unavailable"));
    ngx_http_run_posted_requests(c);
}


/* The request is answered or gone: it waits no more. */

static void
ngx_http_taskgw_status_wait_end(void *data)
{
    ngx_http_taskgw_status_wait_t  *w = data;

    ngx_http_taskgw_pubsub_unwait(&w->waiter);

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }
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
    u_char                         *body;
    size_t                          len;
    ngx_int_t                       rc;
    ngx_str_t                       fields[TGW_FIELD_COUNT];
    ngx_uint_t                      f, found;
    redisReply                     *v;
    ngx_http_taskgw_ctx_t          *ctx;
    ngx_http_taskgw_status_wait_t  *w;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);
    w = ctx->wait;

    if (w) {
        w->reading = 0;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != TGW_FIELD_COUNT)
    {
        /* a wait under way goes on: its last read answers */

        if (w && w->waiting && !w->expired
            && ngx_http_taskgw_status_wait(r, w) == NGX_OK)
        {
            return;
        }

        rc = ngx_http_taskgw_unavailable(r, "task store is unavailable");
        goto answer;
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
        rc = ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "no such task");
        goto answer;
    }

    /* a dev token sees its own tasks only: another's is as unknown */

    if (ctx->role == NGX_HTTP_TASKGW_ROLE_DEV
        && (fields[TGW_FIELD_OWNER].len != ctx->token_name.len
            || ngx_strncmp(fields[TGW_FIELD_OWNER].data, ctx->token_name.data,
                           ctx->token_name.len) != 0))
    {
        rc = ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "no such task");
        goto answer;
    }

    if (ngx_http_taskgw_queue_allowed(ctx, &fields[TGW_FIELD_QUEUE])
        != NGX_OK)
    {
        rc = ngx_http_taskgw_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                        "queue not in the token's queues");
        goto answer;
    }

    /* the checks above hold for a long poll too: it waits only after them */

    if (w && !w->expired
        && !ngx_http_taskgw_status_terminal(&fields[TGW_FIELD_STATUS])
        && ngx_http_taskgw_status_wait(r, w) == NGX_OK)
    {
        return;
    }

    body = ngx_http_taskgw_render_task(r->pool, fields, &len);

    rc = (body == NULL) ? NGX_HTTP_INTERNAL_SERVER_ERROR
                        : ngx_http_taskgw_send_json(r, NGX_HTTP_OK, NULL,
                                                    body, len);

answer:

    if (w) {
        ngx_http_taskgw_status_wait_end(w);
    }

    ngx_http_finalize_request(r, rc);
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
