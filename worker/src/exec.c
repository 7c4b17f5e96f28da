/*
 * The exec handler: a program run directly (no shell), started by the
 * worker's spawner so it never outlives the worker (keeper.h).  See run.h
 * for the run's life cycle and docs/worker-config.md for the rules.
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keeper.h"
#include "log.h"
#include "run.h"
#include "tgw_duration.h"

static void tgw_exec_pipe_closed(uv_handle_t *h);
static void tgw_exec_exited(tgw_run_t *run, int status);
static void tgw_exec_cloexec_all(void);

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


/* ------------------------------------------------------------------------
 * The spawner (keeper.h): one per worker, started with the first exec run
 * and again after it died.  Requests go out through a queue (sent at once
 * unless the socket is full); the poll handle is referenced only while a
 * run waits for the spawner, so an idle spawner keeps no loop alive.
 * ------------------------------------------------------------------------ */

typedef struct tgw_spawn_out_s  tgw_spawn_out_t;

struct tgw_spawn_out_s {
    tgw_spawn_out_t  *next;
    size_t            len;
    int               fds[3];
    int               nfds;
    char              data[];
};

typedef struct {
    uv_poll_t         poll;
    uv_prepare_t      prep;         /* sends what the turn queued */
    uv_process_t      proc;
    int               fd;           /* the worker's end of the socket */
    int               open;         /* handles not closed yet */
    int               gone;         /* lost or stopped: takes no request */
    int               writable;     /* polled for UV_WRITABLE too */
    tgw_spawn_out_t  *head;
    tgw_spawn_out_t **tail;
    tgw_run_t        *runs;         /* waiting for their program's end */
} tgw_spawner_t;

static tgw_spawner_t  *tgw_spawner;
static uint32_t        tgw_spawn_ids;

static void tgw_spawner_on_poll(uv_poll_t *p, int status, int events);


static void
tgw_spawner_closed(uv_handle_t *h)
{
    tgw_spawner_t *sp = h->data;

    if (h == (uv_handle_t *) &sp->poll) {
        close(sp->fd);
    }
    if (--sp->open == 0) {
        free(sp);
    }
}


static void
tgw_spawner_unlink(tgw_spawner_t *sp, tgw_run_t *run)
{
    if (run->spawn_prev) {
        run->spawn_prev->spawn_next = run->spawn_next;
    } else {
        sp->runs = run->spawn_next;
    }
    if (run->spawn_next) {
        run->spawn_next->spawn_prev = run->spawn_prev;
    }
    run->spawn_next = run->spawn_prev = NULL;
    if (sp->runs == NULL && !sp->gone) {
        uv_unref((uv_handle_t *) &sp->poll);
    }
}


static tgw_run_t *
tgw_spawner_find(tgw_spawner_t *sp, uint32_t id)
{
    tgw_run_t *run;

    for (run = sp->runs; run != NULL; run = run->spawn_next) {
        if (run->spawn_id == id) {
            return run;
        }
    }
    return NULL;
}


/* A datagram's reports (keeper.h, "Batches"): pids, and ends of
 * programs. */
static void
tgw_spawner_reports(tgw_spawner_t *sp, const tgw_spawn_msg_t *in, size_t n)
{
    tgw_run_t *run;
    size_t     i;

    for (i = 0; i < n; i++) {
        run = tgw_spawner_find(sp, in[i].id);
        if (run == NULL) {
            continue;
        }
        if (in[i].type == TGW_SPAWN_STARTED) {
            run->pid = (pid_t) in[i].a;
        } else if (in[i].type == TGW_SPAWN_EXITED) {
            tgw_spawner_unlink(sp, run);
            tgw_exec_exited(run, in[i].a);  /* may end (and free) it */
        }
    }
}


/*
 * The reports a dead spawner sent that the loop has not read yet.  Its
 * death can be seen first (a request sent to its closed socket, its exit
 * reaped): without them a program whose start it reported would have no
 * pid here, and would run on, unkilled, beside its task's retry.  The
 * first read after a peer that died with requests unread is ECONNRESET,
 * with the reports still behind it.
 */
static void
tgw_spawner_drain(tgw_spawner_t *sp)
{
    tgw_spawn_msg_t  in[TGW_SPAWN_BATCH];
    ssize_t          n;
    int              reset = 0;

    for ( ;; ) {
        n = recv(sp->fd, in, sizeof(in), MSG_DONTWAIT);
        if (n == -1 && errno == ECONNRESET && !reset) {
            reset = 1;
            continue;
        }
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0 || n % (ssize_t) sizeof(in[0]) != 0) {
            return;
        }
        tgw_spawner_reports(sp, in, (size_t) n / sizeof(in[0]));
    }
}


/*
 * The spawner is gone (it died, or broke the protocol), or is let go
 * (stopping).  What it reported is taken first; its other runs' programs
 * are killed, group and all, and end as crashed runs; the next exec run
 * starts a new spawner.
 */
static void
tgw_spawner_lose(tgw_spawner_t *sp, int stopping)
{
    tgw_spawn_out_t *o;
    tgw_run_t       *run;
    int              i;

    if (sp->gone) {
        return;
    }
    sp->gone = 1;
    if (tgw_spawner == sp) {
        tgw_spawner = NULL;
    }
    if (!stopping) {
        tgw_log(TGW_LOG_WARN, "exec_spawner_lost", "detail",
                "the exec spawner died; its runs are retried", NULL);
        tgw_spawner_drain(sp);
    }

    while ((o = sp->head) != NULL) {
        sp->head = o->next;
        for (i = 0; i < o->nfds; i++) {
            close(o->fds[i]);
        }
        free(o);
    }
    sp->tail = &sp->head;

    /* The socket closes with the poll handle: a spawner still alive sees
     * its end and exits; the process handle closes when it has.  One let
     * go at the worker's exit is killed (it has no program left, and a
     * stopped or stuck one must not hold the exit) and waited for. */
    uv_close((uv_handle_t *) &sp->poll, tgw_spawner_closed);
    uv_close((uv_handle_t *) &sp->prep, tgw_spawner_closed);
    if (stopping) {
        kill(sp->proc.pid, SIGKILL);    /* not reaped yet: still ours */
        uv_ref((uv_handle_t *) &sp->proc);
    }

    while ((run = sp->runs) != NULL) {
        tgw_spawner_unlink(sp, run);
        run->lost = 1;
        if (run->pid > 0 && kill(-run->pid, SIGKILL) != 0) {
            kill(run->pid, SIGKILL);
        }
        tgw_exec_exited(run, SIGKILL);
    }
}


static void
tgw_spawner_exited(uv_process_t *p, int64_t status, int sig)
{
    tgw_spawner_t *sp = p->data;

    tgw_spawner_lose(sp, 0);
    uv_close((uv_handle_t *) p, tgw_spawner_closed);
}


/*
 * Sends what is queued, as far as the socket takes it: as many messages
 * a datagram as one holds (keeper.h, "Batches"), so the spawn requests
 * of a turn of the loop cost one sendmsg and wake the spawner once.
 */
static void
tgw_spawner_flush(tgw_spawner_t *sp)
{
    union {
        struct cmsghdr  h;
        char            b[CMSG_SPACE(TGW_SPAWN_FDS * sizeof(int))];
    }                 cm;
    struct cmsghdr   *c;
    struct msghdr     mh;
    struct iovec      iov[TGW_SPAWN_BATCH];
    tgw_spawn_out_t  *o, *next;
    size_t            len;
    ssize_t           n;
    int               i, k, nfds, want;

    while (sp->head != NULL) {
        memset(&mh, 0, sizeof(mh));
        memset(&cm, 0, sizeof(cm));
        len = 0;
        nfds = 0;
        k = 0;
        for (o = sp->head; o != NULL && k < TGW_SPAWN_BATCH; o = o->next) {
            if (k > 0 && (len + o->len > TGW_SPAWN_MAX
                          || nfds + o->nfds > TGW_SPAWN_FDS))
            {
                break;
            }
            iov[k].iov_base = o->data;
            iov[k].iov_len = o->len;
            k++;
            len += o->len;
            memcpy((int *) CMSG_DATA(&cm.h) + nfds, o->fds,
                   o->nfds * sizeof(int));
            nfds += o->nfds;
        }
        mh.msg_iov = iov;
        mh.msg_iovlen = k;
        if (nfds > 0) {
            mh.msg_control = cm.b;
            mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
            c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        }
        n = sendmsg(sp->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        if (n == -1) {
            tgw_spawner_lose(sp, 0);
            return;
        }
        for (o = sp->head; k > 0; o = next, k--) {
            next = o->next;
            for (i = 0; i < o->nfds; i++) {
                close(o->fds[i]);   /* the spawner holds them now */
            }
            free(o);
        }
        sp->head = o;
        if (sp->head == NULL) {
            sp->tail = &sp->head;
        }
    }

    want = sp->head != NULL;
    if (want != sp->writable) {
        sp->writable = want;
        uv_poll_start(&sp->poll, want ? UV_READABLE | UV_WRITABLE
                                      : UV_READABLE, tgw_spawner_on_poll);
    }
}


/* Before the loop waits: what this turn queued goes out together. */
static void
tgw_spawner_on_prepare(uv_prepare_t *h)
{
    tgw_spawner_t *sp = h->data;

    uv_prepare_stop(h);
    if (!sp->writable) {
        tgw_spawner_flush(sp);
    }
}


/* Queues a message: header, then nstr strings; fds (nfds of them) are
 * the spawner's from here on (closed once sent).  -1: no memory, or too
 * long for one request. */
static int
tgw_spawner_queue(tgw_spawner_t *sp, const tgw_spawn_msg_t *m,
    char * const *strs, int nstr, const int *fds, int nfds)
{
    tgw_spawn_out_t *o;
    size_t           len, l;
    char            *p;
    int              i;

    len = sizeof(*m);
    for (i = 0; i < nstr; i++) {
        len += strlen(strs[i]) + 1;
    }
    if (len > TGW_SPAWN_MAX) {
        errno = E2BIG;
        return -1;
    }
    o = malloc(sizeof(*o) + len);
    if (o == NULL) {
        errno = ENOMEM;
        return -1;
    }
    o->next = NULL;
    o->len = len;
    o->nfds = nfds;
    for (i = 0; i < nfds; i++) {
        o->fds[i] = fds[i];
    }
    memcpy(o->data, m, sizeof(*m));
    p = o->data + sizeof(*m);
    for (i = 0; i < nstr; i++) {
        l = strlen(strs[i]) + 1;
        memcpy(p, strs[i], l);
        p += l;
    }
    *sp->tail = o;
    sp->tail = &o->next;
    if (!sp->writable) {
        /* sent before the loop waits (a full socket: once writable) */
        uv_prepare_start(&sp->prep, tgw_spawner_on_prepare);
    }
    return 0;
}


static void
tgw_spawner_on_poll(uv_poll_t *p, int status, int events)
{
    tgw_spawner_t   *sp = p->data;
    tgw_spawn_msg_t  in[TGW_SPAWN_BATCH];
    ssize_t          n;

    if (status < 0) {
        tgw_spawner_lose(sp, 0);
        return;
    }
    if (events & UV_WRITABLE) {
        tgw_spawner_flush(sp);
    }
    while (!sp->gone) {
        n = recv(sp->fd, in, sizeof(in), MSG_DONTWAIT);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0 || n % (ssize_t) sizeof(in[0]) != 0) {
            tgw_spawner_lose(sp, 0);    /* end of file, or not ours */
            return;
        }
        /* one report, or a turn's worth (keeper.h, "Batches") */
        tgw_spawner_reports(sp, in, (size_t) n / sizeof(in[0]));
    }
}


/* The spawner, started if there is none. */
static tgw_spawner_t *
tgw_spawner_get(uv_loop_t *loop, const char *path, int *err)
{
    uv_process_options_t  opt;
    uv_stdio_container_t  stdio[4];
    tgw_spawner_t        *sp;
    char                  worker_pid[24], *env[2], *argv[5];
    int                   sv[2], rc;

    if (tgw_spawner != NULL) {
        return tgw_spawner;
    }
    sp = calloc(1, sizeof(*sp));
    env[0] = tgw_exec_env("PATH", path);
    if (sp == NULL || env[0] == NULL) {
        free(sp);
        free(env[0]);
        *err = UV_ENOMEM;
        return NULL;
    }
    env[1] = NULL;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        *err = uv_translate_sys_error(errno);
        free(sp);
        free(env[0]);
        return NULL;
    }
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    sp->fd = sv[0];
    sp->tail = &sp->head;
    sp->poll.data = sp->prep.data = sp->proc.data = sp;

    snprintf(worker_pid, sizeof(worker_pid), "%ld", (long) getpid());
    argv[0] = "taskgw-exec";
    argv[1] = TGW_SPAWNER_ARG;
    argv[2] = worker_pid;
    argv[3] = TGW_SPAWNER_BATCH;
    argv[4] = NULL;
    memset(&opt, 0, sizeof(opt));
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_IGNORE;
    stdio[2].flags = UV_INHERIT_FD;     /* its own complaints: our log */
    stdio[2].data.fd = STDERR_FILENO;
    stdio[3].flags = UV_INHERIT_FD;
    stdio[3].data.fd = sv[1];
    opt.file = tgw_keeper_path();
    opt.args = argv;
    opt.env = env;                  /* the PATH its programs are found in */
    opt.stdio = stdio;
    opt.stdio_count = 4;
    opt.exit_cb = tgw_spawner_exited;
    /* Its own session: a terminal's ^C is not for it. */
    opt.flags = UV_PROCESS_DETACHED;

    tgw_exec_cloexec_all();
    rc = uv_spawn(loop, &sp->proc, &opt);
    close(sv[1]);
    free(env[0]);
    sp->open = 1;                   /* proc: initialized even on failure */
    if (rc != 0) {
        sp->gone = 1;
        close(sv[0]);
        sp->fd = -1;
        uv_close((uv_handle_t *) &sp->proc, tgw_spawner_closed);
        *err = rc;
        return NULL;
    }
    uv_unref((uv_handle_t *) &sp->proc);
    uv_poll_init(loop, &sp->poll, sp->fd);
    uv_prepare_init(loop, &sp->prep);
    sp->open += 2;
    uv_poll_start(&sp->poll, UV_READABLE, tgw_spawner_on_poll);
    uv_unref((uv_handle_t *) &sp->poll);
    tgw_spawner = sp;
    return sp;
}


/* Asks the spawner to signal a run's program (and its group). */
static void
tgw_spawner_signal(tgw_run_t *run, int sig)
{
    tgw_spawn_msg_t  m;

    if (tgw_spawner == NULL || tgw_spawner_find(tgw_spawner, run->spawn_id)
                               == NULL)
    {
        return;                     /* the spawner died: killed already */
    }
    memset(&m, 0, sizeof(m));
    m.type = TGW_SPAWN_KILL;
    m.id = run->spawn_id;
    m.a = sig;
    if (tgw_spawner_queue(tgw_spawner, &m, NULL, 0, NULL, 0) != 0
        && run->pid > 0)
    {
        kill(-run->pid, sig);       /* no memory: the best we can do */
    }
}


void
tgw_exec_spawner_stop(void)
{
    if (tgw_spawner != NULL) {
        tgw_spawner_lose(tgw_spawner, 1);
    }
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
        tgw_spawner_signal(run, sig);
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
static void
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
    tgw_spawn_msg_t   m;
    tgw_spawner_t    *sp;
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
    sp = tgw_spawner_get(run->loop, path, &rc);
    if (sp != NULL) {
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
        memset(&m, 0, sizeof(m));
        m.type = TGW_SPAWN_REQ;
        m.id = run->spawn_id = ++tgw_spawn_ids;
        m.a = na;
        m.b = ne;
        if (tgw_spawner_queue(sp, &m, strs, na + ne, fds, 3) != 0) {
            rc = uv_translate_sys_error(errno);
        } else {
            fds[0] = fds[1] = fds[2] = -1;  /* the spawner's now */
            if (sp->gone) {
                rc = UV_EPIPE;      /* it died as it was sent to */
            }
        }
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

    /* It waits for its program's end, which keeps the loop running. */
    run->spawn_next = sp->runs;
    if (sp->runs) {
        sp->runs->spawn_prev = run;
    }
    sp->runs = run;
    uv_ref((uv_handle_t *) &sp->poll);
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

    if (run->lost) {
        run->status = TGW_RUN_RETRYABLE;
        snprintf(what, sizeof(what), "the exec spawner died");
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
