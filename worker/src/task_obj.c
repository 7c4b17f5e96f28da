/*
 * A task object (task.h): made for a stream entry, destroyed, and kept
 * for the next task instead of freed.
 */

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "task.h"
#include "task_int.h"


char *
tgw_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
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
    free(t->wait_key);
    free(t->was_key);
    tgw_conf_unref(t->conf);
    tgw_task_release(t);
}
