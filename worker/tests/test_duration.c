/*
 * Durations: "100ms" "60s" "5m" "2h" "7d", sums, and what is refused.
 */

#include <stdint.h>

#include "tap.h"
#include "tgw_duration.h"


static uint64_t
parse(const char *s, int *rc)
{
    uint64_t ms = 424242;

    *rc = tgw_duration_parse(s, &ms);
    return ms;
}


int
main(void)
{
    int      rc;
    uint64_t ms;
    char     buf[32];

    ms = parse("100ms", &rc);
    is_int(rc, 0, "100ms parses");
    is_int(ms, 100, "100ms is 100");
    is_int(parse("60s", &rc), 60000, "60s");
    is_int(parse("5m", &rc), 300000, "5m");
    is_int(parse("2h", &rc), 7200000, "2h");
    is_int(parse("7d", &rc), 604800000, "7d");
    is_int(parse("0s", &rc), 0, "0s");
    is_int(rc, 0, "0s parses");
    is_int(parse("1h30m", &rc), 5400000, "1h30m is a sum");
    is_int(parse("1m500ms", &rc), 60500, "1m500ms");

    static const char *bad[] = {
        "", "5", "5x", "x5s", "5 s", " 5s", "5s ", "-5s", "5S", "1.5s",
        "ms", "5msx", "5ss", "99999999999999999999999d", "18446744073709551615s"
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = parse(bad[i], &rc);
        ok(rc == -1 && ms == 424242, "\"%s\" is refused, value untouched",
           bad[i]);
    }
    ok(tgw_duration_parse(NULL, &ms) == -1, "NULL is refused");

    /* the largest value: taken written out whole as well as as a sum, so
     * what format writes back always parses (found by fuzz_duration) */
    ok(tgw_duration_parse("18446744073709551s615ms", &ms) == 0
       && ms == UINT64_MAX, "a sum reaching UINT64_MAX parses");
    tgw_duration_format(UINT64_MAX, buf, sizeof(buf));
    ok(tgw_duration_parse(buf, &ms) == 0 && ms == UINT64_MAX,
       "UINT64_MAX formats and parses back");
    ms = parse("18446744073709551616ms", &rc);
    ok(rc == -1, "one past UINT64_MAX is refused");

    is_str(tgw_duration_format(0, buf, sizeof(buf)), "0s", "format 0");
    is_str(tgw_duration_format(1500, buf, sizeof(buf)), "1500ms",
           "format 1500");
    is_str(tgw_duration_format(90000, buf, sizeof(buf)), "90s",
           "format 90s");
    is_str(tgw_duration_format(300000, buf, sizeof(buf)), "5m",
           "format 5m");
    is_str(tgw_duration_format(604800000, buf, sizeof(buf)), "7d",
           "format 7d");

    return done_testing();
}
