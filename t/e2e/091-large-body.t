#!/usr/bin/perl
# A large body on the shared Redis link (taskgw_max_payload):
# a 40 MB task costs the nginx worker CPU time linear in its size, and the
# small enqueues that share the worker's one Redis connection while it is
# written keep getting 202 quickly; the command timeout does not fire while
# the big write is still flowing.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for json_decode);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

my $prefix = $s->prefix;
my $MB = 1024 * 1024;
my $BIG = 40 * $MB;

$s->start_redis;

# A slower path to the same Redis, as across a network: a relay that moves
# at most 64 KB per read each way, and toward Redis 64 KB per 5 ms.  A
# 40 MB command then takes seconds to go out, in many partial writes,
# much longer than the command timeout, but it flows all along.
my $lr = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                               Listen => 16, ReuseAddr => 1)
    or die "listen: $!";
my $relay = $lr->sockport;
$s->fork_process('relay', sub {
    $SIG{CHLD} = 'IGNORE';
    while (my $c = $lr->accept) {
        next if fork;
        my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $s->redis_port)
            or POSIX::_exit(1);
        my %peer = (fileno $c => $u, fileno $u => $c);
        my $sel = IO::Select->new($c, $u);
        while (my @r = $sel->can_read) {
            for my $from (@r) {
                my $n = sysread($from, my $buf, 65536);
                POSIX::_exit(0) unless $n;
                my $to = $peer{fileno $from};
                for (my $off = 0; $off < $n; ) {
                    my $w = syswrite($to, $buf, $n - $off, $off);
                    POSIX::_exit(0) unless defined $w;
                    $off += $w;
                }
                sleep 0.005 if $to == $u;
            }
        }
        POSIX::_exit(0);
    }
});
close $lr;

my $conf = <<'EOC';
    taskgw_redis 127.0.0.1:%%R%%;
    taskgw_redis_timeout %%T%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 64m;
        taskgw_max_payload 48m;
        location /tasks { taskgw_enqueue queue=default type=system.ping; }
    }
EOC

my $worker;

sub nginx_to {
    my ($port, $timeout) = @_;
    $s->stop_nginx if $s->nginx_running;
    $s->start_nginx(worker_processes => 1,
                    vars => { R => $port, T => $timeout }, config => $conf);
    ($worker) = $s->nginx_worker_pids;
    is($s->http(POST => '/tasks', body => 'warm')->{status}, 202,
       "link up through port $port");
}

my $r = $s->redis;

# CPU seconds (user + system) the nginx worker has used so far.
my $tick = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
sub cpu {
    open my $fh, '<', "/proc/$worker/stat" or return 0;
    my @f = split ' ', (split /\) /, scalar <$fh>, 2)[1];
    return ($f[11] + $f[12]) / $tick;
}

# 1 KB of every byte value, repeated: binary-safe and recognisable.
my $block = join '', map { chr($_ % 256) } 0 .. 1023;
my $body = $block x ($BIG / 1024);

# The big request in a helper process: it notes when the client has
# written the whole body (from then on the body is nginx's to store), and
# its result lands in a file.
sub big_request {
    my $out = $s->dir . '/big.json';
    unlink $out, "$out.sent";
    $s->fork_process('big-request', sub {
        my $h = $s->http_send(POST => '/tasks', body => $body, timeout => 60,
                              headers => [ 'Content-Type' => 'x/bin' ]);
        open my $fh, '>', "$out.sent" or die;
        print $fh time;
        close $fh;
        my $res = $s->http_recv($h);
        open $fh, '>', "$out.tmp" or die;
        print $fh JSON::PP->new->encode({ status => $res->{status},
                                          time => $res->{time},
                                          id => $res->{json}
                                                && $res->{json}{id} });
        close $fh;
        rename "$out.tmp", $out;
    });
    return (sub {
        return undef unless -f $out;
        open my $fh, '<', $out or return undef;
        local $/;
        return json_decode(scalar <$fh>);
    }, sub {
        open my $fh, '<', "$out.sent" or return undef;
        return scalar <$fh>;
    });
}

sub stored_ok {
    my ($big, $what) = @_;
    is($big->{status}, 202, "$what: the 40 MB task is accepted")
        or diag explain $big;
    my $id = $big->{id} // '';
    is($r->cmd('HSTRLEN', "$prefix:task:$id", 'payload'), $BIG,
       "$what: its whole payload is stored");
    is($r->cmd('EVAL', "return redis.sha1hex(redis.call('HGET', KEYS[1],"
                       . " 'payload'))", 1, "$prefix:task:$id"),
       Digest_sha1($body), "$what: byte for byte");
}

sub Digest_sha1 {
    require Digest::SHA;
    return Digest::SHA::sha1_hex($_[0]);
}

# The 40 MB body with no other traffic: time and CPU of the nginx worker.
# (ASan's instrumented copies cost more: a wider bound under it.)
my $cpu_max = $ENV{TASKGW_SAN} ? 0.75 : 0.25;
my ($done, $big);
sub alone {
    my ($what) = @_;
    my $c0 = cpu();
    ($done) = big_request();
    $big = wait_for($done, 60, 0.01);
    my $cpu = cpu() - $c0;
    stored_ok($big, $what);
    diag(sprintf('40 MB enqueue, %s: %.3f s, nginx worker CPU %.2f s',
                 $what, $big->{time} // -1, $cpu));
    cmp_ok($cpu, '<', $cpu_max, "$what: worker CPU for 40 MB under "
                                . "$cpu_max s");
}

# The command timeout of the direct link: generous, because the timeout
# counts from the link's last progress and Redis makes none while it runs
# the 40 MB command, which on a busy machine (under ASan, with other
# builds) has been seen to take over 300 ms.
my $direct_timeout = '3s';

# === TEST 1: straight to Redis
nginx_to($s->redis_port, $direct_timeout);
alone('straight to Redis');

# === TEST 2: over the slower path, in many partial writes: the cost stays
# linear, and a 2 s command timeout does not fire while the command flows
# (the relay needs at least 3.2 s for 40 MB: 640 pieces of 64 KB, 5 ms
# apart)
nginx_to($relay, '2s');
my $t_relay = time;
alone('over a slow relay');
cmp_ok(time - $t_relay, '>', 2, 'the write over the relay outlasted the '
                                . 'command timeout');
nginx_to($s->redis_port, $direct_timeout);

# === TEST 3: small enqueues while a 40 MB body goes through the same link
# An open loop of small enqueues, one every 10 ms whether the earlier ones
# were answered or not (so a stall delays every request due during it),
# from 0.3 s before the big request starts until 0.3 s after it is
# answered.  Those sent once the client had written the whole body (from
# then on nginx stores it in Redis) queue behind the big command on the
# worker's one Redis connection: they are also shown apart.
# A round is about half a second of traffic; other processes on a busy
# machine can steal a scheduler slice or two from it, so the latency bound
# is taken from the best of up to three rounds, while every round must get
# every request a 202.
sub shared_round {
    my (@lat, @link, @status, $sent_at, $done_sub, $sent_sub, $t_end);
    my (@open, $next);
    my $t0 = time;
    $next = $t0;
    while (1) {
        my $now = time;
        if ($now >= $next && (!$t_end || $now < $t_end + 0.3)) {
            my $h = TaskGW::Stack::request_send(POST => '/tasks',
                                                port => $s->port, timeout => 10,
                                                body => '{"small":1}');
            $sent_at //= $sent_sub && $sent_sub->();
            $h->{link} = $sent_at && !$t_end;
            push @open, $h;
            $next += 0.01;
        }
        if (!$done_sub && $now >= $t0 + 0.3) {
            ($done_sub, $sent_sub) = big_request();
            $done = $done_sub;
        }
        if ($done_sub && !$t_end && ($big = $done->())) {
            $t_end = time;
        }
        last if ($t_end && time >= $t_end + 0.3 && !@open) || time - $t0 > 60;
        my $rin = '';
        vec($rin, fileno $_->{sock}, 1) = 1 for grep { $_->{sock} } @open;
        my $wait = $next - time;
        select(my $rout = $rin, undef, undef, $wait > 0 ? $wait : 0);
        my @still;
        for my $h (@open) {
            TaskGW::Stack::_http_read($h)
                if $h->{sock} && vec($rout, fileno $h->{sock}, 1);
            if ($h->{eof} || $h->{error} || !$h->{sock}) {
                my $res = TaskGW::Stack::request_recv($h);
                push @status, $res->{status};
                push @lat, $res->{time};
                push @link, $res->{time} if $h->{link};
            } else {
                push @still, $h;
            }
        }
        @open = @still;
    }
    my @sorted = sort { $a <=> $b } @lat;
    my $p99 = @sorted ? $sorted[int(0.99 * $#sorted)] : 9;
    my @lsorted = sort { $a <=> $b } @link;
    diag(sprintf('%d small enqueues around the 40 MB one (%.3f s): p50 %.1f ms, '
                 . 'p99 %.1f ms, max %.1f ms; %d of them while it went to '
                 . 'Redis: max %.1f ms', scalar @sorted, $big->{time} // -1,
                 1000 * ($sorted[int(0.5 * $#sorted)] // 0), 1000 * $p99,
                 1000 * ($sorted[-1] // 0), scalar @lsorted,
                 1000 * ($lsorted[-1] // 0)));
    return ($p99, \@lat, \@status);
}

# The small requests that queue behind the big command wait, at least,
# for Redis to read and run 40 MB: on an idle machine that is a few tens
# of milliseconds and the bound is 100 ms, but on a busy one it is
# several times more whatever nginx does.  So each round first measures
# that floor, the same 40 MB written by this test straight to Redis as one
# ready-made HSET (the time to write it and get the reply, median of 3),
# and the round's bound is 100 ms or twice the floor, whichever is
# larger (measured under load: the p99 came to 0.5 to 1.6 times the
# floor); a stall in nginx (a write that shifts its buffer, a blocked
# worker) costs far more than that.
sub direct_floor {
    my @t;
    my $sock = $r->{sock};
    for my $i (1 .. 3) {
        # a new key each time, as an enqueue writes one
        my $k = "$prefix:floor:$i";
        my $cmd = "*4\r\n\$4\r\nHSET\r\n\$" . length($k) . "\r\n$k\r\n"
                . "\$7\r\npayload\r\n\$" . length($body) . "\r\n";
        my $t0 = time;
        for my $part ($cmd, $body, "\r\n") {
            for (my $off = 0; $off < length $part; ) {
                my $n = syswrite($sock, $part, length($part) - $off, $off);
                die "redis write: $!" unless defined $n;
                $off += $n;
            }
        }
        $r->_reply;
        push @t, time - $t0;
    }
    $r->cmd('DEL', map { "$prefix:floor:$_" } 1 .. 3);
    return (sort { $a <=> $b } @t)[1];
}

my ($best, $best_bound) = (9, 0.1);
for my $round (1 .. 3) {
    my $floor = direct_floor();
    my $bound = 2 * $floor > 0.1 ? 2 * $floor : 0.1;
    my ($p99, $lat, $status) = shared_round();
    diag(sprintf('round %d: 40 MB straight to Redis %.1f ms, bound %.1f ms',
                 $round, 1000 * $floor, 1000 * $bound));
    stored_ok($big, "shared, round $round");
    cmp_ok(scalar @$lat, '>=', 20,
           "round $round: small requests ran while the big one did");
    is(scalar(grep { $_ != 202 } @$status), 0,
       "round $round: " . scalar(@$status) . ' small requests, every one 202')
        or diag 'not 202: ' . join ' ', grep { $_ != 202 } @$status;
    ($best, $best_bound) = ($p99, $bound) if $p99 / $bound < $best / $best_bound;
    last if $best < $best_bound;
}
cmp_ok($best, '<', $best_bound,
       sprintf('small requests: p99 under %.0f ms (best round)',
               1000 * $best_bound));

is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

done_testing();
