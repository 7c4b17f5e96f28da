/*
 * Cron firing (see scheduler.h; the task is created by
 * worker/common/lua/create.lua with the tick's guard).
 */

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "scheduler.h"
#include "store.h"
#include "tgw_buf.h"
#include "tgw_clock.h"
#include "tgw_text.h"
#include "tgw_uuid.h"

/* A fire request that is out. */
typedef struct {
    tgw_scheduler_t    *s;
    unsigned            gen;        /* s->gen when sent */
    size_t              i;          /* schedule index */
    uint64_t            minute;
    char                id[TGW_UUID_LEN + 1];
} tgw_cron_fire_t;


int
tgw_scheduler_set_conf(tgw_scheduler_t *s, tgw_rconn_t *rc,
    tgw_conf_t *c)
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
    free(s->crons);
    s->crons = cs;
    s->ncrons = c->nschedules;
    s->gen++;
    s->rc = rc;
    tgw_conf_ref(c);
    tgw_conf_unref(s->conf);
    s->conf = c;
    return 0;
}


void
tgw_scheduler_free(tgw_scheduler_t *s)
{
    free(s->crons);
    s->crons = NULL;
    s->ncrons = 0;
    tgw_conf_unref(s->conf);
    s->conf = NULL;
}


static void
tgw_scheduler_fired(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_cron_fire_t *f = data;
    tgw_scheduler_t *s = f->s;
    char             tick[40];

    if (f->gen == s->gen && f->i < s->ncrons) {
        s->crons[f->i].busy = 0;
        if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
            s->crons[f->i].next_min = f->minute + 1;
            s->crons[f->i].failing = 0;
            if (r->integer == 1) {
                tgw_clock_rfc3339((int64_t) f->minute * 60000, tick,
                                      sizeof(tick));
                tgw_log(TGW_LOG_INFO, "cron_fired", "schedule",
                        s->conf->schedules[f->i].name, "tick", tick,
                        "task_id", f->id, NULL);
            }
        } else if (r != NULL && !s->crons[f->i].failing) {
            /* tried again on the next tick, as long as it is due: said
             * once until a fire works (a key of another type fails each
             * try) */
            s->crons[f->i].failing = 1;
            tgw_log(TGW_LOG_WARN, "cron_error", "schedule",
                    s->conf->schedules[f->i].name, "error",
                    tgw_reply_error(r), NULL);
        }
    }
    free(f);
}


static void
tgw_scheduler_fire(tgw_scheduler_t *s, size_t i, uint64_t minute)
{
    tgw_cron_fire_t *f;

    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return;
    }
    if (tgw_uuid7_new(f->id) != 0) {
        free(f);
        return;
    }
    f->s = s;
    f->gen = s->gen;
    f->i = i;
    f->minute = minute;
    if (tgw_store_cron_fire(s->rc, s->conf, &s->conf->schedules[i], minute,
                            f->id, tgw_now_ms(), tgw_scheduler_fired, f)
        != 0)
    {
        free(f);                    /* tried again on the next tick */
        return;
    }
    s->crons[i].busy = 1;
}


void
tgw_scheduler_run(tgw_scheduler_t *s)
{
    uint64_t          now_min = tgw_now_ms() / 60000;
    size_t            i;
    tgw_cron_state_t *cs;

    if (s->rc == NULL || s->rc->state != TGW_RCONN_READY) {
        return;
    }
    for (i = 0; i < s->ncrons; i++) {
        cs = &s->crons[i];
        if (cs->next_min + TGW_CRON_CATCHUP < now_min) {
            cs->next_min = now_min - TGW_CRON_CATCHUP;
        }
        /* Skip minutes that do not match; stop at one to fire. */
        while (!cs->busy && cs->next_min <= now_min) {
            if (tgw_cron_match(&cs->cron, (time_t) (cs->next_min * 60))) {
                tgw_scheduler_fire(s, i, cs->next_min);
                break;
            }
            cs->next_min++;
        }
    }
}
