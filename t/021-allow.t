# taskgw_allow: IPv4 and IPv6 ranges and "all", inherited http -> server
# -> location like nginx's allow lists, on $remote_addr (so behind
# realip), checked before the token.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: a client inside an IPv4 range passes
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_allow 10.0.0.0/8;
        taskgw_allow 127.0.0.0/8;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- error_code: 202



=== TEST 2: a client outside every range: 403 forbidden, logged once at warn
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_allow 10.0.0.0/8;
        taskgw_allow 2001:db8::/32;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- error_code: 403
--- response_headers
Content-Type: application/json
!WWW-Authenticate
--- response_body chomp
{"error":"forbidden","message":"this address may not use this location"}
--- error_log
[warn]
taskgw: access denied to token "unknown" from 127.0.0.1: address not in taskgw_allow



=== TEST 3: a single address (no mask)
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /yes {
        taskgw_allow 127.0.0.1;
        taskgw_enqueue;
    }
    location /no {
        taskgw_allow 127.0.0.2;
        taskgw_enqueue;
    }
--- pipelined_requests eval
["POST /yes\nx", "POST /no\nx"]
--- error_code eval
[202, 403]



=== TEST 4: "all" lets everyone in
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_allow 10.0.0.0/8;
        taskgw_allow all;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- error_code: 202



=== TEST 5: the http level list is inherited; a location with its own list replaces it
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_allow 10.0.0.0/8;
--- config
    location /inherits {
        taskgw_enqueue;
    }
    location /own {
        taskgw_allow 127.0.0.0/8;
        taskgw_enqueue;
    }
--- pipelined_requests eval
["POST /inherits\nx", "POST /own\nx"]
--- error_code eval
[403, 202]



=== TEST 6: the allowlist comes before the token: 403, not 401
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /tasks {
        taskgw_allow 192.0.2.0/24;
        taskgw_auth admin;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- error_code: 403
--- response_headers
!WWW-Authenticate



=== TEST 7: IPv6: a client on ::1 inside 0::1/128 passes, outside 2001:db8::/32 does not
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    server {
        listen [::1]:$TEST_NGINX_SERVER_PORT;
        location /in {
            taskgw_allow ::1/128;
            taskgw_enqueue;
        }
        location /out {
            taskgw_allow 2001:db8::/32;
            taskgw_allow 127.0.0.0/8;
            taskgw_enqueue;
        }
    }
--- config
    location /v6/ {
        proxy_pass http://[::1]:$TEST_NGINX_SERVER_PORT/;
    }
--- pipelined_requests eval
["POST /v6/in\nx", "POST /v6/out\nx"]
--- error_code eval
[202, 403]



=== TEST 8: IPv6: the refusal names the IPv6 client
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    server {
        listen [::1]:$TEST_NGINX_SERVER_PORT;
        location /out {
            taskgw_allow 2001:db8::/32;
            taskgw_enqueue;
        }
    }
--- config
    location /v6/ {
        proxy_pass http://[::1]:$TEST_NGINX_SERVER_PORT/;
    }
--- request
POST /v6/out
x
--- error_code: 403
--- error_log
taskgw: access denied to token "unknown" from ::1: address not in taskgw_allow



=== TEST 9: IPv6: an IPv4 range does not admit an IPv6 client, an IPv6 range does
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    server {
        listen [::1]:$TEST_NGINX_SERVER_PORT;
        location /v4only {
            taskgw_allow 0.0.0.0/0;
            taskgw_enqueue;
        }
        location /v6range {
            taskgw_allow ::/0;
            taskgw_enqueue;
        }
    }
--- config
    location /v6/ {
        proxy_pass http://[::1]:$TEST_NGINX_SERVER_PORT/;
    }
--- pipelined_requests eval
["POST /v6/v4only\nx", "POST /v6/v6range\nx"]
--- error_code eval
[403, 202]



=== TEST 10: behind realip: the X-Real-IP address is the one checked
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
    location /tasks {
        taskgw_allow 203.0.113.0/24;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
X-Real-IP: 203.0.113.7
--- error_code: 202



=== TEST 11: behind realip: a forwarded address outside the list is refused
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
    location /tasks {
        taskgw_allow 127.0.0.0/8;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
X-Real-IP: 198.51.100.9
--- error_code: 403
--- error_log
from 198.51.100.9: address not in taskgw_allow



=== TEST 12: behind realip with an IPv6 client address
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
    location /in {
        taskgw_allow 2001:db8::/32;
        taskgw_enqueue;
    }
    location /out {
        taskgw_allow 2001:db9::/32;
        taskgw_enqueue;
    }
--- pipelined_requests eval
["POST /in\nx", "POST /out\nx"]
--- more_headers
X-Real-IP: 2001:db8::42
--- error_code eval
[202, 403]



=== TEST 13: an IPv4-mapped IPv6 address is matched as the IPv4 address it is
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
    location /in {
        taskgw_allow 192.0.2.0/24;
        taskgw_enqueue;
    }
    location /out {
        taskgw_allow 198.51.100.0/24;
        taskgw_enqueue;
    }
--- pipelined_requests eval
["POST /in\nx", "POST /out\nx"]
--- more_headers
X-Real-IP: ::ffff:192.0.2.10
--- error_code eval
[202, 403]



=== TEST 14: a bad range fails nginx -t with the line
--- config
    location /tasks {
        taskgw_allow 10.0.0.0/33;
        taskgw_enqueue;
    }
--- must_die
--- error_log eval
qr/invalid address or range "10.0.0.0\/33" \(an IPv4 or IPv6 address, a CIDR range, or "all"\) in \S+nginx\.conf:\d+/



=== TEST 15: a token's ips= is checked on the realip address too
--- user_files
>>> tokens
fwd  dev  sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac  ips=203.0.113.0/24
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
X-Real-IP: 203.0.113.200
X-API-Token: dev-secret-token-1
--- error_code: 202



=== TEST 16: a range written IPv4-mapped is the IPv4 range it denotes
Found by the cidr fuzz target: ::ffff:127.0.0.1 used to match no client
at all (an IPv4 client was compared with IPv4 ranges only).  ::/0 is all
of IPv6, not the IPv4 clients of a dual-stack listener.
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /one {
        taskgw_allow ::ffff:127.0.0.1;
        taskgw_enqueue;
    }
    location /range {
        taskgw_allow ::ffff:127.0.0.0/104;
        taskgw_enqueue;
    }
    location /other {
        taskgw_allow ::ffff:10.0.0.0/104;
        taskgw_enqueue;
    }
    location /all6 {
        taskgw_allow ::/0;
        taskgw_enqueue;
    }
--- pipelined_requests eval
["POST /one\nx", "POST /range\nx", "POST /other\nx", "POST /all6\nx"]
--- error_code eval
[202, 202, 403, 403]



=== TEST 17: a token's ips= written IPv4-mapped matches the IPv4 client
--- user_files
>>> tokens
mapped  dev  sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac  ips=::ffff:127.0.0.1
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
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
