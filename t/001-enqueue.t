# taskgw_enqueue: the 202 reply, methods, priorities, variables, JSON
# validation, body limits and the $taskgw_* variables.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: POST answers 202 with the task JSON (UUIDv7 id)
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue queue=default type=report.build;
    }
--- request
POST /tasks
{"kind":"full"}
--- more_headers
Content-Type: application/json
--- error_code: 202
--- response_headers
Content-Type: application/json
!Location
--- response_body_like: ^\{"id":"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}","status":"queued","queue":"default","type":"report.build","priority":"normal"\}$
--- no_error_log
[error]



=== TEST 2: Location points at the taskgw_status location of the server
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue;
    }
    location /v1/status/ {
        taskgw_status;
    }
--- request
POST /tasks
x
--- error_code: 202
--- response_headers_like
Location: ^/v1/status/[0-9a-f-]{36}$
--- response_body_like: "queue":"default","type":"default","priority":"normal"



=== TEST 3: PUT enqueues too
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue queue=puts;
    }
--- request
PUT /tasks
payload
--- error_code: 202
--- response_body_like: "status":"queued","queue":"puts"



=== TEST 4: other methods get 405 with Allow and the JSON error
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- request eval
["GET /tasks", "DELETE /tasks", "PATCH /tasks\r\nx"]
--- error_code eval
[405, 405, 405]
--- response_headers eval
["Allow: POST, PUT\nContent-Type: application/json",
 "Allow: POST, PUT\nContent-Type: application/json",
 "Allow: POST, PUT\nContent-Type: application/json"]
--- response_body eval
[qq({"error":"method_not_allowed","message":"use POST or PUT to enqueue a task"}),
 qq({"error":"method_not_allowed","message":"use POST or PUT to enqueue a task"}),
 qq({"error":"method_not_allowed","message":"use POST or PUT to enqueue a task"})]



=== TEST 5: X-Task-Priority overrides the directive's priority
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue priority=low;
    }
--- request
POST /tasks
x
--- more_headers
X-Task-Priority: high
--- error_code: 202
--- response_body_like: "priority":"high"\}$



=== TEST 6: the directive's priority applies without the header
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue priority=low;
    }
--- request
POST /tasks
x
--- error_code: 202
--- response_body_like: "priority":"low"\}$



=== TEST 7: a bad X-Task-Priority is 400 and stores nothing
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
X-Task-Priority: urgent
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"bad_request","message":"X-Task-Priority must be one of high, normal, low"}



=== TEST 8: a repeated X-Task-Priority is malformed
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
X-Task-Priority: high
X-Task-Priority: low
--- error_code: 400
--- response_body_like: "error":"bad_request"



=== TEST 9: queue= and type= take variables
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location ~ ^/q/(?<q>[a-z]+)$ {
        taskgw_enqueue queue=$q type=$http_x_kind.v1;
    }
--- request
POST /q/reports
x
--- more_headers
X-Kind: build
--- error_code: 202
--- response_body_like: "queue":"reports","type":"build.v1"



=== TEST 10: a queue name from a variable is checked: 400 on bad characters
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue queue=$arg_q;
    }
--- request eval
["POST /tasks?q=a:b\r\nx", "POST /tasks?q=\r\nx", "POST /tasks?q=ok-1.2_3\r\nx"]
--- error_code eval
[400, 400, 202]
--- response_body_like eval
['"error":"bad_request","message":"queue name must be', '"error":"bad_request"', '"queue":"ok-1.2_3"']



=== TEST 11: invalid JSON is 400 invalid_json when validation is on
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_validate_json on;
        taskgw_enqueue;
    }
--- request eval
["POST /tasks\r\n{\"a\":1", "POST /tasks\r\n", "POST /tasks\r\n{\"a\":1} x", "POST /tasks\r\n[1,2,{\"b\":null}]", "POST /tasks\r\n  \"just a string\"  "]
--- error_code eval
[400, 400, 400, 202, 202]
--- response_body_like eval
['^\{"error":"invalid_json",', '"error":"invalid_json"', '"error":"invalid_json"', '"status":"queued"', '"status":"queued"']



=== TEST 12: validation is off by default: any bytes are a payload
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- request
POST /tasks
{not json
--- error_code: 202



=== TEST 13: validation is inherited from the server level
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    taskgw_validate_json on;
    location /tasks {
        taskgw_enqueue;
    }
--- request
POST /tasks
nope
--- error_code: 400
--- response_body_like: invalid_json



=== TEST 14: a body over client_max_body_size is 413 with the JSON error
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        client_max_body_size 10;
        taskgw_enqueue;
    }
--- request
POST /tasks
0123456789abcdef
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"too_large","message":"request body exceeds client_max_body_size"}



=== TEST 15: a chunked body over the limit is 413 JSON as well
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        client_max_body_size 10;
        taskgw_enqueue;
    }
--- raw_request eval
"POST /tasks HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
10\r
0123456789abcdef\r
0\r
\r
"
--- error_code: 413
--- response_body_like: "error":"too_large"



=== TEST 16: a body buffered to a temp file is accepted
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        client_body_buffer_size 1k;
        taskgw_enqueue queue=big;
    }
--- request eval
"POST /tasks\r\n" . ("x" x 70000)
--- error_code: 202
--- response_body_like: "queue":"big"
--- error_log
a client request body is buffered to a temporary file



=== TEST 17: $taskgw_task_id and $taskgw_outcome
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        add_header X-Task $taskgw_task_id always;
        add_header X-Outcome $taskgw_outcome always;
        taskgw_validate_json on;
        taskgw_enqueue;
    }
--- request eval
["POST /tasks\r\n{}", "POST /tasks\r\n{", "GET /tasks"]
--- error_code eval
[202, 400, 405]
--- response_headers_like eval
["X-Task: ^[0-9a-f-]{36}\$\nX-Outcome: ^accepted\$", "X-Outcome: ^bad_request\$", "X-Outcome: ^bad_request\$"]



=== TEST 18: an empty body is a valid payload
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- request
POST /tasks
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 19: UTF-16 surrogate escapes must come in high-low pairs
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_validate_json on;
        taskgw_enqueue;
    }
--- request eval
["POST /tasks\r\n\"\\ud83d\\ude00\"", "POST /tasks\r\n\"\\uD83D\\uDE00\"", "POST /tasks\r\n\"\\ud800\"", "POST /tasks\r\n\"\\udc00\"", "POST /tasks\r\n\"\\ud83dx\"", "POST /tasks\r\n\"\\ude00\\ud83d\"", "POST /tasks\r\n\"\\ud83d\\u0041\""]
--- error_code eval
[202, 202, 400, 400, 400, 400, 400]
--- response_body_like eval
['"status":"queued"', '"status":"queued"', '"error":"invalid_json"', '"error":"invalid_json"', '"error":"invalid_json"', '"error":"invalid_json"', '"error":"invalid_json"']



=== TEST 20: a broken chunked body on a rejected request is 400, not 500
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- raw_request eval
["DELETE /tasks HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
zz\r
\r
",
"POST /tasks HTTP/1.1\r
Host: localhost\r
Connection: close\r
X-Task-Priority: urgent\r
Transfer-Encoding: chunked\r
\r
zz\r
\r
"]
--- error_code eval
[400, 400]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json"]
--- response_body eval
[qq({"error":"bad_request","message":"malformed request"}),
 qq({"error":"bad_request","message":"malformed request"})]
--- error_log
client sent invalid chunked body
