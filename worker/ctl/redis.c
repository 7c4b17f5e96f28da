/*
 * taskgwctl: the Redis connection (blocking hiredis API; a CLI may wait)
 * and error reporting for commands and replies.
 */

#include <stdarg.h>
#include <stdio.h>
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


int
tgw_ctl_connect(tgw_ctl_t *ctl)
{
    struct timeval   tv = { TGW_CTL_TIMEOUT_SEC, 0 };
    redisReply      *r;

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
