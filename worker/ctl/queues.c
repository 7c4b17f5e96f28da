/*
 * taskgwctl queues: per queue, ready entries per priority, entries pending
 * in the worker group, dead tasks and scheduled tasks (docs/cli.md).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgw_keys.h"
#include "ctl.h"

/* ZRANGE/HGET batch of `queues` over the scheduled set */
#define TGW_CTL_SCHED_BATCH  1000

typedef struct {
    char       *name;
    long long   length[TGW_NPRIORITIES];   /* XLEN per priority stream */
    long long   pending;        /* XPENDING of the group, all priorities */
    long long   dead;           /* XLEN {prefix}:dead:<queue> */
    long long   scheduled;      /* members of {prefix}:scheduled */
} tgw_ctl_queue_t;

typedef struct {
    tgw_ctl_queue_t  *q;
    size_t            n;
    size_t            cap;
} tgw_ctl_queues_t;

static const char  *tgw_ctl_prios[] = TGW_PRIORITIES;


static void
tgw_ctl_queues_free(tgw_ctl_queues_t *qs)
{
    size_t  i;

    for (i = 0; i < qs->n; i++) {
        free(qs->q[i].name);
    }
    free(qs->q);
}


/* The queue called name[0..len), added when new; NULL when out of memory. */
static tgw_ctl_queue_t *
tgw_ctl_queue_get(tgw_ctl_queues_t *qs, const char *name, size_t len)
{
    tgw_ctl_queue_t  *q;
    size_t            i;

    for (i = 0; i < qs->n; i++) {
        if (strlen(qs->q[i].name) == len
            && memcmp(qs->q[i].name, name, len) == 0)
        {
            return &qs->q[i];
        }
    }

    if (qs->n == qs->cap) {
        qs->cap = qs->cap ? qs->cap * 2 : 16;
        q = realloc(qs->q, qs->cap * sizeof(*q));
        if (q == NULL) {
            return NULL;
        }
        qs->q = q;
    }

    q = &qs->q[qs->n];
    memset(q, 0, sizeof(*q));
    q->name = strndup(name, len);
    if (q->name == NULL) {
        return NULL;
    }

    qs->n++;
    return q;
}


static int
tgw_ctl_queue_cmp(const void *a, const void *b)
{
    return strcmp(((const tgw_ctl_queue_t *) a)->name,
                  ((const tgw_ctl_queue_t *) b)->name);
}


/*
 * SCANs keys "<prefix>:<kind>:*" and adds each queue named in them: for
 * streams ("q") the key is <prefix>:q:<queue>:<priority>, for dead
 * letters <prefix>:dead:<queue>.
 */
static int
tgw_ctl_scan(tgw_ctl_t *ctl, tgw_ctl_queues_t *qs, const char *kind)
{
    redisReply  *r, *keys, *k;
    const char  *name, *colon;
    size_t       i, plen, len;
    char         match[TGW_CTL_KEY_MAX], cursor[32] = "0";
    int          p, stream = strcmp(kind, "q") == 0;

    if (tgw_glob_escape(ctl->opts.prefix, match, sizeof(match)) != 0) {
        return tgw_ctl_fail("prefix too long");
    }
    len = strlen(match);
    if ((size_t) snprintf(match + len, sizeof(match) - len, ":%s:*", kind)
        >= sizeof(match) - len)
    {
        return tgw_ctl_fail("prefix too long");
    }

    plen = strlen(ctl->opts.prefix) + strlen(kind) + 2;

    do {
        r = tgw_ctl_command(ctl, "SCAN %s MATCH %s COUNT 1000", cursor,
                            match);
        if (r == NULL) {
            return 1;
        }

        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
            || r->element[0]->type != REDIS_REPLY_STRING
            || r->element[0]->len >= sizeof(cursor)
            || r->element[1]->type != REDIS_REPLY_ARRAY)
        {
            freeReplyObject(r);
            return tgw_ctl_fail("redis: unexpected reply to SCAN");
        }

        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
        keys = r->element[1];

        for (i = 0; i < keys->elements; i++) {
            k = keys->element[i];
            if (k->type != REDIS_REPLY_STRING || k->len <= plen) {
                continue;
            }

            name = k->str + plen;
            len = k->len - plen;

            if (stream) {
                colon = memrchr(name, ':', len);
                if (colon == NULL) {
                    continue;
                }
                for (p = 0; p < TGW_NPRIORITIES; p++) {
                    if (strcmp(colon + 1, tgw_ctl_prios[p]) == 0) {
                        break;
                    }
                }
                if (p == TGW_NPRIORITIES) {
                    continue;           /* not a queue stream of ours */
                }
                len = (size_t) (colon - name);
            }

            if (len > 0 && tgw_ctl_queue_get(qs, name, len) == NULL) {
                freeReplyObject(r);
                return tgw_ctl_fail("out of memory");
            }
        }

        freeReplyObject(r);

    } while (strcmp(cursor, "0") != 0);

    return 0;
}


/*
 * Counts scheduled tasks per queue: the scheduled set holds task ids of
 * every queue, so each id's queue is read from its hash, a batch at a
 * time (pipelined).  Tasks whose hash is gone are not counted.
 */
static int
tgw_ctl_scheduled(tgw_ctl_t *ctl, tgw_ctl_queues_t *qs)
{
    tgw_ctl_queue_t  *q;
    redisReply       *ids, *r;
    long long         start;
    size_t            i, j;
    char              skey[TGW_CTL_KEY_MAX], tkey[TGW_CTL_KEY_MAX];

    if (tgw_ctl_key(skey, TGW_KEY_SCHEDULED, ctl->opts.prefix) != 0) {
        return 1;
    }

    for (start = 0; ; start += TGW_CTL_SCHED_BATCH) {
        ids = tgw_ctl_command(ctl, "ZRANGE %s %lld %lld", skey, start,
                              start + TGW_CTL_SCHED_BATCH - 1);
        if (ids == NULL) {
            return 1;
        }

        if (ids->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(ids);
            return tgw_ctl_fail("redis: unexpected reply to ZRANGE");
        }

        for (i = 0; i < ids->elements; i++) {
            if (ids->element[i]->type != REDIS_REPLY_STRING) {
                break;
            }
            if (tgw_ctl_key(tkey, TGW_KEY_TASK, ctl->opts.prefix,
                            ids->element[i]->str) != 0)
            {
                freeReplyObject(ids);
                return 1;
            }
            if (redisAppendCommand(ctl->rc, "HGET %s " TGW_F_QUEUE, tkey)
                != REDIS_OK)
            {
                freeReplyObject(ids);
                return tgw_ctl_fail("out of memory");
            }
        }

        for (j = 0; j < i; j++) {
            r = tgw_ctl_get_reply(ctl);
            if (r == NULL) {
                freeReplyObject(ids);
                return 1;
            }
            if (r->type == REDIS_REPLY_STRING) {
                q = tgw_ctl_queue_get(qs, r->str, r->len);
                if (q == NULL) {
                    freeReplyObject(r);
                    freeReplyObject(ids);
                    return tgw_ctl_fail("out of memory");
                }
                q->scheduled++;
            }
            freeReplyObject(r);
        }

        i = ids->elements;
        freeReplyObject(ids);

        if (i < TGW_CTL_SCHED_BATCH) {
            return 0;
        }
    }
}


/*
 * Fills the counters of every queue with one pipeline: per priority XLEN
 * and XPENDING (a stream without the group counts 0 pending), then XLEN
 * of the dead letters.
 */
static int
tgw_ctl_counts(tgw_ctl_t *ctl, tgw_ctl_queues_t *qs)
{
    tgw_ctl_queue_t  *q;
    redisReply       *r;
    size_t            i;
    char              key[TGW_CTL_KEY_MAX];
    int               p, k;

    for (i = 0; i < qs->n; i++) {
        q = &qs->q[i];
        for (p = 0; p < TGW_NPRIORITIES; p++) {
            if (tgw_ctl_key(key, TGW_KEY_QUEUE, ctl->opts.prefix, q->name,
                            tgw_ctl_prios[p]) != 0)
            {
                return 1;
            }
            if (redisAppendCommand(ctl->rc, "XLEN %s", key) != REDIS_OK
                || redisAppendCommand(ctl->rc, "XPENDING %s %s", key,
                                      ctl->opts.group) != REDIS_OK)
            {
                return tgw_ctl_fail("out of memory");
            }
        }
        if (tgw_ctl_key(key, TGW_KEY_DEAD, ctl->opts.prefix, q->name) != 0) {
            return 1;
        }
        if (redisAppendCommand(ctl->rc, "XLEN %s", key) != REDIS_OK) {
            return tgw_ctl_fail("out of memory");
        }
    }

    for (i = 0; i < qs->n; i++) {
        q = &qs->q[i];
        for (k = 0; k < 2 * TGW_NPRIORITIES + 1; k++) {
            r = tgw_ctl_get_reply(ctl);
            if (r == NULL) {
                return 1;
            }

            if (k == 2 * TGW_NPRIORITIES) {
                q->dead = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
            } else if (k % 2 == 0) {
                q->length[k / 2] = r->type == REDIS_REPLY_INTEGER
                                   ? r->integer : 0;
            } else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0
                       && r->element[0]->type == REDIS_REPLY_INTEGER)
            {
                q->pending += r->element[0]->integer;
            } else if (r->type == REDIS_REPLY_ERROR
                       && strncmp(r->str, "NOGROUP", 7) != 0)
            {
                tgw_ctl_fail("redis: %s", r->str);
                freeReplyObject(r);
                return 1;
            }

            freeReplyObject(r);
        }
    }

    return 0;
}


static int
tgw_ctl_queues_print(tgw_ctl_t *ctl, tgw_ctl_queues_t *qs)
{
    tgw_ctl_queue_t  *q;
    tgw_buf_t     out = { 0 };
    size_t            i;
    int               p, rc;

    if (ctl->opts.json) {
        tgw_buf_puts(&out, "{\"queues\":[");
    } else {
        tgw_buf_printf(&out, "%-24s %8s %8s %8s %8s %8s %9s",
                           "QUEUE", "HIGH", "NORMAL", "LOW", "PENDING",
                           "DEAD", "SCHEDULED");
    }

    for (i = 0; i < qs->n; i++) {
        q = &qs->q[i];

        if (!ctl->opts.json) {
            tgw_buf_printf(&out, "\n%-24s %8lld %8lld %8lld %8lld %8lld "
                               "%9lld", q->name, q->length[0], q->length[1],
                               q->length[2], q->pending, q->dead,
                               q->scheduled);
            continue;
        }

        tgw_buf_puts(&out, i ? ",{\"name\":" : "{\"name\":");
        tgw_buf_json_string(&out, q->name, strlen(q->name));
        tgw_buf_puts(&out, ",\"length\":{");
        for (p = 0; p < TGW_NPRIORITIES; p++) {
            tgw_buf_printf(&out, "%s\"%s\":%lld", p ? "," : "",
                               tgw_ctl_prios[p], q->length[p]);
        }
        tgw_buf_printf(&out, "},\"pending\":%lld,\"dead\":%lld,"
                           "\"scheduled\":%lld}", q->pending, q->dead,
                           q->scheduled);
    }

    if (ctl->opts.json) {
        tgw_buf_puts(&out, "]}");
    }

    rc = tgw_ctl_print(&out);
    tgw_buf_free(&out);
    return rc;
}


int
tgw_ctl_queues(tgw_ctl_t *ctl, int argc, char **argv)
{
    tgw_ctl_queues_t  qs = { 0 };
    int               rc;

    if (tgw_ctl_connect(ctl) != 0) {
        return 1;
    }

    rc = tgw_ctl_scan(ctl, &qs, "q")
         || tgw_ctl_scan(ctl, &qs, "dead")
         || tgw_ctl_scheduled(ctl, &qs)
         || tgw_ctl_counts(ctl, &qs);

    if (rc == 0) {
        if (qs.n > 1) {
            qsort(qs.q, qs.n, sizeof(qs.q[0]), tgw_ctl_queue_cmp);
        }
        rc = tgw_ctl_queues_print(ctl, &qs);
    }

    tgw_ctl_queues_free(&qs);
    return rc;
}
