/*
 * The heartbeat (see heartbeat.h).
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "heartbeat.h"
#include "log.h"
#include "store.h"


void
tgw_heartbeat_init(tgw_heartbeat_t *hb, tgw_rconn_t *rc, tgw_conf_t *conf)
{
    memset(hb, 0, sizeof(*hb));
    hb->rc = rc;
    hb->conf = conf;
    hb->started_at = tgw_now_ms();
    if (gethostname(hb->host, sizeof(hb->host)) != 0) {
        hb->host[0] = '\0';
    }
    hb->host[sizeof(hb->host) - 1] = '\0';
}


static void
tgw_heartbeat_done(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_heartbeat_t *hb = data;

    hb->busy = 0;
    if (r && r->type == REDIS_REPLY_ERROR) {
        tgw_log(TGW_LOG_WARN, "heartbeat_error", "error", r->str, NULL);
    }
}


/*
 * Harmless to lose: a lost write is followed by the next one
 * TGW_HEARTBEAT_MS later, and the key lives TGW_HEARTBEAT_TTL (three
 * beats), so one lost write does not make the worker vanish from the
 * list.  Nothing depends on it but `taskgwctl workers`.
 */
void
tgw_heartbeat_beat(tgw_heartbeat_t *hb, tgw_processor_t *p, int stopping)
{
    tgw_conf_t *c = hb->conf;
    json_t     *j, *q, *n;
    char       *text;
    size_t      i;

    if (hb->busy || hb->rc->state != TGW_RCONN_READY) {
        return;
    }
    q = json_array();
    for (i = 0; q && i < c->nqueues; i++) {
        json_array_append_new(q, json_string(c->queues[i].name));
    }
    n = json_pack("{s:I,s:I,s:I,s:I,s:I}",
                  "succeeded", (json_int_t) p->n.succeeded,
                  "retried", (json_int_t) p->n.retried,
                  "dead", (json_int_t) p->n.dead,
                  "cancelled", (json_int_t) p->n.cancelled,
                  "missing", (json_int_t) p->n.missing);
    j = json_pack("{s:s,s:s,s:I,s:I,s:i,s:i,s:i,s:i,s:o*,s:o*,s:b}",
                  "name", c->name, "host", hb->host,
                  "pid", (json_int_t) getpid(),
                  "started_at", (json_int_t) hb->started_at,
                  "concurrency", c->concurrency,
                  "in_flight", tgw_processor_active(p),
                  "parked", tgw_processor_parked(p),
                  "recording", tgw_processor_unslotted(p),
                  "queues", q, "counters", n,
                  "stopping", stopping);
    if (j == NULL) {
        return;
    }
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL) {
        return;
    }
    if (tgw_store_heartbeat(hb->rc, c, text, TGW_HEARTBEAT_TTL,
                            tgw_heartbeat_done, hb) == 0)
    {
        hb->busy = 1;
    }
    free(text);

    /*
     * With every beat (so after a reload or a Redis that lost its data
     * too) the result_ttl that cancels outside the worker follow.  When
     * workers disagree, the last one to beat wins: give them one value.
     */
    (void) tgw_store_result_ttl(hb->rc, c, NULL, NULL);
}


void
tgw_heartbeat_bye(tgw_heartbeat_t *hb)
{
    tgw_store_worker_gone(hb->rc, hb->conf, NULL, NULL);
}


void
tgw_heartbeat_cmd_down(tgw_heartbeat_t *hb)
{
    hb->busy = 0;
}
