/*
 * tgw_ctl_args: taskgwctl's global options and the Redis address syntax.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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


int
tgw_ctl_parse_opts(int argc, char **argv, tgw_ctl_opts_t *o,
                   char *err, size_t errlen)
{
    const char  *db = NULL, *a;
    int64_t      n;
    int          i, j, m;

    memset(o, 0, sizeof(*o));
    o->redis = TGW_CTL_DEFAULT_REDIS;
    o->prefix = TGW_DEFAULT_PREFIX;
    o->group = TGW_DEFAULT_GROUP;
    o->password = getenv("TASKGW_REDIS_PASSWORD");
    if (o->password != NULL && o->password[0] == '\0') {
        o->password = NULL;
    }

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

        if ((m = tgw_ctl_opt(argc, argv, &i, "-r", "--redis", &o->redis))
            || (m = tgw_ctl_opt(argc, argv, &i, "-a", "--password",
                                &o->password))
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

    /* ---- validate values ---- */

    if (tgw_ctl_parse_addr(o->redis, o->host, sizeof(o->host), &o->port)
        != 0)
    {
        snprintf(err, errlen, "invalid Redis address \"%s\" (expected "
                 "host:port or unix:/path)", o->redis);
        return -1;
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
