
/*
 * ngx_http_taskgw_redis: the Redis link of one nginx worker process.
 * hiredis matches replies to callbacks; the link formats and writes the
 * commands itself, from its own queue, on an ngx_connection_t.  Command
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
 * At most this many bytes are written per write event: a large command
 * goes out over several turns of the event loop, and the worker's other
 * connections get their turn in between.
 */
#define NGX_HTTP_TASKGW_REDIS_WRITE_LIMIT  (512 * 1024)


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


typedef struct ngx_http_taskgw_link_s  ngx_http_taskgw_link_t;


/*
 * One hiredis context and the nginx connection that carries its socket.
 * The adapter's hooks (ac->ev.data) and event handlers (c->data) act on
 * this, never on the link's current context: a context that is being torn
 * down touches only its own connection, whatever the link does meanwhile.
 * It lives as long as hiredis keeps the context, or until the handler
 * inside which hiredis dropped the context returns.
 */
typedef struct {
    redisAsyncContext             *ac;
    ngx_connection_t              *conn;   /* NULL once hiredis cleaned up */
    ngx_http_taskgw_link_t        *link;
    ngx_chain_t                   *out;    /* formatted, not yet written */
    ngx_chain_t                  **last;   /* where the next command goes */
    ngx_uint_t                     busy;   /* our handlers running on it */
    unsigned                       gone:1; /* hiredis has released it */
} ngx_http_taskgw_redis_conn_t;


struct ngx_http_taskgw_link_s {
    ngx_http_taskgw_main_conf_t   *conf;
    ngx_log_t                     *log;
    ngx_http_taskgw_redis_conn_t  *rc;        /* NULL while DOWN */

    /*
     * A context the link has let go of and hiredis has not freed yet: no
     * new connection starts until it is gone (its clean-up must not race
     * a new context's set-up).
     */
    ngx_http_taskgw_redis_conn_t  *closing;

    ngx_http_taskgw_link_state_e   state;
    ngx_event_t                    reconnect;  /* backoff timer */
    ngx_event_t                    connect_timer;
    ngx_uint_t                     failures;   /* attempts since last UP */
    ngx_msec_t                     next_attempt; /* backoff allows one */
    ngx_msec_t                     progress;   /* Redis last read or wrote */
    ngx_queue_t                    waiting;    /* ops held while CONNECTING */
    unsigned                       exiting:1;
    unsigned                       reported:1; /* this outage is logged */
};


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
    ngx_chain_t                    *out;       /* formatted, until issued */
    unsigned                        waiting:1; /* queued, not yet issued */
} ngx_http_taskgw_redis_op_t;


/*
 * A piece of a formatted command, freed once written: bytes in memory,
 * which follow it in the same allocation, or a part of a request body's
 * temporary file, written with sendfile() through a descriptor of its own
 * (the request, and its file, may be gone before the piece is written).
 * A command's first piece is always in memory: hiredis reads the
 * command's name there, up to the NUL that ends each memory piece.
 */
typedef struct {
    ngx_chain_t                     cl;
    ngx_buf_t                       buf;
    ngx_file_t                      file;   /* of a file piece */
    unsigned                        first:1; /* a command starts here */
} ngx_http_taskgw_redis_out_t;


/* The argv[] mark of the argument ngx_http_taskgw_redis_cmd_body() adds. */
static u_char  ngx_http_taskgw_redis_body_mark;


static void ngx_http_taskgw_redis_connect(ngx_http_taskgw_link_t *link);
static ngx_msec_t ngx_http_taskgw_redis_backoff(
    ngx_http_taskgw_main_conf_t *tmcf, ngx_uint_t failures);
static void ngx_http_taskgw_redis_down(ngx_http_taskgw_link_t *link,
    const char *reason);
static void ngx_http_taskgw_redis_detach(ngx_http_taskgw_redis_conn_t *rc,
    const char *reason);
static void ngx_http_taskgw_redis_reset(ngx_http_taskgw_link_t *link,
    const char *reason);
static const char *ngx_http_taskgw_redis_error(const redisAsyncContext *ac);
static const char *ngx_http_taskgw_redis_state_name(
    ngx_http_taskgw_link_state_e state);
static void ngx_http_taskgw_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_taskgw_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_taskgw_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_taskgw_redis_setup(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_cmd_t *cmd, char *name);
static void ngx_http_taskgw_redis_setup_reply(redisAsyncContext *ac,
    void *reply, void *data);
static void ngx_http_taskgw_redis_read_handler(ngx_event_t *ev);
static void ngx_http_taskgw_redis_write_handler(ngx_event_t *ev);
static void ngx_http_taskgw_redis_write(ngx_http_taskgw_redis_conn_t *rc);
static void ngx_http_taskgw_redis_release(ngx_http_taskgw_redis_conn_t *rc);
static void ngx_http_taskgw_redis_add_read(void *data);
static void ngx_http_taskgw_redis_del_read(void *data);
static void ngx_http_taskgw_redis_add_write(void *data);
static void ngx_http_taskgw_redis_del_write(void *data);
static void ngx_http_taskgw_redis_cleanup(void *data);
static ngx_chain_t *ngx_http_taskgw_redis_format(
    ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n, ngx_log_t *log);
static ngx_http_taskgw_redis_out_t *ngx_http_taskgw_redis_piece(
    ngx_chain_t ***last, size_t size, ngx_log_t *log);
static ngx_int_t ngx_http_taskgw_redis_file_piece(ngx_chain_t ***last,
    ngx_buf_t *b, ngx_log_t *log);
static void ngx_http_taskgw_redis_free_out(ngx_chain_t *cl);
static ngx_int_t ngx_http_taskgw_redis_queue(
    ngx_http_taskgw_redis_conn_t *rc, ngx_chain_t *out, redisCallbackFn *fn,
    void *data);
static void ngx_http_taskgw_redis_reply(redisAsyncContext *ac, void *reply,
    void *data);
static void ngx_http_taskgw_redis_op_timeout(ngx_event_t *ev);
static ngx_int_t ngx_http_taskgw_redis_issue(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op);
static void ngx_http_taskgw_redis_flush(ngx_http_taskgw_link_t *link,
    ngx_uint_t fail);
static void ngx_http_taskgw_redis_op_finish(ngx_http_taskgw_redis_op_t *op,
    redisReply *reply);
static void ngx_http_taskgw_redis_op_free(ngx_http_taskgw_redis_op_t *op);
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
    u_char                        *host, db[NGX_INT_T_LEN];
    ngx_connection_t              *c;
    redisAsyncContext             *ac;
    ngx_http_taskgw_redis_cmd_t    cmd;
    ngx_http_taskgw_redis_conn_t  *rc;
    ngx_http_taskgw_main_conf_t   *tmcf;

    tmcf = link->conf;

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
        /* the reason lives in ac: log it first */
        ngx_http_taskgw_redis_down(link, ac->c.errstr);
        redisAsyncFree(ac);
        return;
    }

    rc = ngx_calloc(sizeof(ngx_http_taskgw_redis_conn_t), link->log);
    c = rc ? ngx_get_connection(ac->c.fd, link->log) : NULL;

    if (c == NULL) {
        ngx_free(rc);
        redisAsyncFree(ac);
        ngx_http_taskgw_redis_down(link, "no free connection");
        return;
    }

    c->data = rc;
    c->log = link->log;
    c->log_error = NGX_ERROR_INFO;   /* the link logs its own failures */
    c->read->handler = ngx_http_taskgw_redis_read_handler;
    c->write->handler = ngx_http_taskgw_redis_write_handler;
    c->read->log = link->log;
    c->write->log = link->log;
    c->recv = ngx_recv;
    c->send = ngx_send;
    c->send_chain = ngx_send_chain;
    c->tcp_nopush = NGX_TCP_NOPUSH_DISABLED;  /* no TCP_CORK before files */

    rc->ac = ac;
    rc->conn = c;
    rc->link = link;
    rc->last = &rc->out;

    ac->ev.data = rc;
    ac->ev.addRead = ngx_http_taskgw_redis_add_read;
    ac->ev.delRead = ngx_http_taskgw_redis_del_read;
    ac->ev.addWrite = ngx_http_taskgw_redis_add_write;
    ac->ev.delWrite = ngx_http_taskgw_redis_del_write;
    ac->ev.cleanup = ngx_http_taskgw_redis_cleanup;

    link->rc = rc;
    link->state = NGX_HTTP_TASKGW_LINK_CONNECTING;

    /* the first write event tells that the connect completed */
    redisAsyncSetConnectCallback(ac, ngx_http_taskgw_redis_on_connect);

    ngx_add_timer(&link->connect_timer, tmcf->timeout);

    /* AUTH and SELECT go first on the wire, before any request's batch */

    if (tmcf->password.len) {
        cmd.argc = 0;
        ngx_http_taskgw_redis_cmd_arg(&cmd, "AUTH", 4);
        ngx_http_taskgw_redis_cmd_arg(&cmd, tmcf->password.data,
                                      tmcf->password.len);
        ngx_http_taskgw_redis_setup(link, &cmd, "AUTH");
    }

    if (tmcf->db) {
        cmd.argc = 0;
        ngx_http_taskgw_redis_cmd_arg(&cmd, "SELECT", 6);
        ngx_http_taskgw_redis_cmd_arg(&cmd, db,
                                      ngx_sprintf(db, "%i", tmcf->db) - db);
        ngx_http_taskgw_redis_setup(link, &cmd, "SELECT");
    }

    /* PING's reply says the link is usable: it comes after AUTH/SELECT */

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "PING", 4);
    ngx_http_taskgw_redis_setup(link, &cmd, "PING");

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, link->log, 0,
                   "taskgw: redis link %s to %V",
                   ngx_http_taskgw_redis_state_name(link->state),
                   &tmcf->address);
}


/*
 * The delay before the next connection attempt after the given number of
 * consecutive failures: backoff_min, doubled with each failure up to
 * backoff_max, and drawn at random from the upper half of that so that
 * the workers of many nginx do not reconnect in step.
 */

static ngx_msec_t
ngx_http_taskgw_redis_backoff(ngx_http_taskgw_main_conf_t *tmcf,
    ngx_uint_t failures)
{
    ngx_msec_t  max;
    ngx_uint_t  i;

    max = tmcf->backoff_min;

    for (i = 1; i < failures && max < tmcf->backoff_max; i++) {
        max <<= 1;
    }

    max = ngx_min(max, tmcf->backoff_max);

    return max / 2 + (ngx_msec_t) ngx_random() % (max / 2 + 1);
}


/*
 * The link is down (an attempt failed, or the connection was lost): the
 * next attempt is due after a backoff delay, and the batches waiting for
 * the link are answered now.  An outage is logged once, at error level,
 * when it starts; the failed attempts after that only at info level.
 */

static void
ngx_http_taskgw_redis_down(ngx_http_taskgw_link_t *link, const char *reason)
{
    ngx_msec_t  delay;

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    if (reason && !link->reported) {
        ngx_log_error(NGX_LOG_ERR, link->log, 0,
                      "taskgw: redis %V %s: %s",
                      &link->conf->address,
                      link->state == NGX_HTTP_TASKGW_LINK_UP
                          ? "link lost" : "unreachable",
                      reason);
        link->reported = 1;

    } else if (reason) {
        ngx_log_error(NGX_LOG_INFO, link->log, 0,
                      "taskgw: redis %V still unreachable: %s",
                      &link->conf->address, reason);
    }

    link->state = NGX_HTTP_TASKGW_LINK_DOWN;

    if (!link->exiting && !ngx_exiting && !ngx_terminate) {
        link->failures++;
        delay = ngx_http_taskgw_redis_backoff(link->conf, link->failures);
        link->next_attempt = ngx_current_msec + delay;

        if (link->reconnect.timer_set) {
            ngx_del_timer(&link->reconnect);
        }

        ngx_add_timer(&link->reconnect, delay);
    }

    ngx_http_taskgw_redis_flush(link, 1);
}


/*
 * The link lets go of a context that is failing: hiredis frees it (now,
 * or when the callback we are in returns), and until then it is the
 * "closing" one.  A context the link already let go of is ignored.
 */

static void
ngx_http_taskgw_redis_detach(ngx_http_taskgw_redis_conn_t *rc,
    const char *reason)
{
    ngx_http_taskgw_link_t  *link = rc->link;

    if (link->rc != rc) {
        return;
    }

    link->rc = NULL;
    link->closing = rc;

    ngx_http_taskgw_redis_down(link, reason);
}


/*
 * Drops the current context, whatever its state: every batch still waiting
 * gets a NULL reply (and its request a 503), then the link goes down.
 */

static void
ngx_http_taskgw_redis_reset(ngx_http_taskgw_link_t *link, const char *reason)
{
    ngx_http_taskgw_redis_conn_t  *rc;

    rc = link->rc;

    if (rc == NULL) {
        return;
    }

    ngx_http_taskgw_redis_detach(rc, reason);

    /* inside one of this context's callbacks, hiredis frees it after */
    redisAsyncFree(rc->ac);
}


static const char *
ngx_http_taskgw_redis_error(const redisAsyncContext *ac)
{
    return ac->c.err ? ac->c.errstr : "connection closed";
}


static void
ngx_http_taskgw_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_taskgw_link_t  *link = ev->data;

    if (link->exiting || link->rc != NULL) {
        return;
    }

    if (link->closing != NULL) {
        /* never seen: teardown completes within one handler */
        ngx_add_timer(ev, link->conf->backoff_min);
        return;
    }

    ngx_http_taskgw_redis_connect(link);
}


static void
ngx_http_taskgw_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_taskgw_link_t  *link = ev->data;

    u_char  *p;

    static u_char  reason[sizeof("did not answer within  ms")
                          + NGX_INT_T_LEN];

    if (link->state != NGX_HTTP_TASKGW_LINK_CONNECTING || link->rc == NULL) {
        return;
    }

    if (link->rc->ac->c.flags & REDIS_CONNECTED) {
        /* TCP is up but the setup commands got no answer */
        p = ngx_sprintf(reason, "did not answer within %M ms",
                        link->conf->timeout);
        *p = '\0';
        ngx_http_taskgw_redis_reset(link, (char *) reason);
        return;
    }

    ngx_http_taskgw_redis_reset(link, "connect timed out");
}


static void
ngx_http_taskgw_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_taskgw_redis_conn_t  *rc = ac->ev.data;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this returns */
        ngx_http_taskgw_redis_detach(rc, ngx_http_taskgw_redis_error(ac));
    }

    /* connected; the link is UP when PING answers (setup_reply) */
}


/*
 * Queues a connection set-up command, answered in setup_reply; one that
 * cannot be queued takes the connection down.
 */

static void
ngx_http_taskgw_redis_setup(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_cmd_t *cmd, char *name)
{
    ngx_chain_t  *out;

    if (link->rc == NULL) {
        return;
    }

    out = ngx_http_taskgw_redis_format(cmd, 1, link->log);

    if (out == NULL) {
        ngx_http_taskgw_redis_reset(link, "out of memory");
        return;
    }

    if (ngx_http_taskgw_redis_queue(link->rc, out,
                                    ngx_http_taskgw_redis_setup_reply, name)
        != NGX_OK)
    {
        ngx_http_taskgw_redis_free_out(out);
        ngx_http_taskgw_redis_reset(link, "command queue failed");
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
    redisReply                    *rr = reply;
    ngx_http_taskgw_link_t        *link;
    ngx_http_taskgw_redis_conn_t  *rc = ac->ev.data;

    u_char  *p;

    static u_char  reason[256];

    link = rc->link;

    if (rr == NULL) {
        /* hiredis is dropping the context */
        ngx_http_taskgw_redis_detach(rc, ngx_http_taskgw_redis_error(ac));
        return;
    }

    if (link->rc != rc) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        p = ngx_snprintf(reason, sizeof(reason) - 1, "%s failed: %*s",
                         (char *) data, (size_t) rr->len, rr->str);
        *p = '\0';

        ngx_http_taskgw_redis_detach(rc, (char *) reason);

        /* freed by hiredis once this callback returns */
        redisAsyncFree(ac);
        return;
    }

    if (ngx_strcmp((char *) data, "PING") != 0) {
        return;
    }

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    if (link->reported) {
        ngx_log_error(NGX_LOG_NOTICE, link->log, 0,
                      "taskgw: redis %V link up again after %ui failed "
                      "attempts", &link->conf->address, link->failures);
    }

    link->state = NGX_HTTP_TASKGW_LINK_UP;
    link->failures = 0;
    link->reported = 0;
    link->progress = ngx_current_msec;

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


static void
ngx_http_taskgw_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t              *c = ev->data;
    ngx_http_taskgw_redis_conn_t  *rc = c->data;

    rc->busy++;

    if (rc->link->rc == rc) {
        rc->link->progress = ngx_current_msec;
    }

    redisAsyncHandleRead(rc->ac);

    ngx_http_taskgw_redis_release(rc);
}


static void
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
    ngx_chain_t             *cl, *next;
    ngx_connection_t        *c;
    ngx_http_taskgw_link_t  *link;

    c = rc->conn;
    link = rc->link;

    if (rc->out != NULL) {
        sent = c->sent;

        cl = c->send_chain(c, rc->out, NGX_HTTP_TASKGW_REDIS_WRITE_LIMIT);

        if (cl == NGX_CHAIN_ERROR) {
            if (link->rc == rc) {
                ngx_http_taskgw_redis_reset(link, "connection lost while "
                                                  "writing");
            }

            return;
        }

        if (c->sent != sent && link->rc == rc) {
            link->progress = ngx_current_msec;
        }

        while (rc->out != cl) {
            next = rc->out->next;
            rc->out->next = NULL;
            ngx_http_taskgw_redis_free_out(rc->out);
            rc->out = next;
        }

        if (rc->out == NULL) {
            rc->last = &rc->out;
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


static void
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


static void
ngx_http_taskgw_redis_del_read(void *data)
{
    ngx_http_taskgw_redis_conn_t  *rc = data;

    if (rc->conn && rc->conn->read->active) {
        (void) ngx_del_event(rc->conn->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_taskgw_redis_add_write(void *data)
{
    ngx_http_taskgw_redis_conn_t  *rc = data;

    if (rc->conn && !rc->conn->write->active) {
        if (ngx_add_event(rc->conn->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, rc->link->log, 0,
                          "taskgw: cannot add redis write event");
        }
    }
}


/* Write events stop only when nothing is left to write. */

static void
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

static void
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


/* ------------------------------------------------------------------ */
/* Batches of commands                                                 */
/* ------------------------------------------------------------------ */


/*
 * Adds an argument; one more than NGX_HTTP_TASKGW_REDIS_MAX_ARGS marks the
 * command overflowed instead (it is then refused by send and fire).
 */

ngx_int_t
ngx_http_taskgw_redis_cmd_arg(ngx_http_taskgw_redis_cmd_t *cmd,
    const void *data, size_t len)
{
    if (cmd->argc < 0 || cmd->argc >= NGX_HTTP_TASKGW_REDIS_MAX_ARGS) {
        cmd->argc = NGX_HTTP_TASKGW_REDIS_MAX_ARGS + 1;
        return NGX_ERROR;
    }

    cmd->argv[cmd->argc] = data;
    cmd->argvlen[cmd->argc] = len;
    cmd->argc++;

    return NGX_OK;
}


/*
 * The request body as an argument: its memory buffers are copied when the
 * command is formatted, the parts in a temporary file are sent from it.
 */

ngx_int_t
ngx_http_taskgw_redis_cmd_body(ngx_http_taskgw_redis_cmd_t *cmd,
    ngx_chain_t *bufs)
{
    off_t         len;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    if (ngx_http_taskgw_redis_cmd_arg(cmd, &ngx_http_taskgw_redis_body_mark,
                                      (size_t) len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmd->body = bufs;

    return NGX_OK;
}


/*
 * The RESP text of n commands, chained in order, in pieces: memory pieces
 * hold copies of the arguments (they need to live only until this
 * returns), file pieces refer to the body's temporary file.
 */

static ngx_chain_t *
ngx_http_taskgw_redis_format(ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_log_t *log)
{
    u_char                       *p;
    size_t                        size, len;
    ngx_int_t                     i;
    ngx_buf_t                    *b;
    ngx_uint_t                    k;
    ngx_chain_t                  *head, **last, *cl;
    ngx_http_taskgw_redis_out_t  *out;

    head = NULL;
    last = &head;

    for (k = 0; k < n; k++) {

        /*
         * "*<argc>\r\n", then "$<len>\r\n<bytes>\r\n" per argument: the
         * size of the memory it takes at most
         */

        size = 1 + NGX_INT_T_LEN + 2;

        for (i = 0; i < cmds[k].argc; i++) {
            size += 1 + NGX_SIZE_T_LEN + 2 + 2;

            if (cmds[k].argv[i] != (char *) &ngx_http_taskgw_redis_body_mark)
            {
                size += cmds[k].argvlen[i];
                continue;
            }

            for (cl = cmds[k].body; cl; cl = cl->next) {
                if (!cl->buf->in_file) {
                    size += cl->buf->last - cl->buf->pos;
                }
            }
        }

        out = ngx_http_taskgw_redis_piece(&last, size, log);
        if (out == NULL) {
            goto failed;
        }

        out->first = 1;
        p = out->buf.last;

        p = ngx_sprintf(p, "*%i" CRLF, (ngx_int_t) cmds[k].argc);

        for (i = 0; i < cmds[k].argc; i++) {
            len = cmds[k].argvlen[i];
            p = ngx_sprintf(p, "$%uz" CRLF, len);

            if (cmds[k].argv[i] != (char *) &ngx_http_taskgw_redis_body_mark)
            {
                if (len) {
                    p = ngx_cpymem(p, cmds[k].argv[i], len);
                }

                *p++ = CR;
                *p++ = LF;
                continue;
            }

            /*
             * the body: memory buffers copied, a part in a file ends the
             * memory piece and is a piece of its own; the next memory
             * piece starts only when there is something to put in it, so
             * that no piece is empty
             */

            for (cl = cmds[k].body; cl; cl = cl->next) {
                b = cl->buf;

                if (b->in_file && b->file_last > b->file_pos) {
                    if (out) {
                        *p = '\0';
                        size -= p - out->buf.last;
                        out->buf.last = p;
                        out = NULL;
                    }

                    if (ngx_http_taskgw_redis_file_piece(&last, b, log)
                        != NGX_OK)
                    {
                        goto failed;
                    }

                    continue;
                }

                if (b->in_file || b->last == b->pos) {
                    continue;
                }

                if (out == NULL) {
                    out = ngx_http_taskgw_redis_piece(&last, size, log);
                    if (out == NULL) {
                        goto failed;
                    }

                    p = out->buf.last;
                }

                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }

            if (out == NULL) {
                out = ngx_http_taskgw_redis_piece(&last, size, log);
                if (out == NULL) {
                    goto failed;
                }

                p = out->buf.last;
            }

            *p++ = CR;
            *p++ = LF;
        }

        *p = '\0';
        out->buf.last = p;
    }

    return head;

failed:

    ngx_http_taskgw_redis_free_out(head);

    return NULL;
}


/* A memory piece for up to size bytes (and a NUL), at *last. */

static ngx_http_taskgw_redis_out_t *
ngx_http_taskgw_redis_piece(ngx_chain_t ***last, size_t size, ngx_log_t *log)
{
    u_char                       *p;
    ngx_http_taskgw_redis_out_t  *out;

    out = ngx_alloc(sizeof(ngx_http_taskgw_redis_out_t) + size + 1, log);
    if (out == NULL) {
        return NULL;
    }

    ngx_memzero(out, sizeof(ngx_http_taskgw_redis_out_t));

    p = (u_char *) (out + 1);

    out->buf.start = p;
    out->buf.pos = p;
    out->buf.last = p;
    out->buf.end = p + size;
    out->buf.memory = 1;

    out->cl.buf = &out->buf;

    **last = &out->cl;
    *last = &out->cl.next;

    return out;
}


/* A file piece for the part of the body that buffer b has in its file. */

static ngx_int_t
ngx_http_taskgw_redis_file_piece(ngx_chain_t ***last, ngx_buf_t *b,
    ngx_log_t *log)
{
    ngx_fd_t                      fd;
    ngx_http_taskgw_redis_out_t  *out;

    if (!(ngx_io.flags & NGX_IO_SENDFILE)) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "taskgw: a body in a temporary file needs sendfile()");
        return NGX_ERROR;
    }

    fd = fcntl(b->file->fd, F_DUPFD_CLOEXEC, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "taskgw: dup() of \"%V\" failed", &b->file->name);
        return NGX_ERROR;
    }

    out = ngx_calloc(sizeof(ngx_http_taskgw_redis_out_t), log);
    if (out == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    out->file.fd = fd;
    ngx_str_set(&out->file.name, "the request body's temporary file");
    out->file.log = log;

    out->buf.in_file = 1;
    out->buf.file = &out->file;
    out->buf.file_pos = b->file_pos;
    out->buf.file_last = b->file_last;

    out->cl.buf = &out->buf;

    **last = &out->cl;
    *last = &out->cl.next;

    return NGX_OK;
}


static void
ngx_http_taskgw_redis_free_out(ngx_chain_t *cl)
{
    ngx_chain_t                  *next;
    ngx_http_taskgw_redis_out_t  *out;

    while (cl) {
        next = cl->next;

        /* the chain link opens the piece */
        out = (ngx_http_taskgw_redis_out_t *) cl;

        if (out->buf.in_file) {
            (void) ngx_close_file(out->file.fd);
        }

        ngx_free(out);
        cl = next;
    }
}


/*
 * Hands formatted commands to a context: hiredis registers a callback for
 * each (fn, with data for the last one) and gets no bytes; the bytes join
 * rc->out in the same order.  All or nothing: a command whose callback is
 * registered but whose bytes are not written would leave the replies
 * unmatched, so a failure part of the way resets the link.  On success
 * the chain belongs to the context.
 */

static ngx_int_t
ngx_http_taskgw_redis_queue(ngx_http_taskgw_redis_conn_t *rc,
    ngx_chain_t *out, redisCallbackFn *fn, void *data)
{
    ngx_chain_t  *cl, *next;

    if (rc->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)) {
        return NGX_ERROR;
    }

    for (cl = out; cl; cl = cl->next) {

        if (!((ngx_http_taskgw_redis_out_t *) cl)->first) {
            continue;
        }

        for (next = cl->next; next; next = next->next) {
            if (((ngx_http_taskgw_redis_out_t *) next)->first) {
                break;
            }
        }

        if (redisAsyncFormattedCommand(rc->ac, fn,
                                       next ? NULL : data,
                                       (char *) cl->buf->pos, 0)
            != REDIS_OK)
        {
            ngx_log_error(NGX_LOG_ERR, rc->link->log, 0,
                          "taskgw: redis command could not be queued");

            if (cl != out) {
                ngx_http_taskgw_redis_reset(rc->link, "command queue failed");
            }

            return NGX_ERROR;
        }
    }

    *rc->last = out;

    for (cl = out; cl->next; cl = cl->next) { /* void */ }

    rc->last = &cl->next;

    ngx_http_taskgw_redis_add_write(rc);

    return NGX_OK;
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
    ngx_uint_t                   i;
    ngx_pool_cleanup_t          *cln;
    ngx_http_taskgw_link_t      *link = &ngx_http_taskgw_link;
    ngx_http_taskgw_redis_op_t  *op;

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

    if (link->state == NGX_HTTP_TASKGW_LINK_DOWN || link->rc == NULL
        || (link->rc->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
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

    op->out = ngx_http_taskgw_redis_format(cmds, n, r->connection->log);
    if (op->out == NULL) {
        ngx_free(op);
        return NGX_ERROR;
    }

    op->request = r;
    op->done = done;
    op->cleanup = cln;

    op->timer.handler = ngx_http_taskgw_redis_op_timeout;
    op->timer.data = op;
    op->timer.log = link->log;

    if (link->state == NGX_HTTP_TASKGW_LINK_CONNECTING) {
        ngx_queue_insert_tail(&link->waiting, &op->queue);
        op->waiting = 1;

    } else if (ngx_http_taskgw_redis_issue(link, op) != NGX_OK) {
        ngx_http_taskgw_redis_op_free(op);
        return NGX_ERROR;
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


/* Hands an op's commands to the link; the last one carries the op. */

static ngx_int_t
ngx_http_taskgw_redis_issue(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op)
{
    if (link->rc == NULL
        || ngx_http_taskgw_redis_queue(link->rc, op->out,
                                       ngx_http_taskgw_redis_reply, op)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    op->out = NULL;

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

        if (fail || ngx_http_taskgw_redis_issue(link, op) != NGX_OK) {
            ngx_http_taskgw_redis_op_finish(op, NULL);
        }
    }
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
    }

    if (data) {
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

    if (r != NULL) {
        op->cleanup->handler = NULL;
    }

    /* a worker process that is exiting answers nobody any more */

    if (r != NULL && !ngx_http_taskgw_link.exiting) {
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
    ngx_free(op);
}


/*
 * A batch without its reply in time.  While Redis keeps reading what is
 * written to it or answering what came before (a large command ahead of
 * this one, say), the batch waits on: the timeout counts from the link's
 * last progress.  No progress for that long means Redis is stuck or the
 * path to it is: later replies on this connection cannot be trusted to
 * come, so the whole link is reset and every waiting request answered 503.
 */

static void
ngx_http_taskgw_redis_op_timeout(ngx_event_t *ev)
{
    ngx_http_taskgw_redis_op_t  *op = ev->data;
    ngx_http_taskgw_link_t      *link = &ngx_http_taskgw_link;

    u_char      *p;
    ngx_msec_t   idle;

    static u_char  reason[sizeof("did not answer within  ms")
                          + NGX_INT_T_LEN];

    idle = ngx_current_msec - link->progress;

    if (!op->waiting && link->state == NGX_HTTP_TASKGW_LINK_UP
        && idle < link->conf->timeout)
    {
        ngx_add_timer(&op->timer, link->conf->timeout - idle);
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

    if (op->waiting) {
        /* never sent: nothing will answer it */
        ngx_queue_remove(&op->queue);

        if (op->timer.timer_set) {
            ngx_del_timer(&op->timer);
        }

        ngx_http_taskgw_redis_op_free(op);
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
