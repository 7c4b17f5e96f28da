#!/usr/bin/perl
# The entries one read brings are started by one take_many.lua call, and
# each script call asks whether its entries are still pending with one
# XPENDING per stream, not one per task and step:
#   1. 400 tasks at concurrency 50 cost Redis (INFO commandstats, the
#      commands scripts run included) at most 0.25 script calls, 0.25
#      XPENDING and 8 commands per task (before take_many: 1.1, 2 and
#      10.1; the writes of a take and a record are 7 a task);
#   2. a task whose hash is a string and one whose hash is gone, read in
#      one batch with 28 others: only those two fail (acked as a bad
#      record and as missing), the 28 others run once, in a few calls;
#   3. the reply of a batched take call is lost with the connection after
#      the script ran: every task still ends succeeded, exactly once,
#      nothing stays pending.

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

# === TEST 1: Redis commands per task
{
    my $N = 400;
    my @ids = create($N);
    $r->cmd('CONFIG', 'RESETSTAT');
    my $w = $s->start_worker(\%wconf);
    ok(wait_for(sub { statuses(@ids) eq "succeeded=$N" }, 30),
       "$N tasks succeeded")
        or diag statuses(@ids), $s->worker_log($w);
    ok(wait_for(sub { pending() == 0 }, 10), 'nothing pending');
    is($s->stop_worker($w), 0, 'worker exits 0');
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

# === TEST 3: the reply of a batched take call is lost
{
    my $N = 20;
    my @ids = create($N);
    # take_many.lua is called with no keys, the group, then a number (a
    # record call's group is followed by a stream key)
    my $take = qr/EVALSHA\r\n\$40\r\n[0-9a-f]{40}\r\n\$1\r\n0\r\n
                  \$7\r\nworkers\r\n\$\d+\r\n\d/x;
    my $px = TaskGW::Proxy->new($s, $s->redis_port, drop => [ $take ]);
    my $w = $s->start_worker({ %wconf, concurrency => $N,
                               redis => '127.0.0.1:' . $px->port });
    ok(wait_for(sub { statuses(@ids) eq "succeeded=$N" }, 30),
       "all $N tasks succeeded")
        or diag statuses(@ids), $s->worker_log($w);
    is($px->dropped, 1, 'the proxy lost the reply of a take call');
    ok(wait_for(sub { pending() == 0 && $r->cmd('XLEN', $stream) == 0 }, 10),
       'nothing pending, the stream empty')
        or diag $s->worker_log($w);
    my $log = $s->worker_log($w);
    my %done;
    $done{$1}++ while $log =~ /event=task_succeeded task_id=(\S+)/g;
    is(scalar(grep { ($done{$_} // 0) == 1 } @ids), $N,
       'each task ran and was recorded once');
    my $again = grep { $r->cmd('HGET', "$prefix:task:$_", 'attempts') eq '2' }
                @ids;
    cmp_ok($again, '>=', 2,
           "the tasks of the lost call were started again ($again)");
    is(scalar(grep { $r->cmd('HGET', "$prefix:task:$_", 'attempts') =~ /^[12]$/ }
              @ids), $N, '... at most once more');
    is($s->stop_worker($w), 0, 'worker exits 0');
    $px->stop;
}

done_testing;
