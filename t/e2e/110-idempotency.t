#!/usr/bin/perl
# Idempotency-Key across the whole stack:
# - 50 identical requests with one key at once over 2 nginx workers: one
#   task, one stream entry; one 202, every other answer a 200 replay with
#   the same JSON;
# - two tokens using the same key get a task each (the key is per owner);
# - a request whose reply was lost (Redis stored the task after nginx's
#   command timeout had answered 503): the retry with the key gets the
#   replay of that task, not a second one;
# - the task the replays name is run once by a worker.
# Reports the latency of a replay beside a fresh enqueue (same run).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Digest::SHA qw(sha256_hex);
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new(prefix => 'e2e110');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $P = $s->prefix;

my %tok = (alpha => 'tgw_alpha-token', beta => 'tgw_beta-token');
open my $fh, '>', $s->dir . '/tokens' or die;
print $fh "$_ dev sha256:" . sha256_hex($tok{$_}) . "\n" for sort keys %tok;
close $fh;

$s->start_redis;
$s->start_nginx(worker_processes => 2, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_timeout 1s;
    taskgw_prefix %%PREFIX%%;
    taskgw_tokens %%SERVROOT%%/tokens;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks  { taskgw_enqueue queue=idem type=system.ping; }
        location /authed { taskgw_auth dev;
                           taskgw_enqueue queue=authed type=system.ping; }
        location /status/ { taskgw_status; }
    }
EOC
my $r = $s->redis;

# ---- 50 at once, one key, 2 nginx workers --------------------------------

my $N = 50;
my $res = $s->http_parallel([ map {
    [ POST => '/tasks', body => '{"n":1}',
      headers => [ 'Idempotency-Key' => 'burst-1',
                   'Content-Type' => 'application/json' ] ]
} 1 .. $N ], timeout => 30);

my (%status, %bodies);
$status{ $_->{status} }++ for @$res;
$bodies{ $_->{body} }++ for @$res;
is($status{202} // 0, 1, "$N identical requests: exactly one 202")
    or diag explain \%status;
is($status{200} // 0, $N - 1, 'all the others 200');
is(scalar(grep { ($_->{headers}{'idempotent-replayed'} // '') eq 'true' }
          @$res), $N - 1, 'each 200 says Idempotent-Replayed: true');
is(scalar keys %bodies, 1, 'every answer has the same JSON')
    or diag explain \%bodies;
my %loc;
$loc{ $_->{headers}{location} // '' }++ for @$res;
is(scalar keys %loc, 1, 'and the same Location');

my @tasks = grep { ($r->hgetall($_)->{queue} // '') eq 'idem' }
            @{ $r->cmd('KEYS', "$P:task:*") };
is(scalar @tasks, 1, 'one task stored');
is($r->cmd('XLEN', "$P:q:idem:normal"), 1, 'one stream entry');
my ($json) = keys %bodies;
my $id = TaskGW::Stack::json_decode($json)->{id} // '';
is($r->cmd('GET', "$P:idem::" . sha256_hex('burst-1')),
   "$id " . sha256_hex('{"n":1}'), 'the record names that task');

my $pids = join ' ', $s->nginx_worker_pids;
my %served;
for (split /\n/, $s->error_log) {
    $served{$1}++ if /^\S+ \S+ \[\w+\] (\d+)#\d+: \*\d+ taskgw: task \Q$id\E (accepted|replayed)/;
}
note('answers per nginx worker: '
     . join(', ', map { "$_: $served{$_}" } sort keys %served));

# ---- the key is per owner ------------------------------------------------

my %ids;
for my $name (qw(alpha beta alpha)) {
    my $x = $s->http(POST => '/authed', body => 'same',
                     headers => [ Authorization => "Bearer $tok{$name}",
                                  'Idempotency-Key' => 'shared-key' ]);
    push @{ $ids{$name} }, [ $x->{status}, $x->{json} && $x->{json}{id} ];
}
is($ids{alpha}[0][0], 202, 'token alpha: 202');
is($ids{beta}[0][0], 202, 'token beta, same key: 202, a task of its own');
isnt($ids{beta}[0][1], $ids{alpha}[0][1], 'another task id');
is_deeply($ids{alpha}[1], [ 200, $ids{alpha}[0][1] ],
          'token alpha again: the replay of its own task');
ok($r->cmd('EXISTS', "$P:idem:alpha:" . sha256_hex('shared-key'))
   && $r->cmd('EXISTS', "$P:idem:beta:" . sha256_hex('shared-key')),
   'one record per owner');

# ---- the reply was lost: Redis stored the task after nginx gave up --------

# Another client keeps Redis busy for 2.5 s with a script: the enqueue
# waits behind it, nginx answers 503 at its 1 s command timeout and drops
# the connection, and Redis then runs the commands it had already read.
my $busy = $s->fork_process('busy-redis', sub {
    my $c = TaskGW::Stack::Redis->new($s->redis_port);
    $c->cmd('EVAL', <<'LUA', 0);
local t0 = redis.call('TIME')
local s0 = t0[1] * 1000000 + t0[2]
while true do
  local t = redis.call('TIME')
  if t[1] * 1000000 + t[2] - s0 > 2500000 then break end
end
return 1
LUA
});
sleep 0.3;
my $lost = $s->http(POST => '/tasks', body => 'lost reply',
                    headers => [ 'Idempotency-Key' => 'lost-1' ]);
is($lost->{status}, 503, 'Redis busy past the command timeout: 503')
    or diag explain $lost;
$s->kill_process($busy, 'TERM', 10);     # returns once the script is over
my $stored = wait_for(sub {
    ($r->cmd('GET', "$P:idem::" . sha256_hex('lost-1'))) // '' }, 3);
$stored =~ s/ .*//;
my $retry = wait_for(sub {
    my $x = $s->http(POST => '/tasks', body => 'lost reply',
                     headers => [ 'Idempotency-Key' => 'lost-1' ]);
    return $x->{status} == 503 ? undef : $x;    # the link may be reconnecting
}, 10);
if ($stored) {
    note("the first attempt was stored by Redis after its 503 ($stored)");
    is($retry->{status}, 200, 'the retry: 200, a replay');
    is($retry->{json}{id}, $stored, 'of the task Redis stored');
} else {
    note('Redis dropped the first attempt with its connection');
    is($retry->{status}, 202, 'the retry stored the task');
}
my @lost = grep { ($r->cmd('HGET', $_, 'payload') // '') eq 'lost reply' }
           @{ $r->cmd('KEYS', "$P:task:*") };
is(scalar @lost, 1, 'one task for the key in any case');

# The nginx worker that gave up on Redis reconnects on its backoff schedule,
# and its attempts while the script still ran failed too: on a busy machine
# the retry above can be served by the other nginx worker while this one's
# link is still down, answering 503 for a while.  Wait until every link
# that was lost is up again.
ok(wait_for(sub {
    my %down;
    for (split /\n/, $s->error_log) {
        next unless /\] (\d+)#\d+: taskgw: (.+?) (link lost|link up again)/;
        if ($3 eq 'link lost') { $down{"$1 $2"} = 1 }
        else                   { delete $down{"$1 $2"} }
    }
    return !%down;
}, 20), 'each link that was lost is up again') or diag $s->error_log;

# ---- replay latency beside a fresh enqueue ----------------------------------

# What went wrong with an answer, for the diagnostics: the error code, or
# the client's own error; a fresh enqueue where a replay was due says so.
sub answer {
    my ($x) = @_;
    return $x->{json}{error} if $x->{json} && $x->{json}{error};
    return 'a new task' if $x->{status} == 202;
    return $x->{error} // '';
}

my (@fresh, @replay, %odd);
for my $i (1 .. 200) {
    my $t0 = time;
    my $x = $s->http(POST => '/tasks', body => "l$i",
                     headers => [ 'Idempotency-Key' => "lat-$i" ]);
    push @fresh, time - $t0 if $x->{status} == 202;
    $odd{"fresh: $x->{status} " . answer($x)}++
        if $x->{status} != 202;
    $t0 = time;
    $x = $s->http(POST => '/tasks', body => "l$i",
                  headers => [ 'Idempotency-Key' => "lat-$i" ]);
    push @replay, time - $t0 if $x->{status} == 200;
    $odd{"replay: $x->{status} " . answer($x)}++
        if $x->{status} != 200;
}
is(scalar @replay, 200, '200 replays') or diag explain \%odd;
sub pct {
    my ($p, @v) = @_;
    @v = sort { $a <=> $b } @v;
    return sprintf '%.2f ms', 1000 * $v[int($p * $#v)];
}
diag('enqueue latency (client side, 200 each): fresh p50 '
     . pct(0.5, @fresh) . ' p90 ' . pct(0.9, @fresh)
     . ' | replay p50 ' . pct(0.5, @replay) . ' p90 ' . pct(0.9, @replay));

# ---- the worker runs the task once ---------------------------------------

$s->start_worker({ queues => { idem => 1 }, concurrency => 4,
                   handlers => { 'system.ping' => { builtin => 'ping' } } });
ok(wait_for(sub { ($r->cmd('HGET', "$P:task:$id", 'status') // '') eq 'succeeded' },
            20), 'the task of the burst succeeded');
is($r->cmd('HGET', "$P:task:$id", 'attempts'), 1, 'in one attempt');
$s->stop_worker;
$s->stop_nginx;
is(scalar($s->error_log_alerts), 0, 'no alert in the error log')
    or diag join "\n", $s->error_log_alerts;

done_testing();
