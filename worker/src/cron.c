/*
 * Cron expression parsing and matching (cron.h).
 */

#include <stdlib.h>
#include <string.h>

#include "cron.h"


/* One field into a bit set; *any is set when it covers the whole range. */
static int
tgw_cron_field(const char *s, size_t len, int min, int max, uint64_t *bits,
    int *any)
{
    const char *end = s + len;
    char       *p;
    long        a, b, step, i;
    int         star;

    *bits = 0;
    *any = 0;
    while (s < end) {
        star = 0;
        if (*s == '*') {
            a = min;
            b = max;
            star = 1;
            s++;
        } else {
            if (*s < '0' || *s > '9') {
                return -1;
            }
            a = strtol(s, &p, 10);
            s = p;
            b = a;
            if (s < end && *s == '-') {
                s++;
                if (s >= end || *s < '0' || *s > '9') {
                    return -1;
                }
                b = strtol(s, &p, 10);
                s = p;
            }
        }
        if (a < min || b > max || a > b) {
            return -1;
        }
        step = 1;
        if (s < end && *s == '/') {
            s++;
            if (s >= end || *s < '0' || *s > '9') {
                return -1;
            }
            step = strtol(s, &p, 10);
            s = p;
            if (step < 1 || step > max) {
                return -1;
            }
        }
        if (star && step == 1) {
            *any = 1;
        }
        for (i = a; i <= b; i += step) {
            *bits |= 1ULL << i;
        }
        if (s < end) {
            if (*s != ',' || s + 1 >= end) {
                return -1;
            }
            s++;
        }
    }
    return s == end ? 0 : -1;
}


int
tgw_cron_parse(const char *expr, tgw_cron_t *c)
{
    static const int range[5][2] = {
        { 0, 59 }, { 0, 23 }, { 1, 31 }, { 1, 12 }, { 0, 7 }
    };
    uint64_t    bits[5];
    int         any[5], f = 0;
    const char *p = expr, *start;

    while (*p) {
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        start = p;
        while (*p && *p != ' ' && *p != '\t') {
            p++;
        }
        if (f == 5 || tgw_cron_field(start, (size_t) (p - start),
                                     range[f][0], range[f][1], &bits[f],
                                     &any[f]) != 0)
        {
            return -1;
        }
        f++;
    }
    if (f != 5) {
        return -1;
    }
    memset(c, 0, sizeof(*c));
    c->minute = bits[0];
    c->hour = (uint32_t) bits[1];
    c->dom = (uint32_t) bits[2];
    c->month = (uint16_t) bits[3];
    c->dow = (uint8_t) ((bits[4] | (bits[4] >> 7)) & 0x7f);  /* 7 is 0 */
    c->dom_any = any[2];
    c->dow_any = any[4];
    return 0;
}


int
tgw_cron_match(const tgw_cron_t *c, time_t t)
{
    struct tm tm;
    int       dom, dow;

    if (gmtime_r(&t, &tm) == NULL) {
        return 0;
    }
    if (!(c->minute & (1ULL << tm.tm_min))
        || !(c->hour & (1U << tm.tm_hour))
        || !(c->month & (1U << (tm.tm_mon + 1))))
    {
        return 0;
    }
    dom = (c->dom & (1U << tm.tm_mday)) != 0;
    dow = (c->dow & (1U << tm.tm_wday)) != 0;
    if (c->dom_any || c->dow_any) {
        return dom && dow;          /* a "*" day field matches any day */
    }
    return dom || dow;              /* both restricted: either one */
}
