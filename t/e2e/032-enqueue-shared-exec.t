#!/usr/bin/perl
# Plain enqueues that the Redis link writes in one go share one MULTI/EXEC:
# MULTI, HSET and XADD for each task, EXEC, instead of a MULTI/EXEC each.
# The nginx worker is stopped while the requests arrive on connections
# kept alive, so that they are all events of one turn of its event loop.
#
# - 11 enqueues, one of them for a queue whose stream key holds a string
#   (its XADD fails inside the EXEC): Redis counts fewer EXECs than tasks;
#   the 10 others are answered 202 and stored, the odd one gets its own
#   JSON 503 and leaves no hash behind.
# - A large task among small ones goes in a MULTI/EXEC of its own, after
#   theirs: the small ones are answered without waiting for its bytes
#   (MONITOR shows their EXEC before its MULTI), and it is stored too.
# - The 16 KB cap splits one turn's small tasks, in the order they came,
#   when the link writes: 40 of the smallest (some 600 bytes of commands
#   each) make two transactions, four of 6,000 bytes two (two and two);
#   all are answered 202 and stored.  (The 64 tasks cap is never reached
#   first: 64 tasks fill 16 KB.)
# - A transaction Redis aborts (EXECABORT: every HSET refused at
#   maxmemory) fails each of its requests with a JSON 503; none is stored.
# - The link drops while a transaction is in flight (Redis killed): each
#   of its requests gets a JSON 503.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IO::Socket::INET;
use Test::More;
use TaskGW::Stack qw(wait_for json_decode);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

$s->start_redis;
$s->start_nginx(config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    client_body_buffer_size 256k;
    client_max_body_size 1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=w; }
        location /odd { taskgw_enqueue queue=odd; }
        location /big { taskgw_enqueue queue=big; }
    }
EOC
my $r = $s->redis;
my $prefix = $s->prefix;
my ($pid) = $s->nginx_worker_pids;

is($s->http(POST => '/tasks', body => '{}')->{status}, 202,
   'the link is up');
my $stored = 1;

# SIGSTOP takes effect a moment after kill() returns: wait until the
# worker is stopped (state T), so that it sees nothing before SIGCONT
sub stop_worker {
    kill 'STOP', $pid;
    wait_for(sub {
        open my $fh, '<', "/proc/$pid/stat" or return 0;
        my $st = <$fh> // '';
        return $st =~ /\)\s+[Tt]\s/;
    }, 10, 0.01) or diag('the nginx worker did not show as stopped');
}

# n connections to nginx, each answered once and idle in keep-alive
sub kept_alive {
    my ($n) = @_;
    my @c;
    for (1 .. $n) {
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $s->port)
            or die "connect: $!";
        binmode $c;
        print $c "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n";
        push @c, $c;
    }
    read_reply($_) for @c;
    return @c;
}

# one HTTP reply on a kept-alive connection: { status, json }
sub read_reply {
    my ($c) = @_;
    my $buf = '';
    my $deadline = time + 20;
    my $fill = sub {
        my $rd = '';
        vec($rd, fileno $c, 1) = 1;
        my $left = $deadline - time;
        return 0 if $left <= 0 || !select($rd, undef, undef, $left);
        return sysread($c, $buf, 65536, length $buf);
    };
    while ($buf !~ /\r\n\r\n/) { $fill->() or return { status => 0 } }
    my $i = index($buf, "\r\n\r\n");
    my $head = substr($buf, 0, $i);
    my ($len) = $head =~ /Content-Length: (\d+)/i;
    $len //= 0;
    while (length($buf) - $i - 4 < $len) { $fill->() or last }
    my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
    my $body = substr($buf, $i + 4, $len);
    my $json = eval { json_decode($body) };
    return { status => $status // 0, body => $body, json => $json };
}

# sends each [path, body] on its connection while the worker is stopped,
# then lets it go and reads every reply
sub one_turn {
    my ($conns, $reqs) = @_;
    stop_worker();
    for my $i (0 .. $#$reqs) {
        my ($path, $body) = @{ $reqs->[$i] };
        my $c = $conns->[$i];
        my $req = "POST $path HTTP/1.1\r\nHost: x\r\n"
                  . "Content-Type: application/json\r\n"
                  . "Content-Length: " . length($body) . "\r\n\r\n$body";
        my $off = 0;
        while ($off < length $req) {
            my $n = syswrite($c, $req, length($req) - $off, $off);
            die "write: $!" unless defined $n;
            $off += $n;
        }
    }
    kill 'CONT', $pid;
    return [ map { read_reply($_) } @$conns[0 .. $#$reqs] ];
}

sub calls {
    my $c = $r->command_calls;
    return ($c->{exec} // 0, $c->{multi} // 0);
}

sub stream_ids {
    my ($q) = @_;
    return map { $_->[1]{id} } @{ $r->xrange("$prefix:q:$q:normal") };
}

sub is_error_json {
    my ($res, $code, $what) = @_;
    ok(ref $res->{json} eq 'HASH' && ($res->{json}{error} // '') eq $code
       && defined $res->{json}{message},
       "$what: JSON error \"$code\"") or diag($res->{body});
}

# === a failing task among good ones, in one turn
$r->cmd('SET', "$prefix:q:odd:normal", 'not a stream');
my @c = kept_alive(11);
my @reqs = map { [ '/tasks', "{\"good\":$_}" ] } 1 .. 10;
splice @reqs, 5, 0, [ '/odd', '{"odd":1}' ];
$r->cmd('CONFIG', 'RESETSTAT');
my $res = one_turn(\@c, \@reqs);
my ($exec, $multi) = calls();
diag("11 enqueues in one turn: $exec EXEC, $multi MULTI");
cmp_ok($exec, '<=', 2, "11 enqueues of one turn: $exec EXEC, not one each");
is($multi, $exec, 'as many MULTI as EXEC');

my @good = grep { $reqs[$_][0] eq '/tasks' } 0 .. $#reqs;
my ($odd) = grep { $reqs[$_][0] eq '/odd' } 0 .. $#reqs;
is((grep { $res->[$_]{status} == 202 } @good), 10,
   'the 10 good tasks: 202');
$stored += 10;
my %in = map { $_ => 1 } stream_ids('w');
is((grep { $in{ $res->[$_]{json}{id} // '' } } @good), 10,
   'each good task\'s id is in its stream');
is((grep { $r->cmd('HGET', "$prefix:task:" . ($res->[$_]{json}{id} // ''),
                   'status') // '' } @good),
   10, 'each with its hash');
is($res->[$odd]{status}, 503, 'the task whose XADD failed: 503');
is_error_json($res->[$odd], 'unavailable', 'the failed task');
# its hash, written by the HSET that did succeed, is deleted after
ok(wait_for(sub {
    my $keys = $r->cmd('KEYS', "$prefix:task:*");
    @$keys == $stored;
}, 10, 0.05), 'the failed task left no hash behind')
    or diag(scalar @{ $r->cmd('KEYS', "$prefix:task:*") } . " hashes");
like($s->error_log, qr/redis refused task \S+: WRONGTYPE/,
     'the failure is logged with Redis\'s reason');

# === a large task among small ones
my $mon = TaskGW::Stack::Redis->new($s->redis_port, 20);
is($mon->cmd('MONITOR'), 'OK', 'MONITOR on');
@c = kept_alive(9);
my $big = '{"big":"' . ('b' x (64 * 1024)) . '"}';
@reqs = map { [ '/tasks', "{\"small\":$_}" ] } 1 .. 8;
splice @reqs, 3, 0, [ '/big', $big ];
$res = one_turn(\@c, \@reqs);
is((grep { $_->{status} == 202 } @$res), 9, 'the large task and the 8 small '
   . 'ones: 202') or diag(join ' ', map { $_->{status} } @$res);
$stored += 9;
$r->cmd('ECHO', 'monitor-end');
my @cmds;
while (1) {
    my $l = $mon->_reply;
    last if $l =~ /"ECHO" "monitor-end"/;
    push @cmds, $1 if $l =~ /^\S+ \[[^\]]*\] "(MULTI|EXEC|HSET|XADD)"/;
    # HSET's key tells the large task from the others
    $cmds[-1] .= ' big' if $l =~ /"HSET"/ && length($l) > 60000;
}
diag('MONITOR: ' . join(' ', @cmds));
# the transactions, as the lists of their HSETs
my (@txn, $cur);
for my $c (@cmds) {
    if ($c eq 'MULTI') { $cur = [] }
    elsif ($c eq 'EXEC') { push @txn, $cur if $cur; undef $cur }
    elsif ($c =~ /^HSET/ && $cur) { push @$cur, $c }
}
my ($bigtxn) = grep { grep { $_ eq 'HSET big' } @{ $txn[$_] } } 0 .. $#txn;
ok(defined $bigtxn, 'the large task ran inside a MULTI/EXEC');
is(scalar @{ $txn[$bigtxn // 0] // [] }, 1, 'a MULTI/EXEC of its own');
my $small_after = 0;
$small_after += @{ $txn[$_] } for ($bigtxn // 0) + 1 .. $#txn;
is($small_after, 0, 'every small task\'s EXEC before the large one\'s MULTI');
cmp_ok(scalar(@txn), '<=', 3, scalar(@txn) . ' MULTI/EXEC for 9 tasks');
is((grep { ($r->cmd('HGET', "$prefix:task:" . ($_->{json}{id} // ''),
                    'status') // '') eq 'queued' } @$res),
   9, 'all 9 stored');
undef $mon;

# === the cap: at most 16 KB of commands in a transaction
for my $case ([ 40, 2, 2, '40 small tasks' ],
              [ 4, 6000, 2, 'four tasks of 6,000 bytes' ])
{
    my ($n, $len, $want, $what) = @$case;
    @c = kept_alive($n);
    $r->cmd('CONFIG', 'RESETSTAT');
    my $body = $len > 2 ? '{"c":"' . ('c' x ($len - 8)) . '"}' : '{}';
    $res = one_turn(\@c, [ map { [ '/tasks', $body ] } 1 .. $n ]);
    ($exec, $multi) = calls();
    is($exec, $want, "$what of one turn: $exec EXEC");
    is($multi, $exec, 'as many MULTI as EXEC');
    is((grep { $_->{status} == 202 } @$res), $n, "$what: all 202")
        or diag(join ' ', map { $_->{status} } @$res);
    is((grep { ($r->cmd('HGET', "$prefix:task:" . ($_->{json}{id} // ''),
                        'status') // '') eq 'queued' } @$res),
       $n, "$what: all stored");
    $stored += $n;
    close $_ for @c;
}

# === a transaction Redis aborts: every request in it fails
$r->cmd('CONFIG', 'SET', 'maxmemory', '1');
@c = kept_alive(5);
$r->cmd('CONFIG', 'RESETSTAT');
$res = one_turn(\@c, [ map { [ '/tasks', "{\"abort\":$_}" ] } 1 .. 5 ]);
($exec) = calls();
$r->cmd('CONFIG', 'SET', 'maxmemory', '0');
cmp_ok($exec, '<', 5, "5 enqueues in $exec EXEC");
is((grep { $_->{status} == 503 } @$res), 5, 'EXECABORT: all 5 get 503');
is_error_json($res->[0], 'unavailable', 'an aborted task');
is(scalar(() = $s->error_log =~ /redis refused task \S+: EXECABORT/g), 5,
   'each logged with Redis\'s reason');
is(scalar @{ $r->cmd('KEYS', "$prefix:task:*") }, $stored, 'none stored');
is($s->http(POST => '/tasks', body => '{"after":1}')->{status}, 202,
   'with memory again: 202');
$stored++;

# === the link drops with a transaction in flight: Redis stopped while
# the transaction goes out, then killed
@c = kept_alive(4);
kill 'STOP', $s->{redis_pid};
stop_worker();
for my $i (0 .. 3) {
    my $body = "{\"drop\":$i}";
    print { $c[$i] } "POST /tasks HTTP/1.1\r\nHost: x\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
}
kill 'CONT', $pid;
$s->stop_redis(signal => 'KILL');
$res = [ map { read_reply($_) } @c ];
is((grep { $_->{status} == 503 } @$res), 4,
   'link lost: each request of the transaction gets 503')
    or diag(join ' ', map { $_->{status} } @$res);
is_error_json($res->[0], 'unavailable', 'a lost task');

done_testing;
