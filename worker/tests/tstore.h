/*
 * What the store tests (test_store*.c) share: the worker's own Redis
 * connection on a libuv loop, the reply of its last call, and the peeks
 * at what a script did (through tredis.h's plain connection to the real
 * redis-server of the test run, database 9).
 */

#ifndef TGW_TSTORE_H
#define TGW_TSTORE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "conf.h"
#include "rconn.h"
#include "tredis.h"

static uv_loop_t    loop;
static tgw_rconn_t  rc;
static redisReply   *last;          /* the reply the last call got */
static int          answered;


/* A deep copy of a reply (hiredis frees r after the callback). */
static inline redisReply *
dup_reply(const redisReply *r)
{
    redisReply *d = calloc(1, sizeof(*d));
    size_t      i;

    d->type = r->type;
    d->integer = r->integer;
    if (r->str) {
        d->str = strdup(r->str);
        d->len = r->len;
    }
    if (r->type == REDIS_REPLY_ARRAY) {
        d->elements = r->elements;
        d->element = calloc(r->elements + 1, sizeof(redisReply *));
        for (i = 0; i < r->elements; i++) {
            d->element[i] = dup_reply(r->element[i]);
        }
    }
    return d;
}


static inline void
got(tgw_rconn_t *c, redisReply *r, void *data)
{
    answered = 1;
    freeReplyObject(last);
    last = r ? dup_reply(r) : NULL;
}


/* Runs the loop until the request sent answered (5 s at most). */
static inline int
wait_reply(int sent)
{
    uint64_t until = uv_now(&loop) + 5000;

    if (sent != 0) {
        return -1;
    }
    while (!answered && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    answered = 0;
    return last ? 0 : -1;
}


static inline const char *
hget(const char *key, const char *field)
{
    redisReply *r = q("HGET %s %s", key, field);

    return r && r->type == REDIS_REPLY_STRING ? r->str : NULL;
}


static inline long long
num(const char *fmt, const char *arg)
{
    redisReply *r = q(fmt, arg);

    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
}


/* A pending entry for id in stream p:q:default:normal; returns its id. */
static inline const char *
pending_entry(const char *id)
{
    static char entry[64];
    redisReply *r;

    r = q("XADD p:q:default:normal * id %s", id);
    snprintf(entry, sizeof(entry), "%s", r->str);
    q("XREADGROUP GROUP workers w1 COUNT 100 STREAMS p:q:default:normal >");
    return entry;
}


static inline void
ready(void)
{
    uint64_t until = uv_now(&loop) + 5000;

    while (rc.state != TGW_RCONN_READY && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}


/* The answers of a batched call (record_many.lua, take_many.lua), one
 * per task added. */
static int          batch_type[300];
static long long    batch_int[300];
static char         batch_err[300][64];
static int          batch_answered;


/* A record step's answer. */
static inline void
batch_got(tgw_rconn_t *c, redisReply *r, void *data)
{
    int i = (int) (intptr_t) data;

    batch_type[i] = r ? r->type : -1;
    batch_int[i] = r ? r->integer : 0;
    snprintf(batch_err[i], sizeof(batch_err[i]), "%s",
             r && r->type == REDIS_REPLY_ERROR ? r->str : "");
    batch_answered++;
}


/* The same for a take step: the code of its answer in batch_int. */
static inline void
batch_got_take(tgw_rconn_t *c, redisReply *r, void *data)
{
    int i = (int) (intptr_t) data;

    batch_type[i] = r ? r->type : -1;
    batch_int[i] = r && r->type == REDIS_REPLY_ARRAY && r->elements == 3
                   ? r->element[0]->integer : -999;
    snprintf(batch_err[i], sizeof(batch_err[i]), "%s",
             r && r->type == REDIS_REPLY_ERROR ? r->str : "");
    batch_answered++;
}


/* The config of the tests (prefix p, db 9, name w1, claim_idle 1s) for
 * the Redis on port; db 9 emptied but for the stream p:q:default:normal
 * and its group workers; rc connecting on loop (ready() waits for it).
 * NULL, after a "Bail out!" line, when the config or Redis fails. */
static inline tgw_conf_t *
tstore_open(const char *port)
{
    char               json[256];
    tgw_conf_t        *c;
    tgw_conf_errors_t  errs;

    snprintf(json, sizeof(json),
             "{\"redis\":\"127.0.0.1:%s\",\"prefix\":\"p\",\"db\":9,"
             "\"name\":\"w1\",\"claim_idle\":\"1s\"}", port);
    c = tgw_conf_parse(json, strlen(json), "test", &errs);
    tgw_conf_errors_free(&errs);
    if (c == NULL) {
        printf("Bail out! config\n");
        return NULL;
    }
    if (tredis_open(port, 9) != 0) {
        printf("Bail out! no Redis on port %s\n", port);
        tgw_conf_unref(c);
        return NULL;
    }
    q("FLUSHDB");
    q("XGROUP CREATE p:q:default:normal workers 0 MKSTREAM");

    uv_loop_init(&loop);
    tgw_rconn_init(&rc, &loop, "cmd", c);
    ready();
    return c;
}


/* Closes what tstore_open() opened and empties db 9 again. */
static inline void
tstore_close(tgw_conf_t *c)
{
    tgw_rconn_close(&rc, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    freeReplyObject(last);
    last = NULL;
    q("FLUSHDB");
    tredis_close();
    tgw_conf_unref(c);
}


/* The start of a store test's main(): the config, and rc connected, as
 * tstore_open() makes them for the Redis of TEST_NGINX_REDIS_PORT.
 * NULL when the test ends here, *rv its exit status: 0 after a plan
 * that skips it all (no TEST_NGINX_REDIS_PORT), 1 after a "Bail out!"
 * line. */
static inline tgw_conf_t *
tstore_start(int *rv)
{
    const char  *port = getenv("TEST_NGINX_REDIS_PORT");
    tgw_conf_t  *c;

    *rv = 0;
    if (port == NULL) {
        printf("1..0 # SKIP no TEST_NGINX_REDIS_PORT\n");
        return NULL;
    }
    *rv = 1;
    c = tstore_open(port);
    if (c != NULL && rc.state != TGW_RCONN_READY) {
        printf("Bail out! Redis connection not ready\n");
        return NULL;
    }
    return c;
}

#endif /* TGW_TSTORE_H */
