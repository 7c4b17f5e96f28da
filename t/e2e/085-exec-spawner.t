#!/usr/bin/perl
# A worker's exec programs are all started by one spawner process
# (taskgw-exec-keeper --exec-spawner), not by a keeper per task, and each
# runs in a process group of its own.  When that spawner dies, its
# programs are killed (group and all), their tasks are retried, and the
# next task gets a new spawner.  When the worker dies (kill -9), the
# spawner kills its programs' groups and exits; when it stops, the
# spawner exits too (even one stopped with SIGSTOP).  See "Handlers" in docs/worker-config.md.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);
use TaskGW::Procs qw(alive ppid_of comm_of pid_list);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $dir = $s->dir;
$s->start_redis;
my $t = TaskGW::Tasks->new($s);

# prints its parent's pid and its own process group
my $who = $t->script('who', <<'EOS');
cat > /dev/null
printf '"%s %s"\n' "$PPID" "$(ps -o pgid= -p $$ | tr -d ' ')"
EOS

# a first attempt records its pid and a grandchild's, then waits on the
# grandchild for 60 s; a later attempt ends at once
my $slow = $t->script('slow', <<"EOS");
cat > /dev/null
echo "start \$TASKGW_ATTEMPT \$PPID" >> $dir/runs
if [ "\$TASKGW_ATTEMPT" = 1 ]; then
    sleep 60 &
    echo "\$\$ \$!" >> $dir/pids
    wait
fi
echo '"done"'
EOS

sub pids { pid_list("$dir/pids") }

sub runs {
    open my $fh, '<', "$dir/runs" or return ();
    return map { chomp; $_ } <$fh>;
}

# whatever was left behind dies with the test
my @spawners;
END { kill 'KILL', pids(), @spawners if defined $dir }

my %conf = (
    concurrency => 4,
    queues      => { default => 1 },
    claim_idle  => '1s',
    retry       => { max_attempts => 3, base => '100ms', cap => '300ms' },
    handlers    => { who  => { exec => [$who], timeout => '30s' },
                     slow => { exec => [$slow], timeout => '2m' } },
);

# === TEST 1: one spawner, child of the worker, starts every program,
# each in a group of its own
my $w = $s->start_worker(\%conf);
my @ids = map { $t->enqueue('who') } 1 .. 12;
ok(wait_for(sub { !grep { $t->status($_) ne 'succeeded' } @ids }, 30, 0.1),
   '12 exec tasks succeeded')
    or diag $s->worker_log($w);
my (%parents, %groups);
for my $id (@ids) {
    my ($parent, $pgid) = split ' ', ($t->field($id, 'result') // '""') =~ s/"//gr;
    $parents{$parent // ''}++;
    $groups{$pgid // ''}++;
}
is(scalar(keys %parents), 1, 'all 12 programs had the same parent')
    or diag explain \%parents;
my ($spawner) = keys %parents;
push @spawners, $spawner;
is(ppid_of($spawner), $w->{pid}, 'that parent is a child of the worker');
is(comm_of($spawner), 'taskgw-spawn', 'named taskgw-spawn');
is(scalar(keys %groups), 12, 'each program led a process group of its own')
    or diag explain \%groups;
ok(!$groups{$w->{pid}} && !$groups{$spawner},
   'neither the worker\'s group nor the spawner\'s');

# === TEST 2: the spawner dies: its program and the program's child are
# killed, the task is retried and succeeds under a new spawner
my $id = $t->enqueue('slow');
ok(wait_for(sub { (() = pids()) == 2 }, 15), 'the task runs, with a grandchild')
    or diag $s->worker_log($w);
my @p = pids();
is(ppid_of($p[0]), $spawner, 'started by the same spawner');
kill 'KILL', $spawner;
ok(wait_for(sub { !grep { alive($_) } @p }, 10),
   'its program and the program\'s child are gone')
    or diag 'still running: ' . join(' ', grep { alive($_) } @p);
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 20),
   'the task was retried and succeeded')
    or diag $s->worker_log($w);
my @runs = runs();
is(scalar(@runs), 2, 'two attempts') or diag explain \@runs;
my ($second) = map { /^start 2 (\d+)/ ? $1 : () } @runs;
ok($second && $second != $spawner, 'the second ran under a new spawner')
    or diag explain \@runs;
push @spawners, $second if $second;
is(ppid_of($second // 0), $w->{pid}, 'the new spawner is the worker\'s child');
ok($s->worker_running($w), 'the worker runs on');
like($s->worker_log($w), qr/exec_spawner_lost/, 'the loss is logged');
like($s->worker_log($w), qr/task_failed.*retrying.*the exec spawner died/,
     'the failed attempt says why, and is retried');

# === TEST 3: a worker that stops lets its spawner go, even a spawner
# that was stopped (SIGSTOP) and would never read its end of the socket
kill 'STOP', $second if $second;
is($s->stop_worker($w), 0, 'the worker exits 0');
ok(wait_for(sub { !alive($second // 0) }, 10), 'its spawner exited with it');

# === TEST 4: kill -9 of the worker: the spawner kills its programs'
# groups (the program and its child) and exits
unlink "$dir/pids", "$dir/runs";
$w = $s->start_worker(\%conf);
$id = $t->enqueue('slow');
ok(wait_for(sub { (() = pids()) == 2 }, 15), 'another slow task runs')
    or diag $s->worker_log($w);
@p = pids();
my $sp = ppid_of($p[0]);
push @spawners, $sp;
is(ppid_of($sp), $w->{pid}, 'under the new worker\'s spawner');
kill 'KILL', $w->{pid};
ok(wait_for(sub { !$s->worker_running($w) }, 5), 'the worker is dead');
ok(wait_for(sub { !grep { alive($_) } @p, $sp }, 5),
   'the spawner, the program and its child are gone within 5 s')
    or diag 'still running: ' . join(' ', grep { alive($_) } @p, $sp);

# === TEST 5: requests queue in the worker while the spawner does not
# read them (stopped): 400 tasks at once are more than the socket holds,
# and every one runs once the spawner goes on (within
# exec_spawner_timeout: one stopped longer is replaced, t/e2e/089)
my $w5 = $s->start_worker({ %conf, concurrency => 400,
                            exec_spawner_timeout => '10m',
                            handlers => { %{ $conf{handlers} },
                                          true => { exec => ['/bin/true'],
                                                    timeout => '2m' } } });
$id = $t->enqueue('who');
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 20), 'a first task ran')
    or diag $s->worker_log($w5);
my ($sp5) = split ' ', ($t->field($id, 'result') // '""') =~ s/"//gr;
push @spawners, $sp5;
kill 'STOP', $sp5;
my @many = map { $t->enqueue('true') } 1 .. 400;
ok(wait_for(sub { !grep { $t->status($_) ne 'running' } @many }, 60, 0.2),
   '400 tasks started while the spawner is stopped')
    or diag $s->worker_log($w5);
kill 'CONT', $sp5;
ok(wait_for(sub { !grep { $t->status($_) ne 'succeeded' } @many }, 120, 0.2),
   'all 400 succeeded once it went on')
    or diag $s->worker_log($w5);
is(ppid_of($sp5), $w5->{pid}, 'under the same spawner');
is($s->stop_worker($w5), 0, 'that worker exits 0');

for my $x ($w, $w5) {
    unlike($s->worker_log($x), qr/AddressSanitizer|runtime error/,
           "worker $x->{n}: no sanitizer report");
}

done_testing();
