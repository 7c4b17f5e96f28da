/*
 * Cron expressions (5 fields, UTC): minute hour day-of-month month
 * day-of-week, each "*", "N", "N-M", with "/step", comma lists; day of
 * week 0-7 (0 and 7 are Sunday).  As in cron, when both day fields are
 * restricted a day matching either one matches.
 */

#ifndef TGW_CRON_H
#define TGW_CRON_H

#include <stdint.h>
#include <time.h>

typedef struct {
    uint64_t    minute;             /* bit n: minute n matches */
    uint32_t    hour;
    uint32_t    dom;                /* bits 1..31 */
    uint16_t    month;              /* bits 1..12 */
    uint8_t     dow;                /* bits 0..6 (7 folded into 0) */
    int         dom_any;            /* the field was "*" (or "*\/1") */
    int         dow_any;
} tgw_cron_t;

/* Parses expr; 0 if good, -1 if not. */
int tgw_cron_parse(const char *expr, tgw_cron_t *c);

/* 1 when the minute starting at unix time t (UTC) matches. */
int tgw_cron_match(const tgw_cron_t *c, time_t t);

#endif /* TGW_CRON_H */
