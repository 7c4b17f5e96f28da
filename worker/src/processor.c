/*
 * The held tasks and their slots (see processor.h).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "processor.h"
#include "rconn.h"
#include "tgw_keys.h"
#include "tgw_lua.h"

static void tgw_processor_loaded(tgw_task_t *t);
static void tgw_processor_recorded(tgw_task_t *t);
static void tgw_processor_released(tgw_task_t *t);
static void tgw_processor_refused(tgw_task_t *t, const char *was);
static void tgw_processor_stream_bad(tgw_task_t *t);
static void tgw_processor_ran(tgw_task_t *t);

static const tgw_task_events_t tgw_processor_events = {
    tgw_processor_loaded,
    tgw_processor_recorded,
    tgw_processor_released,
    tgw_processor_refused,
    tgw_processor_stream_bad,
    tgw_processor_ran
};


static void
tgw_processor_on_later(uv_check_t *h)
{
    tgw_processor_t *p = h->data;

    uv_check_stop(h);
    uv_idle_stop(&p->later_idle);
    tgw_processor_pump(p);
}


/* Asked for outside the loop's reading (a run that ended in a timer or a
 * close callback): pump before the loop waits, not after its next wake. */
static void
tgw_processor_on_later_idle(uv_idle_t *h)
{
    tgw_processor_t *p = h->data;

    uv_idle_stop(h);
    uv_check_stop(&p->later);
    tgw_processor_pump(p);
}


/*
 * Pumps once this loop iteration's callbacks are done: a batch of replies
 * read together (tasks loaded, tasks released) is admitted in one pass
 * over the tasks instead of one pass per reply.  Requests it sends go out
 * with the next iteration's flush (rev.c), before the loop waits.
 */
static void
tgw_processor_pump_later(tgw_processor_t *p)
{
    uv_check_start(&p->later, tgw_processor_on_later);
    uv_idle_start(&p->later_idle, tgw_processor_on_later_idle);
}


int
tgw_processor_init(tgw_processor_t *p, uv_loop_t *loop, tgw_rconn_t *rc,
    tgw_conf_t *conf)
{
    memset(p, 0, sizeof(*p));
    p->hash = calloc(TGW_PROC_BUCKETS, sizeof(tgw_task_t *));
    if (p->hash == NULL) {
        return -1;
    }
    p->loop = loop;
    p->rc = rc;
    p->conf = tgw_conf_ref(conf);
    uv_check_init(loop, &p->later);
    p->later.data = p;
    uv_idle_init(loop, &p->later_idle);
    p->later_idle.data = p;
    tgw_recbatch_init(&p->batch, loop, rc, tgw_lua_record_many);
    tgw_recbatch_init(&p->takes, loop, rc, tgw_lua_take_many);
    return 0;
}


void
tgw_processor_set_conf(tgw_processor_t *p, tgw_conf_t *conf)
{
    tgw_conf_t *old = p->conf;

    p->conf = tgw_conf_ref(conf);
    tgw_conf_unref(old);
}


void
tgw_processor_free(tgw_processor_t *p)
{
    tgw_task_t *t, *next;

    tgw_recbatch_close(&p->batch);  /* before the tasks they name go */
    tgw_recbatch_close(&p->takes);
    for (t = p->tasks; t; t = next) {
        next = t->next;
        tgw_task_destroy(t);
    }
    p->tasks = p->tail = NULL;
    p->ntasks = 0;
    while (p->nrefused > 0) {
        free(p->refused[--p->nrefused]);
    }
    free(p->hash);
    p->hash = NULL;
    tgw_conf_unref(p->conf);
    p->conf = NULL;
    if (!uv_is_closing((uv_handle_t *) &p->later)) {
        uv_close((uv_handle_t *) &p->later, NULL);
    }
    if (!uv_is_closing((uv_handle_t *) &p->later_idle)) {
        uv_close((uv_handle_t *) &p->later_idle, NULL);
    }
}


/* FNV-1a over the stream key and the entry id. */
static unsigned
tgw_processor_key(const char *stream, const char *entry)
{
    unsigned h = 2166136261u;

    for ( ; *stream; stream++) {
        h = (h ^ (unsigned char) *stream) * 16777619u;
    }
    h = (h ^ ' ') * 16777619u;
    for ( ; *entry; entry++) {
        h = (h ^ (unsigned char) *entry) * 16777619u;
    }
    return h;
}


/* The task held for that entry of that stream (key: their hash), or NULL. */
static tgw_task_t *
tgw_processor_find(tgw_processor_t *p, const char *stream, const char *entry,
    unsigned key)
{
    tgw_task_t *t;

    for (t = p->hash[key & (TGW_PROC_BUCKETS - 1)]; t; t = t->hnext) {
        if (t->hkey == key && strcmp(t->entry, entry) == 0
            && strcmp(t->stream, stream) == 0)
        {
            return t;
        }
    }
    return NULL;
}

static void
tgw_processor_unlink(tgw_processor_t *p, tgw_task_t *t)
{
    tgw_task_t **h;

    for (h = &p->hash[t->hkey & (TGW_PROC_BUCKETS - 1)]; *h; h = &(*h)->hnext)
    {
        if (*h == t) {
            *h = t->hnext;
            break;
        }
    }
    if (t->prev) {
        t->prev->next = t->next;
    } else {
        p->tasks = t->next;
    }
    if (t->next) {
        t->next->prev = t->prev;
    } else {
        p->tail = t->prev;
    }
    p->ntasks--;
}


int
tgw_processor_take(void *data, const char *stream, const char *entry,
    const char *id, size_t id_len)
{
    tgw_processor_t *p = data;
    tgw_task_t      *t;
    unsigned         key = tgw_processor_key(stream, entry);
    size_t           b = key & (TGW_PROC_BUCKETS - 1);

    if (tgw_processor_find(p, stream, entry, key) != NULL) {
        return 0;                   /* already held (reclaimed twice) */
    }
    t = tgw_task_create(p->conf, p->loop, p->rc, stream, entry, id, id_len,
                        &tgw_processor_events, p);
    if (t == NULL) {
        return 0;                   /* stays pending: reclaimed later */
    }
    t->batch = &p->batch;
    t->takes = &p->takes;
    t->hkey = key;
    t->hnext = p->hash[b];
    p->hash[b] = t;
    /* Appended: the list is in fetch order, which pump() keeps. */
    t->prev = p->tail;
    if (p->tail) {
        p->tail->next = t;
    } else {
        p->tasks = t;
    }
    p->tail = t;
    p->ntasks++;
    return 1;
}


void
tgw_processor_lost(void *data, const char *stream, const char *entry)
{
    tgw_processor_t *p = data;
    tgw_task_t      *t;

    t = tgw_processor_find(p, stream, entry, tgw_processor_key(stream, entry));
    if (t != NULL) {
        tgw_task_elsewhere(t);
    }
}


int
tgw_processor_answered(void *data, const char *stream, const char *entry,
    const char *id, size_t id_len, redisReply *answer, uint64_t now_ms)
{
    tgw_processor_t *p = data;

    if (!tgw_processor_take(p, stream, entry, id, id_len)) {
        /* Held already (a recovery read; a read of new entries cannot
         * find one held); no memory: the entry stays pending, its start
         * recorded, and is reclaimed later as after a lost take
         * reply. */
        return 0;
    }
    if (answer != NULL) {
        tgw_task_answer(p->tail, answer, now_ms);
    } else {
        /* taken again after a lost read_take reply: its start may have
         * been made at now_ms (0: nothing was taken) */
        p->tail->again_ms = now_ms;
    }
    return 1;
}


/* Tasks of a type that hold a slot to run (for its cap). */
static int
tgw_processor_type_running(tgw_processor_t *p, const char *type)
{
    tgw_task_t *t;
    int         n = 0;

    for (t = p->tasks; t; t = t->next) {
        if ((t->state == TGW_TASK_STARTING || t->state == TGW_TASK_RUNNING)
            && t->type && type && strcmp(t->type, type) == 0)
        {
            n++;
        }
    }
    return n;
}


/* A loaded task whose type is at its cap: it waits without a slot. */
static int
tgw_processor_capped(tgw_processor_t *p, const tgw_task_t *t)
{
    int cap = t->handler ? t->handler->concurrency : 0;

    return t->state == TGW_TASK_BLOCKED && cap > 0
           && tgw_processor_type_running(p, t->type) >= cap;
}


int
tgw_processor_active(tgw_processor_t *p)
{
    tgw_task_t *t;
    int         n = 0;

    for (t = p->tasks; t; t = t->next) {
        n += tgw_task_holds_slot(t);
    }
    return n;
}


int
tgw_processor_parked(tgw_processor_t *p)
{
    tgw_task_t *t;
    int         n = 0;

    for (t = p->tasks; t; t = t->next) {
        n += t->parked;
    }
    return n;
}


int
tgw_processor_unslotted(tgw_processor_t *p)
{
    tgw_task_t *t;
    int         n = 0;

    for (t = p->tasks; t; t = t->next) {
        n += t->unslotted;
    }
    return n;
}


int
tgw_processor_room(tgw_processor_t *p)
{
    tgw_task_t *t;
    int         held = 0;

    if (p->stopping) {
        return 0;
    }
    for (t = p->tasks; t; t = t->next) {
        held += !t->parked && !t->unslotted && !tgw_processor_capped(p, t);
    }
    return p->conf->concurrency - held;
}


/*
 * Admission, in the order tasks were read: a loaded task starts when a
 * slot is free and its type is under its cap; one that waits for its cap
 * counts towards the waiting room (concurrency tasks), and past that is
 * postponed.  Then NEW tasks get slots to load.  While stopping, nothing
 * starts: unstarted tasks are handed back instead.
 */
void
tgw_processor_pump(tgw_processor_t *p)
{
    tgw_task_t *t, *next;
    int         active, waiting = 0;

    if (p->abandoning) {
        return;
    }
    active = tgw_processor_active(p);
    for (t = p->tasks; t; t = next) {
        next = t->next;
        if (t->state != TGW_TASK_BLOCKED) {
            continue;
        }
        if (p->stopping) {
            p->n.handed_back++;
            tgw_task_record(t, TGW_REC_HANDBACK);
            active++;
            continue;
        }
        if (tgw_processor_capped(p, t)) {
            if (++waiting > p->conf->concurrency) {
                p->n.postponed++;
                t->due_ms = tgw_now_ms() + TGW_CAP_POSTPONE_MS;
                tgw_task_record(t, TGW_REC_POSTPONE);
                active++;
            }
            continue;
        }
        if (active >= p->conf->concurrency) {
            continue;
        }
        tgw_task_start(t);
        active++;
    }
    for (t = p->tasks; t; t = next) {
        next = t->next;
        if (t->state != TGW_TASK_NEW) {
            continue;
        }
        if (p->stopping) {
            p->n.handed_back += t->id != NULL;
            tgw_task_record(t, t->id ? TGW_REC_HANDBACK : TGW_REC_ACK);
            continue;
        }
        if (active >= p->conf->concurrency) {
            break;
        }
        tgw_task_load(t);
        active++;
    }
    if (p->on_room && tgw_processor_room(p) > 0) {
        p->on_room(p->data);
    }
}


void
tgw_processor_retry(tgw_processor_t *p)
{
    tgw_task_t *t, *next;

    for (t = p->tasks; t; t = next) {
        next = t->next;
        tgw_task_retry(t);
    }
}


/*
 * A stopping worker does not wait for a key an operator has to fix: the
 * records waiting on one are forgotten, their entries left pending under
 * this worker's name; after claim_idle another worker reclaims them and
 * takes each task again (one whose attempts are used up is written dead
 * without a run).
 */
void
tgw_processor_stop(tgw_processor_t *p)
{
    tgw_task_t *t, *next;
    char        n[24];
    int         left = 0;

    p->stopping = 1;
    for (t = p->tasks; t; t = next) {
        next = t->next;
        if (t->wait_key == NULL) {
            continue;
        }
        left++;
        if (tgw_task_abandon(t)) {
            tgw_processor_unlink(p, t);
            tgw_task_destroy(t);
        }
    }
    if (left > 0) {
        snprintf(n, sizeof(n), "%d", left);
        tgw_log(TGW_LOG_WARN, "records_left_pending", "count", n, "error",
                "records waiting on a key of another type: their entries "
                "stay pending for another worker", NULL);
    }
    tgw_processor_pump(p);
}


void
tgw_processor_abandon(tgw_processor_t *p)
{
    tgw_task_t *t, *next;

    p->abandoning = 1;
    for (t = p->tasks; t; t = next) {
        next = t->next;
        if (tgw_task_abandon(t)) {
            tgw_processor_unlink(p, t);
            tgw_task_destroy(t);
        }
    }
    if (p->ntasks == 0 && p->on_idle) {
        p->on_idle(p->data);
    }
}

/* ------------------------------------------------------------------------
 * Keys records wait on
 * ------------------------------------------------------------------------ */

/* 1 when key was said already (a key records wait on: refused, not
 * written since; a queue stream of another type: for the worker's
 * life); the first time, notes it and says 0. */
static int
tgw_processor_key_said(tgw_processor_t *p, const char *key)
{
    size_t i;

    for (i = 0; i < p->nrefused; i++) {
        if (strcmp(p->refused[i], key) == 0) {
            return 1;
        }
    }
    if (p->nrefused < TGW_PROC_KEYS
        && (p->refused[p->nrefused] = strdup(key)) != NULL)
    {
        p->nrefused++;
    }
    return 0;
}


/* A record that waited on key was written: said once, for the first. */
static void
tgw_processor_key_fixed(tgw_processor_t *p, const char *key)
{
    size_t i;

    for (i = 0; i < p->nrefused; i++) {
        if (strcmp(p->refused[i], key) == 0) {
            tgw_log(TGW_LOG_INFO, "record_key_recovered", "key", key,
                    "step", "record", NULL);
            free(p->refused[i]);
            p->refused[i] = p->refused[--p->nrefused];
            return;
        }
    }
}

/* ------------------------------------------------------------------------
 * What tasks report
 * ------------------------------------------------------------------------ */

static void
tgw_processor_loaded(tgw_task_t *t)
{
    tgw_processor_pump_later(t->owner);
}


static void
tgw_processor_recorded(tgw_task_t *t)
{
    tgw_processor_t *p = t->owner;
    const char      *status, *url;

    if (t->missing) {
        p->n.missing++;
    }
    if (t->rec == TGW_REC_OUTCOME) {
        if (t->outcome.next == TGW_NEXT_SUCCEEDED) {
            p->n.succeeded++;
        } else if (t->outcome.next == TGW_NEXT_RETRYING) {
            p->n.retried++;
        } else {
            p->n.dead++;
        }
    } else if (t->rec == TGW_REC_CANCELLED) {
        p->n.cancelled++;
    }
    if (t->wait_key != NULL) {
        tgw_processor_key_fixed(p, t->wait_key);
    }
    /* A final status with a callback: the webhook goes out now, on its
     * own, without the task's slot. */
    status = tgw_task_final_status(t);
    url = tgw_task_hook_url(t);
    if (status && url && p->on_final) {
        p->on_final(p->data, t, status);
    }
}


/* A task leaves the worker: free its slot, look for more work. */
static void
tgw_processor_released(tgw_task_t *t)
{
    tgw_processor_t *p = t->owner;

    tgw_processor_unlink(p, t);
    tgw_task_destroy(t);
    tgw_processor_pump_later(p);
    if (p->ntasks == 0 && p->on_idle) {
        p->on_idle(p->data);
    }
}


/* The task's record was refused on a key of another type: said once per
 * key; parked (its slot freed) while fewer than concurrency are.  was: a
 * key it was refused on before and is written past now, said recovered
 * as when the record is written. */
static void
tgw_processor_refused(tgw_task_t *t, const char *was)
{
    tgw_processor_t *p = t->owner;
    const char      *key = t->wait_key ? t->wait_key : "(unknown)";

    if (was != NULL) {
        tgw_processor_key_fixed(p, was);
    }
    if (!tgw_processor_key_said(p, key)) {
        tgw_log(TGW_LOG_ERROR, "record_key_refused", "key", key,
                "step", "record", "task_id", t->id, "error",
                "the key holds another type: records that write it wait, "
                "their entries pending, until it is fixed", NULL);
    }
    if (p->stopping) {
        /* as at the stop (tgw_processor_stop): not waited for */
        tgw_log(TGW_LOG_WARN, "records_left_pending", "count", "1", "error",
                "a record waiting on a key of another type: its entry "
                "stays pending for another worker", NULL);
        tgw_processor_released(t);
        return;
    }
    /* a record that left its slot when its run ended is parked like any
     * other, or takes a slot back (it waits, not in flight) */
    t->unslotted = 0;
    if (!t->parked && tgw_processor_parked(p) < p->conf->concurrency) {
        t->parked = 1;
        tgw_processor_pump_later(p);
    }
}


/* A run ended and its record is out: the task leaves its slot while
 * fewer than concurrency records are out without one (past that it keeps
 * it, which bounds what waits in memory), so the next read goes out now,
 * not once the record is answered. */
static void
tgw_processor_ran(tgw_task_t *t)
{
    tgw_processor_t *p = t->owner;

    if (t->state != TGW_TASK_RECORDING || t->parked || t->unslotted
        || t->wait_key != NULL)
    {
        return;
    }
    if (tgw_processor_unslotted(p) < p->conf->concurrency) {
        t->unslotted = 1;
        tgw_processor_pump_later(p);
    }
}


/* A task was recorded on a queue stream key of another type: said once
 * in the worker's life, however many tasks of it end (the key stays in
 * the table: no record waits on it, so none says it fixed). */
static void
tgw_processor_stream_bad(tgw_task_t *t)
{
    tgw_processor_t *p = t->owner;

    if (!tgw_processor_key_said(p, t->stream)) {
        tgw_log(TGW_LOG_ERROR, "queue_stream_bad", "stream", t->stream,
                "error", "the queue stream key holds another type: "
                "outcomes are written, their entries went with the stream",
                NULL);
    }
}
