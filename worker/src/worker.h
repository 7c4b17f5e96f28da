/*
 * The taskgw-worker daemon: one libuv loop that reads task ids from the
 * queue streams with a consumer group, runs each task with its handler,
 * records the outcome, and only then acks the stream entry (SPEC §6, §7).
 */

#ifndef TGW_WORKER_H
#define TGW_WORKER_H

#include <stdint.h>

#include <uv.h>

#include "conf.h"
#include "cron.h"
#include "rconn.h"
#include "retry.h"
#include "run.h"
#include "webhook.h"

/*
 * A task's life inside this worker.  Every state but NEW and BLOCKED
 * occupies one of the `concurrency` slots.
 */
typedef enum {
    TGW_TASK_NEW = 0,               /* entry read, waiting for a slot */
    TGW_TASK_LOADING,               /* HGETALL of the task hash */
    TGW_TASK_BLOCKED,               /* its type is at its concurrency cap */
    TGW_TASK_STARTING,              /* recording status "running" */
    TGW_TASK_RUNNING,               /* the handler runs */
    TGW_TASK_RECORDING              /* recording the outcome, then ack */
} tgw_task_state_t;

/* What the RECORDING step writes. */
typedef enum {
    TGW_REC_OUTCOME = 0,            /* a run's outcome (succeeded, retrying,
                                       dead) */
    TGW_REC_CANCELLED,              /* cancel_requested: cancelled unrun */
    TGW_REC_ACK,                    /* nothing to write, just ack+del (hash
                                       gone, already terminal, bad entry) */
    TGW_REC_DEFER                   /* not due yet: into the scheduled set */
} tgw_rec_t;

typedef struct tgw_worker_s tgw_worker_t;
typedef struct tgw_task_s tgw_task_t;

struct tgw_task_s {
    tgw_task_t         *prev, *next;    /* the worker's list of tasks */
    tgw_worker_t       *w;
    tgw_conf_t         *conf;       /* config the task was taken under:
                                       a SIGHUP does not change it midway */
    tgw_task_state_t    state;
    int                 busy;       /* a Redis request for it is out */
    int                 stalled;    /* its last Redis step failed; the
                                       tick retries it */
    int                 drop;       /* shutdown: forget it, leave the
                                       entry pending for another worker */
    unsigned            errors;     /* error replies to its current step */

    char               *stream;     /* stream key the entry came from */
    char               *entry;      /* entry id there, for XACK/XDEL */
    char               *id;         /* task id (NULL: malformed entry) */

    /* From the task hash. */
    char               *queue;
    char               *type;
    char               *priority;
    char               *payload;
    size_t              payload_len;
    char               *content_type;
    char               *callback_url; /* X-Callback-URL of the request */
    int                 attempts;   /* runs so far, this one included */
    uint64_t            run_at;     /* ms; 0 when none */

    const tgw_handler_conf_t *handler;  /* NULL: unknown type */
    tgw_run_t           run;
    uint64_t            started_ms; /* this run's start (wall clock) */

    /* The outcome being recorded. */
    tgw_rec_t           rec;
    tgw_next_t          outcome;    /* the status it moves to */
    char               *result;     /* encoded JSON text, or NULL */
    const char         *result_enc; /* NULL or "base64" */
    char               *error;      /* plain text, or NULL */
    uint64_t            finished_ms;
    uint64_t            due_ms;     /* RETRYING / DEFER: when it is due */
};

/* A schedule of the current config, parsed, and how far it got. */
typedef struct {
    tgw_cron_t          cron;
    uint64_t            next_min;   /* first unix minute not yet handled */
    int                 busy;       /* its fire request is out */
} tgw_cron_state_t;

/* Counters reported in the heartbeat and at exit. */
typedef struct {
    uint64_t            succeeded;
    uint64_t            retried;
    uint64_t            dead;
    uint64_t            cancelled;
    uint64_t            missing;    /* entries whose hash was gone */
    uint64_t            moved;      /* moved from scheduled to a stream */
} tgw_counters_t;

struct tgw_worker_s {
    uv_loop_t          *loop;
    tgw_conf_t         *conf;       /* current config (SIGHUP swaps it) */
    tgw_rconn_t         cmd;        /* every command but stream reads */
    tgw_rconn_t         rd;         /* XGROUP CREATE and XREADGROUP, which
                                       may block for TGW_BLOCK_MS */
    uv_signal_t         sigterm, sigint, sighup;
    uv_timer_t          tick;       /* housekeeping, every TGW_TICK_MS */
    uv_timer_t          grace;      /* shutdown_grace after SIGTERM */

    tgw_task_t         *tasks;      /* every task held, any state, in
                                       the order they were read */
    tgw_task_t         *tasks_tail;
    tgw_hook_t         *hooks;      /* webhook deliveries (no slots) */
    int                 ntasks;
    int                 nactive;    /* tasks past NEW/BLOCKED: slots used */

    /* Fetching: smooth weighted round-robin over conf->queues, each pick
     * reading its streams high, normal, low until it got what it wanted. */
    int                 groups_ready;   /* groups exist on every stream */
    int                 groups_pending; /* XGROUP CREATE replies awaited */
    int                 fetching;   /* an XREADGROUP is out */
    int                *wrr;        /* current weight of each queue */
    char               *empty;      /* queue had nothing at last look */
    size_t              nwrr;       /* queues the two arrays cover */
    int                 fq;         /* queue of the pick being read */
    int                 fp;         /* its priority being read (0 high) */
    int                 fwant;      /* entries still wanted by the pick */
    int                 fgot;       /* entries the pick got so far */
    int                 full;       /* a fetch was skipped: no free slot */

    /* Housekeeping. */
    int                 mover_busy; /* the scheduled-set mover is out */
    int                 hb_busy;    /* a heartbeat write is out */
    int                 claim_busy; /* an XAUTOCLAIM is out */
    uint64_t            next_hb;    /* loop ms of the next heartbeat */
    uint64_t            next_claim; /* loop ms of the next reclaim pass */
    uint64_t            next_extend;/* loop ms of the next claim extension */
    size_t              claim_stream; /* stream of the reclaim pass
                                         (queue * 3 + priority) */
    char                claim_cursor[64]; /* where XAUTOCLAIM goes on in
                                             it ("0-0": from the start) */
    size_t              recover_stream; /* next stream whose own pending
                                           entries are read (at start and
                                           when the read connection is
                                           back); past the end when done */
    char                recover_from[64]; /* its read goes on after this
                                             entry id ("0": the start) */
    int                 recover_count;  /* COUNT of the read that is out */
    int                 recover_busy;

    /* Cron schedules of w->conf (rebuilt on SIGHUP: gen changes). */
    tgw_cron_state_t   *crons;
    size_t              ncrons;
    unsigned            cron_gen;

    /* Shutdown. */
    int                 stopping;   /* SIGTERM/SIGINT seen: take no work */
    int                 grace_over; /* running tasks are being killed */
    int                 closing;    /* connections and handles closing */
    int                 exit_code;

    uint64_t            started_at; /* unix ms */
    char                host[256];
    tgw_counters_t      n;
};

/* Loop timings. */
#define TGW_TICK_MS         250     /* housekeeping period */
#define TGW_BLOCK_MS        2000    /* XREADGROUP BLOCK when all is empty */
#define TGW_HEARTBEAT_MS    5000
#define TGW_HEARTBEAT_TTL   15000
#define TGW_MOVE_BATCH      100     /* ids per mover script run */
#define TGW_MOVE_RETRY_MS   10000   /* a due id whose stream refused it
                                       is tried again this much later */
#define TGW_CRON_CATCHUP    5       /* minutes a late tick still fires */
#define TGW_CRON_GUARD_MS   (48 * 3600 * 1000)  /* life of a tick guard */

/* Sets up the worker on loop with conf (takes a reference). */
int tgw_worker_init(tgw_worker_t *w, uv_loop_t *loop, tgw_conf_t *conf);

/* Begins a graceful stop (what SIGTERM does). */
void tgw_worker_stop(tgw_worker_t *w);

/* A webhook delivery ended: the worker may be able to exit now. */
void tgw_worker_hook_ended(tgw_worker_t *w);

/* Frees what is left after uv_run() returned. */
void tgw_worker_free(tgw_worker_t *w);

#endif /* TGW_WORKER_H */
