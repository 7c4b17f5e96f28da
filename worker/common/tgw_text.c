/*
 * Small text rules shared by the worker and taskgwctl (see tgw_text.h):
 * strict numbers, names, glob escaping, hex digests.
 */

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "tgw_hex.h"
#include "tgw_text.h"


int
tgw_parse_int64(const char *s, size_t len, int64_t *out)
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
tgw_valid_name(const char *s, size_t max, int colon)
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
tgw_valid_word(const char *s, size_t max, int allow_colon)
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
tgw_glob_escape(const char *s, char *out, size_t size)
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
tgw_hex(const unsigned char *p, size_t n, char *out)
{
    *tgw_hex_write((unsigned char *) out, p, n) = '\0';
}


int
tgw_sha256_hex(const void *p, size_t n, char out[TGW_SHA256_HEX + 1])
{
    unsigned char  md[EVP_MAX_MD_SIZE];
    unsigned int   mdlen;

    if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1
        || mdlen != 32)
    {
        return -1;
    }

    tgw_hex(md, mdlen, out);
    return 0;
}
