/*
 * Duration parsing and formatting (see tgw_duration.h for the grammar).
 */

#include <stdio.h>
#include <string.h>

#include "tgw_duration.h"

/* Units, longest spelling first so "ms" is not read as "m" + garbage. */
static const struct {
    const char *name;
    uint64_t    ms;
} tgw_duration_units[] = {
    { "ms", 1 },
    { "s",  1000 },
    { "m",  60 * 1000 },
    { "h",  60 * 60 * 1000 },
    { "d",  24 * 60 * 60 * 1000 },
};

#define TGW_NUNITS (sizeof(tgw_duration_units) / sizeof(tgw_duration_units[0]))


int
tgw_duration_parse(const char *s, uint64_t *ms)
{
    uint64_t total = 0;

    if (s == NULL || *s == '\0') {
        return -1;
    }

    while (*s) {
        uint64_t n = 0;
        size_t   i, len, digits = 0;

        while (*s >= '0' && *s <= '9') {
            uint64_t d = (uint64_t) (*s - '0');

            /* exact: every number up to UINT64_MAX is taken, as the sum
             * of the parts may reach it and format writes it back */
            if (n > (UINT64_MAX - d) / 10) {
                return -1;
            }
            n = n * 10 + d;
            s++;
            digits++;
        }
        if (digits == 0) {
            return -1;
        }

        for (i = 0; i < TGW_NUNITS; i++) {
            len = strlen(tgw_duration_units[i].name);
            if (strncmp(s, tgw_duration_units[i].name, len) == 0
                && !(s[len] >= 'a' && s[len] <= 'z'))
            {
                break;
            }
        }
        if (i == TGW_NUNITS) {
            return -1;              /* missing or unknown unit */
        }

        if (n > UINT64_MAX / tgw_duration_units[i].ms) {
            return -1;
        }
        n *= tgw_duration_units[i].ms;
        if (total > UINT64_MAX - n) {
            return -1;
        }
        total += n;
        s += len;
    }

    *ms = total;
    return 0;
}


char *
tgw_duration_format(uint64_t ms, char *buf, size_t size)
{
    size_t i;

    /* Largest unit that divides the value exactly, "0s" for zero. */
    if (ms == 0) {
        snprintf(buf, size, "0s");
        return buf;
    }
    for (i = TGW_NUNITS; i-- > 0; ) {
        if (ms % tgw_duration_units[i].ms == 0) {
            snprintf(buf, size, "%llu%s",
                     (unsigned long long) (ms / tgw_duration_units[i].ms),
                     tgw_duration_units[i].name);
            return buf;
        }
    }
    return buf;                     /* not reached: "ms" divides anything */
}
