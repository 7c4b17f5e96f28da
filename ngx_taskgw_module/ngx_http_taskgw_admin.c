
/*
 * ngx_http_taskgw_admin: the JSON admin API of taskgw_admin: one route
 * table (method, path, least role, handler), the helpers its handlers
 * share, and the queues and workers routes (dead letters:
 * ngx_http_taskgw_admin_dead.c, tokens: ngx_http_taskgw_admin_tokens.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_ops.h"
#include "ngx_http_taskgw_json.h"
#include "ngx_http_taskgw_admin.h"


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


static ngx_int_t ngx_http_taskgw_admin_path(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_int_t ngx_http_taskgw_admin_match(char *pattern, ngx_str_t *path,
    ngx_str_t *arg);
static ngx_int_t ngx_http_taskgw_admin_role_check(ngx_http_request_t *r,
    ngx_uint_t role, ngx_int_t *rc);

static ngx_int_t ngx_http_taskgw_admin_queues(ngx_http_request_t *r,
    ngx_str_t *arg);
static void ngx_http_taskgw_admin_queues_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_admin_workers(ngx_http_request_t *r,
    ngx_str_t *arg);
static void ngx_http_taskgw_admin_workers_done(ngx_http_request_t *r,
    redisReply *reply);


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


ngx_http_taskgw_admin_ctx_t *
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


ngx_int_t
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

ngx_int_t
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

ngx_str_t *
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


u_char *
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

void
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
 * {"queues":[{"name":…,
 *  "length":{"high":…,"normal":…,"low":…},
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


/* {"workers":[<heartbeat>,…]}: each live worker's heartbeat as it
 * wrote it. */

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
