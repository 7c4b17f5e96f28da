/*
 * taskgwctl dead list|replay|purge: the dead-letter streams
 * {prefix}:dead:<queue>.  Replay and purge run the scripts the admin API
 * runs (worker/common/lua/dead_replay.lua, dead_purge.lua), so a task is
 * put back or deleted by the same rule whichever door is used, and each
 * change is in the audit stream.
 */

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tgw_keys.h"
#include "tgw_lua.h"
#include "ctl.h"

#define TGW_CTL_DEAD_LIMIT      100     /* dead list default */
#define TGW_CTL_DEAD_LIMIT_MAX  1000


/* Who runs the command, for the audit stream: "taskgwctl:<user>". */
static void
tgw_ctl_dead_who(char *buf, size_t size)
{
    struct passwd  *pw;
    const char     *user;

    pw = getpwuid(getuid());
    user = pw != NULL ? pw->pw_name : getenv("USER");

    snprintf(buf, size, "taskgwctl:%s", user != NULL ? user : "unknown");
}


/* The value of field name in a stream entry's field list, or NULL. */
static redisReply *
tgw_ctl_dead_field(redisReply *fields, const char *name)
{
    size_t  i;

    for (i = 0; i + 1 < fields->elements; i += 2) {
        if (fields->element[i]->type == REDIS_REPLY_STRING
            && strcmp(fields->element[i]->str, name) == 0
            && fields->element[i + 1]->type == REDIS_REPLY_STRING)
        {
            return fields->element[i + 1];
        }
    }

    return NULL;
}


/*
 * dead list [QUEUE [LIMIT]]: the newest LIMIT (default 100) dead tasks of
 * QUEUE (default "default"): id, attempts, when it failed, the error.
 * --json: {"queue":…,"dead":[{"id","error","attempts","failed_at",
 * "entry"}]}, as GET dead of the admin API.
 */
int
tgw_ctl_dead_list(tgw_ctl_t *ctl, int argc, char **argv)
{
    const char     *queue = argc > 0 ? argv[0] : "default";
    redisReply     *r, *e, *id, *err, *att, *at;
    tgw_buf_t   out = { 0 };
    int64_t         ms, n;
    long            limit = TGW_CTL_DEAD_LIMIT;
    size_t          i;
    char            key[TGW_CTL_KEY_MAX], t[TGW_RFC3339_LEN + 1], *end;
    int             rc, first = 1;

    if (!tgw_valid_name(queue, 64, 0)) {
        return tgw_ctl_fail("dead list: invalid queue name \"%s\"", queue);
    }

    if (argc > 1) {
        limit = strtol(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || limit < 1
            || limit > TGW_CTL_DEAD_LIMIT_MAX)
        {
            return tgw_ctl_fail("dead list: LIMIT must be 1-%d",
                                TGW_CTL_DEAD_LIMIT_MAX);
        }
    }

    if (tgw_ctl_key(key, TGW_KEY_DEAD, ctl->opts.prefix, queue) != 0
        || tgw_ctl_connect(ctl) != 0)
    {
        return 1;
    }

    r = tgw_ctl_command(ctl, "XREVRANGE %s + - COUNT %ld", key, limit);
    if (r == NULL) {
        return 1;
    }

    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return tgw_ctl_fail("redis: unexpected reply to XREVRANGE");
    }

    if (ctl->opts.json) {
        tgw_buf_puts(&out, "{\"queue\":");
        tgw_buf_json_string(&out, queue, strlen(queue));
        tgw_buf_puts(&out, ",\"dead\":[");
    } else {
        tgw_buf_printf(&out, "%-36s %8s %-24s %s", "ID", "ATTEMPTS",
                           "FAILED_AT", "ERROR");
    }

    for (i = 0; i < r->elements; i++) {
        e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING
            || e->element[1]->type != REDIS_REPLY_ARRAY)
        {
            continue;
        }

        id = tgw_ctl_dead_field(e->element[1], "id");
        err = tgw_ctl_dead_field(e->element[1], "error");
        att = tgw_ctl_dead_field(e->element[1], "attempts");
        at = tgw_ctl_dead_field(e->element[1], "failed_at");

        n = -1;
        if (att == NULL
            || tgw_parse_int64(att->str, att->len, &n) != 0)
        {
            n = -1;
        }

        t[0] = '\0';
        if (at == NULL || tgw_parse_int64(at->str, at->len, &ms) != 0
            || tgw_clock_rfc3339(ms, t, sizeof(t)) != 0)
        {
            t[0] = '\0';
        }

        if (ctl->opts.json) {
            tgw_buf_puts(&out, first ? "{\"id\":" : ",{\"id\":");
            first = 0;
            if (id) {
                tgw_buf_json_string(&out, id->str, id->len);
            } else {
                tgw_buf_puts(&out, "null");
            }
            tgw_buf_puts(&out, ",\"error\":");
            if (err) {
                tgw_buf_json_string(&out, err->str, err->len);
            } else {
                tgw_buf_puts(&out, "null");
            }
            if (n >= 0) {
                tgw_buf_printf(&out, ",\"attempts\":%lld", (long long) n);
            } else {
                tgw_buf_puts(&out, ",\"attempts\":null");
            }
            if (t[0]) {
                tgw_buf_printf(&out, ",\"failed_at\":\"%s\"", t);
            } else {
                tgw_buf_puts(&out, ",\"failed_at\":null");
            }
            tgw_buf_puts(&out, ",\"entry\":");
            tgw_buf_json_string(&out, e->element[0]->str,
                                    e->element[0]->len);
            tgw_buf_puts(&out, "}");
            continue;
        }

        tgw_buf_puts(&out, "\n");
        if (id) {
            tgw_buf_text(&out, id->str, id->len, 0);
            if (id->len < 36) {
                tgw_buf_printf(&out, "%*s", (int) (36 - id->len), "");
            }
        } else {
            tgw_buf_printf(&out, "%-36s", "-");
        }
        if (n >= 0) {
            tgw_buf_printf(&out, " %8lld", (long long) n);
        } else {
            tgw_buf_printf(&out, " %8s", "-");
        }
        tgw_buf_printf(&out, " %-24s ", t[0] ? t : "-");
        if (err) {
            /* one row per task: the error's own newlines are escaped too */
            tgw_buf_text(&out, err->str, err->len, 0);
        } else {
            tgw_buf_puts(&out, "-");
        }
    }

    if (ctl->opts.json) {
        tgw_buf_puts(&out, "]}");
    }

    freeReplyObject(r);

    rc = tgw_ctl_print(&out);
    tgw_buf_free(&out);
    return rc;
}


/*
 * dead replay|purge ID...: one script run per id.  Every id is tried; the
 * exit status is 1 when any of them was not a dead task.
 */
static int
tgw_ctl_dead_change(tgw_ctl_t *ctl, int argc, char **argv, int replay)
{
    const char     *cmd = replay ? "dead replay" : "dead purge";
    const char     *script = replay ? tgw_lua_dead_replay : tgw_lua_dead_purge;
    redisReply     *r;
    tgw_buf_t   out = { 0 };
    char            who[128], now[32];
    int             i, rc, failed = 0, n = 0;

    for (i = 0; i < argc; i++) {
        if (!tgw_uuid_valid(argv[i])) {
            return tgw_ctl_fail("%s: invalid task id \"%s\" (expected a "
                                "lowercase UUID)", cmd, argv[i]);
        }
    }

    if (tgw_ctl_connect(ctl) != 0) {
        return 1;
    }

    tgw_ctl_dead_who(who, sizeof(who));

    if (ctl->opts.json) {
        tgw_buf_puts(&out, "{\"tasks\":[");
    }

    for (i = 0; i < argc; i++) {
        snprintf(now, sizeof(now), "%lld", (long long) tgw_clock_ms());

        r = tgw_ctl_command(ctl, "EVAL %s 0 %s %s %s %s %s", script,
                            ctl->opts.prefix, argv[i], now, who, "");
        if (r == NULL) {
            tgw_buf_free(&out);
            return 1;
        }

        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0
            || r->element[0]->type != REDIS_REPLY_INTEGER)
        {
            freeReplyObject(r);
            tgw_buf_free(&out);
            return tgw_ctl_fail("redis: unexpected reply to %s", cmd);
        }

        if (r->element[0]->integer == 0 || r->elements < 2
            || r->element[1]->type != REDIS_REPLY_STRING)
        {
            tgw_ctl_fail("%s %s: not found (no dead task with this id)",
                         cmd, argv[i]);
            failed = 1;
            freeReplyObject(r);
            continue;
        }

        if (ctl->opts.json) {
            tgw_buf_printf(&out, "%s{\"id\":\"%s\",\"status\":\"%s\","
                               "\"queue\":", n ? "," : "", argv[i],
                               replay ? "queued" : "purged");
            tgw_buf_json_string(&out, r->element[1]->str,
                                    r->element[1]->len);
            tgw_buf_puts(&out, "}");
        } else {
            tgw_buf_printf(&out, "%s%s %s (queue ", n ? "\n" : "",
                               argv[i], replay ? "queued" : "purged");
            tgw_buf_text(&out, r->element[1]->str, r->element[1]->len, 0);
            tgw_buf_puts(&out, ")");
        }

        n++;
        freeReplyObject(r);
    }

    if (ctl->opts.json) {
        tgw_buf_puts(&out, "]}");
    }

    rc = 0;
    if (n > 0 || ctl->opts.json) {
        rc = tgw_ctl_print(&out);
    }

    tgw_buf_free(&out);
    return rc || failed;
}


int
tgw_ctl_dead_replay(tgw_ctl_t *ctl, int argc, char **argv)
{
    return tgw_ctl_dead_change(ctl, argc, argv, 1);
}


int
tgw_ctl_dead_purge(tgw_ctl_t *ctl, int argc, char **argv)
{
    return tgw_ctl_dead_change(ctl, argc, argv, 0);
}
