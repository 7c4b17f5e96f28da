/*
 * tgw_ctl_args: taskgwctl's global options and the Redis address syntax.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tgw_keys.h"
#include "tgw_ctl_args.h"
#include "tgw_buf.h"
#include "tgw_clock.h"
#include "tgw_text.h"
#include "tgw_uuid.h"

#define TGW_CTL_DEFAULT_REDIS  "127.0.0.1:6379"


int
tgw_ctl_parse_addr(const char *s, char *host, size_t size, int *port)
{
    const char  *colon, *h, *end;
    size_t       hlen;
    int64_t      p;

    if (strncmp(s, "unix:", 5) == 0) {
        s += 5;
        if (s[0] != '/' || strlen(s) >= size || strlen(s) > 107) {
            return -1;                  /* sun_path holds 108 bytes */
        }
        memcpy(host, s, strlen(s) + 1);
        *port = 0;
        return 0;
    }

    if (s[0] == '[') {                  /* [v6]:port */
        end = strchr(s, ']');
        if (end == NULL || end == s + 1) {
            return -1;
        }
        h = s + 1;
        hlen = (size_t) (end - h);
        colon = end[1] == ':' ? end + 1 : NULL;
        if (colon == NULL && end[1] != '\0') {
            return -1;
        }
    } else {
        colon = strrchr(s, ':');
        if (colon != NULL && strchr(s, ':') != colon) {
            return -1;                  /* bare v6 needs brackets */
        }
        h = s;
        hlen = colon ? (size_t) (colon - s) : strlen(s);
    }

    if (hlen == 0 || hlen >= size) {
        return -1;
    }

    if (colon == NULL) {
        p = 6379;
    } else if (tgw_parse_int64(colon + 1, strlen(colon + 1), &p) != 0
               || p < 1 || p > 65535 || colon[1] == '-')
    {
        return -1;
    }

    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (!tgw_valid_word(host, TGW_CTL_HOST_MAX, s[0] == '[')) {
        return -1;
    }

    *port = (int) p;
    return 0;
}


/*
 * Matches option a against its short and long names.  For an option with
 * a value, *val gets the value ("--long=V" or the next argument, *i
 * advances).  Returns 1 on a match, 0 when a is another option, -1 when
 * the value is missing.
 */
static int
tgw_ctl_opt(int argc, char **argv, int *i, const char *sh, const char *lg,
            const char **val)
{
    const char  *a = argv[*i];
    size_t       len = strlen(lg);

    if (val == NULL) {
        return strcmp(a, sh) == 0 || strcmp(a, lg) == 0;
    }

    if (strncmp(a, lg, len) == 0 && a[len] == '=') {
        *val = a + len + 1;
        return 1;
    }

    if (strcmp(a, sh) != 0 && strcmp(a, lg) != 0) {
        return 0;
    }

    if (*i + 1 >= argc) {
        return -1;
    }

    *val = argv[++*i];
    return 1;
}


/* The config file's JSON; NULL with a message in err. */
static json_t *
tgw_ctl_read_config(const char *path, char *err, size_t errlen)
{
    json_t        *root;
    json_error_t   jerr;

    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        if (jerr.line <= 0) {
            snprintf(err, errlen, "%s: %s", path, jerr.text);
        } else {
            snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line,
                     jerr.column, jerr.text);
        }
        return NULL;
    }

    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: the config must be a JSON object", path);
        json_decref(root);
        return NULL;
    }

    return root;
}


/*
 * A string key of the config file into *val when *val is not set yet
 * (the command line gave none).  -1 with a message when it has another
 * type (null counts as absent where nullable).
 */
static int
tgw_ctl_config_string(json_t *root, const char *path, const char *key,
    int nullable, const char **val, char *err, size_t errlen)
{
    json_t  *v = json_object_get(root, key);

    if (v == NULL || (nullable && json_is_null(v))) {
        return 0;
    }

    if (!json_is_string(v)) {
        snprintf(err, errlen, "%s: %s: expected a string%s", path, key,
                 nullable ? " or null" : "");
        return -1;
    }

    if (*val == NULL) {
        *val = json_string_value(v);
    }

    return 0;
}


/* The config file's "sentinel" array into o->sentinels. */
static int
tgw_ctl_config_sentinels(json_t *v, const char *path, tgw_ctl_opts_t *o,
    char *err, size_t errlen)
{
    json_t      *w;
    const char  *s;
    size_t       i;

    if (!json_is_array(v)) {
        snprintf(err, errlen, "%s: sentinel: expected an array of "
                 "\"host:port\" strings", path);
        return -1;
    }

    if (json_array_size(v) == 0 || json_array_size(v) > TGW_SENTINEL_MAX) {
        snprintf(err, errlen, "%s: sentinel: must name 1 to %d sentinels",
                 path, TGW_SENTINEL_MAX);
        return -1;
    }

    json_array_foreach(v, i, w) {
        s = json_string_value(w);
        if (s == NULL || tgw_addr_parse(s, strlen(s), &o->sentinels[i]) != 0)
        {
            snprintf(err, errlen, "%s: sentinel[%zu]: bad address (want "
                     "host:port or [v6]:port)", path, i);
            return -1;
        }
    }

    o->nsentinels = (int) json_array_size(v);
    return 0;
}


int
tgw_ctl_parse_opts(int argc, char **argv, tgw_ctl_opts_t *o,
                   char *err, size_t errlen)
{
    const char  *db = NULL, *a, *redis = NULL, *sentinel = NULL;
    const char  *password = NULL, *config = NULL;
    json_t      *root = NULL, *v;
    int64_t      n;
    int          i, j, m;

    memset(o, 0, sizeof(*o));

    /* ---- options before the command ---- */

    for (i = 1; i < argc; i++) {
        a = argv[i];

        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }

        if (a[0] != '-' || a[1] == '\0') {
            break;
        }

        if (tgw_ctl_opt(argc, argv, &i, "--json", "--json", NULL)) {
            o->json = 1;
            continue;
        }

        if (tgw_ctl_opt(argc, argv, &i, "-h", "--help", NULL)) {
            o->help = 1;
            continue;
        }

        if ((m = tgw_ctl_opt(argc, argv, &i, "-r", "--redis", &redis))
            || (m = tgw_ctl_opt(argc, argv, &i, "-S", "--sentinel",
                                &sentinel))
            || (m = tgw_ctl_opt(argc, argv, &i, "-M", "--master",
                                &o->master))
            || (m = tgw_ctl_opt(argc, argv, &i, "-c", "--config", &config))
            || (m = tgw_ctl_opt(argc, argv, &i, "-a", "--password",
                                &password))
            || (m = tgw_ctl_opt(argc, argv, &i, "-n", "--db", &db))
            || (m = tgw_ctl_opt(argc, argv, &i, "-p", "--prefix", &o->prefix))
            || (m = tgw_ctl_opt(argc, argv, &i, "-g", "--group", &o->group)))
        {
            if (m < 0) {
                snprintf(err, errlen, "option %s needs a value", a);
                return -1;
            }
            continue;
        }

        snprintf(err, errlen, "unknown option \"%s\"", a);
        return -1;
    }

    /* ---- the command and its arguments; --json may follow it ---- */

    o->argv = argv + i;
    for (j = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            o->json = 1;
            continue;
        }
        o->argv[j++] = argv[i];
    }
    o->argc = j;

    /* ---- where Redis is: the command line, else the config file ---- */

    if (redis != NULL && (sentinel != NULL || o->master != NULL)) {
        snprintf(err, errlen, "--redis cannot be given with --sentinel or "
                 "--master");
        return -1;
    }

    if (sentinel != NULL) {
        o->nsentinels = tgw_sentinel_parse_list(sentinel, o->sentinels,
                                                TGW_SENTINEL_MAX, err,
                                                errlen);
        if (o->nsentinels < 0) {
            o->nsentinels = 0;
            return -1;
        }
    }

    o->password = password;
    if (o->password == NULL) {
        o->password = getenv("TASKGW_REDIS_PASSWORD");
        if (o->password != NULL && o->password[0] == '\0') {
            o->password = NULL;
        }
    }

    if (config != NULL) {
        root = tgw_ctl_read_config(config, err, errlen);
        if (root == NULL) {
            return -1;
        }
        o->config = root;

        if (redis == NULL && sentinel == NULL && o->master == NULL) {
            if (json_object_get(root, "redis") != NULL
                && json_object_get(root, "sentinel") != NULL)
            {
                snprintf(err, errlen, "%s: sentinel: cannot be given with "
                         "\"redis\"", config);
                return -1;
            }
            if (tgw_ctl_config_string(root, config, "redis", 0, &redis, err,
                                      errlen) != 0)
            {
                return -1;
            }
        }

        if (redis == NULL && sentinel == NULL) {
            v = json_object_get(root, "sentinel");
            if (v != NULL
                && tgw_ctl_config_sentinels(v, config, o, err, errlen) != 0)
            {
                return -1;
            }
        }

        if ((redis == NULL
             && tgw_ctl_config_string(root, config, "master", 0, &o->master,
                                      err, errlen) != 0)
            || tgw_ctl_config_string(root, config, "sentinel_password", 1,
                                     &o->sentinel_password, err, errlen)
               != 0
            || tgw_ctl_config_string(root, config, "password", 1,
                                     &o->password, err, errlen) != 0
            || tgw_ctl_config_string(root, config, "prefix", 0, &o->prefix,
                                     err, errlen) != 0
            || tgw_ctl_config_string(root, config, "group", 0, &o->group,
                                     err, errlen) != 0)
        {
            return -1;
        }

        v = json_object_get(root, "db");
        if (db == NULL && v != NULL) {
            if (!json_is_integer(v) || json_integer_value(v) < 0
                || json_integer_value(v) > 1000000)
            {
                snprintf(err, errlen, "%s: db: expected an integer 0 to "
                         "1000000", config);
                return -1;
            }
            o->db = (long) json_integer_value(v);
        }
    }

    if (o->nsentinels > 0 && o->master == NULL) {
        snprintf(err, errlen, "--sentinel needs --master, the name the "
                 "sentinels monitor Redis under");
        return -1;
    }

    if (o->master != NULL && o->nsentinels == 0) {
        snprintf(err, errlen, "--master needs --sentinel, the sentinels to "
                 "ask for its address");
        return -1;
    }

    if (o->master != NULL && !tgw_master_name_ok(o->master)) {
        snprintf(err, errlen, "invalid master name \"%s\" (1..%d visible "
                 "characters)", o->master, TGW_MASTER_NAME_MAX);
        return -1;
    }

    if (o->prefix == NULL) {
        o->prefix = TGW_DEFAULT_PREFIX;
    }

    if (o->group == NULL) {
        o->group = TGW_DEFAULT_GROUP;
    }

    /* ---- validate values ---- */

    if (o->nsentinels > 0) {
        o->redis = o->master;       /* until the master is found */

    } else {
        o->redis = redis ? redis : TGW_CTL_DEFAULT_REDIS;
        if (tgw_ctl_parse_addr(o->redis, o->host, sizeof(o->host), &o->port)
            != 0)
        {
            snprintf(err, errlen, "invalid Redis address \"%s\" (expected "
                     "host:port or unix:/path)", o->redis);
            return -1;
        }
    }

    if (db != NULL) {
        if (tgw_parse_int64(db, strlen(db), &n) != 0
            || n < 0 || n > 1000000)
        {
            snprintf(err, errlen, "invalid database number \"%s\"", db);
            return -1;
        }
        o->db = (long) n;
    }

    if (!tgw_valid_word(o->prefix, TGW_PREFIX_MAX, 1)
        || strpbrk(o->prefix, "{}") != NULL)
    {
        snprintf(err, errlen, "invalid prefix \"%s\" (1..%d visible "
                 "characters, no braces)", o->prefix, TGW_PREFIX_MAX);
        return -1;
    }

    if (!tgw_valid_word(o->group, TGW_CTL_GROUP_MAX, 1)) {
        snprintf(err, errlen, "invalid group \"%s\"", o->group);
        return -1;
    }

    return 0;
}


void
tgw_ctl_opts_free(tgw_ctl_opts_t *o)
{
    if (o->config != NULL) {
        json_decref(o->config);
        o->config = NULL;
    }
}
