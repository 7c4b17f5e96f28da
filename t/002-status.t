# taskgw_status: the task JSON (docs/directives.md, taskgw_status) from the task hash, 404s, and
# cancellation with DELETE.  Tasks are seeded straight into Redis.
use Test::Nginx::Socket 'no_plan';
use TaskGW::Stack;

my $P = 't002';
my $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});

for my $k (@{ $redis->cmd('KEYS', "$P:*") || [] }) {
    $redis->cmd('DEL', $k);
}

sub task {
    my ($id, %f) = @_;
    $redis->cmd('HSET', "$P:task:$id", id => $id, queue => 'default',
                type => 'report.build', priority => 'normal',
                payload => 'secret payload', content_type => 'text/plain',
                owner => '', request_id => 'r1', client_addr => '127.0.0.1',
                created_at => '1795428000123', attempts => '0', %f);
}

task('01a20000-0000-7000-8000-00000000000a', status => 'queued');
task('01a20000-0000-7000-8000-00000000000b', status => 'succeeded',
     attempts => 1, owner => 'ci-bot', started_at => '1795428001000',
     finished_at => '1795428002456', result => '{"rows": [1, 2]}',
     webhook_status => 'delivered', webhook_attempts => 1);
task('01a20000-0000-7000-8000-00000000000c', status => 'dead',
     attempts => 5, result => 'not json', error => "line1\n\"quoted\"\x01\xff");
task('01a20000-0000-7000-8000-00000000000d', status => 'succeeded',
     result => '"AAEC"', result_encoding => 'base64');
task('01a20000-0000-7000-8000-00000000000e', status => 'running');
task('01a20000-0000-7000-8000-00000000000f', status => 'scheduled',
     run_at => '4102444800000');
$redis->cmd('ZADD', "$P:scheduled", '4102444800000',
            '01a20000-0000-7000-8000-00000000000f');

no_shuffle();
no_long_string();
run_tests();

# What DELETE left in Redis.
my $a = $redis->hgetall("$P:task:01a20000-0000-7000-8000-00000000000a");
is($a->{cancel_requested}, '1', 'queued task flagged cancel_requested');
is($a->{status}, 'queued', 'queued task left for the worker to cancel');
my $f = $redis->hgetall("$P:task:01a20000-0000-7000-8000-00000000000f");
is($f->{status}, 'cancelled', 'scheduled task cancelled at once');
ok($f->{finished_at} > 1795428000000, 'cancelled task has finished_at');
is($redis->cmd('ZSCORE', "$P:scheduled",
               '01a20000-0000-7000-8000-00000000000f'), undef,
   'cancelled task left the schedule');
my $e = $redis->hgetall("$P:task:01a20000-0000-7000-8000-00000000000e");
ok(!exists $e->{cancel_requested}, 'running task not flagged');

__DATA__

=== TEST 1: a queued task
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t002;
--- config
    location /status/ {
        taskgw_status;
    }
--- request
GET /status/01a20000-0000-7000-8000-00000000000a
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body chomp
{"id":"01a20000-0000-7000-8000-00000000000a","queue":"default","type":"report.build","priority":"normal","status":"queued","attempts":0,"owner":null,"created_at":"2026-11-23T10:00:00.123Z","run_at":null,"started_at":null,"finished_at":null,"result":null,"error":null,"webhook":null}



=== TEST 2: a finished task with its JSON result embedded, no payload
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t002;
--- config
    location /status/ {
        taskgw_status;
    }
--- request
GET /status/01a20000-0000-7000-8000-00000000000b
--- error_code: 200
--- response_body chomp
{"id":"01a20000-0000-7000-8000-00000000000b","queue":"default","type":"report.build","priority":"normal","status":"succeeded","attempts":1,"owner":"ci-bot","created_at":"2026-11-23T10:00:00.123Z","run_at":null,"started_at":"2026-11-23T10:00:01.000Z","finished_at":"2026-11-23T10:00:02.456Z","result":{"rows": [1, 2]},"error":null,"webhook":{"status":"delivered","attempts":1}}



=== TEST 3: a stored result that is not JSON is shown as a string; error text is escaped
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t002;
--- config
    location /status/ {
        taskgw_status;
    }
--- request
GET /status/01a20000-0000-7000-8000-00000000000c
--- error_code: 200
--- response_body_like: "status":"dead","attempts":5,.*"result":"not json","error":"line1\\n\\"quoted\\"\\u0001\\ufffd","webhook":null\}$



=== TEST 4: a base64 result carries result_encoding
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t002;
--- config
    location /status/ {
        taskgw_status;
    }
--- request
GET /status/01a20000-0000-7000-8000-00000000000d
--- error_code: 200
--- response_body_like: "result":"AAEC",.*"result_encoding":"base64"



=== TEST 5: unknown and malformed ids are 404 not_found
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t002;
--- config
    location /status/ {
        taskgw_status;
    }
--- request eval
["GET /status/01a20000-0000-7000-8000-000000000099", "GET /status/nope", "GET /status/", "GET /status/01A20000-0000-7000-8000-00000000000A"]
--- error_code eval
[404, 404, 404, 404]
--- response_body eval
[qq({"error":"not_found","message":"no such task"}),
 qq({"error":"not_found","message":"no such task"}),
 qq({"error":"not_found","message":"no such task"}),
 qq({"error":"not_found","message":"no such task"})]



=== TEST 6: id= takes the id from a variable
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t002;
--- config
    location /task {
        taskgw_status id=$arg_id;
    }
--- request
GET /task?id=01a20000-0000-7000-8000-00000000000b
--- error_code: 200
--- response_body_like: "status":"succeeded"



=== TEST 7: POST to a status location is 405 with Allow
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t002;
--- config
    location /status/ {
        taskgw_status;
    }
--- request
POST /status/01a20000-0000-7000-8000-00000000000b
x
--- error_code: 405
--- response_headers
Allow: GET, HEAD, DELETE
--- response_body_like: "error":"method_not_allowed"



=== TEST 8: DELETE of a queued task answers 202 cancelling
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t002;
--- config
    location /status/ {
        taskgw_status;
    }
--- request
DELETE /status/01a20000-0000-7000-8000-00000000000a
--- error_code: 202
--- response_body chomp
{"id":"01a20000-0000-7000-8000-00000000000a","status":"cancelling"}



=== TEST 9: DELETE of a scheduled task cancels it at once
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t002;
--- config
    location /status/ {
        taskgw_status;
    }
--- request eval
["DELETE /status/01a20000-0000-7000-8000-00000000000f", "GET /status/01a20000-0000-7000-8000-00000000000f"]
--- error_code eval
[202, 200]
--- response_body_like eval
['"status":"cancelling"', '"status":"cancelled",.*"run_at":"2100-01-01T00:00:00.000Z"']



=== TEST 10: DELETE of a running or finished task is 409 conflict
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t002;
--- config
    location /status/ {
        taskgw_status;
    }
--- request eval
["DELETE /status/01a20000-0000-7000-8000-00000000000e", "DELETE /status/01a20000-0000-7000-8000-00000000000b", "DELETE /status/01a20000-0000-7000-8000-000000000099"]
--- error_code eval
[409, 409, 404]
--- response_body_like eval
['"error":"conflict"', '"error":"conflict"', '"error":"not_found"']



=== TEST 11: a 4xx nginx makes itself (412 on If-Match) is a client error
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t002;
--- config
    location /status/ {
        taskgw_status;
    }
--- request
GET /status/01a20000-0000-7000-8000-00000000000b
--- more_headers
If-Match: "nope"
--- error_code: 412
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"bad_request","message":"the request cannot be served"}
