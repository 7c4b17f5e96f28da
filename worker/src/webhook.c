/*
 * Webhook deliveries (webhook.h): body from the task hash, Standard
 * Webhooks signature, POST through hreq, retries on webhook.schedule.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"
#include "tgw_ctl_task.h"
#include "tgw_ctl_util.h"
#include "tgw_keys.h"
#include "tgw_result.h"
#include "webhook.h"
#include "retry.h"
#include "store.h"

static void tgw_hook_send(tgw_hook_t *h);
static void tgw_hook_end(tgw_hook_t *h);


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
tgw_webhooks_init(tgw_webhooks_t *ws, uv_loop_t *loop, tgw_rconn_t *rc)
{
    memset(ws, 0, sizeof(*ws));
    ws->loop = loop;
    ws->rc = rc;
}


static void
tgw_hook_free(tgw_hook_t *h)
{
    tgw_hook_t **pp;
    size_t       i;

    for (pp = &h->ws->hooks; *pp; pp = &(*pp)->next) {
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    }
    for (i = 0; i < sizeof(h->hdr) / sizeof(h->hdr[0]); i++) {
        free(h->hdr[i]);
    }
    free(h->task_id);
    free(h->url);
    free(h->event);
    free(h->msg_id);
    free(h->body);
    free(h->record_error);
    tgw_conf_unref(h->conf);
    free(h);
}


/* A delivery that ended is freed once nothing of it is out or owed. */
static void
tgw_hook_maybe_free(tgw_hook_t *h)
{
    if (h->state == TGW_HOOK_DONE && !h->redis_busy && !h->timer_open
        && h->record == NULL && !h->record_busy)
    {
        tgw_hook_free(h);
    }
}


static void
tgw_hook_timer_closed(uv_handle_t *t)
{
    tgw_hook_t *h = t->data;

    h->timer_open = 0;
    tgw_hook_maybe_free(h);
}


/* No more tries: free once the timer is closed and Redis answered. */
static void
tgw_hook_end(tgw_hook_t *h)
{
    h->state = TGW_HOOK_DONE;
    if (h->timer_open && !uv_is_closing((uv_handle_t *) &h->timer)) {
        uv_timer_stop(&h->timer);
        uv_close((uv_handle_t *) &h->timer, tgw_hook_timer_closed);
    }
    if (h->ws->on_ended) {
        h->ws->on_ended(h->ws->data);
    }
}


int
tgw_webhook_busy(tgw_webhooks_t *ws)
{
    tgw_hook_t *h;

    for (h = ws->hooks; h; h = h->next) {
        if (h->state == TGW_HOOK_SENDING || h->state == TGW_HOOK_LOADING
            || h->record != NULL || h->record_busy)
        {
            return 1;
        }
    }
    return 0;
}


void
tgw_webhook_stop_waiting(tgw_webhooks_t *ws)
{
    tgw_hook_t *h, *next;

    ws->stopping = 1;
    for (h = ws->hooks; h; h = next) {
        next = h->next;
        if (h->state == TGW_HOOK_WAITING) {
            tgw_hook_end(h);        /* stays "pending" in the hash */
        }
    }
}


static void tgw_hook_record_send(tgw_hook_t *h);


static void
tgw_hook_recorded(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_hook_t     *h = data;
    tgw_webhooks_t *ws = h->ws;

    h->record_busy = 0;
    if (r != NULL && r->type != REDIS_REPLY_ERROR) {
        h->record = NULL;           /* landed */
        free(h->record_error);
        h->record_error = NULL;
    } else if (r != NULL) {
        tgw_log(TGW_LOG_WARN, "webhook_record_failed", "task_id",
                h->task_id, "status", h->record, "error", r->str, NULL);
    }
    tgw_hook_maybe_free(h);
    if (ws->on_ended) {
        ws->on_ended(ws->data);
    }
}


/*
 * Records the delivery's progress in the task hash.  This write retries
 * until it lands: a lost one would leave webhook_status "pending" for a
 * delivery that ended; a write that fails (Redis away, an error) is sent
 * again by tgw_webhooks_retry() on every tick, and the delivery is freed
 * only once it landed (or the worker's shutdown grace ran out).  A newer
 * progress replaces an older one not yet written.
 */
static void
tgw_hook_record(tgw_hook_t *h, const char *status, const char *error)
{
    free(h->record_error);
    h->record_error = error ? strdup(error) : NULL;
    h->record = status;
    tgw_hook_record_send(h);
}


static void
tgw_hook_record_send(tgw_hook_t *h)
{
    if (h->record == NULL || h->record_busy) {
        return;
    }
    if (tgw_store_webhook_status(h->ws->rc, h->conf, h->task_id, h->record,
                                 h->attempts, h->record_error,
                                 tgw_hook_recorded, h) == 0)
    {
        h->record_busy = 1;
    }
}


void
tgw_webhooks_retry(tgw_webhooks_t *ws)
{
    tgw_hook_t *h, *next;

    for (h = ws->hooks; h; h = next) {
        next = h->next;
        tgw_hook_record_send(h);
    }
}


static void
tgw_hook_on_timer(uv_timer_t *t)
{
    tgw_hook_t *h = t->data;

    tgw_hook_send(h);
}


/* The rule: 2xx delivered; 410 Gone failed at once; anything else (a
 * redirect, another status, a transport error) is retried on the
 * schedule, Retry-After honoured, until the schedule runs out. */
static void
tgw_hook_sent(tgw_hreq_t *r)
{
    tgw_hook_t *h = r->data;
    char        err[256], att[16], delay_s[32];
    int64_t     delay;

    snprintf(att, sizeof(att), "%d", h->attempts);
    if (r->rc == CURLE_OK && r->status >= 200 && r->status <= 299) {
        tgw_log(TGW_LOG_INFO, "webhook_delivered", "task_id", h->task_id,
                "event", h->event, "attempt", att, NULL);
        tgw_hook_record(h, TGW_WH_DELIVERED, NULL);
        tgw_hreq_cleanup(r);
        tgw_hook_end(h);
        return;
    }
    if (r->rc == CURLE_OK) {
        snprintf(err, sizeof(err), "HTTP %ld", r->status);
    } else {
        snprintf(err, sizeof(err), "%s", tgw_hreq_error(r));
    }
    tgw_hreq_cleanup(r);

    delay = -1;
    if (!(r->rc == CURLE_OK && r->status == 410) && !h->ws->stopping) {
        delay = tgw_webhook_delay_ms(h->conf->webhook_schedule,
                                     h->conf->webhook_nschedule,
                                     h->attempts + 1,
                                     (r->status == 429 || r->status == 503)
                                     ? r->retry_after : -1,
                                     tgw_random64());
    }
    if (delay < 0) {
        tgw_log(TGW_LOG_WARN, "webhook_failed", "task_id", h->task_id,
                "event", h->event, "attempt", att, "error", err, NULL);
        tgw_hook_record(h, h->ws->stopping && !(r->rc == CURLE_OK
                                               && r->status == 410)
                           ? TGW_WH_PENDING : TGW_WH_FAILED, err);
        tgw_hook_end(h);
        return;
    }
    snprintf(delay_s, sizeof(delay_s), "%lldms", (long long) delay);
    tgw_log(TGW_LOG_INFO, "webhook_retry", "task_id", h->task_id,
            "event", h->event, "attempt", att, "error", err,
            "retry_in", delay_s, NULL);
    tgw_hook_record(h, TGW_WH_PENDING, err);
    h->state = TGW_HOOK_WAITING;
    uv_timer_start(&h->timer, tgw_hook_on_timer, (uint64_t) delay, 0);
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
                               h->conf->webhook_nsecrets, h->msg_id, ts,
                               h->body, h->body_len);
        if (sig == NULL) {
            tgw_log(TGW_LOG_ERROR, "webhook_failed", "task_id", h->task_id,
                    "error", "cannot sign", NULL);
            tgw_hook_end(h);
            return;
        }
        if (asprintf(&h->hdr[n], "webhook-signature: %s", sig) < 0) {
            h->hdr[n] = NULL;
        }
        n++;
        free(sig);
    }
    if (asprintf(&h->hdr[n++], "webhook-id: %s", h->msg_id) < 0
        || asprintf(&h->hdr[n++], "webhook-timestamp: %lld", ts) < 0
        || (h->hdr[n++] = strdup("Content-Type: application/json")) == NULL)
    {
        tgw_hook_end(h);
        return;
    }

    h->attempts++;
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
    if (tgw_hreq_start(&h->req) != 0) {
        tgw_hook_end(h);
    }
}


/* The task hash arrived: build the event body, then send. */
static void
tgw_hook_loaded(tgw_rconn_t *rc, redisReply *r, void *data)
{
    tgw_hook_t      *h = data;
    tgw_ctl_field_t *f = NULL;
    tgw_ctl_buf_t    b;
    size_t           i, n = 0;
    char             ts[40];

    h->redis_busy = 0;
    if (h->state == TGW_HOOK_DONE) {
        tgw_hook_maybe_free(h);
        return;
    }
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        tgw_log(TGW_LOG_WARN, "webhook_failed", "task_id", h->task_id,
                "error", r && r->type == REDIS_REPLY_ERROR ? r->str
                         : "cannot read the task", NULL);
        tgw_hook_end(h);
        return;
    }

    f = calloc(r->elements / 2 + 1, sizeof(*f));
    memset(&b, 0, sizeof(b));
    for (i = 0; f && i + 1 < r->elements; i += 2) {
        f[n].name = r->element[i]->str;
        f[n].name_len = r->element[i]->len;
        f[n].value = r->element[i + 1]->str;
        f[n].value_len = r->element[i + 1]->len;
        n++;
    }
    tgw_ctl_ms_to_rfc3339(tgw_ctl_now_ms(), ts, sizeof(ts));
    tgw_ctl_buf_printf(&b, "{\"type\":\"%s\",\"timestamp\":\"%s\",\"data\":",
                       h->event, ts);
    if (f == NULL || tgw_ctl_task_json(f, n, &b) != 0
        || tgw_ctl_buf_puts(&b, "}") != 0 || b.failed)
    {
        free(f);
        tgw_ctl_buf_free(&b);
        tgw_log(TGW_LOG_ERROR, "webhook_failed", "task_id", h->task_id,
                "error", "out of memory", NULL);
        tgw_hook_end(h);
        return;
    }
    free(f);
    h->body = b.data;               /* handed over */
    h->body_len = b.len;
    tgw_hook_send(h);
}


void
tgw_webhook_start(tgw_webhooks_t *ws, tgw_conf_t *conf, const char *task_id,
    const char *status, const char *url, uint64_t finished_ms)
{
    tgw_hook_t *h;

    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        goto nomem;
    }
    h->ws = ws;
    h->conf = tgw_conf_ref(conf);
    h->task_id = strdup(task_id);
    h->url = strdup(url);
    if (asprintf(&h->event, "task.%s", status) < 0) {
        h->event = NULL;
    }
    if (asprintf(&h->msg_id, "msg_%s_%llu", task_id,
                 (unsigned long long) finished_ms) < 0)
    {
        h->msg_id = NULL;
    }
    if (h->task_id == NULL || h->url == NULL || h->event == NULL
        || h->msg_id == NULL)
    {
        free(h->task_id);
        free(h->url);
        free(h->event);
        free(h->msg_id);
        tgw_conf_unref(h->conf);
        free(h);
        goto nomem;
    }
    uv_timer_init(ws->loop, &h->timer);
    h->timer.data = h;
    h->timer_open = 1;
    h->next = ws->hooks;
    ws->hooks = h;

    h->state = TGW_HOOK_LOADING;
    if (tgw_store_load(ws->rc, h->conf, task_id, tgw_hook_loaded, h) != 0) {
        tgw_log(TGW_LOG_WARN, "webhook_failed", "task_id", task_id,
                "error", "redis unavailable", NULL);
        tgw_hook_end(h);
        return;
    }
    h->redis_busy = 1;
    return;

nomem:
    tgw_log(TGW_LOG_ERROR, "webhook_failed", "task_id", task_id,
            "error", "out of memory", NULL);
}


void
tgw_webhook_stop_all(tgw_webhooks_t *ws)
{
    tgw_hook_t *h, *next;

    ws->stopping = 1;
    for (h = ws->hooks; h; h = next) {
        next = h->next;
        h->record = NULL;           /* owed status writes are given up */
        switch (h->state) {
        case TGW_HOOK_SENDING:
            tgw_hreq_abort(&h->req);    /* tgw_hook_sent ends it */
            break;
        case TGW_HOOK_LOADING:
        case TGW_HOOK_WAITING:
            tgw_hook_end(h);
            break;
        case TGW_HOOK_DONE:
            tgw_hook_maybe_free(h);
            break;
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
