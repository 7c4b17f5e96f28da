#!/usr/bin/perl
# The entries one read brings are started in the same call that reads
# them (read_take.lua; take_many.lua for entries read otherwise), and
# each script call asks whether its entries are still pending with one
# XPENDING per stream, not one per task and step:
#   1. 400 tasks at concurrency 50: the worker sent no read of new
#      entries and no take call of its own (each read took its tasks:
#      before read_take, a read and a take call per batch), and cost
#      Redis (INFO commandstats, the commands scripts run included) at
#      most 0.25 script calls, 0.25 XPENDING and 8 commands per task
#      (before take_many: 1.1, 2 and 10.1; the writes of a take and a
#      record are 7 a task);
#   1b. at concurrency 256 no read asks more than 128 entries (before:
#      a read asked for all the free slots);
#   1c. a read takes the queue's three streams in one call, high first:
#      at concurrency 1 one read a task (before: a read of the empty high
#      stream first, then one of normal, two a task);
#   2. a task whose hash is a string and one whose hash is gone, read in
#      one batch with 28 others: only those two fail (acked as a bad
#      record and as missing), the 28 others run once, in a few calls;
#   3. the reply of a call that took tasks (the read that takes them, a
#      batched take) is lost with the connection after the script ran,
#      at max_attempts 1: every task still ends succeeded, run exactly
#      once, as attempt 1 (the take sent again is the same start, not a
#      second one; before, read and take: all 20 dead, none ran), nothing
#      stays pending; 3b. also when the recovery's read of the worker's own
#      pending entries loses its reply;
#   4. a queue whose stream is a string: logged once and left alone, the
#      other queue served.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes ();
use TaskGW::Stack qw(wait_for);
use TaskGW::Proxy;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $stream = "$prefix:q:default:normal";
my ($high, $low) = ("$prefix:q:default:high", "$prefix:q:default:low");

$s->start_redis;
my $r = $s->redis;

# A task hash as the module writes it, and its stream entry.
my $nid = 0;
sub create {
    my ($n) = @_;
    my @ids;
    for (1 .. $n) {
        my $id = sprintf 'take-%06d', ++$nid;
        $r->cmd('HSET', "$prefix:task:$id", id => $id, queue => 'default',
                type => 'system.ping', priority => 'normal',
                status => 'queued', payload => '{}',
                content_type => 'application/json',
                created_at => int(Time::HiRes::time() * 1000),
                attempts => 0);
        $r->cmd('XADD', $stream, '*', id => $id);
        push @ids, $id;
    }
    return @ids;
}

# Calls of each command since the last RESETSTAT; the tasks' statuses.
sub cmdstats { $r->command_calls }
sub statuses { $r->task_statuses($prefix, @_) }

# The group's pending count, by XINFO (XPENDING calls are the worker's
# to count).
sub pending { $r->group_pending($stream, 'workers') }

my %wconf = (
    concurrency   => 50,
    redis_timeout => '1s',
    handlers      => { 'system.ping' => { builtin => 'ping' } },
);

# the scripts loaded, the group made, before anything is counted
{
    my $w = $s->start_worker(\%wconf);
    my ($id) = create(1);
    ok(wait_for(sub { statuses($id) eq 'succeeded=1' }, 10),
       'warm-up task done')
        or diag $s->worker_log($w);
    is($s->stop_worker($w), 0, 'worker exits 0');
}

# The requests clients sent since start_requests() (SLOWLOG with every
# command logged: it names the commands a client sent, not those its
# scripts ran), each as its argument list.
sub start_requests {
    $r->cmd('CONFIG', 'SET', 'slowlog-max-len', 100000);
    $r->cmd('CONFIG', 'SET', 'slowlog-log-slower-than', 0);
    $r->cmd('SLOWLOG', 'RESET');
}
sub requests {
    my $log = $r->cmd('SLOWLOG', 'GET', -1);
    $r->cmd('CONFIG', 'SET', 'slowlog-log-slower-than', 10000);
    $r->cmd('SLOWLOG', 'RESET');
    # a command a script ran is logged too, under a client of no address;
    # a blocking read that CLIENT UNBLOCK ended (the worker's stop) is
    # logged by Redis 7.0 with no arguments at all: neither is the
    # worker's own request, both are left out
    return grep { @$_ } map { ref $_->[3] eq 'ARRAY' ? $_->[3] : [] }
           grep { ($_->[4] // '') =~ /^\d/ } ref $log eq 'ARRAY' ? @$log : ();
}

# === TEST 1: Redis commands per task
{
    my $N = 400;
    my @ids = create($N);
    $r->cmd('CONFIG', 'RESETSTAT');
    start_requests();
    my $w = $s->start_worker(\%wconf);
    ok(wait_for(sub { statuses(@ids) eq "succeeded=$N" }, 30),
       "$N tasks succeeded")
        or diag statuses(@ids), $s->worker_log($w);
    ok(wait_for(sub { pending() == 0 }, 10), 'nothing pending');
    is($s->stop_worker($w), 0, 'worker exits 0');
    my @req = requests();
    # reads of new entries without BLOCK, and take_many.lua calls (no
    # keys, then the group), sent by the worker itself
    my $reads = grep { uc $_->[0] eq 'XREADGROUP'
                       && !grep({ uc $_ eq 'BLOCK' } @$_) && $_->[-1] eq '>' }
                @req;
    my $takes = grep { uc $_->[0] eq 'EVALSHA' && $_->[2] eq '0'
                       && $_->[3] eq 'workers' && $_->[4] =~ /^\d+$/ } @req;
    my $trips = grep { $_->[0] =~ /^(EVALSHA|XREADGROUP)$/i } @req;
    note("requests: $reads reads, $takes takes, $trips in all");
    is($reads, 0, 'no read of new entries outside the read-and-take script');
    is($takes, 0, 'no take call apart from its read (the queue was full)');
    my $c = cmdstats();
    my $all = 0;
    # this test's own polling (HGET of each status, XINFO) left out
    $all += $c->{$_} for grep { !/^(info|config\|resetstat|hget|xinfo\|groups)$/ }
                         keys %$c;
    my $xp = $c->{xpending} // 0;
    my $scripts = ($c->{evalsha} // 0) + ($c->{eval} // 0);
    note(join ' ', map { "$_=$c->{$_}" } sort keys %$c);
    cmp_ok($scripts / $N, '<=', 0.25,
           sprintf('script calls per task: %.2f', $scripts / $N));
    cmp_ok($xp / $N, '<=', 0.25,
           sprintf('XPENDING per task: %.2f', $xp / $N));
    cmp_ok($all / $N, '<=', 8,
           sprintf('Redis commands per task: %.2f', $all / $N));
}

# === TEST 1b: above 128 slots a read takes at most half of them (two
# reads' tasks in flight: Redis runs one call while the worker handles
# the other's answer)
{
    my $N = 600;
    my @ids = create($N);
    start_requests();
    my $w = $s->start_worker({ %wconf, concurrency => 256 });
    ok(wait_for(sub { statuses(@ids) eq "succeeded=$N" }, 30),
       "c256: $N tasks succeeded")
        or diag statuses(@ids), $s->worker_log($w);
    is($s->stop_worker($w), 0, 'worker exits 0');
    # read_take.lua with no type rules: the queue's three streams, then
    # group, max, 0, consumer, COUNT
    my @counts = map { $_->[10] }
                 grep { uc $_->[0] eq 'EVALSHA' && $_->[2] eq '3'
                        && $_->[4] eq $stream && $_->[8] eq '0' } requests();
    my @big = grep { $_ > 128 } @counts;
    ok(@counts >= 5, 'c256: the backlog was read in several reads ('
                     . scalar(@counts) . ')');
    is(scalar(@big), 0, 'c256: none asked more than 128 entries ('
                        . join(' ', @counts) . ')');
    is(scalar(grep { $_ == 128 } @counts) > 0, 1,
       'c256: a read asks for half the slots');
}

# === TEST 1c: a pick reads its queue's streams (high, normal, low) in
# one call: at concurrency 1, tasks on normal only, one read a task
# (before: each pick read high alone first and found it empty, two reads
# a task, the empty one waiting in Redis behind the worker's other calls)
{
    my $N = 30;
    my @ids = create($N);
    start_requests();
    my $w = $s->start_worker({ %wconf, concurrency => 1 });
    ok(wait_for(sub { statuses(@ids) eq "succeeded=$N" }, 30),
       "c1: $N tasks succeeded")
        or diag statuses(@ids), $s->worker_log($w);
    is($s->stop_worker($w), 0, 'worker exits 0');
    # read_take.lua's calls: the task key's prefix among their arguments
    my @reads = grep { uc $_->[0] eq 'EVALSHA'
                       && grep({ $_ eq "$prefix:task:" } @$_) } requests();
    my $alone = grep { $_->[2] eq '1' && $_->[3] eq $high } @reads;
    is($alone, 0, 'c1: no read of the high stream alone');
    cmp_ok(scalar(@reads), '<=', $N + 5,
           'c1: about one read a task (' . scalar(@reads) . " for $N)");
}

# === TEST 2: a string and a missing hash inside one batched start
{
    my @ids = create(30);
    my ($str, $gone) = @ids[7, 19];
    $r->cmd('DEL', "$prefix:task:$str");
    $r->cmd('SET', "$prefix:task:$str", 'not a task hash');
    $r->cmd('DEL', "$prefix:task:$gone");
    my @good = grep { $_ ne $str && $_ ne $gone } @ids;
    $r->cmd('CONFIG', 'RESETSTAT');
    my $w = $s->start_worker(\%wconf);
    ok(wait_for(sub { statuses(@good) eq 'succeeded=28' }, 20),
       'the 28 others succeeded')
        or diag statuses(@good), $s->worker_log($w);
    ok(wait_for(sub { pending() == 0 && $r->cmd('XLEN', $stream) == 0 }, 10),
       'nothing pending, the stream empty')
        or diag $s->worker_log($w);
    my $log = $s->worker_log($w);
    like($log, qr/event=task_bad_record task_id=\Q$str\E .*step=take.*WRONGTYPE/,
         'the string: a bad record, at the take step');
    like($log, qr/event=task_missing task_id=\Q$gone\E /,
         'the missing hash: missing');
    is($r->cmd('TYPE', "$prefix:task:$str"), 'string',
       'the string is left as it was');
    is(scalar(grep { $r->cmd('HGET', "$prefix:task:$_", 'attempts') eq '1' }
              @good), 28, 'each of the others ran once');
    my $calls = cmdstats()->{evalsha} // 0;
    cmp_ok($calls, '<', 10,
           "the 30 were taken and recorded in a few script calls ($calls)");
    is($s->stop_worker($w), 0, 'worker exits 0');
    $r->cmd('DEL', "$prefix:task:$str");
}

# === TEST 3: the reply of a call that took tasks is lost
# (a) the read that takes its tasks (read_take.lua: the queue's three
# streams as its keys, then the group): the worker reads with the queue full; (b) a
# take_many.lua call (no keys, the group, then a number: a record call's
# group is followed by a stream key), for the entry a blocking read
# brought to an idle worker.  At max_attempts 1: the take the worker
# sends again for a start whose answer it lost must not count a second
# attempt (before: "attempts used up (1 of 1)", dead without a run).
for my $case (
    [ 'read and take',
      qr/EVALSHA\r\n\$40\r\n[0-9a-f]{40}\r\n\$1\r\n3\r\n
         \$\d+\r\n\Q$high\E\r\n\$\d+\r\n\Q$stream\E\r\n
         \$\d+\r\n\Q$low\E\r\n\$7\r\nworkers\r\n/x ],
    [ 'take_many',
      qr/EVALSHA\r\n\$40\r\n[0-9a-f]{40}\r\n\$1\r\n0\r\n
         \$7\r\nworkers\r\n\$\d+\r\n\d/x ],
) {
    my ($what, $call) = @$case;
    my $N = 20;
    my $idle = $what eq 'take_many';
    my @ids = $idle ? () : create($N);
    my $px = TaskGW::Proxy->new($s, $s->redis_port, drop => [ $call ]);
    my $w = $s->start_worker({ %wconf, concurrency => $N,
                               retry => { max_attempts => 1 },
                               redis => '127.0.0.1:' . $px->port });
    if ($idle) {
        ok(wait_for(sub { ($r->cmd('CLIENT', 'LIST') // '')
                          =~ /flags=b .*cmd=xreadgroup/ }, 10),
           "$what: the idle worker blocks on its read")
            or diag $s->worker_log($w);
        @ids = create($N);
    }
    ok(wait_for(sub { statuses(@ids) eq "succeeded=$N" }, 30),
       "$what: all $N tasks succeeded")
        or diag statuses(@ids), $s->worker_log($w);
    is($px->dropped, 1, "$what: the proxy lost the reply of a call");
    ok(wait_for(sub { pending() == 0 && $r->cmd('XLEN', $stream) == 0 }, 10),
       "$what: nothing pending, the stream empty")
        or diag $s->worker_log($w);
    my $log = $s->worker_log($w);
    my %done;
    $done{$1}++ while $log =~ /event=task_succeeded task_id=(\S+)/g;
    is(scalar(grep { ($done{$_} // 0) == 1 } @ids), $N,
       "$what: each task ran and was recorded once");
    like($log, qr/event=tasks_recovered /,
         "$what: the tasks of the lost read were taken again") unless $idle;
    is(scalar(grep { ($r->cmd('HGET', "$prefix:task:$_", 'attempts') // '')
                     eq '1' } @ids), $N,
       "$what: each as attempt 1 (the same start, not counted twice)");
    is($s->stop_worker($w), 0, "$what: worker exits 0");
    $px->stop;
}

# === TEST 3b: the read that takes tasks loses its reply, and so does the
# recovery's read of the worker's own pending entries (the command
# connection drops during the pass): the pass goes on once that
# connection is back, and the tasks run long before claim_idle.  Before,
# the pass was dropped until the read connection came back again, and
# the tasks stayed "running" until claim_idle.
{
    my $N = 20;
    my @ids = create($N);
    my $px = TaskGW::Proxy->new($s, $s->redis_port, drop => [
        qr/EVALSHA\r\n\$40\r\n[0-9a-f]{40}\r\n\$1\r\n3\r\n
           \$\d+\r\n\Q$high\E\r\n\$\d+\r\n\Q$stream\E\r\n
           \$\d+\r\n\Q$low\E\r\n\$7\r\nworkers\r\n/x,
        qr/XREADGROUP.*STREAMS\r\n\$\d+\r\n\Q$stream\E\r\n\$1\r\n0\r\n/s,
    ]);
    my $w = $s->start_worker({ %wconf, concurrency => $N,
                               claim_idle => '10m',
                               redis => '127.0.0.1:' . $px->port });
    ok(wait_for(sub { $px->dropped == 2 }, 20),
       'recovery lost too: the proxy lost both replies')
        or diag $s->worker_log($w);
    ok(wait_for(sub { statuses(@ids) eq "succeeded=$N" }, 30),
       "recovery lost too: all $N tasks succeeded, without claim_idle")
        or diag statuses(@ids), $s->worker_log($w);
    ok(wait_for(sub { pending() == 0 }, 10), 'recovery lost too: nothing '
       . 'pending');
    is($s->stop_worker($w), 0, 'recovery lost too: worker exits 0');
    $px->stop;
}

# === TEST 4: a queue whose stream is a string, beside a good one
# (the read that takes its tasks answers with the read's error: the bad
# stream is logged and left alone, the other queue is served)
{
    my $bad = "$prefix:q:bad:normal";
    $r->cmd('DEL', $bad);
    $r->cmd('SET', $bad, 'not a stream');
    my @ids = create(30);
    my $w = $s->start_worker({ %wconf, queues => { default => 1, bad => 1 } });
    ok(wait_for(sub { statuses(@ids) eq 'succeeded=30' }, 20),
       'a bad stream: the good queue is served')
        or diag statuses(@ids), $s->worker_log($w);
    ok(wait_for(sub { $s->worker_log($w)
                      =~ /event=stream_error stream=\Q$bad\E .*WRONGTYPE/ },
                10), 'the bad stream is logged with its error')
        or diag $s->worker_log($w);
    my $n = () = $s->worker_log($w) =~ /event=stream_error stream=\Q$bad\E /g;
    is($n, 1, 'once');
    is($r->cmd('GET', $bad), 'not a stream', 'and left as it was');
    is($s->stop_worker($w), 0, 'worker exits 0');
    $r->cmd('DEL', $bad);
}

done_testing;
