# Configuration errors of the rate limits: nginx -t refuses them, naming
# file, line and reason.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a rate that does not parse
--- http_config
    taskgw_limit_zone zone=a:1m rate=10r/h;
--- config
--- must_die
--- error_log eval
qr/invalid rate "rate=10r\/h", it must be like "10r\/s" or "600r\/m", at most 1000000 requests in \S+nginx\.conf:\d+/



=== TEST 2: a rate of zero
--- http_config
    taskgw_limit_zone zone=a:1m rate=0r/s;
--- config
--- must_die
--- error_log eval
qr/invalid rate "rate=0r\/s"/



=== TEST 3: a size that does not parse
--- http_config
    taskgw_limit_zone zone=a:10q rate=1r/s;
--- config
--- must_die
--- error_log eval
qr/invalid zone size "zone=a:10q" in \S+nginx\.conf:\d+/



=== TEST 4: a zone too small to hold anything
--- http_config
    taskgw_limit_zone zone=a:4k rate=1r/s;
--- config
--- must_die
--- error_log eval
qr/zone "a" is too small: 4096 bytes, it needs at least \d+ in \S+nginx\.conf:\d+/



=== TEST 5: a zone without a size
--- http_config
    taskgw_limit_zone zone=a rate=1r/s;
--- config
--- must_die
--- error_log eval
qr/invalid zone "zone=a", it must be "zone=NAME:SIZE" in \S+nginx\.conf:\d+/



=== TEST 6: a zone without a rate
--- http_config
    taskgw_limit_zone zone=a:1m burst=5;
--- config
--- must_die
--- error_log eval
qr/"taskgw_limit_zone" must have "rate=" in \S+nginx\.conf:\d+/



=== TEST 7: the same zone declared twice
--- http_config
    taskgw_limit_zone zone=a:1m rate=1r/s;
    taskgw_limit_zone zone=a:1m rate=2r/s;
--- config
--- must_die
--- error_log eval
qr/duplicate zone "a" in \S+nginx\.conf:\d+/



=== TEST 8: an unknown zone names the line that uses it
--- config
    location /t {
        taskgw_limit zone=nowhere;
    }
--- must_die
--- error_log eval
qr/unknown taskgw_limit zone "nowhere" in \S+nginx\.conf:\d+/



=== TEST 9: a bad burst
--- http_config
    taskgw_limit_zone zone=a:1m rate=1r/s burst=-1;
--- config
--- must_die
--- error_log eval
qr/invalid burst "burst=-1" in \S+nginx\.conf:\d+/



=== TEST 10: an unknown parameter of taskgw_limit
--- http_config
    taskgw_limit_zone zone=a:1m rate=1r/s;
--- config
    location /t {
        taskgw_limit zone=a nodelay;
    }
--- must_die
--- error_log eval
qr/invalid parameter "nodelay" in \S+nginx\.conf:\d+/



=== TEST 11: taskgw_limit without a zone
--- config
    location /t {
        taskgw_limit dry_run;
    }
--- must_die
--- error_log eval
qr/"taskgw_limit" must have "zone=NAME" in \S+nginx\.conf:\d+/



=== TEST 12: the same zone and key twice in one location
--- http_config
    taskgw_limit_zone zone=a:1m rate=1r/s;
--- config
    location /t {
        taskgw_limit zone=a;
        taskgw_limit zone=a dry_run;
    }
--- must_die
--- error_log eval
qr/zone "a" is already limited by the same key here in \S+nginx\.conf:\d+/



=== TEST 13: an unknown taskgw_limit_headers value
--- config
    taskgw_limit_headers draft;
--- must_die
--- error_log eval
qr/invalid value "draft" in \S+nginx\.conf:\d+/



=== TEST 14: a zone name that could not be sent in a header
--- http_config
    taskgw_limit_zone zone=a"b:1m rate=1r/s;
--- config
--- must_die
--- error_log eval
qr/invalid zone name "a"b", it must be 1-64 characters of A-Z a-z 0-9 . _ - in \S+nginx\.conf:\d+/



=== TEST 15: a limit zone cannot take the name of another kind of zone
--- http_config
    limit_req_zone $binary_remote_addr zone=shared:1m rate=1r/s;
    taskgw_limit_zone zone=shared:1m rate=1r/s;
--- config
--- must_die
--- error_log eval
qr/the shared memory zone "shared" is already declared for a different use in \S+nginx\.conf:\d+/
