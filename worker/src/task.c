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
#include "tgw_buf.h"
#include "tgw_clock.h"
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


static char *
tgw_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}


int
tgw_task_holds_slot(const tgw_task_t *t)
{
    return t->state != TGW_TASK_NEW && t->state != TGW_TASK_BLOCKED;
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


/*
 * Task objects are kept for the next task instead of freed.  A task is
 * some 2.6 KB (its run's handles and buffers): glibc serves a request of
 * that size from its large bins, and each one first merges every small
 * chunk freed since the last (malloc_consolidate), which cost the worker
 * ~8% of its CPU at 50k tasks/s.  As many are kept as were alive at
 * once, at most TGW_TASK_CACHE_MAX.  Under AddressSanitizer nothing is
 * kept, so a use after free is still seen.
 */
#define TGW_TASK_CACHE_MAX  256

#if defined(__SANITIZE_ADDRESS__)
#define TGW_TASK_CACHE  0
#else
#define TGW_TASK_CACHE  TGW_TASK_CACHE_MAX
#endif

typedef union tgw_task_mem_u tgw_task_mem_t;
union tgw_task_mem_u {
    tgw_task_mem_t *next;
    tgw_task_t      task;
};

static tgw_task_mem_t  *tgw_task_cache;
static int              tgw_task_ncache;


static tgw_task_t *
tgw_task_alloc(void)
{
    tgw_task_mem_t *m = tgw_task_cache;

    if (m == NULL) {
        m = malloc(sizeof(*m));
        if (m == NULL) {
            return NULL;
        }
    } else {
        tgw_task_cache = m->next;
        tgw_task_ncache--;
    }
    memset(m, 0, sizeof(*m));
    return &m->task;
}


static void
tgw_task_release(tgw_task_t *t)
{
    tgw_task_mem_t *m = (tgw_task_mem_t *) t;

    if (tgw_task_ncache >= TGW_TASK_CACHE) {
        free(m);
        return;
    }
    m->next = tgw_task_cache;
    tgw_task_cache = m;
    tgw_task_ncache++;
}


void
tgw_task_cache_free(void)
{
    tgw_task_mem_t *m;

    while ((m = tgw_task_cache) != NULL) {
        tgw_task_cache = m->next;
        free(m);
    }
    tgw_task_ncache = 0;
}


tgw_task_t *
tgw_task_create(tgw_conf_t *conf, uv_loop_t *loop, tgw_rconn_t *rc,
    const char *stream, const char *entry, const char *id, size_t id_len,
    const tgw_task_events_t *ev, void *owner)
{
    tgw_task_t *t;

    t = tgw_task_alloc();
    if (t == NULL) {
        return NULL;
    }
    t->stream = strdup(stream);
    t->entry = strdup(entry);
    if (id) {
        t->id = tgw_strndup(id, id_len);
    }
    if (t->stream == NULL || t->entry == NULL || (id && t->id == NULL)) {
        free(t->stream);
        free(t->entry);
        free(t->id);
        tgw_task_release(t);
        return NULL;
    }
    t->conf = tgw_conf_ref(conf);
    t->loop = loop;
    t->rc = rc;
    t->ev = ev;
    t->owner = owner;
    t->state = TGW_TASK_NEW;
    return t;
}


void
tgw_task_destroy(tgw_task_t *t)
{
    tgw_log_trace_unbind(&t->log_trace);   /* before t->id goes */
    tgw_run_cleanup(&t->run);
    tgw_outcome_free(&t->outcome);
    free(t->stream);
    free(t->entry);
    free(t->id);
    free(t->queue);
    free(t->type);
    free(t->priority);
    free(t->payload);
    free(t->content_type);
    free(t->callback_url);
    tgw_conf_unref(t->conf);
    tgw_task_release(t);
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

/* Common entry of every step callback: NULL when the task must stop. */
static tgw_task_t *
tgw_task_reply(tgw_task_t *t, redisReply *r, const char *step)
{
    t->busy = 0;
    if (t->drop) {
        t->ev->released(t);
        return NULL;
    }
    if (r != NULL && r->type == REDIS_REPLY_ERROR
        && strstr(r->str, "WRONGTYPE") != NULL
        && t->state != TGW_TASK_RECORDING)
    {
        /* The task key holds something else than a task hash: it can
         * never run; drop the entry instead of retrying forever. */
        tgw_log(TGW_LOG_ERROR, "task_bad_record", "task_id", t->id,
                "step", step, "error", r->str, NULL);
        tgw_task_record(t, TGW_REC_ACK);
        return NULL;
    }
    if (tgw_reply_failed(r)) {
        /* Retried every tick; said once, then every 40th time. */
        if (r != NULL && t->errors++ % 40 == 0) {
            tgw_log(TGW_LOG_WARN, "redis_error", "task_id", t->id,
                    "step", step, "error", tgw_reply_error(r), NULL);
        }
        if (t->state == TGW_TASK_LOADING || t->state == TGW_TASK_STARTING) {
            /* The start may have been made: the retry is that start. */
            t->again_ms = t->started_ms;
        }
        t->stalled = 1;
        return NULL;
    }
    t->errors = 0;
    t->again_ms = 0;
    return t;
}


/* The queue a stream "<prefix>:q:<queue>:<prio>" belongs to. */
static char *
tgw_task_stream_queue(const tgw_task_t *t)
{
    size_t      plen = strlen(t->conf->prefix);
    const char *q = t->stream + plen + 3, *end = strrchr(t->stream, ':');

    if (strlen(t->stream) > plen + 3 && end != NULL && end > q) {
        return tgw_strndup(q, (size_t) (end - q));
    }
    return strdup("default");
}


/* Reads the fields of a task hash into t (r: HGETALL's field, value
 * array, or with take the values take_many.lua returns); status and
 * cancel_requested into *status and *cancel (allocated).  t->clean is
 * set when the hash holds neither an error nor a result_encoding (with
 * take: its last value is nil).
 * A queue field that is no queue name is left in *bad (allocated) and
 * the stream's queue taken instead.  -1 when out of memory. */
/* The fields take_many.lua returns the values of, in its order. */
static const char *tgw_task_take_fields[] = {
    TGW_F_STATUS, TGW_F_CANCEL_REQUESTED, TGW_F_RUN_AT, TGW_F_QUEUE,
    TGW_F_TYPE, TGW_F_ATTEMPTS, TGW_F_PRIORITY, TGW_F_CALLBACK_URL,
    TGW_F_CONTENT_TYPE, TGW_F_PAYLOAD, TGW_F_TRACEPARENT
};

#define TGW_TASK_NTAKE \
    (sizeof(tgw_task_take_fields) / sizeof(tgw_task_take_fields[0]))


static int
tgw_task_fields(tgw_task_t *t, const redisReply *r, int take,
    char **status, char **cancel, char **bad)
{
    const redisReply  *v, *tp = NULL;
    const char        *k;
    size_t             i, n, step;
    int                nomem = 0;

    *status = *cancel = *bad = NULL;
    t->clean = !take || (r->elements > TGW_TASK_NTAKE
                         && r->element[TGW_TASK_NTAKE]->type
                            == REDIS_REPLY_NIL);
    /* HGETALL: field, value, ...; take_many.lua: the values of its fields */
    step = take ? 1 : 2;
    n = take ? (r->elements < TGW_TASK_NTAKE ? r->elements : TGW_TASK_NTAKE)
             : r->elements;
    for (i = 0; i + step - 1 < n; i += step) {
        char **dst = NULL;

        if (take) {
            k = tgw_task_take_fields[i];
            v = r->element[i];
        } else {
            if (r->element[i]->type != REDIS_REPLY_STRING) {
                continue;
            }
            k = r->element[i]->str;
            v = r->element[i + 1];
            if (strcmp(k, TGW_F_ERROR) == 0
                || strcmp(k, TGW_F_RESULT_ENC) == 0)
            {
                t->clean = 0;
            }
        }
        if (v->type != REDIS_REPLY_STRING) {
            continue;
        }
        if (strcmp(k, TGW_F_QUEUE) == 0) {
            dst = &t->queue;
        } else if (strcmp(k, TGW_F_TYPE) == 0) {
            dst = &t->type;
        } else if (strcmp(k, TGW_F_PRIORITY) == 0) {
            dst = &t->priority;
        } else if (strcmp(k, TGW_F_STATUS) == 0) {
            dst = status;
        } else if (strcmp(k, TGW_F_CANCEL_REQUESTED) == 0) {
            dst = cancel;
        } else if (strcmp(k, TGW_F_CALLBACK_URL) == 0) {
            dst = &t->callback_url;
        } else if (strcmp(k, TGW_F_CONTENT_TYPE) == 0) {
            dst = &t->content_type;
        } else if (strcmp(k, TGW_F_PAYLOAD) == 0) {
            dst = &t->payload;
            t->payload_len = v->len;
        } else if (strcmp(k, TGW_F_RUN_AT) == 0) {
            t->run_at = strtoull(v->str, NULL, 10);
        } else if (strcmp(k, TGW_F_TRACEPARENT) == 0) {
            tp = v;
        }
        /* attempts: counted by the start script, which also guards
         * against a field that is no count */
        if (dst) {
            free(*dst);
            *dst = tgw_strndup(v->str, v->len);
            nomem |= *dst == NULL;
        }
    }

    /* From here on every log line about the task names its trace. */
    tgw_trace_of_task(tp ? tp->str : NULL, tp ? tp->len : 0, t->id,
                      t->traceparent);
    tgw_log_trace_bind(&t->log_trace, t->id,
                       t->traceparent + TGW_TRACE_ID_OFF);

    /* A queue field that is no queue name (too long, odd characters)
     * would name a dead-letter stream nobody reads: the task cannot be
     * trusted; it ends dead, in its stream's queue. */
    if (!nomem && t->queue != NULL && !tgw_valid_name(t->queue, 64, 0)) {
        *bad = t->queue;
        t->queue = NULL;
    }
    if (!nomem && t->queue == NULL
        && (t->queue = tgw_task_stream_queue(t)) == NULL)
    {
        nomem = 1;
    }
    if (nomem) {
        free(*status);
        free(*cancel);
        free(*bad);
        *status = *cancel = *bad = NULL;
        return -1;
    }
    t->handler = tgw_conf_handler(t->conf, t->type);
    return 0;
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
        tgw_log(TGW_LOG_WARN, "task_abandoned", "task_id", t->id,
                "type", t->type, NULL);
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
    if (code == TGW_START_GONE || code == TGW_START_NOT_PENDING) {
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


static void
tgw_task_recorded(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_task_t *t = data;

    if ((t = tgw_task_reply(t, r, "record")) == NULL) {
        return;
    }
    if (r->type != REDIS_REPLY_INTEGER) {
        t->stalled = 1;
        return;
    }
    if (r->integer == 0) {
        /* Not pending any more: this outcome was written already (the
         * reply of the first try was lost), or another worker finished
         * the task; either way it is not ours to write or announce. */
        tgw_log(TGW_LOG_INFO, "task_already_recorded", "task_id", t->id,
                "type", t->type, NULL);
        t->ev->released(t);
        return;
    }
    switch (t->rec) {
    case TGW_REC_CANCELLED:
        tgw_log(TGW_LOG_INFO, "task_cancelled", "task_id", t->id,
                "type", t->type, NULL);
        break;
    case TGW_REC_DEFER:
        tgw_log(TGW_LOG_INFO, "task_deferred", "task_id", t->id,
                "type", t->type, NULL);
        break;
    default:
        break;
    }
    t->ev->recorded(t);
    t->ev->released(t);
}


/* The task's element of a record_many.lua reply (or the whole reply when
 * the call failed): as for its own record call, and when it failed, the
 * next try goes on its own, so nothing else in a batch can fail it
 * again. */
static void
tgw_task_recorded_many(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_task_t *t = data;

    if (tgw_reply_failed(r) || r->type != REDIS_REPLY_INTEGER) {
        t->solo = 1;
    }
    tgw_task_recorded(rc, r, data);
}


/*
 * Records the task and acks its entry, in one script (record.lua, or
 * record_many.lua with the other tasks finished in this loop iteration,
 * recbatch.h): the
 * entry leaves the stream only once the outcome is written, so a crash or
 * an error in between can only make the task run again, never lose it.
 * A plan that cannot be built (no memory) stalls the task; one whose
 * writes Redis refuses is retried, logged once per 40 tries.
 */
static void
tgw_task_send_record(tgw_task_t *t)
{
    /* Some 25 KB, built and sent here and never kept: one for all
     * tasks (the worker has one thread), not an allocation per record. */
    static tgw_plan_t   plan_buf;
    tgw_plan_t         *plan = &plan_buf;
    tgw_plan_in_t       in;
    int                 rv;

    memset(&in, 0, sizeof(in));
    in.prefix = t->conf->prefix;
    in.id = t->id;
    in.queue = t->queue;
    in.stream = t->stream;
    in.rec = t->rec;
    in.outcome = &t->outcome;
    in.attempts = t->attempts;
    in.finished_ms = t->finished_ms ? t->finished_ms : tgw_now_ms();
    in.due_ms = t->due_ms;
    in.result_ttl_ms = t->conf->result_ttl_ms;
    in.hook_url = tgw_task_hook_url(t);
    if (t->id == NULL) {
        in.rec = TGW_REC_ACK;       /* a bad entry: nothing to write */
    }
    if (t->batch != NULL && !t->solo && in.rec == TGW_REC_OUTCOME
        && t->outcome.next == TGW_NEXT_SUCCEEDED && in.hook_url == NULL)
    {
        /* the most common record, in the batch's short form: no plan */
        if (tgw_store_succeeded_add(t->batch, t->conf, t->stream, t->entry,
                                    t->id, t->outcome.result,
                                    t->outcome.result_enc, in.finished_ms,
                                    t->clean, tgw_task_recorded_many, t)
            != 0)
        {
            t->stalled = 1;
            return;
        }
        t->busy = 1;
        return;
    }
    if (tgw_plan_build(&in, plan) != 0) {
        tgw_plan_free(plan);
        t->stalled = 1;
        return;
    }
    if (t->batch != NULL && !t->solo) {
        rv = tgw_store_record_add(t->batch, t->conf, t->stream, t->entry,
                                  plan, tgw_task_recorded_many, t);
    } else {
        rv = tgw_store_record(t->rc, t->conf, t->stream, t->entry, plan,
                              tgw_task_recorded, t);
    }
    tgw_plan_free(plan);
    if (rv != 0) {
        t->stalled = 1;
        return;
    }
    t->busy = 1;
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
         * whose answer was lost is sent again as itself (again_ms). */
        t->started_ms = t->again_ms ? t->again_ms : tgw_now_ms();
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
        t->started_ms = t->again_ms ? t->again_ms : tgw_now_ms();
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
    if (t->stalled) {
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
