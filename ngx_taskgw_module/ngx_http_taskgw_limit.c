
/*
 * ngx_http_taskgw_limit: the rate-limit stage of the edge checks.
 * Placeholder until the limiter lands: it lets every request through.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_limit.h"


ngx_int_t
ngx_http_taskgw_limit_check(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx)
{
    return NGX_DECLINED;
}
