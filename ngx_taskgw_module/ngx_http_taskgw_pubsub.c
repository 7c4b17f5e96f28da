
/*
 * ngx_http_taskgw_pubsub: the Redis subscriber of one nginx worker process
 * and the table of requests waiting for a task to finish, fanned out here.
 *
 * The subscriber is a second link of the same kind as the command link
 * (connect, AUTH/SELECT, backoff, teardown: ngx_http_taskgw_redis.c, its
 * socket's events: _redis_adapter.c); once UP it subscribes to two
 * channels and only listens:
 *
 *   <prefix>:events:done     a task id, published by the script that
 *                            records the task's terminal status: its
 *                            waiters are woken and read the task again
 *   <prefix>:events:revoked  the hex digest of a run-time token just
 *                            revoked: it leaves the shared token cache
 *
 * However many requests wait, they cost this one connection.  A message
 * sent while the subscriber was down is lost, so every waiter is woken
 * once the subscriber has subscribed again; a revocation lost that way is
 * undone by taskgw_tokens_cache_ttl.
 *
 * A listener hears nothing from a Redis that froze, or from a path to it
 * that lost its packets, while the socket stays open: so while UP it sends
 * PING every taskgw_redis_timeout, and when nothing at all came back in
 * the interval after one, the connection is taken for dead and the link
 * reconnects with its backoff.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_redis_fmt.h"
#include "ngx_http_taskgw_redis_link.h"
#include "ngx_http_taskgw_token.h"
#include "ngx_http_taskgw_pubsub.h"


/* The channels subscribed to, in the order of the SUBSCRIBE command. */
#define NGX_HTTP_TASKGW_CHANNELS  2


/* The waiters of one task id, an entry of the worker's table. */
typedef struct {
    ngx_str_node_t              sn;       /* key: the task id */
    ngx_queue_t                 waiters;  /* ngx_http_taskgw_waiter_t */
    u_char                      id[NGX_HTTP_TASKGW_UUID_LEN];
} ngx_http_taskgw_wait_task_t;


typedef struct {
    ngx_http_taskgw_link_t      link;
    ngx_rbtree_t                tree;     /* ngx_http_taskgw_wait_task_t */
    ngx_rbtree_node_t           sentinel;
    ngx_str_t                   done;     /* the channels' names */
    ngx_str_t                   revoked;
    ngx_uint_t                  subscribed; /* channels Redis confirmed */
    ngx_event_t                 keepalive;  /* every taskgw_redis_timeout */
    ngx_uint_t                  heard;      /* link.heard when PING went */
    unsigned                    started:1;  /* the link was started */
    unsigned                    pinged:1;   /* a PING awaits its answer */
} ngx_http_taskgw_pubsub_t;


static void ngx_http_taskgw_pubsub_subscribe(ngx_http_taskgw_link_t *link);
static void ngx_http_taskgw_pubsub_keepalive(ngx_event_t *ev);
static void ngx_http_taskgw_pubsub_message(redisAsyncContext *ac,
    void *reply, void *data);
static void ngx_http_taskgw_pubsub_done(redisReply *id);
static void ngx_http_taskgw_pubsub_revoked(redisReply *hex);
static void ngx_http_taskgw_pubsub_wake_all(void);
static void ngx_http_taskgw_pubsub_wake(ngx_http_taskgw_wait_task_t *t);
static ngx_http_taskgw_wait_task_t *ngx_http_taskgw_pubsub_find(u_char *id,
    size_t len);


static ngx_http_taskgw_pubsub_t  ngx_http_taskgw_pubsub;


/*
 * The subscriber starts at once when run-time tokens are on (their
 * revocations must be heard before anyone waits), else with the first
 * request that waits.
 */

ngx_int_t
ngx_http_taskgw_pubsub_init_process(ngx_cycle_t *cycle,
    ngx_http_taskgw_main_conf_t *tmcf)
{
    ngx_http_taskgw_pubsub_t  *ps = &ngx_http_taskgw_pubsub;

    ngx_http_taskgw_redis_link_init(&ps->link, cycle, tmcf);

    ps->link.name = "redis subscriber";
    ps->link.up = ngx_http_taskgw_pubsub_subscribe;

    ngx_rbtree_init(&ps->tree, &ps->sentinel, ngx_str_rbtree_insert_value);

    ps->subscribed = 0;
    ps->started = 0;
    ps->pinged = 0;

    ngx_memzero(&ps->keepalive, sizeof(ngx_event_t));
    ps->keepalive.handler = ngx_http_taskgw_pubsub_keepalive;
    ps->keepalive.data = ps;
    ps->keepalive.log = cycle->log;
    ps->keepalive.cancelable = 1;

    ps->done.len = tmcf->prefix.len + sizeof(TGW_CHAN_DONE) - 1;
    ps->revoked.len = tmcf->prefix.len + sizeof(TGW_CHAN_REVOKED) - 1;

    ps->done.data = ngx_pnalloc(cycle->pool, ps->done.len);
    ps->revoked.data = ngx_pnalloc(cycle->pool, ps->revoked.len);

    if (ps->done.data == NULL || ps->revoked.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ps->done.data, NGX_HTTP_TASKGW_KEY_CHAN_DONE, &tmcf->prefix);
    ngx_sprintf(ps->revoked.data, NGX_HTTP_TASKGW_KEY_CHAN_REVOKED,
                &tmcf->prefix);

    if (tmcf->tokens_redis) {
        ps->started = 1;
        ngx_http_taskgw_redis_connect(&ps->link);
    }

    return NGX_OK;
}


void
ngx_http_taskgw_pubsub_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_taskgw_pubsub_t  *ps = &ngx_http_taskgw_pubsub;

    if (ps->keepalive.timer_set) {
        ngx_del_timer(&ps->keepalive);
    }

    ngx_http_taskgw_redis_link_exit(&ps->link);
}


/*
 * The master moved (-READONLY on the command link, or +switch-master):
 * the subscriber, on the same server, drops its connection and asks the
 * sentinels again; its waiters are woken once it has subscribed again.
 */

void
ngx_http_taskgw_pubsub_follow(const char *reason)
{
    ngx_http_taskgw_pubsub_t  *ps = &ngx_http_taskgw_pubsub;

    if (ps->link.conf == NULL || !ps->started || ps->link.rc == NULL
        || ps->link.asking)
    {
        return;
    }

    ps->subscribed = 0;

    if (ps->keepalive.timer_set) {
        ngx_del_timer(&ps->keepalive);
    }

    ngx_http_taskgw_redis_reset(&ps->link, reason);
}


/* ------------------------------------------------------------------ */
/* Waiters                                                             */
/* ------------------------------------------------------------------ */


/*
 * Registers w as waiting for the task id (a valid task id: checked by the
 * caller).  The first waiter of the process starts the subscriber; it is
 * woken once subscribed, like after any reconnect.
 */

ngx_int_t
ngx_http_taskgw_pubsub_wait(ngx_http_taskgw_waiter_t *w, ngx_str_t *id)
{
    ngx_http_taskgw_pubsub_t     *ps = &ngx_http_taskgw_pubsub;
    ngx_http_taskgw_wait_task_t  *t;

    if (ps->link.conf == NULL || id->len != NGX_HTTP_TASKGW_UUID_LEN) {
        return NGX_ERROR;
    }

    if (w->task != NULL) {
        return NGX_OK;
    }

    t = ngx_http_taskgw_pubsub_find(id->data, id->len);

    if (t == NULL) {
        t = ngx_alloc(sizeof(ngx_http_taskgw_wait_task_t), ps->link.log);
        if (t == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(t->id, id->data, id->len);
        t->sn.str.data = t->id;
        t->sn.str.len = id->len;
        t->sn.node.key = ngx_crc32_short(t->id, id->len);
        ngx_queue_init(&t->waiters);

        ngx_rbtree_insert(&ps->tree, &t->sn.node);
    }

    ngx_queue_insert_tail(&t->waiters, &w->queue);
    w->task = t;

    if (!ps->started) {
        ps->started = 1;
        ngx_http_taskgw_redis_connect(&ps->link);
    }

    return NGX_OK;
}


/* Takes w out of the table (if it is in it) and forgets a pending wake. */

void
ngx_http_taskgw_pubsub_unwait(ngx_http_taskgw_waiter_t *w)
{
    ngx_http_taskgw_wait_task_t  *t;

    if (w->wake.posted) {
        ngx_delete_posted_event(&w->wake);
    }

    t = w->task;

    if (t == NULL) {
        return;
    }

    w->task = NULL;
    ngx_queue_remove(&w->queue);

    if (ngx_queue_empty(&t->waiters)) {
        ngx_rbtree_delete(&ngx_http_taskgw_pubsub.tree, &t->sn.node);
        ngx_free(t);
    }
}


static ngx_http_taskgw_wait_task_t *
ngx_http_taskgw_pubsub_find(u_char *id, size_t len)
{
    ngx_str_t        s;
    ngx_str_node_t  *sn;

    s.data = id;
    s.len = len;

    sn = ngx_str_rbtree_lookup(&ngx_http_taskgw_pubsub.tree, &s,
                               ngx_crc32_short(id, len));

    return (ngx_http_taskgw_wait_task_t *) sn;
}


/*
 * Wakes the waiters of a task: their handlers run after the current
 * event, so none of them can change the table under this loop.
 */

static void
ngx_http_taskgw_pubsub_wake(ngx_http_taskgw_wait_task_t *t)
{
    ngx_queue_t               *q;
    ngx_http_taskgw_waiter_t  *w;

    for (q = ngx_queue_head(&t->waiters);
         q != ngx_queue_sentinel(&t->waiters);
         q = ngx_queue_next(q))
    {
        w = ngx_queue_data(q, ngx_http_taskgw_waiter_t, queue);

        if (!w->wake.posted) {
            ngx_post_event(&w->wake, &ngx_posted_events);
        }
    }
}


static void
ngx_http_taskgw_pubsub_wake_all(void)
{
    ngx_rbtree_t       *tree = &ngx_http_taskgw_pubsub.tree;
    ngx_rbtree_node_t  *node;

    if (tree->root == tree->sentinel) {
        return;
    }

    for (node = ngx_rbtree_min(tree->root, tree->sentinel);
         node;
         node = ngx_rbtree_next(tree, node))
    {
        ngx_http_taskgw_pubsub_wake((ngx_http_taskgw_wait_task_t *) node);
    }
}


/* ------------------------------------------------------------------ */
/* The subscriber                                                      */
/* ------------------------------------------------------------------ */


/*
 * The link is UP: SUBSCRIBE to both channels.  hiredis reads the command
 * (its bytes go out through the link, like every command) and from then
 * on hands each message of a channel to the callback registered for it.
 */

static void
ngx_http_taskgw_pubsub_subscribe(ngx_http_taskgw_link_t *link)
{
    ngx_chain_t                  *out;
    ngx_http_taskgw_pubsub_t     *ps = &ngx_http_taskgw_pubsub;
    ngx_http_taskgw_redis_cmd_t   cmd;

    ps->subscribed = 0;

    if (ps->keepalive.timer_set) {
        ngx_del_timer(&ps->keepalive);
    }

    /* the SUBSCRIBE itself must be answered in time, like any PING */
    ps->heard = link->heard;
    ps->pinged = 1;
    ngx_add_timer(&ps->keepalive, link->conf->timeout);

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "SUBSCRIBE", 9);
    ngx_http_taskgw_redis_cmd_arg(&cmd, ps->done.data, ps->done.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, ps->revoked.data, ps->revoked.len);

    out = ngx_http_taskgw_redis_format(&cmd, 1, link->log);

    if (out == NULL) {
        ngx_http_taskgw_redis_reset(link, "out of memory");
        return;
    }

    if (link->rc == NULL
        || ngx_http_taskgw_redis_queue(link->rc, out,
                                       ngx_http_taskgw_pubsub_message, NULL)
           != NGX_OK)
    {
        ngx_http_taskgw_redis_free_out(out);
        ngx_http_taskgw_redis_reset(link, "SUBSCRIBE could not be queued");
    }
}


/*
 * The keep-alive, every taskgw_redis_timeout while the link is UP.  Any
 * read since the last PING (its answer, a message) shows that Redis and
 * the path to it work, and the next PING goes; nothing read means Redis
 * did not answer within a whole interval: the connection is dropped like
 * a command link that made no progress, and the link reconnects after its
 * backoff.  Its answer matches no channel and hiredis drops it.
 */

static void
ngx_http_taskgw_pubsub_keepalive(ngx_event_t *ev)
{
    ngx_http_taskgw_pubsub_t  *ps = ev->data;

    const char              *reason;
    ngx_http_taskgw_link_t  *link;

    link = &ps->link;

    if (link->state != NGX_HTTP_TASKGW_LINK_UP || link->rc == NULL
        || link->exiting)
    {
        /* armed again when the link is UP again */
        return;
    }

    reason = ngx_http_taskgw_redis_keepalive(link, &ps->heard, ps->pinged);

    if (reason != NULL) {
        ps->pinged = 0;
        ps->subscribed = 0;
        ngx_http_taskgw_redis_reset(link, reason);
        return;
    }

    ps->pinged = 1;

    ngx_add_timer(&ps->keepalive, link->conf->timeout);
}


/*
 * Every reply of the subscribed connection: the confirmations of the
 * SUBSCRIBE, then messages.  NULL means hiredis is dropping the context:
 * the link goes down and reconnects with backoff like the command link.
 */

static void
ngx_http_taskgw_pubsub_message(redisAsyncContext *ac, void *reply,
    void *data)
{
    redisReply                    *rr = reply;
    redisReply                    *kind, *chan;
    ngx_http_taskgw_pubsub_t      *ps = &ngx_http_taskgw_pubsub;
    ngx_http_taskgw_redis_conn_t  *rc = ac->ev.data;

    if (rr == NULL) {
        ps->subscribed = 0;

        if (rc) {
            ngx_http_taskgw_redis_detach(rc, ngx_http_taskgw_redis_error(ac));
        }

        return;
    }

    if (rc == NULL || ps->link.rc != rc) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ps->link.log, 0,
                      "taskgw: redis subscriber: SUBSCRIBE failed: %*s",
                      (size_t) rr->len, rr->str);
        ngx_http_taskgw_redis_reset(&ps->link, "SUBSCRIBE failed");
        return;
    }

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements < 3
        || rr->element[0]->type != REDIS_REPLY_STRING
        || rr->element[1]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    kind = rr->element[0];
    chan = rr->element[1];

    if (kind->len == 9 && ngx_strncasecmp((u_char *) kind->str,
                                          (u_char *) "subscribe", 9) == 0)
    {
        if (++ps->subscribed == NGX_HTTP_TASKGW_CHANNELS) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ps->link.log, 0,
                           "taskgw: redis subscriber subscribed");

            /* what was published while we were not listening is lost */
            ngx_http_taskgw_pubsub_wake_all();
        }

        return;
    }

    if (kind->len != 7
        || ngx_strncmp(kind->str, "message", 7) != 0
        || rr->element[2]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    if (chan->len == ps->done.len
        && ngx_strncmp(chan->str, ps->done.data, chan->len) == 0)
    {
        ngx_http_taskgw_pubsub_done(rr->element[2]);

    } else if (chan->len == ps->revoked.len
               && ngx_strncmp(chan->str, ps->revoked.data, chan->len) == 0)
    {
        ngx_http_taskgw_pubsub_revoked(rr->element[2]);
    }
}


static void
ngx_http_taskgw_pubsub_done(redisReply *id)
{
    ngx_http_taskgw_wait_task_t  *t;

    if (id->len != NGX_HTTP_TASKGW_UUID_LEN) {
        return;
    }

    t = ngx_http_taskgw_pubsub_find((u_char *) id->str, id->len);

    if (t) {
        ngx_http_taskgw_pubsub_wake(t);
    }
}


/* A revoked digest, in hex, leaves the token cache of every worker. */

static void
ngx_http_taskgw_pubsub_revoked(redisReply *hex)
{
    u_char                        digest[NGX_HTTP_TASKGW_DIGEST_LEN];
    ngx_int_t                     n;
    ngx_uint_t                    i;
    ngx_http_taskgw_main_conf_t  *tmcf;

    tmcf = ngx_http_taskgw_pubsub.link.conf;

    if (tmcf->token_cache == NULL
        || hex->len != 2 * NGX_HTTP_TASKGW_DIGEST_LEN)
    {
        return;
    }

    for (i = 0; i < NGX_HTTP_TASKGW_DIGEST_LEN; i++) {
        n = ngx_hextoi((u_char *) hex->str + 2 * i, 2);
        if (n == NGX_ERROR) {
            return;
        }

        digest[i] = (u_char) n;
    }

    ngx_http_taskgw_token_cache_forget(tmcf, digest);

    ngx_log_error(NGX_LOG_INFO, ngx_http_taskgw_pubsub.link.log, 0,
                  "taskgw: run-time token %*s... revoked: dropped from "
                  "the token cache", (size_t) 8, hex->str);
}
