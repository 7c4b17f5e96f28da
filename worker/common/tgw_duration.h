/*
 * Durations in config files and on the command line: "100ms", "60s", "5m",
 * "2h", "7d", or a sum of such terms ("1h30m").  Shared by worker and CLI.
 */

#ifndef TGW_DURATION_H
#define TGW_DURATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses a duration into milliseconds.  The grammar is one or more terms
 * "<digits><unit>" with unit ms, s, m, h or d and nothing else (no sign, no
 * spaces, no bare number: "5" is ambiguous, so it is refused).  Returns 0 on
 * success, -1 on a malformed or overflowing value (*ms is left untouched).
 */
int tgw_duration_parse(const char *s, uint64_t *ms);

/*
 * Formats ms as the shortest exact duration ("1500ms", "90s", "5m", "7d")
 * into buf; returns buf.  Used in logs and in --check output.
 */
char *tgw_duration_format(uint64_t ms, char *buf, size_t size);

#endif /* TGW_DURATION_H */
