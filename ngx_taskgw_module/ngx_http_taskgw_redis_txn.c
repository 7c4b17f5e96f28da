
/*
 * ngx_http_taskgw_redis_txn: the MULTI/EXECs that enqueues share: gathered
 * in a turn, sealed when the link writes, answered from EXEC's reply.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_redis_fmt.h"
#include "ngx_http_taskgw_redis_link.h"


static void ngx_http_taskgw_redis_seal_txn(ngx_http_taskgw_link_t *link,
    ngx_queue_t *from, ngx_uint_t max);
static ngx_int_t ngx_http_taskgw_redis_txn_ends(
    ngx_http_taskgw_link_t *link, ngx_chain_t *first, ngx_chain_t *last,
    ngx_chain_t **head, ngx_chain_t **tail);
static ngx_http_taskgw_redis_out_t *ngx_http_taskgw_redis_fixed(
    ngx_http_taskgw_link_t *link, u_char *cmd, size_t len);
static ngx_http_taskgw_redis_op_t *ngx_http_taskgw_redis_ungather(
    ngx_http_taskgw_link_t *link, ngx_queue_t *from);


static u_char  ngx_http_taskgw_redis_multi[] = NGX_HTTP_TASKGW_REDIS_MULTI;
static u_char  ngx_http_taskgw_redis_exec[] = NGX_HTTP_TASKGW_REDIS_EXEC;


/*
 * A batch meant for a shared MULTI/EXEC waits for the link's write at
 * the end of this turn of the event loop (a request whose client leaves
 * before that is dropped from it, see op_cleanup).  A small one joins
 * the small ones gathered, which that write splits into transactions
 * (see ngx_http_taskgw_redis_seal); a large one (or one with a body part
 * in a file) waits to go alone.  Nothing is sealed here: a seal that
 * fails answers its requests, and this one's must not be answered while
 * it is still being sent.
 */

ngx_int_t
ngx_http_taskgw_redis_gather(ngx_http_taskgw_link_t *link,
    ngx_http_taskgw_redis_op_t *op)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (link->rc == NULL || link->state != NGX_HTTP_TASKGW_LINK_UP) {
        return NGX_ERROR;
    }

    size = 0;
    op->ncmds = 0;

    for (cl = op->out; cl; cl = cl->next) {
        b = cl->buf;
        op->ncmds += ((ngx_http_taskgw_redis_out_t *) cl)->ncmds;

        if (b->in_file) {
            size = NGX_HTTP_TASKGW_REDIS_TXN_BYTES + 1;

        } else if (size <= NGX_HTTP_TASKGW_REDIS_TXN_BYTES) {
            size += b->last - b->pos;
        }
    }

    op->size = size;
    op->gathered = 1;

    if (size > NGX_HTTP_TASKGW_REDIS_TXN_BYTES) {
        ngx_queue_insert_tail(&link->alone, &op->queue);

    } else {
        ngx_queue_insert_tail(&link->txn, &op->queue);
        link->txn_n++;
        link->txn_size += size;
    }

    ngx_http_taskgw_redis_add_write(link->rc);

    return NGX_OK;
}


/*
 * The link is about to write: what was gathered goes to hiredis, the
 * small batches in as few MULTI/EXECs as the caps allow, in the order
 * they came, then each large one in its own.
 */

void
ngx_http_taskgw_redis_seal(ngx_http_taskgw_link_t *link)
{
    while (link->txn_n) {
        ngx_http_taskgw_redis_seal_txn(link, &link->txn,
                                       NGX_HTTP_TASKGW_REDIS_TXN_TASKS);
    }

    while (!ngx_queue_empty(&link->alone)) {
        ngx_http_taskgw_redis_seal_txn(link, &link->alone, 1);
    }
}


/*
 * Up to max gathered ops from the head of from, and no more than the
 * transaction's bytes (but at least one): MULTI, their commands, EXEC,
 * handed to hiredis in one go.  EXEC's callback carries the last op,
 * which knows how many there are; the ops join the link's batches in
 * flight in the same order, so they follow one another there.  If the
 * link cannot take them, each gets a NULL reply (its request 503): this
 * runs only from the link's write, never for a request still being sent.
 */

static void
ngx_http_taskgw_redis_seal_txn(ngx_http_taskgw_link_t *link,
    ngx_queue_t *from, ngx_uint_t max)
{
    size_t                       size;
    ngx_uint_t                   i, n;
    ngx_chain_t                 *head, **last, *cl, *tail;
    ngx_http_taskgw_redis_op_t  *op, *ops[NGX_HTTP_TASKGW_REDIS_TXN_TASKS];

    n = 0;
    size = 0;

    while (n < max && !ngx_queue_empty(from)) {
        op = ngx_queue_data(ngx_queue_head(from), ngx_http_taskgw_redis_op_t,
                            queue);

        if (n && size + op->size > NGX_HTTP_TASKGW_REDIS_TXN_BYTES) {
            break;
        }

        size += op->size;
        ops[n++] = ngx_http_taskgw_redis_ungather(link, from);
    }

    if (n == 0) {
        return;
    }

    if (link->rc == NULL || link->state != NGX_HTTP_TASKGW_LINK_UP) {
        goto failed;
    }

    /* the last op's last piece */

    for (cl = ops[n - 1]->out; cl->next; cl = cl->next) { /* void */ }

    if (ngx_http_taskgw_redis_txn_ends(link, ops[0]->out, cl, &head, &tail)
        != NGX_OK)
    {
        goto failed;
    }

    /* MULTI, each op's pieces (known by their owner), EXEC */

    last = &head;

    if (head != ops[0]->out) {
        last = &head->next;
    }

    for (i = 0; i < n; i++) {
        op = ops[i];
        op->head = op->out;

        for (cl = op->out; cl; cl = cl->next) {
            ((ngx_http_taskgw_redis_out_t *) cl)->owner = op;
            *last = cl;
            last = &cl->next;
        }

        op->out = NULL;
    }

    *last = tail;

    ops[n - 1]->ntxn = n;

    if (ngx_http_taskgw_redis_queue(link->rc, head,
                                    ngx_http_taskgw_redis_reply, ops[n - 1])
        != NGX_OK)
    {
        /* the pieces go with the chain, which the link did not take */
        ngx_http_taskgw_redis_free_out(head);

        for (i = 0; i < n; i++) {
            ops[i]->head = NULL;
            ops[i]->ntxn = 0;
        }

        goto failed;
    }

    for (i = 0; i < n; i++) {
        ngx_http_taskgw_redis_fly(link, ops[i]);
    }

    return;

failed:

    for (i = 0; i < n; i++) {
        ngx_http_taskgw_redis_op_finish(ops[i], NULL);
    }
}


/*
 * A transaction's MULTI and EXEC: written into the room its first piece
 * keeps before its commands and its last piece after them, or, where a
 * piece has no such room (a part of a body in a file) or no place for one
 * more command, as a piece of their own.  *head is the chain's first
 * piece (MULTI's own, or first), *tail what follows last (EXEC's own, or
 * NULL).  NGX_ERROR (nothing changed) if a piece could not be allocated.
 */

static ngx_int_t
ngx_http_taskgw_redis_txn_ends(ngx_http_taskgw_link_t *link,
    ngx_chain_t *first, ngx_chain_t *last, ngx_chain_t **head,
    ngx_chain_t **tail)
{
    ngx_uint_t                    i, open, close;
    ngx_http_taskgw_redis_out_t  *f, *l, *multi, *exec;

    f = (ngx_http_taskgw_redis_out_t *) first;
    l = (ngx_http_taskgw_redis_out_t *) last;

    open = (!f->buf.in_file && f->ncmds < NGX_HTTP_TASKGW_REDIS_MAX_BATCH);
    close = (!l->buf.in_file
             && l->ncmds + (l == f && open) < NGX_HTTP_TASKGW_REDIS_MAX_BATCH);

    multi = NULL;
    exec = NULL;

    if (!open) {
        multi = ngx_http_taskgw_redis_fixed(link, ngx_http_taskgw_redis_multi,
                                          NGX_HTTP_TASKGW_REDIS_MULTI_LEN);
        if (multi == NULL) {
            return NGX_ERROR;
        }
    }

    if (!close) {
        exec = ngx_http_taskgw_redis_fixed(link, ngx_http_taskgw_redis_exec,
                                           NGX_HTTP_TASKGW_REDIS_EXEC_LEN);
        if (exec == NULL) {
            if (multi) {
                ngx_free(multi);
            }

            return NGX_ERROR;
        }
    }

    if (open) {
        for (i = f->ncmds; i > 0; i--) {
            f->cmd[i] = f->cmd[i - 1] + NGX_HTTP_TASKGW_REDIS_MULTI_LEN;
        }

        f->cmd[0] = 0;
        f->ncmds++;
        f->multi = 1;

        f->buf.start -= NGX_HTTP_TASKGW_REDIS_MULTI_LEN;
        f->buf.pos = f->buf.start;
        ngx_memcpy(f->buf.start, ngx_http_taskgw_redis_multi,
                   NGX_HTTP_TASKGW_REDIS_MULTI_LEN);

        *head = first;

    } else {
        multi->cl.next = first;
        *head = &multi->cl;
    }

    if (close) {
        l->cmd[l->ncmds++] = l->buf.last - l->buf.start;
        l->exec = 1;

        /* with the NUL that ends every memory piece */
        l->buf.last = ngx_cpymem(l->buf.last, ngx_http_taskgw_redis_exec,
                                 NGX_HTTP_TASKGW_REDIS_EXEC_LEN + 1) - 1;

        if (l->buf.end < l->buf.last) {
            l->buf.end = l->buf.last;
        }

        *tail = NULL;

    } else {
        *tail = &exec->cl;
    }

    return NGX_OK;
}


/* A memory piece of its own holding one fixed command. */

static ngx_http_taskgw_redis_out_t *
ngx_http_taskgw_redis_fixed(ngx_http_taskgw_link_t *link, u_char *cmd,
    size_t len)
{
    u_char                       *p;
    ngx_http_taskgw_redis_out_t  *out;

    out = ngx_alloc(sizeof(ngx_http_taskgw_redis_out_t) + len + 1, link->log);
    if (out == NULL) {
        return NULL;
    }

    ngx_memzero(out, sizeof(ngx_http_taskgw_redis_out_t));

    p = (u_char *) (out + 1);

    out->buf.start = p;
    out->buf.pos = p;
    out->buf.last = ngx_cpymem(p, cmd, len + 1);
    out->buf.last--;
    out->buf.end = out->buf.last;
    out->buf.memory = 1;
    out->cl.buf = &out->buf;

    out->cmd[0] = 0;
    out->ncmds = 1;

    return out;
}


/*
 * EXEC's reply, for the ops of a shared MULTI/EXEC: the n ops in flight
 * up to last.  Each gets its own part of the array (its commands'
 * replies, so one task's failed command fails that task alone), or, when
 * EXEC's reply is not such an array (an error such as EXECABORT, nil, or
 * NULL for a lost link), that reply: then every op fails.
 */

void
ngx_http_taskgw_redis_txn_finish(ngx_http_taskgw_redis_op_t *last,
    redisReply *reply)
{
    size_t                       k;
    ngx_uint_t                   i, n, parts;
    ngx_queue_t                 *q, *next;
    redisReply                   part;
    ngx_http_taskgw_redis_op_t  *op;

    n = last->ntxn;
    q = &last->queue;
    k = last->ncmds;

    /* the first of them, and how many commands they queued */

    for (i = 1; i < n; i++) {
        q = ngx_queue_prev(q);
        op = ngx_queue_data(q, ngx_http_taskgw_redis_op_t, queue);
        k += op->ncmds;
    }

    /* an array of one reply per command queued: each op its own part */

    parts = (reply != NULL && reply->type == REDIS_REPLY_ARRAY
             && reply->elements == k);

    ngx_memzero(&part, sizeof(redisReply));
    part.type = REDIS_REPLY_ARRAY;

    k = 0;

    /*
     * Each op leaves the queue as it is finished; the others of the
     * transaction stay in it meanwhile (only this reply finishes them).
     */

    for (i = 0; i < n; i++) {
        next = ngx_queue_next(q);
        op = ngx_queue_data(q, ngx_http_taskgw_redis_op_t, queue);

        if (parts) {
            part.elements = op->ncmds;
            part.element = reply->element + k;
            k += op->ncmds;

            ngx_http_taskgw_redis_op_finish(op, &part);

        } else {
            ngx_http_taskgw_redis_op_finish(op, reply);
        }

        q = next;
    }
}


/* The link went down before it wrote what it gathered: NULL replies. */

void
ngx_http_taskgw_redis_fail_gathered(ngx_http_taskgw_link_t *link)
{
    ngx_http_taskgw_redis_op_t  *op;

    while ((op = ngx_http_taskgw_redis_ungather(link, &link->txn)) != NULL
           || (op = ngx_http_taskgw_redis_ungather(link, &link->alone))
              != NULL)
    {
        ngx_http_taskgw_redis_op_finish(op, NULL);
    }
}


/*
 * Takes the first op off one of the link's gathering queues (link->txn,
 * the enqueues that share a transaction, or link->alone), or NULL when
 * it is empty.
 */

static ngx_http_taskgw_redis_op_t *
ngx_http_taskgw_redis_ungather(ngx_http_taskgw_link_t *link,
    ngx_queue_t *from)
{
    ngx_queue_t                 *q;
    ngx_http_taskgw_redis_op_t  *op;

    if (ngx_queue_empty(from)) {
        return NULL;
    }

    q = ngx_queue_head(from);
    /* the analyser loses the queue's shape from one call to the next:
     * a removed element is never the head again */
    /* NOLINTNEXTLINE(clang-analyzer-*) */
    ngx_queue_remove(q);

    op = ngx_queue_data(q, ngx_http_taskgw_redis_op_t, queue);
    op->gathered = 0;

    if (from == &link->txn) {
        link->txn_n--;
        link->txn_size -= op->size;
    }

    return op;
}
