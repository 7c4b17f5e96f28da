# taskgw_limit: 429 rate_limited with Retry-After, the RateLimit fields in
# both styles and off, dry_run, burst, several limits in one location,
# key=, and $taskgw_limit_status.  Rates are per minute, so that the time
# between two requests of a block is small against the emission interval.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: over the rate: 429 rate_limited in JSON with Retry-After
--- http_config
    taskgw_limit_zone zone=z1:1m rate=10r/m;
--- config
    location /t {
        taskgw_limit zone=z1;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
--- request eval
["GET /t", "GET /t"]
--- error_code eval
[200, 429]
--- response_headers_like eval
["RateLimit: \"z1\";r=0;t=6", "Retry-After: ^[1-6]\$
Content-Type: application/json"]
--- response_body eval
["ok\n", '{"error":"rate_limited","message":"rate limit exceeded"}']



=== TEST 2: draft-10 fields by default: quota, window, remaining, reset
--- http_config
    taskgw_limit_zone zone=z2:1m rate=10r/m burst=2;
--- config
    location /t {
        taskgw_limit zone=z2;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
--- request eval
["GET /t", "GET /t"]
--- response_headers_like eval
["RateLimit-Policy: ^\"z2\";q=10;w=60\$
RateLimit: ^\"z2\";r=2;t=6\$", "RateLimit-Policy: ^\"z2\";q=10;w=60\$
RateLimit: ^\"z2\";r=1;t=1[12]\$"]
--- error_code eval
[200, 200]
--- no_error_log
[warn]



=== TEST 3: taskgw_limit_headers legacy: the RateLimit-Limit trio
--- http_config
    taskgw_limit_zone zone=z3:1m rate=10r/m burst=2;
--- config
    location /t {
        taskgw_limit zone=z3;
        taskgw_limit_headers legacy;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
--- request
GET /t
--- response_headers
RateLimit-Limit: 10
RateLimit-Remaining: 2
RateLimit-Reset: 6
!RateLimit-Policy
!RateLimit
--- error_code: 200



=== TEST 4: taskgw_limit_headers off: no fields, the limit still applies
--- http_config
    taskgw_limit_zone zone=z4:1m rate=1r/m;
--- config
    taskgw_limit_headers off;
    location /t {
        taskgw_limit zone=z4;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
--- request eval
["GET /t", "GET /t"]
--- response_headers eval
["!RateLimit-Policy\n!RateLimit\n!RateLimit-Limit\n!Retry-After",
 "!RateLimit-Policy\n!RateLimit\n!RateLimit-Limit\nRetry-After: 60"]
--- error_code eval
[200, 429]



=== TEST 5: dry_run over the rate: every request passes, the fields show exhaustion, $taskgw_limit_status and the metric say rejected_dry_run (the log: TEST 14)
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_limit_zone zone=z5:1m rate=1r/m;
--- config
    location /t {
        taskgw_limit zone=z5 dry_run;
        add_header X-Limit-Status $taskgw_limit_status always;
        try_files /ok.txt =404;
    }
    location = /metrics { taskgw_metrics; }
--- user_files
>>> ok.txt
ok
--- request eval
["GET /t", "GET /t", "GET /t", "GET /metrics"]
--- error_code eval
[200, 200, 200, 200]
--- response_headers_like eval
["X-Limit-Status: passed\nRateLimit: \"z5\";r=0;t=60",
 "X-Limit-Status: rejected_dry_run\nRateLimit: \"z5\";r=0;t=(60|59|58)",
 "X-Limit-Status: rejected_dry_run\nRateLimit: \"z5\";r=0;t=(60|59|58)",
 ""]
--- raw_response_headers_unlike eval
["Retry-After:", "Retry-After:", "Retry-After:", "Retry-After:"]
--- response_body_like eval
["ok", "ok", "ok",
 qr/# TYPE taskgw_limit_dry_run_rejections_total counter\ntaskgw_limit_dry_run_rejections_total\{zone="z5"\} 2\n/]
--- no_error_log
[warn]



=== TEST 6: burst lets that many more requests through at once
--- http_config
    taskgw_limit_zone zone=z6:1m rate=1r/m burst=3;
--- config
    location /t {
        taskgw_limit zone=z6;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 200, 200, 429]
--- response_headers_like eval
["RateLimit: ^\"z6\";r=3;t=60", "RateLimit: ^\"z6\";r=2;t=\\d+",
 "RateLimit: ^\"z6\";r=1;t=\\d+", "RateLimit: ^\"z6\";r=0;t=\\d+",
 "RateLimit: ^\"z6\";r=0;t=\\d+\$\nRetry-After: ^(60|5\\d)\$"]



=== TEST 7: several limits all apply; one that rejects leaves the others uncounted
--- http_config
    taskgw_limit_zone zone=wide:1m rate=1r/m burst=5;
    taskgw_limit_zone zone=narrow:1m rate=1r/m burst=1;
--- config
    location /both {
        taskgw_limit zone=wide;
        taskgw_limit zone=narrow;
        add_header X-Limit-Status $taskgw_limit_status always;
        try_files /ok.txt =404;
    }
    location /wide {
        taskgw_limit zone=wide;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
--- request eval
["GET /both", "GET /both", "GET /both", "GET /both", "GET /wide"]
--- error_code eval
[200, 200, 429, 429, 200]
--- response_headers_like eval
["RateLimit-Policy: ^\"wide\";q=1;w=60, \"narrow\";q=1;w=60\$\nRateLimit: ^\"wide\";r=5;t=60, \"narrow\";r=1;t=60\$\nX-Limit-Status: passed",
 "RateLimit: ^\"wide\";r=4;t=\\d+, \"narrow\";r=0;t=\\d+\$",
 "RateLimit: ^\"wide\";r=4;t=\\d+, \"narrow\";r=0;t=\\d+\$\nX-Limit-Status: rejected",
 "RateLimit: ^\"wide\";r=4;t=\\d+, \"narrow\";r=0;t=\\d+\$",
 "RateLimit: ^\"wide\";r=3;t=\\d+\$"]



=== TEST 8: key= counts each value apart; an empty key is not limited
--- http_config
    taskgw_limit_zone zone=z8:1m rate=1r/m;
--- config
    location /t {
        taskgw_limit zone=z8 key=$arg_user;
        add_header X-Limit-Status "[$taskgw_limit_status]" always;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
--- request eval
["GET /t?user=ann", "GET /t?user=ann", "GET /t?user=bob", "GET /t", "GET /t"]
--- error_code eval
[200, 429, 200, 200, 200]
--- response_headers eval
["X-Limit-Status: [passed]", "X-Limit-Status: [rejected]",
 "X-Limit-Status: [passed]", "X-Limit-Status: []\n!RateLimit",
 "X-Limit-Status: []\n!RateLimit"]



=== TEST 9: a long key= value is counted like any other
--- http_config
    taskgw_limit_zone zone=z9:1m rate=1r/m;
--- config
    location /t {
        taskgw_limit zone=z9 key=$http_x_user;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["X-User: " . ("a" x 500), "X-User: " . ("a" x 500), "X-User: " . ("a" x 499) . "b"]
--- error_code eval
[200, 429, 200]



=== TEST 10: a taskgw_enqueue location answers 429 before touching Redis
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_limit_zone zone=z10:1m rate=1r/m;
--- config
    location /tasks {
        taskgw_limit zone=z10;
        taskgw_enqueue queue=limited;
    }
--- request eval
["POST /tasks\nx", "POST /tasks\nx"]
--- error_code eval
[202, 429]
--- response_body_like eval
['"status":"queued"', '^\{"error":"rate_limited","message":"rate limit exceeded"\}$']



=== TEST 11: limits set at server level are inherited; a location's own replace them
--- http_config
    taskgw_limit_zone zone=srv:1m rate=1r/m;
    taskgw_limit_zone zone=own:1m rate=5r/m burst=4;
--- config
    taskgw_limit zone=srv;
    location /inherit {
        try_files /ok.txt =404;
    }
    location /own {
        taskgw_limit zone=own;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
--- request eval
["GET /inherit", "GET /own", "GET /inherit", "GET /own"]
--- error_code eval
[200, 200, 429, 200]
--- response_headers_like eval
["RateLimit-Policy: ^\"srv\";q=1;w=60\$", "RateLimit-Policy: ^\"own\";q=5;w=60\$",
 "RateLimit-Policy: ^\"srv\";q=1;w=60\$", "RateLimit-Policy: ^\"own\";q=5;w=60\$"]



=== TEST 12: a zone can be declared after the lines that use it
--- config
    location /t {
        taskgw_limit zone=late;
        try_files /ok.txt =404;
    }
--- http_config
    server {
        listen 127.0.0.1:1;
        location / { taskgw_limit zone=late; try_files /ok.txt =404; }
    }
    taskgw_limit_zone zone=late:1m rate=1r/s;
--- user_files
>>> ok.txt
ok
--- request
GET /t
--- error_code: 200
--- response_headers
RateLimit-Policy: "late";q=1;w=1



=== TEST 13: the same key twice in a location counts twice; a rejection is logged at warn
--- http_config
    taskgw_limit_zone zone=z13:1m rate=1r/m;
--- config
    location /t {
        taskgw_limit zone=z13 key=$arg_a;
        taskgw_limit zone=z13 key=$arg_b;
        add_header X-Limit-Status $taskgw_limit_status always;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
--- request
GET /t?a=same&b=same
--- error_code: 429
--- response_headers
X-Limit-Status: rejected
RateLimit: "z13";r=1;t=0, "z13";r=1;t=0
--- error_log eval
qr/\[warn\] .*taskgw: rate limit of zone "z13" exceeded, next request allowed in 60000 ms/



=== TEST 14: a dry run rejection is logged at notice and the request passes
--- http_config
    taskgw_limit_zone zone=z14:1m rate=1r/m;
--- config
    location /t {
        taskgw_limit zone=z14 key=$arg_a dry_run;
        taskgw_limit zone=z14 key=$arg_b dry_run;
        add_header X-Limit-Status $taskgw_limit_status always;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
--- request
GET /t?a=same&b=same
--- error_code: 200
--- response_headers
X-Limit-Status: rejected_dry_run
!Retry-After
--- error_log eval
qr/\[notice\] .*taskgw: rate limit of zone "z14" exceeded \(dry run: rejected_dry_run\), next request allowed in 60000 ms/
--- log_level: notice
--- no_error_log
[warn]



=== TEST 15: the default key is the client address after realip, IPv4, IPv6 and IPv4-mapped
--- http_config
    taskgw_limit_zone zone=z15:1m rate=1r/m;
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
    location /t {
        taskgw_limit zone=z15;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["X-Real-IP: 2001:db8::1", "X-Real-IP: 2001:db8::1", "X-Real-IP: 2001:db8::2",
 "X-Real-IP: 10.1.2.3", "X-Real-IP: 10.1.2.3", "X-Real-IP: 10.1.2.4",
 "X-Real-IP: ::ffff:10.1.2.4", "X-Real-IP: ::ffff:10.1.2.5", "X-Real-IP: 10.1.2.5"]
--- error_code eval
[200, 429, 200, 200, 429, 200, 429, 200, 429]



=== TEST 16: with a token the default key is its name, not the address
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
    taskgw_limit_zone zone=tk15:1m rate=1r/m;
--- config
    location /t {
        taskgw_auth dev;
        taskgw_limit zone=tk15;
        add_header X-Limit-Status "[$taskgw_limit_status]" always;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
>>> tokens
alpha  dev  sha256:a8eccc546c527c7c3385281a93908777171d51d03b0e346797238864ab6a8fd8
beta   dev  sha256:0936806f524e9f6e3f254498f62761191d8b53f39fa553fbc66c8ec28b345ab4
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer limit-token-alpha-1",
 "Authorization: Bearer limit-token-alpha-1",
 "X-API-Token: limit-token-beta-2",
 "Authorization: Bearer not-a-token",
 "Authorization: Bearer limit-token-beta-2"]
--- error_code eval
[200, 429, 200, 401, 429]
--- response_headers eval
["X-Limit-Status: [passed]", "X-Limit-Status: [rejected]",
 "X-Limit-Status: [passed]", "X-Limit-Status: []",
 "X-Limit-Status: [rejected]"]



=== TEST 17: a token's own rate= replaces the zone's rate for its key
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
    taskgw_limit_zone zone=tk16:1m rate=1r/m burst=1;
--- config
    location /t {
        taskgw_auth dev;
        taskgw_limit zone=tk16;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
>>> tokens
alpha  dev  sha256:a8eccc546c527c7c3385281a93908777171d51d03b0e346797238864ab6a8fd8
gamma  dev  sha256:e8c24021b1e18e62946005d0d514c68730f53be59d682df73c2cbc66716ccbf3 rate=3r/m
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer limit-token-gamma-3",
 "Authorization: Bearer limit-token-gamma-3",
 "Authorization: Bearer limit-token-gamma-3",
 "Authorization: Bearer limit-token-alpha-1",
 "Authorization: Bearer limit-token-alpha-1",
 "Authorization: Bearer limit-token-alpha-1"]
--- error_code eval
[200, 200, 429, 200, 200, 429]
--- response_headers_like eval
["RateLimit-Policy: \"tk16\";q=3;w=60\nRateLimit: \"tk16\";r=1;t=20",
 "RateLimit-Policy: \"tk16\";q=3;w=60\nRateLimit: \"tk16\";r=0;t=(40|39)",
 "RateLimit-Policy: \"tk16\";q=3;w=60\nRetry-After: (20|19|18)",
 "RateLimit-Policy: \"tk16\";q=1;w=60\nRateLimit: \"tk16\";r=1;t=60",
 "RateLimit-Policy: \"tk16\";q=1;w=60\nRateLimit: \"tk16\";r=0;t=(120|119)",
 "RateLimit-Policy: \"tk16\";q=1;w=60\nRetry-After: (60|59|58)"]



=== TEST 18: key= counts by its own value, token or not
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
    taskgw_limit_zone zone=tk17:1m rate=1r/m;
--- config
    location /t {
        taskgw_auth dev;
        taskgw_limit zone=tk17 key=$arg_team;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
>>> tokens
alpha  dev  sha256:a8eccc546c527c7c3385281a93908777171d51d03b0e346797238864ab6a8fd8
beta   dev  sha256:0936806f524e9f6e3f254498f62761191d8b53f39fa553fbc66c8ec28b345ab4
--- request eval
["GET /t?team=red", "GET /t?team=red", "GET /t?team=blue"]
--- more_headers eval
["Authorization: Bearer limit-token-alpha-1",
 "Authorization: Bearer limit-token-beta-2",
 "Authorization: Bearer limit-token-beta-2"]
--- error_code eval
[200, 429, 200]



=== TEST 19: the limit comes after the token: a refused token is not counted
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
    taskgw_limit_zone zone=tk18:1m rate=1r/m;
--- config
    location /t {
        taskgw_auth dev;
        taskgw_limit zone=tk18 key=all;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
>>> tokens
alpha  dev  sha256:a8eccc546c527c7c3385281a93908777171d51d03b0e346797238864ab6a8fd8
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["", "Authorization: Bearer nope", "Authorization: Bearer limit-token-alpha-1",
 "Authorization: Bearer limit-token-alpha-1"]
--- error_code eval
[401, 401, 200, 429]
--- response_headers eval
["!RateLimit", "!RateLimit", "RateLimit: \"tk18\";r=0;t=60", ""]



=== TEST 20: taskgw_metrics shows the keys each zone holds
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_limit_zone zone=m1:1m rate=1r/m;
    taskgw_limit_zone zone=m2:1m rate=1r/m;
--- config
    location /t {
        taskgw_limit zone=m1 key=$arg_k;
        try_files /ok.txt =404;
    }
    location = /metrics { taskgw_metrics; }
--- user_files
>>> ok.txt
ok
--- request eval
["GET /t?k=a", "GET /t?k=b", "GET /t?k=b", "GET /metrics"]
--- error_code eval
[200, 200, 429, 200]
--- response_body_like eval
["ok", "ok", "rate_limited",
 qr/# TYPE taskgw_limit_zone_keys gauge\ntaskgw_limit_zone_keys\{zone="m1"\} 2\ntaskgw_limit_zone_keys\{zone="m2"\} 0\n# HELP taskgw_limit_dry_run_rejections_total .*\n# TYPE taskgw_limit_dry_run_rejections_total counter\ntaskgw_limit_dry_run_rejections_total\{zone="m1"\} 0\ntaskgw_limit_dry_run_rejections_total\{zone="m2"\} 0\n# HELP taskgw_redis_up/]



=== TEST 21: a token's rate= per minute shows in RateLimit-Policy as written
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
    taskgw_limit_zone zone=pm:1m rate=1r/m;
--- config
    location /t {
        taskgw_auth dev;
        taskgw_limit zone=pm;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
>>> tokens
delta  dev  sha256:cf554e6cec6da90f0387febd4c2a1acc712fb9c5706205ba96c8534e1eb632ef rate=60r/m
--- request
GET /t
--- more_headers
Authorization: Bearer limit-token-delta-4
--- error_code: 200
--- response_headers_like
RateLimit-Policy: ^"pm";q=60;w=60$
RateLimit: ^"pm";r=0;t=1$



=== TEST 22: with taskgw_auth off a valid token offered is identified and keys the limit; any other token is ignored, not refused
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
    taskgw_limit_zone zone=off1:1m rate=1r/m;
--- config
    location /t {
        taskgw_limit zone=off1;
        add_header X-Who "[$taskgw_token_name/$taskgw_token_role]" always;
        try_files /ok.txt =404;
    }
--- user_files
>>> ok.txt
ok
>>> tokens
alpha  dev  sha256:a8eccc546c527c7c3385281a93908777171d51d03b0e346797238864ab6a8fd8
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer limit-token-alpha-1",
 "Authorization: Bearer nope",
 "X-API-Token: not-this-one",
 "",
 "X-API-Token: limit-token-alpha-1"]
--- error_code eval
[200, 200, 429, 429, 429]
--- response_headers eval
["X-Who: [alpha/dev]", "X-Who: [/]", "X-Who: [/]", "X-Who: [/]",
 "X-Who: [alpha/dev]"]
--- no_error_log
access denied
