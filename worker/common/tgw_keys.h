/*
 * The Redis key schema: key formats, field names and status values, the
 * one definition included by the nginx module, taskgw-worker and
 * taskgwctl (the Lua scripts of worker/common/lua get them through
 * scripts/lua2h.sh).  Plain C preprocessor only: the module includes it
 * as it is.
 */

#ifndef TGW_KEYS_H
#define TGW_KEYS_H

/*
 * Every key is "<prefix>:<suffix>"; format strings take the prefix first.
 * The TGW_KEYF_* forms take the conversions to use for the parts, so the
 * module builds the same keys from ngx_str_t ("%V") as the worker and the
 * CLI do from C strings ("%s").
 */
#define TGW_KEYF_TASK(s)        s ":task:" s
#define TGW_KEYF_QUEUE(s)       s ":q:" s ":" s
#define TGW_KEYF_SCHEDULED(s)   s ":scheduled"
#define TGW_KEYF_DEAD(s)        s ":dead:" s
#define TGW_KEYF_TOKEN(p, d)    p ":token:" d
#define TGW_KEYF_TOKENS(s)      s ":tokens"
#define TGW_KEYF_WORKER(s)      s ":worker:" s
#define TGW_KEYF_AUDIT(s)       s ":audit"

#define TGW_KEY_TASK        TGW_KEYF_TASK("%s")      /* hash, per task id */
#define TGW_KEY_QUEUE       TGW_KEYF_QUEUE("%s")     /* stream, queue+prio */
#define TGW_KEY_SCHEDULED   TGW_KEYF_SCHEDULED("%s") /* zset, id by due ms */
#define TGW_KEY_DEAD        TGW_KEYF_DEAD("%s")      /* stream, per queue */
#define TGW_KEY_TOKEN       TGW_KEYF_TOKEN("%s", "%s") /* hash, per token
                                                          digest */
#define TGW_KEY_IDEM        "%s:idem:%s:%s"     /* string, owner+key hash  */
#define TGW_KEY_TOKENS      TGW_KEYF_TOKENS("%s")    /* hash, name -> digest */
#define TGW_KEY_WORKER      TGW_KEYF_WORKER("%s")    /* string, heartbeat */
#define TGW_KEY_CRON        "%s:cron:%s:%s"     /* string, tick guard      */
#define TGW_KEY_AUDIT       TGW_KEYF_AUDIT("%s")     /* stream, capped */
/* string: the workers' result_ttl in ms, for what cancels outside them */
#define TGW_KEY_RESULT_TTL  "%s:config:result_ttl"
#define TGW_KEY_OUTBOX      "%s:outbox"         /* zset, event id by due ms */
#define TGW_KEY_EVENT       "%s:event:%s"       /* hash, per webhook event */

/*
 * Pub/sub channels (docs/keys.md), "<prefix>" followed by the suffix.
 * TGW_CHAN_DONE carries a task id, published by the same script that
 * records the task's terminal status, so an id heard there names an
 * outcome already readable.  TGW_CHAN_REVOKED carries the hex SHA-256
 * digest of a run-time token just revoked.
 */
#define TGW_CHAN_DONE       ":events:done"
#define TGW_CHAN_REVOKED    ":events:revoked"
#define TGW_KEY_CHAN_DONE   "%s" TGW_CHAN_DONE
#define TGW_KEY_CHAN_REVOKED "%s" TGW_CHAN_REVOKED

/*
 * A webhook event waiting in the outbox (docs/worker-config.md, "The
 * outbox").  Its id is the webhook-id, "msg_<task id>_<finished_at ms>":
 * one per event, the same on every try.  The event hash holds:
 */
#define TGW_EV_TASK_ID      "task_id"   /* the task it reports */
#define TGW_EV_TYPE         "type"      /* task.succeeded|dead|cancelled */
#define TGW_EV_URL          "url"       /* where it goes; absent: found at
                                           the first try (callback_url, the
                                           handler's webhook, webhook.url) */
#define TGW_EV_ATTEMPTS     "attempts"  /* tries whose outcome is known */
#define TGW_EV_CLAIMS       "claims"    /* claims so far: a claim's number
                                           makes a late answer harmless */
#define TGW_EV_BODY         "body"      /* the exact body, kept from the
                                           first try so retries send it */
#define TGW_EV_TRACEPARENT  "traceparent" /* what the tries send, kept from
                                           the first (tgw_trace_run) */
#define TGW_EV_CREATED_AT   "created_at"
#define TGW_EVENT_ID_FMT    "msg_%s_%llu"   /* task id, finished_at ms */

/* Field of a queue stream entry that names the task. */
#define TGW_STREAM_FIELD_ID "id"

/* How the record scripts' error begins when one of the record's writes
 * would be refused on a key of another type, found before any write was
 * made (lib/refused.lua); the key follows the error's first ": ". */
#define TGW_ERR_REFUSED     "WRONGTYPE no write made,"

/*
 * The prefix: 1 to TGW_PREFIX_MAX visible ASCII characters, no braces.
 * The worker's config, taskgwctl's -p and the module's taskgw_prefix all
 * refuse anything else (the module's NGX_HTTP_TASKGW_PREFIX_MAX is this
 * macro), so no part writes keys another part cannot name.
 */
#define TGW_PREFIX_MAX      128

/* Priorities, highest first: the order a worker reads a queue in. */
#define TGW_PRIORITIES      { "high", "normal", "low" }
#define TGW_NPRIORITIES     3

/* Task statuses (the "status" field of the task hash). */
#define TGW_ST_SCHEDULED    "scheduled"
#define TGW_ST_QUEUED       "queued"
#define TGW_ST_RUNNING      "running"
#define TGW_ST_RETRYING     "retrying"
#define TGW_ST_SUCCEEDED    "succeeded"
#define TGW_ST_DEAD         "dead"
#define TGW_ST_CANCELLED    "cancelled"

/*
 * Task hash fields.  Times are unix milliseconds as decimal strings.
 * "result" holds the result already encoded as one JSON value (the worker
 * encodes it once, readers embed it); "result_encoding" is "base64" when
 * the handler's output was not UTF-8 and "result" is then a JSON string of
 * its base64.
 */
#define TGW_F_ID            "id"
#define TGW_F_QUEUE         "queue"
#define TGW_F_TYPE          "type"
#define TGW_F_PRIORITY      "priority"
#define TGW_F_STATUS        "status"
#define TGW_F_PAYLOAD       "payload"
#define TGW_F_CONTENT_TYPE  "content_type"
#define TGW_F_OWNER         "owner"
#define TGW_F_REQUEST_ID    "request_id"
#define TGW_F_CLIENT_ADDR   "client_addr"
#define TGW_F_CALLBACK_URL  "callback_url"
#define TGW_F_TRACEPARENT   "traceparent"   /* W3C, version 00 (tgw_trace.h):
                                               the request's, or a new one */
#define TGW_F_CREATED_AT    "created_at"
#define TGW_F_RUN_AT        "run_at"
#define TGW_F_STARTED_AT    "started_at"
#define TGW_F_FINISHED_AT   "finished_at"
#define TGW_F_ATTEMPTS      "attempts"
#define TGW_F_RESULT        "result"
#define TGW_F_RESULT_ENC    "result_encoding"
#define TGW_F_ERROR         "error"
#define TGW_F_WEBHOOK_STATUS   "webhook_status"
#define TGW_F_WEBHOOK_ATTEMPTS "webhook_attempts"
#define TGW_F_CANCEL_REQUESTED "cancel_requested"
#define TGW_F_WEBHOOK_LAST_ERROR "webhook_last_error"

/* Values of "webhook_status". */
#define TGW_WH_PENDING      "pending"
#define TGW_WH_DELIVERED    "delivered"
#define TGW_WH_FAILED       "failed"

/* How long a task cancelled before it ran is kept (ms): the worker's
 * default result_ttl, 7 days. */
#define TGW_CANCELLED_TTL_MS  "604800000"

/*
 * The answer of a take (worker/common/lua/lib/take.lua, take_many.lua):
 * its code, attempts, then TGW_TAKE_VALUES values; read_take.lua's flat
 * answer is, after one count per stream read, TGW_READ_TAKE_WIDTH
 * elements an entry (the entry id and the task id, then the take's).  The _TEXT forms are the numbers as the
 * scripts get them.
 */
#define TGW_TAKE_VALUES     11
#define TGW_READ_TAKE_WIDTH 15
#define TGW_TEXT_(n)        #n
#define TGW_TEXT(n)         TGW_TEXT_(n)
#define TGW_TAKE_VALUES_TEXT      TGW_TEXT(TGW_TAKE_VALUES)
#define TGW_READ_TAKE_WIDTH_TEXT  TGW_TEXT(TGW_READ_TAKE_WIDTH)

#define TGW_DEFAULT_PREFIX  "taskgw"
#define TGW_DEFAULT_GROUP   "workers"

#endif /* TGW_KEYS_H */
