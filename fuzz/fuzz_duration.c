/*
 * Fuzz target: tgw_duration_parse (durations in the worker's config and on
 * taskgwctl's command line).  Checks that a value that parses formats back
 * to a string that parses to the same number of milliseconds.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tgw_duration.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char      *s, buf[64];
    uint64_t   ms, again;

    s = malloc(size + 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';

    if (tgw_duration_parse(s, &ms) == 0) {
        tgw_duration_format(ms, buf, sizeof(buf));
        if (tgw_duration_parse(buf, &again) != 0 || again != ms) {
            abort();
        }
    }

    free(s);
    return 0;
}
