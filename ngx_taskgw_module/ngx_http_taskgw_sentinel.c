
/*
 * ngx_http_taskgw_sentinel: how the Redis links follow the master.
 * Behind Redis Sentinel, a link asks the sentinels where the master is
 * before each attempt (the answer to SENTINEL get-master-addr-by-name),
 * and ROLE confirms it reached a master; a watcher per worker process
 * listens to one sentinel for +switch-master.  Any link that meets a
 * READONLY reply, with or without sentinels, is reset and tries again.
 * The connect path itself is ngx_http_taskgw_redis.c's.
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


static ngx_uint_t ngx_http_taskgw_redis_ip(u_char *text, size_t len);
static void ngx_http_taskgw_redis_watch_up(ngx_http_taskgw_link_t *link);
static void ngx_http_taskgw_redis_watch_message(redisAsyncContext *ac,
    void *reply, void *data);
static void ngx_http_taskgw_redis_watch_keepalive(ngx_event_t *ev);


/*
 * With sentinel=, every worker process also listens to one sentinel for
 * +switch-master: a planned failover is followed at once, not only when
 * the old master first refuses a write.
 */
static ngx_http_taskgw_link_t  ngx_http_taskgw_watch;

/*
 * Its keep-alive, as the subscriber's: a PING every taskgw_redis_timeout,
 * and a sentinel from which nothing came back within one interval is
 * taken for dead (the watcher moves on to the next one).
 */
static ngx_event_t             ngx_http_taskgw_watch_ping;
static ngx_uint_t              ngx_http_taskgw_watch_heard;


/* The watcher of this worker process, with sentinel= only. */

void
ngx_http_taskgw_sentinel_init_process(ngx_cycle_t *cycle,
    ngx_http_taskgw_main_conf_t *tmcf)
{
    ngx_http_taskgw_link_t  *link = &ngx_http_taskgw_watch;

    ngx_http_taskgw_redis_link_init(link, cycle, tmcf);

    link->name = "sentinel watcher";
    link->watch = 1;
    link->up = ngx_http_taskgw_redis_watch_up;

    /* not the sentinel the links ask first, where there are two */
    link->sentinel = tmcf->sentinels->nelts - 1;

    ngx_memzero(&ngx_http_taskgw_watch_ping, sizeof(ngx_event_t));
    ngx_http_taskgw_watch_ping.handler = ngx_http_taskgw_redis_watch_keepalive;
    ngx_http_taskgw_watch_ping.data = link;
    ngx_http_taskgw_watch_ping.log = cycle->log;
    ngx_http_taskgw_watch_ping.cancelable = 1;

    ngx_http_taskgw_redis_connect(link);
}


void
ngx_http_taskgw_sentinel_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_taskgw_watch_ping.timer_set) {
        ngx_del_timer(&ngx_http_taskgw_watch_ping);
    }

    ngx_http_taskgw_redis_link_exit(&ngx_http_taskgw_watch);
}


/* Whether a sentinel named the master by an IP address, not a host name. */

static ngx_uint_t
ngx_http_taskgw_redis_ip(u_char *text, size_t len)
{
#if (NGX_HAVE_INET6)
    u_char  addr6[16];
#endif

    if (ngx_inet_addr(text, len) != INADDR_NONE) {
        return 1;
    }

#if (NGX_HAVE_INET6)
    if (ngx_inet6_addr(text, len, addr6) == NGX_OK) {
        return 1;
    }
#endif

    return 0;
}


/*
 * A sentinel's answer to SENTINEL get-master-addr-by-name: the master's
 * host and port, or nil when it does not know the name.  With an address
 * the sentinel's connection is let go and the master's starts at once
 * (the link stays CONNECTING, batches keep waiting); anything else fails
 * this sentinel, and the next one is asked.
 */

void
ngx_http_taskgw_redis_sentinel_reply(redisAsyncContext *ac, void *reply,
    void *data)
{
    redisReply                    *rr = reply;
    ngx_int_t                      port;
    ngx_uint_t                     i;
    ngx_http_taskgw_link_t        *link;
    ngx_http_taskgw_redis_conn_t  *rc = ac->ev.data;

    u_char      *p;
    size_t       len;
    ngx_uint_t   level, found;
    u_char       addr[NGX_SOCKADDR_STRLEN + sizeof(":65535")];

    static u_char  reason[256];

    if (rr == NULL) {
        if (rc) {
            ngx_http_taskgw_redis_detach(rc, ngx_http_taskgw_redis_error(ac));
        }

        return;
    }

    link = rc->link;

    if (link->rc != rc || !link->asking) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        p = ngx_snprintf(reason, sizeof(reason) - 1, "SENTINEL failed: %*s",
                         ngx_http_taskgw_redis_text_len(rr), rr->str);
        goto failed;
    }

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements != 2
        || rr->element[0]->type != REDIS_REPLY_STRING
        || rr->element[1]->type != REDIS_REPLY_STRING)
    {
        p = ngx_snprintf(reason, sizeof(reason) - 1,
                         "does not know master \"%V\"",
                         &link->conf->master);
        goto failed;
    }

    len = rr->element[0]->len;
    port = ngx_atoi((u_char *) rr->element[1]->str, rr->element[1]->len);

    for (i = 0; i < len; i++) {
        if (rr->element[0]->str[i] <= ' ' || rr->element[0]->str[i] == 0x7f) {
            break;
        }
    }

    /*
     * Only an IP address: a host name would be resolved by hiredis with a
     * blocking getaddrinfo() inside the worker process.
     */

    if (len == 0 || len > NGX_SOCKADDR_STRLEN || i != len
        || port < 1 || port > 65535
        || !ngx_http_taskgw_redis_ip((u_char *) rr->element[0]->str, len))
    {
        p = ngx_snprintf(reason, sizeof(reason) - 1,
                         "gave an invalid address for master \"%V\" "
                         "(an IP address and a port are needed)",
                         &link->conf->master);
        goto failed;
    }

    /* an IPv6 address is bracketed, as nginx writes one with its port */

    if (ngx_strlchr((u_char *) rr->element[0]->str,
                    (u_char *) rr->element[0]->str + len, ':')
        != NULL)
    {
        p = ngx_snprintf(addr, sizeof(addr), "[%*s]:%i",
                         len, rr->element[0]->str, port);

    } else {
        p = ngx_snprintf(addr, sizeof(addr), "%*s:%i",
                         len, rr->element[0]->str, port);
    }

    /* the command link logs at warn (a move) or notice: once per worker */
    level = link->up ? NGX_LOG_INFO : NGX_LOG_WARN;
    found = link->up ? NGX_LOG_INFO : NGX_LOG_NOTICE;

    if (link->master_addr_len != 0
        && ((size_t) (p - addr) != link->master_addr_len
            || ngx_memcmp(addr, link->master_addr, p - addr) != 0))
    {
        /* logged once per switch: by the command link */
        ngx_log_error(level, link->log, 0,
                      "taskgw: %s: master \"%V\" moved from %*s to %*s "
                      "(sentinel %V)", link->name, &link->conf->master,
                      link->master_addr_len, link->master_addr,
                      (size_t) (p - addr), addr, &link->addr);
        link->switches++;

    } else if (link->master_addr_len == 0) {
        ngx_log_error(found, link->log, 0,
                      "taskgw: %s: master \"%V\" is at %*s (sentinel %V)",
                      link->name, &link->conf->master, (size_t) (p - addr),
                      addr, &link->addr);
    }

    link->master_addr_len = p - addr;
    ngx_memcpy(link->master_addr, addr, link->master_addr_len);

    ngx_memcpy(link->master, rr->element[0]->str, len);
    link->master[len] = '\0';
    link->master_port = port;

    link->resolved = 1;
    link->asking = 0;
    link->asked = 0;

    /* the sentinel is done with; the master's connection follows at once */

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    link->rc = NULL;
    link->closing = rc;

    /* inside this callback: hiredis frees the context after it */
    redisAsyncFree(ac);

    if (link->reconnect.timer_set) {
        ngx_del_timer(&link->reconnect);
    }

    ngx_add_timer(&link->reconnect, 1);

    return;

failed:

    *p = '\0';

    ngx_http_taskgw_redis_detach(rc, (char *) reason);
    redisAsyncFree(ac);
}


/*
 * ROLE's reply of a master: an array whose first element is "master".
 * role is set to what it said instead (at most 32 bytes), for the log.
 */

ngx_int_t
ngx_http_taskgw_redis_role(redisReply *rr, ngx_str_t *role)
{
    ngx_str_set(role, "?");

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements == 0
        || (rr->element[0]->type != REDIS_REPLY_STRING
            && rr->element[0]->type != REDIS_REPLY_STATUS))
    {
        return NGX_ERROR;
    }

    role->data = (u_char *) rr->element[0]->str;
    role->len = ngx_min(rr->element[0]->len, 32);

    if (rr->element[0]->len == 6
        && ngx_strncmp(rr->element[0]->str, "master", 6) == 0)
    {
        return NGX_OK;
    }

    return NGX_ERROR;
}


/*
 * Whether a reply (or, for EXEC, one of its replies) is -READONLY: the
 * server the link is on became a replica and did not store the write.
 */

ngx_uint_t
ngx_http_taskgw_redis_is_readonly(redisReply *reply)
{
    size_t  i;

    if (reply->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < reply->elements; i++) {
            if (ngx_http_taskgw_redis_is_readonly(reply->element[i])) {
                return 1;
            }
        }

        return 0;
    }

    return reply->type == REDIS_REPLY_ERROR && reply->len >= 8
           && ngx_strncmp(reply->str, "READONLY", 8) == 0;
}


/*
 * The server of the link answered -READONLY: it is a replica now.  The
 * link is reset (every request in flight gets 503) and asks the sentinels
 * again, and so does the subscriber, which is on the same server.
 */

void
ngx_http_taskgw_redis_readonly(ngx_http_taskgw_redis_conn_t *rc)
{
    ngx_http_taskgw_link_t  *link = rc->link;

    if (link->rc != rc) {
        return;
    }

    ngx_http_taskgw_redis_reset(link, "it answered READONLY: not a master "
                                      "any more");

    ngx_http_taskgw_pubsub_follow("the master moved (READONLY)");
    ngx_http_taskgw_wait_follow("the master moved (READONLY)");
}


/* The watcher is UP: it subscribes to the sentinel's +switch-master. */

static void
ngx_http_taskgw_redis_watch_up(ngx_http_taskgw_link_t *link)
{
    ngx_http_taskgw_redis_cmd_t  cmd;

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "SUBSCRIBE", 9);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "+switch-master", 14);

    if (ngx_http_taskgw_redis_queue_setup(link, &cmd,
                                        ngx_http_taskgw_redis_watch_message)
        != NGX_OK)
    {
        return;
    }

    /* the SUBSCRIBE must be answered in time, like any PING after it */

    ngx_http_taskgw_watch_heard = link->heard;

    if (ngx_http_taskgw_watch_ping.timer_set) {
        ngx_del_timer(&ngx_http_taskgw_watch_ping);
    }

    ngx_add_timer(&ngx_http_taskgw_watch_ping, link->conf->timeout);
}


static void
ngx_http_taskgw_redis_watch_keepalive(ngx_event_t *ev)
{
    ngx_http_taskgw_link_t  *link = ev->data;

    const char  *reason;

    if (link->state != NGX_HTTP_TASKGW_LINK_UP || link->rc == NULL
        || link->exiting)
    {
        /* armed again when the watcher is UP again */
        return;
    }

    reason = ngx_http_taskgw_redis_keepalive(link,
                                             &ngx_http_taskgw_watch_heard, 1);

    if (reason != NULL) {
        ngx_http_taskgw_redis_reset(link, reason);
        return;
    }

    ngx_add_timer(ev, link->conf->timeout);
}


/*
 * +switch-master "NAME old-host old-port new-host new-port": for our
 * master, the command link and the subscriber drop their connection and
 * ask the sentinels again (a request in flight gets 503), unless the
 * command link already is on the new address.
 */

static void
ngx_http_taskgw_redis_watch_message(redisAsyncContext *ac, void *reply,
    void *data)
{
    redisReply                    *rr = reply, *msg;
    ngx_str_t                      name, rest;
    ngx_http_taskgw_link_t        *link, *cl;
    ngx_http_taskgw_redis_conn_t  *rc = ac->ev.data;

    u_char  *p, *last, *sp;
    u_char   to[NGX_SOCKADDR_STRLEN + sizeof("[]:65535")], *to_last;

    if (rr == NULL) {
        if (rc) {
            ngx_http_taskgw_redis_detach(rc, ngx_http_taskgw_redis_error(ac));
        }

        return;
    }

    if (rc == NULL || rc->link->rc != rc) {
        return;
    }

    link = rc->link;

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_http_taskgw_redis_reset(link, "SUBSCRIBE failed");
        return;
    }

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements != 3
        || rr->element[0]->type != REDIS_REPLY_STRING
        || rr->element[2]->type != REDIS_REPLY_STRING
        || rr->element[0]->len != 7
        || ngx_strncmp(rr->element[0]->str, "message", 7) != 0)
    {
        return;
    }

    msg = rr->element[2];
    p = (u_char *) msg->str;
    last = p + msg->len;

    sp = ngx_strlchr(p, last, ' ');
    if (sp == NULL) {
        return;
    }

    name.data = p;
    name.len = sp - p;

    if (name.len != link->conf->master.len
        || ngx_strncmp(name.data, link->conf->master.data, name.len) != 0)
    {
        return;
    }

    rest.data = sp + 1;
    rest.len = last - rest.data;

    /* the new address: the last two words, "host port" */

    sp = NULL;

    for (p = last; p > rest.data; p--) {
        if (p[-1] == ' ') {
            if (sp != NULL) {
                break;
            }

            sp = p - 1;
        }
    }

    if (sp == NULL || (size_t) (last - p) + 2 >= sizeof(to)) {
        return;
    }

    /* "host port" as the link writes its master: "[host]:port" for IPv6 */

    if (ngx_strlchr(p, sp, ':') != NULL) {
        to_last = ngx_sprintf(to, "[%*s]:%*s", (size_t) (sp - p), p,
                              (size_t) (last - sp - 1), sp + 1);

    } else {
        to_last = ngx_sprintf(to, "%*s:%*s", (size_t) (sp - p), p,
                              (size_t) (last - sp - 1), sp + 1);
    }

    ngx_log_error(NGX_LOG_INFO, link->log, 0,
                  "taskgw: sentinel %V: +switch-master %V", &link->addr,
                  &rest);

    cl = &ngx_http_taskgw_link;

    if (cl->state == NGX_HTTP_TASKGW_LINK_UP
        && cl->master_addr_len == (size_t) (to_last - to)
        && ngx_memcmp(cl->master_addr, to, to_last - to) == 0)
    {
        /* the link already follows (a READONLY came first) */
        return;
    }

    /* a link still asking the sentinels checks their answer with ROLE */

    if (!cl->asking) {
        ngx_http_taskgw_redis_reset(cl, "the sentinels switched the master");
    }

    ngx_http_taskgw_pubsub_follow("the sentinels switched the master");
    ngx_http_taskgw_wait_follow("the sentinels switched the master");
}
