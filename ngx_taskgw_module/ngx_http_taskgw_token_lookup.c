
/*
 * ngx_http_taskgw_token_lookup: run-time tokens looked up in Redis, one
 * lookup in flight per token however many requests wait on it.  In the
 * worker that sends it, the requests wait on its "flight"; in the other
 * workers they see its pending entry in the shared cache and check the
 * cache again every few milliseconds until the answer is there.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_token.h"


typedef struct ngx_http_taskgw_flight_s  ngx_http_taskgw_flight_t;


/*
 * A request waiting for a lookup.  It lives in the request's pool; the
 * pool's cleanup takes it out of its flight, or its timer off, when the
 * request goes away.
 */
typedef struct {
    ngx_queue_t                  queue;    /* in flight->waiters */
    ngx_http_request_t          *request;
    ngx_http_taskgw_flight_t    *flight;   /* NULL once answered */
    ngx_int_t                    rc;       /* NGX_OK: answered, in cache */
    ngx_event_t                  resume;   /* posted with the answer, or */
                                           /* a timer: check the cache */
} ngx_http_taskgw_waiter_t;


/* How often a request checks the cache for another worker's answer. */
#define NGX_HTTP_TASKGW_TOKEN_POLL  3


/*
 * One HGETALL of a token in flight in this worker.  The leader is the
 * waiter whose request carries the Redis command; when that request goes
 * away the next waiter takes over with a command of its own.  The answer
 * goes into the shared cache, where every waiter then reads it.
 */
struct ngx_http_taskgw_flight_s {
    ngx_rbtree_node_t            node;     /* key: first bytes of digest */
    u_char                       digest[NGX_HTTP_TASKGW_DIGEST_LEN];
    ngx_queue_t                  waiters;
    ngx_http_taskgw_waiter_t    *leader;
    ngx_http_taskgw_main_conf_t *tmcf;     /* whose cache it answers */
};


static ngx_http_taskgw_waiter_t *ngx_http_taskgw_waiter_get(
    ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx);
static void ngx_http_taskgw_flight_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_taskgw_flight_t *ngx_http_taskgw_flight_find(u_char *digest);
static ngx_int_t ngx_http_taskgw_flight_send(ngx_http_taskgw_flight_t *fl);
static void ngx_http_taskgw_flight_done(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_taskgw_flight_hand(ngx_http_taskgw_flight_t *fl,
    ngx_str_t *fields);
static void ngx_http_taskgw_flight_finish(ngx_http_taskgw_flight_t *fl,
    ngx_int_t rc);
static void ngx_http_taskgw_flight_free(ngx_http_taskgw_flight_t *fl,
    ngx_int_t abandon);
static void ngx_http_taskgw_waiter_cleanup(void *data);
static void ngx_http_taskgw_waiter_resume(ngx_event_t *ev);


/* hash fields of a run-time token, in ngx_http_taskgw_token_field_e order */
static ngx_str_t  ngx_http_taskgw_token_fields[] = {
    ngx_string("name"),
    ngx_string("role"),
    ngx_string("ips"),
    ngx_string("rate"),
    ngx_string("queues"),
    ngx_string("disabled")
};


/* the lookups in flight in this worker process */
static ngx_rbtree_t       ngx_http_taskgw_flights;
static ngx_rbtree_node_t  ngx_http_taskgw_flights_sentinel;


/*
 * Waits for Redis's answer about ctx->digest, which the cache says this
 * request is to look up: joins the lookup already in flight for it in
 * this worker, or starts one.  NGX_AGAIN: the request is resumed later
 * (ctx->stage says where); NGX_ERROR on a memory failure.
 */

ngx_int_t
ngx_http_taskgw_token_lookup(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx)
{
    ngx_http_taskgw_flight_t  *fl;
    ngx_http_taskgw_waiter_t  *w;

    w = ngx_http_taskgw_waiter_get(r, ctx);
    if (w == NULL) {
        return NGX_ERROR;
    }

    ctx->lookups++;
    ctx->stage = NGX_HTTP_TASKGW_EDGE_TOKEN_WAIT;

    w->rc = NGX_OK;

    fl = ngx_http_taskgw_flight_find(ctx->digest);

    if (fl != NULL) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "taskgw token lookup: joins one in flight");

        w->flight = fl;
        ngx_queue_insert_tail(&fl->waiters, &w->queue);
        return NGX_AGAIN;
    }

    fl = ngx_alloc(sizeof(ngx_http_taskgw_flight_t), r->connection->log);
    if (fl == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(fl->digest, ctx->digest, NGX_HTTP_TASKGW_DIGEST_LEN);
    ngx_memcpy(&fl->node.key, ctx->digest, sizeof(ngx_rbtree_key_t));
    ngx_queue_init(&fl->waiters);
    fl->tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);
    ngx_rbtree_insert(&ngx_http_taskgw_flights, &fl->node);

    w->flight = fl;
    ngx_queue_insert_tail(&fl->waiters, &w->queue);

    fl->leader = w;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "taskgw token lookup: starts one");

    if (ngx_http_taskgw_flight_send(fl) != NGX_OK) {
        /* the link is down: every waiter (just this one) gets a 503 */
        ngx_http_taskgw_flight_finish(fl, NGX_ERROR);
    }

    return NGX_AGAIN;
}


/*
 * A lookup of ctx->digest is in flight, as the cache says: the request
 * joins it when it is this worker's, else checks the cache again in a
 * few milliseconds (the token stage again), until the answer is there or
 * the other worker's lookup is given up on.  NGX_AGAIN or NGX_ERROR.
 */

ngx_int_t
ngx_http_taskgw_token_wait(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx)
{
    ngx_http_taskgw_waiter_t  *w;

    w = ngx_http_taskgw_waiter_get(r, ctx);
    if (w == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_taskgw_flight_find(ctx->digest) != NULL) {
        return ngx_http_taskgw_token_lookup(r, ctx);
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "taskgw token lookup: waits for another worker's");

    ctx->stage = NGX_HTTP_TASKGW_EDGE_TOKEN_WAIT;

    w->rc = NGX_OK;
    ngx_add_timer(&w->resume, NGX_HTTP_TASKGW_TOKEN_POLL);

    return NGX_AGAIN;
}


/* The request's waiter, made (with its pool cleanup) on first use. */

static ngx_http_taskgw_waiter_t *
ngx_http_taskgw_waiter_get(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_taskgw_waiter_t  *w;

    if (ctx->waiter != NULL) {
        return ctx->waiter;
    }

    if (ngx_http_taskgw_flights.root == NULL) {
        ngx_rbtree_init(&ngx_http_taskgw_flights,
                        &ngx_http_taskgw_flights_sentinel,
                        ngx_http_taskgw_flight_insert);
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    w = ngx_pcalloc(r->pool, sizeof(ngx_http_taskgw_waiter_t));
    if (cln == NULL || w == NULL) {
        return NULL;
    }

    w->request = r;
    w->resume.handler = ngx_http_taskgw_waiter_resume;
    w->resume.data = w;
    w->resume.log = r->connection->log;

    cln->handler = ngx_http_taskgw_waiter_cleanup;
    cln->data = w;

    ctx->waiter = w;

    return w;
}


/* Ordered by digest: the key is its first bytes, ties go by the rest. */

static void
ngx_http_taskgw_flight_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            p = (ngx_memcmp(((ngx_http_taskgw_flight_t *) node)->digest,
                            ((ngx_http_taskgw_flight_t *) temp)->digest,
                            NGX_HTTP_TASKGW_DIGEST_LEN) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_taskgw_flight_t *
ngx_http_taskgw_flight_find(u_char *digest)
{
    ngx_int_t                  rc;
    ngx_rbtree_key_t           key;
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_http_taskgw_flight_t  *fl;

    ngx_memcpy(&key, digest, sizeof(ngx_rbtree_key_t));

    node = ngx_http_taskgw_flights.root;
    sentinel = ngx_http_taskgw_flights.sentinel;

    while (node != sentinel) {

        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }

        fl = (ngx_http_taskgw_flight_t *) node;

        rc = ngx_memcmp(digest, fl->digest, NGX_HTTP_TASKGW_DIGEST_LEN);
        if (rc == 0) {
            return fl;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* HGETALL {prefix}:token:<sha256hex> on behalf of the leader's request. */

static ngx_int_t
ngx_http_taskgw_flight_send(ngx_http_taskgw_flight_t *fl)
{
    u_char                       *key, hex[2 * NGX_HTTP_TASKGW_DIGEST_LEN];
    ngx_http_request_t           *r;
    ngx_http_taskgw_redis_cmd_t  *cmd;
    ngx_http_taskgw_main_conf_t  *tmcf;

    r = fl->leader->request;
    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    cmd = ngx_palloc(r->pool, sizeof(ngx_http_taskgw_redis_cmd_t));
    key = ngx_pnalloc(r->pool, tmcf->prefix.len + sizeof(":token:") - 1
                               + sizeof(hex));
    if (cmd == NULL || key == NULL) {
        return NGX_ERROR;
    }

    ngx_hex_dump(hex, fl->digest, NGX_HTTP_TASKGW_DIGEST_LEN);

    cmd->argc = 0;
    ngx_http_taskgw_redis_cmd_arg(cmd, "HGETALL", 7);
    ngx_http_taskgw_redis_cmd_arg(cmd, key,
                                  ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_TOKEN,
                                              &tmcf->prefix, sizeof(hex), hex)
                                  - key);

    return ngx_http_taskgw_redis_send(r, cmd, 1, ngx_http_taskgw_flight_done);
}


/*
 * Redis answered the leader's command (or failed to): the answer goes
 * into the shared cache, found or not, and every waiter is woken up.  A
 * token with an absurdly long field counts as no such token.
 */

static void
ngx_http_taskgw_flight_done(ngx_http_request_t *r, redisReply *reply)
{
    size_t                        i;
    ngx_str_t                     fields[NGX_HTTP_TASKGW_TF_COUNT], *fp;
    ngx_uint_t                    f;
    redisReply                   *k, *v;
    ngx_http_taskgw_ctx_t        *ctx;
    ngx_http_taskgw_flight_t     *fl;
    ngx_http_taskgw_main_conf_t  *tmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);
    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    fl = ngx_http_taskgw_flight_find(ctx->digest);

    if (fl == NULL || fl->leader->request != r) {
        /* not the command of a flight that still waits: nobody to tell */
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "taskgw: token lookup failed: %s",
                      reply && reply->type == REDIS_REPLY_ERROR
                      ? reply->str : "no reply");
        ngx_http_taskgw_flight_finish(fl, NGX_ERROR);
        return;
    }

    ngx_memzero(fields, sizeof(fields));
    fp = NULL;

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        for (f = 0; f < NGX_HTTP_TASKGW_TF_COUNT; f++) {
            if ((size_t) k->len == ngx_http_taskgw_token_fields[f].len
                && ngx_strncmp(k->str, ngx_http_taskgw_token_fields[f].data,
                               k->len) == 0)
            {
                /* the cache copies the fields before the reply is freed */
                fields[f].len = v->len;
                fields[f].data = (u_char *) v->str;
                fp = fields;
                break;
            }
        }
    }

    for (f = 0; fp && f < NGX_HTTP_TASKGW_TF_COUNT; f++) {
        if (fields[f].len > NGX_HTTP_TASKGW_TOKEN_FIELD_MAX) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "taskgw: run-time token \"%*s\" has a field "
                          "longer than %d bytes: refused",
                          fields[0].len > 64 ? 64 : fields[0].len,
                          fields[0].data, NGX_HTTP_TASKGW_TOKEN_FIELD_MAX);
            fp = NULL;
        }
    }

    if (ngx_http_taskgw_token_cache_put(tmcf, fl->digest, fp) != NGX_OK) {
        ngx_http_taskgw_flight_hand(fl, fp);
    }

    ngx_http_taskgw_flight_finish(fl, NGX_OK);
}


/*
 * An answer the cache did not keep (the token was revoked while Redis was
 * answering, or the zone has no room) still decides the requests that
 * waited for it: Redis read the token before it was revoked.  Each gets a
 * copy in its own pool, to read instead of the cache.  A request that
 * cannot get one reads the cache like the others, and asks again.
 */

static void
ngx_http_taskgw_flight_hand(ngx_http_taskgw_flight_t *fl, ngx_str_t *fields)
{
    ngx_uint_t                 i;
    ngx_str_t                 *answer;
    ngx_queue_t               *q;
    ngx_http_request_t        *r;
    ngx_http_taskgw_ctx_t     *ctx;
    ngx_http_taskgw_waiter_t  *w;

    for (q = ngx_queue_head(&fl->waiters);
         q != ngx_queue_sentinel(&fl->waiters);
         q = ngx_queue_next(q))
    {
        w = ngx_queue_data(q, ngx_http_taskgw_waiter_t, queue);
        r = w->request;
        ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

        answer = NULL;

        if (fields) {
            answer = ngx_palloc(r->pool,
                                NGX_HTTP_TASKGW_TF_COUNT * sizeof(ngx_str_t));
            if (answer == NULL) {
                continue;
            }

            for (i = 0; i < NGX_HTTP_TASKGW_TF_COUNT; i++) {
                answer[i].len = fields[i].len;
                answer[i].data = ngx_pnalloc(r->pool, fields[i].len + 1);

                if (answer[i].data == NULL) {
                    break;
                }

                ngx_memcpy(answer[i].data, fields[i].data, fields[i].len);
                answer[i].data[fields[i].len] = '\0';
            }

            if (i < NGX_HTTP_TASKGW_TF_COUNT) {
                continue;
            }
        }

        ctx->answer = answer;
        ctx->answered = 1;
    }
}


/* The flight is over: its waiters are resumed from posted events. */

static void
ngx_http_taskgw_flight_finish(ngx_http_taskgw_flight_t *fl, ngx_int_t rc)
{
    ngx_queue_t               *q;
    ngx_http_taskgw_waiter_t  *w;

    while (!ngx_queue_empty(&fl->waiters)) {
        q = ngx_queue_head(&fl->waiters);
        /* the analyser loses the queue's shape from one turn to the
         * next: a removed element is never the head again */
        /* NOLINTNEXTLINE(clang-analyzer-*) */
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_taskgw_waiter_t, queue);
        w->flight = NULL;
        w->rc = rc;

        ngx_post_event(&w->resume, &ngx_posted_events);
    }

    ngx_http_taskgw_flight_free(fl, rc != NGX_OK);
}


/*
 * The flight goes; a flight that ends without an answer in the cache
 * takes its pending entry with it, for the other workers not to wait.
 */

static void
ngx_http_taskgw_flight_free(ngx_http_taskgw_flight_t *fl, ngx_int_t abandon)
{
    if (abandon) {
        ngx_http_taskgw_token_cache_abandon(fl->tmcf, fl->digest);
    }

    ngx_rbtree_delete(&ngx_http_taskgw_flights, &fl->node);
    ngx_free(fl);
}


/*
 * A waiting request went away.  If its command was the flight's, the
 * next waiter sends one of its own; the last waiter ends the flight (a
 * reply still on its way then finds nobody).
 */

static void
ngx_http_taskgw_waiter_cleanup(void *data)
{
    ngx_http_taskgw_waiter_t *w = data;

    ngx_queue_t               *q;
    ngx_http_taskgw_flight_t  *fl;

    if (w->resume.posted) {
        ngx_delete_posted_event(&w->resume);
    }

    if (w->resume.timer_set) {
        ngx_del_timer(&w->resume);
    }

    fl = w->flight;

    if (fl == NULL) {
        return;
    }

    ngx_queue_remove(&w->queue);
    w->flight = NULL;

    if (ngx_queue_empty(&fl->waiters)) {
        ngx_http_taskgw_flight_free(fl, 1);
        return;
    }

    if (fl->leader != w) {
        return;
    }

    q = ngx_queue_head(&fl->waiters);
    fl->leader = ngx_queue_data(q, ngx_http_taskgw_waiter_t, queue);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, fl->leader->request->connection->log,
                   0, "taskgw token lookup: takes over a flight");

    if (ngx_http_taskgw_flight_send(fl) != NGX_OK) {
        ngx_http_taskgw_flight_finish(fl, NGX_ERROR);
    }
}


/*
 * The answer is there: a request whose lookup was answered reads it from
 * the cache (the token stage again); one whose lookup failed gets a 503.
 */

static void
ngx_http_taskgw_waiter_resume(ngx_event_t *ev)
{
    ngx_http_taskgw_waiter_t *w = ev->data;

    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_taskgw_ctx_t  *ctx;

    r = w->request;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    if (w->rc == NGX_OK) {
        ctx->stage = NGX_HTTP_TASKGW_EDGE_TOKEN;

    } else {
        ctx->stage = NGX_HTTP_TASKGW_EDGE_TOKEN_DONE;
        ctx->lookup_rc = NGX_ERROR;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}
