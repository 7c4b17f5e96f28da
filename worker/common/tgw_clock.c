/*
 * Wall-clock time for task fields and logs, and the monotonic clock of
 * the exec spawner's lease (see tgw_clock.h).
 */

#include <stdio.h>
#include <time.h>

#include "tgw_clock.h"


int64_t
tgw_clock_ms(void)
{
    struct timespec  ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return -1;
    }

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


uint64_t
tgw_clock_mono_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


int
tgw_clock_rfc3339(int64_t ms, char *buf, size_t size)
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
