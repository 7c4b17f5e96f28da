# When Redis is down or silent, every request ends with 503 and the JSON
# error, within taskgw_redis_timeout, and nothing else in nginx waits.
use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET;
use TaskGW::Stack;

# A port where nothing listens, and one where a socket accepts
# connections (the kernel completes them) but never reads or answers.
my $dead = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Listen => 1, ReuseAddr => 1)
    or die "listen: $!";
$ENV{TEST_NGINX_DEAD_PORT} = $dead->sockport;
close $dead;

our $Silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                    LocalPort => 0, Listen => 128,
                                    ReuseAddr => 1)
    or die "listen: $!";
$ENV{TEST_NGINX_SILENT_PORT} = $Silent->sockport;

# A fake Redis that completes the connection setup (answers SCRIPT LOAD
# and PING), then drops the connection as soon as a request's command (the
# enqueue's MULTI, or its EVALSHA) arrives.
our $Dropper = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => 0, Listen => 128,
                                     ReuseAddr => 1)
    or die "listen: $!";
$ENV{TEST_NGINX_DROP_PORT} = $Dropper->sockport;

my $parent = $$;
my $dropper_pid = fork() // die "fork: $!";
if ($dropper_pid == 0) {
    local $SIG{ALRM} = sub { exit 0 };
    alarm 120;
    while (my $c = $Dropper->accept) {
        my $buf = '';
        while (sysread($c, my $chunk, 4096)) {
            $buf .= $chunk;
            if ($buf =~ /MULTI|EVALSHA/) {
                last;
            }
            # the link's setup: SCRIPT LOAD (any digest will do), PING
            while (1) {
                if ($buf =~ s/^\*1\r\n\$4\r\nPING\r\n//) {
                    syswrite($c, "+PONG\r\n");
                } elsif ($buf =~ /^\*3\r\n\$6\r\nSCRIPT\r\n\$4\r\nLOAD\r\n\$(\d+)\r\n/
                         && length($buf) >= $+[0] + $1 + 2) {
                    substr($buf, 0, $+[0] + $1 + 2) = '';
                    syswrite($c, '$40' . "\r\n" . ('0' x 40) . "\r\n");
                } else {
                    last;
                }
            }
        }
        close $c;
    }
    exit 0;
}
close $Dropper;
END { kill 'KILL', $dropper_pid if $dropper_pid && $$ == $parent }

my $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});
$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', 't003:*') || [] };

no_shuffle();
no_long_string();
run_tests();

is(scalar @{ $redis->cmd('KEYS', 't003:*') }, 0,
   'nothing was stored through a connection whose setup failed');

__DATA__

=== TEST 1: Redis down: enqueue is 503 unavailable with Retry-After
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_DEAD_PORT;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- error_code: 503
--- response_headers
Retry-After: 1
Content-Type: application/json
--- response_body chomp
{"error":"unavailable","message":"task store is unavailable"}
--- error_log
taskgw: redis 127.0.0.1:



=== TEST 2: Redis down: status is 503 too
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_DEAD_PORT;
--- config
    location /status/ {
        taskgw_status;
    }
--- request
GET /status/01a20000-0000-7000-8000-00000000000a
--- error_code: 503
--- response_headers
Retry-After: 1
--- response_body_like: ^\{"error":"unavailable",



=== TEST 3: Redis accepts but never answers: 503 after taskgw_redis_timeout
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_SILENT_PORT;
    taskgw_redis_timeout 300ms;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- error_code: 503
--- response_body chomp
{"error":"unavailable","message":"task store is unavailable"}
--- error_log
did not answer within 300 ms
--- timeout: 5



=== TEST 4: a silent Redis does not hold up the next requests' answers
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_SILENT_PORT;
    taskgw_redis_timeout 200ms;
--- config
    location /tasks {
        taskgw_enqueue;
    }
    location /ping {
        return 200 "pong\n";
    }
--- request eval
["POST /tasks\r\nx", "GET /ping", "POST /tasks\r\ny", "GET /ping"]
--- error_code eval
[503, 200, 503, 200]
--- response_body eval
[qq({"error":"unavailable","message":"task store is unavailable"}), "pong\n",
 qq({"error":"unavailable","message":"task store is unavailable"}), "pong\n"]
--- timeout: 5



=== TEST 5: a unix socket path that does not exist is 503, not a crash
--- http_config
    taskgw_redis unix:/nonexistent/taskgw-redis.sock;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- error_code: 503
--- response_body_like: "error":"unavailable"
--- no_error_log
[alert]
[crit]



=== TEST 6: Redis drops the connection in the middle of a request: 503
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_DROP_PORT;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- error_code: 503
--- response_body chomp
{"error":"unavailable","message":"task store is unavailable"}
--- wait: 0.3
--- error_log
link lost: Server closed the connection
--- no_error_log
[alert]
[crit]



=== TEST 7: a failing SELECT makes the connection unusable: 503, nothing stored
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=99;
    taskgw_prefix t003;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- error_code: 503
--- response_body_like: "error":"unavailable"
--- error_log
SELECT failed: ERR DB index is out of range



=== TEST 8: a failing AUTH makes the connection unusable: 503, nothing stored
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=wrong;
    taskgw_prefix t003;
--- config
    location /tasks {
        taskgw_enqueue;
    }
--- request
POST /tasks
x
--- error_code: 503
--- response_body_like: "error":"unavailable"
--- error_log
AUTH failed
--- no_error_log
wrong
