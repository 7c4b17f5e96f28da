#!/usr/bin/perl
# A second SIGTERM while the worker is already closing (its last writes to
# Redis under way) is not fatal: the worker still exits 0.  Redis is
# frozen (SIGSTOP) so that the closing lasts long enough to be hit.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

$s->start_redis;

my $w = $s->start_worker({
    redis_timeout  => '2s',
    shutdown_grace => '10s',
    handlers       => { 'system.ping' => { builtin => 'ping' } },
});
ok(wait_for(sub { $s->worker_log($w) =~ /event=redis_up conn=read/ }, 10),
   'the worker is up') or diag $s->worker_log($w);
sleep 0.3;

# === TEST 1: SIGTERM, then another one once it is closing
kill 'STOP', $s->{redis_pid};
kill 'TERM', $w->{pid};
ok(wait_for(sub { $s->worker_log($w) =~ /event=exit/ }, 15),
   'the worker is closing') or diag $s->worker_log($w);
ok($s->worker_running($w), 'still there, waiting for Redis');
kill 'TERM', $w->{pid};
sleep 0.3;
kill 'CONT', $s->{redis_pid};
is($s->stop_worker($w, timeout => 15), 0,
   'it exits 0 all the same (not killed by the second signal)');
unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
       'no sanitizer report');

done_testing();
