/*
 * One HTTP POST with libcurl's multi-socket interface on a libuv loop:
 * used by the http handler and by webhook deliveries.  Each request has
 * its own curl multi, timer and socket polls, and reports through done
 * exactly once, after every handle it opened is closed.
 */

#ifndef TGW_HREQ_H
#define TGW_HREQ_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <uv.h>

#define TGW_USER_AGENT  "taskgw/0.1.0"

typedef struct tgw_hreq_s tgw_hreq_t;
typedef void (*tgw_hreq_cb)(tgw_hreq_t *r);

struct tgw_hreq_s {
    /* Inputs, valid until done. */
    uv_loop_t              *loop;
    const char             *url;
    const char * const     *headers;    /* "Name: value", NULL-terminated */
    const char             *body;
    size_t                  body_len;
    uint64_t                timeout_ms; /* the whole request; 0 = none */
    size_t                  max_body;   /* response bytes kept */
    int                     public_only;/* refuse loopback, private,
                                           link-local, unspecified and
                                           multicast peers (checked on the
                                           resolved address), no proxy */
    tgw_hreq_cb             done;
    void                   *data;       /* the caller's */

    /* Outputs, valid in done and until tgw_hreq_cleanup(). */
    CURLcode                rc;         /* CURLE_OK: an answer came */
    long                    status;     /* its HTTP status */
    char                   *resp;       /* its body (malloc'ed) */
    size_t                  resp_len;
    int                     truncated;  /* the body was cut at max_body */
    long                    retry_after;/* Retry-After in seconds, or -1 */
    int                     refused;    /* public_only refused the peer */
    int                     aborted;
    char                    err[CURL_ERROR_SIZE];

    /* Private. */
    CURLM                  *multi;
    CURL                   *easy;
    struct curl_slist      *hdrs;
    uv_timer_t              timer;
    struct tgw_hreq_sock_s *socks;
    int                     open_handles;
    int                     finished;
};

/* 0: done will be called; -1: out of memory (done will not be). */
int tgw_hreq_start(tgw_hreq_t *r);

/* Ends the request now (done is still called, rc is an error). */
void tgw_hreq_abort(tgw_hreq_t *r);

/* Frees the outputs. */
void tgw_hreq_cleanup(tgw_hreq_t *r);

/* 1 when the address may be reached by a public_only request. */
int tgw_addr_is_public(const struct sockaddr *sa);

/* A human text for a failed request (transport error or refusal). */
const char *tgw_hreq_error(const tgw_hreq_t *r);

#endif /* TGW_HREQ_H */
