#!/usr/bin/perl
# A graceful stop hands back what the worker read but did not start, so
# another worker takes it at once instead of after claim_idle; and the
# consumers of stopped workers do not pile up in the group.

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

my $prefix = $s->prefix;
$s->start_redis;
my $t = TaskGW::Tasks->new($s);
my $r = $t->redis;
my $q = "$prefix:q:default:normal";

my %wconf = (
    concurrency    => 4,
    queues         => { default => 1 },
    claim_idle     => '60s',
    shutdown_grace => '20s',
    retry          => { max_attempts => 3, base => '100ms', cap => '300ms' },
    handlers       => {
        capped        => { builtin => 'sleep', concurrency => 1 },
        'system.ping' => { builtin => 'ping' },
    },
);

# Entries of the group's consumers: { name => pending }.
sub consumers {
    my ($stream) = @_;
    my $c = $r->cmd('XINFO', 'CONSUMERS', $stream, 'workers');
    return {} unless ref $c eq 'ARRAY';
    return { map { my %h = @$_; ($h{name} => $h{pending}) } @$c };
}

# === TEST 1: SIGTERM while one capped task runs and three more wait for
# the cap: the running one finishes there, the waiting ones are taken by
# another worker well before claim_idle (60 s)
my $w1 = $s->start_worker(\%wconf);
my $first = $t->enqueue('capped', payload => '{"ms":2000}');
my @waiting = map { $t->enqueue('capped', payload => '{"ms":300}') } 1 .. 3;
ok(wait_for(sub { $t->status($first) eq 'running' }, 10),
   'the first capped task runs') or diag $s->worker_log($w1);
ok(wait_for(sub { (consumers($q)->{'e2e-1'} // 0) == 4 }, 10),
   'the worker holds all four entries (three wait for the cap)')
    or diag explain consumers($q);
my $t0 = time;
kill 'TERM', $w1->{pid};
my $w2 = $s->start_worker(\%wconf);
ok(wait_for(sub { $t->status($first) eq 'succeeded' }, 15),
   'the running task finishes on the stopping worker');
is($s->stop_worker($w1), 0, 'the stopping worker exits 0');
{
    my $done = wait_for(sub { !grep { $t->status($_) ne 'succeeded' }
                                    @waiting }, 12);
    ok($done, 'the three it had not started are run by the other worker '
              . 'within 12 s') or diag $s->worker_log($w1);
    diag sprintf 'they took %.1f s after the SIGTERM', time - $t0;
}
$s->stop_worker($w2);

# === TEST 2: workers stopped gracefully leave no consumer behind in the
# group (a name that is new on each start, like the default host-pid)
my @names;
for (1 .. 3) {
    my $w = $s->start_worker({ %wconf, claim_idle => '1s' });
    my $id = $t->enqueue('system.ping');
    ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 10),
       "worker $w->{n} ran a task");
    push @names, "e2e-$w->{n}";
    is($s->stop_worker($w), 0, "worker $w->{n} exits 0");
}
my $live = $s->start_worker({ %wconf, claim_idle => '1s' });
my $id = $t->enqueue('system.ping');
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 10),
   'a live worker runs tasks');
{
    my $gone = wait_for(sub {
        my %c = map { %{ consumers("$prefix:q:default:$_") } }
                qw(high normal low);
        !grep { exists $c{$_} } @names, 'e2e-1', 'e2e-2';
    }, 12, 0.5);
    ok($gone, 'the stopped workers\' consumers are gone from the group')
        or diag explain consumers($q);
}
is($s->stop_worker($live), 0, 'the live worker exits 0');

for my $x ($w1, $w2, $live) {
    unlike($s->worker_log($x), qr/AddressSanitizer|runtime error/,
           "worker $x->{n}: no sanitizer report");
}

done_testing();
