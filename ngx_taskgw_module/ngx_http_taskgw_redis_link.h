
/*
 * ngx_http_taskgw_redis_link: the Redis link's state, shared by its files
 * (the connection's life in _redis.c, its socket in _redis_adapter.c,
 * batches in _redis_batch.c, _op.c, _txn.c and _answer.c).
 */


#ifndef _NGX_HTTP_TASKGW_REDIS_LINK_H_INCLUDED_
#define _NGX_HTTP_TASKGW_REDIS_LINK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"


/*
 * The link's life: DOWN (waiting out a backoff delay) -> CONNECTING (TCP
 * connect, then AUTH/SELECT/PING) -> UP, and back to DOWN on any error,
 * timeout or disconnect.  Request batches are written only while UP, so
 * none can run before AUTH and SELECT took effect; batches that arrive
 * while CONNECTING wait in the link's queue.
 *
 * With sentinel=, CONNECTING starts with asking: rc is a connection to a
 * sentinel (SENTINEL get-master-addr-by-name), then for a moment none at
 * all, then the master's, confirmed with ROLE instead of PING.  A
 * sentinel that fails hands over to the next one without a backoff
 * delay; a round in which none answered is one failed attempt.
 */
typedef enum {
    NGX_HTTP_TASKGW_LINK_DOWN = 0,
    NGX_HTTP_TASKGW_LINK_CONNECTING,
    NGX_HTTP_TASKGW_LINK_UP
} ngx_http_taskgw_link_state_e;


typedef struct ngx_http_taskgw_link_s  ngx_http_taskgw_link_t;


/*
 * What one shared MULTI/EXEC holds at most: tasks, and bytes of their
 * commands.  Every task in it is answered only when EXEC's reply comes,
 * so the first waits for the others: 16 KB is what Redis reads from a
 * client at once (and answers together) anyway.  A task larger than that
 * goes in a MULTI/EXEC of its own, after the small ones of its turn, so
 * that they do not wait for its bytes.
 */
#define NGX_HTTP_TASKGW_REDIS_TXN_TASKS  64
#define NGX_HTTP_TASKGW_REDIS_TXN_BYTES  16384


/*
 * One hiredis context and the nginx connection that carries its socket.
 * The adapter's hooks (ac->ev.data) and event handlers (c->data) act on
 * this, never on the link's current context: a context that is being torn
 * down touches only its own connection, whatever the link does meanwhile.
 * It lives as long as hiredis keeps the context, or until the handler
 * inside which hiredis dropped the context returns.
 */
typedef struct {
    redisAsyncContext             *ac;
    ngx_connection_t              *conn;   /* NULL once hiredis cleaned up */
    ngx_http_taskgw_link_t        *link;
    ngx_chain_t                   *out;    /* formatted, not yet written */
    ngx_chain_t                  **last;   /* where the next command goes */
    ngx_uint_t                     busy;   /* our handlers running on it */
    unsigned                       gone:1; /* hiredis has released it */
    unsigned                       behind:1; /* the last write left some
                                                of out unwritten */
} ngx_http_taskgw_redis_conn_t;


/*
 * Called when a link is UP.  The subscriber's subscribes; the command
 * link has none.
 */
typedef void (*ngx_http_taskgw_link_up_pt)(ngx_http_taskgw_link_t *link);


/*
 * A worker process has two links of the same kind: the command link
 * (ngx_http_taskgw_link), which carries the requests' batches, and the
 * subscriber (ngx_http_taskgw_pubsub.c), which only listens.  They differ
 * in "up" and in the name their log lines carry.
 */
struct ngx_http_taskgw_link_s {
    ngx_http_taskgw_main_conf_t   *conf;
    ngx_log_t                     *log;
    const char                    *name;      /* "redis", for logs */
    ngx_http_taskgw_link_up_pt     up;        /* NULL: the command link */
    ngx_http_taskgw_redis_conn_t  *rc;        /* NULL while DOWN */

    /*
     * A context the link has let go of and hiredis has not freed yet: no
     * new connection starts until it is gone (its clean-up must not race
     * a new context's set-up).
     */
    ngx_http_taskgw_redis_conn_t  *closing;

    ngx_http_taskgw_link_state_e   state;
    ngx_event_t                    reconnect;  /* backoff timer */
    ngx_event_t                    connect_timer;
    ngx_uint_t                     failures;   /* attempts since last UP */
    ngx_msec_t                     next_attempt; /* backoff allows one */
    ngx_msec_t                     progress;   /* Redis last read or wrote */
    ngx_uint_t                     heard;      /* read events so far: a
                                                  change is a sign of life */
    ngx_queue_t                    waiting;    /* ops held while CONNECTING */

    /*
     * The batches handed to hiredis and not yet answered, oldest first,
     * and the one timer that watches them: it is due no later than the
     * oldest batch's timeout, and is left armed when the last batch is
     * answered (it then finds nothing to do), so a busy link adds and
     * removes no timer per batch.  live counts the batches in flight
     * whose request is still there: only those keep an exiting worker
     * process up.
     */
    ngx_queue_t                    flight;
    ngx_event_t                    op_timer;
    ngx_uint_t                     live;

    /*
     * Plain enqueues gathered for one MULTI/EXEC that several share: the
     * ones of this turn of the event loop, sealed when the link writes
     * (or when full), and those too large to share one, which follow
     * them, each in a MULTI/EXEC of its own.
     */
    ngx_queue_t                    txn;
    ngx_queue_t                    alone;
    ngx_uint_t                     txn_n;
    size_t                         txn_size;

    /*
     * Where the link connects (or is connected): the configured address,
     * or with sentinel= the sentinel being asked and then the master's
     * address it gave, "host:port".  For logs, health and metrics.
     */
    ngx_str_t                      addr;
    u_char                         master[NGX_SOCKADDR_STRLEN + 1];
    ngx_int_t                      master_port;
    u_char                         master_addr[NGX_SOCKADDR_STRLEN
                                               + sizeof(":65535")];
    size_t                         master_addr_len;
    ngx_uint_t                     sentinel;   /* the one asked next */
    ngx_uint_t                     asked;      /* asked in this round */
    ngx_uint_t                     switches;   /* master addresses moved */
    ngx_msec_t                     wait_end;   /* when the WAITs written
                                                  may all have returned */
    unsigned                       exiting:1;
    unsigned                       reported:1; /* this outage is logged */
    unsigned                       asking:1;   /* rc is on a sentinel, asking
                                                  for the master */
    unsigned                       resolved:1; /* master[] is the answer of
                                                  this attempt */
    unsigned                       watch:1;    /* the sentinel watcher */
};


/*
 * One batch in flight.  Heap-allocated because hiredis may hand back the
 * reply after the request is gone; the request's pool cleanup only
 * clears "request".
 */
typedef struct {
    ngx_http_taskgw_link_t         *link;
    ngx_http_request_t             *request;
    ngx_http_taskgw_redis_done_pt   done;
    ngx_pool_cleanup_t             *cleanup;
    ngx_event_t                     timer;     /* the timeout while in
                                                  link->waiting */
    ngx_queue_t                     queue;     /* in link->waiting, then
                                                  in link->flight */
    ngx_msec_t                      start;     /* when it was sent */
    ngx_chain_t                    *out;       /* formatted, until issued */
    ngx_chain_t                    *head;      /* its first piece, issued;
                                                  only ever compared */
    size_t                          size;      /* its bytes, gathered */
    ngx_uint_t                      ncmds;     /* its commands, gathered */
    ngx_uint_t                      ntxn;      /* on a shared MULTI/EXEC's
                                                  last op: how many ops */
    unsigned                        waiting:1; /* queued, not yet issued */
    unsigned                        flying:1;  /* in link->flight */
    unsigned                        txn:1;     /* its commands go inside a
                                                  MULTI/EXEC it may share */
    unsigned                        gathered:1; /* in link->txn or
                                                   link->alone */
} ngx_http_taskgw_redis_op_t;


/* The link of this worker process: one connection to Redis. */
extern ngx_http_taskgw_link_t  ngx_http_taskgw_link;

/* hiredis's reply objects from a free list (ngx_http_taskgw_redis_reply.c):
 * every link's reader makes its replies with these */
extern redisReplyObjectFunctions  ngx_http_taskgw_redis_reply_functions;


void ngx_http_taskgw_redis_link_init(ngx_http_taskgw_link_t *link,
    ngx_cycle_t *cycle, ngx_http_taskgw_main_conf_t *tmcf);
void ngx_http_taskgw_redis_link_exit(ngx_http_taskgw_link_t *link);
void ngx_http_taskgw_redis_connect(ngx_http_taskgw_link_t *link);
void ngx_http_taskgw_redis_detach(ngx_http_taskgw_redis_conn_t *rc,
    const char *reason);
void ngx_http_taskgw_redis_reset(ngx_http_taskgw_link_t *link,
    const char *reason);
const char *ngx_http_taskgw_redis_error(const redisAsyncContext *ac);
const char *ngx_http_taskgw_redis_state_name(
    ngx_http_taskgw_link_state_e state);
const char *ngx_http_taskgw_redis_keepalive(ngx_http_taskgw_link_t *link,
    ngx_uint_t *heard, ngx_uint_t check);
size_t ngx_http_taskgw_redis_text_len(redisReply *rr);
ngx_int_t ngx_http_taskgw_redis_queue_setup_data(
    ngx_http_taskgw_link_t *link, ngx_http_taskgw_redis_cmd_t *cmd,
    redisCallbackFn *fn, void *data);
#define ngx_http_taskgw_redis_queue_setup(link, cmd, fn)                    \
    ngx_http_taskgw_redis_queue_setup_data(link, cmd, fn, NULL)

/* ngx_http_taskgw_sentinel.c */
void ngx_http_taskgw_sentinel_init_process(ngx_cycle_t *cycle,
    ngx_http_taskgw_main_conf_t *tmcf);
void ngx_http_taskgw_sentinel_exit_process(ngx_cycle_t *cycle);
void ngx_http_taskgw_redis_sentinel_reply(redisAsyncContext *ac, void *reply,
    void *data);
ngx_int_t ngx_http_taskgw_redis_role(redisReply *rr, ngx_str_t *role);
void ngx_http_taskgw_redis_readonly(ngx_http_taskgw_redis_conn_t *rc);
ngx_uint_t ngx_http_taskgw_redis_is_readonly(redisReply *reply);

/* ngx_http_taskgw_pubsub.c */
void ngx_http_taskgw_pubsub_follow(const char *reason);

/* ngx_http_taskgw_redis_adapter.c: hiredis's hooks and the handlers */
/* the connection's events: hiredis reads; what is queued is written */
void ngx_http_taskgw_redis_read_handler(ngx_event_t *ev);
void ngx_http_taskgw_redis_write_handler(ngx_event_t *ev);
/* ac->ev.addRead and delRead: read interest in the socket */
void ngx_http_taskgw_redis_add_read(void *data);
void ngx_http_taskgw_redis_del_read(void *data);
void ngx_http_taskgw_redis_add_write(void *data);
/* ac->ev.delWrite: write interest ends once nothing is left to write */
void ngx_http_taskgw_redis_del_write(void *data);
/* ac->ev.cleanup: the nginx side of a context hiredis is freeing */
void ngx_http_taskgw_redis_cleanup(void *data);

/* ngx_http_taskgw_redis_batch.c */
ngx_int_t ngx_http_taskgw_redis_queue(
    ngx_http_taskgw_redis_conn_t *rc, ngx_chain_t *out, redisCallbackFn *fn,
    void *data);
void ngx_http_taskgw_redis_queue_unmatched(ngx_http_taskgw_redis_conn_t *rc,
    ngx_chain_t *out);
ngx_int_t ngx_http_taskgw_redis_send_on(ngx_http_taskgw_link_t *link,
    ngx_http_request_t *r, ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_uint_t txn, ngx_http_taskgw_redis_done_pt done);
void ngx_http_taskgw_redis_flush(ngx_http_taskgw_link_t *link,
    ngx_uint_t fail);

/* ngx_http_taskgw_redis_txn.c */
/* a batch for a shared MULTI/EXEC joins those of this turn */
ngx_int_t ngx_http_taskgw_redis_gather(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op);
void ngx_http_taskgw_redis_seal(ngx_http_taskgw_link_t *link);
/* EXEC's reply (or NULL) to each op of a shared MULTI/EXEC up to last */
void ngx_http_taskgw_redis_txn_finish(ngx_http_taskgw_redis_op_t *last,
    redisReply *reply);
/* the ops gathered and not yet sealed get NULL replies */
void ngx_http_taskgw_redis_fail_gathered(ngx_http_taskgw_link_t *link);

/* ngx_http_taskgw_redis_op.c */
/* a zeroed op, kept from a batch before or new; NULL on no memory */
ngx_http_taskgw_redis_op_t *ngx_http_taskgw_redis_op_alloc(ngx_log_t *log);
/* an op handed to hiredis joins the link's batches in flight */
void ngx_http_taskgw_redis_fly(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op);
/* the reply (NULL: none) to the op's request if still there; frees op */
void ngx_http_taskgw_redis_op_finish(ngx_http_taskgw_redis_op_t *op,
    redisReply *reply);
/* an op back to the kept ones (or to the heap), with its pieces */
void ngx_http_taskgw_redis_op_free(ngx_http_taskgw_redis_op_t *op);
/* op->timer: a batch that waited for the link too long gets NULL */
void ngx_http_taskgw_redis_op_timeout(ngx_event_t *ev);
/* link->op_timer: resets a link whose oldest batch has had no answer */
void ngx_http_taskgw_redis_flight_timeout(ngx_event_t *ev);
/* the request's pool cleanup: its op dropped, or left to its reply */
void ngx_http_taskgw_redis_op_cleanup(void *data);

/* ngx_http_taskgw_redis_answer.c */
/* hiredis's callback for every command a batch sends */
void ngx_http_taskgw_redis_reply(redisAsyncContext *ac, void *reply,
    void *data);


#endif /* _NGX_HTTP_TASKGW_REDIS_LINK_H_INCLUDED_ */
