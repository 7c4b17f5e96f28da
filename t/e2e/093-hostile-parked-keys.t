#!/usr/bin/perl
# A parked record whose writes need two broken keys: its dead-letter
# stream and the webhook outbox (a failed task with a callback), both
# made strings.  The record is refused on the first; once that key is
# fixed, the record is refused on the second, and that key must be
# named (before: the task kept the first key it was refused on, so the
# second was never logged and the first never said recovered while the
# record kept waiting).  Once both are fixed the outcome is written once.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $stream = "$prefix:q:default:normal";
my $dl = "$prefix:dead:default";
my $outbox = "$prefix:outbox";
$s->start_redis;
my $t = TaskGW::Tasks->new($s);
my $r = $t->redis;

sub pending { $r->cmd('XPENDING', $stream, 'workers')->[0] // 0 }

# === TEST 1: refused on the dead-letter stream, then on the outbox
$r->cmd('SET', $dl, 'not a stream');
$r->cmd('SET', $outbox, 'not a zset');
my $w = $s->start_worker({
    concurrency   => 1,
    queues        => { default => 1 },
    claim_idle    => '2s',
    redis_backoff => { min => '100ms', max => '500ms' },
    retry         => { max_attempts => 1, base => '100ms', cap => '300ms' },
    handlers      => { 'fail' => { builtin => 'fail' } },
});
my $id = $t->enqueue('fail', callback_url => 'http://127.0.0.1:9/hook');
ok(wait_for(sub { $s->log_lines($w, 'record_key_refused', "key=$dl") >= 1 },
            20), 'the dead-letter stream is named')
    or diag $s->worker_log($w);
$r->cmd('DEL', $dl);
ok(wait_for(sub {
       $s->log_lines($w, 'record_key_refused', "key=$outbox") >= 1 }, 20),
   'once it is fixed, the outbox is named')
    or diag $s->worker_log($w);
ok(wait_for(sub { $s->log_lines($w, 'record_key_recovered', "key=$dl") == 1 },
            10), 'and the dead-letter stream said recovered')
    or diag $s->worker_log($w);
is(pending(), 1, 'the entry stays pending');
is($r->cmd('XLEN', $dl) // 0, 0, 'no dead-letter entry yet');
$r->cmd('DEL', $outbox);
ok(wait_for(sub { pending() == 0 }, 20), 'written once both are fixed')
    or diag $s->worker_log($w);
is($t->status($id), 'dead', 'dead');
is($r->cmd('XLEN', $dl), 1, 'one dead-letter entry');
is($r->cmd('ZCARD', $outbox), 1, 'one webhook event');
ok(wait_for(sub { $s->log_lines($w, 'record_key_recovered', "key=$outbox")
                  == 1 }, 10), 'the outbox said recovered')
    or diag $s->worker_log($w);
is($s->log_lines($w, 'record_key_refused'), 2, 'each key named once');
is($s->stop_worker($w, timeout => 10), 0, 'worker exits 0');
unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
       'no sanitizer report');

done_testing();
