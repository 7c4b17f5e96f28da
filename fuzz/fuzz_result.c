/*
 * Fuzz target: the result encoder (a handler's raw output to the "result"
 * field: JSON value, JSON string, or base64).  The first input byte says
 * whether the output was truncated; the rest is the output.  Whatever the
 * output, the stored result must be exactly one valid JSON value, and a
 * base64 result must be a string.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tgw_result.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int           truncated;
    char         *result, *b64;
    const char   *enc;
    json_t       *v;
    json_error_t  err;

    if (size == 0) {
        return 0;
    }
    truncated = data[0] & 1;
    data++;
    size--;

    if (tgw_result_encode((const char *) data, size, truncated, &result,
                          &enc) != 0)
    {
        return 0;
    }

    v = json_loads(result, JSON_DECODE_ANY | JSON_ALLOW_NUL
                           | JSON_DECODE_INT_AS_REAL, &err);
    if (v == NULL) {
        abort();
    }
    if (enc != NULL && !json_is_string(v)) {
        abort();
    }
    json_decref(v);
    free(result);

    /* the UTF-8 helpers on their own */
    if (tgw_utf8_valid((const char *) data, size)
        && tgw_utf8_complete_len((const char *) data, size) != size)
    {
        abort();
    }
    b64 = tgw_base64_encode(data, size);
    if (b64 != NULL && strlen(b64) != (size + 2) / 3 * 4) {
        abort();
    }
    free(b64);

    return 0;
}
