/*
 * The http handler: POST the payload to the handler's URL with libcurl's
 * multi-socket interface driven by the run's libuv loop.
 *
 * The rule: a 2xx answer within the timeout is success and its body the
 * result; 408, 429, 5xx and transport errors (refused, reset, DNS,
 * timeout) are retryable; any other status (3xx is not followed, other
 * 4xx) is permanent.
 */

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

#define TGW_USER_AGENT     "taskgw/0.1.0"
#define TGW_HTTP_ERR_BODY  512      /* bytes of a failing body in error */

/* A socket curl asked us to watch. */
typedef struct tgw_http_sock_s {
    struct tgw_http_sock_s *next;
    tgw_run_t              *run;
    curl_socket_t           fd;
    uv_poll_t               poll;
    int                     closing;
} tgw_http_sock_t;

static void tgw_http_check(tgw_run_t *run);


static void
tgw_http_error(tgw_run_t *run, tgw_run_status_t status, const char *fmt, ...)
{
    va_list ap;
    char   *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
    }
    va_end(ap);
    free(run->error);
    run->error = s;
    run->status = status;
}

/* ------------------------------------------------------------------------
 * libcurl <-> libuv
 * ------------------------------------------------------------------------ */

static void
tgw_http_sock_closed(uv_handle_t *h)
{
    tgw_http_sock_t *s = h->data;
    tgw_run_t       *run = s->run;

    free(s);
    tgw_run_handle_gone(run);   /* done after the run's last handle */
}


static void
tgw_http_sock_close(tgw_http_sock_t *s)
{
    tgw_http_sock_t **pp;

    for (pp = &s->run->socks; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    s->closing = 1;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *) &s->poll, tgw_http_sock_closed);
}


static void
tgw_http_on_poll(uv_poll_t *h, int status, int events)
{
    tgw_http_sock_t *s = h->data;
    tgw_run_t       *run = s->run;
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
    curl_multi_socket_action(run->multi, s->fd, flags, &running);
    tgw_http_check(run);
}


/* CURLMOPT_SOCKETFUNCTION: watch, re-watch or forget a socket. */
static int
tgw_http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
    tgw_run_t       *run = userp;
    tgw_http_sock_t *s = socketp;
    int              events = 0;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(run->multi, fd, NULL);
            tgw_http_sock_close(s);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            return -1;
        }
        if (uv_poll_init_socket(run->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->run = run;
        s->fd = fd;
        s->poll.data = s;
        s->next = run->socks;
        run->socks = s;
        run->open_handles++;
        curl_multi_assign(run->multi, fd, s);
    }
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
        events |= UV_READABLE;
    }
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) {
        events |= UV_WRITABLE;
    }
    uv_poll_start(&s->poll, events, tgw_http_on_poll);
    return 0;
}


static void
tgw_http_on_timer(uv_timer_t *t)
{
    tgw_run_t *run = t->data;
    int        running;

    curl_multi_socket_action(run->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    tgw_http_check(run);
}


/* CURLMOPT_TIMERFUNCTION: when curl wants to be called without I/O. */
static int
tgw_http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    tgw_run_t *run = userp;

    if (timeout_ms < 0) {
        uv_timer_stop(&run->timer);
    } else {
        uv_timer_start(&run->timer, tgw_http_on_timer,
                       (uint64_t) timeout_ms, 0);
    }
    return 0;
}


/* No socket of ours may reach a child process. */
static int
tgw_http_sockopt_cb(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return CURL_SOCKOPT_OK;
}


/* The response body: up to result_max kept, the rest read and dropped. */
static size_t
tgw_http_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    tgw_run_t *run = userp;
    size_t     n = size * nmemb, keep;
    char      *grown;

    keep = run->result_max - run->output_len;
    if (n > keep) {
        run->truncated = 1;
    } else {
        keep = n;
    }
    if (keep > 0) {
        grown = realloc(run->output, run->output_len + keep + 1);
        if (grown == NULL) {
            run->truncated = 1;
            return n;
        }
        run->output = grown;
        memcpy(run->output + run->output_len, data, keep);
        run->output_len += keep;
        run->output[run->output_len] = '\0';
    }
    return n;
}

/* ------------------------------------------------------------------------
 * Completion
 * ------------------------------------------------------------------------ */

/* Applies the status rule to a finished transfer. */
static void
tgw_http_outcome(tgw_run_t *run, CURLcode rc)
{
    long  code = 0;
    char  body[TGW_HTTP_ERR_BODY + 1];
    size_t n;

    if (run->aborted) {
        tgw_http_error(run, TGW_RUN_RETRYABLE, "aborted at shutdown");
        return;
    }
    if (rc != CURLE_OK) {
        tgw_http_error(run, TGW_RUN_RETRYABLE, "%s%s",
                       rc == CURLE_OPERATION_TIMEDOUT ? "timeout: " : "",
                       run->curl_error && run->curl_error[0]
                       ? run->curl_error : curl_easy_strerror(rc));
        return;
    }
    curl_easy_getinfo(run->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code <= 299) {
        run->status = TGW_RUN_SUCCESS;
        return;
    }

    /* A failing answer: its status and the start of its body explain. */
    n = run->output_len < TGW_HTTP_ERR_BODY ? run->output_len
                                            : TGW_HTTP_ERR_BODY;
    if (run->output) {
        memcpy(body, run->output, n);
    }
    body[n] = '\0';
    tgw_http_error(run, (code == 408 || code == 429 || code >= 500)
                        ? TGW_RUN_RETRYABLE : TGW_RUN_PERMANENT,
                   "HTTP %ld%s%s", code, n ? ": " : "", body);
    free(run->output);
    run->output = NULL;
    run->output_len = 0;
    run->truncated = 0;
}


/* The transfer is over: release curl, then every handle; run.c calls done
 * after the last close. */
static void
tgw_http_finish(tgw_run_t *run, CURLcode rc)
{
    tgw_http_sock_t *s, *next;

    if (run->http_done) {
        return;
    }
    run->http_done = 1;
    tgw_http_outcome(run, rc);

    curl_multi_remove_handle(run->multi, run->easy);
    curl_easy_cleanup(run->easy);
    curl_multi_cleanup(run->multi);     /* may close sockets (REMOVE) */
    curl_slist_free_all(run->headers);
    free(run->curl_error);
    run->easy = NULL;
    run->multi = NULL;
    run->headers = NULL;
    run->curl_error = NULL;

    for (s = run->socks; s; s = next) {
        next = s->next;
        tgw_http_sock_close(s);
    }
    uv_timer_stop(&run->timer);
    tgw_run_close_handle(run, (uv_handle_t *) &run->timer);
}


static void
tgw_http_check(tgw_run_t *run)
{
    CURLMsg *m;
    int      left;

    while (run->multi && (m = curl_multi_info_read(run->multi, &left))) {
        if (m->msg == CURLMSG_DONE) {
            tgw_http_finish(run, m->data.result);
            return;
        }
    }
}

/* ------------------------------------------------------------------------
 * Start and abort
 * ------------------------------------------------------------------------ */

int
tgw_http_start(tgw_run_t *run)
{
    const tgw_handler_conf_t *h = run->handler;
    struct curl_slist        *l;
    char                     *hdr = NULL;
    uint64_t                  timeout = h->http_timeout_ms;
    int                       ok = 1;

    if (h->timeout_ms && h->timeout_ms < timeout) {
        timeout = h->timeout_ms;
    }

    run->curl_error = calloc(1, CURL_ERROR_SIZE);
    run->multi = curl_multi_init();
    run->easy = curl_easy_init();
    if (run->curl_error == NULL || run->multi == NULL || run->easy == NULL) {
        goto nomem;
    }

    /* Headers: the payload's content type and the task's identity. */
    if (asprintf(&hdr, "Content-Type: %s", run->content_type
                 && *run->content_type ? run->content_type
                 : "application/octet-stream") < 0)
    {
        goto nomem;
    }
    l = curl_slist_append(NULL, hdr);
    free(hdr);
    if (l == NULL) {
        goto nomem;
    }
    run->headers = l;
    if (asprintf(&hdr, "X-Task-Id: %s", run->task_id) < 0) {
        goto nomem;
    }
    l = curl_slist_append(run->headers, hdr);
    free(hdr);
    if (l == NULL) {
        goto nomem;
    }
    run->headers = l;
    if (asprintf(&hdr, "X-Task-Attempt: %d", run->attempt) < 0) {
        goto nomem;
    }
    l = curl_slist_append(run->headers, hdr);
    free(hdr);
    if (l == NULL) {
        goto nomem;
    }
    run->headers = l;
    /* no "Expect: 100-continue" round trip */
    l = curl_slist_append(run->headers, "Expect:");
    if (l == NULL) {
        goto nomem;
    }
    run->headers = l;

    ok &= curl_easy_setopt(run->easy, CURLOPT_URL, h->http_url) == CURLE_OK;
    ok &= curl_easy_setopt(run->easy, CURLOPT_PROTOCOLS_STR, "http,https")
          == CURLE_OK;
    ok &= curl_easy_setopt(run->easy, CURLOPT_POST, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(run->easy, CURLOPT_POSTFIELDS, run->payload)
          == CURLE_OK;
    ok &= curl_easy_setopt(run->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                           (curl_off_t) run->payload_len) == CURLE_OK;
    ok &= curl_easy_setopt(run->easy, CURLOPT_HTTPHEADER, run->headers)
          == CURLE_OK;
    ok &= curl_easy_setopt(run->easy, CURLOPT_USERAGENT, TGW_USER_AGENT)
          == CURLE_OK;
    ok &= curl_easy_setopt(run->easy, CURLOPT_TIMEOUT_MS, (long) timeout)
          == CURLE_OK;
    ok &= curl_easy_setopt(run->easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(run->easy, CURLOPT_FOLLOWLOCATION, 0L)
          == CURLE_OK;
    ok &= curl_easy_setopt(run->easy, CURLOPT_ERRORBUFFER, run->curl_error)
          == CURLE_OK;
    ok &= curl_easy_setopt(run->easy, CURLOPT_WRITEFUNCTION,
                           tgw_http_write_cb) == CURLE_OK;
    ok &= curl_easy_setopt(run->easy, CURLOPT_WRITEDATA, run) == CURLE_OK;
    ok &= curl_easy_setopt(run->easy, CURLOPT_SOCKOPTFUNCTION,
                           tgw_http_sockopt_cb) == CURLE_OK;
    ok &= curl_multi_setopt(run->multi, CURLMOPT_SOCKETFUNCTION,
                            tgw_http_socket_cb) == CURLM_OK;
    ok &= curl_multi_setopt(run->multi, CURLMOPT_SOCKETDATA, run)
          == CURLM_OK;
    ok &= curl_multi_setopt(run->multi, CURLMOPT_TIMERFUNCTION,
                            tgw_http_timer_cb) == CURLM_OK;
    ok &= curl_multi_setopt(run->multi, CURLMOPT_TIMERDATA, run)
          == CURLM_OK;
    if (!ok) {
        goto nomem;
    }

    uv_timer_init(run->loop, &run->timer);
    run->timer.data = run;
    run->open_handles++;

    /* Adding the transfer arms curl's timer; the transfer starts there. */
    if (curl_multi_add_handle(run->multi, run->easy) != CURLM_OK) {
        tgw_http_finish(run, CURLE_OUT_OF_MEMORY);
    }
    return 0;

nomem:
    curl_slist_free_all(run->headers);
    if (run->easy) {
        curl_easy_cleanup(run->easy);
    }
    if (run->multi) {
        curl_multi_cleanup(run->multi);
    }
    free(run->curl_error);
    run->headers = NULL;
    run->easy = NULL;
    run->multi = NULL;
    run->curl_error = NULL;
    return -1;
}


void
tgw_http_abort(tgw_run_t *run)
{
    if (run->multi && !run->http_done) {
        tgw_http_finish(run, CURLE_ABORTED_BY_CALLBACK);
    }
}
