#!/usr/bin/perl
# A worker that lost the answer of its take (or start) with the
# connection sends it again once Redis is back, and only then runs the
# task.  The task's started_at must be that moment, not the moment of
# the lost try: the status, the webhook and the run's logged duration
# would otherwise hold the outage as if the task had run through it.
#   1. the take (take_many.lua) ran, its answer was lost: the task is
#      found running, its attempt not counted twice;
#   2. the take never reached Redis (lost on the way): the take sent
#      again starts it and counts its attempt;
#   3. and 4. the same for the start alone (start.lua) of a task its
#      take only loaded (a type under a concurrency cap).
# Before, the take sent again wrote (or kept) the lost try's moment.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes ();
use TaskGW::Stack qw(wait_for);
use TaskGW::Proxy;
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $stream = "$prefix:q:default:normal";

$s->start_redis;
my $r = $s->redis;

sub now_ms { int(Time::HiRes::time() * 1000) }

# A task as the module writes it (hash and stream entry); the ids are
# ours, so that the start's call can be told by its key below.
my $t = TaskGW::Tasks->new($s);
my $nid = 0;
sub create {
    return $t->enqueue('system.sleep',
                       id => sprintf('startedat-%06d', ++$nid),
                       payload => '{"ms":1}',
                       content_type => 'application/json');
}

sub field { $r->cmd('HGET', "$prefix:task:$_[0]", $_[1]) // '' }

# the scripts loaded, so that the call lost below is the script's, not
# a NOSCRIPT
{
    my $w = $s->start_worker({ handlers => { 'system.sleep' =>
                                   { builtin => 'sleep', concurrency => 1 } } });
    ok(wait_for(sub { ($r->cmd('CLIENT', 'LIST') // '')
                      =~ /flags=b .*cmd=xreadgroup/ }, 10),
       'warm-up: the worker blocks on its read')
        or diag $s->worker_log($w);
    my $id = create();
    ok(wait_for(sub { field($id, 'status') eq 'succeeded' }, 10),
       'warm-up task done')
        or diag $s->worker_log($w);
    is($s->stop_worker($w), 0, 'warm-up: worker exits 0');
}

my $take = qr/EVALSHA\r\n\$40\r\n[0-9a-f]{40}\r\n\$1\r\n0\r\n
              \$7\r\nworkers\r\n\$\d+\r\n\d/x;
my $start = qr/EVALSHA\r\n\$40\r\n[0-9a-f]{40}\r\n\$1\r\n1\r\n
               \$\d+\r\n\Q$prefix\E:task:startedat-/x;

for my $case (
    [ 'take answer lost', {}, $take, 0 ],
    [ 'take lost on the way', {}, { cut => $take }, 1 ],
    [ 'start answer lost', { concurrency => 1 }, $start, 0 ],
    [ 'start lost on the way', { concurrency => 1 }, { cut => $start }, 1 ],
) {
    my ($what, $hconf, $step, $cut) = @$case;
    my $px = TaskGW::Proxy->new($s, $s->redis_port, drop => [ $step ],
                                hold => 1);
    my $w = $s->start_worker({ concurrency => 4, claim_idle => '10m',
                               redis_timeout => '1s',
                               redis_backoff => { min => '50ms',
                                                  max => '100ms' },
                               handlers => { 'system.sleep' =>
                                             { builtin => 'sleep',
                                               %$hconf } },
                               redis => '127.0.0.1:' . $px->port });
    ok(wait_for(sub { ($r->cmd('CLIENT', 'LIST') // '')
                      =~ /flags=b .*cmd=xreadgroup/ }, 10),
       "$what: the worker blocks on its read")
        or diag $s->worker_log($w);
    my $id = create();
    ok(wait_for(sub { $px->dropped == 1 }, 20),
       "$what: the call was lost")
        or diag $s->worker_log($w);
    if ($cut) {
        is(field($id, 'status'), 'queued', "$what: nothing was started");
    } else {
        is(field($id, 'status'), 'running', "$what: the lost call started it");
    }

    # an outage the worker waits out: it is kept away for a while
    ok(wait_for(sub { $px->refused >= 10 }, 30),
       "$what: the worker was kept away")
        or diag $s->worker_log($w);
    my $back = now_ms();
    $px->release;

    ok(wait_for(sub { field($id, 'status') eq 'succeeded' }, 30),
       "$what: the task ran once Redis was back")
        or diag $s->worker_log($w);
    my $at = field($id, 'started_at');
    cmp_ok($at, '>=', $back,
           "$what: started_at is when it was started again ("
           . ($back - $at) . ' ms early otherwise)');
    cmp_ok(field($id, 'finished_at'), '>=', $at,
           "$what: finished after it started");
    is(field($id, 'attempts'), '1', "$what: one attempt");
    my ($ms) = $s->worker_log($w)
               =~ /event=task_succeeded task_id=\Q$id\E .*?\bms=(\d+)/;
    ok(defined $ms && $ms <= now_ms() - $back,
       "$what: the run's logged duration holds no outage")
        or diag 'ms=' . ($ms // 'none');
    my $runs = () = $s->worker_log($w)
                    =~ /event=task_started task_id=\Q$id\E /g;
    is($runs, 1, "$what: run once");
    ok(wait_for(sub { $r->group_pending($stream, 'workers') == 0 }, 10),
       "$what: nothing pending");
    is($s->stop_worker($w), 0, "$what: the worker exits 0");
    $px->stop;
}

done_testing;
