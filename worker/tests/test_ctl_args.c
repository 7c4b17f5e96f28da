/*
 * Unit tests of taskgwctl's option parsing (common/tgw_ctl_args.c).
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tgw_ctl_args.h"

#define ARGC(a)  ((int) (sizeof(a) / sizeof((a)[0])))


static void
test_addr(void)
{
    char  host[TGW_CTL_HOST_MAX + 1];
    int   port = -1;

    ok(tgw_ctl_parse_addr("127.0.0.1:6380", host, sizeof(host), &port) == 0
       && strcmp(host, "127.0.0.1") == 0 && port == 6380, "host:port");
    ok(tgw_ctl_parse_addr("redis.local", host, sizeof(host), &port) == 0
       && strcmp(host, "redis.local") == 0 && port == 6379,
       "host alone: port 6379");
    ok(tgw_ctl_parse_addr("[::1]:7000", host, sizeof(host), &port) == 0
       && strcmp(host, "::1") == 0 && port == 7000, "[v6]:port");
    ok(tgw_ctl_parse_addr("unix:/run/redis.sock", host, sizeof(host), &port)
       == 0 && strcmp(host, "/run/redis.sock") == 0 && port == 0,
       "unix:/path");

    ok(tgw_ctl_parse_addr("unix:relative", host, sizeof(host), &port) == -1,
       "relative unix path refused");
    ok(tgw_ctl_parse_addr("h:0", host, sizeof(host), &port) == -1,
       "port 0 refused");
    ok(tgw_ctl_parse_addr("h:65536", host, sizeof(host), &port) == -1,
       "port 65536 refused");
    ok(tgw_ctl_parse_addr("h:-1", host, sizeof(host), &port) == -1,
       "negative port refused");
    ok(tgw_ctl_parse_addr("h:", host, sizeof(host), &port) == -1,
       "empty port refused");
    ok(tgw_ctl_parse_addr(":6379", host, sizeof(host), &port) == -1,
       "empty host refused");
    ok(tgw_ctl_parse_addr("::1:6379", host, sizeof(host), &port) == -1,
       "bare v6 refused");
    ok(tgw_ctl_parse_addr("[::1]x", host, sizeof(host), &port) == -1,
       "junk after ] refused");
    ok(tgw_ctl_parse_addr("a b:1", host, sizeof(host), &port) == -1,
       "blank in host refused");
}


static void
test_opts(void)
{
    tgw_ctl_opts_t  o;
    char            err[TGW_CTL_ERR_MAX];

    {
        char  *av[] = { "taskgwctl", "queues" };

        unsetenv("TASKGW_REDIS_PASSWORD");
        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0,
           "defaults parse");
        ok(strcmp(o.host, "127.0.0.1") == 0 && o.port == 6379
           && strcmp(o.prefix, "taskgw") == 0
           && strcmp(o.group, "workers") == 0 && o.db == 0
           && o.password == NULL && !o.json && !o.help,
           "defaults: 127.0.0.1:6379, taskgw, workers, db 0");
        ok(o.argc == 1 && strcmp(o.argv[0], "queues") == 0, "command");
    }

    {
        char  *av[] = { "taskgwctl", "-r", "10.0.0.1:7000", "-a", "pw",
                        "-n", "3", "-p", "app", "-g", "g1", "--json",
                        "task", "show", "ID" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0,
           "all short options parse");
        ok(strcmp(o.host, "10.0.0.1") == 0 && o.port == 7000
           && strcmp(o.password, "pw") == 0 && o.db == 3
           && strcmp(o.prefix, "app") == 0 && strcmp(o.group, "g1") == 0
           && o.json, "values stored");
        ok(o.argc == 3 && strcmp(o.argv[0], "task") == 0
           && strcmp(o.argv[2], "ID") == 0, "command words and argument");
    }

    {
        char  *av[] = { "taskgwctl", "--redis=unix:/tmp/r.sock",
                        "--prefix", "x:y", "enqueue", "q", "t", "-",
                        "--json" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0,
           "long options, --json after the command");
        ok(o.port == 0 && strcmp(o.host, "/tmp/r.sock") == 0 && o.json
           && strcmp(o.prefix, "x:y") == 0, "long values stored");
        ok(o.argc == 4 && strcmp(o.argv[3], "-") == 0,
           "\"-\" stays an argument, --json removed");
    }

    {
        char  *av[] = { "taskgwctl", "--", "-weird" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0
           && o.argc == 1 && strcmp(o.argv[0], "-weird") == 0,
           "-- ends the options");
    }

    {
        char  *av[] = { "taskgwctl", "-h" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0
           && o.help && o.argc == 0, "-h");
    }

    {
        char  *av[] = { "taskgwctl", "queues" };

        setenv("TASKGW_REDIS_PASSWORD", "envpw", 1);
        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0
           && o.password && strcmp(o.password, "envpw") == 0,
           "password from $TASKGW_REDIS_PASSWORD");
        unsetenv("TASKGW_REDIS_PASSWORD");
    }

    {
        char  *av[] = { "taskgwctl", "-x", "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == -1
           && strstr(err, "unknown option \"-x\"") != NULL,
           "unknown option reported");
    }

    {
        char  *av[] = { "taskgwctl", "-r" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == -1
           && strstr(err, "needs a value") != NULL, "missing value");
    }

    {
        char  *av[] = { "taskgwctl", "-r", "h:99999", "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == -1
           && strstr(err, "invalid Redis address") != NULL, "bad address");
    }

    {
        char  *av[] = { "taskgwctl", "-n", "x", "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == -1
           && strstr(err, "database") != NULL, "bad db");
    }

    {
        char  *av[] = { "taskgwctl", "-p", "", "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == -1
           && strstr(err, "prefix") != NULL, "empty prefix");
    }

    {
        char  *av[] = { "taskgwctl", "-p", "a b", "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == -1,
           "prefix with a blank");
    }
}


int
main(void)
{
    test_addr();
    test_opts();
    return done_testing();
}
