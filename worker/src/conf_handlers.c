/*
 * Config: the "handlers" and "schedules" keys (see conf.h and
 * docs/worker-config.md): what runs each task type, and the cron
 * schedules, each checked key by key.
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
 * Handlers
 * ------------------------------------------------------------------------ */

static const char *tgw_builtin_names[] = { "ping", "echo", "sleep", "fail" };


/*
 * Why the program of an exec handler cannot be run, or NULL when it can:
 * it is resolved as execvp resolves it when a task runs, a name with a
 * '/' as it is (relative to the worker's directory), any other in the
 * worker's PATH (TGW_DEFAULT_PATH without one); it must be a regular file
 * this process may execute.  Checked at load, so a typo is refused by
 * --check and by a reload instead of failing every task.
 */
static const char *
tgw_cp_exec_unrunnable(const char *prog)
{
    struct stat  st;
    const char  *dirs, *p, *end;
    char         full[4096];
    int          noexec = 0;
    size_t       n;

    if (strchr(prog, '/') != NULL) {
        if (stat(prog, &st) != 0) {
            return strerror(errno);
        }
        if (!S_ISREG(st.st_mode)) {
            return "not a regular file";
        }
        return access(prog, X_OK) == 0 ? NULL : "not executable";
    }

    dirs = getenv("PATH");
    if (dirs == NULL || *dirs == '\0') {
        dirs = TGW_DEFAULT_PATH;
    }
    for (p = dirs; ; p = end + 1) {
        end = strchrnul(p, ':');
        n = (size_t) (end - p);
        /* an empty entry is the current directory, as for execvp */
        if (snprintf(full, sizeof(full), "%.*s%s%s", (int) n, p,
                     n ? "/" : "", prog) < (int) sizeof(full)
            && stat(full, &st) == 0 && S_ISREG(st.st_mode))
        {
            if (access(full, X_OK) == 0) {
                return NULL;
            }
            noexec = 1;
        }
        if (*end == '\0') {
            break;
        }
    }
    return noexec ? "not executable" : "not found in PATH";
}


static void
tgw_cp_exec(tgw_cp_t *cp, tgw_handler_conf_t *h, const char *path, json_t *v)
{
    const char *why;

    size_t  i, n;
    char  **argv, p[512];
    json_t *e;

    if (!json_is_array(v) || json_array_size(v) == 0) {
        tgw_cp_error(cp, path, "expected a non-empty list of strings "
                     "(program and arguments), got %s",
                     json_is_array(v) ? "an empty list"
                                      : tgw_json_type_name(v));
        return;
    }
    n = json_array_size(v);
    argv = calloc(n + 1, sizeof(char *));
    if (argv == NULL) {
        cp->nomem = 1;
        return;
    }
    for (i = 0; i < n; i++) {
        e = json_array_get(v, i);
        tgw_cp_index(p, sizeof(p), path, i);
        if (!json_is_string(e)) {
            tgw_cp_error(cp, p, "expected a string, got %s",
                         tgw_json_type_name(e));
            argv[i] = NULL;
            break;
        }
        if (strlen(json_string_value(e)) != json_string_length(e)) {
            tgw_cp_error(cp, p, "must not contain NUL");
            break;
        }
        argv[i] = tgw_cp_strdup(cp, json_string_value(e));
        if (argv[i] == NULL) {
            break;
        }
    }
    if (argv[0] != NULL && argv[0][0] == '\0') {
        tgw_cp_error(cp, path, "program name must not be empty");
    } else if (argv[0] != NULL
               && (why = tgw_cp_exec_unrunnable(argv[0])) != NULL)
    {
        tgw_cp_index(p, sizeof(p), path, 0);
        tgw_cp_error(cp, p, "cannot run \"%s\": %s", argv[0], why);
    }
    h->argv = argv;
}


static void
tgw_cp_http(tgw_cp_t *cp, tgw_handler_conf_t *h, const char *path,
    json_t *v)
{
    const char *key;
    json_t     *e;
    char        p[512];

    if (tgw_cp_object(cp, path, v) != 0) {
        return;
    }
    json_object_foreach(v, key, e) {
        tgw_cp_path(p, sizeof(p), path, key);
        if (strcmp(key, "url") == 0) {
            tgw_cp_url(cp, p, e, 0, &h->http_url);
        } else if (strcmp(key, "timeout") == 0) {
            tgw_cp_duration(cp, p, e, 1, &h->http_timeout_ms);
        } else {
            tgw_cp_error(cp, p, "unknown key");
        }
    }
    if (h->http_url == NULL && json_object_get(v, "url") == NULL) {
        tgw_cp_error(cp, path, "missing key \"url\"");
    }
}


static void
tgw_cp_handler(tgw_cp_t *cp, tgw_handler_conf_t *h, const char *path,
    json_t *v)
{
    const char *key;
    json_t     *e;
    char        p[512];
    int         kinds = 0;
    size_t      i;

    h->http_timeout_ms = 10000;
    if (tgw_cp_object(cp, path, v) != 0) {
        return;
    }
    json_object_foreach(v, key, e) {
        tgw_cp_path(p, sizeof(p), path, key);
        if (strcmp(key, "builtin") == 0) {
            kinds++;
            h->kind = TGW_HANDLER_BUILTIN;
            if (!json_is_string(e)) {
                tgw_cp_error(cp, p, "expected a string, got %s",
                             tgw_json_type_name(e));
                continue;
            }
            for (i = 0; i < 4; i++) {
                if (strcmp(json_string_value(e), tgw_builtin_names[i]) == 0) {
                    h->builtin = (tgw_builtin_t) i;
                    break;
                }
            }
            if (i == 4) {
                tgw_cp_error(cp, p, "unknown builtin \"%s\" (want ping, "
                             "echo, sleep or fail)", json_string_value(e));
            }
        } else if (strcmp(key, "exec") == 0) {
            kinds++;
            h->kind = TGW_HANDLER_EXEC;
            tgw_cp_exec(cp, h, p, e);
        } else if (strcmp(key, "http") == 0) {
            kinds++;
            h->kind = TGW_HANDLER_HTTP;
            tgw_cp_http(cp, h, p, e);
        } else if (strcmp(key, "timeout") == 0) {
            tgw_cp_duration(cp, p, e, 1, &h->timeout_ms);
        } else if (strcmp(key, "max_attempts") == 0) {
            tgw_cp_int(cp, p, e, 1, TGW_MAX_ATTEMPTS_LIMIT,
                       &h->max_attempts);
        } else if (strcmp(key, "concurrency") == 0) {
            tgw_cp_int(cp, p, e, 1, 100000, &h->concurrency);
        } else if (strcmp(key, "webhook") == 0) {
            tgw_cp_url(cp, p, e, 1, &h->webhook);
        } else {
            tgw_cp_error(cp, p, "unknown key");
        }
    }
    if (kinds != 1) {
        tgw_cp_error(cp, path, "needs exactly one of \"builtin\", \"exec\" "
                     "or \"http\"");
    }
}


void
tgw_cp_handlers(tgw_cp_t *cp, tgw_conf_t *c, const char *path, json_t *v)
{
    const char         *key;
    json_t             *e;
    char                p[512];
    tgw_handler_conf_t *hs;
    size_t              i, n;

    if (tgw_cp_object(cp, path, v) != 0) {
        return;
    }
    n = json_object_size(v);
    hs = calloc(n ? n : 1, sizeof(*hs));
    if (hs == NULL) {
        cp->nomem = 1;
        return;
    }
    i = 0;
    json_object_foreach(v, key, e) {
        tgw_cp_path(p, sizeof(p), path, key);
        if (!tgw_cp_type_ok(key)) {
            tgw_cp_error(cp, p, "bad task type (want [A-Za-z0-9._:-]{1,64})");
            continue;
        }
        hs[i].type = tgw_cp_strdup(cp, key);
        tgw_cp_handler(cp, &hs[i], p, e);
        i++;
    }
    for (n = 0; n < c->nhandlers; n++) {
        tgw_handler_conf_free(&c->handlers[n]);
    }
    free(c->handlers);
    c->handlers = hs;
    c->nhandlers = i;
}

/* ------------------------------------------------------------------------
 * Cron expressions and schedules
 * ------------------------------------------------------------------------ */

int
tgw_cron_validate(const char *expr)
{
    tgw_cron_t c;

    return tgw_cron_parse(expr, &c);
}


void
tgw_cp_schedules(tgw_cp_t *cp, tgw_conf_t *c, const char *path, json_t *v)
{
    tgw_schedule_conf_t *ss, *s;
    const char          *key;
    json_t              *o, *e;
    char                 p[512], q[512];
    size_t               i, j, n;

    if (!json_is_array(v)) {
        tgw_cp_error(cp, path, "expected a list, got %s",
                     tgw_json_type_name(v));
        return;
    }
    n = json_array_size(v);
    ss = calloc(n ? n : 1, sizeof(*ss));
    if (ss == NULL) {
        cp->nomem = 1;
        return;
    }
    for (i = 0; i < n; i++) {
        s = &ss[i];
        o = json_array_get(v, i);
        tgw_cp_index(p, sizeof(p), path, i);
        if (tgw_cp_object(cp, p, o) != 0) {
            continue;
        }
        json_object_foreach(o, key, e) {
            tgw_cp_path(q, sizeof(q), p, key);
            if (strcmp(key, "name") == 0) {
                if (tgw_cp_string(cp, q, e, 0, &s->name) == 0
                    && !tgw_cp_name_ok(s->name))
                {
                    tgw_cp_error(cp, q, "bad name (want "
                                 "[A-Za-z0-9._-]{1,64})");
                }
            } else if (strcmp(key, "cron") == 0) {
                if (tgw_cp_string(cp, q, e, 0, &s->cron) == 0
                    && tgw_cron_validate(s->cron) != 0)
                {
                    tgw_cp_error(cp, q, "bad cron expression \"%s\"",
                                 s->cron);
                }
            } else if (strcmp(key, "queue") == 0) {
                if (tgw_cp_string(cp, q, e, 0, &s->queue) == 0
                    && !tgw_cp_name_ok(s->queue))
                {
                    tgw_cp_error(cp, q, "bad queue name");
                }
            } else if (strcmp(key, "type") == 0) {
                if (tgw_cp_string(cp, q, e, 0, &s->type) == 0
                    && !tgw_cp_type_ok(s->type))
                {
                    tgw_cp_error(cp, q, "bad task type (want "
                                 "[A-Za-z0-9._:-]{1,64})");
                }
            } else if (strcmp(key, "priority") == 0) {
                if (tgw_cp_string(cp, q, e, 0, &s->priority) == 0
                    && strcmp(s->priority, "high") != 0
                    && strcmp(s->priority, "normal") != 0
                    && strcmp(s->priority, "low") != 0)
                {
                    tgw_cp_error(cp, q, "want high, normal or low");
                }
            } else if (strcmp(key, "payload") == 0) {
                free(s->payload);
                s->payload = json_dumps(e, JSON_ENCODE_ANY | JSON_COMPACT);
                if (s->payload == NULL) {
                    cp->nomem = 1;
                }
            } else {
                tgw_cp_error(cp, q, "unknown key");
            }
        }
        if (s->name == NULL) {
            tgw_cp_error(cp, p, "missing key \"name\"");
        }
        if (s->cron == NULL) {
            tgw_cp_error(cp, p, "missing key \"cron\"");
        }
        if (s->type == NULL) {
            tgw_cp_error(cp, p, "missing key \"type\"");
        }
        if (s->queue == NULL) {
            s->queue = tgw_cp_strdup(cp, "default");
        }
        if (s->priority == NULL) {
            s->priority = tgw_cp_strdup(cp, "normal");
        }
        if (s->payload == NULL) {
            s->payload = tgw_cp_strdup(cp, "null");
        }
        for (j = 0; j < i && s->name; j++) {
            if (ss[j].name && strcmp(ss[j].name, s->name) == 0) {
                tgw_cp_error(cp, p, "duplicate schedule name \"%s\"",
                             s->name);
            }
        }
    }
    c->schedules = ss;
    c->nschedules = n;
}
