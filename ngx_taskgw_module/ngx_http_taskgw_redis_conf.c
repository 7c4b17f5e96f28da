
/*
 * ngx_http_taskgw_redis_conf: the directives that say where Redis is and
 * how the link reconnects (taskgw_redis, taskgw_redis_backoff).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"


/*
 * taskgw_redis host:port|unix:/path [password=S] [db=N];
 * The host is resolved here, at configuration time, so that the worker
 * processes only ever connect to a numeric address and never wait on DNS.
 */

char *
ngx_http_taskgw_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_taskgw_main_conf_t *tmcf = conf;

    ngx_str_t   *value, s;
    ngx_int_t    db;
    ngx_uint_t   i;

    if (tmcf->port != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            s.len = value[i].len - 9;
            s.data = value[i].data + 9;

            if (tmcf->password.data != NULL) {
                goto duplicate;
            }

            if (s.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty password in \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            tmcf->password = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            if (tmcf->db != NGX_CONF_UNSET) {
                goto duplicate;
            }

            db = ngx_atoi(value[i].data + 3, value[i].len - 3);

            if (db == NGX_ERROR || db > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid database number in \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            tmcf->db = db;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_taskgw_parse_redis_address(cf, tmcf, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "duplicate parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


ngx_int_t
ngx_http_taskgw_parse_redis_address(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *value)
{
    u_char     *p;
    size_t      len;
    ngx_url_t   u;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *value;
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s in redis address \"%V\"",
                           u.err ? u.err : "invalid value", value);
        return NGX_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis address \"%V\" has no address", value);
        return NGX_ERROR;
    }

    tmcf->address = *value;

#if (NGX_HAVE_UNIX_DOMAIN)
    if (u.family == AF_UNIX) {
        len = value->len - 5;
        p = ngx_pnalloc(cf->pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, value->data + 5, len);
        p[len] = '\0';

        tmcf->host.data = p;
        tmcf->host.len = len;
        tmcf->port = 0;

        return NGX_OK;
    }
#endif

    p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, p,
                        NGX_SOCKADDR_STRLEN, 0);

    /* ngx_sock_ntop() brackets IPv6 addresses only when it adds a port */
    p[len] = '\0';

    tmcf->host.data = p;
    tmcf->host.len = len;
    tmcf->port = u.port;

    return NGX_OK;
}


/* taskgw_redis_backoff min max; -- reconnect delays after a failure */

char *
ngx_http_taskgw_backoff(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_taskgw_main_conf_t *tmcf = conf;

    ngx_str_t   *value;
    ngx_msec_t   min, max;

    if (tmcf->backoff_min != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    min = ngx_parse_time(&value[1], 0);
    if (min == (ngx_msec_t) NGX_ERROR || min == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid minimum delay \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    max = ngx_parse_time(&value[2], 0);
    if (max == (ngx_msec_t) NGX_ERROR || max < min) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid maximum delay \"%V\" "
                           "(must be at least the minimum)", &value[2]);
        return NGX_CONF_ERROR;
    }

    tmcf->backoff_min = min;
    tmcf->backoff_max = max;

    return NGX_CONF_OK;
}
