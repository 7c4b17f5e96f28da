/*
 * The worker's side of the exec spawner (spawn.h, keeper.h): one per
 * worker, started with the first exec run and again after it died.
 * Requests go out through a queue (sent before the loop waits, or once the
 * socket takes them when it was full); the poll handle is referenced only
 * while a run waits for the spawner, so an idle spawner keeps no loop
 * alive.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "keeper.h"
#include "log.h"
#include "spawn.h"
#include "tgw_duration.h"

static void tgw_spawn_cloexec_all(void);

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
    uv_timer_t        watch;        /* a request long unanswered */
    uv_process_t      proc;
    int               fd;           /* the worker's end of the socket */
    int               open;         /* handles not closed yet */
    int               gone;         /* lost or stopped: takes no request */
    int               writable;     /* polled for UV_WRITABLE too */
    int               answers_kills; /* said so (keeper.h, "Answers") */
    int               takes_leases; /* said so (keeper.h, "Leases") */
    int               lapsed;       /* said its lease passed: its runs
                                       are abandoned, not retried */
    uint64_t          unanswered;   /* requests sent (or queued) that */
    uint64_t          since;        /* have no answer yet; since then no
                                       answer came */
    tgw_spawn_out_t  *head;
    tgw_spawn_out_t **tail;
    tgw_run_t        *runs;         /* waiting for their program's end */
} tgw_spawner_t;

/* How the spawner is let go (tgw_spawner_lose). */
enum {
    TGW_SPAWNER_DIED = 0,           /* it died, or broke the protocol */
    TGW_SPAWNER_STUCK,              /* it stopped answering: killed */
    TGW_SPAWNER_STOPPING            /* the worker exits */
};

static tgw_spawner_t  *tgw_spawner;
static uint32_t        tgw_spawn_ids;
static uint64_t        tgw_spawn_lease_ms;  /* the lease's deadline (a
                                               new spawner's first) */
static uint64_t        tgw_spawn_timeout_ms = TGW_SPAWN_TIMEOUT_MS;

static void tgw_spawner_on_poll(uv_poll_t *p, int status, int events);
static void tgw_spawner_lease(tgw_spawner_t *sp);


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
        if (in[i].type == TGW_SPAWN_KILLED && in[i].id == 0) {
            sp->answers_kills = 1;  /* its greeting */
            if (in[i].a & TGW_SPAWNER_LEASES) {
                sp->takes_leases = 1;
                tgw_spawner_lease(sp);
            }
            continue;
        }
        if (in[i].type == TGW_SPAWN_LAPSED) {
            sp->lapsed = 1;         /* its end follows */
            continue;
        }
        if (in[i].type == TGW_SPAWN_STARTED
            || in[i].type == TGW_SPAWN_KILLED)
        {
            /* an answer, also for a run that ended since */
            if (sp->unanswered > 0) {
                sp->unanswered--;
            }
            sp->since = uv_now(sp->poll.loop);
        }
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
 * The children of a spawner that stopped answering, whatever the worker
 * knows of them: a program whose start it has not reported (its execve
 * stuck on a dead mount) too.  SIGKILL to each one's group (a program
 * leads its own; one killed before its setpgid, itself).  The spawner is
 * stopped and reaps nothing, so each pid listed is still its child's.
 * Without /proc (or a kernel without its children lists) only the
 * programs it reported are killed, by the caller.
 */
static void
tgw_spawner_kill_children(pid_t spawner)
{
    char    path[64], *pids = NULL, *end;
    size_t  size = 0;
    FILE   *f;
    long    pid;

    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children",
             (long) spawner, (long) spawner);
    f = fopen(path, "re");
    if (f == NULL) {
        return;
    }
    /* "pid pid ... " */
    while (getdelim(&pids, &size, ' ', f) > 0) {
        pid = strtol(pids, &end, 10);
        if (end != pids && pid > 1 && pid <= INT_MAX
            && kill((pid_t) -pid, SIGKILL) != 0)
        {
            kill((pid_t) pid, SIGKILL);
        }
    }
    free(pids);
    fclose(f);
}


/*
 * The spawner is gone (it died, or broke the protocol), stopped
 * answering, or is let go (stopping).  What it reported is taken first;
 * its other runs' programs are killed, group and all, and end as crashed
 * runs; the next exec run starts a new spawner.  One that stopped
 * answering was stopped (SIGSTOP) by the caller, so it reaps no program
 * while they are killed: none of their pids can be another process's by
 * then.  It is killed last.
 */
static void
tgw_spawner_lose(tgw_spawner_t *sp, int how)
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
    if (how != TGW_SPAWNER_STOPPING) {
        tgw_spawner_drain(sp);
    }
    if (how == TGW_SPAWNER_DIED && sp->lapsed) {
        tgw_log(TGW_LOG_WARN, "exec_lease_lapsed", "detail",
                "no claim refresh was acknowledged in time (the worker held"
                " up, or Redis out of reach): the exec spawner killed its"
                " programs; their tasks are left to be reclaimed", NULL);
    } else if (how == TGW_SPAWNER_DIED) {
        tgw_log(TGW_LOG_WARN, "exec_spawner_lost", "detail",
                "the exec spawner died; its runs are retried", NULL);
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
    uv_close((uv_handle_t *) &sp->watch, tgw_spawner_closed);
    if (how == TGW_SPAWNER_STOPPING) {
        kill(sp->proc.pid, SIGKILL);    /* not reaped yet: still ours */
        uv_ref((uv_handle_t *) &sp->proc);
    }

    while ((run = sp->runs) != NULL) {
        tgw_spawner_unlink(sp, run);
        run->lost = how == TGW_SPAWNER_STUCK ? 2 : sp->lapsed ? 3 : 1;
        if (run->pid > 0 && kill(-run->pid, SIGKILL) != 0) {
            kill(run->pid, SIGKILL);
        }
        tgw_exec_exited(run, SIGKILL);
    }

    if (how == TGW_SPAWNER_STUCK) {
        tgw_spawner_kill_children(sp->proc.pid);
        kill(sp->proc.pid, SIGKILL);    /* reaped by its exit callback */
    }
}


static void
tgw_spawner_exited(uv_process_t *p, int64_t status, int sig)
{
    tgw_spawner_t *sp = p->data;

    tgw_spawner_lose(sp, TGW_SPAWNER_DIED);
    uv_close((uv_handle_t *) p, tgw_spawner_closed);
}


/*
 * A spawner that does not answer.  Every request to it is answered in
 * order (keeper.h, "Answers"), so a request without an answer for
 * exec_spawner_timeout, while no other answer came either, means a
 * spawner that stopped taking them: stopped (SIGSTOP, a debugger) or
 * stuck (a program's execve hanging on a dead mount).  It would never
 * pass on a timeout's kill: the program would run on and hold its slot.
 * So it is stopped (a stuck one too: it reaps nothing more), its
 * programs' groups are killed, it is killed, and its runs end as
 * retryable; the next exec run starts a new spawner.
 *
 * The watch is a timer started by the first request a quiet spawner gets
 * and left to run out: a busy spawner's turns cost no timer call, and the
 * timer, firing at most once per exec_spawner_timeout, starts itself
 * again only while something is unanswered.  Answers already in the
 * socket are read first: a loop that was held up (a slow callback) must
 * not take its own delay for the spawner's.
 */
static void
tgw_spawner_on_watch(uv_timer_t *t)
{
    tgw_spawner_t *sp = t->data;
    uint64_t       now, waited;
    char           pid[24], buf[32];

    tgw_spawner_on_poll(&sp->poll, 0, UV_READABLE);
    if (sp->gone || sp->unanswered == 0) {
        return;
    }
    now = uv_now(t->loop);
    waited = now - sp->since;
    if (waited < tgw_spawn_timeout_ms) {
        uv_timer_start(t, tgw_spawner_on_watch,
                       tgw_spawn_timeout_ms - waited, 0);
        return;
    }

    snprintf(pid, sizeof(pid), "%ld", (long) sp->proc.pid);
    tgw_duration_format(waited, buf, sizeof(buf));
    tgw_log(TGW_LOG_WARN, "exec_spawner_stuck", "pid", pid, "waited", buf,
            "detail", "the exec spawner did not answer (stopped, or stuck "
            "starting a program): it and its programs are killed, their "
            "runs retried", NULL);
    kill(sp->proc.pid, SIGSTOP);        /* not reaped yet: still ours */
    tgw_spawner_lose(sp, TGW_SPAWNER_STUCK);
}


/* A request goes to the spawner: it is watched for an answer. */
static void
tgw_spawner_asked(tgw_spawner_t *sp)
{
    if (sp->unanswered++ == 0) {
        sp->since = uv_now(sp->poll.loop);
    }
    if (!uv_is_active((uv_handle_t *) &sp->watch)) {
        uv_timer_start(&sp->watch, tgw_spawner_on_watch,
                       tgw_spawn_timeout_ms, 0);
    }
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
            tgw_spawner_lose(sp, TGW_SPAWNER_DIED);
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
        tgw_spawner_lose(sp, TGW_SPAWNER_DIED);
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
            tgw_spawner_lose(sp, TGW_SPAWNER_DIED); /* end of file, or
                                                       not ours */
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
    char                  worker_pid[24], *env[3], *argv[5];
    int                   sv[2], rc;

    if (tgw_spawner != NULL) {
        return tgw_spawner;
    }
    sp = calloc(1, sizeof(*sp));
    env[0] = env[1] = env[2] = NULL;
    if (asprintf(&env[0], "PATH=%s", path) < 0) {
        env[0] = NULL;
    }
    if (tgw_spawn_lease_ms != 0
        && asprintf(&env[1], TGW_SPAWNER_LEASE_ENV "=%llu",
                    (unsigned long long) tgw_spawn_lease_ms) < 0)
    {
        env[1] = NULL;
    }
    if (sp == NULL || env[0] == NULL
        || (tgw_spawn_lease_ms != 0 && env[1] == NULL))
    {
        free(sp);
        free(env[0]);
        free(env[1]);
        *err = UV_ENOMEM;
        return NULL;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        *err = uv_translate_sys_error(errno);
        free(sp);
        free(env[0]);
        free(env[1]);
        return NULL;
    }
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    sp->fd = sv[0];
    sp->tail = &sp->head;
    sp->poll.data = sp->prep.data = sp->watch.data = sp->proc.data = sp;

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
    opt.env = env;                  /* the PATH its programs are found in,
                                       and its first lease */
    opt.stdio = stdio;
    opt.stdio_count = 4;
    opt.exit_cb = tgw_spawner_exited;
    /* Its own session: a terminal's ^C is not for it. */
    opt.flags = UV_PROCESS_DETACHED;

    tgw_spawn_cloexec_all();
    rc = uv_spawn(loop, &sp->proc, &opt);
    close(sv[1]);
    free(env[0]);
    free(env[1]);
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
    uv_timer_init(loop, &sp->watch);
    uv_unref((uv_handle_t *) &sp->watch);   /* the runs hold the loop */
    sp->open += 3;
    uv_poll_start(&sp->poll, UV_READABLE, tgw_spawner_on_poll);
    uv_unref((uv_handle_t *) &sp->poll);
    tgw_spawner = sp;
    return sp;
}

int
tgw_spawn_ready(uv_loop_t *loop, const char *path)
{
    int err = 0;

    return tgw_spawner_get(loop, path, &err) != NULL ? 0 : err;
}


int
tgw_spawn_request(tgw_run_t *run, char * const *strs, int na, int ne,
    const int fds[3])
{
    tgw_spawn_msg_t  m;
    tgw_spawner_t   *sp = tgw_spawner;
    int              i;

    if (sp == NULL) {
        for (i = 0; i < 3; i++) {
            close(fds[i]);
        }
        return UV_EPIPE;            /* it died since it was started */
    }
    memset(&m, 0, sizeof(m));
    m.type = TGW_SPAWN_REQ;
    if (++tgw_spawn_ids == 0) {
        tgw_spawn_ids = 1;          /* 0 is no run's (keeper.h) */
    }
    m.id = run->spawn_id = tgw_spawn_ids;
    m.a = na;
    m.b = ne;
    if (tgw_spawner_queue(sp, &m, strs, na + ne, fds, 3) != 0) {
        i = uv_translate_sys_error(errno);
        close(fds[0]);
        close(fds[1]);
        close(fds[2]);
        return i;
    }
    if (sp->gone) {
        return UV_EPIPE;            /* it died as it was sent to */
    }
    tgw_spawner_asked(sp);

    /* It waits for its program's end, which keeps the loop running. */
    run->spawn_next = sp->runs;
    if (sp->runs) {
        sp->runs->spawn_prev = run;
    }
    sp->runs = run;
    uv_ref((uv_handle_t *) &sp->poll);
    return 0;
}


void
tgw_spawn_signal(tgw_run_t *run, int sig)
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
    if (tgw_spawner_queue(tgw_spawner, &m, NULL, 0, NULL, 0) != 0) {
        if (run->pid > 0) {
            kill(-run->pid, sig);   /* no memory: the best we can do */
        }
        return;
    }
    if (tgw_spawner->answers_kills) {
        tgw_spawner_asked(tgw_spawner);
    }
}


/* The lease as it stands, to a spawner that takes them; not a request
 * (nothing answers it). */
static void
tgw_spawner_lease(tgw_spawner_t *sp)
{
    tgw_spawn_msg_t  m;

    if (sp->gone || !sp->takes_leases || tgw_spawn_lease_ms == 0) {
        return;
    }
    memset(&m, 0, sizeof(m));
    m.type = TGW_SPAWN_LEASE;
    m.a = (int32_t) (uint32_t) (tgw_spawn_lease_ms >> 32);
    m.b = (int32_t) (uint32_t) tgw_spawn_lease_ms;
    (void) tgw_spawner_queue(sp, &m, NULL, 0, NULL, 0);    /* no memory:
                                                          the next one */
}


void
tgw_spawn_lease(uint64_t deadline)
{
    if (deadline <= tgw_spawn_lease_ms) {
        return;                     /* only ever later */
    }
    tgw_spawn_lease_ms = deadline;
    if (tgw_spawner != NULL) {
        tgw_spawner_lease(tgw_spawner);
    }
}


void
tgw_spawn_stop(void)
{
    if (tgw_spawner != NULL) {
        tgw_spawner_lose(tgw_spawner, TGW_SPAWNER_STOPPING);
    }
}


void
tgw_spawn_set_timeout(uint64_t ms)
{
    tgw_spawn_timeout_ms = ms > 0 ? ms : TGW_SPAWN_TIMEOUT_MS;
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
tgw_spawn_cloexec_all(void)
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
