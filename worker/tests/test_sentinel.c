/*
 * Unit tests of the sentinel list and reply readers
 * (common/tgw_sentinel.c).  The replies are real hiredis reply objects,
 * read from RESP text by hiredis's own reader.
 */

#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "tap.h"
#include "tgw_sentinel.h"


/* The reply hiredis makes of the RESP text s (the caller frees it). */
static redisReply *
resp(const char *s)
{
    redisReader  *rd = redisReaderCreate();
    void         *r = NULL;

    redisReaderFeed(rd, s, strlen(s));
    if (redisReaderGetReply(rd, &r) != REDIS_OK) {
        r = NULL;
    }
    redisReaderFree(rd);
    return r;
}


static void
test_addr(void)
{
    tgw_addr_t  a;
    char        buf[300];

    ok(tgw_addr_parse("127.0.0.1:26379", 15, &a) == 0
       && strcmp(a.host, "127.0.0.1") == 0 && a.port == 26379, "host:port");
    ok(tgw_addr_parse("[::1]:26380", 11, &a) == 0
       && strcmp(a.host, "::1") == 0 && a.port == 26380, "[v6]:port");
    ok(tgw_addr_parse("s1.example:1,x", 12, &a) == 0
       && strcmp(a.host, "s1.example") == 0 && a.port == 1,
       "only len bytes are read");
    ok(tgw_addr_parse("host", 4, &a) == -1, "port required");
    ok(tgw_addr_parse("host:", 5, &a) == -1, "empty port");
    ok(tgw_addr_parse(":1", 2, &a) == -1, "empty host");
    ok(tgw_addr_parse("h:0", 3, &a) == -1, "port 0");
    ok(tgw_addr_parse("h:65536", 7, &a) == -1, "port 65536");
    ok(tgw_addr_parse("h:-1", 4, &a) == -1, "negative port");
    ok(tgw_addr_parse("h:1x", 4, &a) == -1, "junk in port");
    ok(tgw_addr_parse("::1:26379", 9, &a) == -1, "bare v6");
    ok(tgw_addr_parse("[h]:1", 5, &a) == -1, "brackets without v6");
    ok(tgw_addr_parse("[::1]", 5, &a) == -1, "[v6] without port");
    ok(tgw_addr_parse("a b:1", 5, &a) == -1, "blank in host");
    ok(tgw_addr_parse("unix:/tmp/s", 11, &a) == -1, "unix socket refused");

    tgw_addr_parse("[::1]:7", 7, &a);
    tgw_addr_format(&a, buf, sizeof(buf));
    is_str(buf, "[::1]:7", "v6 formatted with brackets");
    tgw_addr_parse("10.0.0.1:7", 10, &a);
    tgw_addr_format(&a, buf, sizeof(buf));
    is_str(buf, "10.0.0.1:7", "v4 formatted");
}


static void
test_list(void)
{
    tgw_addr_t  l[TGW_SENTINEL_MAX];
    char        err[256];
    char        many[1024];
    int         i, n;

    is_int(tgw_sentinel_parse_list("127.0.0.1:26379,127.0.0.1:26380,"
                                   "[::1]:26381", l, TGW_SENTINEL_MAX,
                                   err, sizeof(err)), 3, "three sentinels");
    ok(l[0].port == 26379 && l[1].port == 26380
       && strcmp(l[2].host, "::1") == 0, "in order");
    is_int(tgw_sentinel_parse_list("h:1", l, TGW_SENTINEL_MAX, err,
                                   sizeof(err)), 1, "one sentinel");

    is_int(tgw_sentinel_parse_list("", l, TGW_SENTINEL_MAX, err,
                                   sizeof(err)), -1, "empty list refused");
    is_str(err, "empty sentinel list", "  named");
    is_int(tgw_sentinel_parse_list("h:1,,h:2", l, TGW_SENTINEL_MAX, err,
                                   sizeof(err)), -1, "empty item refused");
    is_int(tgw_sentinel_parse_list("h:1,", l, TGW_SENTINEL_MAX, err,
                                   sizeof(err)), -1, "trailing comma");
    is_int(tgw_sentinel_parse_list("h:1,nope", l, TGW_SENTINEL_MAX, err,
                                   sizeof(err)), -1, "bad address refused");
    ok(strstr(err, "\"nope\"") != NULL, "  the bad one named: %s", err);

    n = 0;
    for (i = 0; i <= TGW_SENTINEL_MAX; i++) {
        n += snprintf(many + n, sizeof(many) - (size_t) n, "%s",
                      i ? ",h:1" : "h:1");
    }
    is_int(tgw_sentinel_parse_list(many, l, TGW_SENTINEL_MAX, err,
                                   sizeof(err)), -1, "too many refused");
}


static void
test_master_reply(void)
{
    tgw_addr_t   a;
    redisReply  *r;
    char         why[256];

    r = resp("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n");
    ok(r && tgw_sentinel_master_reply(r, &a, why, sizeof(why)) == 0
       && strcmp(a.host, "127.0.0.1") == 0 && a.port == 6380,
       "address read");
    freeReplyObject(r);

    r = resp("*-1\r\n");
    ok(r && tgw_sentinel_master_reply(r, &a, why, sizeof(why)) == -1
       && strstr(why, "does not know") != NULL, "unknown name: %s", why);
    freeReplyObject(r);

    r = resp("-IDONTKNOW No such master\r\n");
    ok(r && tgw_sentinel_master_reply(r, &a, why, sizeof(why)) == -1
       && strstr(why, "IDONTKNOW") != NULL, "error reply: %s", why);
    freeReplyObject(r);

    r = resp("*2\r\n$9\r\n127.0.0.1\r\n$5\r\n99999\r\n");
    ok(r && tgw_sentinel_master_reply(r, &a, why, sizeof(why)) == -1,
       "port out of range refused");
    freeReplyObject(r);

    r = resp("*1\r\n$9\r\n127.0.0.1\r\n");
    ok(r && tgw_sentinel_master_reply(r, &a, why, sizeof(why)) == -1
       && strstr(why, "malformed") != NULL, "one element refused");
    freeReplyObject(r);

    r = resp("*2\r\n:1\r\n:6379\r\n");
    ok(r && tgw_sentinel_master_reply(r, &a, why, sizeof(why)) == -1,
       "integers refused");
    freeReplyObject(r);

    r = resp("*2\r\n$0\r\n\r\n$4\r\n6379\r\n");
    ok(r && tgw_sentinel_master_reply(r, &a, why, sizeof(why)) == -1,
       "empty host refused");
    freeReplyObject(r);

    /* a host that would be logged or connected to with control bytes */
    r = resp("*2\r\n$12\r\n127.0.0.1\r\nx\r\n$4\r\n6379\r\n");
    ok(r && tgw_sentinel_master_reply(r, &a, why, sizeof(why)) == -1,
       "host with CR LF refused");
    freeReplyObject(r);

    r = resp("*2\r\n$12\r\n127.0.0.1 x\x1b\r\n$4\r\n6379\r\n");
    ok(r && tgw_sentinel_master_reply(r, &a, why, sizeof(why)) == -1,
       "host with a space and ESC refused");
    freeReplyObject(r);

    ok(tgw_sentinel_master_reply(NULL, &a, why, sizeof(why)) == -1,
       "no reply");
}


static void
test_role_reply(void)
{
    redisReply  *r;
    char         why[256];

    r = resp("*3\r\n$6\r\nmaster\r\n:3129\r\n*1\r\n*3\r\n$9\r\n127.0.0.1"
             "\r\n$4\r\n9001\r\n$4\r\n3129\r\n");
    ok(r && tgw_role_reply(r, why, sizeof(why)) == 1, "master");
    freeReplyObject(r);

    r = resp("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n"
             "$9\r\nconnected\r\n:3167\r\n");
    ok(r && tgw_role_reply(r, why, sizeof(why)) == 0
       && strstr(why, "slave") != NULL, "replica: %s", why);
    freeReplyObject(r);

    r = resp("*2\r\n$8\r\nsentinel\r\n*0\r\n");
    ok(r && tgw_role_reply(r, why, sizeof(why)) == 0
       && strstr(why, "sentinel") != NULL, "sentinel: %s", why);
    freeReplyObject(r);

    r = resp("-NOAUTH Authentication required.\r\n");
    ok(r && tgw_role_reply(r, why, sizeof(why)) == -1
       && strstr(why, "NOAUTH") != NULL, "error: %s", why);
    freeReplyObject(r);

    r = resp("+OK\r\n");
    ok(r && tgw_role_reply(r, why, sizeof(why)) == -1, "not an array");
    freeReplyObject(r);

    r = resp("*0\r\n");
    ok(r && tgw_role_reply(r, why, sizeof(why)) == -1, "empty array");
    freeReplyObject(r);
}


static void
test_master_name(void)
{
    ok(tgw_master_name_ok("taskgw-ha"), "plain name");
    ok(tgw_master_name_ok("my.master:1"), "dots and colons");
    ok(!tgw_master_name_ok(""), "empty refused");
    ok(!tgw_master_name_ok("a b"), "blank refused");
}


int
main(void)
{
    test_addr();
    test_list();
    test_master_reply();
    test_role_reply();
    test_master_name();
    return done_testing();
}
