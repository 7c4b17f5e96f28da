/*
 * A growable text buffer with JSON string escaping, and a JSON value
 * check: how the worker's webhooks and taskgwctl write the task JSON.
 */

#ifndef TGW_BUF_H
#define TGW_BUF_H

#include <stddef.h>

/*
 * A growable byte buffer.  Appends return 0 or -1; after the first failed
 * allocation the buffer stays "failed" and later appends are no-ops, so a
 * caller may check once at the end.
 */
typedef struct {
    char    *data;      /* NUL-terminated when len > 0 */
    size_t   len;
    size_t   cap;
    int      failed;    /* an allocation failed: contents incomplete */
} tgw_buf_t;

int tgw_buf_append(tgw_buf_t *b, const char *p, size_t n);
int tgw_buf_puts(tgw_buf_t *b, const char *s);
int tgw_buf_printf(tgw_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Appends p as a quoted JSON string: '"' '\\' and control characters
 * escaped, valid UTF-8 kept as is, each invalid byte replaced by U+FFFD.
 */
int tgw_buf_json_string(tgw_buf_t *b, const char *p, size_t n);

void tgw_buf_free(tgw_buf_t *b);

/*
 * 1 when p[0..n) is exactly one JSON value (surrounding blanks allowed).
 * *start and *vlen then delimit the value without the blanks.
 */
int tgw_json_valid(const char *p, size_t n, size_t *start, size_t *vlen);

#endif /* TGW_BUF_H */
