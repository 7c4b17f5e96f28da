/*
 * Fetching (see fetch.h): group creation, the weighted pick, the reads,
 * recovery of own pending entries, and the back-off of a failing stream.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "log.h"
#include "retry.h"
#include "tgw_keys.h"

static void tgw_fetch_create_groups(tgw_fetch_t *f);
static void tgw_fetch_recover(tgw_fetch_t *f);
static void tgw_fetch_read_forget(tgw_fetch_t *f);


/* Builds the stream list and round-robin arrays for conf. */
static int
tgw_fetch_build(tgw_fetch_t *f, tgw_conf_t *c)
{
    tgw_fetch_stream_t *s;
    size_t              n = c->nqueues * TGW_NPRIORITIES, i;
    int                *wrr;
    char               *empty;

    s = calloc(n, sizeof(*s));
    wrr = calloc(c->nqueues, sizeof(int));
    empty = calloc(c->nqueues, 1);
    for (i = 0; s && i < n; i++) {
        s[i].key = tgw_store_stream(c, c->queues[i / TGW_NPRIORITIES].name,
                                    (int) (i % TGW_NPRIORITIES));
        if (s[i].key == NULL) {
            break;
        }
    }
    if (s == NULL || wrr == NULL || empty == NULL || i < n) {
        while (s && i > 0) {
            free(s[--i].key);
        }
        free(s);
        free(wrr);
        free(empty);
        return -1;
    }
    for (i = 0; i < f->nstreams; i++) {
        free(f->streams[i].key);
    }
    free(f->streams);
    free(f->wrr);
    free(f->empty);
    f->streams = s;
    f->nstreams = n;
    f->wrr = wrr;
    f->empty = empty;
    f->fq = -1;
    return 0;
}


int
tgw_fetch_init(tgw_fetch_t *f, uv_loop_t *loop, tgw_rconn_t *rd,
    tgw_rconn_t *cmd, tgw_conf_t *conf)
{
    memset(f, 0, sizeof(*f));
    f->loop = loop;
    f->rd = rd;
    f->cmd = cmd;
    f->fq = -1;
    if (tgw_fetch_build(f, conf) != 0) {
        return -1;
    }
    f->conf = tgw_conf_ref(conf);
    return 0;
}


int
tgw_fetch_set_conf(tgw_fetch_t *f, tgw_conf_t *conf)
{
    tgw_conf_t *old = f->conf;

    if (tgw_fetch_build(f, conf) != 0) {
        return -1;
    }
    f->conf = tgw_conf_ref(conf);
    tgw_conf_unref(old);
    f->recover_stream = (size_t) -1;
    tgw_fetch_create_groups(f);
    return 0;
}


void
tgw_fetch_free(tgw_fetch_t *f)
{
    size_t i;

    for (i = 0; i < f->nstreams; i++) {
        free(f->streams[i].key);
    }
    free(f->streams);
    free(f->wrr);
    free(f->empty);
    f->streams = NULL;
    tgw_fetch_read_forget(f);
    f->wrr = NULL;
    f->empty = NULL;
    f->nstreams = 0;
    tgw_conf_unref(f->conf);
    f->conf = NULL;
}


int
tgw_fetch_busy(const tgw_fetch_t *f)
{
    return f->fetching || f->recover_busy;
}

/* ------------------------------------------------------------------------
 * A stream that errors
 * ------------------------------------------------------------------------ */

/* 1 when stream s may be read now. */
static int
tgw_fetch_healthy(tgw_fetch_t *f, size_t s)
{
    return f->streams[s].retry_at == 0
           || uv_now(f->loop) >= f->streams[s].retry_at;
}


/* Stream s answered with an error: said once, then left alone a while
 * that grows with each failure in a row (the worker's one backoff rule,
 * tgw_backoff_ms: from 1 s up to TGW_STREAM_BACKOFF_MAX_MS, jittered). */
static void
tgw_fetch_stream_failed(tgw_fetch_t *f, size_t s, const char *error)
{
    tgw_fetch_stream_t *st = &f->streams[s];
    uint64_t            delay;

    delay = tgw_backoff_ms((int) (st->fails < 30 ? st->fails + 1 : 30),
                           TGW_STREAM_BACKOFF_MIN_MS,
                           TGW_STREAM_BACKOFF_MAX_MS, tgw_random64());
    if (st->fails++ == 0) {
        tgw_log(TGW_LOG_ERROR, "stream_error", "stream", st->key,
                "error", error, "action", "left alone, tried again later",
                NULL);
    }
    st->retry_at = uv_now(f->loop) + delay;
}


static void
tgw_fetch_stream_ok(tgw_fetch_t *f, size_t s)
{
    if (f->streams[s].fails > 0) {
        tgw_log(TGW_LOG_INFO, "stream_recovered", "stream",
                f->streams[s].key, NULL);
    }
    f->streams[s].fails = 0;
    f->streams[s].retry_at = 0;
}

static size_t
tgw_fetch_find(tgw_fetch_t *f, const char *key)
{
    size_t i;

    for (i = 0; i < f->nstreams; i++) {
        if (strcmp(f->streams[i].key, key) == 0) {
            return i;
        }
    }
    return (size_t) -1;
}


int
tgw_fetch_stream_usable(void *data, const char *key)
{
    tgw_fetch_t *f = data;
    size_t       s = tgw_fetch_find(f, key);

    return s == (size_t) -1 || tgw_fetch_healthy(f, s);
}


void
tgw_fetch_stream_error(void *data, const char *key, const char *error)
{
    tgw_fetch_t *f = data;
    size_t       s = tgw_fetch_find(f, key);

    if (s != (size_t) -1) {
        tgw_fetch_stream_failed(f, s, error);
    }
}

/* ------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------ */

/* Smooth weighted round-robin (as nginx balances upstreams) over the
 * queues not known to be empty; -1 when all are. */
static int
tgw_fetch_pick(tgw_fetch_t *f)
{
    size_t i;
    int    best = -1, total = 0;

    for (i = 0; i < f->conf->nqueues; i++) {
        if (f->empty[i]) {
            continue;
        }
        f->wrr[i] += f->conf->queues[i].weight;
        total += f->conf->queues[i].weight;
        if (best < 0 || f->wrr[i] > f->wrr[best]) {
            best = (int) i;
        }
    }
    if (best >= 0) {
        f->wrr[best] -= total;
    }
    return best;
}


/*
 * How many entries pick q reads: its weight times the free slots shared
 * out over the weights of the queues not known to be empty, so that one
 * read fills the free slots (one queue, or a single busy one, takes them
 * all) while busy queues keep their shares by weight.  At least one,
 * never more than the room.
 */
static int
tgw_fetch_batch(tgw_fetch_t *f, int q, int room)
{
    size_t  i;
    int     total = 0, k, n;

    for (i = 0; i < f->conf->nqueues; i++) {
        if (!f->empty[i]) {
            total += f->conf->queues[i].weight;
        }
    }
    k = total > 0 ? room / total : room;
    n = f->conf->queues[q].weight * (k > 1 ? k : 1);
    return n < room ? n : room;
}


/* The pick read its stream fp: on to the next priority, or done. */
static void
tgw_fetch_pick_next(tgw_fetch_t *f)
{
    if (f->fwant <= 0) {
        f->fq = -1;                 /* the pick is served */
    } else if (++f->fp == TGW_NPRIORITIES) {
        if (f->fgot == 0) {
            f->empty[f->fq] = 1;
        }
        f->fq = -1;
    }
}


/* Elements per entry of a read_take.lua reply: the entry id, the task
 * id, the take's code (or error) and attempts, its values
 * (TGW_TAKE_VALUES; tgw_keys.h, which the script gets it from). */
#define TGW_FETCH_ANSWER_ELEMENTS  TGW_READ_TAKE_WIDTH

_Static_assert(TGW_READ_TAKE_WIDTH == 4 + TGW_TAKE_VALUES,
               "read_take.lua's entry: ids, code, attempts, values");


/* The entries of a read_take reply from element from on, those of one
 * stream (at most entries), handed to answered, each take's flat answer
 * seen as take_many.lua's {code, attempts, {values}} (an array made here
 * over the reply's own elements); the number of tasks made. */
static int
tgw_fetch_answers(tgw_fetch_t *f, redisReply *r, size_t from,
    size_t entries, const char *stream, uint64_t now_ms)
{
    redisReply  *e, *id, *code, **el, values, answer, *parts[3];
    size_t       i;
    int          n = 0;

    if (r->type != REDIS_REPLY_ARRAY || stream == NULL) {
        return 0;
    }
    for (i = from; entries > 0 && i + TGW_FETCH_ANSWER_ELEMENTS <= r->elements;
         i += TGW_FETCH_ANSWER_ELEMENTS, entries--)
    {
        el = &r->element[i];
        e = el[0];
        id = el[1];
        code = el[2];
        if (e->type != REDIS_REPLY_STRING) {
            continue;
        }
        memset(&values, 0, sizeof(values));
        values.type = REDIS_REPLY_ARRAY;
        values.elements = TGW_FETCH_ANSWER_ELEMENTS - 4;
        values.element = &el[4];
        parts[0] = code;
        parts[1] = el[3];
        parts[2] = &values;
        memset(&answer, 0, sizeof(answer));
        answer.type = REDIS_REPLY_ARRAY;
        answer.elements = 3;
        answer.element = parts;
        n += f->answered(f->data, stream, e->str,
                         id->type == REDIS_REPLY_STRING ? id->str : NULL,
                         id->type == REDIS_REPLY_STRING ? id->len : 0,
                         code->type == REDIS_REPLY_NIL
                         ? NULL
                         : code->type == REDIS_REPLY_ERROR ? code : &answer,
                         code->type == REDIS_REPLY_NIL ? 0 : now_ms);
    }
    return n;
}


/* The streams of the read that took its tasks are no longer needed. */
static void
tgw_fetch_read_forget(tgw_fetch_t *f)
{
    while (f->read_nkeys > 0) {
        free(f->read_keys[--f->read_nkeys]);
        f->read_keys[f->read_nkeys] = NULL;
    }
}


/*
 * A read that took its tasks answered: per stream read, the entries it
 * gave or its error, then the entries.  The pick goes on: with the
 * stream that gave the last entries when the read got all it asked and
 * the pick wants more (a read is at most half the slots), after a
 * stream that failed with the next one, else it is served.  Then the
 * entries are handed over.
 */
static void
tgw_fetch_read_taken(tgw_fetch_t *f, redisReply *r)
{
    char       *keys[TGW_NPRIORITIES];
    int         prio[TGW_NPRIORITIES], last = -1, bad = -1, nogroup = 0;
    size_t      nk = f->read_nkeys, i, off, total = 0, got;
    uint64_t    now = f->read_now;
    redisReply *e;
    int         n = 0;

    /* ours now: the next read sets its own */
    memcpy(keys, f->read_keys, sizeof(keys));
    memcpy(prio, f->read_prio, sizeof(prio));
    memset(f->read_keys, 0, sizeof(f->read_keys));
    f->read_nkeys = 0;

    if (r->type != REDIS_REPLY_ARRAY || r->elements < nk) {
        nk = 0;                     /* not an answer: nothing read */
    }
    for (i = 0; i < nk; i++) {
        e = r->element[i];
        if (e->type == REDIS_REPLY_ERROR) {
            bad = (int) i;
            nogroup = strncmp(e->str, "NOGROUP", 7) == 0;
            if (nogroup) {
                tgw_log(TGW_LOG_WARN, "fetch_error", "error", e->str, NULL);
            } else if (f->fq >= 0) {
                /* a key of another type: left alone for a while */
                tgw_fetch_stream_failed(f, (size_t) f->fq * TGW_NPRIORITIES
                                           + (size_t) prio[i], e->str);
            }
            break;
        }
        if (e->type != REDIS_REPLY_INTEGER || e->integer < 0) {
            continue;
        }
        if (f->fq >= 0) {
            tgw_fetch_stream_ok(f, (size_t) f->fq * TGW_NPRIORITIES
                                   + (size_t) prio[i]);
        }
        if (e->integer > 0) {
            last = prio[i];
            total += (size_t) e->integer;
        }
    }

    if (f->fq >= 0) {
        f->fgot += (int) total;
        f->fwant -= (int) total;
        if (bad >= 0) {
            f->fp = prio[bad];
            if (!nogroup) {
                /* on with the next priority (the one that failed is left
                 * alone a while) */
                f->fwant = f->fwant > 0 ? f->fwant : 1;
                tgw_fetch_pick_next(f);
            }
            /* NOGROUP: that stream again once the groups exist */
        } else if (f->fwant > 0 && last >= 0
                   && total >= (size_t) f->read_count)
        {
            f->fp = last;           /* got all it asked: that stream again */
        } else {
            /* every stream read gave fewer than asked: the pick is
             * served (or found its queue empty) */
            f->fp = TGW_NPRIORITIES - 1;
            tgw_fetch_pick_next(f);
        }
    }

    for (i = 0, off = nk; i < nk && (int) i != bad; i++) {
        e = r->element[i];
        if (e->type != REDIS_REPLY_INTEGER || e->integer <= 0) {
            continue;
        }
        got = (size_t) e->integer;
        n += tgw_fetch_answers(f, r, off, got, keys[i], now);
        off += got * TGW_FETCH_ANSWER_ELEMENTS;
    }
    for (i = 0; i < TGW_NPRIORITIES; i++) {
        free(keys[i]);
    }
    if (nogroup) {
        tgw_fetch_create_groups(f);
    }
    if (n > 0 && f->taken) {
        f->taken(f->data);
    }
    tgw_fetch_more(f);
}


static void
tgw_fetch_read_done(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_fetch_t *f = rc->data;
    int          blocking = f->blocking, n;
    size_t       s;

    f->fetching = 0;
    f->blocking = 0;
    if (r == NULL) {
        /* Connection lost: fetch on ready.  A read that took its tasks
         * may have started them: the recovery pass takes them again as
         * those same starts (lost_now). */
        if (!blocking && f->answered != NULL) {
            f->lost_now = f->read_now;
        }
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "NOGROUP", 7) == 0) {
            tgw_log(TGW_LOG_WARN, "fetch_error", "error", r->str, NULL);
            tgw_fetch_create_groups(f);
        } else if (!blocking && f->fq >= 0) {
            /* This stream cannot be read (a key of another type): left
             * alone for a while; the pick goes on with its next
             * priority. */
            tgw_fetch_stream_failed(f, (size_t) f->fq * TGW_NPRIORITIES
                                       + (size_t) f->fp, r->str);
            f->fwant = f->fwant > 0 ? f->fwant : 1;
            tgw_fetch_pick_next(f);
        } else if (uv_now(f->loop) - f->block_logged >= 60000
                   || f->block_logged == 0)
        {
            /* the streams' own reads find which one it was */
            f->block_logged = uv_now(f->loop);
            tgw_log(TGW_LOG_WARN, "fetch_error", "error", r->str, NULL);
        }
        if (blocking) {
            memset(f->empty, 0, f->conf->nqueues);
        }
        return;                     /* the tick fetches again */
    }

    if (!blocking && f->answered != NULL) {
        tgw_fetch_read_taken(f, r);
        return;
    }

    n = tgw_store_read_entries(r, f->take, f->data);

    if (blocking) {
        if (n > 0) {
            memset(f->empty, 0, f->conf->nqueues);
        }
    } else if (f->fq >= 0) {
        s = (size_t) f->fq * TGW_NPRIORITIES + (size_t) f->fp;
        tgw_fetch_stream_ok(f, s);
        f->fgot += n;
        f->fwant -= n;
        tgw_fetch_pick_next(f);
    }
    if (n > 0 && f->taken) {
        f->taken(f->data);
    }
    tgw_fetch_more(f);
}


/*
 * The pick's read that takes its tasks: its streams from the one it is
 * at on (high first; those left alone after an error skipped) in one
 * call, which reads the next only while it has fewer than it asked.  An
 * empty stream of higher priority is then no round trip of its own: one
 * would wait in Redis behind the records sent with it, and only then
 * would the read that finds tasks go out, with Redis idle meanwhile.
 * At most half the slots (but TGW_READ_SPLIT_MIN) a read: with many
 * slots two reads' tasks are in flight, so the next read and the last
 * records go to Redis together and Redis runs one while the worker
 * handles the other.
 */
static int
tgw_fetch_read_take(tgw_fetch_t *f)
{
    size_t  base = (size_t) f->fq * TGW_NPRIORITIES, n = 0;
    int     p, half;

    tgw_fetch_read_forget(f);
    for (p = f->fp; p < TGW_NPRIORITIES; p++) {
        if (!tgw_fetch_healthy(f, base + (size_t) p)) {
            continue;
        }
        f->read_keys[n] = strdup(f->streams[base + (size_t) p].key);
        if (f->read_keys[n] == NULL) {
            tgw_fetch_read_forget(f);
            return -1;
        }
        f->read_prio[n] = p;
        f->read_nkeys = ++n;
    }
    f->read_now = tgw_now_ms();
    half = (f->conf->concurrency + 1) / 2;
    if (half < TGW_READ_SPLIT_MIN) {
        half = TGW_READ_SPLIT_MIN;
    }
    f->read_count = f->fwant < half ? f->fwant : half;
    return tgw_store_read_take(f->rd, f->conf, f->read_keys, n,
                               f->read_count, f->read_now,
                               tgw_fetch_read_done, NULL);
}


/*
 * Reads more entries if there is room: the next pick's streams one by one
 * (high first), without blocking; when every queue looked empty, one
 * blocking read over all healthy streams that wakes on the first new
 * entry.
 */
void
tgw_fetch_more(tgw_fetch_t *f)
{
    tgw_conf_t *c = f->conf;
    char      **keys, *key;
    size_t      i, n;
    int         room, q, rv;

    if (f->stopping || f->fetching || !f->groups_ready
        || f->rd->state != TGW_RCONN_READY)
    {
        return;
    }
    if (f->answered != NULL && f->recover_stream < f->nstreams) {
        /* A read that takes its tasks waits for the recovery pass: else
         * the recovery read (on cmd) could find the new entries pending
         * under our name before the read's reply came, and take them a
         * second time. */
        return;
    }
    room = f->room(f->data);
    if (room <= 0) {
        f->full = 1;
        return;
    }
    if (f->full) {
        /* Queues may have filled while we had no room: look again. */
        f->full = 0;
        memset(f->empty, 0, c->nqueues);
    }

    while (f->fq < 0) {
        q = tgw_fetch_pick(f);
        if (q < 0) {
            break;
        }
        f->fq = q;
        f->fp = 0;
        f->fgot = 0;
        f->fwant = tgw_fetch_batch(f, q, room);
    }

    /* Skip the pick's streams that are left alone after an error. */
    while (f->fq >= 0
           && !tgw_fetch_healthy(f, (size_t) f->fq * TGW_NPRIORITIES
                                    + (size_t) f->fp))
    {
        if (++f->fp == TGW_NPRIORITIES) {
            if (f->fgot == 0) {
                f->empty[f->fq] = 1;
            }
            f->fq = -1;
        }
    }

    if (f->fq >= 0) {
        if (f->fwant > room) {
            f->fwant = room;
        }
        key = f->streams[(size_t) f->fq * TGW_NPRIORITIES
                         + (size_t) f->fp].key;
        if (f->answered != NULL) {
            rv = tgw_fetch_read_take(f);
        } else {
            rv = tgw_store_read(f->rd, c, key, ">", f->fwant,
                                tgw_fetch_read_done, NULL);
        }
        if (rv == 0) {
            f->fetching = 1;
        }
        return;
    }

    /* Every queue looked empty: block on all healthy streams (when the
     * tick finds a queue again, the next pick reads it). */
    for (i = 0; i < c->nqueues; i++) {
        if (!f->empty[i]) {
            return;
        }
    }
    keys = calloc(f->nstreams, sizeof(char *));
    if (keys == NULL) {
        return;
    }
    for (i = 0, n = 0; i < f->nstreams; i++) {
        if (tgw_fetch_healthy(f, i)) {
            keys[n++] = f->streams[i].key;
        }
    }
    rv = n == 0 ? -1
                : tgw_store_read_blocking(f->rd, c, keys, n, TGW_BLOCK_MS,
                                          tgw_fetch_read_done, NULL);
    free(keys);
    if (rv == 0) {
        f->fetching = 1;
        f->blocking = 1;
    }
}

/* ------------------------------------------------------------------------
 * Recovery: at start, and each time the read connection is back, entries
 * this consumer name has pending but does not hold (a previous run under
 * the same name stopped or died; a read whose reply was lost with the
 * connection) are taken up at once, without waiting claim_idle:
 * XREADGROUP with an id reads one's own pending list.  One stream at a
 * time, up to the room; entries deleted meanwhile come without fields
 * and are simply acked.
 * ------------------------------------------------------------------------ */

/* An entry of the recovery pass: to take, or after a lost read_take
 * reply to answered as one whose start may have been made then. */
static int
tgw_fetch_recovered_entry(void *data, const char *stream, const char *entry,
    const char *id, size_t id_len)
{
    tgw_fetch_t *f = data;

    if (f->lost_now != 0 && f->answered != NULL) {
        return f->answered(f->data, stream, entry, id, id_len, NULL,
                           f->lost_now);
    }
    return f->take(f->data, stream, entry, id, id_len);
}


static void
tgw_fetch_recovered(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_fetch_t *f = data;
    redisReply  *e, *last;
    char         n[16];
    int          got;

    f->recover_busy = 0;
    if (r == NULL) {
        /* cmd was lost: the same read again once it is back (the tick).
         * The pass is not dropped: rd may well stay up, and the entries
         * of a read whose reply rd lost would wait for claim_idle. */
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        f->recover_stream++;                /* that stream only */
        strcpy(f->recover_from, "0");
        tgw_fetch_recover(f);
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
    last = e && e->elements > 0 ? e->element[e->elements - 1] : NULL;
    if (last != NULL && e->elements >= (size_t) f->recover_count
        && last->type == REDIS_REPLY_ARRAY && last->elements > 0
        && last->element[0]->type == REDIS_REPLY_STRING
        && last->element[0]->len < sizeof(f->recover_from))
    {
        memcpy(f->recover_from, last->element[0]->str,
               last->element[0]->len + 1);
    } else {
        f->recover_stream++;
        strcpy(f->recover_from, "0");
    }
    got = tgw_store_read_entries(r, tgw_fetch_recovered_entry, f);
    if (got > 0) {
        snprintf(n, sizeof(n), "%d", got);
        tgw_log(TGW_LOG_INFO, "tasks_recovered", "count", n, NULL);
        if (f->taken) {
            f->taken(f->data);
        }
    }
    tgw_fetch_recover(f);
    tgw_fetch_more(f);              /* it waits for the pass (see there) */
}


static void
tgw_fetch_recover(tgw_fetch_t *f)
{
    int room;

    if (f->recover_stream >= f->nstreams && !f->recover_busy) {
        f->lost_now = 0;            /* the pass is done */
    }
    if (f->recover_busy || f->stopping || !f->groups_ready
        || f->recover_stream >= f->nstreams
        || f->cmd->state != TGW_RCONN_READY)
    {
        return;
    }
    room = f->room(f->data);
    if (room <= 0) {
        return;
    }
    if (tgw_store_read(f->cmd, f->conf, f->streams[f->recover_stream].key,
                       f->recover_from[0] ? f->recover_from : "0", room,
                       tgw_fetch_recovered, f) == 0)
    {
        f->recover_busy = 1;
        f->recover_count = room;
    }
}

/* ------------------------------------------------------------------------
 * The consumer group
 * ------------------------------------------------------------------------ */

static void
tgw_fetch_group_created(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_fetch_t *f = rc->data;
    char        *key = data;

    if (r && r->type == REDIS_REPLY_ERROR
        && strncmp(r->str, "BUSYGROUP", 9) != 0)
    {
        tgw_log(TGW_LOG_ERROR, "group_create_failed", "stream", key,
                "error", r->str, NULL);
    }
    free(key);
    if (r == NULL) {
        f->groups_pending = 0;      /* connection lost: redone on ready */
        return;
    }
    if (--f->groups_pending == 0) {
        f->groups_ready = 1;
        tgw_fetch_recover(f);       /* own pending entries (see there) */
        tgw_fetch_more(f);
    }
}


/*
 * Creates the consumer group on every stream this worker reads, from id 0
 * (so tasks enqueued before any worker started are read) and MKSTREAM (so
 * an empty queue is no error).  BUSYGROUP, the group exists, is fine.
 */
static void
tgw_fetch_create_groups(tgw_fetch_t *f)
{
    size_t  i;
    char   *key;

    f->groups_ready = 0;
    if (f->groups_pending > 0 || f->rd->state != TGW_RCONN_READY) {
        return;
    }
    for (i = 0; i < f->nstreams; i++) {
        key = strdup(f->streams[i].key);
        if (key == NULL) {
            continue;
        }
        if (tgw_store_group_create(f->rd, f->conf, key,
                                   tgw_fetch_group_created, key) != 0)
        {
            free(key);
            continue;
        }
        f->groups_pending++;
    }
}


static void
tgw_fetch_got_id(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_fetch_t *f = rc->data;

    if (r && r->type == REDIS_REPLY_INTEGER) {
        f->rd_id = r->integer;
    }
}


void
tgw_fetch_rd_ready(tgw_rconn_t *rc)
{
    tgw_fetch_t *f = rc->data;

    f->fetching = 0;
    f->blocking = 0;
    f->groups_pending = 0;
    f->rd_id = 0;
    tgw_store_client_id(rc, tgw_fetch_got_id, NULL);
    /* A read whose reply was lost with the old connection may have been
     * served: its entries are pending under our name, unseen.  Read our
     * pending entries again (held ones are skipped) instead of leaving
     * them to claim_idle. */
    f->recover_stream = 0;
    strcpy(f->recover_from, "0");
    tgw_fetch_create_groups(f);
}


void
tgw_fetch_rd_down(tgw_rconn_t *rc)
{
    tgw_fetch_t *f = rc->data;

    f->groups_ready = 0;
    f->fetching = 0;
    f->blocking = 0;
    f->rd_id = 0;
}


void
tgw_fetch_cmd_down(tgw_fetch_t *f)
{
    f->recover_busy = 0;
}


void
tgw_fetch_tick(tgw_fetch_t *f)
{
    if (f->stopping) {
        return;
    }
    if (f->groups_ready) {
        tgw_fetch_recover(f);       /* a no-op once the pass is over */
    }
    if (!f->groups_ready && f->groups_pending == 0) {
        tgw_fetch_create_groups(f);
    }
    /* Look at every queue again now and then: a queue found empty must
     * not wait until the busy ones run dry. */
    memset(f->empty, 0, f->conf->nqueues);
    tgw_fetch_more(f);
}


void
tgw_fetch_stop(tgw_fetch_t *f)
{
    f->stopping = 1;
    if (f->blocking && f->rd_id > 0) {
        /* Its reply comes at once; entries it brings are handed back. */
        tgw_store_client_unblock(f->cmd, f->rd_id, NULL, NULL);
    }
}
