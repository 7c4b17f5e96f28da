/*
 * Webhooks: the Standard Webhooks signature (published test vector, key
 * rotation), the retry delays, and which peer addresses are refused.
 */

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "hreq.h"
#include "tap.h"
#include "webhook.h"


static int
is_public(const char *text)
{
    struct sockaddr_in  a4;
    struct sockaddr_in6 a6;

    memset(&a4, 0, sizeof(a4));
    memset(&a6, 0, sizeof(a6));
    if (inet_pton(AF_INET, text, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        return tgw_addr_is_public((struct sockaddr *) &a4);
    }
    if (inet_pton(AF_INET6, text, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        return tgw_addr_is_public((struct sockaddr *) &a6);
    }
    return -1;
}


int
main(void)
{
    char       *one[] = { "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" };
    char       *two[] = { "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                          "whsec_dGVzdA==" };
    char       *bad[] = { "whsec_!!!" };
    const char *body = "{\"test\": 2432232314}";
    char       *sig;
    uint64_t    sched[] = { 5000, 300000, 1800000 };
    int64_t     d;

    /* The Standard Webhooks test vector. */
    sig = tgw_webhook_sign(one, 1, "msg_p5jXN8AQM9LWM0D4loKWxJek",
                           1614265330, body, strlen(body));
    is_str(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
           "signature matches the published vector");
    free(sig);

    sig = tgw_webhook_sign(one, 1, "msg_p5jXN8AQM9LWM0D4loKWxJek",
                           1614265331, body, strlen(body));
    ok(sig && strcmp(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
       != 0, "another timestamp, another signature");
    free(sig);

    sig = tgw_webhook_sign(two, 2, "msg_p5jXN8AQM9LWM0D4loKWxJek",
                           1614265330, body, strlen(body));
    ok(sig && strncmp(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= "
                      "v1,", 49) == 0 && strchr(sig + 49, ' ') == NULL,
       "two secrets: two space-separated signatures (%s)", sig ? sig : "");
    free(sig);

    sig = tgw_webhook_sign(bad, 1, "m", 1, "x", 1);
    ok(sig == NULL, "an undecodable secret signs nothing");

    /* Delays: the schedule after each failure, a little jitter. */
    is_int(tgw_webhook_delay_ms(sched, 3, 2, -1, 0), 5000,
           "second try after schedule[0]");
    is_int(tgw_webhook_delay_ms(sched, 3, 3, -1, 0), 300000,
           "third try after schedule[1]");
    is_int(tgw_webhook_delay_ms(sched, 3, 4, -1, 0), 1800000,
           "fourth try after schedule[2]");
    is_int(tgw_webhook_delay_ms(sched, 3, 5, -1, 0), -1,
           "schedule exhausted: no more tries");
    d = tgw_webhook_delay_ms(sched, 3, 2, -1, 500);
    is_int(d, 5500, "jitter reaches 10%");
    {
        int inside = 1, i;

        for (i = 0; i < 1000; i++) {
            d = tgw_webhook_delay_ms(sched, 3, 2, -1,
                                     (uint64_t) i * 7919 + 123456789);
            inside &= d >= 5000 && d <= 5500;
        }
        ok(inside, "jitter never beyond 10%% over 1000 draws");
    }
    is_int(tgw_webhook_delay_ms(sched, 3, 2, 60, 0), 60000,
           "a longer Retry-After wins");
    is_int(tgw_webhook_delay_ms(sched, 3, 2, 1, 0), 5000,
           "a shorter Retry-After does not shorten the schedule");
    is_int(tgw_webhook_delay_ms(sched, 0, 2, -1, 0), -1,
           "empty schedule: one try only");

    /* Peers a webhook may not reach unless allow_private. */
    is_int(is_public("93.184.216.34"), 1, "public IPv4");
    is_int(is_public("127.0.0.1"), 0, "loopback");
    is_int(is_public("10.1.2.3"), 0, "10/8");
    is_int(is_public("172.16.0.1"), 0, "172.16/12");
    is_int(is_public("172.32.0.1"), 1, "172.32 is public");
    is_int(is_public("192.168.1.1"), 0, "192.168/16");
    is_int(is_public("169.254.169.254"), 0, "link-local (cloud metadata)");
    is_int(is_public("0.0.0.0"), 0, "unspecified");
    is_int(is_public("100.64.0.1"), 0, "shared address space");
    is_int(is_public("224.0.0.1"), 0, "multicast");
    is_int(is_public("2606:2800:220:1::1"), 1, "public IPv6");
    is_int(is_public("::1"), 0, "IPv6 loopback");
    is_int(is_public("::"), 0, "IPv6 unspecified");
    is_int(is_public("fe80::1"), 0, "IPv6 link-local");
    is_int(is_public("fd00::1"), 0, "IPv6 unique local");
    is_int(is_public("::ffff:127.0.0.1"), 0, "IPv4-mapped loopback");
    is_int(is_public("::ffff:8.8.8.8"), 1, "IPv4-mapped public");
    is_int(is_public("ff02::1"), 0, "IPv6 multicast");
    is_int(is_public("::ffff:10.0.0.1"), 0, "IPv4-mapped private");
    is_int(is_public("::ffff:169.254.169.254"), 0,
           "IPv4-mapped link-local (cloud metadata)");
    is_int(is_public("::ffff:0.0.0.0"), 0, "IPv4-mapped unspecified");
    is_int(is_public("::ffff:224.0.0.1"), 0, "IPv4-mapped multicast");
    is_int(is_public("::127.0.0.1"), 0, "IPv4-compatible loopback");
    is_int(is_public("::8.8.8.8"), 0, "IPv4-compatible (deprecated): refused");
    is_int(is_public("64:ff9b::7f00:1"), 0, "NAT64 of 127.0.0.1");
    is_int(is_public("64:ff9b::a9fe:a9fe"), 0, "NAT64 of 169.254.169.254");
    is_int(is_public("64:ff9b::808:808"), 1, "NAT64 of a public address");
    is_int(is_public("2002:7f00:1::1"), 0, "6to4 of 127.0.0.1");
    is_int(is_public("2002:c0a8:101::1"), 0, "6to4 of 192.168.1.1");
    is_int(is_public("2002:808:808::1"), 1, "6to4 of a public address");
    is_int(is_public("fec0::1"), 0, "IPv6 site-local");
    is_int(is_public("ff0e::1"), 0, "IPv6 global multicast");

    return done_testing();
}
