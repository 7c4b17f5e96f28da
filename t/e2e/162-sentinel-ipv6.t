#!/usr/bin/perl
# A master the sentinels name by an IPv6 address: nginx's link and the
# worker both reach it, and both write it as "[::1]:PORT" wherever they
# show it (health, metrics, the error log, the worker's log), so an
# operator never has to guess where the address ends and the port begins.
# After a planned failover to a replica the sentinels know by its IPv4
# address, the switch is logged from the bracketed address to the plain
# one, and the link is on the new master.
#
# The processes: TaskGW::HA with ipv6 => 1 (servers and sentinels also on
# ::1, the sentinels watching the first primary as ::1).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::IP;
use TaskGW::Stack qw(wait_for);
use TaskGW::HA;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'no redis-sentinel'
    unless -x ($ENV{TASKGW_REDIS_SENTINEL} || '/usr/bin/redis-sentinel');
plan skip_all => 'no IPv6 loopback'
    unless IO::Socket::IP->new(Listen => 1, LocalHost => '::1',
                               LocalPort => 0);

my $NAME = TaskGW::HA->master_name;
my $prefix = $s->prefix;

my $ha = TaskGW::HA->new($s, ipv6 => 1);
my $p1 = $ha->master_port;
my $p2 = $ha->replica_port;

$s->start_nginx(worker_processes => 1, vars => $ha->vars,
               config => <<'EOC');
    taskgw_redis sentinel=%%SENTINELS%% master=%%MASTER_NAME%%;
    taskgw_redis_timeout 2s;
    taskgw_redis_backoff 50ms 500ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks   { taskgw_enqueue queue=default type=system.ping; }
        location /health  { taskgw_health; }
        location /metrics { taskgw_metrics; }
    }
EOC

sub enqueue_202 {
    my $res;
    wait_for(sub {
        $res = $s->http(POST => '/tasks', body => '{}', timeout => 10);
        return $res->{status} == 202;
    }, 30, 0.05);
    return $res;
}

sub stored_on {
    my ($port, $res) = @_;
    my $id = $res->{json} && $res->{json}{id} or return 0;
    my $h = eval { TaskGW::Stack::Redis->new($port, 2)
                       ->hgetall("$prefix:task:$id") } // {};
    return ($h->{status} // '') eq 'queued';
}

# === TEST 1: nginx on the master named by ::1
my $res = enqueue_202();
is($res->{status}, 202, 'an enqueue through the IPv6 master: 202');
ok(stored_on($p1, $res), 'stored on the master');
my $h = $s->http(GET => '/health');
is($h->{json} && $h->{json}{master}, "[::1]:$p1",
   'health: the master as [::1]:PORT') or diag explain $h->{json};
my $m = $s->http(GET => '/metrics');
like($m->{body} // '', qr/^taskgw_redis_master\{address="\[::1\]:$p1"\} 1$/m,
     'metrics: the address label bracketed');
like($s->error_log, qr/master "$NAME" is at \[::1\]:$p1 /,
     'the error log: bracketed');

# === TEST 2: the worker names it the same way
my $w = $s->start_worker({
    sentinel      => [ $ha->sentinel_addrs ],
    master        => $NAME,
    name          => 'v6',
    redis_timeout => '2s',
    redis_backoff => { min => '50ms', max => '500ms' },
    queues        => { default => 1 },
    handlers      => { 'system.ping' => { builtin => 'ping' } },
});
ok(wait_for(sub { $s->worker_log($w) =~
                  /event=redis_master master=$NAME addr=\[::1\]:$p1\b/ }, 30),
   'worker: the master as [::1]:PORT') or diag $s->worker_log($w);
my $id = $res->{json}{id};
ok(wait_for(sub {
    my $t = TaskGW::Stack::Redis->new($p1, 2)->hgetall("$prefix:task:$id");
    return ($t->{status} // '') eq 'succeeded';
}, 30), 'worker: the task ran on the IPv6 master');

# === TEST 3: a planned failover from [::1]:P1 to 127.0.0.1:P2
$ha->failover;
is($ha->wait_switched($p1, replicas => 1), $p2, 'the replica promoted');
ok(wait_for(sub {
    my $r = $s->http(POST => '/tasks', body => '{}', timeout => 10);
    return $r->{status} == 202 && stored_on($p2, $r);
}, 60, 0.05), 'nginx: 202 on the new master');
like($s->error_log,
     qr/master "$NAME" moved from \[::1\]:$p1 to 127\.0\.0\.1:$p2 /,
     'the switch logged from the bracketed address to the plain one');
$h = $s->http(GET => '/health');
is($h->{json} && $h->{json}{master}, "127.0.0.1:$p2",
   'health: the new master');
ok(wait_for(sub { $s->worker_log($w) =~ /event=redis_master_switch [^\n]*
                  from=\[::1\]:$p1\ to=127\.0\.0\.1:$p2/x }, 60),
   'worker: the switch logged the same way') or diag $s->worker_log($w);

done_testing;
