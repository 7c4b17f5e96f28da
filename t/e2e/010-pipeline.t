#!/usr/bin/perl
# The whole pipeline (docs/directives.md, docs/worker-config.md): tasks accepted by nginx while no worker
# runs are processed once one starts (the group starts at id 0); built-in
# and exec handlers produce the results GET status shows; failures end in
# the dead-letter queue; a task past its timeout is killed; binary bodies
# round-trip; finished entries leave the streams.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use MIME::Base64 qw(decode_base64);
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for json_decode);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $SLEEP_ARG = '37.25';            # unique argv to find the child by

# A handler script printing JSON about what it was given.
my $script = $s->dir . '/report.sh';
open my $fh, '>', $script or die;
print $fh <<'EOS';
#!/bin/sh
body=$(cat)
printf '{"task":"%s","type":"%s","queue":"%s","attempt":"%s","stdin":"%s"}\n' \
    "$TASKGW_TASK_ID" "$TASKGW_TASK_TYPE" "$TASKGW_QUEUE" "$TASKGW_ATTEMPT" \
    "$body"
EOS
close $fh;
chmod 0755, $script;

$s->start_redis;
$s->start_nginx(config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 1m;
        location /ping    { taskgw_enqueue queue=default type=system.ping; }
        location /echo    { taskgw_enqueue queue=default type=echo; }
        location /report  { taskgw_enqueue queue=default type=report; }
        location /broken  { taskgw_enqueue queue=default type=broken; }
        location /slow    { taskgw_enqueue queue=default type=slow; }
        location /status/ { taskgw_status; }
    }
EOC

sub enqueue {
    my ($path, $body, $ct) = @_;
    my $res = $s->http(POST => $path, body => $body,
                       headers => [ 'Content-Type' =>
                                    $ct // 'application/octet-stream' ]);
    is($res->{status}, 202, "POST $path: 202") or diag explain $res;
    return $res->{json} ? $res->{json}{id} : undef;
}

sub task { my $g = $s->http(GET => "/status/$_[0]"); return $g->{json} }

my %terminal = map { $_ => 1 } qw(succeeded dead cancelled);

sub finished {
    my ($id, $timeout) = @_;
    my $t;
    wait_for(sub { $t = task($id); $t && $terminal{ $t->{status} // '' } },
             $timeout // 20, 0.1);
    return $t;
}

# All 256 byte values, not UTF-8.
my $bin = join '', map { chr } 0 .. 255;

# === TEST 1: tasks enqueued before any worker exists stay queued
my %id;
$id{ping}   = enqueue('/ping', '');
$id{report} = enqueue('/report', 'hello', 'text/plain');
$id{broken} = enqueue('/broken', 'x');
$id{slow}   = enqueue('/slow', 'x');
$id{bin}    = enqueue('/echo', $bin);
$id{json}   = enqueue('/echo', '{"a":[1,2,{"b":null}]}', 'application/json');
$id{text}   = enqueue('/echo', "caf\xc3\xa9 ok");
sleep 0.3;
is(task($id{ping})->{status}, 'queued', 'no worker yet: queued');
my $r = $s->redis;
is($r->cmd('XLEN', "$prefix:q:default:normal"), 7, '7 stream entries');

# === TEST 2: the worker starts and processes the backlog
my $w = $s->start_worker({
    concurrency => 4,
    queues      => { default => 1 },
    claim_idle  => '60s',
    result_ttl  => '1h',
    retry       => { max_attempts => 1, base => '100ms', cap => '1s' },
    handlers    => {
        'system.ping' => { builtin => 'ping' },
        'echo'        => { builtin => 'echo' },
        'report'      => { exec => [ $script ] },
        'broken'      => { exec => [ '/bin/sh', '-c',
                                     'echo "went wrong" >&2; exit 3' ],
                           max_attempts => 1 },
        'slow'        => { exec => [ '/bin/sleep', $SLEEP_ARG ],
                           timeout => '1s', max_attempts => 1 },
    },
});
ok($s->worker_running($w), 'worker running') or diag $s->worker_log($w);

my $t = finished($id{ping});
is($t->{status}, 'succeeded', 'system.ping: succeeded')
    or diag explain($t), $s->worker_log($w);
is($t->{result}, 'pong', 'system.ping: result "pong"');
is($t->{attempts}, 1, 'one attempt');
is($t->{error}, undef, 'no error');
like($t->{started_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
     'started_at RFC 3339');
like($t->{finished_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
     'finished_at RFC 3339');

# === TEST 3: an exec task's stdout (JSON) is its result
$t = finished($id{report});
is($t->{status}, 'succeeded', 'exec: succeeded') or diag explain $t;
is_deeply($t->{result}, { task => $id{report}, type => 'report',
                          queue => 'default', attempt => '1',
                          stdin => 'hello' },
          'exec: JSON stdout embedded; payload on stdin; TASKGW_* env');

# === TEST 4: a failing command ends dead, in the dead-letter queue
$t = finished($id{broken});
is($t->{status}, 'dead', 'failing exec: dead') or diag explain $t;
like($t->{error} // '', qr/went wrong/, 'stderr tail is the error');
is($t->{attempts}, 1, 'max_attempts 1: one attempt');
my @dead = grep { $_->[1]{id} eq $id{broken} }
           @{ $r->xrange("$prefix:dead:default") };
is(scalar @dead, 1, 'in {prefix}:dead:default');
ok(@dead && length($dead[0][1]{error} // '')
   && ($dead[0][1]{attempts} // '') eq '1'
   && ($dead[0][1]{failed_at} // '') =~ /^\d{13}$/,
   'dead entry: error, attempts, failed_at')
    or diag explain \@dead;

# === TEST 5: a task past its timeout is killed and ends with a timeout
$t = finished($id{slow}, 20);
ok($t && $terminal{ $t->{status} } && $t->{status} ne 'succeeded',
   'slow task: failed') or diag explain $t;
like($t->{error} // '', qr/time(d)?\s*out/i, 'error says timeout');
is($t->{status}, 'dead', 'max_attempts 1: dead');
my $ran = _ms($t->{finished_at}) - _ms($t->{started_at});
ok($ran >= 900 && $ran < 8000, "killed after ~1 s (ran ${ran} ms)");
my @left = grep {
    my $c = do { local $/; open my $f, '<', "/proc/$_/cmdline"; <$f> } // '';
    $c =~ /\0\Q$SLEEP_ARG\E\0?$/;
} do { opendir my $d, '/proc'; grep { /^\d+$/ } readdir $d };
is(scalar @left, 0, 'the timed-out child process is gone');

# === TEST 6: bodies round-trip through echo
$t = finished($id{bin});
is($t->{status}, 'succeeded', 'binary echo: succeeded') or diag explain $t;
is($t->{result_encoding}, 'base64', 'not UTF-8: result_encoding base64');
ok(defined $t->{result} && !ref $t->{result}
   && decode_base64($t->{result}) eq $bin, 'all 256 bytes come back');
$t = finished($id{json});
is_deeply($t->{result}, { a => [ 1, 2, { b => undef } ] },
          'JSON payload: result embedded as JSON');
ok(!exists $t->{result_encoding}, 'no result_encoding for JSON');
$t = finished($id{text});
is($t->{result}, "caf\x{e9} ok", 'UTF-8 text: result is the string');

# === TEST 7: a task enqueued while the worker runs is processed too
my $live = enqueue('/ping', '');
$t = finished($live);
is($t && $t->{result}, 'pong', 'live task: pong');

# === TEST 8: finished entries are acked and deleted from the stream
ok(wait_for(sub { $r->cmd('XLEN', "$prefix:q:default:normal") == 0 }, 5),
   'stream empty after processing');
my $p = $r->cmd('XPENDING', "$prefix:q:default:normal", 'workers');
is(ref $p eq 'ARRAY' ? $p->[0] : $p, 0, 'nothing pending in group workers');

# === TEST 9: SIGTERM stops the worker cleanly
my $st = $s->stop_worker($w);
is($st, 0, 'worker exits 0 on SIGTERM') or diag $s->worker_log($w);
unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
       'no sanitizer report in the worker log');

done_testing();

sub _ms {
    my ($t) = @_;
    return 0 unless defined $t
        && $t =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z$/;
    require Time::Local;
    return Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1) * 1000 + $7;
}
