
/*
 * ngx_http_taskgw_redis_op: one batch's life on the link: in flight, timed
 * out, finished and freed, or dropped when its request goes away.
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


static void ngx_http_taskgw_redis_flight_live(ngx_http_taskgw_link_t *link,
    ngx_int_t n);
static void ngx_http_taskgw_redis_unsend(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op);


/*
 * What an unsent batch's commands become: one of these per command; a
 * MULTI or an EXEC its pieces carry for a transaction stays one.
 */
static u_char  ngx_http_taskgw_redis_ping[] = "*1\r\n$4\r\nPING\r\n";
static u_char  ngx_http_taskgw_redis_multi[] = NGX_HTTP_TASKGW_REDIS_MULTI;
static u_char  ngx_http_taskgw_redis_exec[] = NGX_HTTP_TASKGW_REDIS_EXEC;


/*
 * Freed ops kept for the next batches (linked through their queue), so a
 * busy link makes no malloc() per batch; at most this many are kept.
 */
#define NGX_HTTP_TASKGW_REDIS_OPS_KEPT  64

static ngx_queue_t  ngx_http_taskgw_redis_free_ops;
static ngx_uint_t   ngx_http_taskgw_redis_nfree_ops;


/*
 * A zeroed op for a new batch: one kept from a batch before, or a new one
 * (NULL if it could not be allocated).
 */

ngx_http_taskgw_redis_op_t *
ngx_http_taskgw_redis_op_alloc(ngx_log_t *log)
{
    ngx_queue_t                 *q;
    ngx_http_taskgw_redis_op_t  *op;

    if (ngx_http_taskgw_redis_nfree_ops) {
        q = ngx_queue_head(&ngx_http_taskgw_redis_free_ops);
        ngx_queue_remove(q);
        ngx_http_taskgw_redis_nfree_ops--;

        op = ngx_queue_data(q, ngx_http_taskgw_redis_op_t, queue);
        ngx_memzero(op, sizeof(ngx_http_taskgw_redis_op_t));

        return op;
    }

    return ngx_calloc(sizeof(ngx_http_taskgw_redis_op_t), log);
}


/* An op handed to hiredis joins the link's batches in flight. */

void
ngx_http_taskgw_redis_fly(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op)
{
    ngx_msec_t  spent;

    ngx_queue_insert_tail(&link->flight, &op->queue);
    op->flying = 1;

    if (op->request) {
        ngx_http_taskgw_redis_flight_live(link, 1);
    }

    if (!link->op_timer.timer_set) {
        /* a batch that waited for the link to connect has less left */
        spent = ngx_current_msec - op->start;

        ngx_add_timer(&link->op_timer, spent < link->conf->timeout
                                       ? link->conf->timeout - spent : 0);
    }
}


/*
 * One more (n = 1) or one fewer (n = -1) batch in flight whose request
 * is still there.  The link's timer keeps an exiting worker process up
 * only while there are such batches.
 */

static void
ngx_http_taskgw_redis_flight_live(ngx_http_taskgw_link_t *link, ngx_int_t n)
{
    link->live += n;
    link->op_timer.cancelable = (link->live == 0);
}


/* Hands the reply to the request, if it is still there, and frees op. */

void
ngx_http_taskgw_redis_op_finish(ngx_http_taskgw_redis_op_t *op,
    redisReply *reply)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    r = op->request;

    if (op->flying) {
        /* the link's timer stays: see ngx_http_taskgw_redis_issue() */
        /* the analyser takes a waiting op, just taken off link->waiting,
         * for one in flight too: an op is never both */
        /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
        ngx_queue_remove(&op->queue);
        op->flying = 0;

        if (r != NULL) {
            ngx_http_taskgw_redis_flight_live(op->link, -1);
        }
    }

    if (r != NULL) {
        op->cleanup->handler = NULL;
    }

    /* a worker process that is exiting answers nobody any more */

    if (r != NULL && !op->link->exiting) {
        c = r->connection;

        op->done(r, reply);

        ngx_http_run_posted_requests(c);
    }

    ngx_http_taskgw_redis_op_free(op);
}


void
ngx_http_taskgw_redis_op_free(ngx_http_taskgw_redis_op_t *op)
{
    ngx_http_taskgw_redis_free_out(op->out);

    if (ngx_http_taskgw_redis_nfree_ops >= NGX_HTTP_TASKGW_REDIS_OPS_KEPT) {
        ngx_free(op);
        return;
    }

    if (ngx_http_taskgw_redis_nfree_ops++ == 0) {
        ngx_queue_init(&ngx_http_taskgw_redis_free_ops);
    }

    ngx_queue_insert_head(&ngx_http_taskgw_redis_free_ops, &op->queue);
}


/*
 * A batch that waited for the link to connect for the whole timeout: it
 * was never sent, and gets 503 (the link's own connect timer bounds each
 * attempt).
 */

void
ngx_http_taskgw_redis_op_timeout(ngx_event_t *ev)
{
    ngx_http_taskgw_redis_op_t  *op = ev->data;

    ngx_queue_remove(&op->queue);
    op->waiting = 0;
    ngx_http_taskgw_redis_op_finish(op, NULL);
}


/*
 * The link's timer: is the oldest batch in flight without its reply in
 * time?  (Replies come in order: if it is not late, no newer one is.)
 * While Redis keeps reading what is written to it or answering what came
 * before (a large command ahead of this one, say), the batch waits on:
 * the timeout counts from when it was sent, from the link's last
 * progress, or from when the WAITs written on the link (which hold the
 * connection by design, see ngx_http_taskgw_wait.c) may all have
 * returned, whichever is latest.  No progress for that long means Redis
 * is stuck or the path to it is: later replies on this connection cannot
 * be trusted to come, so the whole link is reset and every waiting
 * request answered 503.
 */

void
ngx_http_taskgw_redis_flight_timeout(ngx_event_t *ev)
{
    ngx_http_taskgw_link_t      *link = ev->data;

    u_char                      *p;
    ngx_msec_t                   since, idle;
    ngx_http_taskgw_redis_op_t  *op;

    static u_char  reason[sizeof("did not answer within  ms")
                          + NGX_INT_T_LEN];

    if (ngx_queue_empty(&link->flight)) {
        /* every batch was answered: armed again by the next one */
        return;
    }

    op = ngx_queue_data(ngx_queue_head(&link->flight),
                        ngx_http_taskgw_redis_op_t, queue);

    since = link->progress;

    if ((ngx_msec_int_t) (link->wait_end - since) > 0) {
        since = link->wait_end;
    }

    if ((ngx_msec_int_t) (op->start - since) > 0) {
        since = op->start;
    }

    idle = ngx_current_msec - since;

    if (link->state == NGX_HTTP_TASKGW_LINK_UP
        && ((ngx_msec_int_t) idle < 0 || idle < link->conf->timeout))
    {
        /* idle < 0 (a WAIT still due) makes this longer: mod 2^n */
        ngx_add_timer(&link->op_timer, link->conf->timeout - idle);
        return;
    }

    p = ngx_sprintf(reason, "did not answer within %M ms",
                    link->conf->timeout);
    *p = '\0';

    ngx_http_taskgw_redis_reset(link, (char *) reason);
}


void
ngx_http_taskgw_redis_op_cleanup(void *data)
{
    ngx_http_taskgw_redis_op_t  *op = data;

    if (op->waiting || op->gathered) {
        /* never sent: nothing will answer it */
        ngx_queue_remove(&op->queue);

        if (op->timer.timer_set) {
            ngx_del_timer(&op->timer);
        }

        if (op->gathered && op->size <= NGX_HTTP_TASKGW_REDIS_TXN_BYTES) {
            op->link->txn_n--;
            op->link->txn_size -= op->size;
        }

        ngx_http_taskgw_redis_op_free(op);
        return;
    }

    /*
     * The batch stays in flight; its reply will find no request.  Nobody
     * waits for it now, so it must not keep an exiting worker up (the
     * request went away, e.g. to worker_shutdown_timeout): it only still
     * guards the link while the worker runs.
     */
    op->request = NULL;

    if (op->flying) {
        ngx_http_taskgw_redis_flight_live(op->link, -1);
    }

    ngx_http_taskgw_redis_unsend(op->link, op);
}


/*
 * A batch whose request went away (the client closed its connection)
 * while not one byte of it had been written yet, because the link's
 * queue is backed up behind a large command or a Redis that does not
 * read: Redis must not run what nobody waits for.  hiredis still expects
 * one reply per command, so the commands become as many PINGs, which
 * change nothing; a MULTI or an EXEC its pieces carry for the other
 * batches of a transaction stays.  A batch that started going out is left
 * alone: Redis runs all of it (a task is stored) and the reply finds no
 * request.
 */

static void
ngx_http_taskgw_redis_unsend(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op)
{
    u_char                        *p;
    ngx_uint_t                     n, multi, exec;
    ngx_chain_t                  **pp, *cl, *rest;
    ngx_http_taskgw_redis_out_t   *out, *piece, *ping;
    ngx_http_taskgw_redis_conn_t  *rc;

    rc = link->rc;

    if (rc == NULL || op->head == NULL) {
        return;
    }

    /* the batch's pieces follow one another in rc->out */

    for (pp = &rc->out; *pp; pp = &(*pp)->next) {
        if (((ngx_http_taskgw_redis_out_t *) *pp)->owner == op) {
            break;
        }
    }

    if (*pp == NULL || *pp != op->head) {
        /* all of it written, or its first piece is gone: partly written */
        return;
    }

    out = (ngx_http_taskgw_redis_out_t *) *pp;

    if (out->buf.in_file || out->buf.pos != out->buf.start) {
        return;
    }

    n = 0;
    multi = out->multi;
    exec = 0;

    /* the batch's pieces, up to the rest of the queue, and its commands */

    for (rest = *pp; rest != NULL; rest = rest->next) {
        piece = (ngx_http_taskgw_redis_out_t *) rest;

        if (piece->owner != op) {
            break;
        }

        n += piece->ncmds;
        exec = piece->exec;
    }

    n -= multi + exec;

    ping = ngx_alloc(sizeof(ngx_http_taskgw_redis_out_t)
                     + multi * NGX_HTTP_TASKGW_REDIS_MULTI_LEN
                     + n * (sizeof(ngx_http_taskgw_redis_ping) - 1)
                     + exec * NGX_HTTP_TASKGW_REDIS_EXEC_LEN + 1,
                     link->log);
    if (ping == NULL) {
        /* it goes out as it is */
        return;
    }

    ngx_memzero(ping, sizeof(ngx_http_taskgw_redis_out_t));

    p = (u_char *) (ping + 1);

    ping->buf.start = p;
    ping->buf.pos = p;
    ping->buf.memory = 1;
    ping->cl.buf = &ping->buf;

    if (multi) {
        p = ngx_cpymem(p, ngx_http_taskgw_redis_multi,
                       NGX_HTTP_TASKGW_REDIS_MULTI_LEN);
    }

    while (n--) {
        p = ngx_cpymem(p, ngx_http_taskgw_redis_ping,
                       sizeof(ngx_http_taskgw_redis_ping) - 1);
    }

    if (exec) {
        p = ngx_cpymem(p, ngx_http_taskgw_redis_exec,
                       NGX_HTTP_TASKGW_REDIS_EXEC_LEN);
    }

    *p = '\0';
    ping->buf.last = p;
    ping->buf.end = p;

    /* the batch's own pieces out of the chain and freed, PINGs in */

    cl = *pp;
    *pp = &ping->cl;
    ping->cl.next = rest;

    if (rest == NULL) {
        rc->last = &ping->cl.next;
    }

    while (cl != rest) {
        out = (ngx_http_taskgw_redis_out_t *) cl;
        cl = cl->next;
        out->cl.next = NULL;
        ngx_http_taskgw_redis_free_out(&out->cl);
    }

    op->head = NULL;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, link->log, 0,
                   "taskgw: request gone before its batch was written, "
                   "batch dropped");
}
