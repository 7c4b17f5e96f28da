
/*
 * ngx_http_taskgw_redis_conf: the directives that say where Redis is and
 * how the link reconnects (taskgw_redis, taskgw_redis_backoff).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"


static ngx_int_t ngx_http_taskgw_parse_sentinels(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *arg, ngx_str_t *list);
static ngx_int_t ngx_http_taskgw_parse_master(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *arg, ngx_str_t *name);


/*
 * taskgw_redis host:port|unix:/path [password=S] [db=N];
 * taskgw_redis sentinel=host:port[,host:port...] master=NAME [password=S]
 *     [db=N] [sentinel_password=S];
 *
 * Hosts are resolved here, at configuration time, so that the worker
 * processes only ever connect to a numeric address and never wait on DNS.
 * With sentinel= the link asks the sentinels where the master NAME is
 * (ngx_http_taskgw_redis.c); password= and db= apply to the master.
 */

char *
ngx_http_taskgw_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_taskgw_main_conf_t *tmcf = conf;

    ngx_str_t   *value, s, *address, *sentinels, *master;
    ngx_int_t    db;
    ngx_uint_t   i;

    if (tmcf->port != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    address = NULL;
    sentinels = NULL;
    master = NULL;

    for (i = 1; i < cf->args->nelts; i++) {

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

        if (ngx_strncmp(value[i].data, "sentinel_password=", 18) == 0) {
            s.len = value[i].len - 18;
            s.data = value[i].data + 18;

            if (tmcf->sentinel_password.data != NULL) {
                goto duplicate;
            }

            if (s.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty password in \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            tmcf->sentinel_password = s;
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

        if (ngx_strncmp(value[i].data, "sentinel=", 9) == 0) {
            if (sentinels != NULL) {
                goto duplicate;
            }

            sentinels = &value[i];
            continue;
        }

        if (ngx_strncmp(value[i].data, "master=", 7) == 0) {
            if (master != NULL) {
                goto duplicate;
            }

            master = &value[i];
            continue;
        }

        if (i == 1) {
            address = &value[i];
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (address != NULL && sentinels != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "a redis address \"%V\" and \"%V\" cannot be "
                           "combined: give one of them", address, sentinels);
        return NGX_CONF_ERROR;
    }

    if (sentinels == NULL) {
        if (master != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" needs \"sentinel=\": the sentinels "
                               "that know the master", master);
            return NGX_CONF_ERROR;
        }

        if (tmcf->sentinel_password.data != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"sentinel_password=\" needs "
                               "\"sentinel=\"");
            return NGX_CONF_ERROR;
        }

        if (address == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "no redis address: give an address or "
                               "\"sentinel=\" and \"master=\"");
            return NGX_CONF_ERROR;
        }

        if (ngx_http_taskgw_parse_redis_address(cf, tmcf, address)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (master == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs \"master=\": the name the "
                           "sentinels know the master by", sentinels);
        return NGX_CONF_ERROR;
    }

    s.len = sentinels->len - 9;
    s.data = sentinels->data + 9;

    if (ngx_http_taskgw_parse_sentinels(cf, tmcf, sentinels, &s) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    s.len = master->len - 7;
    s.data = master->data + 7;

    if (ngx_http_taskgw_parse_master(cf, tmcf, master, &s) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* the link learns the master's address from the sentinels */
    tmcf->address = tmcf->master;
    ngx_str_null(&tmcf->host);
    tmcf->port = 0;

    return NGX_CONF_OK;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "duplicate parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/* sentinel=host:port,host:port,...: numeric TCP addresses only */

static ngx_int_t
ngx_http_taskgw_parse_sentinels(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *arg, ngx_str_t *list)
{
    u_char                      *p, *last, *comma;
    size_t                       len;
    ngx_url_t                    u;
    ngx_http_taskgw_sentinel_t  *sn;

    if (list->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty list of sentinels in \"%V\"", arg);
        return NGX_ERROR;
    }

    tmcf->sentinels = ngx_array_create(cf->pool, 3,
                                       sizeof(ngx_http_taskgw_sentinel_t));
    if (tmcf->sentinels == NULL) {
        return NGX_ERROR;
    }

    p = list->data;
    last = list->data + list->len;

    for ( ;; ) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        if (comma == p) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty sentinel address in \"%V\"", arg);
            return NGX_ERROR;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url.data = p;
        u.url.len = comma - p;
        u.default_port = 26379;

        if (u.url.len >= 5 && ngx_strncasecmp(p, (u_char *) "unix:", 5) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "sentinel address \"%V\" is not host:port",
                               &u.url);
            return NGX_ERROR;
        }

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0
            || u.no_port || u.uri.len)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in sentinel address \"%V\"",
                               u.err ? u.err
                                     : (u.no_port ? "no port"
                                                  : "invalid value"),
                               &u.url);
            return NGX_ERROR;
        }

        sn = ngx_array_push(tmcf->sentinels);
        if (sn == NULL) {
            return NGX_ERROR;
        }

        sn->text = u.url;
        sn->port = u.port;

        sn->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (sn->host.data == NULL) {
            return NGX_ERROR;
        }

        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                            sn->host.data, NGX_SOCKADDR_STRLEN, 0);
        sn->host.data[len] = '\0';
        sn->host.len = len;

        if (comma == last) {
            break;
        }

        p = comma + 1;

        if (p == last) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty sentinel address in \"%V\"", arg);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* master=NAME: what the sentinels call it; printable, without spaces */

static ngx_int_t
ngx_http_taskgw_parse_master(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *arg, ngx_str_t *name)
{
    ngx_uint_t  i;

    if (name->len == 0 || name->len > 255) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid master name in \"%V\" (1 to 255 "
                           "characters)", arg);
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        if (name->data[i] <= ' ' || name->data[i] == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid master name in \"%V\" (no spaces "
                               "or control characters)", arg);
            return NGX_ERROR;
        }
    }

    tmcf->master = *name;

    return NGX_OK;
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
