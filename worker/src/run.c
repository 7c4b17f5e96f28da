/*
 * A run's life cycle (see run.h), dispatched to its handler's operations:
 * builtin.c, exec.c, http.c.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

static void tgw_run_finish(tgw_run_t *run);


/* Replaces run->error with a formatted text (shared by every handler). */
void
tgw_run_set_error(tgw_run_t *run, const char *fmt, ...)
{
    va_list ap;
    char   *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
    }
    va_end(ap);
    free(run->error);
    run->error = s;                 /* NULL on no memory: no text, still
                                       a failure */
}


static void
tgw_run_close(tgw_run_t *run, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        uv_close(h, tgw_run_handle_closed);
    }
}


void
tgw_run_close_handle(tgw_run_t *run, uv_handle_t *h)
{
    tgw_run_close(run, h);
}


void
tgw_run_handle_gone(tgw_run_t *run)
{
    if (--run->open_handles == 0) {
        tgw_run_finish(run);
    }
}


void
tgw_run_handle_closed(uv_handle_t *h)
{
    tgw_run_t *run = h->data;

    if (--run->open_handles == 0) {
        tgw_run_finish(run);
    }
}

/* ------------------------------------------------------------------------
 * The run
 * ------------------------------------------------------------------------ */

/* The operations of a run's handler; an unknown type runs as a built-in
 * that fails at once. */
static const tgw_handler_ops_t *
tgw_run_ops(const tgw_run_t *run)
{
    if (run->handler == NULL) {
        return &tgw_builtin_ops;
    }
    switch (run->handler->kind) {
    case TGW_HANDLER_EXEC:
        return &tgw_exec_ops;
    case TGW_HANDLER_HTTP:
        return &tgw_http_ops;
    case TGW_HANDLER_BUILTIN:
        break;
    }
    return &tgw_builtin_ops;
}


static void
tgw_run_finish(tgw_run_t *run)
{
    const tgw_handler_ops_t *ops = tgw_run_ops(run);

    if (ops->finish) {
        ops->finish(run);
    }
    free(run->errbuf);
    run->errbuf = NULL;
    run->done(run);
}


int
tgw_run_start(tgw_run_t *run)
{
    run->status = TGW_RUN_SUCCESS;
    run->output = NULL;
    run->output_len = 0;
    run->truncated = 0;
    run->error = NULL;
    run->open_handles = 0;
    run->spawned = run->exited = run->timed_out = run->aborted = 0;
    run->abandon = 0;
    run->exit_status = 0;
    run->term_signal = 0;
    run->errbuf = NULL;
    run->errlen = 0;
    memset(run->hdr, 0, sizeof(run->hdr));

    if (run->handler == NULL) {
        /* An unknown type can never succeed. */
        run->status = TGW_RUN_PERMANENT;
        tgw_run_set_error(run, "no handler for type \"%s\"",
                          run->type ? run->type : "");
    }
    return tgw_run_ops(run)->start(run);
}


void
tgw_run_abort(tgw_run_t *run)
{
    run->aborted = 1;
    tgw_run_ops(run)->abort(run);
}


void
tgw_run_cleanup(tgw_run_t *run)
{
    size_t i;

    for (i = 0; i < sizeof(run->hdr) / sizeof(run->hdr[0]); i++) {
        free(run->hdr[i]);
        run->hdr[i] = NULL;
    }
    free(run->output);
    free(run->error);
    free(run->errbuf);
    run->output = NULL;
    run->error = NULL;
    run->errbuf = NULL;
}
