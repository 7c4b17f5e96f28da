/*
 * The tasks this worker holds, and who gets a slot: at most
 * `concurrency` tasks hold a slot (loading, starting, running, recording);
 * a task whose run ended leaves its slot once its record is sent, while
 * fewer than `concurrency` records are out that way (past that it keeps
 * it), and stays held until the record is answered;
 * a type with a `concurrency` cap runs at most that many at once.  Tasks
 * that wait for their type's cap hold no slot and no fetch room, so a
 * capped type never keeps other types from running; this worker keeps at
 * most `concurrency` of them waiting and postpones the rest (back into
 * the scheduled set for TGW_CAP_POSTPONE_MS).
 *
 * A record refused on a key of another type other than the task's hash
 * (the dead-letter stream, the scheduled set) waits for that key to be
 * fixed, its entry pending and its outcome in memory.  Up to
 * `concurrency` such records are "parked": they wait without a slot, so
 * one broken key does not stop the tasks that do not need it; past that
 * they keep their slots (the bound on what waits in memory).  Each key
 * is said once, and once more when a record that needed it is written.
 *
 * Reports upward through callbacks: room (entries may be fetched), idle
 * (no task held any more) and final (a task reached a final status, for
 * its webhook).
 */

#ifndef TGW_PROCESSOR_H
#define TGW_PROCESSOR_H

#include <stdint.h>

#include <uv.h>

#include "conf.h"
#include "rconn.h"
#include "task.h"

/* Chains of the lookup of held tasks by entry (a power of two). */
#define TGW_PROC_BUCKETS  1024

/* How long a task that waits on a full cap is put aside. */
#define TGW_CAP_POSTPONE_MS  1000

/* Keys of another type that records wait on, said once each until a
 * record that needed one is written, and queue stream keys of another
 * type, said once (past this many: said each time). */
#define TGW_PROC_KEYS  64

/* Counters reported in the heartbeat and at exit. */
typedef struct {
    uint64_t            succeeded;
    uint64_t            retried;
    uint64_t            dead;
    uint64_t            cancelled;
    uint64_t            missing;    /* entries whose hash was gone */
    uint64_t            postponed;  /* put aside: their type was capped */
    uint64_t            handed_back;/* unstarted at stop, given back */
} tgw_counters_t;

typedef struct {
    uv_loop_t          *loop;
    tgw_rconn_t        *rc;         /* the command connection */
    tgw_conf_t         *conf;       /* current config (a reference) */
    tgw_task_t         *tasks;      /* every task held, any state, in the
                                       order they were read */
    tgw_task_t         *tail;
    int                 ntasks;
    tgw_task_t        **hash;       /* the same tasks by stream and entry
                                       (TGW_PROC_BUCKETS chains) */
    uv_check_t          later;      /* one pump at the end of a loop
                                       iteration, for all the replies
                                       read in it */
    uv_idle_t           later_idle; /* and asked for outside the reading
                                       (a run ended in a timer or a close
                                       callback): before the loop waits */
    tgw_recbatch_t      batch;      /* the tasks' record steps, sent
                                       together per loop iteration */
    tgw_recbatch_t      takes;      /* and their take steps */
    int                 stopping;   /* no task starts; unstarted ones are
                                       handed back */
    int                 abandoning; /* the grace is over: forget them all */
    char               *refused[TGW_PROC_KEYS]; /* keys of another type
                                       said: those records were refused
                                       on and have not been written
                                       since, and queue streams */
    size_t              nrefused;
    tgw_counters_t      n;

    void              (*on_room)(void *data);
    void              (*on_idle)(void *data);
    void              (*on_final)(void *data, tgw_task_t *t,
                                  const char *status);
    void               *data;
} tgw_processor_t;

/* -1 when out of memory. */
int tgw_processor_init(tgw_processor_t *p, uv_loop_t *loop,
    tgw_rconn_t *rc, tgw_conf_t *conf);
void tgw_processor_set_conf(tgw_processor_t *p, tgw_conf_t *conf);
void tgw_processor_free(tgw_processor_t *p);

/* Takes a read entry as a new task (a tgw_store_entry_cb; data is p).
 * Returns 1, or 0 when it is held already or there is no memory. */
int tgw_processor_take(void *p, const char *stream, const char *entry,
    const char *id, size_t id_len);

/* The same for an entry read with its take done (fetch.h's answered;
 * data is p): the task goes on from the take's answer, or as a new task
 * when answer is NULL, whose take is then sent as the start made at
 * now_ms if there was one (0: none). */
int tgw_processor_answered(void *p, const char *stream, const char *entry,
    const char *id, size_t id_len, redisReply *answer, uint64_t now_ms);

/* The entry of a held task is another worker's now (reclaim.h's lost;
 * data is p): a running task is given up (tgw_task_elsewhere()). */
void tgw_processor_lost(void *p, const char *stream, const char *entry);

/* Entries that may be read now: free slots, not counting tasks that wait
 * for their type's cap. */
int tgw_processor_room(tgw_processor_t *p);

/* Slots in use (the heartbeat's in_flight). */
int tgw_processor_active(tgw_processor_t *p);

/* Records parked: refused on a key of another type, they wait for it
 * without a slot (the heartbeat's parked). */
int tgw_processor_parked(tgw_processor_t *p);

/* Records out without a slot: their run ended, their record is not
 * answered yet (the heartbeat's recording). */
int tgw_processor_unslotted(tgw_processor_t *p);

/* Gives slots to waiting tasks; call when slots or caps may have freed. */
void tgw_processor_pump(tgw_processor_t *p);

/* Sends again the steps that failed (the tick, a connection back). */
void tgw_processor_retry(tgw_processor_t *p);

/* Graceful stop: nothing starts any more; tasks not started are handed
 * back (a new entry at the end of their stream) so another worker takes
 * them at once.  Running ones finish and record.  Records waiting on a
 * key of another type are forgotten at once, their entries pending. */
void tgw_processor_stop(tgw_processor_t *p);

/* The grace is over: running handlers are killed and every task is
 * forgotten; their entries stay pending for another worker. */
void tgw_processor_abandon(tgw_processor_t *p);

#endif /* TGW_PROCESSOR_H */
