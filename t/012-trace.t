# W3C trace context at the gateway: a request's traceparent is stored
# with its task (field "traceparent"), one that is absent or malformed is
# replaced by a fresh one from the kernel's CSPRNG (never rejected), and
# $taskgw_trace_id is its trace id in the access log.  Each block enqueues
# into its own queue; what Redis holds is checked after the run.
use Test::Nginx::Socket 'no_plan';
use File::Temp qw(tempdir);
use TaskGW::Stack;

my $P = 't012';
my $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});
$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', "$P:*") || [] };

# a second access log, read after the run to tie each logged trace id to
# the task it was stored with
my $dir = tempdir('taskgw-t012-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir;
$ENV{TEST_NGINX_TRACE_LOG} = "$dir/trace.log";

our $Valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

# a task seeded for the status view
$redis->cmd('HSET', "$P:task:01a20000-0000-7000-8000-0000000000a1",
            id => '01a20000-0000-7000-8000-0000000000a1',
            queue => 'default', type => 'x', priority => 'normal',
            status => 'queued', attempts => '0',
            created_at => '1795428000123', traceparent => $Valid);

no_shuffle();
no_long_string();
run_tests();

# The one task of a queue, as stored.
sub task_of {
    my ($q) = @_;
    my $e = $redis->xrange("$P:q:$q:normal");
    return undef unless @$e == 1;
    return $redis->hgetall("$P:task:$e->[0][1]{id}");
}

my $tp_re = qr/^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

my $t = task_of('valid');
is($t->{traceparent}, $Valid, 'a valid traceparent is stored as sent');

$t = task_of('unsampled');
is($t->{traceparent},
   '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00',
   'flags 00 are kept');

# a later version whose first four fields parse is taken, as version 00
# with only the sampled flag kept (W3C: parse what is known, ignore the
# rest, send the version we implement)
$t = task_of('future');
is($t->{traceparent},
   '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
   'version cc with an extra field: taken as 00, sampled kept');
$t = task_of('future55');
is($t->{traceparent},
   '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00',
   'version 01 of 55 characters: taken, unknown flag bits dropped');

# every replaced one must be a fresh, valid traceparent of its own
my %seen;
for my $q (qw(none empty upper zerotrace zeroparent versionff trailing
              short nonhex dashes flags twice futurebad spaces)) {
    $t = task_of($q);
    ok($t, "$q: one task stored");
    my ($trace, $parent, $flags) = ($t->{traceparent} // '') =~ $tp_re;
    ok(defined $trace, "$q: a valid version-00 traceparent stored")
        or diag("$q: got " . ($t->{traceparent} // 'nothing'));
    next unless defined $trace;
    isnt($trace, '0' x 32, "$q: trace id not all zero");
    isnt($parent, '0' x 16, "$q: parent id not all zero");
    isnt($trace, '4bf92f3577b34da6a3ce929d0e0e4736',
         "$q: not the malformed header's trace id");
    is($flags, '01', "$q: generated as sampled");
    ok(!$seen{$trace}++, "$q: a trace id no other request got");
}

# both access logs name the trace id the task was stored with
my %logged;
if (open my $in, '<', "$dir/trace.log") {
    while (<$in>) {
        $logged{$2} = $1 if /^taskgw-trace trace=(\S*) task=(\S+)$/;
    }
    close $in;
} else {
    fail("the second access log was written: $!");
}
# all but the task written by hand above: an id that merely ends in "a1"
# is one of the eighteen (one run in about fifteen has one)
my @tasks = grep { $_ ne '01a20000-0000-7000-8000-0000000000a1' }
            map { s/^\Q$P\E:task://r }
            @{ $redis->cmd('KEYS', "$P:task:*") };
is(scalar @tasks, 18, 'eighteen tasks enqueued');
for my $id (sort @tasks) {
    my $h = $redis->hgetall("$P:task:$id");
    my ($trace) = ($h->{traceparent} // '') =~ $tp_re;
    is($logged{$id}, $trace, "the access log has task $id\'s trace id")
        if defined $trace;
}

__DATA__

=== TEST 1: a valid traceparent is stored with the task and logged
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/valid
{}
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
--- error_code: 202
--- error_log
taskgw-trace trace=4bf92f3577b34da6a3ce929d0e0e4736 task=



=== TEST 2: flags 00 (not sampled) are kept
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/unsampled
{}
--- more_headers
TraceParent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00
--- error_code: 202
--- error_log
taskgw-trace trace=0af7651916cd43dd8448eb211c80319c task=



=== TEST 3: no traceparent: one is made, and its trace id logged
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/none
{}
--- error_code: 202
--- error_log eval
qr/taskgw-trace trace=[0-9a-f]{32} task=[0-9a-f-]{36}$/



=== TEST 4: an empty traceparent is replaced
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/empty
{}
--- more_headers
traceparent:
--- error_code: 202



=== TEST 5: uppercase hex is replaced, not rejected
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/upper
{}
--- more_headers
traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01
--- error_code: 202
--- no_error_log eval
[qr/trace=4bf92f3577b34da6a3ce929d0e0e4736/i, qr/\[(error|alert|crit|emerg)\]/]



=== TEST 6: an all-zero trace id is replaced
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/zerotrace
{}
--- more_headers
traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01
--- error_code: 202
--- no_error_log
trace=00000000000000000000000000000000



=== TEST 7: an all-zero parent id is replaced
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/zeroparent
{}
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01
--- error_code: 202
--- no_error_log
trace=4bf92f3577b34da6a3ce929d0e0e4736



=== TEST 8: version ff is invalid
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/versionff
{}
--- more_headers
traceparent: ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
--- error_code: 202
--- no_error_log
trace=4bf92f3577b34da6a3ce929d0e0e4736



=== TEST 9: version 00 followed by more is invalid
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/trailing
{}
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what
--- error_code: 202
--- no_error_log
trace=4bf92f3577b34da6a3ce929d0e0e4736



=== TEST 10: a trace id one digit short is invalid
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/short
{}
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01
--- error_code: 202
--- no_error_log
trace=4bf92f3577b34da6a3ce929d0e0e473



=== TEST 11: a character that is no hex digit is invalid
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/nonhex
{}
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01
--- error_code: 202
--- no_error_log
trace=4bf92f3577b34da6a3ce929d0e0e473g



=== TEST 12: separators other than dashes are invalid
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/dashes
{}
--- more_headers
traceparent: 00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01
--- error_code: 202
--- no_error_log
trace=4bf92f3577b34da6a3ce929d0e0e4736



=== TEST 13: flags that are no hex are invalid
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/flags
{}
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x
--- error_code: 202
--- no_error_log
trace=4bf92f3577b34da6a3ce929d0e0e4736



=== TEST 14: two traceparent headers: neither is trusted
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/twice
{}
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
--- error_code: 202
--- no_error_log eval
[qr/trace=4bf92f3577b34da6a3ce929d0e0e4736/, qr/trace=0af7651916cd43dd8448eb211c80319c/]



=== TEST 15: a later version whose fields parse is taken
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/future
{}
--- more_headers
traceparent: cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds
--- error_code: 202
--- error_log
taskgw-trace trace=4bf92f3577b34da6a3ce929d0e0e4736 task=



=== TEST 16: a later version of exactly 55 characters is taken
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/future55
{}
--- more_headers
traceparent: 01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe
--- error_code: 202
--- error_log
taskgw-trace trace=4bf92f3577b34da6a3ce929d0e0e4736 task=



=== TEST 17: a later version whose flags run on is invalid
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/futurebad
{}
--- more_headers
traceparent: cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x
--- error_code: 202
--- no_error_log
trace=4bf92f3577b34da6a3ce929d0e0e4736



=== TEST 18: inner spaces are invalid
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        access_log $TEST_NGINX_TRACE_LOG trace;
        taskgw_enqueue queue=$q;
    }
--- request
POST /t/spaces
{}
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736 -00f067aa0ba902b7-01
--- error_code: 202
--- no_error_log
trace=4bf92f3577b34da6a3ce929d0e0e4736



=== TEST 19: a request refused before enqueue still logs a trace id
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
    log_format trace 'taskgw-trace trace=$taskgw_trace_id task=$taskgw_task_id';
--- config
    location ~ ^/t/(?<q>[a-z0-9]+)$ {
        access_log logs/error.log trace;
        taskgw_enqueue queue=$q;
    }
--- request
GET /t/refused
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
--- error_code: 405
--- error_log
taskgw-trace trace=4bf92f3577b34da6a3ce929d0e0e4736 task=-



=== TEST 20: the status view shows the stored traceparent
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t012;
--- config
    location /status/ {
        taskgw_status;
    }
--- request
GET /status/01a20000-0000-7000-8000-0000000000a1
--- error_code: 200
--- response_body_like: ^\{"id":"01a20000-0000-7000-8000-0000000000a1",.*"owner":null,"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","created_at":
