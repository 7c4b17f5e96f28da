#!/usr/bin/perl
# Fault injection: five `nginx -s reload` (SIGHUP to the master) under a
# steady load of two client loops over 2 nginx workers, each reload
# waiting for the new workers: no connection error, no 5xx (nor any
# other answer than 202), and every id that got a 202 is stored with its
# stream entry.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);
use TaskGW::Load;

my $s = TaskGW::Stack->new(prefix => 'e2e121');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

my $P = $s->prefix;
$s->start_redis;
$s->start_nginx(worker_processes => 2, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_prefix %%PREFIX%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=reload type=system.ping; }
    }
EOC

my $load = TaskGW::Load->start($s, loops => 2, path => '/tasks',
                               pause => 0.002);
my $accepted = sub { scalar grep { $_->{status} == 202 } $load->answers };
ok(wait_for(sub { $accepted->() >= 50 }, 20), 'load running');

my %seen = map { $_ => 1 } $s->nginx_worker_pids;
for my $n (1 .. 5) {
    my $before = $accepted->();
    # `nginx -s reload` is SIGHUP to the master; this waits for the new
    # generation of workers
    $s->reload_nginx(worker_processes => 2);
    $seen{$_}++ for $s->nginx_worker_pids;
    ok(wait_for(sub { $accepted->() >= $before + 30 }, 20),
       "reload $n: requests keep being accepted");
}
my @a = $load->stop;
ok(keys(%seen) >= 12, scalar(keys %seen) . ' worker processes over 6 generations');

my %n;
$n{ $_->{status} }++ for @a;
note('answers: ' . join(', ', map { "$_: $n{$_}" } sort keys %n));
my @bad = grep { $_->{status} != 202 } @a;
is(scalar @bad, 0, scalar(@a) . ' answers, all 202 (no connection error, no 5xx)')
    or diag explain [ @bad[0 .. ($#bad < 9 ? $#bad : 9)] ];

my $r = $s->redis;
my @ids = map { $_->{id} } grep { $_->{status} == 202 } @a;
my @missing = grep { !$r->cmd('EXISTS', "$P:task:$_") } @ids;
is(scalar @missing, 0, 'every 202 is stored');
is($r->cmd('XLEN', "$P:q:reload:normal"), scalar @ids,
   'one stream entry for each');

$s->stop_nginx;
is(scalar($s->error_log_alerts), 0, 'no alert or crash in the error log')
    or diag join "\n", $s->error_log_alerts;
done_testing();
