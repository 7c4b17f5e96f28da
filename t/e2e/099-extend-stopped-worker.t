#!/usr/bin/perl
# A worker held up past its claim (stopped with SIGSTOP here) while a
# builtin task runs: a second worker reclaims the entry once it has
# idled claim_idle and runs the task.  When the first worker goes on,
# its claim extension must not take the entry back: it finds the entry
# pending under the other worker's name, gives its run up (logged once,
# `task_reclaimed_elsewhere step=extend`) and records nothing; the entry
# stays the second worker's, whose run records the outcome.  Before, the
# extension re-claimed every entry held with XCLAIM min idle 0, took the
# entry back, both ran the task and the first worker recorded it.
# See "claim_idle" in docs/worker-config.md.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);
use TaskGW::Procs qw(stop_wait);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $stream = "$prefix:q:default:normal";
$s->start_redis;
my $r = $s->redis;
my $t = TaskGW::Tasks->new($s);

# a stopped worker is let go with the test
my $stopped;
END { kill 'CONT', $stopped if $stopped }

# the consumer the task's entry is pending under ('' when none)
sub owner {
    my $p = $r->cmd('XPENDING', $stream, 'workers', '-', '+', 10);
    return ref $p eq 'ARRAY' && @$p ? $p->[0][1] : '';
}

sub count {
    my ($log, $re) = @_;
    return scalar(() = $log =~ /$re/g);
}

my %conf = (
    concurrency => 2,
    queues      => { default => 1 },
    claim_idle  => '1s',
    retry       => { max_attempts => 5, base => '100ms', cap => '300ms' },
    handlers    => { nap => { builtin => 'sleep', timeout => '60s' } },
);

# === TEST 1: A runs a long task and is stopped; B reclaims and runs it
my $a = $s->start_worker({ %conf, name => 'extend-a' });
my $id = $t->enqueue('nap', payload => '{"ms":9000}');
ok(wait_for(sub { $s->worker_log($a) =~ /event=task_started task_id=$id / },
            20), 'A runs the task')
    or diag $s->worker_log($a);
$stopped = $a->{pid};
stop_wait($stopped) or diag 'the worker did not show as stopped';
my $b = $s->start_worker({ %conf, name => 'extend-b' });
ok(wait_for(sub { $s->worker_log($b) =~ /event=task_started task_id=$id / },
            30), 'B reclaimed the entry and runs the task')
    or diag $s->worker_log($b);
is(owner(), 'extend-b', "the entry is pending under B's name");

# === TEST 2: A goes on: its extension finds the entry B's and gives the
# run up, once; the entry stays B's
kill 'CONT', $a->{pid};
$stopped = undef;
ok(wait_for(sub { $s->worker_log($a)
                  =~ /event=task_reclaimed_elsewhere task_id=$id .*step=extend /
            }, 20), 'A gives the task up at its extension')
    or diag $s->worker_log($a);
# several of A's extension rounds (claim_idle/3 apart) and B's
my $owners = '';
for (1 .. 8) {
    $owners .= owner() . ' ';
    select undef, undef, undef, 0.25;
}
unlike($owners, qr/extend-a/, 'the entry never went back to A')
    or diag $owners;
is(owner(), 'extend-b', "the entry is still B's");
my $log_a = $s->worker_log($a);
is(count($log_a, qr/event=task_reclaimed_elsewhere task_id=$id /), 1,
   'logged once') or diag $log_a;
unlike($log_a, qr/event=task_abandoned task_id=$id /,
       'not logged as abandoned besides');
is($t->status($id), 'running', 'still running under B');

# === TEST 3: B's run records the outcome, once; A records nothing
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 30), 'the task succeeded')
    or diag $s->worker_log($b);
$log_a = $s->worker_log($a);
unlike($log_a, qr/event=task_(?:succeeded|failed) task_id=$id /,
       'A recorded nothing for it') or diag $log_a;
is(count($s->worker_log($b), qr/event=task_succeeded task_id=$id /), 1,
   'B recorded it once');
is($t->field($id, 'attempts'), '2', 'two attempts: A and B');
is_deeply([ $t->leftovers ], [0, 0, 0], 'no entry left');

# === TEST 4: A keeps working: a later task runs on it
is($s->stop_worker($b), 0, 'B exits 0');
my $id2 = $t->enqueue('nap', payload => '{"ms":10}');
ok(wait_for(sub { $t->status($id2) eq 'succeeded' }, 20),
   'a later task succeeds on A') or diag $s->worker_log($a);
is($s->stop_worker($a), 0, 'A exits 0');

done_testing;
