#!/usr/bin/perl
# A Redis that stops (SIGSTOP: its socket still takes what is written to
# it, up to the kernel's buffers, but nothing is read or answered) while
# enqueues keep coming one at a time: every one must be answered 503
# "unavailable" within about taskgw_redis_timeout of its own arrival.
# Writing a newer batch into the socket is no sign that Redis reads: the
# oldest batch in flight must not wait on as long as newer ones come
# (before, each write counted as the link's progress, and the first
# request of a steady trickle waited until the trickle stopped).
# Then Redis goes on (SIGCONT) and enqueues are stored again; and a link
# that keeps answering is never timed out, however long it is busy.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

$s->start_redis;
$s->start_nginx(worker_processes => 1, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_timeout 1s;
    taskgw_redis_backoff 1ms 1ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=trickle; }
    }
EOC
my $redis_pid = $s->{redis_pid};
my $stopped;
END { kill 'CONT', $redis_pid if $stopped && $redis_pid }

is($s->http(POST => '/tasks', body => '{"n":0}')->{status}, 202,
   'the link is up');

# Replies of the requests kept open in @open, read as soon as they come:
# each one's time is from its own sending to its answer.
my (@open, @done);

sub collect {
    my ($wait) = @_;
    my $end = time + $wait;
    while (@open) {
        my $r = '';
        vec($r, fileno $_->{sock}, 1) = 1 for @open;
        my $left = $end - time;
        last if $left <= 0;
        select(my $ready = $r, undef, undef, $left) or last;
        my @still;
        for my $h (@open) {
            if (vec($ready, fileno $h->{sock}, 1)) {
                my $res = $s->http_recv($h);
                $res->{n} = $h->{n};
                push @done, $res;
            } else {
                push @still, $h;
            }
        }
        @open = @still;
    }
}

# === TEST 1: 16 enqueues, one every 0.3 s, into a stopped Redis: every
# one is answered 503 within 3 s of its sending (the timeout is 1 s; the
# rest is room for a busy machine).  Before, the first one waited until
# 1 s after the last write, 5.5 s or more.
kill 'STOP', $redis_pid;
$stopped = 1;

for my $n (1 .. 16) {
    my $h = $s->http_send(POST => '/tasks', body => qq({"n":$n}),
                          timeout => 20);
    $h->{n} = $n;
    push @open, $h;
    collect(0.3);
}
collect(20);

is(scalar @done, 16, 'all 16 enqueues answered');
for my $res (sort { $a->{n} <=> $b->{n} } @done) {
    is($res->{status}, 503, "enqueue $res->{n}: 503")
        or diag explain $res;
    is($res->{json} && $res->{json}{error}, 'unavailable',
       "enqueue $res->{n}: error unavailable");
    cmp_ok($res->{time}, '<', 3,
           sprintf("enqueue $res->{n}: answered in %.2f s", $res->{time}));
}

# === TEST 2: Redis goes on: enqueues are stored again
kill 'CONT', $redis_pid;
$stopped = 0;
my $t0 = time;
ok(wait_for(sub {
    $s->http(POST => '/tasks', body => '{"n":"again"}', timeout => 5)
        ->{status} == 202
}, 15, 0.1), sprintf('202 again once Redis goes on (%.2f s)', time - $t0));

# === TEST 3: a link that is busy but answers is not timed out: 2.5 s of
# enqueues, several at a time, one batch after another, each answered
# long before the timeout; the link's timer, set for an early batch and
# left armed, finds newer batches each time it fires.  All 202.
my ($sent, $ok) = (0, 0);
my $log_before = length $s->error_log;
$t0 = time;
while (time - $t0 < 2.5) {
    my $many = $s->http_parallel(
        [ map { [ POST => '/tasks', body => qq({"m":$_}) ] } 1 .. 8 ],
        timeout => 10);
    $sent += @$many;
    $ok += grep { $_->{status} == 202 } @$many;
}
is($ok, $sent, "a busy link: all $sent enqueues over 2.5 s answered 202");
unlike(substr($s->error_log, $log_before), qr/did not answer within/,
       'the link was never timed out while Redis answered');

is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

done_testing();
