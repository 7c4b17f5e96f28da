#!/usr/bin/perl
# Two workers and 200 delayed tasks due at the same moment (one
# X-Task-Run-At for all): each runs exactly once.  The handler is a
# program that appends its task id to a log, so a second run of any task
# would show there, whatever the task hash says.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new(prefix => 'e2e122');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $P = $s->prefix;
my $N = $ENV{TASKGW_E2E_DUE} || 200;
my $runs = $s->dir . '/runs.log';
my $prog = $s->dir . '/record.sh';
open my $fh, '>', $prog or die;
print $fh "#!/bin/sh\necho \"\$TASKGW_TASK_ID \$TASKGW_ATTEMPT\" >> $runs\n";
close $fh;
chmod 0755, $prog;

$s->start_redis;
$s->start_nginx(worker_processes => 2, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_prefix %%PREFIX%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=due type=record; }
    }
EOC

my %wconf = (queues => { due => 1 }, concurrency => 16,
             handlers => { record => { exec => [ $prog ] } });
$s->start_worker({ %wconf });
$s->start_worker({ %wconf });

# due a few seconds from now, all in the same second (the same ms)
my $at = int(time) + 4;
my $res = $s->http_parallel([ map {
    [ POST => '/tasks', body => "t$_", headers => [ 'X-Task-Run-At' => $at ] ]
} 1 .. $N ], timeout => 30);
my @ids = map { $_->{json} ? $_->{json}{id} : () }
          grep { $_->{status} == 202 } @$res;
is(scalar @ids, $N, "$N delayed tasks accepted");
my $r = $s->redis;
my $enq_done = time;
ok($enq_done < $at, 'all enqueued before they are due')
    or diag('the machine is slow: ' . ($enq_done - $at) . ' s late');
is($r->cmd('ZCOUNT', "$P:scheduled", $at * 1000, $at * 1000), $N,
   "all $N in the schedule at the same ms");

my $ok = wait_for(sub {
    scalar(grep { ($r->cmd('HGET', "$P:task:$_", 'status') // '') eq 'succeeded' }
           @ids) == $N
}, 90, 0.5);
ok($ok, 'every task succeeded');

my %count;
open my $in, '<', $runs or die "$runs: $!";
while (<$in>) { my ($id) = split; $count{$id}++ }
close $in;
is(scalar(grep { ($count{$_} // 0) == 1 } @ids), $N, 'each ran exactly once')
    or diag explain { map { $_ => $count{$_} // 0 }
                      grep { ($count{$_} // 0) != 1 } @ids };
is(scalar(keys %count), $N, 'and nothing else ran');
is(scalar(grep { ($r->cmd('HGET', "$P:task:$_", 'attempts') // 0) != 1 } @ids),
   0, 'every task in one attempt');

# both workers took a share (the mover of one of them may have moved all)
my %by;
for my $w (1, 2) {
    my $log = $s->worker_log($s->{workers}[$w - 1]);
    $by{$w} = () = $log =~ /task_succeeded|event=succeeded|succeeded/g;
}
note("log lines mentioning success per worker: $by{1}, $by{2}");

is($r->cmd('ZCARD', "$P:scheduled"), 0, 'the schedule is empty');
is($r->cmd('XLEN', "$P:q:due:normal"), 0, 'the stream is empty');
$s->stop_worker for 1 .. 2;
$s->stop_nginx;
done_testing();
