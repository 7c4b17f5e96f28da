# taskgw_metrics: requests are counted once each, by the outcome their
# reply recorded; the exposition is Prometheus text; a scrape while Redis
# is down still answers, with taskgw_redis_up 0.
use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET;
use TaskGW::Stack;

my $dead = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Listen => 1, ReuseAddr => 1)
    or die "listen: $!";
$ENV{TEST_NGINX_DEAD_PORT} = $dead->sockport;
close $dead;

my $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});
$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', 't030:*') || [] };

no_shuffle();
no_long_string();
run_tests();

$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', 't030:*') || [] };

__DATA__

=== TEST 1: a scrape before any request: every outcome at 0, Redis up
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t030;
--- config
    location /tasks { taskgw_enqueue; }
    location = /metrics { taskgw_metrics; }
--- request
GET /metrics
--- error_code: 200
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like eval
qr/^# HELP taskgw_requests_total .*\n# TYPE taskgw_requests_total counter\ntaskgw_requests_total\{outcome="accepted"\} 0\ntaskgw_requests_total\{outcome="replayed"\} 0\ntaskgw_requests_total\{outcome="bad_request"\} 0\ntaskgw_requests_total\{outcome="unauthorized"\} 0\ntaskgw_requests_total\{outcome="forbidden"\} 0\ntaskgw_requests_total\{outcome="rate_limited"\} 0\ntaskgw_requests_total\{outcome="too_large"\} 0\ntaskgw_requests_total\{outcome="unavailable"\} 0\ntaskgw_requests_total\{outcome="queue_full"\} 0\n.*\ntaskgw_redis_up 1\n/s



=== TEST 2: accepted, bad_request and too_large are each counted once
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t030;
--- config
    location /tasks { taskgw_enqueue queue=t030q; taskgw_validate_json on; }
    location /small { client_max_body_size 4; taskgw_enqueue queue=t030q; }
    location = /metrics { taskgw_metrics; }
--- request eval
["POST /tasks\r\n{}", "POST /tasks\r\n[1]", "POST /tasks\r\nnope",
 "GET /tasks", "POST /small\r\n0123456789", "GET /metrics"]
--- error_code eval
[202, 202, 400, 405, 413, 200]
--- response_body_like eval
[qr/queued/, qr/queued/, qr/invalid_json/, qr/method_not_allowed/,
 qr/too_large/,
 qr/\{outcome="accepted"\} 2\n.*\{outcome="bad_request"\} 2\n.*\{outcome="too_large"\} 1\n.*_bucket\{le="\+Inf"\} 3\n.*_count 3\n.*taskgw_queue_length\{queue="t030q",priority="normal"\} 2\n.*taskgw_queue_length\{queue="t030q",priority="low"\} 0\n.*taskgw_dead_tasks\{queue="t030q"\} 0\n.*taskgw_workers 0\n/s]



=== TEST 3: Redis down: enqueue is counted unavailable, the scrape answers
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_DEAD_PORT;
--- config
    location /tasks { taskgw_enqueue; }
    location = /metrics { taskgw_metrics; }
--- request eval
["POST /tasks\r\nx", "GET /metrics"]
--- error_code eval
[503, 200]
--- response_body_like eval
[qr/unavailable/,
 qr/\{outcome="unavailable"\} 1\n.*\ntaskgw_redis_up 0\n$/s]



=== TEST 4: a scrape does not count itself, nor do other locations
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t030;
--- config
    location /tasks { taskgw_enqueue; }
    location = /metrics { taskgw_metrics; }
    location = /plain { return 400; }
--- request eval
["GET /metrics", "GET /plain", "GET /metrics"]
--- error_code eval
[200, 400, 200]
--- response_body_like eval
[qr/_total\{outcome="bad_request"\} 0\n/, qr//,
 qr/_total\{outcome="bad_request"\} 0\n/]



=== TEST 5: HEAD answers the headers only; POST is 405
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location = /metrics { taskgw_metrics; }
--- request eval
["HEAD /metrics", "POST /metrics\r\nx"]
--- error_code eval
[200, 405]
--- response_body eval
["", qq({"error":"method_not_allowed","message":"use GET to read the metrics"})]



=== TEST 6: taskgw_metrics takes no parameters
--- config
    location = /metrics { taskgw_metrics on; }
--- must_die
--- error_log eval
qr/invalid number of arguments in "taskgw_metrics" directive in \S+nginx\.conf:\d+/
