/*
 * Webhooks: when a task reaches succeeded, dead or cancelled and has a
 * callback URL, the script that records the outcome also puts the event
 * into the outbox ({prefix}:outbox and its event hash, see tgw_keys.h and
 * docs/worker-config.md).  Every worker delivers due events from there:
 * it claims them (a lease, so two workers never post one event at the
 * same moment, and an event whose worker died is due again), posts them
 * signed the Standard Webhooks way, and writes the answer back: delivered
 * or failed ends the event; a retryable failure keeps it in the outbox,
 * due again after the next webhook.schedule delay.  Retries therefore
 * survive restarts and Redis outages, and any worker may make them.
 * Deliveries hold no task slot; their progress is kept in the task hash
 * (webhook_status pending|delivered|failed, webhook_attempts,
 * webhook_last_error).
 */

#ifndef TGW_WEBHOOK_H
#define TGW_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "conf.h"
#include "hreq.h"
#include "log.h"
#include "rconn.h"
#include "tgw_trace.h"

/* Deliveries one worker makes at once (claims stop at this many). */
#define TGW_HOOK_MAX            32

/* A claim lasts the try's timeout plus twice redis_timeout (reading the
 * task and writing the answer: a Redis slower than that is dropped and
 * reconnected anyway) plus this margin; a worker that dies holding a
 * claim leaves the event due again after that. */
#define TGW_HOOK_LEASE_EXTRA_MS 1000

/* The longest Retry-After honoured (a receiver cannot park an event for
 * ever). */
#define TGW_HOOK_RETRY_AFTER_MAX_S  (24 * 3600)

/* The most tries an event's hash is believed to count: far beyond any
 * schedule, and far enough below INT_MAX that counting more tries cannot
 * overflow.  A larger count (a hash written by hand, or damaged) is taken
 * as this many: the schedule has run out, and one more failed try fails
 * the event.  A count that is no decimal, or negative, is taken as 0. */
#define TGW_HOOK_ATTEMPTS_MAX   1000000


/* A delivery's life in this worker. */
typedef enum {
    TGW_HOOK_LOADING = 0,           /* reading the task for the body */
    TGW_HOOK_SENDING,               /* the POST is out */
    TGW_HOOK_RECORDING,             /* its answer is being written */
    TGW_HOOK_DONE                   /* freed once nothing is out */
} tgw_hook_state_t;

typedef struct tgw_hook_s tgw_hook_t;

/* The deliveries of a worker. */
typedef struct {
    uv_loop_t          *loop;
    tgw_rconn_t        *rc;         /* the command connection */
    tgw_conf_t         *conf;       /* current config (the worker's) */
    tgw_hook_t         *hooks;
    int                 n;          /* deliveries held */
    int                 claiming;   /* a claim script is out */
    int                 stopping;   /* claim nothing more */
    unsigned            errors;     /* failed claims in a row (logged
                                       once) */
    void              (*on_ended)(void *data);  /* a delivery ended */
    void               *data;
} tgw_webhooks_t;

struct tgw_hook_s {
    tgw_hook_t         *next;       /* the list of ws */
    tgw_webhooks_t     *ws;
    tgw_conf_t         *conf;       /* secrets, schedule, timeout */
    tgw_hook_state_t    state;
    int                 busy;       /* a Redis request for it is out */
    int                 sending;    /* its POST is out (until done) */
    int                 stalled;    /* its last Redis request failed: sent
                                       again on the next tick */
    unsigned            errors;     /* failed writes (logged once per 40) */

    /* The event, as claimed. */
    char               *event_id;   /* the webhook-id */
    char               *claim;      /* the claim's number */
    char               *task_id;
    char               *type;       /* "task.succeeded", ... */
    char               *url;        /* NULL until known */
    char               *body;       /* exactly what is signed and sent */
    size_t              body_len;
    int                 attempts;   /* tries with a known answer, this one
                                       included once answered */
    char                traceparent[TGW_TRACEPARENT_LEN + 1];
                                    /* the task's trace, with its last
                                       run's span as parent ("" unknown:
                                       an event kept by an older worker) */
    tgw_log_trace_t     log_trace;  /* trace_id in its log lines */

    /* The answer to write (RECORDING). */
    const char         *outcome;    /* delivered, failed, pending, drop,
                                       release */
    char               *error;
    uint64_t            due_ms;

    tgw_hreq_t          req;
    char               *hdr[7];     /* header lines of the try */
};

void tgw_webhooks_init(tgw_webhooks_t *ws, uv_loop_t *loop,
    tgw_rconn_t *rc, tgw_conf_t *conf);

/* Claims due events while there is room (every tick, and when a task
 * just reached a final status). */
void tgw_webhooks_poll(tgw_webhooks_t *ws);

/* Sends again the Redis requests that failed, then polls (every tick and
 * when the connection is back). */
void tgw_webhooks_retry(tgw_webhooks_t *ws);

/*
 * Shutdown: stop claims nothing more (the events stay in the outbox for
 * any worker); busy says whether a delivery is still held (a POST, its
 * task read or its answer's write: the worker gives those its shutdown
 * grace); stop_all aborts them (their claims run out and the events are
 * due again).
 */
void tgw_webhooks_stop(tgw_webhooks_t *ws);
int tgw_webhook_busy(tgw_webhooks_t *ws);
void tgw_webhook_stop_all(tgw_webhooks_t *ws);

/* Frees what is left once the loop ended (every handle is closed). */
void tgw_webhooks_free(tgw_webhooks_t *ws);

/*
 * The webhook-signature header value: for each "whsec_<base64>" secret,
 * "v1," + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")), joined by
 * spaces.  NULL when out of memory or a secret does not decode.
 */
char *tgw_webhook_sign(char * const *secrets, size_t nsecrets,
    const char *msg_id, long long timestamp, const char *body,
    size_t body_len);

/*
 * Delay before try number `next` (2 after the first failure): the
 * schedule's entry plus up to 10% jitter (r is random), or Retry-After
 * when the receiver sent one (429/503) and it is longer.  -1 when the
 * schedule is exhausted.
 */
int64_t tgw_webhook_delay_ms(const uint64_t *schedule, size_t n, int next,
    long retry_after_s, uint64_t r);

#endif /* TGW_WEBHOOK_H */
