#!/usr/bin/perl
# The whole system across an unplanned failover: a primary, a replica and
# three sentinels (t/lib/TaskGW/HA.pm); nginx with the module finding the
# master through the sentinels, two nginx workers; two taskgw-workers
# doing the same.  Two client loops enqueue, one on a location with
# taskgw_redis_wait replicas=1, one without, while the primary is killed
# with kill -9 and Sentinel promotes the replica:
# - every answer is a 202 or a 503 (no connection error, no other status);
# - after the switch, enqueues without wait succeed again, without a
#   reload of nginx;
# - with wait they get 503 (not 202) while the new master has no replica,
#   and 202 again once the old primary is back as its replica;
# - every task that got a 202 under wait is on the new master and ends
#   succeeded; those without wait that were lost (Redis replicates
#   asynchronously: a write the primary acknowledged may not have reached
#   the replica when it died) are counted and printed, the others end
#   succeeded too;
# - taskgwctl through the sentinels sees the new master.
# Prints how long the clients saw no 202 (for docs/operations.md).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use TaskGW::Stack qw(wait_for json_decode);
use TaskGW::HA;

my $s = TaskGW::Stack->new(prefix => 'e2e151');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;
plan skip_all => 'redis-sentinel is not installed (sh scripts/deps.sh test)'
    unless grep { -x "$_/redis-sentinel" } split /:/, $ENV{PATH};

my $P = $s->prefix;
my $ha = TaskGW::HA->new($s);
$ha->start_gateway(workers => 2);

my ($load, $accepted) = $ha->start_loads(qw(tasks wait));
my %load = %$load;

ok(wait_for(sub { $accepted->('tasks') >= 100 && $accepted->('wait') >= 100 },
            60), 'load running: 202s with and without wait');

# === the primary dies
my $t_kill = time;
my $old = $ha->kill_primary;
my $new = $ha->wait_switched($old);
my $t_switched = time;
isnt($new, $old, "Sentinel promoted the replica ($old -> $new)");

ok(wait_for(sub { $accepted->('tasks', $t_switched) >= 100 }, 60),
   'enqueues without wait succeed on the new master, no reload');
my $t_no_replica = time;
ok(wait_for(sub {
    scalar grep { $_->{t} > $t_no_replica } $load{wait}->answers
}, 30), 'the loop with wait keeps getting answers');
my $t_restart = time;
is($accepted->('wait', $t_switched), 0,
   'with wait: no 202 while the new master has no replica');

$ha->restart_old_primary;
ok(wait_for(sub { $accepted->('wait', $t_restart) >= 50 }, 60),
   'with wait: 202s again once the old primary is back as a replica');

my %a;
for my $path (qw(tasks wait)) { $a{$path} = [ $load{$path}->stop ] }

for my $path (qw(tasks wait)) {
    my %n;
    $n{ $_->{status} }++ for @{ $a{$path} };
    note("/$path answers: " . join(', ', map { "$_: $n{$_}" } sort keys %n));
    my @odd = grep { $_->{status} != 202 && $_->{status} != 503 }
              @{ $a{$path} };
    is(scalar @odd, 0, "/$path: every answer a 202 or a 503")
        or diag explain [ @odd[0 .. ($#odd < 9 ? $#odd : 9)] ];
}

# How long the clients saw no 202: from the kill to the first 202 after it.
my ($first_after) = grep { $_->{status} == 202 && $_->{t} > $t_kill }
                    @{ $a{tasks} };
my @gap503 = grep { $_->{status} == 503 && $_->{t} > $t_kill
                    && $_->{t} < $first_after->{t} } @{ $a{tasks} };
diag(sprintf 'kill -9: sentinels agreed after %.1f s; without wait the '
     . 'first 202 came %.1f s after the kill (%d answers 503 meanwhile)',
     $t_switched - $t_kill, $first_after->{t} - $t_kill, scalar @gap503);

# === what got a 202 is on the new master and ends succeeded
my $r = $ha->redis;
is($ha->master_port, $new, 'the master is still the promoted replica');
my %ids = map { my $p = $_;
                $p => [ map { $_->{id} } grep { $_->{status} == 202 }
                        @{ $a{$p} } ] } qw(tasks wait);
my @lost_wait = grep { !$r->cmd('EXISTS', "$P:task:$_") } @{ $ids{wait} };
is(scalar @lost_wait, 0,
   scalar(@{ $ids{wait} }) . ' tasks got a 202 under wait: every one is on '
   . 'the new master') or diag "missing: @lost_wait[0 .. ($#lost_wait < 9 ? $#lost_wait : 9)]";
my @lost = grep { !$r->cmd('EXISTS', "$P:task:$_") } @{ $ids{tasks} };
my @before = grep { $_->{status} == 202 && $_->{t} <= $t_kill } @{ $a{tasks} };
diag(scalar(@{ $ids{tasks} }) . ' tasks got a 202 without wait, '
     . scalar(@before) . ' of them before the kill: ' . scalar(@lost)
     . ' lost in the failover (asynchronous replication)');
my %lost = map { $_ => 1 } @lost;
my @kept = grep { !$lost{$_} } @{ $ids{tasks} };
cmp_ok(scalar @kept, '>', 0, 'tasks without wait are on the new master');

my @all = (@{ $ids{wait} }, @kept);
my $done = sub {
    scalar grep {
        ($r->cmd('HGET', "$P:task:$_", 'status') // '') eq 'succeeded'
    } @all;
};
ok(wait_for(sub { $done->() == @all }, 120, 0.5),
   scalar(@all) . ' accepted tasks on the new master end succeeded')
    or diag $done->() . ' of ' . @all;
ok($s->worker_running($_), "worker $_->{n} still runs")
    for @{ $s->{workers} };

# === taskgwctl through the sentinels
my $c = $ha->ctl('queues');
is($c->{code}, 0, 'taskgwctl -S/-M queues') or diag $c->{err};
like($c->{out}, qr/\bha\b/, 'it lists the queue ha');
$c = $ha->ctl('task', 'show', $ids{wait}[-1]);
is($c->{code}, 0, 'taskgwctl -S/-M task show') or diag $c->{err};
like($c->{out}, qr/succeeded/, 'it shows the task succeeded');

$s->stop_worker for 1 .. 2;
$s->stop_nginx;
is(scalar($s->error_log_alerts), 0, 'no alert or crash in the error log')
    or diag join "\n", $s->error_log_alerts;
done_testing();
