/*
 * The http handler against a small HTTP server on the same libuv loop:
 * 2xx success with the body as the result, the request it sends (method,
 * headers, body), 408/429/5xx and transport errors retryable, other
 * statuses permanent, redirects not followed, timeout, body limit.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <uv.h>

#include "run.h"
#include "tap.h"

static uv_loop_t  loop;
static uv_tcp_t   server;
static int        port;
static int        done_calls;
static char       last_req[8192];   /* the last complete request seen */
static int        open_conns;
static uint64_t   abort_after_ms;   /* > 0: abort the next run after it */

/* ------------------------------------------------------------------------
 * A tiny HTTP/1.1 server: one request per connection, answer by path.
 * ------------------------------------------------------------------------ */

typedef struct {
    uv_tcp_t    tcp;
    uv_write_t  wr;
    char        buf[8192];
    size_t      len;
    char       *resp;
} conn_t;


static void
conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;

    free(c->resp);
    free(c);
    open_conns--;
}


static void
conn_written(uv_write_t *req, int status)
{
    conn_t *c = req->data;

    uv_close((uv_handle_t *) &c->tcp, conn_closed);
}


static void
conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;

    buf->base = c->buf + c->len;
    buf->len = sizeof(c->buf) - c->len - 1;
}


static void
respond(conn_t *c, const char *status, const char *extra, const char *body,
    size_t body_len)
{
    uv_buf_t b;
    int      n;

    n = asprintf(&c->resp, "HTTP/1.1 %s\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n%s\r\n", status, body_len, extra);
    if (n < 0) {
        exit(2);
    }
    c->resp = realloc(c->resp, (size_t) n + body_len);
    memcpy(c->resp + n, body, body_len);
    b = uv_buf_init(c->resp, (unsigned) ((size_t) n + body_len));
    c->wr.data = c;
    uv_write(&c->wr, (uv_stream_t *) &c->tcp, &b, 1, conn_written);
}


static void
conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn_t     *c = s->data;
    char       *end, *cl, path[256];
    size_t      hlen, blen = 0;
    static char big[100000];

    if (n < 0) {
        uv_close((uv_handle_t *) s, conn_closed);
        return;
    }
    c->len += (size_t) n;
    c->buf[c->len] = '\0';
    end = strstr(c->buf, "\r\n\r\n");
    if (end == NULL) {
        return;
    }
    hlen = (size_t) (end + 4 - c->buf);
    cl = strcasestr(c->buf, "\r\nContent-Length:");
    if (cl && cl < end) {
        blen = strtoul(cl + 17, NULL, 10);
    }
    if (c->len < hlen + blen) {
        return;
    }
    uv_read_stop(s);
    memcpy(last_req, c->buf, c->len + 1);
    if (sscanf(c->buf, "%*s %255s", path) != 1) {
        path[0] = '\0';
    }

    if (strcmp(path, "/ok") == 0) {
        respond(c, "200 OK", "Content-Type: application/json\r\n",
                "{\"ok\":true}", 11);
    } else if (strcmp(path, "/echo") == 0) {
        respond(c, "201 Created", "", c->buf + hlen, blen);
    } else if (strcmp(path, "/e500") == 0) {
        respond(c, "500 Internal Server Error", "", "boom", 4);
    } else if (strcmp(path, "/e503") == 0) {
        respond(c, "503 Service Unavailable", "", "", 0);
    } else if (strcmp(path, "/e429") == 0) {
        respond(c, "429 Too Many Requests", "", "slow down", 9);
    } else if (strcmp(path, "/e408") == 0) {
        respond(c, "408 Request Timeout", "", "", 0);
    } else if (strcmp(path, "/e404") == 0) {
        respond(c, "404 Not Found", "", "nope", 4);
    } else if (strcmp(path, "/e422") == 0) {
        respond(c, "422 Unprocessable Entity", "", "bad field", 9);
    } else if (strcmp(path, "/r301") == 0) {
        respond(c, "301 Moved Permanently", "Location: /ok\r\n", "", 0);
    } else if (strcmp(path, "/big") == 0) {
        memset(big, 'b', sizeof(big));
        respond(c, "200 OK", "", big, sizeof(big));
    } else if (strcmp(path, "/slow") == 0) {
        /* never answer: the client's timeout ends it */
        uv_read_start(s, conn_alloc, conn_read);
    } else {
        respond(c, "404 Not Found", "", "", 0);
    }
}


static void
on_connection(uv_stream_t *srv, int status)
{
    conn_t *c = calloc(1, sizeof(*c));

    if (c == NULL || status < 0) {
        exit(2);
    }
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c;
    open_conns++;
    if (uv_accept(srv, (uv_stream_t *) &c->tcp) != 0) {
        uv_close((uv_handle_t *) &c->tcp, conn_closed);
        return;
    }
    uv_read_start((uv_stream_t *) &c->tcp, conn_alloc, conn_read);
}

/* ------------------------------------------------------------------------
 * Running one task
 * ------------------------------------------------------------------------ */

static void
on_done(tgw_run_t *run)
{
    done_calls++;
}


static uv_timer_t abort_timer;


static void
on_abort(uv_timer_t *t)
{
    tgw_run_abort(t->data);
}


static void
run_http(tgw_run_t *run, const char *path, int to_port, uint64_t timeout_ms,
    const char *payload, size_t result_max)
{
    static tgw_handler_conf_t h;
    static char               url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", to_port, path);
    memset(&h, 0, sizeof(h));
    h.type = "web";
    h.kind = TGW_HANDLER_HTTP;
    h.http_url = url;
    h.http_timeout_ms = timeout_ms;

    memset(run, 0, sizeof(*run));
    run->loop = &loop;
    run->handler = &h;
    run->task_id = "0190a0b0-0000-7000-8000-0000000000aa";
    run->type = "web";
    run->queue = "default";
    run->attempt = 1;
    run->payload = payload;
    run->payload_len = strlen(payload);
    run->content_type = "application/json";
    run->result_max = result_max;
    run->done = on_done;

    done_calls = 0;
    last_req[0] = '\0';
    if (tgw_run_start(run) != 0) {
        printf("# start failed\n");
        return;
    }
    if (abort_after_ms) {
        abort_timer.data = run;
        uv_timer_start(&abort_timer, on_abort, abort_after_ms, 0);
    }
    while (done_calls == 0) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    if (run->open_handles != 0) {
        printf("# open_handles %d after done\n", run->open_handles);
    }
}


int
main(void)
{
    struct sockaddr_in  addr;
    struct sockaddr_in  bound;
    int                 len = sizeof(bound), closed_port;
    tgw_run_t           run;
    uv_tcp_t            probe;

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    uv_loop_init(&loop);
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(&loop, &server);
    uv_tcp_bind(&server, (const struct sockaddr *) &addr, 0);
    uv_listen((uv_stream_t *) &server, 16, on_connection);
    uv_tcp_getsockname(&server, (struct sockaddr *) &bound, &len);
    port = ntohs(bound.sin_port);

    /* a port nobody listens on: bind one, note it, close it */
    uv_tcp_init(&loop, &probe);
    uv_tcp_bind(&probe, (const struct sockaddr *) &addr, 0);
    len = sizeof(bound);
    uv_tcp_getsockname(&probe, (struct sockaddr *) &bound, &len);
    closed_port = ntohs(bound.sin_port);
    uv_close((uv_handle_t *) &probe, NULL);
    uv_timer_init(&loop, &abort_timer);

    /* ---- 2xx ---- */
    run_http(&run, "/ok", port, 5000, "{\"a\":1}", 65536);
    is_int(done_calls, 1, "200: done once");
    is_int(run.status, TGW_RUN_SUCCESS, "200: success");
    is_str(run.output, "{\"ok\":true}", "200: body is the result");
    ok(strncmp(last_req, "POST /ok HTTP/1.1\r\n", 19) == 0, "it is a POST");
    ok(strcasestr(last_req, "\r\nContent-Type: application/json\r\n") != NULL,
       "payload content type sent");
    ok(strcasestr(last_req, "\r\nX-Task-Id: 0190a0b0-0000-7000-8000-"
                  "0000000000aa\r\n") != NULL, "X-Task-Id sent");
    ok(strcasestr(last_req, "\r\nUser-Agent: taskgw/") != NULL,
       "User-Agent taskgw");
    ok(strstr(last_req, "\r\n\r\n{\"a\":1}") != NULL, "payload is the body");
    ok(run.open_handles == 0, "200: every handle closed before done");
    tgw_run_cleanup(&run);

    run_http(&run, "/echo", port, 5000, "round trip", 65536);
    is_int(run.status, TGW_RUN_SUCCESS, "201: success");
    is_str(run.output, "round trip", "201: body back");
    tgw_run_cleanup(&run);

    run_http(&run, "/big", port, 5000, "", 1000);
    is_int(run.status, TGW_RUN_SUCCESS, "big body: success");
    ok(run.output_len == 1000 && run.truncated, "big body: cut at limit");
    tgw_run_cleanup(&run);

    /* ---- retryable ---- */
    run_http(&run, "/e500", port, 5000, "", 65536);
    is_int(run.status, TGW_RUN_RETRYABLE, "500: retryable");
    is_str(run.error, "HTTP 500: boom", "500: status and body in error");
    ok(run.output == NULL, "500: no result");
    tgw_run_cleanup(&run);

    run_http(&run, "/e503", port, 5000, "", 65536);
    is_int(run.status, TGW_RUN_RETRYABLE, "503: retryable");
    is_str(run.error, "HTTP 503", "503: status in error");
    tgw_run_cleanup(&run);

    run_http(&run, "/e429", port, 5000, "", 65536);
    is_int(run.status, TGW_RUN_RETRYABLE, "429: retryable");
    tgw_run_cleanup(&run);

    run_http(&run, "/e408", port, 5000, "", 65536);
    is_int(run.status, TGW_RUN_RETRYABLE, "408: retryable");
    tgw_run_cleanup(&run);

    run_http(&run, "/ok", closed_port, 5000, "", 65536);
    is_int(run.status, TGW_RUN_RETRYABLE, "connection refused: retryable");
    ok(run.error != NULL, "connection refused: error (%s)",
       run.error ? run.error : "");
    tgw_run_cleanup(&run);

    run_http(&run, "/slow", port, 300, "", 65536);
    is_int(run.status, TGW_RUN_RETRYABLE, "no answer: retryable");
    ok(run.error && strncmp(run.error, "timeout: ", 9) == 0,
       "no answer: timeout (%s)", run.error ? run.error : "");
    tgw_run_cleanup(&run);

    /* ---- permanent ---- */
    run_http(&run, "/e404", port, 5000, "", 65536);
    is_int(run.status, TGW_RUN_PERMANENT, "404: permanent");
    is_str(run.error, "HTTP 404: nope", "404: error");
    tgw_run_cleanup(&run);

    run_http(&run, "/e422", port, 5000, "", 65536);
    is_int(run.status, TGW_RUN_PERMANENT, "422: permanent");
    tgw_run_cleanup(&run);

    run_http(&run, "/r301", port, 5000, "", 65536);
    is_int(run.status, TGW_RUN_PERMANENT, "301: not followed, permanent");
    ok(strncmp(last_req, "POST /r301 ", 11) == 0, "301: only one request");
    tgw_run_cleanup(&run);

    /* ---- abort (shutdown grace over) ---- */
    abort_after_ms = 200;
    run_http(&run, "/slow", port, 0, "", 65536);
    is_int(done_calls, 1, "abort: done once");
    is_int(run.status, TGW_RUN_RETRYABLE, "abort: retryable");
    ok(run.open_handles == 0, "abort: every handle closed before done");
    tgw_run_cleanup(&run);
    abort_after_ms = 0;

    uv_close((uv_handle_t *) &server, NULL);
    uv_close((uv_handle_t *) &abort_timer, NULL);
    while (open_conns > 0 || uv_run(&loop, UV_RUN_NOWAIT)) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ok(uv_loop_close(&loop) == 0, "every handle closed");
    curl_global_cleanup();
    return done_testing();
}
