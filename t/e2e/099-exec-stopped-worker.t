#!/usr/bin/perl
# A worker held up past its claim (stopped with SIGSTOP here; a loop
# stalled, a machine swapping, Redis out of its reach are the same to
# the others) while its exec program runs: another worker reclaims the
# task once its entry has idled claim_idle.  The first program must be
# gone by then: the worker's spawner kills it when the worker's claim
# lapses (its lease, renewed by each acknowledged claim refresh), even
# though the worker is alive.  Before, the program ran on beside the
# task's second run.  A Redis the worker cannot reach is the same case:
# no refresh is acknowledged, the program is killed, the task runs again
# once Redis is back.  See "exec" in docs/worker-config.md.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);
use TaskGW::Procs qw(alive pid_list stop_wait);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $dir = $s->dir;
$s->start_redis;
my $t = TaskGW::Tasks->new($s);

# notes a live earlier run of its own task (as t/e2e/099-chaos.t's exec
# tasks do: overlap_script), then runs 6 s: far past claim_idle, and past
# the 4 s TEST 4 gives its killing
my $ex = $t->overlap_script('ex', 6);

sub runs { scalar(() = pid_list("$dir/pids")) }

# a stopped worker is let go, and the programs left behind die with the
# test
my $stopped;
END {
    kill 'CONT', $stopped if $stopped;
    kill 'CONT', $s->{redis_pid} if $s && $s->{redis_pid};
    kill 'KILL', pid_list("$dir/pids") if defined $dir;
}

my %conf = (
    concurrency => 2,
    queues      => { default => 1 },
    claim_idle  => '1s',
    retry       => { max_attempts => 5, base => '100ms', cap => '300ms' },
    handlers    => { ex => { exec => [$ex], timeout => '30s' } },
);

# === TEST 1: the first worker is stopped while its program runs; a second
# worker reclaims the task and runs it again: the first program is dead
# by then
my $w1 = $s->start_worker(\%conf);
my $id = $t->enqueue('ex');
ok(wait_for(sub { runs() == 1 }, 20), 'the program runs')
    or diag $s->worker_log($w1);
my ($first) = pid_list("$dir/pids");
$stopped = $w1->{pid};
stop_wait($stopped) or diag 'the worker did not show as stopped';
my $w2 = $s->start_worker(\%conf);
ok(wait_for(sub { runs() == 2 }, 30), 'the second worker runs the task again')
    or diag $s->worker_log($w2);
is_deeply($t->overlaps, [], 'its run found no live earlier run')
    or diag $s->worker_log($w2);
ok(!alive($first), 'the first program is gone');

# === TEST 2: the first worker goes on: it records nothing for the task it
# lost (abandoned), and the second run's outcome stands
kill 'CONT', $w1->{pid};
$stopped = undef;
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 30), 'the task succeeded')
    or diag $t->hash($id);
my $log1 = $s->worker_log($w1);
like($log1, qr/event=task_(?:abandoned|reclaimed_elsewhere) task_id=$id/,
     'the stopped worker abandoned its run') or diag $log1;
unlike($log1, qr/event=task_(succeeded|failed) task_id=$id/,
       'and recorded nothing for it') or diag $log1;
is(runs(), 2, 'two runs in all');
is_deeply([ $t->leftovers ], [0, 0, 0], 'no entry left');

# === TEST 3: both workers go on running exec tasks (the first under a new
# spawner)
my @ids = map { $t->enqueue('ex') } 1 .. 2;
ok(wait_for(sub { !grep { $t->status($_) ne 'succeeded' } @ids }, 40),
   'later exec tasks succeed')
    or diag $s->worker_log($w1) . $s->worker_log($w2);
is_deeply($t->overlaps, [], 'no overlap');

is($s->stop_worker($w2), 0, 'worker 2 exits 0');

# === TEST 4: Redis out of the worker's reach (stopped) for longer than
# two thirds of claim_idle: no refresh is acknowledged, so the program is
# killed (a restarted Redis would let another worker take the entry at
# once); the task runs again once Redis is back
my $before = runs();
my $id4 = $t->enqueue('ex');
ok(wait_for(sub { runs() == $before + 1 }, 20), 'the program runs')
    or diag $s->worker_log($w1);
my ($p4) = (pid_list("$dir/pids"))[-1];
kill 'STOP', $s->{redis_pid};
ok(wait_for(sub { !alive($p4) }, 4), 'the program is killed before its end')
    or diag $s->worker_log($w1);
kill 'CONT', $s->{redis_pid};
ok(wait_for(sub { $t->status($id4) eq 'succeeded' }, 30),
   'the task runs again and succeeds') or diag $s->worker_log($w1);
like($s->worker_log($w1), qr/event=exec_lease_lapsed/,
     'logged as exec_lease_lapsed');
is_deeply($t->overlaps, [], 'no overlap');

is($s->stop_worker($w1), 0, 'worker 1 exits 0');
for my $w ($w1, $w2) {
    unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
           "worker $w->{n}: no sanitizer report");
}

done_testing();
