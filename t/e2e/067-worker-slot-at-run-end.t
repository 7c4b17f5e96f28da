#!/usr/bin/perl
# A task whose run ended leaves its slot once its record is sent, not once
# Redis answered the record: the next read goes out while the record is
# in flight.  Runs stay bounded by concurrency all the same.
#   1. concurrency 1, the answer to the first task's record held back by
#      a proxy: the second task is read and taken (its entry pending,
#      its attempt counted) while that answer is out (before: nothing
#      was read until it came back); once released both succeed;
#   2. concurrency 3, 45 exec tasks of 40 ms: no more than 3 handlers
#      ever run at once, every task succeeds, every entry is acked, and
#      the worker exits 0.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);
use TaskGW::Tasks;
use TaskGW::Freeze;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $stream = "$prefix:q:default:normal";
$s->start_redis;
my $t = TaskGW::Tasks->new($s);
my $r = $t->redis;

sub pending { $r->cmd('XPENDING', $stream, 'workers')->[0] // 0 }

# === TEST 1: the next read goes out while a record's answer is held
my $a = $t->enqueue('system.ping');
# the record's short form: ... "c" or "s", then the task id
my $px = TaskGW::Freeze->new($s, $s->redis_port,
                             hold => qr/\r\n[cs]\r\n\$36\r\n\Q$a\E\r\n/);
my $b = $t->enqueue('system.ping');
my $w = $s->start_worker({
    redis         => '127.0.0.1:' . $px->port,
    redis_timeout => '60s',     # the held answer is not given up on
    concurrency   => 1,
    queues        => { default => 1 },
    handlers      => { 'system.ping' => { builtin => 'ping' } },
});
ok($px->wait_held(20), "the first task's record went out, its answer held")
    or diag $s->worker_log($w);
ok(wait_for(sub { ($t->field($b, 'attempts') // 0) == 1 }, 20),
   'the second task is taken while that answer is held')
    or diag $s->worker_log($w);
is($px->logged('released'), 0, 'the answer is still held');
$px->release;
ok(wait_for(sub { $t->status($b) eq 'succeeded' && pending() == 0 }, 20),
   'once released both succeed, every entry acked')
    or diag $s->worker_log($w);
is($s->stop_worker($w), 0, 'worker exits 0');
$px->stop;

# === TEST 2: runs never exceed concurrency while records are out
my $dir = $s->dir;
open my $fh, '>', "$dir/running" or die;
print $fh "0\n";
close $fh;
open $fh, '>', "$dir/most" or die;
print $fh "0\n";
close $fh;
my $ex = $t->script('count', <<"EOS");
cat > /dev/null
(
    flock 9
    n=\$((\$(cat $dir/running) + 1))
    echo \$n > $dir/running
    [ \$n -gt \$(cat $dir/most) ] && echo \$n > $dir/most
) 9> $dir/count.lock
sleep 0.04
(
    flock 9
    echo \$((\$(cat $dir/running) - 1)) > $dir/running
) 9> $dir/count.lock
echo '"ok"'
EOS
my @ids = map { $t->enqueue('count') } 1 .. 45;
$w = $s->start_worker({
    concurrency => 3,
    queues      => { default => 1 },
    handlers    => { count => { exec => [$ex], timeout => '30s' } },
});
ok(wait_for(sub { !grep { $t->status($_) ne 'succeeded' } @ids }, 90),
   'all 45 exec tasks succeed') or diag $s->worker_log($w);
open $fh, '<', "$dir/most" or die;
my $most = <$fh> // '';
close $fh;
chomp $most;
ok($most >= 1 && $most <= 3, "at most 3 handlers ran at once ($most)");
ok(wait_for(sub { pending() == 0 }, 20), 'every entry acked');
is($s->stop_worker($w), 0, 'worker exits 0');
unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
       'no sanitizer report');

done_testing();
