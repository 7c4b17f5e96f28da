# Self-test of the Test::Nginx runner: the Perl API a suite uses before
# run_tests (repeat_each, log_level, add_block_preprocessor, blocks) and
# what eval code may call, plus section features that depend on it
# ($TEST_NGINX_RAND_PORT_N, skip_nginx). Runs unchanged under openresty's
# Test::Nginx.
# The runner is tested with stock nginx only, whatever the harness loads.
BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }

use Test::Nginx::Socket;

repeat_each(2);
no_shuffle();
no_long_string();
log_level('info');

# Blocks without config or request get a default one.
add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->config) {
        $block->set_value(config =>
            "    location = /pre { return 200 \"from preprocessor\\n\"; }");
    }
    if (!defined $block->request) {
        $block->set_value(request => "GET /pre");
    }
});

# status + body per block and repetition, one no_error_log line in one
# block, and the blocks() check below.
plan tests => repeat_each() * (2 * blocks() + 1) + 1;

is(scalar(blocks('user_files')), 1, 'blocks(section) counts blocks with it');

run_tests();

__DATA__

=== TEST 1: config and request supplied by the block preprocessor
--- response_body
from preprocessor



=== TEST 2: $ENV{TEST_NGINX_SERVER_PORT} in eval code is the server port
--- config
    location = /port { return 200 "port $server_port\n"; }
--- request
GET /port
--- response_body eval
"port $ENV{TEST_NGINX_SERVER_PORT}\n"



=== TEST 3: Test::Nginx::Socket::html_dir() is the html directory of the server root
--- config
--- user_files
>>> where.txt
html
--- request
GET /where.txt
--- response_body eval
Test::Nginx::Socket::html_dir() eq "$ENV{TEST_NGINX_SERVER_ROOT}/html" ? "html\n" : "elsewhere\n"



=== TEST 4: log_level() applies to every block (1 extra)
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[debug]



=== TEST 5: $TEST_NGINX_RAND_PORT_1 is a free port, the same in every section
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "backend\n"; }
    }
--- config
    location = /p { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- request
GET /p
--- response_body
backend



=== TEST 6: skip_nginx skips a block on a matching nginx version
--- skip_nginx: 2: < 999.0.0
--- config
    location = /t { return 500; }
--- request
GET /t
--- response_body
never checked
