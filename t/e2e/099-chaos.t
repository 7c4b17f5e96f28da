#!/usr/bin/perl
# Chaos: two workers run 400 sleeping tasks, 100 failing ones and 40 exec
# tasks while a worker is SIGKILLed 8 times at random moments (a new one
# started each time).  Every task must end as its handler dictates
# (sleep: succeeded; fail: dead), none may be lost, none may run twice at
# the same moment, and the streams, pending lists and scheduled set must
# end empty.  Repeated runs (at-least-once) are counted and reported.
#
# TASKGW_CHAOS_SEED=N replays one random schedule.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);
use TaskGW::Stack qw(wait_for);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $seed = $ENV{TASKGW_CHAOS_SEED} // int(rand(1e9));
srand($seed);
diag "seed $seed";

my $dir = $s->dir;
my $prefix = $s->prefix;
$s->start_redis;
my $t = TaskGW::Tasks->new($s);
# An exec task notes a second live run of the same task (see
# overlap_script), and runs for 2 s: longer than claim_idle, so a run its
# killed worker left behind would still run when another worker reclaims
# the task.
my $ex = $t->overlap_script('ex', 2);

# an exec run a killed worker left behind dies with the test
END {
    if (defined $dir && open my $fh, '<', "$dir/pids") {
        for my $pid (map { /(\d+)/ ? $1 : () } <$fh>) {
            open my $c, '<', "/proc/$pid/cmdline" or next;
            kill 'KILL', $pid if (<$c> // '') =~ /\Q$dir\E\/ex\.sh/;
        }
    }
}

my %wconf = (
    concurrency    => 4,
    queues         => { default => 1 },
    claim_idle     => '1s',
    shutdown_grace => '10s',
    retry          => { max_attempts => 10, base => '50ms', cap => '200ms' },
    handlers       => {
        nap  => { builtin => 'sleep' },
        fail => { builtin => 'fail', max_attempts => 3 },
        ex   => { exec => [ $ex ], timeout => '30s' },
    },
);

my @workers = map { $s->start_worker(\%wconf) } 1 .. 2;
my %ended;                  # worker n => time it was killed or stopped

# 400 naps of 50-200 ms, 40 permanent and 60 retryable failures, 40 exec
# tasks (2 s each), in random order
my @plan = ((('nap') x 400), (('perm') x 40), (('retry') x 60),
            (('ex') x 40));
for my $i (reverse 1 .. $#plan) {
    my $j = int(rand($i + 1));
    @plan[$i, $j] = @plan[$j, $i];
}
my (%kind, @ids, %n);
for my $k (@plan) {
    my $id = $k eq 'nap'   ? $t->enqueue('nap', payload => '{"ms":'
                                         . (50 + int(rand(151))) . '}')
           : $k eq 'perm'  ? $t->enqueue('fail',
                                         payload => '{"permanent":true}')
           : $k eq 'retry' ? $t->enqueue('fail')
           :                 $t->enqueue('ex');
    $kind{$id} = $k;
    $n{$k}++;
    push @ids, $id;
}
is($n{nap}, 400, '400 sleeping tasks');
is(($n{perm} // 0) + ($n{retry} // 0), 100,
   "100 failing ones ($n{perm} permanent)");
is($n{ex}, 40, '40 exec tasks');

# === TEST 1: 8 kills at random moments while the work goes on
my $t0 = time;
my $kills = 0;
while ($kills < 8) {
    sleep 0.5 + rand(2);
    my @live = grep { $s->worker_running($_) } @workers;
    my $victim = $live[ int(rand(@live)) ];
    kill 'KILL', $victim->{pid};
    $ended{ $victim->{n} } = time;
    $kills++;
    wait_for(sub { !$s->worker_running($victim) }, 5);
    sleep rand(0.3);
    push @workers, $s->start_worker(\%wconf);
    @workers = grep { $s->worker_running($_) || $_ == $victim } @workers;
    push @{ $s->{chaos_all} }, $victim;
}
my @all = (@{ $s->{chaos_all} }, grep { $s->worker_running($_) } @workers);
my %seen_w;
@all = grep { !$seen_w{ $_->{n} }++ } @all;
diag sprintf '8 kills in %.1f s; %d workers in all', time - $t0,
             scalar @all;

my $done = wait_for(sub { !grep { !$t->terminal($_) } @ids }, 90, 0.5);
ok($done, 'every task reached a terminal status');
diag sprintf 'all %d tasks terminal %.1f s after the start',
             scalar @ids, time - $t0;

# === TEST 2: each ended as its handler dictates, none lost
my (%bad, %status);
for my $id (@ids) {
    my $st = $t->status($id);
    $status{$st}++;
    my $want = $kind{$id} =~ /^(perm|retry)$/ ? 'dead' : 'succeeded';
    push @{ $bad{"$kind{$id}: $st"} }, $id if $st ne $want;
}
is_deeply(\%bad, {}, 'naps and exec tasks succeeded, failing tasks are '
                     . 'dead') or diag explain \%status;
my @perm_attempts = grep { ($t->field($_, 'attempts') // '') ne '1' }
                    grep { $kind{$_} eq 'perm' } @ids;
is(scalar @perm_attempts, 0, 'permanent failures were not retried')
    or diag explain { map { $_ => $t->hash($_) } @perm_attempts[0 .. 2] };
my %dead;
$dead{ $_->[1]{id} }++ for @{ $t->redis->xrange("$prefix:dead:default") };
my @fails = grep { $kind{$_} =~ /^(perm|retry)$/ } @ids;
is(scalar(grep { !$dead{$_} } @fails), 0,
   'every failing task is in the dead-letter queue');
my @twice = grep { $dead{$_} > 1 } keys %dead;
diag scalar(@twice) . ' tasks are in the dead-letter queue more than once'
    if @twice;
is(scalar(grep { !$kind{$_} } keys %dead), 0,
   'nothing else is in the dead-letter queue');

# === TEST 3: the streams, pending lists and scheduled set end empty
my $empty = wait_for(sub { join(' ', $t->leftovers) eq '0 0 0' }, 10, 0.2);
ok($empty, 'no stream entry, pending entry or scheduled id is left')
    or diag join ' ', $t->leftovers;

# stop the live workers gracefully, so their logs are complete
for my $w (grep { $s->worker_running($_) } @all) {
    is($s->stop_worker($w), 0, "worker $w->{n} exits 0");
    $ended{ $w->{n} } //= time;
}

# === TEST 4: no task ran twice at the same moment
# Runs from the logs: task_started up to the line that ends it in the same
# worker, or up to that worker's death.
sub log_ms {
    my ($ts) = @_;
    my ($y, $mo, $d, $h, $mi, $se, $ms) =
        $ts =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z$/ or return;
    return timegm($se, $mi, $h, $d, $mo - 1, $y) * 1000 + $ms;
}
my (%runs, $starts);
for my $w (@all) {
    my %open;
    for my $line (split /\n/, $s->worker_log($w)) {
        my ($ts) = $line =~ /^ts=(\S+)/ or next;
        my ($ev) = $line =~ / event=(\S+)/ or next;
        my ($id) = $line =~ / task_id=(\S+)/ or next;
        next unless $kind{$id};
        if ($ev eq 'task_started') {
            $open{$id} = log_ms($ts);
            $starts++;
        } elsif (defined $open{$id}
                 && $ev =~ /^task_(succeeded|failed|abandoned|cancelled)$/) {
            push @{ $runs{$id} }, [ delete $open{$id}, log_ms($ts), $w->{n} ];
        }
    }
    my $end = int(($ended{ $w->{n} } // time) * 1000);
    push @{ $runs{$_} }, [ $open{$_}, $end, $w->{n} ] for keys %open;
}
my @overlap;
for my $id (keys %runs) {
    my @r = sort { $a->[0] <=> $b->[0] } @{ $runs{$id} };
    for my $i (1 .. $#r) {
        push @overlap, "$id: worker $r[$i-1][2] [$r[$i-1][0], $r[$i-1][1]] "
                     . "and worker $r[$i][2] from $r[$i][0]"
            if $r[$i][0] < $r[$i - 1][1];
    }
}
is_deeply(\@overlap, [], 'no two runs of a task overlap (worker logs)');
is_deeply($t->overlaps, [],
          'no exec task found a live process of its own earlier run');

my $repeated = 0;
for my $id (@ids) {
    next if $kind{$id} eq 'retry';            # retried by design
    my $n = @{ $runs{$id} // [] };
    $repeated += $n - 1 if $n > 1;
}
diag "repeated runs (a run again after its worker was killed): $repeated "
   . "of $starts starts";

for my $w (@all) {
    unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
           "worker $w->{n}: no sanitizer report");
}
diag sprintf 'chaos test took %.1f s', time - $t0;

done_testing();
