/*
 * A task's hash read into its task (task.h): the reply of a load or of
 * the take script, and the queue of a task whose hash names none.
 */

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "task.h"
#include "task_int.h"
#include "tgw_keys.h"
#include "tgw_text.h"


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
/* The fields take_many.lua returns the values of, in its order (then
 * whether anything is stale: TGW_TAKE_VALUES in all). */
static const char *tgw_task_take_fields[] = {
    TGW_F_STATUS, TGW_F_CANCEL_REQUESTED, TGW_F_RUN_AT, TGW_F_QUEUE,
    TGW_F_TYPE, TGW_F_PRIORITY, TGW_F_CALLBACK_URL, TGW_F_CONTENT_TYPE,
    TGW_F_PAYLOAD, TGW_F_TRACEPARENT
};

#define TGW_TASK_NTAKE \
    (sizeof(tgw_task_take_fields) / sizeof(tgw_task_take_fields[0]))

_Static_assert(TGW_TASK_NTAKE + 1 == TGW_TAKE_VALUES,
               "the take's values are its fields and the stale flag");


int
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
