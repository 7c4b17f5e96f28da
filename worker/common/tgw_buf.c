/*
 * A growable text buffer and JSON text helpers (see tgw_buf.h).
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tgw_buf.h"
#include "tgw_result.h"

/* ==========================================================================
 * JSON text writer
 * ========================================================================== */

static int
tgw_buf_reserve(tgw_buf_t *b, size_t n)
{
    size_t   cap;
    char    *p;

    if (b->failed) {
        return -1;
    }

    if (b->len + n + 1 <= b->cap) {
        return 0;
    }

    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return -1;
    }

    cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) {
        cap *= 2;
    }

    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }

    b->data = p;
    b->cap = cap;
    return 0;
}


int
tgw_buf_append(tgw_buf_t *b, const char *p, size_t n)
{
    if (tgw_buf_reserve(b, n) != 0) {
        return -1;
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}


int
tgw_buf_puts(tgw_buf_t *b, const char *s)
{
    return tgw_buf_append(b, s, strlen(s));
}


int
tgw_buf_printf(tgw_buf_t *b, const char *fmt, ...)
{
    va_list  ap;
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);

    if (n < 0) {
        b->failed = 1;
        return -1;
    }

    if (tgw_buf_reserve(b, (size_t) n) != 0) {
        return -1;
    }

    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);

    b->len += (size_t) n;
    return 0;
}


int
tgw_buf_json_string(tgw_buf_t *b, const char *p, size_t n)
{
    const unsigned char  *s = (const unsigned char *) p;
    size_t                i, run, len;

    tgw_buf_append(b, "\"", 1);

    /* copy runs of plain bytes in one go, escape the rest */
    for (i = 0, run = 0; i < n; ) {
        if (s[i] >= 0x20 && s[i] != '"' && s[i] != '\\' && s[i] < 0x80) {
            i++;
            continue;
        }

        if (s[i] >= 0x80) {
            len = tgw_utf8_seq_len(p + i, n - i);
            if (len > 0) {
                i += len;
                continue;
            }
        }

        tgw_buf_append(b, p + run, i - run);

        switch (s[i]) {
        case '"':  tgw_buf_append(b, "\\\"", 2); break;
        case '\\': tgw_buf_append(b, "\\\\", 2); break;
        case '\n': tgw_buf_append(b, "\\n", 2); break;
        case '\r': tgw_buf_append(b, "\\r", 2); break;
        case '\t': tgw_buf_append(b, "\\t", 2); break;
        default:
            if (s[i] < 0x20) {
                tgw_buf_printf(b, "\\u%04x", s[i]);
            } else {
                tgw_buf_append(b, "\xef\xbf\xbd", 3);   /* U+FFFD */
            }
        }

        run = ++i;
    }

    tgw_buf_append(b, p + run, n - run);
    return tgw_buf_append(b, "\"", 1);
}


void
tgw_buf_free(tgw_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}


static int
tgw_json_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


int
tgw_json_valid(const char *p, size_t n, size_t *start, size_t *vlen)
{
    json_error_t  err;
    json_t       *v;
    size_t        s, e;

    /*
     * jansson is the validator; JSON_DECODE_INT_AS_REAL keeps integers
     * beyond 64 bits valid (JSON has no such limit), JSON_ALLOW_NUL
     * accepts "\u0000" in strings.
     */
    v = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL
                         | JSON_DECODE_INT_AS_REAL, &err);
    if (v == NULL) {
        return 0;
    }
    json_decref(v);

    for (s = 0; s < n && tgw_json_blank(p[s]); s++) {
        /* leading blanks */
    }
    for (e = n; e > s && tgw_json_blank(p[e - 1]); e--) {
        /* trailing blanks */
    }

    if (start != NULL) {
        *start = s;
    }
    if (vlen != NULL) {
        *vlen = e - s;
    }
    return 1;
}
