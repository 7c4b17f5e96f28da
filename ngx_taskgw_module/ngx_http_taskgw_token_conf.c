
/*
 * ngx_http_taskgw_token_conf: the token directives and the token file
 * (its lines are parsed in ngx_http_taskgw_parse_token.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_token.h"
#include "ngx_http_taskgw_parse.h"


/* The largest token file. */
#define NGX_HTTP_TASKGW_TOKEN_FILE_MAX  (16 * 1024 * 1024)


static ngx_int_t ngx_http_taskgw_tokens_read(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_str_t *file);
static ngx_int_t ngx_http_taskgw_tokens_line(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf, ngx_hash_keys_arrays_t *seen,
    ngx_str_t *file, ngx_uint_t line, u_char *p, u_char *last);
static int ngx_http_taskgw_token_cmp(const void *one, const void *two);


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
    u_char                  *buf, *p, *eol, *last;
    ssize_t                  n;
    ngx_fd_t                 fd;
    ngx_int_t                rc;
    ngx_uint_t               i, line;
    ngx_file_info_t          fi;
    ngx_file_t               f;
    ngx_hash_keys_arrays_t   seen[2];

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

    /*
     * Names and digests seen so far, to find a duplicate in constant time
     * (a file of 200,000 tokens is read in well under a second): nginx's
     * hash key arrays, in the temporary pool, thrown away after the
     * configuration is read.
     */

    for (i = 0; i < 2; i++) {
        seen[i].pool = cf->temp_pool;
        seen[i].temp_pool = cf->temp_pool;

        if (ngx_hash_keys_array_init(&seen[i], NGX_HASH_LARGE) != NGX_OK) {
            goto done;
        }
    }

    p = buf;
    last = buf + n;

    for (line = 1; p < last; line++) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        if (ngx_http_taskgw_tokens_line(cf, tmcf, seen, file, line, p, eol)
            != NGX_OK)
        {
            goto done;
        }

        p = eol + 1;
    }

    /* sorted by digest for ngx_http_taskgw_token_find() */

    ngx_qsort(tmcf->tokens->elts, (size_t) tmcf->tokens->nelts,
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
 * One line of the token file (ngx_http_taskgw_token_parse_line() says
 * what it holds), added to tmcf->tokens.  Names and digests are unique in
 * the file: seen[0] holds the names so far, seen[1] the digests (in hex,
 * as the keys are compared as strings).
 */

static ngx_int_t
ngx_http_taskgw_tokens_line(ngx_conf_t *cf, ngx_http_taskgw_main_conf_t *tmcf,
    ngx_hash_keys_arrays_t *seen, ngx_str_t *file, ngx_uint_t line,
    u_char *p, u_char *last)
{
    ngx_int_t                 rc;
    ngx_str_t                 bad, hex;
    const char               *why;
    ngx_http_taskgw_token_t   tok, *t;

    rc = ngx_http_taskgw_token_parse_line(cf->pool, p, last, &tok, &bad,
                                          &why);

    if (rc == NGX_DONE) {
        return NGX_OK;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        goto invalid;
    }

    /* the line's buffer outlives the keys, which only this file uses */

    rc = ngx_hash_add_key(&seen[0], &tok.name, NULL, NGX_HASH_READONLY_KEY);

    if (rc == NGX_BUSY) {
        bad = tok.name;
        why = "duplicate token name";
        goto invalid;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    hex.data = ngx_pnalloc(cf->temp_pool, 2 * NGX_HTTP_TASKGW_DIGEST_LEN);
    if (hex.data == NULL) {
        return NGX_ERROR;
    }

    hex.len = ngx_hex_dump(hex.data, tok.digest, NGX_HTTP_TASKGW_DIGEST_LEN)
              - hex.data;

    rc = ngx_hash_add_key(&seen[1], &hex, NULL, NGX_HASH_READONLY_KEY);

    if (rc == NGX_BUSY) {
        /* bad: the digest as written */
        why = "duplicate digest (two names for one token)";
        goto invalid;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    t = ngx_array_push(tmcf->tokens);
    if (t == NULL) {
        return NGX_ERROR;
    }

    *t = tok;

    /* the line lives in a buffer that is freed: keep the name */

    t->name.data = ngx_pstrdup(cf->pool, &tok.name);
    if (t->name.data == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;

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


static int
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
