
/*
 * ngx_http_taskgw_shm: keyed state shared by all worker processes: a slab
 * zone, an rbtree by key hash and an LRU queue, evicting when it is full.
 *
 * Every node holds a value followed by its key.  A zone's values have
 * one size (a rate bucket: ngx_http_taskgw_shm_lookup() creates them),
 * or each its own (a cached token: ngx_http_taskgw_shm_insert()).
 * Callers hold the zone's mutex around lookups and around every use of
 * the value they get back.  A full zone never fails a lookup: drained
 * nodes are freed first, then the least recently used ones.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_shm.h"


/* A node in the slab: starts at ngx_rbtree_node_t.color. */
typedef struct {
    u_char                        color;
    u_char                        dummy;
    u_short                       len;     /* of the key */
    uint32_t                      vsize;   /* of the value: where the key
                                              starts (the padding before
                                              queue, so it costs nothing) */
    ngx_queue_t                   queue;   /* place in the LRU */
    u_char                        data[1]; /* value, then the key */
} ngx_http_taskgw_shm_node_t;


#define ngx_http_taskgw_shm_node(value)                                     \
    ((ngx_rbtree_node_t *) ((u_char *) (value)                              \
        - offsetof(ngx_http_taskgw_shm_node_t, data)                        \
        - offsetof(ngx_rbtree_node_t, color)))


static ngx_int_t ngx_http_taskgw_shm_check_size(ngx_conf_t *cf,
    ngx_str_t *name, size_t size, void *tag);
static ngx_http_taskgw_shm_node_t *ngx_http_taskgw_shm_find(
    ngx_http_taskgw_shm_t *shm, ngx_str_t *key, uint32_t hash);
static void *ngx_http_taskgw_shm_new(ngx_http_taskgw_shm_t *shm,
    ngx_str_t *key, uint32_t hash, size_t vsize);
static ngx_int_t ngx_http_taskgw_shm_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_taskgw_shm_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_taskgw_shm_expire(ngx_http_taskgw_shm_t *shm);
static ngx_int_t ngx_http_taskgw_shm_evict(ngx_http_taskgw_shm_t *shm);
static void ngx_http_taskgw_shm_free(ngx_http_taskgw_shm_t *shm,
    ngx_http_taskgw_shm_node_t *sn);


/*
 * Declares a zone at configuration time; value_size 0: values of varying
 * size.  The owner then sets expired, reuse and data.  NULL after an
 * error has been logged: the zone is declared twice, too small, or (with
 * NGX_HTTP_TASKGW_SHM_KEEP) changes size over a reload: such a zone keeps
 * its size and state until nginx restarts.  Without it, a new size gives
 * the zone a new, empty segment, as nginx does for its caches.
 */

ngx_http_taskgw_shm_t *
ngx_http_taskgw_shm_add(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    size_t value_size, ngx_uint_t flags, void *tag)
{
    ngx_shm_zone_t         *shm_zone;
    ngx_http_taskgw_shm_t  *shm;

    if (size < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small: %uz bytes, "
                           "it needs at least %uz", name, size,
                           8 * ngx_pagesize);
        return NULL;
    }

    if ((flags & NGX_HTTP_TASKGW_SHM_KEEP)
        && ngx_http_taskgw_shm_check_size(cf, name, size, tag) != NGX_OK)
    {
        return NULL;
    }

    shm_zone = ngx_shared_memory_add(cf, name, size, tag);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", name);
        return NULL;
    }

    shm = ngx_pcalloc(cf->pool, sizeof(ngx_http_taskgw_shm_t));
    if (shm == NULL) {
        return NULL;
    }

    shm->shm_zone = shm_zone;
    shm->value_size = ngx_align(value_size, 8);

    shm_zone->init = ngx_http_taskgw_shm_init;
    shm_zone->data = shm;

    return shm;
}


/*
 * nginx itself would quietly give a zone whose size changed a new, empty
 * segment on reload, and every key would start over.  Refuse it instead:
 * the reload fails and the running configuration keeps serving.
 */

static ngx_int_t
ngx_http_taskgw_shm_check_size(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    void *tag)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *oshm;

    if (cf->cycle->old_cycle == NULL) {
        return NGX_OK;
    }

    part = &cf->cycle->old_cycle->shared_memory.part;
    oshm = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            oshm = part->elts;
            i = 0;
        }

        if (oshm[i].tag != tag
            || oshm[i].shm.name.len != name->len
            || ngx_strncmp(oshm[i].shm.name.data, name->data, name->len) != 0)
        {
            continue;
        }

        if (oshm[i].shm.size != size) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zone \"%V\" cannot change its size from %uz "
                               "to %uz bytes on reload; restart nginx to "
                               "resize it, or give it another name",
                               name, oshm[i].shm.size, size);
            return NGX_ERROR;
        }

        break;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_shm_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_taskgw_shm_t  *oshm = data;

    size_t                  len;
    ngx_http_taskgw_shm_t  *shm;

    shm = shm_zone->data;

    if (oshm) {
        if (oshm->value_size != shm->value_size) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "zone \"%V\" was used for something else before "
                          "this reload; give it another name",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        if (shm->reuse && shm->reuse(shm, oshm) != NGX_OK) {
            return NGX_ERROR;
        }

        shm->sh = oshm->sh;
        shm->shpool = oshm->shpool;

        return NGX_OK;
    }

    shm->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm->sh = shm->shpool->data;
        return NGX_OK;
    }

    shm->sh = ngx_slab_alloc(shm->shpool, sizeof(ngx_http_taskgw_shm_sh_t));
    if (shm->sh == NULL) {
        return NGX_ERROR;
    }

    shm->shpool->data = shm->sh;

    ngx_rbtree_init(&shm->sh->rbtree, &shm->sh->sentinel,
                    ngx_http_taskgw_shm_insert_value);

    ngx_queue_init(&shm->sh->queue);

    shm->sh->nodes = 0;
    shm->sh->evicted = 0;
    shm->sh->full = 0;
    shm->sh->counter = 0;
    shm->sh->value_size = shm->value_size;

    len = sizeof(" in taskgw zone \"\"") + shm_zone->shm.name.len;

    shm->shpool->log_ctx = ngx_slab_alloc(shm->shpool, len);
    if (shm->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shm->shpool->log_ctx, " in taskgw zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is normal here: it evicts, it need not log */
    shm->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_taskgw_shm_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t          **p;
    ngx_http_taskgw_shm_node_t  *sn, *snt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            sn = (ngx_http_taskgw_shm_node_t *) &node->color;
            snt = (ngx_http_taskgw_shm_node_t *) &temp->color;

            p = (ngx_memn2cmp(sn->data + sn->vsize, snt->data + snt->vsize,
                              sn->len, snt->len)
                 < 0)
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


/*
 * The value stored under key, moved to the front of the LRU; NULL when
 * there is none.  With create (zones of one value size), a missing key
 * gets a new zeroed value, making room by expiry and eviction when the
 * zone is full: NULL then only when the key is larger than the whole
 * zone.  The zone's mutex must be held.
 */

void *
ngx_http_taskgw_shm_lookup(ngx_http_taskgw_shm_t *shm, ngx_str_t *key,
    ngx_uint_t create)
{
    uint32_t                     hash;
    ngx_http_taskgw_shm_node_t  *sn;

    hash = ngx_crc32_short(key->data, key->len);

    sn = ngx_http_taskgw_shm_find(shm, key, hash);

    if (sn != NULL) {
        ngx_queue_remove(&sn->queue);
        ngx_queue_insert_head(&shm->sh->queue, &sn->queue);

        return sn->data;
    }

    if (!create) {
        return NULL;
    }

    return ngx_http_taskgw_shm_new(shm, key, hash, shm->value_size);
}


/*
 * A new zeroed value of vsize bytes under key, at the front of the LRU,
 * in place of any value the key had.  Room is made as for a lookup; NULL
 * when even an empty zone could not hold it.  The mutex must be held.
 */

void *
ngx_http_taskgw_shm_insert(ngx_http_taskgw_shm_t *shm, ngx_str_t *key,
    size_t vsize)
{
    uint32_t                     hash;
    ngx_http_taskgw_shm_node_t  *sn;

    hash = ngx_crc32_short(key->data, key->len);

    sn = ngx_http_taskgw_shm_find(shm, key, hash);

    if (sn != NULL) {
        ngx_http_taskgw_shm_free(shm, sn);
    }

    return ngx_http_taskgw_shm_new(shm, key, hash, ngx_align(vsize, 8));
}


static ngx_http_taskgw_shm_node_t *
ngx_http_taskgw_shm_find(ngx_http_taskgw_shm_t *shm, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                    rc;
    ngx_rbtree_node_t           *node, *sentinel;
    ngx_http_taskgw_shm_node_t  *sn;

    node = shm->sh->rbtree.root;
    sentinel = shm->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        sn = (ngx_http_taskgw_shm_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, sn->data + sn->vsize, key->len,
                          (size_t) sn->len);

        if (rc == 0) {
            return sn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void *
ngx_http_taskgw_shm_new(ngx_http_taskgw_shm_t *shm, ngx_str_t *key,
    uint32_t hash, size_t vsize)
{
    size_t                       size;
    ngx_rbtree_node_t           *node;
    ngx_http_taskgw_shm_node_t  *sn;

    if (key->len > NGX_HTTP_TASKGW_SHM_KEY_MAX || vsize > UINT32_MAX) {
        return NULL;
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_taskgw_shm_node_t, data)
           + vsize + key->len;

    ngx_http_taskgw_shm_expire(shm);

    for ( ;; ) {
        node = ngx_slab_alloc_locked(shm->shpool, size);
        if (node != NULL) {
            break;
        }

        if (ngx_http_taskgw_shm_evict(shm) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "taskgw: an entry of %uz bytes does not fit%s",
                          size, shm->shpool->log_ctx);
            return NULL;
        }
    }

    node->key = hash;

    sn = (ngx_http_taskgw_shm_node_t *) &node->color;

    sn->len = (u_short) key->len;
    sn->vsize = (uint32_t) vsize;
    ngx_memzero(sn->data, vsize);
    ngx_memcpy(sn->data + vsize, key->data, key->len);

    ngx_rbtree_insert(&shm->sh->rbtree, node);
    ngx_queue_insert_head(&shm->sh->queue, &sn->queue);

    shm->sh->nodes++;

    return sn->data;
}


/* Removes the node holding value (from a lookup); the mutex is held. */

void
ngx_http_taskgw_shm_delete(ngx_http_taskgw_shm_t *shm, void *value)
{
    ngx_rbtree_node_t  *node;

    node = ngx_http_taskgw_shm_node(value);

    ngx_http_taskgw_shm_free(shm,
                             (ngx_http_taskgw_shm_node_t *) &node->color);
}


/* Keys held now, for metrics; takes the mutex itself. */

ngx_uint_t
ngx_http_taskgw_shm_nodes(ngx_http_taskgw_shm_t *shm)
{
    ngx_uint_t  n;

    ngx_shmtx_lock(&shm->shpool->mutex);
    n = shm->sh->nodes;
    ngx_shmtx_unlock(&shm->shpool->mutex);

    return n;
}


/*
 * Frees up to two of the least recently used nodes when their owner
 * calls them expired; run before each insert, so drained state goes away
 * at the pace new keys arrive.
 */

static void
ngx_http_taskgw_shm_expire(ngx_http_taskgw_shm_t *shm)
{
    ngx_uint_t                   n;
    ngx_queue_t                 *q;
    ngx_http_taskgw_shm_node_t  *sn;

    if (shm->expired == NULL) {
        return;
    }

    for (n = 0; n < 2; n++) {

        if (ngx_queue_empty(&shm->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&shm->sh->queue);
        sn = ngx_queue_data(q, ngx_http_taskgw_shm_node_t, queue);

        if (!shm->expired(sn->data, shm->data)) {
            return;
        }

        ngx_http_taskgw_shm_free(shm, sn);
    }
}


/* Frees the least recently used node, expired or not. */

static ngx_int_t
ngx_http_taskgw_shm_evict(ngx_http_taskgw_shm_t *shm)
{
    ngx_queue_t                 *q;
    ngx_http_taskgw_shm_node_t  *sn;

    if (ngx_queue_empty(&shm->sh->queue)) {
        return NGX_DECLINED;
    }

    q = ngx_queue_last(&shm->sh->queue);
    sn = ngx_queue_data(q, ngx_http_taskgw_shm_node_t, queue);

    if (shm->expired == NULL || !shm->expired(sn->data, shm->data)) {

        if (!shm->sh->full) {
            shm->sh->full = 1;

            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "taskgw zone \"%V\" is full with %ui keys, the "
                          "least recently used ones make room from now on",
                          &shm->shm_zone->shm.name, shm->sh->nodes);
        }

        shm->sh->evicted++;
    }

    ngx_http_taskgw_shm_free(shm, sn);

    return NGX_OK;
}


static void
ngx_http_taskgw_shm_free(ngx_http_taskgw_shm_t *shm,
    ngx_http_taskgw_shm_node_t *sn)
{
    ngx_rbtree_node_t  *node;

    node = (ngx_rbtree_node_t *)
               ((u_char *) sn - offsetof(ngx_rbtree_node_t, color));

    ngx_queue_remove(&sn->queue);
    ngx_rbtree_delete(&shm->sh->rbtree, node);
    ngx_slab_free_locked(shm->shpool, node);

    shm->sh->nodes--;
}
