# taskgw_max_backlog: once the target stream ({prefix}:q:<queue>:<priority>)
# holds that many entries, an enqueue is 503 queue_full with Retry-After
# and stores nothing; checked in the same atomic step as the write.  A
# replay of an idempotent request is still answered.
use Test::Nginx::Socket 'no_plan';
use TaskGW::Stack;

my $P = 't010';
our $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});
$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', "$P:*") || [] };

no_shuffle();
no_long_string();
run_tests();

my %n;
$n{ $redis->hgetall($_)->{queue} }++ for @{ $redis->cmd('KEYS', "$P:task:*") };
is($n{full} // 0, 4, 'queue "full": four tasks stored, the refused ones left nothing');
is($redis->cmd('XLEN', "$P:q:full:normal"), 3, 'three stream entries of priority normal');
is($redis->cmd('XLEN', "$P:q:full:high"), 1, 'one of priority high');
is($n{free} // 0, 6, 'without taskgw_max_backlog nothing is refused');
is($n{counted} // 0, 2, 'queue "counted": two tasks');
is($redis->cmd('ZCARD', "$P:scheduled"), 0, 'a refused delayed task is not scheduled');

__DATA__

=== TEST 1: up to the backlog: 202, then 503 queue_full with Retry-After
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t010;
--- config
    location /tasks {
        taskgw_max_backlog 3;
        taskgw_enqueue queue=full;
    }
--- request eval
["POST /tasks\r\na", "POST /tasks\r\nb", "POST /tasks\r\nc", "POST /tasks\r\nd", "POST /tasks\r\ne"]
--- error_code eval
[202, 202, 202, 503, 503]
--- response_body_like eval
['"status":"queued"', '"status":"queued"', '"status":"queued"',
 '^\{"error":"queue_full","message":"the queue holds taskgw_max_backlog tasks already"\}$',
 '^\{"error":"queue_full","message":"the queue holds taskgw_max_backlog tasks already"\}$']



=== TEST 2: the 503 carries Retry-After and JSON
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t010;
--- config
    location /tasks {
        taskgw_max_backlog 3;
        taskgw_enqueue queue=full;
    }
--- request
POST /tasks
f
--- error_code: 503
--- response_headers
Retry-After: 5
Content-Type: application/json



=== TEST 3: a delayed task is refused too (its stream is full)
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t010;
--- config
    location /tasks {
        taskgw_max_backlog 3;
        taskgw_enqueue queue=full;
    }
--- request
POST /tasks
g
--- more_headers
X-Task-Delay: 60
--- error_code: 503
--- response_body_like: queue_full



=== TEST 4: another priority is another stream; inherited from the server level
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t010;
--- config
    taskgw_max_backlog 1;
    location /tasks {
        taskgw_enqueue queue=full priority=high;
    }
--- request eval
["POST /tasks\r\nh", "POST /tasks\r\ni"]
--- error_code eval
[202, 503]



=== TEST 5: no backlog limit by default
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t010;
--- config
    location /tasks {
        taskgw_enqueue queue=free;
    }
--- request eval
["POST /tasks\r\n1", "POST /tasks\r\n2", "POST /tasks\r\n3", "POST /tasks\r\n4", "POST /tasks\r\n5"]
--- error_code eval
[202, 202, 202, 202, 202]



=== TEST 6: an idempotent replay is answered even when the stream is full
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t010;
--- config
    location /tasks {
        taskgw_max_backlog 6;
        taskgw_enqueue queue=free;
    }
--- request eval
["POST /tasks\r\nk", "POST /tasks\r\nk", "POST /tasks\r\nz"]
--- more_headers eval
["Idempotency-Key: once", "Idempotency-Key: once", "Idempotency-Key: other"]
--- error_code eval
[202, 200, 503]



=== TEST 7: a negative backlog fails nginx -t
--- config
    location /tasks {
        taskgw_max_backlog -1;
        taskgw_enqueue;
    }
--- must_die
--- error_log eval
qr/"taskgw_max_backlog" directive invalid number in \S+nginx\.conf:\d+/



=== TEST 8: taskgw_requests_total counts replayed and queue_full
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t010;
--- config
    location /tasks {
        taskgw_max_backlog 2;
        taskgw_enqueue queue=counted;
    }
    location = /metrics { taskgw_metrics; }
--- request eval
["POST /tasks\r\na", "POST /tasks\r\na", "POST /tasks\r\nb", "POST /tasks\r\nc", "GET /metrics"]
--- more_headers eval
["Idempotency-Key: m1", "Idempotency-Key: m1", "", "", ""]
--- error_code eval
[202, 200, 202, 503, 200]
--- response_body_like eval
['"status":"queued"', '"status":"queued"', '"status":"queued"', 'queue_full',
 qr/taskgw_requests_total\{outcome="accepted"\} 2\ntaskgw_requests_total\{outcome="replayed"\} 1\n.*taskgw_requests_total\{outcome="queue_full"\} 1\n/s]
