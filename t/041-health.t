# taskgw_health: 200 when this worker's Redis link answers PING, 503 when
# Redis is down or silent, always within taskgw_redis_timeout, JSON both.
use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET;

# A port where nothing listens, and one that accepts connections (the
# kernel completes them) but never reads or answers.
my $dead = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Listen => 1, ReuseAddr => 1)
    or die "listen: $!";
$ENV{TEST_NGINX_DEAD_PORT} = $dead->sockport;
close $dead;

our $Silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                    LocalPort => 0, Listen => 128,
                                    ReuseAddr => 1)
    or die "listen: $!";
$ENV{TEST_NGINX_SILENT_PORT} = $Silent->sockport;

no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: Redis up: 200 ok
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location = /health {
        taskgw_health;
    }
--- request
GET /health
--- error_code: 200
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body chomp
{"status":"ok","redis":"up"}



=== TEST 2: Redis down: 503 unavailable
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_DEAD_PORT;
--- config
    location = /health {
        taskgw_health;
    }
--- request
GET /health
--- error_code: 503
--- response_headers
Content-Type: application/json
--- response_body chomp
{"status":"unavailable","redis":"down"}



=== TEST 3: Redis silent: 503 once taskgw_redis_timeout has passed
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_SILENT_PORT;
    taskgw_redis_timeout 300ms;
--- config
    location = /health {
        taskgw_health;
    }
--- request
GET /health
--- error_code: 503
--- response_body chomp
{"status":"unavailable","redis":"down"}
--- error_log
did not answer within 300 ms
--- timeout: 5



=== TEST 4: Redis silent: every probe answers, none waits for another
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_SILENT_PORT;
    taskgw_redis_timeout 200ms;
--- config
    location = /health {
        taskgw_health;
    }
--- request eval
["GET /health", "GET /health", "GET /health"]
--- error_code eval
[503, 503, 503]
--- timeout: 5



=== TEST 5: HEAD answers without a body
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location = /health {
        taskgw_health;
    }
--- request
HEAD /health
--- error_code: 200
--- response_body chomp



=== TEST 6: other methods: 405 with Allow, JSON error
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location = /health {
        taskgw_health;
    }
--- request
POST /health
x
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body chomp
{"error":"method_not_allowed","message":"use GET to check health"}



=== TEST 7: taskgw_health takes no parameters
--- config
    location = /health {
        taskgw_health redis;
    }
--- must_die
--- error_log eval
qr/invalid number of arguments in "taskgw_health" directive in \S+nginx\.conf:\d+/



=== TEST 8: taskgw_health is a location directive
--- http_config
    taskgw_health;
--- config
    location = /x { return 200; }
--- must_die
--- error_log eval
qr/"taskgw_health" directive is not allowed here in \S+nginx\.conf:\d+/



=== TEST 9: one handler per location
--- config
    location = /health {
        taskgw_health;
        taskgw_metrics;
    }
--- must_die
--- error_log eval
qr/a location takes only one of "taskgw_enqueue", "taskgw_status", "taskgw_metrics", "taskgw_health" and "taskgw_admin" in \S+nginx\.conf:\d+/
