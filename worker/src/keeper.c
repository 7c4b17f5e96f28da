/*
 * The exec keeper (keeper.h): ties a handler's program, and everything it
 * starts in its process group, to the life of the worker.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keeper.h"


char **
tgw_keeper_argv(char * const *prog, char *pid_buf)
{
    size_t   n, i;
    char   **argv;

    for (n = 0; prog[n] != NULL; n++) { /* count */ }
    argv = calloc(n + 5, sizeof(char *));
    if (argv == NULL) {
        return NULL;
    }
    snprintf(pid_buf, 24, "%ld", (long) getpid());
    argv[0] = "taskgw-exec";
    argv[1] = TGW_KEEPER_ARG;
    argv[2] = pid_buf;
    argv[3] = "--";
    for (i = 0; i < n; i++) {
        argv[4 + i] = prog[i];
    }
    return argv;
}


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
    return argc >= 5 && strcmp(argv[1], TGW_KEEPER_ARG) == 0
           && strcmp(argv[3], "--") == 0;
}


/* Ends the keeper the way the program ended. */
static void __attribute__((noreturn))
tgw_keeper_exit_as(int status)
{
    struct rlimit  none = { 0, 0 };
    sigset_t       set;
    int            sig;

    if (WIFEXITED(status)) {
        _exit(WEXITSTATUS(status));
    }
    sig = WTERMSIG(status);
    setrlimit(RLIMIT_CORE, &none);  /* the program's core, not ours */
    signal(sig, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    kill(getpid(), sig);
    _exit(128 + sig);               /* a signal that does not kill */
}


void
tgw_keeper_main(int argc, char **argv)
{
    sigset_t  set, old;
    pid_t     worker, child;
    int       sig, status, fd;
    char    **prog = argv + 4;

    worker = (pid_t) strtol(argv[2], NULL, 10);
    prctl(PR_SET_NAME, "taskgw-exec");  /* not "exe" in ps and top */

    /* Every signal the keeper cares about is taken by sigwait below. */
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    sigprocmask(SIG_BLOCK, &set, &old);

    /* SIGHUP when the worker dies; if it died before this call, the
     * parent is some reaper by now and nothing may run. */
    if (prctl(PR_SET_PDEATHSIG, SIGHUP) != 0) {
        fprintf(stderr, "cannot tie %s to the worker: %s\n", prog[0],
                strerror(errno));
        _exit(75);
    }
    if (getppid() != worker) {
        _exit(75);
    }

    child = fork();
    if (child == -1) {
        fprintf(stderr, "cannot run %s: fork: %s\n", prog[0],
                strerror(errno));
        _exit(75);
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        execvp(prog[0], prog);
        fprintf(stderr, "cannot run %s: %s\n", prog[0], strerror(errno));
        _exit(127);
    }

    /* The keeper holds none of the program's pipes: their ends close
     * when the program's do. */
    fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO) {
            close(fd);
        }
    }

    for ( ;; ) {
        if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig == SIGCHLD) {
            if (waitpid(child, &status, WNOHANG) == child) {
                tgw_keeper_exit_as(status);
            }
        } else if (sig == SIGHUP && getppid() != worker) {
            kill(0, SIGKILL);       /* the whole group, the keeper too */
            _exit(75);
        }
        /* SIGTERM, SIGINT, SIGQUIT: the program got them too */
    }
}
