/*
 * Unit tests of the task JSON taskgwctl prints (common/tgw_task_json.c):
 * the status GET's shape from a task hash.
 */

#include <string.h>

#include "tap.h"
#include "tgw_task_json.h"

#define F(n, v)  { n, sizeof(n) - 1, v, sizeof(v) - 1 }


static void
check(const tgw_field_t *f, size_t n, const char *want, const char *name)
{
    tgw_buf_t  b = { 0 };

    ok(tgw_task_json(f, n, &b) == 0, "%s: built", name);
    is_str(b.data, want, name);
    tgw_buf_free(&b);
}


int
main(void)
{
    tgw_field_t  done[] = {
        F("id", "017f22e2-79b0-7000-8000-000000000000"),
        F("queue", "default"),
        F("type", "report.build"),
        F("priority", "normal"),
        F("status", "succeeded"),
        F("payload", "SECRET PAYLOAD"),
        F("content_type", "application/json"),
        F("owner", "ci-bot"),
        F("request_id", "r1"),
        F("client_addr", "127.0.0.1"),
        F("created_at", "1795428000123"),
        F("run_at", ""),
        F("started_at", "1795428001000"),
        F("finished_at", "1795428001456"),
        F("attempts", "1"),
        F("result", " {\"rows\": [1, 2.50, \"x\"]}\n"),
        F("webhook_status", "delivered"),
        F("webhook_attempts", "1"),
    };
    tgw_field_t  queued[] = {
        F("id", "017f22e2-79b0-7000-8000-000000000001"),
        F("status", "queued"),
        F("created_at", "0"),
    };
    tgw_field_t  b64[] = {
        F("id", "x"),
        F("attempts", "junk"),
        F("run_at", "1795428000123"),
        F("result", "\"AAEC/w==\""),
        F("result_encoding", "base64"),
        F("error", "exit 1: line1\nline2 \"q\""),
    };
    tgw_field_t  broken[] = {
        F("result", "pong"),
        F("started_at", "12x"),
    };
    tgw_field_t  bignum[] = {
        F("result", "123456789012345678901234567890"),
    };
    char             t[TGW_RFC3339_LEN + 1];

    check(done, sizeof(done) / sizeof(done[0]),
          "{\"id\":\"017f22e2-79b0-7000-8000-000000000000\","
          "\"queue\":\"default\",\"type\":\"report.build\","
          "\"priority\":\"normal\",\"status\":\"succeeded\",\"attempts\":1,"
          "\"owner\":\"ci-bot\",\"created_at\":\"2026-11-23T10:00:00.123Z\","
          "\"run_at\":null,\"started_at\":\"2026-11-23T10:00:01.000Z\","
          "\"finished_at\":\"2026-11-23T10:00:01.456Z\","
          "\"result\":{\"rows\": [1, 2.50, \"x\"]},\"error\":null,"
          "\"webhook\":{\"status\":\"delivered\",\"attempts\":1}}",
          "finished task: the status order, result verbatim, no payload");

    check(queued, sizeof(queued) / sizeof(queued[0]),
          "{\"id\":\"017f22e2-79b0-7000-8000-000000000001\","
          "\"queue\":null,\"type\":null,\"priority\":null,"
          "\"status\":\"queued\",\"attempts\":0,\"owner\":null,"
          "\"created_at\":\"1970-01-01T00:00:00.000Z\",\"run_at\":null,"
          "\"started_at\":null,\"finished_at\":null,\"result\":null,"
          "\"error\":null,\"webhook\":null}",
          "missing fields are null, attempts 0");

    check(b64, sizeof(b64) / sizeof(b64[0]),
          "{\"id\":\"x\",\"queue\":null,\"type\":null,\"priority\":null,"
          "\"status\":null,\"attempts\":0,\"owner\":null,\"created_at\":null,"
          "\"run_at\":\"2026-11-23T10:00:00.123Z\",\"started_at\":null,"
          "\"finished_at\":null,\"result\":\"AAEC/w==\","
          "\"result_encoding\":\"base64\","
          "\"error\":\"exit 1: line1\\nline2 \\\"q\\\"\",\"webhook\":null}",
          "base64 result with its encoding; error escaped");

    check(broken, sizeof(broken) / sizeof(broken[0]),
          "{\"id\":null,\"queue\":null,\"type\":null,\"priority\":null,"
          "\"status\":null,\"attempts\":0,\"owner\":null,\"created_at\":null,"
          "\"run_at\":null,\"started_at\":null,\"finished_at\":null,"
          "\"result\":\"pong\",\"error\":null,\"webhook\":null}",
          "a result that is not JSON is shown as a string; bad time null");

    check(bignum, 1,
          "{\"id\":null,\"queue\":null,\"type\":null,\"priority\":null,"
          "\"status\":null,\"attempts\":0,\"owner\":null,\"created_at\":null,"
          "\"run_at\":null,\"started_at\":null,\"finished_at\":null,"
          "\"result\":123456789012345678901234567890,\"error\":null,"
          "\"webhook\":null}",
          "a big integer result is embedded verbatim");

    ok(tgw_task_json_field(done, 18, "payload") != NULL
       && tgw_task_json_field(done, 18, "pay") == NULL,
       "field lookup is exact");
    ok(tgw_task_json_time(done, 18, "finished_at", t, sizeof(t)) == 0,
       "task_time converts");
    is_str(t, "2026-11-23T10:00:01.456Z", "task_time value");
    ok(tgw_task_json_time(done, 18, "run_at", t, sizeof(t)) == -1,
       "empty time is unset");

    return done_testing();
}
