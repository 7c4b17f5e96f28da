/*
 * Config parsing and validation: JSON (jansson) into tgw_conf_t.  Every key
 * is checked for type and range; unknown keys are errors, so a typo never
 * silently falls back to a default.  This file has the top level and the
 * composite values; conf_read.c the readers, conf_handlers.c the handlers
 * and schedules.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "conf_read.h"
#include "cron.h"
#include "tgw_duration.h"
#include "tgw_keys.h"
/* ------------------------------------------------------------------------
 * Composite values
 * ------------------------------------------------------------------------ */

/* "host:port", "[v6]:port" or "unix:/path". */
static void
tgw_cp_redis(tgw_cp_t *cp, tgw_conf_t *c, const char *path, json_t *v)
{
    char       *s = NULL, *colon, *end, *host;
    long        port;

    if (tgw_cp_string(cp, path, v, 0, &s) != 0) {
        return;
    }

    if (strncmp(s, "unix:", 5) == 0) {
        if (s[5] != '/') {
            tgw_cp_error(cp, path, "bad address \"%s\" (want unix:/path)", s);
            free(s);
            return;
        }
        free(c->redis_unix);
        free(c->redis_host);
        c->redis_host = NULL;
        c->redis_unix = tgw_cp_strdup(cp, s + 5);
        free(s);
        return;
    }

    colon = strrchr(s, ':');
    if (colon == NULL || colon == s) {
        goto bad;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno || port < 1
        || port > 65535)
    {
        goto bad;
    }
    *colon = '\0';
    host = s;
    if (*host == '[') {
        if (colon[-1] != ']' || colon - s < 3) {
            goto bad;
        }
        colon[-1] = '\0';
        host++;
    } else if (strchr(host, ':') != NULL) {
        goto bad;                   /* IPv6 needs brackets */
    }
    free(c->redis_host);
    free(c->redis_unix);
    c->redis_unix = NULL;
    c->redis_host = tgw_cp_strdup(cp, host);
    c->redis_port = (int) port;
    free(s);
    return;

bad:
    tgw_cp_error(cp, path, "bad address \"%s\" (want host:port or "
                 "unix:/path)", json_string_value(v));
    free(s);
}


/* "sentinel": ["host:port", ...], at least one. */
static void
tgw_cp_sentinels(tgw_cp_t *cp, tgw_conf_t *c, const char *path, json_t *v)
{
    json_t      *w;
    char         p[512];
    const char  *s;
    size_t       i, n;

    if (!json_is_array(v)) {
        tgw_cp_error(cp, path, "expected an array of \"host:port\" "
                     "strings, got %s", tgw_json_type_name(v));
        return;
    }
    n = json_array_size(v);
    if (n == 0) {
        tgw_cp_error(cp, path, "must name at least one sentinel");
        return;
    }
    if (n > TGW_SENTINEL_MAX) {
        tgw_cp_error(cp, path, "at most %d sentinels", TGW_SENTINEL_MAX);
        return;
    }
    free(c->sentinels);
    c->nsentinels = 0;
    c->sentinels = calloc(n, sizeof(tgw_addr_t));
    if (c->sentinels == NULL) {
        cp->nomem = 1;
        return;
    }
    json_array_foreach(v, i, w) {
        tgw_cp_index(p, sizeof(p), path, i);
        if (!json_is_string(w)) {
            tgw_cp_error(cp, p, "expected a string, got %s",
                         tgw_json_type_name(w));
            continue;
        }
        s = json_string_value(w);
        if (tgw_addr_parse(s, strlen(s), &c->sentinels[c->nsentinels])
            != 0)
        {
            tgw_cp_error(cp, p, "bad address \"%s\" (want host:port or "
                         "[v6]:port)", s);
            continue;
        }
        c->nsentinels++;
    }
}


static void
tgw_cp_queues(tgw_cp_t *cp, tgw_conf_t *c, const char *path, json_t *v)
{
    const char       *key;
    json_t           *w;
    char              p[512];
    tgw_queue_conf_t *q;
    size_t            i, n;

    if (tgw_cp_object(cp, path, v) != 0) {
        return;
    }
    n = json_object_size(v);
    if (n == 0) {
        tgw_cp_error(cp, path, "must name at least one queue");
        return;
    }
    q = calloc(n, sizeof(*q));
    if (q == NULL) {
        cp->nomem = 1;
        return;
    }
    i = 0;
    json_object_foreach(v, key, w) {
        tgw_cp_path(p, sizeof(p), path, key);
        if (!tgw_cp_name_ok(key)) {
            tgw_cp_error(cp, p, "bad queue name (want [A-Za-z0-9._-]{1,64})");
            continue;
        }
        if (tgw_cp_int(cp, p, w, 1, 1000, &q[i].weight) != 0) {
            continue;
        }
        q[i].name = tgw_cp_strdup(cp, key);
        if (q[i].name == NULL) {
            continue;
        }
        i++;
    }
    for (n = 0; n < c->nqueues; n++) {
        free(c->queues[n].name);
    }
    free(c->queues);
    c->queues = q;
    c->nqueues = i;
}


/* A "whsec_<base64>" secret, as Standard Webhooks defines it. */
static int
tgw_cp_secret_ok(const char *s)
{
    size_t n = 0;

    if (strncmp(s, "whsec_", 6) != 0) {
        return 0;
    }
    for (s += 6; *s; s++, n++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
              || (*s >= '0' && *s <= '9') || *s == '+' || *s == '/'
              || *s == '='))
        {
            return 0;
        }
    }
    return n >= 4;
}


static void
tgw_cp_free_strv(char **v, size_t n)
{
    size_t i;

    if (v == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}


static void
tgw_cp_secrets(tgw_cp_t *cp, tgw_conf_t *c, const char *path, json_t *v)
{
    json_t  *e;
    char   **s, p[512];
    size_t   i, n;

    if (json_is_null(v)) {
        tgw_cp_free_strv(c->webhook_secrets, c->webhook_nsecrets);
        c->webhook_secrets = NULL;
        c->webhook_nsecrets = 0;
        return;
    }
    if (!json_is_string(v) && !json_is_array(v)) {
        tgw_cp_error(cp, path, "expected a string, a list of strings or "
                     "null, got %s", tgw_json_type_name(v));
        return;
    }
    n = json_is_string(v) ? 1 : json_array_size(v);
    if (n == 0) {
        tgw_cp_error(cp, path, "must hold at least one secret");
        return;
    }
    s = calloc(n, sizeof(char *));
    if (s == NULL) {
        cp->nomem = 1;
        return;
    }
    for (i = 0; i < n; i++) {
        e = json_is_string(v) ? v : json_array_get(v, i);
        if (json_is_string(v)) {
            snprintf(p, sizeof(p), "%s", path);
        } else {
            tgw_cp_index(p, sizeof(p), path, i);
        }
        if (tgw_cp_string(cp, p, e, 0, &s[i]) != 0) {
            continue;
        }
        if (!tgw_cp_secret_ok(s[i])) {
            /* Never echo a secret into a message. */
            tgw_cp_error(cp, p, "bad secret (want \"whsec_\" + base64)");
        }
    }
    tgw_cp_free_strv(c->webhook_secrets, c->webhook_nsecrets);
    c->webhook_secrets = s;
    c->webhook_nsecrets = n;
}


static void
tgw_cp_schedule_list(tgw_cp_t *cp, tgw_conf_t *c, const char *path,
    json_t *v)
{
    uint64_t *d;
    size_t    i, n;
    char      p[512];

    if (!json_is_array(v)) {
        tgw_cp_error(cp, path, "expected a list of durations, got %s",
                     tgw_json_type_name(v));
        return;
    }
    n = json_array_size(v);
    d = calloc(n ? n : 1, sizeof(uint64_t));
    if (d == NULL) {
        cp->nomem = 1;
        return;
    }
    for (i = 0; i < n; i++) {
        tgw_cp_index(p, sizeof(p), path, i);
        tgw_cp_duration(cp, p, json_array_get(v, i), 1, &d[i]);
    }
    free(c->webhook_schedule);
    c->webhook_schedule = d;
    c->webhook_nschedule = n;
}


static void
tgw_cp_webhook(tgw_cp_t *cp, tgw_conf_t *c, const char *path, json_t *v)
{
    const char *key;
    json_t     *e;
    char        p[512];

    if (tgw_cp_object(cp, path, v) != 0) {
        return;
    }
    json_object_foreach(v, key, e) {
        tgw_cp_path(p, sizeof(p), path, key);
        if (strcmp(key, "secret") == 0) {
            tgw_cp_secrets(cp, c, p, e);
        } else if (strcmp(key, "url") == 0) {
            tgw_cp_url(cp, p, e, 1, &c->webhook_url);
        } else if (strcmp(key, "timeout") == 0) {
            tgw_cp_duration(cp, p, e, 1, &c->webhook_timeout_ms);
        } else if (strcmp(key, "schedule") == 0) {
            tgw_cp_schedule_list(cp, c, p, e);
        } else if (strcmp(key, "allow_private") == 0) {
            tgw_cp_bool(cp, p, e, &c->webhook_allow_private);
        } else {
            tgw_cp_error(cp, p, "unknown key");
        }
    }
}


static void
tgw_cp_retry(tgw_cp_t *cp, tgw_conf_t *c, const char *path, json_t *v)
{
    tgw_cp_field_t f[] = {
        { "max_attempts", 0, 1, TGW_MAX_ATTEMPTS_LIMIT,
          &c->retry_max_attempts },
        { "base", 1, 1, 0, &c->retry_base_ms },
        { "cap", 1, 1, 0, &c->retry_cap_ms }
    };

    tgw_cp_fields(cp, path, v, f, sizeof(f) / sizeof(f[0]));
}


/* redis_backoff: {"min": duration, "max": duration} */
static void
tgw_cp_backoff(tgw_cp_t *cp, tgw_conf_t *c, const char *path, json_t *v)
{
    tgw_cp_field_t f[] = {
        { "min", 1, 1, 0, &c->redis_backoff_min_ms },
        { "max", 1, 1, 0, &c->redis_backoff_max_ms }
    };

    tgw_cp_fields(cp, path, v, f, sizeof(f) / sizeof(f[0]));
}


/* ------------------------------------------------------------------------
 * The top level
 * ------------------------------------------------------------------------ */

/* The defaults (docs/worker-config.md). */
static int
tgw_conf_defaults(tgw_conf_t *c)
{
    static const uint64_t sched[] = {
        5000, 300000, 1800000, 7200000, 18000000, 36000000, 36000000
    };
    char host[256];

    c->refs = 1;
    c->redis_host = strdup("127.0.0.1");
    c->redis_port = 6379;
    c->redis_timeout_ms = 5000;
    c->redis_backoff_min_ms = 100;
    c->redis_backoff_max_ms = 5000;
    c->prefix = strdup("taskgw");
    c->group = strdup("workers");
    c->concurrency = 16;
    c->claim_idle_ms = 60000;
    c->result_ttl_ms = 7ULL * 24 * 3600 * 1000;
    c->result_max_bytes = 65536;
    c->shutdown_grace_ms = 30000;
    c->exec_spawner_timeout_ms = 10000;
    c->retry_max_attempts = 5;
    c->retry_base_ms = 1000;
    c->retry_cap_ms = 3600000;
    c->webhook_timeout_ms = 10000;
    c->webhook_schedule = malloc(sizeof(sched));
    c->webhook_nschedule = sizeof(sched) / sizeof(sched[0]);
    c->queues = calloc(1, sizeof(tgw_queue_conf_t));
    if (c->queues) {
        c->nqueues = 1;
        c->queues[0].name = strdup("default");
        c->queues[0].weight = 1;
    }
    if (gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "worker");
    }
    host[sizeof(host) - 1] = '\0';
    if (asprintf(&c->name, "%s-%ld", host, (long) getpid()) < 0) {
        c->name = NULL;
    }
    if (c->webhook_schedule) {
        memcpy(c->webhook_schedule, sched, sizeof(sched));
    }
    return (c->redis_host && c->prefix && c->group && c->webhook_schedule
            && c->queues && c->queues[0].name && c->name) ? 0 : -1;
}


static void
tgw_conf_top(tgw_cp_t *cp, tgw_conf_t *c, json_t *root)
{
    const char *key;
    json_t     *v;
    char       *name = NULL;
    int         n, redis = 0, sentinel = 0;

    json_object_foreach(root, key, v) {
        if (strcmp(key, "redis") == 0) {
            redis = 1;
            tgw_cp_redis(cp, c, key, v);
        } else if (strcmp(key, "sentinel") == 0) {
            sentinel = 1;
            tgw_cp_sentinels(cp, c, key, v);
        } else if (strcmp(key, "master") == 0) {
            if (tgw_cp_string(cp, key, v, 0, &c->master) == 0
                && !tgw_master_name_ok(c->master))
            {
                tgw_cp_error(cp, key, "must be 1 to %d visible ASCII "
                             "characters", TGW_MASTER_NAME_MAX);
            }
        } else if (strcmp(key, "sentinel_password") == 0) {
            tgw_cp_string(cp, key, v, 1, &c->sentinel_password);
        } else if (strcmp(key, "password") == 0) {
            tgw_cp_string(cp, key, v, 1, &c->password);
        } else if (strcmp(key, "db") == 0) {
            tgw_cp_int(cp, key, v, 0, 1000000, &c->db);
        } else if (strcmp(key, "redis_timeout") == 0) {
            tgw_cp_duration(cp, key, v, 10, &c->redis_timeout_ms);
        } else if (strcmp(key, "redis_backoff") == 0) {
            tgw_cp_backoff(cp, c, key, v);
        } else if (strcmp(key, "prefix") == 0) {
            if (tgw_cp_string(cp, key, v, 0, &c->prefix) == 0
                && !tgw_cp_prefix_ok(c->prefix))
            {
                tgw_cp_error(cp, key, "must be 1 to %d visible ASCII "
                             "characters without braces (as nginx's "
                             "taskgw_prefix and taskgwctl -p)",
                             TGW_PREFIX_MAX);
            }
        } else if (strcmp(key, "group") == 0) {
            tgw_cp_string(cp, key, v, 0, &c->group);
        } else if (strcmp(key, "name") == 0) {
            /* null keeps the default, host-pid */
            if (tgw_cp_string(cp, key, v, 1, &name) == 0 && name
                && !tgw_cp_worker_name_ok(name))
            {
                tgw_cp_error(cp, key, "must be at most %d bytes without "
                             "control characters (newline, tab, ...)",
                             TGW_NAME_MAX);
            } else if (name) {
                free(c->name);
                c->name = name;
                name = NULL;
            }
        } else if (strcmp(key, "concurrency") == 0) {
            tgw_cp_int(cp, key, v, 1, 100000, &c->concurrency);
        } else if (strcmp(key, "queues") == 0) {
            tgw_cp_queues(cp, c, key, v);
        } else if (strcmp(key, "claim_idle") == 0) {
            tgw_cp_duration(cp, key, v, 1000, &c->claim_idle_ms);
        } else if (strcmp(key, "result_ttl") == 0) {
            tgw_cp_duration(cp, key, v, 1000, &c->result_ttl_ms);
        } else if (strcmp(key, "result_max_bytes") == 0) {
            if (tgw_cp_int(cp, key, v, 1, 512 * 1024 * 1024, &n) == 0) {
                c->result_max_bytes = (size_t) n;
            }
        } else if (strcmp(key, "shutdown_grace") == 0) {
            tgw_cp_duration(cp, key, v, 0, &c->shutdown_grace_ms);
        } else if (strcmp(key, "exec_spawner_timeout") == 0) {
            tgw_cp_duration(cp, key, v, 1000, &c->exec_spawner_timeout_ms);
        } else if (strcmp(key, "retry") == 0) {
            tgw_cp_retry(cp, c, key, v);
        } else if (strcmp(key, "webhook") == 0) {
            tgw_cp_webhook(cp, c, key, v);
        } else if (strcmp(key, "handlers") == 0) {
            tgw_cp_handlers(cp, c, key, v);
        } else if (strcmp(key, "schedules") == 0) {
            tgw_cp_schedules(cp, c, key, v);
        } else {
            tgw_cp_error(cp, key, "unknown key");
        }
    }
    free(name);                     /* a refused one */

    /* Rules across keys. */
    if (redis && sentinel) {
        tgw_cp_error(cp, "sentinel", "cannot be given with \"redis\": the "
                     "sentinels name the Redis server");
    }
    if (sentinel && json_object_get(root, "master") == NULL) {
        tgw_cp_error(cp, "sentinel", "needs \"master\", the name the "
                     "sentinels monitor it under");
    }
    if (!sentinel && json_object_get(root, "master") != NULL) {
        tgw_cp_error(cp, "master", "needs \"sentinel\", the sentinels to "
                     "ask for its address");
    }
    if (!sentinel && json_object_get(root, "sentinel_password") != NULL) {
        tgw_cp_error(cp, "sentinel_password", "needs \"sentinel\"");
    }
    if (c->retry_cap_ms < c->retry_base_ms) {
        tgw_cp_error(cp, "retry.cap", "must not be less than retry.base");
    }
    if (c->redis_backoff_max_ms < c->redis_backoff_min_ms) {
        tgw_cp_error(cp, "redis_backoff.max",
                     "must not be less than redis_backoff.min");
    }
}


tgw_conf_t *
tgw_conf_parse(const char *text, size_t len, const char *path,
    tgw_conf_errors_t *errs)
{
    tgw_cp_t      cp;
    tgw_conf_t   *c;
    json_t       *root;
    json_error_t  jerr;

    errs->msg = NULL;
    errs->n = 0;
    cp.errs = errs;
    cp.nomem = 0;

    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        tgw_cp_error(&cp, NULL, "%s:%d:%d: %s", path, jerr.line, jerr.column,
                     jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        tgw_cp_error(&cp, NULL, "%s: the config must be a JSON object", path);
        json_decref(root);
        return NULL;
    }

    c = calloc(1, sizeof(*c));
    if (c == NULL || tgw_conf_defaults(c) != 0) {
        cp.nomem = 1;
    } else {
        c->path = strdup(path);
        if (c->path == NULL) {
            cp.nomem = 1;
        }
        tgw_conf_top(&cp, c, root);
    }
    json_decref(root);

    if (cp.nomem) {
        tgw_cp_error(&cp, NULL, "%s: out of memory", path);
    }
    if (errs->n > 0 || cp.nomem) {
        if (c) {
            c->refs = 1;
            tgw_conf_unref(c);
        }
        return NULL;
    }
    return c;
}


tgw_conf_t *
tgw_conf_load(const char *path, tgw_conf_errors_t *errs)
{
    tgw_cp_t  cp;
    FILE     *f;
    char     *buf = NULL, *grown;
    size_t    len = 0, cap = 0, n;
    tgw_conf_t *c;

    errs->msg = NULL;
    errs->n = 0;
    cp.errs = errs;
    cp.nomem = 0;

    f = fopen(path, "re");
    if (f == NULL) {
        tgw_cp_error(&cp, NULL, "%s: %s", path, strerror(errno));
        return NULL;
    }
    for ( ;; ) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            if (cap > 16 * 1024 * 1024) {
                tgw_cp_error(&cp, NULL, "%s: file too large", path);
                goto fail;
            }
            grown = realloc(buf, cap);
            if (grown == NULL) {
                tgw_cp_error(&cp, NULL, "%s: out of memory", path);
                goto fail;
            }
            buf = grown;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(f)) {
        tgw_cp_error(&cp, NULL, "%s: read error", path);
        goto fail;
    }
    fclose(f);

    c = tgw_conf_parse(buf, len, path, errs);
    free(buf);
    return c;

fail:
    fclose(f);
    free(buf);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Lookups and lifetime
 * ------------------------------------------------------------------------ */

const tgw_handler_conf_t *
tgw_conf_handler(const tgw_conf_t *conf, const char *type)
{
    size_t i;

    for (i = 0; type && i < conf->nhandlers; i++) {
        if (strcmp(conf->handlers[i].type, type) == 0) {
            return &conf->handlers[i];
        }
    }
    return NULL;
}


int
tgw_conf_max_attempts(const tgw_conf_t *conf, const tgw_handler_conf_t *h)
{
    return (h && h->max_attempts > 0) ? h->max_attempts
                                      : conf->retry_max_attempts;
}


tgw_conf_t *
tgw_conf_ref(tgw_conf_t *conf)
{
    conf->refs++;
    return conf;
}


void
tgw_handler_conf_free(tgw_handler_conf_t *h)
{
    char **a;

    free(h->type);
    if (h->argv) {
        for (a = h->argv; *a; a++) {
            free(*a);
        }
        free(h->argv);
    }
    free(h->http_url);
    free(h->webhook);
}


void
tgw_conf_unref(tgw_conf_t *c)
{
    size_t i;

    if (c == NULL || --c->refs > 0) {
        return;
    }
    free(c->path);
    free(c->redis_host);
    free(c->redis_unix);
    free(c->password);
    free(c->sentinels);
    free(c->master);
    free(c->sentinel_password);
    free(c->prefix);
    free(c->group);
    free(c->name);
    for (i = 0; i < c->nqueues; i++) {
        free(c->queues[i].name);
    }
    free(c->queues);
    tgw_cp_free_strv(c->webhook_secrets, c->webhook_nsecrets);
    free(c->webhook_url);
    free(c->webhook_schedule);
    for (i = 0; i < c->nhandlers; i++) {
        tgw_handler_conf_free(&c->handlers[i]);
    }
    free(c->handlers);
    for (i = 0; i < c->nschedules; i++) {
        free(c->schedules[i].name);
        free(c->schedules[i].cron);
        free(c->schedules[i].queue);
        free(c->schedules[i].type);
        free(c->schedules[i].priority);
        free(c->schedules[i].payload);
    }
    free(c->schedules);
    free(c->take_head);
    free(c->record_head);
    free(c);
}


void
tgw_conf_errors_free(tgw_conf_errors_t *errs)
{
    tgw_cp_free_strv(errs->msg, errs->n);
    errs->msg = NULL;
    errs->n = 0;
}
