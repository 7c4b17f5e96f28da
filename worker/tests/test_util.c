/*
 * Unit tests of the shared pure helpers (common/tgw_uuid.c, tgw_clock.c,
 * tgw_text.c, tgw_buf.c): UUIDv7 layout, RFC 3339 times, strict numbers,
 * names, digests, JSON strings.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tgw_buf.h"
#include "tgw_clock.h"
#include "tgw_text.h"
#include "tgw_uuid.h"


static void
test_uuid7(void)
{
    unsigned char  zero[10] = { 0 }, ones[10];
    char           a[TGW_UUID_LEN + 1], b[TGW_UUID_LEN + 1];
    char           hex[13];
    int64_t        now, ms;

    memset(ones, 0xff, sizeof(ones));

    /* RFC 9562 appendix A.6 time: 0x017F22E279B0 = 2022-02-22T19:22:22Z */
    tgw_uuid7_format(0x017F22E279B0ULL, zero, a);
    is_str(a, "017f22e2-79b0-7000-8000-000000000000",
           "uuid7: time in the first 48 bits, version 7, variant 10");

    tgw_uuid7_format(0x017F22E279B0ULL, ones, a);
    is_str(a, "017f22e2-79b0-7fff-bfff-ffffffffffff",
           "uuid7: random bits never touch version or variant");

    tgw_uuid7_format(0xFFFFFFFFFFFFULL, zero, a);
    is_str(a, "ffffffff-ffff-7000-8000-000000000000", "uuid7: max time");

    ok(tgw_uuid7_new(a) == 0, "uuid7_new succeeds");
    ok(tgw_uuid_valid(a), "uuid7_new gives a canonical uuid: %s", a);
    ok(a[14] == '7', "uuid7_new: version nibble is 7");
    ok(strchr("89ab", a[19]) != NULL, "uuid7_new: variant is 10xx");

    now = tgw_clock_ms();
    memcpy(hex, a, 8);
    memcpy(hex + 8, a + 9, 4);
    hex[12] = '\0';
    ms = (int64_t) strtoull(hex, NULL, 16);
    ok(ms <= now && now - ms < 2000,
       "uuid7_new: the first 48 bits are the current unix ms");

    ok(tgw_uuid7_new(b) == 0 && strcmp(a, b) != 0,
       "two uuid7_new differ");
    ok(strncmp(a, b, 8) <= 0, "uuid7 ids sort by time");
}


static void
test_uuid_valid(void)
{
    ok(tgw_uuid_valid("017f22e2-79b0-7000-8000-000000000000"),
       "valid: canonical");
    ok(!tgw_uuid_valid("017F22E2-79B0-7000-8000-000000000000"),
       "invalid: uppercase");
    ok(!tgw_uuid_valid("017f22e279b0-7000-8000-000000000000-"),
       "invalid: dash misplaced");
    ok(!tgw_uuid_valid("017f22e2-79b0-7000-8000-00000000000"),
       "invalid: short");
    ok(!tgw_uuid_valid("017f22e2-79b0-7000-8000-0000000000000"),
       "invalid: long");
    ok(!tgw_uuid_valid("../../../etc/passwd"), "invalid: path");
    ok(!tgw_uuid_valid(""), "invalid: empty");
}


static void
test_rfc3339(void)
{
    char  buf[TGW_RFC3339_LEN + 1];

    ok(tgw_clock_rfc3339(0, buf, sizeof(buf)) == 0, "epoch converts");
    is_str(buf, "1970-01-01T00:00:00.000Z", "epoch");

    tgw_clock_rfc3339(INT64_C(1795428000123), buf, sizeof(buf));
    is_str(buf, "2026-11-23T10:00:00.123Z", "the documented example time");

    tgw_clock_rfc3339(INT64_C(951782400999), buf, sizeof(buf));
    is_str(buf, "2000-02-29T00:00:00.999Z", "leap day, .999");

    tgw_clock_rfc3339(INT64_C(253402300799999), buf, sizeof(buf));
    is_str(buf, "9999-12-31T23:59:59.999Z", "last representable ms");

    ok(tgw_clock_rfc3339(INT64_C(253402300800000), buf, sizeof(buf))
       == -1, "year 10000 refused");
    ok(tgw_clock_rfc3339(-1, buf, sizeof(buf)) == -1,
       "negative refused");
    ok(tgw_clock_rfc3339(0, buf, TGW_RFC3339_LEN) == -1,
       "short buffer refused");
    is_int(strlen("2026-11-23T10:00:00.123Z"), TGW_RFC3339_LEN,
           "TGW_RFC3339_LEN matches the format");
}


static void
test_parse_int64(void)
{
    int64_t  v = 42;

    ok(tgw_parse_int64("1795428000123", 13, &v) == 0
       && v == INT64_C(1795428000123), "parses ms");
    ok(tgw_parse_int64("-5", 2, &v) == 0 && v == -5, "negative");
    ok(tgw_parse_int64("9223372036854775807", 19, &v) == 0
       && v == INT64_MAX, "INT64_MAX");
    ok(tgw_parse_int64("-9223372036854775808", 20, &v) == 0
       && v == INT64_MIN, "INT64_MIN");
    ok(tgw_parse_int64("9223372036854775808", 19, &v) == -1,
       "overflow refused");
    ok(tgw_parse_int64("12a", 3, &v) == -1, "trailing garbage");
    ok(tgw_parse_int64(" 1", 2, &v) == -1, "leading blank");
    ok(tgw_parse_int64("", 0, &v) == -1, "empty");
    ok(tgw_parse_int64("-", 1, &v) == -1, "lone minus");
    ok(tgw_parse_int64("123", 2, &v) == 0 && v == 12,
       "honours the length (not NUL-terminated input)");
}


static void
test_names(void)
{
    char  buf[32];

    ok(tgw_valid_name("report.build-v2_x", 64, 0), "name ok");
    ok(!tgw_valid_name("", 64, 1), "empty name");
    ok(!tgw_valid_name("a b", 64, 1), "blank in name");
    ok(!tgw_valid_name("a:b", 64, 0), "colon in name");
    ok(tgw_valid_name("crm:sync", 64, 1), "colon allowed in a type");
    ok(!tgw_valid_name("crm/sync", 64, 1), "slash refused");
    ok(tgw_valid_name("abcd", 4, 0) && !tgw_valid_name("abcde", 4, 0),
       "name length limit");

    ok(tgw_valid_word("crm:sync/v1", 128, 1), "word with colon");
    ok(!tgw_valid_word("crm:sync", 128, 0), "colon refused");
    ok(!tgw_valid_word("a\tb", 128, 1), "tab refused");
    ok(!tgw_valid_word("caf\xc3\xa9", 128, 1), "non-ASCII refused");

    ok(tgw_glob_escape("a*b?[c]\\", buf, sizeof(buf)) == 0, "escape");
    is_str(buf, "a\\*b\\?\\[c\\]\\\\", "glob characters escaped");
    ok(tgw_glob_escape("abcd", buf, 4) == -1, "escape: short buffer");
    ok(tgw_glob_escape("abc", buf, 4) == 0, "escape: exact fit");
}


static void
test_digest(void)
{
    char  hex[TGW_SHA256_HEX + 1];

    ok(tgw_sha256_hex("test", 4, hex) == 0, "sha256 runs");
    is_str(hex, "9f86d081884c7d659a2feaa0c55ad015"
                "a3bf4f1b2b0b822cd15d6c15b0f00a08", "sha256(\"test\")");
    tgw_sha256_hex("", 0, hex);
    is_str(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                "27ae41e4649b934ca495991b7852b855", "sha256(\"\")");
    tgw_hex((const unsigned char *) "\x00\x0f\xf0\xff", 4, hex);
    is_str(hex, "000ff0ff", "hex");
}


static void
test_json_string(void)
{
    tgw_buf_t  b = { 0 };
    size_t         s, n;

    tgw_buf_json_string(&b, "a\"b\\c\n\t\x01", 8);
    is_str(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\"", "escapes");
    tgw_buf_free(&b);

    tgw_buf_json_string(&b, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                            14);
    is_str(b.data, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
           "valid UTF-8 kept");
    tgw_buf_free(&b);

    tgw_buf_json_string(&b, "a\xff" "b\xc0\xaf" "c\xed\xa0\x80", 9);
    is_str(b.data, "\"a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd"
           "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
           "invalid, overlong and surrogate bytes become U+FFFD");
    tgw_buf_free(&b);

    tgw_buf_json_string(&b, "x\0y", 3);
    ok(b.len == 10 && memcmp(b.data, "\"x\\u0000y\"", 10) == 0,
       "NUL escaped");
    tgw_buf_free(&b);

    tgw_buf_json_string(&b, "", 0);
    is_str(b.data, "\"\"", "empty string");
    tgw_buf_free(&b);

    tgw_buf_printf(&b, "%d-%s", 7, "x");
    tgw_buf_puts(&b, "y");
    is_str(b.data, "7-xy", "printf and puts append");
    ok(!b.failed, "no failure flagged");
    tgw_buf_free(&b);

    ok(tgw_json_valid(" {\"a\":[1,2]} \n", 14, &s, &n) && s == 1
       && n == 11, "valid JSON, blanks trimmed");
    ok(tgw_json_valid("\"pong\"", 6, NULL, NULL), "a JSON string");
    ok(tgw_json_valid("123456789012345678901234567890", 30, NULL,
                          NULL), "a big integer is valid JSON");
    ok(!tgw_json_valid("pong", 4, NULL, NULL), "bare word invalid");
    ok(!tgw_json_valid("{} {}", 5, NULL, NULL), "two values invalid");
    ok(!tgw_json_valid("", 0, NULL, NULL), "empty invalid");
}


int
main(void)
{
    test_uuid7();
    test_uuid_valid();
    test_rfc3339();
    test_parse_int64();
    test_names();
    test_digest();
    test_json_string();
    return done_testing();
}
