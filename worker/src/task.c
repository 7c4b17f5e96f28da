/*
 * A task's state machine (see task.h): load, start, run, record.  Every
 * Redis request goes through store.c; the decisions about a run come
 * from outcome.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "retry.h"
#include "store.h"
#include "task.h"
#include "task_int.h"
#include "tgw_buf.h"
#include "tgw_clock.h"
#include "tgw_keys.h"
#include "tgw_text.h"
#include "tgw_uuid.h"
#include "tgw_duration.h"
#include "tgw_keys.h"

static void tgw_task_step(tgw_task_t *t);
static void tgw_task_run(tgw_task_t *t);


const char *
tgw_task_state_name(tgw_task_state_t s)
{
    switch (s) {
    case TGW_TASK_NEW:       return "new";
    case TGW_TASK_LOADING:   return "loading";
    case TGW_TASK_BLOCKED:   return "blocked";
    case TGW_TASK_STARTING:  return "starting";
    case TGW_TASK_RUNNING:   return "running";
    case TGW_TASK_RECORDING: return "recording";
    }
    return "unknown";
}


int
tgw_task_holds_slot(const tgw_task_t *t)
{
    return !t->parked && !t->unslotted && t->state != TGW_TASK_NEW
           && t->state != TGW_TASK_BLOCKED;
}


const char *
tgw_task_hook_url(const tgw_task_t *t)
{
    const tgw_handler_conf_t *h;

    if (t->callback_url && *t->callback_url) {
        return t->callback_url;
    }
    h = tgw_conf_handler(t->conf, t->type);
    if (h && h->webhook) {
        return h->webhook;
    }
    return t->conf->webhook_url;
}


const char *
tgw_task_final_status(const tgw_task_t *t)
{
    if (t->rec == TGW_REC_CANCELLED) {
        return TGW_ST_CANCELLED;
    }
    if (t->rec == TGW_REC_OUTCOME && t->outcome.next != TGW_NEXT_RETRYING) {
        return tgw_next_status(t->outcome.next);
    }
    return NULL;
}


/* Ends in a dead outcome without a run (attempts used up, a hostile
 * record): error says why. */
static void
tgw_task_dead(tgw_task_t *t, const char *error)
{
    tgw_outcome_free(&t->outcome);
    t->outcome.next = TGW_NEXT_DEAD;
    t->outcome.error = strdup(error);   /* NULL: the plan writes "failed" */
    t->finished_ms = tgw_now_ms();
    tgw_task_record(t, TGW_REC_OUTCOME);
}

/* ------------------------------------------------------------------------
 * The Redis steps.  Each step sends one request; its callback either
 * advances the task or, when Redis failed, marks it stalled so the owner
 * sends the same step again.  Steps are safe to repeat.
 * ------------------------------------------------------------------------ */

/* Called with the type of the task's key, asked when its record was
 * refused as WRONGTYPE.  A key that is no hash any more (replaced while
 * the task ran) makes the task a bad record, as at its take: logged
 * once, its entry acked, its outcome written nowhere.  With the hash
 * intact, the refused key is another the record writes (the dead-letter
 * stream, the scheduled set, the outbox): the outcome is kept and the
 * entry stays pending; the record is sent again after redis_backoff,
 * growing with each refusal, and its owner is told (it may park it and
 * says the key).  No answer: retried as any failed record is. */
static void
tgw_task_typed(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_task_t *t = data;
    char       *was;

    t->busy = 0;
    if (t->drop) {
        t->ev->released(t);
        return;
    }
    if (r != NULL && r->type == REDIS_REPLY_STATUS
        && strcmp(r->str, "hash") != 0 && strcmp(r->str, "none") != 0)
    {
        tgw_log(TGW_LOG_ERROR, "task_bad_record", "task_id", t->id,
                "step", "record", "type", r->str, "error",
                "the task key holds no hash: outcome not written", NULL);
        t->solo = 1;
        tgw_task_record(t, TGW_REC_ACK);
        return;
    }
    t->stalled = 1;
    if (r == NULL || r->type != REDIS_REPLY_STATUS) {
        return;
    }
    if (t->wait_key == NULL) {
        t->wait_key = strdup("(not named)");
        if (t->wait_key == NULL) {
            return;                 /* retried every tick, as before */
        }
    }
    t->errors++;
    t->retry_ms = tgw_clock_mono_ms()
                  + tgw_backoff_ms(t->errors < 30 ? (int) t->errors : 30,
                                   t->conf->redis_backoff_min_ms,
                                   t->conf->redis_backoff_max_ms,
                                   tgw_random64());
    was = t->was_key;               /* refused (t) may release t */
    t->was_key = NULL;
    t->ev->refused(t, was);
    free(was);
}


/* Notes the key an error of the record scripts names ("WRONGTYPE no
 * write made, the key holds a TYPE: KEY").  A record can need two
 * broken keys (a dead-letter stream and the webhook outbox): once the
 * first is fixed the script names the second, which replaces it; the
 * first is kept in t->was_key for the owner (it is fixed: said
 * recovered). */
static void
tgw_task_wait_key(tgw_task_t *t, const char *error)
{
    const char *k;
    char       *key;

    if (strncmp(error, TGW_ERR_REFUSED, sizeof(TGW_ERR_REFUSED) - 1) != 0
        || (k = strstr(error, ": ")) == NULL
        || (t->wait_key != NULL && strcmp(t->wait_key, k + 2) == 0))
    {
        return;
    }
    key = strdup(k + 2);
    if (key == NULL) {
        return;                     /* the key noted stays (or not named) */
    }
    free(t->was_key);
    t->was_key = t->wait_key;
    t->wait_key = key;
}


/* Common entry of every step callback: NULL when the task must stop. */
tgw_task_t *
tgw_task_reply(tgw_task_t *t, redisReply *r, const char *step)
{
    int wrongtype;

    t->busy = 0;
    if (t->drop) {
        t->ev->released(t);
        return NULL;
    }
    wrongtype = r != NULL && r->type == REDIS_REPLY_ERROR
                && strstr(r->str, "WRONGTYPE") != NULL;
    if (wrongtype && t->state != TGW_TASK_RECORDING) {
        /* The task key holds something else than a task hash: it can
         * never run; drop the entry instead of retrying forever. */
        tgw_log(TGW_LOG_ERROR, "task_bad_record", "task_id", t->id,
                "step", step, "error", r->str, NULL);
        tgw_task_record(t, TGW_REC_ACK);
        return NULL;
    }
    if (wrongtype && t->rec != TGW_REC_ACK && t->id != NULL
        && tgw_store_task_type(t->rc, t->conf, t->id, tgw_task_typed, t)
           == 0)
    {
        /* A record refused as WRONGTYPE: which key was it?  (An ack
         * writes no key of the task's, so is retried as it is.)  The
         * scripts name a key of another type they found before writing
         * (lib/refused.lua); it is kept for tgw_task_typed(). */
        tgw_task_wait_key(t, r->str);
        t->busy = 1;
        return NULL;
    }
    if (tgw_reply_failed(r)) {
        /* Retried every tick; said once, then every 40th time. */
        if (r != NULL && t->errors++ % 40 == 0) {
            tgw_log(TGW_LOG_WARN, "redis_error", "task_id", t->id,
                    "step", step, "error", tgw_reply_error(r), NULL);
        }
        if ((t->state == TGW_TASK_LOADING || t->state == TGW_TASK_STARTING)
            && t->again_ms == 0)
        {
            /* The start may have been made: the retry is that start.
             * The first such start is kept: every later one is sent
             * at or after it (tgw_task_start_ms). */
            t->again_ms = t->started_ms;
        }
        t->stalled = 1;
        return NULL;
    }
    t->errors = 0;
    t->again_ms = 0;
    return t;
}



/* The task's hash was read (its fields in t): run, cancel, defer or
 * skip it.  Takes status, cancel and bad (see tgw_task_fields). */
static void
tgw_task_decide(tgw_task_t *t, char *status, char *cancel, char *bad)
{
    if (bad) {
        tgw_log(TGW_LOG_ERROR, "task_bad_record", "task_id", t->id,
                "field", TGW_F_QUEUE, "error",
                "not a queue name (want [A-Za-z0-9._-]{1,64})", NULL);
        free(bad);
        free(status);
        free(cancel);
        tgw_task_dead(t, "invalid queue field in the task hash");
        return;
    }

    if (cancel && *cancel && strcmp(cancel, "0") != 0) {
        free(status);
        free(cancel);
        t->finished_ms = tgw_now_ms();
        tgw_task_record(t, TGW_REC_CANCELLED);
        return;
    }
    if (status && (strcmp(status, TGW_ST_SUCCEEDED) == 0
                   || strcmp(status, TGW_ST_DEAD) == 0
                   || strcmp(status, TGW_ST_CANCELLED) == 0))
    {
        /* Finished already (a duplicate entry, or a worker died between
         * recording and acking): never run a finished task again. */
        tgw_log(TGW_LOG_INFO, "task_already_finished", "task_id", t->id,
                "status", status, NULL);
        free(status);
        free(cancel);
        tgw_task_record(t, TGW_REC_ACK);
        return;
    }
    free(status);
    free(cancel);

    if (t->run_at > tgw_now_ms() + 50) {
        /* Delayed task that reached a stream early: park it. */
        t->due_ms = t->run_at;
        tgw_task_record(t, TGW_REC_DEFER);
        return;
    }

    t->state = TGW_TASK_BLOCKED;
    t->ev->loaded(t);
}


/* Called with the task's hash (HGETALL): decide what to do with it. */
static void
tgw_task_loaded(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_task_t   *t = data;
    char         *status, *cancel, *bad;

    if ((t = tgw_task_reply(t, r, "load")) == NULL) {
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        tgw_log(TGW_LOG_WARN, "task_missing", "task_id", t->id,
                "stream", t->stream, "entry", t->entry, NULL);
        t->missing = 1;
        tgw_task_record(t, TGW_REC_ACK);
        return;
    }
    if (tgw_task_fields(t, r, 0, &status, &cancel, &bad) != 0) {
        t->stalled = 1;             /* try again on the next tick */
        return;
    }
    tgw_task_decide(t, status, cancel, bad);
}


static void
tgw_task_run_done(tgw_run_t *run)
{
    tgw_task_t *t = run->data;
    int         max;
    char        attempt[16], ms[24], delay[32];
    uint64_t    backoff;

    if (t->drop || run->abandon) {
        /* Killed at shutdown, or when this worker's claim lapsed: record
         * nothing, the entry stays pending and another worker reclaims
         * it. */
        if (!t->elsewhere) {
            tgw_log(TGW_LOG_WARN, "task_abandoned", "task_id", t->id,
                    "type", t->type, NULL);
        }
        t->ev->released(t);
        return;
    }

    t->finished_ms = tgw_now_ms();
    max = tgw_conf_max_attempts(t->conf, t->handler);
    tgw_outcome_free(&t->outcome);
    tgw_outcome_classify(run->status, run->output, run->output_len,
                         run->truncated, run->error, t->attempts, max,
                         &t->outcome);

    snprintf(attempt, sizeof(attempt), "%d", t->attempts);
    snprintf(ms, sizeof(ms), "%llu",
             (unsigned long long) (t->finished_ms - t->started_ms));

    if (t->outcome.next == TGW_NEXT_RETRYING) {
        backoff = tgw_backoff_ms(t->attempts, t->conf->retry_base_ms,
                                 t->conf->retry_cap_ms, tgw_random64());
        t->due_ms = t->finished_ms + backoff;
        tgw_log(TGW_LOG_INFO, "task_failed", "task_id", t->id,
                "type", t->type, "attempt", attempt,
                "outcome", tgw_run_status_name(run->status),
                "status", TGW_ST_RETRYING,
                "retry_in", tgw_duration_format(backoff, delay,
                                                sizeof(delay)),
                "ms", ms, "error", t->outcome.error, NULL);
    } else if (t->outcome.next == TGW_NEXT_DEAD) {
        tgw_log(TGW_LOG_WARN, "task_failed", "task_id", t->id,
                "type", t->type, "attempt", attempt,
                "outcome", tgw_run_status_name(run->status),
                "status", TGW_ST_DEAD, "ms", ms, "error", t->outcome.error,
                NULL);
    } else {
        tgw_log(TGW_LOG_INFO, "task_succeeded", "task_id", t->id,
                "type", t->type, "attempt", attempt, "ms", ms,
                "truncated", run->truncated ? "1" : NULL,
                "result_encoding", t->outcome.result_enc, NULL);
    }

    /* The output is encoded; free it now rather than at the end. */
    tgw_run_cleanup(&t->run);
    tgw_task_record(t, TGW_REC_OUTCOME);
    if (t->ev->ran) {
        t->ev->ran(t);
    }
}


/* What the start (or take) script answered: code and attempts. */
static void
tgw_task_start_code(tgw_task_t *t, long long code, long long n)
{
    char        attempt[16], max[16], why[160];

    /* the script keeps it within 0..10^9 */
    t->attempts = n < 0 ? 0 : n > 1000000000 ? 1000000000 : (int) n;

    switch (code) {
    case TGW_START_NOT_PENDING:
        /* finished elsewhere: nothing to run, nothing to ack */
        tgw_log(TGW_LOG_INFO, "task_already_recorded", "task_id", t->id,
                "type", t->type, NULL);
        t->ev->released(t);
        return;
    case TGW_START_ELSEWHERE:
        /* reclaimed by another worker while our take's answer was lost:
         * that worker runs it and records it */
        tgw_log(TGW_LOG_INFO, "task_reclaimed_elsewhere", "task_id", t->id,
                "stream", t->stream, "entry", t->entry, NULL);
        t->ev->released(t);
        return;
    case TGW_START_GONE:
        tgw_log(TGW_LOG_WARN, "task_missing", "task_id", t->id,
                "stream", t->stream, "entry", t->entry, NULL);
        t->missing = 1;
        tgw_task_record(t, TGW_REC_ACK);
        return;
    case TGW_START_CANCELLED:
        t->finished_ms = tgw_now_ms();
        tgw_task_record(t, TGW_REC_CANCELLED);
        return;
    case TGW_START_EXHAUSTED:
        /* Every attempt began and none recorded an outcome: each run
         * ended with the worker running it (it crashed, or the task
         * kills it).  Running it again would do the same.  A count above
         * what any task is given was written by no run (a hash changed
         * by hand, or hostile; the script takes one past 10^9 as 10^9):
         * used up all the same, but the error names the field, not runs
         * that never were. */
        snprintf(attempt, sizeof(attempt), "%d", t->attempts);
        snprintf(max, sizeof(max), "%d",
                 tgw_conf_max_attempts(t->conf, t->handler));
        if (t->attempts > TGW_MAX_ATTEMPTS_LIMIT) {
            snprintf(why, sizeof(why), "the attempts field of the task "
                     "(%s) is more than any task is given (%d): taken as "
                     "attempts used up, not run",
                     t->attempts >= 1000000000 ? "10^9 or more" : attempt,
                     TGW_MAX_ATTEMPTS_LIMIT);
        } else {
            snprintf(why, sizeof(why), "attempts used up (%d of %s) "
                     "without an outcome: the worker running it stopped "
                     "during the run", t->attempts, max);
        }
        tgw_log(TGW_LOG_WARN, "task_failed", "task_id", t->id,
                "type", t->type, "attempt", attempt, "max_attempts", max,
                "status", TGW_ST_DEAD, "error", why, NULL);
        tgw_task_dead(t, why);
        return;
    case TGW_START_OK:
        break;
    default:
        t->stalled = 1;
        return;
    }

    snprintf(attempt, sizeof(attempt), "%d", t->attempts);
    tgw_log(TGW_LOG_INFO, "task_started", "task_id", t->id, "type", t->type,
            "queue", t->queue, "priority", t->priority, "attempt", attempt,
            t->handler ? NULL : "handler", "none", NULL);

    tgw_task_run(t);
}


static void
tgw_task_started(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_task_t *t = data;

    if ((t = tgw_task_reply(t, r, "start")) == NULL) {
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_INTEGER
        || r->element[1]->type != REDIS_REPLY_INTEGER)
    {
        t->stalled = 1;
        return;
    }
    tgw_task_start_code(t, r->element[0]->integer, r->element[1]->integer);
}


/*
 * The take script's answer: the hash and what it did.  Started (or
 * cancelled, used up, gone, not pending): as after the start script.
 * Loaded, not started: as after a plain load.
 */
static void
tgw_task_taken(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_task_t *t = data;
    long long   code;
    char       *status, *cancel, *bad;

    if ((t = tgw_task_reply(t, r, "take")) == NULL) {
        return;
    }
    if (r == NULL                   /* (tgw_task_reply took it) */
        || r->type != REDIS_REPLY_ARRAY || r->elements != 3
        || r->element[0]->type != REDIS_REPLY_INTEGER
        || r->element[1]->type != REDIS_REPLY_INTEGER
        || r->element[2]->type != REDIS_REPLY_ARRAY)
    {
        t->stalled = 1;             /* nothing was started: take again */
        return;
    }
    code = r->element[0]->integer;
    if (code == TGW_START_GONE || code == TGW_START_NOT_PENDING
        || code == TGW_START_ELSEWHERE)
    {
        tgw_task_start_code(t, code, 0);
        return;
    }
    if (tgw_task_fields(t, r->element[2], 1, &status, &cancel, &bad) != 0) {
        if (code != TGW_START_OK) {
            t->stalled = 1;         /* nothing was started: take again */
            return;
        }
        /* Started, and no memory to go on with: this attempt fails,
         * retryable (as when the run cannot be set up). */
        t->state = TGW_TASK_RUNNING;
        t->attempts = (int) r->element[1]->integer;
        memset(&t->run, 0, sizeof(t->run));
        t->run.status = TGW_RUN_RETRYABLE;
        t->run.data = t;
        tgw_task_run_done(&t->run);
        return;
    }
    if (code == TGW_START_LOADED) {
        tgw_task_decide(t, status, cancel, bad);
        return;
    }
    free(status);
    free(cancel);
    free(bad);
    tgw_task_start_code(t, code, r->element[1]->integer);
}


void
tgw_task_answer(tgw_task_t *t, redisReply *r, uint64_t now_ms)
{
    t->state = TGW_TASK_LOADING;
    t->started_ms = now_ms;
    t->busy = 1;
    tgw_task_taken(t->rc, r, t);
}


/* The reply of a take sent alone: an array of the task's one answer. */
static void
tgw_task_taken_one(tgw_rconn_t *rc, redisReply *r, void *data)
{
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        r = r->element[0];
    }
    tgw_task_taken(rc, r, data);
}


/* Starts the handler of a task whose start was recorded. */
static void
tgw_task_run(tgw_task_t *t)
{
    if (t->traceparent[0] == '\0') {
        tgw_trace_of_task(NULL, 0, t->id, t->traceparent);
    }
    tgw_trace_run(t->traceparent, t->id, t->attempts, t->started_ms,
                  t->run_traceparent);

    t->state = TGW_TASK_RUNNING;
    memset(&t->run, 0, sizeof(t->run));
    t->run.loop = t->loop;
    t->run.handler = t->handler;
    t->run.task_id = t->id;
    t->run.type = t->type ? t->type : "";
    t->run.queue = t->queue;
    t->run.attempt = t->attempts;
    t->run.traceparent = t->run_traceparent;
    t->run.payload = t->payload ? t->payload : "";
    t->run.payload_len = t->payload ? t->payload_len : 0;
    t->run.content_type = t->content_type;
    t->run.result_max = t->conf->result_max_bytes;
    t->run.done = tgw_task_run_done;
    t->run.data = t;
    if (tgw_run_start(&t->run) != 0) {
        /* Out of memory before anything ran: count it as a retryable
         * failure of this attempt. */
        t->run.status = TGW_RUN_RETRYABLE;
        t->run.error = NULL;
        tgw_task_run_done(&t->run);
    }
}


/* The moment a start is sent with, written as the task's started_at:
 * now, also when it is sent again after its answer was lost (the task
 * runs only once the answer comes, so it starts now, not when the lost
 * try was made).  Never before that lost try (a wall clock set back
 * meanwhile): the script finds a task running since again_ms to be a
 * start of this worker's, the lost one or a later one. */
static uint64_t
tgw_task_start_ms(const tgw_task_t *t)
{
    uint64_t now = tgw_now_ms();

    return now > t->again_ms ? now : t->again_ms;
}


/* Sends the request of the task's current state. */
static void
tgw_task_step(tgw_task_t *t)
{
    int rv = 0;

    t->stalled = 0;
    if (t->busy) {
        return;
    }

    switch (t->state) {
    case TGW_TASK_NEW:
    case TGW_TASK_BLOCKED:
    case TGW_TASK_RUNNING:
        return;

    case TGW_TASK_LOADING:
        if (t->id == NULL || *t->id == '\0'
            || strlen(t->id) > TGW_TASK_ID_MAX)
        {
            /* No id, or one no task has (ids are UUIDs): it can never be
             * loaded, and retrying would hold the slot for ever. */
            tgw_log(TGW_LOG_WARN, "bad_entry", "stream", t->stream,
                    "entry", t->entry, "reason",
                    t->id && *t->id ? "id too long" : "no id", NULL);
            tgw_task_record(t, TGW_REC_ACK);
            return;
        }
        /* One script loads and starts it, for every task taken in this
         * loop iteration at once; alone when it cannot join them, and
         * when that fails too (no memory), a load then a start.  A start
         * whose answer was lost is sent again with its moment
         * (again_ms). */
        t->started_ms = tgw_task_start_ms(t);
        rv = -1;
        if (t->takes != NULL) {
            rv = tgw_store_take_add(t->takes, t->conf, t->id, t->stream,
                                    t->entry, t->started_ms, t->again_ms,
                                    tgw_task_taken, t);
        }
        if (rv != 0) {
            rv = tgw_store_take(t->rc, t->conf, t->id, t->stream, t->entry,
                                t->started_ms, t->again_ms,
                                tgw_task_taken_one, t);
        }
        if (rv != 0 && t->rc->state == TGW_RCONN_READY) {
            rv = tgw_store_load(t->rc, t->conf, t->id, tgw_task_loaded, t);
        }
        break;

    case TGW_TASK_STARTING:
        t->started_ms = tgw_task_start_ms(t);
        rv = tgw_store_start(t->rc, t->conf, t->id, t->stream, t->entry,
                             t->started_ms, t->again_ms,
                             tgw_conf_max_attempts(t->conf, t->handler),
                             tgw_task_started, t);
        break;

    case TGW_TASK_RECORDING:
        tgw_task_send_record(t);
        return;
    }
    if (rv != 0) {
        t->stalled = 1;
        return;
    }
    t->busy = 1;
}


void
tgw_task_load(tgw_task_t *t)
{
    t->state = TGW_TASK_LOADING;
    tgw_task_step(t);
}


void
tgw_task_start(tgw_task_t *t)
{
    t->state = TGW_TASK_STARTING;
    tgw_task_step(t);
}


void
tgw_task_record(tgw_task_t *t, tgw_rec_t rec)
{
    t->rec = rec;
    t->state = TGW_TASK_RECORDING;
    tgw_task_step(t);
}


void
tgw_task_retry(tgw_task_t *t)
{
    if (t->stalled
        && (t->wait_key == NULL || tgw_clock_mono_ms() >= t->retry_ms))
    {
        tgw_task_step(t);
    }
}


int
tgw_task_abandon(tgw_task_t *t)
{
    t->drop = 1;
    if (t->state == TGW_TASK_RUNNING) {
        tgw_run_abort(&t->run);     /* its done callback releases it */
        return 0;
    }
    return !t->busy;
}


void
tgw_task_elsewhere(tgw_task_t *t)
{
    if (t->state != TGW_TASK_RUNNING || t->drop) {
        return;
    }
    tgw_log(TGW_LOG_WARN, "task_reclaimed_elsewhere", "task_id", t->id,
            "step", "extend", "stream", t->stream, "entry", t->entry, NULL);
    t->drop = 1;
    t->elsewhere = 1;
    tgw_run_abort(&t->run);         /* its done callback releases it */
}
