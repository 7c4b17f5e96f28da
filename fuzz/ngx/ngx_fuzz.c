
/*
 * The few things the module's fuzz targets need that nginx's own binary
 * would provide: the module's parsers are linked with a handful of
 * nginx's core files (the string, address, array, pool and allocation
 * functions, from the source scripts/nginx-src.sh fetches), and those
 * refer to the cycle and the error log, which live in files the targets
 * leave out.  Written for taskgw; nothing here comes from nginx.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_fuzz.h"


/* a cycle is never created: nothing the targets call reaches it */
volatile ngx_cycle_t  *ngx_cycle;

/* the log of the targets' pools: level 0, so only emergencies print */
static ngx_log_t  ngx_fuzz_log;


/*
 * nginx's ngx_log_error() and ngx_log_debug() come here when the log's
 * level lets a message through: it goes to stderr, as nginx's does
 * before its log files are open.
 */

void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    line[NGX_MAX_ERROR_STR];

    va_start(args, fmt);
    p = ngx_vslprintf(line, line + sizeof(line) - 1, fmt, args);
    va_end(args);

    *p++ = '\n';

    (void) write(STDERR_FILENO, line, p - line);
}


/*
 * A pool with no room of its own: every allocation is a malloc() of its
 * exact size (nginx's "large" allocations), so that ASan sees where each
 * one ends, as it would not inside a pool block.
 */

ngx_pool_t *
ngx_fuzz_pool(void)
{
    ngx_pool_t  *pool;

    pool = ngx_create_pool(sizeof(ngx_pool_t), &ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    return pool;
}


ngx_int_t
ngx_fuzz_record(const u_char **data, size_t *size, ngx_str_t *s)
{
    size_t  n;

    if (*size == 0) {
        return NGX_DECLINED;
    }

    n = **data;
    (*data)++;
    (*size)--;

    if (n > *size) {
        n = *size;
    }

    s->data = (u_char *) *data;
    s->len = n;

    *data += n;
    *size -= n;

    return NGX_OK;
}


char *
ngx_fuzz_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        abort();
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return (char *) p;
}


void ngx_cdecl
ngx_fuzz_fail(const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    line[NGX_MAX_ERROR_STR];

    va_start(args, fmt);
    p = ngx_vslprintf(line, line + sizeof(line) - 1, fmt, args);
    va_end(args);

    *p++ = '\n';

    (void) write(STDERR_FILENO, line, p - line);

    abort();
}
