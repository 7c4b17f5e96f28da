
/*
 * ngx_http_taskgw_shm: keyed state shared by all worker processes: a slab
 * zone, an rbtree by key hash and an LRU queue, evicting when it is full.
 */


#ifndef _NGX_HTTP_TASKGW_SHM_H_INCLUDED_
#define _NGX_HTTP_TASKGW_SHM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct ngx_http_taskgw_shm_s  ngx_http_taskgw_shm_t;


/*
 * Does the node holding this value hold nothing worth keeping (a rate
 * bucket that has drained, a cache entry past its expiry)?  Such nodes
 * are freed first, so eviction of live state is the last resort.
 */
typedef ngx_uint_t (*ngx_http_taskgw_shm_expired_pt)(void *value,
    void *data);

/*
 * Called on reload when the zone of the previous configuration is reused
 * (same name, same size): NGX_ERROR, after logging why, refuses a change
 * the old state cannot live with.
 */
typedef ngx_int_t (*ngx_http_taskgw_shm_reuse_pt)(ngx_http_taskgw_shm_t *shm,
    ngx_http_taskgw_shm_t *old);


/* The part in shared memory. */
typedef struct {
    ngx_rbtree_t                     rbtree;    /* by crc32 of the key */
    ngx_rbtree_node_t                sentinel;
    ngx_queue_t                      queue;     /* most recently used first */
    ngx_uint_t                       nodes;     /* keys held now */
    ngx_uint_t                       evicted;   /* live keys dropped */
    ngx_uint_t                       full;      /* "zone is full" logged */
    uint64_t                         counter;   /* the owner's count of
                                                   something (a limit zone:
                                                   dry-run rejections) */
    size_t                           value_size; /* to refuse a reuse by a
                                                    different layout; 0:
                                                    values of any size */
} ngx_http_taskgw_shm_sh_t;


/* One zone as one configuration cycle sees it (shm_zone->data). */
struct ngx_http_taskgw_shm_s {
    ngx_http_taskgw_shm_sh_t        *sh;
    ngx_slab_pool_t                 *shpool;
    ngx_shm_zone_t                  *shm_zone;
    size_t                           value_size; /* rounded to 8 bytes; 0:
                                                    each value its own */
    ngx_http_taskgw_shm_expired_pt   expired;    /* NULL: never expired */
    ngx_http_taskgw_shm_reuse_pt     reuse;      /* NULL: always reusable */
    void                            *data;       /* the owner's */
};


/* ngx_http_taskgw_shm_add() flags */
#define NGX_HTTP_TASKGW_SHM_KEEP     1  /* state worth keeping: refuse a new
                                           size on reload */


ngx_http_taskgw_shm_t *ngx_http_taskgw_shm_add(ngx_conf_t *cf,
    ngx_str_t *name, size_t size, size_t value_size, ngx_uint_t flags,
    void *tag);
void *ngx_http_taskgw_shm_lookup(ngx_http_taskgw_shm_t *shm, ngx_str_t *key,
    ngx_uint_t create);
void *ngx_http_taskgw_shm_insert(ngx_http_taskgw_shm_t *shm, ngx_str_t *key,
    size_t vsize);
void ngx_http_taskgw_shm_delete(ngx_http_taskgw_shm_t *shm, void *value);
ngx_uint_t ngx_http_taskgw_shm_nodes(ngx_http_taskgw_shm_t *shm);

#define ngx_http_taskgw_shm_lock(shm)                                       \
    ngx_shmtx_lock(&(shm)->shpool->mutex)
#define ngx_http_taskgw_shm_unlock(shm)                                     \
    ngx_shmtx_unlock(&(shm)->shpool->mutex)

/* Largest key a node takes. */
#define NGX_HTTP_TASKGW_SHM_KEY_MAX  65535


#endif /* _NGX_HTTP_TASKGW_SHM_H_INCLUDED_ */
