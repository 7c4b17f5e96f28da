#!/usr/bin/perl
# A task hash replaced by a key of another type while the task runs: the
# record of its outcome is refused (WRONGTYPE).  The task is a bad record,
# as at its take: logged once, its entry acked, its slot freed; the other
# tasks finished with it are recorded as usual.
#   1. concurrency 1, a succeeded run (the short record form): a task
#      enqueued after it still runs, nothing stays pending, one
#      task_bad_record line (before: the record was retried on every
#      tick, the slot held and the entry pending until a restart);
#   2. concurrency 4, four runs let go together, one of them failing for
#      good (the full record form, with its dead-letter entry) and its
#      hash replaced: the three others end succeeded, nothing stays
#      pending, the worker goes on;
#   3. a record refused on another key (the dead-letter stream a string)
#      while the task's hash is intact is retried, not dropped, and is
#      recorded once that key is fixed (093-hostile-parked-record.t: the
#      other tasks meanwhile).

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
    queues      => { default => 1 },
    claim_idle  => '2s',
    retry       => { max_attempts => 1, base => '100ms', cap => '300ms' },
    handlers    => {
        'system.ping' => { builtin => 'ping' },
        'gated'       => { exec => [ $gated ] },
    },
);

sub pending { $r->cmd('XPENDING', $stream, 'workers')->[0] // 0 }

# Waits until each of ids runs (its status says so).
sub running {
    my @ids = @_;
    return wait_for(sub { !grep { $t->status($_) ne 'running' } @ids }, 10);
}

# === TEST 1: concurrency 1, the run succeeds, its hash is a string by then
unlink "$dir/go";
my $w1 = $s->start_worker(\%wconf);
my $bad = $t->enqueue('gated');
ok(running($bad), 'the task runs') or diag $s->worker_log($w1);
$r->cmd('SET', "$prefix:task:$bad", 'not a hash');
my $next = $t->enqueue('system.ping');
open my $fh, '>', "$dir/go" or die "$dir/go: $!";
close $fh;
ok(wait_for(sub { $t->status($next) eq 'succeeded' }, 10),
   'a task behind it runs: its slot was freed')
    or diag $s->worker_log($w1);
ok(wait_for(sub { pending() == 0 }, 10), 'nothing stays pending')
    or diag 'pending ' . pending();
ok(wait_for(sub { $s->log_lines($w1, 'task_bad_record', $bad) >= 1 }, 10),
   'the bad record is logged') or diag $s->worker_log($w1);
# the entry acked, the task is gone: no retry can log it again
is($s->log_lines($w1, 'task_bad_record', $bad), 1, 'once');
is($r->cmd('GET', "$prefix:task:$bad"), 'not a hash',
   'the string is left as it is');
is($s->stop_worker($w1, timeout => 5), 0, 'worker exits 0');

# === TEST 2: concurrency 4, four runs end together; one fails for good
# and its hash is a string by then
unlink "$dir/go";
my $w2 = $s->start_worker({ %wconf, concurrency => 4 });
my @ids = map { $t->enqueue('gated') } 1 .. 4;
ok(running(@ids), 'four tasks run') or diag $s->worker_log($w2);
my $dead = $ids[1];
{
    open my $f, '>', "$dir/fail" or die "$dir/fail: $!";
    print $f $dead;
    close $f;
}
$r->cmd('SET', "$prefix:task:$dead", 'not a hash');
open $fh, '>', "$dir/go" or die "$dir/go: $!";
close $fh;
my @ok = grep { $_ ne $dead } @ids;
ok(wait_for(sub { !grep { $t->status($_) ne 'succeeded' } @ok }, 10),
   'the three others succeed')
    or diag join ' ', map { $t->status($_) } @ok;
ok(wait_for(sub { pending() == 0 }, 10), 'nothing stays pending')
    or diag 'pending ' . pending();
ok(wait_for(sub { $s->log_lines($w2, 'task_bad_record', $dead) >= 1 }, 10),
   'the bad record is logged') or diag $s->worker_log($w2);
is($s->log_lines($w2, 'task_bad_record', $dead), 1, 'once');
my $ping = $t->enqueue('system.ping');
ok(wait_for(sub { $t->status($ping) eq 'succeeded' }, 10),
   'the worker goes on');
is($s->stop_worker($w2, timeout => 5), 0, 'worker exits 0');

# === TEST 3: the record refused on another key (the dead-letter stream
# a string), the task's hash intact: retried, not dropped; recorded once
# that key is fixed
unlink "$dir/go";
my $w3 = $s->start_worker(\%wconf);
my $dl = "$prefix:dead:default";
$r->cmd('SET', $dl, 'not a stream');
my $kept = $t->enqueue('gated');
ok(running($kept), 'the task runs') or diag $s->worker_log($w3);
{
    open my $f, '>', "$dir/fail" or die "$dir/fail: $!";
    print $f $kept;
    close $f;
}
open $fh, '>', "$dir/go" or die "$dir/go: $!";
close $fh;
ok(wait_for(sub { $s->log_lines($w3, 'record_key_refused', $kept, $dl) >= 1 },
            10), 'its record is refused, the key named')
    or diag $s->worker_log($w3);
is(pending(), 1, 'its entry stays pending');
is($s->log_lines($w3, 'task_bad_record'), 0, 'it is no bad record');
$r->cmd('DEL', $dl);
ok(wait_for(sub { $t->status($kept) eq 'dead' }, 10),
   'recorded once the key is fixed') or diag $s->worker_log($w3);
ok(wait_for(sub { pending() == 0 }, 10), 'nothing stays pending');
is($r->cmd('XLEN', $dl), 1, 'its dead-letter entry, once');
is($s->stop_worker($w3, timeout => 5), 0, 'worker exits 0');

for my $x ($w1, $w2, $w3) {
    unlike($s->worker_log($x), qr/AddressSanitizer|runtime error/,
           "worker $x->{n}: no sanitizer report");
}

done_testing();
