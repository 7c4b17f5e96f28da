#!/usr/bin/perl
# Task status reads only what it shows (the payload is never shown):
# a GET of a task with a 20 MB payload answers as fast as one of a
# task with a small payload, because the payload never leaves Redis.

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

my $prefix = $s->prefix;

$s->start_redis;
$s->start_nginx(worker_processes => 1, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /status/ { taskgw_status; }
    }
EOC

my $r = $s->redis;
my %ids = (small => '01a20000-0000-7000-8000-0000000000a1',
           big   => '01a20000-0000-7000-8000-0000000000a2');
my %payload = (small => '{"n":1}', big => 'p' x (20 * 1024 * 1024));
for my $k (keys %ids) {
    $r->cmd('HSET', "$prefix:task:$ids{$k}", id => $ids{$k},
            queue => 'default', type => 'report.build', priority => 'normal',
            status => 'queued', attempts => 0, created_at => '1795428000123',
            payload => $payload{$k}, content_type => 'application/json');
}

# === TEST 1: both render the same task JSON, without the payload
my %body;
for my $k (sort keys %ids) {
    my $res = $s->http(GET => "/status/$ids{$k}");
    is($res->{status}, 200, "$k payload: 200") or diag explain $res;
    is($res->{json} && $res->{json}{id}, $ids{$k}, "$k payload: the task");
    unlike($res->{body}, qr/payload|ppppp/, "$k payload: not shown");
    ($body{$k} = $res->{body}) =~ s/$ids{$k}/ID/;
}
is($body{big}, $body{small}, 'the same JSON for both');

# === TEST 2: the 20 MB payload does not slow the GET down
# The two kinds of GET alternate, so that whatever else the machine does
# meanwhile (other builds and tests) weighs on both alike.
sub median_times {
    my %t;
    for (1 .. 31) {
        for my $k (qw(small big)) {
            push @{ $t{$k} }, $s->http(GET => "/status/$ids{$k}")->{time};
        }
    }
    return map { $_ => (sort { $a <=> $b } @{ $t{$_} })[15] } keys %t;
}
median_times();                                  # warm up
my %m = median_times();
diag(sprintf('status GET median: small payload %.2f ms, 20 MB payload '
             . '%.2f ms', 1000 * $m{small}, 1000 * $m{big}));
# (a small GET takes a fraction of a millisecond on loopback: 2x of at
# least 1 ms, so scheduling noise does not decide the outcome)
my $floor = $m{small} > 0.001 ? $m{small} : 0.001;
cmp_ok($m{big}, '<', 2 * $floor, 'a 20 MB payload: within 2x of a small one');

is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

done_testing();
