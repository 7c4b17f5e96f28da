
/*
 * Fuzz target: the token file's line parser (taskgw_tokens) and the
 * parser of a run-time token's hash fields (taskgw_tokens_redis).
 *
 * The input is a token file: it is cut into lines as nginx reads it and
 * each line parsed on its own, the last one without a newline ending
 * where the input does.  A token that parses must make sense (a valid
 * name, a role, a positive rate, queues and addresses that are valid) and
 * must parse again, to the same token, when written back as a line.
 *
 * Then the same input, cut at newlines, is a run-time token's fields
 * (name, role, ips, rate, queues, disabled); what the fields parser
 * takes, the line parser must take too in the equivalent line, and the
 * other way round.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_taskgw_parse.h"
#include "ngx_http_taskgw_token.h"
#include "ngx_fuzz.h"


static void
fuzz_check_token(ngx_http_taskgw_token_t *tok)
{
    ngx_str_t   *q;
    ngx_uint_t   i;
    ngx_cidr_t  *c;

    if (ngx_http_taskgw_valid_name(&tok->name, 64, 0) != NGX_OK) {
        ngx_fuzz_fail("a token named \"%V\"", &tok->name);
    }

    if (tok->role < NGX_HTTP_TASKGW_ROLE_DEV
        || tok->role > NGX_HTTP_TASKGW_ROLE_ADMIN)
    {
        ngx_fuzz_fail("a token with role %ui", tok->role);
    }

    if (tok->queues) {
        if (tok->queues->nelts == 0) {
            ngx_fuzz_fail("queues= without a queue");
        }

        q = tok->queues->elts;

        for (i = 0; i < tok->queues->nelts; i++) {
            if (ngx_http_taskgw_valid_name(&q[i], 64, 0) != NGX_OK) {
                ngx_fuzz_fail("a queue named \"%V\"", &q[i]);
            }
        }
    }

    if (tok->ips) {
        if (tok->ips->nelts == 0) {
            ngx_fuzz_fail("ips= without an address");
        }

        c = tok->ips->elts;

        for (i = 0; i < tok->ips->nelts; i++) {
            if (c[i].family != AF_INET && c[i].family != AF_INET6) {
                ngx_fuzz_fail("an address of family %ui", c[i].family);
            }
        }
    }
}


/*
 * The token written back as a line (name, role, digest, queues; the rate
 * as the rate it is, in r/s when that is whole) must parse to the same.
 */

static void
fuzz_round_trip(ngx_pool_t *pool, ngx_http_taskgw_token_t *tok)
{
    u_char                   *line, *p;
    ngx_str_t                 bad, *q;
    ngx_uint_t                i;
    const char               *why;
    ngx_http_taskgw_token_t   again;

    line = ngx_pnalloc(pool, 1024 + 65 * 64);
    if (line == NULL) {
        abort();
    }

    p = ngx_sprintf(line, "%V %V sha256:", &tok->name,
                    &ngx_http_taskgw_roles[tok->role]);
    p = ngx_hex_dump(p, tok->digest, NGX_HTTP_TASKGW_DIGEST_LEN);

    if (tok->rate && tok->rate % 1000 == 0) {
        p = ngx_sprintf(p, " rate=%uir/s", tok->rate / 1000);
    }

    if (tok->queues) {
        q = tok->queues->elts;
        p = ngx_cpymem(p, " queues=", 8);

        for (i = 0; i < tok->queues->nelts; i++) {
            p = ngx_sprintf(p, "%s%V", i ? "," : "", &q[i]);
        }
    }

    if (ngx_http_taskgw_token_parse_line(pool, line, p, &again, &bad, &why)
        != NGX_OK)
    {
        ngx_fuzz_fail("written back, \"%*s\" does not parse: %s", p - line,
                      line, why);
    }

    if (again.name.len != tok->name.len
        || ngx_memcmp(again.name.data, tok->name.data, tok->name.len) != 0
        || again.role != tok->role
        || ngx_memcmp(again.digest, tok->digest, NGX_HTTP_TASKGW_DIGEST_LEN)
           != 0
        || (tok->rate % 1000 == 0 && again.rate != tok->rate)
        || (tok->queues == NULL) != (again.queues == NULL)
        || (tok->queues && tok->queues->nelts != again.queues->nelts))
    {
        ngx_fuzz_fail("\"%*s\" parses to another token", p - line, line);
    }
}


/*
 * The fields as a line: "name role sha256:<64 zeros> ips=.. rate=..
 * queues=..", when no field holds a space, a tab, a CR or a "#" (the
 * line's separators) and the disabled field is empty.
 */

static void
fuzz_fields(ngx_pool_t *pool, const u_char *data, size_t size)
{
    u_char                   *p, *last, *line, *eol;
    ngx_int_t                 rc_fields, rc_line;
    ngx_str_t                 f[NGX_HTTP_TASKGW_TF_COUNT], bad;
    ngx_uint_t                i;
    const char               *err, *why;
    ngx_http_taskgw_token_t   tok;
    static const char        *opt[] = { NULL, NULL, "ips=", "rate=",
                                        "queues=" };

    ngx_memzero(f, sizeof(f));

    p = ngx_pnalloc(pool, size + 1);
    if (p == NULL) {
        abort();
    }

    ngx_memcpy(p, data, size);
    last = p + size;

    for (i = 0; i < NGX_HTTP_TASKGW_TF_COUNT; i++) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        f[i].data = p;
        f[i].len = eol - p;

        if (eol == last) {
            break;
        }

        p = eol + 1;
    }

    for (i = 0; i < NGX_HTTP_TASKGW_TF_COUNT; i++) {
        if (f[i].data == NULL) {
            f[i].data = (u_char *) "";
        }
    }

    rc_fields = ngx_http_taskgw_token_from_fields(pool, f, &tok, &err);

    if (rc_fields == NGX_OK) {
        fuzz_check_token(&tok);
    }

    if (f[NGX_HTTP_TASKGW_TF_DISABLED].len) {
        return;
    }

    for (i = 0; i < NGX_HTTP_TASKGW_TF_DISABLED; i++) {
        if (ngx_strlchr(f[i].data, f[i].data + f[i].len, ' ')
            || ngx_strlchr(f[i].data, f[i].data + f[i].len, '\t')
            || ngx_strlchr(f[i].data, f[i].data + f[i].len, '\r')
            || ngx_strlchr(f[i].data, f[i].data + f[i].len, '#'))
        {
            return;
        }
    }

    line = ngx_pnalloc(pool, size + 128);
    if (line == NULL) {
        abort();
    }

    p = ngx_sprintf(line, "%V %V sha256:", &f[NGX_HTTP_TASKGW_TF_NAME],
                    &f[NGX_HTTP_TASKGW_TF_ROLE]);
    p = ngx_cpymem(p, "0000000000000000000000000000000000000000000000000000"
                      "000000000000", 64);

    for (i = NGX_HTTP_TASKGW_TF_IPS; i <= NGX_HTTP_TASKGW_TF_QUEUES; i++) {
        if (f[i].len) {
            p = ngx_sprintf(p, " %s%V", opt[i], &f[i]);
        }
    }

    rc_line = ngx_http_taskgw_token_parse_line(pool, line, p, &tok, &bad,
                                               &why);

    /* an empty name or role leaves the line a word short */

    if (rc_line == NGX_DONE) {
        rc_line = NGX_DECLINED;
    }

    if ((rc_fields == NGX_OK) != (rc_line == NGX_OK)) {
        ngx_fuzz_fail("the fields parser says %i, the line parser %i "
                      "for \"%*s\"", rc_fields, rc_line, p - line, line);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                   *buf, *p, *eol, *last;
    ngx_int_t                 rc;
    ngx_str_t                 bad;
    ngx_pool_t               *pool;
    const char               *why;
    ngx_http_taskgw_token_t   tok;

    pool = ngx_fuzz_pool();

    /* a buffer of the file's exact size, as nginx reads it */

    buf = ngx_pnalloc(pool, size ? size : 1);
    if (buf == NULL) {
        abort();
    }

    ngx_memcpy(buf, data, size);

    p = buf;
    last = buf + size;

    while (p < last) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        why = NULL;
        rc = ngx_http_taskgw_token_parse_line(pool, p, eol, &tok, &bad, &why);

        switch (rc) {

        case NGX_OK:
            fuzz_check_token(&tok);
            fuzz_round_trip(pool, &tok);
            break;

        case NGX_DECLINED:
            if (why == NULL) {
                ngx_fuzz_fail("a line refused without a reason");
            }

            if (bad.data
                && (bad.data < p || bad.data + bad.len > eol))
            {
                ngx_fuzz_fail("the offending word is not in the line");
            }

            break;

        case NGX_DONE:
            break;

        default:
            ngx_fuzz_fail("the line parser failed: %i", rc);
        }

        p = eol + 1;
    }

    fuzz_fields(pool, data, size);

    ngx_destroy_pool(pool);

    return 0;
}
