/*
 * Result encoding: UTF-8 validation, base64, JSON detection.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tgw_result.h"


size_t
tgw_utf8_seq_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t               len, i;
    uint32_t             cp;

    if (n == 0) {
        return 0;
    }
    if (p[0] < 0x80) {
        return 1;
    } else if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = p[0] & 0x1f;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = p[0] & 0x0f;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;                   /* continuation byte, F8..FF */
    }

    /* Stops at the first byte that is not a continuation (a NUL ending a
     * C string among them), so a cut sequence is never read past. */
    for (i = 1; i < len; i++) {
        if (i >= n || (p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }

    /* Overlong forms, UTF-16 surrogates and beyond U+10FFFF. */
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800)
        || (len == 4 && cp < 0x10000) || cp > 0x10ffff
        || (cp >= 0xd800 && cp <= 0xdfff))
    {
        return 0;
    }
    return len;
}


int
tgw_utf8_valid(const char *s, size_t len)
{
    size_t i, n;

    for (i = 0; i < len; i += n) {
        n = tgw_utf8_seq_len(s + i, len - i);
        if (n == 0) {
            return 0;
        }
    }
    return 1;
}


size_t
tgw_utf8_complete_len(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t               back, need;

    /* Walk back over at most 3 continuation bytes to a lead byte. */
    for (back = 1; back <= 4 && back <= len; back++) {
        unsigned char c = p[len - back];

        if ((c & 0xc0) == 0x80) {
            continue;               /* continuation byte */
        }
        if (c < 0x80) {
            return len;             /* ASCII: nothing is cut */
        }
        need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return back < need ? len - back : len;
    }
    return len;
}


char *
tgw_base64_encode(const unsigned char *in, size_t len)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char   *out, *o;
    size_t  i;

    if (len > (SIZE_MAX - 1) / 4 * 3 - 3) {
        return NULL;
    }
    out = malloc((len + 2) / 3 * 4 + 1);
    if (out == NULL) {
        return NULL;
    }
    o = out;
    for (i = 0; i + 2 < len; i += 3) {
        *o++ = tbl[in[i] >> 2];
        *o++ = tbl[((in[i] & 0x03) << 4) | (in[i + 1] >> 4)];
        *o++ = tbl[((in[i + 1] & 0x0f) << 2) | (in[i + 2] >> 6)];
        *o++ = tbl[in[i + 2] & 0x3f];
    }
    if (i < len) {
        *o++ = tbl[in[i] >> 2];
        if (i + 1 < len) {
            *o++ = tbl[((in[i] & 0x03) << 4) | (in[i + 1] >> 4)];
            *o++ = tbl[(in[i + 1] & 0x0f) << 2];
        } else {
            *o++ = tbl[(in[i] & 0x03) << 4];
            *o++ = '=';
        }
        *o++ = '=';
    }
    *o = '\0';
    return out;
}


/* A JSON string of len bytes of valid UTF-8 text; NULL on no memory. */
static char *
tgw_result_json_string(const char *s, size_t len)
{
    json_t *j;
    char   *text;

    j = json_stringn(s, len);
    if (j == NULL) {
        return NULL;
    }
    text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(j);
    return text;
}


static int
tgw_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}


/* Can c begin a JSON value ({, [, ", -, a digit, true, false, null)? */
static int
tgw_result_json_first(char c)
{
    return c == '{' || c == '[' || c == '"' || c == '-'
           || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n';
}


int
tgw_result_encode(const char *out, size_t len, int truncated,
    char **result, const char **encoding)
{
    json_t       *j;
    json_error_t  err;
    char         *text, *b64;
    size_t        start, end;

    *result = NULL;
    *encoding = NULL;

    if (out == NULL) {
        out = "";
        len = 0;
    }
    if (truncated) {
        len = tgw_utf8_complete_len(out, len);
    }

    /* Rule 1: not text (NUL is valid UTF-8 but not text to any reader). */
    if (!tgw_utf8_valid(out, len) || memchr(out, '\0', len) != NULL) {
        b64 = tgw_base64_encode((const unsigned char *) out, len);
        if (b64 == NULL) {
            return -1;
        }
        text = tgw_result_json_string(b64, strlen(b64));
        free(b64);
        if (text == NULL) {
            return -1;
        }
        *result = text;
        *encoding = TGW_RESULT_ENC_BASE64;
        return 0;
    }

    /* Rule 2: one JSON value, stored as its own text, trimmed.  Text
     * whose first character after whitespace starts no JSON value is not
     * handed to the parser (a failed parse formats an error message). */
    for (start = 0; start < len && tgw_is_space(out[start]); start++) {
        /* void */
    }
    if (!truncated && start < len
        && tgw_result_json_first(out[start]))
    {
        j = json_loadb(out, len, JSON_DECODE_ANY, &err);
        if (j != NULL) {
            json_decref(j);
            for (end = len; end > start && tgw_is_space(out[end - 1]); end--)
            {
                /* void */
            }
            text = malloc(end - start + 1);
            if (text == NULL) {
                return -1;
            }
            memcpy(text, out + start, end - start);
            text[end - start] = '\0';
            *result = text;
            return 0;
        }
    }

    /* Rule 3: a JSON string of the text. */
    text = tgw_result_json_string(out, len);
    if (text == NULL) {
        return -1;
    }
    *result = text;
    return 0;
}
