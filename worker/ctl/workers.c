/*
 * taskgwctl workers: the live workers, from their heartbeats
 * {prefix}:worker:<name> (a JSON string each worker renews every 5 s
 * with a 15 s TTL).  Names are found with SCAN; the heartbeats are read
 * by the stats script the module's metrics and admin API use.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tgw_keys.h"
#include "tgw_lua.h"
#include "ctl.h"


/* The names of the live workers, "\n"-separated, into names. */
static int
tgw_ctl_workers_scan(tgw_ctl_t *ctl, tgw_buf_t *names)
{
    redisReply  *r, *k;
    size_t       i, plen;
    char         match[TGW_CTL_KEY_MAX], cursor[32] = "0";

    if (tgw_glob_escape(ctl->opts.prefix, match, sizeof(match)) != 0) {
        return tgw_ctl_fail("prefix too long");
    }
    plen = strlen(match);
    if ((size_t) snprintf(match + plen, sizeof(match) - plen, ":worker:*")
        >= sizeof(match) - plen)
    {
        return tgw_ctl_fail("prefix too long");
    }

    plen = strlen(ctl->opts.prefix) + sizeof(":worker:") - 1;

    do {
        r = tgw_ctl_command(ctl, "SCAN %s MATCH %s COUNT 1000", cursor,
                            match);
        if (r == NULL) {
            return 1;
        }

        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
            || r->element[0]->type != REDIS_REPLY_STRING
            || r->element[0]->len >= sizeof(cursor)
            || r->element[1]->type != REDIS_REPLY_ARRAY)
        {
            freeReplyObject(r);
            return tgw_ctl_fail("redis: unexpected reply to SCAN");
        }

        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);

        for (i = 0; i < r->element[1]->elements; i++) {
            k = r->element[1]->element[i];
            if (k->type != REDIS_REPLY_STRING || k->len <= plen
                || memchr(k->str, '\n', k->len) != NULL)
            {
                continue;
            }
            if (names->len > 0) {
                tgw_buf_append(names, "\n", 1);
            }
            tgw_buf_append(names, k->str + plen, k->len - plen);
        }

        freeReplyObject(r);

    } while (strcmp(cursor, "0") != 0);

    return names->failed ? tgw_ctl_fail("out of memory") : 0;
}


/* A string member of a heartbeat for a table cell ("-" when missing). */
static void
tgw_ctl_workers_cell(tgw_buf_t *out, json_t *hb, const char *key,
                     int width)
{
    json_t      *v = json_object_get(hb, key);
    size_t       before = out->len;
    const char  *s;

    if (json_is_string(v)) {
        s = json_string_value(v);
        tgw_buf_text(out, s, json_string_length(v), 0);
    } else if (json_is_integer(v)) {
        tgw_buf_printf(out, "%lld", (long long) json_integer_value(v));
    } else {
        tgw_buf_puts(out, "-");
    }

    if (out->len - before < (size_t) width) {
        tgw_buf_printf(out, "%*s", (int) (width - (out->len - before)),
                           "");
    }
}


static long long
tgw_ctl_workers_counter(json_t *hb, const char *name)
{
    json_t  *v = json_object_get(json_object_get(hb, "counters"), name);

    return json_is_integer(v) ? (long long) json_integer_value(v) : 0;
}


/*
 * workers: one row per live worker: name, host, pid, concurrency, tasks
 * in flight, start time, queues, and its counters.  --json:
 * {"workers":[<heartbeat>,…]}, as GET workers of the admin API.
 */
int
tgw_ctl_workers(tgw_ctl_t *ctl, int argc, char **argv)
{
    redisReply     *r, *hb;
    tgw_buf_t   names = { 0 }, out = { 0 };
    json_t         *j, *q;
    json_error_t    jerr;
    size_t          i, k, start, vlen;
    int64_t         ms;
    char            t[TGW_RFC3339_LEN + 1];
    int             rc;

    if (tgw_ctl_connect(ctl) != 0) {
        return 1;
    }

    if (tgw_ctl_workers_scan(ctl, &names) != 0) {
        tgw_buf_free(&names);
        return 1;
    }

    r = tgw_ctl_command(ctl, "EVAL %s 0 %s %s %b %s", tgw_lua_stats,
                        ctl->opts.prefix, "", names.data ? names.data : "",
                        names.len, "0");
    tgw_buf_free(&names);
    if (r == NULL) {
        return 1;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4
        || r->element[2]->type != REDIS_REPLY_ARRAY)
    {
        freeReplyObject(r);
        return tgw_ctl_fail("redis: unexpected reply to the stats script");
    }

    if (ctl->opts.json) {
        tgw_buf_puts(&out, "{\"workers\":[");
    } else {
        tgw_buf_printf(&out, "%-24s %-16s %7s %5s %7s %-24s %-20s "
                           "%9s %7s %5s", "NAME", "HOST", "PID", "CONC",
                           "RUNNING", "STARTED", "QUEUES", "SUCCEEDED",
                           "RETRIED", "DEAD");
    }

    for (i = 0; i < r->element[2]->elements; i++) {
        hb = r->element[2]->element[i];
        if (hb->type != REDIS_REPLY_STRING) {
            continue;
        }

        if (ctl->opts.json) {
            if (i > 0) {
                tgw_buf_puts(&out, ",");
            }
            if (tgw_json_valid(hb->str, hb->len, &start, &vlen)) {
                tgw_buf_append(&out, hb->str + start, vlen);
            } else {
                tgw_buf_json_string(&out, hb->str, hb->len);
            }
            continue;
        }

        j = json_loadb(hb->str, hb->len, 0, &jerr);
        if (!json_is_object(j)) {
            json_decref(j);
            continue;
        }

        tgw_buf_puts(&out, "\n");
        tgw_ctl_workers_cell(&out, j, "name", 24);
        tgw_buf_puts(&out, " ");
        tgw_ctl_workers_cell(&out, j, "host", 16);
        tgw_buf_printf(&out, " %7lld %5lld %7lld ",
            (long long) json_integer_value(json_object_get(j, "pid")),
            (long long) json_integer_value(json_object_get(j, "concurrency")),
            (long long) json_integer_value(json_object_get(j, "in_flight")));

        ms = json_integer_value(json_object_get(j, "started_at"));
        if (tgw_clock_rfc3339(ms, t, sizeof(t)) != 0) {
            strcpy(t, "-");
        }
        tgw_buf_printf(&out, "%-24s ", t);

        q = json_object_get(j, "queues");
        start = out.len;
        for (k = 0; k < json_array_size(q); k++) {
            json_t  *qn = json_array_get(q, k);

            if (json_is_string(qn)) {
                if (k > 0) {
                    tgw_buf_puts(&out, ",");
                }
                tgw_buf_text(&out, json_string_value(qn),
                                 json_string_length(qn), 0);
            }
        }
        if (out.len == start) {
            tgw_buf_puts(&out, "-");
        }
        if (out.len - start < 20) {
            tgw_buf_printf(&out, "%*s", (int) (20 - (out.len - start)),
                               "");
        }

        tgw_buf_printf(&out, " %9lld %7lld %5lld",
                           tgw_ctl_workers_counter(j, "succeeded"),
                           tgw_ctl_workers_counter(j, "retried"),
                           tgw_ctl_workers_counter(j, "dead"));
        json_decref(j);
    }

    if (ctl->opts.json) {
        tgw_buf_puts(&out, "]}");
    }

    freeReplyObject(r);

    rc = tgw_ctl_print(&out);
    tgw_buf_free(&out);
    return rc;
}
