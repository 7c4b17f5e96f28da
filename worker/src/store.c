/*
 * Every Redis operation of the worker (see store.h).  Key names are
 * composed from tgw_keys.h only; the scripts get the key formats and
 * field names in ARGV and expand them with string.format, so the schema
 * stays in one header.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "tgw_buf.h"
#include "tgw_keys.h"
#include "tgw_lua.h"
#include "tgw_trace.h"

static const char *tgw_prios[TGW_NPRIORITIES] = TGW_PRIORITIES;


/* Appends one bulk string of the protocol to b. */
static void
tgw_store_bulk(tgw_buf_t *b, const char *s, size_t len)
{
    tgw_buf_printf(b, "$%zu\r\n", len);
    tgw_buf_append(b, s, len);
    tgw_buf_append(b, "\r\n", 2);
}


/* Sends a and frees what it allocated. */
static int
tgw_store_send(tgw_rconn_t *rc, tgw_args_t *a, tgw_rconn_reply_cb cb,
    void *data)
{
    int rv = tgw_rconn_cmd(rc, cb, data, a);

    tgw_args_free(a);
    return rv;
}


char *
tgw_store_stream(const tgw_conf_t *c, const char *queue, int prio)
{
    char *k;

    if (prio < 0 || prio >= TGW_NPRIORITIES
        || asprintf(&k, TGW_KEY_QUEUE, c->prefix, queue, tgw_prios[prio])
           < 0)
    {
        return NULL;
    }
    return k;
}

/* ------------------------------------------------------------------------
 * A task's steps
 * ------------------------------------------------------------------------ */

int
tgw_store_load(tgw_rconn_t *rc, const tgw_conf_t *c, const char *id,
    tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_add(&a, "HGETALL");
    tgw_args_keyf(&a, TGW_KEY_TASK, c->prefix, id);
    return tgw_store_send(rc, &a, cb, data);
}


int
tgw_store_task_type(tgw_rconn_t *rc, const tgw_conf_t *c, const char *id,
    tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_add(&a, "TYPE");
    tgw_args_keyf(&a, TGW_KEY_TASK, c->prefix, id);
    return tgw_store_send(rc, &a, cb, data);
}


/*
 * The leading arguments of take_many.lua for conf c, formatted as bulk
 * strings: the group, the default max attempts, and the types not
 * started with the default rule (capped ones, held for the cap; those
 * with their own max_attempts), then the consumer (read_take.lua's
 * first own argument too).  They depend on the config alone, so
 * they are made once per config, at its first take, and kept in it
 * (c->take_head).  Returns the argument count, -1 when out of memory.
 */
static int
tgw_store_take_head(tgw_conf_t *c)
{
    const tgw_handler_conf_t *h;
    tgw_buf_t                 head = { NULL, 0, 0, 0 }, *b = &head;
    size_t                    i, n = 0;
    int                       dmax = tgw_conf_max_attempts(c, NULL);
    char                      num[24];

    if (c->take_head != NULL) {
        return c->take_head_argc;
    }

    for (i = 0; i < c->nhandlers; i++) {
        h = &c->handlers[i];
        n += h->concurrency > 0 || tgw_conf_max_attempts(c, h) != dmax;
    }
    tgw_store_bulk(b, c->group, strlen(c->group));
    tgw_store_bulk(b, num, (size_t) snprintf(num, sizeof(num), "%d", dmax));
    tgw_store_bulk(b, num, (size_t) snprintf(num, sizeof(num), "%zu", 2 * n));
    for (i = 0; i < c->nhandlers; i++) {
        h = &c->handlers[i];
        if (h->concurrency > 0) {
            tgw_store_bulk(b, h->type, strlen(h->type));
            tgw_store_bulk(b, "hold", 4);
        } else if (tgw_conf_max_attempts(c, h) != dmax) {
            tgw_store_bulk(b, h->type, strlen(h->type));
            tgw_store_bulk(b, num,
                           (size_t) snprintf(num, sizeof(num), "%d",
                                             tgw_conf_max_attempts(c, h)));
        }
    }
    tgw_store_bulk(b, c->name, strlen(c->name));
    if (b->failed) {
        tgw_buf_free(b);
        return -1;
    }
    c->take_head = b->data;
    c->take_head_len = b->len;
    c->take_head_argc = (int) (4 + 2 * n);
    return c->take_head_argc;
}


/* Room for a task hash key: the longest prefix and id the worker takes
 * (a longer id is a bad entry, never taken). */
#define TGW_TASK_KEY_MAX  (TGW_PREFIX_MAX + TGW_TRACE_TASK_ID_MAX + 16)


/* The task hash key of id, into buf (room: size); 0 or -1 when it does
 * not fit. */
static int
tgw_store_task_key(const tgw_conf_t *c, const char *id, char *buf,
    size_t size, size_t *len)
{
    int n = snprintf(buf, size, TGW_KEY_TASK, c->prefix, id);

    if (n < 0 || (size_t) n >= size) {
        return -1;
    }
    *len = (size_t) n;
    return 0;
}


int
tgw_store_take(tgw_rconn_t *rc, tgw_conf_t *c, const char *id,
    const char *stream, const char *entry, uint64_t now_ms, uint64_t again_ms,
    tgw_rconn_reply_cb cb, void *data)
{
    tgw_buf_t         cmd = { NULL, 0, 0, 0 };
    const char       *sha = tgw_script_sha(tgw_lua_take_many);
    char              key[TGW_TASK_KEY_MAX], now[24];
    size_t            klen;
    int               argc;

    if (sha == NULL || (argc = tgw_store_take_head(c)) < 0
        || tgw_store_task_key(c, id, key, sizeof(key), &klen) != 0)
    {
        return -1;
    }
    tgw_buf_printf(&cmd, "*%d\r\n", argc + 3 + 5);
    tgw_store_bulk(&cmd, "EVALSHA", 7);
    tgw_store_bulk(&cmd, sha, strlen(sha));
    tgw_store_bulk(&cmd, "0", 1);
    tgw_buf_append(&cmd, c->take_head, c->take_head_len);
    tgw_store_bulk(&cmd, stream, strlen(stream));
    tgw_store_bulk(&cmd, entry, strlen(entry));
    tgw_store_bulk(&cmd, key, klen);
    tgw_store_bulk(&cmd, now, (size_t) snprintf(now, sizeof(now), "%llu",
                                                (unsigned long long) now_ms));
    tgw_store_bulk(&cmd, now, (size_t) snprintf(now, sizeof(now), "%llu",
                                                (unsigned long long) again_ms));
    if (cmd.failed) {
        tgw_buf_free(&cmd);
        return -1;
    }
    /* takes cmd.data in every case */
    return tgw_rconn_script_fmt(rc, cb, data, tgw_lua_take_many, cmd.data,
                                cmd.len);
}


int
tgw_store_take_add(tgw_recbatch_t *b, tgw_conf_t *c, const char *id,
    const char *stream, const char *entry, uint64_t now_ms, uint64_t again_ms,
    tgw_rconn_reply_cb cb, void *data)
{
    char              key[TGW_TASK_KEY_MAX];
    size_t            klen;
    int               argc;

    if ((argc = tgw_store_take_head(c)) < 0
        || tgw_store_task_key(c, id, key, sizeof(key), &klen) != 0
        || tgw_recbatch_begin(b, c->take_head, c->take_head_len,
                              (size_t) argc) != 0)
    {
        return -1;
    }
    if (tgw_recbatch_arg(b, stream, strlen(stream)) != 0
        || tgw_recbatch_arg(b, entry, strlen(entry)) != 0
        || tgw_recbatch_arg(b, key, klen) != 0
        || tgw_recbatch_num(b, (size_t) now_ms) != 0
        || tgw_recbatch_num(b, (size_t) again_ms) != 0)
    {
        tgw_recbatch_cancel(b);
        return -1;
    }
    return tgw_recbatch_commit(b, cb, data);
}


int
tgw_store_read_take(tgw_rconn_t *rc, tgw_conf_t *c, char *const *streams,
    size_t nstreams, int count, uint64_t now_ms, tgw_rconn_reply_cb cb,
    void *data)
{
    tgw_buf_t         cmd = { NULL, 0, 0, 0 };
    const char       *sha = tgw_script_sha(tgw_lua_read_take);
    char              kp[TGW_TASK_KEY_MAX], num[24];
    size_t            klen, i;
    int               argc;

    if (sha == NULL || nstreams == 0 || (argc = tgw_store_take_head(c)) < 0
        || tgw_store_task_key(c, "", kp, sizeof(kp), &klen) != 0)
    {
        return -1;
    }
    tgw_buf_printf(&cmd, "*%zu\r\n", 3 + nstreams + (size_t) argc + 4);
    tgw_store_bulk(&cmd, "EVALSHA", 7);
    tgw_store_bulk(&cmd, sha, strlen(sha));
    tgw_store_bulk(&cmd, num, (size_t) snprintf(num, sizeof(num), "%zu",
                                                nstreams));
    for (i = 0; i < nstreams; i++) {
        tgw_store_bulk(&cmd, streams[i], strlen(streams[i]));
    }
    tgw_buf_append(&cmd, c->take_head, c->take_head_len);
    tgw_store_bulk(&cmd, num, (size_t) snprintf(num, sizeof(num), "%d",
                                                count > 0 ? count : 1));
    tgw_store_bulk(&cmd, kp, klen);
    tgw_store_bulk(&cmd, num, (size_t) snprintf(num, sizeof(num), "%d",
                                                TGW_TRACE_TASK_ID_MAX));
    tgw_store_bulk(&cmd, num, (size_t) snprintf(num, sizeof(num), "%llu",
                                                (unsigned long long) now_ms));
    if (cmd.failed) {
        tgw_buf_free(&cmd);
        return -1;
    }
    /* takes cmd.data in every case */
    return tgw_rconn_script_fmt(rc, cb, data, tgw_lua_read_take, cmd.data,
                                cmd.len);
}


int
tgw_store_start(tgw_rconn_t *rc, const tgw_conf_t *c, const char *id,
    const char *stream, const char *entry, uint64_t now_ms,
    uint64_t again_ms, int max_attempts, tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_script(&a, tgw_lua_start);
    tgw_args_add(&a, "1");
    tgw_args_keyf(&a, TGW_KEY_TASK, c->prefix, id);
    tgw_args_add(&a, TGW_F_CANCEL_REQUESTED);
    tgw_args_add(&a, TGW_F_STATUS);
    tgw_args_add(&a, TGW_ST_RUNNING);
    tgw_args_add(&a, TGW_F_STARTED_AT);
    tgw_args_addu(&a, now_ms);
    tgw_args_add(&a, TGW_F_ATTEMPTS);
    tgw_args_addu(&a, (uint64_t) (max_attempts > 0 ? max_attempts : 1));
    tgw_args_add(&a, stream);
    tgw_args_add(&a, c->group);
    tgw_args_add(&a, entry);
    tgw_args_add(&a, c->name);
    if (again_ms != 0) {
        tgw_args_addu(&a, again_ms);
    }
    return tgw_store_send(rc, &a, cb, data);
}


int
tgw_store_record(tgw_rconn_t *rc, const tgw_conf_t *c, const char *stream,
    const char *entry, const tgw_plan_t *plan, tgw_rconn_reply_cb cb,
    void *data)
{
    tgw_args_t  e;
    int         i, j;

    tgw_args_init(&e);
    tgw_args_script(&e, tgw_lua_record);
    tgw_args_add(&e, "0");
    tgw_args_add(&e, stream);
    tgw_args_add(&e, c->group);
    tgw_args_add(&e, entry);
    for (i = 0; i < plan->n; i++) {
        e.overflow |= plan->cmd[i].overflow;
        tgw_args_addu(&e, (uint64_t) plan->cmd[i].argc);
        for (j = 0; j < plan->cmd[i].argc; j++) {
            tgw_args_addn(&e, plan->cmd[i].argv[j], plan->cmd[i].len[j]);
        }
    }
    return tgw_store_send(rc, &e, cb, data);
}

/*
 * The leading arguments of record_many.lua for conf c, formatted as bulk
 * strings: the group, the key prefix and result_ttl in ms (the last two
 * are what a succeeded task's short block needs to write its record).
 * Made once per config, at its first batched record, and kept in it
 * (c->record_head).  Returns the argument count, -1 when out of memory.
 */
static int
tgw_store_record_head(tgw_conf_t *c)
{
    tgw_buf_t  head = { NULL, 0, 0, 0 }, *b = &head;
    char       num[24];

    if (c->record_head != NULL) {
        return 3;
    }
    tgw_store_bulk(b, c->group, strlen(c->group));
    tgw_store_bulk(b, c->prefix, strlen(c->prefix));
    tgw_store_bulk(b, num, (size_t) snprintf(num, sizeof(num), "%llu",
                                     (unsigned long long) c->result_ttl_ms));
    if (b->failed) {
        tgw_buf_free(b);
        return -1;
    }
    c->record_head = b->data;
    c->record_head_len = b->len;
    return 3;
}


int
tgw_store_record_add(tgw_recbatch_t *b, tgw_conf_t *c, const char *stream,
    const char *entry, const tgw_plan_t *plan, tgw_rconn_reply_cb cb,
    void *data)
{
    int argc = tgw_store_record_head(c);

    if (argc < 0) {
        return -1;
    }
    return tgw_recbatch_add(b, c->record_head, c->record_head_len,
                            (size_t) argc, stream, entry, plan, cb, data);
}


int
tgw_store_succeeded_add(tgw_recbatch_t *b, tgw_conf_t *c,
    const char *stream, const char *entry, const char *id,
    const char *result, const char *result_enc, uint64_t finished_ms,
    int clean, tgw_rconn_reply_cb cb, void *data)
{
    int argc = tgw_store_record_head(c);

    if (argc < 0
        || tgw_recbatch_begin(b, c->record_head, c->record_head_len,
                              (size_t) argc) != 0)
    {
        return -1;
    }
    if (result == NULL) {
        result = "null";
    }
    if (tgw_recbatch_arg(b, stream, strlen(stream)) != 0
        || tgw_recbatch_arg(b, entry, strlen(entry)) != 0
        || tgw_recbatch_arg(b, clean ? "c" : "s", 1) != 0
        || tgw_recbatch_arg(b, id, strlen(id)) != 0
        || tgw_recbatch_num(b, (size_t) finished_ms) != 0
        || tgw_recbatch_arg(b, result, strlen(result)) != 0
        || tgw_recbatch_arg(b, result_enc ? result_enc : "",
                            result_enc ? strlen(result_enc) : 0) != 0)
    {
        tgw_recbatch_cancel(b);
        return -1;
    }
    return tgw_recbatch_commit(b, cb, data);
}

/* ------------------------------------------------------------------------
 * Streams and the consumer group
 * ------------------------------------------------------------------------ */

int
tgw_store_read(tgw_rconn_t *rc, const tgw_conf_t *c, const char *stream,
    const char *from, int count, tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_add(&a, "XREADGROUP");
    tgw_args_add(&a, "GROUP");
    tgw_args_add(&a, c->group);
    tgw_args_add(&a, c->name);
    tgw_args_add(&a, "COUNT");
    tgw_args_addu(&a, (uint64_t) (count > 0 ? count : 1));
    tgw_args_add(&a, "STREAMS");
    tgw_args_add(&a, stream);
    tgw_args_add(&a, from);
    return tgw_store_send(rc, &a, cb, data);
}


int
tgw_store_read_blocking(tgw_rconn_t *rc, const tgw_conf_t *c,
    char * const *streams, size_t n, uint64_t block_ms,
    tgw_rconn_reply_cb cb, void *data)
{
    const char **argv;
    size_t      *len, argc = 9 + 2 * n, i;
    char         block[24];
    int          rv = -1;

    argv = calloc(argc, sizeof(char *));
    len = calloc(argc, sizeof(size_t));
    if (argv == NULL || len == NULL) {
        goto done;
    }
    snprintf(block, sizeof(block), "%llu", (unsigned long long) block_ms);
    argv[0] = "XREADGROUP";
    argv[1] = "GROUP";
    argv[2] = c->group;
    argv[3] = c->name;
    argv[4] = "COUNT";
    argv[5] = "1";
    argv[6] = "BLOCK";
    argv[7] = block;
    argv[8] = "STREAMS";
    for (i = 0; i < n; i++) {
        argv[9 + i] = streams[i];
        argv[9 + n + i] = ">";
    }
    for (i = 0; i < argc; i++) {
        len[i] = strlen(argv[i]);
    }
    /* the reply may take the BLOCK time: not a silent server */
    rc->grace_ms = block_ms;
    rv = tgw_rconn_cmdv(rc, cb, data, (int) argc, argv, len);

done:
    free(argv);
    free(len);
    return rv;
}


int
tgw_store_client_id(tgw_rconn_t *rc, tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_add(&a, "CLIENT");
    tgw_args_add(&a, "ID");
    return tgw_store_send(rc, &a, cb, data);
}


int
tgw_store_client_unblock(tgw_rconn_t *rc, long long id,
    tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_add(&a, "CLIENT");
    tgw_args_add(&a, "UNBLOCK");
    tgw_args_addu(&a, (uint64_t) id);
    return tgw_store_send(rc, &a, cb, data);
}


int
tgw_store_group_create(tgw_rconn_t *rc, const tgw_conf_t *c,
    const char *stream, tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_add(&a, "XGROUP");
    tgw_args_add(&a, "CREATE");
    tgw_args_add(&a, stream);
    tgw_args_add(&a, c->group);
    tgw_args_add(&a, "0");
    tgw_args_add(&a, "MKSTREAM");
    return tgw_store_send(rc, &a, cb, data);
}


int
tgw_store_autoclaim(tgw_rconn_t *rc, const tgw_conf_t *c,
    const char *stream, const char *cursor, int count,
    tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_add(&a, "XAUTOCLAIM");
    tgw_args_add(&a, stream);
    tgw_args_add(&a, c->group);
    tgw_args_add(&a, c->name);
    tgw_args_addu(&a, c->claim_idle_ms);
    tgw_args_add(&a, cursor);
    tgw_args_add(&a, "COUNT");
    tgw_args_addu(&a, (uint64_t) (count > 0 ? count : 1));
    return tgw_store_send(rc, &a, cb, data);
}


int
tgw_store_extend_many(tgw_rconn_t *rc, const tgw_conf_t *c, size_t n,
    const char *const *streams, const char *const *entries,
    tgw_rconn_reply_cb cb, void *data)
{
    tgw_buf_t    b = { NULL, 0, 0, 0 };
    const char  *sha = tgw_script_sha(tgw_lua_extend);
    size_t       i;

    if (sha == NULL || n == 0) {
        return -1;
    }
    tgw_buf_printf(&b, "*%zu\r\n", 5 + 2 * n);
    tgw_store_bulk(&b, "EVALSHA", 7);
    tgw_store_bulk(&b, sha, strlen(sha));
    tgw_store_bulk(&b, "0", 1);
    tgw_store_bulk(&b, c->group, strlen(c->group));
    tgw_store_bulk(&b, c->name, strlen(c->name));
    for (i = 0; i < n; i++) {
        tgw_store_bulk(&b, streams[i], strlen(streams[i]));
        tgw_store_bulk(&b, entries[i], strlen(entries[i]));
    }
    if (b.failed) {
        tgw_buf_free(&b);
        return -1;
    }
    return tgw_rconn_script_fmt(rc, cb, data, tgw_lua_extend, b.data, b.len);
}


int
tgw_store_prune(tgw_rconn_t *rc, const tgw_conf_t *c, const char *stream,
    uint64_t min_idle_ms, const char *own_name, tgw_rconn_reply_cb cb,
    void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_script(&a, tgw_lua_prune);
    tgw_args_add(&a, "1");
    tgw_args_add(&a, stream);
    tgw_args_add(&a, c->group);
    tgw_args_addu(&a, min_idle_ms);
    tgw_args_add(&a, own_name ? own_name : "");
    return tgw_store_send(rc, &a, cb, data);
}

/* ------------------------------------------------------------------------
 * Housekeeping: the scheduled set, the heartbeat, cron ticks, webhooks
 * ------------------------------------------------------------------------ */

int
tgw_store_move(tgw_rconn_t *rc, const tgw_conf_t *c, uint64_t now_ms,
    tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_script(&a, tgw_lua_move);
    tgw_args_add(&a, "1");
    tgw_args_keyf(&a, TGW_KEY_SCHEDULED, c->prefix);
    tgw_args_add(&a, c->prefix);
    tgw_args_addu(&a, now_ms);
    tgw_args_addu(&a, TGW_MOVE_BATCH);
    tgw_args_add(&a, TGW_KEY_TASK);
    tgw_args_add(&a, TGW_KEY_QUEUE);
    tgw_args_add(&a, TGW_F_QUEUE);
    tgw_args_add(&a, TGW_F_PRIORITY);
    tgw_args_add(&a, TGW_F_STATUS);
    tgw_args_add(&a, TGW_ST_QUEUED);
    tgw_args_add(&a, TGW_STREAM_FIELD_ID);
    tgw_args_add(&a, TGW_ST_SUCCEEDED);
    tgw_args_add(&a, TGW_ST_DEAD);
    tgw_args_add(&a, TGW_ST_CANCELLED);
    tgw_args_addu(&a, TGW_MOVE_RETRY_MS);
    tgw_args_add(&a, TGW_F_ERROR);
    tgw_args_add(&a, TGW_F_FINISHED_AT);
    tgw_args_addu(&a, c->result_ttl_ms);
    tgw_args_keyf(&a, TGW_KEY_OUTBOX, c->prefix);
    tgw_args_add(&a, TGW_KEY_EVENT);
    return tgw_store_send(rc, &a, cb, data);
}


int
tgw_store_heartbeat(tgw_rconn_t *rc, const tgw_conf_t *c, const char *text,
    uint64_t ttl_ms, tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_add(&a, "SET");
    tgw_args_keyf(&a, TGW_KEY_WORKER, c->prefix, c->name);
    tgw_args_add(&a, text);
    tgw_args_add(&a, "PX");
    tgw_args_addu(&a, ttl_ms);
    return tgw_store_send(rc, &a, cb, data);
}


int
tgw_store_result_ttl(tgw_rconn_t *rc, const tgw_conf_t *c,
    tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_add(&a, "SET");
    tgw_args_keyf(&a, TGW_KEY_RESULT_TTL, c->prefix);
    tgw_args_addu(&a, c->result_ttl_ms);
    return tgw_store_send(rc, &a, cb, data);
}


int
tgw_store_worker_gone(tgw_rconn_t *rc, const tgw_conf_t *c,
    tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_add(&a, "DEL");
    tgw_args_keyf(&a, TGW_KEY_WORKER, c->prefix, c->name);
    return tgw_store_send(rc, &a, cb, data);
}


int
tgw_store_cron_fire(tgw_rconn_t *rc, const tgw_conf_t *c,
    const tgw_schedule_conf_t *s, uint64_t minute, const char *id,
    uint64_t now_ms, tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;
    char       tick[24], tp[TGW_TRACEPARENT_LEN + 1];

    snprintf(tick, sizeof(tick), "%llu", (unsigned long long) minute * 60);

    /* the enqueue script, with the tick's guard as fourth key */
    tgw_args_init(&a);
    tgw_args_script(&a, tgw_lua_create);
    tgw_args_add(&a, "4");
    tgw_args_keyf(&a, TGW_KEY_TASK, c->prefix, id);
    tgw_args_keyf(&a, TGW_KEY_QUEUE, c->prefix, s->queue, s->priority);
    tgw_args_keyf(&a, TGW_KEY_SCHEDULED, c->prefix);
    tgw_args_keyf(&a, TGW_KEY_CRON, c->prefix, s->name, tick);
    tgw_args_add(&a, id);
    tgw_args_add(&a, s->queue);
    tgw_args_add(&a, s->type);
    tgw_args_add(&a, s->priority);
    tgw_args_add(&a, s->payload);
    tgw_args_add(&a, "application/json");
    tgw_args_add(&a, "cron");                   /* owner */
    tgw_args_keyf(&a, "cron:%s:%s", s->name, tick);  /* request_id */
    tgw_args_add(&a, "");                       /* client_addr */
    tgw_args_add(&a, "");                       /* callback_url */
    tgw_args_addu(&a, now_ms);                  /* created_at */
    tgw_args_add(&a, "");                       /* run_at: now */
    tgw_args_addu(&a, TGW_CRON_GUARD_MS);
    /* a tick starts a trace of its own; left out if the kernel has no
     * randomness for it (the worker then derives one from the id) */
    tgw_args_add(&a, tgw_trace_new(tp) == 0 ? tp : "");
    return tgw_store_send(rc, &a, cb, data);
}


int
tgw_store_outbox_claim(tgw_rconn_t *rc, const tgw_conf_t *c,
    uint64_t now_ms, uint64_t lease_ms, int batch, tgw_rconn_reply_cb cb,
    void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_script(&a, tgw_lua_outbox_claim);
    tgw_args_add(&a, "1");
    tgw_args_keyf(&a, TGW_KEY_OUTBOX, c->prefix);
    tgw_args_addu(&a, now_ms);
    tgw_args_addu(&a, lease_ms);
    tgw_args_addu(&a, (uint64_t) (batch > 0 ? batch : 1));
    tgw_args_add(&a, c->prefix);
    tgw_args_add(&a, TGW_KEY_EVENT);
    return tgw_store_send(rc, &a, cb, data);
}


int
tgw_store_outbox_done(tgw_rconn_t *rc, const tgw_conf_t *c,
    const tgw_outbox_done_t *d, tgw_rconn_reply_cb cb, void *data)
{
    tgw_args_t a;

    tgw_args_init(&a);
    tgw_args_script(&a, tgw_lua_outbox_done);
    tgw_args_add(&a, "3");
    tgw_args_keyf(&a, TGW_KEY_OUTBOX, c->prefix);
    tgw_args_keyf(&a, TGW_KEY_EVENT, c->prefix, d->event_id);
    tgw_args_keyf(&a, TGW_KEY_TASK, c->prefix, d->task_id);
    tgw_args_add(&a, d->event_id);
    tgw_args_add(&a, d->claim);
    tgw_args_add(&a, d->outcome);
    tgw_args_addu(&a, (uint64_t) (d->attempts > 0 ? d->attempts : 0));
    tgw_args_add(&a, d->error ? d->error : "");
    tgw_args_addu(&a, d->due_ms);
    tgw_args_addn(&a, d->body ? d->body : "", d->body ? d->body_len : 0);
    tgw_args_add(&a, d->url ? d->url : "");
    tgw_args_add(&a, d->traceparent ? d->traceparent : "");
    return tgw_store_send(rc, &a, cb, data);
}

/* ------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

int
tgw_store_entries(const char *stream, const redisReply *entries,
    tgw_store_entry_cb cb, void *data)
{
    redisReply *e, *f;
    size_t      i, j;
    const char *id;
    size_t      id_len;
    int         n = 0;

    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY) {
        return 0;
    }
    for (i = 0; i < entries->elements; i++) {
        e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2
            || e->element[0]->type != REDIS_REPLY_STRING)
        {
            continue;
        }
        id = NULL;
        id_len = 0;
        f = e->element[1];
        if (f->type == REDIS_REPLY_ARRAY) {
            for (j = 0; j + 1 < f->elements; j += 2) {
                if (f->element[j]->type == REDIS_REPLY_STRING
                    && strcmp(f->element[j]->str, TGW_STREAM_FIELD_ID) == 0
                    && f->element[j + 1]->type == REDIS_REPLY_STRING)
                {
                    id = f->element[j + 1]->str;
                    id_len = f->element[j + 1]->len;
                }
            }
        }
        n += cb(data, stream, e->element[0]->str, id, id_len);
    }
    return n;
}


int
tgw_store_read_entries(const redisReply *r, tgw_store_entry_cb cb,
    void *data)
{
    size_t i;
    int    n = 0;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        return 0;                   /* nil: nothing new */
    }
    for (i = 0; i < r->elements; i++) {
        redisReply *s = r->element[i];

        if (s->type == REDIS_REPLY_ARRAY && s->elements == 2
            && s->element[0]->type == REDIS_REPLY_STRING)
        {
            n += tgw_store_entries(s->element[0]->str, s->element[1], cb,
                                   data);
        }
    }
    return n;
}


int
tgw_reply_failed(const redisReply *r)
{
    return r == NULL || r->type == REDIS_REPLY_ERROR;
}


const char *
tgw_reply_error(const redisReply *r)
{
    return r == NULL ? "connection lost"
                     : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected";
}
