#!/usr/bin/perl
# Measures how long a task held by a worker that dies (kill -9) waits
# before another worker runs it again, for several claim_idle values, and
# the latency of an idempotent replay beside a fresh enqueue.
#
#   make && perl scripts/measure-reclaim.pl [claim_idle ...]   (default 2s 5s 10s)
#   RUNS=3 (runs per value)
#
# Per run: worker A (alone) starts a task that sleeps 4 s; worker B
# starts; A is killed with SIGKILL; the time from the kill until B starts
# the task again (its started_at) and until it succeeded.  Uses the e2e
# harness (t/lib/TaskGW/Stack.pm): private Redis, nginx with the module,
# the real worker; everything is stopped at the end.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);

my @values = @ARGV ? @ARGV : qw(2s 5s 10s);
my $RUNS = $ENV{RUNS} || 3;

my $s = TaskGW::Stack->new(prefix => 'measure');
$s->start_redis;
$s->start_nginx(config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_prefix %%PREFIX%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks   { taskgw_enqueue queue=m type=sleep; }
        location /status/ { taskgw_status; }
    }
EOC
my $r = $s->redis;
my $P = $s->prefix;
my $hget = sub { $r->cmd('HGET', "$P:task:$_[0]", $_[1]) // '' };

printf "%-10s %-4s %12s %12s\n", 'claim_idle', 'run', 'restarted', 'succeeded';
for my $ci (@values) {
    my %wc = (queues => { m => 1 }, concurrency => 2, claim_idle => $ci,
              handlers => { sleep => { builtin => 'sleep' } });
    for my $run (1 .. $RUNS) {
        my $a = $s->start_worker({ %wc });
        my $id = $s->http(POST => '/tasks', body => '{"ms":4000}')->{json}{id};
        wait_for(sub { $hget->($id, 'status') eq 'running' }, 20)
            or die "task $id did not start";
        my $first = $hget->($id, 'started_at');
        my $b = $s->start_worker({ %wc });
        wait_for(sub { $r->cmd('EXISTS', "$P:worker:e2e-$b->{n}") }, 20)
            or die "worker B did not start";
        my $t0 = time;
        $s->stop_worker($a, signal => 'KILL', timeout => 5);
        wait_for(sub { $hget->($id, 'started_at') ne $first }, 120, 0.01)
            or die "task $id was not restarted";
        my $restart = $hget->($id, 'started_at') / 1000 - $t0;
        wait_for(sub { $hget->($id, 'status') eq 'succeeded' }, 60, 0.01)
            or die "task $id did not succeed";
        my $done = $hget->($id, 'finished_at') / 1000 - $t0;
        printf "%-10s %-4d %11.2fs %11.2fs\n", $ci, $run, $restart, $done;
        $s->stop_worker($b);
    }
}

# replay latency beside a fresh enqueue, on this same stack
my (@fresh, @replay);
for my $i (1 .. 500) {
    my $t0 = time;
    my $x = $s->http(POST => '/tasks', body => "{\"ms\":0,\"i\":$i}",
                     headers => [ 'Idempotency-Key' => "m-$i" ]);
    push @fresh, time - $t0 if $x->{status} == 202;
    $t0 = time;
    $x = $s->http(POST => '/tasks', body => "{\"ms\":0,\"i\":$i}",
                  headers => [ 'Idempotency-Key' => "m-$i" ]);
    push @replay, time - $t0 if $x->{status} == 200;
}
sub pct {
    my ($p, @v) = @_;
    @v = sort { $a <=> $b } @v;
    return sprintf '%.2f ms', 1000 * $v[int($p * $#v)];
}
printf "enqueue, client side (new connection each), %d each: fresh p50 %s p90 %s p99 %s | replay p50 %s p90 %s p99 %s\n",
    scalar @fresh, pct(0.5, @fresh), pct(0.9, @fresh), pct(0.99, @fresh),
    pct(0.5, @replay), pct(0.9, @replay), pct(0.99, @replay);
$s->stop_nginx;
