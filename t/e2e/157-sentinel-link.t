#!/usr/bin/perl
# The module's link behind Redis Sentinel (taskgw_redis sentinel=...
# master=...): it asks the sentinels where the master is (the first one
# listed is dead: the next is asked), confirms with ROLE, and follows a
# switch without a reload:
#   - SENTINEL FAILOVER (planned): -READONLY or +switch-master, whichever
#     comes first, and the next requests are 202 on the new master;
#   - the master made a replica behind the link's back (REPLICAOF): the
#     next enqueue is 503, never 202, and the link finds a master again;
#   - a long poll after a switch is woken (the subscriber followed);
#   - kill -9 of the master: 503 while the sentinels promote the replica,
#     then 202, and the tasks are on the promoted server.
# Every enqueue is 202 or 503, never anything else.
#
# The processes: TaskGW::HA's primary, replica and three redis-sentinel
# (master name taskgw-ha, quorum 2).

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

plan skip_all => 'no redis-sentinel'
    unless -x ($ENV{TASKGW_REDIS_SENTINEL} || '/usr/bin/redis-sentinel');

my $NAME = TaskGW::HA->master_name;
my $prefix = $s->prefix;

# ---- the rig --------------------------------------------------------------

my $ha = TaskGW::HA->new($s);
my $p1 = $ha->master_port;
my $p2 = $ha->replica_port;
my $dead = TaskGW::Stack::free_port();   # nothing listens there
my $nowhere = TaskGW::Stack::free_port();
my @sp = $ha->sentinel_ports;

sub redis_at { return TaskGW::Stack::Redis->new($_[0], 2) }

# The master every sentinel names, when they agree (else undef).
sub sentinel_master {
    my %seen;
    for my $p (@sp) {
        my $a = eval { redis_at($p)->cmd('SENTINEL',
                                         'get-master-addr-by-name', $NAME) };
        return undef unless ref $a eq 'ARRAY';
        $seen{"$a->[0]:$a->[1]"}++;
    }
    return undef unless keys %seen == 1;
    my ($addr) = keys %seen;
    return $addr;
}

sub role { return $ha->role($_[0]) // '' }

# ---- nginx ----------------------------------------------------------------

$s->start_nginx(worker_processes => 1, vars => $ha->vars,
               config => <<"EOC");
    taskgw_redis sentinel=127.0.0.1:$dead,%%SENTINELS%% master=%%MASTER_NAME%%;
    taskgw_redis_timeout 1s;
    taskgw_redis_backoff 50ms 500ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks   { taskgw_enqueue queue=default type=system.ping; }
        location /status/ { taskgw_status; }
        location /health  { taskgw_health; }
        location /metrics { taskgw_metrics; }
    }
EOC

my $n = 0;
sub enqueue {
    my $body = 'task ' . ++$n;
    my $res = $s->http(POST => '/tasks', body => $body, timeout => 10,
                       headers => [ 'Content-Type' => 'text/plain' ]);
    $res->{body_sent} = $body;
    return $res;
}

# Whether the task of a 202 is stored on the server at $port.
sub stored_on {
    my ($port, $res) = @_;
    my $id = $res->{json} && $res->{json}{id} or return 0;
    my $h = eval { redis_at($port)->hgetall("$prefix:task:$id") } // {};
    return ($h->{payload} // '') eq $res->{body_sent};
}

# Enqueues until one is 202 (or $timeout s); returns the statuses seen and
# whether every one was 202 or 503 "unavailable".
sub until_202 {
    my ($timeout) = @_;
    my (@st, $odd, $last);
    wait_for(sub {
        $last = enqueue();
        push @st, $last->{status};
        $odd = $last unless $last->{status} == 202
            || ($last->{status} == 503 && $last->{json}
                && ($last->{json}{error} // '') eq 'unavailable');
        return $last->{status} == 202;
    }, $timeout, 0.05);
    return (\@st, $odd, $last);
}

# === TEST 1: resolution at start (past the dead sentinel), on the primary
my ($st, $odd, $res) = until_202(15);
is($res->{status}, 202, 'at start: 202') or diag "statuses: @$st";
ok(stored_on($p1, $res), 'at start: the task is on the primary');
my $h = $s->http(GET => '/health');
is($h->{status}, 200, 'health: 200');
is($h->{json} && $h->{json}{master}, "127.0.0.1:$p1",
   'health names the master the link is on') or diag explain $h;
like($s->error_log, qr/\[notice\].*master "$NAME" is at 127\.0\.0\.1:$p1/,
     'the error log names the master found');
like($s->error_log, qr/sentinel 127\.0\.0\.1:$dead: .*refused/,
     'the dead sentinel was tried, then the next one');

# === TEST 2: a long poll waits on the primary
$res = enqueue();
is($res->{status}, 202, 'a task to wait for');
my $wait_id = $res->{json}{id};

# === TEST 3: SENTINEL FAILOVER: the link follows without a reload
my $nginx_pid = $s->nginx_pid;
$ha->failover;
my @during;
my $switched = wait_for(sub {
    my $r = enqueue();
    push @during, $r;
    return (sentinel_master() // '') eq "127.0.0.1:$p2"
        && role($p2) eq 'master' && role($p1) eq 'slave';
}, 90, 0.05);
ok($switched, 'the sentinels switched to the replica')
    or diag $ha->report;
is($ha->wait_switched($p1, replicas => 1), $p2,
   'the old primary is a replica of the new master');
my @bad = grep { !($_->{status} == 202 || $_->{status} == 503) } @during;
is(scalar @bad, 0, 'during the failover: only 202 or 503')
    or diag explain [ map { $_->{status} } @bad ];
# A 202 the old master gave after the sentinels promoted the replica and
# before they announced it (+switch-master) is lost when the old master is
# made a replica: Redis replicates asynchronously, and only
# taskgw_redis_wait closes that window.  Counted, not asserted.
my @ok = grep { $_->{status} == 202 } @during;
my $lost = grep { !stored_on($p2, $_) } @ok;
diag("planned failover: $lost of " . scalar(@ok) . " 202s during the "
     . "switch are not on the new master (no taskgw_redis_wait); "
     . scalar(grep { $_->{status} == 503 } @during) . " 503s");

($st, $odd, $res) = until_202(20);
is($res->{status}, 202, 'after the failover: 202 without reload')
    or diag "statuses: @$st";
ok(!$odd, 'after the failover: only 202 or 503 on the way')
    or diag explain $odd;
ok(wait_for(sub { stored_on($p2, $res) }, 5),
   'after the failover: the task is on the new master');
is($s->nginx_pid, $nginx_pid, 'the same nginx, never reloaded');
$h = $s->http(GET => '/health');
is($h->{json} && $h->{json}{master}, "127.0.0.1:$p2",
   'health names the new master');
my $m = $s->http(GET => '/metrics');
like($m->{body} // '', qr/^taskgw_redis_master\{address="127\.0\.0\.1:$p2"\} 1$/m,
     'metrics: the master the link is on');
like($m->{body} // '', qr/^taskgw_redis_master_switches_total 1$/m,
     'metrics: one switch');
like($s->error_log,
     qr/\[warn\].*master "$NAME" moved from 127\.0\.0\.1:$p1 to 127\.0\.0\.1:$p2/,
     'the switch is logged with old and new address');

# === TEST 4: the long poll after the switch: the subscriber followed
my $poll = $s->http_send(GET => "/status/$wait_id?wait=20", timeout => 40);
# the task is replicated; finishing it on the new master must wake the poll
ok(wait_for(sub {
    my $r = redis_at($p2);
    return 0 unless ($r->hgetall("$prefix:task:$wait_id")->{status} // '')
                    eq 'queued';
    # the subscriber must be on the new master before the PUBLISH counts
    my $subs = $r->cmd('PUBSUB', 'NUMSUB', "$prefix:events:done");
    return ref $subs eq 'ARRAY' && $subs->[1] >= 1;
}, 15), 'the subscriber is on the new master');
my $t0 = time;
my $r2 = redis_at($p2);
$r2->cmd('HSET', "$prefix:task:$wait_id", 'status', 'succeeded',
         'finished_at', int(time * 1000));
$r2->cmd('PUBLISH', "$prefix:events:done", $wait_id);
$res = $s->http_recv($poll);
is($res->{status}, 200, 'long poll after the switch: 200');
is($res->{json} && $res->{json}{status}, 'succeeded',
   'long poll after the switch: woken with the terminal status')
    or diag explain $res;
cmp_ok(time - $t0, '<', 10, 'long poll: woken, not timed out');

# === TEST 5: the master becomes a replica behind the link's back
redis_at($p2)->cmd('REPLICAOF', '127.0.0.1', $nowhere);
$res = enqueue();
is($res->{status}, 503, 'REPLICAOF behind the link: the next enqueue is 503')
    or diag explain $res;
is($res->{json} && $res->{json}{error}, 'unavailable', '... "unavailable"');
ok(!stored_on($p2, $res), '... and nothing was stored');
ok(wait_for(sub { $s->error_log =~ /READONLY/ }, 5),
   'the READONLY is logged');
ok(wait_for(sub { $s->error_log =~ /is not a master \(ROLE says "slave"\)/ },
            10), 'the link asked again, and ROLE refused the replica');
for (1 .. 3) {
    $res = enqueue();
    last if $res->{status} != 503;
}
is($res->{status}, 503, 'while no master is to be had: still 503');
redis_at($p2)->cmd('REPLICAOF', 'NO', 'ONE');
($st, $odd, $res) = until_202(20);
is($res->{status}, 202, 'a master again: 202') or diag "statuses: @$st";
ok(stored_on($p2, $res), '... stored on it');

# === TEST 6: kill -9 of the master: 503s, then 202 on the promoted replica
ok(wait_for(sub {
    my $info = eval { redis_at($p1)->cmd('INFO', 'replication') } // '';
    return $info =~ /master_link_status:up/ && $info =~ /master_port:$p2/;
}, 20), 'the old primary replicates the new master');
ok(wait_for(sub {
    for my $p (@sp) {
        my $reps = eval { redis_at($p)->cmd('SENTINEL', 'replicas', $NAME) };
        return 0 unless ref $reps eq 'ARRAY' && @$reps >= 1;
        my %f = @{ $reps->[0] };
        return 0 unless ($f{flags} // '') eq 'slave'
                     && ($f{'master-link-status'} // '') eq 'ok';
    }
    return 1;
}, 30), 'the sentinels see the replica healthy');
$res = enqueue();
is($res->{status}, 202, 'before the kill: 202');

is($ha->kill_primary, $p2, 'kill -9 of the master');
@during = ();
$switched = wait_for(sub {
    push @during, enqueue();
    return (sentinel_master() // '') eq "127.0.0.1:$p1"
        && role($p1) eq 'master';
}, 90, 0.1);
ok($switched, 'the sentinels promoted the old primary') or diag $ha->report;
is($ha->wait_switched($p2), $p1, 'every sentinel agrees');
ok(scalar(grep { $_->{status} == 503 } @during) > 0,
   'while the master is gone: 503');
diag("kill -9: " . scalar(grep { $_->{status} == 503 } @during) . " 503s, "
     . scalar(grep { $_->{status} == 202 } @during) . " 202s until every "
     . "sentinel named the promoted master");
@bad = grep { $_->{status} != 503 && $_->{status} != 202 } @during;
is(scalar @bad, 0, 'only 202 or 503 meanwhile')
    or diag explain [ map { $_->{status} } @bad ];
for my $r (grep { $_->{status} == 202 } @during) {
    ok(stored_on($p1, $r), "202 during the outage ($r->{body_sent}) is on "
                           . "the promoted master");
}
($st, $odd, $res) = until_202(20);
is($res->{status}, 202, 'after the promotion: 202 without reload')
    or diag "statuses: @$st";
ok(stored_on($p1, $res), 'after the promotion: stored on the new master');
$h = $s->http(GET => '/health');
is($h->{json} && $h->{json}{master}, "127.0.0.1:$p1",
   'health names the promoted master');
is($s->nginx_pid, $nginx_pid, 'still the same nginx');

# === TEST 7: a graceful reload is not held up by the sentinel connections
# (the watcher's and the links' timers are cancelable), and the new
# workers find the master again
my @old = $s->reload_nginx;
ok(wait_for(sub { !grep { kill 0, $_ } @old }, 15),
   'reload: the old worker exits promptly');
($st, $odd, $res) = until_202(15);
is($res->{status}, 202, 'after the reload: 202') or diag "statuses: @$st";
ok(stored_on($p1, $res), 'after the reload: on the master');

my @alerts = $s->error_log_alerts;
is(scalar @alerts, 0, 'no alerts or worse in the error log')
    or diag join "\n", @alerts;

done_testing();
