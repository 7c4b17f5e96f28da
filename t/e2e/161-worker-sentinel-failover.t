#!/usr/bin/perl
# The worker and taskgwctl follow Redis Sentinel failovers, on the rig of
# t/lib/TaskGW/HA.pm (a primary, a replica, three sentinels):
#
#   1. the worker asks the sentinels for the master at start and runs
#      tasks enqueued with taskgwctl -S/-M;
#   2. a SENTINEL FAILOVER (planned switch) while tasks run: every task
#      ends succeeded on the new master, nothing left pending;
#   3. kill -9 of the primary while tasks run: once the replica is
#      promoted the worker resumes there, and every task that is on the
#      promoted replica ends succeeded (at least once); each switch is
#      logged once with both addresses; taskgwctl -S/-M and -c follow;
#   4. the master is turned into a replica behind the worker's back
#      (REPLICAOF, no client disconnected): its commands get -READONLY
#      (its blocked read -UNBLOCKED), the worker drops the connection,
#      asks the sentinels again and ends on the new master;
#   5. a sentinel that names a replica: the worker and taskgwctl refuse
#      it after ROLE.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP ();
use TaskGW::Stack qw(wait_for);
use TaskGW::HA;

my $s = TaskGW::Stack->new(prefix => 'e2e161');
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;
plan skip_all => 'redis-sentinel is not installed (sh scripts/deps.sh test)'
    unless grep { -x "$_/redis-sentinel" } split /:/, $ENV{PATH};

my $ha = TaskGW::HA->new($s);
my $name = $ha->master_name;
my $prefix = $s->prefix;
my $dir = $s->dir;

sub rcmd {
    my ($port, @cmd) = @_;
    return eval { TaskGW::Stack::Redis->new($port, 2)->cmd(@cmd) };
}

sub status {
    my ($port, $id) = @_;
    return rcmd($port, 'HGET', "$prefix:task:$id", 'status') // '';
}

# The ids among @ids whose task exists on $port.
sub present {
    my ($port, @ids) = @_;
    return grep { rcmd($port, 'EXISTS', "$prefix:task:$_") } @ids;
}

sub succeeded {
    my ($port, @ids) = @_;
    return scalar grep { status($port, $_) eq 'succeeded' } @ids;
}

# Entries read by a worker and not acknowledged, over the priorities.
sub pending {
    my ($port) = @_;
    my $n = 0;
    for my $p (qw(high normal low)) {
        my $r = rcmd($port, 'XPENDING', "$prefix:q:default:$p", 'workers');
        $n += $r->[0] if ref $r eq 'ARRAY';
    }
    return $n;
}

# Until the replicas of the master on $port have everything it has.
sub in_sync {
    my ($port) = @_;
    return wait_for(sub {
        my $info = rcmd($port, 'INFO', 'replication') // '';
        my ($mo) = $info =~ /master_repl_offset:(\d+)/;
        my @so = $info =~ /slave\d+:.*?offset=(\d+)/g;
        @so && !grep { $_ != $mo } @so;
    }, 30, 0.02);
}

sub enqueue {
    my ($type, $payload) = @_;
    my $c = $ha->ctl('enqueue', 'default', $type, '-', { stdin => $payload });
    diag "enqueue: $c->{err}" if $c->{code};
    return $c->{code} == 0 ? ($c->{out} =~ /^(\S+)/)[0] : undef;
}

my $w = $s->start_worker({
    sentinel      => [ $ha->sentinel_addrs ],
    master        => $name,
    name          => 'ha-1',
    concurrency   => 4,
    claim_idle    => '2s',
    redis_timeout => '2s',
    redis_backoff => { min => '50ms', max => '500ms' },
    queues        => { default => 1 },
    handlers      => { sleep => { builtin => 'sleep' },
                       echo  => { builtin => 'echo' } },
});
sub wlog { $s->worker_log($w) }
sub switches { [ wlog() =~ /(event=redis_master_switch [^\n]*)/g ] }

# === TEST 1: the worker finds the master through the sentinels
my $p1 = $ha->master_port;
ok(wait_for(sub { wlog() =~ /event=redis_master master=$name addr=127\.0\.0\.1:$p1\b/ }, 30),
   "worker: the master the sentinels name ($p1)") or diag wlog();
ok(wait_for(sub { (() = wlog() =~ /event=redis_up/g) >= 2 }, 30),
   'worker: both connections up');
my @first = map { enqueue('echo', qq({"n":$_})) } 1 .. 5;
is(scalar(grep { defined } @first), 5, 'taskgwctl -S -M: five tasks enqueued');
ok(wait_for(sub { succeeded($p1, @first) == 5 }, 30), 'they succeed');

# === TEST 2: SENTINEL FAILOVER while tasks run
# 16 tasks of 1.5 s at concurrency 4 take 6 s: a busy machine (the
# sanitizer build, the replica catching up) still fails over with some
# of them left to run.
my @planned = map { enqueue('sleep', '{"ms":1500}') } 1 .. 16;
is(scalar(grep { defined } @planned), 16, '16 tasks of 1.5 s enqueued');
ok(wait_for(sub { succeeded($p1, @planned) >= 2 }, 30), 'running');
ok(in_sync($p1), 'the replica has every write so far');
my $planned_before = succeeded($p1, @planned);
$ha->failover;
# (and the old master follows the new one as its replica)
my $p2 = $ha->wait_switched($p1, replicas => 1, timeout => 150);
cmp_ok($planned_before, '<', 16,
       "switched $p1 -> $p2 with tasks left ($planned_before of 16 done)");
is(scalar(present($p2, @planned)), 16, 'every task is on the new master');
ok(wait_for(sub { succeeded($p2, @planned) == 16 }, 90, 0.2),
   'every one ends succeeded')
    or diag join ' ', map { "$_=" . status($p2, $_) } @planned;
ok(wait_for(sub { pending($p2) == 0 }, 30), 'nothing left pending');
ok(wait_for(sub { @{ switches() } == 1 }, 30), 'the switch is logged once')
    or diag wlog();
like(switches()->[0] // '',
     qr/master=$name from=127\.0\.0\.1:$p1 to=127\.0\.0\.1:$p2$/,
     'with the old and the new address');

# === TEST 3: kill -9 of the primary while tasks run
my @load = map { enqueue('sleep', '{"ms":800}') } 1 .. 40;
is(scalar(grep { defined } @load), 40, '40 tasks of 800 ms enqueued');
ok(in_sync($p2), 'the replica has them all');
ok(wait_for(sub { succeeded($p2, @load) >= 4 }, 30), 'some of them done');
my $done_before = succeeded($p2, @load);
is($ha->kill_primary, $p2, "kill -9 of the primary ($p2)");
cmp_ok($done_before, '<', 40, "killed with tasks left ($done_before of 40 "
       . 'done)');
my $p3 = $ha->wait_switched($p2, timeout => 150);
is($p3, $p1, "the replica ($p1) promoted");
my @there = present($p3, @load);
is(scalar @there, 40, 'every task enqueued is on the promoted replica');
ok(wait_for(sub { succeeded($p3, @there) == @there }, 90, 0.2),
   'every task on the promoted replica ends succeeded')
    or diag join ' ', map { "$_=" . status($p3, $_) } @there;
ok(wait_for(sub { pending($p3) == 0 }, 30), 'nothing left pending');
my @after = map { enqueue('echo', qq({"after":$_})) } 1 .. 5;
is(scalar(grep { defined } @after), 5,
   'taskgwctl -S -M enqueues on the new master');
ok(wait_for(sub { succeeded($p3, @after) == 5 }, 30),
   'and the worker runs them');
ok(wait_for(sub { @{ switches() } == 2 }, 30), 'this switch logged once too')
    or diag join "\n", @{ switches() };
like(switches()->[1] // '', qr/from=127\.0\.0\.1:$p2 to=127\.0\.0\.1:$p3$/,
     'from the killed primary to the promoted replica');
{
    my $c = $s->run_cmd([ $s->ctl_binary, '-c', $w->{conf}, '--json',
                          'task', 'show', $after[0] ]);
    is($c->{code}, 0, 'taskgwctl -c with the worker\'s config')
        or diag $c->{err};
    like($c->{out}, qr/"status":"succeeded"/, 'finds the task there');
    $c = $s->run_cmd([ $s->ctl_binary, '-c', $w->{conf}, '-r',
                       "127.0.0.1:$p3", 'queues' ]);
    is($c->{code}, 0, 'taskgwctl -c -r: -r replaces the file\'s sentinels')
        or diag $c->{err};
}

# === TEST 4: the master turned into a replica behind the worker's back
is($ha->restart_old_primary, $p2, "the killed primary ($p2) is back as a "
   . 'replica');
# 16 tasks of 1.5 s at concurrency 4 take 6 s: a busy machine still has
# tasks left when the roles swap (with 600 ms the ASan CI run once had
# all 16 done before it)
my @ro = map { enqueue('sleep', '{"ms":1500}') } 1 .. 16;
is(scalar(grep { defined } @ro), 16, '16 more tasks');
ok(wait_for(sub { succeeded($p3, @ro) >= 2 }, 30), 'running');
ok(in_sync($p3), 'the replica has every write so far');
my $ro_before = succeeded($p3, @ro);
is(rcmd($p2, 'REPLICAOF', 'NO', 'ONE'), 'OK', "$p2: REPLICAOF NO ONE");
is(rcmd($p3, 'REPLICAOF', '127.0.0.1', $p2), 'OK',
   "$p3: REPLICAOF $p2 (no client disconnected)");
cmp_ok($ro_before, '<', 16, "with tasks left ($ro_before of 16 done)");
ok(wait_for(sub { wlog() =~ /event=redis_down conn=\w+ reason="(?:READONLY|UNBLOCKED) / }, 30),
   'the worker drops its connection on READONLY/UNBLOCKED') or diag wlog();
# the sentinels need seconds to notice (down_after and more): meanwhile
# they name the demoted server, which ROLE refuses, said once at warn
ok(wait_for(sub { wlog() =~ /level=warn event=redis_not_master conn=\w+ addr=127\.0\.0\.1:$p3 reason="the server is a slave, not a master"/ }, 30),
   'the worker refuses the demoted server the sentinels still name')
    or diag wlog();
is($ha->wait_switched($p3, timeout => 150), $p2,
   'the sentinels follow to the new master');
my @ro_there = present($p2, @ro);
ok(wait_for(sub { succeeded($p2, @ro_there) == @ro_there }, 90, 0.2),
   'every task on the new master ends succeeded ('
   . scalar(@ro_there) . ' of 16 there)')
    or diag join ' ', map { "$_=" . status($p2, $_) } @ro_there;
ok(wait_for(sub { pending($p2) == 0 }, 30), 'nothing left pending');
ok(wait_for(sub { @{ switches() } == 3 }, 30), 'the third switch logged');
like(switches()->[2] // '', qr/from=127\.0\.0\.1:$p3 to=127\.0\.0\.1:$p2$/,
     'with both addresses');
{
    my $id = enqueue('echo', '{"last":1}');
    ok(defined $id, 'taskgwctl follows: enqueue');
    ok(wait_for(sub { status($p2, $id) eq 'succeeded' }, 30), 'runs');
}

# === TEST 5: a sentinel that names a replica is not believed
{
    my $sp = TaskGW::Stack::free_port();
    my $conf = "$dir/stale-sentinel.conf";
    open my $fh, '>', $conf or die;
    # it watches the replica under another name, and would call it down
    # only after 10 minutes: it keeps naming it
    print $fh "port $sp\nbind 127.0.0.1\ndir $dir\n",
              "sentinel monitor stale 127.0.0.1 $p3 1\n",
              "sentinel down-after-milliseconds stale 600000\n";
    close $fh;
    $s->spawn('stale-sentinel', $ENV{TASKGW_REDIS_SENTINEL}
              || 'redis-sentinel', $conf);
    ok(wait_for(sub {
        my $r = rcmd($sp, 'SENTINEL', 'get-master-addr-by-name', 'stale');
        ref $r eq 'ARRAY' && $r->[1] == $p3
    }, 30), "a sentinel names the replica $p3 as master \"stale\"");
    is($ha->role($p3), 'slave', "$p3 is a replica");

    my $c = $s->run_cmd([ $s->ctl_binary, '-S', "127.0.0.1:$sp", '-M',
                          'stale', 'queues' ]);
    is($c->{code}, 1, 'taskgwctl: exit 1');
    like($c->{err}, qr/redis 127\.0\.0\.1:$p3 \(master stale\): the server is a slave, not a master/,
         'taskgwctl: says the server is a replica') or diag $c->{err};

    my $w2 = $s->start_worker({ sentinel => [ "127.0.0.1:$sp" ],
                                master => 'stale', name => 'ha-2',
                                redis_backoff => { min => '50ms',
                                                   max => '500ms' } });
    ok(wait_for(sub { $s->worker_log($w2) =~ /event=redis_not_master conn=\w+ addr=127\.0\.0\.1:$p3 reason="the server is a slave, not a master"/ }, 30),
       'worker: redis_not_master for the replica') or diag $s->worker_log($w2);
    is($s->stop_worker($w2), 0, 'that worker exits 0');
    unlike($s->worker_log($w2), qr/event=redis_up/, 'it never used the replica');
    cmp_ok(scalar(() = $s->worker_log($w2) =~ /level=warn event=redis_not_master/g),
           '<=', 2, 'said at warn once per connection');
}

# === the end
is($s->stop_worker($w), 0, 'worker exits 0');
unlike(wlog(), qr/AddressSanitizer|runtime error|LeakSanitizer/,
       'no sanitizer report');
$ha->stop;

done_testing();
