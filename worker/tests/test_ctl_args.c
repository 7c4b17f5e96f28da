/*
 * Unit tests of taskgwctl's option parsing (common/tgw_ctl_args.c).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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


/* A file in /tmp with text; its path in path. */
static void
write_file(char *path, size_t size, const char *text)
{
    FILE  *f;
    static int  n;

    snprintf(path, size, "/tmp/test_ctl_args.%d.%d.json", (int) getpid(),
             ++n);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}


static void
test_sentinel(void)
{
    tgw_ctl_opts_t  o;
    char            err[TGW_CTL_ERR_MAX], path[128], path2[128];

    unsetenv("TASKGW_REDIS_PASSWORD");

    {
        char  *av[] = { "taskgwctl", "-S", "127.0.0.1:26379,[::1]:26380",
                        "-M", "taskgw-ha", "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0
           && o.nsentinels == 2 && o.sentinels[0].port == 26379
           && strcmp(o.sentinels[1].host, "::1") == 0
           && strcmp(o.master, "taskgw-ha") == 0, "-S and -M");
        tgw_ctl_opts_free(&o);
    }

    {
        char  *av[] = { "taskgwctl", "--sentinel=h:1", "--master=m",
                        "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0
           && o.nsentinels == 1 && strcmp(o.master, "m") == 0,
           "--sentinel= and --master=");
        tgw_ctl_opts_free(&o);
    }

    {
        char  *av[] = { "taskgwctl", "-S", "h:1", "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == -1
           && strstr(err, "--sentinel needs --master") != NULL,
           "-S without -M: %s", err);
        tgw_ctl_opts_free(&o);
    }

    {
        char  *av[] = { "taskgwctl", "-M", "m", "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == -1
           && strstr(err, "--master needs --sentinel") != NULL,
           "-M without -S: %s", err);
        tgw_ctl_opts_free(&o);
    }

    {
        char  *av[] = { "taskgwctl", "-r", "h:1", "-S", "h:2", "-M", "m",
                        "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == -1
           && strstr(err, "cannot be given with") != NULL,
           "-r with -S: %s", err);
        tgw_ctl_opts_free(&o);
    }

    {
        char  *av[] = { "taskgwctl", "-S", "h:1,,h:2", "-M", "m", "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == -1
           && strstr(err, "empty address") != NULL,
           "empty item in -S: %s", err);
        tgw_ctl_opts_free(&o);
    }

    {
        char  *av[] = { "taskgwctl", "-S", "h", "-M", "m", "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == -1
           && strstr(err, "bad sentinel address \"h\"") != NULL,
           "sentinel without port: %s", err);
        tgw_ctl_opts_free(&o);
    }

    write_file(path, sizeof(path),
               "{\"sentinel\": [\"127.0.0.1:26379\", \"127.0.0.1:26380\"],"
               " \"master\": \"mm\", \"password\": \"pw\", \"db\": 4,"
               " \"prefix\": \"app\", \"group\": \"g\","
               " \"sentinel_password\": \"spw\", \"concurrency\": 8,"
               " \"handlers\": {}}");

    {
        char  *av[] = { "taskgwctl", "-c", path, "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0
           && o.nsentinels == 2 && o.sentinels[1].port == 26380
           && strcmp(o.master, "mm") == 0 && strcmp(o.password, "pw") == 0
           && o.db == 4 && strcmp(o.prefix, "app") == 0
           && strcmp(o.group, "g") == 0
           && strcmp(o.sentinel_password, "spw") == 0,
           "-c reads the connection keys, other keys ignored (%s)", err);
        tgw_ctl_opts_free(&o);
    }

    {
        char  *av[] = { "taskgwctl", "-c", path, "-r", "10.0.0.1:7000",
                        "-p", "other", "-n", "0", "-a", "cli", "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0
           && o.nsentinels == 0 && o.port == 7000
           && strcmp(o.prefix, "other") == 0 && o.db == 0
           && strcmp(o.password, "cli") == 0 && strcmp(o.group, "g") == 0,
           "options override the file, -r its sentinels (%s)", err);
        tgw_ctl_opts_free(&o);
    }

    {
        char  *av[] = { "taskgwctl", "-c", path, "-M", "other", "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0
           && o.nsentinels == 2 && strcmp(o.master, "other") == 0,
           "-M overrides the file's master, keeps its sentinels");
        tgw_ctl_opts_free(&o);
    }

    {
        char  *av[] = { "taskgwctl", "-c", path, "queues" };

        setenv("TASKGW_REDIS_PASSWORD", "envpw", 1);
        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0
           && strcmp(o.password, "envpw") == 0,
           "$TASKGW_REDIS_PASSWORD over the file's password");
        unsetenv("TASKGW_REDIS_PASSWORD");
        tgw_ctl_opts_free(&o);
    }
    unlink(path);

    write_file(path, sizeof(path), "{\"redis\": \"10.1.1.1:6400\"}");
    {
        char  *av[] = { "taskgwctl", "-c", path, "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0
           && o.nsentinels == 0 && strcmp(o.host, "10.1.1.1") == 0
           && o.port == 6400 && strcmp(o.prefix, "taskgw") == 0,
           "-c with redis, defaults for the rest");
        tgw_ctl_opts_free(&o);
    }

    {
        char  *av[] = { "taskgwctl", "-c", path, "-S", "h:1", "-M", "m",
                        "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == 0
           && o.nsentinels == 1 && strcmp(o.master, "m") == 0,
           "-S -M override the file's redis");
        tgw_ctl_opts_free(&o);
    }
    unlink(path);

    {
        static const struct {
            const char  *text;
            const char  *msg;
        } bad[] = {
            { "{\"redis\": \"h:1\", \"sentinel\": [\"h:2\"], \"master\": "
              "\"m\"}", "sentinel: cannot be given with \"redis\"" },
            { "{\"sentinel\": [\"h:2\"]}", "--sentinel needs --master" },
            { "{\"master\": \"m\"}", "--master needs --sentinel" },
            { "{\"sentinel\": [], \"master\": \"m\"}",
              "sentinel: must name 1 to 16 sentinels" },
            { "{\"sentinel\": [\"nope\"], \"master\": \"m\"}",
              "sentinel[0]: bad address" },
            { "{\"sentinel\": \"h:1\", \"master\": \"m\"}",
              "sentinel: expected an array" },
            { "{\"redis\": 5}", "redis: expected a string" },
            { "{\"db\": \"1\"}", "db: expected an integer" },
            { "{\"prefix\": \"a{b}\"}", "invalid prefix" },
            { "[1]", "the config must be a JSON object" },
            { "{\"redis\": ", "" },
        };
        size_t  i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char  *av[] = { "taskgwctl", "-c", path, "queues" };

            write_file(path, sizeof(path), bad[i].text);
            ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == -1
               && strstr(err, bad[i].msg) != NULL, "-c refuses %s: %s",
               bad[i].text, err);
            tgw_ctl_opts_free(&o);
            unlink(path);
        }
    }

    snprintf(path2, sizeof(path2), "/tmp/test_ctl_args.%d.missing",
             (int) getpid());
    {
        char  *av[] = { "taskgwctl", "-c", path2, "queues" };

        ok(tgw_ctl_parse_opts(ARGC(av), av, &o, err, sizeof(err)) == -1
           && strstr(err, path2) != NULL, "missing file named: %s", err);
        tgw_ctl_opts_free(&o);
    }
}


int
main(void)
{
    test_addr();
    test_opts();
    test_sentinel();
    return done_testing();
}
