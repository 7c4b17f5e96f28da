/*
 * The outcome rule and the retry backoff (full jitter within base..cap).
 */

#include <stdint.h>

#include "outcome.h"
#include "retry.h"
#include "tap.h"
#include "tgw_keys.h"


int
main(void)
{
    uint64_t d, lo, hi;
    int      i, a, inside;

    /* Outcome decision. */
    is_int(tgw_outcome_decide(TGW_RUN_SUCCESS, 1, 5), TGW_NEXT_SUCCEEDED,
           "success succeeds");
    is_int(tgw_outcome_decide(TGW_RUN_SUCCESS, 5, 5), TGW_NEXT_SUCCEEDED,
           "success on the last attempt succeeds");
    is_int(tgw_outcome_decide(TGW_RUN_RETRYABLE, 1, 5), TGW_NEXT_RETRYING,
           "retryable with attempts left retries");
    is_int(tgw_outcome_decide(TGW_RUN_RETRYABLE, 4, 5), TGW_NEXT_RETRYING,
           "retryable on attempt 4 of 5 retries");
    is_int(tgw_outcome_decide(TGW_RUN_RETRYABLE, 5, 5), TGW_NEXT_DEAD,
           "retryable on the last attempt is dead");
    is_int(tgw_outcome_decide(TGW_RUN_RETRYABLE, 1, 1), TGW_NEXT_DEAD,
           "max_attempts 1: first failure is dead");
    is_int(tgw_outcome_decide(TGW_RUN_RETRYABLE, 7, 5), TGW_NEXT_DEAD,
           "over the limit is dead");
    is_int(tgw_outcome_decide(TGW_RUN_PERMANENT, 1, 5), TGW_NEXT_DEAD,
           "permanent is dead at once");
    is_str(tgw_next_status(TGW_NEXT_SUCCEEDED), TGW_ST_SUCCEEDED,
           "status succeeded");
    is_str(tgw_next_status(TGW_NEXT_RETRYING), TGW_ST_RETRYING,
           "status retrying");
    is_str(tgw_next_status(TGW_NEXT_DEAD), TGW_ST_DEAD, "status dead");

    /* Backoff: pinned random values give the bounds. */
    is_int(tgw_backoff_ms(1, 1000, 3600000, 0), 1000, "attempt 1, r=0: base");
    is_int(tgw_backoff_ms(1, 1000, 3600000, 1000), 2000,
           "attempt 1, top: 2*base");
    is_int(tgw_backoff_ms(1, 1000, 3600000, 1001), 1000,
           "attempt 1 wraps within base..2*base");
    is_int(tgw_backoff_ms(3, 1000, 3600000, 7000), 8000,
           "attempt 3, top: 8*base");
    is_int(tgw_backoff_ms(3, 1000, 3600000, 7001), 1000,
           "attempt 3 wraps within base..8*base");
    is_int(tgw_backoff_ms(30, 1000, 3600000, 3599000), 3600000,
           "late attempt: at most cap");
    is_int(tgw_backoff_ms(200, 1000, 3600000, 3599000), 3600000,
           "huge attempt: no overflow, cap");
    is_int(tgw_backoff_ms(5, 500, 500, 12345), 500, "cap == base: base");
    is_int(tgw_backoff_ms(0, 1000, 60000, 0), 1000, "attempt 0 as 1");

    /* Random draws stay within [base, min(cap, base * 2^attempt)] and
     * spread over it (full jitter, not a fixed step). */
    for (a = 1; a <= 12; a++) {
        lo = UINT64_MAX;
        hi = 0;
        inside = 1;
        for (i = 0; i < 2000; i++) {
            d = tgw_backoff_ms(a, 100, 60000, tgw_random64());
            uint64_t ceil = 100ULL << a;

            if (ceil > 60000) {
                ceil = 60000;
            }
            if (d < 100 || d > ceil) {
                inside = 0;
            }
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        ok(inside, "attempt %d: 2000 draws within bounds", a);
        ok(hi - lo > (a == 1 ? 50 : 100),
           "attempt %d: draws spread (%llu..%llu)", a,
           (unsigned long long) lo, (unsigned long long) hi);
    }

    return done_testing();
}
