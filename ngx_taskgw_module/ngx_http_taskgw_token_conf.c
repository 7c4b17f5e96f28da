
/*
 * ngx_http_taskgw_token_conf: the token directives and the token file,
 * and the parsers of token fields shared with run-time tokens.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_token.h"
#include "ngx_http_taskgw_limit.h"


/* The largest token file. */
#define NGX_HTTP_TASKGW_TOKEN_FILE_MAX  (16 * 1024 * 1024)


static ngx_int_t ngx_http_taskgw_tokens_read(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *file);
static ngx_int_t ngx_http_taskgw_tokens_line(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *file, ngx_uint_t line,
    u_char *p, u_char *last);
static ngx_int_t ngx_http_taskgw_token_cmp(const void *one,
    const void *two);
static ngx_uint_t ngx_http_taskgw_parse_role(ngx_str_t *s);
static ngx_int_t ngx_http_taskgw_parse_ips(ngx_pool_t *pool, ngx_str_t *s,
    ngx_array_t **ips, ngx_str_t *bad);
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


/* taskgw_tokens file; -- read now, so nginx -t and a reload check it */

char *
ngx_http_taskgw_tokens(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_taskgw_main_conf_t *tmcf = conf;

    ngx_str_t  *value, file;

    if (tmcf->tokens != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    tmcf->tokens = ngx_array_create(cf->pool, 8,
                                    sizeof(ngx_http_taskgw_token_t));
    if (tmcf->tokens == NULL) {
        return NGX_CONF_ERROR;
    }

    tmcf->tokens_file = file;

    if (ngx_http_taskgw_tokens_read(cf, tmcf, &file) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_taskgw_tokens_read(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *file)
{
    u_char           *buf, *p, *eol, *last;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_int_t         rc;
    ngx_uint_t        line;
    ngx_file_info_t   fi;
    ngx_file_t        f;

    fd = ngx_open_file(file->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", file);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    buf = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", file);
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_TASKGW_TOKEN_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "token file \"%V\" is larger than %d bytes",
                           file, NGX_HTTP_TASKGW_TOKEN_FILE_MAX);
        goto done;
    }

    buf = ngx_alloc((size_t) ngx_file_size(&fi) + 1, cf->log);
    if (buf == NULL) {
        goto done;
    }

    ngx_memzero(&f, sizeof(ngx_file_t));
    f.fd = fd;
    f.name = *file;
    f.log = cf->log;

    n = ngx_read_file(&f, buf, (size_t) ngx_file_size(&fi), 0);
    if (n == NGX_ERROR) {
        goto done;
    }

    p = buf;
    last = buf + n;

    for (line = 1; p < last; line++) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        if (ngx_http_taskgw_tokens_line(cf, tmcf, file, line, p, eol)
            != NGX_OK)
        {
            goto done;
        }

        p = eol + 1;
    }

    /* sorted by digest for ngx_http_taskgw_token_find() */

    ngx_sort(tmcf->tokens->elts, tmcf->tokens->nelts,
             sizeof(ngx_http_taskgw_token_t), ngx_http_taskgw_token_cmp);

    rc = NGX_OK;

done:

    if (buf) {
        ngx_free(buf);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", file);
    }

    return rc;
}


/*
 * One line of the token file:
 *
 *     name  role  sha256:<64 hex digits>  [ips=cidr,...] [rate=Nr/s|Nr/m]
 *                                         [queues=name,...] [disabled]
 *
 * "#" starts a comment.  Names and digests are unique in the file.
 */

static ngx_int_t
ngx_http_taskgw_tokens_line(ngx_conf_t *cf, ngx_http_taskgw_main_conf_t *tmcf,
    ngx_str_t *file, ngx_uint_t line, u_char *p, u_char *last)
{
    u_char                   *hash;
    ngx_str_t                 w[8], v, bad;
    ngx_uint_t                n, i;
    const char               *why;
    ngx_http_taskgw_token_t  *tok, *t;

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
            why = "too many fields";
            bad.data = NULL;
            goto invalid;
        }

        w[n].data = p;

        while (p < last && *p != ' ' && *p != '\t' && *p != '\r') {
            p++;
        }

        w[n].len = p - w[n].data;
        n++;
    }

    if (n == 0) {
        return NGX_OK;
    }

    if (n < 3) {
        why = "expected \"name role sha256:digest [options]\"";
        bad.data = NULL;
        goto invalid;
    }

    tok = ngx_array_push(tmcf->tokens);
    if (tok == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(tok, sizeof(ngx_http_taskgw_token_t));

    bad = w[0];

    if (ngx_http_taskgw_valid_name(&w[0], NGX_HTTP_TASKGW_TOKEN_NAME_MAX, 0)
        != NGX_OK)
    {
        why = "invalid token name (1-64 characters of A-Z a-z 0-9 . _ -)";
        goto invalid;
    }

    tok->name = w[0];

    bad = w[1];
    tok->role = ngx_http_taskgw_parse_role(&w[1]);

    if (tok->role == NGX_HTTP_TASKGW_ROLE_NONE) {
        why = "unknown role (dev, ops or admin)";
        goto invalid;
    }

    bad = w[2];

    if (ngx_http_taskgw_parse_digest(&w[2], tok->digest) != NGX_OK) {
        why = "malformed digest (sha256: and 64 hex digits)";
        goto invalid;
    }

    /*
     * an option is compared only as far as its word goes: the last word
     * of a file without a final newline ends where the buffer does
     */

    for (i = 3; i < n; i++) {
        bad = w[i];

        if (w[i].len >= 4 && ngx_strncmp(w[i].data, "ips=", 4) == 0) {
            if (tok->ips) {
                goto duplicate;
            }

            v.data = w[i].data + 4;
            v.len = w[i].len - 4;

            if (ngx_http_taskgw_parse_ips(cf->pool, &v, &tok->ips, &bad)
                != NGX_OK)
            {
                why = "invalid address or CIDR range";
                goto invalid;
            }

            continue;
        }

        if (w[i].len >= 5 && ngx_strncmp(w[i].data, "rate=", 5) == 0) {
            if (tok->rate.n) {
                goto duplicate;
            }

            v.data = w[i].data + 5;
            v.len = w[i].len - 5;

            if (ngx_http_taskgw_parse_rate(&v, &tok->rate) != NGX_OK) {
                why = "invalid rate (Nr/s or Nr/m, N at least 1)";
                goto invalid;
            }

            continue;
        }

        if (w[i].len >= 7 && ngx_strncmp(w[i].data, "queues=", 7) == 0) {
            if (tok->queues) {
                goto duplicate;
            }

            v.data = w[i].data + 7;
            v.len = w[i].len - 7;

            if (ngx_http_taskgw_parse_queues(cf->pool, &v, &tok->queues, &bad)
                != NGX_OK)
            {
                why = "invalid queue name";
                goto invalid;
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

        why = "unknown option (ips=, rate=, queues= or disabled)";
        goto invalid;
    }

    /* the new token is the last element: compare with those before it */

    t = tmcf->tokens->elts;

    for (i = 0; i + 1 < tmcf->tokens->nelts; i++) {
        if (t[i].name.len == tok->name.len
            && ngx_strncmp(t[i].name.data, tok->name.data, tok->name.len) == 0)
        {
            bad = w[0];
            why = "duplicate token name";
            goto invalid;
        }

        if (ngx_memcmp(t[i].digest, tok->digest, NGX_HTTP_TASKGW_DIGEST_LEN)
            == 0)
        {
            bad = w[2];
            why = "duplicate digest (two names for one token)";
            goto invalid;
        }
    }

    /* the line lives in a buffer that is freed: keep the name */

    tok->name.data = ngx_pstrdup(cf->pool, &w[0]);
    if (tok->name.data == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;

duplicate:

    why = "duplicate option";

invalid:

    if (bad.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V:%ui: %s: \"%V\"",
                           file, line, why, &bad);
    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V:%ui: %s",
                           file, line, why);
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_taskgw_token_cmp(const void *one, const void *two)
{
    const ngx_http_taskgw_token_t  *a = one, *b = two;

    return ngx_memcmp(a->digest, b->digest, NGX_HTTP_TASKGW_DIGEST_LEN);
}


/* taskgw_auth off|dev|ops|admin; */

char *
ngx_http_taskgw_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_taskgw_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->auth != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strcmp(value[1].data, "off") == 0) {
        tlcf->auth = NGX_HTTP_TASKGW_ROLE_NONE;
        return NGX_CONF_OK;
    }

    tlcf->auth = ngx_http_taskgw_parse_role(&value[1]);

    if (tlcf->auth == NGX_HTTP_TASKGW_ROLE_NONE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid role \"%V\", it must be \"off\", "
                           "\"dev\", \"ops\" or \"admin\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* After the http block: run-time tokens need the cache and the link. */

char *
ngx_http_taskgw_tokens_init_conf(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf)
{
    ngx_conf_init_value(tmcf->tokens_redis, 0);
    ngx_conf_init_msec_value(tmcf->tokens_cache_ttl, 10000);
    ngx_conf_init_size_value(tmcf->tokens_cache_size, 2 * 1024 * 1024);

    if (!tmcf->tokens_redis) {
        return NGX_CONF_OK;
    }

    if (tmcf->tokens_cache_ttl == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"taskgw_tokens_cache_ttl\" must be more than 0");
        return NGX_CONF_ERROR;
    }

    if (tmcf->tokens_cache_size < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"taskgw_tokens_cache_size\" must be at least "
                           "%uzk", 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_taskgw_token_cache_add(cf, tmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    tmcf->used = 1;

    return NGX_CONF_OK;
}




static ngx_uint_t
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


static ngx_int_t
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
        if (ngx_http_taskgw_parse_rate(&f[NGX_HTTP_TASKGW_TF_RATE],
                                       &tok->rate)
            != NGX_OK)
        {
            *err = "invalid rate";
            return NGX_DECLINED;
        }
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
