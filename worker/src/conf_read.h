/*
 * The config parser's own toolkit, shared by conf.c (the top level and
 * composite values) and conf_handlers.c (handlers and schedules): the
 * parse context that collects every error with its key path, the typed
 * value readers, and the name rules.  Not used outside the parser.
 */

#ifndef TGW_CONF_READ_H
#define TGW_CONF_READ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "conf.h"

/* A parse in progress. */
typedef struct {
    tgw_conf_errors_t  *errs;       /* every error so far, one a line */
    int                 nomem;      /* an allocation failed somewhere */
} tgw_cp_t;

/* Records "path: message" (printf-style). */
void tgw_cp_error(tgw_cp_t *cp, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Key paths for messages: "parent.key" and "parent[i]". */
const char *tgw_cp_path(char *buf, size_t size, const char *parent,
    const char *key);
const char *tgw_cp_index(char *buf, size_t size, const char *parent,
    size_t i);
const char *tgw_json_type_name(const json_t *v);
char *tgw_cp_strdup(tgw_cp_t *cp, const char *s);

/*
 * Typed readers: each checks the JSON type and range, stores the value in
 * *dst and returns 0, or records an error naming path and returns -1.
 */
int tgw_cp_string(tgw_cp_t *cp, const char *path, json_t *v, int nullable,
    char **dst);
int tgw_cp_int(tgw_cp_t *cp, const char *path, json_t *v, long long min,
    long long max, int *dst);
int tgw_cp_duration(tgw_cp_t *cp, const char *path, json_t *v,
    uint64_t min, uint64_t *dst);
int tgw_cp_bool(tgw_cp_t *cp, const char *path, json_t *v, int *dst);
int tgw_cp_object(tgw_cp_t *cp, const char *path, json_t *v);
int tgw_cp_url(tgw_cp_t *cp, const char *path, json_t *v, int nullable,
    char **dst);

/* One key of a small object of numbers (retry, redis_backoff). */
typedef struct {
    const char         *key;
    int                 duration;   /* 1: a duration of at least min ms
                                       into a uint64_t; 0: an integer
                                       min..max into an int */
    long long           min, max;
    void               *dst;
} tgw_cp_field_t;

/* Reads object v of the n keys f; any other key is an error. */
void tgw_cp_fields(tgw_cp_t *cp, const char *path, json_t *v,
    const tgw_cp_field_t *f, size_t n);

/* Name rules (1 when s is good). */
int tgw_cp_name_chars_ok(const char *s, int colon);
int tgw_cp_name_ok(const char *s);
int tgw_cp_type_ok(const char *s);
int tgw_cp_prefix_ok(const char *s);
int tgw_cp_worker_name_ok(const char *s);
int tgw_cp_url_ok(const char *s);

/* conf_handlers.c: the "handlers" and "schedules" keys. */
void tgw_cp_handlers(tgw_cp_t *cp, tgw_conf_t *c, const char *path,
    json_t *v);
void tgw_cp_schedules(tgw_cp_t *cp, tgw_conf_t *c, const char *path,
    json_t *v);

/* conf.c: frees what a handler holds. */
void tgw_handler_conf_free(tgw_handler_conf_t *h);

#endif /* TGW_CONF_READ_H */
