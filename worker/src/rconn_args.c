/*
 * The arguments of a Redis command as it is built (rconn.h's tgw_args_t),
 * and the scripts of tgw_lua.h named by their SHA1 for EVALSHA.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "rconn.h"


/* ------------------------------------------------------------------------
 * Scripts by digest.  A script goes to Redis as EVALSHA of its SHA1,
 * computed here once per script; Redis knows the script after a first
 * SCRIPT LOAD.  When it does not (a first use, a restarted Redis, a
 * SCRIPT FLUSH) the EVALSHA fails with NOSCRIPT without running: the
 * reply handler then sends SCRIPT LOAD and the same EVALSHA again on the
 * same connection (one more round trip), and the caller sees only the
 * second reply.
 * ------------------------------------------------------------------------ */

#define TGW_SCRIPTS_MAX  32

static struct {
    const char  *text;
    char         sha[41];
} tgw_scripts[TGW_SCRIPTS_MAX];
static int tgw_nscripts;


const char *
tgw_script_sha(const char *text)
{
    unsigned char  md[SHA_DIGEST_LENGTH];
    int            i;

    for (i = 0; i < tgw_nscripts; i++) {
        if (tgw_scripts[i].text == text) {
            return tgw_scripts[i].sha;
        }
    }
    if (tgw_nscripts == TGW_SCRIPTS_MAX) {
        return NULL;
    }
    SHA1((const unsigned char *) text, strlen(text), md);
    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        snprintf(tgw_scripts[tgw_nscripts].sha + 2 * i, 3, "%02x", md[i]);
    }
    tgw_scripts[tgw_nscripts].text = text;
    return tgw_scripts[tgw_nscripts++].sha;
}


void
tgw_args_script(tgw_args_t *a, const char *text)
{
    const char *sha = tgw_script_sha(text);

    if (sha == NULL) {
        a->overflow = 1;            /* cannot happen: a fixed set */
        return;
    }
    a->script = text;
    tgw_args_add(a, "EVALSHA");
    tgw_args_add(a, sha);
}


/* ------------------------------------------------------------------------
 * Argument vectors
 * ------------------------------------------------------------------------ */

void
tgw_args_init(tgw_args_t *a)
{
    a->argc = 0;
    a->overflow = 0;
    a->nown = 0;
    a->script = NULL;
}


void
tgw_args_keyf(tgw_args_t *a, const char *fmt, ...)
{
    va_list ap;
    char   *s;
    int     n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0 || a->argc == TGW_ARGS_MAX) {
        if (n >= 0) {
            free(s);
        }
        a->overflow = 1;
        return;
    }
    a->own[a->nown++] = s;
    tgw_args_addn(a, s, (size_t) n);
}


void
tgw_args_free(tgw_args_t *a)
{
    while (a->nown > 0) {
        free(a->own[--a->nown]);
    }
}


void
tgw_args_addn(tgw_args_t *a, const char *s, size_t len)
{
    if (a->argc == TGW_ARGS_MAX) {
        a->overflow = 1;
        return;
    }
    a->argv[a->argc] = s;
    a->len[a->argc] = len;
    a->argc++;
}


void
tgw_args_add(tgw_args_t *a, const char *s)
{
    tgw_args_addn(a, s, strlen(s));
}


void
tgw_args_addu(tgw_args_t *a, uint64_t n)
{
    char   *end, *p;

    if (a->argc == TGW_ARGS_MAX) {
        a->overflow = 1;
        return;
    }
    /* by hand: snprintf was a visible cost at a few per command */
    end = a->num[a->argc] + sizeof(a->num[0]);
    p = end;
    do {
        *--p = (char) ('0' + n % 10);
        n /= 10;
    } while (n > 0);
    tgw_args_addn(a, p, (size_t) (end - p));
}


void
tgw_args_addf(tgw_args_t *a, char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= size) {
        a->overflow = 1;            /* a cut key would name another key */
        return;
    }
    tgw_args_addn(a, buf, (size_t) n);
}
