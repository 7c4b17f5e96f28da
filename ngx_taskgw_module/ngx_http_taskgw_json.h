
/*
 * ngx_http_taskgw_json: strict JSON validation (RFC 8259) and escaping.
 * Used by taskgw_validate_json and when task JSON is rendered.
 */


#ifndef _NGX_HTTP_TASKGW_JSON_H_INCLUDED_
#define _NGX_HTTP_TASKGW_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* Deepest nesting of arrays and objects a document may have. */
#define NGX_HTTP_TASKGW_JSON_MAX_DEPTH  256


ngx_int_t ngx_http_taskgw_json_valid(u_char *p, size_t len);
size_t ngx_http_taskgw_json_escape_len(u_char *s, size_t len);
u_char *ngx_http_taskgw_json_escape(u_char *dst, u_char *s, size_t len);


#endif /* _NGX_HTTP_TASKGW_JSON_H_INCLUDED_ */
