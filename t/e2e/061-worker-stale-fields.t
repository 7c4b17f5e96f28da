#!/usr/bin/perl
# A task that succeeds keeps no error or result_encoding of an earlier
# attempt, and the record leaves out that delete only for the tasks whose
# take found neither field:
#   1. a task that failed its first attempt (its error written, status
#      retrying) and then succeeds ends with no error field;
#   2. in one batch of successes, the tasks whose hash held an error, a
#      result_encoding or both end without them, the others as usual;
#   3. a batch of tasks whose hashes hold neither is recorded without
#      any HDEL, and taken without any PERSIST (none finished before, so
#      none carries a TTL) (INFO commandstats).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

$s->start_redis;
my $r = $s->redis;
my $t = TaskGW::Tasks->new($s);
my $N = 20;

my %wconf = (
    concurrency => $N,
    retry       => { base => '50ms', cap => '100ms' },
);

sub calls {
    my ($cmd) = @_;
    for (split /\r?\n/, $r->cmd('INFO', 'commandstats')) {
        return $1 if /^cmdstat_$cmd:calls=(\d+)/;
    }
    return 0;
}

# === TEST 1: failed once, then succeeded: the first attempt's error goes
{
    my $w = $s->start_worker({ %wconf,
        handlers => { 'flaky' => { builtin => 'fail' } } });
    my $id = $t->enqueue('flaky');
    ok(wait_for(sub { ($t->field($id, 'error') // '') =~ /on purpose/ }, 10),
       'the first attempt failed and left its error')
        or diag $s->worker_log($w);
    is($s->stop_worker($w), 0, 'worker exits 0');
    is($t->status($id), 'retrying', 'the task waits for its retry');

    $w = $s->start_worker({ %wconf,
        handlers => { 'flaky' => { builtin => 'ping' } } });
    ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 10),
       'the retry succeeded')
        or diag $s->worker_log($w);
    is($t->field($id, 'attempts'), '2', 'on attempt 2');
    is($t->field($id, 'error'), undef, 'the first attempt\'s error is gone');
    is($s->stop_worker($w), 0, 'worker exits 0');
}

# === TEST 2: one batch, some hashes with what an earlier attempt left
{
    my (@stale, @clean);
    for my $i (1 .. $N) {
        my %left = $i % 4 == 1 ? (error => 'old')
                 : $i % 4 == 2 ? (result_encoding => 'base64')
                 : $i % 4 == 3 ? (error => 'old', result_encoding => 'base64')
                 : ();
        my $id = $t->enqueue('system.ping', %left);
        push @{ %left ? \@stale : \@clean }, $id;
    }
    my $w = $s->start_worker({ %wconf,
        handlers => { 'system.ping' => { builtin => 'ping' } } });
    ok(wait_for(sub { !grep { $t->status($_) ne 'succeeded' }
                            @stale, @clean }, 10),
       "all $N tasks succeeded")
        or diag $s->worker_log($w);
    is(scalar(grep { defined $t->field($_, 'error')
                     || defined $t->field($_, 'result_encoding') }
              @stale, @clean), 0,
       'none has an error or a result_encoding');
    is(scalar(grep { defined $t->field($_, 'result') } @stale, @clean), $N,
       'each has its result');

    # === TEST 3: nothing stale: no HDEL
    $r->cmd('CONFIG', 'RESETSTAT');
    my @ids = map { $t->enqueue('system.ping') } 1 .. $N;
    ok(wait_for(sub { !grep { $t->status($_) ne 'succeeded' } @ids }, 10),
       "$N more succeeded")
        or diag $s->worker_log($w);
    is(calls('hdel'), 0, 'recorded without an HDEL');
    is(calls('persist'), 0, 'taken without a PERSIST (none finished before)');
    ok(calls('hset') >= 2 * $N, 'their writes went through ('
       . calls('hset') . ' HSET)');
    is($s->stop_worker($w), 0, 'worker exits 0');
}

done_testing;
