/*
 * tgw_rev: drives a hiredis async context from a libuv loop, as hiredis's
 * own libuv adapter does, with two differences (rev.c says why): a poll
 * error is handed to hiredis as readiness so that the connection fails
 * instead of hanging, and the commands queued in one loop iteration go out
 * in one write just before the loop polls again.
 */

#ifndef TGW_REV_H
#define TGW_REV_H

#include <hiredis/async.h>
#include <uv.h>

/* Attaches ac (just created, its socket connecting) to loop.  -1 when out
 * of memory or the socket cannot be polled. */
int tgw_rev_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif /* TGW_REV_H */
