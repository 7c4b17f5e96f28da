
/*
 * ngx_http_taskgw_redis: the Redis link of one nginx worker process.
 * hiredis matches replies to callbacks; the link formats and writes the
 * commands itself, from its own queue, on an ngx_connection_t (the hooks
 * in ngx_http_taskgw_redis_adapter.c, the batches in _redis_batch.c and
 * beside it).  Command and connect timeouts are nginx timers; a broken
 * link reconnects with backoff and jitter.  Behind Redis Sentinel, each
 * attempt first asks the sentinels where the master is
 * (ngx_http_taskgw_sentinel.c has their replies, ROLE, READONLY and the
 * +switch-master watcher).  Nothing here blocks.
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
#include <openssl/sha.h>
#include "tgw_lua.h"


static ngx_msec_t ngx_http_taskgw_redis_backoff(
    ngx_http_taskgw_main_conf_t *tmcf, ngx_uint_t failures);
static void ngx_http_taskgw_redis_down(ngx_http_taskgw_link_t *link,
    const char *reason);
static void ngx_http_taskgw_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_taskgw_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_taskgw_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_taskgw_redis_setup(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_cmd_t *cmd, char *name);
static void ngx_http_taskgw_redis_setup_reply(redisAsyncContext *ac,
    void *reply, void *data);


ngx_http_taskgw_link_t  ngx_http_taskgw_link;


ngx_int_t
ngx_http_taskgw_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_taskgw_main_conf_t *tmcf)
{
    ngx_http_taskgw_link_t  *link = &ngx_http_taskgw_link;

    ngx_http_taskgw_redis_link_init(link, cycle, tmcf);

    link->name = "redis";

    ngx_http_taskgw_redis_connect(link);

    if (tmcf->sentinels != NULL) {
        ngx_http_taskgw_sentinel_init_process(cycle, tmcf);
    }

    return NGX_OK;
}


/* A link of this worker process, DOWN; the caller names it and starts it. */

void
ngx_http_taskgw_redis_link_init(ngx_http_taskgw_link_t *link,
    ngx_cycle_t *cycle, ngx_http_taskgw_main_conf_t *tmcf)
{
    ngx_memzero(link, sizeof(ngx_http_taskgw_link_t));

    link->conf = tmcf;
    link->log = cycle->log;
    link->addr = tmcf->address;
    ngx_queue_init(&link->waiting);

    link->reconnect.handler = ngx_http_taskgw_redis_reconnect_handler;
    link->reconnect.data = link;
    link->reconnect.log = cycle->log;
    link->reconnect.cancelable = 1;

    link->connect_timer.handler = ngx_http_taskgw_redis_connect_timeout;
    link->connect_timer.data = link;
    link->connect_timer.log = cycle->log;
    link->connect_timer.cancelable = 1;

    ngx_queue_init(&link->flight);
    ngx_queue_init(&link->txn);
    ngx_queue_init(&link->alone);

    link->op_timer.handler = ngx_http_taskgw_redis_flight_timeout;
    link->op_timer.data = link;
    link->op_timer.log = cycle->log;
    link->op_timer.cancelable = 1;
}


void
ngx_http_taskgw_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_taskgw_redis_link_exit(&ngx_http_taskgw_link);
    ngx_http_taskgw_sentinel_exit_process(cycle);
}


void
ngx_http_taskgw_redis_link_exit(ngx_http_taskgw_link_t *link)
{
    if (link->conf == NULL) {
        return;
    }

    link->exiting = 1;

    if (link->reconnect.timer_set) {
        ngx_del_timer(&link->reconnect);
    }

    ngx_http_taskgw_redis_reset(link, NULL);

    /* between two sentinels nothing is connected, and some may wait */
    ngx_http_taskgw_redis_flush(link, 1);

    if (link->op_timer.timer_set) {
        ngx_del_timer(&link->op_timer);
    }
}


/*
 * The master's address this worker's command link is on, "host:port";
 * empty without sentinel= or before the sentinels answered.
 */

void
ngx_http_taskgw_redis_master(ngx_str_t *addr, ngx_uint_t *switches)
{
    ngx_http_taskgw_link_t  *link = &ngx_http_taskgw_link;

    addr->len = link->master_addr_len;
    addr->data = link->master_addr;

    if (switches) {
        *switches = link->switches;
    }
}


ngx_uint_t
ngx_http_taskgw_redis_is_up(void)
{
    return ngx_http_taskgw_link.state == NGX_HTTP_TASKGW_LINK_UP;
}


const char *
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


void
ngx_http_taskgw_redis_connect(ngx_http_taskgw_link_t *link)
{
    u_char                        *host, db[NGX_INT_T_LEN];
    ngx_int_t                      port;
    ngx_connection_t              *c;
    redisAsyncContext             *ac;
    ngx_http_taskgw_redis_cmd_t    cmd;
    ngx_http_taskgw_redis_conn_t  *rc;
    ngx_http_taskgw_sentinel_t    *sn;
    ngx_http_taskgw_main_conf_t   *tmcf;

    tmcf = link->conf;

    /*
     * The one place that turns the configuration into an address: the
     * configured one; with sentinel=, a sentinel (the watcher's, or to
     * ask where the master is), then the address it gave.
     */

    if (tmcf->sentinels == NULL) {
        /* conf strings are null-terminated by the directive parser */
        host = tmcf->host.data;
        port = tmcf->port;
        link->addr = tmcf->address;

    } else if (link->watch || !link->resolved) {
        sn = tmcf->sentinels->elts;
        sn = &sn[link->sentinel % tmcf->sentinels->nelts];

        host = sn->host.data;
        port = sn->port;
        link->addr = sn->text;
        link->asking = !link->watch;

    } else {
        host = link->master;
        port = link->master_port;
        link->addr.data = link->master_addr;
        link->addr.len = link->master_addr_len;
    }

    if (port == 0) {
        ac = redisAsyncConnectUnix((const char *) host);

    } else {
        ac = redisAsyncConnect((const char *) host, (int) port);
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

    /* nothing has been read yet: every reply comes from our functions */
    ac->c.reader->fn = &ngx_http_taskgw_redis_reply_functions;

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

    if (link->asking || link->watch) {

        if (tmcf->sentinel_password.len) {
            cmd.argc = 0;
            ngx_http_taskgw_redis_cmd_arg(&cmd, "AUTH", 4);
            ngx_http_taskgw_redis_cmd_arg(&cmd, tmcf->sentinel_password.data,
                                          tmcf->sentinel_password.len);
            ngx_http_taskgw_redis_setup(link, &cmd, "AUTH");
        }

        if (link->watch) {
            cmd.argc = 0;
            ngx_http_taskgw_redis_cmd_arg(&cmd, "PING", 4);
            ngx_http_taskgw_redis_setup(link, &cmd, "PING");
            return;
        }

        cmd.argc = 0;
        ngx_http_taskgw_redis_cmd_arg(&cmd, "SENTINEL", 8);
        ngx_http_taskgw_redis_cmd_arg(&cmd, "get-master-addr-by-name", 23);
        ngx_http_taskgw_redis_cmd_arg(&cmd, tmcf->master.data,
                                      tmcf->master.len);

        if (ngx_http_taskgw_redis_queue_setup(link, &cmd,
                                        ngx_http_taskgw_redis_sentinel_reply)
            == NGX_OK)
        {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, link->log, 0,
                           "taskgw: %s link asks sentinel %V",
                           link->name, &link->addr);
        }

        return;
    }

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

    /*
     * The enqueue script goes by digest (EVALSHA): Redis gets it on every
     * connect, before the link is UP, so that the first enqueues on a new
     * connection (a restarted Redis has no scripts) do not each meet
     * NOSCRIPT and have to load it and send again.  The subscriber runs
     * no scripts.
     */

    if (link->up == NULL) {
        cmd.argc = 0;
        ngx_http_taskgw_redis_cmd_arg(&cmd, "SCRIPT", 6);
        ngx_http_taskgw_redis_cmd_arg(&cmd, "LOAD", 4);
        ngx_http_taskgw_redis_cmd_arg(&cmd, tgw_lua_enqueue,
                                      sizeof(tgw_lua_enqueue) - 1);
        ngx_http_taskgw_redis_setup(link, &cmd, "SCRIPT LOAD");
    }

    /*
     * PING's reply says the link is usable: it comes after AUTH/SELECT.
     * A master named by the sentinels must also say it is one (ROLE):
     * a sentinel's answer can be out of date.
     */

    cmd.argc = 0;

    if (tmcf->sentinels) {
        ngx_http_taskgw_redis_cmd_arg(&cmd, "ROLE", 4);
        ngx_http_taskgw_redis_setup(link, &cmd, "ROLE");

    } else {
        ngx_http_taskgw_redis_cmd_arg(&cmd, "PING", 4);
        ngx_http_taskgw_redis_setup(link, &cmd, "PING");
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, link->log, 0,
                   "taskgw: %s link %s to %V", link->name,
                   ngx_http_taskgw_redis_state_name(link->state),
                   &link->addr);
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
    u_char      *p;
    ngx_msec_t   delay;

    static u_char  none[256];

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    if (link->asking) {
        /* a sentinel failed or does not know the master: the next one */

        link->asking = 0;
        link->sentinel++;

        if (reason) {
            ngx_log_error(NGX_LOG_INFO, link->log, 0,
                          "taskgw: %s: sentinel %V: %s",
                          link->name, &link->addr, reason);
        }

        /* asking is only ever set with sentinel= (connect), which the
         * analyser does not follow from one connect to the next */
        /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
        if (++link->asked < link->conf->sentinels->nelts
            && !link->exiting && !ngx_exiting && !ngx_terminate)
        {
            /* still CONNECTING: the batches wait on, within their time */

            if (link->reconnect.timer_set) {
                ngx_del_timer(&link->reconnect);
            }

            ngx_add_timer(&link->reconnect, 1);
            return;
        }

        link->asked = 0;

        if (reason) {
            p = ngx_snprintf(none, sizeof(none) - 1,
                             "no sentinel gave the address of master "
                             "\"%V\" (the last: %s)",
                             &link->conf->master, reason);
            *p = '\0';
            reason = (char *) none;
        }

        ngx_str_set(&link->addr, "sentinels");

    } else if (link->watch) {
        link->sentinel++;
    }

    /* with sentinel=, every new attempt asks where the master is */
    link->resolved = 0;

    if (reason && !link->reported) {
        ngx_log_error(NGX_LOG_ERR, link->log, 0,
                      "taskgw: %s %V %s: %s", link->name,
                      &link->addr,
                      link->state == NGX_HTTP_TASKGW_LINK_UP
                          ? "link lost" : "unreachable",
                      reason);
        link->reported = 1;

    } else if (reason) {
        ngx_log_error(NGX_LOG_INFO, link->log, 0,
                      "taskgw: %s %V still unreachable: %s",
                      link->name, &link->addr, reason);
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

void
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

void
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


const char *
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
    (void) ngx_http_taskgw_redis_queue_setup_data(link, cmd,
                                           ngx_http_taskgw_redis_setup_reply,
                                           name);
}


ngx_int_t
ngx_http_taskgw_redis_queue_setup_data(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_cmd_t *cmd, redisCallbackFn *fn, void *data)
{
    ngx_chain_t  *out;

    if (link->rc == NULL) {
        return NGX_ERROR;
    }

    out = ngx_http_taskgw_redis_format(cmd, 1, link->log);

    if (out == NULL) {
        ngx_http_taskgw_redis_reset(link, "out of memory");
        return NGX_ERROR;
    }

    if (ngx_http_taskgw_redis_queue(link->rc, out, fn, data) != NGX_OK) {
        ngx_http_taskgw_redis_free_out(out);
        ngx_http_taskgw_redis_reset(link, "command queue failed");
        return NGX_ERROR;
    }

    return NGX_OK;
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
    ngx_str_t                      role;
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
                         (char *) data, ngx_http_taskgw_redis_text_len(rr),
                         rr->str);
        *p = '\0';

        ngx_http_taskgw_redis_detach(rc, (char *) reason);

        /* freed by hiredis once this callback returns */
        redisAsyncFree(ac);
        return;
    }

    if (ngx_strcmp((char *) data, "ROLE") == 0
        && ngx_http_taskgw_redis_role(rr, &role) != NGX_OK)
    {
        p = ngx_snprintf(reason, sizeof(reason) - 1,
                         "is not a master (ROLE says \"%V\"): the "
                         "sentinels are asked again", &role);
        *p = '\0';

        ngx_http_taskgw_redis_detach(rc, (char *) reason);
        redisAsyncFree(ac);
        return;
    }

    if (ngx_strcmp((char *) data, "PING") != 0
        && ngx_strcmp((char *) data, "ROLE") != 0)
    {
        return;
    }

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    if (link->reported) {
        ngx_log_error(NGX_LOG_NOTICE, link->log, 0,
                      "taskgw: %s %V link up again after %ui failed "
                      "attempts", link->name, &link->addr,
                      link->failures);
    }

    link->state = NGX_HTTP_TASKGW_LINK_UP;
    link->failures = 0;
    link->reported = 0;
    link->progress = ngx_current_msec;

    ngx_http_taskgw_redis_flush(link, 0);

    if (link->up) {
        link->up(link);
    }
}


/* ------------------------------------------------------------------ */
/* What the link's other files share: replies' text, the keepalive     */
/* ------------------------------------------------------------------ */


/*
 * How much of an error reply may be logged: up to its first control byte,
 * so that a peer cannot add lines to the error log.
 */

size_t
ngx_http_taskgw_redis_text_len(redisReply *rr)
{
    size_t  len;

    for (len = 0; len < rr->len; len++) {
        if ((u_char) rr->str[len] < ' ' || rr->str[len] == 0x7f) {
            break;
        }
    }

    return len;
}



/*
 * One beat of the keepalive of a subscribed connection (the subscriber,
 * the sentinel watcher), every taskgw_redis_timeout.  With check set,
 * nothing read since the last beat (*heard unchanged) means the server did
 * not answer the last PING within a whole interval: the reason to reset
 * the link is returned.  An answer read late, while the process was too
 * busy (a posted read event, accept_mutex on), still counts.  Otherwise a
 * PING goes out, whose answer matches no channel and is dropped by
 * hiredis, *heard notes how much was read, and NULL is returned: the
 * caller arms the next beat.
 */

const char *
ngx_http_taskgw_redis_keepalive(ngx_http_taskgw_link_t *link,
    ngx_uint_t *heard, ngx_uint_t check)
{
    u_char                       *p;
    ngx_chain_t                  *out;
    ngx_http_taskgw_redis_cmd_t   cmd;

    static u_char  reason[sizeof("did not answer PING within  ms")
                          + NGX_INT_T_LEN];

    if (check && link->heard == *heard
        && !(link->rc->conn && link->rc->conn->read->posted))
    {
        p = ngx_sprintf(reason, "did not answer PING within %M ms",
                        link->conf->timeout);
        *p = '\0';

        return (const char *) reason;
    }

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "PING", 4);

    out = ngx_http_taskgw_redis_format(&cmd, 1, link->log);

    if (out == NULL) {
        return "out of memory";
    }

    ngx_http_taskgw_redis_queue_unmatched(link->rc, out);

    *heard = link->heard;

    return NULL;
}


/*
 * The SHA1 of enqueue.lua in hex, which EVALSHA names it by (computed
 * once per process).
 */

const u_char *
ngx_http_taskgw_redis_enqueue_sha(void)
{
    u_char      md[SHA_DIGEST_LENGTH];
    ngx_uint_t  i;

    static u_char  hex[2 * SHA_DIGEST_LENGTH + 1];

    if (hex[0] == '\0') {
        SHA1((const u_char *) tgw_lua_enqueue, sizeof(tgw_lua_enqueue) - 1,
             md);
        for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
            ngx_sprintf(hex + 2 * i, "%02xd", md[i]);
        }
        hex[2 * SHA_DIGEST_LENGTH] = '\0';
    }

    return hex;
}
