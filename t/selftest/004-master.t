# Self-test of the Test::Nginx runner: master_on() and workers() shape
# nginx.conf (master process with two workers), and grep_error_log
# collects matching log text. Runs unchanged under openresty's Test::Nginx.
# The runner is tested with stock nginx only, whatever the harness loads.
BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }

use Test::Nginx::Socket;

master_on();
workers(2);
no_shuffle();

plan tests => 3 * blocks();

run_tests();

__DATA__

=== TEST 1: a master process starts two workers
--- config
    location = /pid { return 200 "$pid\n"; }
--- request
GET /pid
--- response_body_like: ^\d+$
--- grep_error_log eval: qr/start worker process(?= \d)/
--- grep_error_log_out
start worker process
start worker process



=== TEST 2: worker_connections and the events block are in place
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[emerg]
