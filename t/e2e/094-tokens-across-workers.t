#!/usr/bin/perl
# One Redis lookup of a run-time token across all nginx worker processes:
# many concurrent requests with one uncached token, spread over two
# workers (reuseport) while Redis is frozen so that every worker has the
# token to look up at the same time, cost exactly one HGETALL.  The other
# worker waits for the answer in the shared cache instead of asking Redis.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new(prefix => 'e2e094');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgwctl not built' unless -x $s->ctl_binary;

$s->start_redis;
$s->start_nginx(worker_processes => 2, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_timeout 10s;
    taskgw_prefix %%PREFIX%%;
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl 60s;
    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        location /ping {
            taskgw_auth dev;
            add_header X-Pid $pid always;
            empty_gif;
        }
    }
EOC

my $r = $s->redis;

sub hgetalls {
    my ($line) = grep { /^cmdstat_hgetall:/ }
                 split /\r?\n/, $r->cmd('INFO', 'commandstats');
    return $line && $line =~ /calls=(\d+)/ ? $1 : 0;
}

sub burst {
    my ($tok, $n) = @_;
    my $before = hgetalls();

    # Redis frozen: no worker gets an answer before all have the token
    kill 'STOP', $s->{redis_pid};
    my @h = map { $s->http_send(GET => '/ping',
                                headers => [ 'X-API-Token' => $tok ],
                                timeout => 30) } 1 .. $n;
    sleep 1;
    kill 'CONT', $s->{redis_pid};

    my @res = map { $s->http_recv($_) } @h;
    my %pids = map { ($_->{headers}{'x-pid'} // '?') => 1 } @res;
    return ([ map { $_->{status} } @res ], scalar(keys %pids),
            hgetalls() - $before);
}

for my $round (1 .. 2) {
    my $res = $s->ctl('token', 'create', "burst$round", 'dev');
    my ($tok) = $res->{out} =~ /^(tgw_\S+)$/m;
    ok($tok, "round $round: token created");

    my ($st, $workers, $lookups) = burst($tok, 40);
    is_deeply($st, [ (200) x 40 ], "round $round: 40 concurrent requests");
    is($workers, 2, "round $round: both workers served some of them");
    is($lookups, 1, "round $round: exactly one Redis lookup ($lookups)");
    note("round $round: $lookups HGETALL for 40 requests on $workers workers");
}

# the answer is cached for every worker: no more lookups
my $before = hgetalls();
my $res = $s->ctl('token', 'create', 'later', 'dev');
my ($tok) = $res->{out} =~ /^(tgw_\S+)$/m;
my @st = map { $_->{status} }
         @{ $s->http_parallel([ map { [ GET => '/ping', headers =>
                             [ 'X-API-Token' => $tok ] ] } 1 .. 20 ],
                           timeout => 20) };
is_deeply(\@st, [ (200) x 20 ], 'unfrozen: 20 concurrent requests');
cmp_ok(hgetalls() - $before, '==', 1, 'unfrozen: one lookup');

# an unknown token: one lookup too, and a 401 for every request
my ($st, $workers, $lookups) = burst('tgw_' . ('C' x 43), 20);
is_deeply($st, [ (401) x 20 ], 'unknown token: 401 for all');
is($lookups, 1, "unknown token: one Redis lookup ($lookups)");

# Redis down: an uncached token is 503 in every worker at once; a lookup
# that failed leaves nothing behind for the other worker to wait on
$s->stop_redis;
my $t0 = time;
@st = map { $_->{status} }
      @{ $s->http_parallel([ map { [ GET => '/ping', headers =>
                          [ 'X-API-Token' => 'tgw_' . ('D' x 43) ] ] } 1 .. 20 ],
                        timeout => 30) };
my $took = time - $t0;
is_deeply(\@st, [ (503) x 20 ], 'Redis down: an uncached token is 503');
cmp_ok($took, '<', 5, "Redis down: at once, not after the timeout ($took s)");
@st = map { $_->{status} }
      @{ $s->http_parallel([ map { [ GET => '/ping', headers =>
                          [ 'X-API-Token' => $tok ] ] } 1 .. 10 ],
                        timeout => 30) };
is_deeply(\@st, [ (200) x 10 ], 'Redis down: a cached token passes');

done_testing();
