/*
 * Crash recovery between workers.  An entry pending (read, not acked)
 * and idle longer than claim_idle belongs to a worker that died: a pass
 * every claim_idle/4 walks every stream with XAUTOCLAIM and takes such
 * entries.  So that a live task is never taken, the worker re-claims the
 * entries it holds every claim_idle/3 (the claim extension), those still
 * pending under its own name only: a task whose entry another worker
 * took meanwhile is given up.  And consumers that hold nothing and idled
 * claim_idle are deleted from the group (each stopped or dead worker
 * leaves one).
 */

#ifndef TGW_RECLAIM_H
#define TGW_RECLAIM_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "rconn.h"
#include "store.h"
#include "task.h"

typedef struct {
    tgw_rconn_t        *rc;         /* the command connection */
    tgw_conf_t         *conf;       /* the worker's current one (borrowed) */
    int                 busy;       /* an XAUTOCLAIM is out */
    size_t              stream;     /* stream of the pass (queue * 3 +
                                       priority); past the end: done */
    char                cursor[64]; /* where XAUTOCLAIM goes on in it
                                       ("0-0": from the start) */
    size_t              prune;      /* next stream whose idle consumers are
                                       pruned; past the end: done */
    int                 prune_busy;

    int               (*room)(void *data);
    tgw_store_entry_cb  take;
    void              (*taken)(void *data);
    /* A round of the claim extension found that entry of a held task
     * pending under another consumer, or not at all: the task is not
     * this worker's any more. */
    void              (*lost)(void *data, const char *stream,
                              const char *entry);
    void               *data;

    /* The health of streams, kept by the fetcher: a stream that answered
     * with an error is skipped a while, and its error logged once. */
    int               (*usable)(void *hdata, const char *stream);
    void              (*failed)(void *hdata, const char *stream,
                                const char *error);
    void               *hdata;

    /* Redis acknowledged a round of the claim extension sent at sent
     * (tgw_clock_mono_ms()): every entry this worker held
     * then stays its own until sent + claim_idle at least. */
    void              (*refreshed)(void *rdata, uint64_t sent);
    void               *rdata;
} tgw_reclaim_t;

/*
 * How long after a refresh was sent the exec spawner's lease lasts
 * (keeper.h, "Leases"): two thirds of claim_idle.  The next refresh
 * goes out claim_idle/3 later (at the tick before), so a worker may be
 * held up about a third of claim_idle before its programs are killed,
 * and the spawner has the last third to kill them before any of its
 * entries can be taken.
 */
#define tgw_reclaim_lease_ms(claim_idle_ms)  ((claim_idle_ms) / 3 * 2)

void tgw_reclaim_init(tgw_reclaim_t *r, tgw_rconn_t *rc, tgw_conf_t *conf);

/* Starts a pass over every stream (and a prune pass). */
void tgw_reclaim_start(tgw_reclaim_t *r);

/* Goes on with the pass (when room grew). */
void tgw_reclaim_next(tgw_reclaim_t *r);

/* Re-claims the entries of the tasks held (the list of the processor)
 * that are still this worker's; lost names the others and refreshed
 * reports the round once Redis acknowledged it. */
void tgw_reclaim_extend(tgw_reclaim_t *r, const tgw_task_t *tasks);

/* At exit: deletes this worker's own consumer from every stream's group
 * where it holds nothing. */
void tgw_reclaim_leave(tgw_reclaim_t *r);

void tgw_reclaim_cmd_down(tgw_reclaim_t *r);

#endif /* TGW_RECLAIM_H */
