# taskgw_auth with the static token file: 401 and its WWW-Authenticate,
# tokens in either header, role order admin > ops > dev, the ips= and
# queues= options, $taskgw_token_name / $taskgw_token_role, and the log
# line of a refusal (the token's name, never the token).
use Test::Nginx::Socket 'no_plan';

# The plaintext tokens of this file; the token file holds their digests.
#   dev-secret-token-1    dev   (ci-bot)
#   ops-secret-token-2    ops   (oncall)
#   admin-secret-token-3  admin (root)
#   ipsdev-secret-5       dev   ips=10.0.0.0/8,2001:db8::/32 (far)
#   qdev-secret-6         dev   ips=127.0.0.0/8 queues=reports,mail (near)
#   disabled-secret-7     ops   disabled (gone, TEST 25's own file)
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('user_files', <<'EOT') unless defined $block->user_files;
>>> tokens
# name   role  digest
ci-bot   dev   sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac
oncall   ops   sha256:662461e117180c204a5c6ca29969f9f7c44abe0bc15190f75860067e0cd2b3da
root     admin sha256:ABD8EBF58E3DF8DFF6BA67F568D8BA6C13D1BC3B7E4780C44C4AC44DA8A0736E   # upper case is fine

far      dev   sha256:51d6f9d374c7e8cd97a479a239e49398031cdc3d14ae6f6b5d798755d70bf99d ips=10.0.0.0/8,2001:db8::/32
near     dev   sha256:322c50cdace98a567261848a1624c9520df95996ca5d845f016feb079365b07f ips=127.0.0.0/8 queues=reports,mail rate=5r/m
EOT
    # no line the module writes (at any level, debug included) holds a
    # token; nginx's own debug dump of the request headers is not ours
    my $leak = qr/^(?!.*\bhttp header: ")(?!.*\bhttp alloc large header).*(?:secret-token|secret-[567]|not-a-known-token)/;
    my $nel = $block->no_error_log;
    $block->set_value('no_error_log',
                      [ $leak, defined $nel ? (ref $nel ? @$nel : $nel) : () ]);
    $block->set_value('http_config', <<'EOC') unless defined $block->http_config;
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t020;
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
EOC
});

no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: no token: 401 unauthorized with WWW-Authenticate: Bearer
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
Content-Type: application/json
--- response_body chomp
{"error":"unauthorized","message":"a valid token is required"}
--- error_log
taskgw: access denied to token "unknown" from 127.0.0.1: no token



=== TEST 2: an unknown token: 401, logged without the token
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
Authorization: Bearer not-a-known-token-XYZ
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body chomp
{"error":"unauthorized","message":"a valid token is required"}
--- error_log
taskgw: access denied to token "unknown" from 127.0.0.1: unknown token



=== TEST 3: Authorization: Bearer with a dev token enqueues
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue queue=default;
    }
--- request
POST /tasks
x
--- more_headers
Authorization: Bearer dev-secret-token-1
--- error_code: 202
--- response_body_like: "status":"queued","queue":"default"
--- no_error_log
[warn]



=== TEST 4: X-API-Token works too
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
X-API-Token: dev-secret-token-1
--- error_code: 202



=== TEST 5: the bearer scheme is case-insensitive
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
Authorization: bearer dev-secret-token-1
--- error_code: 202



=== TEST 6: Authorization that is not Bearer: X-API-Token is used
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
Authorization: Basic Zm9vOmJhcg==
X-API-Token: ops-secret-token-2
--- error_code: 202



=== TEST 7: Authorization Bearer wins over X-API-Token
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
Authorization: Bearer wrong-token
X-API-Token: ops-secret-token-2
--- error_code: 401



=== TEST 8: an empty bearer token is no token
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
X-API-Token:
--- error_code: 401
--- error_log
no token



=== TEST 9: a dev token in an ops location: 403 forbidden, logged with its name
--- config
    location /tasks {
        taskgw_auth ops;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
Authorization: Bearer dev-secret-token-1
--- error_code: 403
--- response_headers
!WWW-Authenticate
Content-Type: application/json
--- response_body chomp
{"error":"forbidden","message":"role too low"}
--- error_log
taskgw: access denied to token "ci-bot" from 127.0.0.1: role too low



=== TEST 10: an ops token in an ops location
--- config
    location /tasks {
        taskgw_auth ops;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
Authorization: Bearer ops-secret-token-2
--- error_code: 202



=== TEST 11: an admin token in an ops location
--- config
    location /tasks {
        taskgw_auth ops;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
Authorization: Bearer admin-secret-token-3
--- error_code: 202



=== TEST 12: an ops token in an admin location: 403
--- config
    location /tasks {
        taskgw_auth admin;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
Authorization: Bearer ops-secret-token-2
--- error_code: 403
--- response_body_like: "error":"forbidden"



=== TEST 13: an admin token in an admin location
--- config
    location /tasks {
        taskgw_auth admin;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
Authorization: Bearer admin-secret-token-3
--- error_code: 202



=== TEST 14: taskgw_auth is inherited, and "off" in a location lifts it
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t020;
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
    taskgw_auth admin;
--- config
    location /open {
        taskgw_auth off;
        taskgw_enqueue;
    }
    location /closed {
        taskgw_enqueue;
    }
--- pipelined_requests eval
["POST /open\nx", "POST /closed\nx"]
--- error_code eval
[202, 401]



=== TEST 15: ips=: a token used from outside its ranges is 403
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
X-API-Token: ipsdev-secret-5
--- error_code: 403
--- response_body chomp
{"error":"forbidden","message":"address not in the token's ips"}
--- error_log
taskgw: access denied to token "far" from 127.0.0.1: address not in the token's ips



=== TEST 16: ips=: from inside its ranges it works; queues= allows its queues
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue queue=reports;
    }
--- request
POST /tasks
x
--- more_headers
X-API-Token: qdev-secret-6
--- error_code: 202
--- response_body_like: "queue":"reports"



=== TEST 17: queues=: another queue is 403
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue queue=default;
    }
--- request
POST /tasks
x
--- more_headers
X-API-Token: qdev-secret-6
--- error_code: 403
--- response_body chomp
{"error":"forbidden","message":"queue not in the token's queues"}
--- error_log
taskgw: access denied to token "near" from 127.0.0.1: queue not in the token's queues



=== TEST 18: queues=: a queue from a variable is checked too
--- config
    location ~ ^/q/(\w+)$ {
        taskgw_auth dev;
        taskgw_enqueue queue=$1;
    }
--- pipelined_requests eval
["POST /q/mail\nx", "POST /q/other\nx"]
--- more_headers
X-API-Token: qdev-secret-6
--- error_code eval
[202, 403]



=== TEST 19: $taskgw_token_name and $taskgw_token_role
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue;
        add_header X-Who "$taskgw_token_name/$taskgw_token_role" always;
    }
--- request
POST /tasks
x
--- more_headers
X-API-Token: ops-secret-token-2
--- error_code: 202
--- response_headers
X-Who: oncall/ops



=== TEST 20: the variables are set on a 403
--- config
    location /tasks {
        taskgw_auth admin;
        taskgw_enqueue;
        add_header X-Who "[$taskgw_token_name/$taskgw_token_role]" always;
    }
--- request
POST /tasks
x
--- more_headers
X-API-Token: dev-secret-token-1
--- error_code: 403
--- response_headers
X-Who: [ci-bot/dev]



=== TEST 21: the variables are empty on a 401
--- config
    location /tasks {
        taskgw_auth admin;
        taskgw_enqueue;
        add_header X-Who "[$taskgw_token_name/$taskgw_token_role]" always;
    }
--- request
POST /tasks
x
--- more_headers
X-API-Token: nope
--- error_code: 401
--- response_headers
X-Who: [/]



=== TEST 22: the rejection is checked before the method (401 before 405)
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue;
    }
--- request
GET /tasks
--- error_code: 401



=== TEST 23: a location without taskgw handlers is guarded too (JSON error)
--- config
    location /static {
        taskgw_auth dev;
        empty_gif;
    }
--- request
GET /static
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer



=== TEST 24: a token accepted before does not let in tokens that differ from it
--- config
    location /t {
        taskgw_auth dev;
        add_header X-Who "[$taskgw_token_name]" always;
        empty_gif;
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["X-API-Token: dev-secret-token-1",
 "X-API-Token: dev-secret-token-1",
 "X-API-Token: dev-secret-token-2",
 "X-API-Token: dev-secret-token-",
 "X-API-Token: dev-secret-token-10",
 "X-API-Token: ops-secret-token-2"]
--- error_code eval
[200, 200, 401, 401, 401, 200]
--- response_headers eval
["X-Who: [ci-bot]", "X-Who: [ci-bot]", "X-Who: []", "X-Who: []", "X-Who: []",
 "X-Who: [oncall]"]



=== TEST 25: a token the file marks disabled is refused as an unknown one (401)
--- config
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue;
        add_header X-Who "[$taskgw_token_name/$taskgw_token_role]" always;
    }
--- user_files
>>> tokens
root     admin sha256:abd8ebf58e3df8dff6ba67f568d8ba6c13d1bc3b7e4780c44c4ac44da8a0736e
gone     ops   sha256:1876118d45afc6976547add1dcf981e4da6e9dcde85059daa1ccb12299f537b1 disabled
--- request
POST /tasks
x
--- more_headers
Authorization: Bearer disabled-secret-7
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
X-Who: [/]
--- response_body chomp
{"error":"unauthorized","message":"a valid token is required"}
--- error_log
access denied to token "gone" from 127.0.0.1: token disabled
