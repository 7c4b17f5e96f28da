
/*
 * ngx_http_taskgw_wait: taskgw_redis_wait replicas=N timeout=T.  An
 * enqueue is answered 202 only once Redis's WAIT reports that N replicas
 * have its write, else 503.
 *
 * WAIT holds the connection that sends it until it returns (up to T), and
 * it covers every write that connection made before it.  So it never goes
 * over the command link, where status reads, health checks and other
 * enqueues would queue up behind it: a worker process that has a location
 * under taskgw_redis_wait opens one more link ("redis wait", on the same
 * connect and backoff path as the others) for waited enqueues only.
 *
 * Group commit: the enqueues whose replies arrive in one turn of the event
 * loop share one WAIT, sent once the turn is over.  While a WAIT holds the
 * connection, Redis leaves the enqueues written behind it unread; they run
 * together when it returns, their replies arrive together, and one WAIT
 * covers them all.
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
#include "ngx_http_taskgw_ops.h"


/* Largest replicas=: more than any Redis deployment has. */
#define NGX_HTTP_TASKGW_WAIT_MAX_REPLICAS  1000

/* Largest timeout=: a client waits for its 202 no longer than this. */
#define NGX_HTTP_TASKGW_WAIT_MAX_TIMEOUT   (10 * 60 * 1000)


typedef struct ngx_http_taskgw_wait_group_s  ngx_http_taskgw_wait_group_t;


/* A request whose enqueue is stored and waits for its replicas. */
typedef struct {
    ngx_queue_t                    queue;     /* pending, or a group's */
    ngx_http_request_t            *request;
    ngx_http_taskgw_redis_conn_t  *rc;        /* the connection it wrote on */
    ngx_http_taskgw_wait_group_t  *group;     /* the WAIT it waits for */
    ngx_int_t                      replicas;
    ngx_msec_t                     timeout;
    unsigned                       queued:1;  /* in one of the queues */
    unsigned                       replay:1;  /* written by someone else */
} ngx_http_taskgw_wait_entry_t;


/*
 * The requests one WAIT answers.  Heap-allocated: it outlives requests.
 * Its timer keeps a worker process that shuts down gracefully up until
 * its requests are answered; once none is left, it no longer does.
 */
struct ngx_http_taskgw_wait_group_s {
    ngx_queue_t                    members;
    ngx_event_t                    timer;
    ngx_int_t                      replicas;
    ngx_msec_t                     timeout;
};


static void ngx_http_taskgw_wait_flush(ngx_event_t *ev);
static void ngx_http_taskgw_wait_reply(redisAsyncContext *ac, void *reply,
    void *data);
static void ngx_http_taskgw_wait_timeout(ngx_event_t *ev);
static void ngx_http_taskgw_wait_fail(ngx_http_taskgw_wait_entry_t *e,
    ngx_int_t acked, const char *why);
static void ngx_http_taskgw_wait_cleanup(void *data);


static ngx_http_taskgw_link_t  ngx_http_taskgw_wait_link;
static ngx_queue_t             ngx_http_taskgw_wait_pending;
static ngx_event_t             ngx_http_taskgw_wait_flush_event;


/*
 * taskgw_redis_wait replicas=N timeout=T | off;
 */

char *
ngx_http_taskgw_wait_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_taskgw_loc_conf_t *tlcf = conf;

    ngx_str_t                    *value, s;
    ngx_int_t                     n, replicas;
    ngx_uint_t                    i;
    ngx_msec_t                    timeout;
    ngx_http_taskgw_main_conf_t  *tmcf;

    if (tlcf->wait_replicas != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2
        && value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0)
    {
        tlcf->wait_replicas = 0;
        tlcf->wait_timeout = 0;
        return NGX_CONF_OK;
    }

    replicas = NGX_CONF_UNSET;
    timeout = NGX_CONF_UNSET_MSEC;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "replicas=", 9) == 0) {
            if (replicas != NGX_CONF_UNSET) {
                goto duplicate;
            }

            n = ngx_atoi(value[i].data + 9, value[i].len - 9);

            if (n == NGX_ERROR || n < 1
                || n > NGX_HTTP_TASKGW_WAIT_MAX_REPLICAS)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": replicas must be a "
                                   "number from 1 to %d", &value[i],
                                   NGX_HTTP_TASKGW_WAIT_MAX_REPLICAS);
                return NGX_CONF_ERROR;
            }

            replicas = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            if (timeout != NGX_CONF_UNSET_MSEC) {
                goto duplicate;
            }

            s.len = value[i].len - 8;
            s.data = value[i].data + 8;

            timeout = ngx_parse_time(&s, 0);

            if (timeout == (ngx_msec_t) NGX_ERROR || timeout == 0
                || timeout > NGX_HTTP_TASKGW_WAIT_MAX_TIMEOUT)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": timeout must be a time "
                                   "from 1ms to 10m", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (replicas == NGX_CONF_UNSET) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"replicas=\" is missing (or say \"off\")");
        return NGX_CONF_ERROR;
    }

    if (timeout == NGX_CONF_UNSET_MSEC) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"timeout=\" is missing");
        return NGX_CONF_ERROR;
    }

    tlcf->wait_replicas = replicas;
    tlcf->wait_timeout = timeout;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_taskgw_module);
    tmcf->wait_used = 1;

    return NGX_CONF_OK;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "duplicate parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/* The wait link of this worker process, when some location needs it. */

ngx_int_t
ngx_http_taskgw_wait_init_process(ngx_cycle_t *cycle,
    ngx_http_taskgw_main_conf_t *tmcf)
{
    ngx_event_t             *ev = &ngx_http_taskgw_wait_flush_event;
    ngx_http_taskgw_link_t  *link = &ngx_http_taskgw_wait_link;

    if (!tmcf->wait_used) {
        return NGX_OK;
    }

    ngx_queue_init(&ngx_http_taskgw_wait_pending);

    ngx_memzero(ev, sizeof(ngx_event_t));
    ev->handler = ngx_http_taskgw_wait_flush;
    ev->log = cycle->log;

    ngx_http_taskgw_redis_link_init(link, cycle, tmcf);

    link->name = "redis wait";

    ngx_http_taskgw_redis_connect(link);

    return NGX_OK;
}


void
ngx_http_taskgw_wait_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_taskgw_wait_flush_event.posted) {
        ngx_delete_posted_event(&ngx_http_taskgw_wait_flush_event);
    }

    ngx_http_taskgw_redis_link_exit(&ngx_http_taskgw_wait_link);
}


/*
 * The master moved (a +switch-master heard, or READONLY on another link):
 * the wait link follows at once rather than at its next write, so that
 * waited enqueues do not meet the old master, now a replica, first.
 */

void
ngx_http_taskgw_wait_follow(const char *reason)
{
    ngx_http_taskgw_link_t  *link = &ngx_http_taskgw_wait_link;

    if (link->conf == NULL || link->rc == NULL || link->asking) {
        return;
    }

    ngx_http_taskgw_redis_reset(link, reason);
}


/* An enqueue of a location under taskgw_redis_wait: on the wait link. */

ngx_int_t
ngx_http_taskgw_wait_send(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n, ngx_uint_t txn,
    ngx_http_taskgw_redis_done_pt done)
{
    return ngx_http_taskgw_redis_send_on(&ngx_http_taskgw_wait_link, r, cmds,
                                         n, txn, done);
}


/*
 * The enqueue's reply came (from the wait link, inside its read handler):
 * the request waits for the next WAIT, which goes out once this turn of
 * the event loop is over.
 */

void
ngx_http_taskgw_wait_start(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_taskgw_ctx_t         *ctx;
    ngx_http_taskgw_link_t        *link = &ngx_http_taskgw_wait_link;
    ngx_http_taskgw_loc_conf_t    *tlcf;
    ngx_http_taskgw_wait_entry_t  *e;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);
    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    e = ngx_pcalloc(r->pool, sizeof(ngx_http_taskgw_wait_entry_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (e == NULL || cln == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    e->request = r;
    e->rc = link->rc;
    e->replicas = tlcf->wait_replicas;
    e->timeout = tlcf->wait_timeout;
    e->replay = ctx->replayed;

    cln->handler = ngx_http_taskgw_wait_cleanup;
    cln->data = e;

    if (e->rc == NULL || link->state != NGX_HTTP_TASKGW_LINK_UP) {
        /* the link failed with this very reply */
        ngx_http_taskgw_wait_fail(e, -1, "the Redis link failed");
        return;
    }

    ngx_queue_insert_tail(&ngx_http_taskgw_wait_pending, &e->queue);
    e->queued = 1;

    if (!ngx_http_taskgw_wait_flush_event.posted) {
        ngx_post_event(&ngx_http_taskgw_wait_flush_event,
                       &ngx_posted_events);
    }
}


/*
 * Sends the WAITs of the requests that gathered during the last turn of
 * the event loop: one per distinct replicas= and timeout=, pipelined.  A
 * replayed answer's task was written by another connection, whose writes
 * this connection's WAIT does not cover: a PUBLISH first (an empty message
 * on a channel nobody listens to, which Redis hands on to its replicas)
 * makes this connection's last write later than that task's, so the WAIT
 * that follows covers it.  Requests whose enqueue was written on a
 * connection the link has since lost cannot be covered by any WAIT: 503.
 */

static void
ngx_http_taskgw_wait_flush(ngx_event_t *ev)
{
    u_char                        *p;
    ngx_uint_t                     n, fence;
    ngx_msec_t                     start;
    ngx_queue_t                   *q, *next;
    ngx_chain_t                   *out;
    ngx_connection_t              *c;
    ngx_http_taskgw_link_t        *link = &ngx_http_taskgw_wait_link;
    ngx_http_taskgw_redis_cmd_t    cmds[2];
    ngx_http_taskgw_wait_group_t  *g;
    ngx_http_taskgw_wait_entry_t  *e, *first;
    u_char                         chan[NGX_HTTP_TASKGW_PREFIX_MAX
                                        + sizeof(":wait-fence")];
    u_char                         num[NGX_INT_T_LEN], ms[NGX_INT_T_LEN];

    for (q = ngx_queue_head(&ngx_http_taskgw_wait_pending);
         q != ngx_queue_sentinel(&ngx_http_taskgw_wait_pending);
         q = next)
    {
        next = ngx_queue_next(q);
        e = ngx_queue_data(q, ngx_http_taskgw_wait_entry_t, queue);

        if (link->state != NGX_HTTP_TASKGW_LINK_UP || link->rc != e->rc
            || link->exiting)
        {
            ngx_queue_remove(q);
            e->queued = 0;

            c = e->request->connection;
            ngx_http_taskgw_wait_fail(e, -1, "the Redis link failed");
            ngx_http_run_posted_requests(c);
        }
    }

    while (!ngx_queue_empty(&ngx_http_taskgw_wait_pending)) {

        q = ngx_queue_head(&ngx_http_taskgw_wait_pending);
        first = ngx_queue_data(q, ngx_http_taskgw_wait_entry_t, queue);

        g = ngx_calloc(sizeof(ngx_http_taskgw_wait_group_t), link->log);
        if (g == NULL) {
            ngx_queue_remove(q);
            first->queued = 0;

            c = first->request->connection;
            ngx_http_taskgw_wait_fail(first, -1, "out of memory");
            ngx_http_run_posted_requests(c);
            continue;
        }

        ngx_queue_init(&g->members);
        g->replicas = first->replicas;
        g->timeout = first->timeout;

        g->timer.handler = ngx_http_taskgw_wait_timeout;
        g->timer.data = g;
        g->timer.log = link->log;

        fence = 0;

        for (q = ngx_queue_head(&ngx_http_taskgw_wait_pending);
             q != ngx_queue_sentinel(&ngx_http_taskgw_wait_pending);
             q = next)
        {
            next = ngx_queue_next(q);
            e = ngx_queue_data(q, ngx_http_taskgw_wait_entry_t, queue);

            if (e->replicas == g->replicas && e->timeout == g->timeout) {
                ngx_queue_remove(q);
                ngx_queue_insert_tail(&g->members, q);
                e->group = g;
                fence |= e->replay;
            }
        }

        n = 0;

        if (fence) {
            cmds[n].argc = 0;
            ngx_http_taskgw_redis_cmd_arg(&cmds[n], "PUBLISH", 7);
            p = ngx_sprintf(chan, "%V:wait-fence", &link->conf->prefix);
            ngx_http_taskgw_redis_cmd_arg(&cmds[n], chan, p - chan);
            ngx_http_taskgw_redis_cmd_arg(&cmds[n], "", 0);
            n++;
        }

        cmds[n].argc = 0;
        ngx_http_taskgw_redis_cmd_arg(&cmds[n], "WAIT", 4);
        p = ngx_sprintf(num, "%i", g->replicas);
        ngx_http_taskgw_redis_cmd_arg(&cmds[n], num, p - num);
        p = ngx_sprintf(ms, "%M", g->timeout);
        ngx_http_taskgw_redis_cmd_arg(&cmds[n], ms, p - ms);
        n++;

        out = ngx_http_taskgw_redis_format(cmds, n, link->log);

        if (out == NULL
            || ngx_http_taskgw_redis_queue(link->rc, out,
                                           ngx_http_taskgw_wait_reply, g)
               != NGX_OK)
        {
            ngx_http_taskgw_redis_free_out(out);

            /* a link that could not take the command is reset: no reply */
            ngx_http_taskgw_wait_reply(NULL, NULL, g);
            continue;
        }

        /*
         * WAITs run one after another: this one starts once those before
         * it returned.  The link's other batches (the next enqueues, held
         * behind it) allow for that before they time out, and so does
         * this one, by taskgw_redis_timeout on top.
         */

        start = link->wait_end;

        if ((ngx_msec_int_t) (start - ngx_current_msec) < 0) {
            start = ngx_current_msec;
        }

        link->wait_end = start + g->timeout;

        ngx_add_timer(&g->timer,
                      link->wait_end - ngx_current_msec + link->conf->timeout);
    }
}


/*
 * The replies of a group's commands: PUBLISH's (data NULL) and WAIT's,
 * the number of replicas that have the writes.  reply is NULL when hiredis
 * drops the context (ac NULL: the WAIT could not be sent at all).
 */

static void
ngx_http_taskgw_wait_reply(redisAsyncContext *ac, void *reply, void *data)
{
    redisReply                    *rr = reply;
    ngx_int_t                      acked;
    ngx_queue_t                   *q;
    const char                    *why;
    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_taskgw_wait_group_t  *g = data;
    ngx_http_taskgw_wait_entry_t  *e;

    if (ac != NULL && rr == NULL) {
        ngx_http_taskgw_redis_detach(ac->ev.data,
                                     ngx_http_taskgw_redis_error(ac));
    }

    if (g == NULL) {
        return;
    }

    if (g->timer.timer_set) {
        ngx_del_timer(&g->timer);
    }

    acked = -1;
    why = "the Redis link failed";

    if (rr != NULL && rr->type == REDIS_REPLY_INTEGER) {
        acked = (ngx_int_t) rr->integer;

    } else if (rr != NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_http_taskgw_wait_link.log, 0,
                      "taskgw: redis refused WAIT: %*s",
                      (size_t) (rr->type == REDIS_REPLY_ERROR ? rr->len : 0),
                      rr->str);
        why = "Redis refused WAIT";
    }

    while (!ngx_queue_empty(&g->members)) {
        q = ngx_queue_head(&g->members);
        /* the analyser loses the queue's shape from one turn to the
         * next: a removed element is never the head again */
        /* NOLINTNEXTLINE(clang-analyzer-*) */
        ngx_queue_remove(q);

        e = ngx_queue_data(q, ngx_http_taskgw_wait_entry_t, queue);
        e->queued = 0;
        e->group = NULL;

        r = e->request;

        /* a worker process that is exiting answers nobody any more */

        if (r == NULL || ngx_http_taskgw_wait_link.exiting) {
            continue;
        }

        c = r->connection;

        if (acked >= e->replicas) {
            ngx_http_taskgw_metrics_wait(r, 1);
            ngx_http_taskgw_enqueue_answer(r);

        } else {
            ngx_http_taskgw_wait_fail(e, acked, why);
        }

        ngx_http_run_posted_requests(c);
    }

    ngx_free(g);
}


/*
 * A WAIT that did not return by its timeout plus taskgw_redis_timeout:
 * Redis is stuck, and the link is reset (which answers the group).
 */

static void
ngx_http_taskgw_wait_timeout(ngx_event_t *ev)
{
    ngx_http_taskgw_redis_reset(&ngx_http_taskgw_wait_link,
                                "WAIT did not return in time");
}


/*
 * 503 for a request whose task may well be stored (and run) but is not
 * known to be on enough replicas: acked of them acknowledged it, or, when
 * acked is -1, why there is no count.
 */

static void
ngx_http_taskgw_wait_fail(ngx_http_taskgw_wait_entry_t *e, ngx_int_t acked,
    const char *why)
{
    u_char                 *msg, *p;
    size_t                  len;
    ngx_http_request_t     *r;
    ngx_http_taskgw_ctx_t  *ctx;

    r = e->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    ngx_http_taskgw_metrics_wait(r, 0);

    len = sizeof("task  may be stored, but only  of  replicas acknowledged "
                 "it within  ms; it may still run, or be lost if the "
                 "primary fails: retry with the same Idempotency-Key")
          + ctx->task_id.len + 3 * NGX_INT_T_LEN + ngx_strlen(why);

    msg = ngx_pnalloc(r->pool, len);
    if (msg == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (acked >= 0) {
        p = ngx_sprintf(msg, "task %V may be stored, but only %i of %i "
                        "replicas acknowledged it within %M ms",
                        &ctx->task_id, acked, e->replicas, e->timeout);

    } else {
        p = ngx_sprintf(msg, "task %V may be stored, but %s before %i "
                        "replicas acknowledged it",
                        &ctx->task_id, why, e->replicas);
    }

    (void) ngx_sprintf(p, "; it may still run, or be lost if the primary "
                       "fails: retry with the same Idempotency-Key%Z");

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0, "taskgw: %s", msg);

    ngx_http_finalize_request(r, ngx_http_taskgw_unavailable(r,
                                                             (char *) msg));
}


/* The request is going away: it leaves the queue it waits in. */

static void
ngx_http_taskgw_wait_cleanup(void *data)
{
    ngx_http_taskgw_wait_entry_t  *e = data;

    if (e->queued) {
        ngx_queue_remove(&e->queue);
        e->queued = 0;
    }

    if (e->group && ngx_queue_empty(&e->group->members)) {
        /* nobody waits for this WAIT now */
        e->group->timer.cancelable = 1;
    }

    e->group = NULL;
    e->request = NULL;
}
