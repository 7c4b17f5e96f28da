/*
 * The trace context of a task in the worker and taskgwctl (tgw_trace.h
 * holds the traceparent rules shared with the module).
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "tgw_trace.h"


/*
 * SHA-256 through a digest looked up once.  OpenSSL 3's one-shot SHA256()
 * looks the algorithm up in its provider store, under locks, on every
 * call; the worker hashes twice per task, and that lookup was among its
 * top costs in a profile at tens of thousands of tasks a second.  The
 * digest and its context live as long as the program (one thread).
 */
static void
tgw_trace_sha256(const void *p, size_t n, unsigned char *out)
{
    static EVP_MD      *md;
    static EVP_MD_CTX  *ctx;
    unsigned int        len;

    if (md == NULL) {
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    }
    if (ctx == NULL) {
        ctx = EVP_MD_CTX_new();
    }
    if (md == NULL || ctx == NULL
        || EVP_DigestInit_ex(ctx, md, NULL) != 1
        || EVP_DigestUpdate(ctx, p, n) != 1
        || EVP_DigestFinal_ex(ctx, out, &len) != 1)
    {
        SHA256(p, n, out);          /* the slow way, never a wrong id */
    }
}


void
tgw_trace_of_task(const char *stored, size_t len, const char *task_id,
    char *out)
{
    unsigned char  sum[SHA256_DIGEST_LENGTH];

    if (stored != NULL
        && tgw_traceparent_parse((const unsigned char *) stored, len,
                                 (unsigned char *) out) == 0)
    {
        out[TGW_TRACEPARENT_LEN] = '\0';
        return;
    }

    /* None stored (a task from before traces, or a hostile field): one
     * of its own, the same for every attempt on every worker. */
    tgw_trace_sha256(task_id, strlen(task_id), sum);
    tgw_traceparent_make(sum, sum + 16, TGW_TRACE_FLAGS_NEW,
                         (unsigned char *) out);
    out[TGW_TRACEPARENT_LEN] = '\0';
}


void
tgw_trace_run(const char *tp, const char *task_id, int attempt,
    uint64_t started_ms, char *out)
{
    unsigned char  sum[SHA256_DIGEST_LENGTH], trace[16];
    char           text[TGW_TRACE_TASK_ID_MAX + 48];
    size_t         i;
    int            n;

    n = snprintf(text, sizeof(text), "%.*s\n%d\n%llu",
                 TGW_TRACE_TASK_ID_MAX, task_id, attempt,
                 (unsigned long long) started_ms);
    if (n < 0) {
        n = 0;
    } else if ((size_t) n >= sizeof(text)) {
        n = sizeof(text) - 1;
    }
    tgw_trace_sha256(text, (size_t) n, sum);

    /* the trace id back to bytes: tp is valid, so these are hex digits */
    for (i = 0; i < 16; i++) {
        const char *h = tp + TGW_TRACE_ID_OFF + 2 * i;

        unsigned hi = (unsigned) (h[0] <= '9' ? h[0] - '0' : h[0] - 'a' + 10);
        unsigned lo = (unsigned) (h[1] <= '9' ? h[1] - '0' : h[1] - 'a' + 10);

        trace[i] = (unsigned char) ((hi << 4) | lo);
    }

    tgw_traceparent_make(trace, sum, tp + TGW_TRACE_FLAGS_OFF,
                         (unsigned char *) out);
    out[TGW_TRACEPARENT_LEN] = '\0';
}


int
tgw_trace_new(char *out)
{
    unsigned char  ids[24];
    size_t         got = 0;
    ssize_t        n;

    while (got < sizeof(ids)) {
        /* never blocks the worker's loop: fails (and the caller stores
         * none) only while the kernel's pool is not ready, early at boot */
        n = getrandom(ids + got, sizeof(ids) - got, GRND_NONBLOCK);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        got += (size_t) n;
    }

    tgw_traceparent_make(ids, ids + 16, TGW_TRACE_FLAGS_NEW,
                         (unsigned char *) out);
    out[TGW_TRACEPARENT_LEN] = '\0';
    memset(ids, 0, sizeof(ids));
    return 0;
}
