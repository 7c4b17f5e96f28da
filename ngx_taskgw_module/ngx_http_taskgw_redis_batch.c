
/*
 * ngx_http_taskgw_redis_batch: batches of commands on the Redis link:
 * queued while it connects, written in order, timed out, answered.
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


static void ngx_http_taskgw_redis_reply(redisAsyncContext *ac, void *reply,
    void *data);
static void ngx_http_taskgw_redis_op_timeout(ngx_event_t *ev);
static void ngx_http_taskgw_redis_flight_live(ngx_http_taskgw_link_t *link,
    ngx_int_t n);
static ngx_int_t ngx_http_taskgw_redis_issue(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op);
static void ngx_http_taskgw_redis_fly(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op);
static ngx_int_t ngx_http_taskgw_redis_gather(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op);
static void ngx_http_taskgw_redis_seal_txn(ngx_http_taskgw_link_t *link,
    ngx_queue_t *from, ngx_uint_t max);
static void ngx_http_taskgw_redis_txn_finish(ngx_http_taskgw_redis_op_t *last,
    redisReply *reply);
static void ngx_http_taskgw_redis_fail_gathered(ngx_http_taskgw_link_t *link);
static ngx_http_taskgw_redis_op_t *ngx_http_taskgw_redis_ungather(
    ngx_http_taskgw_link_t *link, ngx_queue_t *from);
static ngx_int_t ngx_http_taskgw_redis_txn_ends(
    ngx_http_taskgw_link_t *link, ngx_chain_t *first, ngx_chain_t *last,
    ngx_chain_t **head, ngx_chain_t **tail);
static ngx_http_taskgw_redis_out_t *ngx_http_taskgw_redis_fixed(
    ngx_http_taskgw_link_t *link, u_char *cmd, size_t len);
static void ngx_http_taskgw_redis_op_finish(ngx_http_taskgw_redis_op_t *op,
    redisReply *reply);
static void ngx_http_taskgw_redis_op_free(ngx_http_taskgw_redis_op_t *op);
static void ngx_http_taskgw_redis_op_cleanup(void *data);
static void ngx_http_taskgw_redis_unsend(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op);
static void ngx_http_taskgw_redis_watch_client(ngx_http_request_t *r,
    ngx_http_taskgw_link_t *link);


/* What an unsent batch's commands become: one of these per command. */
static u_char  ngx_http_taskgw_redis_ping[] = "*1\r\n$4\r\nPING\r\n";


/*
 * Freed ops kept for the next batches (linked through their queue), so a
 * busy link makes no malloc() per batch; at most this many are kept.
 */
#define NGX_HTTP_TASKGW_REDIS_OPS_KEPT  64

static ngx_queue_t  ngx_http_taskgw_redis_free_ops;
static ngx_uint_t   ngx_http_taskgw_redis_nfree_ops;


/*
 * What one shared MULTI/EXEC holds at most: tasks, and bytes of their
 * commands.  Every task in it is answered only when EXEC's reply comes,
 * so the first waits for the others: 16 KB is what Redis reads from a
 * client at once (and answers together) anyway.  A task larger than that
 * goes in a MULTI/EXEC of its own, after the small ones of its turn, so
 * that they do not wait for its bytes.
 */
#define NGX_HTTP_TASKGW_REDIS_TXN_TASKS  64
#define NGX_HTTP_TASKGW_REDIS_TXN_BYTES  16384

static u_char  ngx_http_taskgw_redis_multi[] = NGX_HTTP_TASKGW_REDIS_MULTI;
static u_char  ngx_http_taskgw_redis_exec[] = NGX_HTTP_TASKGW_REDIS_EXEC;


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
    ngx_queue_t                 *q;
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

    if (ngx_http_taskgw_redis_nfree_ops) {
        q = ngx_queue_head(&ngx_http_taskgw_redis_free_ops);
        ngx_queue_remove(q);
        ngx_http_taskgw_redis_nfree_ops--;

        op = ngx_queue_data(q, ngx_http_taskgw_redis_op_t, queue);
        ngx_memzero(op, sizeof(ngx_http_taskgw_redis_op_t));

    } else {
        op = ngx_calloc(sizeof(ngx_http_taskgw_redis_op_t),
                        r->connection->log);
        if (op == NULL) {
            return NGX_ERROR;
        }
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


/* An op handed to hiredis joins the link's batches in flight. */

static void
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
 * A batch meant for a shared MULTI/EXEC waits for the link's write at
 * the end of this turn of the event loop (a request whose client leaves
 * before that is dropped from it, see op_cleanup).  A small one joins
 * the small ones gathered, which that write splits into transactions
 * (see ngx_http_taskgw_redis_seal); a large one (or one with a body part
 * in a file) waits to go alone.  Nothing is sealed here: a seal that
 * fails answers its requests, and this one's must not be answered while
 * it is still being sent.
 */

static ngx_int_t
ngx_http_taskgw_redis_gather(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (link->rc == NULL || link->state != NGX_HTTP_TASKGW_LINK_UP) {
        return NGX_ERROR;
    }

    size = 0;
    op->ncmds = 0;

    for (cl = op->out; cl; cl = cl->next) {
        b = cl->buf;
        op->ncmds += ((ngx_http_taskgw_redis_out_t *) cl)->ncmds;

        if (b->in_file) {
            size = NGX_HTTP_TASKGW_REDIS_TXN_BYTES + 1;

        } else if (size <= NGX_HTTP_TASKGW_REDIS_TXN_BYTES) {
            size += b->last - b->pos;
        }
    }

    op->size = size;
    op->gathered = 1;

    if (size > NGX_HTTP_TASKGW_REDIS_TXN_BYTES) {
        ngx_queue_insert_tail(&link->alone, &op->queue);

    } else {
        ngx_queue_insert_tail(&link->txn, &op->queue);
        link->txn_n++;
        link->txn_size += size;
    }

    ngx_http_taskgw_redis_add_write(link->rc);

    return NGX_OK;
}


/*
 * The link is about to write: what was gathered goes to hiredis, the
 * small batches in as few MULTI/EXECs as the caps allow, in the order
 * they came, then each large one in its own.
 */

void
ngx_http_taskgw_redis_seal(ngx_http_taskgw_link_t *link)
{
    while (link->txn_n) {
        ngx_http_taskgw_redis_seal_txn(link, &link->txn,
                                       NGX_HTTP_TASKGW_REDIS_TXN_TASKS);
    }

    while (!ngx_queue_empty(&link->alone)) {
        ngx_http_taskgw_redis_seal_txn(link, &link->alone, 1);
    }
}


/*
 * Up to max gathered ops from the head of from, and no more than the
 * transaction's bytes (but at least one): MULTI, their commands, EXEC,
 * handed to hiredis in one go.  EXEC's callback carries the last op,
 * which knows how many there are; the ops join the link's batches in
 * flight in the same order, so they follow one another there.  If the
 * link cannot take them, each gets a NULL reply (its request 503): this
 * runs only from the link's write, never for a request still being sent.
 */

static void
ngx_http_taskgw_redis_seal_txn(ngx_http_taskgw_link_t *link,
    ngx_queue_t *from, ngx_uint_t max)
{
    size_t                       size;
    ngx_uint_t                   i, n;
    ngx_chain_t                 *head, **last, *cl, *tail;
    ngx_http_taskgw_redis_op_t  *op, *ops[NGX_HTTP_TASKGW_REDIS_TXN_TASKS];

    n = 0;
    size = 0;

    while (n < max && !ngx_queue_empty(from)) {
        op = ngx_queue_data(ngx_queue_head(from), ngx_http_taskgw_redis_op_t,
                            queue);

        if (n && size + op->size > NGX_HTTP_TASKGW_REDIS_TXN_BYTES) {
            break;
        }

        size += op->size;
        ops[n++] = ngx_http_taskgw_redis_ungather(link, from);
    }

    if (n == 0) {
        return;
    }

    if (link->rc == NULL || link->state != NGX_HTTP_TASKGW_LINK_UP) {
        goto failed;
    }

    /* the last op's last piece */

    for (cl = ops[n - 1]->out; cl->next; cl = cl->next) { /* void */ }

    if (ngx_http_taskgw_redis_txn_ends(link, ops[0]->out, cl, &head, &tail)
        != NGX_OK)
    {
        goto failed;
    }

    /* MULTI, each op's pieces (known by their owner), EXEC */

    last = &head;

    if (head != ops[0]->out) {
        last = &head->next;
    }

    for (i = 0; i < n; i++) {
        op = ops[i];
        op->head = op->out;

        for (cl = op->out; cl; cl = cl->next) {
            ((ngx_http_taskgw_redis_out_t *) cl)->owner = op;
            *last = cl;
            last = &cl->next;
        }

        op->out = NULL;
    }

    *last = tail;

    ops[n - 1]->ntxn = n;

    if (ngx_http_taskgw_redis_queue(link->rc, head,
                                    ngx_http_taskgw_redis_reply, ops[n - 1])
        != NGX_OK)
    {
        /* the pieces go with the chain, which the link did not take */
        ngx_http_taskgw_redis_free_out(head);

        for (i = 0; i < n; i++) {
            ops[i]->head = NULL;
            ops[i]->ntxn = 0;
        }

        goto failed;
    }

    for (i = 0; i < n; i++) {
        ngx_http_taskgw_redis_fly(link, ops[i]);
    }

    return;

failed:

    for (i = 0; i < n; i++) {
        ngx_http_taskgw_redis_op_finish(ops[i], NULL);
    }
}


/*
 * A transaction's MULTI and EXEC: written into the room its first piece
 * keeps before its commands and its last piece after them, or, where a
 * piece has no such room (a part of a body in a file) or no place for one
 * more command, as a piece of their own.  *head is the chain's first
 * piece (MULTI's own, or first), *tail what follows last (EXEC's own, or
 * NULL).  NGX_ERROR (nothing changed) if a piece could not be allocated.
 */

static ngx_int_t
ngx_http_taskgw_redis_txn_ends(ngx_http_taskgw_link_t *link,
    ngx_chain_t *first, ngx_chain_t *last, ngx_chain_t **head,
    ngx_chain_t **tail)
{
    ngx_uint_t                    i, open, close;
    ngx_http_taskgw_redis_out_t  *f, *l, *multi, *exec;

    f = (ngx_http_taskgw_redis_out_t *) first;
    l = (ngx_http_taskgw_redis_out_t *) last;

    open = (!f->buf.in_file && f->ncmds < NGX_HTTP_TASKGW_REDIS_MAX_BATCH);
    close = (!l->buf.in_file
             && l->ncmds + (l == f && open) < NGX_HTTP_TASKGW_REDIS_MAX_BATCH);

    multi = NULL;
    exec = NULL;

    if (!open) {
        multi = ngx_http_taskgw_redis_fixed(link, ngx_http_taskgw_redis_multi,
                                          NGX_HTTP_TASKGW_REDIS_MULTI_LEN);
        if (multi == NULL) {
            return NGX_ERROR;
        }
    }

    if (!close) {
        exec = ngx_http_taskgw_redis_fixed(link, ngx_http_taskgw_redis_exec,
                                           NGX_HTTP_TASKGW_REDIS_EXEC_LEN);
        if (exec == NULL) {
            if (multi) {
                ngx_free(multi);
            }

            return NGX_ERROR;
        }
    }

    if (open) {
        for (i = f->ncmds; i > 0; i--) {
            f->cmd[i] = f->cmd[i - 1] + NGX_HTTP_TASKGW_REDIS_MULTI_LEN;
        }

        f->cmd[0] = 0;
        f->ncmds++;
        f->multi = 1;

        f->buf.start -= NGX_HTTP_TASKGW_REDIS_MULTI_LEN;
        f->buf.pos = f->buf.start;
        ngx_memcpy(f->buf.start, ngx_http_taskgw_redis_multi,
                   NGX_HTTP_TASKGW_REDIS_MULTI_LEN);

        *head = first;

    } else {
        multi->cl.next = first;
        *head = &multi->cl;
    }

    if (close) {
        l->cmd[l->ncmds++] = l->buf.last - l->buf.start;
        l->exec = 1;

        /* with the NUL that ends every memory piece */
        l->buf.last = ngx_cpymem(l->buf.last, ngx_http_taskgw_redis_exec,
                                 NGX_HTTP_TASKGW_REDIS_EXEC_LEN + 1) - 1;

        if (l->buf.end < l->buf.last) {
            l->buf.end = l->buf.last;
        }

        *tail = NULL;

    } else {
        *tail = &exec->cl;
    }

    return NGX_OK;
}


/*
 * EXEC's reply, for the ops of a shared MULTI/EXEC: the n ops in flight
 * up to last.  Each gets its own part of the array (its commands'
 * replies, so one task's failed command fails that task alone), or, when
 * EXEC's reply is not such an array (an error such as EXECABORT, nil, or
 * NULL for a lost link), that reply: then every op fails.
 */

static void
ngx_http_taskgw_redis_txn_finish(ngx_http_taskgw_redis_op_t *last,
    redisReply *reply)
{
    size_t                       k;
    ngx_uint_t                   i, n, parts;
    ngx_queue_t                 *q, *next;
    redisReply                   part;
    ngx_http_taskgw_redis_op_t  *op;

    n = last->ntxn;
    q = &last->queue;
    k = last->ncmds;

    /* the first of them, and how many commands they queued */

    for (i = 1; i < n; i++) {
        q = ngx_queue_prev(q);
        op = ngx_queue_data(q, ngx_http_taskgw_redis_op_t, queue);
        k += op->ncmds;
    }

    /* an array of one reply per command queued: each op its own part */

    parts = (reply != NULL && reply->type == REDIS_REPLY_ARRAY
             && reply->elements == k);

    ngx_memzero(&part, sizeof(redisReply));
    part.type = REDIS_REPLY_ARRAY;

    k = 0;

    /*
     * Each op leaves the queue as it is finished; the others of the
     * transaction stay in it meanwhile (only this reply finishes them).
     */

    for (i = 0; i < n; i++) {
        next = ngx_queue_next(q);
        op = ngx_queue_data(q, ngx_http_taskgw_redis_op_t, queue);

        if (parts) {
            part.elements = op->ncmds;
            part.element = reply->element + k;
            k += op->ncmds;

            ngx_http_taskgw_redis_op_finish(op, &part);

        } else {
            ngx_http_taskgw_redis_op_finish(op, reply);
        }

        q = next;
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


/* The link went down before it wrote what it gathered: NULL replies. */

static void
ngx_http_taskgw_redis_fail_gathered(ngx_http_taskgw_link_t *link)
{
    ngx_http_taskgw_redis_op_t  *op;

    while ((op = ngx_http_taskgw_redis_ungather(link, &link->txn)) != NULL
           || (op = ngx_http_taskgw_redis_ungather(link, &link->alone))
              != NULL)
    {
        ngx_http_taskgw_redis_op_finish(op, NULL);
    }
}


/*
 * Takes the first op off one of the link's gathering queues (link->txn,
 * the enqueues that share a transaction, or link->alone), or NULL when
 * it is empty.
 */

static ngx_http_taskgw_redis_op_t *
ngx_http_taskgw_redis_ungather(ngx_http_taskgw_link_t *link,
    ngx_queue_t *from)
{
    ngx_queue_t                 *q;
    ngx_http_taskgw_redis_op_t  *op;

    if (ngx_queue_empty(from)) {
        return NULL;
    }

    q = ngx_queue_head(from);
    /* the analyser loses the queue's shape from one call to the next:
     * a removed element is never the head again */
    /* NOLINTNEXTLINE(clang-analyzer-*) */
    ngx_queue_remove(q);

    op = ngx_queue_data(q, ngx_http_taskgw_redis_op_t, queue);
    op->gathered = 0;

    if (from == &link->txn) {
        link->txn_n--;
        link->txn_size -= op->size;
    }

    return op;
}


/*
 * Every command's reply comes here; data is the op on a batch's last
 * command.  A NULL reply means hiredis is dropping the context, and every
 * reply still due comes as NULL: the first one takes the link down, so
 * that nothing the answered requests set going uses the dying context.
 */

static void
ngx_http_taskgw_redis_reply(redisAsyncContext *ac, void *reply, void *data)
{
    ngx_http_taskgw_redis_conn_t  *rc = ac->ev.data;

    if (reply == NULL) {
        ngx_http_taskgw_redis_detach(rc, ngx_http_taskgw_redis_error(ac));

    } else if (ngx_http_taskgw_redis_is_readonly(reply)) {
        /*
         * A replica now: the write was not stored.  The request gets 503
         * like one that lost the link, and the link asks again where the
         * master is.
         */
        ngx_http_taskgw_redis_readonly(rc);
        reply = NULL;
    }

    if (data == NULL) {
        return;
    }

    if (((ngx_http_taskgw_redis_op_t *) data)->ntxn) {
        ngx_http_taskgw_redis_txn_finish(data, reply);

    } else {
        ngx_http_taskgw_redis_op_finish(data, reply);
    }
}


/* Hands the reply to the request, if it is still there, and frees op. */

static void
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


static void
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

static void
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


static void
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


/* A memory piece of its own holding one fixed command. */

static ngx_http_taskgw_redis_out_t *
ngx_http_taskgw_redis_fixed(ngx_http_taskgw_link_t *link, u_char *cmd,
    size_t len)
{
    u_char                       *p;
    ngx_http_taskgw_redis_out_t  *out;

    out = ngx_alloc(sizeof(ngx_http_taskgw_redis_out_t) + len + 1, link->log);
    if (out == NULL) {
        return NULL;
    }

    ngx_memzero(out, sizeof(ngx_http_taskgw_redis_out_t));

    p = (u_char *) (out + 1);

    out->buf.start = p;
    out->buf.pos = p;
    out->buf.last = ngx_cpymem(p, cmd, len + 1);
    out->buf.last--;
    out->buf.end = out->buf.last;
    out->buf.memory = 1;
    out->cl.buf = &out->buf;

    out->cmd[0] = 0;
    out->ncmds = 1;

    return out;
}


/*
 * Whether a batch succeeded: a reply arrived, is not a Redis error, and
 * is not nil (an aborted EXEC); for EXEC, no queued command failed.
 */

ngx_uint_t
ngx_http_taskgw_redis_reply_ok(redisReply *reply)
{
    size_t  i;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR
        || reply->type == REDIS_REPLY_NIL)
    {
        return 0;
    }

    if (reply->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < reply->elements; i++) {
            if (reply->element[i]->type == REDIS_REPLY_ERROR) {
                return 0;
            }
        }
    }

    return 1;
}


/*
 * Why a batch failed, for a log line: Redis's own error text (for EXEC,
 * the first command that failed), else what the reply was.  The text
 * points into the reply.
 */

void
ngx_http_taskgw_redis_reply_error(redisReply *reply, ngx_str_t *text)
{
    size_t  i;

    if (reply == NULL) {
        ngx_str_set(text, "no reply");
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < reply->elements; i++) {
            if (reply->element[i]->type == REDIS_REPLY_ERROR) {
                reply = reply->element[i];
                break;
            }
        }
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        text->data = (u_char *) reply->str;
        text->len = reply->len;
        return;
    }

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_str_set(text, "transaction aborted (nil reply)");
        return;
    }

    ngx_str_set(text, "unexpected reply");
}
