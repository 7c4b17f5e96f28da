/*
 * The exec keeper: a small process between the worker and a handler's
 * program, so that the program never outlives its worker.
 *
 * An exec handler's program runs in a process group of its own (so that
 * a timeout can signal its whole tree).  When the worker dies without
 * warning (kill -9, OOM killer, a crash) nothing would stop that tree:
 * another worker reclaims the task after claim_idle and runs it a second
 * time while the first run goes on.  So the worker does not start the
 * program itself but re-executes its own binary as a keeper:
 *
 *   taskgw-exec --exec-keeper <worker pid> -- <program> <args>...
 *
 * The keeper asks the kernel for SIGHUP when its parent dies
 * (PR_SET_PDEATHSIG), checks that the parent is still the worker (it may
 * have died between the fork and that request), forks and execs the
 * program in the same process group, and waits.  When the program ends
 * the keeper ends the same way (the same exit status, or the same
 * signal), so the worker sees exactly what the program did.  When the
 * worker dies the keeper SIGKILLs its whole process group, the program
 * and whatever the program started, itself included.
 *
 * The kernel sends that signal when the *thread* that forked the keeper
 * ends, not the process: the worker spawns from its loop thread, the main
 * thread, which ends only with the process (libuv's and libcurl's helper
 * threads never spawn).
 *
 * The keeper ignores SIGTERM, SIGINT and SIGQUIT: the worker signals the
 * whole group, so the program gets them directly.  A descendant that
 * leaves the group (setsid, daemonizing) escapes the keeper, as it
 * escapes a timeout.
 */

#ifndef TGW_KEEPER_H
#define TGW_KEEPER_H

#include <sys/types.h>

#define TGW_KEEPER_ARG   "--exec-keeper"

/*
 * Builds the argv that runs prog through the keeper for the worker
 * (this process): a NULL-terminated, malloc'ed array whose strings are
 * prog's own (not copied), except for the pid text written into pid_buf
 * (at least 24 bytes).  Spawn it as tgw_keeper_path().  NULL when out of
 * memory.
 */
char **tgw_keeper_argv(char * const *prog, char *pid_buf);

/*
 * The program the keeper argv is spawned as, looked up once:
 * taskgw-exec-keeper next to this binary when it is there (small and
 * static, it starts in a fraction of the time), else this very binary,
 * the running one even when the file on disk was replaced since.  That is
 * a descriptor of /proc/self/exe, opened (close-on-exec) and named
 * "/proc/self/fd/N"; "/proc/self/exe" itself when it cannot be opened.
 * Not "/proc/self/exe" always: under valgrind that is valgrind's own tool,
 * while valgrind opens this program's file for it.
 */
#define TGW_KEEPER_BIN   "taskgw-exec-keeper"
const char *tgw_keeper_path(void);

/* 1 when argv asks this process to be a keeper. */
int tgw_keeper_wanted(int argc, char **argv);

/* Runs the keeper; does not return. */
void tgw_keeper_main(int argc, char **argv) __attribute__((noreturn));

#endif /* TGW_KEEPER_H */
