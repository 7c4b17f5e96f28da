#!/usr/bin/perl
# A worker's exec spawner that stops answering (stopped with SIGSTOP, a
# debugger, or stuck in a program's execve) must not hold its programs:
# once a request to it (a start, a kill) is unanswered for
# exec_spawner_timeout (10 s by default) the worker kills its programs'
# process groups, kills the spawner, ends their runs as retryable and
# starts a new spawner for the next exec task.  Before, a task's timeout
# never killed its program, and its slot was held for ever.  See
# "exec" in docs/worker-config.md and "The exec spawner" in
# docs/operations.md.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use TaskGW::Stack qw(wait_for);
use TaskGW::Procs qw(alive ppid_of spawner_of pid_list);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $dir = $s->dir;
$s->start_redis;
my $t = TaskGW::Tasks->new($s);

# a first attempt records its pid and a grandchild's, then waits on the
# grandchild for 60 s; a later attempt ends at once
my $hang = $t->script('hang', <<"EOS");
cat > /dev/null
echo "start \$TASKGW_ATTEMPT \$PPID" >> $dir/runs
if [ "\$TASKGW_ATTEMPT" = 1 ]; then
    sleep 60 &
    echo "\$\$ \$!" >> $dir/pids
    wait
fi
echo '"done"'
EOS

# prints its parent's pid
my $who = $t->script('who', <<'EOS');
cat > /dev/null
printf '"%s"\n' "$PPID"
EOS

sub pids { pid_list("$dir/pids") }

sub runs {
    open my $fh, '<', "$dir/runs" or return ();
    return map { chomp; $_ } <$fh>;
}

# whatever was left behind dies with the test (a stopped spawner too)
my @spawners;
END {
    if (defined $dir) {
        kill 'KILL', pids(), @spawners;
        kill 'CONT', @spawners;
    }
}

my %conf = (
    concurrency => 4,
    queues      => { default => 1 },
    claim_idle  => '1s',
    retry       => { max_attempts => 3, base => '100ms', cap => '300ms' },
    handlers    => { hang => { exec => [$hang], timeout => '4s' },
                     who  => { exec => [$who], timeout => '30s' } },
);

# === TEST 1: the spawner is stopped while its program runs: the task's
# timeout (4 s) asks it for a kill it never reads.  Within the default
# deadline (10 s) and some, the program and its child are killed, the task
# is retried (and succeeds) under a new spawner.
my $w = $s->start_worker(\%conf);
my $id = $t->enqueue('hang');
ok(wait_for(sub { (() = pids()) == 2 }, 20), 'the task runs, with a grandchild')
    or diag $s->worker_log($w);
my @p = pids();
my $sp = ppid_of($p[0]);
push @spawners, $sp;
is(ppid_of($sp), $w->{pid}, 'its parent is the worker\'s child (the spawner)');
is($sp, spawner_of($w), 'found as the worker\'s child named taskgw-spawn');
kill 'STOP', $sp;
my $t0 = time;
ok(wait_for(sub { !grep { alive($_) } @p }, 60),
   'the program and its child are killed')
    or diag 'still running: ' . join(' ', grep { alive($_) } @p) . "\n"
            . $s->worker_log($w);
my $took = time - $t0;
ok($took >= 5, "not before the timeout and the deadline ($took s)");
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 30),
   'the task was retried and succeeded')
    or diag $s->worker_log($w);
my @runs = runs();
is(scalar(@runs), 2, 'two attempts') or diag explain \@runs;
my ($second) = map { /^start 2 (\d+)/ ? $1 : () } @runs;
ok($second && $second != $sp, 'the second ran under a new spawner')
    or diag explain \@runs;
push @spawners, $second if $second;
is(ppid_of($second // 0), $w->{pid}, 'the new spawner is the worker\'s child');
ok(wait_for(sub { !alive($sp) }, 10), 'the stopped spawner was killed');
ok($s->worker_running($w), 'the worker runs on');
my $log = $s->worker_log($w);
is(scalar(() = $log =~ /exec_spawner_stuck/g), 1,
   'logged once, as exec_spawner_stuck') or diag $log;
note grep { /exec_spawner_stuck/ } split /\n/, $log;
like($log, qr/task_failed.*retrying.*the exec spawner stopped answering/,
     'the failed attempt says why, and is retried');

# === TEST 2: the worker goes on running exec tasks
my @ids = map { $t->enqueue('who') } 1 .. 4;
ok(wait_for(sub { !grep { $t->status($_) ne 'succeeded' } @ids }, 30),
   'later exec tasks succeed') or diag $s->worker_log($w);

# === TEST 3: a spawner stopped with no program running: the next start
# request goes unanswered, the task is retried under a new spawner
my $sp3 = spawner_of($w);
ok($sp3, 'the spawner is there') or diag $s->worker_log($w);
push @spawners, $sp3;
kill 'STOP', $sp3;
$id = $t->enqueue('who');
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 60),
   'a task started while it is stopped succeeds')
    or diag $s->worker_log($w);
my $by = ($t->field($id, 'result') // '') =~ s/"//gr;
ok($by && $by != $sp3, 'under a new spawner') or diag "ran under $by";
is($t->field($id, 'attempts'), 2, 'on its second attempt');
ok(wait_for(sub { !alive($sp3) }, 10), 'the stopped spawner was killed');

# === TEST 4: a shorter exec_spawner_timeout applies, and a spawner that
# answers (a program that ignores SIGTERM and runs to its SIGKILL) is not
# taken for a stuck one
is($s->stop_worker($w), 0, 'the worker exits 0');
my $stubborn = $t->script('stubborn', <<"EOS");
cat > /dev/null
if [ "\$TASKGW_ATTEMPT" = 1 ]; then
    trap '' TERM
    sleep 8
fi
echo '"ok"'
EOS
my $w4 = $s->start_worker({ %conf, exec_spawner_timeout => '2s',
    handlers => { %{ $conf{handlers} },
                  stubborn => { exec => [$stubborn], timeout => '1s' } } });
$id = $t->enqueue('stubborn');
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 30),
   'a program ignoring SIGTERM is killed 5 s after its timeout, and retried')
    or diag $s->worker_log($w4);
like($s->worker_log($w4), qr/task_failed.*retrying.*timeout after 1s/,
     'its first attempt failed on the timeout');
unlike($s->worker_log($w4), qr/exec_spawner_stuck/,
       'a spawner that answers is not taken for a stuck one');
my $sp4 = spawner_of($w4);
push @spawners, $sp4;
kill 'STOP', $sp4;
$t0 = time;
$id = $t->enqueue('who');
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 30),
   'with a 2 s deadline, a stopped spawner is replaced')
    or diag $s->worker_log($w4);
$took = time - $t0;
ok($took < 10, "sooner than the default 10 s ($took s)");
like($s->worker_log($w4), qr/exec_spawner_stuck/, 'logged');
is($s->stop_worker($w4), 0, 'that worker exits 0');

for my $x ($w, $w4) {
    unlike($s->worker_log($x), qr/AddressSanitizer|runtime error/,
           "worker $x->{n}: no sanitizer report");
}

done_testing();
