/*
 * The claim extension and the consumers against the real redis-server of
 * the test run ($TEST_NGINX_REDIS_PORT): extend.lua re-claims only the
 * entries still pending under this worker; the prune script drops idle
 * consumers that hold nothing.  Skipped when no Redis is given.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "conf.h"
#include "rconn.h"
#include "store.h"
#include "tap.h"
#include "tstore.h"


/* The idle time (ms) and delivery count of entry e of stream s, and its
 * consumer (NULL: not pending). */
static const char *
pending_of(const char *s, const char *e, long long *idle, long long *n)
{
    redisReply *r = q("XPENDING %s workers %s %s 1", s, e, e);

    *idle = -1;
    *n = -1;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        return NULL;
    }
    *idle = r->element[0]->element[2]->integer;
    *n = r->element[0]->element[3]->integer;
    return r->element[0]->element[1]->str;
}


/*
 * The claim extension (extend.lua): only the entries still pending under
 * this worker's name (w1) are re-claimed; those another consumer holds
 * and those no longer pending are named in the reply, and left as they
 * are.
 */
static void
extend_tests(tgw_conf_t *c)
{
    const char  *streams[5], *entries[5], *who;
    char         mine[64], other[64], acked[64], high[64], bad[64];
    long long    idle, n;
    size_t       i;

    q("FLUSHDB");
    q("XGROUP CREATE p:q:default:normal workers 0 MKSTREAM");
    q("XGROUP CREATE p:q:default:high workers 0 MKSTREAM");
    snprintf(mine, sizeof(mine), "%s", pending_entry("E1"));
    snprintf(other, sizeof(other), "%s", pending_entry("E2"));
    snprintf(acked, sizeof(acked), "%s", pending_entry("E3"));
    /* E1 idle 50 s under w1 (nearly reclaimable), E2 reclaimed by w2,
     * E3 recorded (acked) */
    q("XCLAIM p:q:default:normal workers w1 0 %s IDLE 50000 JUSTID", mine);
    q("XCLAIM p:q:default:normal workers w2 0 %s JUSTID", other);
    q("XACK p:q:default:normal workers %s", acked);
    /* one of w1's in another stream, and one in a stream with no group */
    q("XADD p:q:default:high * id E4");
    q("XREADGROUP GROUP workers w1 COUNT 1 STREAMS p:q:default:high >");
    snprintf(high, sizeof(high), "%s",
             q("XRANGE p:q:default:high - +")->element[0]->element[0]->str);
    q("XCLAIM p:q:default:high workers w1 0 %s IDLE 50000 JUSTID", high);
    q("XADD p:q:default:low * id E5");
    snprintf(bad, sizeof(bad), "%s",
             q("XRANGE p:q:default:low - +")->element[0]->element[0]->str);

    streams[0] = "p:q:default:normal";  entries[0] = mine;
    streams[1] = "p:q:default:normal";  entries[1] = other;
    streams[2] = "p:q:default:high";    entries[2] = high;
    streams[3] = "p:q:default:normal";  entries[3] = acked;
    streams[4] = "p:q:default:low";     entries[4] = bad;
    ok(wait_reply(tgw_store_extend_many(&rc, c, 5, streams, entries, got,
                                        NULL)) == 0, "extend");
    ok(last->type == REDIS_REPLY_ARRAY && last->elements == 2,
       "two entries named");
    for (i = 0; last->type == REDIS_REPLY_ARRAY && i < last->elements; i++)
    {
        is_int(last->element[i]->integer, i == 0 ? 2 : 4,
               i == 0 ? "the one another consumer holds"
                      : "the one not pending any more");
    }
    who = pending_of("p:q:default:normal", mine, &idle, &n);
    is_str(who, "w1", "ours: still ours");
    ok(idle < 10000, "its idle time reset");
    is_int(n, 1, "no delivery counted");
    who = pending_of("p:q:default:high", high, &idle, &n);
    is_str(who, "w1", "ours in the other stream: still ours");
    ok(idle < 10000, "its idle time reset too");
    who = pending_of("p:q:default:normal", other, &idle, &n);
    is_str(who, "w2", "another's: not taken back");
    ok(pending_of("p:q:default:normal", acked, &idle, &n) == NULL,
       "the acked one: not pending again");

    /* the reply names pairs by their place, also past one stream's
     * range answer (ids out of order, one id that is no id) */
    streams[0] = "p:q:default:normal";  entries[0] = other;
    streams[1] = "p:q:default:normal";  entries[1] = "not-an-id";
    streams[2] = "p:q:default:normal";  entries[2] = mine;
    ok(wait_reply(tgw_store_extend_many(&rc, c, 3, streams, entries, got,
                                        NULL)) == 0, "extend again");
    ok(last->type == REDIS_REPLY_ARRAY && last->elements == 1
       && last->element[0]->integer == 1,
       "only the other consumer's named (a bad id: its question failed)");
    is_str(pending_of("p:q:default:normal", mine, &idle, &n), "w1",
           "ours stays ours");

    /* several of ours in one stream (one XCLAIM names them all): every
     * one's idle time is reset */
    snprintf(acked, sizeof(acked), "%s", pending_entry("E6"));
    q("XCLAIM p:q:default:normal workers w1 0 %s %s IDLE 50000 JUSTID",
      mine, acked);
    streams[0] = "p:q:default:normal";  entries[0] = mine;
    streams[1] = "p:q:default:normal";  entries[1] = other;
    streams[2] = "p:q:default:normal";  entries[2] = acked;
    ok(wait_reply(tgw_store_extend_many(&rc, c, 3, streams, entries, got,
                                        NULL)) == 0, "extend two of ours");
    ok(last->type == REDIS_REPLY_ARRAY && last->elements == 1
       && last->element[0]->integer == 2, "the other's named");
    ok(pending_of("p:q:default:normal", mine, &idle, &n) != NULL
       && idle < 10000, "the first of ours refreshed");
    ok(pending_of("p:q:default:normal", acked, &idle, &n) != NULL
       && idle < 10000, "the second of ours refreshed too");
    q("FLUSHDB");
}


int
main(void)
{
    redisReply  *r;
    int          rv;
    tgw_conf_t  *c;

    if ((c = tstore_start(&rv)) == NULL) {
        return rv;
    }

    /* ---- the claim extension ---- */
    extend_tests(c);

    /* ---- pruning consumers ---- */
    q("XGROUP CREATE p:q:default:normal workers 0 MKSTREAM");
    q("XADD p:q:default:normal * id Z");
    q("XREADGROUP GROUP workers busy COUNT 1 STREAMS p:q:default:normal >");
    q("XGROUP CREATECONSUMER p:q:default:normal workers idle");
    ok(wait_reply(tgw_store_prune(&rc, c, "p:q:default:normal", 0, NULL,
                                  got, NULL)) == 0, "prune");
    is_int(last->integer, 1, "one consumer pruned");
    r = q("XINFO CONSUMERS p:q:default:normal workers");
    ok(r->elements == 1
       && strcmp(r->element[0]->element[1]->str, "busy") == 0,
       "the one holding an entry stays, the idle one is gone");
    wait_reply(tgw_store_prune(&rc, c, "p:q:default:normal", 3600000,
                               "busy", got, NULL));
    is_int(last->integer, 0, "own name holding entries: kept");

    tstore_close(c);
    return done_testing();
}
