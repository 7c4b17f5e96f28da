/*
 * The forwarder (see forwarder.h and worker/common/lua/move.lua).
 */

#include <stdio.h>

#include "forwarder.h"
#include "log.h"
#include "store.h"


void
tgw_forwarder_init(tgw_forwarder_t *fw, tgw_rconn_t *rc, tgw_conf_t *conf)
{
    fw->rc = rc;
    fw->conf = conf;
    fw->busy = 0;
    fw->moved = 0;
    fw->dead = 0;
    fw->failing = 0;
    fw->refused = 0;
}


static const char *
tgw_u64(char *buf, size_t size, long long n)
{
    snprintf(buf, size, "%lld", n);
    return buf;
}


static void
tgw_forwarder_done(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_forwarder_t *fw = data;
    char             n[24];
    size_t           i;

    fw->busy = 0;
    if (tgw_reply_failed(r)) {
        /* Tried again on the next tick: said once until a move works (a
         * scheduled set of another type fails every move). */
        if (r && !fw->failing) {
            fw->failing = 1;
            tgw_log(TGW_LOG_WARN, "mover_error", "error", r->str, NULL);
        }
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 5) {
        return;
    }
    if (fw->failing) {
        fw->failing = 0;
        tgw_log(TGW_LOG_INFO, "mover_recovered", NULL);
    }
    if (r->element[1]->type == REDIS_REPLY_INTEGER
        && r->element[1]->integer > 0)
    {
        fw->moved += (uint64_t) r->element[1]->integer;
        tgw_log(TGW_LOG_DEBUG, "scheduled_moved", "count",
                tgw_u64(n, sizeof(n), r->element[1]->integer), NULL);
    }
    if (r->element[2]->type == REDIS_REPLY_INTEGER
        && r->element[2]->integer > 0
        && r->element[3]->type == REDIS_REPLY_STRING)
    {
        /* each such id comes round again after TGW_MOVE_RETRY_MS: said
         * once until a pass moves ids and keeps none */
        if (!fw->refused) {
            fw->refused = 1;
            tgw_log(TGW_LOG_WARN, "mover_error", "kept",
                    tgw_u64(n, sizeof(n), r->element[2]->integer),
                    "error", r->element[3]->str, NULL);
        }
    } else if (r->element[1]->type == REDIS_REPLY_INTEGER
               && r->element[1]->integer > 0)
    {
        fw->refused = 0;
    }
    if (r->element[4]->type == REDIS_REPLY_ARRAY) {
        /* hashes without a queue field, marked dead: said once each (the
         * script took them out of the set) */
        for (i = 0; i < r->element[4]->elements; i++) {
            if (r->element[4]->element[i]->type == REDIS_REPLY_STRING) {
                fw->dead++;
                tgw_log(TGW_LOG_ERROR, "task_bad_record", "task_id",
                        r->element[4]->element[i]->str, "error",
                        "scheduled task has no queue field: marked dead",
                        NULL);
            }
        }
    }
}


void
tgw_forwarder_run(tgw_forwarder_t *fw)
{
    if (fw->busy || fw->rc->state != TGW_RCONN_READY) {
        return;
    }
    if (tgw_store_move(fw->rc, fw->conf, tgw_now_ms(), tgw_forwarder_done,
                       fw) == 0)
    {
        fw->busy = 1;
    }
}


void
tgw_forwarder_cmd_down(tgw_forwarder_t *fw)
{
    fw->busy = 0;
}
