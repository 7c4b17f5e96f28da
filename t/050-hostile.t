# Hostile requests: header values at and past their limits, repeated
# headers (400 naming the duplicate), control and non-ASCII bytes in every
# header taskgw reads, bodies at and one byte past client_max_body_size.
# Each answer is the module's JSON, and nothing is stored for a refusal.
use Test::Nginx::Socket 'no_plan';
use TaskGW::Stack;

my $P = 't050';
my $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});
$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', "$P:*") || [] };

our $Key255 = 'k' x 255;
our $Key256 = 'k' x 256;
our $Token4097 = 't' x 4097;
our $Url2048 = 'https://hooks.example.com/' . ('u' x (2048 - 26));
our $Url2049 = $Url2048 . 'u';

# dev-secret-token-1 is the token of "ci-bot"
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('user_files', <<'EOT') unless defined $block->user_files;
>>> tokens
ci-bot   dev   sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac
EOT
    $block->set_value('http_config', <<'EOC') unless defined $block->http_config;
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t050;
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
EOC
    $block->set_value('config', <<'EOC') unless defined $block->config;
    location /tasks {
        taskgw_enqueue queue=hostile;
    }
    location /auth {
        taskgw_auth dev;
        taskgw_enqueue queue=authed;
    }
    location /cb {
        taskgw_callback_allow "https://hooks\.example\.com/.*";
        taskgw_enqueue queue=cb;
    }
    location /small {
        client_max_body_size 16;
        client_body_buffer_size 1k;
        taskgw_enqueue queue=small;
    }
EOC
});

no_shuffle();
no_long_string();
run_tests();

# what the accepted requests stored, and nothing else
my %n = map { $_ => scalar @{ $redis->xrange("$P:q:$_:normal") } }
        qw(hostile authed cb small);
my $high = scalar @{ $redis->xrange("$P:q:hostile:high") };
is($n{hostile}, 2, 'hostile: the 2 accepted normal-priority tasks stored');
is($high, 1, 'hostile: the accepted high-priority task stored');
is($n{authed}, 1, 'authed: only the one with a good token');
is($n{cb}, 1, 'cb: only the URL of 2048 characters');
is($redis->cmd('ZCARD', "$P:scheduled"), 1,
   'delayed: only the task at the limit is scheduled');
is($n{small}, 2, 'small: the bodies of exactly client_max_body_size');
my $small = $redis->xrange("$P:q:small:normal");
is($redis->cmd('HGET', "$P:task:$small->[0][1]{id}", 'payload'), 'x' x 16,
   'a body of exactly client_max_body_size is stored whole');

__DATA__

=== TEST 1: two X-Task-Priority headers: 400 naming the duplicate
--- request
POST /tasks
x
--- more_headers
X-Task-Priority: high
X-Task-Priority: low
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"bad_request","message":"duplicate X-Task-Priority header"}



=== TEST 2: two Idempotency-Key headers, even equal ones: 400 duplicate
--- request
POST /tasks
x
--- more_headers
Idempotency-Key: same
Idempotency-Key: same
--- error_code: 400
--- response_body chomp
{"error":"bad_request","message":"duplicate Idempotency-Key header"}



=== TEST 3: two X-Task-Delay headers: 400 duplicate
--- request
POST /tasks
x
--- more_headers
X-Task-Delay: 10
X-Task-Delay: 20
--- error_code: 400
--- response_body chomp
{"error":"bad_request","message":"duplicate X-Task-Delay header"}



=== TEST 4: two X-Task-Run-At headers: 400 duplicate
--- request
POST /tasks
x
--- more_headers
X-Task-Run-At: 1
X-Task-Run-At: 2
--- error_code: 400
--- response_body chomp
{"error":"bad_request","message":"duplicate X-Task-Run-At header"}



=== TEST 5: two X-Callback-URL headers: 400 duplicate
--- request
POST /cb
x
--- more_headers
X-Callback-URL: https://hooks.example.com/a
X-Callback-URL: https://hooks.example.com/b
--- error_code: 400
--- response_body chomp
{"error":"callback_not_allowed","message":"duplicate X-Callback-URL header"}



=== TEST 6: header names are case-insensitive: a duplicate in another case
--- request
POST /tasks
x
--- more_headers
x-task-priority: high
X-TASK-PRIORITY: high
--- error_code: 400
--- response_body chomp
{"error":"bad_request","message":"duplicate X-Task-Priority header"}



=== TEST 7: two Authorization headers: 400 from nginx itself, which names the duplicate
nginx refuses a repeated Authorization while it reads the headers, before
any location (and so taskgw) is chosen: its own error page, and the
reason in its error log, at info level, with both header values: the
token reaches an error log at info or debug level (docs/security.md).
--- request
POST /auth
x
--- more_headers
Authorization: Bearer dev-secret-token-1
Authorization: Bearer other-token-2
--- error_code: 400
--- response_body_like: 400 Bad Request
--- error_log eval
qr/\[info\] .*client sent duplicate header line: "Authorization: Bearer other-token-2", previous value: "Authorization: Bearer dev-secret-token-1"/



=== TEST 7b: the same at error_log level notice: still 400, no token in the log
--- log_level: notice
--- request
POST /auth
x
--- more_headers
Authorization: Bearer dev-secret-token-1
Authorization: Bearer other-token-2
--- error_code: 400
--- response_body_like: 400 Bad Request
--- no_error_log
dev-secret-token-1
other-token-2
duplicate header



=== TEST 8: two X-API-Token headers are no token: 401
--- request
POST /auth
x
--- more_headers
X-API-Token: dev-secret-token-1
X-API-Token: dev-secret-token-1
--- error_code: 401
--- response_body chomp
{"error":"unauthorized","message":"a valid token is required"}



=== TEST 9: Idempotency-Key of 255 characters is accepted, 256 is not
--- request eval
["POST /tasks\r\na", "POST /tasks\r\nb"]
--- more_headers eval
["Idempotency-Key: $::Key255", "Idempotency-Key: $::Key256"]
--- error_code eval
[202, 400]
--- response_body_like eval
['"status":"queued"',
 '^\{"error":"bad_request","message":"Idempotency-Key must be 1-255 visible ASCII characters"\}$']



=== TEST 10: a token past 4096 bytes is no token: 401
--- request
POST /auth
x
--- more_headers eval
"Authorization: Bearer $::Token4097"
--- error_code: 401
--- response_body chomp
{"error":"unauthorized","message":"a valid token is required"}



=== TEST 11: X-Task-Delay at the limit is scheduled; past it and out of range: 400
--- config
    location /tasks {
        taskgw_max_delay 60s;
        taskgw_enqueue queue=delayed;
    }
--- request eval
["POST /tasks\r\n0", "POST /tasks\r\na", "POST /tasks\r\nb", "POST /tasks\r\nc", "POST /tasks\r\nd", "POST /tasks\r\ne"]
--- more_headers eval
["X-Task-Delay: 60", "X-Task-Delay: 61", "X-Task-Delay: 99999999999999999999999999", "X-Task-Delay: -1", "X-Task-Delay: +5", "X-Task-Run-At: 99999999999999999999999999"]
--- error_code eval
[202, 400, 400, 400, 400, 400]
--- response_body_like eval
['"status":"scheduled"',
 (map { '^' . quotemeta($_) . '$' }
  qq({"error":"bad_request","message":"the task's start is beyond taskgw_max_delay"}),
  (qq({"error":"bad_request","message":"X-Task-Delay must be a whole number of seconds"})) x 3,
  qq({"error":"bad_request","message":"X-Task-Run-At must be a time in unix seconds"}))]



=== TEST 12: control and non-ASCII bytes in X-Task-Priority, Delay, Run-At
--- request eval
["POST /tasks\r\na", "POST /tasks\r\nb", "POST /tasks\r\nc", "POST /tasks\r\nd", "POST /tasks\r\ne"]
--- more_headers eval
["X-Task-Priority: high\x01", "X-Task-Priority: h\xc3\xafgh", "X-Task-Delay: 1\x7f", "X-Task-Delay: \xd9\xa3", "X-Task-Run-At: 1\x1b[0m"]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body eval
[qq({"error":"bad_request","message":"X-Task-Priority must be one of high, normal, low"}),
 qq({"error":"bad_request","message":"X-Task-Priority must be one of high, normal, low"}),
 qq({"error":"bad_request","message":"X-Task-Delay must be a whole number of seconds"}),
 qq({"error":"bad_request","message":"X-Task-Delay must be a whole number of seconds"}),
 qq({"error":"bad_request","message":"X-Task-Run-At must be a time in unix seconds"})]



=== TEST 13: control and non-ASCII bytes in Idempotency-Key
--- request eval
["POST /tasks\r\na", "POST /tasks\r\nb", "POST /tasks\r\nc"]
--- more_headers eval
["Idempotency-Key: a\tb", "Idempotency-Key: \x80\xff", "Idempotency-Key: k\x7f"]
--- error_code eval
[400, 400, 400]
--- response_body eval
[(qq({"error":"bad_request","message":"Idempotency-Key must be 1-255 visible ASCII characters"})) x 3]



=== TEST 14: control and non-ASCII bytes in a token: 401, and never logged raw
--- request eval
["POST /auth\r\na", "POST /auth\r\nb", "POST /auth\r\nc"]
--- more_headers eval
["Authorization: Bearer dev-secret-token-1\x01", "X-API-Token: \xff\xfe-secret", "Authorization: Bearer \xe2\x80\x8bdev-secret-token-1"]
--- error_code eval
[401, 401, 401]
--- response_body eval
[(qq({"error":"unauthorized","message":"a valid token is required"})) x 3]
--- no_error_log eval
# nginx's own debug dump of the request headers is not ours
[qr/^(?!.*\bhttp header: ")(?!.*\bhttp alloc large header).*(?:\xff\xfe|\x01|\xe2\x80\x8b|secret)/]



=== TEST 15: control and non-ASCII bytes in X-Callback-URL: 400
--- request eval
["POST /cb\r\na", "POST /cb\r\nb"]
--- more_headers eval
["X-Callback-URL: https://hooks.example.com/\x01x", "X-Callback-URL: https://hooks.example.com/\xc3\xa9"]
--- error_code eval
[400, 400]
--- response_body eval
[(qq({"error":"callback_not_allowed","message":"X-Callback-URL must be visible ASCII"})) x 2]



=== TEST 16: a good request beside them all is accepted (the stack works)
--- request eval
["POST /tasks\r\na", "POST /tasks\r\nb", "POST /auth\r\nc"]
--- more_headers eval
["X-Task-Priority: HIGH", "Content-Type: text/plain; charset=\xff\x01", "Authorization: Bearer dev-secret-token-1"]
--- error_code eval
[202, 202, 202]
--- response_body_like eval
['"priority":"high"', '"status":"queued"', '"status":"queued"']



=== TEST 17: a body of exactly client_max_body_size is stored, one byte more is 413
--- request eval
["POST /small\r\n" . ("x" x 16), "POST /small\r\n" . ("x" x 17)]
--- error_code eval
[202, 413]
--- response_body_like eval
['"status":"queued"', '^\{"error":"too_large","message":"[^"]+"\}$']



=== TEST 18: the same with chunked bodies
--- request eval
["POST /small\r\n10\r\n" . ("x" x 16) . "\r\n0\r\n\r\n",
 "POST /small\r\n8\r\n" . ("x" x 8) . "\r\n9\r\n" . ("x" x 9) . "\r\n0\r\n\r\n"]
--- more_headers
Transfer-Encoding: chunked
--- error_code eval
[202, 413]
--- response_body_like eval
['"status":"queued"', '^\{"error":"too_large","message":"[^"]+"\}$']



=== TEST 19: a token file that ends in a cut option, without a final newline: refused, naming it
--- user_files eval
[["tokens", "bob dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac queue"]]
--- must_die
--- error_log eval
qr{html/tokens:1: unknown option \(ips=, rate=, queues= or disabled\): "queue" in \S+nginx\.conf:\d+}



=== TEST 20: X-Callback-URL of 2048 characters is accepted, 2049 is not
--- request eval
["POST /cb\r\na", "POST /cb\r\nb"]
--- more_headers eval
["X-Callback-URL: $::Url2048", "X-Callback-URL: $::Url2049"]
--- error_code eval
[202, 400]
--- response_body_like eval
['"status":"queued"', '^\{"error":"callback_not_allowed","message":"X-Callback-URL must be an http or https URL of at most 2048 characters"\}$']
