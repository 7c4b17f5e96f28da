/*
 * A Redis connection's sentinels (rconn.h): asking them in turn for the
 * master's address before each connect, and logging a master switch.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/async.h>

#include "log.h"
#include "rconn.h"
#include "rconn_int.h"
#include "rev.h"
#include "rlookup.h"

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


void
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
void
tgw_rconn_sentinel_free(tgw_rconn_t *rc)
{
    redisAsyncContext *sac = rc->sac;

    if (sac != NULL) {
        rc->sac = NULL;
        sac->data = NULL;
        redisAsyncFree(sac);
    }
}


static void tgw_rconn_sentinel_connected(void *data,
    redisAsyncContext *sac, const char *why_not);


/* The sentinel asked did not answer usefully: ask the next one. */
void
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
void
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
