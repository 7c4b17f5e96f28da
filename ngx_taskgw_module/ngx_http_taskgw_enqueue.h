
/*
 * The enqueue's parts, one file each: the request's checks
 * (ngx_http_taskgw_enqueue.c), the task into Redis (_enqueue_store.c),
 * the answer (_enqueue_reply.c).  The handler, and the answer sent after
 * a wait for replicas, are in ngx_http_taskgw_module.h.
 */


#ifndef _NGX_HTTP_TASKGW_ENQUEUE_H_INCLUDED_
#define _NGX_HTTP_TASKGW_ENQUEUE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <hiredis/hiredis.h>
#include "ngx_http_taskgw_module.h"


/*
 * Sends the request's task to Redis (reload: loading the enqueue script
 * first); the reply ends the request.  NGX_OK when sent.
 */
ngx_int_t ngx_http_taskgw_enqueue_store(ngx_http_request_t *r,
    ngx_uint_t reload);

/*
 * The 202 of the stored task, or (first: the enqueue script's answer to
 * a replay) the 200 of the task first stored under its Idempotency-Key.
 */
void ngx_http_taskgw_enqueue_reply(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, redisReply *first);

/* 503 queue_full with its Retry-After. */
ngx_int_t ngx_http_taskgw_queue_full(ngx_http_request_t *r);


#endif /* _NGX_HTTP_TASKGW_ENQUEUE_H_INCLUDED_ */
