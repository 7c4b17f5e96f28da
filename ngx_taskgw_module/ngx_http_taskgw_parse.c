
/*
 * ngx_http_taskgw_parse: the parsers of client and operator input, pure
 * functions over strings (ngx_http_taskgw_parse.h says why): request
 * headers, addresses, rates (token file lines: _parse_token.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_token.h"
#include "ngx_http_taskgw_limit.h"
#include "ngx_http_taskgw_parse.h"


ngx_str_t  ngx_http_taskgw_priorities[] = {
    ngx_string("high"),
    ngx_string("normal"),
    ngx_string("low"),
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
