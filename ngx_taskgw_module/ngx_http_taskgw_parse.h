
/*
 * ngx_http_taskgw_parse: the parsers of what clients and operators write
 * (request header values, token file lines and run-time token fields,
 * address lists, rates) and the task JSON of GET.  Pure functions over
 * strings: no request, no configuration, at most a pool.  The handlers
 * and the directives call them, and so do the fuzz targets (fuzz/), which
 * link these files with a few of nginx's core files only.
 */


#ifndef _NGX_HTTP_TASKGW_PARSE_H_INCLUDED_
#define _NGX_HTTP_TASKGW_PARSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_limit.h"


/* The longest callback URL stored with a task. */
#define NGX_HTTP_TASKGW_CALLBACK_MAX  2048

/* The longest token accepted in a header. */
#define NGX_HTTP_TASKGW_TOKEN_MAX     4096


/* The task hash fields the task JSON shows, in the order it shows them. */
typedef enum {
    TGW_FIELD_ID = 0,
    TGW_FIELD_QUEUE,
    TGW_FIELD_TYPE,
    TGW_FIELD_PRIORITY,
    TGW_FIELD_STATUS,
    TGW_FIELD_ATTEMPTS,
    TGW_FIELD_OWNER,
    TGW_FIELD_TRACEPARENT,
    TGW_FIELD_CREATED_AT,
    TGW_FIELD_RUN_AT,
    TGW_FIELD_STARTED_AT,
    TGW_FIELD_FINISHED_AT,
    TGW_FIELD_RESULT,
    TGW_FIELD_RESULT_ENCODING,
    TGW_FIELD_ERROR,
    TGW_FIELD_WEBHOOK_STATUS,
    TGW_FIELD_WEBHOOK_ATTEMPTS,
    TGW_FIELD_COUNT
} ngx_http_taskgw_field_e;


/* How a field is rendered. */
typedef enum {
    TGW_JSON_STRING,       /* "text", null when empty */
    TGW_JSON_OPTIONAL,     /* "text", left out when empty */
    TGW_JSON_INT,          /* 12, 0 when empty */
    TGW_JSON_TIME,         /* unix ms -> "2026-...Z", null when empty */
    TGW_JSON_RAW,          /* stored JSON embedded as is, null when empty */
    TGW_JSON_SKIP          /* rendered by hand */
} ngx_http_taskgw_json_kind_e;


typedef struct {
    ngx_str_t                     name;
    ngx_http_taskgw_json_kind_e   kind;
} ngx_http_taskgw_field_t;


extern ngx_http_taskgw_field_t  ngx_http_taskgw_fields[TGW_FIELD_COUNT];


/* ngx_http_taskgw_parse.c: request headers */
ngx_int_t ngx_http_taskgw_parse_priority(ngx_str_t *value);
ngx_int_t ngx_http_taskgw_parse_when(ngx_str_t *delay, ngx_str_t *run_at,
    int64_t now, time_t max_delay, int64_t *when, const char **message);
ngx_int_t ngx_http_taskgw_valid_idem_key(ngx_str_t *value);
ngx_int_t ngx_http_taskgw_parse_callback(ngx_str_t *value,
    const char **message);
ngx_int_t ngx_http_taskgw_is_bearer(ngx_str_t *authorization);
ngx_int_t ngx_http_taskgw_parse_token(ngx_str_t *authorization,
    ngx_str_t *api_token, ngx_str_t *token);

/* ngx_http_taskgw_parse_token.c: tokens */
ngx_int_t ngx_http_taskgw_token_parse_line(ngx_pool_t *pool, u_char *p,
    u_char *last, ngx_http_taskgw_token_t *tok, ngx_str_t *bad,
    const char **why);
ngx_uint_t ngx_http_taskgw_parse_role(ngx_str_t *s);
ngx_int_t ngx_http_taskgw_token_parse_rate(ngx_str_t *s);
ngx_int_t ngx_http_taskgw_parse_ips(ngx_pool_t *pool, ngx_str_t *s,
    ngx_array_t **ips, ngx_str_t *bad);
/*
 * also there, declared where their users look for them:
 * ngx_http_taskgw_token_from_fields() (ngx_http_taskgw_token.h),
 * ngx_http_taskgw_valid_name() and ngx_http_taskgw_roles[]
 * (ngx_http_taskgw_module.h); in ngx_http_taskgw_parse.c (addresses,
 * rates): ngx_http_taskgw_parse_rate() (ngx_http_taskgw_limit.h),
 * ngx_http_taskgw_addr_in() and ngx_http_taskgw_priorities[]
 * (ngx_http_taskgw_module.h)
 */

/* ngx_http_taskgw_render.c */
u_char *ngx_http_taskgw_render_task(ngx_pool_t *pool, ngx_str_t *f,
    size_t *len);


#endif /* _NGX_HTTP_TASKGW_PARSE_H_INCLUDED_ */
