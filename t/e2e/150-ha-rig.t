#!/usr/bin/perl
# The Sentinel rig itself (t/lib/TaskGW/HA.pm), with plain Redis commands
# and no taskgw process: a primary, a replica and three sentinels start
# and agree; a write on the primary reaches the replica; kill -9 of the
# primary makes the sentinels promote the replica, which then takes
# writes and holds what was replicated; the old primary comes back as a
# replica of the new one; a SENTINEL FAILOVER switches back, with the
# demoted server following the new master; and nothing survives stop.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use TaskGW::Stack qw(wait_for);
use TaskGW::HA;

plan skip_all => 'redis-sentinel is not installed (sh scripts/deps.sh test)'
    unless grep { -x "$_/redis-sentinel" } split /:/, $ENV{PATH};

my $s = TaskGW::Stack->new(prefix => 'e2e150');
my $ha = TaskGW::HA->new($s);

# === TEST 1: the rig is up and every part agrees
my @rp = $ha->redis_ports;
my @sp = $ha->sentinel_ports;
is(scalar @rp, 2, 'two redis-servers');
is(scalar @sp, 3, 'three sentinels');
my $first = $ha->master_port;
ok(defined $first && grep({ $_ == $first } @rp),
   "the sentinels name one of the servers master ($first)");
is($ha->role($first), 'master', 'it says so itself');
my $replica = $ha->replica_port;
is($ha->role($replica), 'slave', "the other ($replica) is its replica");
is($ha->sentinels_arg, join(',', map { "127.0.0.1:$_" } @sp),
   'sentinels_arg lists the three sentinels');
is_deeply($ha->vars, { SENTINELS => $ha->sentinels_arg,
                       MASTER_NAME => 'taskgw-ha' }, 'placeholders');
for my $port (@sp) {
    my $m = { @{ TaskGW::Stack::Redis->new($port)
                     ->cmd('SENTINEL', 'MASTER', 'taskgw-ha') } };
    is($m->{quorum}, 2, "sentinel $port: quorum 2");
    is($m->{'num-other-sentinels'}, 2, "sentinel $port: sees the two others");
}

# === TEST 2: writes replicate
my $r = $ha->redis;
is($r->cmd('SET', 'ha:k1', 'before'), 'OK', 'SET on the master');
is($r->cmd('WAIT', 1, 5000), 1, 'WAIT: one replica acknowledged');
is($ha->redis($replica)->cmd('GET', 'ha:k1'), 'before', 'the replica has it');
like($ha->redis($replica)->cmd('SET', 'ha:x', 1), qr/^READONLY/,
     'the replica refuses writes');

# === TEST 3: kill -9 of the primary: the replica is promoted
my $t0 = time;
my $killed = $ha->kill_primary;
is($killed, $first, 'kill_primary killed the master');
ok(!eval { TaskGW::Stack::Redis->new($killed, 1) }, 'its port is closed');
my $new = $ha->wait_switched($killed);
my $took = time - $t0;
is($new, $replica, 'the replica is the new master');
diag(sprintf 'kill -9 to every sentinel agreeing: %.1f s', $took);
for my $port (@sp) {
    my $a = TaskGW::Stack::Redis->new($port)
        ->cmd('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'taskgw-ha');
    is($a->[1], $new, "sentinel $port names $new");
}
is($ha->role($new), 'master', 'the promoted server says master');
is($ha->master_port, $new, 'master_port follows');
$r = $ha->redis;
is($r->cmd('GET', 'ha:k1'), 'before', 'it kept the replicated write');
is($r->cmd('SET', 'ha:k2', 'after'), 'OK', 'and takes writes');

# === TEST 4: the old primary comes back as a replica of the new master
is($ha->restart_old_primary, $killed, 'old primary restarted');
is($ha->role($killed), 'slave', 'it is a replica now');
is($ha->replica_port, $killed, 'replica_port names it');
is($ha->redis->cmd('WAIT', 1, 5000), 1, 'the new master has a replica again');
ok(wait_for(sub {
    ($ha->redis($killed)->cmd('GET', 'ha:k2') // '') eq 'after'
}, 30), 'it has the write made after the switch');

# === TEST 5: SENTINEL FAILOVER switches back
is($ha->failover, $new, 'failover from the current master');
my $back = $ha->wait_switched($new, replicas => 1);
is($back, $killed, 'the replica is promoted');
is($ha->role($new), 'slave', 'the old master follows it as a replica');
$r = $ha->redis;
is($r->cmd('GET', 'ha:k2'), 'after', 'nothing lost in a planned switch');
is($r->cmd('SET', 'ha:k3', 'planned'), 'OK', 'the new master takes writes');
is($r->cmd('WAIT', 1, 5000), 1, 'and replicates them');

# === TEST 6: a refused failover is an error
my $err = eval { $ha->failover; $ha->failover; 1 } ? "" : $@;
chomp $err;
like($err, qr/INPROG|NOGOODSLAVE/, "a second failover at once: $err");
$ha->wait_switched($back, replicas => 1);

# === TEST 7: stop leaves nothing listening
$ha->stop;
for my $port (@rp, @sp) {
    ok(!eval { TaskGW::Stack::Redis->new($port, 1) }, "port $port closed");
}

done_testing();
