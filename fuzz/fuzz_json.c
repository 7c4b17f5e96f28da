
/*
 * Fuzz target: the module's JSON validator (taskgw_validate_json, the
 * stored result of GET) and its string escaping.
 *
 * The input is a document.  The validator must agree with jansson, which
 * the worker parses payloads with: what one takes the other takes, except
 * for numbers too large for jansson's doubles (JSON allows them), nesting
 * deeper than the module's limit, and input with a NUL byte, which must
 * be refused (jansson's reader is no judge of those).  Then the input as a string:
 * its escaped form must be exactly as long as escape_len said, must be a
 * valid JSON string to both parsers, and must decode back to the input
 * when the input is UTF-8.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include "ngx_http_taskgw_json.h"
#include "ngx_fuzz.h"


static size_t
fuzz_depth(json_t *v)
{
    size_t       d, max;
    const char  *key;
    json_t      *e;
    size_t       i;

    max = 0;

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            d = fuzz_depth(e);
            if (d > max) {
                max = d;
            }
        }

        return max + 1;
    }

    if (json_is_object(v)) {
        json_object_foreach(v, key, e) {
            d = fuzz_depth(e);
            if (d > max) {
                max = d;
            }
        }

        return max + 1;
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char        *esc, *p, *doc;
    size_t         len;
    json_t        *v;
    ngx_int_t      ours;
    json_error_t   err;

    /* the document */

    ours = ngx_http_taskgw_json_valid((u_char *) data, size);

    v = json_loadb((const char *) data, size,
                   JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

    /*
     * A NUL byte is never JSON (a raw control character in a string, and
     * nothing outside); jansson's reader takes one for the end of its
     * buffer and reads on, so it is no judge of such input.
     */

    if (memchr(data, '\0', size) != NULL) {
        if (ours == NGX_OK) {
            ngx_fuzz_fail("the module takes a NUL byte in JSON");
        }

    } else if (ours == NGX_OK && v == NULL
               && ngx_strstr(err.text, "overflow") == NULL
               && ngx_strstr(err.text, "too big") == NULL)
    {
        ngx_fuzz_fail("the module takes JSON that jansson refuses (%s)",
                      err.text);

    } else if (ours != NGX_OK && v != NULL
               && fuzz_depth(v) <= NGX_HTTP_TASKGW_JSON_MAX_DEPTH)
    {
        ngx_fuzz_fail("the module refuses JSON that jansson takes");
    }

    if (v) {
        json_decref(v);
    }

    /* the input as a string */

    len = ngx_http_taskgw_json_escape_len((u_char *) data, size);

    doc = malloc(len + 2);
    if (doc == NULL) {
        return 0;
    }

    esc = doc + 1;
    p = ngx_http_taskgw_json_escape(esc, (u_char *) data, size);

    if ((size_t) (p - esc) != len) {
        ngx_fuzz_fail("escape wrote %uz bytes, escape_len said %uz",
                      (size_t) (p - esc), len);
    }

    doc[0] = '"';
    doc[len + 1] = '"';

    if (ngx_http_taskgw_json_valid(doc, len + 2) != NGX_OK) {
        ngx_fuzz_fail("an escaped string is not valid JSON to the module");
    }

    v = json_loadb((const char *) doc, len + 2,
                   JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

    if (v == NULL || !json_is_string(v)) {
        ngx_fuzz_fail("an escaped string is not a JSON string to jansson "
                      "(%s)", v ? "not a string" : err.text);
    }

    /* jansson takes a string of UTF-8 only: then it must come back */

    json_decref(v);

    v = json_stringn((const char *) data, size);

    if (v != NULL) {
        json_decref(v);

        v = json_loadb((const char *) doc, len + 2,
                       JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

        if (json_string_length(v) != size
            || ngx_memcmp(json_string_value(v), data, size) != 0)
        {
            ngx_fuzz_fail("an escaped UTF-8 string decodes to another");
        }

        json_decref(v);
    }

    free(doc);

    return 0;
}
