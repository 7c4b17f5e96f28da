
/*
 * Fuzz target: the task JSON of GET (taskgw_status) fed arbitrary task
 * hash contents, as a worker, taskgwctl or anyone with Redis access may
 * have left them.
 *
 * The input is the hash's fields in ngx_http_taskgw_fields order, each a
 * length byte and that many bytes (an empty field is one the hash does
 * not have).  Whatever they hold, the output must be one JSON object to
 * the module's validator and to jansson, with every field where it
 * belongs: a text field null when empty and else the field's text (when
 * it is UTF-8), a time null or an RFC 3339 string (the one libc's
 * gmtime_r() gives, up to the year 9999).  The pool gives every
 * allocation its own malloc(), so ASan catches a write past the size the
 * renderer reserved.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include "ngx_http_taskgw_json.h"
#include "ngx_http_taskgw_parse.h"
#include "ngx_fuzz.h"


/* up to the year 9999 the time is the one libc's gmtime_r() gives */

static void
fuzz_check_time(const char *name, ngx_str_t *f, const char *t)
{
    char       want[64];
    time_t     sec;
    ngx_int_t  ms;
    struct tm  tm;

    ms = ngx_atoi(f->data, f->len);

    if (ms == NGX_ERROR || ms / 1000 > 253402300799) {
        return;
    }

    sec = ms / 1000;

    if (gmtime_r(&sec, &tm) == NULL) {
        return;
    }

    snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int) (ms % 1000));

    if (strcmp(want, t) != 0) {
        ngx_fuzz_fail("%s %V is %s, libc says %s", name, f, t, want);
    }
}


static void
fuzz_check_field(json_t *obj, ngx_uint_t i, ngx_str_t *f)
{
    json_t      *v, *s;
    const char  *name, *t;

    name = (const char *) ngx_http_taskgw_fields[i].name.data;

    v = json_object_get(obj, name);

    switch (ngx_http_taskgw_fields[i].kind) {

    case TGW_JSON_STRING:
    case TGW_JSON_OPTIONAL:
        if (f->len == 0) {
            if (ngx_http_taskgw_fields[i].kind == TGW_JSON_OPTIONAL) {
                if (v != NULL) {
                    ngx_fuzz_fail("an empty %s is not left out", name);
                }
                break;
            }

            if (!json_is_null(v)) {
                ngx_fuzz_fail("an empty %s is not null", name);
            }
            break;
        }

        if (!json_is_string(v)) {
            ngx_fuzz_fail("%s is not a string", name);
        }

        s = json_stringn((const char *) f->data, f->len);

        if (s != NULL) {
            if (!json_equal(s, v)) {
                ngx_fuzz_fail("%s is not the field's text", name);
            }

            json_decref(s);
        }

        break;

    case TGW_JSON_INT:
        if (!json_is_number(v)) {
            ngx_fuzz_fail("%s is not a number", name);
        }
        break;

    case TGW_JSON_TIME:
        if (json_is_null(v)) {
            break;
        }

        t = json_string_value(v);

        /* YYYY-MM-DDTHH:MM:SS.mmmZ, the year maybe longer */

        if (t == NULL || json_string_length(v) < 24
            || t[json_string_length(v) - 1] != 'Z'
            || t[json_string_length(v) - 5] != '.'
            || t[json_string_length(v) - 14] != 'T')
        {
            ngx_fuzz_fail("%s is not an RFC 3339 time", name);
        }

        fuzz_check_time(name, f, t);
        break;

    case TGW_JSON_RAW:
        if (v == NULL || (f->len == 0 && !json_is_null(v))) {
            ngx_fuzz_fail("%s is missing or not null when empty", name);
        }
        break;

    default: /* TGW_JSON_SKIP */
        break;
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char        *out;
    size_t         len;
    json_t        *obj;
    ngx_str_t      f[TGW_FIELD_COUNT];
    ngx_uint_t     i;
    ngx_pool_t    *pool;
    json_error_t   err;

    ngx_memzero(f, sizeof(f));

    for (i = 0; i < TGW_FIELD_COUNT; i++) {
        if (ngx_fuzz_record(&data, &size, &f[i]) != NGX_OK) {
            break;
        }
    }

    pool = ngx_fuzz_pool();

    out = ngx_http_taskgw_render_task(pool, f, &len);
    if (out == NULL) {
        ngx_fuzz_fail("render_task failed");
    }

    if (ngx_http_taskgw_json_valid(out, len) != NGX_OK) {
        ngx_fuzz_fail("not valid JSON to the module: %*s", len, out);
    }

    obj = json_loadb((const char *) out, len, JSON_ALLOW_NUL, &err);

    if (obj == NULL) {
        /* a stored result may hold numbers too large for jansson */

        if (ngx_strstr(err.text, "overflow") == NULL
            && ngx_strstr(err.text, "too big") == NULL)
        {
            ngx_fuzz_fail("not a JSON object to jansson (%s): %*s",
                          err.text, len, out);
        }

        ngx_destroy_pool(pool);
        return 0;
    }

    for (i = 0; i < TGW_FIELD_COUNT; i++) {
        fuzz_check_field(obj, i, &f[i]);
    }

    if (json_object_get(obj, "webhook") == NULL) {
        ngx_fuzz_fail("no webhook member: %*s", len, out);
    }

    json_decref(obj);
    ngx_destroy_pool(pool);

    return 0;
}
