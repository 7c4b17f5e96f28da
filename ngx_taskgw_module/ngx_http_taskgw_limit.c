
/*
 * ngx_http_taskgw_limit: rate limits in shared memory, exact across all
 * worker processes (taskgw_limit_zone, taskgw_limit, the RateLimit fields).
 *
 * The algorithm is GCRA: a key's state is one time, its "theoretical
 * arrival time" (TAT).  A zone of rate n per period lets one request in
 * every T = period / n; with burst b a request arriving at "now" passes
 * when TAT - now <= b * T, and then TAT = max(TAT, now) + T.  Over any
 * interval I at most I / T + b + 1 requests pass.  A key whose TAT is in
 * the past has a full allowance, exactly as a key never seen, so its node
 * can be freed at no cost: that is what "expired" means for these zones.
 *
 * Several taskgw_limit lines of a location are decided together: the
 * zones' mutexes are taken in one global order, every limit is checked,
 * and the TATs are written only when all of them let the request pass,
 * so a request one zone rejects is not counted by the others.
 *
 * The access handler of the edge checks calls ngx_http_taskgw_limit_check()
 * once the allowlist and the token passed.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_limit.h"


/* The value of a node in a limit zone. */
typedef struct {
    uint64_t                     tat;      /* microseconds, monotonic */
} ngx_http_taskgw_limit_node_t;


/* What one taskgw_limit line decided for the request. */
typedef struct {
    ngx_http_taskgw_limit_zone_t  *zone;
    ngx_str_t                      key;
    ngx_http_taskgw_rate_t         rate;     /* the zone's or the token's */
    uint64_t                       t;        /* emission interval, us */
    uint64_t                       tau;      /* burst tolerance, us */
    uint64_t                       stored;   /* TAT in the zone, >= now */
    uint64_t                       base;     /* TAT before the request */
    uint64_t                       tat;      /* TAT if it is counted */
    uint64_t                       wait;     /* rejected: us to wait */
    unsigned                       skip:1;   /* empty key: no limit */
    unsigned                       pass:1;
    unsigned                       counted:1;
} ngx_http_taskgw_limit_state_t;


static ngx_int_t ngx_http_taskgw_limit_key(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_http_taskgw_limit_t *limit,
    ngx_http_taskgw_limit_state_t *st);
static void ngx_http_taskgw_limit_token_rate(ngx_uint_t rate,
    ngx_http_taskgw_rate_t *r);
static ngx_uint_t ngx_http_taskgw_limit_lock(ngx_http_taskgw_shm_t **locked,
    ngx_http_taskgw_limit_state_t *st, ngx_uint_t n);
static ngx_int_t ngx_http_taskgw_limit_headers(ngx_http_request_t *r,
    ngx_http_taskgw_limit_state_t *st, ngx_uint_t n, uint64_t now,
    ngx_uint_t mode);
static ngx_int_t ngx_http_taskgw_limit_header(ngx_http_request_t *r,
    char *name, u_char *value, size_t len);
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


/* the tag of limit zones: no other kind of zone can take their names */
static ngx_uint_t  ngx_http_taskgw_limit_tag;


static ngx_str_t  ngx_http_taskgw_limit_passed = ngx_string("PASSED");
static ngx_str_t  ngx_http_taskgw_limit_rejected = ngx_string("REJECTED");
static ngx_str_t  ngx_http_taskgw_limit_rejected_dry =
    ngx_string("REJECTED_DRY_RUN");


/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */


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

    shm = ngx_http_taskgw_shm_add(cf, &name, size,
                                  sizeof(ngx_http_taskgw_limit_node_t),
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


/* "10r/s" or "600r/m" */

ngx_int_t
ngx_http_taskgw_parse_rate(ngx_str_t *value, ngx_http_taskgw_rate_t *rate)
{
    ngx_int_t   n;
    ngx_uint_t  period;

    if (value->len < 4
        || value->data[value->len - 3] != 'r'
        || value->data[value->len - 2] != '/')
    {
        return NGX_ERROR;
    }

    switch (value->data[value->len - 1]) {

    case 's':
        period = 1;
        break;

    case 'm':
        period = 60;
        break;

    default:
        return NGX_ERROR;
    }

    n = ngx_atoi(value->data, value->len - 3);

    if (n <= 0 || n > NGX_HTTP_TASKGW_RATE_MAX) {
        return NGX_ERROR;
    }

    rate->n = n;
    rate->period = period;

    return NGX_OK;
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


/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */


ngx_int_t
ngx_http_taskgw_limit_check(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx)
{
    size_t                          n;
    uint64_t                        now, retry;
    ngx_int_t                       rc;
    ngx_uint_t                      i, j, nlocked, rejected, dry_rejected;
    ngx_table_elt_t                *h;
    ngx_http_taskgw_shm_t          *locked[8], **lk;
    ngx_http_taskgw_limit_t        *limits;
    ngx_http_taskgw_loc_conf_t     *tlcf;
    ngx_http_taskgw_limit_node_t   *node;
    ngx_http_taskgw_limit_state_t  *st;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (tlcf->limits == NULL || r != r->main || ctx->limit_status.len) {
        return NGX_DECLINED;
    }

    limits = tlcf->limits->elts;
    n = tlcf->limits->nelts;

    st = ngx_pcalloc(r->pool, n * sizeof(ngx_http_taskgw_limit_state_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    if (n <= sizeof(locked) / sizeof(locked[0])) {
        lk = locked;

    } else {
        lk = ngx_palloc(r->pool, n * sizeof(ngx_http_taskgw_shm_t *));
        if (lk == NULL) {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < n; i++) {
        rc = ngx_http_taskgw_limit_key(r, ctx, &limits[i], &st[i]);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    nlocked = ngx_http_taskgw_limit_lock(lk, st, n);

    now = (uint64_t) ngx_current_msec * 1000;
    rejected = 0;
    dry_rejected = 0;
    retry = 0;

    /* decide every limit against the state as it is now */

    for (i = 0; i < n; i++) {

        if (st[i].skip) {
            continue;
        }

        /* the same zone and key twice: the first one's count is seen */

        for (j = i; j-- > 0; /* void */) {
            if (st[j].pass && st[j].zone == st[i].zone
                && st[j].key.len == st[i].key.len
                && ngx_memcmp(st[j].key.data, st[i].key.data,
                              st[i].key.len) == 0)
            {
                break;
            }
        }

        if (j != (ngx_uint_t) -1) {
            st[i].stored = st[j].stored;
            st[i].base = st[j].tat;

        } else {
            node = ngx_http_taskgw_shm_lookup(st[i].zone->shm, &st[i].key,
                                              0);
            st[i].stored = (node && node->tat > now) ? node->tat : now;
            st[i].base = st[i].stored;
        }

        if (st[i].base - now > st[i].tau) {
            st[i].wait = st[i].base - now - st[i].tau;

            if (limits[i].dry_run) {
                dry_rejected = 1;

            } else {
                rejected = 1;

                if (st[i].wait > retry) {
                    retry = st[i].wait;
                }
            }

            continue;
        }

        st[i].pass = 1;
        st[i].tat = st[i].base + st[i].t;
    }

    /* count the request only when every zone lets it pass */

    if (!rejected) {
        for (i = 0; i < n; i++) {
            if (!st[i].pass) {
                continue;
            }

            node = ngx_http_taskgw_shm_lookup(st[i].zone->shm, &st[i].key,
                                              1);
            if (node) {
                node->tat = st[i].tat;
                st[i].counted = 1;
            }
        }
    }

    for (i = nlocked; i-- > 0; /* void */) {
        ngx_http_taskgw_shm_unlock(lk[i]);
    }

    if (nlocked == 0) {
        /* every key was empty: no limit applied to this request */
        return NGX_DECLINED;
    }

    /* logged once the zones are free again */

    for (i = 0; i < n; i++) {
        if (st[i].wait) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "taskgw: rate limit of zone \"%V\" exceeded%s, "
                          "next request allowed in %uL ms",
                          &st[i].zone->name,
                          limits[i].dry_run ? " (dry run)" : "",
                          (st[i].wait + 999) / 1000);
        }
    }

    if (rejected) {
        ctx->limit_status = ngx_http_taskgw_limit_rejected;

    } else if (dry_rejected) {
        ctx->limit_status = ngx_http_taskgw_limit_rejected_dry;

    } else {
        ctx->limit_status = ngx_http_taskgw_limit_passed;
    }

    if (tlcf->limit_headers != NGX_HTTP_TASKGW_LIMIT_HEADERS_OFF) {
        if (ngx_http_taskgw_limit_headers(r, st, n, now, tlcf->limit_headers)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (!rejected) {
        return NGX_DECLINED;
    }

    /* the access handler sends the JSON error */

    ctx->reject_code = "rate_limited";
    ctx->reject_message = "rate limit exceeded";

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    /* whole seconds, rounded up, at least one */

    retry = (retry + 999999) / 1000000;

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    h->value.len = ngx_sprintf(h->value.data, "%uL", retry ? retry : 1)
                   - h->value.data;

    return 429;
}


/*
 * The key a limit counts under, and the rate that applies to it.  By
 * default: the token's name when the request carries a valid token, with
 * the token's own rate when it has one, else the client address (after
 * realip), behind a zero byte that no token name starts with.  A key=
 * value longer than NGX_HTTP_TASKGW_LIMIT_KEY_MAX is counted under its
 * SHA-1, so a long header cannot make nodes large.  An empty key= value
 * leaves the request out of this limit, as limit_req does.
 */

static ngx_int_t
ngx_http_taskgw_limit_key(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx,
    ngx_http_taskgw_limit_t *limit, ngx_http_taskgw_limit_state_t *st)
{
    u_char                 *p;
    ngx_sha1_t              sha1;
    ngx_connection_t       *c;
    struct sockaddr_in     *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6    *sin6;
#endif
    ngx_http_taskgw_shm_t  *shm;

    shm = limit->shm_zone->data;

    st->zone = shm->data;
    st->rate = st->zone->rate;

    if (limit->key) {
        if (ngx_http_complex_value(r, limit->key, &st->key) != NGX_OK) {
            return NGX_ERROR;
        }

        if (st->key.len == 0) {
            st->skip = 1;
            return NGX_OK;
        }

        if (st->key.len > NGX_HTTP_TASKGW_LIMIT_KEY_MAX) {
            p = ngx_pnalloc(r->pool, 1 + 20);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ngx_sha1_init(&sha1);
            ngx_sha1_update(&sha1, st->key.data, st->key.len);

            p[0] = '\1';
            ngx_sha1_final(p + 1, &sha1);

            st->key.data = p;
            st->key.len = 1 + 20;
        }

        goto rate;
    }

    if (ctx->token_name.len) {
        st->key = ctx->token_name;

        if (ctx->token_rate) {
            ngx_http_taskgw_limit_token_rate(ctx->token_rate, &st->rate);
        }

        goto rate;
    }

    c = r->connection;

    switch (c->sockaddr->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) c->sockaddr;

        p = ngx_pnalloc(r->pool, 1 + 4);
        if (p == NULL) {
            return NGX_ERROR;
        }

        p[0] = '\0';
        ngx_memcpy(p + 1, &sin->sin_addr, 4);

        st->key.data = p;
        st->key.len = 1 + 4;
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) c->sockaddr;

        p = ngx_pnalloc(r->pool, 1 + 16);
        if (p == NULL) {
            return NGX_ERROR;
        }

        p[0] = '\0';
        ngx_memcpy(p + 1, sin6->sin6_addr.s6_addr, 16);

        st->key.data = p;
        st->key.len = 1 + 16;
        break;
#endif

    default:
        /* unix sockets: one key for all their clients */

        p = ngx_pnalloc(r->pool, 1 + c->addr_text.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        p[0] = '\0';
        ngx_memcpy(p + 1, c->addr_text.data, c->addr_text.len);

        st->key.data = p;
        st->key.len = 1 + c->addr_text.len;
        break;
    }

rate:

    st->t = (uint64_t) st->rate.period * 1000000 / st->rate.n;
    st->tau = (uint64_t) st->zone->burst * st->t;

    return NGX_OK;
}


/*
 * A token's rate= arrives as requests per 1000 s (N * 1000 for "Nr/s",
 * N * 1000 / 60 rounded down for "Nr/m"); the N and period it was
 * written with are found back exactly, so that the emission interval and
 * the RateLimit-Policy fields are those of the token file.
 */

static void
ngx_http_taskgw_limit_token_rate(ngx_uint_t rate,
    ngx_http_taskgw_rate_t *r)
{
    if (rate % 1000 == 0) {
        r->n = rate / 1000;
        r->period = 1;
        return;
    }

    /* the one N with N * 1000 / 60 == rate */

    r->n = (rate * 60 + 999) / 1000;
    r->period = 60;
}


/*
 * Takes the mutex of every zone the request meets, each once, in the
 * order of their addresses, so two requests never wait on each other.
 */

static ngx_uint_t
ngx_http_taskgw_limit_lock(ngx_http_taskgw_shm_t **locked,
    ngx_http_taskgw_limit_state_t *st, ngx_uint_t n)
{
    ngx_uint_t              i, j, k;
    ngx_http_taskgw_shm_t  *shm;

    k = 0;

    for (i = 0; i < n; i++) {

        if (st[i].skip) {
            continue;
        }

        shm = st[i].zone->shm;

        for (j = 0; j < k && locked[j] < shm; j++) { /* void */ }

        if (j < k && locked[j] == shm) {
            continue;
        }

        ngx_memmove(&locked[j + 1], &locked[j],
                    (k - j) * sizeof(ngx_http_taskgw_shm_t *));
        locked[j] = shm;
        k++;
    }

    for (i = 0; i < k; i++) {
        ngx_http_taskgw_shm_lock(locked[i]);
    }

    return k;
}


/*
 * The rate-limit fields.  "on": draft-ietf-httpapi-ratelimit-headers-10,
 * one list item per limit:
 *
 *     RateLimit-Policy: "<zone>";q=<n>;w=<period>
 *     RateLimit: "<zone>";r=<remaining>;t=<seconds until all of it is back>
 *
 * "legacy": RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset of the
 * limit with the least left.  Remaining counts the requests that would
 * pass right now, burst included.
 */

static ngx_int_t
ngx_http_taskgw_limit_headers(ngx_http_request_t *r,
    ngx_http_taskgw_limit_state_t *st, ngx_uint_t n, uint64_t now,
    ngx_uint_t mode)
{
    u_char                         *policy, *state, *p, *q;
    uint64_t                        tat, remaining, reset, best_r, best_t;
    ngx_uint_t                      i, first;
    ngx_http_taskgw_limit_state_t  *best;

    /* per item: 64 bytes of name and quotes, separators, three numbers */
    policy = ngx_pnalloc(r->pool, n * (64 + 2 * NGX_INT64_LEN + 16));
    state = ngx_pnalloc(r->pool, n * (64 + 2 * NGX_INT64_LEN + 16));

    if (policy == NULL || state == NULL) {
        return NGX_ERROR;
    }

    p = policy;
    q = state;
    first = 1;
    best = NULL;
    best_r = 0;
    best_t = 0;

    for (i = 0; i < n; i++) {

        if (st[i].skip) {
            continue;
        }

        tat = st[i].counted ? st[i].tat : st[i].stored;

        remaining = (now + st[i].tau >= tat)
                    ? (now + st[i].tau - tat) / st[i].t + 1 : 0;
        reset = (tat - now + 999999) / 1000000;

        if (mode == NGX_HTTP_TASKGW_LIMIT_HEADERS_LEGACY) {
            if (best == NULL || remaining < best_r
                || (remaining == best_r && reset > best_t))
            {
                best = &st[i];
                best_r = remaining;
                best_t = reset;
            }

            continue;
        }

        if (!first) {
            *p++ = ','; *p++ = ' ';
            *q++ = ','; *q++ = ' ';
        }

        first = 0;

        p = ngx_sprintf(p, "\"%V\";q=%ui;w=%ui", &st[i].zone->name,
                        st[i].rate.n, st[i].rate.period);
        q = ngx_sprintf(q, "\"%V\";r=%uL;t=%uL", &st[i].zone->name,
                        remaining, reset);
    }

    if (mode == NGX_HTTP_TASKGW_LIMIT_HEADERS_LEGACY) {
        if (best == NULL) {
            return NGX_OK;
        }

        p = ngx_sprintf(policy, "%ui", best->rate.n);
        q = ngx_sprintf(state, "%uL", best_r);

        if (ngx_http_taskgw_limit_header(r, "RateLimit-Limit", policy,
                                         p - policy) != NGX_OK
            || ngx_http_taskgw_limit_header(r, "RateLimit-Remaining", state,
                                            q - state) != NGX_OK)
        {
            return NGX_ERROR;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        q = ngx_sprintf(p, "%uL", best_t);

        return ngx_http_taskgw_limit_header(r, "RateLimit-Reset", p, q - p);
    }

    if (first) {
        return NGX_OK;
    }

    if (ngx_http_taskgw_limit_header(r, "RateLimit-Policy", policy,
                                     p - policy) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_taskgw_limit_header(r, "RateLimit", state, q - state);
}


static ngx_int_t
ngx_http_taskgw_limit_header(ngx_http_request_t *r, char *name,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}
