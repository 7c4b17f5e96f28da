# taskgw_admin: one route table.  A token is asked of every caller (the
# location applies taskgw_auth ops), each endpoint checks its own least
# role, unknown paths are 404 and known paths with another method 405
# with Allow -- all as JSON errors.
use Test::Nginx::Socket 'no_plan';
use TaskGW::Stack;

# The plaintext tokens of this file; the token file holds their digests.
#   dev-secret-token-1    dev   (ci-bot)
#   ops-secret-token-2    ops   (oncall)
#   admin-secret-token-3  admin (root)
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('user_files', <<'EOT') unless defined $block->user_files;
>>> tokens
ci-bot   dev   sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac
oncall   ops   sha256:662461e117180c204a5c6ca29969f9f7c44abe0bc15190f75860067e0cd2b3da
root     admin sha256:abd8ebf58e3df8dff6ba67f568d8ba6c13d1bc3b7e4780c44c4ac44da8a0736e
EOT
    $block->set_value('http_config', <<'EOC') unless defined $block->http_config;
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t042;
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
EOC
});

my $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});
$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', 't042:*') || [] };

no_shuffle();
no_long_string();
run_tests();

$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', 't042:*') || [] };

__DATA__

=== TEST 1: every endpoint needs a token: 401 with WWW-Authenticate
--- config
    location /admin/ { taskgw_admin; }
--- request eval
["GET /admin/queues", "GET /admin/workers", "GET /admin/dead?queue=default",
 "POST /admin/dead/01a20000-0000-7000-8000-00000000000a/replay",
 "DELETE /admin/dead/01a20000-0000-7000-8000-00000000000a",
 "GET /admin/tokens", "POST /admin/tokens\r\n{\"name\":\"x\",\"role\":\"dev\"}",
 "DELETE /admin/tokens/x", "GET /admin/nope"]
--- error_code eval
[(401) x 9]
--- response_headers eval
[("WWW-Authenticate: Bearer") x 9]
--- response_body_like eval
[(qr/^\{"error":"unauthorized","message":"[^"]+"\}$/) x 9]



=== TEST 2: a dev token is below every endpoint: 403
--- config
    location /admin/ { taskgw_admin; }
--- more_headers
Authorization: Bearer dev-secret-token-1
--- request eval
["GET /admin/queues", "POST /admin/dead/01a20000-0000-7000-8000-00000000000a/replay",
 "GET /admin/tokens"]
--- error_code eval
[403, 403, 403]
--- response_body_like eval
[(qr/^\{"error":"forbidden","message":"[^"]+"\}$/) x 3]



=== TEST 3: an ops token: purges and tokens need admin
--- config
    location /admin/ { taskgw_admin; }
--- more_headers
Authorization: Bearer ops-secret-token-2
--- request eval
["DELETE /admin/dead/01a20000-0000-7000-8000-00000000000a",
 "GET /admin/tokens", "POST /admin/tokens\r\n{\"name\":\"x\",\"role\":\"dev\"}",
 "DELETE /admin/tokens/x"]
--- error_code eval
[403, 403, 403, 403]
--- response_body eval
[(qq({"error":"forbidden","message":"this endpoint needs an admin token"})) x 4]



=== TEST 4: an ops token reads: queues, and a replay of no dead task is 404
--- config
    location /admin/ { taskgw_admin; }
--- more_headers
X-API-Token: ops-secret-token-2
--- request eval
["GET /admin/queues",
 "POST /admin/dead/01a20000-0000-7000-8000-00000000000a/replay",
 "GET /admin/dead?queue=nothing-here"]
--- error_code eval
[200, 404, 200]
--- response_body eval
[qq({"queues":[],"scheduled":0}),
 qq({"error":"not_found","message":"no dead task with this id"}),
 qq({"queue":"nothing-here","dead":[]})]



=== TEST 5: an unknown path is 404 JSON
--- config
    location /admin/ { taskgw_admin; }
--- more_headers
Authorization: Bearer admin-secret-token-3
--- request eval
["GET /admin/", "GET /admin/nope", "GET /admin/queues/extra",
 "GET /admin/dead/x/y", "GET /admin/dead/x/replay/more"]
--- error_code eval
[404, 404, 404, 404, 404]
--- response_body eval
[(qq({"error":"not_found","message":"no such admin endpoint"})) x 5]



=== TEST 6: a known path with another method is 405 with its methods
--- config
    location /admin { taskgw_admin; }
--- more_headers
Authorization: Bearer admin-secret-token-3
--- request eval
["DELETE /admin/queues", "PUT /admin/tokens", "GET /admin/dead/x/replay",
 "POST /admin/tokens/x"]
--- error_code eval
[405, 405, 405, 405]
--- response_headers eval
["Allow: GET", "Allow: GET, POST", "Allow: POST", "Allow: DELETE"]
--- response_body eval
[(qq({"error":"method_not_allowed","message":"this endpoint does not take that method"})) x 4]



=== TEST 7: POST tokens checks its body before anything is stored
--- config
    location /admin/ { taskgw_admin; }
--- more_headers
Authorization: Bearer admin-secret-token-3
--- request eval
["POST /admin/tokens\r\nnope", "POST /admin/tokens\r\n{\"name\":\"x\"}",
 "POST /admin/tokens\r\n{\"name\":\"x\",\"role\":\"boss\"}",
 "POST /admin/tokens\r\n{\"name\":\"x\",\"role\":\"dev\",\"ips\":[\"10.0.0.0/33\"]}",
 "POST /admin/tokens\r\n{\"name\":\"x\",\"role\":\"dev\",\"rate\":\"5r/h\"}",
 "POST /admin/tokens\r\n{\"name\":\"x\",\"role\":\"dev\",\"x\":1}",
 "GET /admin/tokens"]
--- error_code eval
[400, 400, 400, 400, 400, 400, 200]
--- response_body eval
[qq({"error":"invalid_json","message":"the body is not one valid JSON value"}),
 qq({"error":"bad_request","message":"name and role are required"}),
 qq({"error":"bad_request","message":"role must be \\"dev\\", \\"ops\\" or \\"admin\\""}),
 qq({"error":"bad_request","message":"ips must be a comma list of addresses or CIDR ranges"}),
 qq({"error":"bad_request","message":"rate must be Nr/s or Nr/m"}),
 qq({"error":"bad_request","message":"unknown member: the members are name, role, ips, rate and queues"}),
 qq({"tokens":[]})]



=== TEST 8: taskgw_auth admin on the location: an ops token is refused too
--- config
    location /admin/ { taskgw_auth admin; taskgw_admin; }
--- more_headers
Authorization: Bearer ops-secret-token-2
--- request
GET /admin/queues
--- error_code: 403



=== TEST 9: taskgw_admin needs a prefix location
--- config
    location ~ ^/admin/ { taskgw_admin; }
--- must_die
--- error_log eval
qr/"taskgw_admin" needs a prefix location, not "\^\/admin\/" in \S+nginx\.conf:\d+/



=== TEST 10: taskgw_admin takes no parameters
--- config
    location /admin/ { taskgw_admin on; }
--- must_die
--- error_log eval
qr/invalid number of arguments in "taskgw_admin" directive in \S+nginx\.conf:\d+/
