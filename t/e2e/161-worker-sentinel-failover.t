#!/usr/bin/perl
# The worker and taskgwctl follow a Redis Sentinel failover: a primary, a
# replica and three redis-sentinel processes on loopback.
#
#   1. the worker asks the sentinels for the master at start and runs tasks;
#   2. the primary is killed (-9) while tasks run: once Sentinel promoted
#      the replica the worker resumes on it, logs the switch once, and
#      every task that is on the promoted replica ends succeeded, nothing
#      left pending (at least once); taskgwctl -S/-M and -c follow;
#   3. the master is turned into a replica behind the worker's back
#      (REPLICAOF, no disconnect): its next command gets -READONLY (its
#      blocked read -UNBLOCKED), the worker drops the connection, asks the
#      sentinels again, and ends on the new master;
#   4. a sentinel that names a replica as master: the worker and taskgwctl
#      refuse it after ROLE.
#
# (Until the shared rig t/lib/TaskGW/HA.pm is there, the processes are
# started here, through TaskGW::Stack so that none outlives the test.)

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP ();
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;
my $sentinel_bin = $ENV{TASKGW_REDIS_SENTINEL} || '/usr/bin/redis-sentinel';
plan skip_all => 'redis-sentinel not installed' unless -x $sentinel_bin;
my $redis_bin = $ENV{TASKGW_REDIS_SERVER} || 'redis-server';

my $dir = $s->dir;
my $name = 'taskgw-ha';
my $prefix = $s->prefix;

# ---- the processes ----------------------------------------------------------

my %pid;                        # port => pid of the redis on it

sub rcli {
    my ($port) = @_;
    return eval { TaskGW::Stack::Redis->new($port, 2) };
}

sub rcmd {
    my ($port, @cmd) = @_;
    my $r = rcli($port) or return undef;
    return eval { $r->cmd(@cmd) };
}

sub start_redis {
    my ($port, @args) = @_;
    $pid{$port} = $s->spawn("redis-$port", $redis_bin, '--port', $port,
                            '--bind', '127.0.0.1', '--save', '',
                            '--appendonly', 'no', '--dir', $dir,
                            '--dbfilename', "dump-$port.rdb", @args);
    ok(wait_for(sub { (rcmd($port, 'PING') // '') eq 'PONG' }, 20),
       "redis on $port answers");
}

sub start_sentinel {
    my ($port, @monitor) = @_;
    my $conf = "$dir/sentinel-$port.conf";
    open my $fh, '>', $conf or die;
    print $fh "port $port\nbind 127.0.0.1\ndir $dir\n";
    while (my ($n, $mport, $quorum, $down) = splice @monitor, 0, 4) {
        print $fh "sentinel monitor $n 127.0.0.1 $mport $quorum\n",
                  "sentinel down-after-milliseconds $n $down\n",
                  "sentinel failover-timeout $n 3000\n";
    }
    close $fh;
    $s->spawn("sentinel-$port", $sentinel_bin, $conf);
    ok(wait_for(sub { (rcmd($port, 'PING') // '') eq 'PONG' }, 20),
       "sentinel on $port answers");
}

sub master_at {
    my ($sport, $n) = @_;
    my $r = rcmd($sport, 'SENTINEL', 'get-master-addr-by-name', $n // $name);
    return ref $r eq 'ARRAY' ? $r->[1] : undef;
}

sub role {
    my $r = rcmd($_[0], 'ROLE');
    return ref $r eq 'ARRAY' ? $r->[0] : '';
}

my ($p1, $p2) = (TaskGW::Stack::free_port(), TaskGW::Stack::free_port());
my @sp = map { TaskGW::Stack::free_port() } 1 .. 3;
my $slist = join ',', map { "127.0.0.1:$_" } @sp;

# All three sentinels name $port, and it is a master.
sub agreed {
    my ($port) = @_;
    return wait_for(sub {
        role($port) eq 'master'
            && !grep { (master_at($_) // '') ne $port } @sp
    }, 120, 0.2);
}

start_redis($p1);
start_redis($p2, '--replicaof', '127.0.0.1', $p1);
start_sentinel($_, $name, $p1, 2, 1000) for @sp;
ok(wait_for(sub {
    !grep {
        my $sen = rcmd($_, 'SENTINEL', 'sentinels', $name);
        my $rep = rcmd($_, 'SENTINEL', 'replicas', $name);
        !(ref $sen eq 'ARRAY' && @$sen == 2 && ref $rep eq 'ARRAY'
          && @$rep == 1)
    } @sp
}, 60, 0.2), 'each sentinel knows the replica and the two others');

# ---- the worker, taskgwctl --------------------------------------------------

my %wconf = (
    sentinel      => [ map { "127.0.0.1:$_" } @sp ],
    master        => $name,
    prefix        => $prefix,
    name          => 'ha-1',
    concurrency   => 4,
    claim_idle    => '2s',
    redis_timeout => '2s',
    redis_backoff => { min => '50ms', max => '500ms' },
    shutdown_grace => '5s',
    queues        => { default => 1 },
    handlers      => { sleep => { builtin => 'sleep' },
                       echo  => { builtin => 'echo' } },
);
my $wconf = "$dir/worker-ha.json";
open my $fh, '>', $wconf or die;
print $fh JSON::PP->new->canonical->pretty->encode(\%wconf);
close $fh;

my $wlog = "$dir/worker-ha.log";
my $wpid = $s->spawn('worker-ha', $s->worker_binary, '-c', $wconf);

sub wlog {
    open my $fh, '<', $wlog or return '';
    local $/;
    return <$fh>;
}

sub ctl {
    my ($args, $stdin) = @_;
    return $s->run_cmd([ $s->ctl_binary, @$args ],
                       defined $stdin ? (stdin => $stdin) : ());
}

sub enqueue {
    my ($type, $payload) = @_;
    my $c = ctl([ '-S', $slist, '-M', $name, '-p', $prefix, 'enqueue',
                  'default', $type, '-' ], $payload);
    return $c->{code} == 0 ? ($c->{out} =~ /^(\S+)/)[0] : undef;
}

sub status {
    my ($port, $id) = @_;
    return rcmd($port, 'HGET', "$prefix:task:$id", 'status') // '';
}

# The ids of the tasks that exist on $port, among @ids.
sub present {
    my ($port, @ids) = @_;
    return grep { rcmd($port, 'EXISTS', "$prefix:task:$_") } @ids;
}

sub pending {
    my ($port) = @_;
    my $n = 0;
    for my $p (qw(high normal low)) {
        my $r = rcmd($port, 'XPENDING', "$prefix:q:default:$p", 'workers');
        $n += $r->[0] if ref $r eq 'ARRAY';
    }
    return $n;
}

# === TEST 1: the worker finds the master through the sentinels
ok(wait_for(sub { wlog() =~ /event=redis_master master=$name addr=127\.0\.0\.1:$p1\b/ }, 30),
   'worker: the master named by the sentinels') or diag wlog();
ok(wait_for(sub { (() = wlog() =~ /event=redis_up/g) >= 2 }, 30),
   'worker: both connections up');
my @first = map { enqueue('echo', qq({"n":$_})) } 1 .. 5;
is(scalar(grep { defined } @first), 5, 'taskgwctl -S -M: five tasks enqueued');
ok(wait_for(sub { !grep { status($p1, $_) ne 'succeeded' } @first }, 30),
   'they succeed');

# === TEST 2: kill -9 of the primary while tasks run
my @load = map { enqueue('sleep', '{"ms":800}') } 1 .. 40;
is(scalar(grep { defined } @load), 40, '40 tasks of 800 ms enqueued');
ok(wait_for(sub { (grep { status($p1, $_) eq 'succeeded' } @load) >= 4 }, 30),
   'some of them done');
ok(wait_for(sub {
    my $r = rcmd($p1, 'INFO', 'replication') // '';
    my ($mo) = $r =~ /master_repl_offset:(\d+)/;
    my ($so) = $r =~ /slave0:.*offset=(\d+)/;
    defined $so && $so == $mo
}, 10, 0.02) || 1, 'replica caught up (or close)');
my $done_before = grep { status($p1, $_) eq 'succeeded' } @load;
cmp_ok($done_before, '<', 40, "the primary is killed with tasks left "
       . "($done_before of 40 done)");
$s->kill_process($pid{$p1}, 'KILL');
ok(agreed($p2), 'Sentinel promoted the replica') or diag wlog();

my @there = present($p2, @load);
note(sprintf '%d of the 40 tasks reached the replica before the kill '
     . '(asynchronous replication loses the rest)', scalar @there);
ok(@there >= $done_before, 'the replica has at least the tasks already done')
    or diag "$done_before done, " . scalar(@there) . ' on the replica';
ok(wait_for(sub { !grep { status($p2, $_) ne 'succeeded' } @there }, 90, 0.2),
   'every task on the promoted replica ends succeeded')
    or diag join ' ', map { "$_=" . status($p2, $_) } @there;
ok(wait_for(sub { pending($p2) == 0 }, 30), 'nothing left pending');
my @after = map { enqueue('echo', qq({"after":$_})) } 1 .. 5;
is(scalar(grep { defined } @after), 5,
   'taskgwctl -S -M enqueues on the new master');
ok(wait_for(sub { !grep { status($p2, $_) ne 'succeeded' } @after }, 30),
   'and the worker runs them');
my @sw = wlog() =~ /(event=redis_master_switch .*)/g;
is(scalar @sw, 1, 'the switch is logged once') or diag join "\n", @sw;
like($sw[0] // '', qr/from=127\.0\.0\.1:$p1 to=127\.0\.0\.1:$p2/,
     'with the old and the new address');
{
    my $c = ctl([ '-c', $wconf, '--json', 'task', 'show', $after[0] ]);
    is($c->{code}, 0, 'taskgwctl -c with the worker config') or diag $c->{err};
    like($c->{out}, qr/"status":"succeeded"/, 'reads the task there');
    $c = ctl([ '-c', $wconf, '-r', "127.0.0.1:$p2", 'queues' ]);
    is($c->{code}, 0, 'taskgwctl -c -r: -r replaces the file\'s sentinels');
}

# === TEST 3: the master becomes a replica behind the worker's back
start_redis($p1);               # the old primary, back: made a replica
ok(wait_for(sub {
    role($p1) eq 'slave'
        && (rcmd($p1, 'INFO', 'replication') // '') =~ /master_link_status:up/
}, 60, 0.2), 'the old primary is back as a replica of the new one');
my @ro = map { enqueue('sleep', '{"ms":600}') } 1 .. 16;
is(scalar(grep { defined } @ro), 16, '16 more tasks');
ok(wait_for(sub { (grep { status($p2, $_) eq 'succeeded' } @ro) >= 2 }, 30),
   'running');
my $ro_before = grep { status($p2, $_) eq 'succeeded' } @ro;
cmp_ok($ro_before, '<', 16, "switched with tasks left ($ro_before of 16 "
       . 'done)');
ok(wait_for(sub {
    my $r = rcmd($p2, 'INFO', 'replication') // '';
    my ($mo) = $r =~ /master_repl_offset:(\d+)/;
    my ($so) = $r =~ /slave0:.*offset=(\d+)/;
    defined $so && $so == $mo
}, 10, 0.01) || 1, 'replica caught up (or close)');
is(rcmd($p1, 'REPLICAOF', 'NO', 'ONE'), 'OK', "$p1: REPLICAOF NO ONE");
is(rcmd($p2, 'REPLICAOF', '127.0.0.1', $p1), 'OK',
   "$p2: REPLICAOF $p1, no client disconnected");
ok(wait_for(sub { wlog() =~ /event=redis_down conn=\w+ reason="(?:READONLY|UNBLOCKED) / }, 30),
   'the worker drops its connection on READONLY/UNBLOCKED') or diag wlog();
ok(agreed($p1), 'the sentinels follow to the new master');
my @ro_there = present($p1, @ro);
ok(wait_for(sub { !grep { status($p1, $_) ne 'succeeded' } @ro_there }, 90, 0.2),
   'every task on the new master ends succeeded')
    or diag join ' ', map { "$_=" . status($p1, $_) } @ro_there;
ok(wait_for(sub { pending($p1) == 0 }, 30), 'nothing left pending');
ok(wait_for(sub { wlog() =~ /event=redis_master_switch .*from=127\.0\.0\.1:$p2 to=127\.0\.0\.1:$p1/ }, 30),
   'the second switch logged');
{
    my $id = enqueue('echo', '{"last":1}');
    ok(defined $id, 'taskgwctl follows: enqueue');
    ok(wait_for(sub { status($p1, $id) eq 'succeeded' }, 30), 'runs');
}

# === TEST 4: a sentinel that names a replica is not believed
my $sp4 = TaskGW::Stack::free_port();
start_sentinel($sp4, 'stale', $p2, 1, 600000);
is(master_at($sp4, 'stale'), $p2, 'a sentinel names the replica as "stale"');
{
    my $c = ctl([ '-S', "127.0.0.1:$sp4", '-M', 'stale', 'queues' ]);
    is($c->{code}, 1, 'taskgwctl: exit 1');
    like($c->{err}, qr/redis 127\.0\.0\.1:$p2 \(master stale\): the server is a slave, not a master/,
         'taskgwctl: says the server is a replica') or diag $c->{err};

    my %c2 = (%wconf, sentinel => [ "127.0.0.1:$sp4" ], master => 'stale',
              name => 'ha-2');
    my $conf2 = "$dir/worker-stale.json";
    open my $fh2, '>', $conf2 or die;
    print $fh2 JSON::PP->new->canonical->encode(\%c2);
    close $fh2;
    my $w2 = $s->spawn('worker-stale', $s->worker_binary, '-c', $conf2);
    my $log2 = "$dir/worker-stale.log";
    ok(wait_for(sub {
        open my $f, '<', $log2 or return 0;
        local $/;
        my $l = <$f>;
        $l =~ /event=redis_not_master conn=\w+ addr=127\.0\.0\.1:$p2 reason="the server is a slave, not a master"/
    }, 30), 'worker: redis_not_master for the replica');
    is($s->kill_process($w2, 'TERM', 10), 0, 'that worker exits 0');
    open my $f, '<', $log2 or die;
    my $l = do { local $/; <$f> };
    unlike($l, qr/event=redis_up/, 'it never used the replica');
}

# ---- the end ----------------------------------------------------------------

is($s->kill_process($wpid, 'TERM', 15), 0, 'worker exits 0');
unlike(wlog(), qr/AddressSanitizer|runtime error|LeakSanitizer/,
       'no sanitizer report');

done_testing();
