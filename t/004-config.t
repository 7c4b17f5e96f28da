# Configuration errors: nginx -t refuses them, naming file, line and reason.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an unknown priority
--- config
    location /tasks {
        taskgw_enqueue priority=urgent;
    }
--- must_die
--- error_log eval
qr/invalid priority "urgent", it must be "high", "normal" or "low" in \S+nginx\.conf:\d+/



=== TEST 2: an unknown taskgw_enqueue parameter
--- config
    location /tasks {
        taskgw_enqueue queue=a colour=blue;
    }
--- must_die
--- error_log eval
qr/invalid parameter "colour=blue" in \S+nginx\.conf:\d+/



=== TEST 3: a duplicate parameter
--- config
    location /tasks {
        taskgw_enqueue queue=a queue=b;
    }
--- must_die
--- error_log eval
qr/duplicate parameter "queue=b" in \S+nginx\.conf:\d+/



=== TEST 4: enqueue and status in one location
--- config
    location /tasks {
        taskgw_enqueue;
        taskgw_status;
    }
--- must_die
--- error_log eval
qr/a location takes only one of "taskgw_enqueue", "taskgw_status", "taskgw_metrics", "taskgw_health" and "taskgw_admin" in \S+nginx\.conf:\d+/



=== TEST 5: a redis address that does not parse
--- http_config
    taskgw_redis 127.0.0.1:notaport;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- must_die
--- error_log eval
qr/invalid port in redis address "127.0.0.1:notaport" in \S+nginx\.conf:\d+/



=== TEST 6: a bad taskgw_redis parameter and a bad db
--- http_config
    taskgw_redis 127.0.0.1:6379 db=x;
--- config
--- must_die
--- error_log eval
qr/invalid database number in "db=x" in \S+nginx\.conf:\d+/



=== TEST 7: taskgw_redis twice
--- http_config
    taskgw_redis 127.0.0.1:6379;
    taskgw_redis 127.0.0.1:6380;
--- config
--- must_die
--- error_log eval
qr/"taskgw_redis" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 8: a zero timeout
--- http_config
    taskgw_redis_timeout 0;
--- config
--- must_die
--- error_log eval
qr/"taskgw_redis_timeout" must be more than 0/



=== TEST 9: a backoff whose maximum is below its minimum
--- http_config
    taskgw_redis_backoff 2s 100ms;
--- config
--- must_die
--- error_log eval
qr/invalid maximum delay "100ms" \(must be at least the minimum\) in \S+nginx\.conf:\d+/



=== TEST 10: taskgw_enqueue outside a location
--- config
    taskgw_enqueue;
--- must_die
--- error_log eval
qr/"taskgw_enqueue" directive is not allowed here in \S+nginx\.conf:\d+/



=== TEST 11: a bad taskgw_status parameter
--- config
    location /s/ {
        taskgw_status key=$arg_id;
    }
--- must_die
--- error_log eval
qr/invalid parameter "key=\$arg_id" in \S+nginx\.conf:\d+/



=== TEST 12: a valid configuration with every directive starts
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=0;
    taskgw_redis_timeout 2s;
    taskgw_redis_backoff 50ms 1s;
    taskgw_prefix t004;
    taskgw_validate_json off;
--- config
    location /tasks {
        taskgw_validate_json on;
        taskgw_enqueue queue=q1 type=t.1 priority=high;
    }
    location /status/ {
        taskgw_status;
    }
--- request
POST /tasks
{}
--- error_code: 202
--- response_body_like: "queue":"q1","type":"t.1","priority":"high"
