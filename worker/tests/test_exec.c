/*
 * Handlers on a real libuv loop: exec of real programs (/bin/echo,
 * /bin/cat, /bin/sh scripts in a temp dir) for exit codes, stdin, env,
 * stdout limits, the stderr tail, timeouts and signals; and the built-ins.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "keeper.h"
#include "run.h"
#include "tap.h"
#include "tproc.h"

static char       tmpdir[] = "/tmp/tgw-test-exec-XXXXXX";
static uv_loop_t  loop;
static int        done_calls;
static int        handles_left;     /* runs whose handles closed after done */
static uint64_t   elapsed_ms;


static void
on_done(tgw_run_t *run)
{
    done_calls++;
}


static void
on_abort_timer(uv_timer_t *t)
{
    tgw_run_abort(t->data);
    uv_close((uv_handle_t *) t, NULL);
}


/* A run of handler h with this payload, not started. */
static void
run_init(tgw_run_t *run, const tgw_handler_conf_t *h, const char *payload,
    size_t result_max)
{
    memset(run, 0, sizeof(*run));
    run->loop = &loop;
    run->handler = h;
    run->task_id = "0190a0b0-0000-7000-8000-000000000001";
    run->type = h ? h->type : "nope";
    run->queue = "default";
    run->attempt = 2;
    run->payload = payload;
    run->payload_len = strlen(payload);
    run->result_max = result_max;
    run->done = on_done;
}


/*
 * Runs one task with handler h and waits for done; abort_ms > 0 aborts
 * the run after that long.  The caller cleans up the run.
 */
static void
run_one(tgw_run_t *run, const tgw_handler_conf_t *h, const char *payload,
    size_t result_max, uint64_t abort_ms)
{
    uv_timer_t t;
    uint64_t   start;

    run_init(run, h, payload, result_max);
    done_calls = 0;
    uv_update_time(&loop);
    start = uv_now(&loop);
    if (abort_ms) {
        uv_timer_init(&loop, &t);
        t.data = run;
        uv_timer_start(&t, on_abort_timer, abort_ms, 0);
    }
    if (tgw_run_start(run) != 0) {
        printf("# tgw_run_start failed\n");
        return;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_update_time(&loop);
    elapsed_ms = uv_now(&loop) - start;
    if (run->open_handles != 0) {
        /* done was called before every handle had closed: the owner,
         * freeing the run in done, would be used after free */
        printf("# open_handles %d after the run\n", run->open_handles);
        handles_left++;
    }
}


/* A /bin/sh script in the temp dir; returns its path. */
static char *
script(const char *name, const char *body)
{
    char *path;
    FILE *f;

    if (asprintf(&path, "%s/%s", tmpdir, name) < 0) {
        exit(2);
    }
    f = fopen(path, "w");
    if (f == NULL) {
        exit(2);
    }
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    chmod(path, 0755);
    return path;
}


/*
 * Checks the fd list of a child shell (one number a line; sh -c opens
 * nothing itself): 0-2, or fds this process already held without
 * FD_CLOEXEC when it started (from whoever started the test, not ours).  The
 * loop's backend fd must not be there.
 */
static char inherited[1024];         /* fds open without CLOEXEC at start */


static void
note_inherited(void)
{
    int fd, flags;

    for (fd = 3; fd < 1024; fd++) {
        flags = fcntl(fd, F_GETFD);
        inherited[fd] = (char) (flags != -1 && !(flags & FD_CLOEXEC));
    }
}


static int
fds_ok(const char *list)
{
    const char *p = list;
    char       *end;
    long        fd;
    int         flags, backend = uv_backend_fd(&loop);

    while (*p) {
        fd = strtol(p, &end, 10);
        if (end == p) {
            return 0;
        }
        p = *end ? end + 1 : end;
        if (fd <= 2) {
            continue;
        }
        if (fd == backend) {
            return 0;
        }
        flags = fcntl((int) fd, F_GETFD);
        if (fd >= 1024 || !inherited[fd] || flags == -1
            || (flags & FD_CLOEXEC))
        {
            return 0;               /* one of ours got through */
        }
    }
    return 1;
}


/* The pid of this process's live exec spawner (a child named
 * taskgw-spawn), or 0. */
static pid_t
spawner_pid(void)
{
    DIR           *d;
    struct dirent *e;
    char           path[300], buf[512], *p;
    long           ppid;
    pid_t          found = 0;

    d = opendir("/proc");
    if (d == NULL) {
        return 0;
    }
    while (found == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        if (tproc_read(path, buf, sizeof(buf)) < 0) {
            continue;
        }
        p = strrchr(buf, ')');
        if (p == NULL || strstr(buf, "(taskgw-spawn)") == NULL
            || p[2] == 'Z')
        {
            continue;
        }
        ppid = strtol(p + 4, NULL, 10);     /* ") S <ppid> ..." */
        if (ppid != (long) getpid()) {
            continue;
        }
        found = (pid_t) strtol(e->d_name, NULL, 10);
    }
    closedir(d);
    return found;
}


/* The worker's end of the socket to its spawner: this process's one
 * SOCK_SEQPACKET socket, or -1. */
static int
spawner_sock(void)
{
    int       fd, type;
    socklen_t len;

    for (fd = 3; fd < 1024; fd++) {
        len = sizeof(type);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0
            && type == SOCK_SEQPACKET)
        {
            return fd;
        }
    }
    return -1;
}


/* Bytes of the spawner's reports waiting there, unread by the loop. */
static int
reports_waiting(void)
{
    int fd, n;

    fd = spawner_sock();
    return fd != -1 && ioctl(fd, FIONREAD, &n) == 0 ? n : 0;
}


/* The number in file path (a pid a program wrote), 0 while there is
 * none yet. */
static pid_t
pid_in(const char *path)
{
    char  buf[32];

    tproc_read(path, buf, sizeof(buf));
    return (pid_t) strtol(buf, NULL, 10);
}


static void
nap(void)
{
    struct timespec ts = { 0, 10 * 1000 * 1000 };

    nanosleep(&ts, NULL);
}


static tgw_handler_conf_t
exec_handler(char **argv, uint64_t timeout_ms)
{
    tgw_handler_conf_t h;

    memset(&h, 0, sizeof(h));
    h.type = "t";
    h.kind = TGW_HANDLER_EXEC;
    h.argv = argv;
    h.timeout_ms = timeout_ms;
    return h;
}


static tgw_handler_conf_t
builtin_handler(tgw_builtin_t b, uint64_t timeout_ms)
{
    tgw_handler_conf_t h;

    memset(&h, 0, sizeof(h));
    h.type = "b";
    h.kind = TGW_HANDLER_BUILTIN;
    h.builtin = b;
    h.timeout_ms = timeout_ms;
    return h;
}


/*
 * A spawner killed once the start of a program (lost.sh, which writes its
 * pid and sleeps) was reported to the loop, which has not read the
 * report yet.  unread_request: the spawner has a request of the worker
 * unread when it dies (a KILL for no run, written to the worker's end of
 * the socket as the worker would); else the worker's next spawn request
 * is what meets the dead socket.  Either way the program must be killed.
 */
static void
lost_reports(char **argv, int unread_request)
{
    tgw_run_t           run, run_b;
    tgw_handler_conf_t  h, h_true;
    tgw_spawn_msg_t     m;
    pid_t               sp, prog = 0;
    char               *pidfile, *slost, body[400];
    char               *argv_true[] = { "/bin/true", NULL };
    const char         *how = unread_request ? "lost reports, unread request"
                                             : "lost reports";
    int                 tries;

    if (asprintf(&pidfile, "%s/lost.pid", tmpdir) < 0) {
        exit(2);
    }
    unlink(pidfile);
    snprintf(body, sizeof(body), "echo $$ > %s.tmp && mv %s.tmp %s; "
             "exec sleep 30", pidfile, pidfile, pidfile);
    slost = script("lost.sh", body);
    argv[0] = slost;
    h = exec_handler(argv, 0);
    h_true = exec_handler(argv_true, 0);

    /* a spawner running (the one of the runs before, or a new one) */
    run_one(&run, &h_true, "", 65536, 0);
    tgw_run_cleanup(&run);
    sp = spawner_pid();
    ok(sp > 0, "%s: the spawner is running (%ld)", how, (long) sp);

    /* stopped, so that the request is sent (prepare) but the report of
     * its start cannot come back within that same turn */
    kill(sp, SIGSTOP);
    for (tries = 0; tries < 2000 && tproc_state(sp) != 'T'; tries++) {
        nap();
    }
    done_calls = 0;
    run_init(&run, &h, "", 65536);
    ok(tgw_run_start(&run) == 0, "%s: run started", how);
    uv_run(&loop, UV_RUN_NOWAIT);               /* the request goes out */
    kill(sp, SIGCONT);
    for (tries = 0; tries < 2000 && ((prog = pid_in(pidfile)) == 0
                                     || reports_waiting() == 0);
         tries++)
    {
        nap();
    }
    ok(prog > 0 && reports_waiting() > 0,
       "%s: the program runs (%ld), its start reported, unread", how,
       (long) prog);

    if (unread_request) {
        kill(sp, SIGSTOP);
        for (tries = 0; tries < 2000 && tproc_state(sp) != 'T'; tries++) {
            nap();
        }
        memset(&m, 0, sizeof(m));
        m.type = TGW_SPAWN_KILL;
        m.id = 0;                               /* no run's */
        m.a = SIGTERM;
        ok(send(spawner_sock(), &m, sizeof(m), MSG_DONTWAIT) == sizeof(m),
           "%s: a request waits in the stopped spawner", how);
    }
    kill(sp, SIGKILL);
    for (tries = 0; tries < 2000 && tproc_state(sp) != 'Z'; tries++) {
        nap();
    }
    ok(tproc_state(sp) == 'Z', "%s: the spawner is dead", how);

    if (!unread_request) {
        run_init(&run_b, &h_true, "", 65536);
        ok(tgw_run_start(&run_b) == 0, "%s: next run started", how);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(done_calls == (unread_request ? 1 : 2), "%s: runs done (%d)", how,
       done_calls);
    ok(run.status == TGW_RUN_RETRYABLE, "%s: retryable", how);
    ok(run.error != NULL && strcmp(run.error, "the exec spawner died") == 0,
       "%s: the spawner's death is the error (%s)", how,
       run.error ? run.error : "none");
    for (tries = 0; tries < 1000 && prog > 0
                    && tproc_state(prog) != 0 && tproc_state(prog) != 'Z';
         tries++)
    {
        nap();
    }
    ok(prog > 0 && (tproc_state(prog) == 0 || tproc_state(prog) == 'Z'),
       "%s: the program was killed (state %c)", how,
       prog > 0 && tproc_state(prog) ? tproc_state(prog) : '-');
    if (prog > 0 && tproc_state(prog) != 0 && tproc_state(prog) != 'Z') {
        kill(prog, SIGKILL);                    /* leave nothing behind */
    }
    tgw_run_cleanup(&run);
    if (!unread_request) {
        tgw_run_cleanup(&run_b);
    }
    unlink(pidfile);
    unlink(slost);
    free(pidfile);
    free(slost);
}


int
main(int argc, char **argv_main)
{
    tgw_run_t           run;
    tgw_handler_conf_t  h;
    char               *s65, *s75, *s3, *sslow, *sstubborn, *senv, *sbig,
                       *serr, *ssig, *sgrand, *snoread, *bigin;
    char               *argv_echo[] = { "/bin/echo", "hello", NULL };
    char               *argv_cat[] = { "/bin/cat", NULL };
    char               *argv_missing[] = { "/nonexistent/prog", NULL };
    char               *argv_nosb[] = { NULL, "a b", "c", NULL };
    char               *snoshebang, *spipes;
    char               *argv_sig[] = { "/bin/grep", "-E", "^Sig(Blk|Ign)",
                                       "/proc/self/status", NULL };
    size_t              i;
    char               *argv_ls[] = { "/bin/sh", "-c",
                                      "ls -1 /proc/$$/fd", NULL };
    char               *argv[2] = { NULL, NULL };
    char                want[256];
    CURLM              *multi;

    /* exec handlers' programs are started by a spawner: this binary */
    if (tgw_keeper_wanted(argc, argv_main)) {
        tgw_keeper_main(argc, argv_main);
    }

    note_inherited();
    if (mkdtemp(tmpdir) == NULL || uv_loop_init(&loop) != 0) {
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    /* ---- exec: success, stdout, stdin ---- */
    h = exec_handler(argv_echo, 0);
    run_one(&run, &h, "", 65536, 0);
    is_int(done_calls, 1, "echo: done called once");
    is_int(run.status, TGW_RUN_SUCCESS, "echo: success");
    is_int(run.output_len, 6, "echo: 6 bytes of output");
    ok(run.output && memcmp(run.output, "hello\n", 6) == 0,
       "echo: output is hello\\n");
    ok(run.error == NULL, "echo: no error");
    tgw_run_cleanup(&run);

    h = exec_handler(argv_cat, 0);
    run_one(&run, &h, "{\"payload\":\"on stdin\"}", 65536, 0);
    is_int(run.status, TGW_RUN_SUCCESS, "cat: success");
    is_str(run.output, "{\"payload\":\"on stdin\"}", "cat: payload in, out");
    tgw_run_cleanup(&run);

    /* a payload longer than a pipe holds: what the pipe took at once,
     * the rest as cat reads it */
    bigin = malloc(300 * 1024 + 1);
    if (bigin == NULL) {
        return 2;
    }
    for (i = 0; i < 300 * 1024; i++) {
        bigin[i] = (char) ('a' + i % 26);
    }
    bigin[300 * 1024] = '\0';
    run_one(&run, &h, bigin, 400 * 1024, 0);
    is_int(run.status, TGW_RUN_SUCCESS, "cat 300 KB: success");
    ok(run.output_len == 300 * 1024
       && memcmp(run.output, bigin, 300 * 1024) == 0,
       "cat 300 KB: every byte in order (%zu)", run.output_len);
    tgw_run_cleanup(&run);
    free(bigin);

    /* no signal blocked or ignored in the program (the spawner blocks
     * some, the test ignores SIGPIPE) */
    h = exec_handler(argv_sig, 0);
    run_one(&run, &h, "", 65536, 0);
    is_str(run.output, "SigBlk:\t0000000000000000\n"
                       "SigIgn:\t0000000000000000\n",
           "no signal blocked or ignored in the program");
    tgw_run_cleanup(&run);

    /* stdin, stdout and stderr are pipes, stdin at end of file after the
     * payload */
    spipes = script("pipes.sh", "for f in 0 1 2; do "
                    "[ -p /dev/fd/$f ] && printf 'p%s ' $f; done; "
                    "cat; echo");
    argv[0] = spipes;
    h = exec_handler(argv, 0);
    run_one(&run, &h, "the-payload", 65536, 0);
    is_str(run.output, "p0 p1 p2 the-payload\n",
           "stdio are pipes, the payload then end of file");
    tgw_run_cleanup(&run);

    /* ---- exit codes ---- */
    s65 = script("e65.sh", "echo 'bad input' >&2; exit 65");
    argv[0] = s65;
    h = exec_handler(argv, 0);
    run_one(&run, &h, "", 65536, 0);
    is_int(run.status, TGW_RUN_PERMANENT, "exit 65: permanent");
    is_str(run.error, "bad input", "exit 65: stderr is the error");
    tgw_run_cleanup(&run);

    s75 = script("e75.sh", "exit 75");
    argv[0] = s75;
    h = exec_handler(argv, 0);
    run_one(&run, &h, "", 65536, 0);
    is_int(run.status, TGW_RUN_RETRYABLE, "exit 75: retryable");
    is_str(run.error, "exit status 75", "exit 75, no stderr: status text");
    tgw_run_cleanup(&run);

    s3 = script("e3.sh", "echo partial; echo 'line one' >&2; "
                "echo 'line two' >&2; exit 3");
    argv[0] = s3;
    h = exec_handler(argv, 0);
    run_one(&run, &h, "", 65536, 0);
    is_int(run.status, TGW_RUN_RETRYABLE, "exit 3: retryable");
    is_str(run.error, "line one\nline two", "exit 3: stderr tail");
    tgw_run_cleanup(&run);

    ssig = script("sig.sh", "kill -9 $$");
    argv[0] = ssig;
    h = exec_handler(argv, 0);
    run_one(&run, &h, "", 65536, 0);
    is_int(run.status, TGW_RUN_RETRYABLE, "killed by a signal: retryable");
    is_str(run.error, "killed by signal 9", "signal named in the error");
    tgw_run_cleanup(&run);

    h = exec_handler(argv_missing, 0);
    run_one(&run, &h, "x", 65536, 0);
    is_int(done_calls, 1, "missing program: done called once");
    is_int(run.status, TGW_RUN_RETRYABLE, "missing program: retryable");
    ok(run.error && strstr(run.error, "cannot run /nonexistent/prog"),
       "missing program: error says so (%s)", run.error);
    tgw_run_cleanup(&run);

    /* ---- a program file without "#!" runs under /bin/sh (execvp's rule),
     * with its arguments ---- */
    snoshebang = script("noshebang", "");
    {
        FILE *f = fopen(snoshebang, "w");

        if (f == NULL) {
            return 2;
        }
        fprintf(f, "echo \"[$1|$2]\"\n");
        fclose(f);
    }
    argv_nosb[0] = snoshebang;
    h = exec_handler(argv_nosb, 0);
    run_one(&run, &h, "", 65536, 0);
    is_int(run.status, TGW_RUN_SUCCESS, "no #!: success");
    is_str(run.output, "[a b|c]\n", "no #!: run by sh, arguments kept");
    tgw_run_cleanup(&run);

    /* ... also with as many arguments as a request holds (empty ones:
     * 64,000), which the shell's argv built on the child's stack must
     * take */
    {
        char  **many;
        size_t  k, nmany = 64000;

        many = calloc(nmany + 2, sizeof(char *));
        if (many == NULL) {
            return 2;
        }
        many[0] = snoshebang;
        for (k = 1; k <= nmany; k++) {
            many[k] = "";
        }
        {
            FILE *f = fopen(snoshebang, "w");

            if (f == NULL) {
                return 2;
            }
            fprintf(f, "echo \"$#\"\n");
            fclose(f);
        }
        h = exec_handler(many, 0);
        run_one(&run, &h, "", 65536, 0);
        is_int(run.status, TGW_RUN_SUCCESS, "no #!, 64,000 arguments: "
               "success");
        is_str(run.output, "64000\n", "no #!, 64,000 arguments: all there");
        tgw_run_cleanup(&run);
        free(many);
    }

    /* ---- environment: the four variables and PATH, nothing else ---- */
    senv = script("env.sh", "echo \"$TASKGW_TASK_ID|$TASKGW_TASK_TYPE|"
                  "$TASKGW_QUEUE|$TASKGW_ATTEMPT|${HOME:-nohome}\"; "
                  "test -n \"$PATH\" || exit 9");
    argv[0] = senv;
    h = exec_handler(argv, 0);
    run_one(&run, &h, "", 65536, 0);
    is_int(run.status, TGW_RUN_SUCCESS, "env: success, PATH set");
    is_str(run.output, "0190a0b0-0000-7000-8000-000000000001|t|default|2|"
           "nohome\n", "env: task id, type, queue, attempt; no HOME");
    tgw_run_cleanup(&run);

    /* ---- no descriptor of ours leaks into the child: every fd the
     * child has beyond 0-2 is ls's own or was inherited by this test
     * without CLOEXEC (from whoever started it); the loop's fds are not */
    h = exec_handler(argv_ls, 0);
    run_one(&run, &h, "", 65536, 0);
    is_int(run.status, TGW_RUN_SUCCESS, "sh listing its fds: success");
    ok(run.output && fds_ok(run.output), "child holds none of our fds");
    tgw_run_cleanup(&run);

    /* ... nor those libcurl makes without CLOEXEC (a multi handle's
     * wakeup socketpair), as while an http run or a webhook is going */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    multi = curl_multi_init();
    run_one(&run, &h, "", 65536, 0);
    is_int(run.status, TGW_RUN_SUCCESS, "sh listing its fds, curl busy");
    ok(run.output && fds_ok(run.output), "child holds none of libcurl's "
       "fds");
    tgw_run_cleanup(&run);
    curl_multi_cleanup(multi);
    curl_global_cleanup();

    /* ---- stdout beyond result_max_bytes is drained, not kept ---- */
    sbig = script("big.sh", "head -c 300000 /dev/zero | tr '\\0' a; "
                  "echo done >&2");
    argv[0] = sbig;
    h = exec_handler(argv, 0);
    run_one(&run, &h, "", 1000, 0);
    is_int(run.status, TGW_RUN_SUCCESS, "big output: child not blocked");
    is_int(run.output_len, 1000, "big output: kept result_max bytes");
    is_int(run.truncated, 1, "big output: marked truncated");
    tgw_run_cleanup(&run);

    /* ---- only the tail of stderr ---- */
    serr = script("err.sh", "head -c 20000 /dev/zero | tr '\\0' e >&2; "
                  "echo >&2; echo THE-END >&2; exit 1");
    argv[0] = serr;
    h = exec_handler(argv, 0);
    run_one(&run, &h, "", 65536, 0);
    ok(run.error && strlen(run.error) <= 2048
       && strlen(run.error) > 1000, "stderr tail: at most 2 KB (%zu)",
       run.error ? strlen(run.error) : 0);
    ok(run.error && strcmp(run.error + strlen(run.error) - 7, "THE-END") == 0,
       "stderr tail: ends with the last line");
    tgw_run_cleanup(&run);

    /* ---- timeout: SIGTERM to the process group ---- */
    sslow = script("slow.sh", "echo started >&2; sleep 30; echo never");
    argv[0] = sslow;
    h = exec_handler(argv, 200);
    run_one(&run, &h, "", 65536, 0);
    is_int(run.status, TGW_RUN_RETRYABLE, "timeout: retryable");
    ok(run.error && strncmp(run.error, "timeout after 200ms", 19) == 0,
       "timeout: error says so (%s)", run.error);
    /* the bounds below only tell "stopped" from "ran its sleep 30 out":
     * generous, as a loaded machine can hold a test up for seconds */
    ok(elapsed_ms < 15000, "timeout: over in %llu ms (sleep killed too)",
       (unsigned long long) elapsed_ms);
    ok(run.output == NULL, "timeout: no output");
    tgw_run_cleanup(&run);

    /* ---- a child ignoring SIGTERM gets SIGKILL after 5 s ---- */
    sstubborn = script("stubborn.sh", "trap '' TERM; sleep 30");
    argv[0] = sstubborn;
    h = exec_handler(argv, 100);
    run_one(&run, &h, "", 65536, 0);
    is_int(run.status, TGW_RUN_RETRYABLE, "stubborn: retryable");
    ok(elapsed_ms >= TGW_KILL_AFTER_MS && elapsed_ms < 20000,
       "stubborn: killed after ~5 s, not 30 (%llu ms)",
       (unsigned long long) elapsed_ms);
    tgw_run_cleanup(&run);

    /* ---- a grandchild keeping stdout open does not hold the run ---- */
    sgrand = script("grand.sh", "sleep 30 & echo parent-done");
    argv[0] = sgrand;
    h = exec_handler(argv, 0);
    run_one(&run, &h, "", 65536, 0);
    is_int(run.status, TGW_RUN_SUCCESS, "grandchild: parent's exit counts");
    is_str(run.output, "parent-done\n", "grandchild: output kept");
    ok(elapsed_ms < 15000, "grandchild: done in %llu ms, not 30 s",
       (unsigned long long) elapsed_ms);
    tgw_run_cleanup(&run);

    /* ---- a child that exits without reading a large stdin while a
     * grandchild in a session of its own holds that pipe: the pending
     * write does not hold the run past the drain limit ---- */
    snoread = script("noread.sh", "exec 3<&0; "
                     "setsid sleep 4 <&3 >/dev/null 2>&1 & "
                     "echo parent-done");
    argv[0] = snoread;
    h = exec_handler(argv, 0);
    bigin = malloc(512 * 1024 + 1);
    if (bigin == NULL) {
        return 2;
    }
    memset(bigin, 'p', 512 * 1024);
    bigin[512 * 1024] = '\0';
    run_one(&run, &h, bigin, 65536, 0);
    is_int(done_calls, 1, "unread stdin: done called once");
    is_int(run.status, TGW_RUN_SUCCESS, "unread stdin: parent's exit counts");
    is_str(run.output, "parent-done\n", "unread stdin: output kept");
    ok(elapsed_ms < TGW_DRAIN_MS + 1500, "unread stdin: done in %llu ms",
       (unsigned long long) elapsed_ms);
    tgw_run_cleanup(&run);
    free(bigin);

    /* ---- abort (shutdown grace over) ---- */
    argv[0] = sslow;
    h = exec_handler(argv, 0);
    run_one(&run, &h, "", 65536, 150);
    is_int(done_calls, 1, "abort: done called once");
    is_int(run.status, TGW_RUN_RETRYABLE, "abort: retryable");
    ok(elapsed_ms < 15000, "abort: quick (%llu ms), not 30 s",
       (unsigned long long) elapsed_ms);
    tgw_run_cleanup(&run);

    /* ---- built-ins ---- */
    h = builtin_handler(TGW_BUILTIN_PING, 0);
    run_one(&run, &h, "", 65536, 0);
    is_int(run.status, TGW_RUN_SUCCESS, "ping: success");
    is_str(run.output, "pong", "ping: pong");
    tgw_run_cleanup(&run);

    h = builtin_handler(TGW_BUILTIN_ECHO, 0);
    run_one(&run, &h, "{\"x\":[1,2]}", 65536, 0);
    is_str(run.output, "{\"x\":[1,2]}", "echo: payload back");
    tgw_run_cleanup(&run);
    run_one(&run, &h, "0123456789", 4, 0);
    ok(run.output_len == 4 && run.truncated, "echo: cut at result_max");
    tgw_run_cleanup(&run);

    h = builtin_handler(TGW_BUILTIN_SLEEP, 0);
    run_one(&run, &h, "{\"ms\":120}", 65536, 0);
    is_int(run.status, TGW_RUN_SUCCESS, "sleep: success");
    ok(elapsed_ms >= 110, "sleep: slept (%llu ms)",
       (unsigned long long) elapsed_ms);
    tgw_run_cleanup(&run);
    run_one(&run, &h, "{\"ms\":\"long\"}", 65536, 0);
    is_int(run.status, TGW_RUN_PERMANENT, "sleep: bad payload permanent");
    tgw_run_cleanup(&run);
    h = builtin_handler(TGW_BUILTIN_SLEEP, 50);
    run_one(&run, &h, "{\"ms\":5000}", 65536, 0);
    is_int(run.status, TGW_RUN_RETRYABLE, "sleep over timeout: retryable");
    ok(elapsed_ms < 4000, "sleep over timeout: stopped at the timeout, "
       "not after 5 s (%llu ms)", (unsigned long long) elapsed_ms);
    tgw_run_cleanup(&run);

    h = builtin_handler(TGW_BUILTIN_FAIL, 0);
    run_one(&run, &h, "{}", 65536, 0);
    is_int(run.status, TGW_RUN_RETRYABLE, "fail: retryable");
    ok(run.error != NULL, "fail: has an error");
    tgw_run_cleanup(&run);
    run_one(&run, &h, "{\"permanent\":true}", 65536, 0);
    is_int(run.status, TGW_RUN_PERMANENT, "fail permanent: permanent");
    tgw_run_cleanup(&run);

    run_one(&run, NULL, "", 65536, 0);
    is_int(run.status, TGW_RUN_PERMANENT, "unknown type: permanent");
    snprintf(want, sizeof(want), "no handler for type \"nope\"");
    is_str(run.error, want, "unknown type: error names it");
    tgw_run_cleanup(&run);

    /* ---- a spawner that dies after reporting a program's start, before
     * the worker read that report: the program is still killed, with its
     * group, not left running beside the retry of its task.  The worker
     * sees the death first when its next request meets the closed
     * socket, or (the spawner had a request unread) when its first read
     * is ECONNRESET, the report still behind it ---- */
    lost_reports(argv, 0);
    lost_reports(argv, 1);

    /* the exec spawner, let go, exits and its handles close */
    tgw_exec_spawner_stop();
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(uv_loop_close(&loop) == 0, "every handle was closed");
    is_int(handles_left, 0, "done came after the last handle closed, "
           "in every run");

    unlink(s65); unlink(s75); unlink(s3); unlink(sslow); unlink(sstubborn);
    unlink(senv); unlink(sbig); unlink(serr); unlink(ssig);
    unlink(sgrand); unlink(snoread); unlink(snoshebang); unlink(spipes);
    free(s65); free(s75); free(s3); free(sslow); free(sstubborn);
    free(senv); free(sbig); free(serr); free(ssig); free(sgrand);
    free(snoread); free(snoshebang); free(spipes);
    rmdir(tmpdir);
    return done_testing();
}
