/*
 * Fuzz target: the task JSON writer (taskgwctl task show) fed arbitrary
 * task-hash contents.  The input is a list of records: one byte choosing
 * the field name (a known one, or the next bytes as a name of its own),
 * one length byte, then that many bytes of value.  Whatever the hash
 * holds, the output must be valid JSON.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tgw_keys.h"
#include "tgw_task_json.h"

#define FUZZ_MAX_FIELDS  64

static const char *fuzz_names[] = {
    TGW_F_ID, TGW_F_QUEUE, TGW_F_TYPE, TGW_F_PRIORITY, TGW_F_STATUS,
    TGW_F_PAYLOAD, TGW_F_OWNER, TGW_F_CREATED_AT, TGW_F_RUN_AT,
    TGW_F_STARTED_AT, TGW_F_FINISHED_AT, TGW_F_ATTEMPTS, TGW_F_RESULT,
    TGW_F_RESULT_ENC, TGW_F_ERROR, TGW_F_WEBHOOK_STATUS,
    TGW_F_WEBHOOK_ATTEMPTS, TGW_F_CANCEL_REQUESTED,
};

#define FUZZ_NNAMES (sizeof(fuzz_names) / sizeof(fuzz_names[0]))


/* Takes n bytes off the input, or NULL when fewer are left. */
static const uint8_t *
fuzz_take(const uint8_t **data, size_t *size, size_t n)
{
    const uint8_t  *p;

    if (*size < n) {
        return NULL;
    }
    p = *data;
    *data += n;
    *size -= n;
    return p;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t            n, len;
    const uint8_t    *sel, *l, *p;
    json_t           *v;
    json_error_t      err;
    tgw_buf_t     out;
    tgw_field_t   f[FUZZ_MAX_FIELDS];

    n = 0;
    while (n < FUZZ_MAX_FIELDS && (sel = fuzz_take(&data, &size, 1)) != NULL) {
        if (*sel < FUZZ_NNAMES) {
            f[n].name = fuzz_names[*sel];
            f[n].name_len = strlen(fuzz_names[*sel]);
        } else {
            /* a name of its own: the length is the selector's low bits */
            len = *sel & 0x0f;
            if ((p = fuzz_take(&data, &size, len)) == NULL) {
                break;
            }
            f[n].name = (const char *) p;
            f[n].name_len = len;
        }
        if ((l = fuzz_take(&data, &size, 1)) == NULL
            || (p = fuzz_take(&data, &size, *l)) == NULL)
        {
            break;
        }
        f[n].value = (const char *) p;
        f[n].value_len = *l;
        n++;
    }

    memset(&out, 0, sizeof(out));
    if (tgw_task_json(f, n, &out) == 0) {
        v = json_loadb(out.data, out.len, JSON_ALLOW_NUL
                                       | JSON_DECODE_INT_AS_REAL, &err);
        if (v == NULL || !json_is_object(v)) {
            fprintf(stderr, "not a JSON object (%s): %.*s\n",
                    v == NULL ? err.text : "not an object",
                    (int) out.len, out.data);
            abort();
        }
        json_decref(v);
    }
    tgw_buf_free(&out);

    return 0;
}
