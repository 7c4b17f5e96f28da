
/*
 * ngx_http_taskgw_health: taskgw_health, a PING of Redis over the link of
 * this worker process, answered within taskgw_redis_timeout in any case.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_ops.h"


static void ngx_http_taskgw_health_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_health_send(ngx_http_request_t *r,
    ngx_uint_t up);


static ngx_str_t  ngx_http_taskgw_health_up =
    ngx_string("{\"status\":\"ok\",\"redis\":\"up\"}");
static ngx_str_t  ngx_http_taskgw_health_down =
    ngx_string("{\"status\":\"unavailable\",\"redis\":\"down\"}");


/*
 * The link's own timers bound the wait: a PING that finds the link down
 * fails at once, one that waits for a connect or for a silent server gets
 * its NULL reply when the command timeout fires.
 */

ngx_int_t
ngx_http_taskgw_health_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_http_taskgw_redis_cmd_t   cmd;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_taskgw_not_allowed(r, "GET, HEAD",
                                           "use GET to check health");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "PING", 4);

    if (ngx_http_taskgw_redis_send(r, &cmd, 1, ngx_http_taskgw_health_done)
        != NGX_OK)
    {
        return ngx_http_taskgw_health_send(r, 0);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_taskgw_health_done(ngx_http_request_t *r, redisReply *reply)
{
    ngx_uint_t  up;

    up = reply != NULL && reply->type == REDIS_REPLY_STATUS
         && reply->len == 4 && ngx_strncmp(reply->str, "PONG", 4) == 0;

    ngx_http_finalize_request(r, ngx_http_taskgw_health_send(r, up));
}


static ngx_int_t
ngx_http_taskgw_health_send(ngx_http_request_t *r, ngx_uint_t up)
{
    u_char            *p, *last;
    size_t             len;
    ngx_str_t         *body, master;
    ngx_table_elt_t   *h;

    /* a probe must see the state of now, never a cached answer */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    body = up ? &ngx_http_taskgw_health_up : &ngx_http_taskgw_health_down;

    /*
     * With sentinel=, the master's address the link is on (or was on
     * last) is added: "master":"host:port".  It is a numeric address
     * with a port, nothing to escape.
     */

    ngx_http_taskgw_redis_master(&master, NULL);

    if (master.len) {
        len = body->len + sizeof(",\"master\":\"\"") - 1 + master.len;

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        last = ngx_sprintf(p, "%*s,\"master\":\"%V\"}",
                           body->len - 1, body->data, &master);

        return ngx_http_taskgw_send_json(r, up ? NGX_HTTP_OK
                                               : NGX_HTTP_SERVICE_UNAVAILABLE,
                                         NULL, p, last - p);
    }

    return ngx_http_taskgw_send_json(r, up ? NGX_HTTP_OK
                                           : NGX_HTTP_SERVICE_UNAVAILABLE,
                                     NULL, body->data, body->len);
}
