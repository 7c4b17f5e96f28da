/*
 * Cron expressions: parsing and which UTC minutes match.
 */

#include <time.h>

#include "cron.h"
#include "tap.h"


/* Unix time of a UTC date. */
static time_t
utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = { 0 };

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return timegm(&tm);
}


static int
m(const char *expr, time_t t)
{
    tgw_cron_t c;

    if (tgw_cron_parse(expr, &c) != 0) {
        return -1;
    }
    return tgw_cron_match(&c, t);
}


int
main(void)
{
    /* 2026-11-23 is a Monday. */
    time_t mon0200 = utc(2026, 11, 23, 2, 0);

    is_int(m("* * * * *", mon0200), 1, "every minute");
    is_int(m("0 2 * * *", mon0200), 1, "nightly at 02:00");
    is_int(m("0 2 * * *", mon0200 + 60), 0, "not at 02:01");
    is_int(m("0 2 * * *", utc(2026, 11, 23, 3, 0)), 0, "not at 03:00");
    is_int(m("*/15 * * * *", utc(2026, 11, 23, 5, 45)), 1, "*/15 at :45");
    is_int(m("*/15 * * * *", utc(2026, 11, 23, 5, 46)), 0, "*/15 not :46");
    is_int(m("0-10/5 * * * *", utc(2026, 11, 23, 5, 10)), 1, "range/step");
    is_int(m("0-10/5 * * * *", utc(2026, 11, 23, 5, 15)), 0,
           "range/step ends");
    is_int(m("30 9 * * 1-5", utc(2026, 11, 23, 9, 30)), 1, "weekday Monday");
    is_int(m("30 9 * * 1-5", utc(2026, 11, 22, 9, 30)), 0, "not Sunday");
    is_int(m("0 0 * * 0", utc(2026, 11, 22, 0, 0)), 1, "Sunday as 0");
    is_int(m("0 0 * * 7", utc(2026, 11, 22, 0, 0)), 1, "Sunday as 7");
    is_int(m("0 0 1 * *", utc(2026, 12, 1, 0, 0)), 1, "first of month");
    is_int(m("0 0 1 * *", utc(2026, 12, 2, 0, 0)), 0, "not the second");
    is_int(m("0 0 * 2 *", utc(2027, 2, 10, 0, 0)), 1, "in February");
    is_int(m("0 0 * 2 *", utc(2027, 3, 10, 0, 0)), 0, "not in March");
    /* both day fields restricted: either matches (cron's rule) */
    is_int(m("0 0 13 * 5", utc(2026, 11, 13, 0, 0)), 1,
           "dom 13 or Friday: the 13th (a Friday)");
    is_int(m("0 0 13 * 5", utc(2026, 11, 20, 0, 0)), 1,
           "dom 13 or Friday: another Friday");
    is_int(m("0 0 13 * 1", utc(2026, 11, 13, 0, 0)), 1,
           "dom 13 or Monday: the 13th");
    is_int(m("0 0 13 * 1", utc(2026, 11, 24, 0, 0)), 0,
           "dom 13 or Monday: a Tuesday the 24th");
    /* a "*" day field: only the other one counts */
    is_int(m("0 0 * * 1", utc(2026, 11, 24, 0, 0)), 0,
           "dom * and Monday: not Tuesday");
    is_int(m("0 0,12 * * *", utc(2026, 11, 24, 12, 0)), 1, "list");

    is_int(m("60 * * * *", 0), -1, "minute 60 refused");
    is_int(m("* * 0 * *", 0), -1, "day 0 refused");
    is_int(m("* * * 13 *", 0), -1, "month 13 refused");
    is_int(m("* * * * 8", 0), -1, "weekday 8 refused");
    is_int(m("* * * *", 0), -1, "4 fields refused");
    is_int(m("a * * * *", 0), -1, "letters refused");
    is_int(m("1,,2 * * * *", 0), -1, "empty list item refused");
    is_int(m("*/0 * * * *", 0), -1, "step 0 refused");

    return done_testing();
}
