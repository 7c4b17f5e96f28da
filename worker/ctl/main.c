/*
 * taskgwctl: the operator's command line (docs/cli.md).  This file owns the
 * usage text, the command table and the dispatch: options and arguments
 * are checked before anything connects to Redis.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char  tgw_ctl_usage[] =
"usage: taskgwctl [OPTIONS] COMMAND [ARGS]\n"
"\n"
"Operate a taskgw deployment through its Redis (docs/cli.md).\n"
"\n"
"Options (before COMMAND; --json may also follow it):\n"
"  -r, --redis ADDR      Redis address: host:port, [v6]:port or unix:/path\n"
"                        (default 127.0.0.1:6379)\n"
"  -S, --sentinel LIST   instead of -r: ask these Redis Sentinels\n"
"                        (host:port,host:port,...) for the master's address\n"
"  -M, --master NAME     the master's name at the sentinels (with -S)\n"
"  -c, --config FILE     read redis, sentinel, master, sentinel_password,\n"
"                        password, db, prefix and group from a worker config\n"
"                        file; options given here override it\n"
"  -a, --password PASS   AUTH with PASS (default $TASKGW_REDIS_PASSWORD)\n"
"  -n, --db N            SELECT database N (default 0)\n"
"  -p, --prefix PREFIX   key namespace (default taskgw)\n"
"  -g, --group GROUP     worker consumer group (default workers)\n"
"      --json            machine-readable JSON instead of tables\n"
"  -h, --help            show this text\n"
"\n"
"Commands:\n"
"  task show ID          show a task (payload not shown)\n"
"  task cancel ID        cancel a queued, scheduled or retrying task\n"
"  enqueue QUEUE TYPE [FILE|-]\n"
"                        create a task with FILE (or stdin with -) as its\n"
"                        payload; no FILE: empty payload; prints its id\n"
"  queues                per queue: ready entries per priority, pending,\n"
"                        dead and scheduled counts\n"
"  token hash [NAME [ROLE]]\n"
"                        read a token on stdin, print its token-file line\n"
"  token create NAME ROLE [ips=LIST] [rate=Nr/s|Nr/m] [queues=LIST]\n"
"                        create a run-time token; prints it this once\n"
"  token list            run-time tokens (names, roles, options)\n"
"  token revoke NAME     delete a run-time token and announce it: nginx\n"
"                        refuses it at once (at the latest after its\n"
"                        taskgw_tokens_cache_ttl)\n"
"  workers               live workers (from their heartbeats): host, pid,\n"
"                        concurrency, tasks running, queues, counters\n"
"  dead list [QUEUE [LIMIT]]\n"
"                        the newest LIMIT (100) dead tasks of QUEUE\n"
"                        (default): id, attempts, failed at, error\n"
"  dead replay ID...     put dead tasks back on their queue, attempts 0\n"
"  dead purge ID...      delete dead tasks for good\n"
"  help                  show this text\n"
"\n"
"COMMAND --help shows one command's usage.\n"
"Exit status: 0 on success, 1 on any error (message on stderr).\n";


/* One command of the table; words[1] NULL for one-word commands. */
typedef struct {
    const char          *words[2];
    int                  min_args;
    int                  max_args;
    const char          *args;          /* for the "usage:" message */
    tgw_ctl_handler_pt   handler;       /* NULL: not available yet */
} tgw_ctl_command_t;

static const tgw_ctl_command_t  tgw_ctl_commands[] = {
    { { "task", "show" },     1, 1, "ID", tgw_ctl_task_show },
    { { "task", "cancel" },   1, 1, "ID", tgw_ctl_task_cancel },
    { { "enqueue", NULL },    2, 3, "QUEUE TYPE [FILE|-]", tgw_ctl_enqueue },
    { { "queues", NULL },     0, 0, "", tgw_ctl_queues },
    { { "token", "hash" },    0, 2, "[NAME [ROLE]]", tgw_ctl_token_hash },
    { { "token", "create" },  2, 5,
      "NAME dev|ops|admin [ips=LIST] [rate=Nr/s|Nr/m] [queues=LIST]",
      tgw_ctl_token_create },
    { { "token", "list" },    0, 0, "", tgw_ctl_token_list },
    { { "token", "revoke" },  1, 1, "NAME", tgw_ctl_token_revoke },

    { { "workers", NULL },    0, 0, "", tgw_ctl_workers },
    { { "dead", "list" },     0, 2, "[QUEUE [LIMIT]]", tgw_ctl_dead_list },
    { { "dead", "replay" },   1, 64, "ID...", tgw_ctl_dead_replay },
    { { "dead", "purge" },    1, 64, "ID...", tgw_ctl_dead_purge },
};

#define TGW_CTL_NCOMMANDS \
    (sizeof(tgw_ctl_commands) / sizeof(tgw_ctl_commands[0]))


int
tgw_ctl_fail(const char *fmt, ...)
{
    va_list  ap;

    fputs(TGW_CTL_PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);

    return 1;
}


int
tgw_ctl_print(tgw_buf_t *out)
{
    if (out->failed) {
        return tgw_ctl_fail("out of memory");
    }

    if ((out->len > 0 && fwrite(out->data, 1, out->len, stdout) != out->len)
        || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
    {
        return tgw_ctl_fail("stdout: write error");
    }

    return 0;
}


/*
 * Finds the command named by argv.  A word that starts a two-word command
 * but is followed by an unknown one is reported with the choices.
 */
static const tgw_ctl_command_t *
tgw_ctl_find(int argc, char **argv, int *nwords)
{
    const tgw_ctl_command_t  *c;
    size_t                    i;
    int                       family = 0;

    for (i = 0; i < TGW_CTL_NCOMMANDS; i++) {
        c = &tgw_ctl_commands[i];

        if (strcmp(c->words[0], argv[0]) != 0) {
            continue;
        }

        if (c->words[1] == NULL) {
            *nwords = 1;
            return c;
        }

        family = 1;
        if (argc > 1 && strcmp(c->words[1], argv[1]) == 0) {
            *nwords = 2;
            return c;
        }
    }

    if (family) {
        tgw_ctl_fail("%s: unknown subcommand%s%s (try \"taskgwctl help\")",
                     argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
    } else {
        tgw_ctl_fail("unknown command \"%s\" (try \"taskgwctl help\")",
                     argv[0]);
    }

    return NULL;
}


/*
 * COMMAND --help (or -h anywhere after the command): its usage line and
 * its entry of the usage text (the line naming it and the indented lines
 * that continue it).
 */
static int
tgw_ctl_command_help(const tgw_ctl_command_t *c)
{
    const char  *p, *eol;
    char         head[64];
    size_t       n;
    int          in = 0;

    printf("usage: taskgwctl [OPTIONS] %s%s%s%s%s\n\n", c->words[0],
           c->words[1] ? " " : "", c->words[1] ? c->words[1] : "",
           c->args[0] ? " " : "", c->args);

    n = (size_t) snprintf(head, sizeof(head), "  %s%s%s", c->words[0],
                          c->words[1] ? " " : "",
                          c->words[1] ? c->words[1] : "");

    for (p = tgw_ctl_usage; *p; p = eol + 1) {
        eol = strchr(p, '\n');
        if (eol == NULL) {
            break;
        }

        if (strncmp(p, head, n) == 0 && (p[n] == ' ' || p + n == eol)) {
            in = 1;
        } else if (in && strncmp(p, "        ", 8) != 0) {
            in = 0;
        }

        if (in) {
            fwrite(p, 1, (size_t) (eol - p + 1), stdout);
        }
    }

    return fflush(stdout) == 0 ? 0 : 1;
}


int
main(int argc, char **argv)
{
    const tgw_ctl_command_t  *c;
    tgw_ctl_t                 ctl;
    char                      err[TGW_CTL_ERR_MAX];
    int                       nwords, nargs, rc, i;

    memset(&ctl, 0, sizeof(ctl));

    if (tgw_ctl_parse_opts(argc, argv, &ctl.opts, err, sizeof(err)) != 0) {
        tgw_ctl_fail("%s (try \"taskgwctl help\")", err);
        tgw_ctl_opts_free(&ctl.opts);
        return 1;
    }

    if (ctl.opts.help
        || (ctl.opts.argc > 0 && strcmp(ctl.opts.argv[0], "help") == 0))
    {
        fputs(tgw_ctl_usage, stdout);
        return fflush(stdout) == 0 ? 0 : 1;
    }

    if (ctl.opts.argc == 0) {
        fputs(tgw_ctl_usage, stderr);
        return 1;
    }

    c = tgw_ctl_find(ctl.opts.argc, ctl.opts.argv, &nwords);
    if (c == NULL) {
        return 1;
    }

    if (c->handler == NULL) {
        if (nwords == 1) {
            return tgw_ctl_fail("%s: not available in this version",
                                c->words[0]);
        }
        return tgw_ctl_fail("%s %s: not available in this version",
                            c->words[0], c->words[1]);
    }

    for (i = nwords; i < ctl.opts.argc; i++) {
        if (strcmp(ctl.opts.argv[i], "--help") == 0
            || strcmp(ctl.opts.argv[i], "-h") == 0)
        {
            return tgw_ctl_command_help(c);
        }
    }

    nargs = ctl.opts.argc - nwords;
    if (nargs < c->min_args || nargs > c->max_args) {
        return tgw_ctl_fail("usage: taskgwctl %s%s%s%s%s", c->words[0],
                            c->words[1] ? " " : "",
                            c->words[1] ? c->words[1] : "",
                            c->args[0] ? " " : "", c->args);
    }

    /*
     * Handlers validate their own arguments first and connect through
     * tgw_ctl_connect() only then, so bad input never touches Redis.
     */
    rc = c->handler(&ctl, nargs, ctl.opts.argv + nwords);

    tgw_ctl_disconnect(&ctl);
    tgw_ctl_opts_free(&ctl.opts);
    return rc;
}
