
/*
 * ngx_http_taskgw_pubsub: the Redis subscriber of one nginx worker process
 * and the requests that wait for a task to finish (docs/keys.md, channels).
 */


#ifndef _NGX_HTTP_TASKGW_PUBSUB_H_INCLUDED_
#define _NGX_HTTP_TASKGW_PUBSUB_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"


/*
 * Something waiting for a task to finish, as a posted event: "wake" is
 * posted when the task's id is heard on the channel of finished tasks,
 * and for every waiter when the subscriber has (re)subscribed (a message
 * may have been missed meanwhile).  The owner sets wake.handler and
 * wake.data, and calls ngx_http_taskgw_pubsub_unwait() before its memory
 * goes.
 */
typedef struct {
    ngx_event_t                 wake;
    ngx_queue_t                 queue;   /* in its task's waiters */
    void                       *task;    /* NULL: not registered */
} ngx_http_taskgw_waiter_t;


ngx_int_t ngx_http_taskgw_pubsub_init_process(ngx_cycle_t *cycle,
    ngx_http_taskgw_main_conf_t *tmcf);
void ngx_http_taskgw_pubsub_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_taskgw_pubsub_wait(ngx_http_taskgw_waiter_t *w,
    ngx_str_t *id);
void ngx_http_taskgw_pubsub_unwait(ngx_http_taskgw_waiter_t *w);


#endif /* _NGX_HTTP_TASKGW_PUBSUB_H_INCLUDED_ */
