/*
 * tgw_ctl_args: taskgwctl's global options (-r -S -M -c -a -n -p -g --json
 * -h) and the Redis address syntax.  Parsed and validated before any
 * connection.
 */

#ifndef TGW_CTL_ARGS_H
#define TGW_CTL_ARGS_H

#include <stddef.h>

#include "tgw_sentinel.h"

#define TGW_CTL_HOST_MAX    255     /* host name or unix socket path */
#define TGW_CTL_GROUP_MAX   128
#define TGW_CTL_ERR_MAX     256

typedef struct {
    const char  *redis;         /* the address as given, for messages
                                   (with sentinels: the master found) */
    tgw_addr_t   sentinels[TGW_SENTINEL_MAX]; /* -S: ask these for the */
    int          nsentinels;    /* address of master -M (0: use -r) */
    const char  *master;
    const char  *sentinel_password; /* AUTH at the sentinels */
    char         found[TGW_ADDR_HOST_MAX + TGW_MASTER_NAME_MAX + 32];
                                /* "host:port (master NAME)" once found */
    void        *config;        /* -c: the config file's JSON (jansson) */
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
 * defaults to $TASKGW_REDIS_PASSWORD so it need not show in ps.  With
 * -c FILE the redis, sentinel, master, sentinel_password, password, db,
 * prefix and group keys of a worker config file fill in what the command
 * line (and, for the password, the environment) does not give; -r on the
 * command line replaces the file's sentinels and -S/-M its redis.
 * Reorders argv in place.  -1 with a message in err on a bad option or
 * value.  tgw_ctl_opts_free() releases what it read.
 */
int tgw_ctl_parse_opts(int argc, char **argv, tgw_ctl_opts_t *o,
                       char *err, size_t errlen);
void tgw_ctl_opts_free(tgw_ctl_opts_t *o);

#endif /* TGW_CTL_ARGS_H */
