/*
 * Wall-clock time as the task hash and the task JSON carry it: unix
 * milliseconds, shown as RFC 3339 UTC with milliseconds; and the
 * machine's monotonic clock, which the worker and its exec spawner
 * share for the spawner's lease (keeper.h, "Leases").
 */

#ifndef TGW_CLOCK_H
#define TGW_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define TGW_RFC3339_LEN      24     /* "2026-11-23T10:00:00.123Z" */

/* Current unix time in milliseconds. */
int64_t tgw_clock_ms(void);

/* CLOCK_MONOTONIC in milliseconds: one clock for every process of the
 * machine, unmoved by changes of the wall clock. */
uint64_t tgw_clock_mono_ms(void);

/*
 * Unix milliseconds to RFC 3339 UTC with milliseconds, as the task JSON
 * shows them.  -1 when ms is negative, past year 9999 or size is short.
 */
int tgw_clock_rfc3339(int64_t ms, char *buf, size_t size);

#endif /* TGW_CLOCK_H */
