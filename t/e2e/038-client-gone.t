#!/usr/bin/perl
# Clients that go away: while nginx still reads their body, and while
# their task waits for Redis.  No crash, no alert, the nginx worker and
# its Redis link keep working, and nothing is written to Redis for a
# client that left before any byte of its task was sent:
#
#   - a body cut short (plain, chunked, one already spooled to a file):
#     nothing stored;
#   - the link still connecting (Redis frozen with SIGSTOP since before
#     nginx started): the waiting task is dropped, never sent;
#   - the link up but backed up behind a 24 MB task that a frozen Redis
#     does not read: the small task queued behind it is dropped (hiredis
#     gets PINGs in its place), the big one, partly written, is stored;
#     of three small tasks sealed into one MULTI/EXEC there, the first
#     and the last (whose pieces carry the MULTI and the EXEC) are dropped
#     and the middle one is stored;
#   - the task already written to the socket of a frozen Redis: it is
#     stored once Redis runs again (it cannot be taken back).
#
# Which case a request was in is told from the outside: the kernel's
# queues (/proc/net/tcp) show when nginx has read a request and when
# bytes wait unread in Redis's socket; nginx logs "client prematurely
# closed connection" (info) when it noticed the client leave.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'needs /proc/net/tcp' unless -r '/proc/net/tcp';

my $BIG = 24 * 1024 * 1024;   # well past what loopback sockets buffer

$s->start_redis;
my $rport = $s->redis_port;

# a frozen Redis must never outlive the test
my $frozen;
sub freeze { kill 'STOP', $s->{redis_pid}; $frozen = 1 }
sub thaw   { kill 'CONT', $s->{redis_pid}; $frozen = 0 }
END { kill 'CONT', $s->{redis_pid} if $frozen && $s->{redis_pid} }

# The established TCP sockets with local port $lport (and remote port
# $peer, if given): their total receive and send queues, in bytes.
sub tcp_queues {
    my ($lport, $peer) = @_;
    my ($rx, $tx, $n) = (0, 0, 0);
    open my $fh, '<', '/proc/net/tcp' or return;
    <$fh>;
    while (<$fh>) {
        my @f = split ' ';
        next unless $f[3] eq '01';                       # ESTABLISHED
        next unless hex((split /:/, $f[1])[1]) == $lport;
        next if defined $peer && hex((split /:/, $f[2])[1]) != $peer;
        my ($t, $r) = split /:/, $f[4];
        $tx += hex $t;
        $rx += hex $r;
        $n++;
    }
    return $n ? ($rx, $tx) : ();
}

# nginx has read everything a client wrote (its handler ran on it)
sub nginx_read_all {
    my ($h) = @_;
    my $cport = $h->{sock}->sockport;
    return wait_for(sub {
        my ($rx) = tcp_queues($s->port, $cport);
        return defined $rx && $rx == 0;
    }, 30, 0.02);
}

# bytes are waiting, unread, in the frozen Redis's sockets
sub redis_unread { my ($rx) = tcp_queues($rport); return $rx // 0 }

sub count_closed {
    my @l = grep { /client prematurely closed connection/ }
            split /\n/, $s->error_log;
    return scalar @l;
}

sub noticed_close {
    my ($before) = @_;
    return wait_for(sub { count_closed() > $before }, 15, 0.02);
}

# tasks stored in queue $q (task hashes, found by their field)
sub stored {
    my ($q) = @_;
    my $r = $s->redis;
    my $keys = $r->cmd('KEYS', $s->prefix . ':task:*');
    return scalar grep { ($r->cmd('HGET', $_, 'queue') // '') eq $q }
                       @{ $keys // [] };
}

sub start {
    $s->start_nginx(worker_processes => 1, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_timeout 60s;
    client_max_body_size 64m;
    client_body_buffer_size 16k;
    server {
        listen 127.0.0.1:%%PORT%%;
        client_body_timeout 60s;
        location /big   { taskgw_enqueue queue=big type=t;
                          taskgw_max_payload 64m; }
        location /gone  { taskgw_enqueue queue=gone type=t; }
        location /sent  { taskgw_enqueue queue=sent type=t; }
        location /cut   { taskgw_enqueue queue=cut type=t; }
        location /after { taskgw_enqueue queue=after type=t; }
        location /kept  { taskgw_enqueue queue=kept type=t; }
    }
EOC
}

# A raw request over a socket the test closes when it wants.
sub raw {
    my ($text) = @_;
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $s->port, Proto => 'tcp')
        or die "connect: $!";
    binmode $c;
    syswrite($c, $text) == length $text or die "write: $!";
    return $c;
}

sub healthy {
    my ($what) = @_;
    my $res = $s->http(POST => '/after', body => "after $what",
                       timeout => 30);
    is($res->{status}, 202, "$what: the next enqueue is 202")
        or diag explain $res;
    is_deeply([ $s->error_log_alerts ], [], "$what: no alert or crash");
}

# === TEST 1: the link connects while Redis is frozen; a client leaves
# while its task waits for the link: the task is never sent
freeze();
start();
my ($worker) = $s->nginx_worker_pids;
my $before = count_closed();
my $h = $s->http_send(POST => '/gone', body => 'waits for the link',
                      timeout => 60);
ok(nginx_read_all($h), 'nginx read the request (the link is connecting)');
close delete $h->{sock};
ok(noticed_close($before), 'nginx noticed the client leave');
thaw();
healthy('link up after the freeze');
is(stored('gone'), 0, 'the task of the client that left was never stored');

# === TEST 2: the link is up, its queue backed up behind a 24 MB task that
# a frozen Redis does not read; a small task queued behind it loses its
# client: it is dropped, the big one is stored
freeze();
my $big = $s->http_send(POST => '/big', body => 'x' x $BIG, timeout => 90);
ok(!$big->{error}, 'the 24 MB body went out') or diag $big->{error};
ok(nginx_read_all($big), 'nginx read all of it (its task is queued)');
ok(wait_for(sub { redis_unread() > 0 }, 15, 0.02),
   'part of it waits unread in Redis\'s socket');
$before = count_closed();
$h = $s->http_send(POST => '/gone', body => 'queued behind the big one',
                   timeout => 60);
ok(nginx_read_all($h), 'nginx read the small request (its task is queued)');
close delete $h->{sock};
ok(noticed_close($before), 'nginx noticed the client leave');
thaw();
my $res = $s->http_recv($big);
is($res->{status}, 202, 'the big task: 202') or diag explain $res;
is(stored('big'), 1, 'the big task is stored');
healthy('after the backed-up queue');
is(stored('gone'), 0, 'the task queued behind it was dropped');

# and the replies still match their requests: each task as it was sent
my @more = map { $s->http(POST => '/after', body => "check $_") } 1 .. 3;
is_deeply([ map { $_->{status} } @more ], [ 202, 202, 202 ],
          'three more enqueues: 202');
is_deeply([ map { $s->redis->cmd('HGET', $s->prefix . ':task:'
                                         . $_->{json}{id}, 'payload') }
            @more ],
          [ map { "check $_" } 1 .. 3 ], 'each stored with its own body');

# === TEST 2b: the same, the task queued behind the big one carrying a body
# spooled to a temporary file: its commands are in three pieces (memory,
# file, memory), all replaced by as many PINGs as it has commands, so the
# replies after it still match their requests
freeze();
$big = $s->http_send(POST => '/big', body => 'y' x $BIG, timeout => 90);
ok(!$big->{error}, 'again: the 24 MB body went out') or diag $big->{error};
ok(nginx_read_all($big), 'again: nginx read all of it');
ok(wait_for(sub { redis_unread() > 0 }, 15, 0.02),
   'again: part of it waits unread in Redis\'s socket');
$before = count_closed();
$h = $s->http_send(POST => '/gone', body => 'f' x 100_000, timeout => 60);
ok(nginx_read_all($h), 'a 100 KB request (body in a file) read, its task '
   . 'queued');
close delete $h->{sock};
ok(noticed_close($before), 'nginx noticed its client leave');
thaw();
$res = $s->http_recv($big);
is($res->{status}, 202, 'the second big task: 202') or diag explain $res;
is(stored('big'), 2, 'the second big task is stored');
healthy('after a dropped task whose body was in a file');
is(stored('gone'), 0, 'the task with its body in a file was dropped');
@more = map { $s->http(POST => '/after', body => "again $_" x 5000) } 1 .. 3;
is_deeply([ map { $_->{status} } @more ], [ 202, 202, 202 ],
          'three more enqueues (bodies in files too): 202');
is_deeply([ map { $s->redis->cmd('HGET', $s->prefix . ':task:'
                                         . $_->{json}{id}, 'payload') }
            @more ],
          [ map { "again $_" x 5000 } 1 .. 3 ],
          'each stored with its own body');

# === TEST 2c: tasks of one turn sealed into a MULTI/EXEC behind a big
# task that a frozen Redis does not read (a transaction is sealed at once
# when the next task would take it past 16 KB of commands); the clients
# of its first task (whose piece carries the MULTI) and of its last (the
# EXEC) leave: their commands become PINGs, the MULTI and the EXEC stay,
# so the middle task is stored and answered 202, and so is the task after

# one reply on a kept-alive connection: its status
sub status_of {
    my ($c) = @_;
    my ($buf, $deadline) = ('', time + 60);
    while ($buf !~ /\r\n\r\n/) {
        my $rd = '';
        vec($rd, fileno $c, 1) = 1;
        my $left = $deadline - time;
        return 0 if $left <= 0 || !select($rd, undef, undef, $left);
        sysread($c, $buf, 65536, length $buf) or return 0;
    }
    my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
    my ($len) = $head =~ /Content-Length: (\d+)/i;
    while (length $rest < ($len // 0)) {
        sysread($c, $rest, 65536, length $rest) or last;
    }
    return ($head =~ m{^HTTP/1\.1 (\d+)})[0] // 0;
}

# SIGSTOP takes effect a moment after kill() returns: wait for state T
sub stop_worker {
    kill 'STOP', $worker;
    wait_for(sub {
        open my $fh, '<', "/proc/$worker/stat" or return 0;
        return (<$fh> // '') =~ /\)\s+[Tt]\s/;
    }, 10, 0.01) or diag('the nginx worker did not show as stopped');
}

my @kept = map { raw("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n") } 1 .. 4;
status_of($_) for @kept;
freeze();
$big = $s->http_send(POST => '/big', body => 'z' x $BIG, timeout => 90);
ok(!$big->{error}, 'once more: the 24 MB body went out')
    or diag $big->{error};
ok(nginx_read_all($big), 'once more: nginx read all of it');
ok(wait_for(sub { redis_unread() > 0 }, 15, 0.02),
   'once more: part of it waits unread in Redis\'s socket');

# four 4,800-byte tasks reach the stopped worker, one turn's: the fourth
# seals the first three into one MULTI/EXEC
my @path = ('/gone', '/kept', '/gone', '/kept');
stop_worker();
for my $i (0 .. 3) {
    my $body = "$i" x 4800;
    my $req = "POST $path[$i] HTTP/1.1\r\nHost: x\r\nContent-Length: "
              . length($body) . "\r\n\r\n$body";
    syswrite($kept[$i], $req) == length $req or die "write: $!";
}
kill 'CONT', $worker;
for my $i (0 .. 3) {
    my $cport = $kept[$i]->sockport;
    ok(wait_for(sub {
        my ($rx) = tcp_queues($s->port, $cport);
        defined $rx && $rx == 0
    }, 30, 0.02), "task $i of the turn read");
}
$before = count_closed();
close $kept[0];
close $kept[2];
ok(wait_for(sub { count_closed() >= $before + 2 }, 15, 0.02),
   'nginx noticed the first and the third client leave');
thaw();
$res = $s->http_recv($big);
is($res->{status}, 202, 'the third big task: 202') or diag explain $res;
is(status_of($kept[1]), 202, 'the middle task of the transaction: 202');
is(status_of($kept[3]), 202, 'the task after it: 202');
is_deeply([ sort map { substr($s->redis->cmd('HGET', $_, 'payload'), 0, 1) }
            grep { ($s->redis->cmd('HGET', $_, 'queue') // '') eq 'kept' }
            @{ $s->redis->cmd('KEYS', $s->prefix . ':task:*') } ],
          [ 1, 3 ], 'the second and the fourth task are stored');
is(stored('gone'), 0, 'the first and the third were dropped');
healthy('after a shared transaction lost its first and last task');
close $kept[$_] for 1, 3;

# === TEST 3: the task was written before its client left: Redis runs it
# once it can (nothing can call it back), and it is stored
freeze();
my $unread = redis_unread();
$before = count_closed();
$h = $s->http_send(POST => '/sent', body => 'already on the wire',
                   timeout => 60);
ok(nginx_read_all($h), 'nginx read the request');
ok(wait_for(sub { redis_unread() > $unread }, 15, 0.02),
   'its task waits unread in Redis\'s socket');
close delete $h->{sock};
ok(noticed_close($before), 'nginx noticed the client leave');
thaw();
ok(wait_for(sub { stored('sent') == 1 }, 15, 0.05),
   'the task already written is stored once Redis runs again');
healthy('after a written task lost its client');

# === TEST 4: bodies cut short while nginx reads them: nothing stored
for my $cut (
    [ 'plain body', "POST /cut HTTP/1.1\r\nHost: x\r\n"
                    . "Content-Length: 100000\r\n\r\n" . ('a' x 1000) ],
    [ 'chunked body', "POST /cut HTTP/1.1\r\nHost: x\r\n"
                      . "Transfer-Encoding: chunked\r\n\r\n"
                      . "400\r\n" . ('b' x 1024) . "\r\n" ],
    [ 'body spooled to a file', "POST /cut HTTP/1.1\r\nHost: x\r\n"
                                . "Content-Length: 1000000\r\n\r\n"
                                . ('c' x 200000) ],
    [ 'headers only', "POST /cut HTTP/1.1\r\nHost: x\r\n"
                      . "Content-Length: 10\r\n\r\n" ],
) {
    my ($what, $text) = @$cut;
    $before = count_closed();
    my $c = raw($text);
    my $cport = $c->sockport;
    ok(wait_for(sub {
        my ($rx) = tcp_queues($s->port, $cport);
        defined $rx && $rx == 0
    }, 30, 0.02), "$what: nginx read what was sent");
    close $c;
    ok(noticed_close($before), "$what: nginx noticed the client leave");
    healthy($what);
}
is(stored('cut'), 0, 'no task stored from a body cut short');

# === TEST 5: the same nginx worker all along
is_deeply([ $s->nginx_worker_pids ], [ $worker ], 'same nginx worker');
is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

done_testing();
