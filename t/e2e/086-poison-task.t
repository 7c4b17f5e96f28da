#!/usr/bin/perl
# A poison task, whose every run kills its worker, is not run for ever:
# an attempt counts when it starts, so once max_attempts runs started
# without ever recording an outcome the task goes to the dead-letter queue
# with an error saying so.  The worker runs under a supervisor loop (as
# under systemd's Restart=always) that starts a new one whenever it dies.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);
use TaskGW::Tasks;


my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $dir = $s->dir;
my $prefix = $s->prefix;
$s->start_redis;
my $t = TaskGW::Tasks->new($s);

# Notes the run, then SIGKILLs the worker that runs it (the nearest
# ancestor named taskgw-worker, or memcheck-* when the worker runs under
# valgrind: TASKGW_VALGRIND).
my $poison = $t->script('poison', <<"EOS");
echo "\$TASKGW_TASK_ID \$TASKGW_ATTEMPT" >> $dir/runs
p=\$PPID
while [ "\$p" -gt 1 ]; do
    case "\$(cat /proc/\$p/comm)" in taskgw-worker|memcheck-*) break ;; esac
    p=\$(awk '{ print \$4 }' /proc/\$p/stat)
done
[ "\$p" -gt 1 ] && kill -9 "\$p"
sleep 5
EOS

sub runs {
    open my $fh, '<', "$dir/runs" or return 0;
    return scalar(() = <$fh>);
}

my %wconf = (
    concurrency => 2,
    queues      => { default => 1 },
    claim_idle  => '1s',
    retry       => { max_attempts => 5, base => '100ms', cap => '300ms' },
    handlers    => {
        poison        => { exec => [ $poison ], max_attempts => 2 },
        'system.ping' => { builtin => 'ping' },
    },
);

# === TEST 1: the poison task ends dead after 2 started runs, the worker
# restarted after each
my $id = $t->enqueue('poison');
my ($w, @workers);
my $restarts = -1;
my $deadline = time + 40;
while (time < $deadline && !$t->terminal($id) && $restarts < 12) {
    unless ($w && $s->worker_running($w)) {
        $w = $s->start_worker(\%wconf);
        push @workers, $w;
        $restarts++;
    }
    sleep 0.1;
}
my $ping = $t->enqueue('system.ping');
my $pinged = wait_for(sub { $t->status($ping) eq 'succeeded' }, 10);
$s->stop_worker($w) if $w && $s->worker_running($w);

ok(runs() >= 1, 'the poison task ran and killed its worker');
{
    ok($pinged, 'the last worker still runs other tasks');
    is($t->status($id), 'dead', 'the poison task ends dead')
        or diag "status " . $t->status($id) . " after " . runs()
              . " runs and $restarts restarts";
    ok(runs() <= 2, 'it ran at most max_attempts (2) times')
        or diag runs() . ' runs';
    like($t->field($id, 'error') // '', qr/\S/,
         'its error says why') or diag explain $t->hash($id);
    my @dead = grep { $_->[1]{id} eq $id }
               @{ $t->redis->xrange("$prefix:dead:default") };
    is(scalar @dead, 1, 'it is in the dead-letter queue once');
    my ($len, $pend, $sched) = $t->leftovers;
    is("$len $pend $sched", '0 0 0',
       'no stream entry, pending entry or schedule is left');
}
diag runs() . " runs, $restarts worker restarts";

for my $x (@workers) {
    unlike($s->worker_log($x), qr/AddressSanitizer|runtime error/,
           "worker $x->{n}: no sanitizer report");
}

done_testing();
