
/*
 * ngx_http_taskgw_module: shared types of the module's files.
 * Owns the configuration structures, the request context and the Redis
 * key schema (worker/common/tgw_keys.h, shared with the worker and
 * taskgwctl).
 */


#ifndef _NGX_HTTP_TASKGW_MODULE_H_INCLUDED_
#define _NGX_HTTP_TASKGW_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "tgw_keys.h"


/* The keys of worker/common/tgw_keys.h, built from ngx_str_t parts (a
 * token digest is hex of a given length). */
#define NGX_HTTP_TASKGW_KEY_TASK      TGW_KEYF_TASK("%V")
#define NGX_HTTP_TASKGW_KEY_QUEUE     TGW_KEYF_QUEUE("%V")
#define NGX_HTTP_TASKGW_KEY_SCHEDULED TGW_KEYF_SCHEDULED("%V")
#define NGX_HTTP_TASKGW_KEY_DEAD      TGW_KEYF_DEAD("%V")
#define NGX_HTTP_TASKGW_KEY_WORKER    TGW_KEYF_WORKER("%V")
#define NGX_HTTP_TASKGW_KEY_TOKENS    TGW_KEYF_TOKENS("%V")
#define NGX_HTTP_TASKGW_KEY_AUDIT     TGW_KEYF_AUDIT("%V")
#define NGX_HTTP_TASKGW_KEY_TOKEN     TGW_KEYF_TOKEN("%V", "%*s")
#define NGX_HTTP_TASKGW_KEY_IDEM      "%V:idem:%V:%*s"
#define NGX_HTTP_TASKGW_KEY_RESULT_TTL "%V:config:result_ttl"
#define NGX_HTTP_TASKGW_KEY_CHAN_DONE "%V" TGW_CHAN_DONE
#define NGX_HTTP_TASKGW_KEY_CHAN_REVOKED "%V" TGW_CHAN_REVOKED

/* Idempotency-Key: 1-255 visible ASCII characters, remembered 24 hours */
#define NGX_HTTP_TASKGW_IDEM_KEY_MAX  255
#define NGX_HTTP_TASKGW_IDEM_TTL      "86400000"
#define NGX_HTTP_TASKGW_KEY_OUTBOX    "%V:outbox"
/* a webhook event: prefix, then its id "msg_<task id>_<finished_at ms>" */
#define NGX_HTTP_TASKGW_KEY_EVENT     "%V:event:msg_%V_%L"

#define NGX_HTTP_TASKGW_UUID_LEN      36
#define NGX_HTTP_TASKGW_PREFIX_MAX    TGW_PREFIX_MAX  /* all parts agree */
#define NGX_HTTP_TASKGW_QUEUE_MAX     64
#define NGX_HTTP_TASKGW_TYPE_MAX      128
#define NGX_HTTP_TASKGW_TOKEN_NAME_MAX 64
#define NGX_HTTP_TASKGW_DIGEST_LEN    32     /* SHA-256 */

/* GET <status>/<id>?wait=N waits at most this long (ms); the
 * taskgw_status_max_wait directive can only lower it */
#define NGX_HTTP_TASKGW_MAX_WAIT      30000

/* taskgw_max_delay at most 10 years (3650 days), in seconds */
#define NGX_HTTP_TASKGW_MAX_DELAY_CAP ((time_t) 3650 * 86400)

/* Task priorities, in the order a worker reads them. */
#define NGX_HTTP_TASKGW_PRIO_HIGH     0
#define NGX_HTTP_TASKGW_PRIO_NORMAL   1
#define NGX_HTTP_TASKGW_PRIO_LOW      2


/* Token roles, weakest first: a role satisfies every role below it. */
#define NGX_HTTP_TASKGW_ROLE_NONE     0      /* taskgw_auth off */
#define NGX_HTTP_TASKGW_ROLE_DEV      1
#define NGX_HTTP_TASKGW_ROLE_OPS      2
#define NGX_HTTP_TASKGW_ROLE_ADMIN    3


/* What kind of content handler a location runs. */
typedef enum {
    NGX_HTTP_TASKGW_NONE = 0,
    NGX_HTTP_TASKGW_ENQUEUE,
    NGX_HTTP_TASKGW_STATUS,
    NGX_HTTP_TASKGW_METRICS,
    NGX_HTTP_TASKGW_HEALTH,
    NGX_HTTP_TASKGW_ADMIN
} ngx_http_taskgw_handler_e;


typedef struct {
    ngx_str_t                   address;     /* as written, for logs */
    ngx_str_t                   host;        /* numeric address or path */
    ngx_int_t                   port;        /* 0 for a unix socket */
    ngx_str_t                   password;    /* empty: no AUTH */

    /* sentinel=: ngx_http_taskgw_sentinel_t; NULL for a plain address */
    ngx_array_t                *sentinels;
    ngx_str_t                   master;      /* master=, the master's name */
    ngx_str_t                   sentinel_password;
    ngx_int_t                   db;          /* 0: no SELECT */
    ngx_msec_t                  timeout;     /* connect and per command */
    ngx_msec_t                  backoff_min; /* first reconnect delay */
    ngx_msec_t                  backoff_max; /* reconnect delay cap */
    ngx_str_t                   prefix;      /* key namespace */
    ngx_str_t                   task_prefix; /* "<prefix>:task:" */
    ngx_str_t                   scheduled;   /* "<prefix>:scheduled" */
    ngx_str_t                   queue_key[3]; /* a queue's stream key is
                                                 [0] queue [1] priority [2]:
                                                 "<prefix>:q:", ":", "" */
    ngx_flag_t                  used;        /* some location needs Redis */
    ngx_flag_t                  wait_used;   /* some taskgw_redis_wait */
    ngx_int_t                   request_id_index; /* $request_id's */
    ngx_shm_zone_t             *metrics;     /* counters of all workers */

    /* taskgw_tokens: ngx_http_taskgw_token_t, NULL without a file */
    ngx_array_t                *tokens;
    ngx_str_t                   tokens_file;
    ngx_flag_t                  tokens_redis;     /* run-time tokens */
    ngx_msec_t                  tokens_cache_ttl;
    size_t                      tokens_cache_size;
    struct ngx_http_taskgw_shm_s *token_cache;    /* of run-time tokens */
} ngx_http_taskgw_main_conf_t;


/* One sentinel of taskgw_redis sentinel=... */
typedef struct {
    ngx_str_t                   text;        /* as written, for logs */
    ngx_str_t                   host;        /* numeric, null-terminated */
    ngx_int_t                   port;
} ngx_http_taskgw_sentinel_t;


/* A rate as written, "10r/s" or "600r/m": n requests per period. */
typedef struct {
    ngx_uint_t                  n;           /* 0: no rate */
    ngx_uint_t                  period;      /* seconds: 1 or 60 */
} ngx_http_taskgw_rate_t;


/*
 * One token: from the token file, or a run-time token from Redis (then
 * copied into the request's pool).  Only its SHA-256 digest is known.
 */
typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  role;        /* NGX_HTTP_TASKGW_ROLE_* */
    u_char                      digest[NGX_HTTP_TASKGW_DIGEST_LEN];
    ngx_array_t                *ips;         /* ngx_cidr_t; NULL: anywhere */
    ngx_uint_t                  rate;        /* r/s * 1000; 0: the zone's */
    ngx_uint_t                  rate_period; /* as written: 1 (Nr/s) or
                                                60 (Nr/m) */
    ngx_array_t                *queues;      /* ngx_str_t; NULL: any queue */
    unsigned                    disabled:1;
} ngx_http_taskgw_token_t;


typedef struct {
    ngx_str_t                   status_location; /* for Location:, with
                                                    the '/' before the id */
} ngx_http_taskgw_srv_conf_t;


typedef struct {
    ngx_http_taskgw_handler_e   handler;
    ngx_str_t                   handler_file; /* where it was set, for */
    ngx_uint_t                  handler_line; /* a conflict found later */

    /* taskgw_enqueue */
    ngx_http_complex_value_t   *queue;
    ngx_http_complex_value_t   *type;     /* NULL: same as the queue */
    ngx_uint_t                  priority;

    /* taskgw_status */
    ngx_http_complex_value_t   *status_id; /* NULL: last path segment */
    ngx_msec_t                  status_max_wait; /* longest ?wait= */

    ngx_flag_t                  validate_json;
    time_t                      max_delay;  /* of X-Task-Delay/-Run-At */
    size_t                      max_payload; /* largest body stored */
    ngx_int_t                   max_backlog; /* stream entries; 0: none */
    /* taskgw_redis_wait (ngx_http_taskgw_wait.c) */
    ngx_int_t                   wait_replicas; /* 0: off */
    ngx_msec_t                  wait_timeout;
    ngx_str_t                   wait_file;   /* where it was set, for */
    ngx_uint_t                  wait_line;   /* a duplicate in a block */

    /* edge checks */
    ngx_uint_t                  auth;       /* least role; 0: off */
    ngx_array_t                *allow;      /* ngx_cidr_t; NULL: unset */
    ngx_flag_t                  allow_all;  /* "taskgw_allow all" */

    /* taskgw_limit, taskgw_limit_headers (ngx_http_taskgw_limit.c) */
    ngx_array_t                *limits;     /* ngx_http_taskgw_limit_t */
    ngx_uint_t                  limit_headers;

    /* taskgw_callback_allow: ngx_regex_t *, each anchored at both ends;
     * NULL: none configured, every X-Callback-URL is refused */
    ngx_array_t                *callback_allow;
} ngx_http_taskgw_loc_conf_t;


/* Where the access-phase checks of a request stand (it may wait). */
typedef enum {
    NGX_HTTP_TASKGW_EDGE_ALLOW = 0,
    NGX_HTTP_TASKGW_EDGE_TOKEN,
    NGX_HTTP_TASKGW_EDGE_TOKEN_WAIT,  /* a Redis token lookup in flight */
    NGX_HTTP_TASKGW_EDGE_TOKEN_DONE,  /* the lookup failed (lookup_rc) */
    NGX_HTTP_TASKGW_EDGE_LIMIT,
    NGX_HTTP_TASKGW_EDGE_PASSED
} ngx_http_taskgw_edge_stage_e;


/* Per-request state, also read by the $taskgw_* variables. */
typedef struct {
    ngx_str_t                   task_id;
    ngx_str_t                   task_key;    /* its hash in Redis */
    ngx_str_t                   outcome;     /* metrics outcome label */
    ngx_str_t                   queue;
    ngx_str_t                   type;
    ngx_uint_t                  priority;
    int64_t                     run_at;      /* unix ms; 0: run now */
    ngx_str_t                   callback_url; /* X-Callback-URL, checked */
    ngx_str_t                   idem_key;    /* Idempotency-Key or empty */
    ngx_str_t                   traceparent; /* version 00, 55 characters;
                                                empty until settled */
    unsigned                    replied:1;   /* the module wrote the reply */
    unsigned                    reloaded:1;  /* enqueue sent SCRIPT LOAD */
    unsigned                    payload_apart:1; /* in its own HSET */
    unsigned                    plain:1;     /* enqueue without the script */
    unsigned                    json_error:1; /* error filter rewrites */
    unsigned                    replayed:1;  /* the reply is a replay */
    ngx_str_t                   reply_body;  /* the 202/200 JSON, kept
                                                while replicas are awaited */
    ngx_str_t                   error_body;  /* JSON for the error filter */

    /* the edge checks (ngx_http_taskgw_access.c) */
    ngx_http_taskgw_edge_stage_e  stage;
    ngx_int_t                   lookup_rc;   /* NGX_ERROR: lookup failed */
    ngx_uint_t                  lookups;     /* Redis lookups it waited on */
    void                       *waiter;      /* its token lookup wait */
    ngx_http_taskgw_token_t    *token;       /* a run-time token found */
    ngx_str_t                  *answer;      /* the token's fields from the
                                                lookup it waited for, not
                                                cached; NULL: no such token */
    unsigned                    answered:1;  /* "answer" is to be read */
    const char                 *reject_code;    /* why a check said no */
    const char                 *reject_message;
    u_char                      digest[NGX_HTTP_TASKGW_DIGEST_LEN];

    /* the caller's token, once known; read by the limiter and handlers */
    ngx_str_t                   token_name;  /* also the task's owner */
    ngx_str_t                   token_role;  /* "dev", "ops", "admin" */
    ngx_uint_t                  role;        /* NGX_HTTP_TASKGW_ROLE_* */
    ngx_uint_t                  token_rate;  /* r/s * 1000; 0: zone's */
    ngx_uint_t                  token_rate_period; /* 1 or 60 */
    ngx_array_t                *token_ips;   /* ngx_cidr_t or NULL */
    ngx_array_t                *token_queues; /* ngx_str_t or NULL */
    ngx_str_t                   limit_status; /* $taskgw_limit_status */

    /* operations: metrics, health, admin */
    uint64_t                    started_us;  /* enqueue timing; 0: none */
    void                       *ops;         /* the ops handler's state */
    void                       *wait;        /* a long poll (status.c) */
} ngx_http_taskgw_ctx_t;


extern ngx_module_t  ngx_http_taskgw_module;


/* ngx_http_taskgw_module.c */
/* makes the location run this handler (one per location), or says why not */
char *ngx_http_taskgw_set_handler(ngx_conf_t *cf,
    ngx_http_taskgw_loc_conf_t *tlcf, ngx_http_taskgw_handler_e handler);

/* ngx_http_taskgw_location_conf.c: taskgw_enqueue, taskgw_status, and
 * taskgw_metrics, taskgw_health and taskgw_admin (ops_location) */
char *ngx_http_taskgw_enqueue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_taskgw_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_taskgw_ops_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_taskgw_reply.c: replies, variables, the clock */
ngx_int_t ngx_http_taskgw_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_taskgw_init_filters(ngx_conf_t *cf);
ngx_http_taskgw_ctx_t *ngx_http_taskgw_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_taskgw_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *outcome, u_char *body, size_t len);
ngx_int_t ngx_http_taskgw_send_json_body(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *outcome, u_char *body, size_t len,
    ngx_uint_t copy);
ngx_int_t ngx_http_taskgw_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);
ngx_int_t ngx_http_taskgw_unavailable(ngx_http_request_t *r,
    const char *message);
ngx_int_t ngx_http_taskgw_not_allowed(ngx_http_request_t *r, char *allow,
    const char *message);
int64_t ngx_http_taskgw_now_ms(void);
ngx_int_t ngx_http_taskgw_find_header(ngx_http_request_t *r,
    const char *name, ngx_table_elt_t **h);
ngx_uint_t ngx_http_taskgw_find_headers(ngx_http_request_t *r,
    ngx_str_t *names, ngx_uint_t n, ngx_table_elt_t **h);

ngx_int_t ngx_http_taskgw_reject(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message);

/* ngx_http_taskgw_access.c: allowlist -> token -> limit */
ngx_int_t ngx_http_taskgw_access_init(ngx_conf_t *cf);

/* ngx_http_taskgw_allow.c */
char *ngx_http_taskgw_allow(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_taskgw_allow_check(ngx_http_request_t *r);

/* ngx_http_taskgw_token.c */
char *ngx_http_taskgw_tokens(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_taskgw_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_taskgw_tokens_init_conf(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf);
ngx_int_t ngx_http_taskgw_token_check(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx);
ngx_int_t ngx_http_taskgw_token_resume(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx);
ngx_int_t ngx_http_taskgw_queue_allowed(ngx_http_taskgw_ctx_t *ctx,
    ngx_str_t *queue);

/* ngx_http_taskgw_enqueue.c (its parts: ngx_http_taskgw_enqueue.h) */
ngx_int_t ngx_http_taskgw_enqueue_handler(ngx_http_request_t *r);

/* ngx_http_taskgw_enqueue_reply.c */
void ngx_http_taskgw_enqueue_answer(ngx_http_request_t *r);

/* ngx_http_taskgw_wait.c: taskgw_redis_wait */
char *ngx_http_taskgw_wait_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_taskgw_wait_init_process(ngx_cycle_t *cycle,
    ngx_http_taskgw_main_conf_t *tmcf);
void ngx_http_taskgw_wait_exit_process(ngx_cycle_t *cycle);
void ngx_http_taskgw_wait_follow(const char *reason);
void ngx_http_taskgw_wait_start(ngx_http_request_t *r);

/* ngx_http_taskgw_trace.c */
ngx_int_t ngx_http_taskgw_trace(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx);
ngx_int_t ngx_http_taskgw_trace_from(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_table_elt_t *h, ngx_uint_t repeated);
ngx_int_t ngx_http_taskgw_trace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

/* ngx_http_taskgw_callback.c */
char *ngx_http_taskgw_callback_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_taskgw_callback_check(ngx_http_request_t *r,
    ngx_table_elt_t *h, ngx_uint_t repeated, ngx_str_t *url,
    const char **message);

/* metrics, health, admin: ngx_http_taskgw_ops.h */
uint64_t ngx_http_taskgw_clock_us(void);

/* ngx_http_taskgw_parse.c and _parse_token.c (the rest:
 * ngx_http_taskgw_parse.h); the priorities are high, normal, low (a
 * queue's streams in the stats script's order too), then a null string */
extern ngx_str_t  ngx_http_taskgw_priorities[];
extern ngx_str_t  ngx_http_taskgw_roles[];
ngx_int_t ngx_http_taskgw_valid_name(ngx_str_t *s, size_t max,
    ngx_uint_t colon);
ngx_int_t ngx_http_taskgw_addr_in(struct sockaddr *sa, ngx_array_t *cidrs);

/* ngx_http_taskgw_render.c */
u_char *ngx_http_taskgw_iso_time(u_char *p, int64_t ms);

/* ngx_http_taskgw_status.c */
ngx_int_t ngx_http_taskgw_status_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_taskgw_valid_uuid(ngx_str_t *id);


#endif /* _NGX_HTTP_TASKGW_MODULE_H_INCLUDED_ */
