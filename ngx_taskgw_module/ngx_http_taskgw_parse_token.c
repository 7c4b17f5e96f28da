
/*
 * ngx_http_taskgw_parse_token: the parsers of a token file line and of a
 * run-time token's fields, pure functions over strings (as _parse.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_token.h"
#include "ngx_http_taskgw_limit.h"
#include "ngx_http_taskgw_parse.h"


static ngx_int_t ngx_http_taskgw_parse_queues(ngx_pool_t *pool,
    ngx_str_t *s, ngx_array_t **queues, ngx_str_t *bad);
static ngx_int_t ngx_http_taskgw_parse_digest(ngx_str_t *s, u_char *digest);


ngx_str_t  ngx_http_taskgw_roles[] = {
    ngx_string("off"),
    ngx_string("dev"),
    ngx_string("ops"),
    ngx_string("admin"),
    ngx_null_string
};


/* ------------------------------------------------------------------ */
/* tokens                                                              */
/* ------------------------------------------------------------------ */

/*
 * One line of the token file, from p up to last (without the newline):
 *
 *     name  role  sha256:<64 hex digits>  [ips=cidr,...] [rate=Nr/s|Nr/m]
 *                                         [queues=name,...] [disabled]
 *
 * "#" starts a comment.  NGX_OK with *tok (its name still in the line)
 * and *bad the digest as written (for the caller's message when it is a
 * duplicate), NGX_DONE for a line without a token, NGX_DECLINED with
 * *why and *bad (the offending word, bad->data NULL when there is none),
 * NGX_ERROR.  That names and digests are unique in the file is for the
 * caller.
 */

ngx_int_t
ngx_http_taskgw_token_parse_line(ngx_pool_t *pool, u_char *p, u_char *last,
    ngx_http_taskgw_token_t *tok, ngx_str_t *bad, const char **why)
{
    u_char     *hash;
    ngx_int_t   rate, rc;
    ngx_str_t   w[8], v;
    ngx_uint_t  n, i;

    hash = ngx_strlchr(p, last, '#');
    if (hash) {
        last = hash;
    }

    n = 0;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == '\r')) {
            p++;
        }

        if (p == last) {
            break;
        }

        if (n == 8) {
            *why = "too many fields";
            ngx_str_null(bad);
            return NGX_DECLINED;
        }

        w[n].data = p;

        while (p < last && *p != ' ' && *p != '\t' && *p != '\r') {
            p++;
        }

        w[n].len = p - w[n].data;
        n++;
    }

    if (n == 0) {
        return NGX_DONE;
    }

    if (n < 3) {
        *why = "expected \"name role sha256:digest [options]\"";
        ngx_str_null(bad);
        return NGX_DECLINED;
    }

    ngx_memzero(tok, sizeof(ngx_http_taskgw_token_t));

    *bad = w[0];

    if (ngx_http_taskgw_valid_name(&w[0], NGX_HTTP_TASKGW_TOKEN_NAME_MAX, 0)
        != NGX_OK)
    {
        *why = "invalid token name (1-64 characters of A-Z a-z 0-9 . _ -)";
        return NGX_DECLINED;
    }

    tok->name = w[0];

    *bad = w[1];
    tok->role = ngx_http_taskgw_parse_role(&w[1]);

    if (tok->role == NGX_HTTP_TASKGW_ROLE_NONE) {
        *why = "unknown role (dev, ops or admin)";
        return NGX_DECLINED;
    }

    *bad = w[2];

    if (ngx_http_taskgw_parse_digest(&w[2], tok->digest) != NGX_OK) {
        *why = "malformed digest (sha256: and 64 hex digits)";
        return NGX_DECLINED;
    }

    /*
     * an option is compared only as far as its word goes: the last word
     * of a file without a final newline ends where the buffer does
     */

    for (i = 3; i < n; i++) {
        *bad = w[i];

        if (w[i].len >= 4 && ngx_strncmp(w[i].data, "ips=", 4) == 0) {
            if (tok->ips) {
                goto duplicate;
            }

            v.data = w[i].data + 4;
            v.len = w[i].len - 4;

            rc = ngx_http_taskgw_parse_ips(pool, &v, &tok->ips, bad);
            if (rc != NGX_OK) {
                *why = "invalid address or CIDR range";
                return rc;
            }

            continue;
        }

        if (w[i].len >= 5 && ngx_strncmp(w[i].data, "rate=", 5) == 0) {
            if (tok->rate) {
                goto duplicate;
            }

            v.data = w[i].data + 5;
            v.len = w[i].len - 5;

            rate = ngx_http_taskgw_token_parse_rate(&v);
            if (rate == NGX_ERROR) {
                *why = "invalid rate (Nr/s or Nr/m, N at least 1)";
                return NGX_DECLINED;
            }

            tok->rate = rate;
            tok->rate_period = (v.data[v.len - 1] == 'm') ? 60 : 1;
            continue;
        }

        if (w[i].len >= 7 && ngx_strncmp(w[i].data, "queues=", 7) == 0) {
            if (tok->queues) {
                goto duplicate;
            }

            v.data = w[i].data + 7;
            v.len = w[i].len - 7;

            rc = ngx_http_taskgw_parse_queues(pool, &v, &tok->queues, bad);
            if (rc != NGX_OK) {
                *why = "invalid queue name";
                return rc;
            }

            continue;
        }

        if (w[i].len == 8 && ngx_strncmp(w[i].data, "disabled", 8) == 0) {
            if (tok->disabled) {
                goto duplicate;
            }

            /* kept in the file, refused as an unknown token is (401) */
            tok->disabled = 1;
            continue;
        }

        *why = "unknown option (ips=, rate=, queues= or disabled)";
        return NGX_DECLINED;
    }

    *bad = w[2];

    return NGX_OK;

duplicate:

    *why = "duplicate option";
    return NGX_DECLINED;
}


/*
 * A run-time token from its hash fields (as Redis or the cache holds
 * them).  NGX_DECLINED with *err when a field does not parse.
 */

ngx_int_t
ngx_http_taskgw_token_from_fields(ngx_pool_t *pool, ngx_str_t *fields,
    ngx_http_taskgw_token_t *tok, const char **err)
{
    ngx_int_t   rc;
    ngx_str_t  *f, bad;

    ngx_memzero(tok, sizeof(ngx_http_taskgw_token_t));

    f = fields;

    if (ngx_http_taskgw_valid_name(&f[NGX_HTTP_TASKGW_TF_NAME],
                                   NGX_HTTP_TASKGW_TOKEN_NAME_MAX, 0)
        != NGX_OK)
    {
        *err = "invalid name";
        return NGX_DECLINED;
    }

    tok->name = f[NGX_HTTP_TASKGW_TF_NAME];

    tok->role = ngx_http_taskgw_parse_role(&f[NGX_HTTP_TASKGW_TF_ROLE]);
    if (tok->role == NGX_HTTP_TASKGW_ROLE_NONE) {
        *err = "invalid role";
        return NGX_DECLINED;
    }

    if (f[NGX_HTTP_TASKGW_TF_IPS].len) {
        rc = ngx_http_taskgw_parse_ips(pool, &f[NGX_HTTP_TASKGW_TF_IPS],
                                       &tok->ips, &bad);
        if (rc != NGX_OK) {
            *err = "invalid ips";
            return rc;
        }
    }

    if (f[NGX_HTTP_TASKGW_TF_RATE].len) {
        rc = ngx_http_taskgw_token_parse_rate(&f[NGX_HTTP_TASKGW_TF_RATE]);
        if (rc == NGX_ERROR) {
            *err = "invalid rate";
            return NGX_DECLINED;
        }

        tok->rate = rc;
        tok->rate_period =
            (f[NGX_HTTP_TASKGW_TF_RATE].data[f[NGX_HTTP_TASKGW_TF_RATE].len - 1]
             == 'm') ? 60 : 1;
    }

    if (f[NGX_HTTP_TASKGW_TF_QUEUES].len) {
        rc = ngx_http_taskgw_parse_queues(pool, &f[NGX_HTTP_TASKGW_TF_QUEUES],
                                          &tok->queues, &bad);
        if (rc != NGX_OK) {
            *err = "invalid queues";
            return rc;
        }
    }

    f = &fields[NGX_HTTP_TASKGW_TF_DISABLED];

    if ((f->len == 1 && f->data[0] == '1')
        || (f->len == 4 && ngx_strncasecmp(f->data, (u_char *) "true", 4)
                           == 0))
    {
        tok->disabled = 1;
    }

    return NGX_OK;
}


ngx_uint_t
ngx_http_taskgw_parse_role(ngx_str_t *s)
{
    ngx_uint_t  i;

    for (i = NGX_HTTP_TASKGW_ROLE_DEV; ngx_http_taskgw_roles[i].len; i++) {
        if (s->len == ngx_http_taskgw_roles[i].len
            && ngx_strncmp(s->data, ngx_http_taskgw_roles[i].data, s->len)
               == 0)
        {
            return i;
        }
    }

    return NGX_HTTP_TASKGW_ROLE_NONE;
}


/*
 * Nr/s or Nr/m, as requests per second times 1000 (as limit_req keeps it):
 * the syntax of a zone's rate=, ngx_http_taskgw_parse_rate().
 */

ngx_int_t
ngx_http_taskgw_token_parse_rate(ngx_str_t *s)
{
    ngx_http_taskgw_rate_t  rate;

    if (ngx_http_taskgw_parse_rate(s, &rate) != NGX_OK) {
        return NGX_ERROR;
    }

    return (ngx_int_t) (rate.n * 1000 / rate.period);
}


/*
 * A comma-separated list of addresses and CIDR ranges (ips=), into an
 * array of ngx_cidr_t.  NGX_DECLINED with *bad the item that is not one.
 */

ngx_int_t
ngx_http_taskgw_parse_ips(ngx_pool_t *pool, ngx_str_t *s, ngx_array_t **ips,
    ngx_str_t *bad)
{
    u_char      *p, *last, *comma;
    ngx_str_t    one;
    ngx_cidr_t  *cidr;

    *ips = ngx_array_create(pool, 2, sizeof(ngx_cidr_t));
    if (*ips == NULL) {
        return NGX_ERROR;
    }

    p = s->data;
    last = s->data + s->len;

    do {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        one.data = p;
        one.len = comma - p;
        *bad = one;

        cidr = ngx_array_push(*ips);
        if (cidr == NULL) {
            return NGX_ERROR;
        }

        if (one.len == 0 || ngx_ptocidr(&one, cidr) == NGX_ERROR) {
            return NGX_DECLINED;
        }

        p = comma + 1;

    } while (comma < last);

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_parse_queues(ngx_pool_t *pool, ngx_str_t *s,
    ngx_array_t **queues, ngx_str_t *bad)
{
    u_char     *p, *last, *comma;
    ngx_str_t   one, *q;

    *queues = ngx_array_create(pool, 2, sizeof(ngx_str_t));
    if (*queues == NULL) {
        return NGX_ERROR;
    }

    p = s->data;
    last = s->data + s->len;

    do {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        one.data = p;
        one.len = comma - p;
        *bad = one;

        if (ngx_http_taskgw_valid_name(&one, NGX_HTTP_TASKGW_QUEUE_MAX, 0)
            != NGX_OK)
        {
            return NGX_DECLINED;
        }

        q = ngx_array_push(*queues);
        if (q == NULL) {
            return NGX_ERROR;
        }

        q->data = ngx_pstrdup(pool, &one);
        if (q->data == NULL) {
            return NGX_ERROR;
        }

        q->len = one.len;

        p = comma + 1;

    } while (comma < last);

    return NGX_OK;
}


/* sha256:<64 hex digits>, either case */

static ngx_int_t
ngx_http_taskgw_parse_digest(ngx_str_t *s, u_char *digest)
{
    ngx_int_t   hi, lo;
    ngx_uint_t  i;

    if (s->len != sizeof("sha256:") - 1 + 2 * NGX_HTTP_TASKGW_DIGEST_LEN
        || ngx_strncmp(s->data, "sha256:", 7) != 0)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_TASKGW_DIGEST_LEN; i++) {
        hi = ngx_hextoi(s->data + 7 + 2 * i, 1);
        lo = ngx_hextoi(s->data + 8 + 2 * i, 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            return NGX_ERROR;
        }

        digest[i] = (u_char) (hi << 4 | lo);
    }

    return NGX_OK;
}


/* Queue names: [A-Za-z0-9._-]{1,max}; task types may also hold ':'. */

ngx_int_t
ngx_http_taskgw_valid_name(ngx_str_t *s, size_t max, ngx_uint_t colon)
{
    u_char  *p, *last;

    if (s->len == 0 || s->len > max) {
        return NGX_ERROR;
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_'
            || *p == '-' || (colon && *p == ':'))
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}
