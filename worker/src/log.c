/*
 * Logging to stderr, key=value or JSON lines (see log.h).
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tgw_result.h"

static int              tgw_log_json;
static tgw_log_level_t  tgw_log_min = TGW_LOG_INFO;

/* Lines waiting for tgw_log_flush() while buffering is on. */
static char             tgw_log_out[65536];
static size_t           tgw_log_outlen;
static int              tgw_log_buffered;

/* The timestamp of the last line, kept while the millisecond lasts. */
static struct timeval   tgw_log_tv;
static char             tgw_log_ts[64];

static const char *tgw_log_levels[] = { "debug", "info", "warn", "error" };

/* Bound traces by task id (see log.h): few at a time (a worker's tasks
 * and deliveries), so a small table of lists. */
#define TGW_LOG_TRACE_BUCKETS  256

static tgw_log_trace_t  *tgw_log_traces[TGW_LOG_TRACE_BUCKETS];

/*
 * A line under construction.  A value longer than TGW_LOG_VALUE_MAX bytes
 * is cut (ending in "..."); a pair that does not fit any more is dropped
 * whole and the line ends with cut=1, so a line always stays parseable.
 */
#define TGW_LOG_VALUE_MAX  1024

typedef struct {
    char    buf[16384];
    size_t  len;
    int     cut;
} tgw_line_t;


void
tgw_log_init(int json, tgw_log_level_t min_level)
{
    tgw_log_json = json;
    tgw_log_min = min_level;
}


static unsigned
tgw_log_trace_hash(const char *s)
{
    unsigned  h = 2166136261u;          /* FNV-1a */

    for ( ; *s; s++) {
        h = (h ^ (unsigned char) *s) * 16777619u;
    }
    return h % TGW_LOG_TRACE_BUCKETS;
}


void
tgw_log_trace_bind(tgw_log_trace_t *n, const char *task_id,
    const char *trace_id)
{
    unsigned  b;

    tgw_log_trace_unbind(n);
    if (task_id == NULL || trace_id == NULL) {
        return;
    }
    b = tgw_log_trace_hash(task_id);
    n->task_id = task_id;
    n->bucket = b;
    snprintf(n->trace_id, sizeof(n->trace_id), "%.32s", trace_id);
    n->next = tgw_log_traces[b];
    tgw_log_traces[b] = n;
    n->bound = 1;
}


void
tgw_log_trace_unbind(tgw_log_trace_t *n)
{
    tgw_log_trace_t **pp;

    if (!n->bound) {
        return;
    }
    for (pp = &tgw_log_traces[n->bucket]; *pp; pp = &(*pp)->next) {
        if (*pp == n) {
            *pp = n->next;
            break;
        }
    }
    n->bound = 0;
    n->next = NULL;
}


/* The trace id bound to a task id, or NULL. */
static const char *
tgw_log_trace_find(const char *task_id)
{
    tgw_log_trace_t *n;

    for (n = tgw_log_traces[tgw_log_trace_hash(task_id)]; n; n = n->next) {
        if (strcmp(n->task_id, task_id) == 0) {
            return n->trace_id;
        }
    }
    return NULL;
}


static void
tgw_log_write(const char *buf, size_t len)
{
    ssize_t n;
    size_t  off;

    for (off = 0; off < len; off += (size_t) n) {
        n = write(STDERR_FILENO, buf + off, len - off);
        if (n <= 0) {
            break;
        }
    }
}


void
tgw_log_flush(void)
{
    if (tgw_log_outlen > 0) {
        tgw_log_write(tgw_log_out, tgw_log_outlen);
        tgw_log_outlen = 0;
    }
}


void
tgw_log_buffer(int on)
{
    if (!on) {
        tgw_log_flush();
    }
    tgw_log_buffered = on;
}


static void
tgw_line_put(tgw_line_t *l, const char *s, size_t n)
{
    /* Keep room for the cut marker and the newline. */
    if (l->cut || l->len + n > sizeof(l->buf) - 16) {
        l->cut = 1;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}


static void
tgw_line_puts(tgw_line_t *l, const char *s)
{
    tgw_line_put(l, s, strlen(s));
}


/*
 * Appends s escaped for a double-quoted string (logfmt and JSON alike).
 * A line is always valid UTF-8, whatever bytes a value holds (a task's
 * stderr, fields of a task hash): a byte that does not start a valid
 * UTF-8 sequence is written as U+FFFD, as in a webhook body.
 */
static void
tgw_line_escaped(tgw_line_t *l, const char *s)
{
    char           esc[8];
    size_t         n, len;
    unsigned char  c;

    for (n = 0; *s; s += len, n += len) {
        c = (unsigned char) *s;
        len = c < 0x80 ? 1 : tgw_utf8_seq_len(s, strnlen(s, 4));
        if (n + (len ? len : 1) > TGW_LOG_VALUE_MAX) {
            tgw_line_put(l, "...", 3);
            break;
        }

        if (len == 0) {
            tgw_line_put(l, "\xef\xbf\xbd", 3);      /* U+FFFD */
            len = 1;
        } else if (len > 1) {
            tgw_line_put(l, s, len);
        } else if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char) c;
            tgw_line_put(l, esc, 2);
        } else if (c == '\n') {
            tgw_line_put(l, "\\n", 2);
        } else if (c == '\r') {
            tgw_line_put(l, "\\r", 2);
        } else if (c == '\t') {
            tgw_line_put(l, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            tgw_line_put(l, esc, 6);
        } else {
            tgw_line_put(l, s, 1);
        }
    }
}


static int
tgw_log_needs_quotes(const char *s)
{
    if (*s == '\0' || !tgw_utf8_valid(s, strlen(s))) {
        return 1;                   /* quoted, so bad bytes are replaced */
    }
    for ( ; *s; s++) {
        if ((unsigned char) *s <= ' ' || *s == '"' || *s == '='
            || *s == '\\' || *s == 0x7f)
        {
            return 1;
        }
    }
    return 0;
}


/*
 * The length of s when it is written as it is in logfmt: printable ASCII
 * other than '"', '=' and '\\', at least one byte; 0 when it is not (it
 * may still need no quotes: tgw_log_needs_quotes() says).  One pass over
 * the value instead of a UTF-8 check, a scan and a strlen.
 */
static size_t
tgw_log_plain_len(const char *s)
{
    const unsigned char *p = (const unsigned char *) s;

    for ( ; *p > ' ' && *p < 0x7f && *p != '"' && *p != '=' && *p != '\\';
         p++)
    {
        /* void */
    }
    return *p == '\0' ? (size_t) (p - (const unsigned char *) s) : 0;
}


/* Appends a whole pair or, when it does not fit, nothing (and marks cut). */
static void
tgw_line_pair(tgw_line_t *l, const char *key, const char *value, int first)
{
    size_t  mark = l->len, n;

    if (l->cut) {
        return;
    }
    if (tgw_log_json) {
        tgw_line_puts(l, first ? "{\"" : ",\"");
        tgw_line_escaped(l, key);
        tgw_line_puts(l, "\":\"");
        tgw_line_escaped(l, value);
        tgw_line_puts(l, "\"");
    } else {
        if (!first) {
            tgw_line_puts(l, " ");
        }
        tgw_line_puts(l, key);
        tgw_line_puts(l, "=");
        if ((n = tgw_log_plain_len(value)) != 0) {
            tgw_line_put(l, value, n);
        } else if (tgw_log_needs_quotes(value)) {
            tgw_line_puts(l, "\"");
            tgw_line_escaped(l, value);
            tgw_line_puts(l, "\"");
        } else {
            tgw_line_puts(l, value);
        }
    }
    if (l->cut) {
        l->len = mark;              /* the pair goes whole or not at all */
    }
}


void
tgw_log(tgw_log_level_t level, const char *event, ...)
{
    static tgw_line_t l;
    struct timeval  tv;
    struct tm       tm;
    const char     *k, *v;
    va_list         ap;

    if (level < tgw_log_min) {
        return;
    }

    gettimeofday(&tv, NULL);
    if (tv.tv_sec != tgw_log_tv.tv_sec
        || tv.tv_usec / 1000 != tgw_log_tv.tv_usec / 1000
        || tgw_log_ts[0] == '\0')
    {
        gmtime_r(&tv.tv_sec, &tm);
        snprintf(tgw_log_ts, sizeof(tgw_log_ts),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int) (tv.tv_usec / 1000));
        tgw_log_tv = tv;
    }

    l.len = 0;
    l.cut = 0;
    tgw_line_pair(&l, "ts", tgw_log_ts, 1);
    tgw_line_pair(&l, "level", tgw_log_levels[level], 0);
    tgw_line_pair(&l, "event", event, 0);

    va_start(ap, event);
    while ((k = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        if (v != NULL) {
            tgw_line_pair(&l, k, v, 0);
            if (strcmp(k, "task_id") == 0
                && (v = tgw_log_trace_find(v)) != NULL)
            {
                tgw_line_pair(&l, "trace_id", v, 0);
            }
        }
    }
    va_end(ap);

    if (l.cut) {
        /* The reserved room always fits the marker. */
        l.cut = 0;
        tgw_line_puts(&l, tgw_log_json ? ",\"cut\":\"1\"" : " cut=1");
    }
    if (tgw_log_json) {
        l.buf[l.len++] = '}';
    }
    l.buf[l.len++] = '\n';

    if (!tgw_log_buffered) {
        tgw_log_write(l.buf, l.len);
        return;
    }
    if (tgw_log_outlen + l.len > sizeof(tgw_log_out)) {
        tgw_log_flush();
    }
    memcpy(tgw_log_out + tgw_log_outlen, l.buf, l.len);
    tgw_log_outlen += l.len;
}
