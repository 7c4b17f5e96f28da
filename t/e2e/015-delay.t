#!/usr/bin/perl
# Delayed tasks end to end: X-Task-Delay keeps a task
# "scheduled" (GET status shows run_at), the worker moves it to its stream
# when it is due and runs it; DELETE of a scheduled task cancels it at
# once and the worker never runs it.

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
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

$s->start_redis;
$s->start_nginx(config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /ping    { taskgw_enqueue queue=default type=system.ping; }
        location /status/ { taskgw_status; }
    }
EOC
$s->start_worker({ handlers => { 'system.ping' => { builtin => 'ping' } } });

sub status {
    my ($id) = @_;
    my $res = $s->http(GET => "/status/$id");
    return $res->{json} // {};
}

# === a task delayed by 2 s waits, then runs
my $t0 = time;
my $res = $s->http(POST => '/ping', body => '{}',
                   headers => [ 'X-Task-Delay' => '2' ]);
is($res->{status}, 202, 'delayed enqueue: 202') or diag explain $res;
is($res->{json}{status}, 'scheduled', 'reply says scheduled');
my $id = $res->{json}{id};

my $st = status($id);
is($st->{status}, 'scheduled', 'GET: scheduled');
like($st->{run_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
     'GET: run_at is an RFC 3339 time');

sleep 1;
is(status($id)->{status}, 'scheduled', 'still scheduled after 1 s');

ok(wait_for(sub { (status($id)->{status} // '') eq 'succeeded' }, 10),
   'ran once due');
my $done = time - $t0;
cmp_ok($done, '>=', 1.9, sprintf('not before its delay (%.2f s)', $done));
is(status($id)->{result}, 'pong', 'result of the delayed task');

# === a scheduled task cancelled with DELETE never runs
$res = $s->http(POST => '/ping', body => '{}',
                headers => [ 'X-Task-Delay' => '1' ]);
my $cid = $res->{json}{id};
$res = $s->http(DELETE => "/status/$cid");
is($res->{status}, 202, 'DELETE of a scheduled task: 202');
is($res->{json}{status}, 'cancelling', 'cancelling');
is(status($cid)->{status}, 'cancelled', 'cancelled at once');
sleep 2;
is(status($cid)->{status}, 'cancelled', 'still cancelled after its time');
is(status($cid)->{attempts}, 0, 'never attempted');

done_testing();
