/*
 * Connecting hiredis to a host name without blocking the loop
 * (rlookup.h).
 */

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rlookup.h"
#include "tgw_sentinel.h"

#define TGW_RLOOKUP_ADDRS  16       /* addresses of a name tried */

struct tgw_rlookup_s {
    uv_getaddrinfo_t   req;
    tgw_rlookup_cb     cb;          /* NULL: let go, the answer unwanted */
    void              *data;
    tgw_rlookup_t    **slot;
    int                port;
    int                first;
    char               host[TGW_ADDR_HOST_MAX + 1];
};


/* A connect to the addresses of res (rlookup.h says in which order): the
 * first whose connect does not fail at once, as hiredis goes through
 * them. */
static redisAsyncContext *
tgw_rlookup_addrs(const struct addrinfo *res, int port, int first,
    char *why, size_t size)
{
    const struct addrinfo *ai, *list[TGW_RLOOKUP_ADDRS];
    redisAsyncContext     *ac;
    char                   ip[NI_MAXHOST];
    int                    n = 0, k, family;

    for (family = AF_INET; ; family = AF_INET6) {
        for (ai = res; ai != NULL && n < TGW_RLOOKUP_ADDRS;
             ai = ai->ai_next)
        {
            if (ai->ai_family == family) {
                list[n++] = ai;
            }
        }
        if (family == AF_INET6) {
            break;
        }
    }
    snprintf(why, size, "no address");
    for (k = 0; k < n; k++) {
        ai = list[(first + k) % n];
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof(ip), NULL, 0,
                        NI_NUMERICHOST) != 0)
        {
            continue;
        }
        ac = redisAsyncConnect(ip, port);   /* a number: no lookup */
        if (ac == NULL) {
            snprintf(why, size, "out of memory");
            return NULL;
        }
        if (!ac->err) {
            return ac;
        }
        snprintf(why, size, "%s", ac->errstr);
        redisAsyncFree(ac);
    }
    return NULL;
}


static void
tgw_rlookup_done(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    tgw_rlookup_t     *lk = req->data;
    redisAsyncContext *ac = NULL;
    char               why[TGW_ADDR_HOST_MAX + 128];

    if (lk->cb != NULL) {
        *lk->slot = NULL;
        if (status != 0) {
            snprintf(why, sizeof(why), "cannot resolve %s: %s", lk->host,
                     uv_strerror(status));
        } else {
            ac = tgw_rlookup_addrs(res, lk->port, lk->first, why,
                                   sizeof(why));
        }
        lk->cb(lk->data, ac, why);
    }
    uv_freeaddrinfo(res);
    free(lk);
}


void
tgw_rlookup_connect(uv_loop_t *loop, const char *host, int port,
    int first, tgw_rlookup_cb cb, void *data, tgw_rlookup_t **slot)
{
    struct addrinfo    hints;
    struct in6_addr    a;
    redisAsyncContext *ac;
    tgw_rlookup_t     *lk;

    *slot = NULL;
    if (inet_pton(AF_INET, host, &a) == 1
        || inet_pton(AF_INET6, host, &a) == 1)
    {
        ac = redisAsyncConnect(host, port);
        cb(data, ac, "out of memory");
        return;
    }
    lk = calloc(1, sizeof(*lk));
    if (lk == NULL) {
        cb(data, NULL, "out of memory");
        return;
    }
    lk->cb = cb;
    lk->data = data;
    lk->slot = slot;
    lk->port = port;
    lk->first = first;
    lk->req.data = lk;
    snprintf(lk->host, sizeof(lk->host), "%s", host);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    if (uv_getaddrinfo(loop, &lk->req, tgw_rlookup_done, lk->host, NULL,
                       &hints) != 0)
    {
        free(lk);
        cb(data, NULL, "cannot start a host name lookup");
        return;
    }
    *slot = lk;
}


void
tgw_rlookup_drop(tgw_rlookup_t **slot)
{
    tgw_rlookup_t *lk = *slot;

    if (lk != NULL) {
        *slot = NULL;
        lk->cb = NULL;
        uv_cancel((uv_req_t *) &lk->req);
    }
}
