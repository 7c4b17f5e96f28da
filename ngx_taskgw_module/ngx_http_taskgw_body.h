
/*
 * ngx_http_taskgw_body: the request body as enqueue needs it.
 */


#ifndef _NGX_HTTP_TASKGW_BODY_H_INCLUDED_
#define _NGX_HTTP_TASKGW_BODY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


off_t ngx_http_taskgw_body_length(ngx_http_request_t *r);
ngx_int_t ngx_http_taskgw_read_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_http_taskgw_body_sha256(ngx_http_request_t *r, u_char *hex);


#endif /* _NGX_HTTP_TASKGW_BODY_H_INCLUDED_ */
