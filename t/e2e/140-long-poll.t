#!/usr/bin/perl
# Long polls: GET <status location>/<id>?wait=N answers as soon as the task
# reaches a terminal status, or with its current status when N runs out.
# Waiting requests hold no Redis connection each: one subscriber per nginx
# worker process, even for 500 waiters over 2 workers; a subscriber killed
# mid-wait (CLIENT KILL) reconnects and its waiters re-check their tasks,
# so an outcome recorded while it was away is not missed.  Scoping still
# applies (a dev token's wait on another's task is 404 at once), bad
# values are 400, taskgw_status_max_wait lowers the limit and a value
# above 30 s fails nginx -t with file and line.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Digest::SHA qw(sha256_hex);
use IO::Select;
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new(prefix => 'e2e140');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $dir = $s->dir;
my %tok = (alice => 'tgw_alice_' . 'a' x 40, bob => 'tgw_bob_' . 'b' x 40);
open my $fh, '>', "$dir/tokens" or die;
print $fh "alice dev sha256:" . sha256_hex($tok{alice}) . "\n"
        . "bob dev sha256:" . sha256_hex($tok{bob}) . "\n";
close $fh;

$s->start_redis;

# a reconnect after CLIENT KILL takes 2.5-5 s: long enough to record an
# outcome while the subscriber is away, short against the waits
my $conf = <<'EOC';
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_backoff 5s 10s;
    taskgw_prefix %%PREFIX%%;
    taskgw_tokens %%SERVROOT%%/tokens;
    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        location /tasks/ {
            taskgw_enqueue queue=$arg_q type=$arg_t;
        }
        location /status/ { taskgw_status; }
        location /short/  { taskgw_status; taskgw_status_max_wait 2s; }
        location /mine/   {
            taskgw_auth dev;
            taskgw_enqueue queue=default type=sleep;
        }
        location /own/    { taskgw_auth dev; taskgw_status; }
    }
EOC
$s->start_nginx(worker_processes => 2, worker_connections => 2048,
                config => $conf);

my $r = $s->redis;
my $w = $s->start_worker({
    concurrency => 4,
    queues      => { default => 1 },
    handlers    => { sleep => { builtin => 'sleep' },
                     ping  => { builtin => 'ping' } },
});

sub enqueue {
    my ($queue, $type, $body, @h) = @_;
    my $res = $s->http(POST => "/tasks/?q=$queue&t=$type", body => $body,
                       @h);
    return $res->{status} == 202 ? $res->{json}{id} : undef;
}

# a GET kept open: its handle, the time it was sent
sub poll_send {
    my ($path, %opt) = @_;
    return { h => $s->http_send(GET => $path, timeout => 40, %opt),
             t0 => time };
}

sub poll_recv {
    my ($p) = @_;
    my $res = $s->http_recv($p->{h});
    $res->{took} = time - $p->{t0};
    return $res;
}

# connections to Redis by kind: [all, subscribers]
sub redis_clients {
    my @c = grep { /\S/ } split /\r?\n/, $r->cmd('CLIENT', 'LIST');
    return (scalar(@c), scalar(grep { /\bsub=[1-9]/ } @c));
}

# the worker is up and reading
my $id = enqueue('default', 'ping', '');
ok(wait_for(sub {
    ($s->http(GET => "/status/$id")->{json}{status} // '') eq 'succeeded'
}, 20, 0.1), 'the worker runs tasks');

# === TEST 1: ?wait=5 on a task finishing after 1 s: about 1 s, terminal
$id = enqueue('default', 'sleep', '{"ms":1000}');
ok($id, 'a task sleeping 1 s');
my $res = poll_recv(poll_send("/status/$id?wait=5"));
is($res->{status}, 200, 'wait=5: 200');
is($res->{json} && $res->{json}{status}, 'succeeded',
   'wait=5: answered with the terminal status');
cmp_ok($res->{took}, '<', 4, "wait=5: answered before the wait ran out "
                              . sprintf('(%.2f s)', $res->{took}));
cmp_ok($res->{took}, '>=', 0.5, 'wait=5: it did wait for the run');

# === TEST 2: a task that never finishes: after 5 s, its current status
$id = enqueue('nobody', 'ping', '');
ok($id, 'a task in a queue no worker reads');
$res = poll_recv(poll_send("/status/$id?wait=5"));
is($res->{status}, 200, 'never finishes: 200');
is($res->{json} && $res->{json}{status}, 'queued',
   'never finishes: answered with its current status');
cmp_ok($res->{took}, '>=', 4.9, sprintf('never finishes: after the wait '
                                        . '(%.2f s)', $res->{took}));
cmp_ok($res->{took}, '<', 15, 'never finishes: not much later');

# === TEST 3: a finished task, wait=0, no wait: answered at once
$res = poll_recv(poll_send("/status/$id?wait=0"));
cmp_ok($res->{took}, '<', 2, 'wait=0: at once');
is($res->{json} && $res->{json}{status}, 'queued', 'wait=0: the status');
my $done = enqueue('default', 'ping', '');
ok(wait_for(sub {
    ($s->http(GET => "/status/$done")->{json}{status} // '') eq 'succeeded'
}, 20, 0.1), 'a ping finished');
$res = poll_recv(poll_send("/status/$done?wait=30"));
cmp_ok($res->{took}, '<', 2, 'finished task, wait=30: at once');
is($res->{json} && $res->{json}{status}, 'succeeded', 'with its status');

# === TEST 4: bad values are 400 bad_request; a long wait is cut to the max
for my $v ('abc', '-1', '1.5', '') {
    $res = $s->http(GET => "/status/$id?wait=$v");
    is($res->{status}, 400, "wait=$v: 400");
    is($res->{json} && $res->{json}{error}, 'bad_request',
       "wait=$v: bad_request JSON");
}
$res = poll_recv(poll_send("/short/$id?wait=99999999999999999999999"));
is($res->{json} && $res->{json}{status}, 'queued',
   'taskgw_status_max_wait 2s: current status');
cmp_ok($res->{took}, '>=', 1.9, sprintf('max wait 2s: waited (%.2f s)',
                                        $res->{took}));
cmp_ok($res->{took}, '<', 10, 'max wait 2s: not 30 s');

# === TEST 5: a message for the id while the task is not finished: the
# waiter reads again and keeps waiting
my $p = poll_send("/status/$id?wait=6");
sleep 1;
$r->cmd('PUBLISH', 'e2e140:events:done', $id);
$res = poll_recv($p);
cmp_ok($res->{took}, '>=', 5.9, sprintf('a message for an unfinished task '
                                        . 'does not end the wait (%.2f s)',
                                        $res->{took}));
is($res->{json} && $res->{json}{status}, 'queued', 'still queued');

# === TEST 6: scoping: a dev token waits on its own task, another's is 404
# at once
$res = $s->http(POST => '/mine/', body => '{"ms":3000}',
                headers => [ 'X-API-Token' => $tok{alice} ]);
my $mine = $res->{json} && $res->{json}{id};
ok($mine, 'alice enqueued a task');
my $pb = poll_send("/own/$mine?wait=10",
                   headers => [ 'X-API-Token' => $tok{bob} ]);
my $pa = poll_send("/own/$mine?wait=10",
                   headers => [ 'X-API-Token' => $tok{alice} ]);
$res = poll_recv($pb);
is($res->{status}, 404, "another dev token's wait: 404");
cmp_ok($res->{took}, '<', 2.5, 'another dev token: at once, not when the '
                              . 'task ends');
$res = poll_recv($pa);
is($res->{status}, 200, 'the owner waited');
is($res->{json} && $res->{json}{status}, 'succeeded',
   'the owner got the terminal status');

# === TEST 7: 500 concurrent waiters over 2 nginx workers cost at most one
# Redis connection per nginx worker; all are answered once their tasks
# finish
my @ids = map { enqueue('hold', 'ping', '') } 1 .. 50;
is(scalar(grep { defined } @ids), 50, '50 tasks in a queue nobody reads yet');
# both nginx workers have their command link up by now
$s->http(GET => "/status/$ids[0]") for 1 .. 10;
my ($before, $subs_before) = redis_clients();
my @polls = map { poll_send("/status/$ids[$_ % 50]?wait=30") } 0 .. 499;
my ($during, $subs);
wait_for(sub {
    ($during, $subs) = redis_clients();
    $subs >= 2;
}, 10, 0.1);
sleep 1;
($during, $subs) = redis_clients();
cmp_ok($during - $before, '<=', 2,
       "500 waiters: at most one more Redis connection per nginx worker "
       . "($before before, $during during)");
is($subs, 2, '500 waiters: one subscriber in each of the 2 nginx workers');
my $sel = IO::Select->new(map { $_->{h}{sock} } grep { $_->{h}{sock} } @polls);
is(scalar(@polls), 500, '500 requests sent');
my @early = $sel->can_read(0);
is(scalar(@early), 0, 'none answered before its task finished');
my $w2 = $s->start_worker({ concurrency => 8, queues => { hold => 1 },
                            handlers => { ping => { builtin => 'ping' } } });
my @res = map { poll_recv($_) } @polls;
is(scalar(grep { $_->{status} == 200 && $_->{json}
                 && $_->{json}{status} eq 'succeeded' } @res), 500,
   '500 waiters: every one answered succeeded');
cmp_ok((sort { $b <=> $a } map { $_->{took} } @res)[0], '<', 25,
       '500 waiters: before the wait ran out');
$s->stop_worker($w2);

# === TEST 8: CLIENT KILL of the subscribers mid-wait: an outcome recorded
# while they are away is seen once they are back, and the ones after too
@ids = map { enqueue('hold', 'ping', '') } 1 .. 4;
@polls = map { poll_send("/status/$_?wait=30") } @ids;
ok(wait_for(sub { (redis_clients())[1] >= 2 }, 10, 0.1),
   'subscribers up');
sleep 0.5;
my $killed = $r->cmd('CLIENT', 'KILL', 'TYPE', 'pubsub');
cmp_ok($killed, '>=', 1, "subscribers killed ($killed)");
# recorded as the worker would, announced on a channel nobody hears now
for my $i (0, 1) {
    $r->cmd('HSET', "e2e140:task:$ids[$i]", 'status', 'succeeded',
            'finished_at', int(time * 1000));
}
$res = poll_recv($polls[0]);
is($res->{json} && $res->{json}{status}, 'succeeded',
   'a task finished while the subscriber was away: seen');
cmp_ok($res->{took}, '<', 15, sprintf('after the reconnect, not the wait '
                                      . '(%.2f s)', $res->{took}));
is(poll_recv($polls[1])->{json}{status}, 'succeeded', 'the second one too');
ok(wait_for(sub { (redis_clients())[1] >= 1 }, 10, 0.1),
   'a subscriber is back');
$w2 = $s->start_worker({ concurrency => 2, queues => { hold => 1 },
                         handlers => { ping => { builtin => 'ping' } } });
for my $i (2, 3) {
    $res = poll_recv($polls[$i]);
    is($res->{json} && $res->{json}{status}, 'succeeded',
       "after the reconnect, a message ends wait $i");
    cmp_ok($res->{took}, '<', 25, "wait $i: before the wait ran out");
}
$s->stop_worker($w2);

# === TEST 9: clients that go away leave no waiter behind (nginx ends
# their requests at once: 499 in the access log)
@ids = map { enqueue('nobody', 'ping', '') } 1 .. 20;
@polls = map { poll_send("/status/$_?wait=30") } @ids;
sleep 1;
close $_->{h}{sock} for @polls;
ok(wait_for(sub {
    my $log = do { local (@ARGV, $/) = "$dir/logs/access.log"; <> } // '';
    my $n = () = $log =~ m{"GET /status/[0-9a-f-]+\?wait=30 HTTP/1\.1" 499 }g;
    $n >= 20;
}, 10, 0.2), '20 clients gone: 20 requests ended (499) well before 30 s');
# and the worker processes still serve long polls afterwards
$id = enqueue('default', 'sleep', '{"ms":300}');
$res = poll_recv(poll_send("/status/$id?wait=10"));
is($res->{json} && $res->{json}{status}, 'succeeded',
   'long polls after the clients left');

# === TEST 10: DELETE of a scheduled task ends its waits at once
$res = $s->http(POST => '/tasks/?q=default&t=ping', body => '',
                headers => [ 'X-Task-Delay' => 60 ]);
$id = $res->{json}{id};
$p = poll_send("/status/$id?wait=20");
sleep 0.5;
is($s->http(DELETE => "/status/$id")->{status}, 202, 'cancelled');
$res = poll_recv($p);
is($res->{json} && $res->{json}{status}, 'cancelled',
   'the waiter got the cancelled status');
cmp_ok($res->{took}, '<', 10, sprintf('at once (%.2f s)', $res->{took}));

# === TEST 10b: tasks finishing just as their long poll reads them: the
# announcement may reach nginx before the read's answer does, and must
# not be lost (the wait would then run its full time)
my ($slow, $tries) = (0, 0);
for my $i (1 .. 400) {
    my $tid = enqueue('default', 'sleep', '{"ms":' . ($i % 4) . '}');
    $res = poll_recv(poll_send("/status/$tid?wait=3"));
    $tries++;
    $slow++ if $res->{took} > 2.5
               || !$res->{json} || $res->{json}{status} ne 'succeeded';
}
is($slow, 0, "$tries tasks finishing as they were read: every wait ended "
             . "with the task");

# === TEST 11: a reload does not drop a waiting request: the old worker
# process answers it when its task finishes
$id = enqueue('nobody', 'ping', '');
$p = poll_send("/status/$id?wait=20");
sleep 0.5;
$s->reload_nginx(worker_processes => 2);
$r->cmd('HSET', "e2e140:task:$id", 'status', 'succeeded',
        'finished_at', int(time * 1000));
$r->cmd('PUBLISH', 'e2e140:events:done', $id);
$res = poll_recv($p);
is($res->{json} && $res->{json}{status}, 'succeeded',
   'a wait across a reload: answered with the terminal status');
cmp_ok($res->{took}, '<', 15, sprintf('across a reload: when the task '
                                      . 'finished (%.2f s)', $res->{took}));

my @alerts = $s->error_log_alerts;
is(scalar(@alerts), 0, 'no alert or crash') or diag(join "\n", @alerts);

# === TEST 12: taskgw_status_max_wait above 30 s fails nginx -t
(my $bad = $conf) =~ s/taskgw_status_max_wait 2s/taskgw_status_max_wait 31s/;
my ($code, $out) = $s->nginx_test(config => $bad);
isnt($code, 0, 'max wait 31s: nginx -t fails');
like($out, qr/"taskgw_status_max_wait" must be at most 30s in \S+nginx\.conf:\d+/,
     'max wait 31s: the reason, file and line');

# === TEST 13: Redis going away: a wait under way ends with 503 when its
# time is up (the task cannot be read), a new one is 503 at once
$s->stop_worker($w);
$id = enqueue('nobody', 'ping', '');
$p = poll_send("/status/$id?wait=3");
sleep 0.5;
$s->stop_redis;
$res = poll_recv($p);
is($res->{status}, 503, 'Redis gone mid-wait: 503');
is($res->{json} && $res->{json}{error}, 'unavailable', 'unavailable JSON');
cmp_ok($res->{took}, '<', 10, sprintf('when the wait ran out (%.2f s)',
                                      $res->{took}));
$res = poll_recv(poll_send("/status/$id?wait=5"));
is($res->{status}, 503, 'Redis down: a new wait is 503');
cmp_ok($res->{took}, '<', 3, sprintf('at once (%.2f s)', $res->{took}));

done_testing();
