
/*
 * ngx_http_taskgw_stats: the deployment's figures (queues, workers), read
 * from Redis without blocking, for taskgw_metrics and taskgw_admin.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_ops.h"
#include "tgw_lua.h"


/* keys a SCAN step looks at; small enough that Redis is never held long */
#define NGX_HTTP_TASKGW_SCAN_COUNT         "1000"
#define NGX_HTTP_TASKGW_WORKER_NAME_MAX    255


/* A scan of the keyspace for queue and worker names, then one script. */
typedef struct {
    ngx_array_t                 queues;     /* ngx_str_t, distinct */
    ngx_array_t                 workers;    /* ngx_str_t, distinct */
    ngx_str_t                   match;      /* SCAN MATCH pattern */
    u_char                      cursor[NGX_INT64_LEN + 1];
    size_t                      cursor_len;
    ngx_uint_t                  per_queue;  /* scheduled per queue */
    ngx_http_taskgw_redis_done_pt  done;
} ngx_http_taskgw_stats_t;


static ngx_int_t ngx_http_taskgw_stats_scan(ngx_http_request_t *r,
    ngx_http_taskgw_stats_t *st);
static void ngx_http_taskgw_stats_page(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_stats_add(ngx_http_request_t *r,
    ngx_array_t *a, u_char *p, size_t len);
static ngx_int_t ngx_http_taskgw_stats_eval(ngx_http_request_t *r,
    ngx_http_taskgw_stats_t *st);
static u_char *ngx_http_taskgw_stats_join(ngx_pool_t *pool, ngx_array_t *a,
    size_t *len);


/* ------------------------------------------------------------------ */
/* The deployment's figures, from Redis, without blocking              */
/* ------------------------------------------------------------------ */

/*
 * Reads the figures of every queue and worker: SCAN steps over the keys
 * "<prefix>:[dqw]*" (queue streams, dead-letter streams, heartbeats)
 * collect their names, one reply per step, so neither nginx nor Redis is
 * held while a large keyspace is walked; then one EVAL of the stats
 * script (worker/common/lua/stats.lua) reads them all.  done() gets the
 * script's reply, or NULL when Redis failed on the way.  NGX_OK: done()
 * will be called (the caller holds the request: r->main->count++);
 * NGX_ERROR: the link is down and nothing was sent.
 */

ngx_int_t
ngx_http_taskgw_stats_read(ngx_http_request_t *r, ngx_uint_t per_queue,
    ngx_http_taskgw_redis_done_pt done)
{
    u_char                       *p;
    ngx_uint_t                    i;
    ngx_http_taskgw_ctx_t        *ctx;
    ngx_http_taskgw_stats_t      *st;
    ngx_http_taskgw_main_conf_t  *tmcf;

    ctx = ngx_http_taskgw_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    st = ngx_pcalloc(r->pool, sizeof(ngx_http_taskgw_stats_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&st->queues, r->pool, 8, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&st->workers, r->pool, 8, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    /* the prefix is matched literally: glob characters are escaped */

    p = ngx_pnalloc(r->pool, 2 * tmcf->prefix.len + sizeof(":[dqw]*") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    st->match.data = p;

    for (i = 0; i < tmcf->prefix.len; i++) {
        if (ngx_strchr("*?[]\\", tmcf->prefix.data[i]) != NULL) {
            *p++ = '\\';
        }
        *p++ = tmcf->prefix.data[i];
    }

    p = ngx_cpymem(p, ":[dqw]*", sizeof(":[dqw]*") - 1);
    st->match.len = p - st->match.data;

    st->cursor[0] = '0';
    st->cursor_len = 1;
    st->per_queue = per_queue;
    st->done = done;

    ctx->ops = st;

    return ngx_http_taskgw_stats_scan(r, st);
}


static ngx_int_t
ngx_http_taskgw_stats_scan(ngx_http_request_t *r, ngx_http_taskgw_stats_t *st)
{
    ngx_http_taskgw_redis_cmd_t   cmd;

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "SCAN", 4);
    ngx_http_taskgw_redis_cmd_arg(&cmd, st->cursor, st->cursor_len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "MATCH", 5);
    ngx_http_taskgw_redis_cmd_arg(&cmd, st->match.data, st->match.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "COUNT", 5);
    ngx_http_taskgw_redis_cmd_arg(&cmd, NGX_HTTP_TASKGW_SCAN_COUNT,
                                  sizeof(NGX_HTTP_TASKGW_SCAN_COUNT) - 1);

    return ngx_http_taskgw_redis_send(r, &cmd, 1,
                                      ngx_http_taskgw_stats_page);
}


/*
 * One SCAN step: "<prefix>:q:<queue>:<priority>" and "<prefix>:dead:<queue>"
 * name a queue, "<prefix>:worker:<name>" a worker; anything else that
 * matched the pattern is not ours and is skipped.
 */

static void
ngx_http_taskgw_stats_page(ngx_http_request_t *r, redisReply *reply)
{
    u_char                       *p, *last, *colon;
    size_t                        plen;
    ngx_str_t                     name, *pr;
    ngx_uint_t                    i, k;
    redisReply                   *keys, *key;
    ngx_http_taskgw_ctx_t        *ctx;
    ngx_http_taskgw_stats_t      *st;
    ngx_http_taskgw_main_conf_t  *tmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);
    st = ctx->ops;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[0]->len > NGX_INT64_LEN
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        st->done(r, NULL);
        return;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);
    plen = tmcf->prefix.len + 1;

    keys = reply->element[1];

    for (i = 0; i < keys->elements; i++) {
        key = keys->element[i];

        if (key->type != REDIS_REPLY_STRING || key->len <= plen) {
            continue;
        }

        p = (u_char *) key->str + plen;
        last = (u_char *) key->str + key->len;

        if (last - p > 2 && ngx_strncmp(p, "q:", 2) == 0) {
            p += 2;

            for (colon = last - 1; colon > p && *colon != ':'; colon--) {
                /* void */
            }

            for (k = 0; k < 3; k++) {
                pr = &ngx_http_taskgw_priorities[k];

                if ((size_t) (last - colon - 1) == pr->len
                    && ngx_strncmp(colon + 1, pr->data, pr->len) == 0)
                {
                    break;
                }
            }

            if (colon == p || k == 3) {
                continue;
            }

            name.data = p;
            name.len = colon - p;

        } else if (last - p > 5 && ngx_strncmp(p, "dead:", 5) == 0) {
            name.data = p + 5;
            name.len = last - p - 5;

        } else if (last - p > 7 && ngx_strncmp(p, "worker:", 7) == 0) {
            name.data = p + 7;
            name.len = last - p - 7;

            if (name.len > NGX_HTTP_TASKGW_WORKER_NAME_MAX
                || ngx_strlchr(name.data, name.data + name.len, '\n'))
            {
                continue;
            }

            if (ngx_http_taskgw_stats_add(r, &st->workers, name.data,
                                          name.len)
                != NGX_OK)
            {
                st->done(r, NULL);
                return;
            }

            continue;

        } else {
            continue;
        }

        if (ngx_http_taskgw_valid_name(&name, NGX_HTTP_TASKGW_QUEUE_MAX, 0)
            != NGX_OK)
        {
            continue;
        }

        if (ngx_http_taskgw_stats_add(r, &st->queues, name.data, name.len)
            != NGX_OK)
        {
            st->done(r, NULL);
            return;
        }
    }

    st->cursor_len = reply->element[0]->len;
    ngx_memcpy(st->cursor, reply->element[0]->str, st->cursor_len);

    if (st->cursor_len == 1 && st->cursor[0] == '0') {
        if (ngx_http_taskgw_stats_eval(r, st) != NGX_OK) {
            st->done(r, NULL);
        }

        return;
    }

    if (ngx_http_taskgw_stats_scan(r, st) != NGX_OK) {
        st->done(r, NULL);
    }
}


/* Adds a copy of p[0..len) to a list of names, unless it is there. */

static ngx_int_t
ngx_http_taskgw_stats_add(ngx_http_request_t *r, ngx_array_t *a, u_char *p,
    size_t len)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    s = a->elts;

    for (i = 0; i < a->nelts; i++) {
        if (s[i].len == len && ngx_memcmp(s[i].data, p, len) == 0) {
            return NGX_OK;
        }
    }

    s = ngx_array_push(a);
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->data = ngx_pstrdup(r->pool, &(ngx_str_t) { len, p });
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    s->len = len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_stats_eval(ngx_http_request_t *r, ngx_http_taskgw_stats_t *st)
{
    u_char                       *queues, *workers;
    size_t                        qlen, wlen;
    ngx_http_taskgw_redis_cmd_t   cmd;
    ngx_http_taskgw_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    queues = ngx_http_taskgw_stats_join(r->pool, &st->queues, &qlen);
    workers = ngx_http_taskgw_stats_join(r->pool, &st->workers, &wlen);

    if (queues == NULL || workers == NULL) {
        return NGX_ERROR;
    }

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "EVAL", 4);
    ngx_http_taskgw_redis_cmd_arg(&cmd, tgw_lua_stats,
                                  sizeof(tgw_lua_stats) - 1);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "0", 1);
    ngx_http_taskgw_redis_cmd_arg(&cmd, tmcf->prefix.data, tmcf->prefix.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, queues, qlen);
    ngx_http_taskgw_redis_cmd_arg(&cmd, workers, wlen);
    ngx_http_taskgw_redis_cmd_arg(&cmd, st->per_queue ? "1" : "0", 1);

    return ngx_http_taskgw_redis_send(r, &cmd, 1, st->done);
}


/* The names of a list, "\n"-separated, for the script's ARGV. */

static u_char *
ngx_http_taskgw_stats_join(ngx_pool_t *pool, ngx_array_t *a, size_t *len)
{
    u_char      *buf, *p;
    size_t       n;
    ngx_str_t   *s;
    ngx_uint_t   i;

    s = a->elts;
    n = 1;

    for (i = 0; i < a->nelts; i++) {
        n += s[i].len + 1;
    }

    buf = ngx_pnalloc(pool, n);
    if (buf == NULL) {
        return NULL;
    }

    p = buf;

    for (i = 0; i < a->nelts; i++) {
        if (i) {
            *p++ = '\n';
        }
        p = ngx_cpymem(p, s[i].data, s[i].len);
    }

    *len = p - buf;

    return buf;
}
