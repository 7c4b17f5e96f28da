#!/usr/bin/perl
# A plain taskgw_redis address whose server becomes a replica (REPLICAOF,
# as a virtual IP's failover or an operator's mistake would do): the write
# it refuses with -READONLY is answered 503 "unavailable", never 202, the
# link reconnects, and once the server is a master again enqueues are 202
# without a reload.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

my $port = $s->start_redis;
my $nowhere = TaskGW::Stack::free_port();

$s->start_nginx(worker_processes => 1, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_backoff 50ms 500ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=default type=system.ping; }
    }
EOC

my $prefix = $s->prefix;

sub enqueue {
    return $s->http(POST => '/tasks', body => $_[0], timeout => 10,
                    headers => [ 'Content-Type' => 'text/plain' ]);
}

sub stored {
    my ($res) = @_;
    my $id = $res->{json} && $res->{json}{id} or return 0;
    return exists $s->redis->hgetall("$prefix:task:$id")->{payload};
}

my $res = enqueue('before');
is($res->{status}, 202, 'a master: 202');

$s->redis->cmd('REPLICAOF', '127.0.0.1', $nowhere);
$res = enqueue('replica');
is($res->{status}, 503, 'a replica now: 503, not 202') or diag explain $res;
is($res->{json} && $res->{json}{error}, 'unavailable', '"unavailable"');
ok(!stored($res), 'nothing stored');
like($s->error_log, qr/\[error\].*redis 127\.0\.0\.1:$port link lost: it answered READONLY/,
     'the link was reset on READONLY');

$s->redis->cmd('REPLICAOF', 'NO', 'ONE');
ok(wait_for(sub { enqueue('after')->{status} == 202 }, 15),
   'a master again: 202 without reload');

done_testing();
