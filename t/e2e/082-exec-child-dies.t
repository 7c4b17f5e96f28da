#!/usr/bin/perl
# An exec handler's processes never outlive their worker: after a
# `kill -9` of the worker its child and the child's own children are gone
# at once, so the task another worker reclaims never runs twice at the
# same moment (see "Handlers" in docs/worker-config.md).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);
use TaskGW::Procs qw(alive pid_list);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $dir = $s->dir;
$s->start_redis;
my $t = TaskGW::Tasks->new($s);

# Its first attempt records its own pid and a grandchild's, then waits on
# the grandchild for 60 s; any attempt first notes whether a process of
# an earlier attempt still runs.
my $slow = $t->script('slow', <<"EOS");
for p in \$(cat $dir/pids 2>/dev/null); do
    if [ -e /proc/\$p ] && ! grep -q '^State:.*[ZX]' /proc/\$p/status; then
        echo "overlap \$p" >> $dir/runs
    fi
done
echo "start \$TASKGW_ATTEMPT \$\$" >> $dir/runs
if [ "\$TASKGW_ATTEMPT" = 1 ]; then
    sleep 60 &
    echo "\$\$ \$!" >> $dir/pids
    wait
fi
echo "end \$TASKGW_ATTEMPT" >> $dir/runs
echo '"done"'
EOS

# whatever the worker left behind dies with the test
END { kill 'KILL', pids() if defined $dir }

sub pids { pid_list("$dir/pids") }

sub runs {
    open my $fh, '<', "$dir/runs" or return ();
    return map { chomp; $_ } <$fh>;
}

my %wconf = (
    concurrency => 2,
    queues      => { default => 1 },
    claim_idle  => '1s',
    retry       => { max_attempts => 3, base => '100ms', cap => '300ms' },
    handlers    => { slow => { exec => [ $slow ], timeout => '2m' } },
);

# === TEST 1: kill -9 of the worker kills its exec child and the child's
# own child (a shell script's command)
my $w1 = $s->start_worker(\%wconf);
my $id = $t->enqueue('slow');
ok(wait_for(sub { (() = pids()) == 2 }, 15), 'the task runs, with a grandchild')
    or diag $s->worker_log($w1);
my @p = pids();
ok(alive($_), "process $_ runs") for @p;
kill 'KILL', $w1->{pid};
ok(wait_for(sub { !$s->worker_running($w1) }, 5), 'the worker is dead');
my $gone = wait_for(sub { !grep { alive($_) } @p }, 5);
ok($gone, 'its exec child and grandchild are gone within 5 s')
    or diag 'still running: ' . join(' ', grep { alive($_) } @p);

# === TEST 2: the task is reclaimed by another worker and finished there,
# and no process of the first attempt ran beside the second
my $w2 = $s->start_worker(\%wconf);
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 20),
   'reclaimed and finished by the second worker')
    or diag $s->worker_log($w2);
my @runs = runs();
is(scalar(grep { /^start / } @runs), 2, 'two attempts started')
    or diag explain \@runs;
is_deeply([ grep { /^overlap/ } @runs ], [],
          'the second attempt never ran beside the first');
is($s->stop_worker($w2), 0, 'the second worker exits 0');

for my $w ($w1, $w2) {
    unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
           "worker $w->{n}: no sanitizer report");
}

done_testing();
