
/*
 * ngx_http_taskgw_token: tokens and roles -- the token file, run-time
 * tokens looked up in Redis, and the token stage of the edge checks.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/sha.h>
#include <openssl/crypto.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_token.h"


/* The longest token accepted in a header, and the largest token file. */
#define NGX_HTTP_TASKGW_TOKEN_MAX       4096
#define NGX_HTTP_TASKGW_TOKEN_FILE_MAX  (16 * 1024 * 1024)


static ngx_int_t ngx_http_taskgw_tokens_read(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *file);
static ngx_int_t ngx_http_taskgw_tokens_line(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *file, ngx_uint_t line,
    u_char *p, u_char *last);
static ngx_uint_t ngx_http_taskgw_parse_role(ngx_str_t *s);
static ngx_int_t ngx_http_taskgw_parse_rate(ngx_str_t *s);
static ngx_int_t ngx_http_taskgw_parse_ips(ngx_pool_t *pool, ngx_str_t *s,
    ngx_array_t **ips, ngx_str_t *bad);
static ngx_int_t ngx_http_taskgw_parse_queues(ngx_pool_t *pool,
    ngx_str_t *s, ngx_array_t **queues, ngx_str_t *bad);
static ngx_int_t ngx_http_taskgw_parse_digest(ngx_str_t *s, u_char *digest);

static ngx_int_t ngx_http_taskgw_token_get(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_taskgw_token_apply(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_http_taskgw_token_t *tok);
static ngx_int_t ngx_http_taskgw_token_lookup(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx);
static void ngx_http_taskgw_token_lookup_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_taskgw_token_deny(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_uint_t status, ngx_str_t *name,
    const char *why);


ngx_str_t  ngx_http_taskgw_roles[] = {
    ngx_string("off"),
    ngx_string("dev"),
    ngx_string("ops"),
    ngx_string("admin"),
    ngx_null_string
};


/* the hash fields of a run-time token, in ngx_http_taskgw_token_field_e order */
static ngx_str_t  ngx_http_taskgw_token_fields[] = {
    ngx_string("name"),
    ngx_string("role"),
    ngx_string("ips"),
    ngx_string("rate"),
    ngx_string("queues"),
    ngx_string("disabled")
};


/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */


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
 *                                         [queues=name,...]
 *
 * "#" starts a comment.  Names and digests are unique in the file.
 */

static ngx_int_t
ngx_http_taskgw_tokens_line(ngx_conf_t *cf, ngx_http_taskgw_main_conf_t *tmcf,
    ngx_str_t *file, ngx_uint_t line, u_char *p, u_char *last)
{
    u_char                   *hash;
    ngx_int_t                 rate;
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

    for (i = 3; i < n; i++) {
        bad = w[i];

        if (ngx_strncmp(w[i].data, "ips=", 4) == 0) {
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

        if (ngx_strncmp(w[i].data, "rate=", 5) == 0) {
            if (tok->rate) {
                goto duplicate;
            }

            v.data = w[i].data + 5;
            v.len = w[i].len - 5;

            rate = ngx_http_taskgw_parse_rate(&v);
            if (rate == NGX_ERROR) {
                why = "invalid rate (Nr/s or Nr/m, N at least 1)";
                goto invalid;
            }

            tok->rate = rate;
            continue;
        }

        if (ngx_strncmp(w[i].data, "queues=", 7) == 0) {
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

        why = "unknown option (ips=, rate= or queues=)";
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

    if (!tmcf->tokens_redis) {
        return NGX_CONF_OK;
    }

    if (tmcf->tokens_cache_ttl == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"taskgw_tokens_cache_ttl\" must be more than 0");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_taskgw_token_cache_add(cf, tmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    tmcf->used = 1;

    return NGX_CONF_OK;
}


/* ------------------------------------------------------------------ */
/* Parsers shared by the token file and run-time tokens                */
/* ------------------------------------------------------------------ */


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


/* Nr/s or Nr/m, as requests per second times 1000 (as limit_req keeps it) */

static ngx_int_t
ngx_http_taskgw_parse_rate(ngx_str_t *s)
{
    ngx_int_t  rate, scale;

    if (s->len < 4 || s->data[s->len - 3] != 'r'
        || s->data[s->len - 2] != '/')
    {
        return NGX_ERROR;
    }

    switch (s->data[s->len - 1]) {
    case 's':
        scale = 1;
        break;
    case 'm':
        scale = 60;
        break;
    default:
        return NGX_ERROR;
    }

    rate = ngx_atoi(s->data, s->len - 3);

    if (rate <= 0 || rate > 1000000) {
        return NGX_ERROR;
    }

    return rate * 1000 / scale;
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
        rc = ngx_http_taskgw_parse_rate(&f[NGX_HTTP_TASKGW_TF_RATE]);
        if (rc == NGX_ERROR) {
            *err = "invalid rate";
            return NGX_DECLINED;
        }

        tok->rate = rc;
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


/* ------------------------------------------------------------------ */
/* The token stage of a request                                        */
/* ------------------------------------------------------------------ */


/*
 * Who is calling.  With taskgw_auth off nothing is asked.  Otherwise the
 * token's SHA-256 digest is compared, in constant time, with every token
 * of the file; a token not there is looked up in the cache of run-time
 * tokens, then in Redis (NGX_AGAIN: the answer resumes the request).
 * Returns NGX_OK when the token may use this location, else the status
 * of the refusal (see ngx_http_taskgw_token_deny).
 */

ngx_int_t
ngx_http_taskgw_token_check(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx)
{
    ngx_int_t                     rc;
    ngx_str_t                     token, fields[NGX_HTTP_TASKGW_TF_COUNT];
    ngx_uint_t                    i;
    const char                   *err;
    ngx_http_taskgw_token_t      *t, *found;
    ngx_http_taskgw_loc_conf_t   *tlcf;
    ngx_http_taskgw_main_conf_t  *tmcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (tlcf->auth == NGX_HTTP_TASKGW_ROLE_NONE) {
        return NGX_OK;
    }

    if (ngx_http_taskgw_token_get(r, &token) != NGX_OK) {
        return ngx_http_taskgw_token_deny(r, ctx, NGX_HTTP_UNAUTHORIZED, NULL,
                                          "no token");
    }

    (void) SHA256(token.data, token.len, ctx->digest);

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    found = NULL;

    if (tmcf->tokens) {
        t = tmcf->tokens->elts;

        /* no early exit: the time taken does not depend on the match */

        for (i = 0; i < tmcf->tokens->nelts; i++) {
            if (CRYPTO_memcmp(t[i].digest, ctx->digest,
                              NGX_HTTP_TASKGW_DIGEST_LEN)
                == 0)
            {
                found = &t[i];
            }
        }
    }

    if (found) {
        return ngx_http_taskgw_token_apply(r, ctx, found);
    }

    if (!tmcf->tokens_redis) {
        return ngx_http_taskgw_token_deny(r, ctx, NGX_HTTP_UNAUTHORIZED, NULL,
                                          "unknown token");
    }

    rc = ngx_http_taskgw_token_cache_get(tmcf, ctx->digest, r->pool, fields);

    switch (rc) {

    case NGX_OK:
        ctx->token = ngx_palloc(r->pool, sizeof(ngx_http_taskgw_token_t));
        if (ctx->token == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_taskgw_token_from_fields(r->pool, fields, ctx->token,
                                              &err)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "taskgw: run-time token \"%V\": %s",
                          &fields[NGX_HTTP_TASKGW_TF_NAME], err);

            return ngx_http_taskgw_token_deny(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                              NULL, "unusable token");
        }

        return ngx_http_taskgw_token_apply(r, ctx, ctx->token);

    case NGX_DECLINED:
        return ngx_http_taskgw_token_deny(r, ctx, NGX_HTTP_UNAUTHORIZED, NULL,
                                          "unknown token");

    case NGX_DONE:
        return ngx_http_taskgw_token_lookup(r, ctx);

    default:
        return NGX_ERROR;
    }
}


/* The answer of a Redis lookup has come (see the access handler). */

ngx_int_t
ngx_http_taskgw_token_resume(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx)
{
    switch (ctx->lookup_rc) {

    case NGX_OK:
        return ngx_http_taskgw_token_apply(r, ctx, ctx->token);

    case NGX_DECLINED:
        return ngx_http_taskgw_token_deny(r, ctx, NGX_HTTP_UNAUTHORIZED, NULL,
                                          "unknown token");

    default:
        return ngx_http_taskgw_token_deny(r, ctx,
                                          NGX_HTTP_SERVICE_UNAVAILABLE, NULL,
                                          "token store is unavailable");
    }
}


/*
 * The token: "Authorization: Bearer <token>", or when the request has no
 * bearer credentials, "X-API-Token: <token>".
 */

static ngx_int_t
ngx_http_taskgw_token_get(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h && h->value.len > 7
        && ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) == 0)
    {
        p = h->value.data + 7;
        last = h->value.data + h->value.len;

    } else {
        if (ngx_http_taskgw_find_header(r, "X-API-Token", &h) != NGX_OK
            || h == NULL)
        {
            return NGX_DECLINED;
        }

        p = h->value.data;
        last = h->value.data + h->value.len;
    }

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && last[-1] == ' ') {
        last--;
    }

    if (p == last || last - p > NGX_HTTP_TASKGW_TOKEN_MAX) {
        return NGX_DECLINED;
    }

    token->data = p;
    token->len = last - p;

    return NGX_OK;
}


/*
 * What a known token may do here: a disabled token is unknown (401); a
 * role below the location's, an address outside the token's ips=, a
 * target queue outside its queues= are 403.  The token's name, role and
 * limits go into the ctx for the limiter, the handlers and $taskgw_*.
 */

static ngx_int_t
ngx_http_taskgw_token_apply(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx,
    ngx_http_taskgw_token_t *tok)
{
    ngx_str_t                    queue;
    ngx_http_taskgw_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (tok->disabled) {
        return ngx_http_taskgw_token_deny(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                          &tok->name, "token disabled");
    }

    ctx->token_name = tok->name;
    ctx->role = tok->role;
    ctx->token_role = ngx_http_taskgw_roles[tok->role];
    ctx->token_rate = tok->rate;
    ctx->token_ips = tok->ips;
    ctx->token_queues = tok->queues;

    if (tok->role < tlcf->auth) {
        return ngx_http_taskgw_token_deny(r, ctx, NGX_HTTP_FORBIDDEN,
                                          &tok->name, "role too low");
    }

    if (tok->ips
        && ngx_http_taskgw_addr_in(r->connection->sockaddr, tok->ips)
           != NGX_OK)
    {
        return ngx_http_taskgw_token_deny(r, ctx, NGX_HTTP_FORBIDDEN,
                                          &tok->name,
                                          "address not in the token's ips");
    }

    if (tok->queues && tlcf->handler == NGX_HTTP_TASKGW_ENQUEUE) {
        if (ngx_http_complex_value(r, tlcf->queue, &queue) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_http_taskgw_queue_allowed(ctx, &queue) != NGX_OK) {
            return ngx_http_taskgw_token_deny(r, ctx, NGX_HTTP_FORBIDDEN,
                                              &tok->name,
                                              "queue not in the token's "
                                              "queues");
        }
    }

    return NGX_OK;
}


/* Whether the caller's token may use a queue: NGX_OK or NGX_DECLINED. */

ngx_int_t
ngx_http_taskgw_queue_allowed(ngx_http_taskgw_ctx_t *ctx, ngx_str_t *queue)
{
    ngx_str_t   *q;
    ngx_uint_t   i;

    if (ctx->token_queues == NULL) {
        return NGX_OK;
    }

    q = ctx->token_queues->elts;

    for (i = 0; i < ctx->token_queues->nelts; i++) {
        if (q[i].len == queue->len
            && ngx_strncmp(q[i].data, queue->data, queue->len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* HGETALL {prefix}:token:<sha256hex>, answered in the lookup_done below. */

static ngx_int_t
ngx_http_taskgw_token_lookup(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx)
{
    u_char                       *key, hex[2 * NGX_HTTP_TASKGW_DIGEST_LEN];
    ngx_http_taskgw_redis_cmd_t  *cmd;
    ngx_http_taskgw_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    cmd = ngx_palloc(r->pool, sizeof(ngx_http_taskgw_redis_cmd_t));
    key = ngx_pnalloc(r->pool, tmcf->prefix.len + sizeof(":token:") - 1
                               + sizeof(hex));
    if (cmd == NULL || key == NULL) {
        return NGX_ERROR;
    }

    ngx_hex_dump(hex, ctx->digest, NGX_HTTP_TASKGW_DIGEST_LEN);

    cmd->argc = 0;
    ngx_http_taskgw_redis_cmd_arg(cmd, "HGETALL", 7);
    ngx_http_taskgw_redis_cmd_arg(cmd, key,
                                  ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_TOKEN,
                                              &tmcf->prefix, sizeof(hex), hex)
                                  - key);

    if (ngx_http_taskgw_redis_send(r, cmd, 1,
                                   ngx_http_taskgw_token_lookup_done)
        != NGX_OK)
    {
        return ngx_http_taskgw_token_deny(r, ctx,
                                          NGX_HTTP_SERVICE_UNAVAILABLE, NULL,
                                          "token store is unavailable");
    }

    return NGX_AGAIN;
}


static void
ngx_http_taskgw_token_lookup_done(ngx_http_request_t *r, redisReply *reply)
{
    size_t                        i;
    ngx_str_t                     fields[NGX_HTTP_TASKGW_TF_COUNT];
    ngx_uint_t                    f;
    redisReply                   *k, *v;
    const char                   *err;
    ngx_http_taskgw_ctx_t        *ctx;
    ngx_http_taskgw_main_conf_t  *tmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_taskgw_module);
    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    ctx->stage = NGX_HTTP_TASKGW_EDGE_TOKEN_DONE;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "taskgw: token lookup failed: %s",
                      reply && reply->type == REDIS_REPLY_ERROR
                      ? reply->str : "no reply");
        ctx->lookup_rc = NGX_ERROR;
        goto resume;
    }

    if (reply->elements == 0) {
        ngx_http_taskgw_token_cache_put(tmcf, ctx->digest, NULL);
        ctx->lookup_rc = NGX_DECLINED;
        goto resume;
    }

    ngx_memzero(fields, sizeof(fields));

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        for (f = 0; f < NGX_HTTP_TASKGW_TF_COUNT; f++) {
            if ((size_t) k->len == ngx_http_taskgw_token_fields[f].len
                && ngx_strncmp(k->str, ngx_http_taskgw_token_fields[f].data,
                               k->len) == 0)
            {
                /* the reply is freed after this callback: copy */
                fields[f].len = v->len;
                fields[f].data = ngx_pnalloc(r->pool, v->len + 1);
                if (fields[f].data == NULL) {
                    ctx->lookup_rc = NGX_ERROR;
                    goto resume;
                }

                ngx_memcpy(fields[f].data, v->str, v->len);
                break;
            }
        }
    }

    ngx_http_taskgw_token_cache_put(tmcf, ctx->digest, fields);

    ctx->token = ngx_palloc(r->pool, sizeof(ngx_http_taskgw_token_t));
    if (ctx->token == NULL) {
        ctx->lookup_rc = NGX_ERROR;
        goto resume;
    }

    if (ngx_http_taskgw_token_from_fields(r->pool, fields, ctx->token, &err)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "taskgw: run-time token \"%V\": %s",
                      &fields[NGX_HTTP_TASKGW_TF_NAME], err);
        ctx->lookup_rc = NGX_DECLINED;
        goto resume;
    }

    ctx->lookup_rc = NGX_OK;

resume:

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/*
 * A refusal: logged once, at warn, with the token's name (never the
 * token) and the client's address; 401 carries WWW-Authenticate, 503
 * Retry-After.  The access handler sends the JSON error.
 */

static ngx_int_t
ngx_http_taskgw_token_deny(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *name, const char *why)
{
    ngx_uint_t        level;
    ngx_table_elt_t  *h;

    static ngx_str_t  unknown = ngx_string("unknown");

    level = (status == NGX_HTTP_SERVICE_UNAVAILABLE) ? NGX_LOG_ERR
                                                     : NGX_LOG_WARN;

    ngx_log_error(level, r->connection->log, 0,
                  "taskgw: access denied to token \"%V\" from %V: %s",
                  name ? name : &unknown, &r->connection->addr_text, why);

    switch (status) {

    case NGX_HTTP_UNAUTHORIZED:
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        ngx_str_set(&h->value, "Bearer");
        r->headers_out.www_authenticate = h;

        ngx_str_null(&ctx->token_name);
        ngx_str_null(&ctx->token_role);

        ctx->reject_code = "unauthorized";
        ctx->reject_message = "a valid token is required";
        break;

    case NGX_HTTP_FORBIDDEN:
        ctx->reject_code = "forbidden";
        ctx->reject_message = why;
        break;

    default: /* NGX_HTTP_SERVICE_UNAVAILABLE */
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        ngx_str_set(&h->value, "1");

        ctx->reject_code = "unavailable";
        ctx->reject_message = why;
        break;
    }

    return status;
}
