/*
 * tgw_ctl_args: taskgwctl's global options (-r -a -n -p -g --json -h) and
 * the Redis address syntax.  Parsed and validated before any connection.
 */

#ifndef TGW_CTL_ARGS_H
#define TGW_CTL_ARGS_H

#include <stddef.h>

#define TGW_CTL_HOST_MAX    255     /* host name or unix socket path */
#define TGW_CTL_GROUP_MAX   128
#define TGW_CTL_ERR_MAX     256

typedef struct {
    const char  *redis;         /* the address as given, for messages */
    char         host[TGW_CTL_HOST_MAX + 1];  /* host, or socket path */
    int          port;          /* 0: host is a unix socket path */
    const char  *password;      /* NULL: no AUTH */
    long         db;            /* SELECT when > 0 */
    const char  *prefix;        /* key namespace */
    const char  *group;         /* consumer group (queues' pending) */
    int          json;          /* --json: machine output */
    int          help;          /* -h/--help seen */

    /* the command words and their arguments, options removed */
    int          argc;
    char       **argv;
} tgw_ctl_opts_t;

/*
 * Parses "host:port", "[v6addr]:port", "host" (port 6379) or
 * "unix:/absolute/path".  -1 when malformed.
 */
int tgw_ctl_parse_addr(const char *s, char *host, size_t size, int *port);

/*
 * Parses argv (argv[0] is the program).  Options come before the command;
 * "--json" is also accepted after it; "--" ends the options.  The password
 * defaults to $TASKGW_REDIS_PASSWORD so it need not show in ps.  Reorders
 * argv in place.  -1 with a message in err on a bad option or value.
 */
int tgw_ctl_parse_opts(int argc, char **argv, tgw_ctl_opts_t *o,
                       char *err, size_t errlen);

#endif /* TGW_CTL_ARGS_H */
