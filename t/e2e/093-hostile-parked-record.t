#!/usr/bin/perl
# A record whose write Redis refuses on a key other than the task's hash
# (here the queue's dead-letter stream made a string): the record waits
# for the key to be fixed without its run slot ("parked"), so one broken
# key does not stop the tasks that do not need it.
#   1. concurrency 2, three tasks that fail for good (their records need
#      the broken key) then tasks that succeed: these run (before: the
#      failed ones kept their slots and nothing else ran); the key is
#      logged once; the heartbeat counts two parked records and none in
#      flight; once the key is deleted every outcome is written, one
#      dead-letter entry each, every entry acked, the recovery logged
#      once; the worker exits 0;
#   2. a worker stopped while records are parked exits at once (it does
#      not wait out shutdown_grace for a key it cannot write) and leaves
#      their entries pending: a worker started after the key is fixed
#      reclaims them and writes each outcome once.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for json_decode);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $stream = "$prefix:q:default:normal";
my $dl = "$prefix:dead:default";
$s->start_redis;
my $t = TaskGW::Tasks->new($s);
my $r = $t->redis;

my %wconf = (
    concurrency    => 2,
    queues         => { default => 1, other => 1 },
    claim_idle     => '2s',
    redis_backoff  => { min => '100ms', max => '1s' },
    retry          => { max_attempts => 1, base => '100ms', cap => '300ms' },
    handlers       => {
        'system.ping' => { builtin => 'ping' },
        'fail'        => { builtin => 'fail' },
    },
);

sub pending { $r->cmd('XPENDING', $stream, 'workers')->[0] // 0 }

# The ids of the dead-letter entries, sorted.
sub dead_ids {
    my $e = $r->cmd('XRANGE', $dl, '-', '+');
    return sort map { my %f = @{ $_->[1] }; $f{id} } @$e;
}

sub heartbeat {
    my ($w) = @_;
    my $j = $r->cmd('GET', "$prefix:worker:e2e-$w->{n}");
    return $j ? json_decode($j) : {};
}

# === TEST 1: concurrency 2, three records wait on the broken key; tasks
# that do not need it still run; all written once the key is fixed
$r->cmd('SET', $dl, 'not a stream');
my $w1 = $s->start_worker(\%wconf);
my @failed = map { $t->enqueue('fail') } 1 .. 3;
ok(wait_for(sub { $s->log_lines($w1, 'record_key_refused', $dl) >= 1 }, 20),
   'the key is logged') or diag $s->worker_log($w1);
my @ok = map { $t->enqueue('system.ping', queue => $_ % 2 ? 'other'
                                                         : 'default') } 1 .. 4;
ok(wait_for(sub { !grep { $t->status($_) ne 'succeeded' } @ok }, 20),
   'tasks that do not need the key run')
    or diag join(' ', map { $t->status($_) } @ok), $s->worker_log($w1);
ok(wait_for(sub { my $h = heartbeat($w1);
                  ($h->{parked} // -1) == 2 && $h->{in_flight} == 1 }, 20),
   'the heartbeat: two parked, the third holds its slot (the cap)')
    or diag explain heartbeat($w1);
is(pending(), 3, 'the entries of the waiting records stay pending');
is($r->cmd('GET', $dl), 'not a stream', 'the key is left as it is');
$r->cmd('DEL', $dl);
ok(wait_for(sub { pending() == 0 }, 20), 'every entry is acked once fixed')
    or diag $s->worker_log($w1);
is_deeply([ dead_ids() ], [ sort @failed ], 'one dead-letter entry each');
is(scalar(grep { $t->status($_) eq 'dead' } @failed), 3, 'all three dead');
is($s->log_lines($w1, 'record_key_refused'), 1, 'the key was logged once');
ok(wait_for(sub { $s->log_lines($w1, 'record_key_recovered', $dl) == 1 }, 10),
   'and its recovery once') or diag $s->worker_log($w1);
my $after = $t->enqueue('fail');
ok(wait_for(sub { $t->status($after) eq 'dead' && pending() == 0 }, 20),
   'a record that needs the key now goes through');
is($r->cmd('XLEN', $dl), 4, 'its dead-letter entry');
is($s->stop_worker($w1, timeout => 10), 0, 'worker exits 0');
$r->cmd('DEL', $dl);

# === TEST 2: stopped with parked records: exits without waiting out the
# grace; their entries stay pending and the next worker writes them
$r->cmd('SET', $dl, 'not a stream');
my $w2 = $s->start_worker({ %wconf, shutdown_grace => '60s' });
my @left = map { $t->enqueue('fail') } 1 .. 2;
ok(wait_for(sub { ($r->cmd('HGET', "$prefix:task:$left[$_]", 'attempts')
                   // 0) == 1 } , 20), "task $_ ran") for 0 .. 1;
my $ping = $t->enqueue('system.ping', queue => 'other');
ok(wait_for(sub { $t->status($ping) eq 'succeeded' }, 20),
   'both records parked: a task runs beside them')
    or diag $s->worker_log($w2);
is($s->stop_worker($w2, timeout => 20), 0,
   'worker exits 0, before its 60 s grace')
    or diag $s->worker_log($w2);
is(pending(), 2, 'their entries stay pending');
is($r->cmd('EXISTS', $dl), 1, 'the key is untouched');
$r->cmd('DEL', $dl);
my $w3 = $s->start_worker(\%wconf);
ok(wait_for(sub { pending() == 0 }, 30), 'reclaimed and written')
    or diag $s->worker_log($w3);
is_deeply([ dead_ids() ], [ sort @left ], 'one dead-letter entry each');
is($s->stop_worker($w3, timeout => 10), 0, 'worker exits 0');

for my $x ($w1, $w2, $w3) {
    unlike($s->worker_log($x), qr/AddressSanitizer|runtime error/,
           "worker $x->{n}: no sanitizer report");
}

done_testing();
