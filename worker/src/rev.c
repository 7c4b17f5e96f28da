/*
 * The libuv event adapter of the worker's hiredis connections (rev.h).
 */

#include <stdlib.h>

#include <hiredis/async.h>
#include <uv.h>

#include "rev.h"

/* ------------------------------------------------------------------------
 * The event-loop adapter.  hiredis 0.14's own libuv adapter ignores a poll
 * error status, and libuv reports a refused or reset socket exactly that
 * way (POLLERR -> UV_EBADF, the poll stopped): the connection would hang
 * instead of failing.  This one hands any error to hiredis as readiness,
 * so hiredis reads or writes, sees the socket error, and fails cleanly.
 *
 * It also keeps the poll's interest still while the connection is busy.
 * hiredis asks for write interest with every command it queues and drops
 * it once its buffer is written, and asks for read interest after every
 * read and write: followed literally that is two epoll_ctl calls per
 * command.  Here the read interest is set once; a command queued on a
 * connected socket arms a prepare handle instead, which writes everything
 * queued during the loop iteration in one write(2) just before the loop
 * polls again.  Only a write the socket does not take whole (its buffer
 * is full) and the connect itself wait for the socket to be writable.
 * ------------------------------------------------------------------------ */

typedef struct {
    redisAsyncContext  *ac;         /* NULL once hiredis cleaned up */
    uv_poll_t           poll;
    uv_prepare_t        flush;      /* writes what was queued, once per
                                       loop iteration */
    int                 events;     /* UV_READABLE | UV_WRITABLE polled */
    int                 open;       /* handles not yet closed */
} tgw_rev_t;

/* Inside a flush (any connection's): a command queued now, by the flush
 * or by a callback it ran (a lost connection's), could not arm a prepare
 * handle that runs in this same iteration, so it waits for the poll. */
static int tgw_rev_flushing;


static void tgw_rev_on_poll(uv_poll_t *h, int status, int events);


/* Polls for events (the poll is only touched when they change). */
static void
tgw_rev_set(tgw_rev_t *ev, int events)
{
    if (events == ev->events) {
        return;
    }
    ev->events = events;
    if (events) {
        uv_poll_start(&ev->poll, events, tgw_rev_on_poll);
    } else {
        uv_poll_stop(&ev->poll);
    }
}


static void
tgw_rev_on_poll(uv_poll_t *h, int status, int events)
{
    tgw_rev_t *ev = h->data;

    if (status != 0) {
        events = ev->events;        /* let hiredis find the error */
    }
    if (ev->ac != NULL && (events & UV_READABLE)) {
        redisAsyncHandleRead(ev->ac);
    }
    if (ev->ac != NULL && (events & UV_WRITABLE)) {
        redisAsyncHandleWrite(ev->ac);
    }
    if (status != 0 && ev->ac != NULL && ev->events) {
        /* libuv stopped the poll; resume it */
        uv_poll_start(&ev->poll, ev->events, tgw_rev_on_poll);
    }
}


static void
tgw_rev_on_flush(uv_prepare_t *h)
{
    tgw_rev_t *ev = h->data;

    uv_prepare_stop(h);
    if (ev->ac == NULL) {
        return;
    }
    /* A write that is not done asks for write interest again: within
     * the flush that is the real one, on the poll. */
    tgw_rev_flushing++;
    redisAsyncHandleWrite(ev->ac);
    tgw_rev_flushing--;
}


static void
tgw_rev_add_read(void *p)
{
    tgw_rev_t *ev = p;

    tgw_rev_set(ev, ev->events | UV_READABLE);
}


static void
tgw_rev_del_read(void *p)
{
    tgw_rev_t *ev = p;

    tgw_rev_set(ev, ev->events & ~UV_READABLE);
}


static void
tgw_rev_add_write(void *p)
{
    tgw_rev_t *ev = p;

    if (ev->events & UV_WRITABLE) {
        return;                     /* the poll writes it when it can */
    }
    if ((ev->ac->c.flags & REDIS_CONNECTED) && !tgw_rev_flushing) {
        uv_prepare_start(&ev->flush, tgw_rev_on_flush);
        return;
    }
    tgw_rev_set(ev, ev->events | UV_WRITABLE);
}


static void
tgw_rev_del_write(void *p)
{
    tgw_rev_t *ev = p;

    tgw_rev_set(ev, ev->events & ~UV_WRITABLE);
}


static void
tgw_rev_closed(uv_handle_t *h)
{
    tgw_rev_t *ev = h->data;

    if (--ev->open == 0) {
        free(ev);
    }
}


/* hiredis is done with the socket (it closes the fd right after). */
static void
tgw_rev_cleanup(void *p)
{
    tgw_rev_t *ev = p;

    ev->ac = NULL;
    uv_close((uv_handle_t *) &ev->poll, tgw_rev_closed);
    uv_close((uv_handle_t *) &ev->flush, tgw_rev_closed);
}


int
tgw_rev_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    tgw_rev_t *ev;

    ev = calloc(1, sizeof(*ev));
    if (ev == NULL) {
        return -1;
    }
    if (uv_poll_init(loop, &ev->poll, ac->c.fd) != 0) {
        free(ev);
        return -1;
    }
    uv_prepare_init(loop, &ev->flush);
    ev->open = 2;
    ev->ac = ac;
    ev->poll.data = ev;
    ev->flush.data = ev;
    ac->ev.data = ev;
    ac->ev.addRead = tgw_rev_add_read;
    ac->ev.delRead = tgw_rev_del_read;
    ac->ev.addWrite = tgw_rev_add_write;
    ac->ev.delWrite = tgw_rev_del_write;
    ac->ev.cleanup = tgw_rev_cleanup;
    return 0;
}
