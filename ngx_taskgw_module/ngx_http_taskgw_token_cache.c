
/*
 * ngx_http_taskgw_token_cache: run-time token lookups cached in shared
 * memory for taskgw_tokens_cache_ttl, found and not found, LRU-bounded.
 * A lookup in flight is in the cache too ("pending"), so that the other
 * worker processes wait for its answer instead of asking Redis again.
 * The zone is one of the shared-memory helper (ngx_http_taskgw_shm.c),
 * keyed by the token's SHA-256 digest.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_token.h"
#include "ngx_http_taskgw_shm.h"


/*
 * One cached answer of Redis for one digest (the key of its node in the
 * shared-memory helper's zone).  A found token keeps the hash fields as
 * Redis gave them (parsed again per request); a token Redis did not know
 * has none ("found" is 0).  A pending entry has no answer yet: some
 * worker's lookup is in flight until "expires" (its start plus
 * taskgw_redis_timeout); when the token is revoked meanwhile it is
 * "stale", and the answer of that lookup, which may predate the
 * revocation, is not cached.
 */
typedef struct {
    ngx_msec_t                  expires;
    unsigned                    found:1;
    unsigned                    pending:1;
    unsigned                    stale:1;
    u_short                     len[NGX_HTTP_TASKGW_TF_COUNT];
    u_char                      data[1];  /* the fields, one after another */
} ngx_http_taskgw_token_entry_t;


static ngx_uint_t ngx_http_taskgw_token_cache_expired(void *value,
    void *data);


ngx_int_t
ngx_http_taskgw_token_cache_add(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf)
{
    ngx_str_t  name = ngx_string("taskgw_tokens");

    /*
     * a new size on reload gets a new, empty cache: its entries are
     * answers of Redis, asked again at the cost of one lookup each
     */

    tmcf->token_cache = ngx_http_taskgw_shm_add(cf, &name,
                                                tmcf->tokens_cache_size, 0, 0,
                                                &ngx_http_taskgw_module);
    if (tmcf->token_cache == NULL) {
        return NGX_ERROR;
    }

    tmcf->token_cache->expired = ngx_http_taskgw_token_cache_expired;
    tmcf->token_cache->data = tmcf;

    return NGX_OK;
}


/*
 * An answer out of its time to live, or a lookup given up on: such
 * entries are the first to make room.
 */

static ngx_uint_t
ngx_http_taskgw_token_cache_expired(void *value, void *data)
{
    ngx_http_taskgw_token_entry_t  *te = value;

    return (ngx_msec_int_t) (te->expires - ngx_current_msec) <= 0;
}


/*
 * The cached answer for a digest: NGX_OK with the token's fields copied
 * into the pool, NGX_DECLINED when Redis said it does not know the token,
 * NGX_BUSY when a lookup of it is in flight (in this worker or another),
 * NGX_DONE when there is neither: the caller is then to look it up, and
 * the cache says so to the others with a pending entry.
 */

ngx_int_t
ngx_http_taskgw_token_cache_get(ngx_http_taskgw_main_conf_t *tmcf,
    u_char *digest, ngx_pool_t *pool, ngx_str_t *fields)
{
    u_char                         *p;
    ngx_int_t                       rc;
    ngx_str_t                       key;
    ngx_uint_t                      i;
    ngx_http_taskgw_shm_t          *shm;
    ngx_http_taskgw_token_entry_t  *te;

    shm = tmcf->token_cache;

    key.data = digest;
    key.len = NGX_HTTP_TASKGW_DIGEST_LEN;

    ngx_http_taskgw_shm_lock(shm);

    te = ngx_http_taskgw_shm_lookup(shm, &key, 0);

    if (te != NULL && ngx_http_taskgw_token_cache_expired(te, NULL)) {
        ngx_http_taskgw_shm_delete(shm, te);
        te = NULL;
    }

    if (te == NULL) {
        te = ngx_http_taskgw_shm_insert(shm, &key,
                                 offsetof(ngx_http_taskgw_token_entry_t, data));
        if (te != NULL) {
            te->pending = 1;
            te->expires = ngx_current_msec + tmcf->timeout;
        }

        rc = NGX_DONE;
        goto done;
    }

    if (te->pending) {
        rc = NGX_BUSY;
        goto done;
    }

    if (!te->found) {
        rc = NGX_DECLINED;
        goto done;
    }

    p = te->data;

    for (i = 0; i < NGX_HTTP_TASKGW_TF_COUNT; i++) {
        fields[i].len = te->len[i];
        fields[i].data = ngx_pnalloc(pool, te->len[i] + 1);

        if (fields[i].data == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        ngx_memcpy(fields[i].data, p, te->len[i]);
        p += te->len[i];
    }

    rc = NGX_OK;

done:

    ngx_http_taskgw_shm_unlock(shm);

    return rc;
}


/*
 * A lookup ended without an answer (Redis failed, or nobody waits for it
 * any more): its pending entry goes, so that the next request asks again
 * at once rather than after taskgw_redis_timeout.
 */

void
ngx_http_taskgw_token_cache_abandon(ngx_http_taskgw_main_conf_t *tmcf,
    u_char *digest)
{
    ngx_str_t                       key;
    ngx_http_taskgw_shm_t          *shm;
    ngx_http_taskgw_token_entry_t  *te;

    shm = tmcf->token_cache;

    key.data = digest;
    key.len = NGX_HTTP_TASKGW_DIGEST_LEN;

    ngx_http_taskgw_shm_lock(shm);

    te = ngx_http_taskgw_shm_lookup(shm, &key, 0);

    if (te != NULL && te->pending) {
        ngx_http_taskgw_shm_delete(shm, te);
    }

    ngx_http_taskgw_shm_unlock(shm);
}


/*
 * A token was revoked (the message of taskgwctl or the admin API, heard
 * by the subscriber): whatever the cache holds for its digest goes, in
 * every worker at once, so the next request asks Redis again.  A lookup
 * in flight is let finish, but its answer is not cached.
 */

void
ngx_http_taskgw_token_cache_forget(ngx_http_taskgw_main_conf_t *tmcf,
    u_char *digest)
{
    ngx_str_t                       key;
    ngx_http_taskgw_shm_t          *shm;
    ngx_http_taskgw_token_entry_t  *te;

    shm = tmcf->token_cache;

    key.data = digest;
    key.len = NGX_HTTP_TASKGW_DIGEST_LEN;

    ngx_http_taskgw_shm_lock(shm);

    te = ngx_http_taskgw_shm_lookup(shm, &key, 0);

    if (te != NULL && te->pending) {
        te->stale = 1;

    } else if (te != NULL) {
        ngx_http_taskgw_shm_delete(shm, te);
    }

    ngx_http_taskgw_shm_unlock(shm);
}


/*
 * Remembers Redis's answer for a digest: the token's fields (none longer
 * than NGX_HTTP_TASKGW_TOKEN_FIELD_MAX: the lookup refuses such a token),
 * or NULL for "no such token".  When the zone is full the least recently
 * used entries make room, so random tokens can only push out each other
 * and the oldest answers, never fail a request.  NGX_DECLINED: the answer
 * is not cached, because the token was revoked while it was looked up
 * (the answer may predate the revocation) or there is no room at all.
 */

ngx_int_t
ngx_http_taskgw_token_cache_put(ngx_http_taskgw_main_conf_t *tmcf,
    u_char *digest, ngx_str_t *fields)
{
    u_char                         *p;
    size_t                          size;
    ngx_int_t                       rc;
    ngx_str_t                       key;
    ngx_uint_t                      i;
    ngx_http_taskgw_shm_t          *shm;
    ngx_http_taskgw_token_entry_t  *te;

    shm = tmcf->token_cache;

    size = offsetof(ngx_http_taskgw_token_entry_t, data);

    for (i = 0; fields && i < NGX_HTTP_TASKGW_TF_COUNT; i++) {
        size += fields[i].len;
    }

    rc = NGX_DECLINED;

    key.data = digest;
    key.len = NGX_HTTP_TASKGW_DIGEST_LEN;

    ngx_http_taskgw_shm_lock(shm);

    te = ngx_http_taskgw_shm_lookup(shm, &key, 0);

    if (te != NULL && te->pending && te->stale) {
        /* revoked while it was looked up: nothing worth keeping */
        ngx_http_taskgw_shm_delete(shm, te);
        goto done;
    }

    te = ngx_http_taskgw_shm_insert(shm, &key, size);
    if (te == NULL) {
        goto done;
    }

    te->expires = ngx_current_msec + tmcf->tokens_cache_ttl;
    te->found = fields ? 1 : 0;
    te->pending = 0;

    p = te->data;

    for (i = 0; i < NGX_HTTP_TASKGW_TF_COUNT; i++) {
        te->len[i] = fields ? (u_short) fields[i].len : 0;

        if (fields && fields[i].len) {
            p = ngx_cpymem(p, fields[i].data, fields[i].len);
        }
    }

    rc = NGX_OK;

done:

    ngx_http_taskgw_shm_unlock(shm);

    return rc;
}
