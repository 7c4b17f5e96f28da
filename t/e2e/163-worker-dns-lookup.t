#!/usr/bin/perl
# The worker looks up a Redis host name off its event loop: a slow DNS
# server must not hold every running task's timers (here: an exec task's
# timeout, which must still kill its program on time) while the worker
# reconnects.  Before, hiredis's blocking getaddrinfo() held the loop for
# as long as the resolver waited.  A worker stopped during a slow lookup
# exits at once.  Host names keep working: an IPv6-only name, and a name
# with several addresses of which the first refuses.
# See "Connection and identity" in docs/worker-config.md.
#
# glibc asks the name servers /etc/resolv.conf names, which only root may
# change.  So the test runs in namespaces of its own (user, mount and
# network: `unshare -rmn`, no privilege needed where the kernel allows
# them): there its own resolv.conf is mounted over /etc/resolv.conf,
# naming a small DNS server the test runs on 127.0.0.1:53, which answers
# for *.taskgw.test after a delay the test sets.  Redis, the worker and
# that server all run on the namespace's own loopback.  Without such
# namespaces (or `ip`) the test skips.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::INET;
use Socket ();
use POSIX ();
use Time::HiRes qw(time sleep);

BEGIN {
    if (!$ENV{TASKGW_DNS_NETNS}) {
        if (system('unshare -rmn true >/dev/null 2>&1') != 0) {
            plan skip_all => 'no unprivileged user+mount+network namespaces'
                             . ' (unshare -rmn)';
        }
        $ENV{TASKGW_DNS_NETNS} = 1;
        { exec 'unshare', '-rmn', $^X, $0, @ARGV }
        plan skip_all => "cannot run unshare: $!";
    }
    if (system('ip link set lo up >/dev/null 2>&1') != 0) {
        plan skip_all => 'cannot bring up the namespace\'s loopback (ip)';
    }
}

use TaskGW::Stack qw(wait_for);
use TaskGW::Procs qw(alive pid_list);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;
my $dir = $s->dir;

# ---- the name server ----------------------------------------------------

my %zone = (
    'redis.taskgw.test' => { A => ['127.0.0.1'] },
    'v6.taskgw.test'    => { AAAA => ['::1'] },
    'both.taskgw.test'  => { AAAA => ['::1'], A => ['127.0.0.2'] },
    # TEST 5: Redis on the first, a server that never answers on the
    # second (glibc keeps this order: neither is nearer to 127.0.0.1)
    'pair.taskgw.test'  => { A => ['127.0.0.2', '127.0.0.3'] },
);

sub spew {
    my ($f, $t) = @_;
    open my $fh, '>', "$f.tmp" or die "$f: $!";
    print $fh $t;
    close $fh;
    rename "$f.tmp", $f or die "$f: $!";
}

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    return <$fh> // '';
}

spew("$dir/dns-delay", "0\n");

# One reply to query $q (or undef when it is not one), and its name.
sub dns_answer {
    my ($q) = @_;
    return if length($q) < 17;
    my ($id, $flags, $qd) = unpack 'n n n', $q;
    return if $qd != 1 || ($flags & 0x8000);
    my ($pos, @labels) = (12);
    while (1) {
        my $len = ord(substr($q, $pos, 1));
        $pos++;
        last if $len == 0;
        return if $len > 63 || $pos + $len > length $q;
        push @labels, substr($q, $pos, $len);
        $pos += $len;
    }
    return if $pos + 4 > length $q;
    my ($type, $class) = unpack 'n n', substr($q, $pos, 4);
    my $question = substr($q, 12, $pos + 4 - 12);
    my $name = lc join '.', @labels;
    my $rec = $zone{$name};
    my @an;
    if ($rec && $type == 1) {
        @an = map { pack('n n n N n', 0xc00c, 1, 1, 1, 4)
                    . pack('C4', split /\./) } @{ $rec->{A} // [] };
    } elsif ($rec && $type == 28) {
        @an = map { pack('n n n N n', 0xc00c, 28, 1, 1, 16)
                    . Socket::inet_pton(Socket::AF_INET6(), $_) }
              @{ $rec->{AAAA} // [] };
    }
    my $rcode = $rec ? 0 : 3;       # NXDOMAIN for what is not ours
    my $reply = pack('n n n n n n', $id, 0x8180 | $rcode, 1, scalar(@an),
                     0, 0) . $question . join('', @an);
    return ($reply, $name, $type);
}

my $dns = $s->fork_process('dns', sub {
    my $sock = IO::Socket::INET->new(Proto => 'udp',
                                     LocalAddr => '127.0.0.1:53')
        or die "dns: bind 127.0.0.1:53: $!";
    my @due;
    while (1) {
        my $wait = @due ? $due[0][0] - time : 1;
        $wait = 0 if $wait < 0;
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        if (select(my $rout = $rin, undef, undef, $wait) > 0) {
            my $peer = recv($sock, my $q, 4096, 0);
            my ($reply, $name, $type) = dns_answer($q);
            if (defined $peer && defined $reply) {
                my $delay = (slurp("$dir/dns-delay") =~ /(\d+)/)[0] // 0;
                open my $log, '>>', "$dir/dns-queries";
                printf $log "%.3f %s %d delay=%d\n", time, $name, $type,
                       $delay;
                close $log;
                @due = sort { $a->[0] <=> $b->[0] }
                       @due, [time + $delay, $peer, $reply];
            }
        }
        while (@due && $due[0][0] <= time) {
            my $d = shift @due;
            send($sock, $d->[2], 0, $d->[1]);
        }
    }
});

spew("$dir/resolv.conf", "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n");
system('mount', '--bind', "$dir/resolv.conf", '/etc/resolv.conf') == 0
    or plan skip_all => 'cannot mount over /etc/resolv.conf';

# The system's resolver must be the one asked (hosts: files dns).
sub lookup {
    my ($name) = @_;
    my ($err, @res) = Socket::getaddrinfo($name, '',
                                          { socktype => Socket::SOCK_STREAM() });
    return '' if $err || !@res;
    my ($e, $ip) = Socket::getnameinfo($res[0]{addr}, Socket::NI_NUMERICHOST());
    return $ip // '';
}
my $got = '';
wait_for(sub { ($got = lookup('redis.taskgw.test')) eq '127.0.0.1' }, 10, 0.1);
plan skip_all => 'getaddrinfo does not ask the name server of'
                 . " /etc/resolv.conf (nsswitch.conf): got '$got'"
    unless $got eq '127.0.0.1';

sub queries_after {
    my ($t0, $name) = @_;
    return grep { /^(\S+) \Q$name\E / && $1 >= $t0 }
           split /\n/, slurp("$dir/dns-queries");
}

# ---- TEST 1: a slow lookup while a task runs ------------------------------

my $port = $s->start_redis;
my $t = TaskGW::Tasks->new($s);

# a first attempt records its pid and a grandchild's, then waits on the
# grandchild for 60 s; a later attempt ends at once
my $hang = $t->script('hang', <<"EOS");
cat > /dev/null
if [ "\$TASKGW_ATTEMPT" = 1 ]; then
    sleep 60 &
    echo "\$\$ \$!" >> $dir/pids
    wait
fi
echo '"done"'
EOS

sub pids { pid_list("$dir/pids") }
END { kill 'KILL', pids() if defined $dir }

my %conf = (
    redis       => "redis.taskgw.test:$port",
    concurrency => 2,
    retry       => { max_attempts => 3, base => '100ms', cap => '300ms' },
    handlers    => { hang => { exec => [$hang], timeout => '3s' },
                     echo => { builtin => 'echo' } },
);

my $w = $s->start_worker(\%conf);
ok(wait_for(sub { $s->worker_log($w) =~ /redis_up conn=cmd/
                  && $s->worker_log($w) =~ /redis_up conn=read/ }, 20),
   'the worker connects to Redis by its host name')
    or diag $s->worker_log($w);
ok(scalar(queries_after(0, 'redis.taskgw.test')),
   'looked up at our name server');

my $id = $t->enqueue('hang');
ok(wait_for(sub { (() = pids()) == 2 }, 20), 'the task runs, with a grandchild')
    or diag $s->worker_log($w);
my $t0 = time;                      # its timeout is due 3 s after its start
my @p = pids();

# lookups take 20 s from now on; Redis drops the worker's connections,
# so the worker reconnects
spew("$dir/dns-delay", "20\n");
my $t1 = time;
ok($t->redis->cmd('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes') >= 2,
   'Redis closed the worker\'s connections');
ok(wait_for(sub { scalar queries_after($t1, 'redis.taskgw.test') }, 10),
   'the worker looks the name up again to reconnect')
    or diag $s->worker_log($w);
ok(wait_for(sub { !grep { alive($_) } @p }, 30),
   'the task\'s timeout killed its program and the program\'s child');
my $took = time - $t0;
ok($took < 12, sprintf('on time, during the 20 s lookup (%.1f s after the'
                       . ' start, timeout 3 s)', $took))
    or diag $s->worker_log($w);

# lookups are quick again: the worker reconnects, the task is retried
spew("$dir/dns-delay", "0\n");
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 60),
   'once the lookups answer, the worker reconnects and the task succeeds')
    or diag $s->worker_log($w);
is($t->field($id, 'attempts'), 2, 'on its second attempt');
like($s->worker_log($w), qr/task_failed.*timeout after 3s/,
     'the first attempt ended on its timeout');
is($s->stop_worker($w), 0, 'the worker exits 0');

# ---- TEST 2: stopped during a lookup -----------------------------------
# A worker asked to stop while it looks its Redis name up (here at its
# start, the name server answering after 60 s) exits at once: it does not
# wait for the resolver.  Before, it logged its exit and then stayed until
# the lookup ended.

spew("$dir/dns-delay", "60\n");
my $t2 = time;
my $w1 = $s->start_worker({ %conf, redis => "redis.taskgw.test:$port" });
ok(wait_for(sub { scalar queries_after($t2, 'redis.taskgw.test') }, 10),
   'the worker asks the name server')
    or diag $s->worker_log($w1);
$t2 = time;
is($s->stop_worker($w1, timeout => 30), 0,
   'stopped during the lookup, the worker exits 0');
my $stop = time - $t2;
ok($stop < 10, sprintf('without waiting for the 60 s lookup (%.1f s)',
                       $stop));
spew("$dir/dns-delay", "0\n");

# ---- TEST 3: an IPv6-only name; a name whose first address refuses --------

$s->stop_redis;
$s->start_redis(args => ['--bind', '127.0.0.1', '::1']);
$t = TaskGW::Tasks->new($s);
my $w2 = $s->start_worker({ %conf, redis => "v6.taskgw.test:$port" });
$id = $t->enqueue('echo', payload => '"six"');
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 30),
   'a name with only an IPv6 address (::1) works')
    or diag $s->worker_log($w2);
like(join("\n", $s->redis->cmd('CLIENT', 'LIST')), qr/addr=\[?::1\]?:\d+/,
     'connected over IPv6');
is($s->stop_worker($w2), 0, 'that worker exits 0');

# 127.0.0.2, the name's IPv4 address and the first tried, is refused
# (Redis listens on 127.0.0.1 and ::1): its IPv6 address is connected to
my $w3 = $s->start_worker({ %conf, redis => "both.taskgw.test:$port" });
$id = $t->enqueue('echo', payload => '"both"');
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 30),
   'a name with 127.0.0.2 (refused) and ::1: connected to the second')
    or diag $s->worker_log($w3);
is($s->stop_worker($w3), 0, 'that worker exits 0');

# ---- TEST 4: sentinels by host name ------------------------------------

my @workers = ($w, $w1, $w2, $w3);
SKIP: {
    skip 'redis-sentinel is not installed', 4
        unless grep { -x "$_/redis-sentinel" } split /:/, $ENV{PATH};
    require TaskGW::HA;
    my $ha = TaskGW::HA->new($s);
    my $t4 = time;
    my %c4 = %conf;
    delete $c4{redis};
    my $w4 = $s->start_worker({ %c4,
        sentinel => [ map { "redis.taskgw.test:$_" } $ha->sentinel_ports ],
        master => $ha->master_name });
    push @workers, $w4;
    my $mt = TaskGW::Tasks->new($s);
    $mt->{r} = TaskGW::Stack::Redis->new($ha->master_port, 2);
    $id = $mt->enqueue('echo', payload => '"ha"');
    ok(wait_for(sub { $mt->status($id) eq 'succeeded' }, 30),
       'a worker given its sentinels by host name runs tasks')
        or diag $s->worker_log($w4) . $ha->report;
    ok(scalar(queries_after($t4, 'redis.taskgw.test')),
       'the sentinels\' name was looked up at our name server');
    like($s->worker_log($w4), qr/redis_master /, 'the master was found');
    is($s->stop_worker($w4), 0, 'that worker exits 0');
    $ha->stop;
}

# ---- TEST 5: a reconnect tries first the address that worked --------------
# pair.taskgw.test has two addresses: Redis listens on the first,
# 127.0.0.2; on the second, 127.0.0.3, a server accepts connections and
# never answers (a host that hangs).  The worker connects to the first.
# When Redis drops its connections, the worker's reconnects go to that
# same address again: none reaches the silent server.  Before, the
# reconnect after a lost connection began at the next address (the
# count of failures in a row, 1 after the loss), and each connection
# spent redis_timeout on the silent server before coming back.

$s->stop_redis;
$s->start_redis(args => ['--bind', '127.0.0.1', '127.0.0.2']);
$t = TaskGW::Tasks->new($s);
spew("$dir/silent-accepts", '');
my $silent = $s->fork_process('silent', sub {
    my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.3:$port",
                                  Listen => 16, ReuseAddr => 1)
        or die "silent: listen 127.0.0.3:$port: $!";
    my @held;
    while (my $c = $l->accept) {
        push @held, $c;             # kept open, never read nor answered
        open my $log, '>>', "$dir/silent-accepts";
        printf $log "%.3f\n", time;
        close $log;
    }
});
ok(wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.3:$port") },
            10), 'the silent server listens on 127.0.0.3');
sub silent_accepts { slurp("$dir/silent-accepts") =~ tr/\n// }
my $w5 = $s->start_worker({ %conf, redis => "pair.taskgw.test:$port",
                            redis_timeout => '2s' });
push @workers, $w5;
sub ups {
    my ($role) = @_;
    return () = $s->worker_log($w5) =~ /redis_up conn=\Q$role\E\b/g;
}
ok(wait_for(sub { ups('cmd') >= 1 && ups('read') >= 1 }, 30),
   'the worker connects by the name')
    or diag $s->worker_log($w5);
my $before = silent_accepts();
ok($t->redis->cmd('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes') >= 2,
   'Redis closed the worker\'s connections');
ok(wait_for(sub { ups('cmd') >= 2 && ups('read') >= 2 }, 30),
   'the worker reconnects')
    or diag $s->worker_log($w5);
my $after = silent_accepts();
is($after - $before, 0,
   'no reconnect went to the silent address (the one that worked is'
   . ' tried first)')
    or diag $s->worker_log($w5);
$id = $t->enqueue('echo', payload => '"pair"');
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 30),
   'tasks run after the reconnect')
    or diag $s->worker_log($w5);
is($s->stop_worker($w5), 0, 'that worker exits 0');
$s->kill_process($silent);

for my $x (@workers) {
    unlike($s->worker_log($x), qr/AddressSanitizer|runtime error/,
           "worker $x->{n}: no sanitizer report");
}
$s->kill_process($dns);

done_testing();
