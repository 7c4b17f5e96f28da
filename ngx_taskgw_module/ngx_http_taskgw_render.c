
/*
 * ngx_http_taskgw_render: the task JSON of GET (taskgw_status), rendered
 * from the task hash's fields whatever they hold.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_json.h"
#include "ngx_http_taskgw_parse.h"


static u_char *ngx_http_taskgw_render_string(u_char *p, ngx_str_t *s);


/* by ngx_http_taskgw_field_e: what taskgw_status asks Redis for */

ngx_http_taskgw_field_t  ngx_http_taskgw_fields[TGW_FIELD_COUNT] = {
    { ngx_string("id"), TGW_JSON_STRING },
    { ngx_string("queue"), TGW_JSON_STRING },
    { ngx_string("type"), TGW_JSON_STRING },
    { ngx_string("priority"), TGW_JSON_STRING },
    { ngx_string("status"), TGW_JSON_STRING },
    { ngx_string("attempts"), TGW_JSON_INT },
    { ngx_string("owner"), TGW_JSON_STRING },
    { ngx_string("traceparent"), TGW_JSON_OPTIONAL },
    { ngx_string("created_at"), TGW_JSON_TIME },
    { ngx_string("run_at"), TGW_JSON_TIME },
    { ngx_string("started_at"), TGW_JSON_TIME },
    { ngx_string("finished_at"), TGW_JSON_TIME },
    { ngx_string("result"), TGW_JSON_RAW },
    { ngx_string("result_encoding"), TGW_JSON_SKIP },
    { ngx_string("error"), TGW_JSON_STRING },
    { ngx_string("webhook_status"), TGW_JSON_SKIP },
    { ngx_string("webhook_attempts"), TGW_JSON_SKIP }
};


/*
 * The task JSON shown by GET.  The payload is never shown; "result" is the
 * worker's stored JSON value, embedded as it is when it parses, else shown
 * as a string.
 */

u_char *
ngx_http_taskgw_render_task(ngx_pool_t *pool, ngx_str_t *f, size_t *len)
{
    u_char      *body, *p;
    size_t       size;
    int64_t      ms;
    ngx_int_t    n;
    ngx_uint_t   i;

    size = sizeof("{\"webhook\":{\"status\":,\"attempts\":},"
                  "\"result_encoding\":\"base64\",}") + NGX_INT_T_LEN;

    for (i = 0; i < TGW_FIELD_COUNT; i++) {
        size += ngx_http_taskgw_fields[i].name.len + sizeof("\"\":null,")
                + 2 + ngx_http_taskgw_json_escape_len(f[i].data, f[i].len)
                + sizeof("2026-11-23T10:00:00.123Z") + NGX_INT_T_LEN;
    }

    body = ngx_pnalloc(pool, size);
    if (body == NULL) {
        return NULL;
    }

    p = body;
    *p++ = '{';

    for (i = 0; i < TGW_FIELD_COUNT; i++) {

        if (ngx_http_taskgw_fields[i].kind == TGW_JSON_SKIP
            || (ngx_http_taskgw_fields[i].kind == TGW_JSON_OPTIONAL
                && f[i].len == 0))
        {
            continue;
        }

        if (p != body + 1) {
            *p++ = ',';
        }

        *p++ = '"';
        p = ngx_cpymem(p, ngx_http_taskgw_fields[i].name.data,
                       ngx_http_taskgw_fields[i].name.len);
        *p++ = '"';
        *p++ = ':';

        switch (ngx_http_taskgw_fields[i].kind) {

        case TGW_JSON_INT:
            n = ngx_atoi(f[i].data, f[i].len);
            p = ngx_sprintf(p, "%i", n == NGX_ERROR ? 0 : n);
            break;

        case TGW_JSON_TIME:
            n = ngx_atoi(f[i].data, f[i].len);
            if (n == NGX_ERROR || f[i].len == 0) {
                p = ngx_cpymem(p, "null", 4);
                break;
            }

            ms = (int64_t) n;
            *p++ = '"';
            p = ngx_http_taskgw_iso_time(p, ms);
            *p++ = '"';
            break;

        case TGW_JSON_RAW:
            if (f[i].len == 0) {
                p = ngx_cpymem(p, "null", 4);

            } else if (ngx_http_taskgw_json_valid(f[i].data, f[i].len)
                       == NGX_OK)
            {
                p = ngx_cpymem(p, f[i].data, f[i].len);

            } else {
                p = ngx_http_taskgw_render_string(p, &f[i]);
            }

            break;

        default: /* TGW_JSON_STRING, TGW_JSON_OPTIONAL */
            p = ngx_http_taskgw_render_string(p, &f[i]);
            break;
        }
    }

    if (f[TGW_FIELD_RESULT_ENCODING].len) {
        p = ngx_cpymem(p, ",\"result_encoding\":", 19);
        p = ngx_http_taskgw_render_string(p, &f[TGW_FIELD_RESULT_ENCODING]);
    }

    p = ngx_cpymem(p, ",\"webhook\":", 11);

    if (f[TGW_FIELD_WEBHOOK_STATUS].len) {
        n = ngx_atoi(f[TGW_FIELD_WEBHOOK_ATTEMPTS].data,
                     f[TGW_FIELD_WEBHOOK_ATTEMPTS].len);

        p = ngx_cpymem(p, "{\"status\":", 10);
        p = ngx_http_taskgw_render_string(p, &f[TGW_FIELD_WEBHOOK_STATUS]);
        p = ngx_sprintf(p, ",\"attempts\":%i}", n == NGX_ERROR ? 0 : n);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    *p++ = '}';

    *len = p - body;

    return body;
}


static u_char *
ngx_http_taskgw_render_string(u_char *p, ngx_str_t *s)
{
    if (s->len == 0) {
        return ngx_cpymem(p, "null", 4);
    }

    *p++ = '"';
    p = ngx_http_taskgw_json_escape(p, s->data, s->len);
    *p++ = '"';

    return p;
}


/* RFC 3339 UTC with milliseconds: 2026-11-23T10:00:00.123Z */

u_char *
ngx_http_taskgw_iso_time(u_char *p, int64_t ms)
{
    ngx_tm_t  tm;

    ngx_gmtime((time_t) (ms / 1000), &tm);

    return ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                       (int) (ms % 1000));
}
