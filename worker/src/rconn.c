/*
 * Self-healing Redis connections over hiredis async + libuv (rconn.h).
 */

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <openssl/sha.h>

#include "log.h"
#include "rconn.h"
#include "rev.h"
#include "retry.h"
#include "rlookup.h"
#include "tgw_clock.h"

/* One request in flight: whose callback to run with its reply. */
typedef struct {
    tgw_rconn_t        *rc;
    tgw_rconn_reply_cb  cb;
    void               *data;
    int                 internal;   /* handshake, not counted in inflight */
    const char         *script;     /* an EVALSHA's script text, or NULL */
    char               *fmt;        /* an EVALSHA as sent (for its resend
                                       after NOSCRIPT); NULL otherwise */
    size_t              fmt_len;
    int                 reloaded;   /* it was resent once already */
} tgw_rreq_t;

/* ------------------------------------------------------------------------
 * Scripts by digest.  A script goes to Redis as EVALSHA of its SHA1,
 * computed here once per script; Redis knows the script after a first
 * SCRIPT LOAD.  When it does not (a first use, a restarted Redis, a
 * SCRIPT FLUSH) the EVALSHA fails with NOSCRIPT without running: the
 * reply handler then sends SCRIPT LOAD and the same EVALSHA again on the
 * same connection (one more round trip), and the caller sees only the
 * second reply.
 * ------------------------------------------------------------------------ */

#define TGW_SCRIPTS_MAX  32

static struct {
    const char  *text;
    char         sha[41];
} tgw_scripts[TGW_SCRIPTS_MAX];
static int tgw_nscripts;


const char *
tgw_script_sha(const char *text)
{
    unsigned char  md[SHA_DIGEST_LENGTH];
    int            i;

    for (i = 0; i < tgw_nscripts; i++) {
        if (tgw_scripts[i].text == text) {
            return tgw_scripts[i].sha;
        }
    }
    if (tgw_nscripts == TGW_SCRIPTS_MAX) {
        return NULL;
    }
    SHA1((const unsigned char *) text, strlen(text), md);
    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        snprintf(tgw_scripts[tgw_nscripts].sha + 2 * i, 3, "%02x", md[i]);
    }
    tgw_scripts[tgw_nscripts].text = text;
    return tgw_scripts[tgw_nscripts++].sha;
}


void
tgw_args_script(tgw_args_t *a, const char *text)
{
    const char *sha = tgw_script_sha(text);

    if (sha == NULL) {
        a->overflow = 1;            /* cannot happen: a fixed set */
        return;
    }
    a->script = text;
    tgw_args_add(a, "EVALSHA");
    tgw_args_add(a, sha);
}

static void tgw_rconn_connect(tgw_rconn_t *rc);
static void tgw_rconn_lost(tgw_rconn_t *rc, const char *why);
static void tgw_rconn_watchdog(uv_timer_t *t);
static void tgw_rconn_close_timer(tgw_rconn_t *rc);
static void tgw_rconn_sentinel_free(tgw_rconn_t *rc);
static void tgw_rconn_master_seen(tgw_rconn_t *rc);


uint64_t
tgw_now_ms(void)
{
    return (uint64_t) tgw_clock_ms();   /* the one wall clock */
}

/* ------------------------------------------------------------------------
 * Argument vectors
 * ------------------------------------------------------------------------ */

void
tgw_args_init(tgw_args_t *a)
{
    a->argc = 0;
    a->overflow = 0;
    a->nown = 0;
    a->script = NULL;
}


void
tgw_args_keyf(tgw_args_t *a, const char *fmt, ...)
{
    va_list ap;
    char   *s;
    int     n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0 || a->argc == TGW_ARGS_MAX) {
        if (n >= 0) {
            free(s);
        }
        a->overflow = 1;
        return;
    }
    a->own[a->nown++] = s;
    tgw_args_addn(a, s, (size_t) n);
}


void
tgw_args_free(tgw_args_t *a)
{
    while (a->nown > 0) {
        free(a->own[--a->nown]);
    }
}


void
tgw_args_addn(tgw_args_t *a, const char *s, size_t len)
{
    if (a->argc == TGW_ARGS_MAX) {
        a->overflow = 1;
        return;
    }
    a->argv[a->argc] = s;
    a->len[a->argc] = len;
    a->argc++;
}


void
tgw_args_add(tgw_args_t *a, const char *s)
{
    tgw_args_addn(a, s, strlen(s));
}


void
tgw_args_addu(tgw_args_t *a, uint64_t n)
{
    char   *end, *p;

    if (a->argc == TGW_ARGS_MAX) {
        a->overflow = 1;
        return;
    }
    /* by hand: snprintf was a visible cost at a few per command */
    end = a->num[a->argc] + sizeof(a->num[0]);
    p = end;
    do {
        *--p = (char) ('0' + n % 10);
        n /= 10;
    } while (n > 0);
    tgw_args_addn(a, p, (size_t) (end - p));
}


void
tgw_args_addf(tgw_args_t *a, char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= size) {
        a->overflow = 1;            /* a cut key would name another key */
        return;
    }
    tgw_args_addn(a, buf, (size_t) n);
}

/* ------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

static int tgw_rconn_send(tgw_rconn_t *rc, tgw_rconn_reply_cb cb,
    void *data, const tgw_args_t *cmd, int internal);
static void tgw_rconn_reply(redisAsyncContext *ac, void *r, void *privdata);


/* An EVALSHA that found no script: SCRIPT LOAD, then the same EVALSHA
 * again, in that order on this connection; 0 when both were queued. */
static int
tgw_rconn_reload(redisAsyncContext *ac, tgw_rreq_t *req)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_add(&a, "SCRIPT");
    tgw_args_add(&a, "LOAD");
    tgw_args_add(&a, req->script);
    if (tgw_rconn_send(req->rc, NULL, NULL, &a, 1) != 0) {
        return -1;
    }
    req->reloaded = 1;
    return redisAsyncFormattedCommand(ac, tgw_rconn_reply, req, req->fmt,
                                      req->fmt_len) == REDIS_OK ? 0 : -1;
}


static void
tgw_rconn_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    tgw_rreq_t  *req = privdata;
    tgw_rconn_t *rc = req->rc;
    redisReply  *reply = r;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR
        && req->fmt != NULL && !req->reloaded
        && strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        if (req->rc->ac == ac && tgw_rconn_reload(ac, req) == 0) {
            /* normal on first use: debug, not a warning */
            tgw_log(TGW_LOG_DEBUG, "redis_script_load", "conn", rc->role,
                    NULL);
            return;                 /* this callback runs again */
        }
    }
    if (!req->internal && rc->inflight > 0) {
        rc->inflight--;
        rc->since_ms = uv_now(rc->loop);
    }
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR
        && rc->ac == ac && rc->conf->nsentinels > 0
        && (strncmp(reply->str, "READONLY", 8) == 0
            || strncmp(reply->str, "UNBLOCKED", 9) == 0))
    {
        /*
         * The server was made a replica behind our back (a failover we
         * were not told of, a REPLICAOF): the command did not happen.
         * Its caller sees what a lost connection gives it (NULL: it
         * sends the command again once READY), and the connection is
         * made again to the master the sentinels name now.
         */
        char why[160];

        snprintf(why, sizeof(why), "%s", reply->str);
        /* down first: the caller cannot send again on this connection
         * (hiredis frees it, with NULL to the commands still pending,
         * once this callback returned) */
        tgw_rconn_lost(rc, why);
        if (req->cb) {
            req->cb(rc, NULL, req->data);
        }
        free(req->fmt);
        free(req);
        return;
    }
    if (req->cb) {
        req->cb(rc, reply, req->data);
    }
    free(req->fmt);
    free(req);
}


static int
tgw_rconn_send(tgw_rconn_t *rc, tgw_rconn_reply_cb cb, void *data,
    const tgw_args_t *cmd, int internal)
{
    tgw_rreq_t *req;
    int         n, rv;

    if (cmd->overflow || rc->ac == NULL) {
        return -1;
    }
    req = malloc(sizeof(*req));
    if (req == NULL) {
        return -1;
    }
    req->rc = rc;
    req->cb = cb;
    req->data = data;
    req->internal = internal;
    req->script = cmd->script;
    req->fmt = NULL;
    req->fmt_len = 0;
    req->reloaded = 0;
    if (cmd->script != NULL) {
        /* formatted here and kept until the reply: NOSCRIPT resends it */
        n = redisFormatCommandArgv(&req->fmt, cmd->argc,
                                   (const char **) cmd->argv, cmd->len);
        if (n < 0) {
            free(req);
            return -1;
        }
        req->fmt_len = (size_t) n;
        rv = redisAsyncFormattedCommand(rc->ac, tgw_rconn_reply, req,
                                        req->fmt, req->fmt_len);
    } else {
        rv = redisAsyncCommandArgv(rc->ac, tgw_rconn_reply, req, cmd->argc,
                                   (const char **) cmd->argv, cmd->len);
    }
    if (rv != REDIS_OK) {
        free(req->fmt);
        free(req);
        return -1;
    }
    if (!internal) {
        if (rc->inflight++ == 0) {
            rc->since_ms = uv_now(rc->loop);
        }
    }
    return 0;
}


int
tgw_rconn_cmdv(tgw_rconn_t *rc, tgw_rconn_reply_cb cb, void *data,
    int argc, const char **argv, const size_t *len)
{
    tgw_rreq_t *req;

    if (rc->state != TGW_RCONN_READY) {
        return -1;
    }
    req = malloc(sizeof(*req));
    if (req == NULL) {
        return -1;
    }
    req->rc = rc;
    req->cb = cb;
    req->data = data;
    req->internal = 0;
    req->script = NULL;
    req->fmt = NULL;
    req->fmt_len = 0;
    req->reloaded = 0;
    if (redisAsyncCommandArgv(rc->ac, tgw_rconn_reply, req, argc, argv, len)
        != REDIS_OK)
    {
        free(req);
        return -1;
    }
    if (rc->inflight++ == 0) {
        rc->since_ms = uv_now(rc->loop);
    }
    return 0;
}


int
tgw_rconn_script_fmt(tgw_rconn_t *rc, tgw_rconn_reply_cb cb, void *data,
    const char *script, char *fmt, size_t len)
{
    tgw_rreq_t *req;

    if (rc->state != TGW_RCONN_READY
        || (req = malloc(sizeof(*req))) == NULL)
    {
        free(fmt);
        return -1;
    }
    req->rc = rc;
    req->cb = cb;
    req->data = data;
    req->internal = 0;
    req->script = script;
    req->fmt = fmt;                 /* kept until the reply: NOSCRIPT
                                       resends it */
    req->fmt_len = len;
    req->reloaded = 0;
    if (redisAsyncFormattedCommand(rc->ac, tgw_rconn_reply, req, fmt, len)
        != REDIS_OK)
    {
        free(fmt);
        free(req);
        return -1;
    }
    if (rc->inflight++ == 0) {
        rc->since_ms = uv_now(rc->loop);
    }
    return 0;
}


int
tgw_rconn_cmd(tgw_rconn_t *rc, tgw_rconn_reply_cb cb, void *data,
    const tgw_args_t *cmd)
{
    if (rc->state != TGW_RCONN_READY) {
        return -1;
    }
    return tgw_rconn_send(rc, cb, data, cmd, 0);
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
static void
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
static void
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


/* ------------------------------------------------------------------------
 * Asking the sentinels.  Each connect with "sentinel" in the config
 * starts here: the sentinels are asked in turn (beginning with the one
 * that answered last) for the master's address, each with redis_timeout
 * to answer; the first answer is used.  When none answers the
 * connection waits its backoff as any failed connect does, and asks
 * again.
 * ------------------------------------------------------------------------ */

/* The master the worker was last connected to, for its connections
 * together: a switch is logged once, by the first to see it. */
static tgw_addr_t  tgw_rconn_master;
static int         tgw_rconn_master_known;


static void
tgw_rconn_master_seen(tgw_rconn_t *rc)
{
    char  from[TGW_ADDR_HOST_MAX + 16], to[TGW_ADDR_HOST_MAX + 16];

    if (tgw_rconn_master_known
        && tgw_addr_equal(&tgw_rconn_master, &rc->addr))
    {
        return;
    }
    tgw_addr_format(&rc->addr, to, sizeof(to));
    if (tgw_rconn_master_known) {
        tgw_addr_format(&tgw_rconn_master, from, sizeof(from));
        tgw_log(TGW_LOG_WARN, "redis_master_switch", "master",
                rc->conf->master, "from", from, "to", to, NULL);
    } else {
        tgw_log(TGW_LOG_INFO, "redis_master", "master", rc->conf->master,
                "addr", to, NULL);
    }
    tgw_rconn_master = rc->addr;
    tgw_rconn_master_known = 1;
}


/* Drops the sentinel connection, if any (its pending callbacks see that
 * it is no longer ours). */
static void
tgw_rconn_sentinel_free(tgw_rconn_t *rc)
{
    redisAsyncContext *sac = rc->sac;

    if (sac != NULL) {
        rc->sac = NULL;
        sac->data = NULL;
        redisAsyncFree(sac);
    }
}


static void tgw_rconn_ask(tgw_rconn_t *rc);
static void tgw_rconn_sentinel_connected(void *data,
    redisAsyncContext *sac, const char *why_not);


/* The sentinel asked did not answer usefully: ask the next one. */
static void
tgw_rconn_sentinel_failed(tgw_rconn_t *rc, const char *why)
{
    char  addr[TGW_ADDR_HOST_MAX + 16];

    tgw_addr_format(&rc->conf->sentinels[rc->sentinel], addr, sizeof(addr));
    snprintf(rc->why, sizeof(rc->why), "sentinel %s: %.200s", addr, why);
    tgw_log(TGW_LOG_DEBUG, "redis_sentinel_failed", "conn", rc->role,
            "reason", rc->why, NULL);
    tgw_rconn_sentinel_free(rc);
    rc->sentinel = (rc->sentinel + 1) % rc->conf->nsentinels;
    tgw_rconn_ask(rc);
}


static void
tgw_rconn_sentinel_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    tgw_rconn_t *rc = ac->data;
    const char  *step = privdata;
    redisReply  *reply = r;
    char         why[160];

    if (rc == NULL || rc->sac != ac || reply == NULL) {
        return;                     /* not ours any more, or failed: the
                                       disconnect callback handles it */
    }
    if (strcmp(step, "AUTH") == 0) {
        if (reply->type == REDIS_REPLY_ERROR) {
            snprintf(why, sizeof(why), "AUTH: %s", reply->str);
            tgw_rconn_sentinel_failed(rc, why);
        }
        return;
    }
    if (tgw_sentinel_master_reply(reply, &rc->addr, why, sizeof(why)) != 0)
    {
        tgw_rconn_sentinel_failed(rc, why);
        return;
    }
    tgw_rconn_sentinel_free(rc);
    rc->state = TGW_RCONN_DOWN;
    tgw_rconn_connect_server(rc);
}


static void
tgw_rconn_sentinel_on_connect(const redisAsyncContext *ac, int status)
{
    tgw_rconn_t *rc = ac->data;

    if (rc == NULL || rc->sac != ac) {
        return;
    }
    if (status != REDIS_OK) {
        rc->sac = NULL;             /* hiredis frees it after this */
        tgw_rconn_sentinel_failed(rc, ac->errstr[0] ? ac->errstr
                                                    : "connect failed");
        return;
    }
    fcntl(ac->c.fd, F_SETFD, FD_CLOEXEC);
}


static void
tgw_rconn_sentinel_on_disconnect(const redisAsyncContext *ac, int status)
{
    tgw_rconn_t *rc = ac->data;

    if (rc == NULL || rc->sac != ac) {
        return;
    }
    rc->sac = NULL;                 /* hiredis frees it after this */
    tgw_rconn_sentinel_failed(rc, ac->errstr[0] ? ac->errstr
                                                : "connection closed");
}


/* Asks the next sentinel of this round, or gives up the round. */
static void
tgw_rconn_ask(tgw_rconn_t *rc)
{
    const tgw_conf_t  *c = rc->conf;
    const tgw_addr_t  *s;
    char               why[512];

    if (rc->asked == c->nsentinels) {
        /* every sentinel failed: a connect that failed */
        snprintf(why, sizeof(why), "no sentinel named the master "
                 "(last: %.400s)", rc->why);
        rc->state = TGW_RCONN_DOWN;
        tgw_rconn_lost(rc, why);
        return;
    }
    rc->asked++;
    s = &c->sentinels[rc->sentinel];

    /* no watchdog while its name is looked up (rlookup.h) */
    rc->state = TGW_RCONN_RESOLVING;
    uv_timer_stop(&rc->timer);
    tgw_rlookup_connect(rc->loop, s->host, s->port, rc->failures, NULL,
                        tgw_rconn_sentinel_connected, rc, &rc->lookup);
}


static void
tgw_rconn_sentinel_connected(void *data, redisAsyncContext *sac,
    const char *why_not)
{
    tgw_rconn_t       *rc = data;
    const tgw_conf_t  *c = rc->conf;
    char               why[512];

    if (sac == NULL || sac->err) {
        snprintf(why, sizeof(why), "%s", sac ? sac->errstr : why_not);
        if (sac) {
            redisAsyncFree(sac);
        }
        tgw_rconn_sentinel_failed(rc, why);   /* asks the next one */
        return;
    }

    fcntl(sac->c.fd, F_SETFD, FD_CLOEXEC);
    sac->data = rc;
    rc->sac = sac;
    if (tgw_rev_attach(sac, rc->loop) != 0) {
        tgw_rconn_sentinel_failed(rc, "cannot attach to the loop");
        return;
    }
    redisAsyncSetConnectCallback(sac, tgw_rconn_sentinel_on_connect);
    redisAsyncSetDisconnectCallback(sac, tgw_rconn_sentinel_on_disconnect);
    rc->state = TGW_RCONN_RESOLVING;
    rc->since_ms = uv_now(rc->loop);

    if ((c->sentinel_password != NULL
         && redisAsyncCommand(sac, tgw_rconn_sentinel_reply, "AUTH",
                              "AUTH %s", c->sentinel_password) != REDIS_OK)
        || redisAsyncCommand(sac, tgw_rconn_sentinel_reply, "MASTER",
                             "SENTINEL get-master-addr-by-name %s",
                             c->master) != REDIS_OK)
    {
        tgw_rconn_sentinel_failed(rc, "out of memory");
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
static void
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
