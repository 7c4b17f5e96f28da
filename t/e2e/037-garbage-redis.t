#!/usr/bin/perl
# A "Redis" that answers garbage (bytes that are not RESP, lengths that
# overflow, replies cut short): every enqueue is 503 "unavailable" with the
# JSON error, nginx neither crashes nor logs an alert, and once the address
# leads to a real Redis again the link recovers without a reload.
#
# The fake server answers each new connection with the next kind of
# garbage in turn, for as long as the mode file says "garbage": in a first
# round from the first reply on (the link's setup), in a second round
# after answering the setup's PING properly (so the garbage is the reply
# to an enqueue).  Then it forwards every new connection to the real
# Redis of the stack.  The link's reply objects come from a free list of
# its own: the half-built replies the garbage leaves are handed back to
# it, and used again once the link recovers.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

$s->start_redis;
my $rport = $s->redis_port;

# what the fake server answers, one kind per connection
my @garbage = (
    "garbage\r\n",                          # no RESP type byte
    "\$99999999999999999999999\r\n",        # bulk length overflows
    ":12x\r\n",                             # not an integer
    "*-7\r\n",                              # negative array length
    "\x00\xff\xfe\xfd\r\n",                 # binary noise
    "\$5\r\nab",                            # bulk cut short, then closed
    "*2\r\n:1\r\n%%%%\r\n",                 # bad element inside an array
    "+OK",                                  # no CRLF, then closed
    ("*1\r\n" x 5000) . ":1\r\n",           # absurdly deep nesting
    # half-built replies freed with the context: more elements than an
    # object holds inside, a string longer than it holds, then cut short
    "*9\r\n:1\r\n\$60\r\n" . ('x' x 60) . "\r\n:3\r\n\$10\r\nabc",
    # a bad element in a nested array after a long string
    "*3\r\n\$60\r\n" . ('y' x 60) . "\r\n*8\r\n:1\r\n%%\r\n",
);

my $mode = $s->dir . '/mode';
my $accepts = $s->dir . '/accepts';
sub set_mode {
    open my $fh, '>', "$mode.tmp" or die "$mode: $!";
    print $fh $_[0];
    close $fh;
    rename "$mode.tmp", $mode or die "rename: $!";
}
sub mode { open my $fh, '<', $mode or return ''; local $/; <$fh> }
sub naccepts { open my $fh, '<', $accepts or return 0; my @l = <$fh>; scalar @l }
set_mode('garbage');

my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                              Listen => 128, ReuseAddr => 1)
    or die "listen: $!";
my $fport = $l->sockport;

# One child per connection (the server's process group is killed as a
# whole when the test ends).
sub garbage_conn {
    my ($c, $g, $pong) = @_;
    # answer whatever arrives with the garbage; cut-short kinds close
    while (sysread($c, my $buf, 65536)) {
        if ($pong && $buf =~ /^\*1\r\n\$4\r\nPING\r\n\z/) {
            syswrite($c, "+PONG\r\n");
            next;
        }
        syswrite($c, $g);
        last if $g !~ /\r\n\z/;
    }
    close $c;
}
sub proxy_conn {
    my ($c) = @_;
    my $r = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $rport) or return;
    my $sel = IO::Select->new($c, $r);
    while (my @ready = $sel->can_read) {
        for my $fh (@ready) {
            my $n = sysread($fh, my $buf, 65536);
            return unless $n;
            syswrite($fh == $c ? $r : $c, $buf) or return;
        }
    }
}
$s->fork_process('garbage-redis', sub {
    $SIG{CHLD} = 'IGNORE';
    my $n = 0;
    while (my $c = $l->accept) {
        my $g = $garbage[$n % @garbage];
        my $pong = $n++ >= @garbage;
        my $m = mode();
        open my $fh, '>>', $accepts or die;
        print $fh "$m\n";
        close $fh;
        my $pid = fork;
        if (defined $pid && $pid == 0) {
            close $l;
            $m eq 'proxy' ? proxy_conn($c) : garbage_conn($c, $g, $pong);
            POSIX::_exit(0);
        }
        close $c;
    }
});
close $l;

$s->start_nginx(worker_processes => 1, vars => { FAKE_PORT => $fport },
                config => <<'EOC');
    taskgw_redis 127.0.0.1:%%FAKE_PORT%%;
    taskgw_redis_timeout 500ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=default type=system.ping; }
    }
EOC
my @workers = $s->nginx_worker_pids;
my $prefix = $s->prefix;

sub enqueue {
    return $s->http(POST => '/tasks', body => $_[0], timeout => 10,
                    headers => [ 'Content-Type' => 'text/plain' ]);
}

# === TEST 1: every kind of garbage: 503 unavailable, JSON, quickly
my (%status, $bad, $slow, $i);
my $all = wait_for(sub {
    my $res = enqueue('g' . ++$i);
    $status{$res->{status}}++;
    $bad //= $res if $res->{status} != 503
                     || ($res->{json} && $res->{json}{error} // '')
                        ne 'unavailable';
    $slow //= $res if $res->{time} > 3;
    return naccepts() > 2 * @garbage;
}, 90, 0.05);
ok($all, 'nginx connected again after each kind of garbage ('
         . naccepts() . ' connections)');
is_deeply([ keys %status ], [ 503 ], "$i enqueues against garbage: all 503")
    or diag explain \%status;
ok(!$bad, 'each one the JSON error "unavailable"') or diag explain $bad;
ok(!$slow, 'each answered within 3 s') or diag explain $slow;
is_deeply([ $s->nginx_worker_pids ], \@workers,
          'the nginx worker survived every kind');
is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');
like($s->error_log, qr/Protocol error/, 'the garbage reached the RESP parser');

# === TEST 2: a real Redis behind the address again: the link recovers
set_mode('proxy');
my $res;
ok(wait_for(sub { ($res = enqueue('back'))->{status} == 202 }, 20, 0.1),
   'a real Redis again: 202 without a reload')
    or diag explain $res;
my $id = $res->{json} && $res->{json}{id};
is($s->redis->cmd('HGET', "$prefix:task:" . ($id // ''), 'status'),
   'queued', 'the task is stored in the real Redis');
is(enqueue('and again')->{status}, 202, 'and the next enqueue too');
is_deeply([ $s->nginx_worker_pids ], \@workers, 'same nginx worker');
is_deeply([ $s->error_log_alerts ], [], 'still no alert or crash');

done_testing();
