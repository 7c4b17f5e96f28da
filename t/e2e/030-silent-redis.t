#!/usr/bin/perl
# A Redis that accepts connections but never reads nor answers: enqueue
# must answer 503 "unavailable" once taskgw_redis_timeout passes, never
# hang, and the nginx worker must keep serving other
# requests meanwhile (nothing in the worker blocks on Redis).

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

# The silent server: accepts, holds every connection, never reads.
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                              Listen => 128, ReuseAddr => 1)
    or die "listen: $!";
my $sport = $l->sockport;
my $accepts = $s->dir . '/accepts';
my $silent = $s->fork_process('silent-redis', sub {
    my @held;
    while (my $c = $l->accept) {
        push @held, $c;
        open my $fh, '>>', $accepts or die;
        print $fh "1\n";
        close $fh;
    }
});
close $l;

# The link's own attempts time out too, and between them a request is
# answered 503 at once (until the backoff delay is over): with backoffs of
# a millisecond there is next to no such gap, however late the test's
# requests come on a busy machine, and every one waits out the timeout.
$s->start_nginx(worker_processes => 1, vars => { SILENT_PORT => $sport },
                config => <<'EOC');
    taskgw_redis 127.0.0.1:%%SILENT_PORT%%;
    taskgw_redis_timeout 1s;
    taskgw_redis_backoff 1ms 1ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks   { taskgw_enqueue queue=default type=system.ping; }
        location /status/ { taskgw_status; }
        location /plain   { return 200 "plain\n"; }
    }
EOC
my ($worker) = $s->nginx_worker_pids;

sub pending {
    my ($h) = @_;
    return 0 unless $h->{sock};
    my $r = '';
    vec($r, fileno $h->{sock}, 1) = 1;
    return !select($r, undef, undef, 0);
}

sub check_503 {
    my ($res, $what) = @_;
    is($res->{status}, 503, "$what: 503") or diag explain $res;
    is($res->{json} && $res->{json}{error}, 'unavailable',
       "$what: error unavailable");
    is($res->{headers}{'retry-after'}, '1', "$what: Retry-After: 1");
    cmp_ok($res->{time}, '<', 6, sprintf("$what: answered in %.2f s < 6 s",
                                         $res->{time}));
}

# === TEST 1: while an enqueue hangs on the silent Redis, the same nginx
# worker answers a plain location meanwhile.  The proof is the order: the
# plain answer comes while the enqueue is still pending (a worker blocked
# on Redis would answer nothing before the enqueue's 503).  A request that
# came in the moment between two of the link's attempts was answered at
# once: then another one is sent.
my ($h, $pending);
for my $try (1 .. 5) {
    $h = $s->http_send(POST => '/tasks', body => 'hang', timeout => 10);
    sleep 0.1;
    last if $pending = pending($h);
    $s->http_recv($h);
}
ok($pending, 'the enqueue is still waiting for Redis');
my $plain = $s->http(GET => '/plain', timeout => 5);
is($plain->{status}, 200, 'plain location: 200 meanwhile');
cmp_ok($plain->{time}, '<', 0.9,
       sprintf('answered in %.3f s, before the 1 s timeout',
               $plain->{time}));
ok(pending($h), 'the enqueue was still pending when /plain answered');
my $res = $s->http_recv($h);
check_503($res, 'hanging enqueue');
ok(-s $accepts, 'nginx did connect to the silent server');

# === TEST 2: further enqueues are answered 503 within the timeout too
for my $i (1 .. 3) {
    check_503($s->http(POST => '/tasks', body => "again $i", timeout => 10),
              "enqueue $i");
}

# === TEST 3: several requests waiting together all get their 503
my $t0 = time;
my $many = $s->http_parallel(
    [ (map { [ POST => '/tasks', body => "p$_" ] } 1 .. 8),
      [ GET => '/status/01a20834-3985-77d5-b810-c25c43462d21' ] ],
    timeout => 10);
my @st = map { $_->{status} } @$many;
is_deeply(\@st, [ (503) x 9 ], '8 enqueues and a status lookup: all 503')
    or diag "statuses: @st";
cmp_ok(time - $t0, '<', 6, 'all answered within 6 s');

# === TEST 4: the nginx worker neither crashed nor stalled
is_deeply([ $s->nginx_worker_pids ], [ $worker ], 'same nginx worker');
is($s->http(GET => '/plain', timeout => 2)->{status}, 200, 'still serving');
is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

# === TEST 5: a real Redis on that address: enqueues succeed again
$s->kill_process($silent);
$s->start_redis(port => $sport);
$t0 = time;
my $ok = wait_for(sub {
    $s->http(POST => '/tasks', body => 'real', timeout => 5)->{status} == 202
}, 15, 0.1);
ok($ok, sprintf('202 once a real Redis answers (%.2f s)', time - $t0));

done_testing();
