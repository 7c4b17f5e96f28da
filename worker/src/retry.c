/*
 * Backoff with jitter (see retry.h for the rule).
 */

#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "retry.h"


uint64_t
tgw_backoff_ms(int attempt, uint64_t base_ms, uint64_t cap_ms, uint64_t r)
{
    uint64_t ceiling;
    int      i;

    if (base_ms == 0) {
        base_ms = 1;
    }
    if (cap_ms < base_ms) {
        cap_ms = base_ms;
    }
    if (attempt < 1) {
        attempt = 1;
    }

    /* Double base attempt times, stopping at cap (and before overflow). */
    ceiling = base_ms;
    for (i = 0; i < attempt && ceiling < cap_ms; i++) {
        ceiling = ceiling > cap_ms / 2 ? cap_ms : ceiling * 2;
    }
    if (ceiling > cap_ms) {
        ceiling = cap_ms;
    }

    return base_ms + r % (ceiling - base_ms + 1);
}


uint64_t
tgw_random64(void)
{
    static int  seeded;
    uint64_t    r;

    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t) sizeof(r)) {
        return r;
    }
    if (!seeded) {
        srandom((unsigned) time(NULL) ^ (unsigned) getpid());
        seeded = 1;
    }
    return ((uint64_t) random() << 33) ^ ((uint64_t) random() << 11)
           ^ (uint64_t) random();
}
