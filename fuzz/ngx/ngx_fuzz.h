
/*
 * What the module's fuzz targets need around nginx's core files (see
 * ngx_fuzz.c): a pool, and reading a fuzzer's input as records.
 */


#ifndef _NGX_FUZZ_H_INCLUDED_
#define _NGX_FUZZ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* A pool for one input; ngx_destroy_pool() it at the end. */
ngx_pool_t *ngx_fuzz_pool(void);

/*
 * The next record of the input: a length byte, then that many bytes
 * (fewer at the end of the input).  NGX_DECLINED at the end.
 */
ngx_int_t ngx_fuzz_record(const u_char **data, size_t *size, ngx_str_t *s);

/* The record's bytes as a NUL-terminated copy in the pool. */
char *ngx_fuzz_cstr(ngx_pool_t *pool, ngx_str_t *s);

/* Stops the run with the message and the input, as a crash does. */
void ngx_fuzz_fail(const char *fmt, ...) ngx_cdecl;


#endif /* _NGX_FUZZ_H_INCLUDED_ */
