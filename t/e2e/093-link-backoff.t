#!/usr/bin/perl
# Reconnect backoff under traffic (taskgw_redis_backoff): while
# Redis is down, requests keep coming (20/s) and every one is answered 503
# at once, but the nginx worker tries to connect only as the backoff
# schedule says (doubling from min to max, with jitter), and logs the lost
# link once, not per attempt.  Once Redis is back, the next attempt, within
# the backoff maximum, brings the link up and the next request succeeds.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

$s->start_redis;
$s->start_nginx(worker_processes => 1, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_timeout 500ms;
    taskgw_redis_backoff 100ms 2s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=default type=system.ping; }
    }
EOC

sub enqueue { $s->http(POST => '/tasks', body => $_[0], timeout => 5) }

is(enqueue('up')->{status}, 202, 'Redis up: 202');

# === TEST 1: Redis down for 3 s under 20 requests/s
# In its place, a server that accepts every connection and closes it at
# once, noting the time of each: the connection attempts are counted.
my $errors0 = () = $s->error_log =~ /\[error\].*taskgw: redis/g;
$s->stop_redis;
my $port = $s->redis_port;
my $log = $s->dir . '/accepts.log';
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                              Listen => 128, ReuseAddr => 1)
    or die "listen on $port: $!";
my $counter = $s->fork_process('accept-close', sub {
    $| = 1;
    open my $fh, '>', $log or die;
    $fh->autoflush(1);
    while (my $c = $l->accept) {
        printf $fh "%.3f\n", time;
        close $c;
    }
});
close $l;

my (@st, $slow);
my $t0 = time;
for my $i (0 .. 59) {
    my $at = $t0 + $i * 0.05;
    sleep $at - time if $at > time;
    my $res = enqueue("down $i");
    push @st, $res->{status};
    $slow++ if $res->{time} > 0.6;
}
my $outage = time - $t0;
sleep 0.1;
$s->kill_process($counter, 'KILL');

my @at = do { open my $fh, '<', $log or die; map { $_ + 0 } <$fh> };
my @gap = map { $at[$_] - $at[$_ - 1] } 1 .. $#at;
diag(sprintf('%d connection attempts in %.2f s: gaps %s', scalar @at,
             $outage, join ' ', map { sprintf '%.0f', 1000 * $_ } @gap));
is(scalar(grep { $_ != 503 } @st), 0, '60 requests while down: all 503')
    or diag "statuses: @st";
ok(!$slow, 'each answered within the command timeout');
cmp_ok(scalar @at, '>=', 3, 'the worker kept trying');
cmp_ok(scalar @at, '<=', 8,
       'at most 8 attempts in 3 s (100 ms doubling to 2 s, with jitter)');
my $shrinking = grep { $gap[$_] < 0.8 * $gap[$_ - 1] && $gap[$_] < 1.0 }
                1 .. $#gap;
is($shrinking, 0, 'the delays between attempts grow until the maximum');
my $errors = () = $s->error_log =~ /\[error\].*taskgw: redis/g;
is($errors - $errors0, 1, 'the lost link is logged once at error level')
    or diag join "\n", grep { /\[error\]/ } split /\n/, $s->error_log;

# === TEST 2: Redis back: the first request after the backoff maximum is
# accepted, without a failed request to wake the link up first
$s->start_redis;
my $back = time;
sleep 2.5;
my $res = enqueue('back');
is($res->{status}, 202, 'Redis back for the backoff maximum: the first '
                        . 'request is 202') or diag explain $res;
like($s->error_log, qr/\[notice\].*taskgw: redis .*up/,
     'the link coming back is logged at notice level');

is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

done_testing();
