
/*
 * ngx_http_taskgw_jsonw: the one small writer every JSON document of the
 * operator's endpoints is built with (also plain text, for metrics):
 * a buffer in the request's pool that grows, commas placed by nesting.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_taskgw_json.h"


static ngx_int_t ngx_http_taskgw_jw_reserve(ngx_http_taskgw_jw_t *jw,
    size_t n);
static void ngx_http_taskgw_jw_sep(ngx_http_taskgw_jw_t *jw);
static void ngx_http_taskgw_jw_done(ngx_http_taskgw_jw_t *jw);


void
ngx_http_taskgw_jw_init(ngx_http_taskgw_jw_t *jw, ngx_pool_t *pool)
{
    ngx_memzero(jw, sizeof(ngx_http_taskgw_jw_t));
    jw->pool = pool;
}


/* Room for n more bytes; after a failed allocation every write is a no-op. */

static ngx_int_t
ngx_http_taskgw_jw_reserve(ngx_http_taskgw_jw_t *jw, size_t n)
{
    u_char  *p;
    size_t   size, used;

    if (jw->failed) {
        return NGX_ERROR;
    }

    if ((size_t) (jw->end - jw->pos) >= n) {
        return NGX_OK;
    }

    used = jw->pos - jw->start;
    size = ngx_max(2 * (size_t) (jw->end - jw->start), used + n);
    size = ngx_max(size, 1024);

    p = ngx_pnalloc(jw->pool, size);
    if (p == NULL) {
        jw->failed = 1;
        return NGX_ERROR;
    }

    if (used) {
        ngx_memcpy(p, jw->start, used);
    }

    jw->start = p;
    jw->pos = p + used;
    jw->end = p + size;

    return NGX_OK;
}


void
ngx_http_taskgw_jw_raw(ngx_http_taskgw_jw_t *jw, const void *p, size_t len)
{
    if (ngx_http_taskgw_jw_reserve(jw, len) == NGX_OK && len) {
        jw->pos = ngx_cpymem(jw->pos, p, len);
    }
}


/* ngx_sprintf() formats, for text that is not JSON (metrics). */

void
ngx_http_taskgw_jw_printf(ngx_http_taskgw_jw_t *jw, const char *fmt, ...)
{
    u_char   buf[NGX_MAX_ERROR_STR], *last;
    va_list  args;

    va_start(args, fmt);
    last = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    ngx_http_taskgw_jw_raw(jw, buf, last - buf);
}


/* A comma before every member or element but the first of its level. */

static void
ngx_http_taskgw_jw_sep(ngx_http_taskgw_jw_t *jw)
{
    if (jw->after_key) {
        jw->after_key = 0;
        return;
    }

    if (jw->more & ((uint64_t) 1 << jw->depth)) {
        ngx_http_taskgw_jw_raw(jw, ",", 1);
    }
}


static void
ngx_http_taskgw_jw_done(ngx_http_taskgw_jw_t *jw)
{
    jw->more |= (uint64_t) 1 << jw->depth;
}


void
ngx_http_taskgw_jw_open(ngx_http_taskgw_jw_t *jw, u_char bracket)
{
    ngx_http_taskgw_jw_sep(jw);
    ngx_http_taskgw_jw_raw(jw, &bracket, 1);

    if (jw->depth == NGX_HTTP_TASKGW_JW_MAX_DEPTH) {
        jw->failed = 1;
        return;
    }

    jw->depth++;
    jw->more &= ~((uint64_t) 1 << jw->depth);
}


void
ngx_http_taskgw_jw_close(ngx_http_taskgw_jw_t *jw, u_char bracket)
{
    ngx_http_taskgw_jw_raw(jw, &bracket, 1);

    if (jw->depth == 0) {
        jw->failed = 1;
        return;
    }

    jw->depth--;
    ngx_http_taskgw_jw_done(jw);
}


void
ngx_http_taskgw_jw_key(ngx_http_taskgw_jw_t *jw, const char *name)
{
    ngx_http_taskgw_jw_str(jw, (u_char *) name, ngx_strlen(name));
    ngx_http_taskgw_jw_raw(jw, ":", 1);
    jw->after_key = 1;
}


void
ngx_http_taskgw_jw_str(ngx_http_taskgw_jw_t *jw, u_char *s, size_t len)
{
    size_t  n;

    ngx_http_taskgw_jw_sep(jw);

    n = ngx_http_taskgw_json_escape_len(s, len);

    if (ngx_http_taskgw_jw_reserve(jw, n + 2) != NGX_OK) {
        return;
    }

    *jw->pos++ = '"';
    jw->pos = ngx_http_taskgw_json_escape(jw->pos, s, len);
    *jw->pos++ = '"';

    ngx_http_taskgw_jw_done(jw);
}


void
ngx_http_taskgw_jw_int(ngx_http_taskgw_jw_t *jw, int64_t n)
{
    u_char  buf[NGX_INT64_LEN];

    ngx_http_taskgw_jw_sep(jw);
    ngx_http_taskgw_jw_raw(jw, buf, ngx_sprintf(buf, "%L", n) - buf);
    ngx_http_taskgw_jw_done(jw);
}


/* A value that is JSON text already ("null", a heartbeat, ...). */

void
ngx_http_taskgw_jw_value(ngx_http_taskgw_jw_t *jw, u_char *s, size_t len)
{
    ngx_http_taskgw_jw_sep(jw);
    ngx_http_taskgw_jw_raw(jw, s, len);
    ngx_http_taskgw_jw_done(jw);
}
