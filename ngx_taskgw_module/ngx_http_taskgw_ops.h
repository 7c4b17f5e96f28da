
/*
 * ngx_http_taskgw_ops: the operator's endpoints (taskgw_metrics,
 * taskgw_health, taskgw_admin) and the Redis reads they share.
 */


#ifndef _NGX_HTTP_TASKGW_OPS_H_INCLUDED_
#define _NGX_HTTP_TASKGW_OPS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"


/* ngx_http_taskgw_metrics.c */
ngx_int_t ngx_http_taskgw_metrics_init(ngx_conf_t *cf);
ngx_int_t ngx_http_taskgw_metrics_handler(ngx_http_request_t *r);
void ngx_http_taskgw_metrics_wait(ngx_http_request_t *r, ngx_uint_t met);

/* ngx_http_taskgw_stats.c */
ngx_int_t ngx_http_taskgw_stats_read(ngx_http_request_t *r,
    ngx_uint_t per_queue, ngx_http_taskgw_redis_done_pt done);

/* ngx_http_taskgw_health.c */
ngx_int_t ngx_http_taskgw_health_handler(ngx_http_request_t *r);

/* ngx_http_taskgw_admin.c */
ngx_int_t ngx_http_taskgw_admin_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_TASKGW_OPS_H_INCLUDED_ */
