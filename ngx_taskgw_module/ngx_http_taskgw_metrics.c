
/*
 * ngx_http_taskgw_metrics: request counters in shared memory (counted at
 * the log phase) and taskgw_metrics, with the figures read from Redis
 * (ngx_http_taskgw_stats.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_ops.h"
#include "ngx_http_taskgw_json.h"
#include "ngx_http_taskgw_limit.h"
#include "tgw_lua.h"


#define NGX_HTTP_TASKGW_METRICS_NOUTCOMES  9
#define NGX_HTTP_TASKGW_METRICS_NBUCKETS   14



/*
 * The counters, in shared memory: every nginx worker process adds to them
 * with atomic operations (no lock), as stub_status does.  A histogram
 * bucket counts the observations of its own range only; the cumulative
 * figures are computed when scraped, so "+Inf" always equals the count.
 */
typedef struct {
    ngx_atomic_t                requests[NGX_HTTP_TASKGW_METRICS_NOUTCOMES];
    ngx_atomic_t                buckets[NGX_HTTP_TASKGW_METRICS_NBUCKETS + 1];
    ngx_atomic_t                sum_us;     /* of the observations */
    ngx_atomic_t                wait[2];    /* taskgw_redis_wait: missed,
                                               met */
} ngx_http_taskgw_metrics_sh_t;



static ngx_int_t ngx_http_taskgw_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_taskgw_metrics_log(ngx_http_request_t *r);
static void ngx_http_taskgw_metrics_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_metrics_send(ngx_http_request_t *r,
    redisReply *stats);
static void ngx_http_taskgw_metrics_label(ngx_http_taskgw_jw_t *jw,
    const char *name, redisReply *v);
static void ngx_http_taskgw_metrics_zone(void *data, ngx_str_t *zone,
    ngx_uint_t keys, uint64_t dry_run_rejections);
static void ngx_http_taskgw_metrics_dry_run(void *data, ngx_str_t *zone,
    ngx_uint_t keys, uint64_t dry_run_rejections);


/* the outcome labels of taskgw_requests_total, as $taskgw_outcome names them */
static ngx_str_t  ngx_http_taskgw_metrics_outcomes[] = {
    ngx_string("accepted"),
    ngx_string("replayed"),
    ngx_string("bad_request"),
    ngx_string("unauthorized"),
    ngx_string("forbidden"),
    ngx_string("rate_limited"),
    ngx_string("too_large"),
    ngx_string("unavailable"),
    ngx_string("queue_full")
};


/*
 * Bucket bounds of taskgw_enqueue_duration_seconds: an enqueue on a local
 * Redis takes a few hundred microseconds, so the buckets start at 100 us.
 */
static uint64_t  ngx_http_taskgw_metrics_bounds[] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
    250000, 500000, 1000000, 2500000
};

static char  *ngx_http_taskgw_metrics_le[] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
    "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5"
};


static ngx_str_t  ngx_http_taskgw_metrics_zone_name =
    ngx_string("taskgw_metrics");



/*
 * Called at postconfiguration when some location uses taskgw: the zone of
 * the counters (reused across reloads, so counters keep counting) and the
 * log-phase handler that counts every request once.
 */

ngx_int_t
ngx_http_taskgw_metrics_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt          *h;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_http_taskgw_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_taskgw_module);

    if (!tmcf->used) {
        return NGX_OK;
    }

    tmcf->metrics = ngx_shared_memory_add(cf,
                                          &ngx_http_taskgw_metrics_zone_name,
                                          8 * ngx_pagesize,
                                          &ngx_http_taskgw_module);
    if (tmcf->metrics == NULL) {
        return NGX_ERROR;
    }

    tmcf->metrics->init = ngx_http_taskgw_metrics_init_zone;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_taskgw_metrics_log;

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t               *shpool;
    ngx_http_taskgw_metrics_sh_t  *sh;

    if (data) {
        /* a reload: the counters of the previous configuration go on */
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_taskgw_metrics_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


/* Monotonic microseconds, for durations shorter than nginx's ms clock. */

uint64_t
ngx_http_taskgw_clock_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


/*
 * The log phase runs once per request, whatever path it took: the outcome
 * the reply recorded in the ctx ($taskgw_outcome) is counted here, and the
 * enqueue's duration observed (from its complete body to its end).
 */

static ngx_int_t
ngx_http_taskgw_metrics_log(ngx_http_request_t *r)
{
    uint64_t                       d;
    ngx_uint_t                     i;
    ngx_http_taskgw_ctx_t         *ctx;
    ngx_http_taskgw_main_conf_t   *tmcf;
    ngx_http_taskgw_metrics_sh_t  *sh;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);
    if (ctx == NULL) {
        return NGX_OK;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);
    if (tmcf->metrics == NULL || tmcf->metrics->data == NULL) {
        return NGX_OK;
    }

    sh = tmcf->metrics->data;

    if (ctx->outcome.len) {
        for (i = 0; i < NGX_HTTP_TASKGW_METRICS_NOUTCOMES; i++) {
            if (ctx->outcome.len == ngx_http_taskgw_metrics_outcomes[i].len
                && ngx_strncmp(ctx->outcome.data,
                               ngx_http_taskgw_metrics_outcomes[i].data,
                               ctx->outcome.len) == 0)
            {
                (void) ngx_atomic_fetch_add(&sh->requests[i], 1);
                break;
            }
        }
    }

    if (ctx->started_us) {
        d = ngx_http_taskgw_clock_us() - ctx->started_us;
        ctx->started_us = 0;

        for (i = 0; i < NGX_HTTP_TASKGW_METRICS_NBUCKETS; i++) {
            if (d <= ngx_http_taskgw_metrics_bounds[i]) {
                break;
            }
        }

        (void) ngx_atomic_fetch_add(&sh->buckets[i], 1);
        (void) ngx_atomic_fetch_add(&sh->sum_us, (ngx_atomic_int_t) d);
    }

    return NGX_OK;
}


/*
 * An enqueue under taskgw_redis_wait whose replicas acknowledged it in
 * time (met) or not (missed: too few, or the link failed meanwhile).
 */

void
ngx_http_taskgw_metrics_wait(ngx_http_request_t *r, ngx_uint_t met)
{
    ngx_http_taskgw_main_conf_t   *tmcf;
    ngx_http_taskgw_metrics_sh_t  *sh;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);
    if (tmcf->metrics == NULL || tmcf->metrics->data == NULL) {
        return;
    }

    sh = tmcf->metrics->data;

    (void) ngx_atomic_fetch_add(&sh->wait[met ? 1 : 0], 1);
}


/* ------------------------------------------------------------------ */
/* taskgw_metrics                                                      */
/* ------------------------------------------------------------------ */


ngx_int_t
ngx_http_taskgw_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_taskgw_not_allowed(r, "GET, HEAD",
                                           "use GET to read the metrics");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_taskgw_stats_read(r, 0, ngx_http_taskgw_metrics_done)
        != NGX_OK)
    {
        /* Redis cannot be asked now: the local figures still answer */
        return ngx_http_taskgw_metrics_send(r, NULL);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_taskgw_metrics_done(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_finalize_request(r, ngx_http_taskgw_metrics_send(r, reply));
}


/*
 * The Prometheus text exposition (format 0.0.4).  stats is the reply of
 * the stats script, or NULL (or an error) when Redis could not answer:
 * then the figures read from Redis are left out and taskgw_redis_up is 0.
 */

static ngx_int_t
ngx_http_taskgw_metrics_send(ngx_http_request_t *r, redisReply *stats)
{
    uint64_t                       cum, n;
    ngx_int_t                      rc;
    ngx_buf_t                     *b;
    ngx_str_t                      master;
    ngx_uint_t                     i, k, up, switches;
    ngx_chain_t                    out;
    redisReply                    *q, *c;
    ngx_http_taskgw_jw_t           jw;
    ngx_http_taskgw_main_conf_t   *tmcf;
    ngx_http_taskgw_metrics_sh_t  *sh;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);
    sh = tmcf->metrics ? tmcf->metrics->data : NULL;

    up = stats != NULL && stats->type == REDIS_REPLY_ARRAY
         && stats->elements == 4
         && stats->element[0]->type == REDIS_REPLY_INTEGER
         && stats->element[1]->type == REDIS_REPLY_ARRAY
         && stats->element[2]->type == REDIS_REPLY_ARRAY
         && stats->element[3]->type == REDIS_REPLY_ARRAY
         && stats->element[1]->elements % 7 == 0
         && stats->element[3]->elements % 2 == 0;

    if (stats != NULL && !up) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "taskgw: metrics: unexpected reply to the stats "
                      "script (%s)",
                      stats->type == REDIS_REPLY_ERROR ? stats->str : "type");
    }

    ngx_http_taskgw_jw_init(&jw, r->pool);

    ngx_http_taskgw_jw_printf(&jw,
        "# HELP taskgw_requests_total Requests answered by taskgw locations, "
        "by outcome.\n"
        "# TYPE taskgw_requests_total counter\n");

    for (i = 0; i < NGX_HTTP_TASKGW_METRICS_NOUTCOMES; i++) {
        ngx_http_taskgw_jw_printf(&jw,
                                  "taskgw_requests_total{outcome=\"%V\"} %uA\n",
                                  &ngx_http_taskgw_metrics_outcomes[i],
                                  sh ? sh->requests[i] : 0);
    }

    ngx_http_taskgw_jw_printf(&jw,
        "# HELP taskgw_enqueue_duration_seconds Time from a complete "
        "request body to the end of the enqueue reply.\n"
        "# TYPE taskgw_enqueue_duration_seconds histogram\n");

    cum = 0;

    for (i = 0; i <= NGX_HTTP_TASKGW_METRICS_NBUCKETS; i++) {
        cum += sh ? sh->buckets[i] : 0;
        ngx_http_taskgw_jw_printf(&jw,
            "taskgw_enqueue_duration_seconds_bucket{le=\"%s\"} %uL\n",
            i < NGX_HTTP_TASKGW_METRICS_NBUCKETS
                ? ngx_http_taskgw_metrics_le[i] : "+Inf",
            cum);
    }

    n = sh ? sh->sum_us : 0;

    ngx_http_taskgw_jw_printf(&jw,
        "taskgw_enqueue_duration_seconds_sum %uL.%06uL\n"
        "taskgw_enqueue_duration_seconds_count %uL\n",
        n / 1000000, n % 1000000, cum);

    ngx_http_taskgw_jw_printf(&jw,
        "# HELP taskgw_redis_wait_total Enqueues under taskgw_redis_wait, "
        "by whether enough replicas acknowledged them in time.\n"
        "# TYPE taskgw_redis_wait_total counter\n"
        "taskgw_redis_wait_total{result=\"met\"} %uA\n"
        "taskgw_redis_wait_total{result=\"missed\"} %uA\n",
        sh ? sh->wait[1] : 0, sh ? sh->wait[0] : 0);

    ngx_http_taskgw_jw_printf(&jw,
        "# HELP taskgw_limit_zone_keys Keys a taskgw_limit_zone holds now.\n"
        "# TYPE taskgw_limit_zone_keys gauge\n");

    ngx_http_taskgw_limit_zones((ngx_cycle_t *) ngx_cycle,
                                ngx_http_taskgw_metrics_zone, &jw);

    ngx_http_taskgw_jw_printf(&jw,
        "# HELP taskgw_limit_dry_run_rejections_total Requests a dry_run "
        "taskgw_limit of the zone would have rejected.\n"
        "# TYPE taskgw_limit_dry_run_rejections_total counter\n");

    ngx_http_taskgw_limit_zones((ngx_cycle_t *) ngx_cycle,
                                ngx_http_taskgw_metrics_dry_run, &jw);

    ngx_http_taskgw_jw_printf(&jw,
        "# HELP taskgw_redis_up Whether this scrape read the queue figures "
        "from Redis (1) or could not (0).\n"
        "# TYPE taskgw_redis_up gauge\n"
        "taskgw_redis_up %ui\n", up);

    if (tmcf->sentinels != NULL) {
        ngx_http_taskgw_redis_master(&master, &switches);

        ngx_http_taskgw_jw_printf(&jw,
            "# HELP taskgw_redis_master The master the Redis link of the "
            "worker process that answered is on, by address.\n"
            "# TYPE taskgw_redis_master gauge\n");

        if (master.len) {
            ngx_http_taskgw_jw_printf(&jw,
                "taskgw_redis_master{address=\"%V\"} 1\n", &master);
        }

        ngx_http_taskgw_jw_printf(&jw,
            "# HELP taskgw_redis_master_switches_total Times the worker "
            "process that answered found the master at a new address.\n"
            "# TYPE taskgw_redis_master_switches_total counter\n"
            "taskgw_redis_master_switches_total %ui\n", switches);
    }

    if (up) {
        q = stats->element[1];

        ngx_http_taskgw_jw_printf(&jw,
            "# HELP taskgw_queue_length Entries waiting in a queue's stream, "
            "by priority.\n"
            "# TYPE taskgw_queue_length gauge\n");

        for (i = 0; i < q->elements; i += 7) {
            for (k = 0; k < 3; k++) {
                ngx_http_taskgw_jw_printf(&jw, "taskgw_queue_length");
                ngx_http_taskgw_metrics_label(&jw, "{queue", q->element[i]);
                ngx_http_taskgw_jw_printf(&jw, ",priority=\"%V\"} %L\n",
                                          &ngx_http_taskgw_priorities[k],
                                          (int64_t) q->element[i + 1 + k]
                                                        ->integer);
            }
        }

        ngx_http_taskgw_jw_printf(&jw,
            "# HELP taskgw_queue_pending Entries a worker has taken and not "
            "yet finished.\n"
            "# TYPE taskgw_queue_pending gauge\n");

        for (i = 0; i < q->elements; i += 7) {
            ngx_http_taskgw_jw_printf(&jw, "taskgw_queue_pending");
            ngx_http_taskgw_metrics_label(&jw, "{queue", q->element[i]);
            ngx_http_taskgw_jw_printf(&jw, "} %L\n",
                                      (int64_t) q->element[i + 4]->integer);
        }

        ngx_http_taskgw_jw_printf(&jw,
            "# HELP taskgw_dead_tasks Tasks in a queue's dead-letter "
            "stream.\n"
            "# TYPE taskgw_dead_tasks gauge\n");

        for (i = 0; i < q->elements; i += 7) {
            ngx_http_taskgw_jw_printf(&jw, "taskgw_dead_tasks");
            ngx_http_taskgw_metrics_label(&jw, "{queue", q->element[i]);
            ngx_http_taskgw_jw_printf(&jw, "} %L\n",
                                      (int64_t) q->element[i + 5]->integer);
        }

        ngx_http_taskgw_jw_printf(&jw,
            "# HELP taskgw_scheduled_tasks Tasks waiting for their time "
            "(delayed, or backing off before a retry).\n"
            "# TYPE taskgw_scheduled_tasks gauge\n"
            "taskgw_scheduled_tasks %L\n"
            "# HELP taskgw_workers Workers whose heartbeat is current.\n"
            "# TYPE taskgw_workers gauge\n"
            "taskgw_workers %uz\n",
            (int64_t) stats->element[0]->integer,
            stats->element[2]->elements);

        c = stats->element[3];

        ngx_http_taskgw_jw_printf(&jw,
            "# HELP taskgw_worker_tasks_total Tasks the live workers have "
            "finished, by outcome, summed from their heartbeats.\n"
            "# TYPE taskgw_worker_tasks_total counter\n");

        for (i = 0; i < c->elements; i += 2) {
            if (c->element[i]->type != REDIS_REPLY_STRING
                || c->element[i + 1]->type != REDIS_REPLY_INTEGER)
            {
                continue;
            }

            ngx_http_taskgw_jw_printf(&jw, "taskgw_worker_tasks_total");
            ngx_http_taskgw_metrics_label(&jw, "{outcome", c->element[i]);
            ngx_http_taskgw_jw_printf(&jw, "} %L\n",
                                      (int64_t) c->element[i + 1]->integer);
        }
    }

    if (jw.failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = jw.pos - jw.start;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_type_lowcase = NULL;

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = jw.start;
    b->last = jw.pos;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* name="value" with the exposition format's escapes (\\, \", \n). */

/* One taskgw_limit_zone_keys sample; zone names need no escaping. */

static void
ngx_http_taskgw_metrics_zone(void *data, ngx_str_t *zone, ngx_uint_t keys,
    uint64_t dry_run_rejections)
{
    ngx_http_taskgw_jw_t  *jw = data;

    ngx_http_taskgw_jw_printf(jw, "taskgw_limit_zone_keys{zone=\"%V\"} %ui\n",
                              zone, keys);
}


/* One taskgw_limit_dry_run_rejections_total sample (shared memory: the
 * same from every worker process, kept across reloads with the zone). */

static void
ngx_http_taskgw_metrics_dry_run(void *data, ngx_str_t *zone, ngx_uint_t keys,
    uint64_t dry_run_rejections)
{
    ngx_http_taskgw_jw_t  *jw = data;

    ngx_http_taskgw_jw_printf(jw,
        "taskgw_limit_dry_run_rejections_total{zone=\"%V\"} %uL\n",
        zone, dry_run_rejections);
}


static void
ngx_http_taskgw_metrics_label(ngx_http_taskgw_jw_t *jw, const char *name,
    redisReply *v)
{
    size_t  i;

    ngx_http_taskgw_jw_raw(jw, name, ngx_strlen(name));
    ngx_http_taskgw_jw_raw(jw, "=\"", 2);

    if (v->type == REDIS_REPLY_STRING) {
        for (i = 0; i < v->len; i++) {
            switch (v->str[i]) {
            case '\\':
                ngx_http_taskgw_jw_raw(jw, "\\\\", 2);
                break;
            case '"':
                ngx_http_taskgw_jw_raw(jw, "\\\"", 2);
                break;
            case '\n':
                ngx_http_taskgw_jw_raw(jw, "\\n", 2);
                break;
            default:
                ngx_http_taskgw_jw_raw(jw, &v->str[i], 1);
            }
        }
    }

    ngx_http_taskgw_jw_raw(jw, "\"", 1);
}
