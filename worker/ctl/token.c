/*
 * taskgwctl token: hash (a token on stdin becomes a token-file line) and
 * the run-time tokens in Redis: create, list, revoke.  Only SHA-256
 * digests are stored; a created token is printed once and never again.
 */

#include <arpa/inet.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <termios.h>
#include <unistd.h>

#include "tgw_keys.h"
#include "tgw_lua.h"
#include "ctl.h"

#define TGW_CTL_TOKEN_MAX  4096
#define TGW_CTL_TNAME_MAX  64


/* Reads stdin (without echo on a terminal) into buf; length or -1. */
static long
tgw_ctl_read_token(char *buf, size_t size)
{
    struct termios  tio, quiet;
    size_t          n;
    int             tty;

    tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &tio) == 0;
    if (tty) {
        fputs("token: ", stderr);
        fflush(stderr);
        quiet = tio;
        quiet.c_lflag &= ~(tcflag_t) ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        n = fgets(buf, (int) size, stdin) ? strlen(buf) : 0;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio);
        fputc('\n', stderr);
        if (n == size - 1 && buf[n - 1] != '\n') {
            n = size;                   /* the line did not fit: too long */
        }
    } else {
        n = fread(buf, 1, size, stdin);
    }

    if (ferror(stdin)) {
        return -1;
    }

    return (long) n;
}


int
tgw_ctl_token_hash(tgw_ctl_t *ctl, int argc, char **argv)
{
    tgw_buf_t   out = { 0 };
    const char     *name = argc > 0 ? argv[0] : "NAME";
    const char     *role = argc > 1 ? argv[1] : "ROLE";
    char            tok[TGW_CTL_TOKEN_MAX + 1], hex[TGW_SHA256_HEX + 1];
    long            n;
    size_t          i;
    int             rc;

    if (argc > 0 && !tgw_valid_name(name, TGW_CTL_TNAME_MAX, 0)) {
        return tgw_ctl_fail("token hash: invalid name \"%s\" (1..%d of "
                            "A-Z a-z 0-9 . _ -)", name, TGW_CTL_TNAME_MAX);
    }

    if (argc > 1 && strcmp(role, "dev") != 0 && strcmp(role, "ops") != 0
        && strcmp(role, "admin") != 0)
    {
        return tgw_ctl_fail("token hash: invalid role \"%s\" (dev, ops or "
                            "admin)", role);
    }

    n = tgw_ctl_read_token(tok, sizeof(tok));
    if (n < 0) {
        return tgw_ctl_fail("token hash: cannot read stdin");
    }

    if ((size_t) n > TGW_CTL_TOKEN_MAX) {
        return tgw_ctl_fail("token hash: token longer than %d bytes",
                            TGW_CTL_TOKEN_MAX);
    }

    /* one line: the trailing newline (and CR) is not part of the token */
    if (n > 0 && tok[n - 1] == '\n') {
        n--;
    }
    if (n > 0 && tok[n - 1] == '\r') {
        n--;
    }

    if (n == 0) {
        return tgw_ctl_fail("token hash: no token on stdin");
    }

    /* a token travels in a header: visible ASCII only, one line */
    for (i = 0; i < (size_t) n; i++) {
        if ((unsigned char) tok[i] <= 0x20 || (unsigned char) tok[i] >= 0x7f) {
            return tgw_ctl_fail("token hash: the token must be one line of "
                                "visible ASCII characters");
        }
    }

    if (tgw_sha256_hex(tok, (size_t) n, hex) != 0) {
        memset(tok, 0, sizeof(tok));
        return tgw_ctl_fail("token hash: SHA-256 failed");
    }
    explicit_bzero(tok, sizeof(tok));

    if (ctl->opts.json) {
        tgw_buf_puts(&out, "{\"name\":");
        tgw_buf_json_string(&out, name, strlen(name));
        tgw_buf_puts(&out, ",\"role\":");
        tgw_buf_json_string(&out, role, strlen(role));
        tgw_buf_printf(&out, ",\"digest\":\"sha256:%s\"}", hex);
    } else {
        tgw_buf_printf(&out, "%s %s sha256:%s", name, role, hex);
    }

    rc = tgw_ctl_print(&out);
    tgw_buf_free(&out);
    return rc;
}


/* ---- run-time tokens ---------------------------------------------------- */

#define TGW_CTL_TOKEN_RANDOM  32          /* bytes of a created token */
#define TGW_CTL_TOKEN_B64     43          /* their unpadded base64url */
#define TGW_CTL_OPT_MAX       1024        /* longest ips=/queues= value */

/*
 * Creating and revoking a token are the scripts token_create.lua and
 * token_revoke.lua of worker/common/lua: the admin API of the module runs
 * the same ones, so both doors check and record a change alike.
 */


/* Who runs the command, for the audit stream: "taskgwctl:<user>". */
static void
tgw_ctl_who(char *buf, size_t size)
{
    struct passwd  *pw;
    const char     *user;

    pw = getpwuid(getuid());
    user = pw != NULL ? pw->pw_name : getenv("USER");

    snprintf(buf, size, "taskgwctl:%s", user != NULL ? user : "unknown");
}


/*
 * Options of a token as the module reads them (see docs/directives.md,
 * taskgw_tokens): ips= a comma list of addresses or CIDR ranges, rate=
 * Nr/s or Nr/m, queues= a comma list of queue names.  Checked here so
 * that a token is never created that nginx would refuse.
 */
static int
tgw_ctl_token_ips_valid(const char *s)
{
    char            item[INET6_ADDRSTRLEN + 8], *slash, *end;
    unsigned char   addr[16];
    const char     *p, *comma;
    size_t          n;
    long            bits;
    int             v6;

    for (p = s; ; p = comma + 1) {
        comma = strchr(p, ',');
        n = comma != NULL ? (size_t) (comma - p) : strlen(p);

        if (n == 0 || n >= sizeof(item)) {
            return 0;
        }

        memcpy(item, p, n);
        item[n] = '\0';

        slash = strchr(item, '/');
        if (slash != NULL) {
            *slash++ = '\0';
        }

        v6 = strchr(item, ':') != NULL;
        if (inet_pton(v6 ? AF_INET6 : AF_INET, item, addr) != 1) {
            return 0;
        }

        if (slash != NULL) {
            bits = strtol(slash, &end, 10);
            if (*slash == '\0' || *end != '\0' || bits < 0
                || bits > (v6 ? 128 : 32))
            {
                return 0;
            }
        }

        if (comma == NULL) {
            return 1;
        }
    }
}


static int
tgw_ctl_token_rate_valid(const char *s)
{
    char  *end;
    long   n;

    n = strtol(s, &end, 10);

    return end != s && *s >= '0' && *s <= '9' && n >= 1 && n <= 1000000
           && (strcmp(end, "r/s") == 0 || strcmp(end, "r/m") == 0);
}


static int
tgw_ctl_token_queues_valid(const char *s)
{
    char         item[TGW_CTL_TNAME_MAX + 1];
    const char  *p, *comma;
    size_t       n;

    for (p = s; ; p = comma + 1) {
        comma = strchr(p, ',');
        n = comma != NULL ? (size_t) (comma - p) : strlen(p);

        if (n == 0 || n > TGW_CTL_TNAME_MAX) {
            return 0;
        }

        memcpy(item, p, n);
        item[n] = '\0';

        if (!tgw_valid_name(item, TGW_CTL_TNAME_MAX, 0)) {
            return 0;
        }

        if (comma == NULL) {
            return 1;
        }
    }
}


/* Unpadded base64url (RFC 4648 §5) of n bytes; out gets 4n/3 chars + NUL */
static void
tgw_ctl_base64url(const unsigned char *in, size_t n, char *out)
{
    static const char  abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned long      v;
    size_t             i;

    for (i = 0; i + 2 < n; i += 3) {
        v = (unsigned long) in[i] << 16 | (unsigned long) in[i + 1] << 8
            | in[i + 2];
        *out++ = abc[(v >> 18) & 63];
        *out++ = abc[(v >> 12) & 63];
        *out++ = abc[(v >> 6) & 63];
        *out++ = abc[v & 63];
    }

    if (n - i == 1) {
        v = (unsigned long) in[i] << 16;
        *out++ = abc[(v >> 18) & 63];
        *out++ = abc[(v >> 12) & 63];

    } else if (n - i == 2) {
        v = (unsigned long) in[i] << 16 | (unsigned long) in[i + 1] << 8;
        *out++ = abc[(v >> 18) & 63];
        *out++ = abc[(v >> 12) & 63];
        *out++ = abc[(v >> 6) & 63];
    }

    *out = '\0';
}


/*
 * token create NAME ROLE [ips=LIST] [rate=Nr/s|Nr/m] [queues=LIST]
 *
 * The token is "tgw_" and 43 base64url characters of 32 random bytes from
 * the kernel's CSPRNG.  It is printed this once; Redis gets its digest.
 */
int
tgw_ctl_token_create(tgw_ctl_t *ctl, int argc, char **argv)
{
    tgw_buf_t   out = { 0 };
    const char     *name = argv[0], *role = argv[1];
    const char     *ips = "", *rate = "", *queues = "";
    unsigned char   rnd[TGW_CTL_TOKEN_RANDOM];
    char            tok[4 + TGW_CTL_TOKEN_B64 + 1], hex[TGW_SHA256_HEX + 1];
    char            tkey[TGW_CTL_KEY_MAX], nkey[TGW_CTL_KEY_MAX];
    char            akey[TGW_CTL_KEY_MAX], now[24], who[300];
    redisReply     *r;
    int             i, rc;

    if (!tgw_valid_name(name, TGW_CTL_TNAME_MAX, 0)) {
        return tgw_ctl_fail("token create: invalid name \"%s\" (1..%d of "
                            "A-Z a-z 0-9 . _ -)", name, TGW_CTL_TNAME_MAX);
    }

    if (strcmp(role, "dev") != 0 && strcmp(role, "ops") != 0
        && strcmp(role, "admin") != 0)
    {
        return tgw_ctl_fail("token create: invalid role \"%s\" (dev, ops or "
                            "admin)", role);
    }

    for (i = 2; i < argc; i++) {
        if (strlen(argv[i]) > TGW_CTL_OPT_MAX) {
            return tgw_ctl_fail("token create: \"%.20s...\" is too long",
                                argv[i]);
        }

        if (strncmp(argv[i], "ips=", 4) == 0 && *ips == '\0') {
            ips = argv[i] + 4;
            if (!tgw_ctl_token_ips_valid(ips)) {
                return tgw_ctl_fail("token create: invalid address or range "
                                    "in \"%s\"", argv[i]);
            }

        } else if (strncmp(argv[i], "rate=", 5) == 0 && *rate == '\0') {
            rate = argv[i] + 5;
            if (!tgw_ctl_token_rate_valid(rate)) {
                return tgw_ctl_fail("token create: invalid rate \"%s\" "
                                    "(Nr/s or Nr/m)", argv[i]);
            }

        } else if (strncmp(argv[i], "queues=", 7) == 0 && *queues == '\0') {
            queues = argv[i] + 7;
            if (!tgw_ctl_token_queues_valid(queues)) {
                return tgw_ctl_fail("token create: invalid queue name in "
                                    "\"%s\"", argv[i]);
            }

        } else {
            return tgw_ctl_fail("token create: unknown or repeated option "
                                "\"%s\" (ips=, rate=, queues=)", argv[i]);
        }
    }

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd)) {
        return tgw_ctl_fail("token create: getrandom() failed");
    }

    memcpy(tok, "tgw_", 4);
    tgw_ctl_base64url(rnd, sizeof(rnd), tok + 4);
    explicit_bzero(rnd, sizeof(rnd));

    if (tgw_sha256_hex(tok, strlen(tok), hex) != 0) {
        explicit_bzero(tok, sizeof(tok));
        return tgw_ctl_fail("token create: SHA-256 failed");
    }

    if (tgw_ctl_key(tkey, TGW_KEY_TOKEN, ctl->opts.prefix, hex) != 0
        || tgw_ctl_key(nkey, TGW_KEY_TOKENS, ctl->opts.prefix) != 0
        || tgw_ctl_key(akey, TGW_KEY_AUDIT, ctl->opts.prefix) != 0)
    {
        explicit_bzero(tok, sizeof(tok));
        return 1;
    }

    snprintf(now, sizeof(now), "%lld", (long long) tgw_clock_ms());
    tgw_ctl_who(who, sizeof(who));

    if (tgw_ctl_connect(ctl) != 0) {
        explicit_bzero(tok, sizeof(tok));
        return 1;
    }

    r = tgw_ctl_command(ctl, "EVAL %s 3 %s %s %s %s %s %s %s %s %s %s %s",
                        tgw_lua_token_create, tkey, nkey, akey, name,
                        role, ips, rate, queues, now, hex, who);
    if (r == NULL) {
        explicit_bzero(tok, sizeof(tok));
        return 1;
    }

    rc = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);

    if (!rc) {
        explicit_bzero(tok, sizeof(tok));
        return tgw_ctl_fail("token create: a token named \"%s\" exists "
                            "(revoke it first)", name);
    }

    if (ctl->opts.json) {
        tgw_buf_puts(&out, "{\"name\":");
        tgw_buf_json_string(&out, name, strlen(name));
        tgw_buf_puts(&out, ",\"role\":");
        tgw_buf_json_string(&out, role, strlen(role));
        tgw_buf_printf(&out, ",\"token\":\"%s\"}", tok);

    } else {
        tgw_buf_printf(&out, "%s\n", tok);
        fprintf(stderr, "token \"%s\" (%s) created; it is shown this once "
                "and cannot be recovered\n", name, role);
    }

    explicit_bzero(tok, sizeof(tok));

    /* the buffer held the token too */
    rc = tgw_ctl_print(&out);
    if (out.data != NULL) {
        explicit_bzero(out.data, out.cap);
    }
    tgw_buf_free(&out);

    return rc;
}


/* The string of a reply element, "" for nil. */
static const char *
tgw_ctl_str(redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_STRING ? r->str : "";
}


/* token list: every run-time token, never its digest's token. */
int
tgw_ctl_token_list(tgw_ctl_t *ctl, int argc, char **argv)
{
    tgw_buf_t   out = { 0 };
    char            nkey[TGW_CTL_KEY_MAX], tkey[TGW_CTL_KEY_MAX];
    char            created[TGW_RFC3339_LEN + 1];
    redisReply     *names, *t;
    const char     *f[6];
    int64_t         ms;
    size_t          i, n;
    int             rc;

    (void) argc;
    (void) argv;

    if (tgw_ctl_key(nkey, TGW_KEY_TOKENS, ctl->opts.prefix) != 0) {
        return 1;
    }

    if (tgw_ctl_connect(ctl) != 0) {
        return 1;
    }

    names = tgw_ctl_command(ctl, "HGETALL %s", nkey);
    if (names == NULL) {
        return 1;
    }

    if (names->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(names);
        return tgw_ctl_fail("token list: unexpected reply to HGETALL");
    }

    if (ctl->opts.json) {
        tgw_buf_puts(&out, "[");
    } else {
        tgw_buf_printf(&out, "%-24s %-6s %-24s %-8s %-8s %s",
                           "NAME", "ROLE", "CREATED", "RATE", "STATE",
                           "IPS / QUEUES");
    }

    n = 0;

    for (i = 0; i + 1 < names->elements; i += 2) {
        if (tgw_ctl_key(tkey, TGW_KEY_TOKEN, ctl->opts.prefix,
                        tgw_ctl_str(names->element[i + 1])) != 0)
        {
            freeReplyObject(names);
            tgw_buf_free(&out);
            return 1;
        }

        t = tgw_ctl_command(ctl, "HMGET %s role ips rate queues created_at "
                            "disabled", tkey);
        if (t == NULL) {
            freeReplyObject(names);
            tgw_buf_free(&out);
            return 1;
        }

        if (t->type != REDIS_REPLY_ARRAY || t->elements != 6) {
            freeReplyObject(t);
            continue;
        }

        for (rc = 0; rc < 6; rc++) {
            f[rc] = tgw_ctl_str(t->element[rc]);
        }

        created[0] = '\0';
        if (tgw_parse_int64(f[4], strlen(f[4]), &ms) == 0) {
            (void) tgw_clock_rfc3339(ms, created, sizeof(created));
        }

        if (ctl->opts.json) {
            tgw_buf_puts(&out, n ? ",{\"name\":" : "{\"name\":");
            tgw_buf_json_string(&out, names->element[i]->str,
                                    names->element[i]->len);
            tgw_buf_puts(&out, ",\"role\":");
            tgw_buf_json_string(&out, f[0], strlen(f[0]));
            tgw_buf_puts(&out, ",\"ips\":");
            tgw_buf_json_string(&out, f[1], strlen(f[1]));
            tgw_buf_puts(&out, ",\"rate\":");
            tgw_buf_json_string(&out, f[2], strlen(f[2]));
            tgw_buf_puts(&out, ",\"queues\":");
            tgw_buf_json_string(&out, f[3], strlen(f[3]));
            tgw_buf_puts(&out, ",\"created_at\":");
            if (created[0]) {
                tgw_buf_printf(&out, "\"%s\"", created);
            } else {
                tgw_buf_puts(&out, "null");
            }
            tgw_buf_printf(&out, ",\"disabled\":%s}",
                               strcmp(f[5], "1") == 0 ? "true" : "false");

        } else {
            tgw_buf_printf(&out, "\n%-24s %-6s %-24s %-8s %-8s %s%s%s",
                               names->element[i]->str, f[0],
                               created[0] ? created : "-",
                               f[2][0] ? f[2] : "-",
                               strcmp(f[5], "1") == 0 ? "disabled" : "active",
                               f[1][0] ? f[1] : "any",
                               " / ", f[3][0] ? f[3] : "any");
        }

        n++;
        freeReplyObject(t);
    }

    freeReplyObject(names);

    if (ctl->opts.json) {
        tgw_buf_puts(&out, "]");
    }

    rc = tgw_ctl_print(&out);
    tgw_buf_free(&out);

    return rc;
}


/*
 * token revoke NAME: the token stops working at once in Redis, and in
 * nginx once its cached lookup expires (taskgw_tokens_cache_ttl).
 */
int
tgw_ctl_token_revoke(tgw_ctl_t *ctl, int argc, char **argv)
{
    const char  *name = argv[0];
    char         nkey[TGW_CTL_KEY_MAX], akey[TGW_CTL_KEY_MAX];
    char         now[24], who[300];
    redisReply  *r;
    int          ok;

    (void) argc;

    if (!tgw_valid_name(name, TGW_CTL_TNAME_MAX, 0)) {
        return tgw_ctl_fail("token revoke: invalid name \"%s\"", name);
    }

    if (tgw_ctl_key(nkey, TGW_KEY_TOKENS, ctl->opts.prefix) != 0
        || tgw_ctl_key(akey, TGW_KEY_AUDIT, ctl->opts.prefix) != 0)
    {
        return 1;
    }

    snprintf(now, sizeof(now), "%lld", (long long) tgw_clock_ms());
    tgw_ctl_who(who, sizeof(who));

    if (tgw_ctl_connect(ctl) != 0) {
        return 1;
    }

    r = tgw_ctl_command(ctl, "EVAL %s 2 %s %s %s %s %s %s",
                        tgw_lua_token_revoke, nkey, akey, name,
                        ctl->opts.prefix, now, who);
    if (r == NULL) {
        return 1;
    }

    ok = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);

    if (!ok) {
        return tgw_ctl_fail("token revoke: no token named \"%s\"", name);
    }

    if (ctl->opts.json) {
        fprintf(stdout, "{\"name\":\"%s\",\"revoked\":true}\n", name);
    } else {
        fprintf(stdout, "token \"%s\" revoked\n", name);
    }

    return fflush(stdout) == 0 ? 0 : 1;
}
