/*
 * Running one task with its handler: built-ins on timers, exec handlers as
 * child processes (no shell, started by the worker's spawner, which kills
 * them when the worker dies: keeper.h), all on the caller's libuv loop.
 * A run reports through its done callback exactly once, after every libuv
 * handle it opened is closed, so the owner may free it right there.
 */

#ifndef TGW_RUN_H
#define TGW_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "conf.h"
#include "hreq.h"
#include "outcome.h"

/* How much of a failing command's stderr becomes the task's error. */
#define TGW_STDERR_TAIL     2048

/* After SIGTERM on timeout, SIGKILL follows after this long. */
#define TGW_KILL_AFTER_MS   5000

/* After the child exited, how long its pipes may stay open (a grandchild
 * holding them) before they are closed anyway. */
#define TGW_DRAIN_MS        1000

typedef struct tgw_run_s tgw_run_t;
typedef void (*tgw_run_cb)(tgw_run_t *run);

struct tgw_run_s {
    /* Inputs, set by the caller before tgw_run_start(); the strings and
     * the payload must stay valid until done is called. */
    uv_loop_t                *loop;
    const tgw_handler_conf_t *handler;  /* NULL: the type has no handler */
    const char               *task_id;
    const char               *type;
    const char               *queue;
    int                       attempt;  /* 1 on the first run */
    const char               *traceparent; /* this run's (tgw_trace_run),
                                              or NULL for none */
    const char               *payload;
    size_t                    payload_len;
    const char               *content_type; /* http: of the payload, or
                                               NULL (octet-stream) */
    size_t                    result_max; /* bytes of output kept */
    tgw_run_cb                done;
    void                     *data;     /* the caller's */

    /* Outputs, valid in done and until tgw_run_cleanup(). */
    tgw_run_status_t          status;
    char                     *output;   /* raw result bytes (malloc'ed) */
    size_t                    output_len;
    int                       truncated;  /* output was cut at result_max */
    char                      *error;   /* failure text, NUL-terminated */
    int                       abandon;  /* not the worker's to record any
                                           more: its claim on the task
                                           lapsed (exec: lost 3) */

    /* Private state. */
    uv_timer_t                timer;      /* built-in delay, exec timeout */
    uv_timer_t                kill_timer; /* SIGKILL after SIGTERM, and the
                                             drain limit after exit */
    uv_pipe_t                 in, out, err; /* child's stdin/out/err */
    pid_t                     pid;        /* exec: the program's (and its
                                             group's) once known, or 0 */
    uint32_t                  spawn_id;   /* exec: its number for the
                                             spawner (keeper.h) */
    tgw_run_t                *spawn_next; /* exec: the runs the spawner */
    tgw_run_t                *spawn_prev; /* still runs */
    int                       lost;       /* exec: the spawner died (1),
                                             stopped answering (2), or
                                             killed the program when the
                                             worker's lease passed (3) */
    uv_write_t                write_req;
    size_t                    in_sent;    /* exec: payload bytes written
                                             before the program started */
    int                       open_handles; /* done fires at zero */
    int                       spawned;    /* the child exists (or did) */
    int                       exited;
    int64_t                   exit_status;
    int                       term_signal;
    int                       timed_out;
    int                       aborted;    /* tgw_run_abort() was called */
    char                     *errbuf;     /* stderr, the last bytes */
    size_t                    errlen;

    /* http: the POST and its header lines. */
    tgw_hreq_t                hreq;
    char                     *hdr[5];
};

/*
 * A handler's operations.  start begins the run (0, or -1 when out of
 * memory with nothing left open); abort ends it early; finish, when set,
 * settles status and error once every handle of the run is closed.
 */
typedef struct {
    int               (*start)(tgw_run_t *run);
    void              (*abort)(tgw_run_t *run);
    void              (*finish)(tgw_run_t *run);
} tgw_handler_ops_t;

extern const tgw_handler_ops_t tgw_builtin_ops;    /* builtin.c */
extern const tgw_handler_ops_t tgw_exec_ops;       /* exec.c */
extern const tgw_handler_ops_t tgw_http_ops;       /* http.c */

/* Closes one of the run's handles (h->data == run), counting it; and
 * counts a handle closed by other means (run.c). */
void tgw_run_close_handle(tgw_run_t *run, uv_handle_t *h);
void tgw_run_handle_gone(tgw_run_t *run);

/* The close callback of a run's handles (h->data == run): counts it. */
void tgw_run_handle_closed(uv_handle_t *h);

/* Replaces run->error with a formatted text; NULL when out of memory (the
 * run still fails, without a text). */
void tgw_run_set_error(tgw_run_t *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Starts the run.  Returns 0 when done will be called (even for runs that
 * fail at once, like an unknown type or a program that cannot start), -1
 * when out of memory (done will not be called; nothing is left open).
 */
int tgw_run_start(tgw_run_t *run);

/* Ends a run early (shutdown grace expired): kills the child's process
 * group.  done is still called. */
void tgw_run_abort(tgw_run_t *run);

/* Frees the outputs. */
void tgw_run_cleanup(tgw_run_t *run);

/* Lets the exec spawner (keeper.h) go, once no run is left: it exits and
 * its handles close on the next turns of the loop (spawn.c). */
void tgw_exec_spawner_stop(void);

/* Applies the config's exec_spawner_timeout to the spawner (spawn.h). */
void tgw_exec_spawner_conf(const tgw_conf_t *conf);

/* The spawner's lease ends at deadline (CLOCK_MONOTONIC ms, keeper.h
 * "Leases"): its programs are killed if no later one comes by then. */
void tgw_exec_spawner_lease(uint64_t deadline);

#endif /* TGW_RUN_H */
