/*
 * The outcome decision and retry backoff (see retry.h for the rules).
 */

#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "retry.h"
#include "tgw_keys.h"


tgw_next_t
tgw_outcome_decide(tgw_run_status_t run, int attempts, int max_attempts)
{
    switch (run) {
    case TGW_RUN_SUCCESS:
        return TGW_NEXT_SUCCEEDED;
    case TGW_RUN_PERMANENT:
        return TGW_NEXT_DEAD;
    case TGW_RUN_RETRYABLE:
        break;
    }
    return attempts < max_attempts ? TGW_NEXT_RETRYING : TGW_NEXT_DEAD;
}


const char *
tgw_next_status(tgw_next_t next)
{
    switch (next) {
    case TGW_NEXT_SUCCEEDED:
        return TGW_ST_SUCCEEDED;
    case TGW_NEXT_RETRYING:
        return TGW_ST_RETRYING;
    case TGW_NEXT_DEAD:
        break;
    }
    return TGW_ST_DEAD;
}


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
