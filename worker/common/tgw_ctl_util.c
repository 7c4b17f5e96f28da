/*
 * tgw_ctl_util: pure helpers of taskgwctl: task ids (UUIDv7), times,
 * names, digests and a small JSON text writer.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "tgw_ctl_util.h"
#include "tgw_result.h"

/* ==========================================================================
 * Ids and times
 * ========================================================================== */

void
tgw_ctl_uuid7_format(uint64_t ms, const unsigned char rnd[10],
                     char out[TGW_CTL_UUID_LEN + 1])
{
    unsigned char  u[16];
    char          *p;
    int            i;

    /* 48-bit big-endian unix_ts_ms */
    for (i = 0; i < 6; i++) {
        u[i] = (unsigned char) (ms >> (40 - 8 * i));
    }

    u[6] = 0x70 | (rnd[0] & 0x0f);      /* version 7, rand_a high nibble */
    u[7] = rnd[1];
    u[8] = 0x80 | (rnd[2] & 0x3f);      /* variant 0b10 */
    memcpy(u + 9, rnd + 3, 7);

    p = out;
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }
        *p++ = "0123456789abcdef"[u[i] >> 4];
        *p++ = "0123456789abcdef"[u[i] & 0x0f];
    }
    *p = '\0';
}


int
tgw_ctl_uuid7_new(char out[TGW_CTL_UUID_LEN + 1])
{
    unsigned char  rnd[10];
    size_t         got;
    ssize_t        n;
    int64_t        ms;

    for (got = 0; got < sizeof(rnd); got += (size_t) n) {
        n = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (n < 0) {
            if (errno == EINTR) {
                n = 0;
                continue;
            }
            return -1;
        }
    }

    ms = tgw_ctl_now_ms();
    if (ms < 0) {
        return -1;
    }

    tgw_ctl_uuid7_format((uint64_t) ms, rnd, out);
    return 0;
}


int
tgw_ctl_uuid_valid(const char *s)
{
    int  i;

    for (i = 0; i < TGW_CTL_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (!((s[i] >= '0' && s[i] <= '9')
                     || (s[i] >= 'a' && s[i] <= 'f')))
        {
            return 0;
        }
    }

    return s[TGW_CTL_UUID_LEN] == '\0';
}


int64_t
tgw_ctl_now_ms(void)
{
    struct timespec  ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return -1;
    }

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


int
tgw_ctl_ms_to_rfc3339(int64_t ms, char *buf, size_t size)
{
    struct tm  tm;
    time_t     sec;
    int        n;

    /* 253402300800000 is 10000-01-01T00:00:00Z */
    if (ms < 0 || ms >= INT64_C(253402300800000)) {
        return -1;
    }

    sec = (time_t) (ms / 1000);
    if (gmtime_r(&sec, &tm) == NULL) {
        return -1;
    }

    n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (ms % 1000));

    return (n < 0 || (size_t) n >= size) ? -1 : 0;
}


int
tgw_ctl_parse_int64(const char *s, size_t len, int64_t *out)
{
    uint64_t  v, limit;
    size_t    i;
    int       neg;

    if (s == NULL || len == 0) {
        return -1;
    }

    neg = s[0] == '-';
    i = (size_t) neg;
    if (i == len) {
        return -1;
    }

    limit = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;

    for (v = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        if (v > (limit - (uint64_t) (s[i] - '0')) / 10) {
            return -1;
        }
        v = v * 10 + (uint64_t) (s[i] - '0');
    }

    if (neg) {
        *out = v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v;
    } else {
        *out = (int64_t) v;
    }

    return 0;
}

/* ==========================================================================
 * Names
 * ========================================================================== */

int
tgw_ctl_valid_name(const char *s, size_t max, int colon)
{
    size_t  i;

    for (i = 0; s[i] != '\0'; i++) {
        if (i >= max) {
            return 0;
        }
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '.' || s[i] == '_' || s[i] == '-'
              || (colon && s[i] == ':')))
        {
            return 0;
        }
    }

    return i > 0;
}


int
tgw_ctl_valid_word(const char *s, size_t max, int allow_colon)
{
    size_t  i;

    for (i = 0; s[i] != '\0'; i++) {
        if (i >= max) {
            return 0;
        }
        if ((unsigned char) s[i] <= 0x20 || (unsigned char) s[i] >= 0x7f) {
            return 0;
        }
        if (s[i] == ':' && !allow_colon) {
            return 0;
        }
    }

    return i > 0;
}


int
tgw_ctl_glob_escape(const char *s, char *out, size_t size)
{
    size_t  o;

    for (o = 0; *s != '\0'; s++) {
        if (strchr("*?[]\\", *s) != NULL) {
            if (o + 1 >= size) {
                return -1;
            }
            out[o++] = '\\';
        }
        if (o + 1 >= size) {
            return -1;
        }
        out[o++] = *s;
    }

    if (o >= size) {
        return -1;
    }
    out[o] = '\0';
    return 0;
}

/* ==========================================================================
 * Digests
 * ========================================================================== */

void
tgw_ctl_hex(const unsigned char *p, size_t n, char *out)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        out[2 * i] = "0123456789abcdef"[p[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[p[i] & 0x0f];
    }
    out[2 * n] = '\0';
}


int
tgw_ctl_sha256_hex(const void *p, size_t n, char out[TGW_CTL_SHA256_HEX + 1])
{
    unsigned char  md[EVP_MAX_MD_SIZE];
    unsigned int   mdlen;

    if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1
        || mdlen != 32)
    {
        return -1;
    }

    tgw_ctl_hex(md, mdlen, out);
    return 0;
}

/* ==========================================================================
 * JSON text writer
 * ========================================================================== */

static int
tgw_ctl_buf_reserve(tgw_ctl_buf_t *b, size_t n)
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
tgw_ctl_buf_append(tgw_ctl_buf_t *b, const char *p, size_t n)
{
    if (tgw_ctl_buf_reserve(b, n) != 0) {
        return -1;
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}


int
tgw_ctl_buf_puts(tgw_ctl_buf_t *b, const char *s)
{
    return tgw_ctl_buf_append(b, s, strlen(s));
}


int
tgw_ctl_buf_printf(tgw_ctl_buf_t *b, const char *fmt, ...)
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

    if (tgw_ctl_buf_reserve(b, (size_t) n) != 0) {
        return -1;
    }

    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);

    b->len += (size_t) n;
    return 0;
}


int
tgw_ctl_buf_json_string(tgw_ctl_buf_t *b, const char *p, size_t n)
{
    const unsigned char  *s = (const unsigned char *) p;
    size_t                i, run, len;

    tgw_ctl_buf_append(b, "\"", 1);

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

        tgw_ctl_buf_append(b, p + run, i - run);

        switch (s[i]) {
        case '"':  tgw_ctl_buf_append(b, "\\\"", 2); break;
        case '\\': tgw_ctl_buf_append(b, "\\\\", 2); break;
        case '\n': tgw_ctl_buf_append(b, "\\n", 2); break;
        case '\r': tgw_ctl_buf_append(b, "\\r", 2); break;
        case '\t': tgw_ctl_buf_append(b, "\\t", 2); break;
        default:
            if (s[i] < 0x20) {
                tgw_ctl_buf_printf(b, "\\u%04x", s[i]);
            } else {
                tgw_ctl_buf_append(b, "\xef\xbf\xbd", 3);   /* U+FFFD */
            }
        }

        run = ++i;
    }

    tgw_ctl_buf_append(b, p + run, n - run);
    return tgw_ctl_buf_append(b, "\"", 1);
}


void
tgw_ctl_buf_free(tgw_ctl_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}


static int
tgw_ctl_json_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


int
tgw_ctl_json_valid(const char *p, size_t n, size_t *start, size_t *vlen)
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

    for (s = 0; s < n && tgw_ctl_json_blank(p[s]); s++) {
        /* leading blanks */
    }
    for (e = n; e > s && tgw_ctl_json_blank(p[e - 1]); e--) {
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
