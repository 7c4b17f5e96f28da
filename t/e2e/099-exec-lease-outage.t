#!/usr/bin/perl
# A Redis outage that lapses the exec spawner's lease while the worker
# also holds a builtin task: once Redis is back, an exec task read at the
# reconnect must run under a new lease, not be killed at once under the
# one that lapsed.  Before, the worker's claim refreshes moved the lease
# only once Redis acknowledged them, and the builtin task kept them from
# being news at once, so the first program after the outage started under
# the lapsed lease and the spawner killed it within milliseconds (the task
# abandoned and run again only after claim_idle).  See "exec" in
# docs/worker-config.md.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);
use TaskGW::Procs qw(alive pid_list);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $dir = $s->dir;
$s->start_redis;
my $t = TaskGW::Tasks->new($s);

my $ex = $t->script('ex', <<"EOS");
echo \$\$ >> $dir/pids
sleep 3
echo '"ok"'
EOS

END { kill 'KILL', pid_list("$dir/pids") if defined $dir; }

# the reconnect waits 2 s, so the second task is in its stream when the
# worker is back
my %conf = (
    concurrency   => 3,
    queues        => { default => 1 },
    claim_idle    => '1s',
    redis_backoff => { min => '2s', max => '2s' },
    retry         => { max_attempts => 5, base => '100ms', cap => '300ms' },
    handlers      => { ex => { exec => [$ex], timeout => '30s' },
                       sl => { builtin => 'sleep', timeout => '1m' } },
);

# === TEST 1: a builtin task and an exec program run; Redis goes away and
# the program is killed (the lease lapsed, as it must)
my $w = $s->start_worker(\%conf);
$t->enqueue('sl', payload => '{"ms":30000}');
$t->enqueue('ex');
ok(wait_for(sub { scalar(() = pid_list("$dir/pids")) == 1 }, 20),
   'the program runs') or diag $s->worker_log($w);
my ($first) = pid_list("$dir/pids");
$s->stop_redis(signal => 'KILL');
ok(wait_for(sub { !alive($first) }, 10), 'the outage kills the program')
    or diag $s->worker_log($w);

# === TEST 2: Redis is back (empty); an exec task waiting in its stream
# when the worker reconnects runs once, to its end
$s->start_redis;
$t->{r} = $s->redis;              # ids go on: none is taken twice
$s->redis->cmd('XGROUP', 'CREATE', "$t->{prefix}:q:default:normal",
               'workers', '0', 'MKSTREAM');
my $id = $t->enqueue('ex');
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 30),
   'the task after the outage succeeds') or diag $s->worker_log($w);
my $log = $s->worker_log($w);
my @lapsed = $log =~ /event=exec_lease_lapsed/g;
is(scalar @lapsed, 1, 'one lapse: the outage\'s, none after it')
    or diag $log;
unlike($log, qr/event=task_abandoned task_id=$id/,
       'the task after the outage is not abandoned') or diag $log;
like($log, qr/event=task_succeeded task_id=$id .*attempt=1 /,
     'it succeeds at its first attempt') or diag $log;

is($s->stop_worker($w), 0, 'the worker exits 0');
unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
       'no sanitizer report');

done_testing();
