/*
 * The exec spawner's protocol (keeper.h), spoken to the real spawner (this
 * binary, started as "--exec-spawner") over its socket, without a worker:
 * one message a datagram both ways when started without "batch" (as a
 * worker older than the installed spawner starts it), several when
 * started with it; a batch it cannot read to its end makes it exit.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keeper.h"
#include "tap.h"
#include "tproc.h"

static pid_t  spawner;
static int    sock = -1;


/* Starts this binary as the spawner, batched or not. */
static void
start(int batch)
{
    char   me[24];
    pid_t  pid;
    int    sv[2];

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        exit(2);
    }
    snprintf(me, sizeof(me), "%ld", (long) getpid());
    pid = fork();
    if (pid == -1) {
        exit(2);
    }
    if (pid == 0) {
        dup2(sv[1], TGW_SPAWNER_FD);    /* without CLOEXEC */
        execl("/proc/self/exe", "taskgw-exec", TGW_SPAWNER_ARG, me,
              batch ? TGW_SPAWNER_BATCH : (char *) NULL, (char *) NULL);
        _exit(127);
    }
    close(sv[1]);
    spawner = pid;
    sock = sv[0];
}


/* Ends the spawner: end of file on its socket; its exit status. */
static int
stop(void)
{
    int st = -1;

    close(sock);
    sock = -1;
    waitpid(spawner, &st, 0);
    return st;
}


/* Appends a spawn request for "prog -c script" to buf at *len. */
static void
request_prog(char *buf, size_t *len, uint32_t id, const char *prog,
    const char *script)
{
    const char       *strs[] = { prog, "-c", script, "PATH=/bin:/usr/bin" };
    tgw_spawn_msg_t   m;
    size_t            i, l;

    memset(&m, 0, sizeof(m));
    m.type = TGW_SPAWN_REQ;
    m.id = id;
    m.a = 3;
    m.b = 1;
    memcpy(buf + *len, &m, sizeof(m));
    *len += sizeof(m);
    for (i = 0; i < 4; i++) {
        l = strlen(strs[i]) + 1;
        memcpy(buf + *len, strs[i], l);
        *len += l;
    }
}


static void
request(char *buf, size_t *len, uint32_t id, const char *script)
{
    request_prog(buf, len, id, "/bin/sh", script);
}


/* Sends buf with nreq requests' stdio (/dev/null each) attached. */
static int
send_reqs(const char *buf, size_t len, int nreq)
{
    union {
        struct cmsghdr  h;
        char            b[CMSG_SPACE(TGW_SPAWN_FDS * sizeof(int))];
    }                 cm;
    struct cmsghdr   *c;
    struct msghdr     mh;
    struct iovec      iov;
    int               fds[TGW_SPAWN_FDS] = { 0 }, i, n;

    for (i = 0; i < 3 * nreq; i++) {
        fds[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
    }
    memset(&mh, 0, sizeof(mh));
    memset(&cm, 0, sizeof(cm));
    iov.iov_base = (void *) buf;
    iov.iov_len = len;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.b;
    mh.msg_controllen = CMSG_SPACE(3 * nreq * sizeof(int));
    c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(3 * nreq * sizeof(int));
    memcpy(CMSG_DATA(c), fds, 3 * nreq * sizeof(int));
    n = (int) sendmsg(sock, &mh, MSG_NOSIGNAL);
    for (i = 0; i < 3 * nreq; i++) {
        close(fds[i]);
    }
    return n == (int) len ? 0 : -1;
}


/*
 * Reads reports until every one of ids 1..n has exited (or 10 s pass):
 * exited[id] its wait status, started[id] its pid (0 for one that could
 * not start; both -1 until reported); returns the number of
 * datagrams, or -1 when one was not whole messages.
 */
static int
collect(int n, int *started, int *exited, int *most)
{
    tgw_spawn_msg_t  in[TGW_SPAWN_BATCH];
    struct pollfd    pfd;
    ssize_t          r;
    int              dgrams = 0, left = n, i, k;

    *most = 0;
    pfd.fd = sock;
    pfd.events = POLLIN;
    while (left > 0) {
        if (poll(&pfd, 1, 10000) != 1) {
            return -1;
        }
        r = recv(sock, in, sizeof(in), 0);
        if (r <= 0 || r % (ssize_t) sizeof(in[0]) != 0) {
            return -1;
        }
        dgrams++;
        k = (int) (r / (ssize_t) sizeof(in[0]));
        if (k > *most) {
            *most = k;
        }
        for (i = 0; i < k; i++) {
            if (in[i].type == TGW_SPAWN_KILLED) {
                continue;           /* a batching spawner's greeting */
            }
            if (in[i].id < 1 || (int) in[i].id > n) {
                return -1;
            }
            if (in[i].type == TGW_SPAWN_STARTED) {
                started[in[i].id] = in[i].a;
            } else if (in[i].type == TGW_SPAWN_EXITED) {
                if (started[in[i].id] == -1) {
                    return -1;      /* an end before its start */
                }
                exited[in[i].id] = in[i].a;
                left--;
            }
        }
    }
    return dgrams;
}


/* (Not in an ASan build: an address space limit is no use beside a
 * sanitizer's shadow.) */
#if !defined(__SANITIZE_ADDRESS__)

/* 1 when process pid runs (is there and not a zombie). */
static int
alive(pid_t pid)
{
    char  st = tproc_state(pid);

    return st != 0 && st != 'Z';
}


/* The size of process pid's address space (VmSize), in bytes; 0 if
 * unknown. */
static size_t
vm_size(pid_t pid)
{
    char    path[64], line[256];
    FILE   *f;
    size_t  kb = 0;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long) pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmSize:", 7) == 0) {
            kb = (size_t) strtoul(line + 7, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}


/*
 * A batched spawner that cannot allocate what one request needs (its
 * argv, here for 30,000 arguments, with its address space limited):
 * that request fails (127), the next one in the datagram runs, and a
 * program already running is not touched.
 */
static void
no_memory(void)
{
    static char      big[TGW_SPAWN_MAX];
    tgw_spawn_msg_t  m, in[TGW_SPAWN_BATCH];
    struct rlimit    rl;
    struct pollfd    pfd;
    size_t           len, vm;
    ssize_t          r;
    pid_t            first = 0;
    int              i, k, st, started2 = -1, exited2 = -1, exited3 = -1;

    start(1);

    /* a program that keeps running (and the child stack mapped) */
    len = 0;
    request(big, &len, 1, "exec sleep 30");
    ok(send_reqs(big, len, 1) == 0, "no memory: a long program started");
    pfd.fd = sock;
    pfd.events = POLLIN;
    while (first == 0 && poll(&pfd, 1, 10000) == 1) {
        r = recv(sock, in, sizeof(in), 0);
        for (k = 0; r > 0 && k < (int) (r / (ssize_t) sizeof(in[0])); k++) {
            if (in[k].id == 1 && in[k].type == TGW_SPAWN_STARTED) {
                first = in[k].a;
            }
        }
        if (r <= 0) {
            break;
        }
    }
    ok(first > 0, "no memory: it runs (%ld)", (long) first);

    /* no room left for a large allocation */
    vm = vm_size(spawner);
    rl.rlim_cur = rl.rlim_max = vm + 64 * 1024;
    ok(vm > 0 && prlimit(spawner, RLIMIT_AS, &rl, NULL) == 0,
       "no memory: the spawner's address space limited to %zu KB",
       vm / 1024 + 64);

    /* request 2: /bin/sh -c "exit 0" with 30,000 more (empty) arguments;
     * request 3: a small one */
    memset(&m, 0, sizeof(m));
    m.type = TGW_SPAWN_REQ;
    m.id = 2;
    m.a = 3 + 30000;
    m.b = 1;
    memcpy(big, &m, sizeof(m));
    len = sizeof(m);
    memcpy(big + len, "/bin/sh\0-c\0exit 0", 18);   /* three strings */
    len += 18;
    memset(big + len, 0, 30000);
    len += 30000;
    memcpy(big + len, "PATH=/bin:/usr/bin", 19);
    len += 19;
    request(big, &len, 3, "exit 0");
    ok(send_reqs(big, len, 2) == 0, "no memory: a huge request, then a "
       "small one, in one datagram");

    while ((exited2 == -1 || exited3 == -1) && poll(&pfd, 1, 10000) == 1) {
        r = recv(sock, in, sizeof(in), 0);
        if (r <= 0) {
            break;
        }
        for (k = 0; k < (int) (r / (ssize_t) sizeof(in[0])); k++) {
            if (in[k].id == 2 && in[k].type == TGW_SPAWN_STARTED) {
                started2 = in[k].a;
            } else if (in[k].id == 2 && in[k].type == TGW_SPAWN_EXITED) {
                exited2 = in[k].a;
            } else if (in[k].id == 3 && in[k].type == TGW_SPAWN_EXITED) {
                exited3 = in[k].a;
            }
        }
    }
    ok(started2 == 0 && exited2 == 127 << 8,
       "no memory: the huge one could not start: 127 (%d)", exited2);
    is_int(exited3, 0, "no memory: the next one ran");
    ok(waitpid(spawner, &st, WNOHANG) == 0, "no memory: the spawner runs on");
    ok(alive(first), "no memory: the long program was not touched");

    /* end of file: the spawner kills what runs and exits */
    stop();
    for (i = 0; i < 1000 && alive(first); i++) {
        poll(NULL, 0, 10);
    }
    if (alive(first)) {
        kill(first, SIGKILL);               /* leave nothing behind */
    }
}

#endif


/*
 * The next report, from a datagram of reports read before or now (within
 * 10 s): 0, or -1 when none came.
 */
static int
next_report(tgw_spawn_msg_t *m)
{
    static tgw_spawn_msg_t  in[TGW_SPAWN_BATCH];
    static int              have, at;
    struct pollfd           pfd;
    ssize_t                 r;

    if (at == have) {
        pfd.fd = sock;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 10000) != 1) {
            return -1;
        }
        r = recv(sock, in, sizeof(in), 0);
        if (r <= 0 || r % (ssize_t) sizeof(in[0]) != 0) {
            return -1;
        }
        have = (int) (r / (ssize_t) sizeof(in[0]));
        at = 0;
    }
    *m = in[at++];
    return 0;
}


/*
 * Every request to a batching spawner is answered, in order (keeper.h,
 * "Answers"): its first report says it answers kills, a spawn request
 * gets STARTED, a kill KILLED, also one for a program that ended.  The
 * worker takes a spawner that leaves one unanswered for stuck.
 */
static void
answers(void)
{
    tgw_spawn_msg_t  m, k;
    char             buf[512];
    size_t           len = 0;
    pid_t            pid = -1;
    int              st = -1, killed = 0, got;

    start(1);
    got = next_report(&m);
    ok(got == 0 && m.type == TGW_SPAWN_KILLED && m.id == 0,
       "answers: the first report is the greeting (KILLED for id 0)");

    request(buf, &len, 7, "sleep 30");
    ok(send_reqs(buf, len, 1) == 0, "answers: a request sent");
    got = next_report(&m);
    ok(got == 0 && m.type == TGW_SPAWN_STARTED && m.id == 7 && m.a > 0,
       "answers: STARTED with its pid");
    pid = got == 0 ? (pid_t) m.a : -1;

    memset(&k, 0, sizeof(k));
    k.type = TGW_SPAWN_KILL;
    k.id = 7;
    k.a = SIGKILL;
    ok(send(sock, &k, sizeof(k), MSG_NOSIGNAL) == (ssize_t) sizeof(k),
       "answers: a kill sent");
    while (next_report(&m) == 0) {
        if (m.type == TGW_SPAWN_KILLED && m.id == 7) {
            killed++;
        } else if (m.type == TGW_SPAWN_EXITED && m.id == 7) {
            st = m.a;
            break;
        }
    }
    is_int(killed, 1, "answers: the kill was answered (KILLED)");
    ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
       "answers: and the program died of it");

    /* a kill for a program that ended already: answered too */
    k.id = 7;
    ok(send(sock, &k, sizeof(k), MSG_NOSIGNAL) == (ssize_t) sizeof(k),
       "answers: a kill for an ended program sent");
    got = next_report(&m);
    ok(got == 0 && m.type == TGW_SPAWN_KILLED && m.id == 7,
       "answers: answered as well");
    if (pid > 0) {
        kill(pid, SIGKILL);                 /* leave nothing behind */
    }
    stop();
}


int
main(int argc, char **argv)
{
    char    buf[4096];
    size_t  len;
    int     started[16], exited[16], dg, most, i, good, st;

    if (tgw_keeper_wanted(argc, argv)) {
        tgw_keeper_main(argc, argv);
    }
    signal(SIGPIPE, SIG_IGN);

    /* ---- one message a datagram: a spawner started without "batch" */
    start(0);
    for (i = 1; i <= 3; i++) {
        len = 0;
        request(buf, &len, (uint32_t) i, i == 2 ? "exit 3" : "exit 0");
        ok(send_reqs(buf, len, 1) == 0, "unbatched: request %d sent", i);
    }
    memset(started, -1, sizeof(started));
    memset(exited, -1, sizeof(exited));
    dg = collect(3, started, exited, &most);
    is_int(dg, 6, "unbatched: six datagrams for three programs");
    is_int(most, 1, "unbatched: one message each");
    ok(started[1] > 0 && started[2] > 0 && started[3] > 0,
       "unbatched: three pids");
    ok(exited[1] == 0 && exited[2] == 3 << 8 && exited[3] == 0,
       "unbatched: their exit statuses (%d %d %d)",
       exited[1], exited[2], exited[3]);

    /* several requests in one datagram: the unbatched spawner reads the
     * first one only (as spawners before batches did) */
    len = 0;
    request(buf, &len, 1, "exit 0");
    request(buf, &len, 2, "exit 0");
    ok(send_reqs(buf, len, 2) == 0, "unbatched: two requests in one");
    memset(started, -1, sizeof(started));
    memset(exited, -1, sizeof(exited));
    dg = collect(1, started, exited, &most);
    ok(dg == 2 && exited[1] == 0, "unbatched: the first ran");
    ok(started[2] == -1, "unbatched: the second was not read");
    st = stop();
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "unbatched: exits at end of file");

    answers();

    /* ---- batched */
    start(1);
    len = 0;
    for (i = 1; i <= 8; i++) {
        request(buf, &len, (uint32_t) i, i == 5 ? "exit 65" : "exit 0");
    }
    ok(send_reqs(buf, len, 8) == 0, "batched: eight requests, one datagram");
    memset(started, -1, sizeof(started));
    memset(exited, -1, sizeof(exited));
    dg = collect(8, started, exited, &most);
    ok(dg > 0 && dg < 16, "batched: 16 reports in %d datagrams", dg);
    ok(most > 1, "batched: up to %d reports a datagram", most);
    for (good = 0, i = 1; i <= 8; i++) {
        good += started[i] > 0 && exited[i] == (i == 5 ? 65 << 8 : 0);
    }
    is_int(good, 8, "batched: each ran, with its exit status");

    /* a program that cannot start, in a batch: 127, and the next runs */
    len = 0;
    request_prog(buf, &len, 1, "/nonexistent/prog", "exit 0");
    request(buf, &len, 2, "exit 0");
    ok(send_reqs(buf, len, 2) == 0, "batched: a missing program, then one");
    memset(started, -1, sizeof(started));
    memset(exited, -1, sizeof(exited));
    dg = collect(2, started, exited, &most);
    ok(dg > 0 && started[1] == 0 && exited[1] == 127 << 8
       && started[2] > 0 && exited[2] == 0,
       "batched: 127 for the missing one, 0 for the next (%d %d)",
       exited[1], exited[2]);

    /* a request cut short in a batch: the spawner cannot find the next
     * one, so it exits rather than leave it unanswered */
    len = 0;
    request(buf, &len, 1, "exit 0");
    ((tgw_spawn_msg_t *) (void *) buf)->b = 40;     /* more than sent */
    ok(send_reqs(buf, len, 1) == 0, "batched: a malformed request sent");
    waitpid(spawner, &st, 0);
    ok(WIFEXITED(st), "batched: the spawner exited on it");
    close(sock);

    /* a message of a type it does not know (a newer worker's) ahead of a
     * request in a batch: it cannot tell what follows either, so it
     * exits too, rather than leave the request unanswered */
    start(1);
    {
        tgw_spawn_msg_t  m;

        memset(&m, 0, sizeof(m));
        m.type = 99;
        m.id = 1;
        memcpy(buf, &m, sizeof(m));
        len = sizeof(m);
    }
    request(buf, &len, 2, "exit 0");
    ok(send_reqs(buf, len, 1) == 0, "batched: an unknown message, then a "
       "request");
    for (i = 0; i < 1000 && waitpid(spawner, &st, WNOHANG) == 0; i++) {
        poll(NULL, 0, 10);
    }
    ok(i < 1000 && WIFEXITED(st), "batched: the spawner exited on it");
    if (i == 1000) {
        kill(spawner, SIGKILL);
        waitpid(spawner, &st, 0);
    }
    close(sock);

    /* an address space limit is no use beside a sanitizer's shadow */
#if defined(__SANITIZE_ADDRESS__)
    printf("# no memory: skipped in an ASan build\n");
#else
    no_memory();
#endif

    return done_testing();
}
