
/*
 * ngx_http_taskgw_redis_answer: every command's reply, handed to its batch
 * or its transaction, and what a batch's reply says.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_redis_fmt.h"
#include "ngx_http_taskgw_redis_link.h"


/*
 * Every command's reply comes here; data is the op on a batch's last
 * command.  A NULL reply means hiredis is dropping the context, and every
 * reply still due comes as NULL: the first one takes the link down, so
 * that nothing the answered requests set going uses the dying context.
 */

void
ngx_http_taskgw_redis_reply(redisAsyncContext *ac, void *reply, void *data)
{
    ngx_http_taskgw_redis_conn_t  *rc = ac->ev.data;

    if (reply == NULL) {
        ngx_http_taskgw_redis_detach(rc, ngx_http_taskgw_redis_error(ac));

    } else if (ngx_http_taskgw_redis_is_readonly(reply)) {
        /*
         * A replica now: the write was not stored.  The request gets 503
         * like one that lost the link, and the link asks again where the
         * master is.
         */
        ngx_http_taskgw_redis_readonly(rc);
        reply = NULL;
    }

    if (data == NULL) {
        return;
    }

    if (((ngx_http_taskgw_redis_op_t *) data)->ntxn) {
        ngx_http_taskgw_redis_txn_finish(data, reply);

    } else {
        ngx_http_taskgw_redis_op_finish(data, reply);
    }
}


/*
 * Whether a batch succeeded: a reply arrived, is not a Redis error, and
 * is not nil (an aborted EXEC); for EXEC, no queued command failed.
 */

ngx_uint_t
ngx_http_taskgw_redis_reply_ok(redisReply *reply)
{
    size_t  i;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR
        || reply->type == REDIS_REPLY_NIL)
    {
        return 0;
    }

    if (reply->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < reply->elements; i++) {
            if (reply->element[i]->type == REDIS_REPLY_ERROR) {
                return 0;
            }
        }
    }

    return 1;
}


/*
 * Why a batch failed, for a log line: Redis's own error text (for EXEC,
 * the first command that failed), else what the reply was.  The text
 * points into the reply.
 */

void
ngx_http_taskgw_redis_reply_error(redisReply *reply, ngx_str_t *text)
{
    size_t  i;

    if (reply == NULL) {
        ngx_str_set(text, "no reply");
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < reply->elements; i++) {
            if (reply->element[i]->type == REDIS_REPLY_ERROR) {
                reply = reply->element[i];
                break;
            }
        }
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        text->data = (u_char *) reply->str;
        text->len = reply->len;
        return;
    }

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_str_set(text, "transaction aborted (nil reply)");
        return;
    }

    ngx_str_set(text, "unexpected reply");
}
