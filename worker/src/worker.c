/*
 * taskgw-worker: fetching, the task life cycle, housekeeping (scheduled
 * set mover, heartbeat, reclaiming) and shutdown.  See worker.h.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "tgw_ctl_util.h"
#include "tgw_duration.h"
#include "tgw_keys.h"
#include "tgw_result.h"
#include "worker.h"

static const char *tgw_prios[TGW_NPRIORITIES] = TGW_PRIORITIES;

static void tgw_task_step(tgw_task_t *t);
static void tgw_task_record(tgw_task_t *t, tgw_rec_t rec);
static void tgw_task_free(tgw_task_t *t);
static void tgw_worker_pump(tgw_worker_t *w);
static void tgw_worker_fetch(tgw_worker_t *w);
static void tgw_worker_maybe_close(tgw_worker_t *w);
static void tgw_worker_create_groups(tgw_worker_t *w);
static void tgw_worker_reclaim(tgw_worker_t *w);
static void tgw_worker_cron(tgw_worker_t *w);

/*
 * Scripts.  Key names are never spelled here: the format strings of
 * tgw_keys.h and the field names are passed in ARGV and expanded with
 * string.format, so the schema stays in one header.
 */

/*
 * Start a run, unless the task was cancelled or vanished meanwhile, or
 * its entry is no longer pending (another worker that reclaimed it has
 * recorded its outcome: the task is not ours to run, and a run whose
 * record then finds nothing pending would leave it "running").  A task
 * that runs must not expire under it (a replayed dead task may still
 * carry its result_ttl), so its TTL is removed.
 * KEYS[1] task hash.  ARGV: cancel field, status field, "running",
 * started_at field, now, attempts field, attempts, stream, group, entry.
 * Returns -2 entry not pending, -1 hash gone, 0 cancel requested,
 * 1 started.
 */
static const char tgw_lua_start[] =
    "local p = redis.pcall('XPENDING', ARGV[8], ARGV[9], ARGV[10],\n"
    "                      ARGV[10], 1)\n"
    "if type(p) == 'table' and not p.err and #p == 0 then return -2 end\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end\n"
    "local c = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if c and c ~= '' and c ~= '0' then return 0 end\n"
    "redis.call('HSET', KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],\n"
    "           ARGV[6], ARGV[7])\n"
    "redis.call('PERSIST', KEYS[1])\n"
    "return 1\n";

/*
 * Record a task's outcome and only then ack and delete its entry, as one
 * script: a write that fails inside Redis (a key of another type) stops
 * it before the XACK, so the entry stays pending and the step is tried
 * again; and an entry no longer pending (the outcome of this step was
 * already written, its reply lost with the connection, or another worker
 * that reclaimed the entry finished it) is left alone, so an outcome is
 * never written twice (no second dead-letter entry, no status rolled
 * back).  A group or stream that is gone does not stop the writes.
 * ARGV: stream, group, entry id, then the writes, each as its argument
 * count followed by its arguments.
 * Returns 1 recorded, 0 not pending any more (nothing written).
 */
static const char tgw_lua_record[] =
    "local p = redis.pcall('XPENDING', ARGV[1], ARGV[2], ARGV[3],\n"
    "                      ARGV[3], 1)\n"
    "if type(p) == 'table' and not p.err and #p == 0 then return 0 end\n"
    "local i = 4\n"
    "while i <= #ARGV do\n"
    "  local n = tonumber(ARGV[i])\n"
    "  redis.call(unpack(ARGV, i + 1, i + n))\n"
    "  i = i + n + 1\n"
    "end\n"
    "redis.call('XACK', ARGV[1], ARGV[2], ARGV[3])\n"
    "redis.call('XDEL', ARGV[1], ARGV[3])\n"
    "return 1\n";

/*
 * Move due ids from the scheduled set back to their streams, atomically.
 * An id leaves the set only once its entry is in the stream: a stream
 * that refuses the XADD (a key of another type) keeps the id, tried
 * again TGW_MOVE_RETRY_MS later, so the task is never left in neither.
 * Ids whose hash is gone, is no hash, or is finished are just removed.
 * KEYS[1] scheduled set.  ARGV: prefix, now, batch, task key format,
 * queue key format, queue field, priority field, status field, "queued",
 * stream id field, then the terminal statuses, then the retry delay.
 * Returns {ids looked at, ids moved, ids kept, last error or ""}.
 */
static const char tgw_lua_move[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2],\n"
    "                       'LIMIT', 0, tonumber(ARGV[3]))\n"
    "local moved, kept, err = 0, 0, ''\n"
    "for _, id in ipairs(ids) do\n"
    "  local tk = string.format(ARGV[4], ARGV[1], id)\n"
    "  local t = redis.pcall('HMGET', tk, ARGV[6], ARGV[7], ARGV[8])\n"
    "  local st = t[3]\n"
    "  if t.err or not t[1] or st == ARGV[11] or st == ARGV[12]\n"
    "     or st == ARGV[13]\n"
    "  then\n"
    "    redis.call('ZREM', KEYS[1], id)\n"
    "  else\n"
    "    local p = t[2] or 'normal'\n"
    "    local r = redis.pcall('XADD',\n"
    "                          string.format(ARGV[5], ARGV[1], t[1], p),\n"
    "                          '*', ARGV[10], id)\n"
    "    if type(r) == 'table' and r.err then\n"
    "      redis.call('ZADD', KEYS[1], string.format('%.0f',\n"
    "                 tonumber(ARGV[2]) + tonumber(ARGV[14])), id)\n"
    "      kept = kept + 1\n"
    "      err = r.err\n"
    "    else\n"
    "      redis.call('HSET', tk, ARGV[8], ARGV[9])\n"
    "      redis.call('ZREM', KEYS[1], id)\n"
    "      moved = moved + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {#ids, moved, kept, err}\n";

/*
 * Fire one cron tick once across every worker: the guard key is set only
 * by the first worker to get there; that one creates the task the way
 * the module does (hash + stream entry).  The XADD, the one step that can
 * fail (a stream key of another type), comes before any write: a failed
 * tick leaves neither a task without its entry nor a guard that would
 * stop it from being fired again.
 * KEYS[1] guard, KEYS[2] task hash, KEYS[3] stream.  ARGV: task id,
 * guard life in ms, stream id field, then the hash's field/value pairs.
 * Returns 1 fired, 0 already fired.
 */
static const char tgw_lua_cron[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "redis.call('XADD', KEYS[3], '*', ARGV[3], ARGV[1])\n"
    "redis.call('HSET', KEYS[2], unpack(ARGV, 4, #ARGV))\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "return 1\n";

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

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


static char *
tgw_key(const char *fmt, const char *a, const char *b, const char *c)
{
    char *k;

    if (asprintf(&k, fmt, a, b, c) < 0) {
        return NULL;
    }
    return k;
}


static const char *
tgw_u64(char *buf, size_t size, uint64_t n)
{
    snprintf(buf, size, "%llu", (unsigned long long) n);
    return buf;
}


static int
tgw_reply_is_error(const redisReply *r)
{
    return r == NULL || r->type == REDIS_REPLY_ERROR;
}


static const char *
tgw_reply_error(const redisReply *r)
{
    return r == NULL ? "connection lost"
                     : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected";
}


/* Where a task's webhook goes: its own callback URL, else its handler's
 * webhook, else webhook.url; NULL for none. */
static const char *
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


/* Slots in use by tasks of a type (for a handler's concurrency cap). */
static int
tgw_worker_type_active(tgw_worker_t *w, const char *type)
{
    tgw_task_t *t;
    int         n = 0;

    for (t = w->tasks; t; t = t->next) {
        if ((t->state == TGW_TASK_STARTING || t->state == TGW_TASK_RUNNING)
            && t->type && strcmp(t->type, type) == 0)
        {
            n++;
        }
    }
    return n;
}

/* ------------------------------------------------------------------------
 * Tasks: creation and release
 * ------------------------------------------------------------------------ */

static tgw_task_t *
tgw_task_new(tgw_worker_t *w, const char *stream, const char *entry,
    const char *id, size_t id_len)
{
    tgw_task_t *t;

    for (t = w->tasks; t; t = t->next) {
        if (strcmp(t->entry, entry) == 0 && strcmp(t->stream, stream) == 0) {
            return NULL;            /* already held (reclaimed twice) */
        }
    }

    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->w = w;
    t->conf = tgw_conf_ref(w->conf);
    t->stream = strdup(stream);
    t->entry = strdup(entry);
    if (id) {
        t->id = tgw_strndup(id, id_len);
    }
    if (t->stream == NULL || t->entry == NULL || (id && t->id == NULL)) {
        free(t->stream);
        free(t->entry);
        free(t->id);
        tgw_conf_unref(t->conf);
        free(t);
        return NULL;
    }
    t->state = TGW_TASK_NEW;
    /* Appended: the list is in fetch order, which pump() keeps. */
    t->prev = w->tasks_tail;
    if (w->tasks_tail) {
        w->tasks_tail->next = t;
    } else {
        w->tasks = t;
    }
    w->tasks_tail = t;
    w->ntasks++;
    return t;
}


static void
tgw_task_free(tgw_task_t *t)
{
    tgw_worker_t *w = t->w;

    if (t->state != TGW_TASK_NEW && t->state != TGW_TASK_BLOCKED) {
        w->nactive--;
    }
    if (t->prev) {
        t->prev->next = t->next;
    } else {
        w->tasks = t->next;
    }
    if (t->next) {
        t->next->prev = t->prev;
    } else {
        w->tasks_tail = t->prev;
    }
    w->ntasks--;

    tgw_run_cleanup(&t->run);
    free(t->stream);
    free(t->entry);
    free(t->id);
    free(t->queue);
    free(t->type);
    free(t->priority);
    free(t->payload);
    free(t->content_type);
    free(t->callback_url);
    free(t->result);
    free(t->error);
    tgw_conf_unref(t->conf);
    free(t);
}


/* A task leaves the worker: free its slot, look for more work. */
static void
tgw_task_release(tgw_task_t *t)
{
    tgw_worker_t *w = t->w;

    tgw_task_free(t);
    tgw_worker_pump(w);
    tgw_worker_fetch(w);
    tgw_worker_maybe_close(w);
}


static void
tgw_task_set_state(tgw_task_t *t, tgw_task_state_t s)
{
    int was = t->state != TGW_TASK_NEW && t->state != TGW_TASK_BLOCKED;
    int is = s != TGW_TASK_NEW && s != TGW_TASK_BLOCKED;

    t->w->nactive += is - was;
    t->state = s;
}

/* ------------------------------------------------------------------------
 * Tasks: the Redis steps.  Each step sends one request; its callback
 * either advances the task or, when Redis failed, marks it stalled so
 * the tick sends the same step again.  Steps are safe to repeat.
 * ------------------------------------------------------------------------ */

/* Common entry of every step callback: NULL when the task must stop. */
static tgw_task_t *
tgw_task_reply(tgw_task_t *t, redisReply *r, const char *step)
{
    t->busy = 0;
    if (t->drop) {
        tgw_task_release(t);
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
    if (tgw_reply_is_error(r)) {
        /* Retried every tick; said once, then every 40th time. */
        if (r != NULL && t->errors++ % 40 == 0) {
            tgw_log(TGW_LOG_WARN, "redis_error", "task_id", t->id,
                    "step", step, "error", tgw_reply_error(r), NULL);
        }
        t->stalled = 1;
        return NULL;
    }
    t->errors = 0;
    return t;
}


/* A hash without a queue field: the stream "<prefix>:q:<queue>:<prio>"
 * names it. */
static int
tgw_task_queue_from_stream(tgw_task_t *t)
{
    size_t      plen = strlen(t->conf->prefix);
    const char *q = t->stream + plen + 3, *end = strrchr(t->stream, ':');

    if (strlen(t->stream) > plen + 3 && end != NULL && end > q) {
        t->queue = tgw_strndup(q, (size_t) (end - q));
    } else {
        t->queue = strdup("default");
    }
    return t->queue ? 0 : -1;
}


/* Called with the task's hash: decide to run, cancel, defer or skip. */
static void
tgw_task_loaded(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_task_t   *t = data;
    tgw_worker_t *w = t->w;
    redisReply   *k, *v;
    char         *status = NULL, *cancel = NULL;
    size_t        i;
    int           nomem = 0;

    if ((t = tgw_task_reply(t, r, "load")) == NULL) {
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        tgw_log(TGW_LOG_WARN, "task_missing", "task_id", t->id,
                "stream", t->stream, "entry", t->entry, NULL);
        w->n.missing++;
        tgw_task_record(t, TGW_REC_ACK);
        return;
    }

    for (i = 0; i + 1 < r->elements; i += 2) {
        char **dst = NULL;

        k = r->element[i];
        v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }
        if (strcmp(k->str, TGW_F_QUEUE) == 0) {
            dst = &t->queue;
        } else if (strcmp(k->str, TGW_F_TYPE) == 0) {
            dst = &t->type;
        } else if (strcmp(k->str, TGW_F_PRIORITY) == 0) {
            dst = &t->priority;
        } else if (strcmp(k->str, TGW_F_STATUS) == 0) {
            dst = &status;
        } else if (strcmp(k->str, TGW_F_CANCEL_REQUESTED) == 0) {
            dst = &cancel;
        } else if (strcmp(k->str, TGW_F_CALLBACK_URL) == 0) {
            dst = &t->callback_url;
        } else if (strcmp(k->str, TGW_F_CONTENT_TYPE) == 0) {
            dst = &t->content_type;
        } else if (strcmp(k->str, TGW_F_PAYLOAD) == 0) {
            dst = &t->payload;
            t->payload_len = v->len;
        } else if (strcmp(k->str, TGW_F_ATTEMPTS) == 0) {
            t->attempts = atoi(v->str);
        } else if (strcmp(k->str, TGW_F_RUN_AT) == 0) {
            t->run_at = strtoull(v->str, NULL, 10);
        }
        if (dst) {
            free(*dst);
            *dst = tgw_strndup(v->str, v->len);
            nomem |= *dst == NULL;
        }
    }

    if (nomem) {
        free(status);
        free(cancel);
        t->stalled = 1;             /* try again on the next tick */
        return;
    }
    if (t->queue == NULL && tgw_task_queue_from_stream(t) != 0) {
        free(status);
        free(cancel);
        t->stalled = 1;
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

    t->handler = tgw_conf_handler(t->conf, t->type);
    tgw_task_set_state(t, TGW_TASK_BLOCKED);
    tgw_worker_pump(w);
}


static void
tgw_task_run_done(tgw_run_t *run)
{
    tgw_task_t   *t = run->data;
    tgw_worker_t *w = t->w;
    int           max;
    char          attempt[16], ms[24], delay[32];
    uint64_t      backoff;

    if (t->drop || w->grace_over) {
        /* Killed at shutdown: record nothing, the entry stays pending and
         * another worker reclaims it. */
        tgw_log(TGW_LOG_WARN, "task_abandoned", "task_id", t->id,
                "type", t->type, NULL);
        tgw_task_release(t);
        return;
    }

    t->finished_ms = tgw_now_ms();
    max = tgw_conf_max_attempts(t->conf, t->handler);
    t->outcome = tgw_outcome_decide(run->status, t->attempts, max);

    if (t->outcome == TGW_NEXT_SUCCEEDED) {
        if (tgw_result_encode(run->output, run->output_len, run->truncated,
                              &t->result, &t->result_enc) != 0)
        {
            /* No memory for the result: fail this attempt instead of
             * losing it; a retry may fit. */
            t->outcome = tgw_outcome_decide(TGW_RUN_RETRYABLE, t->attempts,
                                         max);
            t->error = strdup("out of memory encoding the result");
        }
    } else {
        t->error = strdup(run->error ? run->error : "failed");
    }

    snprintf(attempt, sizeof(attempt), "%d", t->attempts);
    tgw_u64(ms, sizeof(ms), t->finished_ms - t->started_ms);

    if (t->outcome == TGW_NEXT_RETRYING) {
        backoff = tgw_backoff_ms(t->attempts, t->conf->retry_base_ms,
                                 t->conf->retry_cap_ms, tgw_random64());
        t->due_ms = t->finished_ms + backoff;
        tgw_log(TGW_LOG_INFO, "task_failed", "task_id", t->id,
                "type", t->type, "attempt", attempt,
                "outcome", tgw_run_status_name(run->status),
                "status", TGW_ST_RETRYING,
                "retry_in", tgw_duration_format(backoff, delay,
                                                sizeof(delay)),
                "ms", ms, "error", t->error, NULL);
    } else if (t->outcome == TGW_NEXT_DEAD) {
        tgw_log(TGW_LOG_WARN, "task_failed", "task_id", t->id,
                "type", t->type, "attempt", attempt,
                "outcome", tgw_run_status_name(run->status),
                "status", TGW_ST_DEAD, "ms", ms, "error", t->error, NULL);
    } else {
        tgw_log(TGW_LOG_INFO, "task_succeeded", "task_id", t->id,
                "type", t->type, "attempt", attempt, "ms", ms,
                "truncated", run->truncated ? "1" : NULL,
                "result_encoding", t->result_enc, NULL);
    }

    /* The output is encoded; free it now rather than at the end. */
    tgw_run_cleanup(&t->run);
    tgw_task_record(t, TGW_REC_OUTCOME);
}


static void
tgw_task_started(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_task_t   *t = data;
    tgw_worker_t *w = t->w;
    char          attempt[16];

    if ((t = tgw_task_reply(t, r, "start")) == NULL) {
        return;
    }
    if (r->type == REDIS_REPLY_INTEGER && r->integer == -2) {
        /* finished elsewhere: nothing to run, nothing to ack */
        tgw_log(TGW_LOG_INFO, "task_already_recorded", "task_id", t->id,
                "type", t->type, NULL);
        tgw_task_release(t);
        return;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer == -1) {
        tgw_log(TGW_LOG_WARN, "task_missing", "task_id", t->id,
                "stream", t->stream, "entry", t->entry, NULL);
        w->n.missing++;
        tgw_task_record(t, TGW_REC_ACK);
        return;
    }
    if (r->integer == 0) {
        t->finished_ms = tgw_now_ms();
        tgw_task_record(t, TGW_REC_CANCELLED);
        return;
    }

    snprintf(attempt, sizeof(attempt), "%d", t->attempts);
    tgw_log(TGW_LOG_INFO, "task_started", "task_id", t->id, "type", t->type,
            "queue", t->queue, "priority", t->priority, "attempt", attempt,
            t->handler ? NULL : "handler", "none", NULL);

    tgw_task_set_state(t, TGW_TASK_RUNNING);
    memset(&t->run, 0, sizeof(t->run));
    t->run.loop = w->loop;
    t->run.handler = t->handler;
    t->run.task_id = t->id;
    t->run.type = t->type ? t->type : "";
    t->run.queue = t->queue;
    t->run.attempt = t->attempts;
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
    tgw_task_t   *t = data;
    tgw_worker_t *w = t->w;

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
        tgw_task_release(t);
        return;
    }

    switch (t->rec) {
    case TGW_REC_OUTCOME:
        if (t->outcome == TGW_NEXT_SUCCEEDED) {
            w->n.succeeded++;
        } else if (t->outcome == TGW_NEXT_RETRYING) {
            w->n.retried++;
        } else {
            w->n.dead++;
        }
        break;
    case TGW_REC_CANCELLED:
        w->n.cancelled++;
        tgw_log(TGW_LOG_INFO, "task_cancelled", "task_id", t->id,
                "type", t->type, NULL);
        break;
    case TGW_REC_DEFER:
        tgw_log(TGW_LOG_INFO, "task_deferred", "task_id", t->id,
                "type", t->type, NULL);
        break;
    case TGW_REC_ACK:
        break;
    }

    /* A terminal status with a callback: the webhook goes out now, on
     * its own, without the task's slot. */
    if ((t->rec == TGW_REC_OUTCOME && t->outcome != TGW_NEXT_RETRYING)
        || t->rec == TGW_REC_CANCELLED)
    {
        const char *url = tgw_task_hook_url(t);

        if (url != NULL) {
            tgw_webhook_start(w, t->id, t->rec == TGW_REC_CANCELLED
                                        ? TGW_ST_CANCELLED
                                        : tgw_next_status(t->outcome),
                              url, t->finished_ms);
        }
    }
    tgw_task_release(t);
}


/*
 * Records a task's outcome and acks its entry, in one script
 * (tgw_lua_record): the entry leaves the stream only once the outcome is
 * written, so a crash or an error in between can only make the task run
 * again, never lose it.
 */
static void
tgw_task_send_record(tgw_task_t *t)
{
    tgw_conf_t *c = t->conf;
    tgw_args_t  cmd[8], e;
    int         n = 0, i, j;
    char        tkey[512], dkey[512], fin[24], due[24], att[16];
    const char *status = NULL;
    int         terminal = 0;

    tgw_u64(fin, sizeof(fin), t->finished_ms ? t->finished_ms
                                             : tgw_now_ms());
    tgw_u64(due, sizeof(due), t->due_ms);
    snprintf(att, sizeof(att), "%d", t->attempts);

    if (t->id) {
        snprintf(tkey, sizeof(tkey), TGW_KEY_TASK, c->prefix, t->id);
    }

    switch (t->rec) {
    case TGW_REC_OUTCOME:
        status = tgw_next_status(t->outcome);
        tgw_args_init(&cmd[n]);
        tgw_args_add(&cmd[n], "HSET");
        tgw_args_add(&cmd[n], tkey);
        tgw_args_add(&cmd[n], TGW_F_STATUS);
        tgw_args_add(&cmd[n], status);
        if (t->outcome == TGW_NEXT_SUCCEEDED) {
            terminal = 1;
            tgw_args_add(&cmd[n], TGW_F_RESULT);
            tgw_args_add(&cmd[n], t->result ? t->result : "null");
            tgw_args_add(&cmd[n], TGW_F_FINISHED_AT);
            tgw_args_add(&cmd[n], fin);
            if (t->result_enc) {
                tgw_args_add(&cmd[n], TGW_F_RESULT_ENC);
                tgw_args_add(&cmd[n], t->result_enc);
            }
            n++;
            /* what an earlier attempt left behind */
            tgw_args_init(&cmd[n]);
            tgw_args_add(&cmd[n], "HDEL");
            tgw_args_add(&cmd[n], tkey);
            tgw_args_add(&cmd[n], TGW_F_ERROR);
            if (t->result_enc == NULL) {
                tgw_args_add(&cmd[n], TGW_F_RESULT_ENC);
            }
            n++;
        } else {
            tgw_args_add(&cmd[n], TGW_F_ERROR);
            tgw_args_add(&cmd[n], t->error ? t->error : "failed");
            if (t->outcome == TGW_NEXT_DEAD) {
                terminal = 1;
                tgw_args_add(&cmd[n], TGW_F_FINISHED_AT);
                tgw_args_add(&cmd[n], fin);
            }
            n++;
        }
        if (t->outcome == TGW_NEXT_RETRYING) {
            tgw_args_init(&cmd[n]);
            tgw_args_add(&cmd[n], "ZADD");
            tgw_args_addf(&cmd[n], dkey, sizeof(dkey), TGW_KEY_SCHEDULED,
                          c->prefix);
            tgw_args_add(&cmd[n], due);
            tgw_args_add(&cmd[n], t->id);
            n++;
        } else if (t->outcome == TGW_NEXT_DEAD) {
            tgw_args_init(&cmd[n]);
            tgw_args_add(&cmd[n], "XADD");
            tgw_args_addf(&cmd[n], dkey, sizeof(dkey), TGW_KEY_DEAD,
                          c->prefix, t->queue);
            tgw_args_add(&cmd[n], "*");
            tgw_args_add(&cmd[n], "id");
            tgw_args_add(&cmd[n], t->id);
            tgw_args_add(&cmd[n], TGW_F_ERROR);
            tgw_args_add(&cmd[n], t->error ? t->error : "failed");
            tgw_args_add(&cmd[n], TGW_F_ATTEMPTS);
            tgw_args_add(&cmd[n], att);
            tgw_args_add(&cmd[n], "failed_at");
            tgw_args_add(&cmd[n], fin);
            n++;
        }
        break;

    case TGW_REC_CANCELLED:
        terminal = 1;
        tgw_args_init(&cmd[n]);
        tgw_args_add(&cmd[n], "HSET");
        tgw_args_add(&cmd[n], tkey);
        tgw_args_add(&cmd[n], TGW_F_STATUS);
        tgw_args_add(&cmd[n], TGW_ST_CANCELLED);
        tgw_args_add(&cmd[n], TGW_F_FINISHED_AT);
        tgw_args_add(&cmd[n], fin);
        n++;
        break;

    case TGW_REC_DEFER:
        tgw_args_init(&cmd[n]);
        tgw_args_add(&cmd[n], "HSET");
        tgw_args_add(&cmd[n], tkey);
        tgw_args_add(&cmd[n], TGW_F_STATUS);
        tgw_args_add(&cmd[n], TGW_ST_SCHEDULED);
        n++;
        tgw_args_init(&cmd[n]);
        tgw_args_add(&cmd[n], "ZADD");
        tgw_args_addf(&cmd[n], dkey, sizeof(dkey), TGW_KEY_SCHEDULED,
                      c->prefix);
        tgw_args_add(&cmd[n], due);
        tgw_args_add(&cmd[n], t->id);
        n++;
        break;

    case TGW_REC_ACK:
        break;
    }

    if (terminal && tgw_task_hook_url(t) != NULL) {
        tgw_args_init(&cmd[n]);
        tgw_args_add(&cmd[n], "HSET");
        tgw_args_add(&cmd[n], tkey);
        tgw_args_add(&cmd[n], TGW_F_WEBHOOK_STATUS);
        tgw_args_add(&cmd[n], TGW_WH_PENDING);
        tgw_args_add(&cmd[n], TGW_F_WEBHOOK_ATTEMPTS);
        tgw_args_add(&cmd[n], "0");
        n++;
    }
    if (terminal) {
        tgw_args_init(&cmd[n]);
        tgw_args_add(&cmd[n], "PEXPIRE");
        tgw_args_add(&cmd[n], tkey);
        tgw_args_addu(&cmd[n], c->result_ttl_ms);
        n++;
    }

    /* One EVAL: the writes, each as its count and arguments. */
    tgw_args_init(&e);
    tgw_args_add(&e, "EVAL");
    tgw_args_add(&e, tgw_lua_record);
    tgw_args_add(&e, "0");
    tgw_args_add(&e, t->stream);
    tgw_args_add(&e, c->group);
    tgw_args_add(&e, t->entry);
    for (i = 0; i < n; i++) {
        e.overflow |= cmd[i].overflow;
        tgw_args_addu(&e, (uint64_t) cmd[i].argc);
        for (j = 0; j < cmd[i].argc; j++) {
            tgw_args_addn(&e, cmd[i].argv[j], cmd[i].len[j]);
        }
    }

    if (tgw_rconn_cmd(&t->w->cmd, tgw_task_recorded, t, &e) != 0) {
        t->stalled = 1;
        return;
    }
    t->busy = 1;
}


static void
tgw_task_record(tgw_task_t *t, tgw_rec_t rec)
{
    t->rec = rec;
    if (t->state == TGW_TASK_NEW || t->state == TGW_TASK_BLOCKED) {
        tgw_task_set_state(t, TGW_TASK_RECORDING);
    }
    t->state = TGW_TASK_RECORDING;
    tgw_task_step(t);
}


/* Sends the request of the task's current state. */
static void
tgw_task_step(tgw_task_t *t)
{
    tgw_worker_t *w = t->w;
    tgw_args_t    a;
    char          tkey[512], now[24], att[16];

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
        tgw_args_init(&a);
        tgw_args_add(&a, "HGETALL");
        if (t->id) {
            tgw_args_addf(&a, tkey, sizeof(tkey), TGW_KEY_TASK,
                          t->conf->prefix, t->id);
        }
        if (t->id == NULL || a.overflow) {
            /* No id, or one too long to name a task key: it can never
             * be loaded, and retrying would hold the slot for ever. */
            tgw_log(TGW_LOG_WARN, "bad_entry", "stream", t->stream,
                    "entry", t->entry, "reason",
                    t->id ? "id too long" : "no id", NULL);
            tgw_task_record(t, TGW_REC_ACK);
            return;
        }
        if (tgw_rconn_cmd(&w->cmd, tgw_task_loaded, t, &a) != 0) {
            t->stalled = 1;
            return;
        }
        break;

    case TGW_TASK_STARTING:
        t->started_ms = tgw_now_ms();
        tgw_u64(now, sizeof(now), t->started_ms);
        snprintf(att, sizeof(att), "%d", t->attempts);
        tgw_args_init(&a);
        tgw_args_add(&a, "EVAL");
        tgw_args_add(&a, tgw_lua_start);
        tgw_args_add(&a, "1");
        tgw_args_addf(&a, tkey, sizeof(tkey), TGW_KEY_TASK,
                      t->conf->prefix, t->id);
        tgw_args_add(&a, TGW_F_CANCEL_REQUESTED);
        tgw_args_add(&a, TGW_F_STATUS);
        tgw_args_add(&a, TGW_ST_RUNNING);
        tgw_args_add(&a, TGW_F_STARTED_AT);
        tgw_args_add(&a, now);
        tgw_args_add(&a, TGW_F_ATTEMPTS);
        tgw_args_add(&a, att);
        tgw_args_add(&a, t->stream);
        tgw_args_add(&a, t->conf->group);
        tgw_args_add(&a, t->entry);
        if (tgw_rconn_cmd(&w->cmd, tgw_task_started, t, &a) != 0) {
            t->stalled = 1;
            return;
        }
        break;

    case TGW_TASK_RECORDING:
        tgw_task_send_record(t);
        return;
    }
    t->busy = 1;
}

/* ------------------------------------------------------------------------
 * Admission: NEW tasks get a slot and load; BLOCKED ones start when their
 * type is under its cap.  Called whenever a slot or a cap frees.
 * ------------------------------------------------------------------------ */

static void
tgw_worker_pump(tgw_worker_t *w)
{
    tgw_task_t *t, *next;
    int         cap;

    if (w->grace_over) {
        return;
    }
    for (t = w->tasks; t; t = next) {
        next = t->next;
        if (t->state == TGW_TASK_BLOCKED) {
            cap = t->handler ? t->handler->concurrency : 0;
            if (w->stopping) {
                /* not started: leave it pending for another worker */
                tgw_task_free(t);
                continue;
            }
            if (cap > 0 && tgw_worker_type_active(w, t->type) >= cap) {
                continue;
            }
            if (w->nactive >= w->conf->concurrency) {
                continue;
            }
            t->attempts++;
            tgw_task_set_state(t, TGW_TASK_STARTING);
            tgw_task_step(t);
        }
    }
    for (t = w->tasks; t; t = next) {
        next = t->next;
        if (t->state == TGW_TASK_NEW) {
            if (w->stopping) {
                tgw_task_free(t);
                continue;
            }
            if (w->nactive >= w->conf->concurrency) {
                break;
            }
            tgw_task_set_state(t, TGW_TASK_LOADING);
            tgw_task_step(t);
        }
    }
}

/* ------------------------------------------------------------------------
 * Fetching
 * ------------------------------------------------------------------------ */

/* Makes the round-robin arrays match the queues of the current config. */
static int
tgw_worker_queues_resize(tgw_worker_t *w, size_t n)
{
    int    *wrr;
    char   *empty;

    wrr = calloc(n, sizeof(int));
    empty = calloc(n, 1);
    if (wrr == NULL || empty == NULL) {
        free(wrr);
        free(empty);
        return -1;
    }
    free(w->wrr);
    free(w->empty);
    w->wrr = wrr;
    w->empty = empty;
    w->nwrr = n;
    w->fq = -1;
    return 0;
}


/* Smooth weighted round-robin (as nginx balances upstreams) over the
 * queues not known to be empty; -1 when all are. */
static int
tgw_worker_pick(tgw_worker_t *w)
{
    size_t i;
    int    best = -1, total = 0;

    for (i = 0; i < w->nwrr; i++) {
        if (w->empty[i]) {
            continue;
        }
        w->wrr[i] += w->conf->queues[i].weight;
        total += w->conf->queues[i].weight;
        if (best < 0 || w->wrr[i] > w->wrr[best]) {
            best = (int) i;
        }
    }
    if (best >= 0) {
        w->wrr[best] -= total;
    }
    return best;
}


/* Turns the entries of an XREADGROUP/XAUTOCLAIM reply into NEW tasks. */
static int
tgw_worker_take_entries(tgw_worker_t *w, const char *stream,
    redisReply *entries)
{
    redisReply *e, *f;
    size_t      i, j;
    int         n = 0;
    const char *id;
    size_t      id_len;

    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY) {
        return 0;
    }
    for (i = 0; i < entries->elements; i++) {
        e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2
            || e->element[0]->type != REDIS_REPLY_STRING)
        {
            continue;
        }
        id = NULL;
        id_len = 0;
        f = e->element[1];
        if (f->type == REDIS_REPLY_ARRAY) {
            for (j = 0; j + 1 < f->elements; j += 2) {
                if (f->element[j]->type == REDIS_REPLY_STRING
                    && strcmp(f->element[j]->str, TGW_STREAM_FIELD_ID) == 0
                    && f->element[j + 1]->type == REDIS_REPLY_STRING)
                {
                    id = f->element[j + 1]->str;
                    id_len = f->element[j + 1]->len;
                }
            }
        }
        if (tgw_task_new(w, stream, e->element[0]->str, id, id_len)) {
            n++;
        }
    }
    return n;
}


/* Entries from an XREADGROUP reply: [[stream, [entries]], ...]. */
static int
tgw_worker_take_read(tgw_worker_t *w, redisReply *r)
{
    size_t i;
    int    n = 0;

    if (r->type != REDIS_REPLY_ARRAY) {
        return 0;                   /* nil: nothing new */
    }
    for (i = 0; i < r->elements; i++) {
        redisReply *s = r->element[i];

        if (s->type == REDIS_REPLY_ARRAY && s->elements == 2
            && s->element[0]->type == REDIS_REPLY_STRING)
        {
            n += tgw_worker_take_entries(w, s->element[0]->str,
                                         s->element[1]);
        }
    }
    return n;
}


static void
tgw_worker_fetched(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_worker_t *w = rc->data;
    int           blocking = data != NULL, n;

    w->fetching = 0;
    if (r == NULL) {
        return;                     /* connection lost: fetch on ready */
    }
    if (r->type == REDIS_REPLY_ERROR) {
        tgw_log(TGW_LOG_WARN, "fetch_error", "error", r->str, NULL);
        if (strncmp(r->str, "NOGROUP", 7) == 0) {
            tgw_worker_create_groups(w);
        } else if (!blocking && w->fq >= 0
                   && ++w->fp == TGW_NPRIORITIES)
        {
            /* This stream cannot be read (a key of another type): the
             * pick goes on with its next priority above, or ends here,
             * instead of asking it again on every tick and starving
             * every other stream. */
            if (w->fgot == 0) {
                w->empty[w->fq] = 1;
            }
            w->fq = -1;
        }
        return;                     /* the tick fetches again */
    }
    if (w->stopping) {
        /* entries read now stay pending for another worker */
        return;
    }

    n = tgw_worker_take_read(w, r);

    if (blocking) {
        if (n > 0) {
            memset(w->empty, 0, w->nwrr);
        }
    } else if (w->fq >= 0) {
        w->fgot += n;
        w->fwant -= n;
        if (w->fwant <= 0) {
            w->fq = -1;             /* the pick is served */
        } else if (++w->fp == TGW_NPRIORITIES) {
            if (w->fgot == 0) {
                w->empty[w->fq] = 1;
            }
            w->fq = -1;
        }
    }
    tgw_worker_pump(w);
    tgw_worker_fetch(w);
}


/*
 * Reads more entries if there is room: the next pick's streams one by one
 * (high first), without blocking; when every queue looked empty, one
 * blocking read over all streams that wakes on the first new entry.
 */
static void
tgw_worker_fetch(tgw_worker_t *w)
{
    tgw_conf_t *c = w->conf;
    char        key[512], count[16], block[16];
    const char **argv;
    size_t     *len, i, j, nstreams, argc;
    char      **keys;
    int         free_slots, q, rc;

    if (w->stopping || w->fetching || !w->groups_ready
        || w->rd.state != TGW_RCONN_READY)
    {
        return;
    }
    free_slots = c->concurrency - w->ntasks;
    if (free_slots <= 0) {
        w->full = 1;
        return;
    }
    if (w->full) {
        /* Queues may have filled while we had no room: look again. */
        w->full = 0;
        memset(w->empty, 0, w->nwrr);
    }

    if (w->fq < 0) {
        q = tgw_worker_pick(w);
        if (q >= 0) {
            w->fq = q;
            w->fp = 0;
            w->fgot = 0;
            w->fwant = c->queues[q].weight < free_slots
                       ? c->queues[q].weight : free_slots;
        }
    }

    if (w->fq >= 0) {
        tgw_args_t a;

        if (w->fwant > free_slots) {
            w->fwant = free_slots;
        }
        snprintf(count, sizeof(count), "%d", w->fwant);
        tgw_args_init(&a);
        tgw_args_add(&a, "XREADGROUP");
        tgw_args_add(&a, "GROUP");
        tgw_args_add(&a, c->group);
        tgw_args_add(&a, c->name);
        tgw_args_add(&a, "COUNT");
        tgw_args_add(&a, count);
        tgw_args_add(&a, "STREAMS");
        tgw_args_addf(&a, key, sizeof(key), TGW_KEY_QUEUE, c->prefix,
                      c->queues[w->fq].name, tgw_prios[w->fp]);
        tgw_args_add(&a, ">");
        if (tgw_rconn_cmd(&w->rd, tgw_worker_fetched, NULL, &a) == 0) {
            w->fetching = 1;
        }
        return;
    }

    /* Everything looked empty: block on all streams. */
    nstreams = c->nqueues * TGW_NPRIORITIES;
    argc = 9 + 2 * nstreams;
    argv = calloc(argc, sizeof(char *));
    len = calloc(argc, sizeof(size_t));
    keys = calloc(nstreams, sizeof(char *));
    if (argv == NULL || len == NULL || keys == NULL) {
        goto done;
    }
    snprintf(block, sizeof(block), "%d", TGW_BLOCK_MS);
    argv[0] = "XREADGROUP";
    argv[1] = "GROUP";
    argv[2] = c->group;
    argv[3] = c->name;
    argv[4] = "COUNT";
    argv[5] = "1";
    argv[6] = "BLOCK";
    argv[7] = block;
    argv[8] = "STREAMS";
    for (i = 0; i < c->nqueues; i++) {
        for (j = 0; j < TGW_NPRIORITIES; j++) {
            size_t k = i * TGW_NPRIORITIES + j;

            keys[k] = tgw_key(TGW_KEY_QUEUE, c->prefix, c->queues[i].name,
                              tgw_prios[j]);
            if (keys[k] == NULL) {
                goto done;
            }
            argv[9 + k] = keys[k];
            argv[9 + nstreams + k] = ">";
        }
    }
    for (i = 0; i < argc; i++) {
        len[i] = strlen(argv[i]);
    }
    w->rd.grace_ms = TGW_BLOCK_MS;
    rc = tgw_rconn_cmdv(&w->rd, tgw_worker_fetched, w, (int) argc, argv,
                        len);
    if (rc == 0) {
        w->fetching = 1;
    }

done:
    if (keys) {
        for (i = 0; i < nstreams; i++) {
            free(keys[i]);
        }
    }
    free(keys);
    free(argv);
    free(len);
}


/*
 * At start, and each time the read connection is back: entries this
 * consumer name has pending but does not hold (a previous run under the
 * same name stopped or died; a read whose reply was lost with the
 * connection) are taken up at once, without waiting claim_idle:
 * XREADGROUP with id 0 reads one's own pending list.
 * One stream at a time, up to the free slots; entries deleted meanwhile
 * come without fields and are simply acked.
 */
static void tgw_worker_recover(tgw_worker_t *w);


static void
tgw_worker_recovered(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_worker_t *w = rc->data;
    redisReply   *e;
    char          n[16];
    int           got;

    w->recover_busy = 0;
    if (r == NULL || r->type == REDIS_REPLY_ERROR || w->stopping) {
        w->recover_stream = (size_t) -1;    /* give up; XAUTOCLAIM covers */
        return;
    }
    /* A full answer may have been all entries held here already (they
     * are skipped): go on after its last one, else on to the next
     * stream. */
    e = NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1
        && r->element[0]->type == REDIS_REPLY_ARRAY
        && r->element[0]->elements == 2
        && r->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
    {
        e = r->element[0]->element[1];
    }
    if (e != NULL && e->elements > 0
        && e->elements >= (size_t) w->recover_count
        && e->element[e->elements - 1]->type == REDIS_REPLY_ARRAY
        && e->element[e->elements - 1]->elements > 0
        && e->element[e->elements - 1]->element[0]->type
           == REDIS_REPLY_STRING
        && e->element[e->elements - 1]->element[0]->len
           < sizeof(w->recover_from))
    {
        memcpy(w->recover_from, e->element[e->elements - 1]->element[0]->str,
               e->element[e->elements - 1]->element[0]->len + 1);
    } else {
        w->recover_stream++;
        strcpy(w->recover_from, "0");
    }
    got = tgw_worker_take_read(w, r);
    if (got > 0) {
        snprintf(n, sizeof(n), "%d", got);
        tgw_log(TGW_LOG_INFO, "tasks_recovered", "count", n, NULL);
        tgw_worker_pump(w);
    }
    tgw_worker_recover(w);
}


static void
tgw_worker_recover(tgw_worker_t *w)
{
    tgw_conf_t *c = w->conf;
    tgw_args_t  a;
    char        key[512];
    size_t      nstreams = c->nqueues * TGW_NPRIORITIES, s;
    int         free_slots = c->concurrency - w->ntasks;

    if (w->recover_busy || w->stopping || free_slots <= 0
        || w->recover_stream >= nstreams || w->cmd.state != TGW_RCONN_READY)
    {
        return;
    }
    s = w->recover_stream;
    tgw_args_init(&a);
    tgw_args_add(&a, "XREADGROUP");
    tgw_args_add(&a, "GROUP");
    tgw_args_add(&a, c->group);
    tgw_args_add(&a, c->name);
    tgw_args_add(&a, "COUNT");
    tgw_args_addu(&a, (uint64_t) free_slots);
    tgw_args_add(&a, "STREAMS");
    tgw_args_addf(&a, key, sizeof(key), TGW_KEY_QUEUE, c->prefix,
                  c->queues[s / TGW_NPRIORITIES].name,
                  tgw_prios[s % TGW_NPRIORITIES]);
    tgw_args_add(&a, w->recover_from[0] ? w->recover_from : "0");
    if (tgw_rconn_cmd(&w->cmd, tgw_worker_recovered, NULL, &a) == 0) {
        w->recover_busy = 1;
        w->recover_count = free_slots;
    }
}


static void
tgw_worker_group_created(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_worker_t *w = rc->data;
    char         *key = data;

    if (r && r->type == REDIS_REPLY_ERROR
        && strncmp(r->str, "BUSYGROUP", 9) != 0)
    {
        tgw_log(TGW_LOG_ERROR, "group_create_failed", "stream", key,
                "error", r->str, NULL);
    }
    free(key);
    if (r == NULL) {
        w->groups_pending = 0;      /* connection lost: redone on ready */
        return;
    }
    if (--w->groups_pending == 0) {
        w->groups_ready = 1;
        tgw_worker_recover(w);      /* own pending entries (see there) */
        tgw_worker_fetch(w);
    }
}


/*
 * Creates the consumer group on every stream this worker reads, from id 0
 * (so tasks enqueued before any worker started are read) and MKSTREAM (so
 * an empty queue is no error).  BUSYGROUP, the group exists, is fine.
 */
static void
tgw_worker_create_groups(tgw_worker_t *w)
{
    tgw_conf_t *c = w->conf;
    tgw_args_t  a;
    size_t      i, j;
    char       *key;

    w->groups_ready = 0;
    if (w->groups_pending > 0 || w->rd.state != TGW_RCONN_READY) {
        return;
    }
    for (i = 0; i < c->nqueues; i++) {
        for (j = 0; j < TGW_NPRIORITIES; j++) {
            key = tgw_key(TGW_KEY_QUEUE, c->prefix, c->queues[i].name,
                          tgw_prios[j]);
            if (key == NULL) {
                continue;
            }
            tgw_args_init(&a);
            tgw_args_add(&a, "XGROUP");
            tgw_args_add(&a, "CREATE");
            tgw_args_add(&a, key);
            tgw_args_add(&a, c->group);
            tgw_args_add(&a, "0");
            tgw_args_add(&a, "MKSTREAM");
            if (tgw_rconn_cmd(&w->rd, tgw_worker_group_created, key, &a)
                != 0)
            {
                free(key);
                continue;
            }
            w->groups_pending++;
        }
    }
}


static void
tgw_worker_rd_ready(tgw_rconn_t *rc)
{
    tgw_worker_t *w = rc->data;

    w->fetching = 0;
    w->groups_pending = 0;
    /* A read whose reply was lost with the old connection may have been
     * served: its entries are pending under our name, unseen.  Read our
     * pending entries again (held ones are skipped) instead of leaving
     * them to claim_idle. */
    w->recover_stream = 0;
    strcpy(w->recover_from, "0");
    tgw_worker_create_groups(w);
}


static void
tgw_worker_rd_down(tgw_rconn_t *rc)
{
    tgw_worker_t *w = rc->data;

    w->groups_ready = 0;
    w->fetching = 0;
}


static void
tgw_worker_cmd_ready(tgw_rconn_t *rc)
{
    tgw_worker_t *w = rc->data;
    tgw_task_t   *t, *next;

    for (t = w->tasks; t; t = next) {
        next = t->next;
        if (t->stalled) {
            tgw_task_step(t);
        }
    }
}


static void
tgw_worker_cmd_down(tgw_rconn_t *rc)
{
    tgw_worker_t *w = rc->data;

    w->mover_busy = w->hb_busy = w->claim_busy = w->recover_busy = 0;
}

/* ------------------------------------------------------------------------
 * Housekeeping: scheduled set mover, reclaiming, heartbeat
 * ------------------------------------------------------------------------ */

static void
tgw_worker_moved(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_worker_t *w = rc->data;
    char          n[24];

    w->mover_busy = 0;
    if (tgw_reply_is_error(r)) {
        if (r) {
            tgw_log(TGW_LOG_WARN, "mover_error", "error", r->str, NULL);
        }
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2
        && r->element[1]->type == REDIS_REPLY_INTEGER
        && r->element[1]->integer > 0)
    {
        w->n.moved += (uint64_t) r->element[1]->integer;
        tgw_log(TGW_LOG_DEBUG, "scheduled_moved", "count",
                tgw_u64(n, sizeof(n), (uint64_t) r->element[1]->integer),
                NULL);
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 4
        && r->element[2]->type == REDIS_REPLY_INTEGER
        && r->element[2]->integer > 0
        && r->element[3]->type == REDIS_REPLY_STRING)
    {
        /* each such id comes round again after TGW_MOVE_RETRY_MS */
        tgw_log(TGW_LOG_WARN, "mover_error", "kept",
                tgw_u64(n, sizeof(n), (uint64_t) r->element[2]->integer),
                "error", r->element[3]->str, NULL);
    }
}


static void
tgw_worker_move(tgw_worker_t *w)
{
    tgw_conf_t *c = w->conf;
    tgw_args_t  a;
    char        key[512], now[24];

    if (w->mover_busy || w->cmd.state != TGW_RCONN_READY) {
        return;
    }
    tgw_args_init(&a);
    tgw_args_add(&a, "EVAL");
    tgw_args_add(&a, tgw_lua_move);
    tgw_args_add(&a, "1");
    tgw_args_addf(&a, key, sizeof(key), TGW_KEY_SCHEDULED, c->prefix);
    tgw_args_add(&a, c->prefix);
    tgw_args_add(&a, tgw_u64(now, sizeof(now), tgw_now_ms()));
    tgw_args_addu(&a, TGW_MOVE_BATCH);
    tgw_args_add(&a, TGW_KEY_TASK);
    tgw_args_add(&a, TGW_KEY_QUEUE);
    tgw_args_add(&a, TGW_F_QUEUE);
    tgw_args_add(&a, TGW_F_PRIORITY);
    tgw_args_add(&a, TGW_F_STATUS);
    tgw_args_add(&a, TGW_ST_QUEUED);
    tgw_args_add(&a, TGW_STREAM_FIELD_ID);
    tgw_args_add(&a, TGW_ST_SUCCEEDED);
    tgw_args_add(&a, TGW_ST_DEAD);
    tgw_args_add(&a, TGW_ST_CANCELLED);
    tgw_args_addu(&a, TGW_MOVE_RETRY_MS);
    if (tgw_rconn_cmd(&w->cmd, tgw_worker_moved, NULL, &a) == 0) {
        w->mover_busy = 1;
    }
}


static void
tgw_worker_hb_done(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_worker_t *w = rc->data;

    w->hb_busy = 0;
    if (r && r->type == REDIS_REPLY_ERROR) {
        tgw_log(TGW_LOG_WARN, "heartbeat_error", "error", r->str, NULL);
    }
}


/* {prefix}:worker:<name>, a JSON string with a TGW_HEARTBEAT_TTL TTL. */
static void
tgw_worker_heartbeat(tgw_worker_t *w)
{
    tgw_conf_t *c = w->conf;
    json_t     *j, *q, *n;
    char       *text, key[512];
    tgw_args_t  a;
    size_t      i;

    if (w->hb_busy || w->cmd.state != TGW_RCONN_READY) {
        return;
    }
    q = json_array();
    for (i = 0; q && i < c->nqueues; i++) {
        json_array_append_new(q, json_string(c->queues[i].name));
    }
    n = json_pack("{s:I,s:I,s:I,s:I,s:I}",
                  "succeeded", (json_int_t) w->n.succeeded,
                  "retried", (json_int_t) w->n.retried,
                  "dead", (json_int_t) w->n.dead,
                  "cancelled", (json_int_t) w->n.cancelled,
                  "missing", (json_int_t) w->n.missing);
    j = json_pack("{s:s,s:s,s:I,s:I,s:i,s:i,s:o*,s:o*,s:b}",
                  "name", c->name, "host", w->host,
                  "pid", (json_int_t) getpid(),
                  "started_at", (json_int_t) w->started_at,
                  "concurrency", c->concurrency,
                  "in_flight", w->nactive,
                  "queues", q, "counters", n,
                  "stopping", w->stopping);
    if (j == NULL) {
        return;
    }
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL) {
        return;
    }
    tgw_args_init(&a);
    tgw_args_add(&a, "SET");
    tgw_args_addf(&a, key, sizeof(key), TGW_KEY_WORKER, c->prefix, c->name);
    tgw_args_add(&a, text);
    tgw_args_add(&a, "PX");
    tgw_args_addu(&a, TGW_HEARTBEAT_TTL);
    if (tgw_rconn_cmd(&w->cmd, tgw_worker_hb_done, NULL, &a) == 0) {
        w->hb_busy = 1;
    }
    free(text);
}


static void
tgw_worker_claimed(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_worker_t *w = rc->data;
    char         *stream = data, n[16];
    int           got;

    w->claim_busy = 0;
    if (tgw_reply_is_error(r) || w->stopping) {
        if (r && r->type == REDIS_REPLY_ERROR
            && strncmp(r->str, "NOGROUP", 7) != 0)
        {
            tgw_log(TGW_LOG_WARN, "reclaim_error", "stream", stream,
                    "error", r->str, NULL);
        }
        w->claim_stream++;
        strcpy(w->claim_cursor, "0-0");
        free(stream);
        return;
    }
    /* [next cursor, [entries], [deleted ids]].  XAUTOCLAIM looks at no
     * more than 10 pending entries per entry it may claim, so behind
     * many live ones a dead worker's entry is only reached by going on
     * from the cursor; "0-0" means the stream is done. */
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2
        && r->element[0]->type == REDIS_REPLY_STRING
        && r->element[0]->len < sizeof(w->claim_cursor)
        && strcmp(r->element[0]->str, "0-0") != 0)
    {
        memcpy(w->claim_cursor, r->element[0]->str, r->element[0]->len + 1);
    } else {
        w->claim_stream++;
        strcpy(w->claim_cursor, "0-0");
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
        got = tgw_worker_take_entries(w, stream, r->element[1]);
        if (got > 0) {
            snprintf(n, sizeof(n), "%d", got);
            tgw_log(TGW_LOG_INFO, "tasks_reclaimed", "stream", stream,
                    "count", n, NULL);
            tgw_worker_pump(w);
        }
    }
    free(stream);
    tgw_worker_reclaim(w);          /* on with the pass */
}


/*
 * Crash recovery: entries idle (unacked, unclaimed) longer than
 * claim_idle belong to a worker that died.  A pass walks every stream in
 * turn, one XAUTOCLAIM at a time, each taking at most the free slots; it
 * ends early when the slots are used up.
 */
static void
tgw_worker_reclaim(tgw_worker_t *w)
{
    tgw_conf_t *c = w->conf;
    tgw_args_t  a;
    size_t      nstreams = c->nqueues * TGW_NPRIORITIES, s;
    char       *key;
    int         free_slots = c->concurrency - w->ntasks;

    if (w->claim_busy || w->stopping || free_slots <= 0 || !w->groups_ready
        || w->cmd.state != TGW_RCONN_READY || w->claim_stream >= nstreams)
    {
        return;
    }
    s = w->claim_stream;
    key = tgw_key(TGW_KEY_QUEUE, c->prefix,
                  c->queues[s / TGW_NPRIORITIES].name,
                  tgw_prios[s % TGW_NPRIORITIES]);
    if (key == NULL) {
        return;
    }
    tgw_args_init(&a);
    tgw_args_add(&a, "XAUTOCLAIM");
    tgw_args_add(&a, key);
    tgw_args_add(&a, c->group);
    tgw_args_add(&a, c->name);
    tgw_args_addu(&a, c->claim_idle_ms);
    tgw_args_add(&a, w->claim_cursor[0] ? w->claim_cursor : "0-0");
    tgw_args_add(&a, "COUNT");
    tgw_args_addu(&a, (uint64_t) free_slots);
    if (tgw_rconn_cmd(&w->cmd, tgw_worker_claimed, key, &a) != 0) {
        free(key);
        return;
    }
    w->claim_busy = 1;
}


/*
 * A live task is never stolen: every claim_idle/3 the entries of the
 * tasks held here are re-claimed by this consumer (XCLAIM with min idle
 * 0 and JUSTID resets their idle time without counting a delivery).
 */
static void
tgw_worker_extend_claims(tgw_worker_t *w)
{
    tgw_task_t *t;
    tgw_args_t  a;

    if (w->cmd.state != TGW_RCONN_READY) {
        return;
    }
    for (t = w->tasks; t; t = t->next) {
        tgw_args_init(&a);
        tgw_args_add(&a, "XCLAIM");
        tgw_args_add(&a, t->stream);
        tgw_args_add(&a, t->conf->group);
        tgw_args_add(&a, t->conf->name);
        tgw_args_add(&a, "0");
        tgw_args_add(&a, t->entry);
        tgw_args_add(&a, "JUSTID");
        tgw_rconn_cmd(&w->cmd, NULL, NULL, &a);
    }
}


static void
tgw_worker_tick(uv_timer_t *timer)
{
    tgw_worker_t *w = timer->data;
    tgw_task_t   *t, *next;
    uint64_t      now = uv_now(w->loop);

    if (w->closing) {
        return;
    }
    if (w->cmd.state == TGW_RCONN_READY) {
        for (t = w->tasks; t; t = next) {
            next = t->next;
            if (t->stalled) {
                tgw_task_step(t);
            }
        }
    }
    /* Tasks still held while stopping run out their shutdown_grace:
     * their claims must stay fresh so no live task is stolen, and the
     * worker stays listed (as stopping) until it exits. */
    if (now >= w->next_extend) {
        w->next_extend = now + w->conf->claim_idle_ms / 3;
        tgw_worker_extend_claims(w);
    }
    if (now >= w->next_hb) {
        w->next_hb = now + TGW_HEARTBEAT_MS;
        tgw_worker_heartbeat(w);
    }
    if (w->stopping) {
        tgw_worker_maybe_close(w);
        return;
    }
    tgw_worker_move(w);
    tgw_worker_cron(w);
    if (now >= w->next_claim) {
        w->next_claim = now + w->conf->claim_idle_ms / 4;
        w->claim_stream = 0;        /* a new pass over every stream */
        strcpy(w->claim_cursor, "0-0");
        tgw_worker_reclaim(w);
    }
    if (w->groups_ready) {
        tgw_worker_recover(w);      /* a no-op once the pass is over */
    }
    if (!w->groups_ready && w->groups_pending == 0) {
        tgw_worker_create_groups(w);
    }
    /* Look at every queue again now and then: a queue found empty must
     * not wait until the busy ones run dry. */
    memset(w->empty, 0, w->nwrr);
    tgw_worker_pump(w);
    tgw_worker_fetch(w);
}

/* ------------------------------------------------------------------------
 * Cron schedules: each minute (UTC) every worker checks every schedule;
 * the Lua guard lets exactly one of them create the task.  A tick missed
 * while Redis was away is still fired up to TGW_CRON_CATCHUP minutes
 * late; older ones are skipped, as cron does.
 * ------------------------------------------------------------------------ */

typedef struct {
    tgw_worker_t   *w;
    unsigned        gen;            /* cron_gen when sent */
    size_t          i;              /* schedule index */
    uint64_t        minute;
    char            id[TGW_CTL_UUID_LEN + 1];
} tgw_cron_fire_t;


/* Builds the schedules' state for w->conf; 0 or -1 (no memory). */
static int
tgw_worker_crons_init(tgw_worker_t *w, tgw_conf_t *c)
{
    tgw_cron_state_t *cs = NULL;
    uint64_t          now_min = tgw_now_ms() / 60000;
    size_t            i;

    if (c->nschedules > 0) {
        cs = calloc(c->nschedules, sizeof(*cs));
        if (cs == NULL) {
            return -1;
        }
    }
    for (i = 0; i < c->nschedules; i++) {
        tgw_cron_parse(c->schedules[i].cron, &cs[i].cron);  /* validated */
        cs[i].next_min = now_min;
    }
    free(w->crons);
    w->crons = cs;
    w->ncrons = c->nschedules;
    w->cron_gen++;
    return 0;
}


static void
tgw_worker_cron_fired(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_cron_fire_t *f = data;
    tgw_worker_t    *w = f->w;
    char             tick[40];

    if (f->gen == w->cron_gen && f->i < w->ncrons) {
        w->crons[f->i].busy = 0;
        if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
            w->crons[f->i].next_min = f->minute + 1;
            if (r->integer == 1) {
                tgw_ctl_ms_to_rfc3339((int64_t) f->minute * 60000, tick,
                                      sizeof(tick));
                tgw_log(TGW_LOG_INFO, "cron_fired", "schedule",
                        w->conf->schedules[f->i].name, "tick", tick,
                        "task_id", f->id, NULL);
            }
        } else if (r != NULL) {
            tgw_log(TGW_LOG_WARN, "cron_error", "schedule",
                    w->conf->schedules[f->i].name, "error",
                    tgw_reply_error(r), NULL);
        }
    }
    free(f);
}


static void
tgw_worker_cron_fire(tgw_worker_t *w, size_t i, uint64_t minute)
{
    tgw_conf_t          *c = w->conf;
    tgw_schedule_conf_t *s = &c->schedules[i];
    tgw_cron_fire_t     *f;
    tgw_args_t           a;
    char                 guard[512], tick[24], tkey[512], skey[512],
                         now[24], reqid[160];

    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return;
    }
    if (tgw_ctl_uuid7_new(f->id) != 0) {
        free(f);
        return;
    }
    f->w = w;
    f->gen = w->cron_gen;
    f->i = i;
    f->minute = minute;

    tgw_u64(tick, sizeof(tick), minute * 60);
    tgw_u64(now, sizeof(now), tgw_now_ms());
    snprintf(reqid, sizeof(reqid), "cron:%s:%s", s->name, tick);

    tgw_args_init(&a);
    tgw_args_add(&a, "EVAL");
    tgw_args_add(&a, tgw_lua_cron);
    tgw_args_add(&a, "3");
    tgw_args_addf(&a, guard, sizeof(guard), TGW_KEY_CRON, c->prefix,
                  s->name, tick);
    tgw_args_addf(&a, tkey, sizeof(tkey), TGW_KEY_TASK, c->prefix, f->id);
    tgw_args_addf(&a, skey, sizeof(skey), TGW_KEY_QUEUE, c->prefix,
                  s->queue, s->priority);
    tgw_args_add(&a, f->id);
    tgw_args_addu(&a, TGW_CRON_GUARD_MS);
    tgw_args_add(&a, TGW_STREAM_FIELD_ID);
    tgw_args_add(&a, TGW_F_ID);
    tgw_args_add(&a, f->id);
    tgw_args_add(&a, TGW_F_QUEUE);
    tgw_args_add(&a, s->queue);
    tgw_args_add(&a, TGW_F_TYPE);
    tgw_args_add(&a, s->type);
    tgw_args_add(&a, TGW_F_PRIORITY);
    tgw_args_add(&a, s->priority);
    tgw_args_add(&a, TGW_F_STATUS);
    tgw_args_add(&a, TGW_ST_QUEUED);
    tgw_args_add(&a, TGW_F_PAYLOAD);
    tgw_args_add(&a, s->payload);
    tgw_args_add(&a, TGW_F_CONTENT_TYPE);
    tgw_args_add(&a, "application/json");
    tgw_args_add(&a, TGW_F_OWNER);
    tgw_args_add(&a, "cron");
    tgw_args_add(&a, TGW_F_REQUEST_ID);
    tgw_args_add(&a, reqid);
    tgw_args_add(&a, TGW_F_CREATED_AT);
    tgw_args_add(&a, now);
    tgw_args_add(&a, TGW_F_ATTEMPTS);
    tgw_args_add(&a, "0");
    if (tgw_rconn_cmd(&w->cmd, tgw_worker_cron_fired, f, &a) != 0) {
        free(f);                    /* tried again on the next tick */
        return;
    }
    w->crons[i].busy = 1;
}


static void
tgw_worker_cron(tgw_worker_t *w)
{
    uint64_t  now_min = tgw_now_ms() / 60000;
    size_t    i;
    tgw_cron_state_t *cs;

    if (w->cmd.state != TGW_RCONN_READY) {
        return;
    }
    for (i = 0; i < w->ncrons; i++) {
        cs = &w->crons[i];
        if (cs->next_min + TGW_CRON_CATCHUP < now_min) {
            cs->next_min = now_min - TGW_CRON_CATCHUP;
        }
        /* Skip minutes that do not match; stop at one to fire. */
        while (!cs->busy && cs->next_min <= now_min) {
            if (tgw_cron_match(&cs->cron, (time_t) (cs->next_min * 60))) {
                tgw_worker_cron_fire(w, i, cs->next_min);
                break;
            }
            cs->next_min++;
        }
    }
}

/* ------------------------------------------------------------------------
 * Config reload (SIGHUP)
 * ------------------------------------------------------------------------ */

static int
tgw_str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}


/*
 * Re-reads the config file.  Handlers, concurrency, queues, retry and
 * result settings take effect for tasks taken from now on (running tasks
 * keep the config they started with); the connection and identity keys
 * (redis, password, db, prefix, group, name) need a restart, so a file
 * that changes them is refused as a whole.
 */
static void
tgw_worker_reload(tgw_worker_t *w)
{
    tgw_conf_errors_t  errs;
    tgw_conf_t        *c, *old = w->conf;
    const char        *why = NULL;
    size_t             i;

    c = tgw_conf_load(old->path, &errs);
    if (c == NULL) {
        for (i = 0; i < errs.n; i++) {
            tgw_log(TGW_LOG_ERROR, "reload_failed", "error", errs.msg[i],
                    NULL);
        }
        tgw_conf_errors_free(&errs);
        return;
    }
    tgw_conf_errors_free(&errs);

    if (tgw_str_differs(c->redis_host, old->redis_host)
        || tgw_str_differs(c->redis_unix, old->redis_unix)
        || c->redis_port != old->redis_port)
    {
        why = "redis";
    } else if (tgw_str_differs(c->password, old->password)) {
        why = "password";
    } else if (c->db != old->db) {
        why = "db";
    } else if (strcmp(c->prefix, old->prefix) != 0) {
        why = "prefix";
    } else if (strcmp(c->group, old->group) != 0) {
        why = "group";
    } else if (strcmp(c->name, old->name) != 0) {
        why = "name";               /* the default, host-pid, is stable */
    }
    if (why) {
        tgw_log(TGW_LOG_ERROR, "reload_refused", "key", why,
                "reason", "changing it needs a restart", NULL);
        tgw_conf_unref(c);
        return;
    }
    if (tgw_worker_queues_resize(w, c->nqueues) != 0
        || tgw_worker_crons_init(w, c) != 0)
    {
        tgw_log(TGW_LOG_ERROR, "reload_failed", "error", "out of memory",
                NULL);
        tgw_conf_unref(c);
        return;
    }
    w->conf = c;
    tgw_conf_unref(old);
    tgw_log(TGW_LOG_INFO, "config_reloaded", "file", c->path, NULL);
    tgw_worker_create_groups(w);
    tgw_worker_pump(w);
    tgw_worker_fetch(w);
}

/* ------------------------------------------------------------------------
 * Signals and shutdown
 * ------------------------------------------------------------------------ */

static void
tgw_worker_grace_over(uv_timer_t *timer)
{
    tgw_worker_t *w = timer->data;
    tgw_task_t   *t, *next;

    if (w->grace_over) {
        return;
    }
    w->grace_over = 1;
    tgw_log(TGW_LOG_WARN, "shutdown_grace_over", NULL);
    tgw_webhook_stop_all(w);
    for (t = w->tasks; t; t = next) {
        next = t->next;
        t->drop = 1;
        if (t->state == TGW_TASK_RUNNING) {
            tgw_run_abort(&t->run);     /* its done callback frees it */
        } else if (!t->busy) {
            tgw_task_free(t);
        }
    }
    tgw_worker_maybe_close(w);
}


void
tgw_worker_stop(tgw_worker_t *w)
{
    char grace[32];

    if (w->stopping) {
        /* a second signal: do not wait any longer */
        tgw_worker_grace_over(&w->grace);
        return;
    }
    w->stopping = 1;
    w->next_hb = 0;                     /* say "stopping" at the next tick */
    tgw_log(TGW_LOG_INFO, "shutdown", "grace",
            tgw_duration_format(w->conf->shutdown_grace_ms, grace,
                                sizeof(grace)), NULL);
    /* The blocking read is of no use any more; what it might deliver
     * stays pending for another worker. */
    tgw_rconn_close(&w->rd, 0);
    uv_timer_start(&w->grace, tgw_worker_grace_over,
                   w->conf->shutdown_grace_ms, 0);
    tgw_worker_pump(w);                 /* drops NEW and BLOCKED tasks */
    tgw_webhook_stop_waiting(w);
    tgw_worker_maybe_close(w);
}


void
tgw_worker_hook_ended(tgw_worker_t *w)
{
    tgw_worker_maybe_close(w);
}


static void
tgw_worker_handle_closed(uv_handle_t *h)
{
    /* nothing: the handles are members of the worker */
}


static void
tgw_worker_bye(tgw_rconn_t *rc, redisReply *r, void *data)
{
    /* the heartbeat key is gone; the graceful close follows */
}


/* Once stopping and holding no task: close everything, uv_run returns. */
static void
tgw_worker_maybe_close(tgw_worker_t *w)
{
    tgw_args_t a;
    char       key[512], n1[24], n2[24], n3[24];

    if (!w->stopping || w->closing || w->ntasks > 0) {
        return;
    }
    if (!w->grace_over && tgw_webhook_busy(w)) {
        return;                     /* a webhook POST gets the grace too */
    }
    w->closing = 1;
    tgw_webhook_stop_all(w);
    tgw_log(TGW_LOG_INFO, "exit",
            "succeeded", tgw_u64(n1, sizeof(n1), w->n.succeeded),
            "dead", tgw_u64(n2, sizeof(n2), w->n.dead),
            "retried", tgw_u64(n3, sizeof(n3), w->n.retried), NULL);

    tgw_args_init(&a);
    tgw_args_add(&a, "DEL");
    tgw_args_addf(&a, key, sizeof(key), TGW_KEY_WORKER, w->conf->prefix,
                  w->conf->name);
    tgw_rconn_cmd(&w->cmd, tgw_worker_bye, NULL, &a);
    tgw_rconn_close(&w->cmd, 1);
    tgw_rconn_close(&w->rd, 0);

    uv_timer_stop(&w->tick);
    uv_timer_stop(&w->grace);
    uv_close((uv_handle_t *) &w->tick, tgw_worker_handle_closed);
    uv_close((uv_handle_t *) &w->grace, tgw_worker_handle_closed);
    uv_close((uv_handle_t *) &w->sigterm, tgw_worker_handle_closed);
    uv_close((uv_handle_t *) &w->sigint, tgw_worker_handle_closed);
    uv_close((uv_handle_t *) &w->sighup, tgw_worker_handle_closed);
}


static void
tgw_worker_signal(uv_signal_t *h, int signum)
{
    tgw_worker_t *w = h->data;

    if (signum == SIGHUP) {
        if (!w->stopping) {
            tgw_worker_reload(w);
        }
        return;
    }
    tgw_worker_stop(w);
}

/* ------------------------------------------------------------------------
 * Setup
 * ------------------------------------------------------------------------ */

int
tgw_worker_init(tgw_worker_t *w, uv_loop_t *loop, tgw_conf_t *conf)
{
    char name[32];

    memset(w, 0, sizeof(*w));
    w->loop = loop;
    w->conf = tgw_conf_ref(conf);
    w->started_at = tgw_now_ms();
    if (gethostname(w->host, sizeof(w->host)) != 0) {
        w->host[0] = '\0';
    }
    w->host[sizeof(w->host) - 1] = '\0';
    if (tgw_worker_queues_resize(w, conf->nqueues) != 0
        || tgw_worker_crons_init(w, conf) != 0)
    {
        free(w->wrr);
        free(w->empty);
        tgw_conf_unref(w->conf);
        return -1;
    }

    uv_timer_init(loop, &w->tick);
    uv_timer_init(loop, &w->grace);
    w->tick.data = w->grace.data = w;
    uv_signal_init(loop, &w->sigterm);
    uv_signal_init(loop, &w->sigint);
    uv_signal_init(loop, &w->sighup);
    w->sigterm.data = w->sigint.data = w->sighup.data = w;
    uv_signal_start(&w->sigterm, tgw_worker_signal, SIGTERM);
    uv_signal_start(&w->sigint, tgw_worker_signal, SIGINT);
    uv_signal_start(&w->sighup, tgw_worker_signal, SIGHUP);

    tgw_log(TGW_LOG_INFO, "start", "name", conf->name, "prefix", conf->prefix,
            "group", conf->group, "concurrency",
            tgw_u64(name, sizeof(name), (uint64_t) conf->concurrency),
            NULL);

    tgw_rconn_init(&w->cmd, loop, "cmd", conf);
    w->cmd.data = w;
    w->cmd.on_ready = tgw_worker_cmd_ready;
    w->cmd.on_down = tgw_worker_cmd_down;
    tgw_rconn_init(&w->rd, loop, "read", conf);
    w->rd.data = w;
    w->rd.on_ready = tgw_worker_rd_ready;
    w->rd.on_down = tgw_worker_rd_down;

    uv_timer_start(&w->tick, tgw_worker_tick, TGW_TICK_MS, TGW_TICK_MS);
    return 0;
}


void
tgw_worker_free(tgw_worker_t *w)
{
    free(w->wrr);
    free(w->empty);
    free(w->crons);
    w->wrr = NULL;
    w->empty = NULL;
    w->crons = NULL;
    tgw_conf_unref(w->conf);
    w->conf = NULL;
}
