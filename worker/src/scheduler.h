/*
 * Cron schedules: each minute (UTC) every worker checks every schedule
 * of its config; the enqueue script, given the tick's guard key, lets
 * exactly one of them create the
 * tick's task.  A tick missed while Redis was away is still fired up to
 * TGW_CRON_CATCHUP minutes late; older ones are skipped, as cron does.
 * cron.c parses and matches the expressions.
 */

#ifndef TGW_SCHEDULER_H
#define TGW_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "cron.h"
#include "rconn.h"

#define TGW_CRON_CATCHUP    5       /* minutes a late tick still fires */

/* A schedule of the current config, parsed, and how far it got. */
typedef struct {
    tgw_cron_t          cron;
    uint64_t            next_min;   /* first unix minute not yet handled */
    int                 busy;       /* its fire request is out */
    int                 failing;    /* its last fire failed (said once) */
} tgw_cron_state_t;

typedef struct {
    tgw_rconn_t        *rc;
    tgw_conf_t         *conf;       /* the config the schedules are of
                                       (a reference) */
    tgw_cron_state_t   *crons;
    size_t              ncrons;
    unsigned            gen;        /* bumped by each new config: a reply
                                       of an older one is ignored */
} tgw_scheduler_t;

/* Builds the schedules of conf; 0 or -1 (no memory: nothing changed). */
int tgw_scheduler_set_conf(tgw_scheduler_t *s, tgw_rconn_t *rc,
    tgw_conf_t *conf);

/* Fires what is due (every tick). */
void tgw_scheduler_run(tgw_scheduler_t *s);

void tgw_scheduler_free(tgw_scheduler_t *s);

#endif /* TGW_SCHEDULER_H */
