/*
 * Fuzz target: the module's strict JSON validator (taskgw_validate_json)
 * and its string escaper.  Checks against jansson, an independent parser:
 * a document the validator accepts must parse there too (the validator is
 * the stricter one: it also refuses what jansson would take, such as
 * nesting deeper than NGX_HTTP_TASKGW_JSON_MAX_DEPTH), and escaping any
 * bytes must give the body of a valid JSON string.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include <jansson.h>

#include "ngx_http_taskgw_json.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char        *p, *q, *e;
    size_t         n;
    json_t        *v;
    json_error_t   err;

    /* a copy of exactly size bytes: ASan sees any read past its end */
    p = malloc(size ? size : 1);
    if (p == NULL) {
        return 0;
    }
    memcpy(p, data, size);

    if (ngx_http_taskgw_json_valid(p, size) == NGX_OK) {
        v = json_loadb((const char *) p, size, JSON_DECODE_ANY
                       | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
        if (v == NULL && strstr(err.text, "overflow") == NULL) {
            fprintf(stderr, "validator accepted what jansson refuses: %s\n",
                    err.text);
            abort();
        }
        json_decref(v);
    }

    n = ngx_http_taskgw_json_escape_len(p, size);
    q = malloc(n + 2);
    if (q != NULL) {
        q[0] = '"';
        e = ngx_http_taskgw_json_escape(q + 1, p, size);
        if ((size_t) (e - (q + 1)) != n) {
            abort();
        }
        *e = '"';
        v = json_loadb((const char *) q, n + 2, JSON_DECODE_ANY
                       | JSON_ALLOW_NUL, &err);
        if (v == NULL) {
            fprintf(stderr, "escaped text is no JSON string: %s\n",
                    err.text);
            abort();
        }
        json_decref(v);
        free(q);
    }

    free(p);
    return 0;
}
