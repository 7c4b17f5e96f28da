# taskgw_max_payload: the largest body stored as a task, whatever
# client_max_body_size lets nginx read; above it 413 "too_large" and
# nothing is stored.
use Test::Nginx::Socket 'no_plan';
use TaskGW::Stack;

my $P = 't008';
my $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});
$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', "$P:*") || [] };

our $Json = '{"rows":[' . join(',', 1 .. 20000) . ']}';

no_shuffle();
no_long_string();
run_tests();

my $ok = $redis->xrange("$P:q:ok:normal");
is(scalar @$ok, 2, 'the bodies within the limit were stored');
is($redis->cmd('HGET', "$P:task:$ok->[0][1]{id}", 'payload'), 'x' x 1024,
   'a body of exactly taskgw_max_payload is stored whole');
is($redis->cmd('HGET', "$P:task:$ok->[1][1]{id}", 'payload'), $Json,
   'a checked JSON body read back from its temp file is stored whole');
is(scalar @{ $redis->cmd('KEYS', "$P:task:*") }, 2,
   'nothing stored for the bodies over the limit');

__DATA__

=== TEST 1: a body over taskgw_max_payload is 413 too_large
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t008;
--- config
    location /tasks {
        client_max_body_size 1m;
        taskgw_max_payload 1k;
        taskgw_enqueue queue=big;
    }
--- request eval
"POST /tasks\r\n" . ("x" x 1025)
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"too_large","message":"the body is larger than taskgw_max_payload"}



=== TEST 2: a chunked body over it is 413 too_large once read
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t008;
--- config
    location /tasks {
        taskgw_max_payload 10;
        taskgw_enqueue queue=big;
    }
--- raw_request eval
"POST /tasks HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
8\r
01234567\r
8\r
89abcdef\r
0\r
\r
"
--- error_code: 413
--- response_body chomp
{"error":"too_large","message":"the body is larger than taskgw_max_payload"}



=== TEST 3: a body of exactly taskgw_max_payload is stored
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t008;
--- config
    location /tasks {
        taskgw_max_payload 1k;
        taskgw_enqueue queue=ok;
    }
--- request eval
"POST /tasks\r\n" . ("x" x 1024)
--- error_code: 202



=== TEST 4: the default is 16m
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t008;
--- config
    location /tasks {
        client_max_body_size 32m;
        taskgw_enqueue queue=big;
    }
--- request eval
"POST /tasks\r\n" . ("x" x (16 * 1024 * 1024 + 1))
--- error_code: 413
--- response_body_like: "error":"too_large"
--- timeout: 20



=== TEST 5: taskgw_max_payload at the server level applies to its locations
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t008;
--- config
    taskgw_max_payload 4;
    location /tasks {
        taskgw_enqueue queue=big;
    }
--- request
POST /tasks
hello
--- error_code: 413
--- response_body_like: "error":"too_large"



=== TEST 6: a JSON body in a temp file is checked, then stored whole
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t008;
--- config
    location /tasks {
        client_body_buffer_size 1k;
        taskgw_validate_json on;
        taskgw_enqueue queue=ok;
    }
--- request eval
"POST /tasks\r\n$::Json"
--- error_code: 202
--- error_log
a client request body is buffered to a temporary file



=== TEST 7: an invalid size fails nginx -t
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_max_payload lots;
        taskgw_enqueue;
    }
--- must_die
--- error_log eval
qr/"taskgw_max_payload" directive invalid value in \S+nginx\.conf:\d+/
