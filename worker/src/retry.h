/*
 * What happens to a task after its handler ran: the outcome decision and
 * the retry backoff.  Pure functions, unit-tested on their own.
 */

#ifndef TGW_RETRY_H
#define TGW_RETRY_H

#include <stdint.h>

/* What a handler reports about one run. */
typedef enum {
    TGW_RUN_SUCCESS = 0,            /* done, output is the result */
    TGW_RUN_RETRYABLE,              /* failed, may work another time */
    TGW_RUN_PERMANENT               /* failed, will never work */
} tgw_run_status_t;

/* The status a task moves to after a run. */
typedef enum {
    TGW_NEXT_SUCCEEDED = 0,         /* terminal */
    TGW_NEXT_RETRYING,              /* back to the stream after a backoff */
    TGW_NEXT_DEAD                   /* terminal, into the dead-letter queue */
} tgw_next_t;

/*
 * The outcome rule.  attempts counts the runs so far, this one included;
 * max_attempts is the total a task gets (handler override, else
 * retry.max_attempts).
 *
 *   success                                    -> succeeded
 *   permanent failure                          -> dead
 *   retryable failure, attempts < max_attempts -> retrying
 *   retryable failure, attempts exhausted      -> dead
 */
tgw_next_t tgw_outcome_decide(tgw_run_status_t run, int attempts,
    int max_attempts);

/* The task-hash status string of a tgw_next_t. */
const char *tgw_next_status(tgw_next_t next);

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
