#!/usr/bin/perl
# The worker's log lines go out together, once per loop iteration, not
# one write(2) each: strace, attached to a running worker, counts the
# writes to its stderr while it runs 400 tasks (800 lines or more).  The
# lines are all there, whole and in order, and a line logged while the
# worker is otherwise idle (a reload) still appears at once.
# Skipped without strace, or where it may not attach (ptrace).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;
my ($strace) = grep { -x } map { "$_/strace" } split /:/, $ENV{PATH};
plan skip_all => 'no strace' unless $strace;

my $prefix = $s->prefix;
my $dir = $s->dir;

$s->start_redis;
my $r = $s->redis;

my $w = $s->start_worker({
    concurrency => 32,
    handlers    => { 'system.ping' => { builtin => 'ping' } },
});
my $up = wait_for(sub { $s->worker_log($w) =~ /event=redis_up conn=read/ },
                  20, 0.05);

my $out = "$dir/strace.out";
my $st = $s->spawn('strace', $strace, '-qq', '-s', '64', '-e', 'trace=write',
                   '-o', $out, '-p', $w->{pid});
# a reload logs a line: once strace shows it, strace is attached
my $attached = wait_for(sub {
    kill 'HUP', $w->{pid};
    open my $fh, '<', $out or return 0;
    local $/;
    return <$fh> =~ /write\(2, .*config_reloaded/;
}, 20, 0.2);
plan skip_all => 'strace cannot attach here' unless $attached;
ok($up, 'the worker is up');
ok($attached, 'strace attached (a reload line seen going out)');

# The 400 tasks arrive at once (one MULTI/EXEC), as under load.  Fed one
# task at a time, a worker takes each as it comes and an iteration has a
# line or two to write: the count would say how fast this test feeds,
# not how the worker writes.
my @ids;
$r->cmd('MULTI');
for my $i (1 .. 400) {
    my $id = sprintf 'log-%06d', $i;
    $r->cmd('HSET', "$prefix:task:$id", id => $id, queue => 'default',
            type => 'system.ping', priority => 'normal', status => 'queued',
            payload => '{}', created_at => int(time * 1000), attempts => 0);
    $r->cmd('XADD', "$prefix:q:default:normal", '*', id => $id);
    push @ids, $id;
}
$r->cmd('EXEC');
ok(wait_for(sub {
    !grep { ($r->cmd('HGET', "$prefix:task:$_", 'status') // '')
            ne 'succeeded' } @ids;
}, 60, 0.1), 'all 400 succeeded');
# their last lines were written before the worker went back to waiting
ok(wait_for(sub {
    my $n = () = $s->worker_log($w) =~ /event=task_succeeded/g;
    $n == 400;
}, 20, 0.1), '400 task_succeeded lines in the log');
$s->kill_process($st, 'INT');

open my $fh, '<', $out or die "$out: $!";
my $writes = grep { /^write\(2,/ } <$fh>;
close $fh;
my $log = $s->worker_log($w);
my $started = () = $log =~ /event=task_started/g;
my $lines = () = $log =~ /\n/g;
is($started, 400, '400 task_started lines');
# one write per line was >= 800 here; per loop iteration it is a few dozen
cmp_ok($writes, '<', 400,
       "$writes writes to stderr for 800+ lines, not one per line");
cmp_ok($writes, '>', 0, 'strace saw the writes');

# every line whole: starts with ts=, ends with a newline, one event each
my @bad = grep { !/^ts=\S+ level=\w+ event=\w+/ } split /\n/, $log;
is(scalar(@bad), 0, 'every line is whole') or diag(join "\n", @bad[0 .. 4]);
my %first;
my $order_ok = 1;
while ($log =~ /event=(task_started|task_succeeded) task_id=(\S+)/g) {
    if ($1 eq 'task_started') {
        $first{$2} = 1;
    } elsif (!$first{$2}) {
        $order_ok = 0;
    }
}
ok($order_ok, "each task's started line comes before its succeeded line");

# idle, a reload's line is in the log at once (not held in a buffer)
my $n0 = () = $log =~ /event=config_reloaded/g;
kill 'HUP', $w->{pid};
ok(wait_for(sub {
    my $n = () = $s->worker_log($w) =~ /event=config_reloaded/g;
    $n > $n0;
}, 10, 0.05), 'a line logged while idle is written at once');

$s->stop_worker($w);
like($s->worker_log($w), qr/event=exit .*\n\z/,
     'the exit line is the last, written at exit');

done_testing();
