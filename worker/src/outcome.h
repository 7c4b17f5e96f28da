/*
 * What happens to a task after a run, and what recording it writes.
 * Pure code (no I/O): the outcome rule, the classification of a run, and
 * the record plan, the list of Redis writes a step makes before its
 * entry is acked.  Unit-tested in worker/tests/test_outcome.c.
 */

#ifndef TGW_OUTCOME_H
#define TGW_OUTCOME_H

#include <stddef.h>
#include <stdint.h>

#include "rconn.h"

/* What a handler reports about one run. */
typedef enum {
    TGW_RUN_SUCCESS = 0,            /* done, output is the result */
    TGW_RUN_RETRYABLE,              /* failed, may work another time */
    TGW_RUN_PERMANENT               /* failed, will never work */
} tgw_run_status_t;

/* The status a task moves to after a run. */
typedef enum {
    TGW_NEXT_SUCCEEDED = 0,         /* terminal */
    TGW_NEXT_RETRYING,              /* back to the stream after a backoff */
    TGW_NEXT_DEAD                   /* terminal, into the dead-letter queue */
} tgw_next_t;

/* What a record step writes before it acks and deletes the entry. */
typedef enum {
    TGW_REC_OUTCOME = 0,            /* a run's outcome (succeeded, retrying,
                                       dead), or a task found dead before
                                       it ran (attempts used up, a hostile
                                       record) */
    TGW_REC_CANCELLED,              /* cancel_requested: cancelled unrun */
    TGW_REC_ACK,                    /* nothing to write, just ack+del (hash
                                       gone, already terminal, bad entry) */
    TGW_REC_DEFER,                  /* not due yet: status "scheduled", into
                                       the scheduled set until due_ms */
    TGW_REC_POSTPONE,               /* its type is at its cap and this
                                       worker holds enough of them waiting:
                                       into the scheduled set until due_ms,
                                       status stays "queued" */
    TGW_REC_HANDBACK                /* read but not started when the worker
                                       stops: a new entry at the tail of
                                       the same stream, so any worker takes
                                       it at once */
} tgw_rec_t;

/*
 * The outcome rule.  attempts counts the runs so far, this one included;
 * max_attempts is the total a task gets (handler override, else
 * retry.max_attempts).
 *
 *   success                                    -> succeeded
 *   permanent failure                          -> dead
 *   retryable failure, attempts < max_attempts -> retrying
 *   retryable failure, attempts exhausted      -> dead
 */
tgw_next_t tgw_outcome_decide(tgw_run_status_t run, int attempts,
    int max_attempts);

/* The task-hash status string of a tgw_next_t. */
const char *tgw_next_status(tgw_next_t next);

/* Returns a pointer to the name of a run status, for logs. */
const char *tgw_run_status_name(tgw_run_status_t s);

/* A run, classified: where the task goes and what is written. */
typedef struct {
    tgw_next_t          next;
    char               *result;     /* encoded JSON text (succeeded) */
    const char         *result_enc; /* NULL or "base64" */
    char               *error;      /* plain text (retrying, dead) */
} tgw_outcome_t;

/*
 * Classifies one run: its status and output (the raw bytes, whether they
 * were cut), the error text the handler gave, and the attempts so far.
 * Output that cannot be encoded for want of memory fails the attempt
 * (retryable) instead of losing the result.  Returns 0, or -1 when even
 * the error text could not be allocated (o->error is then NULL and the
 * plan writes "failed").  tgw_outcome_free() releases o's strings.
 */
int tgw_outcome_classify(tgw_run_status_t st, const char *output,
    size_t output_len, int truncated, const char *error, int attempts,
    int max_attempts, tgw_outcome_t *o);
void tgw_outcome_free(tgw_outcome_t *o);

/* What a record step needs to know about its task. */
typedef struct {
    const char         *prefix;
    const char         *id;         /* task id */
    const char         *queue;      /* a valid queue name (names the
                                       dead-letter stream) */
    const char         *stream;     /* where the entry came from */
    tgw_rec_t           rec;
    const tgw_outcome_t *outcome;   /* TGW_REC_OUTCOME */
    int                 attempts;
    uint64_t            finished_ms;
    uint64_t            due_ms;     /* DEFER, POSTPONE, and RETRYING */
    uint64_t            result_ttl_ms;
    const char         *hook_url;   /* where the webhook of a terminal
                                       status goes; NULL: none */
} tgw_plan_in_t;

/* The longest task id a plan with a webhook event takes (task.h's
 * TGW_TASK_ID_MAX: longer ids are bad entries, never recorded). */
#define TGW_TASK_ID_MAX_PLAN  256

/* Up to this many writes per record step. */
#define TGW_PLAN_MAX  8

/* The writes of a record step, in order. */
typedef struct {
    int                 n;
    int                 terminal;   /* the task reaches a final status */
    tgw_args_t          cmd[TGW_PLAN_MAX];
    /* The webhook event's id and type: arguments of cmd that are made
     * here, so they live as long as the plan (cmd points at them). */
    char                event[TGW_TASK_ID_MAX_PLAN + 32];
    char                type[32];
} tgw_plan_t;

/*
 * The record plan (the rules of what each step writes):
 *
 *   succeeded  status, result, finished_at; error and a stale
 *              result_encoding removed
 *   retrying   status, error; the id into the scheduled set at due_ms
 *   dead       status, error, finished_at; an entry in the queue's
 *              dead-letter stream (id, error, attempts, failed_at)
 *   cancelled  status, finished_at
 *   defer      status "scheduled"; the id into the scheduled set
 *   postpone   the id into the scheduled set (status stays)
 *   handback   a new entry naming the task at the end of its stream
 *   ack        nothing
 *
 * A terminal status with a webhook URL also sets webhook_status
 * "pending" and puts the event into the outbox (its hash, and its id
 * due now in the outbox set): the same script writes the outcome and
 * the event, so no event is lost between them.  A terminal status sets
 * the hash's TTL to result_ttl and, last, publishes the task id on the
 * channel of finished tasks (long polls in nginx wait on it): inside the
 * recording script, so an id heard there names a recorded outcome.  Keys
 * have no length limit.
 * Returns 0, or -1 when out of memory (nothing to free then).
 */
int tgw_plan_build(const tgw_plan_in_t *in, tgw_plan_t *p);
void tgw_plan_free(tgw_plan_t *p);

#endif /* TGW_OUTCOME_H */
