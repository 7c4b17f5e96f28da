#!/usr/bin/perl
# The Redis link writes what a turn of nginx's event loop queued in one
# go, at the end of the turn, without switching write interest on and off
# in epoll for every batch (two epoll_ctl(EPOLL_CTL_MOD) per enqueue
# before: one to ask for the write event, one to drop it).  strace,
# attached to the nginx worker, counts its epoll_ctl calls and its writes
# to the Redis socket while it takes 300 enqueues, one after the other
# and then 100 at once; every one is stored.
#
# The write waits for the end of the turn, but a request whose client
# sent it and closed at once is still let go before its task is written
# (the client's end is seen in the same turn): 20 such clients, their
# requests and ends waiting while the worker is stopped, store nothing;
# nor do 20 on connections kept alive, whose requests and ends are all
# events of one turn (the write posted by the first must wait for the
# last one's end).
# Skipped without strace, or where it may not attach (ptrace).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IO::Socket::INET;
use Test::More;
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
my ($strace) = grep { -x } map { "$_/strace" } split /:/, $ENV{PATH};
plan skip_all => 'no strace' unless $strace;

$s->start_redis;
$s->start_nginx(config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=w; }
    }
EOC
my $r = $s->redis;
my $prefix = $s->prefix;
my ($pid) = $s->nginx_worker_pids;

# the link is up: a first task is stored
is($s->http(POST => '/tasks', body => '{}')->{status}, 202,
   'the link is up');

# the worker's socket to Redis, by its inode in /proc/net/tcp
my %inode;
for my $fd (glob "/proc/$pid/fd/*") {
    my $l = readlink $fd // next;
    $inode{$1} = (split m{/}, $fd)[-1] if $l =~ /^socket:\[(\d+)\]/;
}
my $rport = sprintf '%04X', $s->redis_port;
my $rfd;
for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
    open my $fh, '<', $f or next;
    while (<$fh>) {
        my @c = split;
        next unless @c > 9 && $c[2] =~ /:$rport$/;
        $rfd = $inode{ $c[9] } if exists $inode{ $c[9] };
    }
}
ok(defined $rfd, 'the worker\'s Redis socket found') or diag explain \%inode;

my $out = $s->dir . '/strace.out';
my $st = $s->spawn('strace', $strace, '-qq', '-e',
                   'trace=epoll_ctl,write,writev,sendfile', '-o', $out,
                   '-p', $pid);
# an enqueue shows a write to the Redis socket once strace is attached
my $stored = 1;
my $attached = wait_for(sub {
    $stored++ if $s->http(POST => '/tasks', body => '{}')->{status} == 202;
    open my $fh, '<', $out or return 0;
    local $/;
    my $t = <$fh> // '';
    return $t =~ /^writev?\(\Q$rfd\E,/m;
}, 20, 0.2);
plan skip_all => 'strace cannot attach here' unless $attached;
ok($attached, 'strace attached (a write to Redis seen)');
my $before = do { open my $fh, '<', $out or die; my @l = <$fh>; scalar @l };

my $ok = 0;
for my $i (1 .. 200) {
    $ok++ if $s->http(POST => '/tasks', body => "{\"n\":$i}")->{status}
             == 202;
}
is($ok, 200, '200 enqueues one after the other: all 202');
my $res = $s->http_parallel([ map { [ POST => '/tasks', body => "{\"p\":$_}" ] }
                              1 .. 100 ], timeout => 60);
is((grep { $_->{status} == 202 } @$res), 100,
   '100 enqueues at once: all 202');

# strace writes its lines as the calls return: the last write is there
# once the count stops moving
my $lines = sub {
    open my $fh, '<', $out or return [];
    my @l = <$fh>;
    return [ @l[$before .. $#l] ];
};
my $n = -1;
wait_for(sub { my $m = @{ $lines->() }; my $same = $m == $n; $n = $m;
               $same }, 10, 0.3);
$s->kill_process($st, 'INT');
my @l = @{ $lines->() };

my $mods = grep { /^epoll_ctl\(\d+, EPOLL_CTL_MOD, \Q$rfd\E,/ } @l;
my $ctl = grep { /^epoll_ctl\(\d+, EPOLL_CTL_\w+, \Q$rfd\E,/ } @l;
my $writes = grep { /^(?:writev?|sendfile)\(\Q$rfd\E,/ } @l;
diag("300 enqueues: $writes writes to Redis, $ctl epoll_ctl on its socket");
# switched per batch it was at least two per write, 600 or more here
cmp_ok($ctl, '<=', 4, "epoll_ctl on the Redis socket: $ctl, not per batch");
is($mods, $ctl, 'none of them adds or removes the socket');
cmp_ok($writes, '>', 0, 'strace saw the writes to Redis');
cmp_ok($writes, '<=', 300, 'not more writes than batches');

# every task answered 202 is stored, with its hash
$stored += 300;
my $entries = $r->xrange("$prefix:q:w:normal");
is(scalar @$entries, $stored, "$stored stream entries, one per 202");
is((grep { $r->cmd('EXISTS', "$prefix:task:$_->[1]{id}") } @$entries),
   $stored, 'each with its task hash');

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

# === clients that send their enqueue and close at once
stop_worker();
my @gone;
for my $i (1 .. 20) {
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $s->port) or die "connect: $!";
    my $body = "{\"gone\":$i}";
    print $c "POST /tasks?w=gone HTTP/1.1\r\nHost: x\r\nContent-Length: "
             . length($body) . "\r\n\r\n$body";
    close $c;
}
kill 'CONT', $pid;
ok(wait_for(sub {
    my $n = () = $s->error_log =~ /client prematurely closed connection/g;
    $n >= 20;
}, 20, 0.1), 'nginx saw the 20 clients go');
# the link still works: a last task behind them is stored
is($s->http(POST => '/tasks', body => '{"last":1}')->{status}, 202,
   'an enqueue after them: 202');
$stored++;
is($r->cmd('XLEN', "$prefix:q:w:normal"), $stored,
   'none of the 20 was stored, the last one was');

# === the same with connections open already (keep-alive): the 20
# requests and ends are then events of one turn, and the link's write,
# posted by the first enqueue of the turn, must still come after every
# client's end was looked at
my @keep;
for my $i (1 .. 20) {
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $s->port) or die "connect: $!";
    print $c "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n";
    push @keep, $c;
}
# each answered (404) and idle in keep-alive
for my $c (@keep) {
    my $head = '';
    while ($head !~ /\r\n\r\n/) {
        sysread($c, $head, 4096, length $head) or last;
    }
    my ($len) = $head =~ /Content-Length: (\d+)/i;
    my $have = length($head) - index($head, "\r\n\r\n") - 4;
    my $rest = ($len // 0) - $have;
    while ($rest > 0) { my $n = sysread($c, my $b, $rest) or last; $rest -= $n }
}
my $gone_before = () = $s->error_log =~ /client prematurely closed connection/g;
stop_worker();
for my $i (0 .. $#keep) {
    my $c = $keep[$i];
    my $body = "{\"kept\":$i}";
    print $c "POST /tasks?w=kept HTTP/1.1\r\nHost: x\r\nContent-Length: "
             . length($body) . "\r\n\r\n$body";
    close $c;
}
kill 'CONT', $pid;
ok(wait_for(sub {
    my $n = () = $s->error_log =~ /client prematurely closed connection/g;
    $n >= $gone_before + 20;
}, 20, 0.1), 'nginx saw the 20 kept-alive clients go');
is($s->http(POST => '/tasks', body => '{"last":2}')->{status}, 202,
   'an enqueue after them: 202');
$stored++;
is($r->cmd('XLEN', "$prefix:q:w:normal"), $stored,
   'none of the 20 kept-alive clients\' tasks was stored');

done_testing;
