/*
 * store.c against the real redis-server of the test run
 * ($TEST_NGINX_REDIS_PORT): the start script (counting attempts, an
 * entry another worker holds) and the move script.  Its other scripts
 * have their own files: test_store_take.c, test_store_record.c,
 * test_store_extend.c (the helpers they share are tstore.h).  Skipped
 * when no Redis is given.
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


int
main(void)
{
    char         e[64];
    int          rv;
    tgw_conf_t  *c;

    if ((c = tstore_start(&rv)) == NULL) {
        return rv;
    }

    /* ---- the start script: counting attempts ---- */
    q("HSET p:task:A status queued attempts 0");
    snprintf(e, sizeof(e), "%s", pending_entry("A"));
    ok(wait_reply(tgw_store_start(&rc, c, "A", "p:q:default:normal", e,
                                  123, 0, 2, got, NULL)) == 0, "start A");
    is_int(last->element[0]->integer, TGW_START_OK, "A starts");
    is_int(last->element[1]->integer, 1, "as attempt 1");
    is_str(hget("p:task:A", "attempts"), "1", "attempts counted at start");
    is_str(hget("p:task:A", "status"), "running", "status running");
    is_str(hget("p:task:A", "started_at"), "123", "started_at");
    wait_reply(tgw_store_start(&rc, c, "A", "p:q:default:normal", e, 124,
                               0, 2, got, NULL));
    is_int(last->element[1]->integer, 2,
           "a run that never recorded still used its attempt");
    wait_reply(tgw_store_start(&rc, c, "A", "p:q:default:normal", e, 125,
                               0, 2, got, NULL));
    is_int(last->element[0]->integer, TGW_START_EXHAUSTED,
           "attempts used up: not started again");
    is_str(hget("p:task:A", "attempts"), "2", "attempts stay at the max");
    wait_reply(tgw_store_start(&rc, c, "A", "p:q:default:normal", e, 126,
                               124, 2, got, NULL));
    is_int(last->element[0]->integer, TGW_START_OK,
           "again 124 (the start whose answer was lost): started");
    is_int(last->element[1]->integer, 2, "as attempt 2, not counted again");
    is_str(hget("p:task:A", "started_at"), "126",
           "started_at now: it runs from now on");
    wait_reply(tgw_store_start(&rc, c, "A", "p:q:default:normal", e, 128,
                               127, 2, got, NULL));
    is_int(last->element[0]->integer, TGW_START_EXHAUSTED,
           "running since before the lost start: counted, used up");

    q("HSET p:task:B status queued attempts 2147483647");
    snprintf(e, sizeof(e), "%s", pending_entry("B"));
    wait_reply(tgw_store_start(&rc, c, "B", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_EXHAUSTED,
           "attempts 2147483647: used up, never run");
    is_int(last->element[1]->integer, 1000000000,
           "reported clamped to 10^9");

    q("HSET p:task:C status queued attempts 99999999999999999999999");
    snprintf(e, sizeof(e), "%s", pending_entry("C"));
    wait_reply(tgw_store_start(&rc, c, "C", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_EXHAUSTED,
           "a huge attempts: used up");
    is_int(last->element[1]->integer, 1000000000, "clamped to 10^9");

    q("HSET p:task:D status queued attempts -7");
    snprintf(e, sizeof(e), "%s", pending_entry("D"));
    wait_reply(tgw_store_start(&rc, c, "D", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_OK,
           "negative attempts count as 0");
    is_str(hget("p:task:D", "attempts"), "1", "attempts 1 after it");

    q("HSET p:task:E status queued attempts xyz cancel_requested 1");
    snprintf(e, sizeof(e), "%s", pending_entry("E"));
    wait_reply(tgw_store_start(&rc, c, "E", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_CANCELLED,
           "cancel requested: not started");
    q("HDEL p:task:E cancel_requested");
    wait_reply(tgw_store_start(&rc, c, "E", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_OK,
           "attempts \"xyz\" counts as 0");
    is_str(hget("p:task:E", "attempts"), "1", "and becomes 1");

    /* the TTL goes only when the task once finished, as in the take */
    q("HSET p:task:F status queued attempts 1 finished_at 500");
    q("PEXPIRE p:task:F 100000");
    snprintf(e, sizeof(e), "%s", pending_entry("F"));
    wait_reply(tgw_store_start(&rc, c, "F", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_OK,
           "a finished task put back: started");
    is_int(num("PTTL %s", "p:task:F"), -1, "its TTL is gone");
    q("HSET p:task:G status queued");
    q("PEXPIRE p:task:G 100000");
    snprintf(e, sizeof(e), "%s", pending_entry("G"));
    wait_reply(tgw_store_start(&rc, c, "G", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_OK,
           "never finished: started");
    ok(num("PTTL %s", "p:task:G") > 0,
       "an expiry set by hand on a task that never finished stays");
    q("DEL p:task:F p:task:G");

    wait_reply(tgw_store_start(&rc, c, "nope", "p:q:default:normal", e, 1,
                               0, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_GONE, "no hash: gone");
    wait_reply(tgw_store_start(&rc, c, "E", "p:q:default:normal", "1-1", 1, 0,
                               5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_NOT_PENDING,
           "an entry not pending: not ours to run");

    /* an entry another worker reclaimed (pending under w2, not w1): its
     * task is that worker's, whatever again says */
    q("HSET p:task:H status running attempts 1 started_at 40");
    snprintf(e, sizeof(e), "%s", pending_entry("H"));
    q("XCLAIM p:q:default:normal workers w2 0 %s JUSTID", e);
    wait_reply(tgw_store_start(&rc, c, "H", "p:q:default:normal", e, 50,
                               40, 5, got, NULL));
    is_int(last->element[0]->integer, TGW_START_ELSEWHERE,
           "start: pending under another worker: not ours to run");
    ok(wait_reply(tgw_store_take(&rc, c, "H", "p:q:default:normal", e, 50,
                                 40, got, NULL)) == 0
       && last->type == REDIS_REPLY_ARRAY && last->elements == 1
       && last->element[0]->type == REDIS_REPLY_ARRAY
       && last->element[0]->element[0]->integer == TGW_START_ELSEWHERE,
       "take: the same");
    is_str(hget("p:task:H", "attempts"), "1", "no attempt counted");
    is_str(hget("p:task:H", "started_at"), "40", "started_at as it was");
    q("XCLAIM p:q:default:normal workers w1 0 %s JUSTID", e);
    ok(wait_reply(tgw_store_take(&rc, c, "H", "p:q:default:normal", e, 50,
                                 40, got, NULL)) == 0
       && last->type == REDIS_REPLY_ARRAY && last->elements == 1
       && last->element[0]->type == REDIS_REPLY_ARRAY
       && last->element[0]->element[0]->integer == TGW_START_OK,
       "pending under w1 again: the start whose answer was lost");
    is_str(hget("p:task:H", "attempts"), "1", "not counted twice");
    q("XACK p:q:default:normal workers %s", e);
    q("DEL p:task:H");

    /* ---- the move script ---- */
    q("FLUSHDB");
    q("HSET p:task:M1 status retrying queue default priority high");
    q("HSET p:task:M2 status retrying type x");
    q("HSET p:task:M3 status succeeded queue default");
    q("ZADD p:scheduled 1 M1 1 M2 1 M3 1 M4");
    ok(wait_reply(tgw_store_move(&rc, c, 1000, got, NULL)) == 0, "move");
    is_int(last->element[0]->integer, 4, "four due ids looked at");
    is_int(last->element[1]->integer, 1, "one moved");
    is_int(last->element[4]->elements, 1, "one ended dead");
    is_str(last->element[4]->elements ? last->element[4]->element[0]->str
           : NULL, "M2", "M2 it is");
    is_int(num("XLEN %s", "p:q:default:high"), 1,
           "M1 is in its stream");
    is_str(hget("p:task:M1", "status"), "queued", "M1 queued");
    is_str(hget("p:task:M2", "status"), "dead",
           "M2, without a queue field, is dead");
    is_str(hget("p:task:M2", "error"), "scheduled task has no queue field",
           "with an error saying why");
    is_int(num("ZCARD %s", "p:scheduled"), 0, "the scheduled set is empty");

    tstore_close(c);
    return done_testing();
}
