/*
 * tgw_ctl_util: pure helpers of taskgwctl: task ids (UUIDv7), times,
 * names, digests and a small JSON text writer.  No I/O except getrandom().
 */

#ifndef TGW_CTL_UTIL_H
#define TGW_CTL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define TGW_CTL_UUID_LEN     36     /* canonical text, without the NUL */
#define TGW_CTL_RFC3339_LEN  24     /* "2026-11-23T10:00:00.123Z" */
#define TGW_CTL_SHA256_HEX   64

/* ---- ids and times ------------------------------------------------------ */

/*
 * Formats a UUIDv7 (RFC 9562 §5.7) from a unix time in milliseconds and 10
 * random bytes: 48 bits of time, version 7, 12 random bits, variant 0b10,
 * 62 random bits.  out gets 36 lowercase characters and a NUL.
 */
void tgw_ctl_uuid7_format(uint64_t ms, const unsigned char rnd[10],
                          char out[TGW_CTL_UUID_LEN + 1]);

/* A new UUIDv7 from the clock and getrandom(); -1 with errno on failure. */
int tgw_ctl_uuid7_new(char out[TGW_CTL_UUID_LEN + 1]);

/* 1 when s is a canonical lowercase UUID (8-4-4-4-12 hex digits). */
int tgw_ctl_uuid_valid(const char *s);

/* Current unix time in milliseconds. */
int64_t tgw_ctl_now_ms(void);

/*
 * Unix milliseconds to RFC 3339 UTC with milliseconds, as the task JSON
 * shows them.  -1 when ms is negative, past year 9999 or size is short.
 */
int tgw_ctl_ms_to_rfc3339(int64_t ms, char *buf, size_t size);

/*
 * Strict decimal: optional '-', digits only, no blanks, no overflow.  The
 * task hash stores times and counters this way; anything else is -1.
 */
int tgw_ctl_parse_int64(const char *s, size_t len, int64_t *out);

/* ---- names ------------------------------------------------------------- */

/*
 * 1 when s is 1..max characters of [A-Za-z0-9._-], plus ':' when colon is
 * set: the module's rule for queue names (no colon) and task types.
 */
int tgw_ctl_valid_name(const char *s, size_t max, int colon);

/* 1 when s is 1..max visible ASCII characters without ':' or blanks. */
int tgw_ctl_valid_word(const char *s, size_t max, int allow_colon);

/*
 * Copies s into out escaping the glob characters of SCAN MATCH
 * (* ? [ ] \), so a prefix is matched literally.  -1 when out is short.
 */
int tgw_ctl_glob_escape(const char *s, char *out, size_t size);

/* ---- digests ----------------------------------------------------------- */

/* Lowercase hex of n bytes into out (2n characters and a NUL). */
void tgw_ctl_hex(const unsigned char *p, size_t n, char *out);

/* SHA-256 of p as 64 lowercase hex characters; -1 on an OpenSSL error. */
int tgw_ctl_sha256_hex(const void *p, size_t n,
                       char out[TGW_CTL_SHA256_HEX + 1]);

/* ---- JSON text writer -------------------------------------------------- */

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
} tgw_ctl_buf_t;

int tgw_ctl_buf_append(tgw_ctl_buf_t *b, const char *p, size_t n);
int tgw_ctl_buf_puts(tgw_ctl_buf_t *b, const char *s);
int tgw_ctl_buf_printf(tgw_ctl_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Appends p as a quoted JSON string: '"' '\\' and control characters
 * escaped, valid UTF-8 kept as is, each invalid byte replaced by U+FFFD.
 */
int tgw_ctl_buf_json_string(tgw_ctl_buf_t *b, const char *p, size_t n);

void tgw_ctl_buf_free(tgw_ctl_buf_t *b);

/*
 * 1 when p[0..n) is exactly one JSON value (surrounding blanks allowed).
 * *start and *vlen then delimit the value without the blanks.
 */
int tgw_ctl_json_valid(const char *p, size_t n, size_t *start, size_t *vlen);

#endif /* TGW_CTL_UTIL_H */
