/*
 * Task results as stored in the task hash: field "result"
 * holds ONE JSON value as text, field "result_encoding" says "base64" when
 * the handler's output was not UTF-8.  Shared by worker and CLI.
 */

#ifndef TGW_RESULT_H
#define TGW_RESULT_H

#include <stddef.h>

#define TGW_RESULT_ENC_BASE64  "base64"

/*
 * Encodes a handler's raw output for the "result" field.  The rule:
 *
 *   1. output that is not valid UTF-8 (or contains NUL bytes, which no
 *      reader can take as text) becomes a JSON string of its base64, and
 *      *encoding is set to "base64";
 *   2. otherwise, output that parses as exactly one JSON value is stored
 *      as that value's text, without the surrounding whitespace;
 *   3. anything else is stored as a JSON string of the output.
 *
 * When truncated is set (the output was cut at result_max_bytes) rule 2
 * never applies: a cut document may still parse ("12345" cut to "123") and
 * would then lie.  A UTF-8 sequence cut at the end is dropped so that a cut
 * text stays text instead of turning into base64.
 *
 * On success returns 0, *result is a malloc'ed NUL-terminated string,
 * *encoding is NULL or TGW_RESULT_ENC_BASE64.  Returns -1 when out of
 * memory.
 */
int tgw_result_encode(const char *out, size_t len, int truncated,
    char **result, const char **encoding);

/*
 * Length of the UTF-8 sequence at s (s holds n bytes): 1 to 4, or 0 when
 * the bytes there are not a valid one (RFC 3629): a stray continuation
 * byte, a cut sequence, an overlong form, a UTF-16 surrogate, a code
 * point past U+10FFFF.  Whoever must output text replaces such a byte by
 * U+FFFD and goes on with the next one.
 */
size_t tgw_utf8_seq_len(const char *s, size_t n);

/* Returns 1 when the len bytes at s are valid UTF-8 (RFC 3629), else 0. */
int tgw_utf8_valid(const char *s, size_t len);

/*
 * Length of the longest prefix of s[0..len) that does not end inside a
 * UTF-8 sequence (a trailing incomplete sequence of up to 3 bytes is cut).
 */
size_t tgw_utf8_complete_len(const char *s, size_t len);

/*
 * Standard base64 (RFC 4648, with padding) of len bytes into a malloc'ed
 * NUL-terminated string; NULL when out of memory.
 */
char *tgw_base64_encode(const unsigned char *in, size_t len);

#endif /* TGW_RESULT_H */
