/*
 * Config parsing and validation: defaults, every key read, and errors that
 * name the key path.  Configs are written to temp files and loaded the way
 * the daemon loads them.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "tap.h"

static char tmpdir[] = "/tmp/tgw-test-config-XXXXXX";
static int  nfile;


/* Writes text to a new temp file; returns its path (static buffer). */
static const char *
write_conf(const char *text)
{
    static char path[256];
    FILE       *f;

    snprintf(path, sizeof(path), "%s/c%d.json", tmpdir, ++nfile);
    f = fopen(path, "w");
    if (f == NULL) {
        perror("fopen");
        exit(2);
    }
    fputs(text, f);
    fclose(f);
    return path;
}


static tgw_conf_t *
load(const char *text, tgw_conf_errors_t *errs)
{
    return tgw_conf_load(write_conf(text), errs);
}


/* Is msg among the errors? */
static int
has_error(const tgw_conf_errors_t *errs, const char *msg)
{
    size_t i;

    for (i = 0; i < errs->n; i++) {
        if (strcmp(errs->msg[i], msg) == 0) {
            return 1;
        }
    }
    for (i = 0; i < errs->n; i++) {
        printf("#   error: %s\n", errs->msg[i]);
    }
    return 0;
}


/* One bad config: it fails with exactly this message among its errors. */
static void
bad(const char *text, const char *msg)
{
    tgw_conf_errors_t errs;
    tgw_conf_t       *c = load(text, &errs);

    ok(c == NULL && has_error(&errs, msg), "refused: %s", msg);
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);
}


/* "sentinel", "master", "sentinel_password" instead of "redis". */
static void
test_sentinel_conf(void)
{
    tgw_conf_t        *c;
    tgw_conf_errors_t  errs;

    c = load("{\"sentinel\": [\"127.0.0.1:26379\", \"[::1]:26380\", "
             "\"s3.example:26381\"], \"master\": \"taskgw-ha\", "
             "\"sentinel_password\": \"sp\", \"password\": \"mp\", "
             "\"db\": 2}", &errs);
    ok(c != NULL && errs.n == 0, "sentinel config accepted");
    if (c) {
        is_int(c->nsentinels, 3, "three sentinels");
        is_str(c->sentinels[0].host, "127.0.0.1", "first host");
        is_int(c->sentinels[0].port, 26379, "first port");
        is_str(c->sentinels[1].host, "::1", "v6 host");
        is_str(c->sentinels[2].host, "s3.example", "named host");
        is_str(c->master, "taskgw-ha", "master name");
        is_str(c->sentinel_password, "sp", "sentinel password");
        is_str(c->password, "mp", "password is the master's");
        is_int(c->db, 2, "db is the master's");
    }
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);

    c = load("{\"redis\": \"127.0.0.1:6379\"}", &errs);
    ok(c != NULL && c->nsentinels == 0 && c->master == NULL,
       "plain redis: no sentinels");
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);

    bad("{\"sentinel\": [\"h:1\"]}",
        "sentinel: needs \"master\", the name the sentinels monitor it "
        "under");
    bad("{\"master\": \"m\"}",
        "master: needs \"sentinel\", the sentinels to ask for its address");
    bad("{\"redis\": \"h:1\", \"sentinel\": [\"h:2\"], "
        "\"master\": \"m\"}",
        "sentinel: cannot be given with \"redis\": the sentinels name the "
        "Redis server");
    bad("{\"sentinel\": [], \"master\": \"m\"}",
        "sentinel: must name at least one sentinel");
    bad("{\"sentinel\": [\"h:1\", \"nope\"], \"master\": \"m\"}",
        "sentinel[1]: bad address \"nope\" (want host:port or [v6]:port)");
    bad("{\"sentinel\": [\"h:0\"], \"master\": \"m\"}",
        "sentinel[0]: bad address \"h:0\" (want host:port or [v6]:port)");
    bad("{\"sentinel\": \"h:1\", \"master\": \"m\"}",
        "sentinel: expected an array of \"host:port\" strings, got a "
        "string");
    bad("{\"sentinel\": [26379], \"master\": \"m\"}",
        "sentinel[0]: expected a string, got an integer");
    bad("{\"sentinel\": [\"h:1\"], \"master\": 5}",
        "master: expected a string, got an integer");
    bad("{\"sentinel\": [\"h:1\"], \"master\": \"a b\"}",
        "master: must be 1 to 128 visible ASCII characters");
    bad("{\"sentinel\": [\"h:1\"], \"master\": \"\"}",
        "master: must not be empty");
    bad("{\"sentinel\": [\"h:1\"], \"master\": \"m\", "
        "\"sentinel_password\": 1}",
        "sentinel_password: expected a string or null, got an integer");
    bad("{\"sentinel_password\": \"x\"}",
        "sentinel_password: needs \"sentinel\"");
}


int
main(void)
{
    tgw_conf_t               *c;
    tgw_conf_errors_t         errs;
    const tgw_handler_conf_t *h;
    char                      host[256], want[300];

    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }

    /* ---- defaults ---- */
    c = load("{}", &errs);
    ok(c != NULL && errs.n == 0, "empty object is a valid config");
    if (c) {
        is_str(c->redis_host, "127.0.0.1", "default redis host");
        is_int(c->redis_port, 6379, "default redis port");
        ok(c->password == NULL, "default no password");
        is_int(c->db, 0, "default db");
        is_str(c->prefix, "taskgw", "default prefix");
        is_str(c->group, "workers", "default group");
        gethostname(host, sizeof(host));
        host[sizeof(host) - 1] = '\0';
        snprintf(want, sizeof(want), "%s-%ld", host, (long) getpid());
        is_str(c->name, want, "default name is host-pid");
        is_int(c->concurrency, 16, "default concurrency");
        is_int(c->nqueues, 1, "default one queue");
        is_str(c->queues[0].name, "default", "default queue name");
        is_int(c->claim_idle_ms, 60000, "default claim_idle 60s");
        is_int(c->result_ttl_ms, 604800000, "default result_ttl 7d");
        is_int(c->result_max_bytes, 65536, "default result_max_bytes");
        is_int(c->shutdown_grace_ms, 30000, "default shutdown_grace");
        is_int(c->exec_spawner_timeout_ms, 10000,
               "default exec_spawner_timeout 10s");
        is_int(c->retry_max_attempts, 5, "default retry.max_attempts");
        is_int(c->retry_base_ms, 1000, "default retry.base");
        is_int(c->retry_cap_ms, 3600000, "default retry.cap");
        is_int(c->redis_backoff_min_ms, 100, "default redis_backoff.min");
        is_int(c->redis_backoff_max_ms, 5000, "default redis_backoff.max");
        is_int(c->webhook_timeout_ms, 10000, "default webhook.timeout");
        is_int(c->webhook_nschedule, 7, "default webhook.schedule");
        is_int(c->webhook_schedule[6], 36000000, "webhook.schedule ends 10h");
        is_int(c->webhook_allow_private, 0, "default allow_private");
        is_int(c->nhandlers, 0, "no handlers by default");
    }
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);

    /* ---- the docs/worker-config.md example, every key ---- */
    c = load(
        "{\"redis\": \"10.0.0.5:6380\", \"password\": \"s3cret\", \"db\": 2,\n"
        " \"prefix\": \"tg\", \"group\": \"g1\", \"name\": \"w-1\",\n"
        " \"concurrency\": 8, \"queues\": {\"default\": 1, \"critical\": 6},\n"
        " \"claim_idle\": \"90s\", \"result_ttl\": \"2h\",\n"
        " \"result_max_bytes\": 1024, \"shutdown_grace\": \"10s\",\n"
        " \"redis_timeout\": \"500ms\",\n"
        " \"retry\": {\"max_attempts\": 3, \"base\": \"100ms\",\n"
        "            \"cap\": \"5m\"},\n"
        " \"webhook\": {\"secret\": [\"whsec_dGVzdA==\", \"whsec_b2xk\"],\n"
        "             \"url\": \"https://example.com/hook\",\n"
        "             \"timeout\": \"3s\", \"schedule\": [\"10ms\", \"1s\"],\n"
        "             \"allow_private\": true},\n"
        " \"handlers\": {\n"
        "   \"system.ping\": {\"builtin\": \"ping\"},\n"
        "   \"report.build\": {\"exec\": [\"/bin/echo\",\n"
        "                      \"--json\"], \"timeout\": \"5m\",\n"
        "                      \"max_attempts\": 3, \"concurrency\": 2},\n"
        "   \"crm.sync\": {\"http\": {\"url\":\n"
        "                 \"http://127.0.0.1:9000/sync\",\n"
        "                 \"timeout\": \"10s\"},\n"
        "                 \"webhook\": \"https://example.com/crm\"}},\n"
        " \"schedules\": [{\"name\": \"nightly\", \"cron\": \"0 2 * * *\",\n"
        "   \"queue\": \"default\", \"type\": \"report.build\",\n"
        "   \"payload\": {\"kind\": \"full\"}}]}\n", &errs);
    ok(c != NULL, "full example config loads");
    if (c == NULL) {
        has_error(&errs, "");
    }
    if (c) {
        is_str(c->redis_host, "10.0.0.5", "redis host");
        is_int(c->redis_port, 6380, "redis port");
        is_str(c->password, "s3cret", "password");
        is_int(c->db, 2, "db");
        is_str(c->prefix, "tg", "prefix");
        is_str(c->group, "g1", "group");
        is_str(c->name, "w-1", "name");
        is_int(c->concurrency, 8, "concurrency");
        is_int(c->nqueues, 2, "two queues");
        is_int(c->claim_idle_ms, 90000, "claim_idle");
        is_int(c->result_ttl_ms, 7200000, "result_ttl");
        is_int(c->result_max_bytes, 1024, "result_max_bytes");
        is_int(c->shutdown_grace_ms, 10000, "shutdown_grace");
        is_int(c->redis_timeout_ms, 500, "redis_timeout");
        is_int(c->retry_max_attempts, 3, "retry.max_attempts");
        is_int(c->retry_base_ms, 100, "retry.base");
        is_int(c->retry_cap_ms, 300000, "retry.cap");
        is_int(c->webhook_nsecrets, 2, "two webhook secrets");
        is_str(c->webhook_url, "https://example.com/hook", "webhook.url");
        is_int(c->webhook_timeout_ms, 3000, "webhook.timeout");
        is_int(c->webhook_nschedule, 2, "webhook.schedule length");
        is_int(c->webhook_schedule[0], 10, "webhook.schedule[0]");
        is_int(c->webhook_allow_private, 1, "webhook.allow_private");
        is_int(c->nhandlers, 3, "three handlers");

        h = tgw_conf_handler(c, "system.ping");
        ok(h && h->kind == TGW_HANDLER_BUILTIN
           && h->builtin == TGW_BUILTIN_PING, "system.ping is builtin ping");
        h = tgw_conf_handler(c, "report.build");
        ok(h && h->kind == TGW_HANDLER_EXEC, "report.build is exec");
        if (h) {
            is_str(h->argv[0], "/bin/echo", "argv[0]");
            is_str(h->argv[1], "--json", "argv[1]");
            ok(h->argv[2] == NULL, "argv NULL-terminated");
            is_int(h->timeout_ms, 300000, "handler timeout");
            is_int(h->concurrency, 2, "handler concurrency");
            is_int(tgw_conf_max_attempts(c, h), 3,
                   "handler max_attempts overrides");
        }
        h = tgw_conf_handler(c, "crm.sync");
        ok(h && h->kind == TGW_HANDLER_HTTP, "crm.sync is http");
        if (h) {
            is_str(h->http_url, "http://127.0.0.1:9000/sync", "http url");
            is_int(h->http_timeout_ms, 10000, "http timeout");
            is_str(h->webhook, "https://example.com/crm", "handler webhook");
            is_int(tgw_conf_max_attempts(c, h), 3,
                   "retry.max_attempts without an override");
        }
        ok(tgw_conf_handler(c, "nope") == NULL, "unknown type: no handler");
        is_int(c->nschedules, 1, "one schedule");
        is_str(c->schedules[0].payload, "{\"kind\":\"full\"}",
               "schedule payload kept as JSON");
        is_str(c->schedules[0].priority, "normal", "schedule priority");
    }
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);

    /* unix socket, IPv6, null name */
    c = load("{\"redis\": \"unix:/run/redis.sock\", \"name\": null}", &errs);
    ok(c && c->redis_unix && strcmp(c->redis_unix, "/run/redis.sock") == 0
       && c->redis_host == NULL, "unix:/path address");
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);
    c = load("{\"redis\": \"[::1]:7000\"}", &errs);
    ok(c && strcmp(c->redis_host, "::1") == 0 && c->redis_port == 7000,
       "[v6]:port address");
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);

    /* ---- errors name the key path ---- */
    bad("{\"handlers\": {\"report.build\": {\"exec\": [\"/bin/true\"], "
        "\"timeout\": \"5x\"}}}",
        "handlers.report.build.timeout: bad duration \"5x\"");
    bad("{\"concurency\": 4}", "concurency: unknown key");
    bad("{\"retry\": {\"max_attempt\": 4}}", "retry.max_attempt: unknown key");
    bad("{\"concurrency\": \"4\"}",
        "concurrency: expected an integer, got a string");
    bad("{\"concurrency\": 0}", "concurrency: 0 is out of range 1..100000");
    bad("{\"claim_idle\": 60}",
        "claim_idle: expected a duration string like \"30s\", got an integer");
    bad("{\"result_ttl\": \"7 days\"}", "result_ttl: bad duration \"7 days\"");
    bad("{\"redis\": \"localhost\"}",
        "redis: bad address \"localhost\" (want host:port or unix:/path)");
    bad("{\"redis\": \"h:99999\"}",
        "redis: bad address \"h:99999\" (want host:port or unix:/path)");
    bad("{\"queues\": {}}", "queues: must name at least one queue");
    bad("{\"queues\": {\"default\": 0}}",
        "queues.default: 0 is out of range 1..1000");
    bad("{\"queues\": {\"a b\": 1}}",
        "queues.a b: bad queue name (want [A-Za-z0-9._-]{1,64})");
    bad("{\"retry\": {\"base\": \"10s\", \"cap\": \"1s\"}}",
        "retry.cap: must not be less than retry.base");
    bad("{\"redis_backoff\": {\"min\": \"2s\", \"max\": \"1s\"}}",
        "redis_backoff.max: must not be less than redis_backoff.min");
    bad("{\"redis_backoff\": {\"step\": \"1s\"}}",
        "redis_backoff.step: unknown key");
    bad("{\"exec_spawner_timeout\": \"500ms\"}",
        "exec_spawner_timeout: must be at least 1s");
    c = load("{\"exec_spawner_timeout\": \"2m\"}", &errs);
    ok(c != NULL && c->exec_spawner_timeout_ms == 120000,
       "exec_spawner_timeout accepted");
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);
    c = load("{\"redis_backoff\": {\"min\": \"50ms\", \"max\": \"2s\"}}",
             &errs);
    ok(c != NULL, "redis_backoff accepted");
    if (c) {
        is_int(c->redis_backoff_min_ms, 50, "redis_backoff.min");
        is_int(c->redis_backoff_max_ms, 2000, "redis_backoff.max");
    }
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);
    bad("{\"handlers\": {\"x\": {}}}",
        "handlers.x: needs exactly one of \"builtin\", \"exec\" or \"http\"");
    bad("{\"handlers\": {\"x\": {\"builtin\": \"ping\", \"exec\": [\"/a\"]}}}",
        "handlers.x: needs exactly one of \"builtin\", \"exec\" or \"http\"");
    bad("{\"handlers\": {\"x\": {\"builtin\": \"pong\"}}}",
        "handlers.x.builtin: unknown builtin \"pong\" (want ping, echo, "
        "sleep or fail)");
    bad("{\"handlers\": {\"x\": {\"exec\": []}}}",
        "handlers.x.exec: expected a non-empty list of strings (program and "
        "arguments), got an empty list");
    bad("{\"handlers\": {\"x\": {\"exec\": [\"/bin/echo\", 1]}}}",
        "handlers.x.exec[1]: expected a string, got an integer");
    bad("{\"handlers\": {\"x\": {\"builtin\": \"echo\", \"retries\": 1}}}",
        "handlers.x.retries: unknown key");
    bad("{\"handlers\": {\"x\": {\"http\": {\"url\": \"ftp://a\"}}}}",
        "handlers.x.http.url: bad URL \"ftp://a\" (want http:// or "
        "https://)");
    bad("{\"handlers\": {\"x\": {\"http\": {}}}}",
        "handlers.x.http: missing key \"url\"");
    bad("{\"webhook\": {\"secret\": \"nope\"}}",
        "webhook.secret: bad secret (want \"whsec_\" + base64)");
    bad("{\"webhook\": {\"schedule\": [\"5s\", \"soon\"]}}",
        "webhook.schedule[1]: bad duration \"soon\"");
    bad("{\"webhook\": {\"urls\": []}}", "webhook.urls: unknown key");
    bad("{\"schedules\": [{\"name\": \"n\", \"cron\": \"* * * * *\", "
        "\"type\": \"t\", \"every\": 1}]}",
        "schedules[0].every: unknown key");
    bad("{\"webhook\": {\"allow_private\": 1}}",
        "webhook.allow_private: expected true or false, got an integer");
    bad("{\"schedules\": [{\"name\": \"n\", \"cron\": \"61 * * * *\", "
        "\"type\": \"t\"}]}",
        "schedules[0].cron: bad cron expression \"61 * * * *\"");
    bad("{\"schedules\": [{\"cron\": \"* * * * *\", \"type\": \"t\"}]}",
        "schedules[0]: missing key \"name\"");
    bad("{\"schedules\": [{\"name\": \"n\", \"cron\": \"* * * * *\", "
        "\"type\": \"no spaces\"}]}",
        "schedules[0].type: bad task type (want [A-Za-z0-9._:-]{1,64})");
    bad("{\"prefix\": \"\"}", "prefix: must not be empty");

    /* the prefix rule of the module and taskgwctl: 1..128 visible ASCII
     * characters, no braces */
    {
        char text[400], p128[129];

        memset(p128, 'p', 128);
        p128[128] = '\0';
        snprintf(text, sizeof(text), "{\"prefix\": \"%s\"}", p128);
        c = load(text, &errs);
        ok(c != NULL, "a prefix of 128 characters is taken");
        tgw_conf_unref(c);
        tgw_conf_errors_free(&errs);
        snprintf(text, sizeof(text), "{\"prefix\": \"%sp\"}", p128);
        bad(text, "prefix: must be 1 to 128 visible ASCII characters "
            "without braces (as nginx's taskgw_prefix and taskgwctl -p)");
    }
    bad("{\"prefix\": \"a{b}\"}", "prefix: must be 1 to 128 visible ASCII "
        "characters without braces (as nginx's taskgw_prefix and "
        "taskgwctl -p)");
    bad("{\"prefix\": \"caf\u00e9\"}", "prefix: must be 1 to 128 visible "
        "ASCII characters without braces (as nginx's taskgw_prefix and "
        "taskgwctl -p)");

    /* a worker name: no control characters, at most 128 bytes */
    bad("{\"name\": \"w1\\nlevel=error\"}", "name: must be at most 128 "
        "bytes without control characters (newline, tab, ...)");
    bad("{\"name\": \"w\\t1\"}", "name: must be at most 128 bytes without "
        "control characters (newline, tab, ...)");
    c = load("{\"name\": \"worker 1 \u00e9\"}", &errs);
    ok(c != NULL && strcmp(c->name, "worker 1 \xc3\xa9") == 0,
       "a name with a space and UTF-8 is taken");
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);

    /* an exec program must be there and executable, found as execvp
     * finds it */
    bad("{\"handlers\": {\"x\": {\"exec\": [\"/nonexistent/prog\"]}}}",
        "handlers.x.exec[0]: cannot run \"/nonexistent/prog\": No such file "
        "or directory");
    bad("{\"handlers\": {\"x\": {\"exec\": [\"/etc/passwd\"]}}}",
        "handlers.x.exec[0]: cannot run \"/etc/passwd\": not executable");
    bad("{\"handlers\": {\"x\": {\"exec\": [\"/bin\"]}}}",
        "handlers.x.exec[0]: cannot run \"/bin\": not a regular file");
    bad("{\"handlers\": {\"x\": {\"exec\": [\"no-such-prog-tgw\"]}}}",
        "handlers.x.exec[0]: cannot run \"no-such-prog-tgw\": not found in "
        "PATH");
    c = load("{\"handlers\": {\"x\": {\"exec\": [\"sh\", \"-c\", \":\"]}}}",
             &errs);
    ok(c != NULL, "a program name without '/' is found in PATH");
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);
    bad("{\"password\": 5}", "password: expected a string or null, got "
        "an integer");

    /* several errors are all reported */
    c = load("{\"concurrency\": -1, \"db\": \"x\", \"bogus\": 1}", &errs);
    ok(c == NULL && errs.n == 3, "three errors reported at once (%zu)",
       errs.n);
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);

    /* syntax errors carry file:line:col */
    c = load("{\n  \"concurrency\": 4,\n}\n", &errs);
    ok(c == NULL && errs.n == 1 && strstr(errs.msg[0], ".json:3:") != NULL,
       "JSON syntax error names file:line (%s)", errs.n ? errs.msg[0] : "");
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);

    c = load("{\"db\": 1, \"db\": 2}", &errs);
    ok(c == NULL && errs.n == 1, "duplicate keys refused");
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);

    c = load("[1]", &errs);
    ok(c == NULL && errs.n == 1, "non-object refused");
    tgw_conf_unref(c);
    tgw_conf_errors_free(&errs);

    c = tgw_conf_load("/nonexistent/tgw.json", &errs);
    ok(c == NULL && errs.n == 1
       && strstr(errs.msg[0], "No such file") != NULL, "missing file");
    tgw_conf_errors_free(&errs);

    /* cron validation */
    ok(tgw_cron_validate("*/5 0-6,22 1 */2 1-5") == 0, "cron with lists");
    ok(tgw_cron_validate("* * * *") != 0, "cron with 4 fields");
    ok(tgw_cron_validate("* * * * * *") != 0, "cron with 6 fields");
    ok(tgw_cron_validate("* 24 * * *") != 0, "cron hour 24");
    ok(tgw_cron_validate("5-1 * * * *") != 0, "cron reversed range");
    ok(tgw_cron_validate("*/0 * * * *") != 0, "cron step 0");

    test_sentinel_conf();

    /* cleanup */
    for (int i = 1; i <= nfile; i++) {
        char p[300];

        snprintf(p, sizeof(p), "%s/c%d.json", tmpdir, i);
        unlink(p);
    }
    rmdir(tmpdir);
    return done_testing();
}
