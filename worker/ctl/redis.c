/*
 * taskgwctl: the Redis connection (blocking hiredis API; a CLI may wait)
 * and error reporting for commands and replies.  With --sentinel the
 * sentinels are asked in turn for the master's address, and ROLE
 * confirms that the server reached is a master.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "ctl.h"

/* Connect and command timeout: a dead server must not hang a script. */
#define TGW_CTL_TIMEOUT_SEC  5


/* Reports a failed connection or error reply; returns NULL. */
static redisReply *
tgw_ctl_reply_error(tgw_ctl_t *ctl, redisReply *r)
{
    if (r == NULL) {
        tgw_ctl_fail("redis %s: %s", ctl->opts.redis,
                     ctl->rc->errstr[0] ? ctl->rc->errstr : "no reply");
        return NULL;
    }

    tgw_ctl_fail("redis %s: %.*s", ctl->opts.redis, (int) r->len, r->str);
    freeReplyObject(r);
    return NULL;
}


/*
 * Asks one sentinel for the master's address (into the options' host and
 * port); 0, or -1 with the reason in why.
 */
static int
tgw_ctl_ask_sentinel(tgw_ctl_t *ctl, const tgw_addr_t *s, char *why,
    size_t size)
{
    struct timeval   tv = { TGW_CTL_TIMEOUT_SEC, 0 };
    redisContext    *c;
    redisReply      *r;
    tgw_addr_t       m;
    char             addr[TGW_ADDR_HOST_MAX + 16], e[256];
    int              rc = -1;

    tgw_addr_format(s, addr, sizeof(addr));

    c = redisConnectWithTimeout(s->host, s->port, tv);
    if (c == NULL || c->err || redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(why, size, "sentinel %s: %s", addr,
                 c ? c->errstr : "out of memory");
        goto done;
    }

    if (ctl->opts.sentinel_password != NULL) {
        r = redisCommand(c, "AUTH %s", ctl->opts.sentinel_password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            snprintf(why, size, "sentinel %s: AUTH: %s", addr,
                     r ? r->str : c->errstr);
            if (r) {
                freeReplyObject(r);
            }
            goto done;
        }
        freeReplyObject(r);
    }

    r = redisCommand(c, "SENTINEL get-master-addr-by-name %s",
                     ctl->opts.master);
    if (r == NULL) {
        snprintf(why, size, "sentinel %s: %s", addr, c->errstr);
        goto done;
    }

    if (tgw_sentinel_master_reply(r, &m, e, sizeof(e)) != 0) {
        snprintf(why, size, "sentinel %s: %.200s", addr, e);
        freeReplyObject(r);
        goto done;
    }
    freeReplyObject(r);

    memcpy(ctl->opts.host, m.host, sizeof(m.host));
    ctl->opts.port = m.port;
    tgw_addr_format(&m, addr, sizeof(addr));
    snprintf(ctl->opts.found, sizeof(ctl->opts.found), "%s (master %s)",
             addr, ctl->opts.master);
    ctl->opts.redis = ctl->opts.found;
    rc = 0;

done:

    if (c != NULL) {
        redisFree(c);
    }
    return rc;
}


/* The sentinels in turn until one names the master; 0, or 1 after
 * reporting why none did. */
static int
tgw_ctl_find_master(tgw_ctl_t *ctl)
{
    char  why[512];
    int   i;

    for (i = 0; i < ctl->opts.nsentinels; i++) {
        if (tgw_ctl_ask_sentinel(ctl, &ctl->opts.sentinels[i], why,
                                 sizeof(why)) == 0)
        {
            return 0;
        }
    }

    return tgw_ctl_fail("no sentinel named master %s (last: %s)",
                        ctl->opts.master, why);
}


int
tgw_ctl_connect(tgw_ctl_t *ctl)
{
    struct timeval   tv = { TGW_CTL_TIMEOUT_SEC, 0 };
    redisReply      *r;
    char             why[128];

    if (ctl->opts.nsentinels > 0 && tgw_ctl_find_master(ctl) != 0) {
        return 1;
    }

    if (ctl->opts.port == 0) {
        ctl->rc = redisConnectUnixWithTimeout(ctl->opts.host, tv);
    } else {
        ctl->rc = redisConnectWithTimeout(ctl->opts.host, ctl->opts.port, tv);
    }

    if (ctl->rc == NULL) {
        return tgw_ctl_fail("redis %s: out of memory", ctl->opts.redis);
    }

    if (ctl->rc->err) {
        tgw_ctl_fail("cannot connect to redis %s: %s", ctl->opts.redis,
                     ctl->rc->errstr);
        tgw_ctl_disconnect(ctl);
        return 1;
    }

    if (redisSetTimeout(ctl->rc, tv) != REDIS_OK) {
        tgw_ctl_fail("redis %s: cannot set timeout", ctl->opts.redis);
        tgw_ctl_disconnect(ctl);
        return 1;
    }

    if (ctl->opts.password != NULL) {
        r = tgw_ctl_command(ctl, "AUTH %s", ctl->opts.password);
        if (r == NULL) {
            tgw_ctl_disconnect(ctl);
            return 1;
        }
        freeReplyObject(r);
    }

    if (ctl->opts.db > 0) {
        r = tgw_ctl_command(ctl, "SELECT %ld", ctl->opts.db);
        if (r == NULL) {
            tgw_ctl_disconnect(ctl);
            return 1;
        }
        freeReplyObject(r);
    }

    if (ctl->opts.nsentinels > 0) {
        /* a sentinel that has not seen a failover yet names the old
         * master, which may be back as a replica */
        r = tgw_ctl_command(ctl, "ROLE");
        if (r == NULL) {
            tgw_ctl_disconnect(ctl);
            return 1;
        }
        if (tgw_role_reply(r, why, sizeof(why)) != 1) {
            freeReplyObject(r);
            tgw_ctl_fail("redis %s: %s (a failover in progress? try again)",
                         ctl->opts.redis, why);
            tgw_ctl_disconnect(ctl);
            return 1;
        }
        freeReplyObject(r);
    }

    return 0;
}


void
tgw_ctl_disconnect(tgw_ctl_t *ctl)
{
    if (ctl->rc != NULL) {
        redisFree(ctl->rc);
        ctl->rc = NULL;
    }
}


redisReply *
tgw_ctl_command(tgw_ctl_t *ctl, const char *fmt, ...)
{
    redisReply  *r;
    va_list      ap;

    va_start(ap, fmt);
    r = redisvCommand(ctl->rc, fmt, ap);
    va_end(ap);

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        return tgw_ctl_reply_error(ctl, r);
    }

    return r;
}


redisReply *
tgw_ctl_get_reply(tgw_ctl_t *ctl)
{
    void  *r;

    if (redisGetReply(ctl->rc, &r) != REDIS_OK || r == NULL) {
        return tgw_ctl_reply_error(ctl, NULL);
    }

    return r;
}


int
tgw_ctl_key(char *buf, const char *fmt, ...)
{
    va_list  ap;
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(buf, TGW_CTL_KEY_MAX, fmt, ap);
    va_end(ap);

    if (n < 0 || n >= TGW_CTL_KEY_MAX) {
        return tgw_ctl_fail("key name too long");
    }

    return 0;
}
