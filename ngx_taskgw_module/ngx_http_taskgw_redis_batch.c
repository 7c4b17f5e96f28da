
/*
 * ngx_http_taskgw_redis_batch: batches of commands on the Redis link:
 * sent by requests, held while it connects, handed to hiredis in order.
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


static ngx_int_t ngx_http_taskgw_redis_issue(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op);
static void ngx_http_taskgw_redis_watch_client(ngx_http_request_t *r,
    ngx_http_taskgw_link_t *link);


/*
 * Hands formatted commands to a context: hiredis registers a callback for
 * each (fn, with data for the last one) and gets no bytes; the bytes join
 * rc->out in the same order.  All or nothing: a command whose callback is
 * registered but whose bytes are not written would leave the replies
 * unmatched, so a failure part of the way resets the link.  On success
 * the chain belongs to the context.
 */

ngx_int_t
ngx_http_taskgw_redis_queue(ngx_http_taskgw_redis_conn_t *rc,
    ngx_chain_t *out, redisCallbackFn *fn, void *data)
{
    ngx_uint_t                    i, k, n;
    ngx_chain_t                  *cl;
    ngx_http_taskgw_redis_out_t  *piece;

    if (rc->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)) {
        return NGX_ERROR;
    }

    n = 0;

    for (cl = out; cl; cl = cl->next) {
        n += ((ngx_http_taskgw_redis_out_t *) cl)->ncmds;
    }

    k = 0;

    for (cl = out; cl; cl = cl->next) {
        piece = (ngx_http_taskgw_redis_out_t *) cl;

        for (i = 0; i < piece->ncmds; i++) {

            if (redisAsyncFormattedCommand(rc->ac, fn,
                                           ++k == n ? data : NULL,
                                           (char *) piece->buf.start
                                           + piece->cmd[i], 0)
                != REDIS_OK)
            {
                ngx_log_error(NGX_LOG_ERR, rc->link->log, 0,
                              "taskgw: redis command could not be queued");

                if (k > 1) {
                    ngx_http_taskgw_redis_reset(rc->link,
                                                "command queue failed");
                }

                return NGX_ERROR;
            }
        }
    }

    *rc->last = out;

    /* out is never empty: every caller formats at least one command */
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
    for (cl = out; cl->next; cl = cl->next) { /* void */ }

    rc->last = &cl->next;

    ngx_http_taskgw_redis_add_write(rc);

    return NGX_OK;
}


/*
 * Writes formatted commands whose replies hiredis is not told about: it
 * drops a reply that matches no callback, but only on a subscribed
 * connection, where a reply shaped like a message names no channel of
 * ours (PING's ["pong", ""]).  That is the subscriber's keep-alive; a
 * callback registered for it would never be called and would pile up
 * (hiredis 0.14 keeps it until the context goes).  The chain belongs to
 * the context.
 */

void
ngx_http_taskgw_redis_queue_unmatched(ngx_http_taskgw_redis_conn_t *rc,
    ngx_chain_t *out)
{
    ngx_chain_t  *cl;

    *rc->last = out;

    for (cl = out; cl->next; cl = cl->next) { /* void */ }

    rc->last = &cl->next;

    ngx_http_taskgw_redis_add_write(rc);
}


/*
 * Sends n commands pipelined on the link; done() gets the last one's
 * reply.  While the link is connecting the batch waits for it (within the
 * same timeout).  NGX_ERROR means the link is down: nothing is in flight,
 * done() will not be called, and the caller answers 503 itself.
 * NGX_HTTP_INTERNAL_SERVER_ERROR means a command had too many arguments
 * (a bug, logged); the caller answers 500.
 */

ngx_int_t
ngx_http_taskgw_redis_send(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_http_taskgw_redis_done_pt done)
{
    return ngx_http_taskgw_redis_send_on(&ngx_http_taskgw_link, r, cmds, n,
                                         0, done);
}


/*
 * The same for commands that are to run as one MULTI/EXEC (without MULTI
 * and EXEC in cmds): the link puts those of several requests in one,
 * which costs hiredis two commands and Redis a MULTI and an EXEC per
 * transaction instead of per request.  done() gets this batch's part of
 * EXEC's reply (see ngx_http_taskgw_redis_done_pt).
 */

ngx_int_t
ngx_http_taskgw_redis_send_txn(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_http_taskgw_redis_done_pt done)
{
    return ngx_http_taskgw_redis_send_on(&ngx_http_taskgw_link, r, cmds, n,
                                         1, done);
}


/* The same, on a given link of this worker process, txn as above. */

ngx_int_t
ngx_http_taskgw_redis_send_on(ngx_http_taskgw_link_t *link,
    ngx_http_request_t *r, ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_uint_t txn, ngx_http_taskgw_redis_done_pt done)
{
    ngx_uint_t                   i;
    ngx_pool_cleanup_t          *cln;
    ngx_http_taskgw_redis_op_t  *op;

    if (n > NGX_HTTP_TASKGW_REDIS_MAX_BATCH) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "taskgw: a redis batch of more than %d commands",
                      NGX_HTTP_TASKGW_REDIS_MAX_BATCH);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (cmds[i].argc > NGX_HTTP_TASKGW_REDIS_MAX_ARGS) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "taskgw: a redis command has more than %d "
                          "arguments", NGX_HTTP_TASKGW_REDIS_MAX_ARGS);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /*
     * A request that finds the link down when the backoff delay is over
     * (the reconnect timer is about to fire) starts the attempt itself and
     * waits for it; earlier, it is answered at once.
     */

    if (link->state == NGX_HTTP_TASKGW_LINK_DOWN && link->rc == NULL
        && link->closing == NULL && !link->exiting
        && (ngx_msec_int_t) (ngx_current_msec - link->next_attempt) >= 0)
    {
        if (link->reconnect.timer_set) {
            ngx_del_timer(&link->reconnect);
        }

        ngx_http_taskgw_redis_connect(link);
    }

    /* between two sentinels (sentinel=) a connecting link has no rc */

    if (link->state == NGX_HTTP_TASKGW_LINK_DOWN
        || (link->rc == NULL
            && link->state != NGX_HTTP_TASKGW_LINK_CONNECTING)
        || (link->rc != NULL
            && (link->rc->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING))))
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "taskgw: redis link %s, not sending",
                       ngx_http_taskgw_redis_state_name(link->state));
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    op = ngx_http_taskgw_redis_op_alloc(r->connection->log);
    if (op == NULL) {
        return NGX_ERROR;
    }

    op->out = ngx_http_taskgw_redis_format(cmds, n, r->connection->log);
    if (op->out == NULL) {
        ngx_http_taskgw_redis_op_free(op);
        return NGX_ERROR;
    }

    op->link = link;
    op->request = r;
    op->done = done;
    op->cleanup = cln;
    op->start = ngx_current_msec;
    op->txn = txn ? 1 : 0;

    op->timer.handler = ngx_http_taskgw_redis_op_timeout;
    op->timer.data = op;
    op->timer.log = link->log;

    /*
     * Before the batch is issued: a client that closed at once has its
     * read event posted ahead of the link's write event (posted events
     * run in order), so the batch is dropped instead of written.
     */

    ngx_http_taskgw_redis_watch_client(r, link);

    if (link->state == NGX_HTTP_TASKGW_LINK_CONNECTING) {
        ngx_queue_insert_tail(&link->waiting, &op->queue);
        op->waiting = 1;
        ngx_add_timer(&op->timer, link->conf->timeout);

    } else if (ngx_http_taskgw_redis_issue(link, op) != NGX_OK) {
        ngx_http_taskgw_redis_op_free(op);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_taskgw_redis_op_cleanup;
    cln->data = op;

    return NGX_OK;
}


/*
 * While its batch waits for Redis, a request notices a client that closes
 * the connection, as a proxied request does: it ends there (499, "client
 * prematurely closed connection" at info level), and its batch is dropped
 * unless some of it was written already (see op_cleanup).  Without this
 * the request would live on until the reply, and a batch waiting for the
 * link would still be sent for nobody.  A request still reading or
 * discarding its body keeps the handler it has.
 */

static void
ngx_http_taskgw_redis_watch_client(ngx_http_request_t *r,
    ngx_http_taskgw_link_t *link)
{
    ngx_event_t       *wev;
    ngx_connection_t  *c;

    if (r != r->main || r->read_event_handler != ngx_http_block_reading) {
        return;
    }

    c = r->connection;

    r->read_event_handler = ngx_http_test_reading;

    /* level-triggered event methods had the read event removed */

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        r->read_event_handler = ngx_http_block_reading;
        return;
    }

    /*
     * An edge-triggered event that came with the request (the client sent
     * its request and closed at once) does not come again: look now, but
     * once the current handler is done with the request.
     */

    if (c->read->ready || c->read->pending_eof) {
        ngx_post_event(c->read, &ngx_posted_events);

        /*
         * The link's write may be posted already, by a request before
         * this one in the same turn (clients whose requests and ends came
         * together): it moves behind this look, as it would otherwise
         * write this batch first.
         */

        if (link->rc != NULL && link->rc->conn != NULL
            && link->rc->conn->write->posted)
        {
            wev = link->rc->conn->write;
            ngx_delete_posted_event(wev);
            ngx_post_event(wev, &ngx_posted_events);
        }
    }
}


/*
 * A command whose reply nobody waits for (clean-up after a failure): sent
 * only on a link that is UP, and forgotten otherwise.
 */

void
ngx_http_taskgw_redis_fire(ngx_http_taskgw_redis_cmd_t *cmd)
{
    ngx_chain_t             *out;
    ngx_http_taskgw_link_t  *link = &ngx_http_taskgw_link;

    if (link->state != NGX_HTTP_TASKGW_LINK_UP || link->rc == NULL
        || cmd->argc > NGX_HTTP_TASKGW_REDIS_MAX_ARGS)
    {
        return;
    }

    out = ngx_http_taskgw_redis_format(cmd, 1, link->log);
    if (out == NULL) {
        return;
    }

    if (ngx_http_taskgw_redis_queue(link->rc, out,
                                    ngx_http_taskgw_redis_reply, NULL)
        != NGX_OK)
    {
        ngx_http_taskgw_redis_free_out(out);
    }
}


/*
 * Hands an op's commands to the link; the last one carries the op, which
 * joins the link's batches in flight.  The link's timer is armed unless
 * it already is: then it is due no later than this batch's timeout, since
 * it was set for an older batch, or for a batch answered since, older
 * still.
 */

static ngx_int_t
ngx_http_taskgw_redis_issue(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op)
{
    ngx_chain_t  *cl;

    if (op->txn) {
        return ngx_http_taskgw_redis_gather(link, op);
    }

    /* its pieces are known by their owner, should its request go away */

    for (cl = op->out; cl; cl = cl->next) {
        ((ngx_http_taskgw_redis_out_t *) cl)->owner = op;
    }

    op->head = op->out;

    if (link->rc == NULL
        || ngx_http_taskgw_redis_queue(link->rc, op->out,
                                       ngx_http_taskgw_redis_reply, op)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    op->out = NULL;

    ngx_http_taskgw_redis_fly(link, op);

    return NGX_OK;
}


/*
 * The ops that waited for the link: sent once it is UP, or failed with a
 * NULL reply when it went down instead.
 */

void
ngx_http_taskgw_redis_flush(ngx_http_taskgw_link_t *link, ngx_uint_t fail)
{
    ngx_queue_t                 *q;
    ngx_http_taskgw_redis_op_t  *op;

    while (!ngx_queue_empty(&link->waiting)) {
        q = ngx_queue_head(&link->waiting);
        /* the analyser loses the queue's shape from one turn to the
         * next: a removed element is never the head again */
        /* NOLINTNEXTLINE(clang-analyzer-*) */
        ngx_queue_remove(q);

        op = ngx_queue_data(q, ngx_http_taskgw_redis_op_t, queue);
        op->waiting = 0;

        if (op->timer.timer_set) {
            ngx_del_timer(&op->timer);
        }

        if (fail || ngx_http_taskgw_redis_issue(link, op) != NGX_OK) {
            ngx_http_taskgw_redis_op_finish(op, NULL);
        }
    }

    if (fail) {
        ngx_http_taskgw_redis_fail_gathered(link);
    }
}
