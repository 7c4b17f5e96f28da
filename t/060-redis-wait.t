# taskgw_redis_wait: configuration errors (nginx -t names file, line and
# reason), inheritance and "off".  The test Redis has no replica, so a
# waited enqueue meets too few replicas: 503 after the timeout, while a
# location without the directive (or with "off") answers 202 as ever.
# Replicated set-ups: t/e2e/155-redis-wait.t.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: replicas= missing
--- config
    location /tasks {
        taskgw_enqueue;
        taskgw_redis_wait timeout=1s;
    }
--- must_die
--- error_log eval
qr/"replicas=" is missing \(or say "off"\) in \S+nginx\.conf:\d+/



=== TEST 2: replicas=0
--- config
    location /tasks {
        taskgw_enqueue;
        taskgw_redis_wait replicas=0 timeout=1s;
    }
--- must_die
--- error_log eval
qr/invalid "replicas=0": replicas must be a number from 1 to 1000 in \S+nginx\.conf:\d+/



=== TEST 3: negative replicas
--- config
    location /tasks {
        taskgw_enqueue;
        taskgw_redis_wait replicas=-1 timeout=1s;
    }
--- must_die
--- error_log eval
qr/invalid "replicas=-1": replicas must be a number from 1 to 1000 in \S+nginx\.conf:\d+/



=== TEST 4: timeout= missing
--- config
    location /tasks {
        taskgw_enqueue;
        taskgw_redis_wait replicas=1;
    }
--- must_die
--- error_log eval
qr/"timeout=" is missing in \S+nginx\.conf:\d+/



=== TEST 5: timeout=0
--- config
    location /tasks {
        taskgw_enqueue;
        taskgw_redis_wait replicas=1 timeout=0;
    }
--- must_die
--- error_log eval
qr/invalid "timeout=0": timeout must be a time from 1ms to 10m in \S+nginx\.conf:\d+/



=== TEST 6: a timeout that is not a time
--- config
    location /tasks {
        taskgw_enqueue;
        taskgw_redis_wait replicas=1 timeout=soon;
    }
--- must_die
--- error_log eval
qr/invalid "timeout=soon": timeout must be a time from 1ms to 10m in \S+nginx\.conf:\d+/



=== TEST 7: an unknown parameter
--- config
    location /tasks {
        taskgw_enqueue;
        taskgw_redis_wait replicas=1 timeout=1s fsync=always;
    }
--- must_die
--- error_log eval
qr/invalid parameter "fsync=always" in \S+nginx\.conf:\d+/



=== TEST 8: a duplicate parameter
--- config
    location /tasks {
        taskgw_enqueue;
        taskgw_redis_wait replicas=1 timeout=1s replicas=2;
    }
--- must_die
--- error_log eval
qr/duplicate parameter "replicas=2" in \S+nginx\.conf:\d+/



=== TEST 9: the directive twice in one block
--- config
    location /tasks {
        taskgw_enqueue;
        taskgw_redis_wait replicas=1 timeout=1s;
        taskgw_redis_wait off;
    }
--- must_die
--- error_log eval
qr/"taskgw_redis_wait" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 10: a location without the directive is unaffected: 202
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue;
    }
    location /waited {
        taskgw_enqueue;
        taskgw_redis_wait replicas=1 timeout=100ms;
    }
--- request
POST /tasks
x
--- error_code: 202
--- response_body_like: "status":"queued"
--- no_error_log
[error]



=== TEST 11: no replica: 503 unavailable saying how many acknowledged
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue;
        taskgw_redis_wait replicas=1 timeout=100ms;
    }
--- request
POST /tasks
x
--- error_code: 503
--- response_headers
Content-Type: application/json
Retry-After: 1
--- response_body_like: ^\{"error":"unavailable","message":"task [0-9a-f-]{36} may be stored, but only 0 of 1 replicas acknowledged it within 100 ms; it may still run, or be lost if the primary fails: retry with the same Idempotency-Key"\}$
--- error_log
only 0 of 1 replicas acknowledged it within 100 ms



=== TEST 12: inherited from http and server levels
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_redis_wait replicas=2 timeout=50ms;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- error_code: 503
--- response_body_like: only 0 of 2 replicas acknowledged it within 50 ms



=== TEST 13: "off" in a location switches an inherited wait off
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_redis_wait replicas=1 timeout=50ms;
--- config
    location /tasks {
        taskgw_enqueue;
        taskgw_redis_wait off;
    }
--- request
POST /tasks
x
--- error_code: 202
--- no_error_log
[error]



=== TEST 14: a location's own setting overrides the server's
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    taskgw_redis_wait replicas=3 timeout=50ms;
    location /tasks {
        taskgw_enqueue;
        taskgw_redis_wait replicas=1 timeout=80ms;
    }
--- request
POST /tasks
x
--- error_code: 503
--- response_body_like: only 0 of 1 replicas acknowledged it within 80 ms
