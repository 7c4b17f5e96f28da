#!/usr/bin/perl
# The whole system across a planned switch: SENTINEL FAILOVER under load.
# A primary, a replica and three sentinels (t/lib/TaskGW/HA.pm); nginx
# with the module finding the master through the sentinels (two nginx
# workers); two taskgw-workers doing the same.  Two client loops enqueue,
# one on a location with taskgw_redis_wait replicas=1, one without, while
# Sentinel promotes the replica and, some seconds later, turns the old
# master into its replica.  Twice:
#
# 1. Redis as it comes (replication asynchronous): every task that got a
#    202 under wait is on the new master and ends succeeded.  Without
#    wait, what the old master took between the promotion of the replica
#    and +switch-master (about a second) is thrown away when the old
#    master becomes a replica: those are counted and printed, the other
#    tasks end succeeded.
# 2. min-replicas-to-write 1 on both servers: the old master refuses
#    writes from the moment the promoted replica leaves it.  Under wait
#    no task that got a 202 is lost.  Without wait the window shrinks to
#    the replication lag at the promotion: a write the old master
#    acknowledged just before the replica stopped reading from it (a
#    task or two on loopback, more on a slow or loaded link) is lost;
#    every such task was answered before the old master's first refusal,
#    and the others end succeeded.
#
# Both times: every answer is a 202 or a 503 (no connection error), both
# locations give 202s again after the switch without a reload, the
# workers resume, and the time the clients saw no 202 is printed (for
# docs/operations.md).  Then taskgwctl through the sentinels.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use TaskGW::Stack qw(wait_for);
use TaskGW::HA;

my $s = TaskGW::Stack->new(prefix => 'e2e152');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;
plan skip_all => 'redis-sentinel is not installed (sh scripts/deps.sh test)'
    unless grep { -x "$_/redis-sentinel" } split /:/, $ENV{PATH};

my $P = $s->prefix;
my $ha = TaskGW::HA->new($s);
$ha->start_gateway(workers => 2);

# A SENTINEL FAILOVER while a loop enqueues on each location; returns
# the answers per path and the time of the command.
sub switch_under_load {
    my ($label) = @_;
    my ($load, $accepted) = $ha->start_loads(qw(tasks wait));
    my %load = %$load;
    ok(wait_for(sub {
        $accepted->('tasks') >= 100 && $accepted->('wait') >= 100
    }, 60), "$label: load running, 202s with and without wait");

    my $t_failover = time;
    my $old = $ha->failover;
    my $new = $ha->wait_switched($old, replicas => 1);
    my $t_switched = time;
    isnt($new, $old, "$label: Sentinel promoted the replica ($old -> $new)");
    is($ha->role($old), 'slave', "$label: the old master is its replica");
    for my $path (qw(tasks wait)) {
        ok(wait_for(sub { $accepted->($path, $t_switched) >= 100 }, 60),
           "$label: /$path: 202s on the new master, no reload");
    }
    my %a;
    for my $path (qw(tasks wait)) { $a{$path} = [ $load{$path}->stop ] }

    for my $path (qw(tasks wait)) {
        my %n;
        $n{ $_->{status} }++ for @{ $a{$path} };
        note("$label: /$path answers: "
             . join(', ', map { "$_: $n{$_}" } sort keys %n));
        my @odd = grep { $_->{status} != 202 && $_->{status} != 503 }
                  @{ $a{$path} };
        is(scalar @odd, 0, "$label: /$path: every answer a 202 or a 503")
            or diag explain [ @odd[0 .. ($#odd < 9 ? $#odd : 9)] ];

        # the longest run without a 202 around the switch, as seen by
        # the client
        my ($last, $gap, $n503) = (undef, 0, 0);
        for my $x (grep { $_->{t} > $t_failover - 5 } @{ $a{$path} }) {
            next unless $x->{status} == 202;
            if (defined $last && $x->{t} - $last > $gap) {
                $gap = $x->{t} - $last;
                $n503 = grep { $_->{status} == 503 && $_->{t} > $last
                               && $_->{t} < $x->{t} } @{ $a{$path} };
            }
            $last = $x->{t};
        }
        diag(sprintf '%s: /%s: the longest time without a 202 was %.2f s '
             . '(%d answers 503 in it); the old master was a replica of '
             . 'the new one %.1f s after SENTINEL FAILOVER', $label, $path,
             $gap, $n503, $t_switched - $t_failover);
    }
    return (\%a, $t_failover);
}

# The tasks of the 202s on $path that are not on the master (printed
# with when they were answered), after checking that the others end
# succeeded.
sub lost_tasks {
    my ($label, $path, $a, $t_failover) = @_;
    my $r = $ha->redis;
    my @ids = map { $_->{id} } grep { $_->{status} == 202 } @{ $a->{$path} };
    my @lost = grep { !$r->cmd('EXISTS', "$P:task:$_") } @ids;
    my %lost = map { $_ => 1 } @lost;
    if (@lost) {
        my @t = map { $_->{t} - $t_failover }
                grep { $_->{id} && $lost{ $_->{id} } } @{ $a->{$path} };
        diag(sprintf '%s: /%s: %d of %d tasks that got a 202 are not on the '
             . 'new master, answered from %.2f s to %.2f s after SENTINEL '
             . 'FAILOVER', $label, $path, scalar @lost, scalar @ids, $t[0],
             $t[-1]);
    }
    my @kept = grep { !$lost{$_} } @ids;
    my $done = sub {
        scalar grep {
            ($r->cmd('HGET', "$P:task:$_", 'status') // '') eq 'succeeded'
        } @kept;
    };
    ok(wait_for(sub { $done->() == @kept }, 120, 0.5),
       "$label: /$path: " . scalar(@kept) . ' tasks on the new master end '
       . 'succeeded (the workers resumed)') or diag $done->() . ' of ' . @kept;
    return @lost;
}

# === 1: replicas acknowledge nothing before the primary answers (the
# default): waited tasks are safe; of the others, those the old master
# took after the promotion of the replica and before the clients heard
# +switch-master are lost when it is turned into a replica.
my ($a, $t) = switch_under_load('default');
my @lost = lost_tasks('default', 'wait', $a, $t);
is(scalar @lost, 0, 'default: no task that got a 202 under wait is lost')
    or diag "missing: @lost[0 .. ($#lost < 9 ? $#lost : 9)]";
@lost = lost_tasks('default', 'tasks', $a, $t);
diag('default: without wait, ' . scalar(@lost) . ' tasks that got a 202 '
     . 'were lost in the planned switch');

# === 2: min-replicas-to-write 1 on both servers: the old master refuses
# writes as soon as the promoted replica leaves it.  Under wait nothing
# is lost; without wait only what was still on its way to the replica at
# the promotion, answered before the first refusal.
for my $port ($ha->redis_ports) {
    is($ha->redis($port)->cmd('CONFIG', 'SET', 'min-replicas-to-write', 1),
       'OK', "min-replicas-to-write 1 on $port");
}
($a, $t) = switch_under_load('min-replicas');
@lost = lost_tasks('min-replicas', 'wait', $a, $t);
is(scalar @lost, 0, 'min-replicas: no task that got a 202 on /wait is lost')
    or diag "missing: @lost[0 .. ($#lost < 9 ? $#lost : 9)]";
@lost = lost_tasks('min-replicas', 'tasks', $a, $t);
{
    # the old master's first refusal after the command, as /tasks saw it
    my ($refused) = grep { $_->{status} == 503 && $_->{t} > $t }
                    @{ $a->{tasks} };
    my %lost = map { $_ => 1 } @lost;
    my @late = grep {
        $_->{id} && $lost{ $_->{id} } && (!$refused || $_->{t} > $refused->{t})
    } @{ $a->{tasks} };
    ok($refused, 'min-replicas: /tasks: the old master refused writes '
       . '(503) after the switch');
    is(scalar @late, 0, 'min-replicas: /tasks: every lost task was answered '
       . 'before the first refusal');
    cmp_ok(scalar @lost, '<=', 5, 'min-replicas: /tasks: at most a few '
           . 'tasks lost (those still on their way to the replica at the '
           . 'promotion)');
    diag('min-replicas: without wait, ' . scalar(@lost) . ' tasks that got '
         . 'a 202 were lost in the planned switch');
}
ok($s->worker_running($_), "worker $_->{n} still runs")
    for @{ $s->{workers} };

# === taskgwctl through the sentinels
my $c = $ha->ctl('queues');
is($c->{code}, 0, 'taskgwctl -S/-M queues') or diag $c->{err};
like($c->{out}, qr/\bha\b/, 'it lists the queue ha');

$s->stop_worker for 1 .. 2;
$s->stop_nginx;
is(scalar($s->error_log_alerts), 0, 'no alert or crash in the error log')
    or diag join "\n", $s->error_log_alerts;
done_testing();
