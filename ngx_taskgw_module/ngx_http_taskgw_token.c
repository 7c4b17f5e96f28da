
/*
 * ngx_http_taskgw_token: the token stage of the edge checks -- static
 * tokens, run-time tokens looked up in Redis (cached), roles and scopes.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/sha.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_token.h"
#include "ngx_http_taskgw_parse.h"


static void ngx_http_taskgw_sha256(u_char *p, size_t len, u_char *digest);
static ngx_http_taskgw_token_t *ngx_http_taskgw_token_find(
    ngx_array_t *tokens, u_char *digest);
static ngx_int_t ngx_http_taskgw_token_get(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_taskgw_token_apply(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_http_taskgw_token_t *tok);
static ngx_int_t ngx_http_taskgw_token_deny(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_uint_t status, ngx_str_t *name,
    const char *why);





/*
 * Who is calling.  With taskgw_auth off nothing is asked.  Otherwise the
 * token's SHA-256 digest is looked for among the file's tokens (the match
 * confirmed in constant time); a token not there is looked up in the
 * cache of run-time tokens, then in Redis (NGX_AGAIN: the answer resumes
 * the request).
 * Returns NGX_OK when the token may use this location, else the status
 * of the refusal (see ngx_http_taskgw_token_deny).
 */

ngx_int_t
ngx_http_taskgw_token_check(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx)
{
    ngx_int_t                     rc;
    ngx_str_t                     token, fields[NGX_HTTP_TASKGW_TF_COUNT];
    const char                   *err;
    ngx_http_taskgw_token_t      *found;
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

    ngx_http_taskgw_sha256(token.data, token.len, ctx->digest);

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    found = ngx_http_taskgw_token_find(tmcf->tokens, ctx->digest);

    if (found) {
        return ngx_http_taskgw_token_apply(r, ctx, found);
    }

    if (!tmcf->tokens_redis) {
        return ngx_http_taskgw_token_deny(r, ctx, NGX_HTTP_UNAUTHORIZED, NULL,
                                          "unknown token");
    }

    if (ctx->answered) {
        /* the lookup it waited for, answered but not cached */
        ctx->answered = 0;

        if (ctx->answer) {
            ngx_memcpy(fields, ctx->answer, sizeof(fields));
            rc = NGX_OK;

        } else {
            rc = NGX_DECLINED;
        }

    } else {
        rc = ngx_http_taskgw_token_cache_get(tmcf, ctx->digest, r->pool,
                                             fields);
    }

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

    case NGX_BUSY:
        return ngx_http_taskgw_token_wait(r, ctx);

    case NGX_DONE:
        if (ctx->lookups >= 2) {
            /* answered twice, yet not in the cache: do not loop */
            ngx_http_taskgw_token_cache_abandon(tmcf, ctx->digest);
            return ngx_http_taskgw_token_deny(r, ctx,
                                              NGX_HTTP_SERVICE_UNAVAILABLE,
                                              NULL, "token lookup did not "
                                              "settle");
        }

        return ngx_http_taskgw_token_lookup(r, ctx);

    default:
        return NGX_ERROR;
    }
}


/*
 * SHA-256 with the digest's implementation fetched once per process:
 * OpenSSL 3's one-shot SHA256() looks it up on every call, which costs
 * four times the hashing of a token.
 */

static void
ngx_http_taskgw_sha256(u_char *p, size_t len, u_char *digest)
{
    unsigned int         n;

    static EVP_MD       *md;
    static EVP_MD_CTX   *mdctx;
    static ngx_uint_t    failed;

    if (md == NULL && !failed) {
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
        mdctx = EVP_MD_CTX_new();

        if (md == NULL || mdctx == NULL) {
            failed = 1;
        }
    }

    if (!failed
        && EVP_DigestInit_ex2(mdctx, md, NULL) == 1
        && EVP_DigestUpdate(mdctx, p, len) == 1
        && EVP_DigestFinal_ex(mdctx, digest, &n) == 1)
    {
        return;
    }

    (void) SHA256(p, len, digest);
}


/*
 * The token of the file with this digest.  The file's tokens are sorted
 * by digest, so this is a binary search, and its time depends on where
 * the presented token's digest falls among the stored digests: that
 * tells a caller something about SHA-256 values, nothing about a token.
 * The match itself is confirmed by a constant-time comparison.
 */

static ngx_http_taskgw_token_t *
ngx_http_taskgw_token_find(ngx_array_t *tokens, u_char *digest)
{
    ngx_int_t                 rc;
    ngx_uint_t                lo, hi, mid;
    ngx_http_taskgw_token_t  *t;

    if (tokens == NULL) {
        return NULL;
    }

    t = tokens->elts;
    lo = 0;
    hi = tokens->nelts;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        rc = ngx_memcmp(digest, t[mid].digest, NGX_HTTP_TASKGW_DIGEST_LEN);

        if (rc == 0) {
            break;
        }

        if (rc < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    if (lo >= hi) {
        return NULL;
    }

    if (CRYPTO_memcmp(digest, t[mid].digest, NGX_HTTP_TASKGW_DIGEST_LEN)
        != 0)
    {
        return NULL;
    }

    return &t[mid];
}


/* A Redis lookup failed (see the access handler): 503, not 401. */

ngx_int_t
ngx_http_taskgw_token_resume(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx)
{
    return ngx_http_taskgw_token_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      NULL, "token store is unavailable");
}


/*
 * The token: "Authorization: Bearer <token>", or when the request has no
 * bearer credentials, "X-API-Token: <token>".
 */

static ngx_int_t
ngx_http_taskgw_token_get(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_str_t        *auth, *api;
    ngx_table_elt_t  *h;

    auth = r->headers_in.authorization ? &r->headers_in.authorization->value
                                       : NULL;
    api = NULL;

    if (ngx_http_taskgw_is_bearer(auth) != NGX_OK) {
        if (ngx_http_taskgw_find_header(r, "X-API-Token", &h) != NGX_OK
            || h == NULL)
        {
            return NGX_DECLINED;
        }

        api = &h->value;
    }

    return ngx_http_taskgw_parse_token(auth, api, token);
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
