/*
 * Connecting hiredis to a host name without blocking the loop
 * (rlookup.h).
 */

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rlookup.h"
#include "tgw_sentinel.h"

#define TGW_RLOOKUP_ADDRS  16       /* addresses of a name tried */

/*
 * One lookup, shared by the thread that runs getaddrinfo() and the loop:
 * whichever lets go of it last frees it.  The thread is detached and
 * nobody waits for it: a lookup let go (the connection closed, the
 * worker stopping) holds nothing up, and its thread ends on its own.
 */
struct tgw_rlookup_s {
    uv_async_t         async;       /* the thread's answer, on the loop */
    pthread_mutex_t    lock;        /* guards the four fields below */
    int                refs;        /* the thread, the loop (until the
                                     * async handle is closed) */
    int                dropped;     /* let go: the thread sends nothing */
    int                status;      /* getaddrinfo()'s */
    struct addrinfo   *res;         /* its answer, until used */
    tgw_rlookup_cb     cb;
    void              *data;
    tgw_rlookup_t    **slot;
    int                port;
    int                first;
    char               prefer[INET6_ADDRSTRLEN];  /* tried first */
    char               host[TGW_ADDR_HOST_MAX + 1];
};


static void
tgw_rlookup_unref(tgw_rlookup_t *lk)
{
    int refs;

    pthread_mutex_lock(&lk->lock);
    refs = --lk->refs;
    pthread_mutex_unlock(&lk->lock);
    if (refs > 0) {
        return;
    }
    pthread_mutex_destroy(&lk->lock);
    if (lk->res != NULL) {
        freeaddrinfo(lk->res);
    }
    free(lk);
}


static void
tgw_rlookup_closed(uv_handle_t *h)
{
    tgw_rlookup_unref(h->data);
}


/* A connect to the addresses of res (rlookup.h says in which order): the
 * first whose connect does not fail at once, as hiredis goes through
 * them. */
static redisAsyncContext *
tgw_rlookup_addrs(const struct addrinfo *res, int port, int first,
    const char *prefer, char *why, size_t size)
{
    const struct addrinfo *ai, *list[TGW_RLOOKUP_ADDRS];
    redisAsyncContext     *ac;
    char                   ip[NI_MAXHOST];
    int                    n = 0, k, family, start;

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
    start = first;
    for (k = 0; prefer[0] != '\0' && k < n; k++) {
        if (getnameinfo(list[k]->ai_addr, list[k]->ai_addrlen, ip,
                        sizeof(ip), NULL, 0, NI_NUMERICHOST) == 0
            && strcmp(ip, prefer) == 0)
        {
            start = k + first;
            break;
        }
    }
    snprintf(why, size, "no address");
    for (k = 0; k < n; k++) {
        ai = list[(start + k) % n];
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


/* The lookup, on its own thread: the answer goes back to the loop. */
static void *
tgw_rlookup_thread(void *arg)
{
    tgw_rlookup_t   *lk = arg;
    struct addrinfo  hints, *res = NULL;
    int              status;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    status = getaddrinfo(lk->host, NULL, &hints, &res);

    pthread_mutex_lock(&lk->lock);
    lk->status = status;
    lk->res = status == 0 ? res : NULL;
    if (!lk->dropped) {
        uv_async_send(&lk->async);
    }
    pthread_mutex_unlock(&lk->lock);
    tgw_rlookup_unref(lk);
    return NULL;
}


/* The thread answered (on the loop): connect, and say so. */
static void
tgw_rlookup_done(uv_async_t *h)
{
    tgw_rlookup_t     *lk = h->data;
    redisAsyncContext *ac = NULL;
    struct addrinfo   *res;
    int                status;
    char               why[TGW_ADDR_HOST_MAX + 128];

    pthread_mutex_lock(&lk->lock);
    status = lk->status;
    res = lk->res;
    lk->res = NULL;
    lk->dropped = 1;                /* answered once */
    pthread_mutex_unlock(&lk->lock);

    *lk->slot = NULL;
    uv_close((uv_handle_t *) &lk->async, tgw_rlookup_closed);
    if (status != 0) {
        snprintf(why, sizeof(why), "cannot resolve %s: %s", lk->host,
                 gai_strerror(status));
    } else {
        ac = tgw_rlookup_addrs(res, lk->port, lk->first, lk->prefer, why,
                               sizeof(why));
    }
    if (res != NULL) {
        freeaddrinfo(res);
    }
    lk->cb(lk->data, ac, why);
}


void
tgw_rlookup_connect(uv_loop_t *loop, const char *host, int port,
    int first, const char *prefer, tgw_rlookup_cb cb, void *data,
    tgw_rlookup_t **slot)
{
    struct in6_addr    a;
    redisAsyncContext *ac;
    tgw_rlookup_t     *lk;
    pthread_attr_t     attr;
    pthread_t          tid;
    int                rv;

    *slot = NULL;
    if (inet_pton(AF_INET, host, &a) == 1
        || inet_pton(AF_INET6, host, &a) == 1)
    {
        ac = redisAsyncConnect(host, port);
        cb(data, ac, "out of memory");
        return;
    }
    lk = calloc(1, sizeof(*lk));
    if (lk == NULL || pthread_mutex_init(&lk->lock, NULL) != 0) {
        free(lk);
        cb(data, NULL, "out of memory");
        return;
    }
    lk->cb = cb;
    lk->data = data;
    lk->slot = slot;
    lk->port = port;
    lk->first = first;
    snprintf(lk->prefer, sizeof(lk->prefer), "%s", prefer ? prefer : "");
    lk->refs = 1;                   /* the loop's, until async is closed */
    snprintf(lk->host, sizeof(lk->host), "%s", host);
    if (uv_async_init(loop, &lk->async, tgw_rlookup_done) != 0) {
        pthread_mutex_destroy(&lk->lock);
        free(lk);
        cb(data, NULL, "cannot start a host name lookup");
        return;
    }
    lk->async.data = lk;

    lk->refs++;                     /* the thread's */
    rv = pthread_attr_init(&attr);
    if (rv == 0) {
        rv = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (rv == 0) {
            rv = pthread_create(&tid, &attr, tgw_rlookup_thread, lk);
        }
        pthread_attr_destroy(&attr);
    }
    if (rv != 0) {
        lk->refs--;
        uv_close((uv_handle_t *) &lk->async, tgw_rlookup_closed);
        cb(data, NULL, "cannot start a host name lookup");
        return;
    }
    *slot = lk;
}


void
tgw_rlookup_drop(tgw_rlookup_t **slot)
{
    tgw_rlookup_t *lk = *slot;

    if (lk == NULL) {
        return;
    }
    *slot = NULL;
    pthread_mutex_lock(&lk->lock);
    lk->dropped = 1;
    pthread_mutex_unlock(&lk->lock);
    uv_close((uv_handle_t *) &lk->async, tgw_rlookup_closed);
}
