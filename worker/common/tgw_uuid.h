/*
 * Task ids: UUIDv7 text, made from the clock and getrandom(), shared by
 * the worker (cron ticks) and taskgwctl (enqueue).  The module has its own
 * generator in nginx style, with the same layout.
 */

#ifndef TGW_UUID_H
#define TGW_UUID_H

#include <stdint.h>

#define TGW_UUID_LEN         36     /* canonical text, without the NUL */

/*
 * Formats a UUIDv7 (RFC 9562 §5.7) from a unix time in milliseconds and 10
 * random bytes: 48 bits of time, version 7, 12 random bits, variant 0b10,
 * 62 random bits.  out gets 36 lowercase characters and a NUL.
 */
void tgw_uuid7_format(uint64_t ms, const unsigned char rnd[10],
                      char out[TGW_UUID_LEN + 1]);

/* A new UUIDv7 from the clock and getrandom(); -1 with errno on failure. */
int tgw_uuid7_new(char out[TGW_UUID_LEN + 1]);

/* 1 when s is a canonical lowercase UUID (8-4-4-4-12 hex digits). */
int tgw_uuid_valid(const char *s);

#endif /* TGW_UUID_H */
