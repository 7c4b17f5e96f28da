
/*
 * ngx_http_taskgw_admin: the JSON admin API of taskgw_admin: one route
 * table (method, path, least role, handler), its handlers and their replies.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/random.h>
#include <openssl/sha.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_ops.h"
#include "ngx_http_taskgw_json.h"
#include "tgw_lua.h"


#define NGX_HTTP_TASKGW_ADMIN_DEAD_LIMIT    100    /* GET dead default */
#define NGX_HTTP_TASKGW_ADMIN_DEAD_MAX      1000
#define NGX_HTTP_TASKGW_ADMIN_BODY_MAX      8192   /* POST tokens */
#define NGX_HTTP_TASKGW_ADMIN_OPT_MAX       1024   /* ips=, queues= */
#define NGX_HTTP_TASKGW_TOKEN_RANDOM        32     /* bytes of a token */


typedef ngx_int_t (*ngx_http_taskgw_admin_pt)(ngx_http_request_t *r,
    ngx_str_t *arg);


/*
 * One endpoint.  The path is matched segment by segment against what
 * follows the location's name; a "*" segment matches any one segment,
 * which the handler gets as its argument.
 */
typedef struct {
    ngx_uint_t                  method;
    char                       *path;
    ngx_uint_t                  role;       /* least role it needs */
    ngx_http_taskgw_admin_pt    handler;
} ngx_http_taskgw_admin_route_t;


/* The body of POST tokens, decoded. */
typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   role;
    ngx_str_t                   ips;        /* comma list, "" for none */
    ngx_str_t                   rate;
    ngx_str_t                   queues;     /* comma list, "" for none */
} ngx_http_taskgw_admin_token_t;


/* The state of one admin request between its Redis steps. */
typedef struct {
    ngx_str_t                   arg;        /* the route's "*" */
    ngx_str_t                   queue;      /* GET dead */
    ngx_str_t                   token;      /* POST tokens: shown once */
    ngx_str_t                   role;
} ngx_http_taskgw_admin_ctx_t;


static ngx_int_t ngx_http_taskgw_admin_path(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_int_t ngx_http_taskgw_admin_match(char *pattern, ngx_str_t *path,
    ngx_str_t *arg);
static ngx_int_t ngx_http_taskgw_admin_role_check(ngx_http_request_t *r,
    ngx_uint_t role, ngx_int_t *rc);
static ngx_int_t ngx_http_taskgw_admin_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_http_taskgw_jw_t *jw);
static ngx_int_t ngx_http_taskgw_admin_redis(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmd, ngx_http_taskgw_redis_done_pt done);
static ngx_http_taskgw_admin_ctx_t *ngx_http_taskgw_admin_get_ctx(
    ngx_http_request_t *r);
static ngx_str_t *ngx_http_taskgw_admin_who(ngx_http_request_t *r);
static u_char *ngx_http_taskgw_admin_now(ngx_http_request_t *r, size_t *len);

static ngx_int_t ngx_http_taskgw_admin_queues(ngx_http_request_t *r,
    ngx_str_t *arg);
static void ngx_http_taskgw_admin_queues_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_admin_workers(ngx_http_request_t *r,
    ngx_str_t *arg);
static void ngx_http_taskgw_admin_workers_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_admin_dead_list(ngx_http_request_t *r,
    ngx_str_t *arg);
static void ngx_http_taskgw_admin_dead_list_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_admin_dead_replay(ngx_http_request_t *r,
    ngx_str_t *arg);
static ngx_int_t ngx_http_taskgw_admin_dead_purge(ngx_http_request_t *r,
    ngx_str_t *arg);
static void ngx_http_taskgw_admin_dead_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_admin_tokens_list(ngx_http_request_t *r,
    ngx_str_t *arg);
static void ngx_http_taskgw_admin_tokens_list_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_admin_tokens_create(ngx_http_request_t *r,
    ngx_str_t *arg);
static void ngx_http_taskgw_admin_tokens_body(ngx_http_request_t *r);
static void ngx_http_taskgw_admin_tokens_create_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_admin_tokens_revoke(ngx_http_request_t *r,
    ngx_str_t *arg);
static void ngx_http_taskgw_admin_tokens_revoke_done(ngx_http_request_t *r,
    redisReply *reply);

static const char *ngx_http_taskgw_admin_parse_token(ngx_http_request_t *r,
    u_char *p, u_char *last, ngx_http_taskgw_admin_token_t *t);
static const char *ngx_http_taskgw_admin_check_token(
    ngx_http_taskgw_admin_token_t *t);


/*
 * The admin API.  Reads and replays need ops, a purge and everything
 * about tokens need admin (see docs/operations.md).
 */
static ngx_http_taskgw_admin_route_t  ngx_http_taskgw_admin_routes[] = {

    { NGX_HTTP_GET, "queues", NGX_HTTP_TASKGW_ROLE_OPS,
      ngx_http_taskgw_admin_queues },

    { NGX_HTTP_GET, "workers", NGX_HTTP_TASKGW_ROLE_OPS,
      ngx_http_taskgw_admin_workers },

    { NGX_HTTP_GET, "dead", NGX_HTTP_TASKGW_ROLE_OPS,
      ngx_http_taskgw_admin_dead_list },

    { NGX_HTTP_POST, "dead/*/replay", NGX_HTTP_TASKGW_ROLE_OPS,
      ngx_http_taskgw_admin_dead_replay },

    { NGX_HTTP_DELETE, "dead/*", NGX_HTTP_TASKGW_ROLE_ADMIN,
      ngx_http_taskgw_admin_dead_purge },

    { NGX_HTTP_GET, "tokens", NGX_HTTP_TASKGW_ROLE_ADMIN,
      ngx_http_taskgw_admin_tokens_list },

    { NGX_HTTP_POST, "tokens", NGX_HTTP_TASKGW_ROLE_ADMIN,
      ngx_http_taskgw_admin_tokens_create },

    { NGX_HTTP_DELETE, "tokens/*", NGX_HTTP_TASKGW_ROLE_ADMIN,
      ngx_http_taskgw_admin_tokens_revoke },

    { 0, NULL, 0, NULL }
};


static ngx_str_t  ngx_http_taskgw_admin_prios[] = {
    ngx_string("high"),
    ngx_string("normal"),
    ngx_string("low")
};


/*
 * Finds the route: an unknown path is 404, a known path with another
 * method 405 (with the methods it takes in Allow), then the caller's role
 * is checked, and only then the handler runs.
 */

ngx_int_t
ngx_http_taskgw_admin_handler(ngx_http_request_t *r)
{
    u_char                         *p;
    ngx_int_t                       rc;
    ngx_str_t                       path, arg;
    ngx_uint_t                      known;
    ngx_table_elt_t                *h;
    ngx_http_taskgw_admin_route_t  *rt, *found;
    u_char                          allow[sizeof("GET, POST, DELETE")];

    if (ngx_http_taskgw_admin_path(r, &path) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    known = 0;
    found = NULL;
    p = allow;

    for (rt = ngx_http_taskgw_admin_routes; rt->path; rt++) {
        if (ngx_http_taskgw_admin_match(rt->path, &path, &arg) != NGX_OK) {
            continue;
        }

        known = 1;

        if (rt->method == r->method
            || (rt->method == NGX_HTTP_GET && r->method == NGX_HTTP_HEAD))
        {
            found = rt;
            break;
        }

        if (p != allow) {
            p = ngx_cpymem(p, ", ", 2);
        }

        p = ngx_cpymem(p, rt->method == NGX_HTTP_GET ? "GET"
                          : rt->method == NGX_HTTP_POST ? "POST" : "DELETE",
                       rt->method == NGX_HTTP_GET ? 3
                          : rt->method == NGX_HTTP_POST ? 4 : 6);
    }

    if (found == NULL) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (!known) {
            return ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "not_found",
                                              "no such admin endpoint");
        }

        *p = '\0';

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        h->value.len = p - allow;
        h->value.data = ngx_pnalloc(r->pool, h->value.len);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(h->value.data, allow, h->value.len);

        return ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                          "method_not_allowed",
                                          "this endpoint does not take "
                                          "that method");
    }

    if (ngx_http_taskgw_admin_role_check(r, found->role, &rc) != NGX_OK) {
        return rc;
    }

    if (found->method != NGX_HTTP_POST || found->handler
                                 != ngx_http_taskgw_admin_tokens_create)
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return found->handler(r, &arg);
}


/* What follows the location's name, without leading slashes. */

static ngx_int_t
ngx_http_taskgw_admin_path(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    *path = r->uri;

    if (path->len >= clcf->name.len
        && ngx_strncmp(path->data, clcf->name.data, clcf->name.len) == 0)
    {
        path->data += clcf->name.len;
        path->len -= clcf->name.len;
    }

    while (path->len && path->data[0] == '/') {
        path->data++;
        path->len--;
    }

    while (path->len && path->data[path->len - 1] == '/') {
        path->len--;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_admin_match(char *pattern, ngx_str_t *path, ngx_str_t *arg)
{
    u_char  *p, *last, *seg;
    size_t   len;

    p = path->data;
    last = path->data + path->len;

    while (*pattern) {
        seg = p;

        while (p < last && *p != '/') {
            p++;
        }

        len = ngx_strlen(pattern);
        if (ngx_strlchr((u_char *) pattern, (u_char *) pattern + len, '/')) {
            len = (u_char *) ngx_strchr(pattern, '/') - (u_char *) pattern;
        }

        if (len == 1 && pattern[0] == '*') {
            if (p == seg) {
                return NGX_DECLINED;
            }

            arg->data = seg;
            arg->len = p - seg;

        } else if ((size_t) (p - seg) != len
                   || ngx_strncmp(seg, pattern, len) != 0)
        {
            return NGX_DECLINED;
        }

        pattern += len;

        if (*pattern == '/') {
            pattern++;

            if (p == last) {
                return NGX_DECLINED;
            }

            p++;
        }
    }

    return p == last ? NGX_OK : NGX_DECLINED;
}


/*
 * The caller's token and its role come from the access phase (the token
 * check of taskgw_auth).  No token: 401; a token whose role is below what
 * the endpoint needs: 403.  NGX_OK lets the request through; otherwise
 * the error has been sent and *rc is the result for finalize.
 */

static ngx_int_t
ngx_http_taskgw_admin_role_check(ngx_http_request_t *r, ngx_uint_t role,
    ngx_int_t *rc)
{
    ngx_table_elt_t        *h;
    ngx_http_taskgw_ctx_t  *ctx;

    ctx = ngx_http_taskgw_get_ctx(r);
    if (ctx == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (ctx->token_name.len && ctx->role >= role) {
        return NGX_OK;
    }

    *rc = ngx_http_discard_request_body(r);
    if (*rc != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ctx->token_name.len == 0) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_DECLINED;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        ngx_str_set(&h->value, "Bearer");

        *rc = ngx_http_taskgw_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                         "unauthorized",
                                         "a valid token is required");
        return NGX_DECLINED;
    }

    *rc = ngx_http_taskgw_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                     role == NGX_HTTP_TASKGW_ROLE_ADMIN
                                     ? "this endpoint needs an admin token"
                                     : "this endpoint needs an ops token");
    return NGX_DECLINED;
}


static ngx_http_taskgw_admin_ctx_t *
ngx_http_taskgw_admin_get_ctx(ngx_http_request_t *r)
{
    ngx_http_taskgw_ctx_t  *ctx;

    ctx = ngx_http_taskgw_get_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    if (ctx->ops == NULL) {
        ctx->ops = ngx_pcalloc(r->pool, sizeof(ngx_http_taskgw_admin_ctx_t));
    }

    return ctx->ops;
}


static ngx_int_t
ngx_http_taskgw_admin_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_http_taskgw_jw_t *jw)
{
    if (jw->failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_taskgw_send_json(r, status, NULL, jw->start,
                                     jw->pos - jw->start);
}


/* One command; done() finalizes.  Link down: 503 at once. */

static ngx_int_t
ngx_http_taskgw_admin_redis(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmd, ngx_http_taskgw_redis_done_pt done)
{
    if (ngx_http_taskgw_redis_send(r, cmd, 1, done) != NGX_OK) {
        return ngx_http_taskgw_unavailable(r, "redis is unavailable");
    }

    r->main->count++;

    return NGX_DONE;
}


/* Who made a change, for the audit stream: "api:<token name>". */

static ngx_str_t *
ngx_http_taskgw_admin_who(ngx_http_request_t *r)
{
    ngx_str_t              *who;
    ngx_http_taskgw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    who = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (who == NULL) {
        return NULL;
    }

    who->data = ngx_pnalloc(r->pool, sizeof("api:") - 1
                                     + ctx->token_name.len);
    if (who->data == NULL) {
        return NULL;
    }

    who->len = ngx_sprintf(who->data, "api:%V", &ctx->token_name)
               - who->data;

    return who;
}


static u_char *
ngx_http_taskgw_admin_now(ngx_http_request_t *r, size_t *len)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NULL;
    }

    *len = ngx_sprintf(p, "%L", ngx_http_taskgw_now_ms()) - p;

    return p;
}


/* Answers a failed Redis step: 503 when no reply came, 500 on a bad one. */

static void
ngx_http_taskgw_admin_failed(ngx_http_request_t *r, redisReply *reply)
{
    if (reply == NULL) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_unavailable(r, "redis is unavailable"));
        return;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "taskgw: admin: unexpected redis reply%s%*s",
                  reply->type == REDIS_REPLY_ERROR ? ": " : "",
                  reply->type == REDIS_REPLY_ERROR ? (size_t) reply->len : 0,
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "");

    ngx_http_finalize_request(r,
        ngx_http_taskgw_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                   "unavailable",
                                   "unexpected reply from redis"));
}


/* ------------------------------------------------------------------ */
/* GET queues, GET workers                                             */
/* ------------------------------------------------------------------ */


static ngx_int_t
ngx_http_taskgw_admin_queues(ngx_http_request_t *r, ngx_str_t *arg)
{
    if (ngx_http_taskgw_stats_read(r, 1, ngx_http_taskgw_admin_queues_done)
        != NGX_OK)
    {
        return ngx_http_taskgw_unavailable(r, "redis is unavailable");
    }

    r->main->count++;

    return NGX_DONE;
}


static ngx_uint_t
ngx_http_taskgw_admin_stats_ok(redisReply *s)
{
    return s != NULL && s->type == REDIS_REPLY_ARRAY && s->elements == 4
           && s->element[0]->type == REDIS_REPLY_INTEGER
           && s->element[1]->type == REDIS_REPLY_ARRAY
           && s->element[1]->elements % 7 == 0
           && s->element[2]->type == REDIS_REPLY_ARRAY;
}


/*
 * {"queues":[{"name":…,"length":{"high":…,"normal":…,"low":…},
 *  "pending":…,"dead":…,"scheduled":…}],"scheduled":…}: the same figures
 * as taskgwctl queues --json.
 */

static void
ngx_http_taskgw_admin_queues_done(ngx_http_request_t *r, redisReply *reply)
{
    ngx_uint_t             i, k;
    redisReply            *q;
    ngx_http_taskgw_jw_t   jw;

    if (!ngx_http_taskgw_admin_stats_ok(reply)) {
        ngx_http_taskgw_admin_failed(r, reply);
        return;
    }

    q = reply->element[1];

    ngx_http_taskgw_jw_init(&jw, r->pool);
    ngx_http_taskgw_jw_open(&jw, '{');
    ngx_http_taskgw_jw_key(&jw, "queues");
    ngx_http_taskgw_jw_open(&jw, '[');

    for (i = 0; i < q->elements; i += 7) {
        ngx_http_taskgw_jw_open(&jw, '{');
        ngx_http_taskgw_jw_key(&jw, "name");
        ngx_http_taskgw_jw_str(&jw, (u_char *) q->element[i]->str,
                               q->element[i]->len);
        ngx_http_taskgw_jw_key(&jw, "length");
        ngx_http_taskgw_jw_open(&jw, '{');

        for (k = 0; k < 3; k++) {
            ngx_http_taskgw_jw_key(&jw,
                             (char *) ngx_http_taskgw_admin_prios[k].data);
            ngx_http_taskgw_jw_int(&jw, q->element[i + 1 + k]->integer);
        }

        ngx_http_taskgw_jw_close(&jw, '}');
        ngx_http_taskgw_jw_key(&jw, "pending");
        ngx_http_taskgw_jw_int(&jw, q->element[i + 4]->integer);
        ngx_http_taskgw_jw_key(&jw, "dead");
        ngx_http_taskgw_jw_int(&jw, q->element[i + 5]->integer);
        ngx_http_taskgw_jw_key(&jw, "scheduled");
        ngx_http_taskgw_jw_int(&jw, q->element[i + 6]->integer);
        ngx_http_taskgw_jw_close(&jw, '}');
    }

    ngx_http_taskgw_jw_close(&jw, ']');
    ngx_http_taskgw_jw_key(&jw, "scheduled");
    ngx_http_taskgw_jw_int(&jw, reply->element[0]->integer);
    ngx_http_taskgw_jw_close(&jw, '}');

    ngx_http_finalize_request(r,
                              ngx_http_taskgw_admin_send(r, NGX_HTTP_OK, &jw));
}


static ngx_int_t
ngx_http_taskgw_admin_workers(ngx_http_request_t *r, ngx_str_t *arg)
{
    if (ngx_http_taskgw_stats_read(r, 0, ngx_http_taskgw_admin_workers_done)
        != NGX_OK)
    {
        return ngx_http_taskgw_unavailable(r, "redis is unavailable");
    }

    r->main->count++;

    return NGX_DONE;
}


/* {"workers":[<heartbeat>,…]}: each live worker's heartbeat as it wrote it. */

static void
ngx_http_taskgw_admin_workers_done(ngx_http_request_t *r, redisReply *reply)
{
    ngx_uint_t             i;
    redisReply            *w, *hb;
    ngx_http_taskgw_jw_t   jw;

    if (!ngx_http_taskgw_admin_stats_ok(reply)) {
        ngx_http_taskgw_admin_failed(r, reply);
        return;
    }

    w = reply->element[2];

    ngx_http_taskgw_jw_init(&jw, r->pool);
    ngx_http_taskgw_jw_open(&jw, '{');
    ngx_http_taskgw_jw_key(&jw, "workers");
    ngx_http_taskgw_jw_open(&jw, '[');

    for (i = 0; i < w->elements; i++) {
        hb = w->element[i];

        if (hb->type != REDIS_REPLY_STRING) {
            continue;
        }

        /* written by a worker, but only valid JSON is passed on as JSON */

        if (ngx_http_taskgw_json_valid((u_char *) hb->str, hb->len)
            == NGX_OK)
        {
            ngx_http_taskgw_jw_value(&jw, (u_char *) hb->str, hb->len);

        } else {
            ngx_http_taskgw_jw_str(&jw, (u_char *) hb->str, hb->len);
        }
    }

    ngx_http_taskgw_jw_close(&jw, ']');
    ngx_http_taskgw_jw_close(&jw, '}');

    ngx_http_finalize_request(r,
                              ngx_http_taskgw_admin_send(r, NGX_HTTP_OK, &jw));
}


/* ------------------------------------------------------------------ */
/* Dead-letter queues                                                  */
/* ------------------------------------------------------------------ */


/* GET dead?queue=Q&limit=N: the newest N entries of Q's dead letters. */

static ngx_int_t
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


static ngx_int_t
ngx_http_taskgw_admin_dead_replay(ngx_http_request_t *r, ngx_str_t *arg)
{
    return ngx_http_taskgw_admin_dead_script(r, arg, tgw_lua_dead_replay,
                                             sizeof(tgw_lua_dead_replay) - 1);
}


static ngx_int_t
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


/* ------------------------------------------------------------------ */
/* Run-time tokens                                                     */
/* ------------------------------------------------------------------ */


static ngx_int_t
ngx_http_taskgw_admin_tokens_list(ngx_http_request_t *r, ngx_str_t *arg)
{
    ngx_http_taskgw_redis_cmd_t   cmd;
    ngx_http_taskgw_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "EVAL", 4);
    ngx_http_taskgw_redis_cmd_arg(&cmd, tgw_lua_token_list,
                                  sizeof(tgw_lua_token_list) - 1);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "0", 1);
    ngx_http_taskgw_redis_cmd_arg(&cmd, tmcf->prefix.data, tmcf->prefix.len);

    return ngx_http_taskgw_admin_redis(r, &cmd,
                                       ngx_http_taskgw_admin_tokens_list_done);
}


/*
 * {"tokens":[{"name":…,"role":…,"ips":…,"rate":…,"queues":…,
 * "created_at":…,"disabled":false}]}; the digests are never shown.
 */

static void
ngx_http_taskgw_admin_tokens_list_done(ngx_http_request_t *r,
    redisReply *reply)
{
    int64_t                ms;
    ngx_uint_t             i, k;
    redisReply           **f;
    ngx_http_taskgw_jw_t   jw;
    u_char                 iso[sizeof("2026-11-23T10:00:00.123Z")];

    static char  *names[] = { "name", "role", "ips", "rate", "queues" };

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements % 7 != 0)
    {
        ngx_http_taskgw_admin_failed(r, reply);
        return;
    }

    ngx_http_taskgw_jw_init(&jw, r->pool);
    ngx_http_taskgw_jw_open(&jw, '{');
    ngx_http_taskgw_jw_key(&jw, "tokens");
    ngx_http_taskgw_jw_open(&jw, '[');

    for (i = 0; i < reply->elements; i += 7) {
        f = &reply->element[i];

        for (k = 0; k < 7; k++) {
            if (f[k]->type != REDIS_REPLY_STRING) {
                break;
            }
        }

        if (k < 7) {
            continue;
        }

        ngx_http_taskgw_jw_open(&jw, '{');

        for (k = 0; k < 5; k++) {
            ngx_http_taskgw_jw_key(&jw, names[k]);

            if (f[k]->len == 0 && k >= 2) {
                ngx_http_taskgw_jw_value(&jw, (u_char *) "null", 4);
            } else {
                ngx_http_taskgw_jw_str(&jw, (u_char *) f[k]->str, f[k]->len);
            }
        }

        ngx_http_taskgw_jw_key(&jw, "created_at");
        ms = ngx_atoof((u_char *) f[5]->str, f[5]->len);

        if (ms > 0) {
            ngx_http_taskgw_jw_str(&jw, iso,
                                   ngx_http_taskgw_iso_time(iso, ms) - iso);
        } else {
            ngx_http_taskgw_jw_value(&jw, (u_char *) "null", 4);
        }

        ngx_http_taskgw_jw_key(&jw, "disabled");
        ngx_http_taskgw_jw_value(&jw,
                                 (f[6]->len == 0
                                  || (f[6]->len == 1 && f[6]->str[0] == '0'))
                                 ? (u_char *) "false" : (u_char *) "true",
                                 (f[6]->len == 0
                                  || (f[6]->len == 1 && f[6]->str[0] == '0'))
                                 ? 5 : 4);
        ngx_http_taskgw_jw_close(&jw, '}');
    }

    ngx_http_taskgw_jw_close(&jw, ']');
    ngx_http_taskgw_jw_close(&jw, '}');

    ngx_http_finalize_request(r,
                              ngx_http_taskgw_admin_send(r, NGX_HTTP_OK, &jw));
}


static ngx_int_t
ngx_http_taskgw_admin_tokens_create(ngx_http_request_t *r, ngx_str_t *arg)
{
    ngx_int_t  rc;

    if (r->headers_in.content_length_n > NGX_HTTP_TASKGW_ADMIN_BODY_MAX) {
        (void) ngx_http_discard_request_body(r);
        return ngx_http_taskgw_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "too_large",
                                          "a token request is a small JSON "
                                          "object");
    }

    rc = ngx_http_read_client_request_body(r,
                                         ngx_http_taskgw_admin_tokens_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * POST tokens: {"name","role","ips","rate","queues"} is checked with the
 * token file's rules, then a token is drawn (tgw_ and 43 base64url
 * characters of 32 random bytes), only its SHA-256 is stored, and the
 * token itself is shown in the 201 reply, this once.
 */

static void
ngx_http_taskgw_admin_tokens_body(ngx_http_request_t *r)
{
    u_char                         *body, *p, *key, *now;
    size_t                          len, nlen = 0;
    ngx_str_t                       src, *who;
    ngx_chain_t                    *cl;
    const char                     *err;
    ngx_http_taskgw_admin_ctx_t    *actx;
    ngx_http_taskgw_redis_cmd_t     cmd;
    ngx_http_taskgw_main_conf_t    *tmcf;
    ngx_http_taskgw_admin_token_t   t;
    u_char                          rnd[NGX_HTTP_TASKGW_TOKEN_RANDOM];
    u_char                          digest[SHA256_DIGEST_LENGTH];
    u_char                          hex[2 * SHA256_DIGEST_LENGTH];

    if (r->request_body == NULL || r->request_body->temp_file) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "too_large",
                                       "a token request is a small JSON "
                                       "object"));
        return;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    if (len > NGX_HTTP_TASKGW_ADMIN_BODY_MAX) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "too_large",
                                       "a token request is a small JSON "
                                       "object"));
        return;
    }

    body = ngx_pnalloc(r->pool, len + 1);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = body;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    if (ngx_http_taskgw_json_valid(body, len) != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_json",
                                       "the body is not one valid JSON "
                                       "value"));
        return;
    }

    err = ngx_http_taskgw_admin_parse_token(r, body, body + len, &t);
    if (err == NULL) {
        err = ngx_http_taskgw_admin_check_token(&t);
    }

    if (err != NULL) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "bad_request", err));
        return;
    }

    actx = ngx_http_taskgw_admin_get_ctx(r);
    who = ngx_http_taskgw_admin_who(r);
    now = ngx_http_taskgw_admin_now(r, &nlen);

    actx->token.data = ngx_pnalloc(r->pool, 4 + ngx_base64_encoded_length(
                                               NGX_HTTP_TASKGW_TOKEN_RANDOM));
    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);
    key = ngx_pnalloc(r->pool, 3 * tmcf->prefix.len + sizeof(":token:") - 1
                               + sizeof(hex) + sizeof(":tokens:audit"));

    if (actx == NULL || who == NULL || now == NULL
        || actx->token.data == NULL || key == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t) sizeof(rnd)) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      "taskgw: getrandom() failed");
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(actx->token.data, "tgw_", 4);
    actx->token.data += 4;
    src.data = rnd;
    src.len = sizeof(rnd);
    ngx_encode_base64url(&actx->token, &src);
    actx->token.data -= 4;
    actx->token.len += 4;
    ngx_explicit_memzero(rnd, sizeof(rnd));

    (void) SHA256(actx->token.data, actx->token.len, digest);
    (void) ngx_hex_dump(hex, digest, sizeof(digest));

    actx->role = t.role;

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "EVAL", 4);
    ngx_http_taskgw_redis_cmd_arg(&cmd, tgw_lua_token_create,
                                  sizeof(tgw_lua_token_create) - 1);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "3", 1);

    p = ngx_sprintf(key, "%V:token:", &tmcf->prefix);
    p = ngx_cpymem(p, hex, sizeof(hex));
    ngx_http_taskgw_redis_cmd_arg(&cmd, key, p - key);
    key = p;
    p = ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_TOKENS, &tmcf->prefix);
    ngx_http_taskgw_redis_cmd_arg(&cmd, key, p - key);
    key = p;
    p = ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_AUDIT, &tmcf->prefix);
    ngx_http_taskgw_redis_cmd_arg(&cmd, key, p - key);

    ngx_http_taskgw_redis_cmd_arg(&cmd, t.name.data, t.name.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, t.role.data, t.role.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, t.ips.data, t.ips.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, t.rate.data, t.rate.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, t.queues.data, t.queues.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, now, nlen);
    ngx_http_taskgw_redis_cmd_arg(&cmd, hex, sizeof(hex));
    ngx_http_taskgw_redis_cmd_arg(&cmd, who->data, who->len);

    actx->arg = t.name;

    if (ngx_http_taskgw_redis_send(r, &cmd, 1,
                                   ngx_http_taskgw_admin_tokens_create_done)
        != NGX_OK)
    {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_unavailable(r, "redis is unavailable"));
        return;
    }

    /* the body reader's count is ours now: the reply finalizes it */
}


static void
ngx_http_taskgw_admin_tokens_create_done(ngx_http_request_t *r,
    redisReply *reply)
{
    ngx_http_taskgw_jw_t          jw;
    ngx_http_taskgw_admin_ctx_t  *actx;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_taskgw_admin_failed(r, reply);
        return;
    }

    actx = ngx_http_taskgw_admin_get_ctx(r);

    if (reply->integer == 0) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_CONFLICT, "conflict",
                                       "a token with this name exists"));
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "taskgw: admin: token \"%V\" created", &actx->arg);

    ngx_http_taskgw_jw_init(&jw, r->pool);
    ngx_http_taskgw_jw_open(&jw, '{');
    ngx_http_taskgw_jw_key(&jw, "name");
    ngx_http_taskgw_jw_str(&jw, actx->arg.data, actx->arg.len);
    ngx_http_taskgw_jw_key(&jw, "role");
    ngx_http_taskgw_jw_str(&jw, actx->role.data, actx->role.len);
    ngx_http_taskgw_jw_key(&jw, "token");
    ngx_http_taskgw_jw_str(&jw, actx->token.data, actx->token.len);
    ngx_http_taskgw_jw_close(&jw, '}');

    ngx_http_finalize_request(r,
                              ngx_http_taskgw_admin_send(r, NGX_HTTP_CREATED,
                                                         &jw));
}


static ngx_int_t
ngx_http_taskgw_admin_tokens_revoke(ngx_http_request_t *r, ngx_str_t *arg)
{
    u_char                       *key, *p, *now;
    size_t                        nlen = 0;
    ngx_str_t                    *who;
    ngx_http_taskgw_admin_ctx_t  *actx;
    ngx_http_taskgw_redis_cmd_t   cmd;
    ngx_http_taskgw_main_conf_t  *tmcf;

    if (ngx_http_taskgw_valid_name(arg, NGX_HTTP_TASKGW_TOKEN_NAME_MAX, 0)
        != NGX_OK)
    {
        return ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                          "no run-time token with this "
                                          "name");
    }

    actx = ngx_http_taskgw_admin_get_ctx(r);
    who = ngx_http_taskgw_admin_who(r);
    now = ngx_http_taskgw_admin_now(r, &nlen);

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);
    key = ngx_pnalloc(r->pool, 2 * tmcf->prefix.len
                               + sizeof(":tokens:audit") - 1);

    if (actx == NULL || who == NULL || now == NULL || key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    actx->arg = *arg;

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "EVAL", 4);
    ngx_http_taskgw_redis_cmd_arg(&cmd, tgw_lua_token_revoke,
                                  sizeof(tgw_lua_token_revoke) - 1);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "2", 1);

    p = ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_TOKENS, &tmcf->prefix);
    ngx_http_taskgw_redis_cmd_arg(&cmd, key, p - key);
    key = p;
    p = ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_AUDIT, &tmcf->prefix);
    ngx_http_taskgw_redis_cmd_arg(&cmd, key, p - key);

    ngx_http_taskgw_redis_cmd_arg(&cmd, arg->data, arg->len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, tmcf->prefix.data, tmcf->prefix.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, now, nlen);
    ngx_http_taskgw_redis_cmd_arg(&cmd, who->data, who->len);

    return ngx_http_taskgw_admin_redis(r, &cmd,
                                     ngx_http_taskgw_admin_tokens_revoke_done);
}


static void
ngx_http_taskgw_admin_tokens_revoke_done(ngx_http_request_t *r,
    redisReply *reply)
{
    ngx_http_taskgw_jw_t          jw;
    ngx_http_taskgw_admin_ctx_t  *actx;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_taskgw_admin_failed(r, reply);
        return;
    }

    if (reply->integer == 0) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no run-time token with this name"));
        return;
    }

    actx = ngx_http_taskgw_admin_get_ctx(r);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "taskgw: admin: token \"%V\" revoked", &actx->arg);

    ngx_http_taskgw_jw_init(&jw, r->pool);
    ngx_http_taskgw_jw_open(&jw, '{');
    ngx_http_taskgw_jw_key(&jw, "name");
    ngx_http_taskgw_jw_str(&jw, actx->arg.data, actx->arg.len);
    ngx_http_taskgw_jw_key(&jw, "status");
    ngx_http_taskgw_jw_cstr(&jw, "revoked");
    ngx_http_taskgw_jw_close(&jw, '}');

    ngx_http_finalize_request(r,
                              ngx_http_taskgw_admin_send(r, NGX_HTTP_OK, &jw));
}


/* ------------------------------------------------------------------ */
/* The body of POST tokens                                             */
/* ------------------------------------------------------------------ */

/*
 * A JSON string at *pp (already known to be valid JSON), decoded into the
 * pool.  Every value a token takes is printable ASCII, so an escape of
 * anything else makes the value invalid (NULL).
 */

static u_char *
ngx_http_taskgw_admin_json_str(ngx_pool_t *pool, u_char **pp, u_char *last,
    size_t *len)
{
    u_char      *p, *dst, *out;
    ngx_uint_t   c, i, bad;

    p = *pp + 1;
    out = ngx_pnalloc(pool, last - p + 1);
    if (out == NULL) {
        return NULL;
    }

    dst = out;
    bad = 0;

    while (p < last && *p != '"') {
        if (*p != '\\') {
            if (*p < 0x20 || *p >= 0x7f) {
                bad = 1;
            }
            *dst++ = *p++;
            continue;
        }

        p++;

        switch (*p) {
        case 'u':
            c = 0;
            for (i = 1; i <= 4; i++) {
                c = c * 16 + (ngx_hextoi(p + i, 1) & 0xf);
            }
            p += 5;
            if (c < 0x20 || c >= 0x7f) {
                bad = 1;
            }
            *dst++ = (u_char) c;
            continue;

        case '"':
        case '\\':
        case '/':
            *dst++ = *p++;
            continue;

        default:
            bad = 1;
            p++;
        }
    }

    *pp = p + 1;
    *len = dst - out;

    return bad ? (u_char *) "" : out;
}


static void
ngx_http_taskgw_admin_ws(u_char **pp, u_char *last)
{
    while (*pp < last
           && (**pp == ' ' || **pp == '\t' || **pp == '\n' || **pp == '\r'))
    {
        (*pp)++;
    }
}


/*
 * The body is a JSON object with string members name, role, rate, and
 * ips and queues as strings (comma lists) or arrays of strings.  Errors
 * are messages for the client.
 */

static const char *
ngx_http_taskgw_admin_parse_token(ngx_http_request_t *r, u_char *p,
    u_char *last, ngx_http_taskgw_admin_token_t *t)
{
    u_char      *s, *d;
    size_t       len;
    ngx_str_t   *field, key;
    ngx_uint_t   list, n;

    ngx_memzero(t, sizeof(ngx_http_taskgw_admin_token_t));

    ngx_http_taskgw_admin_ws(&p, last);

    if (p == last || *p != '{') {
        return "the body must be a JSON object";
    }

    p++;

    for ( ;; ) {
        ngx_http_taskgw_admin_ws(&p, last);

        if (p < last && *p == '}') {
            break;
        }

        if (p < last && *p == ',') {
            p++;
            ngx_http_taskgw_admin_ws(&p, last);
        }

        key.data = ngx_http_taskgw_admin_json_str(r->pool, &p, last,
                                                  &key.len);
        if (key.data == NULL) {
            return "out of memory";
        }

        ngx_http_taskgw_admin_ws(&p, last);
        p++;                                   /* ':' */
        ngx_http_taskgw_admin_ws(&p, last);

        list = 0;

        if (key.len == 4 && ngx_strncmp(key.data, "name", 4) == 0) {
            field = &t->name;
        } else if (key.len == 4 && ngx_strncmp(key.data, "role", 4) == 0) {
            field = &t->role;
        } else if (key.len == 4 && ngx_strncmp(key.data, "rate", 4) == 0) {
            field = &t->rate;
        } else if (key.len == 3 && ngx_strncmp(key.data, "ips", 3) == 0) {
            field = &t->ips;
            list = 1;
        } else if (key.len == 6 && ngx_strncmp(key.data, "queues", 6) == 0) {
            field = &t->queues;
            list = 1;
        } else {
            return "unknown member: the members are name, role, ips, rate "
                   "and queues";
        }

        if (field->data != NULL) {
            return "a member is repeated";
        }

        if (*p == 'n') {                       /* null: not set */
            p += 4;
            ngx_str_set(field, "");
            continue;
        }

        if (*p == '"') {
            field->data = ngx_http_taskgw_admin_json_str(r->pool, &p, last,
                                                         &field->len);
            if (field->data == NULL) {
                return "out of memory";
            }

            if (field->data[0] == '\0' && field->len) {
                return "values must be printable ASCII";
            }

            continue;
        }

        if (*p != '[' || !list) {
            return list ? "ips and queues are strings or arrays of strings"
                        : "name, role and rate are strings";
        }

        /* an array of strings becomes the comma list the token file uses */

        p++;
        d = ngx_pnalloc(r->pool, last - p + 1);
        if (d == NULL) {
            return "out of memory";
        }

        field->data = d;
        n = 0;

        for ( ;; ) {
            ngx_http_taskgw_admin_ws(&p, last);

            if (*p == ']') {
                p++;
                break;
            }

            if (*p == ',') {
                p++;
                ngx_http_taskgw_admin_ws(&p, last);
            }

            if (*p != '"') {
                return "ips and queues are strings or arrays of strings";
            }

            s = ngx_http_taskgw_admin_json_str(r->pool, &p, last, &len);
            if (s == NULL) {
                return "out of memory";
            }

            if ((s[0] == '\0' && len) || len == 0
                || ngx_strlchr(s, s + len, ','))
            {
                return "an item of ips or queues is empty or not printable";
            }

            if (n++) {
                *d++ = ',';
            }

            d = ngx_cpymem(d, s, len);
        }

        field->len = d - field->data;
    }

    if (t->name.data == NULL || t->role.data == NULL) {
        return "name and role are required";
    }

    if (t->ips.data == NULL) {
        ngx_str_set(&t->ips, "");
    }

    if (t->rate.data == NULL) {
        ngx_str_set(&t->rate, "");
    }

    if (t->queues.data == NULL) {
        ngx_str_set(&t->queues, "");
    }

    return NULL;
}


/*
 * The token file's rules: a name of 1-64 [A-Za-z0-9._-], a role of dev,
 * ops or admin, ips a comma list of addresses or CIDR ranges, rate
 * Nr/s or Nr/m, queues a comma list of queue names.
 */

static const char *
ngx_http_taskgw_admin_check_token(ngx_http_taskgw_admin_token_t *t)
{
    u_char      *p, *last, *item;
    ngx_str_t    s;
    ngx_int_t    n;
    ngx_cidr_t   cidr;

    if (ngx_http_taskgw_valid_name(&t->name, NGX_HTTP_TASKGW_TOKEN_NAME_MAX,
                                   0)
        != NGX_OK)
    {
        return "name must be 1-64 characters of A-Z a-z 0-9 . _ -";
    }

    if (!((t->role.len == 3 && ngx_strncmp(t->role.data, "dev", 3) == 0)
          || (t->role.len == 3 && ngx_strncmp(t->role.data, "ops", 3) == 0)
          || (t->role.len == 5 && ngx_strncmp(t->role.data, "admin", 5) == 0)))
    {
        return "role must be \"dev\", \"ops\" or \"admin\"";
    }

    if (t->ips.len > NGX_HTTP_TASKGW_ADMIN_OPT_MAX
        || t->queues.len > NGX_HTTP_TASKGW_ADMIN_OPT_MAX)
    {
        return "ips or queues is too long";
    }

    for (p = t->ips.data, last = p + t->ips.len; p < last; p++) {
        item = p;

        while (p < last && *p != ',') {
            p++;
        }

        s.data = item;
        s.len = p - item;

        if (s.len == 0 || ngx_ptocidr(&s, &cidr) == NGX_ERROR) {
            return "ips must be a comma list of addresses or CIDR ranges";
        }
    }

    for (p = t->queues.data, last = p + t->queues.len; p < last; p++) {
        item = p;

        while (p < last && *p != ',') {
            p++;
        }

        s.data = item;
        s.len = p - item;

        if (ngx_http_taskgw_valid_name(&s, NGX_HTTP_TASKGW_QUEUE_MAX, 0)
            != NGX_OK)
        {
            return "queues must be a comma list of queue names";
        }
    }

    if (t->rate.len) {
        if (t->rate.len < 4
            || t->rate.data[t->rate.len - 3] != 'r'
            || t->rate.data[t->rate.len - 2] != '/'
            || (t->rate.data[t->rate.len - 1] != 's'
                && t->rate.data[t->rate.len - 1] != 'm'))
        {
            return "rate must be Nr/s or Nr/m";
        }

        n = ngx_atoi(t->rate.data, t->rate.len - 3);
        if (n <= 0 || n > 1000000) {
            return "rate must be Nr/s or Nr/m";
        }
    }

    return NULL;
}
