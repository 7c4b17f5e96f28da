
/*
 * ngx_http_taskgw_token: what the token files share (the run-time token
 * hash fields, their parsers, the shared-memory cache of Redis lookups).
 */


#ifndef _NGX_HTTP_TASKGW_TOKEN_H_INCLUDED_
#define _NGX_HTTP_TASKGW_TOKEN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"


/* Fields of a run-time token's hash {prefix}:token:<sha256hex>. */
typedef enum {
    NGX_HTTP_TASKGW_TF_NAME = 0,
    NGX_HTTP_TASKGW_TF_ROLE,
    NGX_HTTP_TASKGW_TF_IPS,
    NGX_HTTP_TASKGW_TF_RATE,
    NGX_HTTP_TASKGW_TF_QUEUES,
    NGX_HTTP_TASKGW_TF_DISABLED,
    NGX_HTTP_TASKGW_TF_COUNT
} ngx_http_taskgw_token_field_e;


/* Longest field of a run-time token the module takes (taskgwctl: 1024). */
#define NGX_HTTP_TASKGW_TOKEN_FIELD_MAX  4096


/* ngx_http_taskgw_token_lookup.c */
ngx_int_t ngx_http_taskgw_token_lookup(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx);
ngx_int_t ngx_http_taskgw_token_wait(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx);

/* ngx_http_taskgw_parse_token.c */
ngx_int_t ngx_http_taskgw_token_from_fields(ngx_pool_t *pool,
    ngx_str_t *fields, ngx_http_taskgw_token_t *tok, const char **err);

/* ngx_http_taskgw_token_cache.c */
ngx_int_t ngx_http_taskgw_token_cache_add(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf);
ngx_int_t ngx_http_taskgw_token_cache_get(ngx_http_taskgw_main_conf_t *tmcf,
    u_char *digest, ngx_pool_t *pool, ngx_str_t *fields);
ngx_int_t ngx_http_taskgw_token_cache_put(ngx_http_taskgw_main_conf_t *tmcf,
    u_char *digest, ngx_str_t *fields);
void ngx_http_taskgw_token_cache_abandon(ngx_http_taskgw_main_conf_t *tmcf,
    u_char *digest);
void ngx_http_taskgw_token_cache_forget(ngx_http_taskgw_main_conf_t *tmcf,
    u_char *digest);


#endif /* _NGX_HTTP_TASKGW_TOKEN_H_INCLUDED_ */
