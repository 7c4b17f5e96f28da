/*
 * The exec spawner (keeper.h): starts a worker's exec programs and ties
 * each, with everything it starts in its process group, to the life of
 * the worker.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keeper.h"


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
    return argc == 3 && strcmp(argv[1], TGW_SPAWNER_ARG) == 0;
}


/* ------------------------------------------------------------------------
 * Every exec program of one worker, started with posix_spawn, each in its
 * own process group.
 * ------------------------------------------------------------------------ */

typedef struct {
    pid_t     pid;                  /* also its process group */
    uint32_t  id;
} tgw_spawner_kid_t;

static tgw_spawner_kid_t  *tgw_kids;
static size_t              tgw_nkids, tgw_kids_cap;
static int                 tgw_sock = TGW_SPAWNER_FD;


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


static void
tgw_spawner_send(uint32_t type, uint32_t id, int32_t a)
{
    tgw_spawn_msg_t  m;
    ssize_t          n;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.id = id;
    m.a = a;
    do {
        n = send(tgw_sock, &m, sizeof(m), MSG_NOSIGNAL);
    } while (n == -1 && errno == EINTR);
    if (n == -1) {
        tgw_spawner_orphaned();     /* the worker closed its end */
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
 * A program file without "#!" runs under /bin/sh, as execvp() runs it
 * (posix_spawnp does not): argv becomes /bin/sh, the file found in PATH,
 * then argv[1...].  Returns posix_spawn's answer, ENOEXEC when there is
 * no such file.
 */
static int
tgw_spawner_sh(pid_t *pid, const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *at, char **argv, char **envp)
{
    const char  *path, *dir, *colon;
    char         file[4096], **sh;
    size_t       n, len;
    int          rc;

    if (strchr(argv[0], '/') != NULL) {
        if (strlen(argv[0]) >= sizeof(file)) {
            return ENOEXEC;
        }
        snprintf(file, sizeof(file), "%s", argv[0]);
    } else {
        path = getenv("PATH");
        file[0] = '\0';
        for (dir = path ? path : ""; *dir != '\0' && file[0] == '\0';
             dir = *colon ? colon + 1 : colon)
        {
            colon = strchr(dir, ':');
            if (colon == NULL) {
                colon = dir + strlen(dir);
            }
            len = (size_t) (colon - dir);
            if (len + strlen(argv[0]) + 2 > sizeof(file)) {
                continue;
            }
            snprintf(file, sizeof(file), "%.*s%s%s", (int) len, dir,
                     len ? "/" : "", argv[0]);
            if (access(file, X_OK) != 0) {
                file[0] = '\0';
            }
        }
        if (file[0] == '\0') {
            return ENOEXEC;
        }
    }

    for (n = 0; argv[n] != NULL; n++) { /* count */ }
    sh = calloc(n + 2, sizeof(char *));
    if (sh == NULL) {
        return ENOMEM;
    }
    sh[0] = "/bin/sh";
    sh[1] = file;
    memcpy(sh + 2, argv + 1, (n - 1) * sizeof(char *));
    rc = posix_spawn(pid, "/bin/sh", fa, at, sh, envp);
    free(sh);
    return rc;
}


static void
tgw_spawner_spawn(const tgw_spawn_msg_t *m, char *buf, size_t len,
    const int *fds, int nfds)
{
    posix_spawn_file_actions_t  fa;
    posix_spawnattr_t           at;
    tgw_spawner_kid_t          *grown;
    sigset_t                    none, all;
    char                       *p, *end, *nul, **argv, **envp;
    pid_t                       pid;
    size_t                      i, n;
    int                         rc;

    if (nfds != 3 || m->a < 1 || m->b < 0 || m->a > 65536 || m->b > 65536) {
        tgw_spawner_fail(m->id, nfds == 3 ? fds[2] : -1, "?",
                         "malformed request");
        return;
    }
    n = (size_t) m->a + (size_t) m->b;
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
        return;
    }

    /* argc arguments, a NULL, envc environment strings, a NULL */
    envp = argv + m->a + 1;
    p = buf + sizeof(*m);
    end = buf + len;
    for (i = 0; i < n; i++) {
        nul = memchr(p, '\0', (size_t) (end - p));
        if (nul == NULL) {
            free(argv);
            tgw_spawner_fail(m->id, fds[2], "?", "malformed request");
            return;
        }
        if (i < (size_t) m->a) {
            argv[i] = p;
        } else {
            envp[i - (size_t) m->a] = p;
        }
        p = nul + 1;
    }

    /* The program's stdio are the worker's pipes; its own process group
     * (a timeout signals the whole tree); no blocked or ignored signal
     * of ours. */
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, fds[2], STDERR_FILENO);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP
                                  | POSIX_SPAWN_SETSIGMASK
                                  | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&at, &all);

    /* PATH is looked up in this process's environment, which the worker
     * set to the one it gives the program. */
    rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, envp);
    if (rc == ENOEXEC) {
        rc = tgw_spawner_sh(&pid, &fa, &at, argv, envp);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        tgw_spawner_fail(m->id, fds[2], argv[0], strerror(rc));
        free(argv);
        return;
    }
    free(argv);
    tgw_kids[tgw_nkids].pid = pid;
    tgw_kids[tgw_nkids].id = m->id;
    tgw_nkids++;
    tgw_spawner_send(TGW_SPAWN_STARTED, m->id, (int32_t) pid);
}


/* The worker's signal for a program it asked for: its whole group. */
static void
tgw_spawner_kill(uint32_t id, int sig)
{
    size_t i;

    for (i = 0; i < tgw_nkids; i++) {
        if (tgw_kids[i].id == id) {
            if (kill(-tgw_kids[i].pid, sig) != 0) {
                kill(tgw_kids[i].pid, sig);
            }
            return;
        }
    }
    /* ended already: its end is on the way to the worker */
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


/* Reads every request waiting; returns when none is left. */
static void
tgw_spawner_read(void)
{
    static char       buf[TGW_SPAWN_MAX] __attribute__((aligned(8)));
    union {
        struct cmsghdr  h;
        char            b[CMSG_SPACE(3 * sizeof(int))];
    }                 cm;
    struct cmsghdr   *c;
    struct msghdr     mh;
    struct iovec      iov;
    tgw_spawn_msg_t   m;
    ssize_t           n;
    int               fds[3], nfds, i;

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
                for (i = 0; (size_t) i < (c->cmsg_len - CMSG_LEN(0))
                                         / sizeof(int); i++)
                {
                    if (nfds < 3) {
                        memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int),
                               sizeof(int));
                    }
                }
            }
        }

        if ((size_t) n >= sizeof(m)) {
            memcpy(&m, buf, sizeof(m));
            if (m.type == TGW_SPAWN_REQ) {
                if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                    tgw_spawner_fail(m.id, nfds == 3 ? fds[2] : -1, "?",
                                     "request too long");
                } else {
                    tgw_spawner_spawn(&m, buf, (size_t) n, fds, nfds);
                }
            } else if (m.type == TGW_SPAWN_KILL) {
                tgw_spawner_kill(m.id, m.a);
            }
        }
        for (i = 0; i < nfds; i++) {
            close(fds[i]);
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
    int                      sfd, fd;

    worker = (pid_t) strtol(argv[2], NULL, 10);
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

    pfd[0].fd = tgw_sock;
    pfd[0].events = POLLIN;
    pfd[1].fd = sfd;
    pfd[1].events = POLLIN;
    for ( ;; ) {
        if (poll(pfd, 2, -1) == -1) {
            continue;               /* EINTR */
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
    }
}
