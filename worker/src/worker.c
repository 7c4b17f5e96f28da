/*
 * taskgw-worker: the composition of the components (see worker.h), the
 * housekeeping tick, signals, config reload and shutdown.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tgw_duration.h"
#include "worker.h"

static void tgw_worker_maybe_close(tgw_worker_t *w);

/* ------------------------------------------------------------------------
 * Wiring: what the components report
 * ------------------------------------------------------------------------ */

/* Entries the fetcher and the reclaimer may take (their room callback). */
static int
tgw_worker_room(void *data)
{
    return tgw_processor_room(data);
}


/* Entries were taken: give them slots. */
static void
tgw_worker_taken(void *data)
{
    tgw_processor_pump(data);
}


/* A slot freed (the processor's room callback): read more. */
static void
tgw_worker_has_room(void *data)
{
    tgw_worker_t *w = data;

    tgw_fetch_more(&w->fetch);
    tgw_reclaim_next(&w->reclaim);
}


/* No task held any more, or a webhook delivery ended. */
static void
tgw_worker_idle(void *data)
{
    tgw_worker_maybe_close(data);
}


/* A task reached a final status and has a callback URL: its event is in
 * the outbox now, deliver it without waiting for the next tick. */
static void
tgw_worker_final(void *data, tgw_task_t *t, const char *status)
{
    tgw_worker_t *w = data;

    tgw_webhooks_poll(&w->hooks);
}


/* Redis acknowledged a claim refresh (the reclaimer's refreshed): the
 * exec spawner's lease moves on (keeper.h, "Leases"). */
static void
tgw_worker_refreshed(void *data, uint64_t sent)
{
    tgw_worker_t *w = data;

    tgw_exec_spawner_lease(sent
                           + tgw_reclaim_lease_ms(w->conf->claim_idle_ms));
}


/* The link is (back) up.  The claims of the tasks held go out first,
 * before the steps they wait to send again: a task whose take or start
 * went unanswered through an outage may have its entry idle past
 * claim_idle by now, and its run must not start while any other
 * worker's reclaim can take that entry; the refresh's answer, which
 * comes before the take's, also renews the exec spawner's lease that
 * the outage let lapse. */
static void
tgw_worker_cmd_ready(tgw_rconn_t *rc)
{
    tgw_worker_t *w = rc->data;

    if (!w->closing) {
        w->next_extend = uv_now(w->loop) + w->conf->claim_idle_ms / 3;
        tgw_reclaim_extend(&w->reclaim, w->proc.tasks);
    }
    tgw_processor_retry(&w->proc);
    tgw_webhooks_retry(&w->hooks);
}


static void
tgw_worker_cmd_down(tgw_rconn_t *rc)
{
    tgw_worker_t *w = rc->data;

    tgw_forwarder_cmd_down(&w->fwd);
    tgw_heartbeat_cmd_down(&w->hb);
    tgw_reclaim_cmd_down(&w->reclaim);
    tgw_fetch_cmd_down(&w->fetch);
}

/* ------------------------------------------------------------------------
 * Housekeeping
 * ------------------------------------------------------------------------ */

static void
tgw_worker_tick(uv_timer_t *timer)
{
    tgw_worker_t *w = timer->data;
    uint64_t      now = uv_now(w->loop);

    if (w->closing) {
        return;
    }
    if (w->cmd.state == TGW_RCONN_READY) {
        tgw_processor_retry(&w->proc);
        tgw_webhooks_retry(&w->hooks);
    }
    /* Tasks still held while stopping run out their shutdown_grace:
     * their claims must stay fresh so no live task is stolen, and the
     * worker stays listed (as stopping) until it exits.  At the last
     * tick before claim_idle/3 is up, not the first after it: with
     * claim_idle 1s the first after was every other tick, 500 ms, and
     * the spawner's lease (two thirds of claim_idle) would have been
     * left a sixth of claim_idle for a loop held up. */
    if (now + TGW_TICK_MS > w->next_extend) {
        w->next_extend = now + w->conf->claim_idle_ms / 3;
        tgw_reclaim_extend(&w->reclaim, w->proc.tasks);
    }
    if (now >= w->next_hb) {
        w->next_hb = now + TGW_HEARTBEAT_MS;
        tgw_heartbeat_beat(&w->hb, &w->proc, w->stopping);
    }
    if (w->stopping) {
        tgw_worker_maybe_close(w);
        return;
    }
    tgw_forwarder_run(&w->fwd);
    tgw_scheduler_run(&w->sched);
    if (now >= w->next_claim && w->fetch.groups_ready) {
        w->next_claim = now + w->conf->claim_idle_ms / 4;
        tgw_reclaim_start(&w->reclaim);
    }
    tgw_fetch_tick(&w->fetch);
    tgw_processor_pump(&w->proc);
}

/* ------------------------------------------------------------------------
 * Config reload (SIGHUP)
 * ------------------------------------------------------------------------ */

static int
tgw_str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}


static int
tgw_sentinels_differ(const tgw_conf_t *a, const tgw_conf_t *b)
{
    size_t i;

    if (a->nsentinels != b->nsentinels) {
        return 1;
    }
    for (i = 0; i < a->nsentinels; i++) {
        if (!tgw_addr_equal(&a->sentinels[i], &b->sentinels[i])) {
            return 1;
        }
    }
    return 0;
}


/*
 * Re-reads the config file.  Handlers, concurrency, queues, retry and
 * result settings take effect for tasks taken from now on (running tasks
 * keep the config they started with); the connection and identity keys
 * (redis, sentinel, master, sentinel_password, password, db, prefix,
 * group, name) need a restart, so a file
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
    } else if (tgw_sentinels_differ(c, old)) {
        why = "sentinel";
    } else if (tgw_str_differs(c->master, old->master)) {
        why = "master";
    } else if (tgw_str_differs(c->sentinel_password,
                                old->sentinel_password))
    {
        why = "sentinel_password";
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
    if (tgw_fetch_set_conf(&w->fetch, c) != 0
        || tgw_scheduler_set_conf(&w->sched, &w->cmd, c) != 0)
    {
        tgw_log(TGW_LOG_ERROR, "reload_failed", "error", "out of memory",
                NULL);
        tgw_conf_unref(c);
        return;
    }
    w->conf = c;
    tgw_processor_set_conf(&w->proc, c);
    w->fwd.conf = c;
    w->hb.conf = c;
    w->reclaim.conf = c;
    w->hooks.conf = c;
    tgw_exec_spawner_conf(c);
    tgw_conf_unref(old);
    tgw_log(TGW_LOG_INFO, "config_reloaded", "file", c->path, NULL);
    tgw_processor_pump(&w->proc);
    tgw_fetch_more(&w->fetch);
}

/* ------------------------------------------------------------------------
 * Signals and shutdown
 * ------------------------------------------------------------------------ */

static void
tgw_worker_grace_over(uv_timer_t *timer)
{
    tgw_worker_t *w = timer->data;

    if (w->grace_over) {
        return;
    }
    w->grace_over = 1;
    tgw_log(TGW_LOG_WARN, "shutdown_grace_over", NULL);
    tgw_webhook_stop_all(&w->hooks);
    tgw_processor_abandon(&w->proc);
    tgw_worker_maybe_close(w);
}


/*
 * A graceful stop: nothing new is read or started; what was read but not
 * started is handed back at once (processor.c); running tasks finish and
 * record within shutdown_grace, and so do webhook POSTs under way.
 */
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
    /* A blocking read that is out returns at once; the connection closes
     * once it answered, and what it brought is handed back. */
    tgw_fetch_stop(&w->fetch);
    tgw_rconn_close(&w->rd, 1);
    uv_timer_start(&w->grace, tgw_worker_grace_over,
                   w->conf->shutdown_grace_ms, 0);
    tgw_processor_stop(&w->proc);
    tgw_webhooks_stop(&w->hooks);
    tgw_worker_maybe_close(w);
}


static void
tgw_worker_handle_closed(uv_handle_t *h)
{
    /* nothing: the handles are members of the worker */
}


/* Once stopping and holding nothing: close everything, uv_run returns. */
static void
tgw_worker_maybe_close(tgw_worker_t *w)
{
    char n1[24], n2[24], n3[24], n4[24];

    if (!w->stopping || w->closing || w->proc.ntasks > 0) {
        return;
    }
    if (!w->grace_over
        && (tgw_webhook_busy(&w->hooks) || tgw_fetch_busy(&w->fetch)))
    {
        return;                     /* they get the grace too */
    }
    w->closing = 1;
    tgw_webhook_stop_all(&w->hooks);
    snprintf(n1, sizeof(n1), "%llu", (unsigned long long) w->proc.n.succeeded);
    snprintf(n2, sizeof(n2), "%llu", (unsigned long long) w->proc.n.dead);
    snprintf(n3, sizeof(n3), "%llu", (unsigned long long) w->proc.n.retried);
    snprintf(n4, sizeof(n4), "%llu",
             (unsigned long long) w->proc.n.handed_back);
    tgw_log(TGW_LOG_INFO, "exit", "succeeded", n1, "dead", n2,
            "retried", n3, "handed_back", n4, NULL);

    tgw_reclaim_leave(&w->reclaim);
    tgw_heartbeat_bye(&w->hb);
    tgw_rconn_close(&w->cmd, 1);
    tgw_rconn_close(&w->rd, 0);

    uv_timer_stop(&w->tick);
    uv_timer_stop(&w->grace);
    uv_close((uv_handle_t *) &w->tick, tgw_worker_handle_closed);
    uv_close((uv_handle_t *) &w->grace, tgw_worker_handle_closed);
    uv_close((uv_handle_t *) &w->sigterm, tgw_worker_handle_closed);
    uv_close((uv_handle_t *) &w->sigint, tgw_worker_handle_closed);
    uv_close((uv_handle_t *) &w->sighup, tgw_worker_handle_closed);

    /*
     * Closing a signal handle puts the default action back, and the
     * default of SIGTERM and SIGINT is to die: a second one while the
     * last writes drain would turn this clean exit into a kill.  The
     * worker is stopping already, so from here on they are ignored.
     */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
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
    char n[32];

    memset(w, 0, sizeof(*w));
    w->loop = loop;
    w->conf = tgw_conf_ref(conf);
    tgw_exec_spawner_conf(conf);

    if (tgw_fetch_init(&w->fetch, loop, &w->rd, &w->cmd, conf) != 0) {
        tgw_conf_unref(w->conf);
        return -1;
    }
    if (tgw_scheduler_set_conf(&w->sched, &w->cmd, conf) != 0) {
        tgw_fetch_free(&w->fetch);
        tgw_conf_unref(w->conf);
        return -1;
    }
    if (tgw_processor_init(&w->proc, loop, &w->cmd, conf) != 0) {
        tgw_scheduler_free(&w->sched);
        tgw_fetch_free(&w->fetch);
        tgw_conf_unref(w->conf);
        return -1;
    }
    w->proc.on_room = tgw_worker_has_room;
    w->proc.on_idle = tgw_worker_idle;
    w->proc.on_final = tgw_worker_final;
    w->proc.data = w;

    w->fetch.room = tgw_worker_room;
    w->fetch.take = tgw_processor_take;
    w->fetch.answered = tgw_processor_answered;
    w->fetch.taken = tgw_worker_taken;
    w->fetch.data = &w->proc;

    tgw_reclaim_init(&w->reclaim, &w->cmd, conf);
    w->reclaim.room = tgw_worker_room;
    w->reclaim.take = tgw_processor_take;
    w->reclaim.taken = tgw_worker_taken;
    w->reclaim.lost = tgw_processor_lost;
    w->reclaim.data = &w->proc;
    w->reclaim.usable = tgw_fetch_stream_usable;
    w->reclaim.failed = tgw_fetch_stream_error;
    w->reclaim.hdata = &w->fetch;
    w->reclaim.refreshed = tgw_worker_refreshed;
    w->reclaim.rdata = w;
    tgw_reclaim_extend(&w->reclaim, NULL);  /* nothing held yet: the
                                               first lease */

    tgw_forwarder_init(&w->fwd, &w->cmd, conf);
    tgw_heartbeat_init(&w->hb, &w->cmd, conf);
    tgw_webhooks_init(&w->hooks, loop, &w->cmd, conf);
    w->hooks.on_ended = tgw_worker_idle;
    w->hooks.data = w;

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

    snprintf(n, sizeof(n), "%d", conf->concurrency);
    tgw_log(TGW_LOG_INFO, "start", "name", conf->name, "prefix", conf->prefix,
            "group", conf->group, "concurrency", n, NULL);

    tgw_rconn_init(&w->cmd, loop, "cmd", conf);
    w->cmd.data = w;
    w->cmd.on_ready = tgw_worker_cmd_ready;
    w->cmd.on_down = tgw_worker_cmd_down;
    tgw_rconn_init(&w->rd, loop, "read", conf);
    w->rd.data = &w->fetch;
    w->rd.on_ready = tgw_fetch_rd_ready;
    w->rd.on_down = tgw_fetch_rd_down;

    uv_timer_start(&w->tick, tgw_worker_tick, TGW_TICK_MS, TGW_TICK_MS);
    return 0;
}


void
tgw_worker_free(tgw_worker_t *w)
{

    tgw_processor_free(&w->proc);
    tgw_webhooks_free(&w->hooks);
    tgw_fetch_free(&w->fetch);
    tgw_scheduler_free(&w->sched);
    tgw_conf_unref(w->conf);
    w->conf = NULL;
}
