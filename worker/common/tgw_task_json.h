/*
 * tgw_task_json: the task JSON (as the module's status GET shows it)
 * built from the fields of a task hash, as `taskgwctl task show` prints it
 * and the worker's webhooks send it.  Pure: no Redis.
 */

#ifndef TGW_TASK_JSON_H
#define TGW_TASK_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "tgw_buf.h"
#include "tgw_clock.h"
#include "tgw_text.h"
#include "tgw_uuid.h"

/* One field of a task hash, as HGETALL returned it (binary safe). */
typedef struct {
    const char  *name;
    size_t       name_len;
    const char  *value;
    size_t       value_len;
} tgw_field_t;

/* The field called name, or NULL. */
const tgw_field_t *tgw_task_json_field(const tgw_field_t *f, size_t n,
                                          const char *name);

/*
 * A time field as RFC 3339 into buf; -1 when the field is missing, empty
 * or not a valid unix-ms number (the JSON then shows null).
 */
int tgw_task_json_time(const tgw_field_t *f, size_t n, const char *name,
                      char *buf, size_t size);

/*
 * Appends the task JSON to out, in the field order of the module's status GET:
 * id queue type priority status attempts owner created_at run_at
 * started_at finished_at result [result_encoding] error webhook.
 * Rules: a missing or empty string is null (as the module shows it);
 * attempts defaults to 0; times are RFC 3339 UTC with milliseconds or
 * null; "result" is the stored JSON
 * text embedded verbatim (a value that does not parse as JSON is shown
 * as a string, so the output stays valid); "webhook" is null unless the
 * task has a webhook_status; the payload is never shown.
 * Returns 0, or -1 when an allocation failed.
 */
int tgw_task_json(const tgw_field_t *f, size_t n, tgw_buf_t *out);

#endif /* TGW_TASK_JSON_H */
