/*
 * A Redis connection's commands (rconn.h): sending them, and every reply
 * back to its caller, with the resend of an EVALSHA that found no script.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "log.h"
#include "rconn.h"
#include "rconn_int.h"


/* One request in flight: whose callback to run with its reply. */
typedef struct {
    tgw_rconn_t        *rc;
    tgw_rconn_reply_cb  cb;
    void               *data;
    int                 internal;   /* handshake, not counted in inflight */
    const char         *script;     /* an EVALSHA's script text, or NULL */
    char               *fmt;        /* an EVALSHA as sent (for its resend
                                       after NOSCRIPT); NULL otherwise */
    size_t              fmt_len;
    int                 reloaded;   /* it was resent once already */
} tgw_rreq_t;

/* ------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

static void tgw_rconn_reply(redisAsyncContext *ac, void *r, void *privdata);


/* An EVALSHA that found no script: SCRIPT LOAD, then the same EVALSHA
 * again, in that order on this connection; 0 when both were queued. */
static int
tgw_rconn_reload(redisAsyncContext *ac, tgw_rreq_t *req)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_add(&a, "SCRIPT");
    tgw_args_add(&a, "LOAD");
    tgw_args_add(&a, req->script);
    if (tgw_rconn_send(req->rc, NULL, NULL, &a, 1) != 0) {
        return -1;
    }
    req->reloaded = 1;
    return redisAsyncFormattedCommand(ac, tgw_rconn_reply, req, req->fmt,
                                      req->fmt_len) == REDIS_OK ? 0 : -1;
}


static void
tgw_rconn_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    tgw_rreq_t  *req = privdata;
    tgw_rconn_t *rc = req->rc;
    redisReply  *reply = r;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR
        && req->fmt != NULL && !req->reloaded
        && strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        if (req->rc->ac == ac && tgw_rconn_reload(ac, req) == 0) {
            /* normal on first use: debug, not a warning */
            tgw_log(TGW_LOG_DEBUG, "redis_script_load", "conn", rc->role,
                    NULL);
            return;                 /* this callback runs again */
        }
    }
    if (!req->internal && rc->inflight > 0) {
        rc->inflight--;
        rc->since_ms = uv_now(rc->loop);
    }
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR
        && rc->ac == ac && rc->conf->nsentinels > 0
        && (strncmp(reply->str, "READONLY", 8) == 0
            || strncmp(reply->str, "UNBLOCKED", 9) == 0))
    {
        /*
         * The server was made a replica behind our back (a failover we
         * were not told of, a REPLICAOF): the command did not happen.
         * Its caller sees what a lost connection gives it (NULL: it
         * sends the command again once READY), and the connection is
         * made again to the master the sentinels name now.
         */
        char why[160];

        snprintf(why, sizeof(why), "%s", reply->str);
        /* down first: the caller cannot send again on this connection
         * (hiredis frees it, with NULL to the commands still pending,
         * once this callback returned) */
        tgw_rconn_lost(rc, why);
        if (req->cb) {
            req->cb(rc, NULL, req->data);
        }
        free(req->fmt);
        free(req);
        return;
    }
    if (req->cb) {
        req->cb(rc, reply, req->data);
    }
    free(req->fmt);
    free(req);
}


int
tgw_rconn_send(tgw_rconn_t *rc, tgw_rconn_reply_cb cb, void *data,
    const tgw_args_t *cmd, int internal)
{
    tgw_rreq_t *req;
    int         n, rv;

    if (cmd->overflow || rc->ac == NULL) {
        return -1;
    }
    req = malloc(sizeof(*req));
    if (req == NULL) {
        return -1;
    }
    req->rc = rc;
    req->cb = cb;
    req->data = data;
    req->internal = internal;
    req->script = cmd->script;
    req->fmt = NULL;
    req->fmt_len = 0;
    req->reloaded = 0;
    if (cmd->script != NULL) {
        /* formatted here and kept until the reply: NOSCRIPT resends it */
        n = redisFormatCommandArgv(&req->fmt, cmd->argc,
                                   (const char **) cmd->argv, cmd->len);
        if (n < 0) {
            free(req);
            return -1;
        }
        req->fmt_len = (size_t) n;
        rv = redisAsyncFormattedCommand(rc->ac, tgw_rconn_reply, req,
                                        req->fmt, req->fmt_len);
    } else {
        rv = redisAsyncCommandArgv(rc->ac, tgw_rconn_reply, req, cmd->argc,
                                   (const char **) cmd->argv, cmd->len);
    }
    if (rv != REDIS_OK) {
        free(req->fmt);
        free(req);
        return -1;
    }
    if (!internal) {
        if (rc->inflight++ == 0) {
            rc->since_ms = uv_now(rc->loop);
        }
    }
    return 0;
}


int
tgw_rconn_cmdv(tgw_rconn_t *rc, tgw_rconn_reply_cb cb, void *data,
    int argc, const char **argv, const size_t *len)
{
    tgw_rreq_t *req;

    if (rc->state != TGW_RCONN_READY) {
        return -1;
    }
    req = malloc(sizeof(*req));
    if (req == NULL) {
        return -1;
    }
    req->rc = rc;
    req->cb = cb;
    req->data = data;
    req->internal = 0;
    req->script = NULL;
    req->fmt = NULL;
    req->fmt_len = 0;
    req->reloaded = 0;
    if (redisAsyncCommandArgv(rc->ac, tgw_rconn_reply, req, argc, argv, len)
        != REDIS_OK)
    {
        free(req);
        return -1;
    }
    if (rc->inflight++ == 0) {
        rc->since_ms = uv_now(rc->loop);
    }
    return 0;
}


int
tgw_rconn_script_fmt(tgw_rconn_t *rc, tgw_rconn_reply_cb cb, void *data,
    const char *script, char *fmt, size_t len)
{
    tgw_rreq_t *req;

    if (rc->state != TGW_RCONN_READY
        || (req = malloc(sizeof(*req))) == NULL)
    {
        free(fmt);
        return -1;
    }
    req->rc = rc;
    req->cb = cb;
    req->data = data;
    req->internal = 0;
    req->script = script;
    req->fmt = fmt;                 /* kept until the reply: NOSCRIPT
                                       resends it */
    req->fmt_len = len;
    req->reloaded = 0;
    if (redisAsyncFormattedCommand(rc->ac, tgw_rconn_reply, req, fmt, len)
        != REDIS_OK)
    {
        free(fmt);
        free(req);
        return -1;
    }
    if (rc->inflight++ == 0) {
        rc->since_ms = uv_now(rc->loop);
    }
    return 0;
}


int
tgw_rconn_cmd(tgw_rconn_t *rc, tgw_rconn_reply_cb cb, void *data,
    const tgw_args_t *cmd)
{
    if (rc->state != TGW_RCONN_READY) {
        return -1;
    }
    return tgw_rconn_send(rc, cb, data, cmd, 0);
}
