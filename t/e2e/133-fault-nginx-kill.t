#!/usr/bin/perl
# Fault injection: an nginx worker process killed with SIGKILL, three
# times, under a steady load of two client loops (2 nginx workers): the
# master starts a replacement each time and requests keep being
# accepted; a request the killed process held may fail (its connection
# is reset), but no 202 is ever sent for a task that is not stored, and
# no task is stored half (a hash without its stream entry).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);
use TaskGW::Load;

my $s = TaskGW::Stack->new(prefix => 'e2e123');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

my $P = $s->prefix;
$s->start_redis;
$s->start_nginx(worker_processes => 2, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_prefix %%PREFIX%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=kill type=system.ping; }
    }
EOC

my $load = TaskGW::Load->start($s, loops => 2, path => '/tasks',
                               body => sub { 'x' x 2000 . $_[0] });
my $accepted = sub { scalar grep { $_->{status} == 202 } $load->answers };
ok(wait_for(sub { $accepted->() >= 50 }, 20), 'load running');

for my $n (1 .. 3) {
    my @before = $s->nginx_worker_pids;
    my $victim = $before[ $n % 2 ];
    kill 'KILL', $victim;
    my %old = map { $_ => 1 } @before;
    ok(wait_for(sub {
        my @now = $s->nginx_worker_pids;
        return @now == 2 && !grep { $_ == $victim } @now;
    }, 20), "kill $n: the master replaced worker $victim")
        or diag join ' ', $s->nginx_worker_pids;
    my $count = $accepted->();
    ok(wait_for(sub { $accepted->() >= $count + 30 }, 20),
       "kill $n: requests are accepted again");
}
my @a = $load->stop;

my %n;
$n{ $_->{status} }++ for @a;
note('answers: ' . join(', ', map { "$_: $n{$_}" } sort keys %n));
is(scalar(grep { $_->{status} != 202 && $_->{status} != 0 } @a), 0,
   'every answer a 202 or a connection cut by the kill');
ok(($n{0} // 0) <= 3 * 2, 'at most the requests the killed processes held failed')
    or diag "$n{0} failed";

my $r = $s->redis;
my @ids = map { $_->{id} } grep { $_->{status} == 202 } @a;
my @missing = grep { !$r->cmd('EXISTS', "$P:task:$_") } @ids;
is(scalar @missing, 0, scalar(@ids) . ' got a 202: every one is stored');

my %in_stream = map { $_->[1]{id} => 1 }
                @{ $r->xrange("$P:q:kill:normal", '-', '+') };
is(scalar(grep { !$in_stream{$_} } @ids), 0, 'each with its stream entry');
my @hashes = @{ $r->cmd('KEYS', "$P:task:*") };
is(scalar(grep { !$in_stream{ ($_ =~ /([^:]+)$/)[0] } } @hashes), 0,
   scalar(@hashes) . ' task hashes, none without its stream entry');

my @crit = grep { !/exited on signal 9/ } $s->error_log_alerts;
$s->stop_nginx;
is(scalar @crit, 0, 'no alert but the kills themselves')
    or diag join "\n", @crit;
done_testing();
