
/*
 * Fuzz target: the parsers of the request headers taskgw reads:
 * X-Task-Priority, X-Task-Delay, X-Task-Run-At, Idempotency-Key,
 * X-Callback-URL, Authorization and X-API-Token.
 *
 * The input is one record (a length byte and that many bytes) per header,
 * in that order; every parser gets its value.  Each answer is checked
 * against what the header's rule says, worked out here independently
 * (docs/directives.md gives the rules):
 *
 *   - a priority is high, normal or low in any case;
 *   - a delay or a run-at time is a run of digits that fits 63 bits and
 *     does not reach past taskgw_max_delay, and the time it gives is now
 *     or within the delay;
 *   - an Idempotency-Key is 1-255 bytes of visible ASCII;
 *   - an accepted callback URL is visible ASCII, http(s):// and a host
 *     without credentials;
 *   - a token is the bearer credentials or the X-API-Token, trimmed of
 *     spaces, 1-4096 bytes, and lies within its header.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_taskgw_parse.h"
#include "ngx_fuzz.h"


/* 2026-11-30 12:00:00 UTC; the maximum delay is taskgw_max_delay's 10 years */
#define FUZZ_NOW        1764504000000LL
#define FUZZ_MAX_DELAY  (10 * 365 * 86400)


/* a whole number of seconds that fits int64_t, or -1 */

static int64_t
fuzz_seconds(ngx_str_t *s)
{
    size_t   i;
    int64_t  n;

    if (s->len == 0) {
        return -1;
    }

    n = 0;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            return -1;
        }

        if (__builtin_mul_overflow(n, 10, &n)
            || __builtin_add_overflow(n, s->data[i] - '0', &n))
        {
            return -1;
        }
    }

    return n;
}


static void
fuzz_priority(ngx_str_t *v)
{
    ngx_int_t    p;
    const char  *names[] = { "high", "normal", "low" };
    ngx_int_t    want;
    ngx_uint_t   i;

    want = NGX_ERROR;

    for (i = 0; i < 3; i++) {
        if (v->len == strlen(names[i])
            && strncasecmp((char *) v->data, names[i], v->len) == 0)
        {
            want = i;
        }
    }

    p = ngx_http_taskgw_parse_priority(v);

    if (p != want) {
        ngx_fuzz_fail("priority \"%V\": %i, not %i", v, p, want);
    }
}


static void
fuzz_when(ngx_str_t *v, ngx_uint_t run_at)
{
    int64_t      n, when, d;
    ngx_int_t    rc, want;
    const char  *message;

    n = fuzz_seconds(v);

    d = n;

    if (n >= 0 && run_at) {
        d = n - FUZZ_NOW / 1000;
    }

    want = (n >= 0 && d <= FUZZ_MAX_DELAY) ? NGX_OK : NGX_DECLINED;

    message = NULL;
    rc = ngx_http_taskgw_parse_when(run_at ? NULL : v, run_at ? v : NULL,
                                    FUZZ_NOW, FUZZ_MAX_DELAY, &when,
                                    &message);

    if (rc != want) {
        ngx_fuzz_fail("%s \"%V\": %i, not %i", run_at ? "run-at" : "delay",
                      v, rc, want);
    }

    if (rc != NGX_OK) {
        if (message == NULL) {
            ngx_fuzz_fail("refused without a message");
        }

        return;
    }

    if (when != 0
        && (when <= FUZZ_NOW || when > FUZZ_NOW + FUZZ_MAX_DELAY * 1000LL))
    {
        ngx_fuzz_fail("\"%V\" runs at %L, outside now and the max delay",
                      v, when);
    }

    if (d > 0 && when != (run_at ? n * 1000 : FUZZ_NOW + d * 1000)) {
        ngx_fuzz_fail("\"%V\" runs at %L", v, when);
    }

    if (d <= 0 && when != 0 && !(run_at && n * 1000 > FUZZ_NOW)) {
        ngx_fuzz_fail("\"%V\" is not now", v);
    }

    /* both headers at once are refused */

    if (ngx_http_taskgw_parse_when(v, v, FUZZ_NOW, FUZZ_MAX_DELAY, &when,
                                   &message)
        != NGX_DECLINED)
    {
        ngx_fuzz_fail("two headers taken");
    }
}


static void
fuzz_idem(ngx_str_t *v)
{
    size_t     i;
    ngx_int_t  want;

    want = (v->len >= 1 && v->len <= 255) ? NGX_OK : NGX_DECLINED;

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < 0x21 || v->data[i] > 0x7e) {
            want = NGX_DECLINED;
        }
    }

    if (ngx_http_taskgw_valid_idem_key(v) != want) {
        ngx_fuzz_fail("Idempotency-Key \"%V\" misjudged", v);
    }
}


static void
fuzz_callback(ngx_str_t *v)
{
    u_char      *p, *host, *end;
    size_t       i;
    const char  *message;

    message = NULL;

    if (ngx_http_taskgw_parse_callback(v, &message) != NGX_OK) {
        if (message == NULL) {
            ngx_fuzz_fail("refused without a message");
        }

        return;
    }

    if (v->len == 0 || v->len > 2048) {
        ngx_fuzz_fail("a callback URL of %uz bytes", v->len);
    }

    for (i = 0; i < v->len; i++) {
        if (v->data[i] <= 0x20 || v->data[i] >= 0x7f) {
            ngx_fuzz_fail("a callback URL with byte %d", v->data[i]);
        }
    }

    if (strncasecmp((char *) v->data, "https://", 8) == 0) {
        host = v->data + 8;

    } else if (strncasecmp((char *) v->data, "http://", 7) == 0) {
        host = v->data + 7;

    } else {
        ngx_fuzz_fail("\"%V\" is not http(s)", v);
        return;
    }

    end = v->data + v->len;

    for (p = host; p < end && *p != '/' && *p != '?' && *p != '#'; p++) {
        if (*p == '@') {
            ngx_fuzz_fail("\"%V\" carries credentials", v);
        }
    }

    if (p == host || *host == ':') {
        ngx_fuzz_fail("\"%V\" has no host", v);
    }
}


static void
fuzz_token(ngx_str_t *auth, ngx_str_t *api)
{
    ngx_str_t   token, *from, *a, *k;
    ngx_uint_t  i;

    for (i = 0; i < 4; i++) {
        a = (i & 1) ? auth : NULL;
        k = (i & 2) ? api : NULL;

        if (ngx_http_taskgw_parse_token(a, k, &token) != NGX_OK) {
            continue;
        }

        from = (ngx_http_taskgw_is_bearer(a) == NGX_OK) ? a : k;

        if (from == NULL) {
            ngx_fuzz_fail("a token without a header");
            return;
        }

        if (token.len == 0 || token.len > 4096
            || token.data < from->data
            || token.data + token.len > from->data + from->len
            || token.data[0] == ' ' || token.data[token.len - 1] == ' ')
        {
            ngx_fuzz_fail("token \"%V\" from \"%V\"", &token, from);
        }

        if (from == a && token.data < a->data + 7) {
            ngx_fuzz_fail("the token takes in \"Bearer \"");
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *copy;
    ngx_str_t   h[7];
    ngx_uint_t  i;

    ngx_memzero(h, sizeof(h));

    for (i = 0; i < 7; i++) {
        if (ngx_fuzz_record(&data, &size, &h[i]) != NGX_OK) {
            break;
        }
    }

    /*
     * each value in a buffer of its own size, so that ASan sees a read
     * past it; an empty one points somewhere, as nginx's always do
     */

    for (i = 0; i < 7; i++) {
        if (h[i].len == 0) {
            h[i].data = (u_char *) "";
            continue;
        }

        copy = malloc(h[i].len);
        if (copy == NULL) {
            return 0;
        }

        ngx_memcpy(copy, h[i].data, h[i].len);
        h[i].data = copy;
    }

    fuzz_priority(&h[0]);
    fuzz_when(&h[1], 0);
    fuzz_when(&h[2], 1);
    fuzz_idem(&h[3]);
    fuzz_callback(&h[4]);
    fuzz_token(&h[5], &h[6]);

    for (i = 0; i < 7; i++) {
        if (h[i].len) {
            free(h[i].data);
        }
    }

    return 0;
}
