/*
 * taskgwctl task show|cancel: one task, read from or flagged in its hash
 * (docs/cli.md).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgw_keys.h"
#include "tgw_lua.h"
#include "tgw_task_json.h"
#include "ctl.h"

/*
 * Cancelling is worker/common/lua/cancel.lua, the script the module's
 * DELETE sends too: only a queued, scheduled or retrying task may be
 * cancelled.  A queued task gets cancel_requested and the worker marks it
 * cancelled instead of running it; a scheduled or retrying task still in
 * the schedule is cancelled at once and its task.cancelled webhook event
 * goes to the outbox.
 *
 * How long a task cancelled here is kept when no worker has published its
 * result_ttl: the worker's default, 7 days.  The cancel rule itself is
 * cancel.lua, shared with the module's DELETE.
 */
#define TGW_CTL_CANCELLED_TTL_MS  "604800000"


static int
tgw_ctl_check_id(const char *cmd, const char *id)
{
    if (!tgw_uuid_valid(id)) {
        return tgw_ctl_fail("%s: invalid task id \"%s\" (expected a "
                            "lowercase UUID)", cmd, id);
    }

    return 0;
}


/*
 * Prints one "name   value" row; continuation lines are indented.  The
 * value is escaped (control bytes as \xNN): a task's fields are whatever
 * its client or handler wrote, and must not drive the terminal.
 */
static void
tgw_ctl_row(const char *name, const char *v, size_t len)
{
    const char  *nl;
    size_t       n;

    printf("%-13s", name);
    for ( ;; ) {
        nl = memchr(v, '\n', len);
        n = nl ? (size_t) (nl - v) : len;
        (void) tgw_ctl_put_text(v, n);
        if (nl == NULL || n + 1 == len) {
            break;
        }
        printf("\n%-13s", "");
        v += n + 1;
        len -= n + 1;
    }
    putchar('\n');
}


static void
tgw_ctl_row_field(const tgw_field_t *f, size_t n, const char *name)
{
    const tgw_field_t  *v;

    v = tgw_task_json_field(f, n, name);
    if (v == NULL || v->value_len == 0) {
        tgw_ctl_row(name, "-", 1);
    } else {
        tgw_ctl_row(name, v->value, v->value_len);
    }
}


static void
tgw_ctl_row_time(const tgw_field_t *f, size_t n, const char *name)
{
    char  t[TGW_RFC3339_LEN + 1];

    if (tgw_task_json_time(f, n, name, t, sizeof(t)) == 0) {
        tgw_ctl_row(name, t, strlen(t));
    } else {
        tgw_ctl_row(name, "-", 1);
    }
}


static int
tgw_ctl_task_table(const tgw_field_t *f, size_t n)
{
    const tgw_field_t  *enc, *v;

    tgw_ctl_row_field(f, n, TGW_F_ID);
    tgw_ctl_row_field(f, n, TGW_F_QUEUE);
    tgw_ctl_row_field(f, n, TGW_F_TYPE);
    tgw_ctl_row_field(f, n, TGW_F_PRIORITY);
    tgw_ctl_row_field(f, n, TGW_F_STATUS);
    tgw_ctl_row_field(f, n, TGW_F_ATTEMPTS);
    tgw_ctl_row_field(f, n, TGW_F_OWNER);
    tgw_ctl_row_time(f, n, TGW_F_CREATED_AT);
    tgw_ctl_row_time(f, n, TGW_F_RUN_AT);
    tgw_ctl_row_time(f, n, TGW_F_STARTED_AT);
    tgw_ctl_row_time(f, n, TGW_F_FINISHED_AT);
    tgw_ctl_row_field(f, n, TGW_F_RESULT);

    enc = tgw_task_json_field(f, n, TGW_F_RESULT_ENC);
    if (enc != NULL && enc->value_len > 0) {
        tgw_ctl_row_field(f, n, TGW_F_RESULT_ENC);
    }

    tgw_ctl_row_field(f, n, TGW_F_ERROR);

    v = tgw_task_json_field(f, n, TGW_F_WEBHOOK_STATUS);
    if (v == NULL || v->value_len == 0) {
        tgw_ctl_row("webhook", "-", 1);
    } else {
        enc = tgw_task_json_field(f, n, TGW_F_WEBHOOK_ATTEMPTS);
        printf("%-13s", "webhook");
        (void) tgw_ctl_put_text(v->value, v->value_len);
        printf(", ");
        (void) tgw_ctl_put_text(enc ? enc->value : "0",
                                enc ? enc->value_len : 1);
        printf(" attempt(s)\n");
    }

    v = tgw_task_json_field(f, n, TGW_F_CANCEL_REQUESTED);
    if (v != NULL && v->value_len > 0) {
        tgw_ctl_row("cancel", "requested", 9);
    }

    return fflush(stdout) == 0 ? 0 : tgw_ctl_fail("stdout: write error");
}


int
tgw_ctl_task_show(tgw_ctl_t *ctl, int argc, char **argv)
{
    tgw_field_t  *f;
    tgw_buf_t     out = { 0 };
    redisReply       *r;
    size_t            i, n;
    char              key[TGW_CTL_KEY_MAX];
    int               rc;

    if (tgw_ctl_check_id("task show", argv[0]) != 0
        || tgw_ctl_key(key, TGW_KEY_TASK, ctl->opts.prefix, argv[0]) != 0
        || tgw_ctl_connect(ctl) != 0)
    {
        return 1;
    }

    r = tgw_ctl_command(ctl, "HGETALL %s", key);
    if (r == NULL) {
        return 1;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        freeReplyObject(r);
        return tgw_ctl_fail("redis: unexpected reply to HGETALL");
    }

    if (r->elements == 0) {
        freeReplyObject(r);
        return tgw_ctl_fail("task %s: not found", argv[0]);
    }

    n = r->elements / 2;
    f = calloc(n, sizeof(*f));
    if (f == NULL) {
        freeReplyObject(r);
        return tgw_ctl_fail("out of memory");
    }

    for (i = 0; i < n; i++) {
        f[i].name = r->element[2 * i]->str;
        f[i].name_len = r->element[2 * i]->len;
        f[i].value = r->element[2 * i + 1]->str;
        f[i].value_len = r->element[2 * i + 1]->len;
    }

    if (ctl->opts.json) {
        tgw_task_json(f, n, &out);
        rc = tgw_ctl_print(&out);
        tgw_buf_free(&out);
    } else {
        rc = tgw_ctl_task_table(f, n);
    }

    free(f);
    freeReplyObject(r);
    return rc;
}


int
tgw_ctl_task_cancel(tgw_ctl_t *ctl, int argc, char **argv)
{
    tgw_buf_t   out = { 0 };
    redisReply     *r;
    long long       outcome;
    char            key[TGW_CTL_KEY_MAX], skey[TGW_CTL_KEY_MAX];
    char            okey[TGW_CTL_KEY_MAX], ekey[TGW_CTL_KEY_MAX];
    char            event[TGW_CTL_KEY_MAX];
    long long       now = (long long) tgw_clock_ms();
    char            tkey[TGW_CTL_KEY_MAX], chan[TGW_CTL_KEY_MAX];
    int             rc;

    if (tgw_ctl_check_id("task cancel", argv[0]) != 0
        || tgw_ctl_key(key, TGW_KEY_TASK, ctl->opts.prefix, argv[0]) != 0
        || tgw_ctl_key(skey, TGW_KEY_SCHEDULED, ctl->opts.prefix) != 0
        || tgw_ctl_key(tkey, TGW_KEY_RESULT_TTL, ctl->opts.prefix) != 0
        || tgw_ctl_key(okey, TGW_KEY_OUTBOX, ctl->opts.prefix) != 0
        || snprintf(event, sizeof(event), TGW_EVENT_ID_FMT, argv[0],
                    (unsigned long long) now) >= (int) sizeof(event)
        || tgw_ctl_key(ekey, TGW_KEY_EVENT, ctl->opts.prefix, event) != 0
        || tgw_ctl_key(chan, TGW_KEY_CHAN_DONE, ctl->opts.prefix) != 0
        || tgw_ctl_connect(ctl) != 0)
    {
        return 1;
    }

    r = tgw_ctl_command(ctl, "EVAL %s 5 %s %s %s %s %s %s %lld "
                        TGW_CTL_CANCELLED_TTL_MS " %s %s %s %s",
                        tgw_lua_cancel, key, skey, tkey, okey, ekey, argv[0],
                        now, "", "", event, chan);
    if (r == NULL) {
        return 1;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_INTEGER
        || r->element[1]->type != REDIS_REPLY_STRING)
    {
        freeReplyObject(r);
        return tgw_ctl_fail("redis: unexpected reply to the cancel script");
    }

    outcome = r->element[0]->integer;

    if (outcome == 0) {
        freeReplyObject(r);
        return tgw_ctl_fail("task %s: not found", argv[0]);
    }

    if (outcome != 1) {
        rc = tgw_ctl_fail("task %s: conflict: the task is %.*s and can no "
                          "longer be cancelled", argv[0],
                          (int) r->element[1]->len, r->element[1]->str);
        freeReplyObject(r);
        return rc;
    }

    freeReplyObject(r);

    if (ctl->opts.json) {
        tgw_buf_printf(&out, "{\"id\":\"%s\",\"status\":\"cancelling\"}",
                           argv[0]);
    } else {
        tgw_buf_printf(&out, "%s cancelling", argv[0]);
    }

    rc = tgw_ctl_print(&out);
    tgw_buf_free(&out);
    return rc;
}
