
/*
 * ngx_http_taskgw_callback: X-Callback-URL and taskgw_callback_allow.
 * Owns the directive's patterns and the check of a request's callback URL.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_parse.h"


/*
 * taskgw_callback_allow regex;
 * Repeatable; a level that has it replaces the list of the level above.
 * The pattern must match the whole URL: it is compiled as ^(?:regex)\z.
 */

char *
ngx_http_taskgw_callback_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
#if (NGX_PCRE)
    ngx_http_taskgw_loc_conf_t *tlcf = conf;

    u_char               *p, errstr[NGX_MAX_CONF_ERRSTR];
    ngx_str_t            *value;
    ngx_regex_t         **re;
    ngx_regex_compile_t   rc;

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty pattern in \"%V\"", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (tlcf->callback_allow == NULL) {
        tlcf->callback_allow = ngx_array_create(cf->pool, 2,
                                                sizeof(ngx_regex_t *));
        if (tlcf->callback_allow == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    re = ngx_array_push(tlcf->callback_allow);
    if (re == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    rc.pattern.len = sizeof("^(?:") - 1 + value[1].len + sizeof(")\\z") - 1;
    rc.pattern.data = ngx_pnalloc(cf->pool, rc.pattern.len);
    if (rc.pattern.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(rc.pattern.data, "^(?:", sizeof("^(?:") - 1);
    p = ngx_cpymem(p, value[1].data, value[1].len);
    ngx_memcpy(p, ")\\z", sizeof(")\\z") - 1);

    rc.pool = cf->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (ngx_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid pattern \"%V\" in \"%V\": %V",
                           &value[1], &cmd->name, &rc.err);
        return NGX_CONF_ERROR;
    }

    *re = rc.regex;

    return NGX_CONF_OK;

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" needs nginx built with PCRE", &cmd->name);
    return NGX_CONF_ERROR;

#endif
}


/*
 * The rule for X-Callback-URL (h, the request's first, NULL without one;
 * repeated when there are more): at most one header; an http or https URL
 * of at most NGX_HTTP_TASKGW_CALLBACK_MAX visible ASCII characters, with
 * a host and without credentials (user:pass@), that one of the
 * location's taskgw_callback_allow patterns matches as a whole.  With no
 * pattern configured every callback is refused.  NGX_OK with url set
 * (empty without a header), NGX_DECLINED with *message, NGX_ERROR.
 */

ngx_int_t
ngx_http_taskgw_callback_check(ngx_http_request_t *r, ngx_table_elt_t *h,
    ngx_uint_t repeated, ngx_str_t *url, const char **message)
{
    ngx_int_t                    rc;
    ngx_uint_t                   i;
    ngx_regex_t                **re;
    ngx_http_taskgw_loc_conf_t  *tlcf;

    ngx_str_null(url);

    if (repeated) {
        *message = "duplicate X-Callback-URL header";
        return NGX_DECLINED;
    }

    if (h == NULL) {
        return NGX_OK;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (tlcf->callback_allow == NULL) {
        *message = "callbacks are not enabled here "
                   "(no taskgw_callback_allow)";
        return NGX_DECLINED;
    }

    if (ngx_http_taskgw_parse_callback(&h->value, message) != NGX_OK) {
        return NGX_DECLINED;
    }

#if (NGX_PCRE)

    re = tlcf->callback_allow->elts;

    for (i = 0; i < tlcf->callback_allow->nelts; i++) {
        rc = ngx_regex_exec(re[i], &h->value, NULL, 0);

        if (rc >= 0) {
            *url = h->value;
            return NGX_OK;
        }

        if (rc != NGX_REGEX_NO_MATCHED) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "taskgw: taskgw_callback_allow pattern %ui "
                          "failed on \"%V\": %i", i + 1, &h->value, rc);
        }
    }

#endif

    *message = "X-Callback-URL matches no taskgw_callback_allow pattern";
    return NGX_DECLINED;
}
