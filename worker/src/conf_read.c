/*
 * The config parser's toolkit (see conf_read.h): error collection with
 * key paths, typed value readers and name rules.
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
 * Parse context and error collection
 * ------------------------------------------------------------------------ */

void
tgw_cp_error(tgw_cp_t *cp, const char *path, const char *fmt, ...)
{
    char      msg[512], *line, **grown;
    va_list   ap;
    int       n;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    n = path && *path ? snprintf(NULL, 0, "%s: %s", path, msg)
                      : (int) strlen(msg);
    line = malloc((size_t) n + 1);
    grown = realloc(cp->errs->msg, (cp->errs->n + 1) * sizeof(char *));
    if (line == NULL || grown == NULL) {
        free(line);
        if (grown) {
            cp->errs->msg = grown;
        }
        cp->nomem = 1;
        return;
    }
    if (path && *path) {
        snprintf(line, (size_t) n + 1, "%s: %s", path, msg);
    } else {
        memcpy(line, msg, (size_t) n + 1);
    }
    cp->errs->msg = grown;
    cp->errs->msg[cp->errs->n++] = line;
}


/* "parent.key" into buf (just "key" at the top level); a path too long
 * for buf is cut, which only shortens a message. */
const char *
tgw_cp_path(char *buf, size_t size, const char *parent, const char *key)
{
    int n;

    if (parent && *parent) {
        n = snprintf(buf, size, "%s.%s", parent, key);
    } else {
        n = snprintf(buf, size, "%s", key);
    }
    if (n < 0) {
        buf[0] = '\0';
    }
    return buf;
}


/* "parent[i]" into buf. */
const char *
tgw_cp_index(char *buf, size_t size, const char *parent, size_t i)
{
    if (snprintf(buf, size, "%s[%zu]", parent, i) < 0) {
        buf[0] = '\0';
    }
    return buf;
}


const char *
tgw_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return "an object";
    case JSON_ARRAY:   return "an array";
    case JSON_STRING:  return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL:    return "a number";
    case JSON_TRUE:
    case JSON_FALSE:   return "a boolean";
    case JSON_NULL:    return "null";
    }
    return "a value";
}


char *
tgw_cp_strdup(tgw_cp_t *cp, const char *s)
{
    char *d = strdup(s);

    if (d == NULL) {
        cp->nomem = 1;
    }
    return d;
}

/* ------------------------------------------------------------------------
 * Typed value readers: each checks the JSON type and range, stores the
 * value on success, reports "path: reason" and leaves the default alone on
 * failure.
 * ------------------------------------------------------------------------ */

int
tgw_cp_string(tgw_cp_t *cp, const char *path, json_t *v, int nullable,
    char **dst)
{
    char *s;

    if (nullable && json_is_null(v)) {
        free(*dst);
        *dst = NULL;
        return 0;
    }
    if (!json_is_string(v)) {
        tgw_cp_error(cp, path, "expected a string%s, got %s",
                     nullable ? " or null" : "", tgw_json_type_name(v));
        return -1;
    }
    if (json_string_length(v) == 0) {
        tgw_cp_error(cp, path, "must not be empty");
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        tgw_cp_error(cp, path, "must not contain NUL");
        return -1;
    }
    s = tgw_cp_strdup(cp, json_string_value(v));
    if (s == NULL) {
        return -1;
    }
    free(*dst);
    *dst = s;
    return 0;
}


int
tgw_cp_int(tgw_cp_t *cp, const char *path, json_t *v, long long min,
    long long max, int *dst)
{
    long long n;

    if (!json_is_integer(v)) {
        tgw_cp_error(cp, path, "expected an integer, got %s",
                     tgw_json_type_name(v));
        return -1;
    }
    n = json_integer_value(v);
    if (n < min || n > max) {
        tgw_cp_error(cp, path, "%lld is out of range %lld..%lld",
                     n, min, max);
        return -1;
    }
    *dst = (int) n;
    return 0;
}


int
tgw_cp_duration(tgw_cp_t *cp, const char *path, json_t *v, uint64_t min,
    uint64_t *dst)
{
    uint64_t ms;
    char     buf[32];

    if (!json_is_string(v)) {
        tgw_cp_error(cp, path, "expected a duration string like \"30s\", "
                     "got %s", tgw_json_type_name(v));
        return -1;
    }
    if (tgw_duration_parse(json_string_value(v), &ms) != 0) {
        tgw_cp_error(cp, path, "bad duration \"%s\"", json_string_value(v));
        return -1;
    }
    if (ms < min) {
        tgw_cp_error(cp, path, "must be at least %s",
                     tgw_duration_format(min, buf, sizeof(buf)));
        return -1;
    }
    *dst = ms;
    return 0;
}


int
tgw_cp_bool(tgw_cp_t *cp, const char *path, json_t *v, int *dst)
{
    if (!json_is_boolean(v)) {
        tgw_cp_error(cp, path, "expected true or false, got %s",
                     tgw_json_type_name(v));
        return -1;
    }
    *dst = json_is_true(v);
    return 0;
}


int
tgw_cp_object(tgw_cp_t *cp, const char *path, json_t *v)
{
    if (!json_is_object(v)) {
        tgw_cp_error(cp, path, "expected an object, got %s",
                     tgw_json_type_name(v));
        return -1;
    }
    return 0;
}


void
tgw_cp_fields(tgw_cp_t *cp, const char *path, json_t *v,
    const tgw_cp_field_t *f, size_t n)
{
    const char *key;
    json_t     *e;
    char        p[512];
    size_t      i;

    if (tgw_cp_object(cp, path, v) != 0) {
        return;
    }
    json_object_foreach(v, key, e) {
        tgw_cp_path(p, sizeof(p), path, key);
        for (i = 0; i < n && strcmp(key, f[i].key) != 0; i++) {
            /* look further */
        }
        if (i == n) {
            tgw_cp_error(cp, p, "unknown key");
        } else if (f[i].duration) {
            tgw_cp_duration(cp, p, e, (uint64_t) f[i].min, f[i].dst);
        } else {
            tgw_cp_int(cp, p, e, f[i].min, f[i].max, f[i].dst);
        }
    }
}


/*
 * Names of queues and schedules: [A-Za-z0-9._-]{1,64} (a queue name is
 * part of stream keys, where ':' separates).  Task types may also hold
 * ':' ("billing:invoice"), as the example nginx.conf accepts.
 */
int
tgw_cp_name_chars_ok(const char *s, int colon)
{
    size_t n = 0;

    for ( ; *s; s++, n++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
              || (*s >= '0' && *s <= '9') || *s == '.' || *s == '_'
              || *s == '-' || (colon && *s == ':')))
        {
            return 0;
        }
    }
    return n >= 1 && n <= 64;
}


int
tgw_cp_name_ok(const char *s)
{
    return tgw_cp_name_chars_ok(s, 0);
}


int
tgw_cp_type_ok(const char *s)
{
    return tgw_cp_name_chars_ok(s, 1);
}


/* The prefix rule shared with the module and taskgwctl (tgw_keys.h). */
int
tgw_cp_prefix_ok(const char *s)
{
    size_t n;

    for (n = 0; s[n]; n++) {
        if ((unsigned char) s[n] <= ' ' || (unsigned char) s[n] >= 0x7f
            || s[n] == '{' || s[n] == '}')
        {
            return 0;
        }
    }
    return n >= 1 && n <= TGW_PREFIX_MAX;
}


/*
 * A worker name goes into a key, the consumer name and every log line:
 * no control characters (a newline would split a log line), bounded.
 */
int
tgw_cp_worker_name_ok(const char *s)
{
    size_t n;

    for (n = 0; s[n]; n++) {
        if ((unsigned char) s[n] < ' ' || s[n] == 0x7f) {
            return 0;
        }
    }
    return n >= 1 && n <= TGW_NAME_MAX;
}


/* An absolute http:// or https:// URL with a host. */
int
tgw_cp_url_ok(const char *s)
{
    const char *rest;

    if (strncmp(s, "http://", 7) == 0) {
        rest = s + 7;
    } else if (strncmp(s, "https://", 8) == 0) {
        rest = s + 8;
    } else {
        return 0;
    }
    if (*rest == '\0' || *rest == '/' || *rest == ':') {
        return 0;
    }
    for ( ; *s; s++) {
        if ((unsigned char) *s <= ' ' || *s == 0x7f) {
            return 0;
        }
    }
    return 1;
}


int
tgw_cp_url(tgw_cp_t *cp, const char *path, json_t *v, int nullable,
    char **dst)
{
    if (tgw_cp_string(cp, path, v, nullable, dst) != 0) {
        return -1;
    }
    if (*dst && !tgw_cp_url_ok(*dst)) {
        tgw_cp_error(cp, path, "bad URL \"%s\" (want http:// or https://)",
                     *dst);
        free(*dst);
        *dst = NULL;
        return -1;
    }
    return 0;
}
