#!/usr/bin/perl
# The worker and its exec spawner talk in batches: the spawn requests of
# one turn of the worker's loop go out in a few datagrams (eight a
# datagram at most), and the spawner sends the pids and exit statuses of
# one turn of its own together, instead of a datagram per request and
# two per program.  strace, attached to a running worker and to its
# spawner, counts their sendmsg/sendto calls while 200 exec tasks that
# arrive together run (200 requests and 400 reports).  Every task still
# succeeds.  See keeper.h ("Batches") and docs/performance.md.
# Skipped without strace, or where it may not attach (ptrace).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;
my ($strace) = grep { -x } map { "$_/strace" } split /:/, $ENV{PATH};
plan skip_all => 'no strace' unless $strace;

my $dir = $s->dir;
$s->start_redis;
my $r = $s->redis;
my $t = TaskGW::Tasks->new($s);
my $prefix = $s->prefix;

# prints its parent: the spawner
my $who = $t->script('who', "cat > /dev/null\nprintf '\"%s\"\\n' \"\$PPID\"\n");

my $w = $s->start_worker({
    concurrency => 100,
    handlers    => { who  => { exec => [$who] },
                     true => { exec => ['/bin/true'] } },
});
my $id = $t->enqueue('who');
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 20),
   'a first exec task started the spawner')
    or diag $s->worker_log($w);
my $spawner = ($t->field($id, 'result') // '') =~ s/"//gr;
like($spawner, qr/^\d+$/, "the spawner's pid ($spawner)");

my $wout = "$dir/strace-worker.out";
my $sout = "$dir/strace-spawner.out";
my $wst = $s->spawn('strace-w', $strace, '-qq', '-e', 'trace=sendmsg',
                    '-o', $wout, '-p', $w->{pid});
my $sst = $s->spawn('strace-s', $strace, '-qq', '-e', 'trace=sendto',
                    '-o', $sout, '-p', $spawner);

sub count {
    my ($file, $call) = @_;
    open my $fh, '<', $file or return 0;
    return scalar grep { /^\Q$call\E\(/ } <$fh>;
}

# both attached once a task's request and reports show up in the traces
my $attached = wait_for(sub {
    my $x = $t->enqueue('true');
    wait_for(sub { $t->status($x) eq 'succeeded' }, 10, 0.05);
    return count($wout, 'sendmsg') > 0 && count($sout, 'sendto') > 0;
}, 20, 0.2);
plan skip_all => 'strace cannot attach here' unless $attached;
ok($attached, 'strace attached to the worker and to the spawner');
my ($w0, $s0) = (count($wout, 'sendmsg'), count($sout, 'sendto'));

# 200 tasks arriving together: their hashes first, then every stream
# entry in one script call
my @ids;
for my $i (1 .. 200) {
    my $x = sprintf 'batch-%06d', $i;
    $t->task_hash($x, type => 'true', payload => '{}');
    push @ids, $x;
}
$r->cmd('EVAL', "for _, id in ipairs(ARGV) do "
                . "redis.call('XADD', KEYS[1], '*', 'id', id) end",
        1, "$prefix:q:default:normal", @ids);
ok(wait_for(sub { !grep { $t->status($_) ne 'succeeded' } @ids }, 120, 0.1),
   'all 200 succeeded')
    or diag $s->worker_log($w);
$s->kill_process($wst, 'INT');
$s->kill_process($sst, 'INT');

my $requests = count($wout, 'sendmsg') - $w0;
my $reports = count($sout, 'sendto') - $s0;
# one datagram a message was exactly 200 and 400 here
cmp_ok($requests, '<=', 100,
       "$requests sendmsg calls carried the 200 spawn requests");
cmp_ok($requests, '>=', 25, 'at most eight requests a datagram');
cmp_ok($reports, '<', 200,
       "$reports sendto calls carried the spawner's 400 reports");
cmp_ok($reports, '>', 0, 'strace saw the reports');

is($s->stop_worker($w), 0, 'the worker exits 0');
unlike($s->worker_log($w), qr/AddressSanitizer|runtime error|exec_spawner_lost/,
       'no sanitizer report, no spawner lost');

done_testing();
