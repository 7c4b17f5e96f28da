#!/usr/bin/perl
# Many clients at once against two nginx worker processes:
# every request is accepted, every id is unique, and every accepted task
# has its hash and exactly one stream entry in Redis.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use TaskGW::Stack;

my $N = $ENV{TASKGW_E2E_CONCURRENCY} || 250;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

$s->start_redis;
$s->start_nginx(worker_processes => 2, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    log_format pid '$pid $status $taskgw_task_id';
    server {
        listen 127.0.0.1:%%PORT%% backlog=1024;
        access_log %%SERVROOT%%/logs/pid.log pid;
        location /tasks { taskgw_enqueue queue=bulk type=load.test; }
        location /hi    { taskgw_enqueue queue=bulk type=load.test
                                         priority=high; }
    }
EOC
is(scalar(my @w = $s->nginx_worker_pids), 2, 'two nginx worker processes');

my $prefix = $s->prefix;
my $r = $s->redis;

# Each body is unique so a task can be matched to its request; a few are
# binary and a few are larger than a socket buffer.
my @bodies = map {
    $_ % 25 == 0 ? "big $_ " . ('x' x 200_000)
  : $_ % 10 == 0 ? "bin $_ \0\xff\r\n"
  :                "body $_";
} 1 .. $N;

# === TEST 1: N concurrent requests, all 202
my $t0 = time;
my $res = $s->http_parallel([ map {
    [ POST => ($_ % 5 == 0 ? '/hi' : '/tasks'), body => $bodies[$_ - 1],
      headers => [ 'Content-Type' => 'application/octet-stream' ] ]
} 1 .. $N ], timeout => 60);
my $dt = time - $t0;
my %codes;
$codes{ $_->{status} }++ for @$res;
is($codes{202} // 0, $N, sprintf("%d concurrent enqueues: all 202 (%.2f s)",
                                 $N, $dt))
    or diag explain \%codes;

# === TEST 2: ids are unique UUIDv7 and the replies describe the task
my (%seen, $bad_reply);
for my $i (0 .. $#$res) {
    my $j = $res->[$i]{json} or do { $bad_reply //= $i; next };
    my $prio = ($i + 1) % 5 == 0 ? 'high' : 'normal';
    $bad_reply //= $i
        unless ($j->{id} // '') =~ /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
        && $j->{status} eq 'queued' && $j->{queue} eq 'bulk'
        && $j->{type} eq 'load.test' && $j->{priority} eq $prio;
    $seen{ $j->{id} }++ if $j->{id};
}
ok(!defined $bad_reply, 'every reply is a well-formed task JSON')
    or diag explain $res->[$bad_reply];
is(scalar(keys %seen), $N, "$N distinct ids");

# === TEST 3: every task hash is stored with its own body
my ($missing, $wrong) = (0, 0);
for my $i (0 .. $#$res) {
    my $id = $res->[$i]{json} && $res->[$i]{json}{id} or next;
    my $h = $r->hgetall("$prefix:task:$id");
    if (!%$h) { $missing++; next }
    my $prio = ($i + 1) % 5 == 0 ? 'high' : 'normal';
    $wrong++ unless $h->{payload} eq $bodies[$i]
        && $h->{status} eq 'queued' && $h->{queue} eq 'bulk'
        && $h->{priority} eq $prio && $h->{id} eq $id
        && ($h->{attempts} // '') eq '0' && $h->{created_at} =~ /^\d{13}$/;
}
is($missing, 0, 'no task hash missing');
is($wrong, 0, 'every hash holds its request body and fields');

# === TEST 4: exactly one stream entry per task, in its priority stream
my %entries;
for my $p (qw(high normal low)) {
    $entries{ $_->[1]{id} } .= $p
        for @{ $r->xrange("$prefix:q:bulk:$p") };
}
is(scalar(keys %entries), $N, "$N stream entries in all");
my $off = grep {
    my $id = $res->[$_]{json} && $res->[$_]{json}{id};
    !$id || ($entries{$id} // '') ne (($_ + 1) % 5 == 0 ? 'high' : 'normal');
} 0 .. $#$res;
is($off, 0, 'each task has one entry, in the stream of its priority');

# === TEST 5: both worker processes took part (informational)
my %pids;
if (open my $fh, '<', $s->dir . '/logs/pid.log') {
    while (<$fh>) { $pids{$1}++ if /^(\d+) 202 / }
}
note('202s per nginx worker: '
     . join(', ', map { "$_=$pids{$_}" } sort keys %pids));
is(scalar(grep { $_ ne '' } map { /^\S+ 202 (\S*)/ ? $1 : () }
          do { open my $fh, '<', $s->dir . '/logs/pid.log'; <$fh> }),
   $N, '$taskgw_task_id logged for every 202');

is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

done_testing();
