/*
 * Reclaiming, claim extension and consumer pruning (see reclaim.h).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reclaim.h"
#include "tgw_clock.h"
#include "tgw_keys.h"


void
tgw_reclaim_init(tgw_reclaim_t *r, tgw_rconn_t *rc, tgw_conf_t *conf)
{
    memset(r, 0, sizeof(*r));
    r->rc = rc;
    r->conf = conf;
    r->stream = (size_t) -1;
    r->prune = (size_t) -1;
    strcpy(r->cursor, "0-0");
}


static size_t
tgw_reclaim_nstreams(const tgw_reclaim_t *r)
{
    return r->conf->nqueues * TGW_NPRIORITIES;
}


static char *
tgw_reclaim_key(const tgw_reclaim_t *r, size_t s)
{
    return tgw_store_stream(r->conf,
                            r->conf->queues[s / TGW_NPRIORITIES].name,
                            (int) (s % TGW_NPRIORITIES));
}


/* An XAUTOCLAIM that is out: whose, and of which stream. */
typedef struct {
    tgw_reclaim_t      *r;
    char                stream[];
} tgw_claim_req_t;


static void
tgw_reclaim_claimed(tgw_rconn_t *rc, redisReply *rp, void *data)
{
    tgw_claim_req_t *req = data;
    tgw_reclaim_t   *r = req->r;
    const char      *stream = req->stream;
    char             n[16];
    int              got;

    r->busy = 0;
    if (tgw_reply_failed(rp)) {
        if (rp && strncmp(rp->str, "NOGROUP", 7) != 0) {
            if (r->failed) {
                r->failed(r->hdata, stream, rp->str);
            } else {
                tgw_log(TGW_LOG_WARN, "reclaim_error", "stream", stream,
                        "error", rp->str, NULL);
            }
        }
        r->stream++;
        strcpy(r->cursor, "0-0");
        free(data);
        if (rp) {
            tgw_reclaim_next(r);
        }
        return;
    }
    /* [next cursor, [entries], [deleted ids]].  XAUTOCLAIM looks at no
     * more than 10 pending entries per entry it may claim, so behind
     * many live ones a dead worker's entry is only reached by going on
     * from the cursor; "0-0" means the stream is done. */
    if (rp->type == REDIS_REPLY_ARRAY && rp->elements >= 2
        && rp->element[0]->type == REDIS_REPLY_STRING
        && rp->element[0]->len < sizeof(r->cursor)
        && strcmp(rp->element[0]->str, "0-0") != 0)
    {
        memcpy(r->cursor, rp->element[0]->str, rp->element[0]->len + 1);
    } else {
        r->stream++;
        strcpy(r->cursor, "0-0");
    }
    if (rp->type == REDIS_REPLY_ARRAY && rp->elements >= 2) {
        got = tgw_store_entries(stream, rp->element[1], r->take, r->data);
        if (got > 0) {
            snprintf(n, sizeof(n), "%d", got);
            tgw_log(TGW_LOG_INFO, "tasks_reclaimed", "stream", stream,
                    "count", n, NULL);
            if (r->taken) {
                r->taken(r->data);
            }
        }
    }
    free(data);
    tgw_reclaim_next(r);            /* on with the pass */
}


/* One XAUTOCLAIM of the pass, taking at most the room; the pass ends
 * early when there is no room. */
void
tgw_reclaim_next(tgw_reclaim_t *r)
{
    tgw_claim_req_t *req;
    char            *key;
    size_t           klen;
    int              room;

    if (r->busy || r->stream >= tgw_reclaim_nstreams(r)
        || r->rc->state != TGW_RCONN_READY)
    {
        return;
    }
    room = r->room(r->data);
    if (room <= 0) {
        return;
    }
    key = tgw_reclaim_key(r, r->stream);
    if (key == NULL) {
        return;
    }
    if (r->usable && !r->usable(r->hdata, key)) {
        free(key);                  /* left alone a while: skip it */
        r->stream++;
        strcpy(r->cursor, "0-0");
        tgw_reclaim_next(r);
        return;
    }
    klen = strlen(key);
    req = malloc(sizeof(*req) + klen + 1);
    if (req == NULL) {
        free(key);
        return;
    }
    req->r = r;
    memcpy(req->stream, key, klen + 1);
    free(key);
    if (tgw_store_autoclaim(r->rc, r->conf, req->stream, r->cursor, room,
                            tgw_reclaim_claimed, req) != 0)
    {
        free(req);
        return;
    }
    r->busy = 1;
}

/* ------------------------------------------------------------------------
 * Idle consumers
 * ------------------------------------------------------------------------ */

static void tgw_reclaim_prune_next(tgw_reclaim_t *r);


static void
tgw_reclaim_pruned(tgw_rconn_t *rc, redisReply *rp, void *data)
{
    tgw_reclaim_t *r = data;
    char           n[24];

    r->prune_busy = 0;
    if (rp == NULL) {
        return;
    }
    if (rp->type == REDIS_REPLY_INTEGER && rp->integer > 0) {
        snprintf(n, sizeof(n), "%lld", rp->integer);
        tgw_log(TGW_LOG_INFO, "consumers_pruned", "count", n, NULL);
    }
    r->prune++;
    tgw_reclaim_prune_next(r);
}


static void
tgw_reclaim_prune_next(tgw_reclaim_t *r)
{
    char *key;

    if (r->prune_busy || r->prune >= tgw_reclaim_nstreams(r)
        || r->rc->state != TGW_RCONN_READY)
    {
        return;
    }
    key = tgw_reclaim_key(r, r->prune);
    if (key == NULL) {
        return;
    }
    if (tgw_store_prune(r->rc, r->conf, key, r->conf->claim_idle_ms, NULL,
                        tgw_reclaim_pruned, r) == 0)
    {
        r->prune_busy = 1;
    }
    free(key);
}


void
tgw_reclaim_start(tgw_reclaim_t *r)
{
    r->stream = 0;                  /* a new pass over every stream */
    strcpy(r->cursor, "0-0");
    tgw_reclaim_next(r);
    r->prune = 0;
    tgw_reclaim_prune_next(r);
}


void
tgw_reclaim_leave(tgw_reclaim_t *r)
{
    size_t  s;
    char   *key;

    /* Sent without a reply to wait for: if one is lost, the consumer
     * holds nothing and any worker's prune deletes it claim_idle later,
     * so losing it is harmless. */
    for (s = 0; s < tgw_reclaim_nstreams(r); s++) {
        key = tgw_reclaim_key(r, s);
        if (key == NULL) {
            continue;
        }
        tgw_store_prune(r->rc, r->conf, key, UINT64_MAX / 2, r->conf->name,
                        NULL, NULL);
        free(key);
    }
}


/* A round of the claim extension that is out: whose, when it was sent
 * (CLOCK_MONOTONIC ms), and the entries it names (stream, entry), kept
 * so that the reply's numbers name them even if their tasks are gone. */
typedef struct {
    tgw_reclaim_t      *r;
    uint64_t            sent;
    size_t              n;
    const char        **streams;
    const char        **entries;
} tgw_extend_req_t;


/* The reply to a round: the numbers of the entries that are not this
 * worker's any more, whose tasks are given up (lost).  Redis ran the
 * round, so no entry still ours then can be taken before the send time
 * plus claim_idle: the refreshed news, passed on after the others were
 * given up.  Lost (NULL) or refused: no news. */
static void
tgw_reclaim_extended(tgw_rconn_t *rc, redisReply *rp, void *data)
{
    tgw_extend_req_t *req = data;
    tgw_reclaim_t    *r = req->r;
    redisReply       *e;
    size_t            i;

    if (tgw_reply_failed(rp)) {
        free(req);
        return;
    }
    if (rp->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < rp->elements; i++) {
            e = rp->element[i];
            if (e->type == REDIS_REPLY_INTEGER && e->integer >= 1
                && (unsigned long long) e->integer <= req->n && r->lost)
            {
                r->lost(r->data, req->streams[e->integer - 1],
                        req->entries[e->integer - 1]);
            }
        }
    }
    if (r->refreshed) {
        r->refreshed(r->rdata, req->sent);
    }
    free(req);
}


/* A round naming the entries of tasks, in one allocation. */
static tgw_extend_req_t *
tgw_reclaim_round(tgw_reclaim_t *r, const tgw_task_t *tasks, uint64_t sent)
{
    const tgw_task_t *t;
    tgw_extend_req_t *req;
    size_t            n = 0, size = 0, len;
    char             *p;

    for (t = tasks; t; t = t->next) {
        n++;
        size += strlen(t->stream) + strlen(t->entry) + 2;
    }
    req = malloc(sizeof(*req) + 2 * n * sizeof(char *) + size);
    if (req == NULL) {
        return NULL;
    }
    req->r = r;
    req->sent = sent;
    req->n = n;
    req->streams = (const char **) (req + 1);
    req->entries = req->streams + n;
    p = (char *) (req->entries + n);
    for (t = tasks, n = 0; t; t = t->next, n++) {
        len = strlen(t->stream) + 1;
        req->streams[n] = memcpy(p, t->stream, len);
        p += len;
        len = strlen(t->entry) + 1;
        req->entries[n] = memcpy(p, t->entry, len);
        p += len;
    }
    return req;
}


/*
 * A live task is never stolen: each round re-claims the entries this
 * worker holds (extend.lua: XCLAIM with min idle 0 and JUSTID resets the
 * idle time without counting a delivery), one script call per round,
 * but only those still pending under this worker's name.  One that
 * another worker reclaimed while this one was held up past claim_idle
 * (stopped, cut off from Redis) is that worker's: taking it back would
 * have both run it; its task is given up here instead (lost).  A lost
 * round is harmless: the next goes claim_idle/3 later and only an entry
 * idle a whole claim_idle can be taken; that needs three lost in a row,
 * i.e. Redis unreachable from here for claim_idle, and then the task's
 * record cannot land either until it is back.  The reply is the news
 * the refreshed callback passes on (the exec spawner's lease hangs on
 * it), with the time taken before the round went out; a task it named
 * has been given up by then (its exec program killed), so only tasks
 * still ours count.  A round with no exec task held is news at once:
 * no program hangs on an entry of this worker.  Not only when none is
 * held: a worker that holds a builtin or http task through a Redis
 * outage would otherwise start its first exec program after the outage
 * under the lease that lapsed in it, and the spawner would kill that
 * program at once, for nothing.
 */
void
tgw_reclaim_extend(tgw_reclaim_t *r, const tgw_task_t *tasks)
{
    const tgw_task_t *t;
    tgw_extend_req_t *req;
    uint64_t          sent = tgw_clock_mono_ms();

    for (t = tasks; t; t = t->next) {
        if (t->handler != NULL && t->handler->kind == TGW_HANDLER_EXEC) {
            break;
        }
    }
    if (t == NULL && r->refreshed) {
        r->refreshed(r->rdata, sent);
    }
    if (tasks == NULL || r->rc->state != TGW_RCONN_READY) {
        return;
    }
    req = tgw_reclaim_round(r, tasks, sent);
    if (req == NULL) {
        return;                     /* the next round goes out later */
    }
    /* group and name cannot change without a restart: any task's conf
     * has this worker's */
    if (tgw_store_extend_many(r->rc, tasks->conf, req->n, req->streams,
                              req->entries, tgw_reclaim_extended, req)
        != 0)
    {
        free(req);
    }
}


void
tgw_reclaim_cmd_down(tgw_reclaim_t *r)
{
    r->busy = 0;
    r->prune_busy = 0;
}
