#!/usr/bin/perl
# What a 202 under taskgw_redis_wait promises across a failover, against
# the real thing (TaskGW::HA: a primary, a replica, three sentinels).  Two
# clients enqueue in a loop, one into a location with "taskgw_redis_wait
# replicas=1", one into a plain one.  The replica is paused (SIGSTOP), so
# for a while the primary takes writes the replica does not get; then the
# primary is killed (kill -9), the replica resumes and Sentinel promotes
# it.  Every task that got a waited 202 is on the new primary; the plain
# 202s of the pause are not (Redis replicates asynchronously), which shows
# the scenario does lose unwaited writes.
#
# nginx here points at the first primary's address (following the switch
# is the Sentinel support of the link, tested on its own).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);
use TaskGW::HA;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

my $ha = TaskGW::HA->new($s);
my $first = $ha->master_port;
my $replica_port = $ha->replica_port;
my $replica_pid = $ha->{servers}{$replica_port}
    or die "no pid for the replica on $replica_port";

$s->start_nginx(worker_processes => 1, vars => { PRIMARY => $first },
                config => <<'EOC');
    taskgw_redis 127.0.0.1:%%PRIMARY%%;
    taskgw_redis_timeout 1s;
    taskgw_redis_backoff 50ms 200ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /waited { taskgw_enqueue queue=w;
                           taskgw_redis_wait replicas=1 timeout=300ms; }
        location /plain  { taskgw_enqueue queue=p; }
    }
EOC

my $stop = $s->dir . '/stop';
my %log = map { $_ => $s->dir . "/client-$_.log" } qw(waited plain);

# one line per answer: "<time> <status> <id or ->"
sub client {
    my ($loc) = @_;
    return $s->fork_process("client-$loc", sub {
        open my $fh, '>>', $log{$loc} or die;
        $fh->autoflush(1);
        my $n = 0;
        until (-e $stop) {
            my $r = TaskGW::Stack::http_request(POST => "/$loc",
                port => $s->port, body => "$loc " . $n++, timeout => 5);
            my $id = $r->{json} && $r->{json}{id} // '-';
            printf $fh "%.3f %d %s\n", time, $r->{status} // 0, $id;
            sleep($r->{status} ? 0.02 : 0.2) unless $r->{status} == 202;
        }
    });
}

sub answers {
    my ($loc, $since) = @_;
    open my $fh, '<', $log{$loc} or return ();
    my @a;
    while (<$fh>) {
        my ($t, $st, $id) = split;
        push @a, { t => $t, status => $st, id => $id }
            if defined $id && $t >= ($since // 0);
    }
    return @a;
}

sub count {
    my ($loc, $status, $since) = @_;
    return scalar grep { $_->{status} == $status } answers($loc, $since);
}

my @pids = (client('waited'), client('plain'));

ok(wait_for(sub { count('waited', 202) >= 10 && count('plain', 202) >= 10 },
            30), 'both clients get 202s while the replica keeps up');

# the replica stops taking the stream: waited enqueues get 503, plain
# ones still 202 (on the primary only)
kill 'STOP', $replica_pid;
my $paused = time;
ok(wait_for(sub { count('plain', 202, $paused + 0.1) >= 5
                  && count('waited', 503, $paused + 0.1) >= 2 }, 30),
   'paused replica: plain 202s go on, waited enqueues get 503');

my $old = $ha->kill_primary;
kill 'CONT', $replica_pid;
my $new = $ha->wait_switched($old);
is($new, $replica_port, 'Sentinel promoted the replica');
open my $fh, '>', $stop or die;
close $fh;
$s->kill_process($_, 'TERM', 10) for @pids;

my $r = $ha->redis($new);
my $prefix = $s->prefix;
my @waited = grep { $_->{status} == 202 } answers('waited');
my @lost = grep { !$r->cmd('EXISTS', "$prefix:task:$_->{id}") } @waited;
is(scalar @lost, 0, sprintf('all %d tasks with a waited 202 are on the '
                            . 'new primary', scalar @waited))
    or diag explain \@lost;

my @plain = grep { $_->{status} == 202 } answers('plain');
my @plost = grep { !$r->cmd('EXISTS', "$prefix:task:$_->{id}") } @plain;
cmp_ok(scalar @plost, '>=', 1,
       sprintf('plain 202s lost in the switch: %d of %d (those the paused '
               . 'replica never got)', scalar @plost, scalar @plain));
diag sprintf('waited: %d 202, %d 503; plain: %d 202 (%d lost)',
             scalar @waited, count('waited', 503), scalar @plain,
             scalar @plost);

is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

done_testing();
