
/*
 * ngx_http_taskgw_redis: the Redis link of one nginx worker process.
 * hiredis's async API driven by nginx's event loop, timeouts, reconnects.
 */


#ifndef _NGX_HTTP_TASKGW_REDIS_H_INCLUDED_
#define _NGX_HTTP_TASKGW_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <hiredis/hiredis.h>
#include "ngx_http_taskgw_module.h"


/* At most this many commands go out as one batch. */
#define NGX_HTTP_TASKGW_REDIS_MAX_BATCH  8

/*
 * At most this many arguments in one command (the enqueue's EVALSHA, with
 * the task's fields, is the longest).
 */
#define NGX_HTTP_TASKGW_REDIS_MAX_ARGS   64


/*
 * One command of a batch: argc arguments, binary-safe.  Set argc to 0,
 * then add the arguments with ngx_http_taskgw_redis_cmd_arg() (and the
 * request body, at most once, with ngx_http_taskgw_redis_cmd_body()); the
 * data must stay valid until ngx_http_taskgw_redis_send() returns, which
 * takes what it needs.  One argument too many marks the command as
 * overflowed (argc is then past NGX_HTTP_TASKGW_REDIS_MAX_ARGS) and
 * sending it fails.
 */
typedef struct {
    int                  argc;
    const char          *argv[NGX_HTTP_TASKGW_REDIS_MAX_ARGS];
    size_t               argvlen[NGX_HTTP_TASKGW_REDIS_MAX_ARGS];
    ngx_chain_t         *body;   /* set by ngx_http_taskgw_redis_cmd_body */
} ngx_http_taskgw_redis_cmd_t;

/*
 * An argument's length with this bit set says its bytes are already RESP
 * ("$<len>\r\n<bytes>\r\n", made by ngx_http_taskgw_redis_resp_arg()) and
 * are copied as they are: a constant such as a field name is written once
 * per process, not counted and framed again for every command.
 */
#define NGX_HTTP_TASKGW_REDIS_RESP  ((size_t) 1 << (sizeof(size_t) * 8 - 1))

/* The most bytes ngx_http_taskgw_redis_resp_arg() adds to len. */
#define NGX_HTTP_TASKGW_REDIS_RESP_FRAME  (1 + NGX_SIZE_T_LEN + 2 + 2)


/*
 * Called once per batch with the reply of its last command, or with NULL
 * when the link failed or timed out before the reply came.  Not called
 * when the request went away in the meantime.  A batch sent with
 * ngx_http_taskgw_redis_send_txn() ran inside a MULTI/EXEC it may have
 * shared with other requests' batches: its reply is an array of its own
 * commands' replies, as EXEC's would be, or EXEC's own reply when that is
 * not an array (an error, nil for an aborted transaction).
 */
typedef void (*ngx_http_taskgw_redis_done_pt)(ngx_http_request_t *r,
    redisReply *reply);


ngx_int_t ngx_http_taskgw_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_taskgw_main_conf_t *tmcf);
void ngx_http_taskgw_redis_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_taskgw_redis_send(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_http_taskgw_redis_done_pt done);
ngx_int_t ngx_http_taskgw_redis_send_txn(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_http_taskgw_redis_done_pt done);
ngx_uint_t ngx_http_taskgw_redis_is_up(void);
ngx_int_t ngx_http_taskgw_wait_send(ngx_http_request_t *r,
    ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n, ngx_uint_t txn,
    ngx_http_taskgw_redis_done_pt done);
void ngx_http_taskgw_redis_fire(ngx_http_taskgw_redis_cmd_t *cmd);
ngx_int_t ngx_http_taskgw_redis_cmd_arg(ngx_http_taskgw_redis_cmd_t *cmd,
    const void *data, size_t len);
ngx_int_t ngx_http_taskgw_redis_cmd_body(ngx_http_taskgw_redis_cmd_t *cmd,
    ngx_chain_t *bufs);
u_char *ngx_http_taskgw_redis_resp_arg(u_char *p, const void *data,
    size_t len);
/* n in decimal at p (at most NGX_INT64_LEN bytes); returns the end. */
u_char *ngx_http_taskgw_redis_decimal(u_char *p, uint64_t n);
ngx_uint_t ngx_http_taskgw_redis_reply_ok(redisReply *reply);
void ngx_http_taskgw_redis_reply_error(redisReply *reply, ngx_str_t *text);
const u_char *ngx_http_taskgw_redis_enqueue_sha(void);
void ngx_http_taskgw_redis_master(ngx_str_t *addr, ngx_uint_t *switches);

/* taskgw_redis and taskgw_redis_backoff (ngx_http_taskgw_redis_conf.c) */
char *ngx_http_taskgw_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_taskgw_backoff(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_taskgw_parse_redis_address(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *value);


#endif /* _NGX_HTTP_TASKGW_REDIS_H_INCLUDED_ */
