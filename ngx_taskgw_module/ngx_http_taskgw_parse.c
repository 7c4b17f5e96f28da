
/*
 * ngx_http_taskgw_parse: the parsers of client and operator input, pure
 * functions over strings (ngx_http_taskgw_parse.h says why).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_token.h"
#include "ngx_http_taskgw_limit.h"
#include "ngx_http_taskgw_parse.h"


static ngx_int_t ngx_http_taskgw_parse_queues(ngx_pool_t *pool,
    ngx_str_t *s, ngx_array_t **queues, ngx_str_t *bad);
static ngx_int_t ngx_http_taskgw_parse_digest(ngx_str_t *s, u_char *digest);


ngx_str_t  ngx_http_taskgw_priorities[] = {
    ngx_string("high"),
    ngx_string("normal"),
    ngx_string("low"),
    ngx_null_string
};


ngx_str_t  ngx_http_taskgw_roles[] = {
    ngx_string("off"),
    ngx_string("dev"),
    ngx_string("ops"),
    ngx_string("admin"),
    ngx_null_string
};


/* ------------------------------------------------------------------ */
/* request headers                                                     */
/* ------------------------------------------------------------------ */

/* X-Task-Priority: high, normal or low in any case; its index or error */

ngx_int_t
ngx_http_taskgw_parse_priority(ngx_str_t *value)
{
    ngx_uint_t  p;

    for (p = 0; ngx_http_taskgw_priorities[p].len; p++) {
        if (value->len == ngx_http_taskgw_priorities[p].len
            && ngx_strncasecmp(value->data,
                               ngx_http_taskgw_priorities[p].data,
                               value->len) == 0)
        {
            return (ngx_int_t) p;
        }
    }

    return NGX_ERROR;
}


/*
 * When the task may run: X-Task-Delay (seconds from now) or X-Task-Run-At
 * (unix seconds), the values of those headers or NULL, at most one of
 * them, within max_delay seconds of now (unix ms).  A time that is not in
 * the future means now.  NGX_OK with *when the unix ms to schedule the
 * task at (0: at once, also without either header), or NGX_DECLINED with
 * *message.
 */

ngx_int_t
ngx_http_taskgw_parse_when(ngx_str_t *delay, ngx_str_t *run_at, int64_t now,
    time_t max_delay, int64_t *when, const char **message)
{
    int64_t    d;
    ngx_int_t  n;

    *when = 0;

    if (delay == NULL && run_at == NULL) {
        return NGX_OK;
    }

    if (delay != NULL && run_at != NULL) {
        *message = "give X-Task-Delay or X-Task-Run-At, not both";
        return NGX_DECLINED;
    }

    if (delay != NULL) {
        n = ngx_atoi(delay->data, delay->len);
        if (n == NGX_ERROR) {
            *message = "X-Task-Delay must be a whole number of seconds";
            return NGX_DECLINED;
        }

        d = n;

    } else {
        n = ngx_atoi(run_at->data, run_at->len);
        if (n == NGX_ERROR) {
            *message = "X-Task-Run-At must be a time in unix seconds";
            return NGX_DECLINED;
        }

        d = n - now / 1000;
    }

    /*
     * compared before any multiplication: max_delay is at most 10 years
     * (taskgw_max_delay refuses more), so the milliseconds below stay far
     * from overflowing 64 bits whatever number the client sent
     */

    if (d > (int64_t) max_delay) {
        *message = "the task's start is beyond taskgw_max_delay";
        return NGX_DECLINED;
    }

    if (delay != NULL) {
        *when = d > 0 ? now + d * 1000 : 0;

    } else {
        *when = (int64_t) n * 1000 > now ? (int64_t) n * 1000 : 0;
    }

    return NGX_OK;
}


/* Idempotency-Key: 1-255 visible ASCII characters (no space) */

ngx_int_t
ngx_http_taskgw_valid_idem_key(ngx_str_t *value)
{
    u_char  *p, *last;

    if (value->len == 0 || value->len > NGX_HTTP_TASKGW_IDEM_KEY_MAX) {
        return NGX_DECLINED;
    }

    last = value->data + value->len;

    for (p = value->data; p < last; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * The form of an X-Callback-URL: an http or https URL of at most
 * NGX_HTTP_TASKGW_CALLBACK_MAX visible ASCII characters, with a host and
 * without credentials (user:pass@).  Whether a taskgw_callback_allow
 * pattern lets it through is for the caller.  NGX_OK or NGX_DECLINED with
 * *message.
 */

ngx_int_t
ngx_http_taskgw_parse_callback(ngx_str_t *value, const char **message)
{
    u_char  *p, *host, *end;

    if (value->len == 0 || value->len > NGX_HTTP_TASKGW_CALLBACK_MAX) {
        *message = "X-Callback-URL must be an http or https URL of at most "
                   "2048 characters";
        return NGX_DECLINED;
    }

    end = value->data + value->len;

    for (p = value->data; p < end; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            *message = "X-Callback-URL must be visible ASCII";
            return NGX_DECLINED;
        }
    }

    if (value->len > sizeof("https://") - 1
        && ngx_strncasecmp(value->data, (u_char *) "https://",
                           sizeof("https://") - 1) == 0)
    {
        host = value->data + sizeof("https://") - 1;

    } else if (value->len > sizeof("http://") - 1
               && ngx_strncasecmp(value->data, (u_char *) "http://",
                                  sizeof("http://") - 1) == 0)
    {
        host = value->data + sizeof("http://") - 1;

    } else {
        *message = "X-Callback-URL must be an http or https URL";
        return NGX_DECLINED;
    }

    /* the authority ends at the path, the query or the fragment */

    for (p = host; p < end && *p != '/' && *p != '?' && *p != '#'; p++) {
        if (*p == '@') {
            *message = "X-Callback-URL must not carry credentials";
            return NGX_DECLINED;
        }
    }

    if (p == host || *host == ':') {
        *message = "X-Callback-URL has no host";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* Whether an Authorization value carries bearer credentials. */

ngx_int_t
ngx_http_taskgw_is_bearer(ngx_str_t *authorization)
{
    if (authorization != NULL && authorization->len > 7
        && ngx_strncasecmp(authorization->data, (u_char *) "Bearer ", 7)
           == 0)
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * The token of a request, from the values of its Authorization and
 * X-API-Token headers (NULL where it has none): "Bearer <token>", or
 * without bearer credentials the X-API-Token.  Spaces around it do not
 * count; it is 1 to NGX_HTTP_TASKGW_TOKEN_MAX bytes.  NGX_OK with *token
 * (within the header value), or NGX_DECLINED.
 */

ngx_int_t
ngx_http_taskgw_parse_token(ngx_str_t *authorization, ngx_str_t *api_token,
    ngx_str_t *token)
{
    u_char  *p, *last;

    if (ngx_http_taskgw_is_bearer(authorization) == NGX_OK) {
        p = authorization->data + 7;
        last = authorization->data + authorization->len;

    } else if (api_token != NULL) {
        p = api_token->data;
        last = api_token->data + api_token->len;

    } else {
        return NGX_DECLINED;
    }

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && last[-1] == ' ') {
        last--;
    }

    if (p == last || last - p > NGX_HTTP_TASKGW_TOKEN_MAX) {
        return NGX_DECLINED;
    }

    token->data = p;
    token->len = last - p;

    return NGX_OK;
}


/* ------------------------------------------------------------------ */
/* tokens                                                              */
/* ------------------------------------------------------------------ */

/*
 * One line of the token file, from p up to last (without the newline):
 *
 *     name  role  sha256:<64 hex digits>  [ips=cidr,...] [rate=Nr/s|Nr/m]
 *                                         [queues=name,...] [disabled]
 *
 * "#" starts a comment.  NGX_OK with *tok (its name still in the line)
 * and *bad the digest as written (for the caller's message when it is a
 * duplicate), NGX_DONE for a line without a token, NGX_DECLINED with
 * *why and *bad (the offending word, bad->data NULL when there is none),
 * NGX_ERROR.  That names and digests are unique in the file is for the
 * caller.
 */

ngx_int_t
ngx_http_taskgw_token_parse_line(ngx_pool_t *pool, u_char *p, u_char *last,
    ngx_http_taskgw_token_t *tok, ngx_str_t *bad, const char **why)
{
    u_char     *hash;
    ngx_int_t   rate, rc;
    ngx_str_t   w[8], v;
    ngx_uint_t  n, i;

    hash = ngx_strlchr(p, last, '#');
    if (hash) {
        last = hash;
    }

    n = 0;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == '\r')) {
            p++;
        }

        if (p == last) {
            break;
        }

        if (n == 8) {
            *why = "too many fields";
            ngx_str_null(bad);
            return NGX_DECLINED;
        }

        w[n].data = p;

        while (p < last && *p != ' ' && *p != '\t' && *p != '\r') {
            p++;
        }

        w[n].len = p - w[n].data;
        n++;
    }

    if (n == 0) {
        return NGX_DONE;
    }

    if (n < 3) {
        *why = "expected \"name role sha256:digest [options]\"";
        ngx_str_null(bad);
        return NGX_DECLINED;
    }

    ngx_memzero(tok, sizeof(ngx_http_taskgw_token_t));

    *bad = w[0];

    if (ngx_http_taskgw_valid_name(&w[0], NGX_HTTP_TASKGW_TOKEN_NAME_MAX, 0)
        != NGX_OK)
    {
        *why = "invalid token name (1-64 characters of A-Z a-z 0-9 . _ -)";
        return NGX_DECLINED;
    }

    tok->name = w[0];

    *bad = w[1];
    tok->role = ngx_http_taskgw_parse_role(&w[1]);

    if (tok->role == NGX_HTTP_TASKGW_ROLE_NONE) {
        *why = "unknown role (dev, ops or admin)";
        return NGX_DECLINED;
    }

    *bad = w[2];

    if (ngx_http_taskgw_parse_digest(&w[2], tok->digest) != NGX_OK) {
        *why = "malformed digest (sha256: and 64 hex digits)";
        return NGX_DECLINED;
    }

    /*
     * an option is compared only as far as its word goes: the last word
     * of a file without a final newline ends where the buffer does
     */

    for (i = 3; i < n; i++) {
        *bad = w[i];

        if (w[i].len >= 4 && ngx_strncmp(w[i].data, "ips=", 4) == 0) {
            if (tok->ips) {
                goto duplicate;
            }

            v.data = w[i].data + 4;
            v.len = w[i].len - 4;

            rc = ngx_http_taskgw_parse_ips(pool, &v, &tok->ips, bad);
            if (rc != NGX_OK) {
                *why = "invalid address or CIDR range";
                return rc;
            }

            continue;
        }

        if (w[i].len >= 5 && ngx_strncmp(w[i].data, "rate=", 5) == 0) {
            if (tok->rate) {
                goto duplicate;
            }

            v.data = w[i].data + 5;
            v.len = w[i].len - 5;

            rate = ngx_http_taskgw_token_parse_rate(&v);
            if (rate == NGX_ERROR) {
                *why = "invalid rate (Nr/s or Nr/m, N at least 1)";
                return NGX_DECLINED;
            }

            tok->rate = rate;
            tok->rate_period = (v.data[v.len - 1] == 'm') ? 60 : 1;
            continue;
        }

        if (w[i].len >= 7 && ngx_strncmp(w[i].data, "queues=", 7) == 0) {
            if (tok->queues) {
                goto duplicate;
            }

            v.data = w[i].data + 7;
            v.len = w[i].len - 7;

            rc = ngx_http_taskgw_parse_queues(pool, &v, &tok->queues, bad);
            if (rc != NGX_OK) {
                *why = "invalid queue name";
                return rc;
            }

            continue;
        }

        if (w[i].len == 8 && ngx_strncmp(w[i].data, "disabled", 8) == 0) {
            if (tok->disabled) {
                goto duplicate;
            }

            /* kept in the file, refused as an unknown token is (401) */
            tok->disabled = 1;
            continue;
        }

        *why = "unknown option (ips=, rate=, queues= or disabled)";
        return NGX_DECLINED;
    }

    *bad = w[2];

    return NGX_OK;

duplicate:

    *why = "duplicate option";
    return NGX_DECLINED;
}


/*
 * A run-time token from its hash fields (as Redis or the cache holds
 * them).  NGX_DECLINED with *err when a field does not parse.
 */

ngx_int_t
ngx_http_taskgw_token_from_fields(ngx_pool_t *pool, ngx_str_t *fields,
    ngx_http_taskgw_token_t *tok, const char **err)
{
    ngx_int_t   rc;
    ngx_str_t  *f, bad;

    ngx_memzero(tok, sizeof(ngx_http_taskgw_token_t));

    f = fields;

    if (ngx_http_taskgw_valid_name(&f[NGX_HTTP_TASKGW_TF_NAME],
                                   NGX_HTTP_TASKGW_TOKEN_NAME_MAX, 0)
        != NGX_OK)
    {
        *err = "invalid name";
        return NGX_DECLINED;
    }

    tok->name = f[NGX_HTTP_TASKGW_TF_NAME];

    tok->role = ngx_http_taskgw_parse_role(&f[NGX_HTTP_TASKGW_TF_ROLE]);
    if (tok->role == NGX_HTTP_TASKGW_ROLE_NONE) {
        *err = "invalid role";
        return NGX_DECLINED;
    }

    if (f[NGX_HTTP_TASKGW_TF_IPS].len) {
        rc = ngx_http_taskgw_parse_ips(pool, &f[NGX_HTTP_TASKGW_TF_IPS],
                                       &tok->ips, &bad);
        if (rc != NGX_OK) {
            *err = "invalid ips";
            return rc;
        }
    }

    if (f[NGX_HTTP_TASKGW_TF_RATE].len) {
        rc = ngx_http_taskgw_token_parse_rate(&f[NGX_HTTP_TASKGW_TF_RATE]);
        if (rc == NGX_ERROR) {
            *err = "invalid rate";
            return NGX_DECLINED;
        }

        tok->rate = rc;
        tok->rate_period =
            (f[NGX_HTTP_TASKGW_TF_RATE].data[f[NGX_HTTP_TASKGW_TF_RATE].len - 1]
             == 'm') ? 60 : 1;
    }

    if (f[NGX_HTTP_TASKGW_TF_QUEUES].len) {
        rc = ngx_http_taskgw_parse_queues(pool, &f[NGX_HTTP_TASKGW_TF_QUEUES],
                                          &tok->queues, &bad);
        if (rc != NGX_OK) {
            *err = "invalid queues";
            return rc;
        }
    }

    f = &fields[NGX_HTTP_TASKGW_TF_DISABLED];

    if ((f->len == 1 && f->data[0] == '1')
        || (f->len == 4 && ngx_strncasecmp(f->data, (u_char *) "true", 4)
                           == 0))
    {
        tok->disabled = 1;
    }

    return NGX_OK;
}


ngx_uint_t
ngx_http_taskgw_parse_role(ngx_str_t *s)
{
    ngx_uint_t  i;

    for (i = NGX_HTTP_TASKGW_ROLE_DEV; ngx_http_taskgw_roles[i].len; i++) {
        if (s->len == ngx_http_taskgw_roles[i].len
            && ngx_strncmp(s->data, ngx_http_taskgw_roles[i].data, s->len)
               == 0)
        {
            return i;
        }
    }

    return NGX_HTTP_TASKGW_ROLE_NONE;
}


/*
 * Nr/s or Nr/m, as requests per second times 1000 (as limit_req keeps it):
 * the syntax of a zone's rate=, ngx_http_taskgw_parse_rate().
 */

ngx_int_t
ngx_http_taskgw_token_parse_rate(ngx_str_t *s)
{
    ngx_http_taskgw_rate_t  rate;

    if (ngx_http_taskgw_parse_rate(s, &rate) != NGX_OK) {
        return NGX_ERROR;
    }

    return (ngx_int_t) (rate.n * 1000 / rate.period);
}


/*
 * A comma-separated list of addresses and CIDR ranges (ips=), into an
 * array of ngx_cidr_t.  NGX_DECLINED with *bad the item that is not one.
 */

ngx_int_t
ngx_http_taskgw_parse_ips(ngx_pool_t *pool, ngx_str_t *s, ngx_array_t **ips,
    ngx_str_t *bad)
{
    u_char      *p, *last, *comma;
    ngx_str_t    one;
    ngx_cidr_t  *cidr;

    *ips = ngx_array_create(pool, 2, sizeof(ngx_cidr_t));
    if (*ips == NULL) {
        return NGX_ERROR;
    }

    p = s->data;
    last = s->data + s->len;

    do {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        one.data = p;
        one.len = comma - p;
        *bad = one;

        cidr = ngx_array_push(*ips);
        if (cidr == NULL) {
            return NGX_ERROR;
        }

        if (one.len == 0 || ngx_ptocidr(&one, cidr) == NGX_ERROR) {
            return NGX_DECLINED;
        }

        p = comma + 1;

    } while (comma < last);

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_parse_queues(ngx_pool_t *pool, ngx_str_t *s,
    ngx_array_t **queues, ngx_str_t *bad)
{
    u_char     *p, *last, *comma;
    ngx_str_t   one, *q;

    *queues = ngx_array_create(pool, 2, sizeof(ngx_str_t));
    if (*queues == NULL) {
        return NGX_ERROR;
    }

    p = s->data;
    last = s->data + s->len;

    do {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        one.data = p;
        one.len = comma - p;
        *bad = one;

        if (ngx_http_taskgw_valid_name(&one, NGX_HTTP_TASKGW_QUEUE_MAX, 0)
            != NGX_OK)
        {
            return NGX_DECLINED;
        }

        q = ngx_array_push(*queues);
        if (q == NULL) {
            return NGX_ERROR;
        }

        q->data = ngx_pstrdup(pool, &one);
        if (q->data == NULL) {
            return NGX_ERROR;
        }

        q->len = one.len;

        p = comma + 1;

    } while (comma < last);

    return NGX_OK;
}


/* sha256:<64 hex digits>, either case */

static ngx_int_t
ngx_http_taskgw_parse_digest(ngx_str_t *s, u_char *digest)
{
    ngx_int_t   hi, lo;
    ngx_uint_t  i;

    if (s->len != sizeof("sha256:") - 1 + 2 * NGX_HTTP_TASKGW_DIGEST_LEN
        || ngx_strncmp(s->data, "sha256:", 7) != 0)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_TASKGW_DIGEST_LEN; i++) {
        hi = ngx_hextoi(s->data + 7 + 2 * i, 1);
        lo = ngx_hextoi(s->data + 8 + 2 * i, 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            return NGX_ERROR;
        }

        digest[i] = (u_char) (hi << 4 | lo);
    }

    return NGX_OK;
}


/* Queue names: [A-Za-z0-9._-]{1,max}; task types may also hold ':'. */

ngx_int_t
ngx_http_taskgw_valid_name(ngx_str_t *s, size_t max, ngx_uint_t colon)
{
    u_char  *p, *last;

    if (s->len == 0 || s->len > max) {
        return NGX_ERROR;
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_'
            || *p == '-' || (colon && *p == ':'))
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


/* ------------------------------------------------------------------ */
/* addresses, rates                                                    */
/* ------------------------------------------------------------------ */

/*
 * Whether an address is in one of the ranges.  An IPv4-mapped IPv6
 * address (::ffff:a.b.c.d, on a dual-stack listener) is matched as the
 * IPv4 address it is, and so is a range written that way
 * (::ffff:a.b.c.d/n, n at least 96): as the IPv4 range it is.  NGX_OK
 * when it is in, NGX_DECLINED when not.
 */

#if (NGX_HAVE_INET6)

/* the IPv4 address in the last 4 bytes of an IPv6 one, network order */

static in_addr_t
ngx_http_taskgw_v4(u_char *p)
{
    return htonl((in_addr_t) p[12] << 24 | (in_addr_t) p[13] << 16
                 | (in_addr_t) p[14] << 8 | (in_addr_t) p[15]);
}


/* whether an IPv6 range lies within ::ffff:0:0/96, the mapped IPv4 */

static ngx_uint_t
ngx_http_taskgw_cidr_v4mapped(ngx_cidr_t *cidr)
{
    ngx_uint_t  n;

    for (n = 0; n < 12; n++) {
        if (cidr->u.in6.mask.s6_addr[n] != 0xff) {
            return 0;
        }
    }

    return IN6_IS_ADDR_V4MAPPED(&cidr->u.in6.addr);
}

#endif


ngx_int_t
ngx_http_taskgw_addr_in(struct sockaddr *sa, ngx_array_t *cidrs)
{
    in_addr_t             addr;
    ngx_uint_t            i, n, family;
    ngx_cidr_t           *cidr;
#if (NGX_HAVE_INET6)
    u_char               *p, *m;
    struct in6_addr      *addr6;
#endif

    family = sa->sa_family;
    addr = 0;
#if (NGX_HAVE_INET6)
    addr6 = NULL;
#endif

    if (family == AF_INET) {
        addr = ((struct sockaddr_in *) sa)->sin_addr.s_addr;
    }

#if (NGX_HAVE_INET6)
    if (family == AF_INET6) {
        addr6 = &((struct sockaddr_in6 *) sa)->sin6_addr;

        if (IN6_IS_ADDR_V4MAPPED(addr6)) {
            family = AF_INET;
            addr = ngx_http_taskgw_v4(addr6->s6_addr);
        }
    }
#endif

    cidr = cidrs->elts;

    for (i = 0; i < cidrs->nelts; i++) {

#if (NGX_HAVE_INET6)
        if (family == AF_INET && cidr[i].family == AF_INET6
            && ngx_http_taskgw_cidr_v4mapped(&cidr[i]))
        {
            p = cidr[i].u.in6.addr.s6_addr;
            m = cidr[i].u.in6.mask.s6_addr;

            if ((addr & ngx_http_taskgw_v4(m)) == ngx_http_taskgw_v4(p)) {
                return NGX_OK;
            }

            continue;
        }
#endif

        if (cidr[i].family != family) {
            continue;
        }

        switch (family) {

#if (NGX_HAVE_INET6)
        case AF_INET6:
            for (n = 0; n < 16; n++) {
                if ((addr6->s6_addr[n] & cidr[i].u.in6.mask.s6_addr[n])
                    != cidr[i].u.in6.addr.s6_addr[n])
                {
                    break;
                }
            }

            if (n == 16) {
                return NGX_OK;
            }

            break;
#endif

        case AF_INET:
            if ((addr & cidr[i].u.in.mask) == cidr[i].u.in.addr) {
                return NGX_OK;
            }

            break;

        default: /* AF_UNIX */
            break;
        }
    }

    return NGX_DECLINED;
}


/* "10r/s" or "600r/m" (taskgw_limit_zone rate=) */

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
