/*
 * tgw_sentinel: sentinel addresses and replies (tgw_sentinel.h).
 */

#include <stdio.h>
#include <string.h>

#include "tgw_sentinel.h"
#include "tgw_text.h"


int
tgw_addr_parse(const char *s, size_t len, tgw_addr_t *a)
{
    const char  *h, *colon, *end = s + len;
    size_t       hlen;
    int64_t      port;

    if (len == 0) {
        return -1;
    }

    if (s[0] == '[') {
        h = s + 1;
        colon = memchr(s, ']', len);
        if (colon == NULL || colon + 1 == end || colon[1] != ':') {
            return -1;
        }
        hlen = (size_t) (colon - h);
        colon++;
        if (memchr(h, ':', hlen) == NULL) {
            return -1;                  /* brackets are for IPv6 only */
        }

    } else {
        h = s;
        colon = memchr(s, ':', len);
        if (colon == NULL || memchr(colon + 1, ':', (size_t) (end - colon - 1))
            != NULL)
        {
            return -1;                  /* no port, or a bare IPv6 */
        }
        hlen = (size_t) (colon - s);
    }

    if (hlen == 0 || hlen > TGW_ADDR_HOST_MAX) {
        return -1;
    }

    if (colon + 1 == end || colon[1] == '-'
        || tgw_parse_int64(colon + 1, (size_t) (end - colon - 1), &port) != 0
        || port < 1 || port > 65535)
    {
        return -1;
    }

    memcpy(a->host, h, hlen);
    a->host[hlen] = '\0';
    if (!tgw_valid_word(a->host, TGW_ADDR_HOST_MAX, s[0] == '[')) {
        return -1;
    }

    a->port = (int) port;
    return 0;
}


void
tgw_addr_format(const tgw_addr_t *a, char *buf, size_t size)
{
    if (strchr(a->host, ':') != NULL) {
        snprintf(buf, size, "[%s]:%d", a->host, a->port);
    } else {
        snprintf(buf, size, "%s:%d", a->host, a->port);
    }
}


int
tgw_addr_equal(const tgw_addr_t *a, const tgw_addr_t *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}


int
tgw_sentinel_parse_list(const char *s, tgw_addr_t *out, int max,
    char *err, size_t errlen)
{
    const char  *p, *comma;
    size_t       len;
    int          n = 0;

    if (*s == '\0') {
        snprintf(err, errlen, "empty sentinel list");
        return -1;
    }

    for (p = s; ; p = comma + 1) {
        comma = strchr(p, ',');
        len = comma ? (size_t) (comma - p) : strlen(p);

        if (len == 0) {
            snprintf(err, errlen, "empty address in sentinel list \"%s\"", s);
            return -1;
        }

        if (n == max) {
            snprintf(err, errlen, "more than %d sentinels in \"%s\"", max, s);
            return -1;
        }

        if (tgw_addr_parse(p, len, &out[n]) != 0) {
            snprintf(err, errlen, "bad sentinel address \"%.*s\" (want "
                     "host:port or [v6]:port)", (int) len, p);
            return -1;
        }
        n++;

        if (comma == NULL) {
            return n;
        }
    }
}


int
tgw_master_name_ok(const char *name)
{
    return tgw_valid_word(name, TGW_MASTER_NAME_MAX, 1);
}


int
tgw_sentinel_master_reply(const redisReply *r, tgw_addr_t *a,
    char *why, size_t size)
{
    const redisReply  *h, *p;
    int64_t            port;

    if (r == NULL) {
        snprintf(why, size, "no reply");
        return -1;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, size, "%.*s", (int) r->len, r->str);
        return -1;
    }

    if (r->type == REDIS_REPLY_NIL) {
        snprintf(why, size, "the sentinel does not know the master name");
        return -1;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        goto bad;
    }

    h = r->element[0];
    p = r->element[1];
    if (h->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_STRING
        || h->len == 0 || h->len > TGW_ADDR_HOST_MAX
        || memchr(h->str, '\0', h->len) != NULL
        || tgw_parse_int64(p->str, p->len, &port) != 0
        || port < 1 || port > 65535)
    {
        goto bad;
    }

    memcpy(a->host, h->str, h->len);
    a->host[h->len] = '\0';

    /* no control bytes or spaces: the host is logged and connected to */
    if (!tgw_valid_word(a->host, TGW_ADDR_HOST_MAX, 1)) {
        goto bad;
    }

    a->port = (int) port;
    return 0;

bad:

    snprintf(why, size, "malformed reply to SENTINEL "
             "get-master-addr-by-name");
    return -1;
}


int
tgw_role_reply(const redisReply *r, char *why, size_t size)
{
    const redisReply  *role;

    if (r == NULL) {
        snprintf(why, size, "no reply");
        return -1;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, size, "ROLE: %.*s", (int) r->len, r->str);
        return -1;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1
        || r->element[0]->type != REDIS_REPLY_STRING)
    {
        snprintf(why, size, "malformed reply to ROLE");
        return -1;
    }

    role = r->element[0];
    if (role->len == 6 && memcmp(role->str, "master", 6) == 0) {
        return 1;
    }

    snprintf(why, size, "the server is a %.*s, not a master",
             (int) (role->len > 32 ? 32 : role->len), role->str);
    return 0;
}
