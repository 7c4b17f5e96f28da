/*
 * The exec handler: a program run directly (no shell), started by the
 * worker's spawner so it never outlives the worker (keeper.h).  See run.h
 * for the run's life cycle and docs/worker-config.md for the rules.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keeper.h"
#include "log.h"
#include "run.h"
#include "spawn.h"
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


static char *
tgw_exec_env(const char *name, const char *value)
{
    char *s;

    if (asprintf(&s, "%s=%s", name, value ? value : "") < 0) {
        return NULL;
    }
    return s;
}


void
tgw_exec_spawner_stop(void)
{
    tgw_spawn_stop();
}


void
tgw_exec_spawner_conf(const tgw_conf_t *conf)
{
    tgw_spawn_set_timeout(conf->exec_spawner_timeout_ms);
}


void
tgw_exec_spawner_lease(uint64_t deadline)
{
    tgw_spawn_lease(deadline);
}


/* Signals the child's whole process group, the program and what it
 * started: through the spawner while the program runs (its parent, it
 * knows the pid is still the program's), directly once it has ended (a
 * grandchild holding the pipes). */
static void
tgw_exec_signal(tgw_run_t *run, int sig)
{
    if (!run->spawned) {
        return;
    }
    if (!run->exited) {
        tgw_spawn_signal(run, sig);
    } else if (run->pid > 0) {
        kill(-run->pid, sig);
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


/* The program ended with this wait status (the spawner reaped it). */
void
tgw_exec_exited(tgw_run_t *run, int status)
{
    run->exited = 1;
    if (WIFSIGNALED(status)) {
        run->exit_status = 0;
        run->term_signal = WTERMSIG(status);
    } else {
        run->exit_status = WEXITSTATUS(status);
        run->term_signal = 0;
    }
    tgw_run_close_handle(run, (uv_handle_t *) &run->timer);
    if (tgw_exec_pipes_closing(run)) {
        tgw_run_close_handle(run, (uv_handle_t *) &run->kill_timer);
    } else {
        uv_timer_start(&run->kill_timer, tgw_exec_kill, TGW_DRAIN_MS, 0);
    }
    tgw_run_handle_gone(run);       /* the program: last, it may end the
                                       run */
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




/* A pipe for one of the child's stdio: the worker's end opened in p,
 * the child's in *child.  A pipe, not a socketpair as libuv makes them:
 * making and closing one costs the kernel far less (two files on one
 * pipe buffer instead of two sockets), three times a task. */
static int
tgw_exec_pipe(tgw_run_t *run, uv_pipe_t *p, int *child, int ours_writes)
{
    int pfd[2], rc;

    if (pipe2(pfd, O_CLOEXEC) != 0) {
        return uv_translate_sys_error(errno);
    }
    rc = uv_pipe_open(p, pfd[ours_writes ? 1 : 0]);
    if (rc != 0) {
        close(pfd[0]);
        close(pfd[1]);
        return rc;
    }
    *child = pfd[ours_writes ? 0 : 1];
    return 0;
}


/*
 * The child's stdin.  A payload the pipe takes whole (64 KB by default)
 * is written at once, before the program starts, and the worker's end
 * closed: its end of file is there when the program reads, and stdin
 * costs the loop nothing more.  A longer one goes through a libuv pipe
 * as it is read.  0, or a libuv error.
 */
static int
tgw_exec_stdin(tgw_run_t *run, int *child)
{
    int      pfd[2], rc;
    ssize_t  n = 0;

    if (pipe2(pfd, O_CLOEXEC) != 0) {
        return uv_translate_sys_error(errno);
    }
    /* Up to PIPE_BUF bytes go into an empty pipe whole, never blocking;
     * a longer payload takes what fits without waiting (only our end is
     * non-blocking: the program reads its stdin as usual). */
    if (run->payload_len > PIPE_BUF) {
        fcntl(pfd[1], F_SETFL, O_NONBLOCK);
    }
    while (run->payload_len > 0) {
        n = write(pfd[1], run->payload, run->payload_len);
        if (n != -1 || errno != EINTR) {
            break;
        }
    }
    if (run->payload_len == 0 || n == (ssize_t) run->payload_len) {
        close(pfd[1]);              /* all of it: end of file follows */
        *child = pfd[0];
        return 0;
    }
    if (n > 0) {
        run->in_sent = (size_t) n;  /* the rest through the loop */
    }
    rc = uv_pipe_open(&run->in, pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        close(pfd[1]);
        return rc;
    }
    *child = pfd[0];
    return 0;
}


static int
tgw_exec_start(tgw_run_t *run)
{
    uv_buf_t          buf;
    uv_os_fd_t        infd;
    char             *env[7], attempt[16], **strs;
    const char       *path;
    int               rc, i, ne, na, fds[3] = { -1, -1, -1 };

    run->errbuf = malloc(2 * TGW_STDERR_TAIL);
    for (na = 0; run->handler->argv[na] != NULL; na++) { /* count */ }
    strs = calloc((size_t) na + 7, sizeof(char *));
    if (run->errbuf == NULL || strs == NULL) {
        free(run->errbuf);
        run->errbuf = NULL;
        free(strs);
        return -1;
    }

    path = getenv("PATH");
    if (path == NULL) {
        path = TGW_DEFAULT_PATH;
    }
    snprintf(attempt, sizeof(attempt), "%d", run->attempt);
    env[0] = tgw_exec_env("TASKGW_TASK_ID", run->task_id);
    env[1] = tgw_exec_env("TASKGW_TASK_TYPE", run->type);
    env[2] = tgw_exec_env("TASKGW_QUEUE", run->queue);
    env[3] = tgw_exec_env("TASKGW_ATTEMPT", attempt);
    env[4] = tgw_exec_env("PATH", path);
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
            free(strs);
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
    run->pid = 0;
    run->lost = 0;
    run->spawn_next = run->spawn_prev = NULL;
    /* timer, kill_timer, in, out, err, and the program (gone when the
     * spawner reports its end): done fires after all six. */
    run->open_handles += 6;

    /* The program runs under the spawner (keeper.h), which kills it and
     * its whole process group when this worker dies. */
    run->in_sent = 0;
    rc = tgw_spawn_ready(run->loop, path);
    if (rc == 0) {
        rc = tgw_exec_stdin(run, &fds[0]);
    }
    if (rc == 0) {
        rc = tgw_exec_pipe(run, &run->out, &fds[1], 0);
    }
    if (rc == 0) {
        rc = tgw_exec_pipe(run, &run->err, &fds[2], 0);
    }
    if (rc == 0) {
        for (i = 0; i < na; i++) {
            strs[i] = run->handler->argv[i];
        }
        for (i = 0; i < ne; i++) {
            strs[na + i] = env[i];
        }
        rc = tgw_spawn_request(run, strs, na, ne, fds);
        fds[0] = fds[1] = fds[2] = -1;      /* the spawner's, or closed */
    }
    for (i = 0; i < ne; i++) {
        free(env[i]);
    }
    free(strs);

    if (rc != 0) {
        for (i = 0; i < 3; i++) {
            if (fds[i] != -1) {
                close(fds[i]);
            }
        }
        run->status = TGW_RUN_RETRYABLE;
        tgw_run_set_error(run, "cannot run %s: %s", run->handler->argv[0],
                          uv_strerror(rc));
        run->exited = 1;
        run->term_signal = -1;
        uv_close((uv_handle_t *) &run->timer, tgw_run_handle_closed);
        uv_close((uv_handle_t *) &run->kill_timer, tgw_run_handle_closed);
        uv_close((uv_handle_t *) &run->in, tgw_run_handle_closed);
        uv_close((uv_handle_t *) &run->out, tgw_run_handle_closed);
        uv_close((uv_handle_t *) &run->err, tgw_run_handle_closed);
        tgw_run_handle_gone(run);   /* the program that never was */
        return 0;
    }

    run->spawned = 1;

    if (uv_fileno((uv_handle_t *) &run->in, &infd) == 0) {
        /* the rest of a payload longer than the pipe */
        buf = uv_buf_init((char *) run->payload + run->in_sent,
                          (unsigned) (run->payload_len - run->in_sent));
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

    if (run->lost == 3) {
        /* another worker may run the task by now: nothing recorded */
        run->status = TGW_RUN_RETRYABLE;
        run->abandon = 1;
        snprintf(what, sizeof(what), "the worker's claim lapsed");
    } else if (run->lost) {
        run->status = TGW_RUN_RETRYABLE;
        snprintf(what, sizeof(what), "%s", run->lost == 2
                 ? "the exec spawner stopped answering"
                 : "the exec spawner died");
    } else if (run->timed_out) {
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
