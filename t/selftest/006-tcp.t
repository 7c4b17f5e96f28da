# Self-test of the Test::Nginx runner: tcp_listen mock backends (what a
# suite uses to fake a silent or misbehaving upstream such as Redis).
# Runs unchanged under openresty's Test::Nginx.
# The runner is tested with stock nginx only, whatever the harness loads.
BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }

use Test::Nginx::Socket;

no_shuffle();

# status + body per block, plus tcp_query checks and error_log lines.
plan tests => 2 * blocks() + 4;

run_tests();

__DATA__

=== TEST 1: the mock backend sees nginx's request and its reply is relayed (1 extra)
--- config
    location = /p {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/back;
        proxy_set_header Host backend;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /back HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 8\r\n\r\nfrom tcp"
--- request
GET /p
--- response_body chomp
from tcp



=== TEST 2: a reply in pieces, after a delay (1 extra)
--- config
    location = /p {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_set_header Host backend;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 53
--- tcp_reply_delay: 100ms
--- tcp_reply eval
["HTTP/1.0 201 Created\r\n", "Content-Length: 3\r\n\r\n", "abc"]
--- request
GET /p
--- error_code: 201
--- response_body chomp
abc



=== TEST 3: a backend that never answers makes nginx time out (2 extra)
--- config
    location = /p {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_read_timeout 200ms;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_no_close
--- tcp_reply:
--- request
GET /p
--- error_code: 504
--- response_body_like: 504 Gateway Time-out
--- error_log
upstream timed out
while reading response header from upstream
