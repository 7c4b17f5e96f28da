# Delayed tasks: X-Task-Delay / X-Task-Run-At make a task "scheduled" in
# {prefix}:scheduled (no stream entry) until then; bad values and times
# beyond taskgw_max_delay are 400 and store nothing.
use Test::Nginx::Socket 'no_plan';
use TaskGW::Stack;

my $P = 't007';
my $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});
$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', "$P:*") || [] };

our $RunAt = time + 3600;
our $Past = time - 60;
my $start_ms = time * 1000;

no_shuffle();
no_long_string();
run_tests();

my $end_ms = (time + 1) * 1000;

sub task_of_queue {
    my ($q) = @_;
    for my $k (@{ $redis->cmd('KEYS', "$P:task:*") }) {
        my $h = $redis->hgetall($k);
        return $h if $h->{queue} eq $q;
    }
    return {};
}

my $d = task_of_queue('delay');
is($d->{status}, 'scheduled', 'delayed task: status scheduled');
ok($d->{run_at} >= $start_ms + 120_000 && $d->{run_at} <= $end_ms + 120_000,
   'delayed task: run_at = now + 120 s');
is($redis->cmd('ZSCORE', "$P:scheduled", $d->{id}), $d->{run_at},
   'delayed task: in the schedule at run_at');
is($redis->cmd('EXISTS', "$P:q:delay:normal"), 0,
   'delayed task: no stream entry yet');

my $a = task_of_queue('runat');
is($a->{run_at}, $RunAt * 1000, 'X-Task-Run-At: run_at in ms');
is($redis->cmd('ZSCORE', "$P:scheduled", $a->{id}), $RunAt * 1000,
   'X-Task-Run-At: scheduled at that time');

my $n = task_of_queue('now');
is($n->{status}, 'queued', 'a past time or delay 0 queues at once');
is($redis->cmd('XLEN', "$P:q:now:normal"), 2, 'both are in the stream');
ok(!defined $n->{run_at} || $n->{run_at} eq '', 'no run_at when queued');

is(scalar keys %{ task_of_queue('bad') }, 0, 'rejected requests stored nothing');
is($redis->cmd('ZCARD', "$P:scheduled"), 2, 'two tasks scheduled in all');

__DATA__

=== TEST 1: X-Task-Delay schedules the task
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t007;
--- config
    location /tasks {
        taskgw_enqueue queue=delay;
    }
    location /status/ {
        taskgw_status;
    }
--- request
POST /tasks
x
--- more_headers
X-Task-Delay: 120
--- error_code: 202
--- response_body_like: ^\{"id":"[0-9a-f-]{36}","status":"scheduled","queue":"delay","type":"delay","priority":"normal"\}$



=== TEST 2: X-Task-Run-At schedules the task at that unix time
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t007;
--- config
    location /tasks {
        taskgw_enqueue queue=runat;
    }
--- request
POST /tasks
x
--- more_headers eval
"X-Task-Run-At: $::RunAt"
--- error_code: 202
--- response_body_like: "status":"scheduled"



=== TEST 3: a delay of 0 and a time in the past queue at once
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t007;
--- config
    location /tasks {
        taskgw_enqueue queue=now;
    }
--- request eval
["POST /tasks\r\na", "POST /tasks\r\nb"]
--- more_headers eval
["X-Task-Delay: 0", "X-Task-Run-At: $::Past"]
--- error_code eval
[202, 202]
--- response_body_like eval
['"status":"queued"', '"status":"queued"']



=== TEST 4: bad values are 400 and store nothing
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t007;
--- config
    location /tasks {
        taskgw_enqueue queue=bad;
    }
--- request eval
["POST /tasks\r\na", "POST /tasks\r\nb", "POST /tasks\r\nc", "POST /tasks\r\nd", "POST /tasks\r\ne"]
--- more_headers eval
["X-Task-Delay: soon", "X-Task-Delay: -5", "X-Task-Delay: 1.5", "X-Task-Run-At: tomorrow", "X-Task-Delay: 5\nX-Task-Run-At: 1900000000"]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body eval
[qq({"error":"bad_request","message":"X-Task-Delay must be a whole number of seconds"}),
 qq({"error":"bad_request","message":"X-Task-Delay must be a whole number of seconds"}),
 qq({"error":"bad_request","message":"X-Task-Delay must be a whole number of seconds"}),
 qq({"error":"bad_request","message":"X-Task-Run-At must be a time in unix seconds"}),
 qq({"error":"bad_request","message":"give X-Task-Delay or X-Task-Run-At, not both"})]



=== TEST 5: beyond taskgw_max_delay is 400
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t007;
--- config
    location /tasks {
        taskgw_max_delay 1h;
        taskgw_enqueue queue=bad;
    }
--- request eval
["POST /tasks\r\na", "POST /tasks\r\nb", "POST /tasks\r\nc"]
--- more_headers eval
["X-Task-Delay: 3601", "X-Task-Run-At: 99999999999", "X-Task-Delay: 99999999999999999999999"]
--- error_code eval
[400, 400, 400]
--- response_body_like eval
['beyond taskgw_max_delay', 'beyond taskgw_max_delay', 'X-Task-Delay must be a whole number']



=== TEST 6: the default limit is 7 days
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t007;
--- config
    location /tasks {
        taskgw_enqueue queue=bad;
    }
--- request
POST /tasks
x
--- more_headers
X-Task-Delay: 604801
--- error_code: 400
--- response_body_like: beyond taskgw_max_delay



=== TEST 7: at the largest taskgw_max_delay, values near 64 bits are 400, not a wrapped run_at
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t007;
--- config
    location /tasks {
        taskgw_max_delay 3650d;
        taskgw_enqueue queue=bad;
    }
--- request eval
["POST /tasks\r\na", "POST /tasks\r\nb", "POST /tasks\r\nc", "POST /tasks\r\nd"]
--- more_headers eval
["X-Task-Delay: 9223372036854775807", "X-Task-Run-At: 9223372036854775807", "X-Task-Delay: 9300000000000000", "X-Task-Run-At: 9300000000000000"]
--- error_code eval
[400, 400, 400, 400]
--- response_body_like eval
['beyond taskgw_max_delay', 'beyond taskgw_max_delay', 'beyond taskgw_max_delay', 'beyond taskgw_max_delay']
