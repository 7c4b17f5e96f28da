#!/usr/bin/perl
# Hostile or odd records in Redis: a queue name too long for any key, a
# queue stream key of the wrong type, attempts counts that overflow or are
# negative, a scheduled id whose hash names no queue.  Each is logged, the
# task ends dead, and nothing else slows down.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);
use TaskGW::Tasks;


my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $dir = $s->dir;
my $prefix = $s->prefix;
$s->start_redis;
my $t = TaskGW::Tasks->new($s);
my $r = $t->redis;

# notes each run, then fails (retryable)
my $marker = $t->script('marker', <<"EOS");
echo "\$TASKGW_TASK_ID \$TASKGW_ATTEMPT" >> $dir/runs
exit 75
EOS

sub runs {
    my ($id) = @_;
    open my $fh, '<', "$dir/runs" or return 0;
    return scalar grep { /^\Q$id\E / } <$fh>;
}

my %wconf = (
    concurrency => 4,
    queues      => { default => 1 },
    claim_idle  => '1s',
    retry       => { max_attempts => 3, base => '100ms', cap => '300ms' },
    handlers    => {
        'system.ping' => { builtin => 'ping' },
        'fail'        => { builtin => 'fail' },
        'marker'      => { exec => [ $marker ] },
    },
);

# A ping enqueued now is done within 3 s (else undef); returns the time.
sub ping_time {
    my ($queue) = @_;
    my $t0 = time;
    my $id = $t->enqueue('system.ping', queue => $queue // 'default');
    wait_for(sub { $t->status($id) eq 'succeeded' }, 3, 0.02) or return;
    return time - $t0;
}

# Drops every queue stream (with its group) and the scheduled set, so
# the next test starts from an empty Redis whatever this one left.
sub clean {
    $r->cmd('DEL', $_) for @{ $r->cmd('KEYS', "$prefix:q:*") // [] };
    $r->cmd('DEL', "$prefix:scheduled");
}

# === TEST 1: eight tasks whose queue name (600 bytes) cannot name their
# dead-letter stream, failing permanently: each ends dead, and the worker
# (concurrency 4) still runs other tasks
my $w1 = $s->start_worker(\%wconf);
my $long = 'q' x 600;
my @longq = map {
    $t->enqueue('fail', queue => $long, payload => '{"permanent":true}',
                stream => "$prefix:q:default:normal")
} 1 .. 8;
sleep 1;
my $pt = ping_time();
{
    ok(defined $pt, 'a ping behind them is done within 3 s')
        or diag $s->worker_log($w1);
    ok(wait_for(sub { !grep { $t->status($_) ne 'dead' } @longq }, 10),
       'each of them ends dead')
        or diag join ' ', map { $t->status($_) } @longq;
}
my ($most) = sort { $b <=> $a } map { $s->log_lines($w1, $_) } @longq;
ok($most <= 6, "a few log lines each, no retry loop ($most at most)");
ok($s->worker_running($w1), 'the worker still runs');
$s->stop_worker($w1, timeout => 5);
clean();

# === TEST 2: attempts from the hash at the int limit, and negative: the
# task never runs more than max_attempts times and ends dead
my $w2 = $s->start_worker(\%wconf);
my $big = $t->enqueue('marker', attempts => 2147483647);
my $neg = $t->enqueue('marker', attempts => -3);
{
    ok(wait_for(sub { $t->status($big) eq 'dead' }, 10),
       'attempts 2147483647: dead') or diag explain $t->hash($big);
    ok(runs($big) <= 1, 'attempts 2147483647: ran at most once ('
                        . runs($big) . ')');
    like($t->field($big, 'attempts') // '', qr/^\d{1,10}$/,
         'attempts 2147483647: stored attempts is a sane count')
        or diag explain $t->hash($big);
}
ok(wait_for(sub { $t->status($neg) eq 'dead' }, 10),
   'attempts -3: dead') or diag explain $t->hash($neg);
{
    ok(runs($neg) <= 3, 'attempts -3: ran at most max_attempts (3) times ('
                        . runs($neg) . ')');
}
unlike($t->field($neg, 'attempts') // '', qr/^-/,
       'attempts -3: never a negative count stored');

# === TEST 3: a due scheduled id whose hash has no queue field is not
# silently dropped: the task ends dead
my $noq = $t->uuid;
$t->task_hash($noq, queue => undef, status => 'retrying', attempts => 1);
$r->cmd('ZADD', "$prefix:scheduled", int(time * 1000) - 100, $noq);
ok(wait_for(sub { !defined $r->cmd('ZSCORE', "$prefix:scheduled", $noq) },
            10), 'it leaves the scheduled set');
{
    ok(wait_for(sub { $t->status($noq) eq 'dead' }, 5),
       'a scheduled id whose hash has no queue ends dead')
        or diag 'status ' . $t->status($noq) . "\n" . $s->worker_log($w2);
    # the worker writes its log lines once per loop iteration: the line
    # may reach the file a moment after the status changed
    ok(wait_for(sub { $s->log_lines($w2, $noq) >= 1 }, 10), 'and is logged')
        or diag $s->worker_log($w2);
}
ok(defined ping_time(), 'pings still run');
$s->stop_worker($w2, timeout => 5);
clean();

# === TEST 4: a queue stream key of the wrong type beside a working queue:
# the working queue does not slow down, and the log does not spam
$r->cmd('SET', "$prefix:q:broken:normal", 'not a stream');
my $w3 = $s->start_worker({ %wconf, queues => { broken => 1, default => 1 } });
ok(wait_for(sub { defined ping_time() }, 10), 'the worker runs pings');
my $before = $s->log_lines($w3, 'broken');
# 40 pings one after the other: about 10 ms each on an idle machine, 250 ms
# each while the broken stream holds up the fetch loop
my $t0 = time;
my $lost = grep { !defined ping_time() } 1 .. 40;
my $took = time - $t0;
my $spam = $s->log_lines($w3, 'broken') - $before;
diag sprintf '40 pings one by one took %.2f s, %d log lines about the '
           . 'broken stream meanwhile', $took, $spam;
is($lost, 0, 'every ping is done');
{
    cmp_ok($took, '<', 4, 'the 40 pings take less than 4 s');
    ok($spam <= 2, 'the broken stream is not logged again and again');
}
ok(wait_for(sub { $s->log_lines($w3, 'broken') >= 1 }, 10),
   'the broken stream is logged');
$r->cmd('DEL', "$prefix:q:broken:normal");
is($s->stop_worker($w3), 0, 'worker exits 0');

for my $x ($w1, $w2, $w3) {
    unlike($s->worker_log($x), qr/AddressSanitizer|runtime error/,
           "worker $x->{n}: no sanitizer report");
}

done_testing();
