#!/usr/bin/perl
# Every stream of a worker's only queue replaced by another type: each
# is left alone a while (its error said once), no stream is left to
# block on, and the worker must come back to them by itself.  Once the
# streams are streams again, a task enqueued runs within seconds (the
# first failure's pause is 1-2 s), each stream is said recovered, and
# the worker exits cleanly.
#   1. the three streams strings, then streams again with their group:
#      a task runs, three stream_recovered lines.

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
my @streams = map { "$prefix:q:default:$_" } qw(high normal low);
$s->start_redis;
my $t = TaskGW::Tasks->new($s);
my $r = $t->redis;

# === TEST 1: the three streams strings, then streams again
my $w = $s->start_worker({
    concurrency => 2,
    queues      => { default => 1 },
    handlers    => { 'system.ping' => { builtin => 'ping' } },
});
my $first = $t->enqueue('system.ping');
ok(wait_for(sub { $t->status($first) eq 'succeeded' }, 10), 'a task runs')
    or diag $s->worker_log($w);
for my $k (@streams) {
    $r->cmd('DEL', $k);
    $r->cmd('SET', $k, 'not a stream');
}
ok(wait_for(sub { $s->log_lines($w, 'stream_error') >= 3 }, 20),
   'each stream is left alone, said once') or diag $s->worker_log($w);
for my $k (@streams) {
    $r->cmd('DEL', $k);
    $r->cmd('XGROUP', 'CREATE', $k, 'workers', '0', 'MKSTREAM');
}
my $next = $t->enqueue('system.ping');
ok(wait_for(sub { $t->status($next) eq 'succeeded' }, 15),
   'a task enqueued once they are streams again runs')
    or diag $s->worker_log($w);
ok(wait_for(sub { $s->log_lines($w, 'stream_recovered') >= 3 }, 15),
   'each stream is said recovered') or diag $s->worker_log($w);
is($s->log_lines($w, 'stream_error'), 3, 'each error said once');
is($s->stop_worker($w, timeout => 5), 0, 'worker exits 0');
unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
       'no sanitizer report');

done_testing();
