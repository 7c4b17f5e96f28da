/*
 * taskgwctl enqueue: creates a task exactly as the nginx module does
 * (docs/cli.md): task hash and stream entry in one MULTI/EXEC.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgw_keys.h"
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


/* The EXEC reply must hold HSET's integer and XADD's entry id. */
static int
tgw_ctl_exec_ok(redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements == 2
           && r->element[0]->type == REDIS_REPLY_INTEGER
           && r->element[1]->type == REDIS_REPLY_STRING;
}


int
tgw_ctl_enqueue(tgw_ctl_t *ctl, int argc, char **argv)
{
    const char     *queue = argv[0], *type = argv[1], *ctype;
    tgw_ctl_buf_t   out = { 0 };
    redisReply     *r;
    size_t          len, i;
    char            tkey[TGW_CTL_KEY_MAX], qkey[TGW_CTL_KEY_MAX];
    char            id[TGW_CTL_UUID_LEN + 1], *payload;
    int             rc, failed;

    /* ---- validate and prepare everything before touching Redis ---- */

    if (!tgw_ctl_valid_name(queue, TGW_CTL_NAME_MAX, 0)) {
        return tgw_ctl_fail("enqueue: invalid queue \"%s\" (1..%d of "
                            "A-Z a-z 0-9 . _ -)", queue, TGW_CTL_NAME_MAX);
    }

    if (!tgw_ctl_valid_name(type, TGW_CTL_TYPE_MAX, 1)) {
        return tgw_ctl_fail("enqueue: invalid type \"%s\" (1..%d of "
                            "A-Z a-z 0-9 . _ - :)", type, TGW_CTL_TYPE_MAX);
    }

    if (tgw_ctl_uuid7_new(id) != 0) {
        return tgw_ctl_fail("enqueue: cannot make a task id: %s",
                            strerror(errno));
    }

    if (tgw_ctl_key(tkey, TGW_KEY_TASK, ctl->opts.prefix, id) != 0
        || tgw_ctl_key(qkey, TGW_KEY_QUEUE, ctl->opts.prefix, queue,
                       TGW_CTL_PRIORITY) != 0
        || tgw_ctl_read_payload(argc > 2 ? argv[2] : NULL, &payload, &len)
           != 0)
    {
        return 1;
    }

    ctype = len > 0 && tgw_ctl_json_valid(payload, len, NULL, NULL)
            ? "application/json" : "application/octet-stream";

    if (tgw_ctl_connect(ctl) != 0) {
        free(payload);
        return 1;
    }

    /* ---- MULTI; HSET; XADD; EXEC, pipelined ---- */

    failed = redisAppendCommand(ctl->rc, "MULTI") != REDIS_OK
        || redisAppendCommand(ctl->rc,
               "HSET %s " TGW_F_ID " %s " TGW_F_QUEUE " %s " TGW_F_TYPE " %s "
               TGW_F_PRIORITY " " TGW_CTL_PRIORITY " "
               TGW_F_STATUS " " TGW_ST_QUEUED " " TGW_F_PAYLOAD " %b "
               TGW_F_CONTENT_TYPE " %s " TGW_F_OWNER " " TGW_CTL_OWNER " "
               TGW_F_REQUEST_ID " %s " TGW_F_CLIENT_ADDR " %s "
               TGW_F_CREATED_AT " %lld " TGW_F_ATTEMPTS " 0",
               tkey, id, queue, type, payload ? payload : "", len, ctype,
               "", "", (long long) tgw_ctl_now_ms()) != REDIS_OK
        || redisAppendCommand(ctl->rc, "XADD %s * " TGW_STREAM_FIELD_ID " %s",
                              qkey, id) != REDIS_OK
        || redisAppendCommand(ctl->rc, "EXEC") != REDIS_OK;

    free(payload);

    if (failed) {
        return tgw_ctl_fail("enqueue: out of memory");
    }

    /* MULTI, then two QUEUED: an error there aborts EXEC anyway */
    for (i = 0; i < 3; i++) {
        r = tgw_ctl_get_reply(ctl);
        if (r == NULL) {
            return 1;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            tgw_ctl_fail("enqueue: redis: %.*s", (int) r->len, r->str);
            failed = 1;
        }
        freeReplyObject(r);
    }

    r = tgw_ctl_get_reply(ctl);
    if (r == NULL) {
        return 1;
    }

    if (failed || !tgw_ctl_exec_ok(r)) {
        if (!failed) {
            tgw_ctl_fail("enqueue: redis: %s",
                         r->type == REDIS_REPLY_ERROR ? r->str
                         : "the transaction failed");
        }

        /*
         * EXEC runs every queued command even when one fails: a hash
         * written without its stream entry would never run; remove it.
         */
        if (r->type == REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            r = redisCommand(ctl->rc, "DEL %s", tkey);
        }

        if (r != NULL) {
            freeReplyObject(r);
        }
        return 1;
    }

    freeReplyObject(r);

    if (ctl->opts.json) {
        tgw_ctl_buf_printf(&out, "{\"id\":\"%s\",\"status\":\"queued\","
                           "\"queue\":", id);
        tgw_ctl_buf_json_string(&out, queue, strlen(queue));
        tgw_ctl_buf_puts(&out, ",\"type\":");
        tgw_ctl_buf_json_string(&out, type, strlen(type));
        tgw_ctl_buf_puts(&out, ",\"priority\":\"" TGW_CTL_PRIORITY "\"}");
    } else {
        tgw_ctl_buf_puts(&out, id);
    }

    rc = tgw_ctl_print(&out);
    tgw_ctl_buf_free(&out);
    return rc;
}
