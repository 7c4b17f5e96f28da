/*
 * The forwarder: moves due task ids from the scheduled set (delayed
 * tasks, retries after their backoff, postponed ones) back to their
 * queue streams, TGW_MOVE_BATCH at a time, with the move script.
 */

#ifndef TGW_FORWARDER_H
#define TGW_FORWARDER_H

#include <stdint.h>

#include "conf.h"
#include "rconn.h"

typedef struct {
    tgw_rconn_t        *rc;
    tgw_conf_t         *conf;       /* the worker's current one (borrowed) */
    int                 busy;       /* a move is out */
    uint64_t            moved;      /* ids moved so far (for logs) */
    uint64_t            dead;       /* ids that ended dead (no queue) */
    int                 failing;    /* the last move failed (said once) */
    int                 refused;    /* a stream refused ids (said once) */
} tgw_forwarder_t;

void tgw_forwarder_init(tgw_forwarder_t *fw, tgw_rconn_t *rc,
    tgw_conf_t *conf);

/* One move, unless one is out (every tick). */
void tgw_forwarder_run(tgw_forwarder_t *fw);

/* The connection is down: its request is gone. */
void tgw_forwarder_cmd_down(tgw_forwarder_t *fw);

#endif /* TGW_FORWARDER_H */
