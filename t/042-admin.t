# taskgw_admin: one route table; unknown paths 404, known paths with
# another method 405 with Allow, and no endpoint answers without a token.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: every endpoint needs a token: 401 with WWW-Authenticate
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /admin/ { taskgw_admin; }
--- request eval
["GET /admin/queues", "GET /admin/workers", "GET /admin/dead?queue=default",
 "POST /admin/dead/01a20000-0000-7000-8000-00000000000a/replay",
 "DELETE /admin/dead/01a20000-0000-7000-8000-00000000000a",
 "GET /admin/tokens", "POST /admin/tokens\r\n{\"name\":\"x\",\"role\":\"dev\"}",
 "DELETE /admin/tokens/x"]
--- error_code eval
[401, 401, 401, 401, 401, 401, 401, 401]
--- response_headers eval
[("WWW-Authenticate: Bearer") x 8]
--- response_body eval
[(qq({"error":"unauthorized","message":"a valid token is required"})) x 8]



=== TEST 2: an unknown path is 404 JSON
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /admin/ { taskgw_admin; }
--- request eval
["GET /admin/", "GET /admin/nope", "GET /admin/queues/extra",
 "GET /admin/dead/x/y", "GET /admin/dead/x/replay/more"]
--- error_code eval
[404, 404, 404, 404, 404]
--- response_body eval
[(qq({"error":"not_found","message":"no such admin endpoint"})) x 5]



=== TEST 3: a known path with another method is 405 with its methods
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /admin { taskgw_admin; }
--- request eval
["DELETE /admin/queues", "PUT /admin/tokens", "GET /admin/dead/x/replay",
 "POST /admin/tokens/x"]
--- error_code eval
[405, 405, 405, 405]
--- response_headers eval
["Allow: GET", "Allow: GET, POST", "Allow: POST", "Allow: DELETE"]
--- response_body eval
[(qq({"error":"method_not_allowed","message":"this endpoint does not take that method"})) x 4]



=== TEST 4: taskgw_admin needs a prefix location
--- config
    location ~ ^/admin/ { taskgw_admin; }
--- must_die
--- error_log eval
qr/"taskgw_admin" needs a prefix location, not "\^\/admin\/" in \S+nginx\.conf:\d+/



=== TEST 5: taskgw_admin takes no parameters
--- config
    location /admin/ { taskgw_admin on; }
--- must_die
--- error_log eval
qr/invalid number of arguments in "taskgw_admin" directive in \S+nginx\.conf:\d+/
