
/*
 * ngx_http_taskgw_module: the module definition, its directives and
 * configuration (create, merge, checks), process lifecycle and dispatch.
 * The Redis address and backoff directives are in
 * ngx_http_taskgw_redis_conf.c, those that make a location one of
 * taskgw's (taskgw_enqueue and the like) in _location_conf.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_limit.h"
#include "ngx_http_taskgw_ops.h"
#include "ngx_http_taskgw_pubsub.h"
#include "ngx_http_taskgw_record.h"


static ngx_int_t ngx_http_taskgw_init(ngx_conf_t *cf);
static void *ngx_http_taskgw_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_taskgw_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_taskgw_queue_key_init(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf);
static void *ngx_http_taskgw_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_taskgw_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void *ngx_http_taskgw_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_taskgw_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_taskgw_init_process(ngx_cycle_t *cycle);
static void ngx_http_taskgw_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_taskgw_timeout_check(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_taskgw_prefix_check(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_taskgw_max_delay_check(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_taskgw_max_wait_check(ngx_conf_t *cf, void *post,
    void *data);

static ngx_int_t ngx_http_taskgw_content_handler(ngx_http_request_t *r);


/* checked where it is set, so that nginx -t names the directive's line */
static ngx_conf_post_handler_pt  ngx_http_taskgw_timeout_post =
    ngx_http_taskgw_timeout_check;
static ngx_conf_post_handler_pt  ngx_http_taskgw_prefix_post =
    ngx_http_taskgw_prefix_check;
static ngx_conf_post_handler_pt  ngx_http_taskgw_max_delay_post =
    ngx_http_taskgw_max_delay_check;
static ngx_conf_post_handler_pt  ngx_http_taskgw_max_wait_post =
    ngx_http_taskgw_max_wait_check;


/* directive names by ngx_http_taskgw_handler_e, for messages */
static ngx_str_t  ngx_http_taskgw_handler_names[] = {
    ngx_null_string,
    ngx_string("taskgw_enqueue"),
    ngx_string("taskgw_status"),
    ngx_string("taskgw_metrics"),
    ngx_string("taskgw_health"),
    ngx_string("taskgw_admin")
};


static ngx_command_t  ngx_http_taskgw_commands[] = {

    { ngx_string("taskgw_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_taskgw_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("taskgw_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_taskgw_main_conf_t, timeout),
      &ngx_http_taskgw_timeout_post },

    { ngx_string("taskgw_redis_backoff"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_taskgw_backoff,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("taskgw_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_taskgw_main_conf_t, prefix),
      &ngx_http_taskgw_prefix_post },

    { ngx_string("taskgw_enqueue"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_http_taskgw_enqueue,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("taskgw_redis_wait"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_taskgw_wait_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("taskgw_validate_json"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_taskgw_loc_conf_t, validate_json),
      NULL },

    { ngx_string("taskgw_max_delay"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_taskgw_loc_conf_t, max_delay),
      &ngx_http_taskgw_max_delay_post },

    { ngx_string("taskgw_max_backlog"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_taskgw_loc_conf_t, max_backlog),
      NULL },

    { ngx_string("taskgw_max_payload"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_taskgw_loc_conf_t, max_payload),
      NULL },

    { ngx_string("taskgw_callback_allow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_taskgw_callback_allow,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("taskgw_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_taskgw_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("taskgw_status_max_wait"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_taskgw_loc_conf_t, status_max_wait),
      &ngx_http_taskgw_max_wait_post },

    { ngx_string("taskgw_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_taskgw_ops_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_TASKGW_METRICS,
      NULL },

    { ngx_string("taskgw_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_taskgw_ops_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_TASKGW_HEALTH,
      NULL },

    { ngx_string("taskgw_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_taskgw_ops_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_TASKGW_ADMIN,
      NULL },

    { ngx_string("taskgw_tokens"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_taskgw_tokens,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("taskgw_tokens_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_taskgw_main_conf_t, tokens_redis),
      NULL },

    { ngx_string("taskgw_tokens_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_taskgw_main_conf_t, tokens_cache_ttl),
      NULL },

    { ngx_string("taskgw_tokens_cache_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_taskgw_main_conf_t, tokens_cache_size),
      NULL },

    { ngx_string("taskgw_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_taskgw_auth,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("taskgw_allow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_taskgw_allow,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("taskgw_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_taskgw_limit_zone_directive,
      0,
      0,
      NULL },

    { ngx_string("taskgw_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_taskgw_limit_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("taskgw_limit_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_taskgw_loc_conf_t, limit_headers),
      &ngx_http_taskgw_limit_headers_modes },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_taskgw_module_ctx = {
    ngx_http_taskgw_add_variables,     /* preconfiguration */
    ngx_http_taskgw_init,              /* postconfiguration */

    ngx_http_taskgw_create_main_conf,  /* create main configuration */
    ngx_http_taskgw_init_main_conf,    /* init main configuration */

    ngx_http_taskgw_create_srv_conf,   /* create server configuration */
    ngx_http_taskgw_merge_srv_conf,    /* merge server configuration */

    ngx_http_taskgw_create_loc_conf,   /* create location configuration */
    ngx_http_taskgw_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_taskgw_module = {
    NGX_MODULE_V1,
    &ngx_http_taskgw_module_ctx,       /* module context */
    ngx_http_taskgw_commands,          /* module directives */
    NGX_HTTP_MODULE,                   /* module type */
    NULL,                              /* init master */
    NULL,                              /* init module */
    ngx_http_taskgw_init_process,      /* init process */
    NULL,                              /* init thread */
    NULL,                              /* exit thread */
    ngx_http_taskgw_exit_process,      /* exit process */
    NULL,                              /* exit master */
    NGX_MODULE_V1_PADDING
};


/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */


static ngx_int_t
ngx_http_taskgw_init(ngx_conf_t *cf)
{
    if (ngx_http_taskgw_access_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_taskgw_metrics_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_taskgw_record_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_taskgw_init_filters(cf);
}


static void *
ngx_http_taskgw_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_taskgw_main_conf_t  *tmcf;

    tmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_taskgw_main_conf_t));
    if (tmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tmcf->address = { 0, NULL };
     *     tmcf->host = { 0, NULL };
     *     tmcf->password = { 0, NULL };
     *     tmcf->prefix = { 0, NULL };
     *     tmcf->used = 0;
     */

    tmcf->port = NGX_CONF_UNSET;
    tmcf->db = NGX_CONF_UNSET;
    tmcf->timeout = NGX_CONF_UNSET_MSEC;
    tmcf->backoff_min = NGX_CONF_UNSET_MSEC;
    tmcf->backoff_max = NGX_CONF_UNSET_MSEC;
    tmcf->tokens_redis = NGX_CONF_UNSET;
    tmcf->tokens_cache_ttl = NGX_CONF_UNSET_MSEC;
    tmcf->tokens_cache_size = NGX_CONF_UNSET_SIZE;
    tmcf->request_id_index = NGX_CONF_UNSET;

    return tmcf;
}


static char *
ngx_http_taskgw_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_taskgw_main_conf_t *tmcf = conf;

    u_char     *p;
    size_t      len;
    ngx_str_t   empty;
    ngx_str_t   def = ngx_string("127.0.0.1:6379");

    if (tmcf->port == NGX_CONF_UNSET) {
        if (ngx_http_taskgw_parse_redis_address(cf, tmcf, &def) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_conf_init_value(tmcf->db, 0);
    ngx_conf_init_msec_value(tmcf->timeout, 1000);
    ngx_conf_init_msec_value(tmcf->backoff_min, 100);
    ngx_conf_init_msec_value(tmcf->backoff_max, 2000);

    if (tmcf->prefix.data == NULL) {
        ngx_str_set(&tmcf->prefix, "taskgw");
    }

    /* the keys every enqueue names, made once from the key schema */

    empty.len = 0;
    empty.data = NULL;

    len = 2 * tmcf->prefix.len + sizeof(NGX_HTTP_TASKGW_KEY_TASK)
          + sizeof(NGX_HTTP_TASKGW_KEY_SCHEDULED);

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    tmcf->task_prefix.data = p;
    p = ngx_sprintf(p, NGX_HTTP_TASKGW_KEY_TASK, &tmcf->prefix, &empty);
    tmcf->task_prefix.len = p - tmcf->task_prefix.data;

    tmcf->scheduled.data = p;
    p = ngx_sprintf(p, NGX_HTTP_TASKGW_KEY_SCHEDULED, &tmcf->prefix);
    tmcf->scheduled.len = p - tmcf->scheduled.data;

    if (ngx_http_taskgw_queue_key_init(cf, tmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_taskgw_tokens_init_conf(cf, tmcf);
}


/*
 * A queue's stream key is the key schema's format with the prefix, the
 * queue and the priority: made once with a byte no name contains in
 * place of the queue and of the priority, and cut there, it is three
 * fixed pieces around them, and an enqueue writes it without a printf.
 */

static ngx_int_t
ngx_http_taskgw_queue_key_init(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf)
{
    u_char      *p, *last, *start;
    ngx_str_t    mark;
    ngx_uint_t   i;

    mark.len = 1;
    mark.data = (u_char *) "\001";

    p = ngx_pnalloc(cf->pool, tmcf->prefix.len
                              + sizeof(NGX_HTTP_TASKGW_KEY_QUEUE));
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = ngx_sprintf(p, NGX_HTTP_TASKGW_KEY_QUEUE, &tmcf->prefix,
                       &mark, &mark);

    start = p;

    for (i = 0; i < 3; i++) {
        tmcf->queue_key[i].data = start;

        while (p < last && *p != '\001') {
            p++;
        }

        tmcf->queue_key[i].len = p - start;
        start = ++p;

        if (i < 2 && p > last) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void *
ngx_http_taskgw_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_taskgw_srv_conf_t  *tscf;

    tscf = ngx_pcalloc(cf->pool, sizeof(ngx_http_taskgw_srv_conf_t));
    if (tscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tscf->status_location = { 0, NULL };
     */

    return tscf;
}


static char *
ngx_http_taskgw_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    /* status_location belongs to one server and is never inherited */
    return NGX_CONF_OK;
}


static void *
ngx_http_taskgw_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_taskgw_loc_conf_t  *tlcf;

    tlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_taskgw_loc_conf_t));
    if (tlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tlcf->handler = NGX_HTTP_TASKGW_NONE;
     *     tlcf->queue = NULL;
     *     tlcf->type = NULL;
     *     tlcf->status_id = NULL;
     */

    tlcf->priority = NGX_CONF_UNSET_UINT;
    tlcf->validate_json = NGX_CONF_UNSET;
    tlcf->max_delay = NGX_CONF_UNSET;
    tlcf->status_max_wait = NGX_CONF_UNSET_MSEC;
    tlcf->max_payload = NGX_CONF_UNSET_SIZE;
    tlcf->max_backlog = NGX_CONF_UNSET;
    tlcf->wait_replicas = NGX_CONF_UNSET;
    tlcf->wait_timeout = NGX_CONF_UNSET_MSEC;
    tlcf->auth = NGX_CONF_UNSET_UINT;
    tlcf->limits = NGX_CONF_UNSET_PTR;
    tlcf->limit_headers = NGX_CONF_UNSET_UINT;

    return tlcf;
}


static char *
ngx_http_taskgw_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_taskgw_loc_conf_t *prev = parent;
    ngx_http_taskgw_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    /*
     * handlers are per location: a nested location does not inherit one;
     * one that another directive replaced later in the block (proxy_pass
     * after taskgw_enqueue) is refused here, naming our directive's line
     */

    if (conf->handler != NGX_HTTP_TASKGW_NONE) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        if (clcf->handler != ngx_http_taskgw_content_handler) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"%V\" cannot be combined with another content "
                          "handler (such as proxy_pass) in one location "
                          "in %V:%ui",
                          &ngx_http_taskgw_handler_names[conf->handler],
                          &conf->handler_file, conf->handler_line);
            return NGX_CONF_ERROR;
        }
    }


    ngx_conf_merge_uint_value(conf->priority, prev->priority,
                              NGX_HTTP_TASKGW_PRIO_NORMAL);
    ngx_conf_merge_value(conf->validate_json, prev->validate_json, 0);
    ngx_conf_merge_sec_value(conf->max_delay, prev->max_delay, 7 * 86400);
    ngx_conf_merge_msec_value(conf->status_max_wait, prev->status_max_wait,
                              NGX_HTTP_TASKGW_MAX_WAIT);
    ngx_conf_merge_size_value(conf->max_payload, prev->max_payload,
                              16 * 1024 * 1024);
    ngx_conf_merge_value(conf->max_backlog, prev->max_backlog, 0);
    ngx_conf_merge_value(conf->wait_replicas, prev->wait_replicas, 0);
    ngx_conf_merge_msec_value(conf->wait_timeout, prev->wait_timeout, 0);
    ngx_conf_merge_uint_value(conf->auth, prev->auth,
                              NGX_HTTP_TASKGW_ROLE_NONE);

    /* the admin API asks every caller for a token, of ops at least */

    if (conf->handler == NGX_HTTP_TASKGW_ADMIN
        && conf->auth < NGX_HTTP_TASKGW_ROLE_OPS)
    {
        conf->auth = NGX_HTTP_TASKGW_ROLE_OPS;
    }

    /* a level with taskgw_allow replaces its parent's list, as allow does */

    if (conf->allow == NULL) {
        conf->allow = prev->allow;
        conf->allow_all = prev->allow_all;
    }

    if (conf->callback_allow == NULL) {
        conf->callback_allow = prev->callback_allow;
    }

    return ngx_http_taskgw_limit_merge(cf, prev, conf);
}


/* taskgw_redis_timeout time; -- a zero timeout would never fire */

static char *
ngx_http_taskgw_timeout_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *msp = data;

    if (*msp == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"taskgw_redis_timeout\" must be more than 0");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * taskgw_status_max_wait time; -- can only lower the longest long poll
 */

static char *
ngx_http_taskgw_max_wait_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *mp = data;

    if (*mp > NGX_HTTP_TASKGW_MAX_WAIT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"taskgw_status_max_wait\" must be at most "
                           "%Ms", (ngx_msec_t) NGX_HTTP_TASKGW_MAX_WAIT / 1000);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * taskgw_max_delay time; -- bounded, so that a start time in unix ms
 * (now + delay * 1000) is always far from overflowing 64 bits
 */

static char *
ngx_http_taskgw_max_delay_check(ngx_conf_t *cf, void *post, void *data)
{
    time_t  *sp = data;

    if (*sp > NGX_HTTP_TASKGW_MAX_DELAY_CAP) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"taskgw_max_delay\" must be at most %uid",
                           (ngx_uint_t) NGX_HTTP_TASKGW_MAX_DELAY_CAP / 86400);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * taskgw_prefix string; -- the namespace the worker and taskgwctl share:
 * the same rule as theirs, 1-128 visible characters without braces.
 */

static char *
ngx_http_taskgw_prefix_check(ngx_conf_t *cf, void *post, void *data)
{
    u_char     *p, *last;
    ngx_str_t  *s = data;

    if (s->len == 0 || s->len > NGX_HTTP_TASKGW_PREFIX_MAX) {
        goto invalid;
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '{' || *p == '}') {
            goto invalid;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid prefix \"%V\" (1-%d visible characters, "
                       "no braces)", s, NGX_HTTP_TASKGW_PREFIX_MAX);
    return NGX_CONF_ERROR;
}


char *
ngx_http_taskgw_set_handler(ngx_conf_t *cf, ngx_http_taskgw_loc_conf_t *tlcf,
    ngx_http_taskgw_handler_e handler)
{
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_taskgw_main_conf_t  *tmcf;

    if (tlcf->handler != NGX_HTTP_TASKGW_NONE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "a location takes only one of \"taskgw_enqueue\", "
                           "\"taskgw_status\", \"taskgw_metrics\", "
                           "\"taskgw_health\" and \"taskgw_admin\"");
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* proxy_pass and the like before us; after us: see the merge */

    if (clcf->handler != NULL
        && clcf->handler != ngx_http_taskgw_content_handler)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" cannot be combined with another content "
                           "handler (such as proxy_pass) in one location",
                           &ngx_http_taskgw_handler_names[handler]);
        return NGX_CONF_ERROR;
    }

    tlcf->handler = handler;
    tlcf->handler_file = cf->conf_file->file.name;
    tlcf->handler_line = cf->conf_file->line;

    clcf->handler = ngx_http_taskgw_content_handler;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_taskgw_module);
    tmcf->used = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_taskgw_init_process(ngx_cycle_t *cycle)
{
    ngx_http_taskgw_main_conf_t  *tmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_taskgw_module);

    if (tmcf == NULL || !tmcf->used) {
        return NGX_OK;
    }

    /*
     * A new worker still has the clock the master cached when it began to
     * read the configuration, which can be seconds ago: the links' connect
     * timers must count from now, or the first attempt times out at once.
     */

    ngx_time_update();

    if (ngx_http_taskgw_redis_init_process(cycle, tmcf) != NGX_OK
        || ngx_http_taskgw_wait_init_process(cycle, tmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_taskgw_pubsub_init_process(cycle, tmcf);
}


static void
ngx_http_taskgw_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_taskgw_pubsub_exit_process(cycle);
    ngx_http_taskgw_wait_exit_process(cycle);
    ngx_http_taskgw_redis_exit_process(cycle);
}


/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */


/*
 * Every taskgw location runs one pipeline, in the order of docs/directives.md:
 * allowlist -> token -> rate limit -> request validation -> Redis -> reply.
 * The edge checks (allowlist, token, limit) belong to the access phase;
 * what is left for the content phase is the location's own work.
 */

static ngx_int_t
ngx_http_taskgw_content_handler(ngx_http_request_t *r)
{
    ngx_http_taskgw_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (ngx_http_taskgw_get_ctx(r) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (tlcf->handler) {

    case NGX_HTTP_TASKGW_ENQUEUE:
        return ngx_http_taskgw_enqueue_handler(r);

    case NGX_HTTP_TASKGW_STATUS:
        return ngx_http_taskgw_status_handler(r);

    case NGX_HTTP_TASKGW_METRICS:
        return ngx_http_taskgw_metrics_handler(r);

    case NGX_HTTP_TASKGW_HEALTH:
        return ngx_http_taskgw_health_handler(r);

    case NGX_HTTP_TASKGW_ADMIN:
        return ngx_http_taskgw_admin_handler(r);

    default:
        return NGX_DECLINED;
    }
}
