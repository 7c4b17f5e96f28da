/*
 * taskgw-worker configuration (docs/worker-config.md): the parsed,
 * validated form of the JSON config file.  Parsing collects every error
 * with its key path, so an operator fixes a file in one round; nothing is
 * acted on until a config parsed without errors.
 */

#ifndef TGW_CONF_H
#define TGW_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "tgw_sentinel.h"

/* The PATH an exec program is looked up in (and gets) when the worker
 * has none. */
#define TGW_DEFAULT_PATH  "/usr/local/bin:/usr/bin:/bin"

/* Longest worker name (it is part of keys and the consumer name). */
#define TGW_NAME_MAX      128

/* The most runs a task can be given (retry.max_attempts, a handler's
 * max_attempts): an attempts field above it was written by no run. */
#define TGW_MAX_ATTEMPTS_LIMIT  1000

/* What a handler does with a task. */
typedef enum {
    TGW_HANDLER_BUILTIN = 0,
    TGW_HANDLER_EXEC,
    TGW_HANDLER_HTTP
} tgw_handler_kind_t;

/* The built-ins, for tests and health checks. */
typedef enum {
    TGW_BUILTIN_PING = 0,           /* result "pong" */
    TGW_BUILTIN_ECHO,               /* result = payload */
    TGW_BUILTIN_SLEEP,              /* payload {"ms":N}: succeed after N ms */
    TGW_BUILTIN_FAIL                /* always fails, {"permanent":true} too */
} tgw_builtin_t;

typedef struct {
    char               *type;       /* task type served ("report.build") */
    tgw_handler_kind_t  kind;
    tgw_builtin_t       builtin;    /* kind BUILTIN */
    char              **argv;       /* kind EXEC: NULL-terminated argv */
    char               *http_url;   /* kind HTTP: where the payload goes */
    uint64_t            http_timeout_ms;
    uint64_t            timeout_ms; /* run time limit, 0 = none */
    int                 max_attempts; /* 0 = retry.max_attempts applies */
    int                 concurrency;  /* cap on running tasks of the type,
                                         0 = only the global cap applies */
    char               *webhook;    /* callback URL of the type, or NULL */
} tgw_handler_conf_t;

typedef struct {
    char               *name;       /* queue name, as in the stream keys */
    int                 weight;     /* share of fetches, relative */
} tgw_queue_conf_t;

typedef struct {
    char               *name;       /* unique schedule name */
    char               *cron;       /* 5-field cron expression, UTC */
    char               *queue;
    char               *type;
    char               *priority;   /* high, normal or low */
    char               *payload;    /* JSON text of the payload */
} tgw_schedule_conf_t;

typedef struct tgw_conf {
    int                 refs;       /* the worker and each task it runs
                                       hold a reference (SIGHUP swaps the
                                       worker's; tasks keep their own) */
    char               *path;       /* file it was read from */

    char               *redis_host; /* TCP host, NULL for a unix socket */
    int                 redis_port;
    char               *redis_unix; /* unix socket path, or NULL */
    tgw_addr_t         *sentinels;  /* "sentinel": ask these for the
                                       master's address instead of using
                                       redis_host (nsentinels > 0) */
    size_t              nsentinels;
    char               *master;     /* the master's name at the sentinels */
    char               *sentinel_password; /* AUTH at the sentinels */
    char               *password;   /* AUTH password, or NULL */
    int                 db;         /* SELECT db when non-zero */
    uint64_t            redis_timeout_ms; /* connect and reply deadline */
    uint64_t            redis_backoff_min_ms; /* reconnect delays: the */
    uint64_t            redis_backoff_max_ms; /* first, and the longest */

    char               *prefix;     /* key namespace (tgw_keys.h) */
    char               *group;      /* consumer group */
    char               *name;       /* consumer name, host-pid by default */

    int                 concurrency;      /* tasks held at once */
    tgw_queue_conf_t   *queues;
    size_t              nqueues;

    uint64_t            claim_idle_ms;
    uint64_t            result_ttl_ms;
    size_t              result_max_bytes;
    uint64_t            shutdown_grace_ms;
    uint64_t            exec_spawner_timeout_ms; /* spawn.h */

    int                 retry_max_attempts;
    uint64_t            retry_base_ms;
    uint64_t            retry_cap_ms;

    char              **webhook_secrets;  /* "whsec_..." strings */
    size_t              webhook_nsecrets;
    char               *webhook_url;
    uint64_t            webhook_timeout_ms;
    uint64_t           *webhook_schedule; /* delays between tries */
    size_t              webhook_nschedule;
    int                 webhook_allow_private;

    tgw_handler_conf_t *handlers;
    size_t              nhandlers;
    tgw_schedule_conf_t *schedules;
    size_t              nschedules;

    char               *take_head;  /* take_many.lua's leading arguments
                                       under this config, formatted on
                                       first use (store.c), or NULL */
    size_t              take_head_len;
    int                 take_head_argc;
    char               *record_head;    /* record_many.lua's, the same */
    size_t              record_head_len;
} tgw_conf_t;

/* Errors found while parsing, one message each ("key.path: reason"). */
typedef struct {
    char              **msg;
    size_t              n;
} tgw_conf_errors_t;

/*
 * Reads and validates the config file.  Returns a config with one
 * reference, or NULL with the reasons in errs (which the caller frees with
 * tgw_conf_errors_free; it is also filled with nothing on success).
 */
tgw_conf_t *tgw_conf_load(const char *path, tgw_conf_errors_t *errs);

/* Same, from JSON text in memory (path only names it in messages). */
tgw_conf_t *tgw_conf_parse(const char *text, size_t len, const char *path,
    tgw_conf_errors_t *errs);

tgw_conf_t *tgw_conf_ref(tgw_conf_t *conf);
void tgw_conf_unref(tgw_conf_t *conf);
void tgw_conf_errors_free(tgw_conf_errors_t *errs);

/* The handler of a task type, or NULL when the type is unknown. */
const tgw_handler_conf_t *tgw_conf_handler(const tgw_conf_t *conf,
    const char *type);

/* Attempts a task of this handler (may be NULL) gets in total. */
int tgw_conf_max_attempts(const tgw_conf_t *conf,
    const tgw_handler_conf_t *h);

/* Validates a 5-field cron expression; 0 if good, else -1. */
int tgw_cron_validate(const char *expr);

#endif /* TGW_CONF_H */
