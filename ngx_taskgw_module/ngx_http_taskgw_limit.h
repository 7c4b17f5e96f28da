
/*
 * ngx_http_taskgw_limit: rate limits in shared memory (taskgw_limit_zone,
 * taskgw_limit, taskgw_limit_headers, $taskgw_limit_status).  The
 * directives are in ngx_http_taskgw_limit_conf.c, the requests' side in
 * ngx_http_taskgw_limit.c.
 */


#ifndef _NGX_HTTP_TASKGW_LIMIT_H_INCLUDED_
#define _NGX_HTTP_TASKGW_LIMIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_shm.h"


/* taskgw_limit_headers */
#define NGX_HTTP_TASKGW_LIMIT_HEADERS_OFF     0
#define NGX_HTTP_TASKGW_LIMIT_HEADERS_ON      1
#define NGX_HTTP_TASKGW_LIMIT_HEADERS_LEGACY  2

/* Longer key= values are counted under their SHA-1. */
#define NGX_HTTP_TASKGW_LIMIT_KEY_MAX         64

/* Largest N of "Nr/s" and "Nr/m": one request per microsecond. */
#define NGX_HTTP_TASKGW_RATE_MAX              1000000


/* The value of a node in a limit zone. */
typedef struct {
    uint64_t                     tat;      /* microseconds, monotonic */
} ngx_http_taskgw_limit_node_t;


/* A taskgw_limit_zone: the helper's shm->data. */
typedef struct {
    ngx_str_t                    name;
    ngx_http_taskgw_rate_t       rate;
    ngx_uint_t                   burst;    /* requests beyond the rate */
    ngx_http_taskgw_shm_t       *shm;
    ngx_str_t                    policy;   /* "<name>";q=<n>;w=<period> */
    ngx_str_t                    state;    /* "<name>";r= */
} ngx_http_taskgw_limit_zone_t;


/* One taskgw_limit line of a location. */
typedef struct {
    ngx_shm_zone_t              *shm_zone; /* data: ngx_http_taskgw_shm_t */
    ngx_http_complex_value_t    *key;      /* NULL: token name or address */
    ngx_uint_t                   dry_run;
    ngx_str_t                    zone;     /* name, for "unknown zone" */
    u_char                      *file;     /* where the line is, idem */
    ngx_uint_t                   line;
} ngx_http_taskgw_limit_t;


/*
 * Called with each limit zone's name, the keys it holds now and the
 * requests its dry_run limits would have rejected since it was made.
 */
typedef void (*ngx_http_taskgw_limit_zone_pt)(void *data, ngx_str_t *zone,
    ngx_uint_t keys, uint64_t dry_run_rejections);


extern ngx_conf_enum_t  ngx_http_taskgw_limit_headers_modes[];
extern ngx_uint_t       ngx_http_taskgw_limit_tag;  /* of every limit zone */


char *ngx_http_taskgw_limit_zone_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_taskgw_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_taskgw_limit_merge(ngx_conf_t *cf,
    ngx_http_taskgw_loc_conf_t *prev, ngx_http_taskgw_loc_conf_t *conf);
void ngx_http_taskgw_limit_zones(ngx_cycle_t *cycle,
    ngx_http_taskgw_limit_zone_pt handler, void *data);

/* ngx_http_taskgw_parse.c */
ngx_int_t ngx_http_taskgw_parse_rate(ngx_str_t *value,
    ngx_http_taskgw_rate_t *rate);

/*
 * The rate-limit stage of the access checks (ngx_http_taskgw_access.c),
 * run once the allowlist and the token passed; it reads ctx->token_name
 * and ctx->token_rate.  NGX_DECLINED when the request may go on; 429
 * when a zone rejects it, with Retry-After set and ctx->reject_code for
 * the JSON error; NGX_ERROR on a failure.  Sets the RateLimit fields.
 */
ngx_int_t ngx_http_taskgw_limit_check(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx);


#endif /* _NGX_HTTP_TASKGW_LIMIT_H_INCLUDED_ */
