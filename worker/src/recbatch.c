/*
 * Record steps sent together (see recbatch.h).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recbatch.h"
#include "tgw_keys.h"

/* A call sent: whose callbacks its reply goes to. */
struct tgw_recbatch_call_s {
    tgw_recbatch_call_t *next;      /* on the list of calls that failed */
    int                  n;
    tgw_recbatch_item_t  items[];
};


static void tgw_recbatch_on_check(uv_check_t *h);
static void tgw_recbatch_on_idle(uv_idle_t *h);


void
tgw_recbatch_init(tgw_recbatch_t *b, uv_loop_t *loop, tgw_rconn_t *rc,
    const char *script)
{
    memset(b, 0, sizeof(*b));
    b->loop = loop;
    b->rc = rc;
    b->script = script;
    uv_check_init(loop, &b->check);
    uv_idle_init(loop, &b->idle);
    b->check.data = b;
    b->idle.data = b;
}


static int
tgw_recbatch_grow(tgw_recbatch_t *b, size_t more)
{
    size_t  size;
    char   *p;

    if (b->len + more <= b->size) {
        return 0;
    }
    size = b->size ? b->size : 16384;
    while (size < b->len + more) {
        size *= 2;
    }
    p = realloc(b->buf, size);
    if (p == NULL) {
        return -1;
    }
    b->buf = p;
    b->size = size;
    return 0;
}


/* Appends the decimal digits of v (no snprintf: this runs for every
 * argument of every task). */
static size_t
tgw_recbatch_digits(char *p, size_t v)
{
    char    tmp[24];
    size_t  n = 0, i;

    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (i = 0; i < n; i++) {
        p[i] = tmp[n - 1 - i];
    }
    return n;
}


/* Appends one bulk string ("$<len>\r\n<bytes>\r\n") to buf (room: len +
 * 32); returns the bytes written. */
static size_t
tgw_recbatch_bulk(char *buf, const char *s, size_t len)
{
    size_t n = 0;

    buf[n++] = '$';
    n += tgw_recbatch_digits(buf + n, len);
    buf[n++] = '\r';
    buf[n++] = '\n';
    memcpy(buf + n, s, len);
    n += len;
    buf[n++] = '\r';
    buf[n++] = '\n';
    return n;
}


int
tgw_recbatch_arg(tgw_recbatch_t *b, const char *s, size_t len)
{
    if (tgw_recbatch_grow(b, len + 32) != 0) {
        return -1;
    }
    b->len += tgw_recbatch_bulk(b->buf + b->len, s, len);
    b->argc++;
    return 0;
}


int
tgw_recbatch_num(tgw_recbatch_t *b, size_t v)
{
    char    num[24];
    size_t  n;

    n = tgw_recbatch_digits(num, v);

    return tgw_recbatch_arg(b, num, n);
}


/* Every callback of a call with its element, or with the whole reply
 * when the reply has none for it. */
static void
tgw_recbatch_reply(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_recbatch_call_t *call = data;
    redisReply          *e;
    int                  i;

    for (i = 0; i < call->n; i++) {
        e = r;
        if (r != NULL && r->type == REDIS_REPLY_ARRAY
            && (size_t) i < r->elements)
        {
            e = r->element[i];
        }
        call->items[i].cb(rc, e, call->items[i].data);
    }
    free(call);
}


/* Forgets what was collected (sent or parked). */
static void
tgw_recbatch_empty(tgw_recbatch_t *b)
{
    b->n = 0;
    b->len = 0;
    b->argc = 0;
    if (b->size > 4 * TGW_RECBATCH_MAX_BYTES) {
        /* one huge result passed through: do not keep its buffer */
        free(b->buf);
        b->buf = NULL;
        b->size = 0;
    }
}


/* A call that could not go out while a task was being added: answered
 * (NULL) from the loop's handlers, never inside tgw_recbatch_add(), whose
 * caller is still busy with its own task. */
static void
tgw_recbatch_park(tgw_recbatch_t *b, tgw_recbatch_call_t *call)
{
    call->next = b->failed;
    b->failed = call;
}


/* Answers the parked calls (NULL: their tasks stall and try again). */
static void
tgw_recbatch_unpark(tgw_recbatch_t *b)
{
    tgw_recbatch_call_t *call;

    while ((call = b->failed) != NULL) {
        b->failed = call->next;
        tgw_recbatch_reply(b->rc, NULL, call);
    }
}


/* Sends what is collected as one call; from_add: a failure is parked. */
static void
tgw_recbatch_send(tgw_recbatch_t *b, int from_add)
{
    tgw_recbatch_call_t *call;
    const char          *sha;
    char                *fmt = NULL, head[160];
    size_t               glen;
    int                  i, n, hn;

    n = b->n;
    if (n == 0) {
        return;
    }
    call = malloc(sizeof(*call) + (size_t) n * sizeof(call->items[0]));
    glen = b->head_len;
    sha = tgw_script_sha(b->script);
    hn = snprintf(head, sizeof(head),
                  "*%zu\r\n$7\r\nEVALSHA\r\n$%zu\r\n%s\r\n$1\r\n0\r\n",
                  b->argc + b->head_argc + 3, sha ? strlen(sha) : 0,
                  sha ? sha : "");
    if (call != NULL && sha != NULL && hn > 0 && (size_t) hn < sizeof(head)) {
        fmt = malloc((size_t) hn + glen + b->len);
    }
    if (fmt == NULL) {
        /* no memory: every task fails this step and tries again */
        tgw_recbatch_item_t items[TGW_RECBATCH_MAX];

        if (call != NULL && from_add) {
            call->n = n;
            memcpy(call->items, b->items, (size_t) n * sizeof(items[0]));
            tgw_recbatch_empty(b);
            tgw_recbatch_park(b, call);
            return;
        }
        /* from_add without even the call's memory: the items stay and
         * go out with the next send (tgw_recbatch_add() refuses more
         * than its arrays hold) */
        if (from_add) {
            free(call);
            return;
        }
        memcpy(items, b->items, (size_t) n * sizeof(items[0]));
        free(call);
        tgw_recbatch_empty(b);
        for (i = 0; i < n; i++) {
            items[i].cb(b->rc, NULL, items[i].data);
        }
        return;
    }
    memcpy(fmt, head, (size_t) hn);
    memcpy(fmt + hn, b->head, glen);
    memcpy(fmt + hn + glen, b->buf, b->len);
    call->n = n;
    memcpy(call->items, b->items, (size_t) n * sizeof(call->items[0]));
    b->calls++;
    b->tasks += (uint64_t) n;
    i = tgw_rconn_script_fmt(b->rc, tgw_recbatch_reply, call, b->script,
                             fmt, (size_t) hn + glen + b->len);
    tgw_recbatch_empty(b);
    if (i != 0) {
        /* the connection went down since the tasks were added */
        if (from_add) {
            tgw_recbatch_park(b, call);
        } else {
            tgw_recbatch_reply(b->rc, NULL, call);
        }
    }
}


void
tgw_recbatch_flush(tgw_recbatch_t *b)
{
    tgw_recbatch_unpark(b);
    tgw_recbatch_send(b, 0);
    if (b->n == 0 && b->failed == NULL && b->active) {
        uv_check_stop(&b->check);
        uv_idle_stop(&b->idle);
        b->active = 0;
    }
}


int
tgw_recbatch_begin(tgw_recbatch_t *b, const char *head, size_t len,
    size_t argc)
{
    int same;

    if (b->rc->state != TGW_RCONN_READY) {
        return -1;
    }
    same = b->head != NULL && b->head_len == len
           && memcmp(b->head, head, len) == 0;
    if (b->n > 0
        && (!same                   /* a reload changed it */
            || b->n == TGW_RECBATCH_MAX || b->len >= TGW_RECBATCH_MAX_BYTES))
    {
        tgw_recbatch_send(b, 1);
        if (b->n > 0) {
            return -1;              /* not even memory to send it */
        }
    }
    if (b->n == 0 && !same) {
        free(b->head);
        b->head_len = 0;
        if ((b->head = malloc(len ? len : 1)) == NULL) {
            return -1;
        }
        memcpy(b->head, head, len);
        b->head_len = len;
        b->head_argc = argc;
    }
    b->mark_len = b->len;
    b->mark_argc = b->argc;
    return 0;
}


void
tgw_recbatch_cancel(tgw_recbatch_t *b)
{
    b->len = b->mark_len;
    b->argc = b->mark_argc;
}


int
tgw_recbatch_commit(tgw_recbatch_t *b, tgw_rconn_reply_cb cb, void *data)
{
    b->items[b->n].cb = cb;
    b->items[b->n].data = data;
    b->n++;

    if (!b->active) {
        uv_check_start(&b->check, tgw_recbatch_on_check);
        uv_idle_start(&b->idle, tgw_recbatch_on_idle);
        b->active = 1;
    }
    return 0;
}


int
tgw_recbatch_add(tgw_recbatch_t *b, const char *head, size_t len,
    size_t argc, const char *stream, const char *entry,
    const tgw_plan_t *plan, tgw_rconn_reply_cb cb, void *data)
{
    size_t  m;
    int     i, j;

    for (i = 0, m = 0; i < plan->n; i++) {
        if (plan->cmd[i].overflow) {
            return -1;
        }
        m += 1 + (size_t) plan->cmd[i].argc;
    }
    if (tgw_recbatch_begin(b, head, len, argc) != 0) {
        return -1;
    }
    if (tgw_recbatch_arg(b, stream, strlen(stream)) != 0
        || tgw_recbatch_arg(b, entry, strlen(entry)) != 0
        || tgw_recbatch_num(b, m) != 0)
    {
        goto nomem;
    }
    for (i = 0; i < plan->n; i++) {
        if (tgw_recbatch_num(b, (size_t) plan->cmd[i].argc) != 0) {
            goto nomem;
        }
        for (j = 0; j < plan->cmd[i].argc; j++) {
            if (tgw_recbatch_arg(b, plan->cmd[i].argv[j],
                                 plan->cmd[i].len[j]) != 0)
            {
                goto nomem;
            }
        }
    }
    return tgw_recbatch_commit(b, cb, data);

nomem:
    tgw_recbatch_cancel(b);
    return -1;
}


static void
tgw_recbatch_on_check(uv_check_t *h)
{
    tgw_recbatch_flush(h->data);
}


/* Something was collected outside the loop's reading (a timer, an idle
 * callback): send it before the loop waits. */
static void
tgw_recbatch_on_idle(uv_idle_t *h)
{
    tgw_recbatch_flush(h->data);
}


void
tgw_recbatch_close(tgw_recbatch_t *b)
{
    tgw_recbatch_call_t *call;

    while ((call = b->failed) != NULL) {
        b->failed = call->next;
        free(call);                 /* its tasks are being destroyed */
    }
    tgw_recbatch_empty(b);
    if (b->active) {
        uv_check_stop(&b->check);
        uv_idle_stop(&b->idle);
        b->active = 0;
    }
    free(b->buf);
    b->buf = NULL;
    b->size = 0;
    free(b->head);
    b->head = NULL;
    b->head_len = 0;
    if (!uv_is_closing((uv_handle_t *) &b->check)) {
        uv_close((uv_handle_t *) &b->check, NULL);
    }
    if (!uv_is_closing((uv_handle_t *) &b->idle)) {
        uv_close((uv_handle_t *) &b->idle, NULL);
    }
}
