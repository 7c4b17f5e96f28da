/*
 * HTTP POSTs over libcurl multi-socket driven by libuv (hreq.h).
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "hreq.h"

/* A socket curl asked us to watch. */
typedef struct tgw_hreq_sock_s {
    struct tgw_hreq_sock_s *next;
    tgw_hreq_t             *r;
    curl_socket_t           fd;
    uv_poll_t               poll;
} tgw_hreq_sock_t;

static void tgw_hreq_check(tgw_hreq_t *r);


static void
tgw_hreq_gone(tgw_hreq_t *r)
{
    if (--r->open_handles == 0) {
        r->done(r);
    }
}


static void
tgw_hreq_timer_closed(uv_handle_t *h)
{
    tgw_hreq_gone(h->data);
}

/* ------------------------------------------------------------------------
 * Addresses a public_only request may not reach
 * ------------------------------------------------------------------------ */

static int
tgw_v4_is_public(const unsigned char *a)
{
    return !(a[0] == 0                                  /* this network */
             || a[0] == 10                              /* private */
             || a[0] == 127                             /* loopback */
             || (a[0] == 100 && (a[1] & 0xc0) == 64)    /* shared CGNAT */
             || (a[0] == 169 && a[1] == 254)            /* link-local */
             || (a[0] == 172 && (a[1] & 0xf0) == 16)    /* private */
             || (a[0] == 192 && a[1] == 168)            /* private */
             || (a[0] == 192 && a[1] == 0 && a[2] == 0) /* IETF protocol */
             || a[0] >= 224);                           /* multicast,
                                                           reserved */
}


int
tgw_addr_is_public(const struct sockaddr *sa)
{
    static const unsigned char mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
    };
    static const unsigned char nat64[12] = {   /* RFC 6052 well-known */
        0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0
    };
    const unsigned char *a;

    if (sa->sa_family == AF_INET) {
        a = (const unsigned char *)
            &((const struct sockaddr_in *) sa)->sin_addr;
        return tgw_v4_is_public(a);
    }
    if (sa->sa_family != AF_INET6) {
        return 0;
    }
    a = ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
    if (memcmp(a, mapped, 12) == 0) {
        return tgw_v4_is_public(a + 12);            /* ::ffff:a.b.c.d */
    }
    if (memcmp(a, nat64, 12) == 0) {
        return tgw_v4_is_public(a + 12);            /* 64:ff9b::a.b.c.d */
    }
    if (a[0] == 0) {
        return 0;           /* ::, ::1, IPv4-compatible and the like */
    }
    if (a[0] == 0x20 && a[1] == 0x02) {
        return tgw_v4_is_public(a + 2);             /* 6to4 2002:AABB:CCDD:: */
    }
    return !((a[0] & 0xfe) == 0xfc                  /* unique local */
             || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)  /* link-local */
             || (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)  /* site-local */
             || a[0] == 0xff);                      /* multicast */
}


/*
 * Every socket is made here: with CLOEXEC (no child inherits it), and,
 * for a public_only request, only after the resolved peer passed the
 * check, so DNS cannot smuggle in a private address.
 */
static curl_socket_t
tgw_hreq_open_socket(void *clientp, curlsocktype purpose,
    struct curl_sockaddr *addr)
{
    tgw_hreq_t *r = clientp;

    if (r->public_only && !tgw_addr_is_public(&addr->addr)) {
        r->refused = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC,
                  addr->protocol);
}

/* ------------------------------------------------------------------------
 * libcurl <-> libuv
 * ------------------------------------------------------------------------ */

static void
tgw_hreq_sock_closed(uv_handle_t *h)
{
    tgw_hreq_sock_t *s = h->data;
    tgw_hreq_t      *r = s->r;

    free(s);
    tgw_hreq_gone(r);
}


static void
tgw_hreq_sock_close(tgw_hreq_sock_t *s)
{
    tgw_hreq_sock_t **pp;

    for (pp = &s->r->socks; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *) &s->poll, tgw_hreq_sock_closed);
}


static void
tgw_hreq_on_poll(uv_poll_t *h, int status, int events)
{
    tgw_hreq_sock_t *s = h->data;
    tgw_hreq_t      *r = s->r;
    int              flags = 0, running;

    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    }
    if (events & UV_READABLE) {
        flags |= CURL_CSELECT_IN;
    }
    if (events & UV_WRITABLE) {
        flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(r->multi, s->fd, flags, &running);
    tgw_hreq_check(r);
}


/* CURLMOPT_SOCKETFUNCTION: watch, re-watch or forget a socket. */
static int
tgw_hreq_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
    tgw_hreq_t      *r = userp;
    tgw_hreq_sock_t *s = socketp;
    int              events = 0;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(r->multi, fd, NULL);
            tgw_hreq_sock_close(s);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            return -1;
        }
        if (uv_poll_init_socket(r->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->r = r;
        s->fd = fd;
        s->poll.data = s;
        s->next = r->socks;
        r->socks = s;
        r->open_handles++;
        curl_multi_assign(r->multi, fd, s);
    }
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
        events |= UV_READABLE;
    }
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) {
        events |= UV_WRITABLE;
    }
    uv_poll_start(&s->poll, events, tgw_hreq_on_poll);
    return 0;
}


static void
tgw_hreq_on_timer(uv_timer_t *t)
{
    tgw_hreq_t *r = t->data;
    int         running;

    curl_multi_socket_action(r->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    tgw_hreq_check(r);
}


/* CURLMOPT_TIMERFUNCTION: when curl wants to be called without I/O. */
static int
tgw_hreq_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    tgw_hreq_t *r = userp;

    if (timeout_ms < 0) {
        uv_timer_stop(&r->timer);
    } else {
        uv_timer_start(&r->timer, tgw_hreq_on_timer,
                       (uint64_t) timeout_ms, 0);
    }
    return 0;
}


/* The response body: up to max_body kept, the rest read and dropped. */
static size_t
tgw_hreq_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    tgw_hreq_t *r = userp;
    size_t      n = size * nmemb, keep;
    char       *grown;

    keep = r->max_body - r->resp_len;
    if (n > keep) {
        r->truncated = 1;
    } else {
        keep = n;
    }
    if (keep > 0) {
        grown = realloc(r->resp, r->resp_len + keep + 1);
        if (grown == NULL) {
            r->truncated = 1;
            return n;
        }
        r->resp = grown;
        memcpy(r->resp + r->resp_len, data, keep);
        r->resp_len += keep;
        r->resp[r->resp_len] = '\0';
    }
    return n;
}


/* Response headers: only Retry-After matters (seconds or an HTTP date). */
static size_t
tgw_hreq_header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    tgw_hreq_t *r = userp;
    size_t      n = size * nmemb;
    char        v[64];
    size_t      len;
    time_t      when;

    if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        len = n - 12 < sizeof(v) - 1 ? n - 12 : sizeof(v) - 1;
        memcpy(v, data + 12, len);
        v[len] = '\0';
        if (strspn(v, " \t0123456789\r\n") == len && strpbrk(v, "0123456789"))
        {
            r->retry_after = strtol(v, NULL, 10);
        } else if ((when = curl_getdate(v, NULL)) != -1) {
            r->retry_after = when > time(NULL) ? (long) (when - time(NULL))
                                               : 0;
        }
    }
    return n;
}

/* ------------------------------------------------------------------------
 * Completion
 * ------------------------------------------------------------------------ */

/* The transfer is over: release curl, then every handle; done follows
 * the last close. */
static void
tgw_hreq_finish(tgw_hreq_t *r, CURLcode rc)
{
    tgw_hreq_sock_t *s, *next;

    if (r->finished) {
        return;
    }
    r->finished = 1;
    r->rc = rc;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    }

    curl_multi_remove_handle(r->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_multi_cleanup(r->multi);       /* may close sockets (REMOVE) */
    curl_slist_free_all(r->hdrs);
    r->easy = NULL;
    r->multi = NULL;
    r->hdrs = NULL;

    for (s = r->socks; s; s = next) {
        next = s->next;
        tgw_hreq_sock_close(s);
    }
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *) &r->timer, tgw_hreq_timer_closed);
}


static void
tgw_hreq_check(tgw_hreq_t *r)
{
    CURLMsg *m;
    int      left;

    while (r->multi && (m = curl_multi_info_read(r->multi, &left))) {
        if (m->msg == CURLMSG_DONE) {
            tgw_hreq_finish(r, m->data.result);
            return;
        }
    }
}

/* ------------------------------------------------------------------------
 * Start, abort, cleanup
 * ------------------------------------------------------------------------ */

int
tgw_hreq_start(tgw_hreq_t *r)
{
    const char * const *h;
    struct curl_slist  *l;
    int                 ok = 1;

    r->rc = CURLE_OK;
    r->status = 0;
    r->resp = NULL;
    r->resp_len = 0;
    r->truncated = 0;
    r->retry_after = -1;
    r->refused = 0;
    r->aborted = 0;
    r->err[0] = '\0';
    r->socks = NULL;
    r->open_handles = 0;
    r->finished = 0;
    r->hdrs = NULL;

    r->multi = curl_multi_init();
    r->easy = curl_easy_init();
    if (r->multi == NULL || r->easy == NULL) {
        goto nomem;
    }
    for (h = r->headers; h && *h; h++) {
        l = curl_slist_append(r->hdrs, *h);
        if (l == NULL) {
            goto nomem;
        }
        r->hdrs = l;
    }
    l = curl_slist_append(r->hdrs, "Expect:");  /* no 100-continue wait */
    if (l == NULL) {
        goto nomem;
    }
    r->hdrs = l;

    ok &= curl_easy_setopt(r->easy, CURLOPT_URL, r->url) == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https")
          == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_POST, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body ? r->body
                                                                : "")
          == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                           (curl_off_t) r->body_len) == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs)
          == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_USERAGENT, TGW_USER_AGENT)
          == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long) r->timeout_ms)
          == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->err)
          == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, tgw_hreq_write_cb)
          == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r) == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION,
                           tgw_hreq_header_cb) == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r) == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_OPENSOCKETFUNCTION,
                           tgw_hreq_open_socket) == CURLE_OK;
    ok &= curl_easy_setopt(r->easy, CURLOPT_OPENSOCKETDATA, r) == CURLE_OK;
    if (r->public_only) {
        ok &= curl_easy_setopt(r->easy, CURLOPT_PROXY, "") == CURLE_OK;
    }
    ok &= curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION,
                            tgw_hreq_socket_cb) == CURLM_OK;
    ok &= curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r) == CURLM_OK;
    ok &= curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION,
                            tgw_hreq_timer_cb) == CURLM_OK;
    ok &= curl_multi_setopt(r->multi, CURLMOPT_TIMERDATA, r) == CURLM_OK;
    if (!ok) {
        goto nomem;
    }

    uv_timer_init(r->loop, &r->timer);
    r->timer.data = r;
    r->open_handles = 1;

    /* Adding the transfer arms curl's timer; the transfer starts there. */
    if (curl_multi_add_handle(r->multi, r->easy) != CURLM_OK) {
        tgw_hreq_finish(r, CURLE_OUT_OF_MEMORY);
    }
    return 0;

nomem:
    curl_slist_free_all(r->hdrs);
    if (r->easy) {
        curl_easy_cleanup(r->easy);
    }
    if (r->multi) {
        curl_multi_cleanup(r->multi);
    }
    r->hdrs = NULL;
    r->easy = NULL;
    r->multi = NULL;
    return -1;
}


void
tgw_hreq_abort(tgw_hreq_t *r)
{
    if (r->multi && !r->finished) {
        r->aborted = 1;
        tgw_hreq_finish(r, CURLE_ABORTED_BY_CALLBACK);
    }
}


void
tgw_hreq_cleanup(tgw_hreq_t *r)
{
    free(r->resp);
    r->resp = NULL;
    r->resp_len = 0;
}


const char *
tgw_hreq_error(const tgw_hreq_t *r)
{
    if (r->refused) {
        return "refused: the address is not public";
    }
    if (r->aborted) {
        return "aborted";
    }
    return r->err[0] ? r->err : curl_easy_strerror(r->rc);
}
