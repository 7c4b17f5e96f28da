
/*
 * ngx_http_taskgw_redis_adapter: hiredis's event hooks on a link's nginx
 * connection: its socket read, its queued commands written, torn down.
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


/*
 * At most this many bytes are written per write event: a large command
 * goes out over several turns of the event loop, and the worker's other
 * connections get their turn in between.
 */
#define NGX_HTTP_TASKGW_REDIS_WRITE_LIMIT  (512 * 1024)


static void ngx_http_taskgw_redis_write(ngx_http_taskgw_redis_conn_t *rc);
static void ngx_http_taskgw_redis_release(ngx_http_taskgw_redis_conn_t *rc);
static void ngx_http_taskgw_redis_want_write(ngx_http_taskgw_redis_conn_t *rc);


/*
 * Events are registered level-triggered: hiredis reads at most 16 KB per
 * call, and with level-triggered events the loop calls us again while the
 * socket still has data, so a large pipeline of replies is never stranded
 * the way it could be under edge-triggered epoll.
 *
 * hiredis itself never writes: every command reaches it with no bytes
 * (only its callback is registered), and the bytes go out from rc->out,
 * written here.  hiredis 0.14 moves the rest of its output buffer to the
 * front after every partial write, which makes a large command cost time
 * quadratic in its size; here each byte is written once.
 *
 * A handler marks its context busy while hiredis runs: if hiredis frees
 * the context meanwhile, its clean-up leaves the freeing of our part to
 * the handler.
 */


void
ngx_http_taskgw_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t              *c = ev->data;
    ngx_http_taskgw_redis_conn_t  *rc = c->data;

    rc->busy++;

    if (rc->link->rc == rc) {
        rc->link->progress = ngx_current_msec;
        rc->link->heard++;
    }

    redisAsyncHandleRead(rc->ac);

    ngx_http_taskgw_redis_release(rc);
}


void
ngx_http_taskgw_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t              *c = ev->data;
    ngx_http_taskgw_redis_conn_t  *rc = c->data;

    rc->busy++;

    if (!(rc->ac->c.flags & REDIS_CONNECTED)) {
        /* how the connect went; hiredis frees the context if it failed */
        redisAsyncHandleWrite(rc->ac);

        if (rc->gone || !(rc->ac->c.flags & REDIS_CONNECTED)) {
            ngx_http_taskgw_redis_release(rc);
            return;
        }
    }

    ngx_http_taskgw_redis_write(rc);

    ngx_http_taskgw_redis_release(rc);
}


/* Writes what is queued, up to the limit per event; frees what went out. */

static void
ngx_http_taskgw_redis_write(ngx_http_taskgw_redis_conn_t *rc)
{
    off_t                    sent;
    ngx_uint_t               behind;
    ngx_chain_t             *cl, *next;
    ngx_connection_t        *c;
    ngx_http_taskgw_link_t  *link;

    c = rc->conn;
    link = rc->link;

    /* the plain enqueues this turn gathered: their MULTI/EXEC first */

    if (link->rc == rc && (link->txn_n || !ngx_queue_empty(&link->alone))) {
        ngx_http_taskgw_redis_seal(link);

        if (rc->gone || rc->conn == NULL) {
            return;
        }
    }

    if (rc->out != NULL) {
        sent = c->sent;
        behind = rc->behind;

        cl = c->send_chain(c, rc->out, NGX_HTTP_TASKGW_REDIS_WRITE_LIMIT);

        if (cl == NGX_CHAIN_ERROR) {
            if (link->rc == rc) {
                ngx_http_taskgw_redis_reset(link, "connection lost while "
                                                  "writing");
            }

            return;
        }

        /*
         * Bytes that go into a socket that had taken everything before
         * are no sign that Redis reads: the kernel takes them from a
         * Redis that stopped, too (a newer batch written must not keep
         * the oldest one waiting on).  Bytes that go after the socket was
         * full (or the limit per event was reached) mean Redis read some.
         */

        if (c->sent != sent && behind && link->rc == rc) {
            link->progress = ngx_current_msec;
        }

        while (rc->out != cl) {
            next = rc->out->next;
            rc->out->next = NULL;
            ngx_http_taskgw_redis_free_out(rc->out);
            rc->out = next;
        }

        rc->behind = (rc->out != NULL);

        if (rc->out == NULL) {
            rc->last = &rc->out;

        } else {
            /*
             * the socket is full, or the limit per event was reached: the
             * rest goes when the kernel says the socket takes more, after
             * the worker's other events of the next turn
             */
            ngx_http_taskgw_redis_want_write(rc);
            return;
        }
    }

    ngx_http_taskgw_redis_del_write(rc);
}


static void
ngx_http_taskgw_redis_release(ngx_http_taskgw_redis_conn_t *rc)
{
    if (--rc->busy == 0 && rc->gone) {
        ngx_free(rc);
    }
}


void
ngx_http_taskgw_redis_add_read(void *data)
{
    ngx_http_taskgw_redis_conn_t  *rc = data;

    if (rc->conn && !rc->conn->read->active) {
        if (ngx_add_event(rc->conn->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, rc->link->log, 0,
                          "taskgw: cannot add redis read event");
        }
    }
}


void
ngx_http_taskgw_redis_del_read(void *data)
{
    ngx_http_taskgw_redis_conn_t  *rc = data;

    if (rc->conn && rc->conn->read->active) {
        (void) ngx_del_event(rc->conn->read, NGX_READ_EVENT, 0);
    }
}


/*
 * Something was queued.  On a connected socket that took everything so
 * far, the write event is posted: it runs once this turn of the event
 * loop has handled all its events, and writes what every request of the
 * turn queued in one writev(), with no change to the epoll set.  Write
 * interest is asked of the kernel only while connecting (its first write
 * event tells the connect went through) and when the socket was full.
 */

void
ngx_http_taskgw_redis_add_write(void *data)
{
    ngx_http_taskgw_redis_conn_t  *rc = data;

    ngx_event_t  *wev;

    if (rc->conn == NULL) {
        return;
    }

    wev = rc->conn->write;

    if (wev->active || wev->posted) {
        return;
    }

    if (wev->ready && (rc->ac->c.flags & REDIS_CONNECTED)) {
        ngx_post_event(wev, &ngx_posted_events);
        return;
    }

    ngx_http_taskgw_redis_want_write(rc);
}


/* Write interest in the socket, level-triggered, until del_write. */

static void
ngx_http_taskgw_redis_want_write(ngx_http_taskgw_redis_conn_t *rc)
{
    if (!rc->conn->write->active
        && ngx_add_event(rc->conn->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, rc->link->log, 0,
                      "taskgw: cannot add redis write event");
    }
}


/* Write events stop only when nothing is left to write. */

void
ngx_http_taskgw_redis_del_write(void *data)
{
    ngx_http_taskgw_redis_conn_t  *rc = data;

    if (rc->conn && rc->conn->write->active && rc->out == NULL) {
        (void) ngx_del_event(rc->conn->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * hiredis is about to close the socket and free the context: release the
 * nginx side of it without closing the descriptor (a second close could
 * hit a socket this process has opened again under the same number), and
 * drop what was not written.  A context hiredis dropped on its own (an
 * error, or Redis closed it) takes the link down with it, if it still was
 * the link's.
 */

void
ngx_http_taskgw_redis_cleanup(void *data)
{
    ngx_http_taskgw_redis_conn_t  *rc = data;

    ngx_connection_t        *c;
    redisAsyncContext       *ac;
    ngx_http_taskgw_link_t  *link;

    if (rc->gone) {
        return;
    }

    rc->gone = 1;
    ac = rc->ac;
    link = rc->link;

    /* no hook of ours is called for this context after this one */
    ac->ev.addRead = NULL;
    ac->ev.delRead = NULL;
    ac->ev.addWrite = NULL;
    ac->ev.delWrite = NULL;
    ac->ev.cleanup = NULL;

    c = rc->conn;
    rc->conn = NULL;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;

    ngx_http_taskgw_redis_free_out(rc->out);
    rc->out = NULL;

    ngx_http_taskgw_redis_detach(rc, ngx_http_taskgw_redis_error(ac));

    if (link->closing == rc) {
        link->closing = NULL;
    }

    ac->ev.data = NULL;

    if (rc->busy == 0) {
        ngx_free(rc);
    }
}
