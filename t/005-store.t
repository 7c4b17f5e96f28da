# What an accepted task is in Redis: the task hash and the stream entry
# hold exactly what was sent, binary bodies and spooled bodies included.
use Test::Nginx::Socket 'no_plan';
use TaskGW::Stack;

my $P = 't005';
my $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});
$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', "$P:*") || [] };

our $Binary = join '', map { chr } 0 .. 255, 0 .. 255;
our $Big = join '', map { chr(($_ * 7) % 256) } 1 .. 100_000;

my $start = time;

no_shuffle();
no_long_string();
run_tests();

# Each stream holds exactly the tasks enqueued above, in order.
sub entries {
    my ($q, $prio) = @_;
    return $redis->xrange("$P:q:$q:$prio");
}

my $bin = entries('bin', 'normal');
is(scalar @$bin, 1, 'one entry for the binary task');
my $t = $redis->hgetall("$P:task:$bin->[0][1]{id}");
is($t->{payload}, $Binary, 'binary payload stored byte-exact');
is($t->{content_type}, 'application/octet-stream', 'content_type stored');
is($t->{status}, 'queued', 'status queued');
is($t->{queue}, 'bin', 'queue stored');
is($t->{type}, 'blob', 'type stored');
is($t->{priority}, 'normal', 'priority stored');
is($t->{attempts}, '0', 'attempts 0');
is($t->{client_addr}, '127.0.0.1', 'client address stored');
like($t->{request_id}, qr/^[0-9a-f]{32}$/, 'nginx request id stored');
ok($t->{created_at} >= ($start - 5) * 1000
   && $t->{created_at} <= (time + 5) * 1000, 'created_at in unix ms');
is($t->{id}, $bin->[0][1]{id}, 'hash id matches the stream entry');

my $big = entries('big', 'normal');
is(scalar @$big, 1, 'one entry for the spooled task');
$t = $redis->hgetall("$P:task:$big->[0][1]{id}");
is(length $t->{payload}, length $Big, 'spooled payload length');
ok($t->{payload} eq $Big, 'spooled payload stored byte-exact');
ok(!exists $t->{content_type}, 'sent without Content-Type: no empty '
                               . 'content_type field');
ok(!exists $t->{owner}, 'no token: no empty owner field');

my $high = entries('prio', 'high');
my $low = entries('prio', 'low');
is(scalar @$high, 1, 'high-priority task in the :high stream');
is(scalar @$low, 1, 'low-priority task in the :low stream');
is($redis->hgetall("$P:task:$high->[0][1]{id}")->{priority}, 'high',
   'priority field matches its stream');

is(scalar @{ entries('rejected', 'normal') }, 0,
   'rejected requests stored nothing');
my $chunked = entries('chunked', 'normal');
is(scalar @$chunked, 1, 'one entry for the chunked task');
is($redis->hgetall("$P:task:$chunked->[0][1]{id}")->{payload},
   'hello, chunked world', 'chunked payload stored whole');

# created_at is read from the same clock as the id's time, in the same
# turn: the millisecond the UUIDv7 carries, for tasks taken one after
# another by one worker (the clock's text is kept from one to the next).
my $clock = entries('clock', 'normal');
is(scalar @$clock, 40, 'forty tasks taken in a row');
my $same = grep {
    (my $ms = $_->[1]{id}) =~ s/-//g;
    $redis->hgetall("$P:task:$_->[1]{id}")->{created_at}
        eq hex(substr $ms, 0, 12)
} @$clock;
is($same, 40, "each task's created_at is its id's millisecond");

is(scalar(grep { /^$P:task:/ } @{ $redis->cmd('KEYS', "$P:*") }), 45,
   'exactly forty-five task hashes');

__DATA__

=== TEST 1: a binary body (every byte value, NULs included)
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t005;
--- config
    location /tasks {
        taskgw_enqueue queue=bin type=blob;
    }
--- request eval
"POST /tasks\r\n$::Binary"
--- more_headers
Content-Type: application/octet-stream
--- error_code: 202



=== TEST 2: a body nginx spools to a temp file
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t005;
--- config
    location /tasks {
        client_body_buffer_size 4k;
        taskgw_enqueue queue=big;
    }
--- request eval
"POST /tasks\r\n$::Big"
--- error_code: 202
--- error_log
buffered to a temporary file



=== TEST 3: a high-priority task goes to the :high stream
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t005;
--- config
    location /tasks {
        taskgw_enqueue queue=prio;
    }
--- request
POST /tasks
a
--- more_headers
X-Task-Priority: high
--- error_code: 202



=== TEST 4: a low-priority task goes to the :low stream
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t005;
--- config
    location /tasks {
        taskgw_enqueue queue=prio;
    }
--- request
POST /tasks
b
--- more_headers
X-Task-Priority: low
--- error_code: 202



=== TEST 5: rejected requests store nothing
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t005;
--- config
    location /tasks {
        client_max_body_size 5;
        taskgw_validate_json on;
        taskgw_enqueue queue=rejected;
    }
--- request eval
["POST /tasks\r\n{bad", "POST /tasks\r\n[1,2,3,4,5,6]", "GET /tasks"]
--- error_code eval
[400, 413, 405]



=== TEST 6: a chunked body, in several chunks, is stored whole
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t005;
--- config
    location /tasks {
        taskgw_enqueue queue=chunked;
    }
--- raw_request eval
"POST /tasks HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
6\r
hello,\r
e\r
 chunked world\r
0\r
\r
"
--- error_code: 202
--- response_body_like: "queue":"chunked"



=== TEST 7: tasks taken one after another, in the same worker
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t005;
--- config
    location /tasks {
        taskgw_enqueue queue=clock;
    }
--- pipelined_requests eval
[map { "POST /tasks\n$_" } 1 .. 40]
--- error_code eval
[(202) x 40]
