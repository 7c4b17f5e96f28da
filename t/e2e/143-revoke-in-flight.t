#!/usr/bin/perl
# A revocation that arrives while a lookup of the same run-time token is
# out: Redis read the token (valid then) and its answer is on the way
# when the revocation message reaches nginx.  That answer still decides
# the requests that waited for it, but it is not cached: the next request
# looks the token up again and is rejected.  Made deterministic by a
# proxy between nginx and Redis that keeps the HGETALL's answer back until
# nginx has logged the revocation.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);
use TaskGW::Freeze;

my $s = TaskGW::Stack->new(prefix => 'e2e143');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgwctl not built' unless -x $s->ctl_binary;

$s->start_redis;
my $px = TaskGW::Freeze->new($s, $s->redis_port, hold => qr/HGETALL/);

# a long taskgw_redis_timeout: the answer kept back must not time out;
# one worker process, so the subscriber that hears the revocation and the
# lookup are in the same process
my $conf = <<'EOC';
    taskgw_redis 127.0.0.1:%%PROXY_PORT%%;
    taskgw_redis_timeout 20s;
    taskgw_prefix %%PREFIX%%;
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl 60s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /ping {
            taskgw_auth dev;
            add_header X-Token-Name $taskgw_token_name always;
            empty_gif;
        }
    }
EOC
$s->start_nginx(config => $conf, vars => { PROXY_PORT => $px->port });

my $r = $s->redis;

sub hgetalls {
    my ($line) = grep { /^cmdstat_hgetall:/ }
                 split /\r?\n/, $r->cmd('INFO', 'commandstats');
    return $line && $line =~ /calls=(\d+)/ ? $1 : 0;
}

sub revoked_lines {
    my $n = () = $s->error_log =~ /run-time token \w+\.\.\. revoked: dropped/g;
    return $n;
}

ok(wait_for(sub {
    grep { /\bsub=[1-9]/ } split /\r?\n/, $r->cmd('CLIENT', 'LIST')
}, 10, 0.05), 'the subscriber is up');

my $res = $s->ctl('token', 'create', 'ci', 'dev');
my ($tok) = $res->{out} =~ /^(tgw_\S+)$/m;
ok($tok, 'a run-time token');

# === TEST 1: two requests wait on one lookup; the revocation is heard
# while Redis's answer (the token, valid) is on its way
my $before = hgetalls();
my @h = map { $s->http_send(GET => '/ping', timeout => 30,
                            headers => [ 'X-API-Token' => $tok ]) } 1 .. 2;
ok($px->wait_held, 'the lookup ran in Redis; its answer is kept back');
is(hgetalls() - $before, 1, 'one lookup for both requests');
is($s->ctl('token', 'revoke', 'ci')->{code}, 0, 'taskgwctl token revoke');
ok(wait_for(sub { revoked_lines() >= 1 }, 10, 0.02),
   'nginx heard the revocation');
is($px->release, 0, 'the answer goes on');

for my $i (0, 1) {
    $res = $s->http_recv($h[$i]);
    is($res->{status}, 200, "request $i: decided by the lookup it waited for");
    is($res->{headers}{'x-token-name'}, 'ci', "request $i: as token ci");
}
is(hgetalls() - $before, 1, 'no second lookup for them');

# === TEST 2: that answer was not cached: the next request asks Redis
# again and is rejected
$before = hgetalls();
$res = $s->http(GET => '/ping', headers => [ 'X-API-Token' => $tok ]);
is($res->{status}, 401, 'the next request: 401');
is($res->{json} && $res->{json}{error}, 'unauthorized',
   'the next request: unauthorized JSON');
is(hgetalls() - $before, 1, 'the next request looked the token up');
$before = hgetalls();
is($s->http(GET => '/ping', headers => [ 'X-API-Token' => $tok ])->{status},
   401, 'and the one after: 401');
is(hgetalls() - $before, 0, 'from the cache ("no such token" is cached)');

my @alerts = $s->error_log_alerts;
is(scalar(@alerts), 0, 'no alert or crash') or diag(join "\n", @alerts);

$px->stop;
done_testing();
