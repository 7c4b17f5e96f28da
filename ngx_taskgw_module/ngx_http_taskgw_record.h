
/*
 * The task record written at enqueue, and the module's random ids
 * (ngx_http_taskgw_record.c).
 */


#ifndef _NGX_HTTP_TASKGW_RECORD_H_INCLUDED_
#define _NGX_HTTP_TASKGW_RECORD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"


/* Writes the record's field names in RESP, once, at configuration. */
ngx_int_t ngx_http_taskgw_record_init(ngx_conf_t *cf);

/*
 * Adds the task hash's fields and values to c; those with nothing to say
 * are left out, the payload only with body.
 */
ngx_int_t ngx_http_taskgw_record_add(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_http_taskgw_redis_cmd_t *c,
    ngx_uint_t body);

/* n random bytes from the kernel's CSPRNG, from a buffered block. */
ngx_int_t ngx_http_taskgw_random(u_char *dst, size_t n);

/* n in decimal at p (at most NGX_INT64_LEN bytes); returns the end. */
u_char *ngx_http_taskgw_record_int(u_char *p, int64_t n);

/* A UUIDv7 in lowercase canonical text (36 bytes) at dst. */
ngx_int_t ngx_http_taskgw_uuid7(u_char *dst);


#endif /* _NGX_HTTP_TASKGW_RECORD_H_INCLUDED_ */
