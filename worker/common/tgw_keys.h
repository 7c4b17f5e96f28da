/*
 * The Redis key schema of SPEC §6, shared by taskgw-worker and taskgwctl.
 * The nginx module mirrors it in ngx_taskgw_module/ngx_http_taskgw_module.h.
 */

#ifndef TGW_KEYS_H
#define TGW_KEYS_H

/* Every key is "<prefix>:<suffix>"; format strings take the prefix first. */
#define TGW_KEY_TASK        "%s:task:%s"        /* hash, per task id       */
#define TGW_KEY_QUEUE       "%s:q:%s:%s"        /* stream, queue+priority  */
#define TGW_KEY_SCHEDULED   "%s:scheduled"      /* zset, id by due ms      */
#define TGW_KEY_DEAD        "%s:dead:%s"        /* stream, per queue       */
#define TGW_KEY_IDEM        "%s:idem:%s:%s"     /* string, owner+key hash  */
#define TGW_KEY_TOKEN       "%s:token:%s"       /* hash, per token digest  */
#define TGW_KEY_TOKENS      "%s:tokens"         /* hash, name -> digest    */
#define TGW_KEY_WORKER      "%s:worker:%s"      /* string JSON heartbeat   */
#define TGW_KEY_CRON        "%s:cron:%s:%s"     /* string, tick guard      */
#define TGW_KEY_AUDIT       "%s:audit"          /* stream, capped          */

/* Field of a queue stream entry that names the task. */
#define TGW_STREAM_FIELD_ID "id"

/*
 * The prefix: 1 to TGW_PREFIX_MAX visible ASCII characters, no braces.
 * The worker's config, taskgwctl's -p and the module's taskgw_prefix all
 * refuse anything else (the module's NGX_HTTP_TASKGW_PREFIX_MAX is this
 * same number), so no part writes keys another part cannot name.
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
#define TGW_F_WEBHOOK_LAST_ERROR "webhook_last_error"    /* SPEC §8 */

/* Values of "webhook_status" (SPEC §8). */
#define TGW_WH_PENDING      "pending"
#define TGW_WH_DELIVERED    "delivered"
#define TGW_WH_FAILED       "failed"

#define TGW_DEFAULT_PREFIX  "taskgw"
#define TGW_DEFAULT_GROUP   "workers"

#endif /* TGW_KEYS_H */
