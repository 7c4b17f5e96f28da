
/*
 * Fuzz target: address lists, as a token's ips= and a run-time token's
 * ips field hold them (a comma-separated list), and as taskgw_allow takes
 * one address or range per directive (nginx's ngx_ptocidr(), which the
 * list parser calls for each item too).
 *
 * The input is the list.  What parses must be ranges whose address has
 * no bits outside the mask, each range must match its own address, and
 * an IPv4 range must match that address IPv4-mapped in IPv6 (as a
 * dual-stack listener sees it) too.  An item without "/" that inet_pton()
 * reads must parse, to the address inet_pton() reads.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <arpa/inet.h>
#include "ngx_http_taskgw_parse.h"
#include "ngx_fuzz.h"


static void
fuzz_check_range(ngx_cidr_t *c, ngx_array_t *ips)
{
    ngx_uint_t            n;
    struct sockaddr_in    sin;
    struct sockaddr_in6   sin6;

    ngx_memzero(&sin, sizeof(sin));
    ngx_memzero(&sin6, sizeof(sin6));

    switch (c->family) {

    case AF_INET:
        if ((c->u.in.addr & c->u.in.mask) != c->u.in.addr) {
            ngx_fuzz_fail("an IPv4 range with bits outside its mask");
        }

        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = c->u.in.addr;

        if (ngx_http_taskgw_addr_in((struct sockaddr *) &sin, ips)
            != NGX_OK)
        {
            ngx_fuzz_fail("an IPv4 range does not match its address");
        }

        /* ::ffff:a.b.c.d */

        sin6.sin6_family = AF_INET6;
        sin6.sin6_addr.s6_addr[10] = 0xff;
        sin6.sin6_addr.s6_addr[11] = 0xff;
        ngx_memcpy(&sin6.sin6_addr.s6_addr[12], &c->u.in.addr, 4);

        if (ngx_http_taskgw_addr_in((struct sockaddr *) &sin6, ips)
            != NGX_OK)
        {
            ngx_fuzz_fail("an IPv4 range does not match its address "
                          "mapped in IPv6");
        }

        break;

    case AF_INET6:
        for (n = 0; n < 16; n++) {
            if ((c->u.in6.addr.s6_addr[n] & c->u.in6.mask.s6_addr[n])
                != c->u.in6.addr.s6_addr[n])
            {
                ngx_fuzz_fail("an IPv6 range with bits outside its mask");
            }
        }

        sin6.sin6_family = AF_INET6;
        sin6.sin6_addr = c->u.in6.addr;

        if (ngx_http_taskgw_addr_in((struct sockaddr *) &sin6, ips)
            != NGX_OK)
        {
            ngx_fuzz_fail("an IPv6 range does not match its address");
        }

        break;

    default:
        ngx_fuzz_fail("a range of family %ui", c->family);
    }
}


/*
 * An address without "/" that inet_pton() reads must be the same address
 * to nginx (which also takes forms inet_pton() does not, "10.1.." for
 * 10.1.0.0 and leading zeros: nginx's own allow takes them too).  With c
 * NULL the list parser refused the item: then it must not be an IPv4
 * address to inet_pton().
 */

static void
fuzz_check_plain(ngx_pool_t *pool, ngx_str_t *item, ngx_cidr_t *c)
{
    char            *s;
    struct in_addr   a4;
    struct in6_addr  a6;

    if (ngx_strlchr(item->data, item->data + item->len, '/') != NULL) {
        return;
    }

    s = ngx_fuzz_cstr(pool, item);

    if (strlen(s) != item->len) {
        return;     /* a NUL byte: inet_pton() would read less */
    }

    if (inet_pton(AF_INET, s, &a4) == 1) {
        if (c == NULL) {
            ngx_fuzz_fail("\"%V\" is an IPv4 address nginx refuses", item);
        }

        if (c->family != AF_INET || a4.s_addr != c->u.in.addr
            || c->u.in.mask != 0xffffffff)
        {
            ngx_fuzz_fail("\"%V\" is another IPv4 address to inet_pton",
                          item);
        }

    } else if (inet_pton(AF_INET6, s, &a6) == 1) {

        /*
         * nginx refuses a "::" that stands for a single group (which
         * RFC 5952 says not to write): in its allow lists as in ours
         */

        if (c == NULL) {
            return;
        }

        if (c->family != AF_INET6
            || ngx_memcmp(&a6, &c->u.in6.addr, 16) != 0)
        {
            ngx_fuzz_fail("\"%V\" is another IPv6 address to inet_pton",
                          item);
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char       *buf, *p, *comma, *last;
    ngx_int_t     rc;
    ngx_str_t     list, bad, item;
    ngx_uint_t    i;
    ngx_cidr_t   *c, one;
    ngx_pool_t   *pool;
    ngx_array_t  *ips;

    pool = ngx_fuzz_pool();

    buf = ngx_pnalloc(pool, size ? size : 1);
    if (buf == NULL) {
        abort();
    }

    ngx_memcpy(buf, data, size);

    list.data = buf;
    list.len = size;

    rc = ngx_http_taskgw_parse_ips(pool, &list, &ips, &bad);

    if (rc == NGX_OK) {
        c = ips->elts;

        /* the items, in order, as the parser cut them */

        p = buf;
        last = buf + size;

        for (i = 0; i < ips->nelts; i++) {
            fuzz_check_range(&c[i], ips);

            comma = ngx_strlchr(p, last, ',');
            if (comma == NULL) {
                comma = last;
            }

            item.data = p;
            item.len = comma - p;

            fuzz_check_plain(pool, &item, &c[i]);

            p = comma + 1;
        }

    } else if (rc == NGX_DECLINED) {
        if (bad.data < buf || bad.data + bad.len > buf + size) {
            ngx_fuzz_fail("the offending item is not in the list");
        }

        fuzz_check_plain(pool, &bad, NULL);

    } else {
        ngx_fuzz_fail("parse_ips failed: %i", rc);
    }

    /* the whole input as one taskgw_allow value */

    if (size && ngx_ptocidr(&list, &one) != NGX_ERROR) {
        ips = ngx_array_create(pool, 1, sizeof(ngx_cidr_t));
        if (ips == NULL || (c = ngx_array_push(ips)) == NULL) {
            abort();
        }

        *c = one;
        fuzz_check_range(c, ips);
    }

    ngx_destroy_pool(pool);

    return 0;
}
