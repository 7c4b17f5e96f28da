
/*
 * ngx_http_taskgw_token_cache: run-time token lookups cached in shared
 * memory for taskgw_tokens_cache_ttl, found and not found, LRU-bounded.
 * A lookup in flight is in the cache too ("pending"), so that the other
 * worker processes wait for its answer instead of asking Redis again.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_token.h"


/*
 * One cached answer of Redis for one digest.  A found token keeps the
 * hash fields as Redis gave them (parsed again per request); a token
 * Redis did not know has none ("found" is 0).  A pending entry has no
 * answer yet: some worker's lookup is in flight until "expires" (its
 * start plus taskgw_redis_timeout); when the token is revoked meanwhile
 * it is "stale", and the answer of that lookup, which may predate the
 * revocation, is not cached.
 */
typedef struct {
    ngx_rbtree_node_t           node;     /* key: first bytes of digest */
    ngx_queue_t                 lru;      /* most recently used first */
    ngx_msec_t                  expires;
    u_char                      digest[NGX_HTTP_TASKGW_DIGEST_LEN];
    unsigned                    found:1;
    unsigned                    pending:1;
    unsigned                    stale:1;
    u_short                     len[NGX_HTTP_TASKGW_TF_COUNT];
    u_char                      data[1];  /* the fields, one after another */
} ngx_http_taskgw_token_node_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 lru;
} ngx_http_taskgw_token_shctx_t;


typedef struct {
    ngx_http_taskgw_token_shctx_t  *sh;
    ngx_slab_pool_t                *shpool;
} ngx_http_taskgw_token_cache_t;


static ngx_int_t ngx_http_taskgw_token_cache_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_taskgw_token_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_taskgw_token_node_t *ngx_http_taskgw_token_cache_find(
    ngx_http_taskgw_token_cache_t *cache, u_char *digest);
static void ngx_http_taskgw_token_cache_free(
    ngx_http_taskgw_token_cache_t *cache, ngx_http_taskgw_token_node_t *tn);
static ngx_http_taskgw_token_node_t *ngx_http_taskgw_token_cache_alloc(
    ngx_http_taskgw_token_cache_t *cache, u_char *digest, size_t size);


ngx_int_t
ngx_http_taskgw_token_cache_add(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf)
{
    ngx_str_t                       name = ngx_string("taskgw_tokens");
    ngx_http_taskgw_token_cache_t  *cache;

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_taskgw_token_cache_t));
    if (cache == NULL) {
        return NGX_ERROR;
    }

    tmcf->token_cache = ngx_shared_memory_add(cf, &name,
                                              tmcf->tokens_cache_size,
                                              &ngx_http_taskgw_module);
    if (tmcf->token_cache == NULL) {
        return NGX_ERROR;
    }

    tmcf->token_cache->init = ngx_http_taskgw_token_cache_init;
    tmcf->token_cache->data = cache;

    return NGX_OK;
}


/*
 * The zone of the previous configuration is taken over on a reload: its
 * entries are answers of Redis and stay true for their time to live.
 */

static ngx_int_t
ngx_http_taskgw_token_cache_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_taskgw_token_cache_t  *ocache = data;

    size_t                          len;
    ngx_http_taskgw_token_cache_t  *cache;

    cache = shm_zone->data;

    if (ocache) {
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_alloc(cache->shpool,
                               sizeof(ngx_http_taskgw_token_shctx_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_http_taskgw_token_rbtree_insert);
    ngx_queue_init(&cache->sh->lru);

    len = sizeof(" in taskgw token cache \"\"") + shm_zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx, " in taskgw token cache \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone evicts the oldest entry; that is not worth a log line */
    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_taskgw_token_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t             **p;
    ngx_http_taskgw_token_node_t   *tn, *tnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            tn = (ngx_http_taskgw_token_node_t *) node;
            tnt = (ngx_http_taskgw_token_node_t *) temp;

            p = (ngx_memcmp(tn->digest, tnt->digest,
                            NGX_HTTP_TASKGW_DIGEST_LEN) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_taskgw_token_node_t *
ngx_http_taskgw_token_cache_find(ngx_http_taskgw_token_cache_t *cache,
    u_char *digest)
{
    ngx_int_t                      rc;
    ngx_rbtree_key_t               key;
    ngx_rbtree_node_t             *node, *sentinel;
    ngx_http_taskgw_token_node_t  *tn;

    ngx_memcpy(&key, digest, sizeof(ngx_rbtree_key_t));

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        tn = (ngx_http_taskgw_token_node_t *) node;

        rc = ngx_memcmp(digest, tn->digest, NGX_HTTP_TASKGW_DIGEST_LEN);

        if (rc == 0) {
            return tn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_taskgw_token_cache_free(ngx_http_taskgw_token_cache_t *cache,
    ngx_http_taskgw_token_node_t *tn)
{
    ngx_queue_remove(&tn->lru);
    ngx_rbtree_delete(&cache->sh->rbtree, &tn->node);
    ngx_slab_free_locked(cache->shpool, tn);
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
    ngx_uint_t                      i;
    ngx_http_taskgw_token_node_t   *tn;
    ngx_http_taskgw_token_cache_t  *cache;

    cache = tmcf->token_cache->data;

    ngx_shmtx_lock(&cache->shpool->mutex);

    tn = ngx_http_taskgw_token_cache_find(cache, digest);

    if (tn != NULL && (ngx_msec_int_t) (tn->expires - ngx_current_msec) <= 0) {
        /* an answer out of its time to live, or a lookup given up on */
        ngx_http_taskgw_token_cache_free(cache, tn);
        tn = NULL;
    }

    if (tn == NULL) {
        tn = ngx_http_taskgw_token_cache_alloc(cache, digest,
                                 offsetof(ngx_http_taskgw_token_node_t, data));
        if (tn != NULL) {
            tn->pending = 1;
            tn->expires = ngx_current_msec + tmcf->timeout;
        }

        rc = NGX_DONE;
        goto done;
    }

    ngx_queue_remove(&tn->lru);
    ngx_queue_insert_head(&cache->sh->lru, &tn->lru);

    if (tn->pending) {
        rc = NGX_BUSY;
        goto done;
    }

    if (!tn->found) {
        rc = NGX_DECLINED;
        goto done;
    }

    p = tn->data;

    for (i = 0; i < NGX_HTTP_TASKGW_TF_COUNT; i++) {
        fields[i].len = tn->len[i];
        fields[i].data = ngx_pnalloc(pool, tn->len[i] + 1);

        if (fields[i].data == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        ngx_memcpy(fields[i].data, p, tn->len[i]);
        p += tn->len[i];
    }

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

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
    ngx_http_taskgw_token_node_t   *tn;
    ngx_http_taskgw_token_cache_t  *cache;

    cache = tmcf->token_cache->data;

    ngx_shmtx_lock(&cache->shpool->mutex);

    tn = ngx_http_taskgw_token_cache_find(cache, digest);

    if (tn != NULL && tn->pending) {
        ngx_http_taskgw_token_cache_free(cache, tn);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
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
    ngx_http_taskgw_token_node_t   *tn;
    ngx_http_taskgw_token_cache_t  *cache;

    cache = tmcf->token_cache->data;

    ngx_shmtx_lock(&cache->shpool->mutex);

    tn = ngx_http_taskgw_token_cache_find(cache, digest);

    if (tn != NULL && tn->pending) {
        tn->stale = 1;

    } else if (tn != NULL) {
        ngx_http_taskgw_token_cache_free(cache, tn);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
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
    ngx_uint_t                      i, stale;
    ngx_http_taskgw_token_node_t   *tn;
    ngx_http_taskgw_token_cache_t  *cache;

    cache = tmcf->token_cache->data;

    size = offsetof(ngx_http_taskgw_token_node_t, data);

    for (i = 0; fields && i < NGX_HTTP_TASKGW_TF_COUNT; i++) {
        size += fields[i].len;
    }

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    tn = ngx_http_taskgw_token_cache_find(cache, digest);
    if (tn) {
        stale = tn->pending && tn->stale;

        ngx_http_taskgw_token_cache_free(cache, tn);

        if (stale) {
            /* revoked while it was looked up: nothing worth keeping */
            goto done;
        }
    }

    tn = ngx_http_taskgw_token_cache_alloc(cache, digest, size);
    if (tn == NULL) {
        goto done;
    }

    tn->expires = ngx_current_msec + tmcf->tokens_cache_ttl;
    tn->found = fields ? 1 : 0;
    tn->pending = 0;

    p = tn->data;

    for (i = 0; i < NGX_HTTP_TASKGW_TF_COUNT; i++) {
        tn->len[i] = fields ? (u_short) fields[i].len : 0;

        if (fields && fields[i].len) {
            p = ngx_cpymem(p, fields[i].data, fields[i].len);
        }
    }

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


/*
 * A new entry for a digest, in the tree and at the head of the LRU queue,
 * with the mutex held.  When the zone is full the least recently used
 * entries make room.  NULL only when even an empty zone has no room.
 */

static ngx_http_taskgw_token_node_t *
ngx_http_taskgw_token_cache_alloc(ngx_http_taskgw_token_cache_t *cache,
    u_char *digest, size_t size)
{
    ngx_uint_t                     n;
    ngx_queue_t                   *q;
    ngx_http_taskgw_token_node_t  *tn;

    /* expired entries at the old end go first, then the oldest at all */

    for (n = 0; n < 2 && !ngx_queue_empty(&cache->sh->lru); n++) {
        q = ngx_queue_last(&cache->sh->lru);
        tn = ngx_queue_data(q, ngx_http_taskgw_token_node_t, lru);

        if ((ngx_msec_int_t) (tn->expires - ngx_current_msec) > 0) {
            break;
        }

        ngx_http_taskgw_token_cache_free(cache, tn);
    }

    for ( ;; ) {
        tn = ngx_slab_alloc_locked(cache->shpool, size);
        if (tn != NULL) {
            break;
        }

        if (ngx_queue_empty(&cache->sh->lru)) {
            return NULL;
        }

        q = ngx_queue_last(&cache->sh->lru);
        ngx_http_taskgw_token_cache_free(cache,
                         ngx_queue_data(q, ngx_http_taskgw_token_node_t, lru));
    }

    ngx_memzero(tn, size);
    ngx_memcpy(tn->digest, digest, NGX_HTTP_TASKGW_DIGEST_LEN);
    ngx_memcpy(&tn->node.key, digest, sizeof(ngx_rbtree_key_t));

    ngx_rbtree_insert(&cache->sh->rbtree, &tn->node);
    ngx_queue_insert_head(&cache->sh->lru, &tn->lru);

    return tn;
}
