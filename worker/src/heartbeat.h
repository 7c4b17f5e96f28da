/*
 * The heartbeat: every TGW_HEARTBEAT_MS the worker writes what it is
 * (name, host, pid, queues, slots in use, counters, stopping) as JSON to
 * <prefix>:worker:<name> with a TGW_HEARTBEAT_TTL lifetime; `taskgwctl
 * workers` lists these keys.  At exit the key is deleted.
 */

#ifndef TGW_HEARTBEAT_H
#define TGW_HEARTBEAT_H

#include <stdint.h>

#include "conf.h"
#include "processor.h"
#include "rconn.h"

#define TGW_HEARTBEAT_MS    5000
#define TGW_HEARTBEAT_TTL   15000

typedef struct {
    tgw_rconn_t        *rc;
    tgw_conf_t         *conf;       /* the worker's current one (borrowed) */
    int                 busy;       /* a write is out */
    uint64_t            started_at; /* unix ms */
    char                host[256];
} tgw_heartbeat_t;

void tgw_heartbeat_init(tgw_heartbeat_t *hb, tgw_rconn_t *rc,
    tgw_conf_t *conf);

/* Writes one heartbeat from the processor's state. */
void tgw_heartbeat_beat(tgw_heartbeat_t *hb, tgw_processor_t *p,
    int stopping);

/* At exit: the key goes (harmless to lose: its TTL ends it anyway). */
void tgw_heartbeat_bye(tgw_heartbeat_t *hb);

void tgw_heartbeat_cmd_down(tgw_heartbeat_t *hb);

#endif /* TGW_HEARTBEAT_H */
