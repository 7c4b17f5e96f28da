/*
 * Fetching: reading task entries from the queue streams with the
 * consumer group.  Owns the read connection's work: creating the group on
 * every stream, the smooth weighted pick among queues (each pick reads
 * its streams high, normal, low until it got what it wanted), one
 * blocking read over every stream when all looked empty, and taking up
 * this consumer's own pending entries at start (recovery).  A stream that
 * answers with an error (a key of another type) is logged once and left
 * alone for a growing while, so it slows no other queue.
 *
 * Entries go to the take callback (the processor), or with their tasks
 * already taken to answered; room says how many may be read; taken is
 * called after a batch was taken.
 */

#ifndef TGW_FETCH_H
#define TGW_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "conf.h"
#include "rconn.h"
#include "store.h"
#include "tgw_keys.h"

/* XREADGROUP BLOCK when every queue looked empty. */
#define TGW_BLOCK_MS          2000

/* A read that takes its tasks reads at most half the concurrency, but
 * never fewer than this many entries (so up to 128 slots it fills them
 * all). */
#define TGW_READ_SPLIT_MIN    64

/* A stream that errors is left alone a while: from 1 s, growing up to
 * 60 s with each failure in a row. */
#define TGW_STREAM_BACKOFF_MIN_MS  1000
#define TGW_STREAM_BACKOFF_MAX_MS  60000

/* One stream the worker reads: queue i, priority j is streams[i * 3 + j]. */
typedef struct {
    char               *key;
    uint64_t            retry_at;   /* loop ms: not read before (after an
                                       error); 0 when healthy */
    unsigned            fails;      /* errors in a row */
} tgw_fetch_stream_t;

typedef struct {
    uv_loop_t          *loop;
    tgw_rconn_t        *rd;         /* group creation and stream reads,
                                       which may block TGW_BLOCK_MS */
    tgw_rconn_t        *cmd;        /* recovery reads, CLIENT UNBLOCK */
    tgw_conf_t         *conf;       /* a reference */

    tgw_fetch_stream_t *streams;
    size_t              nstreams;

    int                 groups_ready;   /* groups exist on every stream */
    int                 groups_pending; /* XGROUP CREATE replies awaited */
    int                 fetching;   /* a read is out on rd */
    int                 blocking;   /* ... and it is the blocking one */
    long long           rd_id;      /* CLIENT ID of rd (0: unknown), so a
                                       stop can unblock its read */
    int                 stopping;

    /* Smooth weighted round-robin over conf->queues. */
    int                *wrr;        /* current weight of each queue */
    char               *empty;      /* queue had nothing at last look */
    int                 fq;         /* queue of the pick being read */
    int                 fp;         /* its priority being read (0 high) */
    int                 fwant;      /* entries still wanted by the pick */
    int                 fgot;       /* entries the pick got so far */
    int                 full;       /* a fetch was skipped: no room */
    uint64_t            block_logged; /* loop ms a blocking read error was
                                         last logged */

    /* Recovery of own pending entries (at start and when rd is back). */
    size_t              recover_stream; /* next stream; past the end when
                                           the pass is done */
    char                recover_from[64]; /* its read goes on after this
                                             entry id ("0": the start) */
    int                 recover_count;  /* COUNT of the read that is out */
    int                 recover_busy;

    int               (*room)(void *data);
    tgw_store_entry_cb  take;
    /* When set, a pick's read takes its tasks in the same call
     * (tgw_store_read_take): each entry comes here with the take's
     * answer (NULL: nothing was taken, as an entry for take), 1 when a
     * task was made of it.  The blocking read and recovery go to take;
     * after a lost read_take reply, recovery comes here, with a NULL
     * answer and now_ms the lost read's (its start may have been
     * made). */
    int               (*answered)(void *data, const char *stream,
                                  const char *entry, const char *id,
                                  size_t id_len, redisReply *answer,
                                  uint64_t now_ms);
    uint64_t            read_now;   /* the now (ms) of the read_take out */
    uint64_t            lost_now;   /* that of a read_take whose reply was
                                       lost (0: none): the recovery pass
                                       hands its entries to answered
                                       with it, their takes to be sent
                                       as the same start */
    int                 read_count; /* its COUNT */
    char               *read_keys[TGW_NPRIORITIES]; /* its streams, in
                                       the order read (the pick may
                                       change under it with a new
                                       config) */
    int                 read_prio[TGW_NPRIORITIES]; /* the priority of
                                       each */
    size_t              read_nkeys;
    void              (*taken)(void *data);
    void               *data;
} tgw_fetch_t;

int tgw_fetch_init(tgw_fetch_t *f, uv_loop_t *loop, tgw_rconn_t *rd,
    tgw_rconn_t *cmd, tgw_conf_t *conf);

/* A new config: streams rebuilt, groups created on new ones.  -1 when out
 * of memory (the old config stays). */
int tgw_fetch_set_conf(tgw_fetch_t *f, tgw_conf_t *conf);
void tgw_fetch_free(tgw_fetch_t *f);

/* Reads more if there is room (call when room may have grown). */
void tgw_fetch_more(tgw_fetch_t *f);

/* Every tick: look at every queue again, go on with group creation and
 * recovery. */
void tgw_fetch_tick(tgw_fetch_t *f);

/* The read connection's events. */
void tgw_fetch_rd_ready(tgw_rconn_t *rc);
void tgw_fetch_rd_down(tgw_rconn_t *rc);

/* The command connection is down: its requests are gone. */
void tgw_fetch_cmd_down(tgw_fetch_t *f);

/* Stop reading.  A read that is out is unblocked; what it still brings
 * is taken (and handed back by the processor, which is stopping). */
void tgw_fetch_stop(tgw_fetch_t *f);

/* The health of a stream, shared with the reclaimer (data is f): whether
 * it may be used now, and an error it answered with (logged once, then
 * the stream is left alone a while). */
int tgw_fetch_stream_usable(void *data, const char *key);
void tgw_fetch_stream_error(void *data, const char *key, const char *error);

/* 1 while a read is out (the worker waits for it before closing). */
int tgw_fetch_busy(const tgw_fetch_t *f);

#endif /* TGW_FETCH_H */
