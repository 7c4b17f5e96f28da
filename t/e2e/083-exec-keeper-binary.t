#!/usr/bin/perl
# An exec handler's program runs under taskgw-exec-keeper, the small
# static keeper installed next to taskgw-worker, not under a second copy
# of the worker's own binary (whose dynamic loading cost most of a short
# task's time).  A worker without the keeper beside it falls back to its
# own binary, and its tasks still run, tied to the worker the same way.
# 200 `exec /bin/true` tasks all succeed.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Copy qw(copy);
use TaskGW::Stack qw(wait_for);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $dir = $s->dir;
$s->start_redis;
my $t = TaskGW::Tasks->new($s);
my $keeper = $s->worker_binary;
$keeper =~ s{[^/]+\z}{taskgw-exec-keeper};

ok(-x $keeper, 'taskgw-exec-keeper is built next to taskgw-worker');

# prints the program its parent (the keeper) runs
my $who = $t->script('who', <<'EOS');
cat > /dev/null
printf '"%s"\n' "$(readlink /proc/$PPID/exe)"
EOS

my %conf = (
    concurrency => 4,
    handlers    => { who => { exec => [$who], timeout => '30s' },
                     true => { exec => ['/bin/true'], timeout => '30s' } },
);

# === the keeper next to the worker
my $w = $s->start_worker(\%conf);
my $id = $t->enqueue('who');
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 20), 'the task ran')
    or diag $s->worker_log($w);
like($t->field($id, 'result') // '', qr{/taskgw-exec-keeper"\z},
     'under taskgw-exec-keeper');

my @ids = map { $t->enqueue('true') } 1 .. 200;
ok(wait_for(sub { !grep { $t->status($_) ne 'succeeded' } @ids }, 120, 0.2),
   '200 exec /bin/true tasks succeeded');
is($s->stop_worker($w), 0, 'the worker exits 0');

# === a worker binary alone: its own binary is the keeper
my $alone = "$dir/alone";
mkdir $alone or die $!;
copy($s->worker_binary, "$alone/taskgw-worker") or die $!;
chmod 0755, "$alone/taskgw-worker";
{
    local $ENV{TASKGW_WORKER} = "$alone/taskgw-worker";
    $w = $s->start_worker(\%conf);
}
$id = $t->enqueue('who');
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 20),
   'without the keeper beside it, the task runs too')
    or diag $s->worker_log($w);
like($t->field($id, 'result') // '', qr{/alone/taskgw-worker"\z},
     'under the worker binary itself');
is($s->stop_worker($w), 0, 'that worker exits 0');

done_testing();
