
/*
 * ngx_http_taskgw_limit: the rate-limit stage of the edge checks.
 * Called by the access handler once the allowlist and the token passed.
 */


#ifndef _NGX_HTTP_TASKGW_LIMIT_H_INCLUDED_
#define _NGX_HTTP_TASKGW_LIMIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"


/*
 * The limit stage of a request.  ctx->token_name (empty without a token)
 * and ctx->token_rate (r/s * 1000, 0: use the zone's rate) are set.
 * Returns NGX_DECLINED or NGX_OK to let the request go on; NGX_DONE when
 * it has answered the request itself (429) and finalized it; NGX_AGAIN
 * when it will resume the phases itself (ngx_http_core_run_phases);
 * NGX_ERROR for a 500.
 */
ngx_int_t ngx_http_taskgw_limit_check(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx);


#endif /* _NGX_HTTP_TASKGW_LIMIT_H_INCLUDED_ */
