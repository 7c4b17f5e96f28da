# taskgw_tokens: nginx -t refuses a bad token file, naming the file, the
# line and the reason (and the taskgw_tokens line of nginx.conf).
use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an unknown role
--- user_files
>>> tokens
ok dev sha256:662461e117180c204a5c6ca29969f9f7c44abe0bc15190f75860067e0cd2b3da

bob boss sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:3: unknown role \(dev, ops or admin\): "boss" in \S+nginx\.conf:\d+}


=== TEST 2: a digest that is too short
--- user_files
>>> tokens
bob dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:1: malformed digest \(sha256: and 64 hex digits\): "sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3" in \S+nginx\.conf:\d+}


=== TEST 3: a digest that is not hex
--- user_files
>>> tokens
bob dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ag
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:1: malformed digest \(sha256: and 64 hex digits\): "sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ag" in \S+nginx\.conf:\d+}


=== TEST 4: a digest without its algorithm
--- user_files
>>> tokens
bob dev 9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:1: malformed digest .* in \S+nginx\.conf:\d+}


=== TEST 5: an md5 digest
--- user_files
>>> tokens
bob dev md5:0123456789abcdef0123456789abcdef
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:1: malformed digest .* in \S+nginx\.conf:\d+}


=== TEST 6: a bad CIDR in ips=
--- user_files
>>> tokens
# comment line
bob dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac ips=10.0.0.0/8,300.1.2.3/8
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:2: invalid address or CIDR range: "300.1.2.3/8" in \S+nginx\.conf:\d+}


=== TEST 7: an empty range in ips=
--- user_files
>>> tokens
bob dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac ips=10.0.0.0/8,
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:1: invalid address or CIDR range: "" in \S+nginx\.conf:\d+}


=== TEST 8: a bad rate
--- user_files
>>> tokens
bob dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac rate=50r/h
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:1: invalid rate \(Nr/s or Nr/m, N at least 1\): "rate=50r/h" in \S+nginx\.conf:\d+}


=== TEST 9: a zero rate
--- user_files
>>> tokens
bob dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac rate=0r/s
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:1: invalid rate .*: "rate=0r/s" in \S+nginx\.conf:\d+}


=== TEST 10: a bad queue name
--- user_files
>>> tokens
bob dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac queues=a,b/c
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:1: invalid queue name: "b/c" in \S+nginx\.conf:\d+}


=== TEST 11: a duplicate name
--- user_files
>>> tokens
bob dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac
bob ops sha256:662461e117180c204a5c6ca29969f9f7c44abe0bc15190f75860067e0cd2b3da
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:2: duplicate token name: "bob" in \S+nginx\.conf:\d+}


=== TEST 12: a duplicate digest
--- user_files
>>> tokens
bob dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac
alice ops sha256:9CF288D5F34FE05EA6E70BC7401039BB465A79C2565EACA578026BFC55EBD3AC
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:2: duplicate digest \(two names for one token\): "sha256:9CF288D5F34FE05EA6E70BC7401039BB465A79C2565EACA578026BFC55EBD3AC" in \S+nginx\.conf:\d+}


=== TEST 13: a bad name
--- user_files
>>> tokens
bob@home dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:1: invalid token name \(1-64 characters of A-Z a-z 0-9 \. _ -\): "bob\@home" in \S+nginx\.conf:\d+}


=== TEST 14: a name that is too long
--- user_files
>>> tokens
nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:1: invalid token name .* in \S+nginx\.conf:\d+}


=== TEST 15: an unknown option
--- user_files
>>> tokens
bob dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac color=blue
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:1: unknown option \(ips=, rate=, queues= or disabled\): "color=blue" in \S+nginx\.conf:\d+}


=== TEST 16: a repeated option
--- user_files
>>> tokens
bob dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac rate=1r/s rate=2r/s
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:1: duplicate option: "rate=2r/s" in \S+nginx\.conf:\d+}


=== TEST 17: a line with two fields
--- user_files
>>> tokens
bob dev
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{html/tokens:1: expected "name role sha256:digest \[options\]" in \S+nginx\.conf:\d+}


=== TEST 18: a token file that does not exist
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/no-such-file;
--- config
--- must_die
--- error_log eval
qr{open\(\) "\S+/html/no-such-file" failed .* in \S+nginx\.conf:\d+}



=== TEST 19: taskgw_tokens twice
--- user_files
>>> tokens
bob dev sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac
--- http_config
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
--- must_die
--- error_log eval
qr{"taskgw_tokens" directive is duplicate in \S+nginx\.conf:\d+}



=== TEST 20: an unknown role in taskgw_auth
--- config
    location /tasks {
        taskgw_auth root;
        taskgw_enqueue;
    }
--- must_die
--- error_log eval
qr{invalid role "root", it must be "off", "dev", "ops" or "admin" in \S+nginx\.conf:\d+}



=== TEST 21: a zero taskgw_tokens_cache_ttl
--- http_config
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl 0;
--- config
--- must_die
--- error_log eval
qr{"taskgw_tokens_cache_ttl" must be more than 0}



=== TEST 22: comments, blank lines, tabs and CRLF line ends are fine
--- user_files
>>> tokens
# a comment

bob	dev	sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac	ips=127.0.0.1,::1 rate=10r/m queues=a  # trailing comment
alice ops sha256:662461e117180c204a5c6ca29969f9f7c44abe0bc15190f75860067e0cd2b3da
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
--- config
    location /tasks {
        taskgw_auth ops;
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- more_headers
X-API-Token: ops-secret-token-2
--- error_code: 202
