
/*
 * ngx_http_taskgw_redis: the Redis link of one nginx worker process.
 * hiredis's async API driven by nginx's event loop, timeouts, reconnects.
 */


#ifndef _NGX_HTTP_TASKGW_REDIS_H_INCLUDED_
#define _NGX_HTTP_TASKGW_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <hiredis/hiredis.h>
#include "ngx_http_taskgw_module.h"


/* At most this many commands go out as one batch. */
#define NGX_HTTP_TASKGW_REDIS_MAX_BATCH  8


/* One command of a batch: argc arguments, binary-safe. */
typedef struct {
    int                  argc;
    const char          *argv[32];
    size_t               argvlen[32];
} ngx_http_taskgw_redis_cmd_t;


/*
 * Called once per batch with the reply of its last command, or with NULL
 * when the link failed or timed out before the reply came.  Not called
 * when the request went away in the meantime.
 */
typedef void (*ngx_http_taskgw_redis_done_pt)(ngx_http_request_t *r,
    redisReply *reply);


ngx_int_t ngx_http_taskgw_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_taskgw_main_conf_t *tmcf);
void ngx_http_taskgw_redis_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_taskgw_redis_send(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_http_taskgw_redis_done_pt done);
ngx_uint_t ngx_http_taskgw_redis_is_up(void);
void ngx_http_taskgw_redis_fire(ngx_http_taskgw_redis_cmd_t *cmd);
void ngx_http_taskgw_redis_cmd_arg(ngx_http_taskgw_redis_cmd_t *cmd,
    const void *data, size_t len);
ngx_uint_t ngx_http_taskgw_redis_reply_ok(redisReply *reply);


#endif /* _NGX_HTTP_TASKGW_REDIS_H_INCLUDED_ */
