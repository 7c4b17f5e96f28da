# Self-test of the Test::Nginx runner: the common sections with stock
# nginx directives only. Runs unchanged under openresty's Test::Nginx.
# The runner is tested with stock nginx only, whatever the harness loads.
BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }

use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: status, header and body of a return
--- config
    location = /t {
        add_header X-Selftest yes;
        return 200 "hello\n";
    }
--- request
GET /t
--- response_headers
X-Selftest: yes
Content-Type: text/plain
!X-Absent
--- response_body
hello
--- no_error_log
[error]



=== TEST 2: error code and inline sections
--- config
    location = /gone { return 410; }
--- request
GET /gone
--- error_code: 410
--- response_body_like: 410 Gone



=== TEST 3: the root location serves the index page
--- config
--- request
GET /
--- response_body chomp
<html><head><title>It works!</title></head><body>It works!</body></html>
