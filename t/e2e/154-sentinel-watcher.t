#!/usr/bin/perl
# The sentinel watcher (each nginx worker listens to one sentinel for
# +switch-master) notices a sentinel that froze with its socket open: it
# PINGs every taskgw_redis_timeout, and with no answer within one interval
# drops that sentinel for the next one, where it hears the next switch.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);
use TaskGW::HA;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'no redis-sentinel'
    unless -x ($ENV{TASKGW_REDIS_SENTINEL} || '/usr/bin/redis-sentinel');

my $ha = TaskGW::HA->new($s);
my @sp = $ha->sentinel_ports;
my $p1 = $ha->master_port;

# the watcher starts on the last sentinel listed
$s->start_nginx(worker_processes => 1, vars => $ha->vars, config => <<'EOC');
    taskgw_redis sentinel=%%SENTINELS%% master=%%MASTER_NAME%%;
    taskgw_redis_timeout 500ms;
    taskgw_redis_backoff 50ms 500ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=default type=system.ping; }
    }
EOC

sub enqueue {
    return $s->http(POST => '/tasks', body => 'x', timeout => 10,
                    headers => [ 'Content-Type' => 'text/plain' ]);
}

# Whether the sentinel on $port has a client subscribed (the watcher).
sub watched_by {
    my ($port) = @_;
    my $list = eval { TaskGW::Stack::Redis->new($port, 2)
                          ->cmd('CLIENT', 'LIST') } // '';
    return !ref $list && $list =~ /\bsub=1\b/;
}

ok(wait_for(sub { enqueue()->{status} == 202 }, 15), 'at start: 202');
ok(wait_for(sub { watched_by($sp[2]) }, 15),
   'the watcher subscribed on the last sentinel');

# freeze it: its socket stays open, nothing answers
my $frozen = $ha->{sentinels}[2]{pid};
kill 'STOP', $frozen;

ok(wait_for(sub {
    $s->error_log =~ /sentinel watcher 127\.0\.0\.1:$sp[2] link lost: did not answer PING within 500 ms/
}, 15), 'the frozen sentinel is dropped') or diag $s->error_log;
ok(wait_for(sub { watched_by($sp[0]) }, 15),
   'the watcher moved on to the next sentinel');

# a planned switch is now heard there
my $old = $ha->failover(sentinel => $sp[0]);
# (wait_switched asks every sentinel, and one is frozen: ask the two)
my $new;
ok(wait_for(sub {
    my %seen;
    for my $port (@sp[0, 1]) {
        my $a = eval { TaskGW::Stack::Redis->new($port, 2)
            ->cmd('SENTINEL', 'get-master-addr-by-name', $ha->master_name) };
        return 0 unless ref $a eq 'ARRAY' && defined $a->[1];
        $seen{$a->[1]} = 1;
    }
    ($new) = keys %seen;
    return keys %seen == 1 && $new != $old
        && ($ha->role($new) // '') eq 'master';
}, 90, 0.1), 'the two live sentinels switched the master')
    or diag $ha->report;
ok(wait_for(sub {
    $s->error_log =~ /taskgw: sentinel 127\.0\.0\.1:$sp[0]: \+switch-master 127\.0\.0\.1 $old 127\.0\.0\.1 $new/
}, 30), 'the switch is heard from the next sentinel');
ok(wait_for(sub { enqueue()->{status} == 202 }, 20),
   'after the switch: 202 without reload');

kill 'CONT', $frozen;

is(scalar($s->error_log_alerts), 0, 'no alerts');

done_testing();
