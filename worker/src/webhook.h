/*
 * Webhooks (SPEC §8): when a task reaches succeeded, dead or cancelled
 * and has a callback URL, the worker POSTs the event, signed the Standard
 * Webhooks way, retried on webhook.schedule.  Deliveries hold no task
 * slot; their progress is kept in the task hash (webhook_status
 * pending|delivered|failed, webhook_attempts, webhook_last_error).
 */

#ifndef TGW_WEBHOOK_H
#define TGW_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "hreq.h"

typedef struct tgw_worker_s tgw_worker_t;

/* A delivery's life. */
typedef enum {
    TGW_HOOK_LOADING = 0,           /* reading the task for the body */
    TGW_HOOK_SENDING,               /* a POST is out */
    TGW_HOOK_WAITING,               /* waiting for the next try */
    TGW_HOOK_DONE                   /* delivered, failed or stopped */
} tgw_hook_state_t;

typedef struct tgw_hook_s tgw_hook_t;

struct tgw_hook_s {
    tgw_hook_t         *next;       /* the worker's list */
    tgw_worker_t       *w;
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
    uv_timer_t          timer;      /* the next try */
    tgw_hreq_t          req;
    char               *hdr[6];     /* header lines of the current try */
};

/*
 * Starts delivering the event of a task that just reached `status`
 * (finished at finished_ms) to url.  Failures to start are logged.
 */
void tgw_webhook_start(tgw_worker_t *w, const char *task_id,
    const char *status, const char *url, uint64_t finished_ms);

/*
 * Shutdown: stop_waiting ends the deliveries waiting for a retry (they
 * stay "pending"); busy says whether a POST or its task read is still
 * out (the worker gives those its shutdown grace); stop_all aborts them.
 */
void tgw_webhook_stop_waiting(tgw_worker_t *w);
int tgw_webhook_busy(tgw_worker_t *w);
void tgw_webhook_stop_all(tgw_worker_t *w);

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
