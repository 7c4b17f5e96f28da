/*
 * A Redis connection that heals itself: hiredis async on the libuv loop,
 * AUTH/SELECT on connect, reconnect with exponential backoff and jitter
 * (redis_backoff),
 * and a watchdog that drops a connection whose server stops answering
 * (hiredis 0.14 has no timeouts of its own).
 *
 * With "sentinel" in the config the address is not fixed: before each
 * connect the sentinels are asked in turn, asynchronously, for the
 * master's address, and ROLE confirms that the server reached is a
 * master.  A lost connection or a -READONLY reply (the server became a
 * replica behind our back) drops the connection and asks again.
 *
 * Every command sent through tgw_rconn_cmd()/tgw_rconn_cmdv() gets its
 * callback exactly once: with the reply, or with NULL when the connection
 * failed first.  Callers therefore never lose track of a request; they
 * retry it when the connection is back.
 */

#ifndef TGW_RCONN_H
#define TGW_RCONN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "conf.h"

/* Connection states, in the order a connection goes through them. */
typedef enum {
    TGW_RCONN_DOWN = 0,             /* no socket; a reconnect is timed */
    TGW_RCONN_RESOLVING,            /* asking a sentinel for the master */
    TGW_RCONN_CONNECTING,           /* TCP connect, AUTH, SELECT, PING
                                       (ROLE with sentinels) */
    TGW_RCONN_READY,                /* accepts commands */
    TGW_RCONN_CLOSED                /* tgw_rconn_close() was called */
} tgw_rconn_state_t;

typedef struct tgw_rconn_s tgw_rconn_t;

typedef void (*tgw_rconn_event_cb)(tgw_rconn_t *rc);
typedef void (*tgw_rconn_reply_cb)(tgw_rconn_t *rc, redisReply *reply,
    void *data);

struct tgw_rconn_s {
    uv_loop_t          *loop;
    const char         *role;       /* "cmd" or "read", for logs */
    tgw_conf_t         *conf;       /* address, password, db, timeout */
    redisAsyncContext  *ac;         /* NULL while DOWN */
    redisAsyncContext  *sac;        /* RESOLVING: the sentinel asked */
    struct tgw_rlookup_s *lookup;   /* a host name being looked up
                                       (rlookup.h), or NULL */
    size_t              sentinel;   /* the sentinel to ask first: the one
                                       that answered last time */
    size_t              asked;      /* sentinels asked in this round */
    tgw_addr_t          addr;       /* with sentinels: the master's
                                       address being connected to */
    char                why[512];   /* why the last sentinel failed */
    tgw_rconn_state_t   state;
    uv_timer_t          timer;      /* reconnect delay, then watchdog */
    int                 failures;   /* reconnects failed in a row: the
                                       next delay grows with it, between
                                       redis_backoff min and max */
    char                good[INET6_ADDRSTRLEN]; /* the address of the last
                                       connection that became ready, ""
                                       before one: a reconnect to a host
                                       name tries it first (rlookup.h) */
    uint64_t            since_ms;   /* RESOLVING, CONNECTING: when it
                                       began; READY:
                                       last reply, or when the oldest
                                       outstanding request was sent */
    unsigned            inflight;   /* requests awaiting their reply */
    uint64_t            grace_ms;   /* extra reply time allowed (the BLOCK
                                       time of a blocking read) */
    int                 was_ready;  /* logged "up": log the next "down" */
    int                 warned;     /* a failed connect was logged at warn
                                       since the last success */
    int                 role_warned; /* so was a server not a master */
    tgw_rconn_event_cb  on_ready;   /* became READY */
    tgw_rconn_event_cb  on_down;    /* a READY connection was lost */
    void               *data;       /* the owner's */
};

/* Up to this many arguments per command (the record script of a dead
 * task with a webhook event carries about 55). */
#define TGW_ARGS_MAX  64

/* A command under construction: argv of (pointer, length) pairs. */
typedef struct {
    int          argc;
    int          overflow;          /* too many arguments were added */
    const char  *argv[TGW_ARGS_MAX];
    size_t       len[TGW_ARGS_MAX];
    char         num[TGW_ARGS_MAX][24]; /* storage of numeric arguments */
    char        *own[TGW_ARGS_MAX]; /* strings made by tgw_args_keyf(),
                                       freed by tgw_args_free() */
    int          nown;
    const char  *script;            /* set by tgw_args_script() */
} tgw_args_t;

void tgw_args_init(tgw_args_t *a);
void tgw_args_add(tgw_args_t *a, const char *s);
void tgw_args_addn(tgw_args_t *a, const char *s, size_t len);
void tgw_args_addu(tgw_args_t *a, uint64_t n);
/* Adds snprintf(fmt, ...) kept in buf, which must outlive the command
 * being sent (it is copied by hiredis when sent). */
void tgw_args_addf(tgw_args_t *a, char *buf, size_t size,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Starts the command as EVALSHA <sha1 of text> (text: a script of
 * tgw_lua.h, which lives as long as the program).  Redis runs the script
 * it has cached under that digest; when it has none (NOSCRIPT: first
 * use, a restarted Redis, a SCRIPT FLUSH) the connection loads the
 * script and sends the command again, once, before the callback sees a
 * reply.  The script's text thus crosses the network once per
 * connection and cache, not with every call.
 */
void tgw_args_script(tgw_args_t *a, const char *text);

/* The SHA1 of a script of tgw_lua.h, in hex (cached per text pointer). */
const char *tgw_script_sha(const char *text);

/* Adds a formatted string (a key) of any length, allocated; the caller
 * ends with tgw_args_free().  No memory sets overflow: nothing is sent. */
void tgw_args_keyf(tgw_args_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tgw_args_free(tgw_args_t *a);

/* Initializes and starts connecting (takes a reference on conf). */
int tgw_rconn_init(tgw_rconn_t *rc, uv_loop_t *loop, const char *role,
    tgw_conf_t *conf);

/*
 * Sends one command; returns 0 when cb will be called, -1 when the
 * connection is not READY (cb will not be called).
 */
int tgw_rconn_cmd(tgw_rconn_t *rc, tgw_rconn_reply_cb cb, void *data,
    const tgw_args_t *cmd);

/* Same with a plain argument vector (for long commands). */
int tgw_rconn_cmdv(tgw_rconn_t *rc, tgw_rconn_reply_cb cb, void *data,
    int argc, const char **argv, const size_t *len);

/*
 * Sends a command formatted by the caller in the protocol's own form,
 * an EVALSHA of script (a script of tgw_lua.h, see tgw_args_script()):
 * for commands with more arguments than a tgw_args_t holds.  Takes fmt
 * (malloc'ed) in every case.  Returns as tgw_rconn_cmd().
 */
int tgw_rconn_script_fmt(tgw_rconn_t *rc, tgw_rconn_reply_cb cb,
    void *data, const char *script, char *fmt, size_t len);

/*
 * Closes for good: outstanding callbacks run with NULL (graceful = 0) or
 * once their replies arrived (graceful = 1).  The loop keeps running until
 * the socket and timer handles are closed.
 */
void tgw_rconn_close(tgw_rconn_t *rc, int graceful);

/* Unix time in milliseconds (the wall clock, for timestamps). */
uint64_t tgw_now_ms(void);

#endif /* TGW_RCONN_H */
