
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


/* The JSON writer (ngx_http_taskgw_jsonw.c); zero-initialised by jw_init. */

#define NGX_HTTP_TASKGW_JW_MAX_DEPTH  63

typedef struct {
    ngx_pool_t  *pool;
    u_char      *start;
    u_char      *pos;
    u_char      *end;
    uint64_t     more;        /* bit n: level n has a member already */
    ngx_uint_t   depth;
    unsigned     after_key:1; /* a key was written, its value is next */
    unsigned     failed:1;    /* out of memory: the text is incomplete */
} ngx_http_taskgw_jw_t;

void ngx_http_taskgw_jw_init(ngx_http_taskgw_jw_t *jw, ngx_pool_t *pool);
void ngx_http_taskgw_jw_raw(ngx_http_taskgw_jw_t *jw, const void *p,
    size_t len);
void ngx_http_taskgw_jw_printf(ngx_http_taskgw_jw_t *jw, const char *fmt,
    ...);
void ngx_http_taskgw_jw_open(ngx_http_taskgw_jw_t *jw, u_char bracket);
void ngx_http_taskgw_jw_close(ngx_http_taskgw_jw_t *jw, u_char bracket);
void ngx_http_taskgw_jw_key(ngx_http_taskgw_jw_t *jw, const char *name);
void ngx_http_taskgw_jw_str(ngx_http_taskgw_jw_t *jw, u_char *s,
    size_t len);
void ngx_http_taskgw_jw_int(ngx_http_taskgw_jw_t *jw, int64_t n);
void ngx_http_taskgw_jw_value(ngx_http_taskgw_jw_t *jw, u_char *s,
    size_t len);

#define ngx_http_taskgw_jw_cstr(jw, s)                                       \
    ngx_http_taskgw_jw_str(jw, (u_char *) (s), ngx_strlen((s)))


#endif /* _NGX_HTTP_TASKGW_JSON_H_INCLUDED_ */
