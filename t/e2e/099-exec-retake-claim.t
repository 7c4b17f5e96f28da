#!/usr/bin/perl
# A worker that lost the answer of an exec task's take with the
# connection, and could not get back to Redis for longer than
# claim_idle, takes the task again once it is back and runs its
# program.  While that program runs, its entry must be this worker's
# claim: idle less than claim_idle, so that no other worker's reclaim
# can take it and run the task beside it.  Before, the take went out
# first and the claim refresh up to claim_idle/3 later: the program ran
# with its entry idle since before the outage, free for any reclaim.
# The refresh also renews the exec spawner's lease before the program
# starts; the task runs once, to its end, at its first attempt.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);
use TaskGW::Procs qw(pid_list);
use TaskGW::Proxy;
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $dir = $s->dir;
$s->start_redis;
my $t = TaskGW::Tasks->new($s);
my $r = $s->redis;
my $stream = "$t->{prefix}:q:default:normal";

my $ex = $t->script('ex', <<"EOS");
echo \$\$ >> $dir/pids
echo "\$TASKGW_TASK_ID" >> $dir/runs
sleep 2
echo '"ok"'
EOS

END { kill 'KILL', pid_list("$dir/pids") if defined $dir; }

sub runs_of {
    my ($id) = @_;
    open my $fh, '<', "$dir/runs" or return 0;
    return scalar grep { /^\Q$id\E$/ } <$fh>;
}

# The idle time (ms) of the one entry pending in the group, or -1.
sub idle {
    my $p = $r->cmd('XPENDING', $stream, 'workers', '-', '+', 10);
    return ref $p eq 'ARRAY' && @$p == 1 ? $p->[0][2] : -1;
}

my %conf = (
    concurrency => 4,
    queues      => { default => 1 },
    claim_idle  => '6s',
    retry       => { max_attempts => 5, base => '100ms', cap => '300ms' },
    handlers    => { ex => { exec => [$ex], timeout => '30s' } },
);

# the scripts loaded, so that the answer lost below is the take's, not a
# NOSCRIPT
{
    my $w = $s->start_worker(\%conf);
    ok(wait_for(sub { ($r->cmd('CLIENT', 'LIST') // '')
                      =~ /flags=b .*cmd=xreadgroup/ }, 10),
       'warm-up: the worker blocks on its read')
        or diag $s->worker_log($w);
    my $id = $t->enqueue('ex');
    ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 20),
       'warm-up task done') or diag $s->worker_log($w);
    is($s->stop_worker($w), 0, 'warm-up: worker exits 0');
}

# === TEST 1: the answer of the take is lost and the worker is kept away
# from Redis until the entry idled past claim_idle
my $take = qr/EVALSHA\r\n\$40\r\n[0-9a-f]{40}\r\n\$1\r\n0\r\n
              \$7\r\nworkers\r\n\$\d+\r\n\d/x;
my $px = TaskGW::Proxy->new($s, $s->redis_port, drop => [ $take ],
                            hold => 1);
my $w = $s->start_worker({ %conf, redis => '127.0.0.1:' . $px->port,
                           redis_timeout => '1s',
                           redis_backoff => { min => '50ms',
                                              max => '100ms' } });
ok(wait_for(sub { ($r->cmd('CLIENT', 'LIST') // '')
                  =~ /flags=b .*cmd=xreadgroup/ }, 10),
   'the worker blocks on its read') or diag $s->worker_log($w);
my $id = $t->enqueue('ex');
ok(wait_for(sub { $px->dropped == 1 }, 20), 'the answer of its take is lost')
    or diag $s->worker_log($w);
is($t->status($id), 'running', 'the lost take started it');
ok(wait_for(sub { idle() > 6500 }, 40), 'its entry idled past claim_idle')
    or diag $s->worker_log($w);

# === TEST 2: back, the worker runs the program with its entry claimed
# again: no reclaim can take it
$px->release;
ok(wait_for(sub { runs_of($id) == 1 }, 30), 'the program runs')
    or diag $s->worker_log($w);
my $idle = idle();
cmp_ok($idle, '<', 6000, 'its entry is claimed: idle under claim_idle')
    or diag $s->worker_log($w);
my $taken = $r->cmd('XAUTOCLAIM', $stream, 'workers', 'another-worker',
                    6000, '0-0', 'COUNT', 10, 'JUSTID');
is(scalar @{ $taken->[1] // [] }, 0, 'a reclaim by another worker takes '
   . 'nothing');

# === TEST 3: it runs once, to its end, at the attempt the lost take
# counted
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 30),
   'the task succeeds') or diag $s->worker_log($w);
my $log = $s->worker_log($w);
is(runs_of($id), 1, 'its program ran once');
unlike($log, qr/event=exec_lease_lapsed/, 'no lease lapsed') or diag $log;
like($log, qr/event=task_succeeded task_id=\Q$id\E .*attempt=1 /,
     'at its first attempt') or diag $log;

is($s->stop_worker($w), 0, 'the worker exits 0');
unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
       'no sanitizer report');
$px->stop;

done_testing();
