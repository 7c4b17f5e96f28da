/*
 * A minimal TAP producer for the worker's unit tests: each check prints
 * "ok N - name" or "not ok N - name", done_testing() prints the plan and
 * returns the exit status (non-zero when any check failed).
 */

#ifndef TGW_TAP_H
#define TGW_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                       \
    do {                                                                    \
        int tap_c_ = (cond) ? 1 : 0;                                        \
        tap_n++;                                                            \
        if (!tap_c_) tap_failed++;                                          \
        printf("%sok %d - ", tap_c_ ? "" : "not ", tap_n);                  \
        printf(__VA_ARGS__);                                                \
        printf("\n");                                                       \
        if (!tap_c_)                                                        \
            printf("#   failed at %s line %d\n", __FILE__, __LINE__);      \
    } while (0)

#define is_int(got, want, name)                                             \
    do {                                                                    \
        long long tap_g_ = (long long) (got), tap_w_ = (long long) (want);  \
        ok(tap_g_ == tap_w_, "%s", name);                                   \
        if (tap_g_ != tap_w_)                                               \
            printf("#   got %lld, expected %lld\n", tap_g_, tap_w_);        \
    } while (0)

#define is_str(got, want, name)                                             \
    do {                                                                    \
        const char *tap_g_ = (got), *tap_w_ = (want);                       \
        int tap_e_ = (tap_g_ && tap_w_) ? strcmp(tap_g_, tap_w_) == 0       \
                                        : tap_g_ == tap_w_;                 \
        ok(tap_e_, "%s", name);                                             \
        if (!tap_e_)                                                        \
            printf("#   got \"%s\", expected \"%s\"\n",                      \
                   tap_g_ ? tap_g_ : "(null)", tap_w_ ? tap_w_ : "(null)"); \
    } while (0)

static inline int
done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif /* TGW_TAP_H */
