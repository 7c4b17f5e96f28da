/*
 * hiredis connects to a host name after a blocking getaddrinfo() on the
 * caller's thread: on the worker's loop, a slow DNS server would hold
 * every task's timers, the heartbeat and webhooks for as long as the
 * resolver waits.  Here a name is looked up on a thread of its own
 * instead (not on libuv's thread pool, whose loop would not end while a
 * lookup is under way), and hiredis connects to an address it gave
 * (a connection's links, to Redis in rconn.c and to the sentinels in
 * rconn_sentinel.c, all connect through this).
 */

#ifndef TGW_RLOOKUP_H
#define TGW_RLOOKUP_H

#include <hiredis/async.h>
#include <uv.h>

typedef struct tgw_rlookup_s tgw_rlookup_t;

/* The connect: a context (its error, if any, in ac->err), or NULL and
 * why not. */
typedef void (*tgw_rlookup_cb)(void *data, redisAsyncContext *ac,
    const char *why);

/*
 * Connects to host:port and calls cb with the context.  An IP address is
 * connected to at once (cb runs before this returns); a host name is
 * looked up first, with no deadline but the resolver's (resolv.conf), and
 * *slot holds the lookup until cb runs (NULL again by then).  Of a name's
 * addresses the IPv4 ones are tried first, then the IPv6 ones (hiredis's
 * own order), from the place of prefer when the name has that address
 * (the one a connection that worked was made to: a reconnect does not
 * spend redis_timeout on another that hangs), else from the first, and
 * first places further on (a reconnect after a connect that failed later
 * tries the next address); one refused at once is passed over for the
 * next.  prefer is a numeric address, or NULL or "" for none.
 */
void tgw_rlookup_connect(uv_loop_t *loop, const char *host, int port,
    int first, const char *prefer, tgw_rlookup_cb cb, void *data,
    tgw_rlookup_t **slot);

/* Lets a lookup under way go (*slot NULL): cb is not called.  Its
 * thread cannot be stopped, but nothing waits for it: it ends on its own
 * (or with the process), and the loop is free to end before. */
void tgw_rlookup_drop(tgw_rlookup_t **slot);

#endif /* TGW_RLOOKUP_H */
