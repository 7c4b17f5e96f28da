/*
 * taskgwctl token hash: a token read on stdin becomes a token-file line
 * (SPEC §3); only its SHA-256 digest is printed, never the token.
 */

#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

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
