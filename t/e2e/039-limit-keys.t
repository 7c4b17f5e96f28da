#!/usr/bin/perl
# 10,000 distinct keys against a tiny limiter zone (32k, the smallest it
# may be), over two nginx worker processes, keys taken from a request
# header: short ones, ones past 64 bytes (kept under their SHA-1), ones
# with bytes that are not ASCII.  Every request is answered as the limit
# says (a new key passes: 200; never a 500), the zone drops its least
# recently used keys and keeps limiting the recent ones, it never holds
# more keys than it has room for, and nginx stays up without an alert.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(request_parallel);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

my $KEYS = $ENV{TASKGW_E2E_LIMIT_KEYS} || 10_000;
my $BATCH = 100;

mkdir $s->dir . '/html';
open my $fh, '>', $s->dir . '/html/ok' or die $!;
print $fh "ok\n";
close $fh;

$s->start_redis;
$s->start_nginx(worker_processes => 2, log_level => 'notice',
                config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_limit_zone zone=tiny:32k rate=1r/m;
    server {
        listen 127.0.0.1:%%PORT%% backlog=1024;
        root %%SERVROOT%%/html;
        location /lim    { taskgw_limit zone=tiny key=$http_x_client;
                           try_files /ok =404; }
        location /metrics { taskgw_metrics; }
    }
EOC
my @workers = sort $s->nginx_worker_pids;
is(scalar @workers, 2, 'two nginx worker processes');

# key number $i: three shapes in turn
sub key {
    my ($i) = @_;
    return "k$i" if $i % 3 == 0;
    return sprintf('long-%06d-', $i) . ('x' x 90) if $i % 3 == 1;
    return "\xc3\xa9t\xe9-\xff$i";                 # UTF-8, Latin-1, 0xff
}

sub get {
    my ($k) = @_;
    return [ GET => '/lim', headers => [ 'X-Client' => $k ] ];
}

my (%codes, @recent);
for (my $i = 0; $i < $KEYS; $i += $BATCH) {
    my $res = request_parallel([ map { get(key($i + $_)) } 0 .. $BATCH - 1 ],
                               port => $s->port, timeout => 60);
    $codes{ $_->{status} }++ for @$res;

    # the last key of the batch, asked again at once: limited
    my $again = $s->http(GET => '/lim',
                         headers => [ 'X-Client' => key($i + $BATCH - 1) ]);
    push @recent, $again->{status};
}

my $sent = 0;
$sent += $_ for values %codes;
is($sent, $KEYS, "$KEYS requests answered");
is_deeply(\%codes, { 200 => $KEYS }, "$KEYS new keys: every one 200")
    or diag explain \%codes;
is_deeply([ grep { $_ != 429 } @recent ], [],
          scalar(@recent) . ' recent keys asked again: every one 429');

# the zone was full and made room: its notice, and a bounded key count
like($s->error_log, qr/taskgw zone "tiny" is full with (\d+) keys/,
     'the zone logged that it is full');
my ($cap) = $s->error_log =~ /taskgw zone "tiny" is full with (\d+) keys/;
my $m = $s->http(GET => '/metrics');
my ($held) = $m->{body} =~ /^taskgw_limit_zone_keys\{zone="tiny"\} (\d+)$/m;
ok(defined $held, 'taskgw_limit_zone_keys reports the zone')
    or diag $m->{body};
diag("a 32k zone: full at " . ($cap // '?') . ' keys, '
     . ($held // '?') . " held after $KEYS");
cmp_ok($held // 1e9, '<=', $cap // 0,
       "the zone holds $held keys, no more than its $cap");

# an evicted key gets a fresh allowance; a new one passes once
is($s->http(GET => '/lim', headers => [ 'X-Client' => key(0) ])->{status},
   200, 'the oldest key was dropped: it passes again');
is($s->http(GET => '/lim', headers => [ 'X-Client' => 'fresh' ])->{status},
   200, 'a new key passes');
is($s->http(GET => '/lim', headers => [ 'X-Client' => 'fresh' ])->{status},
   429, 'and is limited on its second request');

is_deeply([ sort $s->nginx_worker_pids ], \@workers,
          'the same two nginx workers');
my @bad = grep { /\[(error|crit|alert|emerg)\]|exited on signal/ }
          split /\n/, $s->error_log;
is_deeply(\@bad, [], 'no error, alert or crash in the log');

done_testing();
