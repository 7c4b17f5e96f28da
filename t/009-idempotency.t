# Idempotency-Key: the first request with a key stores a task (202), the
# same key and body again is a 200 replay of that task (same JSON, with
# Idempotent-Replayed: true) and stores nothing; another body is 422
# idempotency_conflict; a bad key is 400.  The record is
# {prefix}:idem:<owner>:<sha256 hex of the key> = "<task id> <sha256 hex
# of the body>" for 24 hours.  An enqueue that failed leaves no record,
# so a retry with the same key stores the task.
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256_hex);
use TaskGW::Stack;

my $P = 't009';
our $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});
$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', "$P:*") || [] };

our $Long = 'k' x 255;
our $TooLong = 'k' x 256;
our $Big = join '', map { chr(($_ * 7) % 256) } 1 .. 100_000;
our $Big2 = substr($Big, 0, -1) . 'z';

no_shuffle();
no_long_string();
run_tests();

sub tasks_of_queue {
    my ($q) = @_;
    return grep { $_->{queue} eq $q }
           map { $redis->hgetall($_) } @{ $redis->cmd('KEYS', "$P:task:*") };
}

# one task for key-1, recorded with its body's digest, for 24 h
my @t = tasks_of_queue('idem');
is(scalar @t, 1, 'key-1: one task for three requests');
my $rec = $redis->cmd('GET', "$P:idem::" . sha256_hex('key-1'));
is($rec, "$t[0]{id} " . sha256_hex('first'),
   'the record: "<task id> <sha256 of the body>", empty owner without a token');
my $ttl = $redis->cmd('PTTL', "$P:idem::" . sha256_hex('key-1'));
ok($ttl > 86_390_000 && $ttl <= 86_400_000, "the record expires in 24 h ($ttl ms)");
is($redis->cmd('XLEN', "$P:q:idem:normal"), 1, 'one stream entry');

is(scalar(tasks_of_queue('bad')), 0, 'bad keys stored nothing');

my @d = tasks_of_queue('later');
is(scalar @d, 1, 'a delayed task replayed: one task');
is($redis->cmd('ZCARD', "$P:scheduled"), 1, 'one schedule entry');

my @b = tasks_of_queue('broken');
is(scalar @b, 1, 'a failed enqueue left no record: the retry stored one task');
is($redis->cmd('GET', "$P:idem::" . sha256_hex('retry-me')),
   ($b[0]{id} // '') . ' ' . sha256_hex('r'), 'and its record');

is(scalar(tasks_of_queue('long')), 1, 'a key of 255 characters works');

my @f = tasks_of_queue('file');
is(scalar @f, 1, 'bodies nginx buffered to a temp file: one task');
is($redis->cmd('GET', "$P:idem::" . sha256_hex('file-1')),
   ($f[0]{id} // '') . ' ' . sha256_hex($::Big), 'its digest is the whole body\'s');

__DATA__

=== TEST 1: the first request with a key stores the task
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_enqueue queue=idem type=report;
    }
    location /status/ {
        taskgw_status;
    }
--- request
POST /tasks
first
--- more_headers
Idempotency-Key: key-1
--- error_code: 202
--- response_headers
!Idempotent-Replayed
--- response_body_like: ^\{"id":"[0-9a-f-]{36}","status":"queued","queue":"idem","type":"report","priority":"normal"\}$



=== TEST 2: the same key and body again: 200, a replay of that task
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_enqueue queue=idem type=report;
    }
    location /status/ {
        taskgw_status;
    }
--- request
POST /tasks
first
--- more_headers
Idempotency-Key: key-1
--- error_code: 200
--- response_headers_like
Idempotent-Replayed: ^true$
Content-Type: ^application/json$
Location: ^/status/[0-9a-f-]{36}$
--- response_body_like: ^\{"id":"[0-9a-f-]{36}","status":"queued","queue":"idem","type":"report","priority":"normal"\}$



=== TEST 3: the replay is the first task's JSON, whatever the location says now
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_enqueue queue=other type=x priority=low;
    }
--- request
POST /tasks
first
--- more_headers
Idempotency-Key: key-1
--- error_code: 200
--- response_body_like: ^\{"id":"[0-9a-f-]{36}","status":"queued","queue":"idem","type":"report","priority":"normal"\}$



=== TEST 4: the same key with another body is 422 idempotency_conflict
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_enqueue queue=idem type=report;
    }
--- request
POST /tasks
second
--- more_headers
Idempotency-Key: key-1
--- error_code: 422
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"idempotency_conflict","message":"this Idempotency-Key was used with another body"}



=== TEST 5: bad keys are 400 and store nothing
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_enqueue queue=bad;
    }
--- request eval
["POST /tasks\r\na", "POST /tasks\r\nb", "POST /tasks\r\nc", "POST /tasks\r\nd", "POST /tasks\r\ne"]
--- more_headers eval
["Idempotency-Key: $::TooLong", "Idempotency-Key: a b", "Idempotency-Key: caf\xc3\xa9", "Idempotency-Key: a\nIdempotency-Key: b", "Idempotency-Key: \x01x"]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body eval
[(qq({"error":"bad_request","message":"Idempotency-Key must be 1-255 visible ASCII characters, given once"})) x 5]



=== TEST 6: a key of 255 characters is fine
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_enqueue queue=long;
    }
--- request eval
["POST /tasks\r\nl", "POST /tasks\r\nl"]
--- more_headers eval
["Idempotency-Key: $::Long", "Idempotency-Key: $::Long"]
--- error_code eval
[202, 200]



=== TEST 7: a delayed task is replayed as scheduled
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_enqueue queue=later;
    }
--- request eval
["POST /tasks\r\nd", "POST /tasks\r\nd"]
--- more_headers eval
["Idempotency-Key: later-1\nX-Task-Delay: 600", "Idempotency-Key: later-1\nX-Task-Delay: 600"]
--- error_code eval
[202, 200]
--- response_body_like eval
['^\{"id":"[0-9a-f-]{36}","status":"scheduled","queue":"later","type":"later","priority":"normal"\}$',
 '^\{"id":"[0-9a-f-]{36}","status":"scheduled","queue":"later","type":"later","priority":"normal"\}$']



=== TEST 8: an enqueue Redis refused (its stream is no stream) is 503 and leaves no record
--- init
$::redis->cmd('SET', 't009:q:broken:normal', 'not a stream');
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_enqueue queue=broken;
    }
--- request
POST /tasks
r
--- more_headers
Idempotency-Key: retry-me
--- error_code: 503
--- response_body chomp
{"error":"unavailable","message":"task store is unavailable"}
--- error_log
taskgw: redis refused task



=== TEST 9: so the retry with the same key stores the task
--- init
die "a record was left behind\n"
    if $::redis->cmd('EXISTS', 't009:idem::' . Digest::SHA::sha256_hex('retry-me'));
die "a task hash was left behind\n"
    if grep { ($::redis->hgetall($_)->{queue} // '') eq 'broken' }
            @{ $::redis->cmd('KEYS', 't009:task:*') };
$::redis->cmd('DEL', 't009:q:broken:normal');
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        taskgw_enqueue queue=broken;
    }
--- request
POST /tasks
r
--- more_headers
Idempotency-Key: retry-me
--- error_code: 202



=== TEST 10: a body in a temp file: hashed from the file, replayed, and a change is a conflict
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t009;
--- config
    location /tasks {
        client_body_buffer_size 1k;
        client_max_body_size 1m;
        taskgw_enqueue queue=file;
    }
--- request eval
["POST /tasks\r\n$::Big", "POST /tasks\r\n$::Big", "POST /tasks\r\n$::Big2"]
--- more_headers eval
["Idempotency-Key: file-1", "Idempotency-Key: file-1", "Idempotency-Key: file-1"]
--- error_code eval
[202, 200, 422]
--- error_log
a client request body is buffered to a temporary file
