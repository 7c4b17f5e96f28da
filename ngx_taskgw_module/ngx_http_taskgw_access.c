
/*
 * ngx_http_taskgw_access: the edge checks, one access-phase handler that
 * runs allowlist -> token -> rate limit and resumes after a Redis lookup.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_limit.h"


static ngx_int_t ngx_http_taskgw_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_taskgw_access_result(ngx_http_request_t *r,
    ngx_int_t rc);


ngx_int_t
ngx_http_taskgw_access_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_taskgw_access_handler;

    return NGX_OK;
}


/*
 * The checks run in a fixed order, each one only after the one before
 * passed: the allowlist (403), the token (401/403), the rate limit (429).
 * The stage reached is kept in the request's ctx.  A stage that has to
 * wait (a run-time token looked up in Redis) returns NGX_AGAIN, which
 * stops the phases; when the answer comes, ngx_http_core_run_phases()
 * calls this handler again and it carries on from that stage.
 */

static ngx_int_t
ngx_http_taskgw_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_taskgw_ctx_t       *ctx;
    ngx_http_taskgw_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (tlcf->allow == NULL && tlcf->auth == NGX_HTTP_TASKGW_ROLE_NONE
        && tlcf->limits == NULL)
    {
        /* no edge check here (nginx's other locations): cost nothing */
        return NGX_DECLINED;
    }

    ctx = ngx_http_taskgw_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "taskgw access stage %d", (int) ctx->stage);

    switch (ctx->stage) {

    case NGX_HTTP_TASKGW_EDGE_ALLOW:
        rc = ngx_http_taskgw_allow_check(r);
        if (rc != NGX_OK) {
            return ngx_http_taskgw_access_result(r, rc);
        }

        ctx->stage = NGX_HTTP_TASKGW_EDGE_TOKEN;

        /* fall through */

    case NGX_HTTP_TASKGW_EDGE_TOKEN:
        rc = ngx_http_taskgw_token_check(r, ctx);

        if (rc == NGX_AGAIN) {
            ctx->stage = NGX_HTTP_TASKGW_EDGE_TOKEN_WAIT;

            /* a client that goes away meanwhile ends the request */
            r->read_event_handler = ngx_http_test_reading;
            r->write_event_handler = ngx_http_request_empty_handler;

            return NGX_AGAIN;
        }

        if (rc != NGX_OK) {
            return ngx_http_taskgw_access_result(r, rc);
        }

        ctx->stage = NGX_HTTP_TASKGW_EDGE_LIMIT;
        goto limit;

    case NGX_HTTP_TASKGW_EDGE_TOKEN_WAIT:
        /* woken up by something else than the lookup's answer */
        return NGX_AGAIN;

    case NGX_HTTP_TASKGW_EDGE_TOKEN_DONE:
        r->read_event_handler = ngx_http_block_reading;

        rc = ngx_http_taskgw_token_resume(r, ctx);
        if (rc != NGX_OK) {
            return ngx_http_taskgw_access_result(r, rc);
        }

        ctx->stage = NGX_HTTP_TASKGW_EDGE_LIMIT;

        /* fall through */

    case NGX_HTTP_TASKGW_EDGE_LIMIT:
    limit:
        rc = ngx_http_taskgw_limit_check(r, ctx);

        if (rc == NGX_AGAIN || rc == NGX_DONE) {
            return rc;
        }

        if (rc != NGX_OK && rc != NGX_DECLINED) {
            return ngx_http_taskgw_access_result(r, rc);
        }

        ctx->stage = NGX_HTTP_TASKGW_EDGE_PASSED;

        /* fall through */

    default: /* NGX_HTTP_TASKGW_EDGE_PASSED */
        return NGX_DECLINED;
    }
}


/*
 * A check said no: it returned the HTTP status, put the error code and
 * message into the ctx (and any header of its own into headers_out), and
 * logged why.  The JSON error is sent here and the request finalized, so
 * the phases stop (NGX_DONE) without nginx's own error page.
 */

static ngx_int_t
ngx_http_taskgw_access_result(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_taskgw_ctx_t  *ctx;

    if (rc == NGX_DONE) {
        /* the check has finalized the request itself */
        return NGX_DONE;
    }

    if (rc == NGX_ERROR || rc < NGX_HTTP_BAD_REQUEST) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);
    ctx->stage = NGX_HTTP_TASKGW_EDGE_PASSED;

    if (ctx->reject_code == NULL) {
        return rc;
    }

    /* the body is not read, but must not be taken for the next request */

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    ngx_http_finalize_request(r,
        ngx_http_taskgw_reject(r, rc, ctx->reject_code, ctx->reject_message));

    return NGX_DONE;
}
