/*
 * taskgwctl enqueue: creates a task with the fields the nginx module
 * writes, in one script (worker/common/lua/create.lua, which the worker's
 * cron ticks use too): task hash and stream entry together or not at all.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgw_keys.h"
#include "tgw_lua.h"
#include "tgw_trace.h"
#include "ctl.h"

#define TGW_CTL_NAME_MAX     64
#define TGW_CTL_TYPE_MAX     128
#define TGW_CTL_PAYLOAD_MAX  (512u * 1024 * 1024)  /* Redis' bulk limit */

#define TGW_CTL_PRIORITY     "normal"
#define TGW_CTL_OWNER        "cli"


/* Reads all of fp into *buf (NULL and 0 for an empty file). */
static int
tgw_ctl_read_all(FILE *fp, const char *name, char **buf, size_t *len)
{
    char    *p = NULL, *np;
    size_t   cap = 0, n = 0, got;

    for ( ;; ) {
        if (n == cap) {
            if (cap >= TGW_CTL_PAYLOAD_MAX) {
                free(p);
                return tgw_ctl_fail("%s: payload larger than %u bytes",
                                    name, TGW_CTL_PAYLOAD_MAX);
            }
            cap = cap ? cap * 2 : 65536;
            np = realloc(p, cap);
            if (np == NULL) {
                free(p);
                return tgw_ctl_fail("%s: out of memory", name);
            }
            p = np;
        }

        got = fread(p + n, 1, cap - n, fp);
        n += got;
        if (got == 0) {
            break;
        }
    }

    if (ferror(fp)) {
        free(p);
        return tgw_ctl_fail("%s: read error", name);
    }

    *buf = p;
    *len = n;
    return 0;
}


static int
tgw_ctl_read_payload(const char *path, char **buf, size_t *len)
{
    FILE  *fp;
    int    rc;

    *buf = NULL;
    *len = 0;

    if (path == NULL) {
        return 0;
    }

    if (strcmp(path, "-") == 0) {
        return tgw_ctl_read_all(stdin, "stdin", buf, len);
    }

    fp = fopen(path, "rb");
    if (fp == NULL) {
        return tgw_ctl_fail("%s: %s", path, strerror(errno));
    }

    rc = tgw_ctl_read_all(fp, path, buf, len);
    fclose(fp);
    return rc;
}


int
tgw_ctl_enqueue(tgw_ctl_t *ctl, int argc, char **argv)
{
    const char     *queue = argv[0], *type = argv[1], *ctype;
    tgw_buf_t   out = { 0 };
    redisReply     *r;
    size_t          len;
    char            tkey[TGW_CTL_KEY_MAX], qkey[TGW_CTL_KEY_MAX];
    char            skey[TGW_CTL_KEY_MAX], now[24];
    char            tp[TGW_TRACEPARENT_LEN + 1];
    char            id[TGW_UUID_LEN + 1], *payload;
    int             rc;

    /* ---- validate and prepare everything before touching Redis ---- */

    if (!tgw_valid_name(queue, TGW_CTL_NAME_MAX, 0)) {
        return tgw_ctl_fail("enqueue: invalid queue \"%s\" (1..%d of "
                            "A-Z a-z 0-9 . _ -)", queue, TGW_CTL_NAME_MAX);
    }

    if (!tgw_valid_name(type, TGW_CTL_TYPE_MAX, 1)) {
        return tgw_ctl_fail("enqueue: invalid type \"%s\" (1..%d of "
                            "A-Z a-z 0-9 . _ - :)", type, TGW_CTL_TYPE_MAX);
    }

    if (tgw_uuid7_new(id) != 0) {
        return tgw_ctl_fail("enqueue: cannot make a task id: %s",
                            strerror(errno));
    }

    if (tgw_ctl_key(tkey, TGW_KEY_TASK, ctl->opts.prefix, id) != 0
        || tgw_ctl_key(qkey, TGW_KEY_QUEUE, ctl->opts.prefix, queue,
                       TGW_CTL_PRIORITY) != 0
        || tgw_ctl_key(skey, TGW_KEY_SCHEDULED, ctl->opts.prefix) != 0
        || tgw_ctl_read_payload(argc > 2 ? argv[2] : NULL, &payload, &len)
           != 0)
    {
        return 1;
    }

    ctype = len > 0 && tgw_json_valid(payload, len, NULL, NULL)
            ? "application/json" : "application/octet-stream";

    if (tgw_ctl_connect(ctl) != 0) {
        free(payload);
        return 1;
    }

    /* ---- the enqueue script: hash and stream entry, or neither ---- */

    snprintf(now, sizeof(now), "%lld", (long long) tgw_clock_ms());
    /* the task starts a trace of its own, as one enqueued through nginx
     * without a traceparent does */
    if (tgw_trace_new(tp) != 0) {
        tp[0] = '\0';              /* the worker derives one from the id */
    }
    r = tgw_ctl_command(ctl, "EVAL %s 3 %s %s %s %s %s %s %s %b %s %s "
                        "%s %s %s %s %s 0 %s", tgw_lua_create, tkey, qkey,
                        skey, id, queue, type, TGW_CTL_PRIORITY,
                        payload ? payload : "", len, ctype, TGW_CTL_OWNER,
                        "", "", "", now, "", tp);
    free(payload);
    if (r == NULL) {
        return 1;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
        rc = tgw_ctl_fail("enqueue: redis: %s",
                          r->type == REDIS_REPLY_ERROR ? r->str
                          : "unexpected reply to the enqueue script");
        freeReplyObject(r);
        return rc;
    }
    freeReplyObject(r);

    if (ctl->opts.json) {
        tgw_buf_printf(&out, "{\"id\":\"%s\",\"status\":\"queued\","
                           "\"queue\":", id);
        tgw_buf_json_string(&out, queue, strlen(queue));
        tgw_buf_puts(&out, ",\"type\":");
        tgw_buf_json_string(&out, type, strlen(type));
        tgw_buf_puts(&out, ",\"priority\":\"" TGW_CTL_PRIORITY "\"}");
    } else {
        tgw_buf_puts(&out, id);
    }

    rc = tgw_ctl_print(&out);
    tgw_buf_free(&out);
    return rc;
}
