# Self-test of the Test::Nginx runner: every supported section, each block
# about one of them, with stock nginx directives only. Runs unchanged
# under openresty's Test::Nginx (with the same counting).
# The runner is tested with stock nginx only, whatever the harness loads.
BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }

use Test::Nginx::Socket;

repeat_each(1);
no_shuffle();

# Per block: status + body, plus the extras listed in the titles.
plan tests => 2 * blocks() + 24;

run_tests();

__DATA__

=== TEST 1: request body gets a Content-Length and is trimmed
--- config
    location = /echo {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
        proxy_set_header X-Body $request_body;
    }
    location = /back {
        return 200 "$request_method $http_x_body";
    }
--- request
POST /echo
hello body
--- response_body chomp
POST hello body



=== TEST 2: more_headers are sent; Host and Connection are added
--- config
    location = /h {
        return 200 "$http_x_one|$http_x_two|$http_host|$http_connection\n";
    }
--- request
GET /h
--- more_headers
X-One: 1
# a comment line
X-Two: two words
--- response_body
1|two words|localhost|close



=== TEST 3: request line with an explicit HTTP/1.0
--- config
    location = /p { return 200 "$server_protocol\n"; }
--- request
GET /p HTTP/1.0
--- response_body
HTTP/1.0



=== TEST 4: raw_request is sent byte for byte
--- config
    location = /raw { return 200 "raw $http_x_raw\n"; }
--- raw_request eval
"GET /raw HTTP/1.0\r\nX-Raw: yes\r\n\r\n"
--- response_body
raw yes



=== TEST 5: request eval with several requests and per-request results
--- config
    location = /a { return 200 "A\n"; }
    location = /b { return 404; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 404]
--- response_body_like eval
["^A\n\\z", "404 Not Found"]



=== TEST 6: a request sent as several packets with a delay
--- config
    location = /echo {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
        proxy_set_header X-Body $request_body;
    }
    location = /back {
        return 200 "$http_x_body\n";
    }
--- request eval
[["POST /echo\nhel", {value => "lo", delay_before => 0.1}]]
--- response_body
hello



=== TEST 7: pipelined requests, one response each
--- config
    location = /one { return 200 "1\n"; }
    location = /two { return 201 "2\n"; }
--- pipelined_requests eval
["GET /one", "GET /two"]
--- error_code eval
[200, 201]
--- response_body eval
["1\n", "2\n"]



=== TEST 8: response_headers: values, absent headers (2 extra)
--- config
    location = /t {
        add_header X-A "a value";
        add_header X-B b;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-A: a value
!X-Missing
--- response_body
ok



=== TEST 9: response_headers_like takes regexes (1 extra)
--- config
    location = /t {
        add_header X-Id "id-12345";
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers_like
X-Id: id-\d+
--- response_body
ok



=== TEST 10: response_body eval may be a qr// regex
--- config
    location = /t { return 200 "number 42\n"; }
--- request
GET /t
--- response_body eval
qr/number \d+$/



=== TEST 11: chunked responses are decoded
--- config
    location = /c.html {
        root $TEST_NGINX_SERVER_ROOT/html;
        sub_filter_types text/plain;
        sub_filter 'world' 'there';
    }
--- user_files
>>> c.html
hello world
--- request
GET /c.html
--- response_headers
Transfer-Encoding: chunked
--- response_body
hello there



=== TEST 12: user_files in subdirectories, served by location / (1 extra)
--- config
--- user_files
>>> sub/dir/page.txt
page body
>>> other.txt
other
--- request
GET /sub/dir/page.txt
--- response_body
page body
--- response_headers
Content-Length: 10



=== TEST 13: error_log strings, one per line, and no_error_log (3 extra)
--- config
    location = /up { proxy_pass http://127.0.0.1:1/; }
--- request
GET /up
--- error_code: 502
--- response_body_like: 502 Bad Gateway
--- error_log
connect() failed (111: Connection refused)
while connecting to upstream
--- no_error_log
[alert]



=== TEST 14: error_log eval with an array of qr// and strings (3 extra)
--- config
    location = /up { proxy_pass http://127.0.0.1:1/; }
--- request
GET /up
--- error_code: 502
--- response_body_like: Bad Gateway
--- error_log eval
[qr/\[error\] \d+#\d+: \*\d+ connect\(\) failed/, "upstream: \"http://127.0.0.1:1/\""]
--- no_error_log eval
qr/\[crit\]/



=== TEST 15: log_level limits what is logged (2 extra)
--- config
    location = /t { return 200 "ok\n"; }
--- log_level: info
--- request
GET /t
--- response_body
ok
--- no_error_log
[debug]
[error]



=== TEST 16: the default log level is debug (1 extra)
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- error_log
[debug]



=== TEST 17: wait gives log-phase lines time to appear (1 extra)
--- config
    location = /t {
        return 200 "ok\n";
        access_log $TEST_NGINX_SERVER_ROOT/logs/access.log;
    }
--- request
GET /t
--- wait: 0.1
--- response_body
ok
--- error_log
http log handler



=== TEST 18: a custom timeout, and $TEST_NGINX_* in config
--- config
    location = /port { return 200 "$server_port $TEST_NGINX_SERVER_PORT\n"; }
--- request
GET /port
--- timeout: 5
--- response_body eval
"$ENV{TEST_NGINX_SERVER_PORT} $ENV{TEST_NGINX_SERVER_PORT}\n"



=== TEST 19: chomp and chop filters on response_body
--- config
    location = /t { return 200 "abc"; }
--- request
GET /t
--- response_body chomp chop
abcd



=== TEST 20: must_die: nginx refuses a bad directive (1 extra for the log line)
--- config
    location = /t { no_such_directive on; }
--- must_die
--- error_log
unknown directive "no_such_directive"



=== TEST 21: must_die with an http_config error
--- http_config
    bogus_http_directive 1;
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/unknown directive "bogus_http_directive"/



=== TEST 22: main_config is placed at the top level (1 extra)
--- main_config
    worker_rlimit_nofile 1024;
--- http_config
    server_tokens off;
--- config
    location = /t { return 404; }
--- request
GET /t
--- error_code: 404
--- response_body_unlike: nginx/\d
--- response_headers
Server: nginx



=== TEST 23: ignore_response still checks the log (0 status/body: 2 extra)
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- ignore_response
--- no_error_log
[error]
[emerg]



=== TEST 24: shutdown_error_log is what nginx logs while stopping (2 extra)
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- shutdown_error_log
shutting down
--- no_shutdown_error_log
[alert]



=== TEST 25: access_log and no_access_log (2 extra)
--- config
    location = /alog { return 200 "ok\n"; }
--- request
GET /alog
--- response_body
ok
--- access_log
"GET /alog HTTP/1.1" 200
--- no_access_log
"POST



=== TEST 26: a body nginx refuses early (413) is not a client error
--- config
    location = /t {
        client_max_body_size 1k;
        proxy_pass http://127.0.0.1:1/;
    }
--- request eval
"POST /t\n" . ("x" x 3_000_000)
--- error_code: 413
--- response_body_like: 413 Request Entity Too Large



=== TEST 27: a block marked SKIP is not run
--- SKIP
--- config
    location = /t { return 500; }
--- request
GET /t
--- error_code: 200
