/*
 * A self-healing Redis connection over hiredis async + libuv (rconn.h):
 * its life cycle, from connect and handshake to the watchdog and close.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/async.h>

#include "log.h"
#include "rconn.h"
#include "rconn_int.h"
#include "rev.h"
#include "retry.h"
#include "rlookup.h"
#include "tgw_clock.h"

static void tgw_rconn_connect(tgw_rconn_t *rc);
static void tgw_rconn_close_timer(tgw_rconn_t *rc);


uint64_t
tgw_now_ms(void)
{
    return (uint64_t) tgw_clock_ms();   /* the one wall clock */
}

/* ------------------------------------------------------------------------
 * Connection life cycle
 * ------------------------------------------------------------------------ */

static void
tgw_rconn_schedule(tgw_rconn_t *rc)
{
    uint64_t delay;

    if (rc->state == TGW_RCONN_CLOSED) {
        return;
    }
    /* redis_backoff: exponential with full jitter above min (the rule of
     * tgw_backoff_ms, shared with task retries), so a fleet does not
     * reconnect in step. */
    rc->failures++;
    delay = tgw_backoff_ms(rc->failures, rc->conf->redis_backoff_min_ms,
                           rc->conf->redis_backoff_max_ms, tgw_random64());
    uv_timer_stop(&rc->timer);
    uv_timer_start(&rc->timer, tgw_rconn_watchdog, delay, 0);
}


/*
 * The connection is unusable: forget it, free it (outstanding callbacks
 * run with NULL now), tell the owner, and time a reconnect.
 */
void
tgw_rconn_lost(tgw_rconn_t *rc, const char *why)
{
    redisAsyncContext *ac = rc->ac;
    int                was_ready = rc->state == TGW_RCONN_READY;

    rc->ac = NULL;
    tgw_rconn_sentinel_free(rc);
    tgw_rlookup_drop(&rc->lookup);   /* a lookup under way */
    if (rc->state != TGW_RCONN_CLOSED) {
        rc->state = TGW_RCONN_DOWN;
    }
    rc->inflight = 0;
    if (rc->was_ready) {
        tgw_log(TGW_LOG_WARN, "redis_down", "conn", rc->role,
                "reason", why, NULL);
        rc->was_ready = 0;
        rc->warned = 1;             /* the reconnects need no warning */
    } else {
        /* Said once at warn level until it works, then at debug. */
        tgw_log(rc->warned ? TGW_LOG_DEBUG : TGW_LOG_WARN,
                "redis_connect_failed", "conn", rc->role, "reason", why,
                NULL);
        rc->warned = 1;
    }
    if (ac) {
        ac->data = NULL;            /* its disconnect callback: not ours */
        redisAsyncFree(ac);
    }
    if (was_ready && rc->on_down) {
        rc->on_down(rc);
    }
    tgw_rconn_schedule(rc);
}


static void
tgw_rconn_on_connect(const redisAsyncContext *ac, int status)
{
    tgw_rconn_t *rc = ac->data;

    if (rc == NULL || rc->ac != ac) {
        return;
    }
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        rc->ac = NULL;
        tgw_rconn_lost(rc, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    fcntl(ac->c.fd, F_SETFD, FD_CLOEXEC);
    redisEnableKeepAlive((redisContext *) &ac->c);
}


static void
tgw_rconn_on_disconnect(const redisAsyncContext *ac, int status)
{
    tgw_rconn_t *rc = ac->data;

    if (rc == NULL || rc->ac != ac) {
        return;                     /* we freed it ourselves */
    }
    /* hiredis frees the context after this callback */
    rc->ac = NULL;
    if (rc->state == TGW_RCONN_CLOSED) {
        tgw_rconn_close_timer(rc);  /* the graceful close completed */
        return;
    }
    tgw_rconn_lost(rc, ac->errstr[0] ? ac->errstr : "connection closed");
}


/* Handshake replies: AUTH and SELECT must be OK; PING makes it READY. */
static void
tgw_rconn_handshake(tgw_rconn_t *rc, redisReply *r, void *data)
{
    const char *step = data;
    char        why[256];

    if (r == NULL) {
        return;                     /* connection failed: already handled */
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, sizeof(why), "%s: %s", step, r->str);
        tgw_log(TGW_LOG_ERROR, "redis_handshake_failed", "conn", rc->role,
                "reason", why, NULL);
        tgw_rconn_lost(rc, why);
        return;
    }
    if (strcmp(step, "ROLE") == 0) {
        if (tgw_role_reply(r, why, sizeof(why)) != 1) {
            char addr[TGW_ADDR_HOST_MAX + 16];

            /* A failover not finished yet, or a sentinel lagging: said
             * once at warn level until a connect works, then at debug. */
            tgw_addr_format(&rc->addr, addr, sizeof(addr));
            tgw_log(rc->role_warned ? TGW_LOG_DEBUG : TGW_LOG_WARN,
                    "redis_not_master", "conn", rc->role, "addr", addr,
                    "reason", why, NULL);
            rc->role_warned = 1;
            tgw_rconn_lost(rc, why);
            return;
        }
        tgw_rconn_master_seen(rc);
    } else if (strcmp(step, "PING") != 0) {
        return;
    }
    if (rc->state != TGW_RCONN_CONNECTING) {
        return;
    }
    rc->state = TGW_RCONN_READY;
    rc->failures = 0;
    rc->good[0] = '\0';
    if (rc->ac->c.connection_type == REDIS_CONN_TCP
        && rc->ac->c.tcp.host != NULL)
    {
        snprintf(rc->good, sizeof(rc->good), "%s", rc->ac->c.tcp.host);
    }
    rc->since_ms = uv_now(rc->loop);
    rc->was_ready = 1;
    rc->warned = 0;
    rc->role_warned = 0;
    tgw_log(TGW_LOG_INFO, "redis_up", "conn", rc->role, NULL);
    uv_timer_stop(&rc->timer);
    uv_timer_start(&rc->timer, tgw_rconn_watchdog, 250, 250);
    if (rc->on_ready) {
        rc->on_ready(rc);
    }
}


static void tgw_rconn_server_connected(void *data, redisAsyncContext *ac,
    const char *why);


/* Which of the server name's addresses a connect tries first (rlookup.h):
 * after a connection that worked, its address, then with each connect
 * failed since the next one in turn (the loss itself counted one
 * failure); before any, the failures in a row place it. */
static int
tgw_rconn_first(const tgw_rconn_t *rc)
{
    return rc->good[0] != '\0' && rc->failures > 0 ? rc->failures - 1
                                                   : rc->failures;
}


/* Connects to the Redis server: the configured one, or with sentinels
 * the master they named (rc->addr).  While a host name is looked up
 * (rlookup.h) the connection is CONNECTING with no watchdog:
 * redis_timeout starts with the connect. */
void
tgw_rconn_connect_server(tgw_rconn_t *rc)
{
    const tgw_conf_t *c = rc->conf;

    rc->state = TGW_RCONN_CONNECTING;
    uv_timer_stop(&rc->timer);
    if (c->nsentinels > 0) {
        tgw_rlookup_connect(rc->loop, rc->addr.host, rc->addr.port,
                            tgw_rconn_first(rc), rc->good,
                            tgw_rconn_server_connected, rc, &rc->lookup);
    } else if (c->redis_unix) {
        tgw_rconn_server_connected(rc, redisAsyncConnectUnix(c->redis_unix),
                                   "out of memory");
    } else {
        tgw_rlookup_connect(rc->loop, c->redis_host, c->redis_port,
                            tgw_rconn_first(rc), rc->good,
                            tgw_rconn_server_connected, rc, &rc->lookup);
    }
}


static void
tgw_rconn_server_connected(void *data, redisAsyncContext *ac,
    const char *why)
{
    tgw_rconn_t      *rc = data;
    const tgw_conf_t *c = rc->conf;
    tgw_args_t        a;
    char              db[24];

    rc->ac = ac;
    if (rc->ac == NULL) {
        tgw_rconn_lost(rc, why);
        return;
    }
    if (rc->ac->err) {
        char why[128];

        snprintf(why, sizeof(why), "%s", rc->ac->errstr);
        redisAsyncFree(rc->ac);
        rc->ac = NULL;
        tgw_rconn_lost(rc, why);
        return;
    }
    /* Before any child is spawned: the socket must not leak into one. */
    fcntl(rc->ac->c.fd, F_SETFD, FD_CLOEXEC);
    rc->ac->data = rc;
    if (tgw_rev_attach(rc->ac, rc->loop) != 0) {
        tgw_rconn_lost(rc, "cannot attach to the loop");
        return;
    }
    redisAsyncSetConnectCallback(rc->ac, tgw_rconn_on_connect);
    redisAsyncSetDisconnectCallback(rc->ac, tgw_rconn_on_disconnect);
    rc->state = TGW_RCONN_CONNECTING;
    rc->since_ms = uv_now(rc->loop);

    /* Queued now, written once connected, answered in order. */
    if (c->password) {
        tgw_args_init(&a);
        tgw_args_add(&a, "AUTH");
        tgw_args_add(&a, c->password);
        tgw_rconn_send(rc, tgw_rconn_handshake, "AUTH", &a, 1);
    }
    if (c->db) {
        tgw_args_init(&a);
        tgw_args_add(&a, "SELECT");
        snprintf(db, sizeof(db), "%d", c->db);
        tgw_args_add(&a, db);
        tgw_rconn_send(rc, tgw_rconn_handshake, "SELECT", &a, 1);
    }
    /* With sentinels, ROLE both answers as PING would and confirms that
     * the server is (still) a master. */
    tgw_args_init(&a);
    tgw_args_add(&a, c->nsentinels > 0 ? "ROLE" : "PING");
    if (tgw_rconn_send(rc, tgw_rconn_handshake,
                       c->nsentinels > 0 ? "ROLE" : "PING", &a, 1) != 0)
    {
        tgw_rconn_lost(rc, "out of memory");
        return;
    }
    uv_timer_stop(&rc->timer);
    uv_timer_start(&rc->timer, tgw_rconn_watchdog, 250, 250);
}


/* Starts a connection: through the sentinels, or straight. */
static void
tgw_rconn_connect(tgw_rconn_t *rc)
{
    if (rc->conf->nsentinels > 0) {
        rc->asked = 0;
        rc->why[0] = '\0';
        tgw_rconn_ask(rc);
        return;
    }
    tgw_rconn_connect_server(rc);
}


/*
 * The one timer of a connection: while DOWN it is the reconnect delay;
 * otherwise it checks every 250 ms that the server answers within
 * redis_timeout (plus grace_ms for a blocking read).
 */
void
tgw_rconn_watchdog(uv_timer_t *t)
{
    tgw_rconn_t *rc = t->data;
    uint64_t     now = uv_now(rc->loop);

    switch (rc->state) {
    case TGW_RCONN_DOWN:
        tgw_rconn_connect(rc);
        break;
    case TGW_RCONN_RESOLVING:
        if (now - rc->since_ms > rc->conf->redis_timeout_ms) {
            tgw_rconn_sentinel_failed(rc, "timeout");
        }
        break;
    case TGW_RCONN_CONNECTING:
        if (now - rc->since_ms > rc->conf->redis_timeout_ms) {
            tgw_rconn_lost(rc, "connect timeout");
        }
        break;
    case TGW_RCONN_READY:
        if (rc->inflight > 0
            && now - rc->since_ms > rc->conf->redis_timeout_ms + rc->grace_ms)
        {
            tgw_rconn_lost(rc, "reply timeout");
        }
        break;
    case TGW_RCONN_CLOSED:
        break;
    }
}


int
tgw_rconn_init(tgw_rconn_t *rc, uv_loop_t *loop, const char *role,
    tgw_conf_t *conf)
{
    memset(rc, 0, sizeof(*rc));
    rc->loop = loop;
    rc->role = role;
    rc->conf = tgw_conf_ref(conf);
    rc->state = TGW_RCONN_DOWN;
    rc->failures = 0;
    uv_timer_init(loop, &rc->timer);
    rc->timer.data = rc;
    tgw_rconn_connect(rc);
    return 0;
}


static void
tgw_rconn_timer_closed(uv_handle_t *h)
{
    tgw_rconn_t *rc = h->data;

    tgw_conf_unref(rc->conf);
    rc->conf = NULL;
}


static void
tgw_rconn_close_timer(tgw_rconn_t *rc)
{
    if (!uv_is_closing((uv_handle_t *) &rc->timer)) {
        uv_timer_stop(&rc->timer);
        uv_close((uv_handle_t *) &rc->timer, tgw_rconn_timer_closed);
    }
}


/* A graceful close that Redis does not complete in time is forced. */
static void
tgw_rconn_close_deadline(uv_timer_t *t)
{
    tgw_rconn_t       *rc = t->data;
    redisAsyncContext *ac = rc->ac;

    if (ac) {
        rc->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    tgw_rconn_close_timer(rc);
}


void
tgw_rconn_close(tgw_rconn_t *rc, int graceful)
{
    redisAsyncContext *ac = rc->ac;
    int                ready = rc->state == TGW_RCONN_READY;

    if (rc->state == TGW_RCONN_CLOSED) {
        return;
    }
    rc->state = TGW_RCONN_CLOSED;
    uv_timer_stop(&rc->timer);
    tgw_rconn_sentinel_free(rc);
    tgw_rlookup_drop(&rc->lookup);   /* a lookup under way */

    if (ac && graceful && ready) {
        /* Disconnect once the outstanding replies are in, within
         * redis_timeout; the disconnect callback closes the timer. */
        redisAsyncDisconnect(ac);
        if (rc->ac) {
            uv_timer_start(&rc->timer, tgw_rconn_close_deadline,
                           rc->conf->redis_timeout_ms, 0);
            return;
        }
    } else if (ac) {
        rc->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    tgw_rconn_close_timer(rc);
}
