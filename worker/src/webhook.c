/*
 * Webhook deliveries (webhook.h): events claimed from the outbox, the
 * body from the task hash (kept in the event for the retries), Standard
 * Webhooks signature, POST through hreq, the answer written back under
 * the claim, retries on webhook.schedule through the outbox.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"
#include "task.h"
#include "tgw_task_json.h"
#include "tgw_buf.h"
#include "tgw_clock.h"
#include "tgw_text.h"
#include "tgw_uuid.h"
#include "tgw_keys.h"
#include "tgw_result.h"
#include "webhook.h"
#include "retry.h"
#include "store.h"

static void tgw_hook_send(tgw_hook_t *h);
static void tgw_hook_step(tgw_hook_t *h);
static void tgw_hook_answer(tgw_hook_t *h, const char *outcome,
    const char *error, uint64_t due_ms);


/* ------------------------------------------------------------------------
 * Signing and timing (pure)
 * ------------------------------------------------------------------------ */

/* Standard base64 decode; returns the length or -1. */
static int
tgw_base64_decode(const char *in, unsigned char *out, size_t size)
{
    unsigned int acc = 0;
    int          bits = 0;
    size_t       n = 0;
    const char  *p;
    int          v;

    for (p = in; *p && *p != '='; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            v = *p - 'A';
        } else if (*p >= 'a' && *p <= 'z') {
            v = *p - 'a' + 26;
        } else if (*p >= '0' && *p <= '9') {
            v = *p - '0' + 52;
        } else if (*p == '+') {
            v = 62;
        } else if (*p == '/') {
            v = 63;
        } else {
            return -1;
        }
        acc = (acc << 6) | (unsigned int) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == size) {
                return -1;
            }
            out[n++] = (unsigned char) (acc >> bits);
        }
    }
    return (int) n;
}


char *
tgw_webhook_sign(char * const *secrets, size_t nsecrets, const char *msg_id,
    long long timestamp, const char *body, size_t body_len)
{
    unsigned char  key[256], mac[EVP_MAX_MD_SIZE];
    unsigned int   maclen;
    char          *signed_text, *b64, *out = NULL, *grown;
    size_t         i, prefix, outlen = 0;
    int            klen, n;

    n = asprintf(&signed_text, "%s.%lld.", msg_id, timestamp);
    if (n < 0) {
        return NULL;
    }
    prefix = (size_t) n;
    grown = realloc(signed_text, prefix + body_len + 1);
    if (grown == NULL) {
        free(signed_text);
        return NULL;
    }
    signed_text = grown;
    memcpy(signed_text + prefix, body, body_len);

    for (i = 0; i < nsecrets; i++) {
        if (strncmp(secrets[i], "whsec_", 6) != 0
            || (klen = tgw_base64_decode(secrets[i] + 6, key, sizeof(key)))
               <= 0
            || HMAC(EVP_sha256(), key, klen,
                    (const unsigned char *) signed_text, prefix + body_len,
                    mac, &maclen) == NULL
            || (b64 = tgw_base64_encode(mac, maclen)) == NULL)
        {
            free(out);
            out = NULL;
            break;
        }
        grown = realloc(out, outlen + strlen(b64) + 5);
        if (grown == NULL) {
            free(b64);
            free(out);
            out = NULL;
            break;
        }
        out = grown;
        outlen += (size_t) sprintf(out + outlen, "%sv1,%s", i ? " " : "",
                                   b64);
        free(b64);
    }
    free(signed_text);
    return out;
}


int64_t
tgw_webhook_delay_ms(const uint64_t *schedule, size_t n, int next,
    long retry_after_s, uint64_t r)
{
    uint64_t d;

    if (next < 2 || (size_t) (next - 2) >= n) {
        return -1;
    }
    d = schedule[next - 2];
    d += d >= 10 ? r % (d / 10 + 1) : 0;
    if (retry_after_s > 0 && (uint64_t) retry_after_s * 1000 > d) {
        d = (uint64_t) retry_after_s * 1000;
    }
    return (int64_t) d;
}

/* ------------------------------------------------------------------------
 * Deliveries
 * ------------------------------------------------------------------------ */

void
tgw_webhooks_init(tgw_webhooks_t *ws, uv_loop_t *loop, tgw_rconn_t *rc,
    tgw_conf_t *conf)
{
    memset(ws, 0, sizeof(*ws));
    ws->loop = loop;
    ws->rc = rc;
    ws->conf = conf;
}


static void
tgw_hook_free(tgw_hook_t *h)
{
    tgw_webhooks_t  *ws = h->ws;
    tgw_hook_t     **pp;
    size_t           i;

    for (pp = &ws->hooks; *pp; pp = &(*pp)->next) {
        if (*pp == h) {
            *pp = h->next;
            ws->n--;
            break;
        }
    }
    for (i = 0; i < sizeof(h->hdr) / sizeof(h->hdr[0]); i++) {
        free(h->hdr[i]);
    }
    tgw_log_trace_unbind(&h->log_trace);
    free(h->event_id);
    free(h->claim);
    free(h->task_id);
    free(h->type);
    free(h->url);
    free(h->body);
    free(h->error);
    tgw_conf_unref(h->conf);
    free(h);
}


/* The delivery is over for this worker: freed once nothing is out. */
static void
tgw_hook_end(tgw_hook_t *h)
{
    tgw_webhooks_t *ws = h->ws;

    h->state = TGW_HOOK_DONE;
    if (h->busy || h->sending) {
        return;                     /* freed when that comes back */
    }
    tgw_hook_free(h);
    if (ws->on_ended) {
        ws->on_ended(ws->data);
    }
}


int
tgw_webhook_busy(tgw_webhooks_t *ws)
{
    return ws->hooks != NULL;
}


void
tgw_webhooks_stop(tgw_webhooks_t *ws)
{
    ws->stopping = 1;
}


/* Common entry of the Redis callbacks: NULL when the delivery is over. */
static tgw_hook_t *
tgw_hook_reply(tgw_hook_t *h, redisReply *r, const char *step)
{
    h->busy = 0;
    if (h->state == TGW_HOOK_DONE) {
        tgw_hook_end(h);
        return NULL;
    }
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        /* sent again every tick; said once, then every 40th time */
        if (h->errors++ % 40 == 0) {
            tgw_log(TGW_LOG_WARN, "webhook_record_failed", "task_id",
                    h->task_id, "event_id", h->event_id, "step", step,
                    "error", r ? r->str : "connection lost", NULL);
        }
        h->stalled = 1;
        return NULL;
    }
    h->errors = 0;
    return h;
}


static void
tgw_hook_answered(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_hook_t *h = data;

    if ((h = tgw_hook_reply(h, r, "answer")) == NULL) {
        return;
    }
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
        /* another worker claimed the event since (this claim's lease ran
         * out): its answer counts, not this one */
        tgw_log(TGW_LOG_INFO, "webhook_claim_lost", "task_id", h->task_id,
                "event_id", h->event_id, NULL);
    }
    tgw_hook_end(h);
}


/* Writes the answer of the delivery (see outbox_done.lua), until it
 * lands or the worker stops. */
static void
tgw_hook_answer(tgw_hook_t *h, const char *outcome, const char *error,
    uint64_t due_ms)
{
    h->outcome = outcome;
    free(h->error);
    h->error = error ? strdup(error) : NULL;
    h->due_ms = due_ms;
    h->state = TGW_HOOK_RECORDING;
    tgw_hook_step(h);
}


/* The event as claimed is no event (a hostile or broken hash): drop it. */
static int
tgw_hook_type_valid(const char *type)
{
    return strcmp(type, "task." TGW_ST_SUCCEEDED) == 0
           || strcmp(type, "task." TGW_ST_DEAD) == 0
           || strcmp(type, "task." TGW_ST_CANCELLED) == 0;
}


/* Where the event goes when it was recorded without a URL (the cancel
 * script cannot know the worker's): the task's callback_url, else its
 * handler's webhook, else webhook.url. */
static const char *
tgw_hook_find_url(const tgw_conf_t *c, const char *callback_url,
    const char *type)
{
    const tgw_handler_conf_t *hc;

    if (callback_url && *callback_url) {
        return callback_url;
    }
    hc = type ? tgw_conf_handler(c, type) : NULL;
    if (hc && hc->webhook) {
        return hc->webhook;
    }
    return c->webhook_url;
}


/* The task hash arrived: find the URL, build the event body, then send. */
static void
tgw_hook_loaded(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_hook_t      *h = data;
    tgw_field_t *f = NULL;
    tgw_buf_t    b;
    const char      *url, *cb = NULL, *type = NULL;
    char             ts[40], tp[TGW_TRACEPARENT_LEN + 1];
    size_t           i, n = 0;
    int              attempts = 0;
    uint64_t         started = 0;
    redisReply      *stored = NULL;

    if ((h = tgw_hook_reply(h, r, "load")) == NULL) {
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        tgw_log(TGW_LOG_WARN, "webhook_failed", "task_id", h->task_id,
                "event", h->type, "error", "the task is gone", NULL);
        tgw_hook_answer(h, "drop", NULL, 0);
        return;
    }

    f = calloc(r->elements / 2 + 1, sizeof(*f));
    if (f == NULL) {
        h->stalled = 1;
        return;
    }
    for (i = 0; i + 1 < r->elements; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING
            || r->element[i + 1]->type != REDIS_REPLY_STRING)
        {
            continue;
        }
        f[n].name = r->element[i]->str;
        f[n].name_len = r->element[i]->len;
        f[n].value = r->element[i + 1]->str;
        f[n].value_len = r->element[i + 1]->len;
        if (strcmp(f[n].name, TGW_F_CALLBACK_URL) == 0) {
            cb = f[n].value;
        } else if (strcmp(f[n].name, TGW_F_TYPE) == 0) {
            type = f[n].value;
        } else if (strcmp(f[n].name, TGW_F_TRACEPARENT) == 0) {
            stored = r->element[i + 1];
        } else if (strcmp(f[n].name, TGW_F_ATTEMPTS) == 0) {
            int64_t a;

            /* written by the start script, at most 10^9 */
            if (tgw_parse_int64(f[n].value, f[n].value_len, &a) == 0
                && a > 0)
            {
                attempts = a > 1000000000 ? 1000000000 : (int) a;
            }
        } else if (strcmp(f[n].name, TGW_F_STARTED_AT) == 0) {
            started = strtoull(f[n].value, NULL, 10);
        }
        n++;
    }

    /* The event carries the task's trace on, as a child of its last run
     * (the span its handler's request had, see tgw_trace_run); a task
     * cancelled before it ran has attempt 0 and no start. */
    tgw_trace_of_task(stored ? stored->str : NULL, stored ? stored->len : 0,
                      h->task_id, tp);
    tgw_trace_run(tp, h->task_id, attempts < 0 ? 0 : attempts, started,
                  h->traceparent);
    tgw_log_trace_bind(&h->log_trace, h->task_id,
                       h->traceparent + TGW_TRACE_ID_OFF);

    if (h->url == NULL) {
        url = tgw_hook_find_url(h->conf, cb, type);
        if (url == NULL) {
            /* a cancelled task with no callback anywhere */
            free(f);
            tgw_hook_answer(h, "drop", NULL, 0);
            return;
        }
        if ((h->url = strdup(url)) == NULL) {
            free(f);
            h->stalled = 1;
            return;
        }
    }

    memset(&b, 0, sizeof(b));
    tgw_clock_rfc3339(tgw_clock_ms(), ts, sizeof(ts));
    tgw_buf_printf(&b, "{\"type\":\"%s\",\"timestamp\":\"%s\",\"data\":",
                       h->type, ts);
    if (tgw_task_json(f, n, &b) != 0 || tgw_buf_puts(&b, "}") != 0
        || b.failed)
    {
        free(f);
        tgw_buf_free(&b);
        h->stalled = 1;
        return;
    }
    free(f);
    h->body = b.data;               /* handed over */
    h->body_len = b.len;
    tgw_hook_send(h);
}


/* Sends the Redis request of the delivery's state. */
static void
tgw_hook_step(tgw_hook_t *h)
{
    tgw_outbox_done_t d;
    int               rv;

    h->stalled = 0;
    if (h->busy) {
        return;
    }
    switch (h->state) {
    case TGW_HOOK_LOADING:
        rv = tgw_store_load(h->ws->rc, h->conf, h->task_id, tgw_hook_loaded,
                            h);
        break;
    case TGW_HOOK_RECORDING:
        memset(&d, 0, sizeof(d));
        d.event_id = h->event_id;
        d.claim = h->claim;
        d.task_id = h->task_id;
        d.outcome = h->outcome;
        d.attempts = h->attempts;
        d.error = h->error;
        d.due_ms = h->due_ms;
        d.body = h->body;
        d.body_len = h->body_len;
        d.url = h->url;
        d.traceparent = h->traceparent;
        rv = tgw_store_outbox_done(h->ws->rc, h->conf, &d,
                                   tgw_hook_answered, h);
        break;
    default:
        return;
    }
    if (rv != 0) {
        h->stalled = 1;
        return;
    }
    h->busy = 1;
}


/*
 * The rule: a 2xx is delivered; 410 Gone has failed at once; anything
 * else (a redirect, another status, a refused address, a transport error
 * or the timeout) is tried again after the next webhook.schedule delay,
 * or the receiver's Retry-After on 429/503 when that is longer, until
 * the schedule runs out: then it has failed.
 */
static void
tgw_hook_sent(tgw_hreq_t *r)
{
    tgw_hook_t *h = r->data;
    char        err[300], att[16], delay_s[32];
    long        ra;
    int64_t     delay;

    h->sending = 0;
    if (r->aborted || h->state == TGW_HOOK_DONE) {
        /* the worker stops: the claim runs out, the event is due again */
        tgw_hreq_cleanup(r);
        tgw_hook_end(h);
        return;
    }
    h->attempts++;
    snprintf(att, sizeof(att), "%d", h->attempts);
    if (r->rc == CURLE_OK && r->status >= 200 && r->status <= 299) {
        tgw_log(TGW_LOG_INFO, "webhook_delivered", "task_id", h->task_id,
                "event", h->type, "event_id", h->event_id, "attempt", att,
                NULL);
        tgw_hreq_cleanup(r);
        tgw_hook_answer(h, TGW_WH_DELIVERED, NULL, 0);
        return;
    }
    if (r->rc == CURLE_OK) {
        snprintf(err, sizeof(err), "HTTP %ld%s", r->status,
                 r->status >= 300 && r->status <= 399
                 ? " (redirects are not followed)" : "");
    } else {
        snprintf(err, sizeof(err), "%s", tgw_hreq_error(r));
    }
    ra = (r->status == 429 || r->status == 503) ? r->retry_after : -1;
    if (ra > TGW_HOOK_RETRY_AFTER_MAX_S) {
        ra = TGW_HOOK_RETRY_AFTER_MAX_S;
    }
    delay = -1;
    if (!(r->rc == CURLE_OK && r->status == 410)) {
        delay = tgw_webhook_delay_ms(h->conf->webhook_schedule,
                                     h->conf->webhook_nschedule,
                                     h->attempts + 1, ra, tgw_random64());
    }
    tgw_hreq_cleanup(r);

    if (delay < 0) {
        tgw_log(TGW_LOG_WARN, "webhook_failed", "task_id", h->task_id,
                "event", h->type, "event_id", h->event_id, "attempt", att,
                "error", err, NULL);
        tgw_hook_answer(h, TGW_WH_FAILED, err, 0);
        return;
    }
    snprintf(delay_s, sizeof(delay_s), "%lldms", (long long) delay);
    tgw_log(TGW_LOG_INFO, "webhook_retry", "task_id", h->task_id,
            "event", h->type, "event_id", h->event_id, "attempt", att,
            "error", err, "retry_in", delay_s, NULL);
    tgw_hook_answer(h, TGW_WH_PENDING, err, tgw_now_ms() + (uint64_t) delay);
}


static void
tgw_hook_send(tgw_hook_t *h)
{
    char       *sig;
    long long   ts = (long long) time(NULL);
    size_t      i;
    int         n = 0;

    for (i = 0; i < sizeof(h->hdr) / sizeof(h->hdr[0]); i++) {
        free(h->hdr[i]);
        h->hdr[i] = NULL;
    }
    if (h->conf->webhook_nsecrets > 0) {
        sig = tgw_webhook_sign(h->conf->webhook_secrets,
                               h->conf->webhook_nsecrets, h->event_id, ts,
                               h->body, h->body_len);
        if (sig == NULL || asprintf(&h->hdr[n], "webhook-signature: %s", sig)
                           < 0)
        {
            /* a secret that does not decode is refused by the config
             * check: this is out of memory; the claim runs out and the
             * event is tried again */
            free(sig);
            h->hdr[n] = NULL;
            tgw_log(TGW_LOG_ERROR, "webhook_failed", "task_id", h->task_id,
                    "error", "cannot sign", NULL);
            tgw_hook_end(h);
            return;
        }
        n++;
        free(sig);
    }
    if (asprintf(&h->hdr[n++], "webhook-id: %s", h->event_id) < 0
        || asprintf(&h->hdr[n++], "webhook-timestamp: %lld", ts) < 0
        || (h->hdr[n++] = strdup("Content-Type: application/json")) == NULL
        || (h->traceparent[0]
            && asprintf(&h->hdr[n++], "traceparent: %s", h->traceparent)
               < 0))
    {
        tgw_hook_end(h);            /* the claim runs out: tried again */
        return;
    }

    memset(&h->req, 0, sizeof(h->req));
    h->req.loop = h->ws->loop;
    h->req.url = h->url;
    h->req.headers = (const char * const *) h->hdr;
    h->req.body = h->body;
    h->req.body_len = h->body_len;
    h->req.timeout_ms = h->conf->webhook_timeout_ms;
    h->req.max_body = 1024;
    h->req.public_only = !h->conf->webhook_allow_private;
    h->req.done = tgw_hook_sent;
    h->req.data = h;
    h->state = TGW_HOOK_SENDING;
    h->sending = 1;
    if (tgw_hreq_start(&h->req) != 0) {
        h->sending = 0;
        tgw_hook_end(h);
    }
}


static char *
tgw_hook_str(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? strndup(r->str, r->len) : NULL;
}


/* One claimed event: {id, claim, task id, type, url, attempts, body,
 * traceparent}. */
static void
tgw_hook_take(tgw_webhooks_t *ws, const redisReply *e)
{
    tgw_hook_t *h;
    size_t      i;
    int64_t     n;

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 8) {
        return;
    }
    for (i = 0; i < 8; i++) {
        if (e->element[i]->type != REDIS_REPLY_STRING) {
            return;
        }
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return;                     /* the claim runs out: tried again */
    }
    h->ws = ws;
    h->conf = tgw_conf_ref(ws->conf);
    h->event_id = tgw_hook_str(e->element[0]);
    h->claim = tgw_hook_str(e->element[1]);
    h->task_id = tgw_hook_str(e->element[2]);
    h->type = tgw_hook_str(e->element[3]);
    if (e->element[4]->len > 0) {
        h->url = tgw_hook_str(e->element[4]);
    }
    if (tgw_parse_int64(e->element[5]->str, e->element[5]->len, &n) != 0
        || n < 0)
    {
        n = 0;
    } else if (n > TGW_HOOK_ATTEMPTS_MAX) {
        n = TGW_HOOK_ATTEMPTS_MAX;
    }
    h->attempts = (int) n;
    if (e->element[6]->len > 0) {
        h->body = tgw_hook_str(e->element[6]);
        h->body_len = e->element[6]->len;
    }
    if (tgw_traceparent_parse((const unsigned char *) e->element[7]->str,
                              e->element[7]->len,
                              (unsigned char *) h->traceparent) == 0)
    {
        h->traceparent[TGW_TRACEPARENT_LEN] = '\0';
    } else {
        h->traceparent[0] = '\0';
    }
    h->next = ws->hooks;
    ws->hooks = h;
    ws->n++;
    if (h->event_id == NULL || h->claim == NULL || h->task_id == NULL
        || h->type == NULL || (e->element[4]->len && h->url == NULL)
        || (e->element[6]->len && h->body == NULL))
    {
        h->state = TGW_HOOK_DONE;
        tgw_hook_end(h);
        return;
    }
    if (!tgw_hook_type_valid(h->type) || *h->task_id == '\0'
        || strlen(h->task_id) > TGW_TASK_ID_MAX)
    {
        tgw_log(TGW_LOG_WARN, "webhook_failed", "event_id", h->event_id,
                "error", "not a webhook event", NULL);
        tgw_hook_answer(h, "drop", NULL, 0);
        return;
    }
    if (h->body != NULL && h->url != NULL) {
        if (h->traceparent[0]) {
            tgw_log_trace_bind(&h->log_trace, h->task_id,
                               h->traceparent + TGW_TRACE_ID_OFF);
        }
        tgw_hook_send(h);           /* a retry: the same body again */
        return;
    }
    free(h->body);                  /* a first try: built from the task */
    h->body = NULL;
    h->body_len = 0;
    h->state = TGW_HOOK_LOADING;
    tgw_hook_step(h);
}


static void
tgw_webhooks_claimed(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_webhooks_t *ws = data;
    size_t          i;

    ws->claiming = 0;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        if (r != NULL && ws->errors++ % 40 == 0) {
            tgw_log(TGW_LOG_WARN, "redis_error", "step", "outbox_claim",
                    "error", r->type == REDIS_REPLY_ERROR ? r->str
                                                          : "unexpected",
                    NULL);
        }
        return;
    }
    ws->errors = 0;
    for (i = 0; i < r->elements; i++) {
        tgw_hook_take(ws, r->element[i]);
    }
    if (r->elements > 0) {
        tgw_webhooks_poll(ws);      /* more may be due */
    }
}


void
tgw_webhooks_poll(tgw_webhooks_t *ws)
{
    uint64_t lease;

    if (ws->stopping || ws->claiming || ws->n >= TGW_HOOK_MAX
        || ws->rc->state != TGW_RCONN_READY)
    {
        return;
    }
    lease = ws->conf->webhook_timeout_ms + 2 * ws->conf->redis_timeout_ms
            + TGW_HOOK_LEASE_EXTRA_MS;
    if (tgw_store_outbox_claim(ws->rc, ws->conf, tgw_now_ms(), lease,
                               TGW_HOOK_MAX - ws->n, tgw_webhooks_claimed,
                               ws) == 0)
    {
        ws->claiming = 1;
    }
}


void
tgw_webhooks_retry(tgw_webhooks_t *ws)
{
    tgw_hook_t *h, *next;

    for (h = ws->hooks; h; h = next) {
        next = h->next;
        if (h->stalled) {
            tgw_hook_step(h);
        }
    }
    tgw_webhooks_poll(ws);
}


void
tgw_webhook_stop_all(tgw_webhooks_t *ws)
{
    tgw_hook_t *h, *next;

    ws->stopping = 1;
    for (h = ws->hooks; h; h = next) {
        next = h->next;
        if (h->state == TGW_HOOK_SENDING) {
            h->state = TGW_HOOK_DONE;
            tgw_hreq_abort(&h->req);    /* tgw_hook_sent ends it */
        } else {
            tgw_hook_end(h);        /* a write owed is given up */
        }
    }
}


void
tgw_webhooks_free(tgw_webhooks_t *ws)
{
    while (ws->hooks) {
        tgw_hook_free(ws->hooks);
    }
}
