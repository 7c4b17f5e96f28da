
/*
 * ngx_http_taskgw_redis_reply: the reply objects hiredis's reader makes
 * for every link, from a free list instead of malloc() per reply.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_redis_link.h"


static void *ngx_http_taskgw_reply_string(const redisReadTask *task,
    char *str, size_t len);
static void *ngx_http_taskgw_reply_array(const redisReadTask *task,
    int elements);
static void *ngx_http_taskgw_reply_integer(const redisReadTask *task,
    long long value);
static void *ngx_http_taskgw_reply_nil(const redisReadTask *task);
static void ngx_http_taskgw_reply_free(void *obj);


/*
 * hiredis's reply objects, made by our own reader functions.  hiredis's
 * own make two or three malloc()s per reply (the object, its string or
 * element array); an enqueue's MULTI/HSET/XADD/EXEC has six replies.
 * Ours come from a free list, with a short string or a short element
 * array inside the object, so a link that is busy allocates nothing.
 * Each is a redisReply that starts the block, as the rest of hiredis
 * (and every callback) expects; hiredis hands it back to
 * ngx_http_taskgw_reply_free() through reader->fn once the callback
 * returned, and frees a half-parsed one the same way when the context
 * goes.  Nginx workers have one thread, so the free list needs no lock.
 */

#define NGX_HTTP_TASKGW_REPLY_INLINE     48
#define NGX_HTTP_TASKGW_REPLY_ELTS                                          \
    (NGX_HTTP_TASKGW_REPLY_INLINE / sizeof(redisReply *))

/* more free objects than this go back to malloc */
#define NGX_HTTP_TASKGW_REPLY_KEEP       64


typedef struct ngx_http_taskgw_reply_s  ngx_http_taskgw_reply_t;

struct ngx_http_taskgw_reply_s {
    redisReply                  reply;    /* first: hiredis sees this */
    ngx_http_taskgw_reply_t    *next;     /* on the free list */
    union {
        char                    str[NGX_HTTP_TASKGW_REPLY_INLINE];
        redisReply             *element[NGX_HTTP_TASKGW_REPLY_ELTS];
    } u;
};


redisReplyObjectFunctions  ngx_http_taskgw_redis_reply_functions = {
    ngx_http_taskgw_reply_string,
    ngx_http_taskgw_reply_array,
    ngx_http_taskgw_reply_integer,
    ngx_http_taskgw_reply_nil,
    ngx_http_taskgw_reply_free
};

static ngx_http_taskgw_reply_t  *ngx_http_taskgw_reply_free_list;
static ngx_uint_t                ngx_http_taskgw_reply_nfree;


static redisReply *
ngx_http_taskgw_reply_alloc(int type)
{
    ngx_http_taskgw_reply_t  *o;

    o = ngx_http_taskgw_reply_free_list;

    if (o != NULL) {
        ngx_http_taskgw_reply_free_list = o->next;
        ngx_http_taskgw_reply_nfree--;

    } else {
        o = ngx_alloc(sizeof(ngx_http_taskgw_reply_t), ngx_cycle->log);
        if (o == NULL) {
            return NULL;
        }
    }

    ngx_memzero(&o->reply, sizeof(redisReply));
    o->reply.type = type;

    return &o->reply;
}


/*
 * A finished object goes into its array only now, as hiredis's own
 * functions do: one freed half-made (no memory for its string or its
 * elements) must not be left in the array, freed a second time with it.
 */

static void *
ngx_http_taskgw_reply_done(const redisReadTask *task, redisReply *r)
{
    redisReply  *parent;

    if (task->parent) {
        parent = task->parent->obj;
        parent->element[task->idx] = r;
    }

    return r;
}


static void *
ngx_http_taskgw_reply_string(const redisReadTask *task, char *str,
    size_t len)
{
    char                     *buf;
    redisReply               *r;
    ngx_http_taskgw_reply_t  *o;

    r = ngx_http_taskgw_reply_alloc(task->type);
    if (r == NULL) {
        return NULL;
    }

    o = (ngx_http_taskgw_reply_t *) r;

    if (len < NGX_HTTP_TASKGW_REPLY_INLINE) {
        buf = o->u.str;

    } else {
        buf = ngx_alloc(len + 1, ngx_cycle->log);
        if (buf == NULL) {
            ngx_http_taskgw_reply_free(r);
            return NULL;
        }
    }

    ngx_memcpy(buf, str, len);
    buf[len] = '\0';

    r->str = buf;
    r->len = len;

    return ngx_http_taskgw_reply_done(task, r);
}


static void *
ngx_http_taskgw_reply_array(const redisReadTask *task, int elements)
{
    size_t                    n;
    redisReply               *r;
    ngx_http_taskgw_reply_t  *o;

    r = ngx_http_taskgw_reply_alloc(REDIS_REPLY_ARRAY);
    if (r == NULL) {
        return NULL;
    }

    if (elements <= 0) {
        return ngx_http_taskgw_reply_done(task, r);
    }

    o = (ngx_http_taskgw_reply_t *) r;
    n = (size_t) elements;

    if (n <= NGX_HTTP_TASKGW_REPLY_ELTS) {
        r->element = o->u.element;
        ngx_memzero(r->element, n * sizeof(redisReply *));

    } else {
        r->element = ngx_calloc(n * sizeof(redisReply *), ngx_cycle->log);
        if (r->element == NULL) {
            ngx_http_taskgw_reply_free(r);
            return NULL;
        }
    }

    /* set last: a half-built array is freed up to here */
    r->elements = n;

    return ngx_http_taskgw_reply_done(task, r);
}


static void *
ngx_http_taskgw_reply_integer(const redisReadTask *task, long long value)
{
    redisReply  *r;

    r = ngx_http_taskgw_reply_alloc(REDIS_REPLY_INTEGER);
    if (r == NULL) {
        return NULL;
    }

    r->integer = value;

    return ngx_http_taskgw_reply_done(task, r);
}


static void *
ngx_http_taskgw_reply_nil(const redisReadTask *task)
{
    redisReply  *r;

    r = ngx_http_taskgw_reply_alloc(REDIS_REPLY_NIL);
    if (r == NULL) {
        return NULL;
    }

    return ngx_http_taskgw_reply_done(task, r);
}


static void
ngx_http_taskgw_reply_free(void *obj)
{
    size_t                    i;
    redisReply               *r = obj;
    ngx_http_taskgw_reply_t  *o = obj;

    if (r == NULL) {
        return;
    }

    if (r->element != NULL) {
        for (i = 0; i < r->elements; i++) {
            ngx_http_taskgw_reply_free(r->element[i]);
        }

        if (r->element != o->u.element) {
            ngx_free(r->element);
        }

    } else if (r->str != NULL && r->str != o->u.str) {
        ngx_free(r->str);
    }

    if (ngx_http_taskgw_reply_nfree >= NGX_HTTP_TASKGW_REPLY_KEEP) {
        ngx_free(o);
        return;
    }

    o->next = ngx_http_taskgw_reply_free_list;
    ngx_http_taskgw_reply_free_list = o;
    ngx_http_taskgw_reply_nfree++;
}
