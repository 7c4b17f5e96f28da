/*
 * Small text rules shared by the worker and taskgwctl: strict decimal
 * numbers (as the task hash stores them), queue and type names, SCAN
 * MATCH escaping, hex digests.  Pure.
 */

#ifndef TGW_TEXT_H
#define TGW_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define TGW_SHA256_HEX       64

/*
 * Strict decimal: optional '-', digits only, no blanks, no overflow.  The
 * task hash stores times and counters this way; anything else is -1.
 */
int tgw_parse_int64(const char *s, size_t len, int64_t *out);

/*
 * 1 when s is 1..max characters of [A-Za-z0-9._-], plus ':' when colon is
 * set: the module's rule for queue names (no colon) and task types.
 */
int tgw_valid_name(const char *s, size_t max, int colon);

/* 1 when s is 1..max visible ASCII characters without ':' or blanks. */
int tgw_valid_word(const char *s, size_t max, int allow_colon);

/*
 * Copies s into out escaping the glob characters of SCAN MATCH
 * (* ? [ ] \), so a prefix is matched literally.  -1 when out is short.
 */
int tgw_glob_escape(const char *s, char *out, size_t size);

/* Lowercase hex of n bytes into out (2n characters and a NUL). */
void tgw_hex(const unsigned char *p, size_t n, char *out);

/* SHA-256 of p as 64 lowercase hex characters; -1 on an OpenSSL error. */
int tgw_sha256_hex(const void *p, size_t n, char out[TGW_SHA256_HEX + 1]);

#endif /* TGW_TEXT_H */
