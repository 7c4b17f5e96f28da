/*
 * Fuzz target: the cron parser (5-field expressions of the worker's
 * schedules).  A parsed expression is matched against a few times, and
 * parse and validate must agree.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "cron.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char        *s;
    int          rc;
    time_t       t;
    tgw_cron_t   c;

    s = malloc(size + 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';

    rc = tgw_cron_parse(s, &c);
    if (rc == 0) {
        /* a minute of every month and weekday of a few years */
        for (t = 1700000000; t < 1700000000 + 3 * 366 * 86400;
             t += 86400 * 7 + 3660)
        {
            (void) tgw_cron_match(&c, t);
        }
    }
    if ((tgw_cron_validate(s) == 0) != (rc == 0)) {
        abort();
    }

    free(s);
    return 0;
}
