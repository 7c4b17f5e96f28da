/*
 * taskgwctl: text for people.  Values that come from tasks (errors,
 * results, names a client chose) may hold any byte; a table shows them
 * escaped, so a task cannot move the cursor, recolour or clear the
 * operator's terminal.
 */

#include <stdio.h>

#include "ctl.h"

/*
 * Appends s[0..n) with every control byte (C0, DEL) as \xNN, newlines
 * too unless keep_nl is set (a value on one table row), and a backslash
 * doubled so that an escape cannot be forged.
 */
int
tgw_buf_text(tgw_buf_t *b, const char *s, size_t n, int keep_nl)
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char      c;
    char               esc[4] = { '\\', 'x', 0, 0 };
    size_t             i, start;

    start = 0;

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        if (c != '\\' && c != 0x7f && (c >= 0x20 || (c == '\n' && keep_nl))) {
            continue;
        }

        tgw_buf_append(b, s + start, i - start);
        start = i + 1;

        if (c == '\\') {
            tgw_buf_append(b, "\\\\", 2);
            continue;
        }

        esc[2] = hex[c >> 4];
        esc[3] = hex[c & 0xf];
        tgw_buf_append(b, esc, 4);
    }

    return tgw_buf_append(b, s + start, n - start);
}


/* Writes s[0..n) escaped as tgw_buf_text() does; 1 on an error. */
int
tgw_ctl_put_text(const char *s, size_t n)
{
    tgw_buf_t  b = { 0 };
    int            rc;

    tgw_buf_text(&b, s, n, 1);

    rc = b.failed
         || (b.len > 0 && fwrite(b.data, 1, b.len, stdout) != b.len);

    tgw_buf_free(&b);
    return rc;
}
