#!/usr/bin/perl
# Redis answers, but not with success (the durability promise of docs/keys.md): out of
# memory, a command of the transaction failing, a server that closes every
# connection, a server frozen by SIGSTOP.  Never a 202 for a task that was
# not stored; 503 "unavailable" with Retry-After instead, and recovery.

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

my $prefix = $s->prefix;

# A server that accepts and closes at once.
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                              Listen => 128, ReuseAddr => 1)
    or die "listen: $!";
my $closer = $s->fork_process('closer', sub {
    while (my $c = $l->accept) { close $c }
});
my $cport = $l->sockport;
close $l;

$s->start_redis;
$s->start_nginx(vars => { CLOSER_PORT => $cport }, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_timeout 500ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks  { taskgw_enqueue queue=default type=system.ping; }
        location /other  { taskgw_enqueue queue=other type=system.ping; }
        location /status/ { taskgw_status; }
    }
EOC

my $r = $s->redis;

sub tasks { my $k = $r->cmd('KEYS', "$prefix:task:*"); return scalar @$k }

sub unavailable {
    my ($res, $what) = @_;
    is($res->{status}, 503, "$what: 503") or diag explain $res;
    is($res->{json} && $res->{json}{error}, 'unavailable',
       "$what: unavailable");
    is($res->{headers}{'retry-after'}, '1', "$what: Retry-After: 1");
    cmp_ok($res->{time}, '<', 3, "$what: within 3 s");
}

# nginx accepts before its link to Redis is up (the connect, SCRIPT LOAD
# and PING take a while on a busy machine): a request that comes first may
# get 503 when that attempt runs out of time.  The baseline waits for the
# link.
my $base;
ok(wait_for(sub {
    ($base = $s->http(POST => '/tasks', body => 'ok'))->{status} == 202
}, 10), 'baseline 202') or diag explain $base;
my $n0 = tasks();

# === TEST 1: Redis out of memory: 503, nothing stored
$r->cmd('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
$r->cmd('CONFIG', 'SET', 'maxmemory', '1');
unavailable($s->http(POST => '/tasks', body => 'oom'), 'OOM');
$r->cmd('CONFIG', 'SET', 'maxmemory', '0');
is(tasks(), $n0, 'no task hash written');
is($s->http(POST => '/tasks', body => 'ok')->{status}, 202,
   'memory back: 202 again');
$n0 = tasks();

# === TEST 2: a command inside the enqueue script fails (the stream key is not a
# stream): the enqueue did not fully succeed, so no 202
$r->cmd('SET', "$prefix:q:other:normal", 'not a stream');
my $res = $s->http(POST => '/other', body => 'wrongtype');
isnt($res->{status}, 202, 'XADD fails in EXEC: not 202')
    or diag explain $res;
is($res->{status}, 503, 'answered 503') or diag explain $res;
is($res->{json} && $res->{json}{error}, 'unavailable', 'unavailable');
ok(wait_for(sub { tasks() == $n0 }, 3),
   'the half-written task hash was removed') or diag tasks() . " vs $n0";
like($s->error_log, qr/redis refused task [0-9a-f-]{36}: WRONGTYPE/,
     "the log says why, in Redis's own words");
$r->cmd('DEL', "$prefix:q:other:normal");
is($s->http(POST => '/other', body => 'ok')->{status}, 202,
   'stream key fixed: 202');

# === TEST 3: Redis frozen (SIGSTOP): 503 within the timeout, then back
$n0 = tasks();
kill 'STOP', $s->{redis_pid};
unavailable($s->http(POST => '/tasks', body => 'frozen', timeout => 10),
            'frozen Redis');
unavailable($s->http(POST => '/tasks', body => 'frozen 2', timeout => 10),
            'frozen Redis, again');
kill 'CONT', $s->{redis_pid};
my $t0 = time;
ok(wait_for(sub {
    $s->http(POST => '/tasks', body => 'thawed')->{status} == 202
}, 10, 0.1), sprintf('202 after SIGCONT (%.2f s)', time - $t0));

# === TEST 4: a server that closes every connection: 503, quickly
$s->stop_nginx;
$s->start_nginx(vars => { CLOSER_PORT => $cport }, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%CLOSER_PORT%%;
    taskgw_redis_timeout 500ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks  { taskgw_enqueue queue=default type=system.ping; }
    }
EOC
for my $i (1 .. 5) {
    unavailable($s->http(POST => '/tasks', body => "closed $i", timeout => 10),
                "closing server $i");
}
my @w = $s->nginx_worker_pids;
is(scalar @w, 1, 'nginx worker alive');
is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

done_testing();
