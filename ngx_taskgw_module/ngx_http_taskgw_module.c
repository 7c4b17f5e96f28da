
/*
 * ngx_http_taskgw_module: directives, configuration, variables, and the
 * JSON replies every taskgw location answers with (its own and nginx's).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_json.h"
#include "ngx_http_taskgw_limit.h"


static ngx_int_t ngx_http_taskgw_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_taskgw_init(ngx_conf_t *cf);
static void *ngx_http_taskgw_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_taskgw_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_taskgw_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_taskgw_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void *ngx_http_taskgw_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_taskgw_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_taskgw_init_process(ngx_cycle_t *cycle);
static void ngx_http_taskgw_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_taskgw_redis_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_taskgw_parse_redis_address(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *value);
static char *ngx_http_taskgw_timeout_check(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_taskgw_prefix_check(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_taskgw_backoff(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_taskgw_enqueue(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_taskgw_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_taskgw_set_handler(ngx_conf_t *cf,
    ngx_http_taskgw_loc_conf_t *tlcf, ngx_http_taskgw_handler_e handler);

static ngx_int_t ngx_http_taskgw_content_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_taskgw_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_taskgw_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_taskgw_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* HTTP status -> (error code, outcome label) for replies nginx makes. */
typedef struct {
    ngx_uint_t   status;
    const char  *code;
    const char  *message;
    ngx_str_t    outcome;
} ngx_http_taskgw_error_map_t;


static ngx_http_taskgw_error_map_t  ngx_http_taskgw_errors[] = {
    { NGX_HTTP_BAD_REQUEST, "bad_request", "malformed request",
      ngx_string("bad_request") },
    { NGX_HTTP_UNAUTHORIZED, "unauthorized", "a valid token is required",
      ngx_string("unauthorized") },
    { NGX_HTTP_FORBIDDEN, "forbidden", "access denied",
      ngx_string("forbidden") },
    { NGX_HTTP_NOT_FOUND, "not_found", "not found",
      ngx_string("bad_request") },
    { NGX_HTTP_NOT_ALLOWED, "method_not_allowed", "method not allowed",
      ngx_string("bad_request") },
    { NGX_HTTP_REQUEST_TIME_OUT, "bad_request", "request body timed out",
      ngx_string("bad_request") },
    { NGX_HTTP_CONFLICT, "conflict", "conflict",
      ngx_string("bad_request") },
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "too_large",
      "request body exceeds client_max_body_size",
      ngx_string("too_large") },
    { NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
      "unsupported media type", ngx_string("bad_request") },
    { 422, "idempotency_conflict", "unprocessable request",
      ngx_string("bad_request") },
    { 429, "rate_limited", "rate limit exceeded",
      ngx_string("rate_limited") },
    { NGX_HTTP_SERVICE_UNAVAILABLE, "unavailable",
      "service temporarily unavailable", ngx_string("unavailable") },
    { 0, "unavailable", "internal error", ngx_string("unavailable") }
};


/* any other 4xx nginx makes (412 on If-Match, ...) is the client's fault */
static ngx_http_taskgw_error_map_t  ngx_http_taskgw_client_error =
    { 0, "bad_request", "the request cannot be served",
      ngx_string("bad_request") };


/* checked where it is set, so that nginx -t names the directive's line */
static ngx_conf_post_handler_pt  ngx_http_taskgw_timeout_post =
    ngx_http_taskgw_timeout_check;
static ngx_conf_post_handler_pt  ngx_http_taskgw_prefix_post =
    ngx_http_taskgw_prefix_check;


ngx_str_t  ngx_http_taskgw_priorities[] = {
    ngx_string("high"),
    ngx_string("normal"),
    ngx_string("low"),
    ngx_null_string
};


static ngx_command_t  ngx_http_taskgw_commands[] = {

    { ngx_string("taskgw_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
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
      NULL },

    { ngx_string("taskgw_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_taskgw_status,
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


/* $taskgw_* variables: the data is the offset of an ngx_str_t in ctx */
static ngx_http_variable_t  ngx_http_taskgw_vars[] = {

    { ngx_string("taskgw_task_id"), NULL, ngx_http_taskgw_variable,
      offsetof(ngx_http_taskgw_ctx_t, task_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("taskgw_outcome"), NULL, ngx_http_taskgw_variable,
      offsetof(ngx_http_taskgw_ctx_t, outcome),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("taskgw_limit_status"), NULL, ngx_http_taskgw_variable,
      offsetof(ngx_http_taskgw_ctx_t, limit_status),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */


static ngx_int_t
ngx_http_taskgw_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_taskgw_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_taskgw_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_taskgw_body_filter;

    return ngx_http_taskgw_limit_init(cf);
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

    return tmcf;
}


static char *
ngx_http_taskgw_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_taskgw_main_conf_t *tmcf = conf;

    ngx_str_t  def = ngx_string("127.0.0.1:6379");

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

    return NGX_CONF_OK;
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
    tlcf->limits = NGX_CONF_UNSET_PTR;
    tlcf->limit_headers = NGX_CONF_UNSET_UINT;

    return tlcf;
}


static char *
ngx_http_taskgw_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_taskgw_loc_conf_t *prev = parent;
    ngx_http_taskgw_loc_conf_t *conf = child;

    /* handlers are per location: a nested location does not inherit one */

    ngx_conf_merge_uint_value(conf->priority, prev->priority,
                              NGX_HTTP_TASKGW_PRIO_NORMAL);
    ngx_conf_merge_value(conf->validate_json, prev->validate_json, 0);
    ngx_conf_merge_sec_value(conf->max_delay, prev->max_delay, 7 * 86400);

    return ngx_http_taskgw_limit_merge(cf, prev, conf);
}


/*
 * taskgw_redis host:port|unix:/path [password=S] [db=N];
 * The host is resolved here, at configuration time, so that the worker
 * processes only ever connect to a numeric address and never wait on DNS.
 */

static char *
ngx_http_taskgw_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_taskgw_main_conf_t *tmcf = conf;

    ngx_str_t   *value, s;
    ngx_int_t    db;
    ngx_uint_t   i;

    if (tmcf->port != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            s.len = value[i].len - 9;
            s.data = value[i].data + 9;

            if (tmcf->password.data != NULL) {
                goto duplicate;
            }

            if (s.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty password in \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            tmcf->password = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            if (tmcf->db != NGX_CONF_UNSET) {
                goto duplicate;
            }

            db = ngx_atoi(value[i].data + 3, value[i].len - 3);

            if (db == NGX_ERROR || db > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid database number in \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            tmcf->db = db;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_taskgw_parse_redis_address(cf, tmcf, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "duplicate parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_taskgw_parse_redis_address(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *value)
{
    u_char     *p;
    size_t      len;
    ngx_url_t   u;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *value;
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s in redis address \"%V\"",
                           u.err ? u.err : "invalid value", value);
        return NGX_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis address \"%V\" has no address", value);
        return NGX_ERROR;
    }

    tmcf->address = *value;

#if (NGX_HAVE_UNIX_DOMAIN)
    if (u.family == AF_UNIX) {
        len = value->len - 5;
        p = ngx_pnalloc(cf->pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, value->data + 5, len);
        p[len] = '\0';

        tmcf->host.data = p;
        tmcf->host.len = len;
        tmcf->port = 0;

        return NGX_OK;
    }
#endif

    p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, p,
                        NGX_SOCKADDR_STRLEN, 0);

    /* ngx_sock_ntop() brackets IPv6 addresses only when it adds a port */
    p[len] = '\0';

    tmcf->host.data = p;
    tmcf->host.len = len;
    tmcf->port = u.port;

    return NGX_OK;
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


/* taskgw_redis_backoff min max; -- reconnect delays after a failure */

static char *
ngx_http_taskgw_backoff(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_taskgw_main_conf_t *tmcf = conf;

    ngx_str_t   *value;
    ngx_msec_t   min, max;

    if (tmcf->backoff_min != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    min = ngx_parse_time(&value[1], 0);
    if (min == (ngx_msec_t) NGX_ERROR || min == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid minimum delay \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    max = ngx_parse_time(&value[2], 0);
    if (max == (ngx_msec_t) NGX_ERROR || max < min) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid maximum delay \"%V\" "
                           "(must be at least the minimum)", &value[2]);
        return NGX_CONF_ERROR;
    }

    tmcf->backoff_min = min;
    tmcf->backoff_max = max;

    return NGX_CONF_OK;
}


static char *
ngx_http_taskgw_set_handler(ngx_conf_t *cf, ngx_http_taskgw_loc_conf_t *tlcf,
    ngx_http_taskgw_handler_e handler)
{
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_taskgw_main_conf_t  *tmcf;

    if (tlcf->handler != NGX_HTTP_TASKGW_NONE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "a location takes only one of \"taskgw_enqueue\" "
                           "and \"taskgw_status\"");
        return NGX_CONF_ERROR;
    }

    tlcf->handler = handler;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_taskgw_content_handler;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_taskgw_module);
    tmcf->used = 1;

    return NGX_CONF_OK;
}


/* taskgw_enqueue [queue=complex] [type=complex] [priority=high|normal|low]; */

static char *
ngx_http_taskgw_enqueue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_taskgw_loc_conf_t *tlcf = conf;

    char                              *rv;
    ngx_str_t                         *value, s;
    ngx_uint_t                         i, p;
    ngx_http_complex_value_t         **cvp;
    ngx_http_compile_complex_value_t   ccv;

    rv = ngx_http_taskgw_set_handler(cf, tlcf, NGX_HTTP_TASKGW_ENQUEUE);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "priority=", 9) == 0) {
            if (tlcf->priority != NGX_CONF_UNSET_UINT) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate parameter \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            s.len = value[i].len - 9;
            s.data = value[i].data + 9;

            for (p = 0; ngx_http_taskgw_priorities[p].len; p++) {
                if (s.len == ngx_http_taskgw_priorities[p].len
                    && ngx_strncmp(s.data, ngx_http_taskgw_priorities[p].data,
                                   s.len) == 0)
                {
                    break;
                }
            }

            if (ngx_http_taskgw_priorities[p].len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid priority \"%V\", "
                                   "it must be \"high\", \"normal\" or "
                                   "\"low\"", &s);
                return NGX_CONF_ERROR;
            }

            tlcf->priority = p;
            continue;
        }

        if (ngx_strncmp(value[i].data, "queue=", 6) == 0) {
            s.len = value[i].len - 6;
            s.data = value[i].data + 6;
            cvp = &tlcf->queue;

        } else if (ngx_strncmp(value[i].data, "type=", 5) == 0) {
            s.len = value[i].len - 5;
            s.data = value[i].data + 5;
            cvp = &tlcf->type;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (s.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty value in \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (*cvp != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        *cvp = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (*cvp == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &s;
        ccv.complex_value = *cvp;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        /* a value without variables is checked now, not on each request */

        if ((*cvp)->lengths != NULL) {
            continue;
        }

        if (cvp == &tlcf->queue) {
            if (ngx_http_taskgw_valid_name(&s, NGX_HTTP_TASKGW_QUEUE_MAX, 0)
                != NGX_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid queue name \"%V\", it must be "
                                   "1-%d characters of A-Z a-z 0-9 . _ -",
                                   &s, NGX_HTTP_TASKGW_QUEUE_MAX);
                return NGX_CONF_ERROR;
            }

        } else if (ngx_http_taskgw_valid_name(&s, NGX_HTTP_TASKGW_TYPE_MAX, 1)
                   != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid task type \"%V\", it must be "
                               "1-%d characters of A-Z a-z 0-9 . _ - :",
                               &s, NGX_HTTP_TASKGW_TYPE_MAX);
            return NGX_CONF_ERROR;
        }
    }

    if (tlcf->queue == NULL) {
        tlcf->queue = ngx_pcalloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (tlcf->queue == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&tlcf->queue->value, "default");
    }

    return NGX_CONF_OK;
}


/* taskgw_status [id=complex]; */

static char *
ngx_http_taskgw_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_taskgw_loc_conf_t *tlcf = conf;

    char                              *rv;
    ngx_str_t                         *value, s;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_taskgw_srv_conf_t        *tscf;
    ngx_http_compile_complex_value_t   ccv;

    rv = ngx_http_taskgw_set_handler(cf, tlcf, NGX_HTTP_TASKGW_STATUS);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strncmp(value[1].data, "id=", 3) != 0 || value[1].len == 3) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        s.len = value[1].len - 3;
        s.data = value[1].data + 3;

        tlcf->status_id = ngx_palloc(cf->pool,
                                     sizeof(ngx_http_complex_value_t));
        if (tlcf->status_id == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &s;
        ccv.complex_value = tlcf->status_id;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    /* enqueue replies in this server point their Location: here */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    tscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_taskgw_module);

    if (tscf->status_location.len == 0 && !clcf->named
#if (NGX_PCRE)
        && clcf->regex == NULL
#endif
        )
    {
        s = clcf->name;

        while (s.len && s.data[s.len - 1] == '/') {
            s.len--;
        }

        tscf->status_location = s;
    }

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

    return ngx_http_taskgw_redis_init_process(cycle, tmcf);
}


static void
ngx_http_taskgw_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_taskgw_redis_exit_process(cycle);
}


/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */


/*
 * Every taskgw location runs one pipeline, in the order SPEC §2 fixes:
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

    default:
        return NGX_DECLINED;
    }
}


ngx_http_taskgw_ctx_t *
ngx_http_taskgw_get_ctx(ngx_http_request_t *r)
{
    ngx_http_taskgw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_taskgw_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_taskgw_module);
    }

    return ctx;
}


/* Sends a complete JSON response; the result is for finalize_request. */

ngx_int_t
ngx_http_taskgw_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *outcome, u_char *body, size_t len)
{
    ngx_int_t               rc;
    ngx_buf_t              *b;
    ngx_chain_t             out;
    ngx_http_taskgw_ctx_t  *ctx;

    ctx = ngx_http_taskgw_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->replied = 1;

    if (outcome) {
        ctx->outcome = *outcome;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (r->method == NGX_HTTP_HEAD || len == 0) {
        r->header_only = (r->method == NGX_HTTP_HEAD) ? 1 : r->header_only;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->pos, body, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_http_taskgw_error_map_t *
ngx_http_taskgw_error_for(ngx_uint_t status)
{
    ngx_http_taskgw_error_map_t  *e;

    for (e = ngx_http_taskgw_errors; e->status; e++) {
        if (e->status == status) {
            return e;
        }
    }

    if (status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
        return &ngx_http_taskgw_client_error;
    }

    return e;
}


static u_char *
ngx_http_taskgw_error_body(ngx_pool_t *pool, const char *code,
    const char *message, size_t *len)
{
    u_char  *p, *body;
    size_t   n;

    n = sizeof("{\"error\":\"\",\"message\":\"\"}") - 1
        + ngx_http_taskgw_json_escape_len((u_char *) code, ngx_strlen(code))
        + ngx_http_taskgw_json_escape_len((u_char *) message,
                                          ngx_strlen(message));

    body = ngx_pnalloc(pool, n);
    if (body == NULL) {
        return NULL;
    }

    p = ngx_cpymem(body, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = ngx_http_taskgw_json_escape(p, (u_char *) code, ngx_strlen(code));
    p = ngx_cpymem(p, "\",\"message\":\"", sizeof("\",\"message\":\"") - 1);
    p = ngx_http_taskgw_json_escape(p, (u_char *) message,
                                    ngx_strlen(message));
    *p++ = '"';
    *p++ = '}';

    *len = p - body;

    return body;
}


/*
 * The JSON error of SPEC §4: {"error":"<code>","message":"<text>"}.
 * The outcome label follows the status (see ngx_http_taskgw_errors).
 */

ngx_int_t
ngx_http_taskgw_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    u_char                       *body;
    size_t                        len;
    ngx_http_taskgw_error_map_t  *e;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "taskgw: %ui %s: %s", status, code, message);

    body = ngx_http_taskgw_error_body(r->pool, code, message, &len);
    if (body == NULL) {
        return NGX_ERROR;
    }

    if (r->headers_out.status != 0 && r->header_sent) {
        return NGX_ERROR;
    }

    e = ngx_http_taskgw_error_for(status);

    return ngx_http_taskgw_send_json(r, status, &e->outcome, body, len);
}


/* 405 with Allow: the methods the location takes; the body is dropped. */

ngx_int_t
ngx_http_taskgw_not_allowed(ngx_http_request_t *r, char *allow,
    const char *message)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        /* 400 on a broken chunked body, as nginx says */
        return rc;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = (u_char *) allow;
    h->value.len = ngx_strlen(allow);

    return ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                      "method_not_allowed", message);
}


/* 503 with Retry-After: 1, for any failure to reach or use Redis. */

ngx_int_t
ngx_http_taskgw_unavailable(ngx_http_request_t *r, const char *message)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    ngx_str_set(&h->value, "1");

    return ngx_http_taskgw_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "unavailable", message);
}


/*
 * Finds a request header by name.  *h is NULL when it is absent;
 * NGX_DECLINED when it is repeated, which the module treats as malformed.
 */

ngx_int_t
ngx_http_taskgw_find_header(ngx_http_request_t *r, const char *name,
    ngx_table_elt_t **h)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *header;

    *h = NULL;
    len = ngx_strlen(name);

    part = &r->headers_in.headers.part;
    header = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            header = part->elts;
            i = 0;
        }

        if (header[i].hash == 0 || header[i].key.len != len
            || ngx_strncasecmp(header[i].key.data, (u_char *) name, len) != 0)
        {
            continue;
        }

        if (*h != NULL) {
            return NGX_DECLINED;
        }

        *h = &header[i];
    }

    return NGX_OK;
}


/* Wall-clock time in unix milliseconds, from nginx's cached time. */

int64_t
ngx_http_taskgw_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + (int64_t) tp->msec;
}


/* RFC 3339 UTC with milliseconds: 2026-11-23T10:00:00.123Z */

u_char *
ngx_http_taskgw_iso_time(u_char *p, int64_t ms)
{
    ngx_tm_t  tm;

    ngx_gmtime((time_t) (ms / 1000), &tm);

    return ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                       (int) (ms % 1000));
}


/* ------------------------------------------------------------------ */
/* JSON for the replies nginx makes itself in taskgw locations         */
/* ------------------------------------------------------------------ */

/*
 * nginx answers some requests before the module sees them (413 when the
 * body exceeds client_max_body_size, 400 on a broken chunked body, 500
 * on an internal failure).  In a taskgw location those replies are
 * rewritten here into the JSON error of SPEC §4, so clients always get
 * one error format.
 */

static ngx_int_t
ngx_http_taskgw_header_filter(ngx_http_request_t *r)
{
    u_char                       *body;
    size_t                        len;
    ngx_http_taskgw_ctx_t        *ctx;
    ngx_http_taskgw_loc_conf_t   *tlcf;
    ngx_http_taskgw_error_map_t  *e;

    if (r != r->main || r->headers_out.status < NGX_HTTP_BAD_REQUEST) {
        return ngx_http_next_header_filter(r);
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    /* a rate-limited location answers its 429 in JSON whatever it is */

    if (tlcf == NULL
        || (tlcf->handler == NGX_HTTP_TASKGW_NONE && tlcf->limits == NULL))
    {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_taskgw_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->replied) {
        return ngx_http_next_header_filter(r);
    }

    e = ngx_http_taskgw_error_for(r->headers_out.status);

    body = ngx_http_taskgw_error_body(r->pool, e->code, e->message, &len);
    if (body == NULL) {
        return NGX_ERROR;
    }

    ctx->json_error = 1;
    ctx->error_body.data = body;
    ctx->error_body.len = len;
    ctx->outcome = e->outcome;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    r->headers_out.content_length_n = len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_taskgw_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t              *b;
    ngx_chain_t            *cl, out;
    ngx_http_taskgw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    if (ctx == NULL || !ctx->json_error) {
        return ngx_http_next_body_filter(r, in);
    }

    /* swallow nginx's own error page */

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (ctx->error_body.len == 0) {
        return NGX_OK;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->error_body.data;
    b->last = ctx->error_body.data + ctx->error_body.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    ctx->error_body.len = 0;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


static ngx_int_t
ngx_http_taskgw_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t              *s;
    ngx_http_taskgw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) ctx + data);

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
