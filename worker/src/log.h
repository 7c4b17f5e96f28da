/*
 * Logging: one line per event on stderr, either
 *
 *   ts=2026-11-23T10:00:00.123Z level=info event=task_done task_id=... k=v
 *
 * or, with --log-json, the same pairs as one JSON object per line.  Values
 * with spaces, quotes or '=' are double-quoted (with \" \\ \n escapes).
 *
 * A line about a task names its trace too: a task_id pair is followed by
 * trace_id=<32 hex> whenever that task's trace is bound (tgw_log_trace_bind,
 * from the moment its hash was read), so no call site has to remember it.
 */

#ifndef TGW_LOG_H
#define TGW_LOG_H

typedef enum {
    TGW_LOG_DEBUG = 0,
    TGW_LOG_INFO,
    TGW_LOG_WARN,
    TGW_LOG_ERROR
} tgw_log_level_t;

/* Format (0 key=value, 1 JSON) and lowest level written. */
void tgw_log_init(int json, tgw_log_level_t min_level);

/*
 * The trace id of a task for its log lines.  The caller owns the node (in
 * its task or delivery) and keeps task_id valid while it is bound; one task
 * id may be bound by several nodes (a run and a webhook delivery).
 */
typedef struct tgw_log_trace_s {
    struct tgw_log_trace_s  *next;      /* its bucket's list */
    const char              *task_id;
    char                     trace_id[33];
    unsigned                 bucket;
    int                      bound;
} tgw_log_trace_t;

/* Binds task_id to trace_id (32 hex digits; more are ignored). */
void tgw_log_trace_bind(tgw_log_trace_t *n, const char *task_id,
    const char *trace_id);
/* Unbinds it (nothing when not bound). */
void tgw_log_trace_unbind(tgw_log_trace_t *n);

/*
 * Buffering (off at start): while on, lines collect in memory and go out
 * with tgw_log_flush(), in one write(2) for all of them.  The worker
 * flushes once per loop iteration, before the loop waits, and at exit,
 * so a line is never held while the worker sleeps.  Turning it off
 * flushes.
 */
void tgw_log_buffer(int on);
void tgw_log_flush(void);

/*
 * Writes one event: the arguments after event are key, value string pairs
 * ending with NULL.  A NULL value (with a non-NULL key) skips the pair.
 */
void tgw_log(tgw_log_level_t level, const char *event, ...)
    __attribute__((sentinel));

#endif /* TGW_LOG_H */
