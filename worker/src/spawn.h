#ifndef TGW_SPAWN_H
#define TGW_SPAWN_H

/*
 * The worker's side of the exec spawner (keeper.h): the helper process
 * that starts every exec program, as their parent, so none outlives the
 * worker.  One per worker, started with the first request and again after
 * it died; requests and reports travel over one socket, a loop turn's
 * worth in one datagram.  exec.c is its only user.
 */

#include <uv.h>

#include "run.h"

/*
 * Makes sure the spawner runs, starting it with path as the PATH its
 * programs are looked up in when there is none: 0, or a libuv error code.
 */
int tgw_spawn_ready(uv_loop_t *loop, const char *path);

/*
 * Has the spawner (tgw_spawn_ready() first) start run's program: strs
 * holds na arguments then ne environment strings, fds the program's
 * stdin, stdout and stderr, which are the spawner's from here on (closed
 * here when the request cannot be made).  Returns 0: run->pid is set once
 * the spawner reports the start, and tgw_exec_exited() is called with the
 * program's wait status when it ends (SIGKILL when the spawner died and
 * took it along).  Or a libuv error code.
 */
int tgw_spawn_request(tgw_run_t *run, char * const *strs, int na, int ne,
    const int fds[3]);

/* Asks the spawner to signal run's program and its process group. */
void tgw_spawn_signal(tgw_run_t *run, int sig);

/* Moves the lease on (keeper.h, "Leases"; tgw_exec_spawner_lease() in
 * run.h): to deadline, CLOCK_MONOTONIC ms, if later than the one given
 * before.  Passed on to the spawner, now and to each new one. */
void tgw_spawn_lease(uint64_t deadline);

/* Lets the spawner go (tgw_exec_spawner_stop() in run.h). */
void tgw_spawn_stop(void);

/*
 * How long a request to the spawner (a start, a kill) may go unanswered,
 * with no other answer either, before the spawner is taken for stopped or
 * stuck, and killed with its programs (exec_spawner_timeout in
 * docs/worker-config.md; 0: this default).
 */
#define TGW_SPAWN_TIMEOUT_MS  10000
void tgw_spawn_set_timeout(uint64_t ms);

/* exec.c: run's program ended with this wait status. */
void tgw_exec_exited(tgw_run_t *run, int status);

#endif /* TGW_SPAWN_H */
