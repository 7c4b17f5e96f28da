
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
    ngx_http_taskgw_limit_node_t  *node;     /* the key's, if it has one */
    uint64_t                       remaining; /* for the RateLimit fields */
    uint64_t                       reset;
    u_char                         addr[1 + 16]; /* key of an address */
    unsigned                       skip:1;   /* empty key: no limit */
    unsigned                       pass:1;
    unsigned                       counted:1;
} ngx_http_taskgw_limit_state_t;


static ngx_int_t ngx_http_taskgw_limit_key(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_http_taskgw_limit_t *limit,
    ngx_http_taskgw_limit_state_t *st);
static void ngx_http_taskgw_limit_token_rate(ngx_uint_t rate,
    ngx_uint_t period, ngx_http_taskgw_rate_t *r);
static ngx_uint_t ngx_http_taskgw_limit_lock(ngx_http_taskgw_shm_t **locked,
    ngx_http_taskgw_limit_state_t *st, ngx_uint_t n);
static ngx_int_t ngx_http_taskgw_limit_headers(ngx_http_request_t *r,
    ngx_http_taskgw_limit_state_t *st, ngx_uint_t n, uint64_t now,
    ngx_uint_t mode);
static ngx_int_t ngx_http_taskgw_limit_header(ngx_http_request_t *r,
    char *name, u_char *value, size_t len);
static u_char *ngx_http_taskgw_limit_uint(u_char *p, uint64_t n);


/* $taskgw_limit_status */
static ngx_str_t  ngx_http_taskgw_limit_passed = ngx_string("passed");
static ngx_str_t  ngx_http_taskgw_limit_rejected = ngx_string("rejected");
static ngx_str_t  ngx_http_taskgw_limit_rejected_dry =
    ngx_string("rejected_dry_run");


ngx_int_t
ngx_http_taskgw_limit_check(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx)
{
    size_t                          n;
    uint64_t                        now, retry;
    ngx_int_t                       rc;
    ngx_uint_t                      i, j, nlocked, rejected, dry_rejected,
                                    level;
    ngx_table_elt_t                *h;
    ngx_http_taskgw_shm_t          *locked[4], **lk;
    ngx_http_taskgw_limit_t        *limits;
    ngx_http_taskgw_loc_conf_t     *tlcf;
    ngx_http_taskgw_limit_node_t   *node;
    ngx_http_taskgw_limit_state_t  *st, stbuf[4];

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (tlcf->limits == NULL || r != r->main || ctx->limit_status.len) {
        return NGX_DECLINED;
    }

    limits = tlcf->limits->elts;
    n = tlcf->limits->nelts;

    /* a location's few limits need no allocation */

    if (n <= sizeof(stbuf) / sizeof(stbuf[0])) {
        st = stbuf;
        lk = locked;
        ngx_memzero(st, n * sizeof(ngx_http_taskgw_limit_state_t));

    } else {
        st = ngx_pcalloc(r->pool, n * sizeof(ngx_http_taskgw_limit_state_t));
        lk = ngx_palloc(r->pool, n * sizeof(ngx_http_taskgw_shm_t *));

        if (st == NULL || lk == NULL) {
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
            st[i].node = node;
            st[i].stored = (node && node->tat > now) ? node->tat : now;
            st[i].base = st[i].stored;
        }

        if (st[i].base - now > st[i].tau) {
            st[i].wait = st[i].base - now - st[i].tau;

            if (limits[i].dry_run) {
                dry_rejected = 1;

                /* taskgw_limit_dry_run_rejections_total; the zone is locked */
                st[i].zone->shm->sh->counter++;

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

    /*
     * count the request only when every zone lets it pass: first in the
     * nodes found above, then in new ones, whose making may evict others
     */

    if (!rejected) {
        for (i = 0; i < n; i++) {
            if (st[i].pass && st[i].node) {
                st[i].node->tat = st[i].tat;
                st[i].counted = 1;
            }
        }

        for (i = 0; i < n; i++) {
            if (!st[i].pass || st[i].counted) {
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

    /*
     * logged once the zones are free again: a rejection at warn, as
     * limit_req does, one a dry run only pretends at notice
     */

    for (i = 0; i < n; i++) {
        if (st[i].wait) {
            level = limits[i].dry_run ? NGX_LOG_NOTICE : NGX_LOG_WARN;

            ngx_log_error(level, r->connection->log, 0,
                          "taskgw: rate limit of zone \"%V\" exceeded%s, "
                          "next request allowed in %uL ms",
                          &st[i].zone->name,
                          limits[i].dry_run ? " (dry run: rejected_dry_run)"
                                            : "",
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
 * realip; an IPv4-mapped IPv6 address counts as its IPv4 address), behind
 * a zero byte that no token name starts with.  A key=
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
            ngx_http_taskgw_limit_token_rate(ctx->token_rate,
                                             ctx->token_rate_period,
                                             &st->rate);
        }

        goto rate;
    }

    c = r->connection;

    switch (c->sockaddr->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) c->sockaddr;

        p = st->addr;
        p[0] = '\0';
        ngx_memcpy(p + 1, &sin->sin_addr, 4);

        st->key.data = p;
        st->key.len = 1 + 4;
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) c->sockaddr;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            /* the same client as its IPv4 address */

            p = st->addr;
            p[0] = '\0';
            ngx_memcpy(p + 1, &sin6->sin6_addr.s6_addr[12], 4);

            st->key.data = p;
            st->key.len = 1 + 4;
            break;
        }

        p = st->addr;
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
 * N * 1000 / 60 rounded down for "Nr/m") with the period it was written
 * with; N is found back exactly, so that the emission interval and the
 * RateLimit-Policy fields are those of the token file ("60r/m" is q=60
 * per w=60, not one per second).
 */

static void
ngx_http_taskgw_limit_token_rate(ngx_uint_t rate, ngx_uint_t period,
    ngx_http_taskgw_rate_t *r)
{
    if (period != 60) {
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

        if (j < k) {
            ngx_memmove(&locked[j + 1], &locked[j],
                        (k - j) * sizeof(ngx_http_taskgw_shm_t *));
        }

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
    size_t                          plen, slen;
    uint64_t                        tat, best_r, best_t;
    ngx_uint_t                      i, items, own;
    ngx_http_taskgw_limit_zone_t   *zone;
    ngx_http_taskgw_limit_state_t  *best, *one;

    /*
     * The fields' text is the zones', made once with the configuration
     * ("<zone>";q=<n>;w=<period> and "<zone>";r=); only the numbers that
     * change are written per request.
     */

    items = 0;
    own = 0;
    plen = 0;
    slen = 0;
    one = NULL;
    best = NULL;
    best_r = 0;
    best_t = 0;

    for (i = 0; i < n; i++) {

        if (st[i].skip) {
            continue;
        }

        zone = st[i].zone;

        tat = st[i].counted ? st[i].tat : st[i].stored;

        st[i].remaining = (now + st[i].tau >= tat)
                          ? (now + st[i].tau - tat) / st[i].t + 1 : 0;
        st[i].reset = (tat - now + 999999) / 1000000;

        if (mode == NGX_HTTP_TASKGW_LIMIT_HEADERS_LEGACY) {
            if (best == NULL || st[i].remaining < best_r
                || (st[i].remaining == best_r && st[i].reset > best_t))
            {
                best = &st[i];
                best_r = st[i].remaining;
                best_t = st[i].reset;
            }

            continue;
        }

        if (st[i].rate.n != zone->rate.n
            || st[i].rate.period != zone->rate.period)
        {
            /* a token's own rate */
            own = 1;
        }

        one = &st[i];
        items++;
        plen += zone->policy.len + 2 * NGX_INT64_LEN + 2;
        slen += zone->state.len + 2 * NGX_INT64_LEN + 5;
    }

    if (mode == NGX_HTTP_TASKGW_LIMIT_HEADERS_LEGACY) {
        if (best == NULL) {
            return NGX_OK;
        }

        p = ngx_pnalloc(r->pool, 3 * NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        q = ngx_http_taskgw_limit_uint(p, best->rate.n);

        if (ngx_http_taskgw_limit_header(r, "RateLimit-Limit", p, q - p)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        p = q;
        q = ngx_http_taskgw_limit_uint(p, best_r);

        if (ngx_http_taskgw_limit_header(r, "RateLimit-Remaining", p, q - p)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        p = q;
        q = ngx_http_taskgw_limit_uint(p, best_t);

        return ngx_http_taskgw_limit_header(r, "RateLimit-Reset", p, q - p);
    }

    if (items == 0) {
        return NGX_OK;
    }

    state = ngx_pnalloc(r->pool, slen);
    if (state == NULL) {
        return NGX_ERROR;
    }

    if (items == 1 && !own) {
        /* the usual case: the zone's text as it is */
        policy = one->zone->policy.data;
        p = policy + one->zone->policy.len;

    } else {
        policy = ngx_pnalloc(r->pool, plen);
        if (policy == NULL) {
            return NGX_ERROR;
        }

        p = policy;
    }

    q = state;

    for (i = 0; i < n; i++) {

        if (st[i].skip) {
            continue;
        }

        zone = st[i].zone;

        if (q != state) {
            /* a second item: the policy is being written too */
            *p++ = ','; *p++ = ' ';
            *q++ = ','; *q++ = ' ';
        }

        if (items > 1 || own) {
            if (st[i].rate.n == zone->rate.n
                && st[i].rate.period == zone->rate.period)
            {
                p = ngx_cpymem(p, zone->policy.data, zone->policy.len);

            } else {
                /* "<zone>";q=  is the state's "<zone>";r= but for a letter */
                p = ngx_cpymem(p, zone->state.data, zone->state.len - 2);
                p = ngx_cpymem(p, "q=", 2);
                p = ngx_http_taskgw_limit_uint(p, st[i].rate.n);
                p = ngx_cpymem(p, ";w=", 3);
                p = ngx_http_taskgw_limit_uint(p, st[i].rate.period);
            }
        }

        q = ngx_cpymem(q, zone->state.data, zone->state.len);
        q = ngx_http_taskgw_limit_uint(q, st[i].remaining);
        q = ngx_cpymem(q, ";t=", 3);
        q = ngx_http_taskgw_limit_uint(q, st[i].reset);
    }

    if (ngx_http_taskgw_limit_header(r, "RateLimit-Policy", policy,
                                     p - policy) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_taskgw_limit_header(r, "RateLimit", state, q - state);
}


/* n in decimal at p, without ngx_sprintf()'s parsing of a format */

static u_char *
ngx_http_taskgw_limit_uint(u_char *p, uint64_t n)
{
    u_char  *d, digits[NGX_INT64_LEN];

    d = digits + NGX_INT64_LEN;

    do {
        *--d = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, d, digits + NGX_INT64_LEN - d);
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
