#!/usr/bin/perl
# The outcomes of the tasks that finish in one loop iteration are recorded
# by one script call (record_many.lua), and one bad task in such a batch
# or a connection lost under it costs no task its outcome and records
# none twice:
#   1. tasks finishing together are acked by fewer XACK calls than there
#      are tasks (they went in one call);
#   2. one task of the batch whose record Redis refuses (its hash turned
#      into a string) is a bad record: its entry acked and dropped,
#      logged once, while its batch-mates are recorded and acked (a
#      refused write on another key: 093-hostile-record-time.t);
#   3. the reply of a batched call is lost with the connection after the
#      script ran: every task of it ends once (one dead-letter entry
#      each, never two), nothing stays pending.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);
use TaskGW::Proxy;
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

$s->start_redis;
my $r = $s->redis;
my $t = TaskGW::Tasks->new($s);
my $prefix = $s->prefix;
my $stream = "$prefix:q:default:normal";
my $N = 20;

my %wconf = (
    concurrency   => $N,
    redis_timeout => '1s',
    handlers => { 'system.ping' => { builtin => 'ping' },
                  'sleep'       => { builtin => 'sleep' },
                  'fail'        => { builtin => 'fail' } },
);

sub pending { $r->cmd('XPENDING', $stream, 'workers')->[0] }

sub xack_calls {
    for (split /\r?\n/, $r->cmd('INFO', 'commandstats')) {
        return $1 if /^cmdstat_xack:calls=(\d+)/;
    }
    return 0;
}

# === TEST 1 and 2: a batch, one task of it refused by Redis
{
    my $w = $s->start_worker(\%wconf);
    ok(wait_for(sub { $t->terminal($t->enqueue('system.ping')) }, 10),
       'warm-up task done (scripts loaded)')
        or diag $s->worker_log($w);
    $r->cmd('CONFIG', 'RESETSTAT');

    # every task sleeps the same time from the same start: their timers
    # fire in the same loop iteration
    my @ids = map { $t->enqueue('sleep', payload => '{"ms":1500}') } 1 .. $N;
    ok(wait_for(sub { !grep { $t->status($_) ne 'running' } @ids }, 10),
       "$N tasks running")
        or diag $s->worker_log($w);
    my $bad = $ids[7];
    my $key = "$prefix:task:$bad";
    $r->cmd('DEL', $key);
    $r->cmd('SET', $key, 'not a task hash');

    my @good = grep { $_ ne $bad } @ids;
    ok(wait_for(sub { !grep { $t->status($_) ne 'succeeded' } @good }, 10),
       'every other task of the batch succeeded')
        or diag $s->worker_log($w);
    ok(wait_for(sub { $s->worker_log($w)
                      =~ /event=task_bad_record task_id=\Q$bad\E.*step=record/
                }, 10),
       'the bad task\'s record is refused: a bad record')
        or diag $s->worker_log($w);
    ok(wait_for(sub { pending() == 0 && $r->cmd('XLEN', $stream) == 0 }, 10),
       'nothing pending, the stream empty (its entry acked too)');
    my $acks = xack_calls();
    ok($acks >= 1 && $acks < $N - 1,
       "the others were acked by fewer XACK calls than tasks ($acks)");
    is($r->cmd('GET', $key), 'not a task hash', 'its key is left alone');
    $r->cmd('DEL', $key);
    is($s->stop_worker($w), 0, 'worker exits 0');
}

# === TEST 3: the reply of a batched record is lost after the script ran
{
    # the record scripts and take_many.lua are the ones called with no
    # keys; a record call's group is followed by a stream key (a
    # letter), take_many's by a number; the first record step through
    # the proxy is a batched one
    my $record = qr/EVALSHA\r\n\$40\r\n[0-9a-f]{40}\r\n\$1\r\n0\r\n
                    \$7\r\nworkers\r\n\$\d+\r\n[a-z]/x;
    my $px = TaskGW::Proxy->new($s, $s->redis_port, drop => [ $record ]);
    $r->cmd('CONFIG', 'RESETSTAT');
    my @ids = map { $t->enqueue('fail', payload => '{"permanent":true}') }
              1 .. $N;
    my $w = $s->start_worker({ %wconf, redis => '127.0.0.1:' . $px->port });
    ok(wait_for(sub { !grep { $t->status($_) ne 'dead' } @ids }, 20),
       "all $N tasks dead")
        or diag $s->worker_log($w);
    is($px->dropped, 1, 'the proxy lost the reply of a record call');
    ok(wait_for(sub { pending() == 0 && $r->cmd('XLEN', $stream) == 0 }, 10),
       'nothing pending, the stream empty')
        or diag $s->worker_log($w);
    # the tasks of the lost call try again on their own once the link is
    # back, and find their entries no longer pending
    my $lost = 0;
    ok(wait_for(sub {
        $lost = () = $s->worker_log($w) =~ /event=task_already_recorded/g;
        $lost >= 2 }, 15),
       'the tasks of the lost call find themselves recorded on retry')
        or diag $s->worker_log($w);
    note("$lost tasks were in the lost call");
    ok(wait_for(sub { pending() == 0 && $r->cmd('XLEN', $stream) == 0 }, 10),
       'nothing pending, the stream empty')
        or diag $s->worker_log($w);
    my %dead;
    $dead{ $_->[1][1] }++ for @{ $r->cmd('XRANGE', "$prefix:dead:default",
                                         '-', '+') };
    is(scalar(grep { ($dead{$_} // 0) == 1 } @ids), $N,
       'one dead-letter entry per task');
    is(scalar(keys %dead), $N, '... and no other');
    is(scalar(grep { $t->field($_, 'attempts') eq '1' } @ids), $N,
       'each ran once');
    is($s->stop_worker($w), 0, 'worker exits 0');
    $px->stop;
}

done_testing;
