/*
 * taskgwctl: state shared by the command files in ctl/: the options,
 * the Redis connection, error reporting and the command handlers.
 */

#ifndef TGW_CTL_H
#define TGW_CTL_H

#include <hiredis/hiredis.h>

#include "tgw_ctl_args.h"
#include "tgw_buf.h"
#include "tgw_clock.h"
#include "tgw_text.h"
#include "tgw_uuid.h"

#define TGW_CTL_PROG     "taskgwctl"
#define TGW_CTL_KEY_MAX  512

typedef struct {
    tgw_ctl_opts_t   opts;
    redisContext    *rc;        /* NULL until connected */
} tgw_ctl_t;

/* A command: its words, how many arguments it takes, its handler. */
typedef int (*tgw_ctl_handler_pt)(tgw_ctl_t *ctl, int argc, char **argv);

/* ---- ctl/main.c ---- */

/* Prints "taskgwctl: <message>" on stderr; returns 1 (the exit status). */
int tgw_ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes out (plus a newline) on stdout; 1 on a write error. */
int tgw_ctl_print(tgw_buf_t *out);

/* ---- ctl/redis.c ---- */

/* Connects, AUTH, SELECT; 0, or 1 after reporting why not. */
int tgw_ctl_connect(tgw_ctl_t *ctl);
void tgw_ctl_disconnect(tgw_ctl_t *ctl);

/*
 * Runs one command; returns the reply, or NULL after reporting a
 * connection error or an error reply.  The caller frees the reply.
 */
redisReply *tgw_ctl_command(tgw_ctl_t *ctl, const char *fmt, ...);

/* Reads one pipelined reply; NULL after reporting a connection error. */
redisReply *tgw_ctl_get_reply(tgw_ctl_t *ctl);

/* snprintf of a key; 1 after reporting when it does not fit. */
int tgw_ctl_key(char *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- ctl/table.c ---- */

/*
 * Text from Redis for a table: control bytes as \xNN (newlines kept when
 * keep_nl), a backslash doubled.  tgw_ctl_put_text() writes it on stdout,
 * newlines kept (1 on error).
 */
int tgw_buf_text(tgw_buf_t *b, const char *s, size_t n, int keep_nl);
int tgw_ctl_put_text(const char *s, size_t n);

/* ---- command handlers ---- */

int tgw_ctl_task_show(tgw_ctl_t *ctl, int argc, char **argv);
int tgw_ctl_task_cancel(tgw_ctl_t *ctl, int argc, char **argv);
int tgw_ctl_enqueue(tgw_ctl_t *ctl, int argc, char **argv);
int tgw_ctl_queues(tgw_ctl_t *ctl, int argc, char **argv);
int tgw_ctl_token_hash(tgw_ctl_t *ctl, int argc, char **argv);
int tgw_ctl_token_create(tgw_ctl_t *ctl, int argc, char **argv);
int tgw_ctl_token_list(tgw_ctl_t *ctl, int argc, char **argv);
int tgw_ctl_token_revoke(tgw_ctl_t *ctl, int argc, char **argv);
int tgw_ctl_workers(tgw_ctl_t *ctl, int argc, char **argv);
int tgw_ctl_dead_list(tgw_ctl_t *ctl, int argc, char **argv);
int tgw_ctl_dead_replay(tgw_ctl_t *ctl, int argc, char **argv);
int tgw_ctl_dead_purge(tgw_ctl_t *ctl, int argc, char **argv);

#endif /* TGW_CTL_H */
