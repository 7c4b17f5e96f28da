#!/usr/bin/perl
# Cancellation of scheduled and retrying tasks through the whole stack,
# and how long a cancelled task is kept: the worker publishes its
# result_ttl in {prefix}:config:result_ttl, and both nginx's DELETE and
# `taskgwctl task cancel` follow it (no fixed 7 days).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new(prefix => 'e2e115');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $P = $s->prefix;
$s->start_redis;
$s->start_nginx(config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_prefix %%PREFIX%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /later   { taskgw_enqueue queue=c type=system.ping; }
        location /failing { taskgw_enqueue queue=c type=flaky; }
        location /status/ { taskgw_status; }
    }
EOC
my $r = $s->redis;

$s->start_worker({ queues => { c => 1 }, result_ttl => '1h',
                   retry => { max_attempts => 5, base => '60s', cap => '60s' },
                   handlers => { 'system.ping' => { builtin => 'ping' },
                                 flaky => { builtin => 'fail' } } });

is(wait_for(sub { $r->cmd('GET', "$P:config:result_ttl") }, 20), '3600000',
   'the worker publishes its result_ttl (1h) in ms');

sub ttl_is_1h {
    my ($id, $what) = @_;
    my $t = $r->cmd('PTTL', "$P:task:$id");
    ok($t > 3_500_000 && $t <= 3_600_000, "$what: kept 1 h ($t ms)");
}

# a scheduled task, cancelled by nginx
my $a = $s->http(POST => '/later', body => 'a',
                 headers => [ 'X-Task-Delay' => 600 ])->{json}{id};
my $del = $s->http(DELETE => "/status/$a");
is($del->{status}, 202, 'DELETE of a scheduled task: 202');
is($r->cmd('HGET', "$P:task:$a", 'status'), 'cancelled', 'cancelled at once');
ttl_is_1h($a, 'scheduled task cancelled by nginx');

# a scheduled task, cancelled by taskgwctl
my $b = $s->http(POST => '/later', body => 'b',
                 headers => [ 'X-Task-Delay' => 600 ])->{json}{id};
my $c = $s->ctl('task', 'cancel', $b);
is($c->{code}, 0, 'taskgwctl task cancel: exit 0') or diag $c->{err};
is($r->cmd('HGET', "$P:task:$b", 'status'), 'cancelled', 'cancelled');
ttl_is_1h($b, 'scheduled task cancelled by taskgwctl');

# a task that failed once and waits out its backoff (retrying)
my $f = $s->http(POST => '/failing', body => 'f')->{json}{id};
ok(wait_for(sub { ($r->cmd('HGET', "$P:task:$f", 'status') // '') eq 'retrying' }, 20),
   'a failing task is retrying');
$del = $s->http(DELETE => "/status/$f");
is($del->{status}, 202, 'DELETE of a retrying task: 202');
is($r->cmd('HGET', "$P:task:$f", 'status'), 'cancelled', 'cancelled at once');
is($r->cmd('ZSCORE', "$P:scheduled", $f), undef, 'out of the schedule');
ttl_is_1h($f, 'retrying task cancelled by nginx');
is($r->cmd('HGET', "$P:task:$f", 'attempts'), 1, 'it never ran again');

$s->stop_worker;
$s->stop_nginx;
done_testing();
