
/*
 * ngx_http_taskgw_limit_conf: the rate-limit directives (taskgw_limit_zone,
 * taskgw_limit, taskgw_limit_headers), their zones and reload rules.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_limit.h"


static ngx_uint_t ngx_http_taskgw_limit_expired(void *value, void *data);
static ngx_int_t ngx_http_taskgw_limit_reuse(ngx_http_taskgw_shm_t *shm,
    ngx_http_taskgw_shm_t *old);
static ngx_int_t ngx_http_taskgw_limit_valid_zone_name(ngx_str_t *name);


ngx_conf_enum_t  ngx_http_taskgw_limit_headers_modes[] = {
    { ngx_string("off"), NGX_HTTP_TASKGW_LIMIT_HEADERS_OFF },
    { ngx_string("on"), NGX_HTTP_TASKGW_LIMIT_HEADERS_ON },
    { ngx_string("legacy"), NGX_HTTP_TASKGW_LIMIT_HEADERS_LEGACY },
    { ngx_null_string, 0 }
};


/*
 * the tag of limit zones: no other kind of zone can take their names, and
 * the metrics find the zones by it (taskgw_limit_zone_keys)
 */
ngx_uint_t  ngx_http_taskgw_limit_tag;


/* taskgw_limit_zone zone=NAME:SIZE rate=Nr/s|Nr/m [burst=N]; */

char *
ngx_http_taskgw_limit_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    u_char                        *p;
    ssize_t                        size;
    ngx_int_t                      burst;
    ngx_str_t                     *value, name, s;
    ngx_uint_t                     i;
    ngx_http_taskgw_shm_t         *shm;
    ngx_http_taskgw_limit_zone_t  *zone;

    value = cf->args->elts;

    size = 0;
    burst = NGX_CONF_UNSET;
    ngx_str_null(&name);

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_taskgw_limit_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            if (name.data) {
                goto duplicate;
            }

            name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone \"%V\", it must be "
                                   "\"zone=NAME:SIZE\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            if (ngx_http_taskgw_limit_valid_zone_name(&name) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone name \"%V\", it must be "
                                   "1-64 characters of A-Z a-z 0-9 . _ -",
                                   &name);
                return NGX_CONF_ERROR;
            }

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {

            if (zone->rate.n) {
                goto duplicate;
            }

            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (ngx_http_taskgw_parse_rate(&s, &zone->rate) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rate \"%V\", it must be like "
                                   "\"10r/s\" or \"600r/m\", at most %d "
                                   "requests", &value[i],
                                   NGX_HTTP_TASKGW_RATE_MAX);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {

            if (burst != NGX_CONF_UNSET) {
                goto duplicate;
            }

            burst = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (burst == NGX_ERROR || burst > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid burst \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone=NAME:SIZE\"", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (zone->rate.n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"rate=\"", &cmd->name);
        return NGX_CONF_ERROR;
    }

    zone->name = name;
    zone->burst = (burst == NGX_CONF_UNSET) ? 0 : (ngx_uint_t) burst;

    /* the zone's part of the RateLimit fields, written once */

    zone->policy.data = ngx_pnalloc(cf->pool, name.len + 2 * NGX_INT_T_LEN
                                              + sizeof("\"\";q=;w="));
    zone->state.data = ngx_pnalloc(cf->pool, name.len + sizeof("\"\";r="));

    if (zone->policy.data == NULL || zone->state.data == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->policy.len = ngx_sprintf(zone->policy.data, "\"%V\";q=%ui;w=%ui",
                                   &name, zone->rate.n, zone->rate.period)
                       - zone->policy.data;
    zone->state.len = ngx_sprintf(zone->state.data, "\"%V\";r=", &name)
                      - zone->state.data;

    shm = ngx_http_taskgw_shm_add(cf, &name, size,
                                  sizeof(ngx_http_taskgw_limit_node_t),
                                  NGX_HTTP_TASKGW_SHM_KEEP,
                                  &ngx_http_taskgw_limit_tag);
    if (shm == NULL) {
        return NGX_CONF_ERROR;
    }

    shm->expired = ngx_http_taskgw_limit_expired;
    shm->reuse = ngx_http_taskgw_limit_reuse;
    shm->data = zone;

    zone->shm = shm;

    return NGX_CONF_OK;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "duplicate parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_taskgw_limit_valid_zone_name(ngx_str_t *name)
{
    u_char  c;
    size_t  i;

    if (name->len == 0 || name->len > 64) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


/* taskgw_limit zone=NAME [key=complex] [dry_run]; */

char *
ngx_http_taskgw_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_taskgw_loc_conf_t *tlcf = conf;

    ngx_str_t                         *value, s, name;
    ngx_uint_t                         i, dry_run;
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_taskgw_limit_t           *limit, *limits;
    ngx_http_complex_value_t          *key;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    ngx_str_null(&name);
    key = NULL;
    dry_run = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            if (name.data) {
                goto duplicate;
            }

            name.data = value[i].data + 5;
            name.len = value[i].len - 5;

            if (ngx_http_taskgw_limit_valid_zone_name(&name) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone name \"%V\"", &name);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {

            if (key) {
                goto duplicate;
            }

            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            if (s.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty key in \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            key = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
            if (key == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &s;
            ccv.complex_value = key;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (value[i].len == 7
            && ngx_strncmp(value[i].data, "dry_run", 7) == 0)
        {
            if (dry_run) {
                goto duplicate;
            }

            dry_run = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone=NAME\"", &cmd->name);
        return NGX_CONF_ERROR;
    }

    /* a reference: the zone may be declared further down the http block */

    shm_zone = ngx_shared_memory_add(cf, &name, 0,
                                     &ngx_http_taskgw_limit_tag);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (tlcf->limits == NGX_CONF_UNSET_PTR) {
        tlcf->limits = ngx_array_create(cf->pool, 1,
                                        sizeof(ngx_http_taskgw_limit_t));
        if (tlcf->limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    limits = tlcf->limits->elts;

    for (i = 0; i < tlcf->limits->nelts; i++) {
        if (limits[i].shm_zone != shm_zone) {
            continue;
        }

        if ((key == NULL && limits[i].key == NULL)
            || (key && limits[i].key
                && key->value.len == limits[i].key->value.len
                && ngx_strncmp(key->value.data, limits[i].key->value.data,
                               key->value.len) == 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zone \"%V\" is already limited by the same "
                               "key here", &name);
            return NGX_CONF_ERROR;
        }
    }

    limit = ngx_array_push(tlcf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    limit->shm_zone = shm_zone;
    limit->key = key;
    limit->dry_run = dry_run;
    limit->zone = name;
    limit->file = cf->conf_file->file.name.data;
    limit->line = cf->conf_file->line;

    return NGX_CONF_OK;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "duplicate parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * Inherits the taskgw_limit lines as nginx inherits its own lists: a
 * level without any takes all of the enclosing level's.  Every zone must
 * have been declared by now (the whole http block has been read).
 */

char *
ngx_http_taskgw_limit_merge(ngx_conf_t *cf, ngx_http_taskgw_loc_conf_t *prev,
    ngx_http_taskgw_loc_conf_t *conf)
{
    ngx_uint_t                i;
    ngx_http_taskgw_limit_t  *limits;

    ngx_conf_merge_ptr_value(conf->limits, prev->limits, NULL);
    ngx_conf_merge_uint_value(conf->limit_headers, prev->limit_headers,
                              NGX_HTTP_TASKGW_LIMIT_HEADERS_ON);

    if (conf->limits == NULL) {
        return NGX_CONF_OK;
    }

    limits = conf->limits->elts;

    for (i = 0; i < conf->limits->nelts; i++) {
        if (limits[i].shm_zone->data == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown taskgw_limit zone \"%V\" in %s:%ui",
                          &limits[i].zone, limits[i].file, limits[i].line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * On reload the zone keeps its keys.  A new rate or burst applies to
 * them at once: a TAT is a point in time, meaningful under any rate.
 */

static ngx_int_t
ngx_http_taskgw_limit_reuse(ngx_http_taskgw_shm_t *shm,
    ngx_http_taskgw_shm_t *old)
{
    ngx_http_taskgw_limit_zone_t  *zone, *ozone;

    zone = shm->data;
    ozone = old->data;

    if (zone->rate.n != ozone->rate.n
        || zone->rate.period != ozone->rate.period
        || zone->burst != ozone->burst)
    {
        ngx_log_error(NGX_LOG_NOTICE, shm->shm_zone->shm.log, 0,
                      "taskgw_limit_zone \"%V\": rate %ui r/%s burst %ui "
                      "now, was %ui r/%s burst %ui; its keys keep their "
                      "state", &zone->name,
                      zone->rate.n, zone->rate.period == 1 ? "s" : "m",
                      zone->burst,
                      ozone->rate.n, ozone->rate.period == 1 ? "s" : "m",
                      ozone->burst);
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_taskgw_limit_expired(void *value, void *data)
{
    ngx_http_taskgw_limit_node_t  *node = value;

    return node->tat <= (uint64_t) ngx_current_msec * 1000;
}


/* Every taskgw_limit_zone of the running configuration, for metrics. */

void
ngx_http_taskgw_limit_zones(ngx_cycle_t *cycle,
    ngx_http_taskgw_limit_zone_pt handler, void *data)
{
    uint64_t                       dry;
    ngx_uint_t                     i, keys;
    ngx_list_part_t               *part;
    ngx_shm_zone_t                *shm_zone;
    ngx_http_taskgw_shm_t         *shm;
    ngx_http_taskgw_limit_zone_t  *zone;

    part = &cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag != &ngx_http_taskgw_limit_tag
            || shm_zone[i].data == NULL)
        {
            continue;
        }

        shm = shm_zone[i].data;

        if (shm->sh == NULL) {
            continue;
        }

        zone = shm->data;

        ngx_http_taskgw_shm_lock(shm);
        keys = shm->sh->nodes;
        dry = shm->sh->counter;
        ngx_http_taskgw_shm_unlock(shm);

        handler(data, &zone->name, keys, dry);
    }
}
