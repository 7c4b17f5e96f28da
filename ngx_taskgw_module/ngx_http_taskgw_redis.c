
/*
 * ngx_http_taskgw_redis: the Redis link of one nginx worker process.
 * An adapter maps hiredis's event hooks onto an ngx_connection_t; command
 * and connect timeouts are nginx timers; a broken link reconnects with
 * backoff and jitter.  Nothing here blocks.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"


/*
 * The link's life: DOWN (waiting out a backoff delay) -> CONNECTING (TCP
 * connect, then AUTH/SELECT/PING) -> UP, and back to DOWN on any error,
 * timeout or disconnect.  Request batches are written only while UP, so
 * none can run before AUTH and SELECT took effect; batches that arrive
 * while CONNECTING wait in the link's queue.
 */
typedef enum {
    NGX_HTTP_TASKGW_LINK_DOWN = 0,
    NGX_HTTP_TASKGW_LINK_CONNECTING,
    NGX_HTTP_TASKGW_LINK_UP
} ngx_http_taskgw_link_state_e;


typedef struct {
    ngx_http_taskgw_main_conf_t   *conf;
    ngx_log_t                     *log;
    redisAsyncContext             *ctx;        /* NULL while DOWN */
    ngx_connection_t              *conn;       /* wraps ctx's socket */
    ngx_http_taskgw_link_state_e   state;
    ngx_event_t                    reconnect;  /* backoff timer */
    ngx_event_t                    connect_timer;
    ngx_uint_t                     failures;   /* since the last UP */
    ngx_msec_t                     attempted;  /* last connect started */
    ngx_queue_t                    waiting;    /* ops held while CONNECTING */
    unsigned                       exiting:1;
} ngx_http_taskgw_link_t;


/*
 * One batch in flight.  Heap-allocated because hiredis may hand back the
 * reply after the request is gone; the request's pool cleanup only
 * clears "request".
 */
typedef struct {
    ngx_http_request_t             *request;
    ngx_http_taskgw_redis_done_pt   done;
    ngx_pool_cleanup_t             *cleanup;
    ngx_event_t                     timer;     /* command timeout */
    ngx_queue_t                     queue;     /* in link->waiting */
    ngx_http_taskgw_redis_cmd_t    *cmds;      /* in the request's pool */
    ngx_uint_t                      ncmds;
    unsigned                        waiting:1; /* queued, not yet sent */
} ngx_http_taskgw_redis_op_t;


static void ngx_http_taskgw_redis_connect(ngx_http_taskgw_link_t *link);
static void ngx_http_taskgw_redis_down(ngx_http_taskgw_link_t *link,
    const char *reason);
static void ngx_http_taskgw_redis_reset(ngx_http_taskgw_link_t *link,
    const char *reason);
static const char *ngx_http_taskgw_redis_state_name(
    ngx_http_taskgw_link_state_e state);
static void ngx_http_taskgw_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_taskgw_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_taskgw_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_taskgw_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_taskgw_redis_read_handler(ngx_event_t *ev);
static void ngx_http_taskgw_redis_write_handler(ngx_event_t *ev);
static void ngx_http_taskgw_redis_add_read(void *data);
static void ngx_http_taskgw_redis_del_read(void *data);
static void ngx_http_taskgw_redis_add_write(void *data);
static void ngx_http_taskgw_redis_del_write(void *data);
static void ngx_http_taskgw_redis_cleanup(void *data);
static void ngx_http_taskgw_redis_setup_reply(redisAsyncContext *ac,
    void *reply, void *data);
static void ngx_http_taskgw_redis_reply(redisAsyncContext *ac, void *reply,
    void *data);
static void ngx_http_taskgw_redis_op_timeout(ngx_event_t *ev);
static ngx_int_t ngx_http_taskgw_redis_issue(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op);
static void ngx_http_taskgw_redis_flush(ngx_http_taskgw_link_t *link,
    ngx_uint_t fail);
static void ngx_http_taskgw_redis_op_finish(ngx_http_taskgw_redis_op_t *op,
    redisReply *reply);
static void ngx_http_taskgw_redis_op_cleanup(void *data);


static ngx_http_taskgw_link_t  ngx_http_taskgw_link;


ngx_int_t
ngx_http_taskgw_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_taskgw_main_conf_t *tmcf)
{
    ngx_http_taskgw_link_t  *link = &ngx_http_taskgw_link;

    ngx_memzero(link, sizeof(ngx_http_taskgw_link_t));

    link->conf = tmcf;
    link->log = cycle->log;
    ngx_queue_init(&link->waiting);

    link->reconnect.handler = ngx_http_taskgw_redis_reconnect_handler;
    link->reconnect.data = link;
    link->reconnect.log = cycle->log;
    link->reconnect.cancelable = 1;

    link->connect_timer.handler = ngx_http_taskgw_redis_connect_timeout;
    link->connect_timer.data = link;
    link->connect_timer.log = cycle->log;
    link->connect_timer.cancelable = 1;

    ngx_http_taskgw_redis_connect(link);

    return NGX_OK;
}


void
ngx_http_taskgw_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_taskgw_link_t  *link = &ngx_http_taskgw_link;

    if (link->conf == NULL) {
        return;
    }

    link->exiting = 1;

    if (link->reconnect.timer_set) {
        ngx_del_timer(&link->reconnect);
    }

    ngx_http_taskgw_redis_reset(link, NULL);

    if (link->reconnect.timer_set) {
        ngx_del_timer(&link->reconnect);
    }
}


ngx_uint_t
ngx_http_taskgw_redis_is_up(void)
{
    return ngx_http_taskgw_link.state == NGX_HTTP_TASKGW_LINK_UP;
}


static const char *
ngx_http_taskgw_redis_state_name(ngx_http_taskgw_link_state_e state)
{
    switch (state) {
    case NGX_HTTP_TASKGW_LINK_DOWN:
        return "down";
    case NGX_HTTP_TASKGW_LINK_CONNECTING:
        return "connecting";
    case NGX_HTTP_TASKGW_LINK_UP:
        return "up";
    }

    return "unknown";
}


/* ------------------------------------------------------------------ */
/* Connecting, disconnecting, backoff                                  */
/* ------------------------------------------------------------------ */


static void
ngx_http_taskgw_redis_connect(ngx_http_taskgw_link_t *link)
{
    u_char                       *host;
    ngx_connection_t             *c;
    redisAsyncContext            *ac;
    ngx_http_taskgw_redis_cmd_t   cmd;
    ngx_http_taskgw_main_conf_t  *tmcf;

    tmcf = link->conf;
    link->attempted = ngx_current_msec;

    /* conf strings are null-terminated by the directive parser */
    host = tmcf->host.data;

    if (tmcf->port == 0) {
        ac = redisAsyncConnectUnix((const char *) host);

    } else {
        ac = redisAsyncConnect((const char *) host, (int) tmcf->port);
    }

    if (ac == NULL) {
        ngx_http_taskgw_redis_down(link, "out of memory");
        return;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, link->log, 0,
                      "taskgw: redis %V: %s", &tmcf->address, ac->errstr);
        redisAsyncFree(ac);
        ngx_http_taskgw_redis_down(link, "connect failed");
        return;
    }

    c = ngx_get_connection(ac->c.fd, link->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_taskgw_redis_down(link, "no free connection");
        return;
    }

    c->data = link;
    c->read->handler = ngx_http_taskgw_redis_read_handler;
    c->write->handler = ngx_http_taskgw_redis_write_handler;
    c->read->log = link->log;
    c->write->log = link->log;

    link->ctx = ac;
    link->conn = c;
    link->state = NGX_HTTP_TASKGW_LINK_CONNECTING;

    ac->ev.data = link;
    ac->ev.addRead = ngx_http_taskgw_redis_add_read;
    ac->ev.delRead = ngx_http_taskgw_redis_del_read;
    ac->ev.addWrite = ngx_http_taskgw_redis_add_write;
    ac->ev.delWrite = ngx_http_taskgw_redis_del_write;
    ac->ev.cleanup = ngx_http_taskgw_redis_cleanup;

    /* the first write event tells that the connect completed */
    redisAsyncSetConnectCallback(ac, ngx_http_taskgw_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_taskgw_redis_on_disconnect);

    ngx_add_timer(&link->connect_timer, tmcf->timeout);

    /* AUTH and SELECT go first on the wire, before any request's batch */

    if (tmcf->password.len) {
        cmd.argc = 0;
        ngx_http_taskgw_redis_cmd_arg(&cmd, "AUTH", 4);
        ngx_http_taskgw_redis_cmd_arg(&cmd, tmcf->password.data,
                                      tmcf->password.len);
        redisAsyncCommandArgv(ac, ngx_http_taskgw_redis_setup_reply,
                              (void *) "AUTH", cmd.argc, cmd.argv,
                              cmd.argvlen);
    }

    if (tmcf->db) {
        u_char  db[NGX_INT_T_LEN];

        cmd.argc = 0;
        ngx_http_taskgw_redis_cmd_arg(&cmd, "SELECT", 6);
        ngx_http_taskgw_redis_cmd_arg(&cmd, db,
                                      ngx_sprintf(db, "%i", tmcf->db) - db);
        redisAsyncCommandArgv(ac, ngx_http_taskgw_redis_setup_reply,
                              (void *) "SELECT", cmd.argc, cmd.argv,
                              cmd.argvlen);
    }

    /* PING's reply says the link is usable: it comes after AUTH/SELECT */

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "PING", 4);
    redisAsyncCommandArgv(ac, ngx_http_taskgw_redis_setup_reply,
                          (void *) "PING", cmd.argc, cmd.argv, cmd.argvlen);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, link->log, 0,
                   "taskgw: redis link %s to %V",
                   ngx_http_taskgw_redis_state_name(link->state),
                   &tmcf->address);
}


/*
 * The link went down: forget the context (hiredis frees it) and try again
 * after a backoff delay.  The delay grows from backoff_min, doubling with
 * each consecutive failure up to backoff_max, and is drawn at random from
 * its upper half so that the workers of many nginx do not reconnect in
 * step.
 */

static void
ngx_http_taskgw_redis_down(ngx_http_taskgw_link_t *link, const char *reason)
{
    ngx_msec_t  delay, max;
    ngx_uint_t  i;

    link->ctx = NULL;

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    if (link->state != NGX_HTTP_TASKGW_LINK_DOWN && reason) {
        ngx_log_error(NGX_LOG_ERR, link->log, 0,
                      "taskgw: redis %V %s: %s",
                      &link->conf->address,
                      link->state == NGX_HTTP_TASKGW_LINK_UP
                          ? "link lost" : "connect failed",
                      reason);
    }

    link->state = NGX_HTTP_TASKGW_LINK_DOWN;

    ngx_http_taskgw_redis_flush(link, 1);

    if (link->exiting || ngx_exiting || ngx_terminate) {
        return;
    }

    max = link->conf->backoff_min;

    for (i = 0; i < link->failures && max < link->conf->backoff_max; i++) {
        max <<= 1;
    }

    max = ngx_min(max, link->conf->backoff_max);

    delay = max / 2 + (ngx_msec_t) ngx_random() % (max / 2 + 1);

    link->failures++;

    if (!link->reconnect.timer_set) {
        ngx_add_timer(&link->reconnect, delay);
    }
}


/*
 * Drops the current context, whatever its state: every batch still waiting
 * gets a NULL reply (and its request a 503), then the link goes down.
 */

static void
ngx_http_taskgw_redis_reset(ngx_http_taskgw_link_t *link, const char *reason)
{
    redisAsyncContext  *ac;

    ac = link->ctx;
    link->ctx = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }

    ngx_http_taskgw_redis_down(link, reason);
}


static void
ngx_http_taskgw_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_taskgw_link_t  *link = ev->data;

    if (link->ctx == NULL && !link->exiting) {
        ngx_http_taskgw_redis_connect(link);
    }
}


static void
ngx_http_taskgw_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_taskgw_link_t  *link = ev->data;

    if (link->state != NGX_HTTP_TASKGW_LINK_CONNECTING) {
        return;
    }

    if (link->ctx && (link->ctx->c.flags & REDIS_CONNECTED)) {
        /* TCP is up but the setup commands got no answer */
        ngx_log_error(NGX_LOG_ERR, link->log, 0,
                      "taskgw: redis %V did not answer within %M ms",
                      &link->conf->address, link->conf->timeout);
        ngx_http_taskgw_redis_reset(link, "no answer to PING");
        return;
    }

    ngx_http_taskgw_redis_reset(link, "connect timed out");
}


static void
ngx_http_taskgw_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_taskgw_link_t  *link = ac->ev.data;

    if (link->ctx != ac) {
        return;
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context after this returns */
        ngx_http_taskgw_redis_down(link, ac->errstr);
        return;
    }

    /* connected; the link is UP when PING answers (setup_reply) */
}


static void
ngx_http_taskgw_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_taskgw_link_t  *link = ac->ev.data;

    if (link->ctx == ac) {
        ngx_http_taskgw_redis_down(link,
                                   ac->errstr ? ac->errstr : "closed");
    }
}


/*
 * Replies to AUTH, SELECT and PING.  Any error makes the connection
 * unusable (commands could run unauthenticated or in the wrong database):
 * it is dropped and tried again later.  PING's reply puts the link UP and
 * sends the batches that waited for it.
 */

static void
ngx_http_taskgw_redis_setup_reply(redisAsyncContext *ac, void *reply,
    void *data)
{
    redisReply              *rr = reply;
    ngx_http_taskgw_link_t  *link = ac->ev.data;

    if (rr == NULL || link->ctx != ac) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, link->log, 0,
                      "taskgw: redis %V: %s failed: %*s",
                      &link->conf->address, (char *) data,
                      (size_t) rr->len, rr->str);

        /* freed by hiredis once this callback returns */
        redisAsyncFree(ac);
        ngx_http_taskgw_redis_down(link, "connection setup failed");
        return;
    }

    if (ngx_strcmp((char *) data, "PING") != 0) {
        return;
    }

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    if (link->failures) {
        ngx_log_error(NGX_LOG_NOTICE, link->log, 0,
                      "taskgw: redis %V link up again",
                      &link->conf->address);
    }

    link->state = NGX_HTTP_TASKGW_LINK_UP;
    link->failures = 0;

    ngx_http_taskgw_redis_flush(link, 0);
}


/* ------------------------------------------------------------------ */
/* The event adapter: hiredis hooks onto an ngx_connection_t           */
/* ------------------------------------------------------------------ */

/*
 * Events are registered level-triggered: hiredis reads at most 16 KB per
 * call, and with level-triggered events the loop calls us again while the
 * socket still has data, so a large pipeline of replies is never stranded
 * the way it could be under edge-triggered epoll.
 */


static void
ngx_http_taskgw_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c = ev->data;
    ngx_http_taskgw_link_t  *link = c->data;

    if (link->ctx) {
        redisAsyncHandleRead(link->ctx);
    }
}


static void
ngx_http_taskgw_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c = ev->data;
    ngx_http_taskgw_link_t  *link = c->data;

    if (link->ctx) {
        redisAsyncHandleWrite(link->ctx);
    }
}


static void
ngx_http_taskgw_redis_add_read(void *data)
{
    ngx_http_taskgw_link_t  *link = data;

    if (link->conn && !link->conn->read->active) {
        if (ngx_add_event(link->conn->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, link->log, 0,
                          "taskgw: cannot add redis read event");
        }
    }
}


static void
ngx_http_taskgw_redis_del_read(void *data)
{
    ngx_http_taskgw_link_t  *link = data;

    if (link->conn && link->conn->read->active) {
        (void) ngx_del_event(link->conn->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_taskgw_redis_add_write(void *data)
{
    ngx_http_taskgw_link_t  *link = data;

    if (link->conn && !link->conn->write->active) {
        if (ngx_add_event(link->conn->write, NGX_WRITE_EVENT,
                          NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, link->log, 0,
                          "taskgw: cannot add redis write event");
        }
    }
}


static void
ngx_http_taskgw_redis_del_write(void *data)
{
    ngx_http_taskgw_link_t  *link = data;

    if (link->conn && link->conn->write->active) {
        (void) ngx_del_event(link->conn->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * hiredis is about to close the socket itself: release the nginx side of
 * it without closing the descriptor (a second close could hit a socket
 * this process has opened again under the same number).  hiredis may call
 * this twice for one context; the second call finds nothing to do.
 */

static void
ngx_http_taskgw_redis_cleanup(void *data)
{
    ngx_http_taskgw_link_t  *link = data;
    ngx_connection_t        *c;

    c = link->conn;
    if (c == NULL) {
        return;
    }

    link->conn = NULL;

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
}


/* ------------------------------------------------------------------ */
/* Batches of commands                                                 */
/* ------------------------------------------------------------------ */


void
ngx_http_taskgw_redis_cmd_arg(ngx_http_taskgw_redis_cmd_t *cmd,
    const void *data, size_t len)
{
    cmd->argv[cmd->argc] = data;
    cmd->argvlen[cmd->argc] = len;
    cmd->argc++;
}


/*
 * Sends n commands pipelined on the link; done() gets the last one's
 * reply.  While the link is connecting the batch waits for it (within the
 * same timeout).  NGX_ERROR means the link is down: nothing is in flight,
 * done() will not be called, and the caller answers 503 itself.
 */

ngx_int_t
ngx_http_taskgw_redis_send(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_http_taskgw_redis_done_pt done)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_taskgw_link_t      *link = &ngx_http_taskgw_link;
    ngx_http_taskgw_redis_op_t  *op;

    /*
     * A request while the link is down tries it again at once, unless an
     * attempt started less than backoff_min ago: Redis that is back serves
     * the next request, not the one after the backoff delay; Redis that is
     * still down costs at most one connect per backoff_min.
     */

    if (link->state == NGX_HTTP_TASKGW_LINK_DOWN && link->ctx == NULL
        && !link->exiting
        && ngx_current_msec - link->attempted >= link->conf->backoff_min)
    {
        if (link->reconnect.timer_set) {
            ngx_del_timer(&link->reconnect);
        }

        ngx_http_taskgw_redis_connect(link);
    }

    if (link->state == NGX_HTTP_TASKGW_LINK_DOWN || link->ctx == NULL
        || (link->ctx->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
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

    op = ngx_calloc(sizeof(ngx_http_taskgw_redis_op_t), r->connection->log);
    if (op == NULL) {
        return NGX_ERROR;
    }

    op->request = r;
    op->done = done;
    op->cleanup = cln;
    op->ncmds = n;

    op->timer.handler = ngx_http_taskgw_redis_op_timeout;
    op->timer.data = op;
    op->timer.log = link->log;

    if (link->state == NGX_HTTP_TASKGW_LINK_CONNECTING) {
        /* the arguments point into the request's pool: keep the array */
        op->cmds = ngx_palloc(r->pool,
                              n * sizeof(ngx_http_taskgw_redis_cmd_t));
        if (op->cmds == NULL) {
            ngx_free(op);
            return NGX_ERROR;
        }

        ngx_memcpy(op->cmds, cmds, n * sizeof(ngx_http_taskgw_redis_cmd_t));
        ngx_queue_insert_tail(&link->waiting, &op->queue);
        op->waiting = 1;

    } else {
        op->cmds = cmds;

        if (ngx_http_taskgw_redis_issue(link, op) != NGX_OK) {
            ngx_free(op);
            return NGX_ERROR;
        }
    }

    cln->handler = ngx_http_taskgw_redis_op_cleanup;
    cln->data = op;

    ngx_add_timer(&op->timer, link->conf->timeout);

    return NGX_OK;
}


/*
 * A command whose reply nobody waits for (clean-up after a failure): sent
 * only on a link that is UP, and forgotten otherwise.
 */

void
ngx_http_taskgw_redis_fire(ngx_http_taskgw_redis_cmd_t *cmd)
{
    ngx_http_taskgw_link_t  *link = &ngx_http_taskgw_link;

    if (link->state != NGX_HTTP_TASKGW_LINK_UP || link->ctx == NULL
        || (link->ctx->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        return;
    }

    (void) redisAsyncCommandArgv(link->ctx, NULL, NULL, cmd->argc,
                                 cmd->argv, cmd->argvlen);
}


/* Writes an op's commands into hiredis; the last one carries the op. */

static ngx_int_t
ngx_http_taskgw_redis_issue(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op)
{
    ngx_uint_t                    i, last;
    ngx_http_taskgw_redis_cmd_t  *c;

    last = op->ncmds - 1;

    for (i = 0; i < op->ncmds; i++) {
        c = &op->cmds[i];

        if (redisAsyncCommandArgv(link->ctx,
                                  i == last ? ngx_http_taskgw_redis_reply
                                            : NULL,
                                  i == last ? op : NULL,
                                  c->argc, c->argv, c->argvlen)
            != REDIS_OK)
        {
            /*
             * A batch cut short would leave the pipeline in an unknown
             * state (a MULTI without its EXEC): start over.  The commands
             * already queued get NULL replies, none of them ours.
             */

            ngx_log_error(NGX_LOG_ERR, link->log, 0,
                          "taskgw: redis command could not be queued");
            ngx_http_taskgw_redis_reset(link, "command queue failed");
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The ops that waited for the link: sent once it is UP, or failed with a
 * NULL reply when it went down instead.
 */

static void
ngx_http_taskgw_redis_flush(ngx_http_taskgw_link_t *link, ngx_uint_t fail)
{
    ngx_queue_t                 *q;
    ngx_http_taskgw_redis_op_t  *op;

    while (!ngx_queue_empty(&link->waiting)) {
        q = ngx_queue_head(&link->waiting);
        ngx_queue_remove(q);

        op = ngx_queue_data(q, ngx_http_taskgw_redis_op_t, queue);
        op->waiting = 0;

        if (fail || link->ctx == NULL
            || ngx_http_taskgw_redis_issue(link, op) != NGX_OK)
        {
            ngx_http_taskgw_redis_op_finish(op, NULL);
        }
    }
}


static void
ngx_http_taskgw_redis_reply(redisAsyncContext *ac, void *reply, void *data)
{
    ngx_http_taskgw_redis_op_finish(data, reply);
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

    if (r != NULL) {
        op->cleanup->handler = NULL;
    }

    /* a worker process that is exiting answers nobody any more */

    if (r != NULL && !ngx_http_taskgw_link.exiting) {
        c = r->connection;

        op->done(r, reply);

        ngx_http_run_posted_requests(c);
    }

    ngx_free(op);
}


/*
 * A command that got no reply in time means Redis is stuck or the path to
 * it is: later replies on this connection cannot be trusted to come, so
 * the whole link is reset and every waiting request answered 503.
 */

static void
ngx_http_taskgw_redis_op_timeout(ngx_event_t *ev)
{
    ngx_http_taskgw_link_t  *link = &ngx_http_taskgw_link;

    ngx_log_error(NGX_LOG_ERR, link->log, 0,
                  "taskgw: redis %V did not answer within %M ms",
                  &link->conf->address, link->conf->timeout);

    ngx_http_taskgw_redis_reset(link, "command timed out");
}


static void
ngx_http_taskgw_redis_op_cleanup(void *data)
{
    ngx_http_taskgw_redis_op_t  *op = data;

    if (op->waiting) {
        /* never sent: nothing will answer it, and its arguments go away */
        ngx_queue_remove(&op->queue);

        if (op->timer.timer_set) {
            ngx_del_timer(&op->timer);
        }

        ngx_free(op);
        return;
    }

    /*
     * The batch stays in flight; its reply will find no request.  Nobody
     * waits for it now, so its timer must not keep an exiting worker up
     * (the request went away, e.g. to worker_shutdown_timeout): it only
     * still guards the link while the worker runs.
     */
    op->request = NULL;
    op->timer.cancelable = 1;
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
