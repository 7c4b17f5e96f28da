/*
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the rules of
 * a traceparent value, written once for the nginx module, taskgw-worker
 * and taskgwctl.  Plain C with no library calls, so the module includes
 * it as it is; see docs/operations.md ("Trace context") for how each part
 * uses it.
 *
 * A traceparent is "<version>-<trace id>-<parent id>-<flags>": 2, 32, 16
 * and 2 lowercase hex digits.  What is taken:
 *
 *   - version 00: exactly those 55 characters;
 *   - version ff: never (the spec forbids it);
 *   - any other version (a later one): at least 55 characters, the four
 *     fields laid out as in 00 and, after the flags, the end or a dash;
 *     what follows is not ours to read.  It is kept as version 00, the one
 *     we implement, with only the sampled flag (bit 0): the meaning of the
 *     other bits in a later version is unknown.
 *
 * A trace id or parent id of all zeros is invalid; so are uppercase hex,
 * whitespace inside, and anything else.  A value that is not taken is
 * replaced by a fresh trace, never refused.
 */

#ifndef TGW_TRACE_H
#define TGW_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "tgw_hex.h"

#define TGW_TRACEPARENT_LEN   55    /* "00-" 32 "-" 16 "-" 2 */
#define TGW_TRACE_ID_LEN      32    /* hex digits */
#define TGW_SPAN_ID_LEN       16
#define TGW_TRACE_ID_OFF      3     /* where each field starts */
#define TGW_PARENT_ID_OFF     36
#define TGW_TRACE_FLAGS_OFF   53

/* Flags of a trace we start: sampled (we log it, see docs). */
#define TGW_TRACE_FLAGS_NEW   "01"


/* 1 when s[0..n) are lowercase hex digits, not all '0' (when nonzero). */
static inline int
tgw_trace_hex(const unsigned char *s, size_t n, int nonzero)
{
    size_t  i;
    int     any = 0;

    for (i = 0; i < n; i++) {
        if ((s[i] < '0' || s[i] > '9') && (s[i] < 'a' || s[i] > 'f')) {
            return 0;
        }
        any |= s[i] != '0';
    }

    return any || !nonzero;
}


/*
 * Checks the traceparent s[0..len) by the rules above.  On success writes
 * the version-00 form to out (TGW_TRACEPARENT_LEN bytes, no NUL) and
 * returns 0; returns -1 when the value is not taken.
 */
static inline int
tgw_traceparent_parse(const unsigned char *s, size_t len, unsigned char *out)
{
    size_t  i;
    int     later;

    if (len < TGW_TRACEPARENT_LEN || !tgw_trace_hex(s, 2, 0)
        || (s[0] == 'f' && s[1] == 'f')
        || s[2] != '-' || s[TGW_PARENT_ID_OFF - 1] != '-'
        || s[TGW_TRACE_FLAGS_OFF - 1] != '-'
        || !tgw_trace_hex(s + TGW_TRACE_ID_OFF, TGW_TRACE_ID_LEN, 1)
        || !tgw_trace_hex(s + TGW_PARENT_ID_OFF, TGW_SPAN_ID_LEN, 1)
        || !tgw_trace_hex(s + TGW_TRACE_FLAGS_OFF, 2, 0))
    {
        return -1;
    }

    later = !(s[0] == '0' && s[1] == '0');

    if (len > TGW_TRACEPARENT_LEN
        && (!later || s[TGW_TRACEPARENT_LEN] != '-'))
    {
        return -1;
    }

    for (i = 0; i < TGW_TRACEPARENT_LEN; i++) {
        out[i] = s[i];
    }

    out[0] = '0';
    out[1] = '0';

    if (later) {
        /* only the sampled bit: the low bit of the second digit */
        out[TGW_TRACE_FLAGS_OFF] = '0';
        out[TGW_TRACE_FLAGS_OFF + 1] =
            ((s[TGW_TRACE_FLAGS_OFF + 1] >= 'a'
              ? s[TGW_TRACE_FLAGS_OFF + 1] - 'a' + 10
              : s[TGW_TRACE_FLAGS_OFF + 1] - '0') & 1) ? '1' : '0';
    }

    return 0;
}


/*
 * Writes a version-00 traceparent (TGW_TRACEPARENT_LEN bytes, no NUL) to
 * out from 16 bytes of trace id and 8 of parent id (binary), and flags
 * (two hex digits).  An all-zero id, which a random source yields once in
 * 2^64 draws or more, gets its last bit set: the result is always valid.
 */
static inline void
tgw_traceparent_make(const unsigned char *trace, const unsigned char *parent,
    const char *flags, unsigned char *out)
{
    size_t         i;
    unsigned char  z;

    out[0] = '0';
    out[1] = '0';
    out[2] = '-';

    (void) tgw_hex_write(out + TGW_TRACE_ID_OFF, trace, 16);

    for (i = 0, z = 0; i < 16; i++) {
        z |= trace[i];
    }

    if (z == 0) {
        out[TGW_TRACE_ID_OFF + TGW_TRACE_ID_LEN - 1] = '1';
    }

    out[TGW_PARENT_ID_OFF - 1] = '-';

    (void) tgw_hex_write(out + TGW_PARENT_ID_OFF, parent, 8);

    for (i = 0, z = 0; i < 8; i++) {
        z |= parent[i];
    }

    if (z == 0) {
        out[TGW_PARENT_ID_OFF + TGW_SPAN_ID_LEN - 1] = '1';
    }

    out[TGW_TRACE_FLAGS_OFF - 1] = '-';
    out[TGW_TRACE_FLAGS_OFF] = flags[0];
    out[TGW_TRACE_FLAGS_OFF + 1] = flags[1];
}


/* ------------------------------------------------------------------------
 * The worker and taskgwctl (tgw_trace.c).  Each writes a traceparent of
 * TGW_TRACEPARENT_LEN characters and a NUL to out.
 * ------------------------------------------------------------------------ */

/* Task ids longer than this are bad entries (the worker's TGW_TASK_ID_MAX). */
#define TGW_TRACE_TASK_ID_MAX  256

/*
 * A task's trace: its stored traceparent (len bytes, NULL for none) when
 * valid, else one derived from the task id (SHA-256), the same on every
 * worker and attempt, so a task from before traces or with a broken field
 * is still one trace.
 */
void tgw_trace_of_task(const char *stored, size_t len, const char *task_id,
    char *out);

/*
 * The traceparent a run of the task sends on (http handler, TRACEPARENT of
 * an exec handler, the webhook after its last run): the trace id and flags
 * of tp (a valid version-00 traceparent), and as parent id the run's span
 * id, the first 8 bytes of SHA-256("<task id>\n<attempt>\n<started_at ms>").
 * Each run has its own (an attempt number is never used twice for one
 * start time), and anyone holding the task hash can name it again.
 */
void tgw_trace_run(const char *tp, const char *task_id, int attempt,
    uint64_t started_ms, char *out);

/* A new trace from the kernel's CSPRNG (getrandom(2), GRND_NONBLOCK); -1
 * on failure. */
int tgw_trace_new(char *out);

#endif /* TGW_TRACE_H */
