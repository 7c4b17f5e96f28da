
/*
 * ngx_http_taskgw_admin: what the admin API's files share: the state of
 * one admin request, the helpers of its Redis steps and replies.
 */


#ifndef _NGX_HTTP_TASKGW_ADMIN_H_INCLUDED_
#define _NGX_HTTP_TASKGW_ADMIN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_ops.h"


/* The state of one admin request between its Redis steps. */
typedef struct {
    ngx_str_t                   arg;        /* the route's "*" */
    ngx_str_t                   queue;      /* GET dead */
    ngx_str_t                   token;      /* POST tokens: shown once */
    ngx_str_t                   role;
} ngx_http_taskgw_admin_ctx_t;


ngx_int_t ngx_http_taskgw_admin_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_http_taskgw_jw_t *jw);
ngx_int_t ngx_http_taskgw_admin_redis(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmd, ngx_http_taskgw_redis_done_pt done);
ngx_http_taskgw_admin_ctx_t *ngx_http_taskgw_admin_get_ctx(
    ngx_http_request_t *r);
ngx_str_t *ngx_http_taskgw_admin_who(ngx_http_request_t *r);
u_char *ngx_http_taskgw_admin_now(ngx_http_request_t *r, size_t *len);
ngx_int_t ngx_http_taskgw_admin_tokens_list(ngx_http_request_t *r,
    ngx_str_t *arg);
ngx_int_t ngx_http_taskgw_admin_tokens_create(ngx_http_request_t *r,
    ngx_str_t *arg);
ngx_int_t ngx_http_taskgw_admin_tokens_revoke(ngx_http_request_t *r,
    ngx_str_t *arg);
/* the dead-letter routes (ngx_http_taskgw_admin_dead.c): GET dead,
 * POST dead/<id>/replay, DELETE dead/<id> */
ngx_int_t ngx_http_taskgw_admin_dead_list(ngx_http_request_t *r,
    ngx_str_t *arg);
ngx_int_t ngx_http_taskgw_admin_dead_replay(ngx_http_request_t *r,
    ngx_str_t *arg);
ngx_int_t ngx_http_taskgw_admin_dead_purge(ngx_http_request_t *r,
    ngx_str_t *arg);
void ngx_http_taskgw_admin_failed(ngx_http_request_t *r, redisReply *reply);


#endif /* _NGX_HTTP_TASKGW_ADMIN_H_INCLUDED_ */
