#!/usr/bin/perl
# A queue stream key replaced by another type while tasks of it run: their
# entries went with the stream, so the ack of their record can never
# succeed.  Each outcome is written, nothing is acked, the slots are freed
# and the stream key is logged once; the other queues keep working.  And
# a scheduled set of another type is logged once, not on every pass.
#   1. concurrency 1: a run of queue default succeeds after its stream
#      was SET to a string; the task ends succeeded, a task of queue
#      other runs behind it (the slot was freed), one queue_stream_bad
#      line, the string untouched (before: the record was refused on
#      every tick, logged every 40th, the slot held, the exit stuck);
#   2. concurrency 4, two runs recorded in one call (the batched form)
#      after their stream was deleted and made a hash, one failing for
#      good (its dead-letter entry, written once): both recorded, one
#      line, the worker goes on;
#   3. the scheduled set a string: the mover's error is logged once,
#      not on each pass (before: on each), and tasks still run;
#   4. a cron schedule's queue stream a string: its error is logged once,
#      not on each tick (before: on each), and it fires once fixed.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $dir = $s->dir;
my $prefix = $s->prefix;
my $stream = "$prefix:q:default:normal";
$s->start_redis;
my $t = TaskGW::Tasks->new($s);
my $r = $t->redis;

# runs until the file go exists; fails when its id is in the file fail
my $gated = $t->gated_script;

my %wconf = (
    concurrency => 1,
    queues      => { default => 1, other => 1 },
    claim_idle  => '2s',
    retry       => { max_attempts => 1, base => '100ms', cap => '300ms' },
    handlers    => {
        'system.ping' => { builtin => 'ping' },
        'gated'       => { exec => [ $gated ] },
    },
);

sub running {
    my @ids = @_;
    return wait_for(sub { !grep { $t->status($_) ne 'running' } @ids }, 10);
}

sub go {
    open my $fh, '>', "$dir/go" or die "$dir/go: $!";
    close $fh;
}

# === TEST 1: concurrency 1, the stream a string when the run ends
unlink "$dir/go";
my $w1 = $s->start_worker(\%wconf);
my $a = $t->enqueue('gated');
ok(running($a), 'the task runs') or diag $s->worker_log($w1);
$r->cmd('DEL', $stream);
$r->cmd('SET', $stream, 'not a stream');
my $next = $t->enqueue('system.ping', queue => 'other');
go();
ok(wait_for(sub { $t->status($a) eq 'succeeded' }, 10),
   'its outcome is written') or diag $s->worker_log($w1);
ok(wait_for(sub { $t->status($next) eq 'succeeded' }, 10),
   'a task of another queue runs behind it: the slot was freed')
    or diag $s->worker_log($w1);
ok(wait_for(sub { $s->log_lines($w1, 'queue_stream_bad', $stream) >= 1 }, 10),
   'the stream key is logged') or diag $s->worker_log($w1);
my $more = $t->enqueue('system.ping', queue => 'other');
ok(wait_for(sub { $t->status($more) eq 'succeeded' }, 10),
   'the other queue keeps working');
is($s->log_lines($w1, 'queue_stream_bad'), 1, 'once');
is($s->log_lines($w1, 'redis_error', 'step=record'), 0,
   'no refused record');
is($r->cmd('GET', $stream), 'not a stream', 'the string is left as it is');
is($s->stop_worker($w1, timeout => 5), 0, 'worker exits 0');
$r->cmd('DEL', $stream);

# === TEST 2: concurrency 4, two runs end together in one record call;
# their stream deleted and made a hash meanwhile, one fails for good
unlink "$dir/go";
my $w2 = $s->start_worker({ %wconf, concurrency => 4 });
my @ids = map { $t->enqueue('gated') } 1 .. 2;
ok(running(@ids), 'two tasks run') or diag $s->worker_log($w2);
{
    open my $f, '>', "$dir/fail" or die "$dir/fail: $!";
    print $f $ids[1];
    close $f;
}
$r->cmd('DEL', $stream);
$r->cmd('HSET', $stream, 'not', 'a stream');
go();
ok(wait_for(sub { $t->status($ids[0]) eq 'succeeded'
                  && $t->status($ids[1]) eq 'dead' }, 10),
   'both outcomes are written')
    or diag join(' ', map { $t->status($_) } @ids), $s->worker_log($w2);
ok(wait_for(sub { $s->log_lines($w2, 'queue_stream_bad', $stream) >= 1 }, 10),
   'the stream key is logged') or diag $s->worker_log($w2);
my $ping = $t->enqueue('system.ping', queue => 'other');
ok(wait_for(sub { $t->status($ping) eq 'succeeded' }, 10),
   'the worker goes on') or diag $s->worker_log($w2);
is($s->log_lines($w2, 'queue_stream_bad'), 1, 'logged once');
is($r->cmd('XLEN', "$prefix:dead:default"), 1, 'one dead-letter entry');
is($s->stop_worker($w2, timeout => 5), 0, 'worker exits 0');
$r->cmd('DEL', $stream);
unlink "$dir/fail";

# === TEST 3: the scheduled set a string: said once, tasks still run
my $sched = "$prefix:scheduled";
$r->cmd('SET', $sched, 'not a set');
my $w3 = $s->start_worker(\%wconf);
my $p1 = $t->enqueue('system.ping');
ok(wait_for(sub { $t->status($p1) eq 'succeeded' }, 10), 'a task runs')
    or diag $s->worker_log($w3);
ok(wait_for(sub { $s->log_lines($w3, 'mover_error') >= 1 }, 10),
   'the mover error is logged') or diag $s->worker_log($w3);
# several passes of the mover (one a tick), counted by Redis's refusals
sub wrongtypes {
    my ($n) = $r->cmd('INFO', 'errorstats') =~ /errorstat_WRONGTYPE:count=(\d+)/;
    return $n // 0;
}
my $seen = wrongtypes();
ok(wait_for(sub { wrongtypes() >= $seen + 8 }, 20),
   'the mover tried again and again') or diag wrongtypes();
my $p2 = $t->enqueue('system.ping', queue => 'other');
ok(wait_for(sub { $t->status($p2) eq 'succeeded' }, 10), 'tasks still run');
is($s->log_lines($w3, 'mover_error'), 1, 'the mover error, once')
    or diag $s->worker_log($w3);
$r->cmd('DEL', $sched);
is($s->stop_worker($w3, timeout => 5), 0, 'worker exits 0');

# === TEST 4: a cron schedule whose queue stream is a string: its error
# is logged once, not on each tick it is tried again; it fires once the
# key is fixed
my $cronq = "$prefix:q:cronq:normal";
$r->cmd('SET', $cronq, 'not a stream');
my $w4 = $s->start_worker({
    %wconf,
    schedules => [ { name => 'every', cron => '* * * * *', queue => 'cronq',
                     type => 'system.ping' } ],
});
ok(wait_for(sub { $s->log_lines($w4, 'cron_error') >= 1 }, 10),
   'the tick failed') or diag $s->worker_log($w4);
$seen = wrongtypes();
ok(wait_for(sub { wrongtypes() >= $seen + 8 }, 20),
   'it was tried again and again') or diag wrongtypes();
is($s->log_lines($w4, 'cron_error'), 1, 'the cron error, once')
    or diag $s->worker_log($w4);
$r->cmd('DEL', $cronq);
ok(wait_for(sub { ($r->cmd('XLEN', $cronq) // 0) == 1 }, 10),
   'the tick fires once the key is fixed') or diag $s->worker_log($w4);
is($s->stop_worker($w4, timeout => 5), 0, 'worker exits 0');

for my $x ($w1, $w2, $w3, $w4) {
    unlike($s->worker_log($x), qr/AddressSanitizer|runtime error/,
           "worker $x->{n}: no sanitizer report");
}

done_testing();
