#!/usr/bin/perl
# Fault injection: Redis killed (SIGKILL, no shutdown save) and started
# again on the same data directory, with appendonly yes and appendfsync
# always, while two client loops enqueue over 2 nginx workers and two
# workers run the tasks:
# - every id that got a 202 exists afterwards and ends succeeded (a 202
#   means Redis had the task on disk);
# - during the outage requests get 503 unavailable (never a 202, never a
#   connection error), and enqueues succeed again once Redis is back.
# Reports how many tasks ran more than once.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);
use TaskGW::Load;

my $s = TaskGW::Stack->new(prefix => 'e2e120');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $P = $s->prefix;
$s->start_redis(args => [qw(--appendonly yes --appendfsync always)]);
$s->start_nginx(worker_processes => 2, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_timeout 1s;
    taskgw_redis_backoff 50ms 500ms;
    taskgw_prefix %%PREFIX%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=aof type=system.ping; }
    }
EOC
my %wconf = (queues => { aof => 1 }, concurrency => 8, claim_idle => '3s',
             redis_backoff => { min => '50ms', max => '500ms' },
             handlers => { 'system.ping' => { builtin => 'ping' } });
$s->start_worker({ %wconf });
$s->start_worker({ %wconf });

my $load = TaskGW::Load->start($s, loops => 2, path => '/tasks',
                               pause => 0.005);
my $accepted = sub { scalar grep { $_->{status} == 202 } $load->answers };

ok(wait_for(sub { $accepted->() >= 200 }, 30), 'load running: 202s');

my $t_kill = time;
$s->stop_redis(signal => 'KILL');
sleep 1.5;                     # an outage the loops run into
my $t_start = time;
$s->start_redis;               # same port, same dir: the AOF is loaded
my $before = $accepted->();
ok(wait_for(sub { $accepted->() >= $before + 200 }, 30),
   'enqueues succeed again once Redis is back');
my @a = $load->stop;

my %n;
$n{ $_->{status} }++ for @a;
note('answers: ' . join(', ', map { "$_: $n{$_}" } sort keys %n));
my @outage = grep { $_->{t} > $t_kill + 0.05 && $_->{t} < $t_start } @a;
ok(scalar(grep { $_->{status} == 503 } @outage) > 0,
   'requests during the outage got 503');
is(scalar(grep { $_->{status} == 202 } @outage), 0,
   'no 202 while Redis was down');
is(scalar(grep { $_->{status} != 202 && $_->{status} != 503 } @a), 0,
   'every answer a 202 or a 503 (no connection error, no other status)')
    or diag explain [ grep { $_->{status} != 202 && $_->{status} != 503 } @a ];

my @ids = map { $_->{id} } grep { $_->{status} == 202 } @a;
my $r = $s->redis;
my @missing = grep { !$r->cmd('EXISTS', "$P:task:$_") } @ids;
is(scalar @missing, 0, scalar(@ids) . ' tasks got a 202: every one is in Redis')
    or diag "missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]";

my $done = sub {
    scalar grep { ($r->cmd('HGET', "$P:task:$_", 'status') // '') eq 'succeeded' }
           @ids;
};
ok(wait_for(sub { $done->() == @ids }, 60, 0.5),
   'every accepted task ends succeeded') or diag $done->() . ' of ' . @ids;
my @again = grep { ($r->cmd('HGET', "$P:task:$_", 'attempts') // 0) > 1 } @ids;
diag(scalar(@ids) . ' tasks accepted around a Redis SIGKILL + restart: '
     . scalar(@again) . ' ran more than once');

$s->stop_worker for 1 .. 2;
$s->stop_nginx;
is(scalar($s->error_log_alerts), 0, 'no alert or crash in the error log')
    or diag join "\n", $s->error_log_alerts;
done_testing();
