/*
 * The exec spawner (keeper.h): starts a worker's exec programs and ties
 * each, with everything it starts in its process group, to the life of
 * the worker.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keeper.h"
#include "tgw_clock.h"


const char *
tgw_keeper_path(void)
{
    static char  path[4096];
    static int   done;
    ssize_t      n;
    char        *slash;
    int          fd;

    if (done) {
        return path;
    }
    done = 1;
    n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n > 0) {
        path[n] = '\0';
        slash = strrchr(path, '/');
        if (slash != NULL
            && (size_t) (slash + 1 - path) + sizeof(TGW_KEEPER_BIN)
               <= sizeof(path))
        {
            memcpy(slash + 1, TGW_KEEPER_BIN, sizeof(TGW_KEEPER_BIN));
            if (access(path, X_OK) == 0) {
                return path;
            }
        }
    }
    fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(path, sizeof(path), "/proc/self/exe");
    } else {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    return path;
}


int
tgw_keeper_wanted(int argc, char **argv)
{
    return (argc == 3
            || (argc == 4 && strcmp(argv[3], TGW_SPAWNER_BATCH) == 0))
           && strcmp(argv[1], TGW_SPAWNER_ARG) == 0;
}


/* ------------------------------------------------------------------------
 * Every exec program of one worker, each in its own process group.
 * ------------------------------------------------------------------------ */

typedef struct {
    pid_t     pid;                  /* also its process group */
    uint32_t  id;
} tgw_spawner_kid_t;

static tgw_spawner_kid_t  *tgw_kids;
static size_t              tgw_nkids, tgw_kids_cap;
static int                 tgw_sock = TGW_SPAWNER_FD;
static int                 tgw_batch;   /* the worker takes batches */
static tgw_spawn_msg_t     tgw_out[TGW_SPAWN_BATCH];    /* reports */
static size_t              tgw_nout;
static uint64_t            tgw_lease;   /* the worker's lease ends then
                                           (CLOCK_MONOTONIC ms); 0: it
                                           sent none yet */


/* The worker is gone: so is every program still running, with its
 * group. */
static void __attribute__((noreturn))
tgw_spawner_orphaned(void)
{
    size_t i;

    for (i = 0; i < tgw_nkids; i++) {
        if (kill(-tgw_kids[i].pid, SIGKILL) != 0) {
            kill(tgw_kids[i].pid, SIGKILL);
        }
    }
    _exit(0);
}


/* Sends the reports collected (batched). */
static void
tgw_spawner_flush(void)
{
    ssize_t  n;

    if (tgw_nout == 0) {
        return;
    }
    do {
        n = send(tgw_sock, tgw_out, tgw_nout * sizeof(tgw_spawn_msg_t),
                 MSG_NOSIGNAL);
    } while (n == -1 && errno == EINTR);
    tgw_nout = 0;
    if (n == -1) {
        tgw_spawner_orphaned();     /* the worker closed its end */
    }
}


/* A report: sent at once to a worker of one message per datagram, else
 * collected and sent together when this turn's work is done. */
static void
tgw_spawner_send(uint32_t type, uint32_t id, int32_t a)
{
    tgw_spawn_msg_t  *m;

    if (tgw_nout == TGW_SPAWN_BATCH) {
        tgw_spawner_flush();
    }
    m = &tgw_out[tgw_nout++];
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->id = id;
    m->a = a;
    if (!tgw_batch) {
        tgw_spawner_flush();
    }
}


/* A program that cannot start: the reason on its stderr, exit 127. */
static void
tgw_spawner_fail(uint32_t id, int errfd, const char *prog, const char *why)
{
    if (errfd >= 0) {
        dprintf(errfd, "cannot run %s: %s\n", prog, why);
    }
    tgw_spawner_send(TGW_SPAWN_STARTED, id, 0);
    tgw_spawner_send(TGW_SPAWN_EXITED, id, 127 << 8);
}


/*
 * Starting a program.  posix_spawn costs more than the program needs
 * here: glibc maps (and faults in, and unmaps) a new stack for each
 * spawn, and resetting every signal's disposition in the child is a
 * system call per signal.  So the spawner clones itself the way
 * posix_spawn does (CLONE_VM | CLONE_VFORK: nothing is copied, and the
 * spawner waits until the child has called execve or exited), on one
 * stack mapped once: the child only moves its stdio into place, leads
 * a process group of its own, unblocks every signal and runs the
 * program.  No signal of the spawner is ignored or caught (set up in
 * tgw_keeper_main), so no disposition needs resetting.
 *
 * execvpe looks the program up in PATH (this process's environment,
 * which the worker set to the one it gives the program), and a program
 * file without "#!" runs under /bin/sh, as execvp runs it.  It takes
 * no lock and allocates nothing (what it needs is on the stack), as a
 * child sharing the spawner's memory must.
 */
#define TGW_CHILD_STACK  (1024 * 1024)  /* execvpe's /bin/sh argv of the
                                           longest request, with room */

typedef struct {
    char       **argv;
    char       **envp;
    const int   *fds;
    volatile int err;               /* why the program did not start:
                                       written by the child */
} tgw_spawner_child_t;

static char  *tgw_child_stack;      /* its top */


static int
tgw_spawner_child(void *arg)
{
    tgw_spawner_child_t  *c = arg;
    sigset_t              none;

    if (dup2(c->fds[0], STDIN_FILENO) == -1
        || dup2(c->fds[1], STDOUT_FILENO) == -1
        || dup2(c->fds[2], STDERR_FILENO) == -1
        || setpgid(0, 0) == -1)
    {
        c->err = errno;
        return 127;
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvpe(c->argv[0], c->argv, c->envp);
    c->err = errno;                 /* seen by the spawner: same memory */
    return 127;                     /* clone's own exit: no _exit(), which
                                       sanitizers hook on this stack */
}


/* Starts argv with fds as its stdio; 0 and its pid, or an errno value. */
static int
tgw_spawner_start(pid_t *pid, char **argv, char **envp, const int *fds)
{
    tgw_spawner_child_t  c;
    char                *stack;
    int                  st;

    if (tgw_child_stack == NULL) {
        /* a guard page below it: an overflow faults, never writes over
         * the spawner's memory */
        stack = mmap(NULL, TGW_CHILD_STACK + 4096, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) {
            return errno;
        }
        mprotect(stack, 4096, PROT_NONE);
        tgw_child_stack = stack + 4096 + TGW_CHILD_STACK;
    }

    c.argv = argv;
    c.envp = envp;
    c.fds = fds;
    c.err = 0;
    *pid = clone(tgw_spawner_child, tgw_child_stack,
                 CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
    if (*pid == -1) {
        return errno;
    }
    if (c.err != 0) {
        /* it has exited: reaped here, not reported as a program */
        while (waitpid(*pid, &st, 0) == -1 && errno == EINTR) { /* again */ }
        return c.err;
    }
    return 0;
}


/*
 * Starts the program of request m, whose strings start at p and end at
 * most at end, with fds (nfds of them left) as its stdin, stdout and
 * stderr.  Returns where the next message starts (also when the program
 * could not start: reported failed), or NULL when the request cannot be
 * read.
 */
static char *
tgw_spawner_spawn(const tgw_spawn_msg_t *m, char *p, char *end,
    const int *fds, int nfds)
{
    tgw_spawner_kid_t          *grown;
    char                       *nul, **argv, **envp, *next;
    pid_t                       pid = 0;
    size_t                      i, n;
    int                         rc;

    if (nfds < 3 || m->a < 1 || m->b < 0 || m->a > 65536 || m->b > 65536) {
        tgw_spawner_fail(m->id, nfds >= 3 ? fds[2] : -1, "?",
                         "malformed request");
        return NULL;
    }

    /* where the request ends (and the next one starts): found first, so
     * that a request without memory for its program fails alone */
    n = (size_t) m->a + (size_t) m->b;
    next = p;
    for (i = 0; i < n; i++) {
        nul = memchr(next, '\0', (size_t) (end - next));
        if (nul == NULL) {
            tgw_spawner_fail(m->id, fds[2], "?", "malformed request");
            return NULL;
        }
        next = nul + 1;
    }

    argv = calloc(n + 2, sizeof(char *));
    if (tgw_nkids == tgw_kids_cap) {
        grown = realloc(tgw_kids, (tgw_kids_cap ? 2 * tgw_kids_cap : 64)
                                  * sizeof(tgw_spawner_kid_t));
        if (grown != NULL) {
            tgw_kids = grown;
            tgw_kids_cap = tgw_kids_cap ? 2 * tgw_kids_cap : 64;
        }
    }
    if (argv == NULL || tgw_nkids == tgw_kids_cap) {
        free(argv);
        tgw_spawner_fail(m->id, fds[2], "?", strerror(ENOMEM));
        return next;
    }

    /* argc arguments, a NULL, envc environment strings, a NULL */
    envp = argv + m->a + 1;
    for (i = 0; i < n; i++) {
        if (i < (size_t) m->a) {
            argv[i] = p;
        } else {
            envp[i - (size_t) m->a] = p;
        }
        p += strlen(p) + 1;
    }

    /* The program's stdio are the worker's pipes; its own process group
     * (a timeout signals the whole tree). */
    rc = tgw_spawner_start(&pid, argv, envp, fds);
    if (rc != 0) {
        tgw_spawner_fail(m->id, fds[2], argv[0], strerror(rc));
        free(argv);
        return p;
    }
    free(argv);
    tgw_kids[tgw_nkids].pid = pid;
    tgw_kids[tgw_nkids].id = m->id;
    tgw_nkids++;
    tgw_spawner_send(TGW_SPAWN_STARTED, m->id, (int32_t) pid);
    return p;
}


/* The worker's signal for a program it asked for: its whole group.
 * Answered (keeper.h, "Answers") whether or not the program still
 * runs: one that ended already has its end on the way to the worker. */
static void
tgw_spawner_kill(uint32_t id, int sig)
{
    size_t i;

    for (i = 0; i < tgw_nkids; i++) {
        if (tgw_kids[i].id == id) {
            if (kill(-tgw_kids[i].pid, sig) != 0) {
                kill(tgw_kids[i].pid, sig);
            }
            break;
        }
    }
    if (tgw_batch) {
        tgw_spawner_send(TGW_SPAWN_KILLED, id, 0);
    }
}


/* Every program that ended is reported, in the order reaped. */
static void
tgw_spawner_reap(void)
{
    pid_t   pid;
    size_t  i;
    int     status;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (i = 0; i < tgw_nkids; i++) {
            if (tgw_kids[i].pid == pid) {
                tgw_spawner_send(TGW_SPAWN_EXITED, tgw_kids[i].id, status);
                tgw_kids[i] = tgw_kids[--tgw_nkids];
                break;
            }
        }
    }
}


/*
 * A batch the spawner cannot read to its end: the requests after the
 * bad one would never be answered, and their runs wait for ever.  So
 * it ends as if the worker were gone; the worker kills the programs'
 * groups, retries their tasks and starts a new spawner.
 */
static void __attribute__((noreturn))
tgw_spawner_broken(void)
{
    tgw_spawner_flush();
    fprintf(stderr, "taskgw-spawn: a request from the worker could not be"
            " read; exiting\n");
    tgw_spawner_orphaned();
}


/* Reads every request waiting; returns when none is left.  A datagram is
 * one message, or (batched) several, the descriptors of their spawn
 * requests attached in order, three each. */
static void
tgw_spawner_read(void)
{
    static char       buf[TGW_SPAWN_MAX] __attribute__((aligned(8)));
    union {
        struct cmsghdr  h;
        char            b[CMSG_SPACE(TGW_SPAWN_FDS * sizeof(int))];
    }                 cm;
    struct cmsghdr   *c;
    struct msghdr     mh;
    struct iovec      iov;
    tgw_spawn_msg_t   m;
    ssize_t           n;
    size_t            k;
    char             *p, *end;
    int               fds[TGW_SPAWN_FDS], nfds, f, i;

    for ( ;; ) {
        memset(&mh, 0, sizeof(mh));
        iov.iov_base = buf;
        iov.iov_len = sizeof(buf);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cm.b;
        mh.msg_controllen = sizeof(cm.b);
        n = recvmsg(tgw_sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            tgw_spawner_orphaned(); /* end of file: the worker is gone */
        }

        nfds = 0;
        for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                for (k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                     k++)
                {
                    if (nfds < TGW_SPAWN_FDS) {
                        memcpy(&fds[nfds++], CMSG_DATA(c) + k * sizeof(int),
                               sizeof(int));
                    }
                }
            }
        }

        p = buf;
        end = buf + n;
        f = 0;
        while ((size_t) (end - p) >= sizeof(m)) {
            memcpy(&m, p, sizeof(m));
            p += sizeof(m);
            if (m.type == TGW_SPAWN_REQ) {
                if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                    if (tgw_batch) {
                        tgw_spawner_broken();
                    }
                    tgw_spawner_fail(m.id, nfds - f >= 3 ? fds[f + 2] : -1,
                                     "?", "request too long");
                    break;
                }
                p = tgw_spawner_spawn(&m, p, end, fds + f, nfds - f);
                /* not copied into the next requests' programs */
                for (i = f; i < f + 3 && i < nfds; i++) {
                    close(fds[i]);
                    fds[i] = -1;
                }
                f += 3;
                if (p == NULL) {
                    if (tgw_batch) {
                        tgw_spawner_broken();
                    }
                    break;
                }
            } else if (m.type == TGW_SPAWN_KILL) {
                tgw_spawner_kill(m.id, m.a);
            } else if (m.type == TGW_SPAWN_LEASE) {
                tgw_lease = (uint64_t) (uint32_t) m.a << 32
                            | (uint32_t) m.b;
            } else {
                if (tgw_batch) {
                    tgw_spawner_broken();   /* what follows is unknown */
                }
                break;
            }
            if (!tgw_batch) {
                break;              /* one message a datagram */
            }
        }
        for (i = 0; i < nfds; i++) {
            if (fds[i] != -1) {
                close(fds[i]);
            }
        }
    }
}


/*
 * The lease (keeper.h, "Leases"): how long poll may wait before it is
 * checked again (-1: no deadline while no program runs, or none was
 * given).  One that passed with a program running: the worker's tasks
 * may be taken by another worker any moment now, so every program is
 * killed, the worker told, and the spawner exits, as if the worker were
 * gone.  A lease that arrived before the deadline but was read after it
 * still counts: it was given for a refresh Redis acknowledged.
 */
static int
tgw_spawner_lease_wait(void)
{
    uint64_t  now;

    if (tgw_lease == 0 || tgw_nkids == 0) {
        return -1;
    }
    now = tgw_clock_mono_ms();
    if (now < tgw_lease) {
        return tgw_lease - now > 60000 ? 60000 : (int) (tgw_lease - now);
    }
    fprintf(stderr, "taskgw-spawn: the worker's lease passed %llu ms ago"
            " (it refreshed no claim in time): its programs are killed\n",
            (unsigned long long) (now - tgw_lease));
    tgw_spawner_send(TGW_SPAWN_LAPSED, 0, 0);
    tgw_spawner_flush();
    tgw_spawner_orphaned();
}


/*
 * Sets every signal's disposition to the default.  glibc's sigaction
 * refuses the two signals it keeps for itself (32 and 33), which the
 * process that started ours may still have left ignored (GNU make
 * does): those through the kernel's own call, whose structure has the
 * handler, the flags, the restorer where the architecture has one, and
 * the mask.
 */
static void
tgw_spawner_default_signals(void)
{
    struct {
        void           (*handler)(int);
        unsigned long    flags;
#ifdef SA_RESTORER
        void           (*restorer)(void);
#endif
        uint64_t         mask;
    }    ksa;
    int  sig;

    memset(&ksa, 0, sizeof(ksa));
    ksa.handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) {
            continue;
        }
        if (signal(sig, SIG_DFL) == SIG_ERR) {
            syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
        }
    }
}


void
tgw_keeper_main(int argc, char **argv)
{
    pid_t                    worker;
    struct signalfd_siginfo  si;
    struct pollfd            pfd[2];
    sigset_t                 set;
    const char              *lease;
    int                      sfd, fd;

    worker = (pid_t) strtol(argv[2], NULL, 10);
    tgw_batch = argc == 4;          /* tgw_keeper_wanted checked argv[3] */
    lease = getenv(TGW_SPAWNER_LEASE_ENV);
    if (lease != NULL) {
        tgw_lease = strtoull(lease, NULL, 10);  /* the first (keeper.h,
                                                   "Leases") */
    }
    prctl(PR_SET_NAME, "taskgw-spawn"); /* not "exe" in ps and top */

    /* SIGCHLD and SIGHUP are read from a signalfd; SIGTERM, SIGINT and
     * SIGQUIT are for the programs (the worker signals their groups),
     * and SIGPIPE is an error of send(). */
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, NULL);

    /* Nothing ignored is handed down to the programs (an ignored signal
     * stays ignored across execve): every disposition the default, once
     * here instead of in each child. */
    tgw_spawner_default_signals();

    /* SIGHUP when the worker dies; if it died before this call, nothing
     * may run. */
    if (prctl(PR_SET_PDEATHSIG, SIGHUP) != 0 || getppid() != worker) {
        _exit(75);
    }
    fcntl(tgw_sock, F_SETFD, FD_CLOEXEC);

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd == -1) {
        fprintf(stderr, "taskgw-spawn: signalfd: %s\n", strerror(errno));
        _exit(75);
    }

    /* The programs get the worker's pipes, never these. */
    fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        if (fd > STDERR_FILENO) {
            close(fd);
        }
    }

    /* to a batching worker: "kills are answered" (keeper.h, "Answers"),
     * and leases are taken ("Leases") */
    if (tgw_batch) {
        tgw_spawner_send(TGW_SPAWN_KILLED, 0, TGW_SPAWNER_LEASES);
        tgw_spawner_flush();
    }

    pfd[0].fd = tgw_sock;
    pfd[0].events = POLLIN;
    pfd[1].fd = sfd;
    pfd[1].events = POLLIN;
    for ( ;; ) {
        if (poll(pfd, 2, tgw_spawner_lease_wait()) <= 0) {
            continue;               /* the lease to check, or EINTR */
        }
        if (pfd[1].revents) {
            while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGHUP && getppid() != worker) {
                    tgw_spawner_orphaned();
                }
            }
            tgw_spawner_reap();
        }
        if (pfd[0].revents) {
            tgw_spawner_read();
        }
        tgw_spawner_flush();        /* this turn's reports, together */
    }
}
