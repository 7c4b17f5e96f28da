/*
 * tgw_task_json: the task JSON built from the fields of a task hash, as
 * `taskgwctl task show` prints it and the worker's webhooks send it.
 */

#include <string.h>

#include "tgw_keys.h"
#include "tgw_task_json.h"


const tgw_field_t *
tgw_task_json_field(const tgw_field_t *f, size_t n, const char *name)
{
    size_t  i, len;

    len = strlen(name);
    for (i = 0; i < n; i++) {
        if (f[i].name_len == len && memcmp(f[i].name, name, len) == 0) {
            return &f[i];
        }
    }

    return NULL;
}


int
tgw_task_json_time(const tgw_field_t *f, size_t n, const char *name,
                  char *buf, size_t size)
{
    const tgw_field_t  *v;
    int64_t                 ms;

    v = tgw_task_json_field(f, n, name);
    if (v == NULL || v->value_len == 0
        || tgw_parse_int64(v->value, v->value_len, &ms) != 0)
    {
        return -1;
    }

    return tgw_clock_rfc3339(ms, buf, size);
}


/* "name":"value", or "name":null when missing or empty (unset) */
static void
tgw_task_json_string(tgw_buf_t *out, const tgw_field_t *f, size_t n,
                    const char *name, const char *key)
{
    const tgw_field_t  *v;

    /* no comma right after the opening brace */
    tgw_buf_printf(out, "%s\"%s\":", out->len > 0
                       && out->data[out->len - 1] == '{' ? "" : ",", key);

    v = tgw_task_json_field(f, n, name);
    if (v == NULL || v->value_len == 0) {
        tgw_buf_puts(out, "null");
    } else {
        tgw_buf_json_string(out, v->value, v->value_len);
    }
}


/* "name":<integer>, 0 when missing or not a number */
static void
tgw_task_json_int(tgw_buf_t *out, const tgw_field_t *f, size_t n,
                 const char *name, const char *key)
{
    const tgw_field_t  *v;
    int64_t                 i;

    v = tgw_task_json_field(f, n, name);
    if (v == NULL || tgw_parse_int64(v->value, v->value_len, &i) != 0) {
        i = 0;
    }

    tgw_buf_printf(out, ",\"%s\":%lld", key, (long long) i);
}


/* "name":"2026-11-23T10:00:00.123Z" or "name":null */
static void
tgw_task_json_timefield(tgw_buf_t *out, const tgw_field_t *f,
                       size_t n, const char *name)
{
    char  t[TGW_RFC3339_LEN + 1];

    if (tgw_task_json_time(f, n, name, t, sizeof(t)) == 0) {
        tgw_buf_printf(out, ",\"%s\":\"%s\"", name, t);
    } else {
        tgw_buf_printf(out, ",\"%s\":null", name);
    }
}


int
tgw_task_json(const tgw_field_t *f, size_t n, tgw_buf_t *out)
{
    const tgw_field_t  *v;
    size_t                  start, len;

    tgw_buf_puts(out, "{");
    tgw_task_json_string(out, f, n, TGW_F_ID, "id");
    tgw_task_json_string(out, f, n, TGW_F_QUEUE, "queue");
    tgw_task_json_string(out, f, n, TGW_F_TYPE, "type");
    tgw_task_json_string(out, f, n, TGW_F_PRIORITY, "priority");
    tgw_task_json_string(out, f, n, TGW_F_STATUS, "status");
    tgw_task_json_int(out, f, n, TGW_F_ATTEMPTS, "attempts");
    tgw_task_json_string(out, f, n, TGW_F_OWNER, "owner");

    /* the task's trace context, shown only when it has one */
    v = tgw_task_json_field(f, n, TGW_F_TRACEPARENT);
    if (v != NULL && v->value_len > 0) {
        tgw_buf_puts(out, ",\"traceparent\":");
        tgw_buf_json_string(out, v->value, v->value_len);
    }

    tgw_task_json_timefield(out, f, n, TGW_F_CREATED_AT);
    tgw_task_json_timefield(out, f, n, TGW_F_RUN_AT);
    tgw_task_json_timefield(out, f, n, TGW_F_STARTED_AT);
    tgw_task_json_timefield(out, f, n, TGW_F_FINISHED_AT);

    /* the worker stored the result as JSON text: embed it as it is */
    tgw_buf_puts(out, ",\"result\":");
    v = tgw_task_json_field(f, n, TGW_F_RESULT);
    if (v == NULL || v->value_len == 0) {
        tgw_buf_puts(out, "null");
    } else if (tgw_json_valid(v->value, v->value_len, &start, &len)) {
        tgw_buf_append(out, v->value + start, len);
    } else {
        tgw_buf_json_string(out, v->value, v->value_len);
    }

    v = tgw_task_json_field(f, n, TGW_F_RESULT_ENC);
    if (v != NULL && v->value_len > 0) {
        tgw_buf_puts(out, ",\"result_encoding\":");
        tgw_buf_json_string(out, v->value, v->value_len);
    }

    tgw_task_json_string(out, f, n, TGW_F_ERROR, "error");

    tgw_buf_puts(out, ",\"webhook\":");
    v = tgw_task_json_field(f, n, TGW_F_WEBHOOK_STATUS);
    if (v == NULL || v->value_len == 0) {
        tgw_buf_puts(out, "null");
    } else {
        tgw_buf_puts(out, "{\"status\":");
        tgw_buf_json_string(out, v->value, v->value_len);
        tgw_task_json_int(out, f, n, TGW_F_WEBHOOK_ATTEMPTS, "attempts");
        tgw_buf_puts(out, "}");
    }

    tgw_buf_puts(out, "}");

    return out->failed ? -1 : 0;
}
