/*
 * The connection's event-loop adapter (rconn.c) against the real
 * redis-server of the test run ($TEST_NGINX_REDIS_PORT): many commands
 * queued in one loop iteration go out in one write and cost no epoll_ctl
 * each; replies, errors and a connection that Redis closes still reach
 * every callback.  This binary counts the epoll_ctl(2) and write(2) calls
 * libuv and hiredis make by defining both here (the executable's symbols
 * come first) and passing them on.  Skipped when no Redis is given.
 */

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "conf.h"
#include "log.h"
#include "rconn.h"
#include "tap.h"
#include "tredis.h"

static long  n_epoll_ctl;
static long  n_write;
static int   counted_fd = -1;       /* write(2) counted on this fd only */


int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    static int (*real)(int, int, int, struct epoll_event *);

    if (real == NULL) {
        real = (int (*)(int, int, int, struct epoll_event *))
               dlsym(RTLD_NEXT, "epoll_ctl");
    }
    n_epoll_ctl++;
    return real(epfd, op, fd, event);
}


ssize_t
write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);

    if (real == NULL) {
        real = (ssize_t (*)(int, const void *, size_t))
               dlsym(RTLD_NEXT, "write");
    }
    if (fd == counted_fd) {
        n_write++;
    }
    return real(fd, buf, n);
}


static uv_loop_t    loop;
static tgw_rconn_t  rc;
static int          replies, errors, lost;


static void
on_reply(tgw_rconn_t *c, redisReply *r, void *data)
{
    if (r == NULL) {
        lost++;
    } else if (r->type == REDIS_REPLY_ERROR) {
        errors++;
    } else {
        replies++;
    }
}


/* Runs the loop until *n reaches want (5 s at most). */
static void
run_until(int *n, int want)
{
    uint64_t until = uv_now(&loop) + 5000;

    while (*n < want && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}


/* Sends count commands in this loop iteration: every third an unknown
 * command (an error reply), the others INCR of a counter. */
static int
send_batch(int count)
{
    tgw_args_t a;
    int        i, sent = 0;

    for (i = 0; i < count; i++) {
        tgw_args_init(&a);
        if (i % 3 == 2) {
            tgw_args_add(&a, "NOSUCHCOMMAND");
        } else {
            tgw_args_add(&a, "INCR");
            tgw_args_add(&a, "trc:counter");
        }
        sent += tgw_rconn_cmd(&rc, on_reply, NULL, &a) == 0;
    }
    return sent;
}


int
main(void)
{
    const char        *port = getenv("TEST_NGINX_REDIS_PORT");
    char               json[512];
    tgw_conf_t        *c;
    tgw_conf_errors_t  errs;
    redisReply        *r;
    long               ctl0, wr0;
    int                want;

    if (port == NULL) {
        printf("1..0 # SKIP no TEST_NGINX_REDIS_PORT\n");
        return 0;
    }
    tgw_log_init(0, TGW_LOG_ERROR + 1);     /* quiet */
    snprintf(json, sizeof(json),
             "{\"redis\":\"127.0.0.1:%s\",\"prefix\":\"trc\",\"db\":9,"
             "\"name\":\"rconn-test\",\"redis_timeout\":\"5s\","
             "\"handlers\":{\"system.ping\":{\"builtin\":\"ping\"}}}", port);
    c = tgw_conf_parse(json, strlen(json), "test", &errs);
    tgw_conf_errors_free(&errs);
    if (c == NULL) {
        printf("Bail out! config\n");
        return 1;
    }
    if (tredis_open(port, 9) != 0) {
        printf("Bail out! no Redis on port %s\n", port);
        return 1;
    }
    q("DEL trc:counter");

    uv_loop_init(&loop);
    tgw_rconn_init(&rc, &loop, "cmd", c);
    {
        uint64_t until = uv_now(&loop) + 5000;

        while (rc.state != TGW_RCONN_READY && uv_now(&loop) < until) {
            uv_run(&loop, UV_RUN_ONCE);
        }
    }
    ok(rc.state == TGW_RCONN_READY, "connected");
    counted_fd = rc.ac ? rc.ac->c.fd : -1;

    /* ---- 300 commands queued at once ---- */
    ctl0 = n_epoll_ctl;
    wr0 = n_write;
    is_int(send_batch(300), 300, "300 commands queued in one go");
    run_until(&replies, 200);
    run_until(&errors, 100);
    is_int(replies, 200, "every INCR answered");
    is_int(errors, 100, "every unknown command answered with its error");
    is_int(lost, 0, "none lost");
    r = q("GET trc:counter");
    is_str(r && r->type == REDIS_REPLY_STRING ? r->str : "", "200",
           "Redis ran each INCR once");
    /* Before: the poll was restarted for every command (write interest
     * on, then off): about one epoll_ctl per command. */
    ok(n_epoll_ctl - ctl0 <= 4, "no epoll_ctl per command (%ld for 300)",
       n_epoll_ctl - ctl0);
    ok(n_write - wr0 >= 1 && n_write - wr0 <= 3,
       "the 300 commands went out in one write, not one each (%ld)",
       n_write - wr0);

    /* ---- rounds: a command sent from a reply callback goes out too ---- */
    replies = errors = 0;
    for (want = 1; want <= 50; want++) {
        send_batch(1);
        run_until(&replies, want);
    }
    is_int(replies, 50, "50 commands one after the other, each answered");

    /* ---- a big command that the socket does not take at once ---- */
    {
        tgw_args_t  a;
        size_t      big = 8 * 1024 * 1024;
        char       *v = malloc(big);

        memset(v, 'x', big);
        replies = 0;
        tgw_args_init(&a);
        tgw_args_add(&a, "SET");
        tgw_args_add(&a, "trc:big");
        tgw_args_addn(&a, v, big);
        ok(tgw_rconn_cmd(&rc, on_reply, NULL, &a) == 0, "an 8 MB SET sent");
        send_batch(1);              /* and one behind it */
        run_until(&replies, 2);
        is_int(replies, 2, "both answered (the write went on when the "
               "socket had room)");
        r = q("STRLEN trc:big");
        is_int(r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1,
               (long long) big, "Redis holds all 8 MB");
        free(v);
    }

    /* ---- Redis closes the connection: queued commands fail ---- */
    {
        struct sockaddr_in  sa;
        socklen_t           sl = sizeof(sa);

        lost = 0;
        getsockname(rc.ac->c.fd, (struct sockaddr *) &sa, &sl);
        r = q("CLIENT KILL ADDR 127.0.0.1:%d", ntohs(sa.sin_port));
        ok(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1,
           "Redis closed it");
    }
    send_batch(10);
    run_until(&lost, 10);
    is_int(lost, 10, "the 10 commands queued on it are reported lost");
    {
        uint64_t until = uv_now(&loop) + 10000;

        while (rc.state != TGW_RCONN_READY && uv_now(&loop) < until) {
            uv_run(&loop, UV_RUN_ONCE);
        }
    }
    ok(rc.state == TGW_RCONN_READY, "reconnected");
    replies = 0;
    send_batch(3);
    run_until(&replies, 2);
    is_int(replies, 2, "and it answers again");

    tgw_rconn_close(&rc, 0);
    uv_run(&loop, UV_RUN_DEFAULT);

    /* ---- host names: looked up off the loop (rlookup.c) */
    {
        tgw_conf_t  *cn;
        tgw_rconn_t  rn;
        uint64_t     until;

        snprintf(json, sizeof(json),
                 "{\"redis\":\"localhost:%s\",\"redis_timeout\":\"5s\"}",
                 port);
        cn = tgw_conf_parse(json, strlen(json), "test", &errs);
        tgw_conf_errors_free(&errs);
        tgw_rconn_init(&rn, &loop, "cmd", cn);
        ok(rn.state == TGW_RCONN_CONNECTING && rn.ac == NULL
           && rn.lookup != NULL,
           "a host name: looked up first, not connected to at once");
        until = uv_now(&loop) + 5000;
        while (rn.state != TGW_RCONN_READY && uv_now(&loop) < until) {
            uv_run(&loop, UV_RUN_ONCE);
        }
        ok(rn.state == TGW_RCONN_READY, "connected to localhost by name");
        tgw_rconn_close(&rn, 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        tgw_conf_unref(cn);

        /* closed while its lookup is under way: the answer is dropped */
        cn = tgw_conf_parse(json, strlen(json), "test", &errs);
        tgw_conf_errors_free(&errs);
        tgw_rconn_init(&rn, &loop, "cmd", cn);
        tgw_rconn_close(&rn, 0);
        ok(rn.lookup == NULL && rn.state == TGW_RCONN_CLOSED,
           "closed during a lookup");
        uv_run(&loop, UV_RUN_DEFAULT);
        ok(rn.ac == NULL, "and its answer connected nothing");
        tgw_conf_unref(cn);

        /* a name that does not resolve: a failed connect, retried */
        snprintf(json, sizeof(json),
                 "{\"redis\":\"no-such-host.invalid:%s\","
                 "\"redis_backoff\":{\"min\":\"50ms\",\"max\":\"50ms\"}}",
                 port);
        cn = tgw_conf_parse(json, strlen(json), "test", &errs);
        tgw_conf_errors_free(&errs);
        tgw_rconn_init(&rn, &loop, "cmd", cn);
        until = uv_now(&loop) + 20000;
        while (rn.failures < 1 && uv_now(&loop) < until) {
            uv_run(&loop, UV_RUN_ONCE);
        }
        ok(rn.failures >= 1 && rn.state != TGW_RCONN_READY,
           "a name that does not resolve: failed connects, retried (%d)",
           rn.failures);
        tgw_rconn_close(&rn, 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        tgw_conf_unref(cn);
    }

    uv_loop_close(&loop);
    q("DEL trc:counter trc:big");
    tredis_close();
    tgw_conf_unref(c);
    return done_testing();
}
