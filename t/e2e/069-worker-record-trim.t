#!/usr/bin/perl
# What record_many.lua costs Redis per task, and that what it cut costs
# no task its outcome:
#   1. the acked entries at a stream's head are removed by one XTRIM
#      MINID per stream and call, not by XDEL (XDEL walks the entry's
#      stream node from its start for each entry deleted); tasks of two
#      priorities (two streams) all succeed, both streams end empty;
#      and a task costs at most 320 bytes sent to Redis (a succeeded
#      task's record is a short block naming the task by its id);
#   2. an entry another consumer holds pending at the head of the stream
#      is not trimmed: the tasks behind it are recorded and their entries
#      deleted, the held entry stays (still pending) until it is acked,
#      and a second round behind it goes the same way.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes ();
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $normal = "$prefix:q:default:normal";
my $high = "$prefix:q:default:high";

$s->start_redis;
my $r = $s->redis;

# A task hash as the module writes it, and its stream entry.
my $nid = 0;
sub create {
    my ($n, $prio) = @_;
    $prio //= 'normal';
    my @ids;
    for (1 .. $n) {
        my $id = sprintf 'trim-%06d', ++$nid;
        $r->cmd('HSET', "$prefix:task:$id", id => $id, queue => 'default',
                type => 'system.ping', priority => $prio,
                status => 'queued', payload => '{}',
                content_type => 'application/json',
                created_at => int(Time::HiRes::time() * 1000),
                attempts => 0);
        $r->cmd('XADD', "$prefix:q:default:$prio", '*', id => $id);
        push @ids, $id;
    }
    return @ids;
}

# Calls of each command since the last RESETSTAT; the tasks' statuses.
sub cmdstats { $r->command_calls }
sub statuses { $r->task_statuses($prefix, @_) }

# The group's pending count on a stream, by XINFO.
sub pending { $r->group_pending($_[0], 'workers') }

my %wconf = (
    concurrency   => 50,
    redis_timeout => '1s',
    handlers      => { 'system.ping' => { builtin => 'ping' } },
);

# the scripts loaded, the groups made, before anything is counted
{
    my $w = $s->start_worker(\%wconf);
    my @ids = (create(1), create(1, 'high'));
    ok(wait_for(sub { statuses(@ids) eq 'succeeded=2' }, 10),
       'warm-up tasks done')
        or diag $s->worker_log($w);
    is($s->stop_worker($w), 0, 'worker exits 0');
}

# === TEST 1: the head of each stream trimmed, nothing deleted one by one
{
    my @ids = (create(300), create(100, 'high'));
    my $N = @ids;
    $r->cmd('CONFIG', 'RESETSTAT');
    my $w = $s->start_worker(\%wconf);
    # polled with XLEN (a few bytes), so that what Redis received is the
    # worker's
    ok(wait_for(sub { $r->cmd('XLEN', $normal) == 0
                      && $r->cmd('XLEN', $high) == 0 }, 30),
       'both streams emptied')
        or diag $s->worker_log($w);
    my ($in) = ($r->cmd('INFO', 'stats') // '') =~ /total_net_input_bytes:(\d+)/;
    is(statuses(@ids), "succeeded=$N", "$N tasks succeeded");
    ok(wait_for(sub { pending($normal) == 0 && pending($high) == 0 }, 10),
       'nothing pending');
    is($s->stop_worker($w), 0, 'worker exits 0');
    # a succeeded task's record is a short block: its id, not its key
    # three times and every command's name (was ~520 bytes a task)
    cmp_ok($in / $N, '<=', 320,
           sprintf('bytes Redis received per task: %.0f', $in / $N));
    my $c = cmdstats();
    note(join ' ', map { "$_=$c->{$_}" } sort keys %$c);
    is($c->{xdel} // 0, 0, 'no XDEL');
    my $trims = $c->{xtrim} // 0;
    ok($trims > 0 && $trims <= ($c->{xack} // 0),
       "at most one XTRIM per stream and call ($trims, "
       . ($c->{xack} // 0) . ' XACK)');
    is($r->cmd('XLEN', $normal), 0, 'the normal stream is empty');
    is($r->cmd('XLEN', $high), 0, 'the high stream is empty');
}

# === TEST 2: an entry held pending by another consumer at the head
{
    my ($held) = create(1);
    my $got = $r->cmd('XREADGROUP', 'GROUP', 'workers', 'other',
                      'COUNT', 1, 'STREAMS', $normal, '>');
    my $held_entry = $got->[0][1][0][0];
    ok($held_entry, "an entry read by another consumer ($held_entry)");
    my $w = $s->start_worker(\%wconf);
    for my $round (1, 2) {
        my @ids = create(60);
        ok(wait_for(sub { statuses(@ids) eq 'succeeded=60' }, 20),
           "round $round: the 60 tasks behind it succeeded")
            or diag statuses(@ids), $s->worker_log($w);
        ok(wait_for(sub { $r->cmd('XLEN', $normal) == 1 }, 10),
           "round $round: their entries are gone, one entry left")
            or diag 'XLEN ' . $r->cmd('XLEN', $normal);
        my $left = $r->cmd('XRANGE', $normal, '-', '+');
        is($left->[0][0], $held_entry, "round $round: the held entry stays");
        is(pending($normal), 1, "round $round: it is still pending");
    }
    is($s->stop_worker($w), 0, 'worker exits 0');
    is($r->cmd('HGET', "$prefix:task:$held", 'status'), 'queued',
       'the held task was not run');
    is($r->cmd('XACK', $normal, 'workers', $held_entry), 1,
       'the held entry is acked by hand');
}

done_testing;
