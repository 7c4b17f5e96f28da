#!/usr/bin/perl
# A worker that lost the answer of its take (or start) sends it again
# once Redis is back.  When another worker reclaimed the entry meanwhile
# (the first was cut off longer than claim_idle) and runs the task, the
# take sent again must not run it a second time: the entry is no longer
# pending under the first worker's name, so the first worker lets it go
# (task_reclaimed_elsewhere), counts no attempt and acks nothing.
#   1. the lost answer is a batched take's (take_many.lua);
#   2. it is the start's (start.lua) of a task its take only loaded (a
#      type under a concurrency cap).
# Before, the group-wide pending check let the first worker count a
# third attempt and run the task beside the second.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);
use TaskGW::Proxy;
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $stream = "$prefix:q:default:normal";

$s->start_redis;
my $r = $s->redis;

# A task as the module writes it (hash and stream entry): a sleep of
# ms, long enough that the second worker still runs it when the first
# one's take comes back.
my $t = TaskGW::Tasks->new($s);
my $nid = 0;
sub create {
    my ($ms) = @_;
    return $t->enqueue('system.sleep', id => sprintf('retake-%06d', ++$nid),
                       payload => "{\"ms\":$ms}",
                       content_type => 'application/json');
}

sub field { $r->cmd('HGET', "$prefix:task:$_[0]", $_[1]) // '' }

# the scripts loaded (take_many.lua, start.lua: a capped type's task
# that a blocking read brought), so that the answer lost below is the
# script's, not a NOSCRIPT
{
    my $w = $s->start_worker({ handlers => { 'system.sleep' =>
                                   { builtin => 'sleep', concurrency => 1 } } });
    ok(wait_for(sub { ($r->cmd('CLIENT', 'LIST') // '')
                      =~ /flags=b .*cmd=xreadgroup/ }, 10),
       'warm-up: the worker blocks on its read')
        or diag $s->worker_log($w);
    my $id = create(1);
    ok(wait_for(sub { field($id, 'status') eq 'succeeded' }, 10),
       'warm-up task done')
        or diag $s->worker_log($w);
    is($s->stop_worker($w), 0, 'warm-up: worker exits 0');
}

for my $case (
    [ 'take_many', {},
      qr/EVALSHA\r\n\$40\r\n[0-9a-f]{40}\r\n\$1\r\n0\r\n
         \$7\r\nworkers\r\n\$\d+\r\n\d/x ],
    [ 'start', { concurrency => 1 },
      qr/EVALSHA\r\n\$40\r\n[0-9a-f]{40}\r\n\$1\r\n1\r\n
         \$\d+\r\n\Q$prefix\E:task:retake-/x ],
) {
    my ($what, $hconf, $call) = @$case;
    my %handlers = ('system.sleep' => { builtin => 'sleep', %$hconf });
    my $px = TaskGW::Proxy->new($s, $s->redis_port, drop => [ $call ],
                                hold => 1);
    # A: cut off from Redis after the lost answer, until released
    my $a = $s->start_worker({ concurrency => 4, claim_idle => '10m',
                               redis_timeout => '1s',
                               redis_backoff => { min => '50ms',
                                                  max => '300ms' },
                               retry => { max_attempts => 5 },
                               handlers => \%handlers,
                               redis => '127.0.0.1:' . $px->port });
    ok(wait_for(sub { ($r->cmd('CLIENT', 'LIST') // '')
                      =~ /flags=b .*cmd=xreadgroup/ }, 10),
       "$what: the first worker blocks on its read")
        or diag $s->worker_log($a);
    my $id = create(8000);
    ok(wait_for(sub { $px->dropped == 1 }, 20),
       "$what: the first worker's answer was lost")
        or diag $s->worker_log($a);
    is(field($id, 'attempts'), '1', "$what: its start counted attempt 1");

    # B reclaims the entry (idle past its claim_idle) and runs the task
    my $b = $s->start_worker({ concurrency => 4, claim_idle => '1s',
                               retry => { max_attempts => 5 },
                               handlers => \%handlers });
    ok(wait_for(sub { $s->worker_log($b)
                      =~ /event=task_started task_id=\Q$id\E /}, 30),
       "$what: the second worker reclaimed and started it")
        or diag $s->worker_log($b);
    ok($px->refused > 0, "$what: the first worker was kept away meanwhile");

    # A's take comes back while B runs the task
    $px->release;
    ok(wait_for(sub { $s->worker_log($a)
                      =~ /task_id=\Q$id\E /
                      && $s->worker_log($a)
                      =~ /event=task_(?:started|reclaimed_elsewhere)
                          \ task_id=\Q$id\E /x }, 30),
       "$what: the first worker's take came back")
        or diag $s->worker_log($a);
    unlike($s->worker_log($a), qr/event=task_started task_id=\Q$id\E /,
           "$what: the first worker did not run it again");
    like($s->worker_log($a),
         qr/event=task_reclaimed_elsewhere task_id=\Q$id\E /,
         "$what: it let the task go");
    is(field($id, 'status'), 'running', "$what: still running under B");
    is(field($id, 'attempts'), '2', "$what: attempt 2 (B's), no third");

    ok(wait_for(sub { field($id, 'status') eq 'succeeded' }, 30),
       "$what: B finished it")
        or diag $s->worker_log($b);
    ok(wait_for(sub { $r->group_pending($stream, 'workers') == 0 }, 10),
       "$what: nothing pending");
    my $done = () = $s->worker_log($b)
                    =~ /event=task_succeeded task_id=\Q$id\E /g;
    is($done, 1, "$what: recorded once, by B");
    is(field($id, 'attempts'), '2', "$what: attempts 2 at the end");
    is($s->stop_worker($a), 0, "$what: the first worker exits 0");
    is($s->stop_worker($b), 0, "$what: the second worker exits 0");
    $px->stop;
}

done_testing;
