#!/usr/bin/perl
# Requests waiting on one run-time token lookup: the request that carries
# the Redis command goes away (client closed) while another waits on the
# same lookup; the waiter sends its own command and is answered.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new(prefix => 'e2e093');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgwctl not built' unless -x $s->ctl_binary;

$s->start_redis;
$s->start_nginx(worker_processes => 1, log_level => 'debug', config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_timeout 20s;
    taskgw_prefix %%PREFIX%%;
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl 60s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /ping { taskgw_auth dev; empty_gif; }
    }
EOC

my $res = $s->ctl('token', 'create', 'waiter', 'dev');
my ($tok) = $res->{out} =~ /^(tgw_\S+)$/m;
ok($tok, 'token created');

sub logged { my $re = shift; wait_for(sub { $s->error_log =~ $re }, 15) }

# Redis frozen: the first request's lookup stays in flight
kill 'STOP', $s->{redis_pid};

my $a = $s->http_send(GET => '/ping', headers => [ 'X-API-Token' => $tok ],
                      timeout => 30);
ok(logged(qr/taskgw token lookup: starts one/), 'A starts the lookup');

my $b = $s->http_send(GET => '/ping', headers => [ 'X-API-Token' => $tok ],
                      timeout => 30);
ok(logged(qr/taskgw token lookup: joins one in flight/), 'B joins it');

# A's client goes away; nginx notices and B takes the lookup over
close $a->{sock};
ok(logged(qr/taskgw token lookup: takes over a flight/),
   'B sends its own command when A is gone');

kill 'CONT', $s->{redis_pid};

$res = $s->http_recv($b);
is($res->{status}, 200, 'B is answered: 200');

$res = $s->http(GET => '/ping', headers => [ 'X-API-Token' => $tok ]);
is($res->{status}, 200, 'a later request: 200 from the cache');

unlike($s->error_log, qr/\[(?:alert|emerg|crit)\]/, 'no alerts');
ok($s->nginx_running, 'nginx still runs');

$s->stop_nginx;
done_testing;
