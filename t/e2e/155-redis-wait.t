#!/usr/bin/perl
# taskgw_redis_wait against a real primary and replica: 202 only once the
# replica has the task; too few replicas (one stopped, or replicas=2 with
# one) give 503 "unavailable" after the timeout, saying how many
# acknowledged; and while a WAIT holds its connection, the same nginx
# worker answers status reads, health checks and unwaited enqueues at once
# (they do not queue behind it).  An idempotent replay is waited for too.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for free_port);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

# the primary hands a new replica its data at once (no diskless delay)
my $port = $s->start_redis(args => [qw(--repl-diskless-sync-delay 0)]);
my $rport = free_port();
my $replica = $s->spawn('replica', 'redis-server', '--port', $rport,
    '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', $s->dir, '--protected-mode', 'no',
    '--replicaof', '127.0.0.1', $port);

my $primary = $s->redis;
ok(wait_for(sub {
    (eval { $primary->cmd('INFO', 'replication') } // '')
        =~ /^slave0:.*state=online/m
}, 20), 'the replica is in sync with the primary');
my $rr = TaskGW::Stack::Redis->new($rport);

# taskgw_redis_timeout 1s and a WAIT of 1.5 s: the waited batch must be
# allowed its timeout on top of the command timeout.
$s->start_nginx(worker_processes => 1, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_timeout 1s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /w1      { taskgw_enqueue queue=w;
                            taskgw_redis_wait replicas=1 timeout=1500ms; }
        location /w2      { taskgw_enqueue queue=w;
                            taskgw_redis_wait replicas=2 timeout=1500ms; }
        location /tasks   { taskgw_enqueue queue=p; }
        location /status/ { taskgw_status; }
        location /health  { taskgw_health; }
        location /metrics { taskgw_metrics; }
    }
EOC

sub pending {
    my ($h) = @_;
    return 0 unless $h->{sock};
    my $r = '';
    vec($r, fileno $h->{sock}, 1) = 1;
    return !select($r, undef, undef, 0);
}

sub key { $s->prefix . ":task:$_[0]" }

# whether a connection to the primary is blocked in a WAIT now
sub in_wait {
    my $list = $primary->cmd('CLIENT', 'LIST') // '';
    return scalar grep { /\bflags=[a-zA-Z]*b/ && /\bcmd=wait\b/ }
                       split /\n/, $list;
}

# === TEST 1: replicas=1 with a live replica: 202, the task on the replica
my $res = $s->http(POST => '/w1', body => 'one', timeout => 10);
is($res->{status}, 202, 'replicas=1: 202') or diag explain $res;
my $id1 = $res->{json}{id};
is($rr->cmd('HGET', key($id1), 'payload'), 'one',
   'the task is on the replica when the 202 comes');
cmp_ok($res->{time}, '<', 1.5, sprintf('answered in %.3f s, before the '
                                       . 'WAIT timeout', $res->{time}));

# === TEST 2: replicas=2 with one replica: 503 after about the timeout,
# and meanwhile the same worker answers others at once
my $h = $s->http_send(POST => '/w2', body => 'two', timeout => 15);
ok(wait_for(\&in_wait, 10), 'the replicas=2 enqueue is stored and its '
                             . 'WAIT under way');
ok(pending($h), 'the replicas=2 enqueue waits for its replicas');

my $st = $s->http(GET => "/status/$id1", timeout => 10);
is($st->{status}, 200, 'status read meanwhile: 200');
my $he = $s->http(GET => '/health', timeout => 10);
is($he->{status}, 200, 'health check meanwhile: 200');
my $en = $s->http(POST => '/tasks', body => 'unwaited', timeout => 10);
is($en->{status}, 202, 'unwaited enqueue meanwhile: 202');
ok(pending($h), 'the replicas=2 enqueue was still waiting after all three')
    or diag sprintf('status %.3f s, health %.3f s, enqueue %.3f s',
                    $st->{time}, $he->{time}, $en->{time});
for ([status => $st], [health => $he], [enqueue => $en]) {
    cmp_ok($_->[1]{time}, '<', 1.0,
           sprintf('%s answered in %.3f s, not held behind the WAIT',
                   $_->[0], $_->[1]{time}));
}

$res = $s->http_recv($h);
is($res->{status}, 503, 'replicas=2 with one replica: 503')
    or diag explain $res;
is($res->{json} && $res->{json}{error}, 'unavailable', 'error unavailable');
like($res->{json} && $res->{json}{message},
     qr/^task [0-9a-f-]{36} may be stored, but only 1 of 2 replicas acknowledged it within 1500 ms; /,
     'the message says how many replicas acknowledged');
cmp_ok($res->{time}, '>=', 1.4, sprintf('after about the timeout: %.3f s',
                                        $res->{time}));
cmp_ok($res->{time}, '<', 10, 'not much later');

# === TEST 3: a waited enqueue that comes while another's WAIT holds the
# wait link runs once that WAIT returns (after more than
# taskgw_redis_timeout): it must not be taken for a stuck Redis
$h = $s->http_send(POST => '/w2', body => 'two again', timeout => 15);
ok(wait_for(\&in_wait, 10), 'the second replicas=2 WAIT is under way');
my $h1 = $s->http_send(POST => '/w1', body => 'behind', timeout => 15);
$res = $s->http_recv($h1);
is($res->{status}, 202, 'the replicas=1 enqueue behind it: 202')
    or diag explain $res;
cmp_ok($res->{time}, '>', 1.0, sprintf('once the WAIT ahead returned '
                                       . '(%.3f s)', $res->{time}));
$res = $s->http_recv($h);
is($res->{status}, 503, 'the replicas=2 one: 503');
like($res->{json} && $res->{json}{message}, qr/only 1 of 2 replicas/,
     'one of two acknowledged');

# === TEST 4: group commit: enqueues that come while a WAIT holds the
# link share the next WAIT
my $waits = sub {
    ($primary->cmd('INFO', 'commandstats') =~ /^cmdstat_wait:calls=(\d+)/m)
        ? $1 : 0;
};
my $before = $waits->();
# the lead first, and the ten only once its WAIT holds the link: sent
# together, a loaded machine could deliver some of the ten ahead of the
# lead, each turn of them with a WAIT of its own
my $lead = $s->http_send(POST => '/w2', body => 'lead', timeout => 20);
ok(wait_for(\&in_wait, 10), 'the lead\'s WAIT is under way');
my $many = $s->http_parallel(
    [ map { [ POST => '/w1', body => "many $_" ] } 1 .. 10 ], timeout => 20);
my @codes = map { $_->{status} } $s->http_recv($lead), @$many;
is_deeply(\@codes, [ 503, (202) x 10 ],
          'ten replicas=1 enqueues behind a replicas=2 one: all 202')
    or diag "statuses: @codes";
my $used = $waits->() - $before;
cmp_ok($used, '<=', 4, "11 waited enqueues took $used WAITs");

# === TEST 5: an idempotent replay is answered only once its task is on
# the replica, though another connection (the unwaited location) wrote it
my @ik = (headers => { 'Idempotency-Key' => 'k-replay' });
kill 'STOP', $replica;
$res = $s->http(POST => '/tasks', body => 'idem', @ik, timeout => 10);
is($res->{status}, 202, 'unwaited enqueue with a key while the replica '
                        . 'is paused: 202');
my $idem_id = $res->{json}{id};
$res = $s->http(POST => '/w1', body => 'idem', @ik, timeout => 10);
is($res->{status}, 503, 'its waited replay while the replica is paused: '
                        . '503') or diag explain $res;
like($res->{json} && $res->{json}{message},
     qr/^task \Q$idem_id\E may be stored, but only 0 of 1 replicas/,
     'naming the first task');
kill 'CONT', $replica;
$res = $s->http(POST => '/w1', body => 'idem', @ik, timeout => 10);
is($res->{status}, 200, 'the replay once the replica is back: 200')
    or diag explain $res;
is($res->{headers}{'idempotent-replayed'}, 'true', 'Idempotent-Replayed');
is($res->{json} && $res->{json}{id}, $idem_id, 'the first task\'s id');
is($rr->cmd('HGET', key($idem_id), 'payload'), 'idem',
   'which is on the replica');

# === TEST 6: the replica stopped: replicas=1 is 503 after the timeout
$s->kill_process($replica);
$res = $s->http(POST => '/w1', body => 'lonely', timeout => 15);
is($res->{status}, 503, 'replica gone: 503') or diag explain $res;
like($res->{json} && $res->{json}{message},
     qr/only 0 of 1 replicas acknowledged it within 1500 ms/,
     'none acknowledged');
is($s->http(POST => '/tasks', body => 'still', timeout => 10)->{status},
   202, 'a location without the directive still answers 202');

# === TEST 7: the metrics count waits met and missed
my $m = $s->http(GET => '/metrics', timeout => 10)->{body} // '';
like($m, qr/^taskgw_redis_wait_total\{result="met"\} 13$/m, 'met: 13');
like($m, qr/^taskgw_redis_wait_total\{result="missed"\} 5$/m, 'missed: 5');

unlike($s->error_log, qr/link lost|did not answer/,
       'no link was reset on the way');

# === TEST 8: the wait link is lost while a WAIT holds it: 503 saying so,
# and the link comes back for the next enqueue
$h = $s->http_send(POST => '/w1', body => 'cut', timeout => 15);
ok(wait_for(\&in_wait, 10), 'a WAIT holds the wait link');
$primary->cmd('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
$res = $s->http_recv($h);
is($res->{status}, 503, 'link lost under WAIT: 503') or diag explain $res;
like($res->{json} && $res->{json}{message},
     qr/may be stored, but the Redis link failed before 1 replicas acknowledged it/,
     'the message says the link failed');
ok(wait_for(sub {
    my $r = $s->http(POST => '/w1', body => 'again', timeout => 15);
    return ($r->{json} && $r->{json}{message} // '')
        =~ /only 0 of 1 replicas acknowledged/;
}, 20), 'the wait link reconnects: the next enqueue is waited for again');

# === TEST 9: a reload while an enqueue waits for its replicas: the old
# worker answers it before it exits
$h = $s->http_send(POST => '/w1', body => 'reload', timeout => 15);
ok(wait_for(\&in_wait, 10), 'a WAIT holds the wait link');
$s->reload_nginx;
$res = $s->http_recv($h);
is($res->{status}, 503, 'answered across the reload: 503')
    or diag explain $res;
like($res->{json} && $res->{json}{message},
     qr/only 0 of 1 replicas acknowledged it within 1500 ms/,
     'after its WAIT returned');

# === TEST 10: clients that give up while their WAIT is under way: the
# WAIT's answer finds nobody, and the worker goes on
my @gone = map { $s->http_send(POST => '/w1', body => "gone $_",
                               timeout => 15) } 1 .. 3;
ok(wait_for(\&in_wait, 10), 'a WAIT holds the wait link');
close $_->{sock} for @gone;
ok(wait_for(sub { !in_wait() }, 10), 'the WAIT returned');
$res = $s->http(POST => '/w1', body => 'after', timeout => 15);
like($res->{json} && $res->{json}{message}, qr/only 0 of 1 replicas/,
     'the next waited enqueue is answered as before');

is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

done_testing();
