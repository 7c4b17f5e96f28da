/*
 * Result encoding (docs/directives.md, taskgw_status): one JSON value as text; JSON output kept as
 * is, other text as a JSON string, non-UTF-8 as a base64 JSON string.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tgw_result.h"


static char *
enc(const char *s, size_t len, int truncated, const char **encoding)
{
    char *r = NULL;

    if (tgw_result_encode(s, len, truncated, &r, encoding) != 0) {
        return NULL;
    }
    return r;
}


#define CHECK(in, len, trunc, want, want_enc, name)                         \
    do {                                                                    \
        const char *e_ = "unset";                                           \
        char       *r_ = enc(in, len, trunc, &e_);                          \
        is_str(r_, want, name);                                             \
        is_str(e_, want_enc, name " (encoding)");                           \
        free(r_);                                                           \
    } while (0)


int
main(void)
{
    char *b;

    /* JSON output is the value itself. */
    CHECK("{\"a\":1}", 7, 0, "{\"a\":1}", NULL, "object kept");
    CHECK("  [1, 2]\n", 9, 0, "[1, 2]", NULL, "array kept, trimmed");
    CHECK("42", 2, 0, "42", NULL, "number kept");
    CHECK("\"pong\"", 6, 0, "\"pong\"", NULL, "JSON string kept");
    CHECK("true\n", 5, 0, "true", NULL, "true kept");
    CHECK("null", 4, 0, "null", NULL, "null kept");
    CHECK("\t-1.5e3 ", 8, 0, "-1.5e3", NULL, "negative number kept");
    CHECK("\r\nfalse", 7, 0, "false", NULL, "false kept");

    /* Other text is a JSON string of it. */
    CHECK("pong", 4, 0, "\"pong\"", NULL, "plain text quoted");
    CHECK("hello\n", 6, 0, "\"hello\\n\"", NULL, "newline escaped");
    CHECK("{\"a\":1} {\"b\":2}", 15, 0, "\"{\\\"a\\\":1} {\\\"b\\\":2}\"",
          NULL, "two values are not one value");
    CHECK("{\"a\":", 5, 0, "\"{\\\"a\\\":\"", NULL, "broken JSON quoted");
    CHECK("", 0, 0, "\"\"", NULL, "empty output is an empty string");
    CHECK(" \n", 2, 0, "\" \\n\"", NULL, "whitespace alone quoted");
    CHECK("nope", 4, 0, "\"nope\"", NULL, "text starting like null quoted");
    CHECK("True", 4, 0, "\"True\"", NULL, "True is no JSON");
    CHECK("caf\xc3\xa9", 5, 0, "\"caf\xc3\xa9\"", NULL, "UTF-8 text kept");

    /* Not UTF-8: base64. */
    CHECK("\xff\xfe", 2, 0, "\"//4=\"", "base64", "binary is base64");
    CHECK("ab\x80", 3, 0, "\"YWKA\"", "base64", "stray continuation byte");
    CHECK("\xc0\xaf", 2, 0, "\"wK8=\"", "base64", "overlong form");
    CHECK("\xed\xa0\x80", 3, 0, "\"7aCA\"", "base64", "surrogate");
    CHECK("\xe0\x80\xaf", 3, 0, "\"4ICv\"", "base64", "overlong 3-byte");
    CHECK("\xf0\x80\x80\xaf", 4, 0, "\"8ICArw==\"", "base64",
          "overlong 4-byte");
    CHECK("a\0b", 3, 0, "\"YQBi\"", "base64", "NUL byte");

    /* Truncated output is never taken as JSON, and a cut character is
     * dropped so it stays text. */
    CHECK("12345", 3, 1, "\"123\"", NULL, "cut number is a string");
    CHECK("{\"a\":1}", 7, 1, "\"{\\\"a\\\":1}\"", NULL,
          "even a complete-looking value when cut");
    CHECK("caf\xc3\xa9", 4, 1, "\"caf\"", NULL, "cut 2-byte char dropped");
    CHECK("x\xe2\x82\xac", 3, 1, "\"x\"", NULL, "cut 3-byte char dropped");
    CHECK("x\xe2\x82\xac", 4, 1, "\"x\xe2\x82\xac\"", NULL,
          "whole char at the cut kept");
    CHECK("\xff" "abc", 4, 1, "\"/2FiYw==\"", "base64",
          "cut binary is still base64");

    /* The helpers. */
    ok(tgw_utf8_valid("\xf0\x9f\x98\x80", 4), "4-byte char valid");
    ok(!tgw_utf8_valid("\xf4\x90\x80\x80", 4), "beyond U+10FFFF invalid");
    is_int(tgw_utf8_complete_len("ab\xf0\x9f\x98", 5), 2,
           "incomplete 4-byte sequence cut");
    is_int(tgw_utf8_seq_len("a", 1), 1, "seq: ASCII");
    is_int(tgw_utf8_seq_len("\xc3\xa9", 2), 2, "seq: 2 bytes");
    is_int(tgw_utf8_seq_len("\xe2\x82\xac", 3), 3, "seq: 3 bytes");
    is_int(tgw_utf8_seq_len("\xf0\x9f\x98\x80", 4), 4, "seq: 4 bytes");
    is_int(tgw_utf8_seq_len("\x80", 1), 0, "seq: stray continuation");
    is_int(tgw_utf8_seq_len("\xe2\x82", 2), 0, "seq: cut at the end");
    is_int(tgw_utf8_seq_len("\xe2\x82" "a", 3), 0, "seq: cut inside");
    is_int(tgw_utf8_seq_len("\xc0\xaf", 2), 0, "seq: overlong");
    is_int(tgw_utf8_seq_len("\xed\xa0\x80", 3), 0, "seq: surrogate");
    is_int(tgw_utf8_seq_len("\xf5\x80\x80\x80", 4), 0, "seq: > U+10FFFF");
    is_int(tgw_utf8_seq_len("\xff", 1), 0, "seq: FF");
    b = tgw_base64_encode((const unsigned char *) "foobar", 6);
    is_str(b, "Zm9vYmFy", "base64 of foobar");
    free(b);
    b = tgw_base64_encode((const unsigned char *) "fo", 2);
    is_str(b, "Zm8=", "base64 padding");
    free(b);

    return done_testing();
}
