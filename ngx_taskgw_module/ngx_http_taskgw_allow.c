
/*
 * ngx_http_taskgw_allow: the taskgw_allow directive and the allowlist
 * check, the first of the edge checks (403 before anything else).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"


/*
 * taskgw_allow cidr|all;  -- repeatable.  The lists of one level replace
 * those of the level above (as nginx's allow/deny do), which is done in
 * the merge: a level with no taskgw_allow keeps its parent's list.
 */

char *
ngx_http_taskgw_allow(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_taskgw_loc_conf_t *tlcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_cidr_t  *cidr;

    value = cf->args->elts;

    if (tlcf->allow == NULL) {
        tlcf->allow = ngx_array_create(cf->pool, 4, sizeof(ngx_cidr_t));
        if (tlcf->allow == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (value[1].len == 3 && ngx_strcmp(value[1].data, "all") == 0) {
        tlcf->allow_all = 1;
        return NGX_CONF_OK;
    }

    cidr = ngx_array_push(tlcf->allow);
    if (cidr == NULL) {
        return NGX_CONF_ERROR;
    }

    rc = ngx_ptocidr(&value[1], cidr);

    if (rc == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid address or range \"%V\" (an IPv4 or "
                           "IPv6 address, a CIDR range, or \"all\")",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (rc == NGX_DONE) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "low address bits of %V are meaningless",
                           &value[1]);
    }

    return NGX_CONF_OK;
}


/*
 * The allowlist check: with taskgw_allow in effect, a client whose
 * address ($remote_addr, so after realip) is in none of the ranges gets
 * 403 forbidden.
 */

ngx_int_t
ngx_http_taskgw_allow_check(ngx_http_request_t *r)
{
    ngx_http_taskgw_ctx_t       *ctx;
    ngx_http_taskgw_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (tlcf->allow == NULL || tlcf->allow_all) {
        return NGX_OK;
    }

    if (ngx_http_taskgw_addr_in(r->connection->sockaddr, tlcf->allow)
        == NGX_OK)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "taskgw: access denied to token \"unknown\" from %V: "
                  "address not in taskgw_allow",
                  &r->connection->addr_text);

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);
    ctx->reject_code = "forbidden";
    ctx->reject_message = "this address may not use this location";

    return NGX_HTTP_FORBIDDEN;
}
