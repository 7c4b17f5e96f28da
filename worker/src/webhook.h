/*
 * Webhooks: when a task reaches succeeded, dead or cancelled
 * and has a callback URL, the worker POSTs the event, signed the Standard
 * Webhooks way, retried on webhook.schedule.  Deliveries hold no task
 * slot; their progress is kept in the task hash (webhook_status
 * pending|delivered|failed, webhook_attempts, webhook_last_error).
 */

#ifndef TGW_WEBHOOK_H
#define TGW_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "conf.h"
#include "hreq.h"
#include "rconn.h"


/* A delivery's life. */
typedef enum {
    TGW_HOOK_LOADING = 0,           /* reading the task for the body */
    TGW_HOOK_SENDING,               /* a POST is out */
    TGW_HOOK_WAITING,               /* waiting for the next try */
    TGW_HOOK_DONE                   /* delivered, failed or stopped */
} tgw_hook_state_t;

typedef struct tgw_hook_s tgw_hook_t;

/* The deliveries of a worker. */
typedef struct {
    uv_loop_t          *loop;
    tgw_rconn_t        *rc;         /* the command connection */
    tgw_hook_t         *hooks;
    int                 stopping;   /* no new tries: a failure stays
                                       "pending" in the hash */
    void              (*on_ended)(void *data);  /* a delivery ended */
    void               *data;
} tgw_webhooks_t;

struct tgw_hook_s {
    tgw_hook_t         *next;       /* the list of ws */
    tgw_webhooks_t     *ws;
    tgw_conf_t         *conf;       /* secrets, schedule, timeout */
    tgw_hook_state_t    state;
    char               *task_id;
    char               *url;
    char               *event;      /* "task.succeeded", ... */
    char               *msg_id;     /* webhook-id: one per event, the same
                                       on every try of it */
    char               *body;       /* exactly what is signed and sent */
    size_t              body_len;
    int                 attempts;   /* tries made */
    int                 redis_busy; /* an HGETALL for it is out */
    int                 timer_open;
    const char         *record;     /* a webhook_status write that has not
                                       landed yet (NULL: none) */
    char               *record_error; /* its webhook_last_error */
    int                 record_busy;  /* the write is out */
    uv_timer_t          timer;      /* the next try */
    tgw_hreq_t          req;
    char               *hdr[6];     /* header lines of the current try */
};

/*
 * Starts delivering the event of a task that just reached `status`
 * (finished at finished_ms) to url.  Failures to start are logged.
 */
void tgw_webhooks_init(tgw_webhooks_t *ws, uv_loop_t *loop,
    tgw_rconn_t *rc);
void tgw_webhook_start(tgw_webhooks_t *ws, tgw_conf_t *conf,
    const char *task_id, const char *status, const char *url,
    uint64_t finished_ms);

/* Sends again the status writes that did not land (every tick). */
void tgw_webhooks_retry(tgw_webhooks_t *ws);

/*
 * Shutdown: stop_waiting ends the deliveries waiting for a retry (they
 * stay "pending"); busy says whether a POST, its task read or a status
 * write is still out or owed (the worker gives those its shutdown
 * grace); stop_all aborts them.
 */
void tgw_webhook_stop_waiting(tgw_webhooks_t *ws);
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
