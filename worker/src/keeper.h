/*
 * The exec spawner: a small process between the worker and its exec
 * handlers' programs, so that a program never outlives its worker.
 *
 * An exec handler's program runs in a process group of its own (so that
 * a timeout can signal its whole tree).  When the worker dies without
 * warning (kill -9, OOM killer, a crash) nothing would stop that tree:
 * another worker reclaims the task after claim_idle and runs it a second
 * time while the first run goes on.  So the worker does not start
 * programs itself: a spawner, started once, starts them and kills their
 * groups when the worker dies (below).
 *
 * The kernel sends the spawner its PR_SET_PDEATHSIG signal when the
 * *thread* that started it ends, not the process: the worker spawns from
 * its loop thread, the main thread, which ends only with the process
 * (libuv's and libcurl's helper threads never spawn).
 *
 * A descendant that leaves its program's group (setsid, daemonizing)
 * escapes the spawner, as it escapes a timeout.
 */

#ifndef TGW_KEEPER_H
#define TGW_KEEPER_H

#include <stdint.h>
#include <sys/types.h>

/*
 * The program the spawner is started as, looked up once:
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

/*
 * How the worker and its spawner talk.
 *
 * A keeper process per task cost a second program start per task, and
 * starting it with libuv's uv_spawn copied the worker's whole address
 * space (fork) each time.  So the worker starts, once, a long-lived
 * spawner (the program above):
 *
 *   taskgw-exec --exec-spawner <worker pid>
 *
 * with descriptor 3 one end of a SOCK_SEQPACKET socketpair.  The worker
 * sends it spawn requests (argv, environment, and the program's stdin,
 * stdout and stderr as SCM_RIGHTS); the spawner starts each program the
 * way posix_spawn does (a clone with vfork semantics: nothing is copied;
 * keeper.c says why not posix_spawn itself) in a process group of its
 * own, reports its pid, and later its wait status.  Signals for a
 * running program go through the spawner too, which signals the group:
 * being the program's parent, it knows the pid is still the program's.
 *
 * When the worker dies (the socket reaches end of file, or SIGHUP from
 * PR_SET_PDEATHSIG) the spawner SIGKILLs the process group of every
 * program still running, and exits.  When the spawner dies, the worker
 * SIGKILLs those groups itself, fails their runs as retryable, and starts
 * a new spawner for the next run.
 *
 * A program that cannot be started gets "cannot run <prog>: <reason>" on
 * its stderr and exits 127 (as execvp's failure did before); a program
 * file without "#!" runs under /bin/sh, as execvp runs it.  A worker that
 * stops with no run left kills its spawner (a stopped one must not hold
 * the exit).  A request is at most TGW_SPAWN_MAX bytes: a handler whose
 * argv and environment are longer fails "argument list too long".
 */
#define TGW_SPAWNER_ARG  "--exec-spawner"
#define TGW_SPAWNER_FD   3

/*
 * Batches.  Started as "taskgw-exec --exec-spawner <pid> batch", the
 * spawner takes several messages in one datagram (the spawn requests of
 * a turn of the worker's loop, their descriptors attached in order,
 * three each, at most TGW_SPAWN_FDS: every descriptor the spawner holds
 * when it starts a program is copied into the child and closed again at
 * its execve, so a request's are closed as soon as its program runs, and
 * few requests share a datagram), and sends the pids and wait
 * statuses of a turn of its own together, up to TGW_SPAWN_BATCH reports
 * a datagram: a system call and a wake-up per turn instead of one per
 * message.  Without "batch" (a worker older than the spawner program
 * installed beside it) each datagram is one message, both ways.  A
 * batch the spawner cannot read to its end makes it exit, as its death
 * does (below): no request is left unanswered.
 *
 * Answers.  To a batching worker every request is answered, in order: a
 * spawn request with STARTED (pid 0 when the program could not start),
 * a kill with KILLED once the group was signalled.  So the worker can
 * tell a spawner that stopped answering (stopped with SIGSTOP or by a
 * debugger, or stuck in a program's execve on a dead mount) from one
 * that is just busy: spawn.c, "A spawner that does not answer".  Its
 * first report, a KILLED for id 0 (no run's), says it answers kills: a
 * spawner program older than that, installed beside a newer worker, is
 * waited for on its spawn requests only.  A worker older than KILLED
 * ignores it, as it ignores any report it does not know.
 *
 * Leases.  A worker that is alive but held up (stopped with SIGSTOP, its
 * loop stalled, the machine swapping, Redis out of its reach) refreshes
 * no claim: after claim_idle another worker reclaims its tasks and runs
 * them again, while its programs would run on.  So the spawner holds a
 * lease: a deadline on CLOCK_MONOTONIC (one clock for every process of
 * the machine), which the worker moves on each time Redis acknowledged
 * a refresh of its claims (reclaim.h) and which ends well before any of
 * them can be taken.  When it passes with a program running, the
 * spawner kills every program's group, says LAPSED, and exits, as if
 * the worker were gone: the worker abandons those runs (their entries
 * stay pending, for whichever worker reclaims them).  A spawner that
 * takes leases says so in its greeting (a = TGW_SPAWNER_LEASES); it
 * holds none until the first arrives, and a worker sends none to a
 * spawner that did not say so (an older one would take the message
 * for a broken batch).  The first lease comes in the spawner's
 * environment, TGW_SPAWNER_LEASE_ENV (the deadline in decimal): it holds
 * one before its first program starts, and an older one ignores it.
 */
#define TGW_SPAWNER_LEASE_ENV  "TASKGW_SPAWNER_LEASE"
#define TGW_SPAWNER_BATCH  "batch"
#define TGW_SPAWN_BATCH    256      /* reports a datagram */
#define TGW_SPAWN_FDS      24       /* descriptors a datagram: eight
                                       requests (the kernel's limit is
                                       253) */

/* The messages, each one datagram: a header, then for a spawn request
 * argc NUL-terminated arguments and envc NUL-terminated environment
 * strings, with three descriptors attached. */
#define TGW_SPAWN_MAX    65536      /* bytes of a request */

enum {
    TGW_SPAWN_REQ = 1,              /* worker: a = argc, b = envc */
    TGW_SPAWN_KILL,                 /* worker: a = signal */
    TGW_SPAWN_STARTED,              /* spawner: a = pid */
    TGW_SPAWN_EXITED,               /* spawner: a = wait status */
    TGW_SPAWN_KILLED,               /* spawner, batched: a kill was done */
    TGW_SPAWN_LEASE,                /* worker: a, b = the lease's deadline,
                                       CLOCK_MONOTONIC ms, high and low
                                       32 bits; id 0 */
    TGW_SPAWN_LAPSED                /* spawner: the lease passed, every
                                       program was killed; id 0 */
};

/* The greeting's a: what the spawner takes beyond KILLED answers. */
#define TGW_SPAWNER_LEASES  1

typedef struct {
    uint32_t  type;
    uint32_t  id;                   /* the worker's number for the run,
                                       never 0 */
    int32_t   a;
    int32_t   b;
} tgw_spawn_msg_t;

/* 1 when argv asks this process to be the spawner. */
int tgw_keeper_wanted(int argc, char **argv);

/* Runs the spawner; does not return. */
void tgw_keeper_main(int argc, char **argv) __attribute__((noreturn));

#endif /* TGW_KEEPER_H */
