/*
 * A Redis connection's own parts, shared by rconn.c (its life cycle),
 * rconn_cmd.c (commands and replies) and rconn_sentinel.c (the
 * sentinels).  Not used outside them: the rest of the worker has rconn.h.
 */

#ifndef TGW_RCONN_INT_H
#define TGW_RCONN_INT_H

#include <uv.h>

#include "rconn.h"

/* rconn.c */

/* Drops the connection, tells the owner, times a reconnect. */
void tgw_rconn_lost(tgw_rconn_t *rc, const char *why);

/* Connects to the server (the master the sentinels named, with them). */
void tgw_rconn_connect_server(tgw_rconn_t *rc);

/* The connection's timer: reconnect delay, or the reply watchdog. */
void tgw_rconn_watchdog(uv_timer_t *t);

/* rconn_cmd.c */

/* Sends a command; internal: a handshake's, not counted in inflight. */
int tgw_rconn_send(tgw_rconn_t *rc, tgw_rconn_reply_cb cb, void *data,
    const tgw_args_t *cmd, int internal);

/* rconn_sentinel.c */

/* Logs the master reached when it is not the one known before. */
void tgw_rconn_master_seen(tgw_rconn_t *rc);

/* Drops the connection to the sentinel being asked, if any. */
void tgw_rconn_sentinel_free(tgw_rconn_t *rc);

/* The sentinel asked failed (why): asks the next one. */
void tgw_rconn_sentinel_failed(tgw_rconn_t *rc, const char *why);

/* Asks the next sentinel of this round, or gives up the round. */
void tgw_rconn_ask(tgw_rconn_t *rc);

#endif /* TGW_RCONN_INT_H */
