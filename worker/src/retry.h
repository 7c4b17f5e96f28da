/*
 * Backoff with jitter: the delay before a task's retry and before a
 * Redis reconnect.  Pure functions, unit-tested on their own.
 */

#ifndef TGW_RETRY_H
#define TGW_RETRY_H

#include <stdint.h>

/*
 * The delay before retry number `attempt` (1 after the first failure):
 * exponential with full jitter, bounded by base and cap:
 *
 *   ceiling = min(cap, base * 2^attempt)
 *   delay   = base + r mod (ceiling - base + 1)
 *
 * so the first retry waits between base and 2*base, later ones anywhere
 * between base and a ceiling that doubles each time until cap.  r is a
 * uniformly random 64-bit value (a parameter so tests can pin it).
 */
uint64_t tgw_backoff_ms(int attempt, uint64_t base_ms, uint64_t cap_ms,
    uint64_t r);

/* 64 random bits from the kernel (falls back to a seeded PRNG). */
uint64_t tgw_random64(void);

#endif /* TGW_RETRY_H */
