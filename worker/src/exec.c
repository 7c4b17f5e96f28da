/*
 * The exec handler: a program run directly (no shell), through the
 * keeper so it never outlives the worker (keeper.c).  See run.h for the
 * run's life cycle and docs/worker-config.md for the rules.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keeper.h"
#include "run.h"
#include "tgw_duration.h"

static void tgw_exec_pipe_closed(uv_handle_t *h);

/* ------------------------------------------------------------------------
 * exec: the child gets the payload on stdin; stdout up to result_max is
 * the result (the rest is read and dropped, so the child never blocks on
 * a full pipe); the last TGW_STDERR_TAIL bytes of stderr explain a
 * failure.  Exit 0 is success, 65 (EX_DATAERR) a permanent failure, any
 * other exit, a signal or the timeout a retryable one.
 * ------------------------------------------------------------------------ */

static void
tgw_exec_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char chunk[65536];       /* consumed before the next read */

    buf->base = chunk;
    buf->len = sizeof(chunk);
}


/* Once the child exited, the drain wait lasts while any of its pipes is
 * open: stdout and stderr being read, or stdin with a write pending. */
static int
tgw_exec_pipes_closing(tgw_run_t *run)
{
    return uv_is_closing((uv_handle_t *) &run->in)
           && uv_is_closing((uv_handle_t *) &run->out)
           && uv_is_closing((uv_handle_t *) &run->err);
}


static void
tgw_exec_close_pipe(tgw_run_t *run, uv_stream_t *s)
{
    if (!uv_is_closing((uv_handle_t *) s)) {
        uv_close((uv_handle_t *) s, tgw_exec_pipe_closed);
    }
}


static void
tgw_exec_read_out(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    tgw_run_t *run = s->data;
    size_t     keep;
    char      *grown;

    if (n < 0) {
        tgw_exec_close_pipe(run, s);    /* EOF or error */
        return;
    }
    keep = run->result_max - run->output_len;
    if ((size_t) n > keep) {
        run->truncated = 1;
    } else {
        keep = (size_t) n;
    }
    if (keep == 0) {
        return;
    }
    grown = realloc(run->output, run->output_len + keep + 1);
    if (grown == NULL) {
        run->truncated = 1;         /* keep what we have */
        return;
    }
    run->output = grown;
    memcpy(run->output + run->output_len, buf->base, keep);
    run->output_len += keep;
    run->output[run->output_len] = '\0';
}


static void
tgw_exec_read_err(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    tgw_run_t *run = s->data;
    size_t     len;

    if (n < 0) {
        tgw_exec_close_pipe(run, s);
        return;
    }
    /* errbuf holds 2 * TAIL bytes; when full, only the newest TAIL bytes
     * are kept before appending (at most TAIL) more. */
    len = (size_t) n > TGW_STDERR_TAIL ? TGW_STDERR_TAIL : (size_t) n;
    if (run->errlen + len > 2 * TGW_STDERR_TAIL) {
        memmove(run->errbuf, run->errbuf + run->errlen - TGW_STDERR_TAIL,
                TGW_STDERR_TAIL);
        run->errlen = TGW_STDERR_TAIL;
    }
    memcpy(run->errbuf + run->errlen, buf->base + (size_t) n - len, len);
    run->errlen += len;
}


static void
tgw_exec_written(uv_write_t *req, int status)
{
    tgw_run_t *run = req->data;

    /* EPIPE (the child does not read its stdin) is not an error. */
    tgw_exec_close_pipe(run, (uv_stream_t *) &run->in);
}


/* Signals the child's whole process group (the keeper leads one:
 * DETACHED), the program and what it started. */
static void
tgw_exec_signal(tgw_run_t *run, int sig)
{
    if (!run->spawned || run->proc.pid <= 0) {
        return;
    }
    if (kill(-run->proc.pid, sig) != 0 && !run->exited) {
        kill(run->proc.pid, sig);
    }
}


static void
tgw_exec_kill(uv_timer_t *t)
{
    tgw_run_t *run = t->data;

    if (run->exited) {
        /* drain limit: a grandchild holds the pipes (stdin too, with a
         * write still pending on it); stop waiting */
        tgw_exec_signal(run, SIGKILL);
        tgw_exec_close_pipe(run, (uv_stream_t *) &run->in);
        tgw_exec_close_pipe(run, (uv_stream_t *) &run->out);
        tgw_exec_close_pipe(run, (uv_stream_t *) &run->err);
        tgw_run_close_handle(run, (uv_handle_t *) &run->kill_timer);
        return;
    }
    tgw_exec_signal(run, SIGKILL);
}


static void
tgw_exec_timeout(uv_timer_t *t)
{
    tgw_run_t *run = t->data;

    run->timed_out = 1;
    tgw_exec_signal(run, SIGTERM);
    uv_timer_start(&run->kill_timer, tgw_exec_kill, TGW_KILL_AFTER_MS, 0);
}


static void
tgw_exec_exited(uv_process_t *p, int64_t status, int sig)
{
    tgw_run_t *run = p->data;

    run->exited = 1;
    run->exit_status = status;
    run->term_signal = sig;
    tgw_run_close_handle(run, (uv_handle_t *) &run->timer);
    tgw_run_close_handle(run, (uv_handle_t *) p);
    if (tgw_exec_pipes_closing(run)) {
        tgw_run_close_handle(run, (uv_handle_t *) &run->kill_timer);
    } else {
        uv_timer_start(&run->kill_timer, tgw_exec_kill, TGW_DRAIN_MS, 0);
    }
}


/* The child's pipes all closing also ends the drain wait. */
static void
tgw_exec_pipe_closed(uv_handle_t *h)
{
    tgw_run_t *run = h->data;

    if (run->exited && tgw_exec_pipes_closing(run)) {
        tgw_run_close_handle(run, (uv_handle_t *) &run->kill_timer);
    }
    tgw_run_handle_closed(h);
}


static char *
tgw_exec_env(const char *name, const char *value)
{
    char *s;

    if (asprintf(&s, "%s=%s", name, value ? value : "") < 0) {
        return NULL;
    }
    return s;
}


/*
 * No descriptor of the worker reaches a child.  libuv and the Redis link
 * open theirs with CLOEXEC, but libcurl (7.88) makes a multi handle's
 * wakeup socketpair and its resolver's without it, and libuv's spawn
 * closes nothing in the child: a program started while an http run or a
 * webhook is under way would hold them.  So before each spawn every
 * descriptor above 2 is marked CLOEXEC.
 */
static void
tgw_exec_cloexec_all(void)
{
    DIR            *d;
    struct dirent  *e;
    char           *end;
    long            l;
    int             fd, flags;

    d = opendir("/proc/self/fd");
    if (d == NULL) {
        for (fd = 3; fd < 1024; fd++) {
            flags = fcntl(fd, F_GETFD);
            if (flags != -1 && !(flags & FD_CLOEXEC)) {
                fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
            }
        }
        return;
    }
    while ((e = readdir(d)) != NULL) {
        /* the entries are fd numbers, and "." and ".." */
        l = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || l <= 2 || l > INT_MAX) {
            continue;
        }
        fd = (int) l;
        if (fd == dirfd(d)) {
            continue;
        }
        flags = fcntl(fd, F_GETFD);
        if (flags != -1 && !(flags & FD_CLOEXEC)) {
            fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        }
    }
    closedir(d);
}


static int
tgw_exec_start(tgw_run_t *run)
{
    uv_process_options_t  opt;
    uv_stdio_container_t  stdio[3];
    uv_buf_t              buf;
    char                 *env[7], attempt[16], worker_pid[24], **argv;
    const char           *path;
    int                   rc, i, ne;

    run->errbuf = malloc(2 * TGW_STDERR_TAIL);
    argv = tgw_keeper_argv(run->handler->argv, worker_pid);
    if (run->errbuf == NULL || argv == NULL) {
        free(run->errbuf);
        run->errbuf = NULL;
        free(argv);
        return -1;
    }

    path = getenv("PATH");
    snprintf(attempt, sizeof(attempt), "%d", run->attempt);
    env[0] = tgw_exec_env("TASKGW_TASK_ID", run->task_id);
    env[1] = tgw_exec_env("TASKGW_TASK_TYPE", run->type);
    env[2] = tgw_exec_env("TASKGW_QUEUE", run->queue);
    env[3] = tgw_exec_env("TASKGW_ATTEMPT", attempt);
    env[4] = tgw_exec_env("PATH", path ? path : TGW_DEFAULT_PATH);
    ne = 5;
    if (run->traceparent) {
        /* the W3C trace context, as OpenTelemetry's environment carrier
         * names it: the program's spans are children of this run */
        env[ne++] = tgw_exec_env("TRACEPARENT", run->traceparent);
    }
    env[ne] = NULL;
    for (i = 0; i < ne; i++) {
        if (env[i] == NULL) {
            for (i = 0; i < ne; i++) {
                free(env[i]);
            }
            free(run->errbuf);
            run->errbuf = NULL;
            free(argv);
            return -1;
        }
    }

    uv_timer_init(run->loop, &run->timer);
    uv_timer_init(run->loop, &run->kill_timer);
    uv_pipe_init(run->loop, &run->in, 0);
    uv_pipe_init(run->loop, &run->out, 0);
    uv_pipe_init(run->loop, &run->err, 0);
    run->timer.data = run->kill_timer.data = run;
    run->in.data = run->out.data = run->err.data = run;
    run->proc.data = run;
    /* timer, kill_timer, in, out, err, and proc (initialized by uv_spawn
     * even when it fails): done fires after all six closed. */
    run->open_handles += 6;

    memset(&opt, 0, sizeof(opt));
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *) &run->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *) &run->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *) &run->err;
    /* The program runs under a keeper (keeper.h), which kills it and its
     * whole process group when this worker dies. */
    opt.file = tgw_keeper_path();
    opt.args = argv;
    opt.env = env;
    opt.stdio = stdio;
    opt.stdio_count = 3;
    opt.exit_cb = tgw_exec_exited;
    /* Its own process group, so a timeout kills the whole tree. */
    opt.flags = UV_PROCESS_DETACHED;

    tgw_exec_cloexec_all();
    rc = uv_spawn(run->loop, &run->proc, &opt);
    for (i = 0; i < ne; i++) {
        free(env[i]);
    }
    free(argv);

    if (rc != 0) {
        /* The handle was initialized all the same: close everything. */
        run->status = TGW_RUN_RETRYABLE;
        tgw_run_set_error(run, "cannot run %s: %s", run->handler->argv[0],
                          uv_strerror(rc));
        run->exited = 1;
        run->term_signal = -1;
        uv_close((uv_handle_t *) &run->proc, tgw_run_handle_closed);
        uv_close((uv_handle_t *) &run->timer, tgw_run_handle_closed);
        uv_close((uv_handle_t *) &run->kill_timer, tgw_run_handle_closed);
        uv_close((uv_handle_t *) &run->in, tgw_run_handle_closed);
        uv_close((uv_handle_t *) &run->out, tgw_run_handle_closed);
        uv_close((uv_handle_t *) &run->err, tgw_run_handle_closed);
        return 0;
    }
    run->spawned = 1;

    if (run->payload_len > 0) {
        buf = uv_buf_init((char *) run->payload, (unsigned) run->payload_len);
        run->write_req.data = run;
        if (uv_write(&run->write_req, (uv_stream_t *) &run->in, &buf, 1,
                     tgw_exec_written) != 0)
        {
            tgw_exec_close_pipe(run, (uv_stream_t *) &run->in);
        }
    } else {
        tgw_exec_close_pipe(run, (uv_stream_t *) &run->in);
    }

    if (uv_read_start((uv_stream_t *) &run->out, tgw_exec_alloc,
                      tgw_exec_read_out) != 0)
    {
        tgw_exec_close_pipe(run, (uv_stream_t *) &run->out);
    }
    if (uv_read_start((uv_stream_t *) &run->err, tgw_exec_alloc,
                      tgw_exec_read_err) != 0)
    {
        tgw_exec_close_pipe(run, (uv_stream_t *) &run->err);
    }

    if (run->handler->timeout_ms) {
        uv_timer_start(&run->timer, tgw_exec_timeout,
                       run->handler->timeout_ms, 0);
    }
    return 0;
}


/* The stderr tail as text: whole UTF-8 characters, trimmed. */
static char *
tgw_exec_stderr_text(tgw_run_t *run)
{
    size_t  start = 0, end = run->errlen;
    char   *s;

    if (run->errbuf == NULL) {
        return NULL;
    }
    if (end > TGW_STDERR_TAIL) {
        start = end - TGW_STDERR_TAIL;
    }
    /* Skip a partial character at the start, whitespace at both ends. */
    while (start < end && ((unsigned char) run->errbuf[start] & 0xc0) == 0x80)
    {
        start++;
    }
    while (start < end && (run->errbuf[start] == '\n'
                           || run->errbuf[start] == ' '))
    {
        start++;
    }
    while (end > start && (run->errbuf[end - 1] == '\n'
                           || run->errbuf[end - 1] == '\r'
                           || run->errbuf[end - 1] == ' '))
    {
        end--;
    }
    if (end == start) {
        return NULL;
    }
    s = malloc(end - start + 1);
    if (s) {
        memcpy(s, run->errbuf + start, end - start);
        s[end - start] = '\0';
    }
    return s;
}


/* The exit rule of exec, applied once the child is gone. */
static void
tgw_exec_outcome(tgw_run_t *run)
{
    char *tail, what[64], buf[32];

    if (run->term_signal == -1) {
        return;                     /* spawn failed, already set */
    }

    if (run->timed_out) {
        run->status = TGW_RUN_RETRYABLE;
        snprintf(what, sizeof(what), "timeout after %s",
                 tgw_duration_format(run->handler->timeout_ms, buf,
                                     sizeof(buf)));
    } else if (run->aborted) {
        run->status = TGW_RUN_RETRYABLE;
        snprintf(what, sizeof(what), "aborted at shutdown");
    } else if (run->term_signal) {
        run->status = TGW_RUN_RETRYABLE;
        snprintf(what, sizeof(what), "killed by signal %d", run->term_signal);
    } else if (run->exit_status == 0) {
        run->status = TGW_RUN_SUCCESS;
        return;
    } else {
        run->status = run->exit_status == 65 ? TGW_RUN_PERMANENT
                                             : TGW_RUN_RETRYABLE;
        snprintf(what, sizeof(what), "exit status %" PRId64,
                 run->exit_status);
    }

    tail = tgw_exec_stderr_text(run);
    if (tail == NULL) {
        tgw_run_set_error(run, "%s", what);
    } else if (run->timed_out || run->aborted || run->term_signal) {
        tgw_run_set_error(run, "%s: %s", what, tail);
    } else {
        free(run->error);
        run->error = tail;
        return;
    }
    free(tail);
}


static void
tgw_exec_abort(tgw_run_t *run)
{
    if (!run->exited) {
        tgw_exec_signal(run, SIGKILL);
    }
}


const tgw_handler_ops_t tgw_exec_ops = {
    tgw_exec_start,
    tgw_exec_abort,
    tgw_exec_outcome
};
