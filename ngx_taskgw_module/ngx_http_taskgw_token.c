
/*
 * ngx_http_taskgw_token: the token stage of the edge checks -- static
 * tokens, run-time tokens looked up in Redis (cached), roles and scopes.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/sha.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_token.h"
#include "ngx_http_taskgw_parse.h"

/* Slots of a worker's cache of token digests: a power of two. */
#define NGX_HTTP_TASKGW_DIGEST_SLOTS    128

/* The hint of a digest that is not (known to be) one of the file's. */
#define NGX_HTTP_TASKGW_NO_HINT         ((ngx_uint_t) -1)


/*
 * A worker's memory of a token that was valid: a keyed hash of the token
 * (SipHash-2-4, 128 bits, under a key drawn at random in this process)
 * and the token's SHA-256 digest.  No token is kept, in any form that
 * gives it back; docs/security.md says why this is safe to hold.  hint:
 * where the token was among the file's tokens, for finding it there
 * again without a search (only a hint: the digest there is compared).
 */
typedef struct {
    uint64_t                    mac[2];
    u_char                      digest[NGX_HTTP_TASKGW_DIGEST_LEN];
    ngx_uint_t                  hint;
    ngx_uint_t                  used;
} ngx_http_taskgw_digest_slot_t;


static ngx_uint_t ngx_http_taskgw_token_digest(ngx_str_t *token,
    u_char *digest, uint64_t *mac);
static void ngx_http_taskgw_token_remember(uint64_t *mac, u_char *digest,
    ngx_uint_t hint);
static void ngx_http_taskgw_siphash128(uint64_t *key, u_char *p, size_t len,
    uint64_t *out);
static ngx_uint_t ngx_http_taskgw_digest_eq(u_char *a, u_char *b);
static void ngx_http_taskgw_sha256(u_char *p, size_t len, u_char *digest);
static ngx_http_taskgw_token_t *ngx_http_taskgw_token_find(
    ngx_array_t *tokens, u_char *digest, ngx_uint_t hint);
static ngx_int_t ngx_http_taskgw_token_get(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_taskgw_token_apply(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_http_taskgw_token_t *tok);
static ngx_int_t ngx_http_taskgw_token_deny(ngx_http_request_t *r,
    ngx_http_taskgw_ctx_t *ctx, ngx_uint_t status, ngx_str_t *name,
    const char *why);


static ngx_http_taskgw_digest_slot_t
    ngx_http_taskgw_digests[NGX_HTTP_TASKGW_DIGEST_SLOTS];
static uint64_t    ngx_http_taskgw_digest_key[2];
static ngx_uint_t  ngx_http_taskgw_digest_state;  /* 0: no key yet, 1: key,
                                                     2: no cache */


/*
 * Who is calling.  The token's SHA-256 digest is looked for among the
 * file's tokens (the match confirmed in constant time); a token not there
 * is looked up in the cache of run-time tokens, then in Redis (NGX_AGAIN:
 * the answer resumes the request).  With taskgw_auth off a token is not
 * asked for, but one that is sent is identified the same way, so that
 * the limiter, the task's owner and $taskgw_token_* know the caller; a
 * token that would be refused is ignored instead (see token_deny).
 * Returns NGX_OK when the token may use this location, else the status
 * of the refusal (see ngx_http_taskgw_token_deny).
 */

ngx_int_t
ngx_http_taskgw_token_check(ngx_http_request_t *r, ngx_http_taskgw_ctx_t *ctx)
{
    uint64_t                      mac[2];
    ngx_int_t                     rc;
    ngx_str_t                     token, fields[NGX_HTTP_TASKGW_TF_COUNT];
    ngx_uint_t                    i, hint;
    const char                   *err;
    ngx_http_taskgw_token_t      *found;
    ngx_http_taskgw_loc_conf_t   *tlcf;
    ngx_http_taskgw_main_conf_t  *tmcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (ngx_http_taskgw_token_get(r, &token) != NGX_OK) {
        if (tlcf->auth == NGX_HTTP_TASKGW_ROLE_NONE) {
            /* nothing asked, nothing offered */
            return NGX_OK;
        }

        return ngx_http_taskgw_token_deny(r, ctx, NGX_HTTP_UNAUTHORIZED, NULL,
                                          "no token");
    }

    hint = ngx_http_taskgw_token_digest(&token, ctx->digest, mac);

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    found = ngx_http_taskgw_token_find(tmcf->tokens, ctx->digest, hint);

    if (found) {
        i = found - (ngx_http_taskgw_token_t *) tmcf->tokens->elts;

        if (i != hint) {
            /* not remembered yet, or not where the file has it now */
            ngx_http_taskgw_token_remember(mac, ctx->digest, i);
        }

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

        ngx_http_taskgw_token_remember(mac, ctx->digest,
                                       NGX_HTTP_TASKGW_NO_HINT);

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
 * The token's SHA-256 digest, from this worker's memory of the tokens
 * that were valid lately when it is there.  Hashing a token with SHA-256
 * costs several times what the rest of the edge checks do; a keyed
 * SipHash of it costs a tenth of that, and finds the digest of a token
 * seen before.  The mapping from a token to its digest never changes, so
 * this memory cannot make a revoked or disabled token pass: the digest
 * goes through the same checks as one just computed.  Slots are taken
 * only by tokens found valid, so a flood of random tokens cannot push the
 * valid ones out.  mac gets the keyed hash, for remembering the token
 * afterwards; both halves 0 when there is no cache.  Returns the hint of
 * a remembered digest: where it was among the file's tokens.
 */

static ngx_uint_t
ngx_http_taskgw_token_digest(ngx_str_t *token, u_char *digest, uint64_t *mac)
{
    ngx_http_taskgw_digest_slot_t  *s;

    mac[0] = 0;
    mac[1] = 0;

    if (ngx_http_taskgw_digest_state == 0) {
        ngx_http_taskgw_digest_state =
            (RAND_bytes((u_char *) ngx_http_taskgw_digest_key,
                        sizeof(ngx_http_taskgw_digest_key)) == 1) ? 1 : 2;
    }

    if (ngx_http_taskgw_digest_state != 1) {
        ngx_http_taskgw_sha256(token->data, token->len, digest);
        return NGX_HTTP_TASKGW_NO_HINT;
    }

    ngx_http_taskgw_siphash128(ngx_http_taskgw_digest_key, token->data,
                               token->len, mac);

    s = &ngx_http_taskgw_digests[mac[0] & (NGX_HTTP_TASKGW_DIGEST_SLOTS - 1)];

    /* no early exit: the comparison takes the same time, match or not */

    if (s->used && ((s->mac[0] ^ mac[0]) | (s->mac[1] ^ mac[1])) == 0) {
        ngx_memcpy(digest, s->digest, NGX_HTTP_TASKGW_DIGEST_LEN);
        return s->hint;
    }

    ngx_http_taskgw_sha256(token->data, token->len, digest);

    return NGX_HTTP_TASKGW_NO_HINT;
}


/* A token was valid: its digest is remembered under its keyed hash. */

static void
ngx_http_taskgw_token_remember(uint64_t *mac, u_char *digest,
    ngx_uint_t hint)
{
    ngx_http_taskgw_digest_slot_t  *s;

    if ((mac[0] | mac[1]) == 0) {
        return;
    }

    s = &ngx_http_taskgw_digests[mac[0] & (NGX_HTTP_TASKGW_DIGEST_SLOTS - 1)];

    s->mac[0] = mac[0];
    s->mac[1] = mac[1];
    ngx_memcpy(s->digest, digest, NGX_HTTP_TASKGW_DIGEST_LEN);
    s->hint = hint;
    s->used = 1;
}


/*
 * SipHash-2-4 with its 128-bit output (Aumasson and Bernstein), a keyed
 * hash made to be fast on short inputs.  The message words are read in
 * the host's byte order: the values are only compared within this
 * process (on little-endian hosts they are the reference's).
 */

#define ngx_http_taskgw_rotl(x, b)                                          \
    (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))

#define ngx_http_taskgw_sipround()                                          \
    v0 += v1; v1 = ngx_http_taskgw_rotl(v1, 13); v1 ^= v0;                  \
    v0 = ngx_http_taskgw_rotl(v0, 32);                                      \
    v2 += v3; v3 = ngx_http_taskgw_rotl(v3, 16); v3 ^= v2;                  \
    v0 += v3; v3 = ngx_http_taskgw_rotl(v3, 21); v3 ^= v0;                  \
    v2 += v1; v1 = ngx_http_taskgw_rotl(v1, 17); v1 ^= v2;                  \
    v2 = ngx_http_taskgw_rotl(v2, 32)

static void
ngx_http_taskgw_siphash128(uint64_t *key, u_char *p, size_t len,
    uint64_t *out)
{
    size_t    i, left;
    uint64_t  v0, v1, v2, v3, m, b;

    v0 = 0x736f6d6570736575ULL ^ key[0];
    v1 = 0x646f72616e646f6dULL ^ key[1] ^ 0xee;
    v2 = 0x6c7967656e657261ULL ^ key[0];
    v3 = 0x7465646279746573ULL ^ key[1];

    left = len & 7;

    for (i = 0; i < len - left; i += 8) {
        ngx_memcpy(&m, p + i, 8);

        v3 ^= m;
        ngx_http_taskgw_sipround();
        ngx_http_taskgw_sipround();
        v0 ^= m;
    }

    b = (uint64_t) len << 56;

    switch (left) {
    case 7: b |= (uint64_t) p[i + 6] << 48;  /* fall through */
    case 6: b |= (uint64_t) p[i + 5] << 40;  /* fall through */
    case 5: b |= (uint64_t) p[i + 4] << 32;  /* fall through */
    case 4: b |= (uint64_t) p[i + 3] << 24;  /* fall through */
    case 3: b |= (uint64_t) p[i + 2] << 16;  /* fall through */
    case 2: b |= (uint64_t) p[i + 1] << 8;   /* fall through */
    case 1: b |= (uint64_t) p[i];            /* fall through */
    default: break;
    }

    v3 ^= b;
    ngx_http_taskgw_sipround();
    ngx_http_taskgw_sipround();
    v0 ^= b;

    v2 ^= 0xee;
    ngx_http_taskgw_sipround();
    ngx_http_taskgw_sipround();
    ngx_http_taskgw_sipround();
    ngx_http_taskgw_sipround();
    out[0] = v0 ^ v1 ^ v2 ^ v3;

    v1 ^= 0xdd;
    ngx_http_taskgw_sipround();
    ngx_http_taskgw_sipround();
    ngx_http_taskgw_sipround();
    ngx_http_taskgw_sipround();
    out[1] = v0 ^ v1 ^ v2 ^ v3;
}


/* Two digests compared in constant time (what CRYPTO_memcmp does). */

static ngx_uint_t
ngx_http_taskgw_digest_eq(u_char *a, u_char *b)
{
    uint64_t    x, y, d;
    ngx_uint_t  i;

    d = 0;

    for (i = 0; i < NGX_HTTP_TASKGW_DIGEST_LEN; i += 8) {
        ngx_memcpy(&x, a + i, 8);
        ngx_memcpy(&y, b + i, 8);
        d |= x ^ y;
    }

    return d == 0;
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
 * The match itself is confirmed by a constant-time comparison.  A
 * remembered token is looked for first where it was (hint): the file's
 * digests are distinct, so the same digest there is the same token, and
 * the tokens of a reloaded file are searched again.
 */

static ngx_http_taskgw_token_t *
ngx_http_taskgw_token_find(ngx_array_t *tokens, u_char *digest,
    ngx_uint_t hint)
{
    ngx_int_t                 rc;
    ngx_uint_t                lo, hi, mid;
    ngx_http_taskgw_token_t  *t;

    if (tokens == NULL) {
        return NULL;
    }

    t = tokens->elts;

    if (hint < tokens->nelts
        && ngx_http_taskgw_digest_eq(digest, t[hint].digest))
    {
        return &t[hint];
    }

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

    if (!ngx_http_taskgw_digest_eq(digest, t[mid].digest)) {
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
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *header;

    static ngx_uint_t  hash;

    auth = r->headers_in.authorization ? &r->headers_in.authorization->value
                                       : NULL;
    api = NULL;

    if (ngx_http_taskgw_is_bearer(auth) != NGX_OK) {

        /*
         * X-API-Token, found by the hash nginx computed of each header's
         * lowercased name: one comparison per header; sent twice, it is
         * not taken
         */

        if (hash == 0) {
            hash = ngx_hash_key((u_char *) "x-api-token", 11);
        }

        h = NULL;
        part = &r->headers_in.headers.part;
        header = part->elts;

        for (i = 0; /* void */; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                header = part->elts;
                i = 0;
            }

            if (header[i].hash != hash || header[i].key.len != 11
                || ngx_strncmp(header[i].lowcase_key, "x-api-token", 11) != 0)
            {
                continue;
            }

            if (h != NULL) {
                return NGX_DECLINED;
            }

            h = &header[i];
        }

        if (h == NULL) {
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
    ctx->token_rate_period = tok->rate_period;
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
    ngx_uint_t                   level;
    ngx_table_elt_t             *h;
    ngx_http_taskgw_loc_conf_t  *tlcf;

    static ngx_str_t  unknown = ngx_string("unknown");

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_taskgw_module);

    if (tlcf->auth == NGX_HTTP_TASKGW_ROLE_NONE) {

        /*
         * Where no token is required, one that would be refused is not
         * refused: the request goes on as one without a token.
         */

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "taskgw: token \"%V\" from %V not taken: %s",
                      name ? name : &unknown, &r->connection->addr_text, why);

        ngx_str_null(&ctx->token_name);
        ngx_str_null(&ctx->token_role);
        ctx->role = NGX_HTTP_TASKGW_ROLE_NONE;
        ctx->token_rate = 0;
        ctx->token_ips = NULL;
        ctx->token_queues = NULL;

        return NGX_OK;
    }

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

    return (ngx_int_t) status;
}
