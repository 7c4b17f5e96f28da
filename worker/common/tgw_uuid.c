/*
 * Task ids: UUIDv7 (see tgw_uuid.h).
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "tgw_clock.h"
#include "tgw_hex.h"
#include "tgw_uuid.h"

/* ==========================================================================
 * Ids and times
 * ========================================================================== */

void
tgw_uuid7_format(uint64_t ms, const unsigned char rnd[10],
                     char out[TGW_UUID_LEN + 1])
{
    unsigned char  u[16], *p;
    int            i;

    /* 48-bit big-endian unix_ts_ms */
    for (i = 0; i < 6; i++) {
        u[i] = (unsigned char) (ms >> (40 - 8 * i));
    }

    u[6] = 0x70 | (rnd[0] & 0x0f);      /* version 7, rand_a high nibble */
    u[7] = rnd[1];
    u[8] = 0x80 | (rnd[2] & 0x3f);      /* variant 0b10 */
    memcpy(u + 9, rnd + 3, 7);

    p = (unsigned char *) out;
    p = tgw_hex_write(p, u, 4);
    *p++ = '-';
    p = tgw_hex_write(p, u + 4, 2);
    *p++ = '-';
    p = tgw_hex_write(p, u + 6, 2);
    *p++ = '-';
    p = tgw_hex_write(p, u + 8, 2);
    *p++ = '-';
    p = tgw_hex_write(p, u + 10, 6);
    *p = '\0';
}


int
tgw_uuid7_new(char out[TGW_UUID_LEN + 1])
{
    unsigned char  rnd[10];
    size_t         got;
    ssize_t        n;
    int64_t        ms;

    for (got = 0; got < sizeof(rnd); got += (size_t) n) {
        n = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (n < 0) {
            if (errno == EINTR) {
                n = 0;
                continue;
            }
            return -1;
        }
    }

    ms = tgw_clock_ms();
    if (ms < 0) {
        return -1;
    }

    tgw_uuid7_format((uint64_t) ms, rnd, out);
    return 0;
}


int
tgw_uuid_valid(const char *s)
{
    int  i;

    for (i = 0; i < TGW_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (!((s[i] >= '0' && s[i] <= '9')
                     || (s[i] >= 'a' && s[i] <= 'f')))
        {
            return 0;
        }
    }

    return s[TGW_UUID_LEN] == '\0';
}
