
/*
 * ngx_http_taskgw_location_conf: the directives that make a location one
 * of taskgw's (enqueue, status, metrics, health, admin), and their values.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"


/* taskgw_enqueue [queue=complex] [type=complex] [priority=high|normal|low]; */

char *
ngx_http_taskgw_enqueue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_taskgw_loc_conf_t *tlcf = conf;

    char                              *rv;
    ngx_str_t                         *value, s;
    ngx_uint_t                         i, p;
    ngx_http_complex_value_t         **cvp;
    ngx_http_taskgw_main_conf_t       *tmcf;
    ngx_http_compile_complex_value_t   ccv;

    static ngx_str_t  request_id = ngx_string("request_id");

    rv = ngx_http_taskgw_set_handler(cf, tlcf, NGX_HTTP_TASKGW_ENQUEUE);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* the task's request_id is $request_id, kept in the request's slot */

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_taskgw_module);

    if (tmcf->request_id_index == NGX_CONF_UNSET) {
        tmcf->request_id_index = ngx_http_get_variable_index(cf, &request_id);
        if (tmcf->request_id_index == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "priority=", 9) == 0) {
            if (tlcf->priority != NGX_CONF_UNSET_UINT) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate parameter \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            s.len = value[i].len - 9;
            s.data = value[i].data + 9;

            for (p = 0; ngx_http_taskgw_priorities[p].len; p++) {
                if (s.len == ngx_http_taskgw_priorities[p].len
                    && ngx_strncmp(s.data, ngx_http_taskgw_priorities[p].data,
                                   s.len) == 0)
                {
                    break;
                }
            }

            if (ngx_http_taskgw_priorities[p].len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid priority \"%V\", "
                                   "it must be \"high\", \"normal\" or "
                                   "\"low\"", &s);
                return NGX_CONF_ERROR;
            }

            tlcf->priority = p;
            continue;
        }

        if (ngx_strncmp(value[i].data, "queue=", 6) == 0) {
            s.len = value[i].len - 6;
            s.data = value[i].data + 6;
            cvp = &tlcf->queue;

        } else if (ngx_strncmp(value[i].data, "type=", 5) == 0) {
            s.len = value[i].len - 5;
            s.data = value[i].data + 5;
            cvp = &tlcf->type;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (s.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty value in \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (*cvp != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        *cvp = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (*cvp == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &s;
        ccv.complex_value = *cvp;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        /* a value without variables is checked now, not on each request */

        if ((*cvp)->lengths != NULL) {
            continue;
        }

        if (cvp == &tlcf->queue) {
            if (ngx_http_taskgw_valid_name(&s, NGX_HTTP_TASKGW_QUEUE_MAX, 0)
                != NGX_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid queue name \"%V\", it must be "
                                   "1-%d characters of A-Z a-z 0-9 . _ -",
                                   &s, NGX_HTTP_TASKGW_QUEUE_MAX);
                return NGX_CONF_ERROR;
            }

        } else if (ngx_http_taskgw_valid_name(&s, NGX_HTTP_TASKGW_TYPE_MAX, 1)
                   != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid task type \"%V\", it must be "
                               "1-%d characters of A-Z a-z 0-9 . _ - :",
                               &s, NGX_HTTP_TASKGW_TYPE_MAX);
            return NGX_CONF_ERROR;
        }
    }

    if (tlcf->queue == NULL) {
        tlcf->queue = ngx_pcalloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (tlcf->queue == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&tlcf->queue->value, "default");
    }

    return NGX_CONF_OK;
}


/* taskgw_status [id=complex]; */

char *
ngx_http_taskgw_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_taskgw_loc_conf_t *tlcf = conf;

    char                              *rv;
    ngx_str_t                         *value, s;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_taskgw_srv_conf_t        *tscf;
    ngx_http_compile_complex_value_t   ccv;

    rv = ngx_http_taskgw_set_handler(cf, tlcf, NGX_HTTP_TASKGW_STATUS);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strncmp(value[1].data, "id=", 3) != 0 || value[1].len == 3) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        s.len = value[1].len - 3;
        s.data = value[1].data + 3;

        tlcf->status_id = ngx_palloc(cf->pool,
                                     sizeof(ngx_http_complex_value_t));
        if (tlcf->status_id == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &s;
        ccv.complex_value = tlcf->status_id;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    /* enqueue replies in this server point their Location: here */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    tscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_taskgw_module);

    if (tscf->status_location.len == 0 && !clcf->named
#if (NGX_PCRE)
        && clcf->regex == NULL
#endif
        )
    {
        s = clcf->name;

        while (s.len && s.data[s.len - 1] == '/') {
            s.len--;
        }

        /* kept with the '/' the task id follows, copied as one piece */

        if (s.len) {
            tscf->status_location.data = ngx_pnalloc(cf->pool, s.len + 1);
            if (tscf->status_location.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memcpy(tscf->status_location.data, s.data, s.len);
            tscf->status_location.data[s.len] = '/';
            tscf->status_location.len = s.len + 1;
        }
    }

    return NGX_CONF_OK;
}


/*
 * taskgw_metrics; taskgw_health; taskgw_admin; -- the operator's
 * locations (cmd->offset says which).  The admin API routes by the path
 * after the location's name, so it needs a prefix location.
 */

char *
ngx_http_taskgw_ops_location(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_taskgw_loc_conf_t *tlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (cmd->offset == NGX_HTTP_TASKGW_ADMIN) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        if (clcf->named
#if (NGX_PCRE)
            || clcf->regex != NULL
#endif
            )
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"taskgw_admin\" needs a prefix location, "
                               "not \"%V\"", &clcf->name);
            return NGX_CONF_ERROR;
        }
    }

    return ngx_http_taskgw_set_handler(cf, tlcf,
                                       (ngx_http_taskgw_handler_e)
                                           cmd->offset);
}
