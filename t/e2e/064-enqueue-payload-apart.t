#!/usr/bin/perl
# The three ways nginx stores a task.  With nothing to check in Redis (no
# Idempotency-Key, no taskgw_max_backlog) no script runs: one MULTI/EXEC
# of HSET and XADD.  Otherwise the enqueue script gets the whole task, the
# payload among its arguments when it is up to 16 KB, and apart when
# larger (an HSET before the script, in one MULTI/EXEC), so that a body of
# megabytes is not copied into Lua and back inside Redis.  Each way a task
# is stored whole, exactly once, and a request that is not stored (an
# idempotent replay or conflict, a full stream) leaves no task hash behind;
# a SCRIPT FLUSH is answered by loading the script and sending the task
# again, large payload included.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

my $prefix = $s->prefix;

$s->start_redis;
$s->start_nginx(config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_prefix %%PREFIX%%;
    client_max_body_size 4m;
    client_body_buffer_size 1m;
    log_format rid '$request_id';
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_max_backlog 1000000;
                          taskgw_enqueue queue=big type=blob; }
        location /plain { taskgw_enqueue queue=plain type=blob; }
        location /full  { taskgw_max_backlog 1;
                          taskgw_enqueue queue=full type=blob; }
        location /rid {
            add_header X-Request-Id $request_id always;
            access_log %%SERVROOT%%/logs/rid.log rid;
            taskgw_enqueue queue=rid type=blob;
        }
    }
EOC

my $r = $s->redis;

sub body_of {
    my ($n, $seed) = @_;
    return join '', map { chr(($_ * $seed + 7) % 256) } 1 .. $n;
}

sub post {
    my ($path, $body, @h) = @_;
    return $s->http(POST => $path, body => $body, timeout => 30,
                    headers => [ 'Content-Type' => 'application/octet-stream',
                                 @h ]);
}

sub hashes {
    my $keys = $r->cmd('KEYS', "$prefix:task:*");
    return ref $keys eq 'ARRAY' ? scalar @$keys : 0;
}

sub stored_ok {
    my ($res, $body, $what) = @_;
    is($res->{status}, 202, "$what: 202") or diag explain $res;
    my $id = $res->{json} && $res->{json}{id};
    my $t = $id ? $r->hgetall("$prefix:task:$id") : {};
    ok(defined $t->{payload} && $t->{payload} eq $body,
       "$what: payload stored byte-exact (" . length($body) . ' bytes)');
    is($t->{queue}, $res->{json} && $res->{json}{queue},
       "$what: the other fields are there too");
    is($t->{status}, 'queued', "$what: status queued");
}

sub cmdstat {
    my ($name) = @_;
    my $info = $r->cmd('INFO', 'commandstats') // '';
    return $info =~ /^cmdstat_\Q$name\E:calls=(\d+)/m ? $1 : 0;
}

# === TEST 1: both sides of the 16 KB line, and far over it
my $n = 0;
$r->cmd('CONFIG', 'RESETSTAT');
for my $len (0, 200, 16384, 16385, 100_000, 3_000_000) {
    my $body = body_of($len, 31 + $len % 7);
    stored_ok(post('/tasks', $body), $body, "$len-byte body");
    $n++;
}
is(cmdstat('evalsha'), 6, 'one script call per task');
is(cmdstat('multi'), 3, 'the three bodies over 16 KB went apart, the '
                        . 'others in the script call alone');
is(hashes(), $n, "one task hash per 202 ($n)");
is($r->cmd('XLEN', "$prefix:q:big:normal"), $n, 'one stream entry per 202');

# === TEST 1b: nothing to check: no script, one MULTI/EXEC per task
$r->cmd('CONFIG', 'RESETSTAT');
my $plain = 0;
for my $len (0, 200, 16385, 3_000_000) {
    my $body = body_of($len, 11 + $len % 5);
    stored_ok(post('/plain', $body), $body, "$len-byte body, no checks");
    $plain++;
    $n++;
}
is(cmdstat('evalsha'), 0, 'no script call');
is(cmdstat('multi'), $plain, 'one MULTI/EXEC per task');
is($r->cmd('XLEN', "$prefix:q:plain:normal"), $plain,
   'one stream entry per task');
is(hashes(), $n, "one task hash per 202 ($n)");

# === TEST 2: a replay and a conflict of a large body leave no hash
my $big = body_of(200_000, 13);
my $first = post('/tasks', $big, 'Idempotency-Key' => 'k-big');
stored_ok($first, $big, 'first with the key');
$n++;
my $again = post('/tasks', $big, 'Idempotency-Key' => 'k-big');
is($again->{status}, 200, 'the same key and body: 200 replay');
is($again->{json} && $again->{json}{id}, $first->{json}{id},
   'the replay names the first task');
my $other = post('/tasks', body_of(200_000, 17), 'Idempotency-Key' => 'k-big');
is($other->{status}, 422, 'the same key, another body: 422');
is(hashes(), $n, 'neither left a task hash behind');

# === TEST 3: a full stream refuses a large body and keeps no hash of it
my $one = body_of(50_000, 3);
stored_ok(post('/full', $one), $one, 'first into the full-at-1 queue');
$n++;
my $full = post('/full', body_of(50_000, 5));
is($full->{status}, 503, 'the stream is full: 503');
is($full->{json} && $full->{json}{error}, 'queue_full', 'queue_full');
is(hashes(), $n, 'the refused task left no hash');

# === TEST 4: SCRIPT FLUSH, then a large body: loaded again, stored once
for my $round (1 .. 2) {
    is($r->cmd('SCRIPT', 'FLUSH'), 'OK', "flush $round");
    my $b = body_of(80_000, 40 + $round);
    stored_ok(post('/tasks', $b), $b, "large body after flush $round");
    $n++;
}
is(hashes(), $n, "still one task hash per stored task ($n)");
is($r->cmd('XLEN', "$prefix:q:big:normal"), $n - 1 - $plain,
   'one stream entry per task of the queue');

# === TEST 5: the task's request_id is the request's $request_id, the one
# its response header and its access log line show
my @ids;
for (1 .. 3) {
    my $res = post('/rid', 'x');
    is($res->{status}, 202, 'enqueue with $request_id in a header: 202');
    my $t = $r->hgetall("$prefix:task:" . ($res->{json}{id} // ''));
    like($t->{request_id}, qr/^[0-9a-f]{32}$/, 'request_id: 32 hex digits');
    is($t->{request_id}, $res->{headers}{'x-request-id'},
       'the stored request_id is the one in X-Request-Id');
    push @ids, $t->{request_id};
}
my $logged = TaskGW::Stack::_slurp($s->dir . '/logs/rid.log') // '';
is($logged, join('', map { "$_\n" } @ids),
   'and the one the access log wrote, request by request');
my %uniq = map { $_ => 1 } @ids;
is(scalar keys %uniq, 3, 'every request its own');

is(scalar $s->error_log_alerts, 0, 'no alerts in the error log');

done_testing();
