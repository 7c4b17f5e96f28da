# X-Callback-URL: accepted only when a taskgw_callback_allow pattern
# matches it as a whole, then stored as the task's callback_url; refused
# with 400 callback_not_allowed (and nothing stored) for another URL, a
# scheme other than http(s), credentials in the URL, or no pattern at
# all.  A pattern that does not compile fails nginx -t with file and line.
use Test::Nginx::Socket 'no_plan';
use TaskGW::Stack;

my $P = 't009';
my $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});
$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', "$P:*") || [] };

no_shuffle();
no_long_string();
run_tests();

my %by_queue;
for my $k (@{ $redis->cmd('KEYS', "$P:task:*") }) {
    my $h = $redis->hgetall($k);
    push @{ $by_queue{ $h->{queue} } }, $h;
}

is($by_queue{ok}[0]{callback_url}, 'https://hooks.example.com/in?task=1',
   'the allowed callback is stored as callback_url');
is($by_queue{plain}[0]{callback_url}, undef,
   'a task without X-Callback-URL has no callback_url');
is($by_queue{inner}[0]{callback_url}, 'http://127.0.0.1:9/inner',
   "a location's own pattern replaces the server's");
is($by_queue{outer}[0]{callback_url}, 'https://outer.example.com/x',
   "a location without one inherits the server's");
is(scalar @{ $by_queue{refused} // [] }, 0,
   'no refused request stored a task');

__DATA__

=== TEST 1: a callback matching a pattern is accepted
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_callback_allow "https://hooks\.example\.com/in(\?.*)?";
        taskgw_enqueue queue=ok;
    }
--- request
POST /tasks
x
--- more_headers
X-Callback-URL: https://hooks.example.com/in?task=1
--- error_code: 202
--- response_body_like: ^\{"id":"[0-9a-f-]{36}","status":"queued","queue":"ok"



=== TEST 2: a task without X-Callback-URL needs no pattern
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_enqueue queue=plain;
    }
--- request
POST /tasks
x
--- error_code: 202



=== TEST 3: a URL no pattern matches is refused
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_callback_allow "https://hooks\.example\.com/.*";
        taskgw_callback_allow "https://other\.example\.com/.*";
        taskgw_enqueue queue=refused;
    }
--- request
POST /tasks
x
--- more_headers
X-Callback-URL: https://evil.example.net/in
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"error":"callback_not_allowed","message":"X-Callback-URL matches no taskgw_callback_allow pattern"\}$



=== TEST 4: the pattern must match the whole URL, not a part of it
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_callback_allow "https://hooks\.example\.com/in";
        taskgw_enqueue queue=refused;
    }
--- request
POST /tasks
x
--- more_headers
X-Callback-URL: https://hooks.example.com/in.evil.net/x
--- error_code: 400
--- response_body_like: "error":"callback_not_allowed"



=== TEST 5: a pattern-free prefix of the host does not pass either
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_callback_allow "https://hooks\.example\.com/.*";
        taskgw_enqueue queue=refused;
    }
--- request
POST /tasks
x
--- more_headers
X-Callback-URL: https://hooks.example.com.evil.net/https://hooks.example.com/x
--- error_code: 400
--- response_body_like: "error":"callback_not_allowed"



=== TEST 6: a scheme other than http or https is refused, whatever the pattern
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_callback_allow ".*";
        taskgw_enqueue queue=refused;
    }
--- request eval
[ map { "POST /tasks\nx" } 1 .. 4 ]
--- more_headers eval
[ "X-Callback-URL: ftp://hooks.example.com/in",
  "X-Callback-URL: file:///etc/passwd",
  "X-Callback-URL: gopher://127.0.0.1:6379/_FLUSHALL",
  "X-Callback-URL: //hooks.example.com/in" ]
--- error_code eval
[ 400, 400, 400, 400 ]
--- response_body_like eval
[ map { qr/^\{"error":"callback_not_allowed","message":"X-Callback-URL must be an http or https URL"\}$/ } 1 .. 4 ]



=== TEST 7: credentials in the URL are refused, whatever the pattern
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_callback_allow ".*";
        taskgw_enqueue queue=refused;
    }
--- request eval
[ "POST /tasks\nx", "POST /tasks\nx" ]
--- more_headers eval
[ "X-Callback-URL: https://user:secret\@hooks.example.com/in",
  "X-Callback-URL: http://token\@127.0.0.1:8080/in" ]
--- error_code eval
[ 400, 400 ]
--- response_body_like eval
[ qr/"error":"callback_not_allowed","message":"X-Callback-URL must not carry credentials"/,
  qr/"error":"callback_not_allowed","message":"X-Callback-URL must not carry credentials"/ ]



=== TEST 8: with no pattern configured every callback is refused
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_enqueue queue=refused;
    }
--- request
POST /tasks
x
--- more_headers
X-Callback-URL: https://hooks.example.com/in
--- error_code: 400
--- response_body_like: ^\{"error":"callback_not_allowed","message":"callbacks are not enabled here \(no taskgw_callback_allow\)"\}$



=== TEST 9: two X-Callback-URL headers are refused
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_callback_allow ".*";
        taskgw_enqueue queue=refused;
    }
--- request
POST /tasks
x
--- more_headers
X-Callback-URL: https://a.example.com/
X-Callback-URL: https://b.example.com/
--- error_code: 400
--- response_body_like: "error":"callback_not_allowed"



=== TEST 10: spaces and control characters are refused
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_callback_allow ".*";
        taskgw_enqueue queue=refused;
    }
--- request
POST /tasks
x
--- more_headers
X-Callback-URL: https://a.example.com/a b
--- error_code: 400
--- response_body_like: "message":"X-Callback-URL must be visible ASCII"



=== TEST 11: server-level patterns are inherited, a location's own replace them
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    taskgw_callback_allow "https://outer\.example\.com/.*";
    location /outer {
        taskgw_enqueue queue=outer;
    }
    location /inner {
        taskgw_callback_allow "http://127\.0\.0\.1:9/inner";
        taskgw_enqueue queue=inner;
    }
--- request eval
[ "POST /outer\nx", "POST /inner\nx", "POST /inner\nx" ]
--- more_headers eval
[ "X-Callback-URL: https://outer.example.com/x",
  "X-Callback-URL: http://127.0.0.1:9/inner",
  "X-Callback-URL: https://outer.example.com/x" ]
--- error_code eval
[ 202, 202, 400 ]



=== TEST 12: a pattern that does not compile fails nginx -t with file and line
--- config
    location /tasks {
        taskgw_callback_allow "https://(unclosed";
        taskgw_enqueue;
    }
--- must_die
--- error_log eval
qr/invalid pattern "https:\/\/\(unclosed" in "taskgw_callback_allow": pcre2?_compile\(\) failed: .* in \S+nginx\.conf:\d+/



=== TEST 13: an empty pattern fails nginx -t
--- config
    location /tasks {
        taskgw_callback_allow "";
        taskgw_enqueue;
    }
--- must_die
--- error_log eval
qr/empty pattern in "taskgw_callback_allow" in \S+nginx\.conf:\d+/
