/*
 * The taskgw-worker daemon: one libuv loop that reads task ids from the
 * queue streams with a consumer group, runs each task with its handler,
 * records the outcome, and only then acks the stream entry (the contract
 * is in docs/worker-config.md and README.md).
 *
 * This is the composition: each concern is a component with its own
 * state, wired together here through callbacks.
 *
 *   fetch.c       reads entries (weighted pick, blocking read, recovery)
 *   processor.c   the tasks held and their slots; task*.c one task's life
 *   reclaim.c     takes entries of dead workers, keeps its own fresh
 *   forwarder.c   the scheduled set back to the streams
 *   scheduler.c   cron ticks
 *   heartbeat.c   the worker's entry for `taskgwctl workers`
 *   webhook.c     webhook deliveries from the outbox
 *   store.c       every Redis command; outcome.c the rules of a record
 *
 * worker.c itself owns the loop's handles: the two Redis connections,
 * the housekeeping tick, signals, reload and shutdown.
 */

#ifndef TGW_WORKER_H
#define TGW_WORKER_H

#include <stdint.h>

#include <uv.h>

#include "conf.h"
#include "fetch.h"
#include "forwarder.h"
#include "heartbeat.h"
#include "processor.h"
#include "rconn.h"
#include "reclaim.h"
#include "scheduler.h"
#include "webhook.h"

typedef struct tgw_worker_s tgw_worker_t;

struct tgw_worker_s {
    uv_loop_t          *loop;
    tgw_conf_t         *conf;       /* current config (SIGHUP swaps it) */
    tgw_rconn_t         cmd;        /* every command but stream reads */
    tgw_rconn_t         rd;         /* XGROUP CREATE and XREADGROUP, which
                                       may block TGW_BLOCK_MS */
    uv_signal_t         sigterm, sigint, sighup;
    uv_timer_t          tick;       /* housekeeping, every TGW_TICK_MS */
    uv_timer_t          grace;      /* shutdown_grace after SIGTERM */

    tgw_processor_t     proc;
    tgw_fetch_t         fetch;
    tgw_reclaim_t       reclaim;
    tgw_forwarder_t     fwd;
    tgw_heartbeat_t     hb;
    tgw_scheduler_t     sched;
    tgw_webhooks_t      hooks;

    uint64_t            next_hb;    /* loop ms of the next heartbeat */
    uint64_t            next_claim; /* loop ms of the next reclaim pass */
    uint64_t            next_extend;/* loop ms of the next claim extension */

    /* Shutdown. */
    int                 stopping;   /* SIGTERM/SIGINT seen: take no work */
    int                 grace_over; /* running tasks are being killed */
    int                 closing;    /* connections and handles closing */
};

/* Housekeeping period. */
#define TGW_TICK_MS         250

/* Sets up the worker on loop with conf (takes a reference). */
int tgw_worker_init(tgw_worker_t *w, uv_loop_t *loop, tgw_conf_t *conf);

/* Begins a graceful stop (what SIGTERM does). */
void tgw_worker_stop(tgw_worker_t *w);

/* Frees what is left after uv_run() returned. */
void tgw_worker_free(tgw_worker_t *w);

#endif /* TGW_WORKER_H */
