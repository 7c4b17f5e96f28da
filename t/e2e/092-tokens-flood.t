#!/usr/bin/perl
# A flood of random tokens against run-time token lookups: the shared
# cache is bounded (taskgw_tokens_cache_size) and drops its least recently
# used entries, so every random token is a plain 401, never an error, and
# valid tokens keep working; an entry pushed out is simply looked up again.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new(prefix => 'e2e092');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgwctl not built' unless -x $s->ctl_binary;

my $N = $ENV{TASKGW_E2E_FLOOD} || 2000;

$s->start_redis;
$s->start_nginx(worker_processes => 2, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_prefix %%PREFIX%%;
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl 10m;
    taskgw_tokens_cache_size 32k;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /ping { taskgw_auth dev; empty_gif; }
    }
EOC

my $r = $s->redis;

sub hgetalls {
    my ($line) = grep { /^cmdstat_hgetall:/ }
                 split /\r?\n/, $r->cmd('INFO', 'commandstats');
    return $line && $line =~ /calls=(\d+)/ ? $1 : 0;
}

sub ping { $s->http(GET => '/ping', timeout => 10,
                    headers => [ 'X-API-Token' => $_[0] ])->{status} }

sub create {
    my $res = $s->ctl('token', 'create', @_);
    my ($tok) = $res->{out} =~ /^(tgw_\S+)$/m;
    return $tok;
}

my $old = create('old', 'dev');
my $hot = create('hot', 'dev');
ok($old && $hot, 'two tokens created');

# === TEST 1: both are looked up once and then served from the cache
is(ping($old), 200, 'old token works');
is(ping($hot), 200, 'hot token works');
my $n0 = hgetalls();
is(ping($old), 200, 'old token again');
is(hgetalls() - $n0, 0, 'from the cache: no lookup');

# === TEST 2: a flood of random tokens, far more than the zone holds
my (%st, $t0);
$t0 = time;
for (my $i = 0; $i < $N; $i += 100) {
    my @reqs = map {
        [ GET => '/ping', headers => [ 'X-API-Token' =>
            sprintf('tgw_flood%08d%035d', $i + $_, $$) ] ]
    } 0 .. 99;
    $st{ $_->{status} }++ for @{ $s->http_parallel(\@reqs, timeout => 30) };
    # the hot token is used all along, so it stays recently used
    $st{"hot " . ping($hot)}++;
}
note(sprintf "%d random tokens in %d s", $N, time - $t0);
is_deeply([ sort keys %st ], [ '401', 'hot 200' ],
          "$N random tokens: every one 401, the hot token 200 throughout")
    or diag explain \%st;

# === TEST 3: the entry not used since was pushed out, and is looked up again
$n0 = hgetalls();
is(ping($old), 200, 'the old token still works');
is(hgetalls() - $n0, 1, 'after one new lookup (it had been evicted)');
$n0 = hgetalls();
is(ping($old), 200, 'and is cached again');
is(hgetalls() - $n0, 0, 'no lookup this time');

# === TEST 4: nginx stayed healthy: no alerts, no "no memory" errors
my @bad = grep { /\[(?:alert|emerg|crit)\]|no memory|could not allocate/ }
          split /\n/, $s->error_log;
ok(!@bad, 'no alerts or allocation errors in the error log')
    or diag join "\n", @bad[0 .. ($#bad < 4 ? $#bad : 4)];

$s->stop_nginx;
done_testing;
