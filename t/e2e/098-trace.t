#!/usr/bin/perl
# W3C trace context through the whole path: the traceparent a client sends
# to nginx is stored with the task, reaches an exec handler as TRACEPARENT,
# an http handler and the webhook as a traceparent header (the request's
# trace id, the run's own span as parent id: never the client's), shows in
# nginx's access log ($taskgw_trace_id) and in every worker log line about
# the task (trace_id=, a field in --log-json).  Without a traceparent, or
# with a malformed one, the task gets a fresh one and the same holds.
# Every run's parent id is checked against the rule of docs/operations.md,
# computed here independently from the task hash.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use TaskGW::Stack qw(wait_for json_decode);
use TaskGW::Receiver;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $P = $s->prefix;
my $dir = $s->dir;

my $rcv = TaskGW::Receiver->new($s);
$rcv->script('/flaky' => [ { status => 500 }, { status => 500 },
                           { status => 200 } ],
             '/hook/again' => [ { status => 503 }, { status => 200 } ]);

$s->start_redis;
$s->start_nginx(vars => { RPORT => $rcv->port }, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    log_format trace 'trace=$taskgw_trace_id task=$taskgw_task_id';
    server {
        listen 127.0.0.1:%%PORT%%;
        taskgw_callback_allow "http://127\.0\.0\.1:%%RPORT%%/[a-z0-9/]*";
        location ~ ^/t/(?<t>[a-z.]+)$ {
            access_log %%SERVROOT%%/logs/trace.log trace;
            taskgw_enqueue queue=default type=$t;
        }
        location /status/ {
            taskgw_status;
        }
    }
EOC
my $redis = $s->redis;

# an exec handler that writes what it got as TRACEPARENT to a file
my $exec = "$dir/exec-trace.sh";
open my $fh, '>', $exec or die "$exec: $!";
print $fh "#!/bin/sh\nprintf '%s' \"\$TRACEPARENT\" > \"$dir/exec-\$TASKGW_TASK_ID-\$TASKGW_ATTEMPT\"\n";
close $fh;
chmod 0755, $exec;

my %wconf = (
    concurrency => 4,
    retry    => { max_attempts => 5, base => '50ms', cap => '100ms' },
    handlers => {
        'run.exec'  => { exec => [ $exec ] },
        'run.http'  => { http => { url => $rcv->url('/handler') } },
        'run.flaky' => { http => { url => $rcv->url('/flaky') } },
    },
    webhook  => { timeout => '2s', schedule => [ '200ms' ],
                  allow_private => JSON::PP::true() },
);
my $w = $s->start_worker(\%wconf);

my $TP_RE = qr/^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

sub task { $redis->hgetall("$P:task:$_[0]") }

sub enqueue {
    my ($type, $tp, %o) = @_;
    my %h = ('Content-Type' => 'application/json',
             'X-Callback-URL' => $rcv->url("/hook/$o{hook}"));
    $h{traceparent} = $tp if defined $tp;
    $h{'X-Task-Delay'} = $o{delay} if $o{delay};
    my $r = $s->http(POST => "/t/$type", body => '{}', headers => \%h);
    die "enqueue $type: $r->{status} $r->{body}" unless $r->{status} == 202;
    return $r->{json}{id} // json_decode($r->{body})->{id};
}

# Waits for the task's webhook to be delivered; returns the task hash.
sub delivered {
    my ($id) = @_;
    my $t;
    wait_for(sub { $t = task($id);
                   ($t->{webhook_status} // '') eq 'delivered' }, 30)
        or diag("task $id: " . JSON::PP->new->canonical->encode($t));
    return $t;
}

# The parent id a run sends: the first 8 bytes of
# SHA-256("<task id>\n<attempt>\n<started_at ms>") (docs/operations.md).
sub run_span {
    my ($id, $attempt, $started) = @_;
    return substr(sha256_hex("$id\n$attempt\n$started"), 0, 16);
}

sub tp_of { my ($r) = @_; return $r ? $r->{headers}{traceparent} : undef }

my %traces;     # task id => trace id, for the log checks below

# === TEST 1: a valid traceparent: the hash, the http handler's request,
# the webhook and the status view carry its trace id
my $client = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
my $id = enqueue('run.http', $client, hook => 'one');
my $t = delivered($id);
is($t->{traceparent}, $client, 'the task hash holds the traceparent sent');
my ($hreq) = grep { ($_->{headers}{'x-task-id'} // '') eq $id }
             $rcv->requests('/handler');
my ($tr, $par, $fl) = (tp_of($hreq) // '') =~ $TP_RE;
is($tr, '4bf92f3577b34da6a3ce929d0e0e4736',
   'the http handler got the request\'s trace id');
ok(defined $par && $par ne '00f067aa0ba902b7',
   '... not the client\'s parent id');
is($par, run_span($id, 1, $t->{started_at}),
   '... but the span of run 1 as parent');
is($fl, '01', '... and the client\'s flags');
my ($hook) = $rcv->requests('/hook/one');
my ($htr, $hpar) = (tp_of($hook) // '') =~ $TP_RE;
is($htr, '4bf92f3577b34da6a3ce929d0e0e4736', 'the webhook: same trace id');
ok(defined $hpar && $hpar eq $par,
   '... as a child of the run, like the handler\'s request');
my $st = $s->http(GET => "/status/$id");
is(json_decode($st->{body})->{traceparent}, $client,
   'the status view shows the stored traceparent');
$traces{$id} = '4bf92f3577b34da6a3ce929d0e0e4736';

# === TEST 2: an exec handler gets TRACEPARENT in its environment
my $client2 = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
$id = enqueue('run.exec', $client2, hook => 'two');
$t = delivered($id);
my $got = '';
if (open my $in, '<', "$dir/exec-$id-1") { local $/; $got = <$in> }
($tr, $par, $fl) = $got =~ $TP_RE;
is($tr, '0af7651916cd43dd8448eb211c80319c',
   'the exec handler\'s TRACEPARENT has the request\'s trace id')
    or diag("TRACEPARENT was '$got'");
is($par, run_span($id, 1, $t->{started_at}), '... the run\'s span as parent');
is($fl, '00', '... and the client\'s flags (not sampled)');
($hook) = $rcv->requests('/hook/two');
($htr, $hpar) = (tp_of($hook) // '') =~ $TP_RE;
is($htr, '0af7651916cd43dd8448eb211c80319c', 'its webhook: same trace id');
ok(defined $hpar && $hpar eq $par, '... child of the same run');
$traces{$id} = '0af7651916cd43dd8448eb211c80319c';

# === TEST 3: three attempts, three spans; the webhook names the last
my $client3 = '00-11111111111111111111111111111111-2222222222222222-01';
$id = enqueue('run.flaky', $client3, hook => 'three');
$t = delivered($id);
is($t->{attempts}, 3, 'the flaky handler succeeded on attempt 3');
my @f = grep { ($_->{headers}{'x-task-id'} // '') eq $id }
        $rcv->requests('/flaky');
is(scalar @f, 3, 'three handler requests');
my @parents;
for my $r (@f) {
    my ($a, $b) = (tp_of($r) // '') =~ $TP_RE;
    is($a, '11111111111111111111111111111111',
       "attempt $r->{headers}{'x-task-attempt'}: the request's trace id");
    push @parents, $b // '';
}
my %distinct = map { $_ => 1 } @parents;
is(scalar keys %distinct, 3, 'each attempt has a span of its own');
ok(!$distinct{'2222222222222222'} && !$distinct{''},
   'none is the client\'s parent id');
is($parents[2], run_span($id, 3, $t->{started_at}),
   'the third is run 3\'s span');
($hook) = $rcv->requests('/hook/three');
($htr, $hpar) = (tp_of($hook) // '') =~ $TP_RE;
ok(defined $hpar && $hpar eq $parents[2],
   'the webhook is a child of the last run');
$traces{$id} = '11111111111111111111111111111111';

# === TEST 3b: a webhook tried again sends the same traceparent (kept
# with the event, like its body)
$id = enqueue('run.http', $client3, hook => 'again');
$t = delivered($id);
my @again = $rcv->requests('/hook/again');
is(scalar @again, 2, 'the webhook was tried twice');
ok(defined tp_of($again[0]) && tp_of($again[1]) eq tp_of($again[0]),
   '... with the same traceparent');
($htr, $hpar) = (tp_of($again[0]) // '') =~ $TP_RE;
is($htr, '11111111111111111111111111111111', '... the request\'s trace id');
is($hpar, run_span($id, 1, $t->{started_at}), '... child of the run');
$traces{$id} = '11111111111111111111111111111111';

# === TEST 4: no traceparent: a fresh one, carried the same way
$id = enqueue('run.http', undef, hook => 'four');
$t = delivered($id);
my ($new) = ($t->{traceparent} // '') =~ $TP_RE;
ok(defined $new, 'without a traceparent the task gets a valid one')
    or diag("stored: " . ($t->{traceparent} // 'nothing'));
isnt($new, '0' x 32, '... not all zero');
($hreq) = grep { ($_->{headers}{'x-task-id'} // '') eq $id }
          $rcv->requests('/handler');
($tr) = (tp_of($hreq) // '') =~ $TP_RE;
is($tr, $new, '... the handler got that trace id');
($hook) = $rcv->requests('/hook/four');
($htr) = (tp_of($hook) // '') =~ $TP_RE;
is($htr, $new, '... and the webhook');
$traces{$id} = $new;

# === TEST 5: malformed traceparents are replaced, never refused
my %bad = (
    five  => '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01',
    six   => '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    seven => 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    eight => '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7',
);
for my $k (sort keys %bad) {
    $id = enqueue('run.http', $bad{$k}, hook => $k);
    $t = delivered($id);
    ($new) = ($t->{traceparent} // '') =~ $TP_RE;
    ok(defined $new && $new ne '4bf92f3577b34da6a3ce929d0e0e4736'
       && $new ne '0' x 32, "malformed ($k): replaced by a fresh trace");
    ($hreq) = grep { ($_->{headers}{'x-task-id'} // '') eq $id }
              $rcv->requests('/handler');
    ($tr) = (tp_of($hreq) // '') =~ $TP_RE;
    is($tr, $new, "malformed ($k): the handler got the fresh trace id");
    $traces{$id} = $new;
}

# === TEST 5b: a task cancelled before it ran: its webhook still carries
# the request's trace (as a child of "run 0": no attempt, no start)
$id = enqueue('run.http', $client2, hook => 'cancel', delay => 3600);
is($s->http(DELETE => "/status/$id")->{status}, 202, 'a delayed task cancelled');
$t = delivered($id);
is($t->{status}, 'cancelled', '... it ends cancelled');
($hook) = $rcv->requests('/hook/cancel');
($htr, $hpar) = (tp_of($hook) // '') =~ $TP_RE;
is($htr, '0af7651916cd43dd8448eb211c80319c', '... its webhook: the trace id');
is($hpar, run_span($id, 0, 0), '... the span of no run as parent');
$traces{$id} = '0af7651916cd43dd8448eb211c80319c';
my $cancelled = $id;

# === TEST 6: nginx's access log names each task's trace id
my %logged;
if (open my $in, '<', "$dir/logs/trace.log") {
    while (<$in>) { $logged{$2} = $1 if /^trace=(\S+) task=(\S+)$/ }
}
for my $i (sort keys %traces) {
    is($logged{$i}, $traces{$i}, "access log: task $i with its trace id");
}

# === TEST 7: every worker log line about a task names its trace
is($s->stop_worker($w), 0, 'the worker stops cleanly');
my @lines = split /\n/, $s->worker_log($w);
for my $i (sort keys %traces) {
    my @about = grep { /\btask_id=\Q$i\E\b/ } @lines;
    my @events = map { /\bevent=(\S+)/ ? $1 : () } @about;
    ok(($i eq $cancelled || grep { $_ eq 'task_started' } @events)
       && scalar(grep { $_ eq 'webhook_delivered' } @events),
       "task $i: its start (if it ran) and its webhook are logged");
    my @without = grep { !/\btrace_id=\Q$traces{$i}\E\b/ } @about;
    is_deeply(\@without, [], "task $i: every line carries its trace_id");
}

# === TEST 8: in the JSON log format, trace_id is a field of the line
$w = $s->start_worker(\%wconf, args => [ '--log-json' ]);
$id = enqueue('run.http', $client, hook => 'nine');
delivered($id);
is($s->stop_worker($w), 0, 'the JSON-logging worker stops cleanly');
my $json = JSON::PP->new->utf8;
my @about = grep { ($_->{task_id} // '') eq $id }
            map { eval { $json->decode($_) } // () }
            split /\n/, $s->worker_log($w);
ok(@about >= 3, scalar(@about) . ' JSON lines about the task');
is(scalar(grep { ($_->{trace_id} // '') eq '4bf92f3577b34da6a3ce929d0e0e4736' }
          @about), scalar @about, 'each has trace_id as a field');

done_testing();
