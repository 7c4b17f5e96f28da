#!/usr/bin/perl
# A handler's concurrency cap limits its own type only: tasks waiting for
# their type's cap do not hold the worker's slots, so other types run at
# once however many capped tasks are queued ahead of them.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);
use TaskGW::Tasks;


my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

$s->start_redis;
my $t = TaskGW::Tasks->new($s);

my $w = $s->start_worker({
    concurrency => 4,
    queues      => { default => 1 },
    handlers    => {
        slow          => { builtin => 'sleep', concurrency => 2 },
        'system.ping' => { builtin => 'ping' },
    },
});

# === TEST 1: 20 slow tasks capped at 2 (1.5 s each, 15 s in all) are
# queued before 5 pings: each ping is done within 4 s of its enqueue
my @slow = map { $t->enqueue('slow', payload => '{"ms":1500}') } 1 .. 20;
ok(wait_for(sub { (grep { $t->status($_) eq 'running' } @slow) == 2 }, 10),
   'two slow tasks run') or diag $s->worker_log($w);
my @lat;
for (1 .. 5) {
    my $t0 = time;
    my $id = $t->enqueue('system.ping');
    wait_for(sub { $t->status($id) eq 'succeeded' }, 20, 0.02);
    push @lat, time - $t0;
    sleep 0.2;
}
my ($max) = sort { $b <=> $a } @lat;
diag sprintf 'ping latencies: %s s', join ' ', map { sprintf '%.2f', $_ } @lat;
{
    cmp_ok($max, '<', 4, 'no ping waited 4 s or more behind the capped type');
}
my $running = grep { $t->status($_) eq 'running' } @slow;
ok($running <= 2, "the cap still holds ($running running)");
ok(wait_for(sub { !grep { $t->status($_) ne 'succeeded' } @slow }, 40),
   'all slow tasks succeed') or diag $s->worker_log($w);
is($s->stop_worker($w), 0, 'worker exits 0');
unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
       'no sanitizer report');

done_testing();
