#!/usr/bin/perl
# A sentinel that answers SENTINEL get-master-addr-by-name with something
# the link must not follow: a host name (hiredis would resolve it with a
# blocking getaddrinfo() in the nginx worker), a port out of range, a
# huge string, wrong types, an error with a line break in it.  Every
# enqueue is 503 "unavailable", the error log says the address is
# invalid, nginx never connects anywhere from such an answer, never logs
# an alert, and a sentinel's error cannot add a line to the error log;
# once the sentinel answers with the real Redis's IP address and port,
# the next enqueue is 202.
#
# The fake sentinel is a small RESP server (a hostile peer): it answers
# AUTH and PING with +OK/+PONG, SUBSCRIBE with the confirmation, and
# SENTINEL with the reply in the mode file (and AUTH with a forged error
# in mode authforge).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IO::Socket::INET;
use POSIX ();
use Test::More;
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

$s->start_redis;
my $rport = $s->redis_port;

my $mode = $s->dir . '/mode';
my $asked = $s->dir . '/asked';
sub set_mode {
    open my $fh, '>', "$mode.tmp" or die "$mode: $!";
    print $fh $_[0];
    close $fh;
    rename "$mode.tmp", $mode or die "rename: $!";
}
sub slurp { open my $fh, '<', $_[0] or return ''; local $/; <$fh> }
sub nasked { my @l = split /\n/, slurp($asked); scalar @l }

sub bulk { my $v = shift; return '$' . length($v) . "\r\n$v\r\n" }
sub arr  { return '*' . scalar(@_) . "\r\n" . join '', @_ }

my %reply = (
    hostname  => arr(bulk('localhost'), bulk($rport)),
    port0     => arr(bulk('127.0.0.1'), bulk('0')),
    port_big  => arr(bulk('127.0.0.1'), bulk('70000')),
    port_neg  => arr(bulk('127.0.0.1'), bulk('-1')),
    port_text => arr(bulk('127.0.0.1'), bulk('63x79')),
    huge      => arr(bulk('1' x 100000), bulk($rport)),
    ctrl      => arr(bulk("127.0.0.1\r\nx"), bulk($rport)),
    ints      => arr(":1\r\n", ":$rport\r\n"),
    three     => arr(bulk('127.0.0.1'), bulk($rport), bulk('x')),
    nested    => arr(arr(bulk('127.0.0.1')), bulk($rport)),
    nil       => "\$-1\r\n",
    error     => "-ERR " . ('e' x 5000) . "\r\n",
    # an error that would forge a line of the error log
    forge     => "-ERR x\n2026/01/01 00:00:00 [emerg] 1#1: FORGED\r\n",
    good      => arr(bulk('127.0.0.1'), bulk($rport)),
);

my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                              Listen => 128, ReuseAddr => 1)
    or die "listen: $!";
my $sport = $l->sockport;

# one RESP command from $buf (an array of bulk strings), or undef
sub command {
    my ($buf) = @_;
    return undef unless $$buf =~ /\A\*(\d+)\r\n/;
    my ($n, $off, @argv) = ($1, length($&));
    for (1 .. $n) {
        return undef unless substr($$buf, $off) =~ /\A\$(\d+)\r\n/;
        my $len = $1;
        $off += length($&);
        return undef if length($$buf) < $off + $len + 2;
        push @argv, substr($$buf, $off, $len);
        $off += $len + 2;
    }
    substr($$buf, 0, $off, '');
    return \@argv;
}

sub sentinel_conn {
    my ($c) = @_;
    my $buf = '';
    while (sysread($c, $buf, 65536, length $buf)) {
        while (my $cmd = command(\$buf)) {
            my $name = uc $cmd->[0];
            if ($name eq 'SENTINEL') {
                my $m = slurp($mode);
                open my $fh, '>>', $asked or die;
                print $fh "$m\n";
                close $fh;
                syswrite($c, $reply{$m} // $reply{nil});
            } elsif ($name eq 'SUBSCRIBE') {
                syswrite($c, arr(bulk('subscribe'), bulk($cmd->[1]),
                                 ":1\r\n"));
            } elsif ($name eq 'AUTH' && slurp($mode) eq 'authforge') {
                syswrite($c, $reply{forge});
            } elsif ($name eq 'PING') {
                syswrite($c, "+PONG\r\n");
            } else {
                syswrite($c, "+OK\r\n");
            }
        }
    }
    close $c;
}

$s->fork_process('hostile-sentinel', sub {
    $SIG{CHLD} = 'IGNORE';
    while (my $c = $l->accept) {
        my $pid = fork;
        if (defined $pid && $pid == 0) {
            close $l;
            sentinel_conn($c);
            POSIX::_exit(0);
        }
        close $c;
    }
});
close $l;

set_mode('port0');

$s->start_nginx(worker_processes => 1, vars => { SPORT => $sport },
                config => <<'EOC');
    taskgw_redis sentinel=127.0.0.1:%%SPORT%% master=mymaster;
    taskgw_redis_timeout 1s;
    taskgw_redis_backoff 50ms 200ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=default type=system.ping; }
    }
EOC

sub enqueue {
    return $s->http(POST => '/tasks', body => $_[0], timeout => 10,
                    headers => [ 'Content-Type' => 'text/plain' ]);
}

my $i = 0;
for my $m (qw(port0 port_big port_neg port_text huge ctrl ints three
              nested nil error forge hostname))
{
    set_mode($m);
    my $before = nasked();
    my (%st, $bad);
    # the link asks again (backoff) at least twice with this answer
    my $done = wait_for(sub {
        my $res = enqueue("$m " . ++$i);
        $st{$res->{status}}++;
        $bad //= $res unless $res->{status} == 503 && $res->{json}
                     && ($res->{json}{error} // '') eq 'unavailable';
        return nasked() >= $before + 3;
    }, 30, 0.05);
    ok($done, "$m: the sentinel was asked again and again");
    ok(!$bad, "$m: every enqueue is 503 unavailable")
        or diag explain [ \%st, $bad ];
}

like($s->error_log,
     qr/sentinel 127\.0\.0\.1:$sport: gave an invalid address for master "mymaster"/,
     'the error log says the sentinel gave an invalid address');
unlike($s->error_log, qr/^2026\/01\/01 00:00:00 \[emerg\] 1#1: FORGED/m,
       'a sentinel cannot forge a line of the error log');
is(scalar $s->error_log_alerts, 0, 'no alert in the error log')
    or diag join "\n", $s->error_log_alerts;

# === the real address: the link recovers without a reload
set_mode('good');
my $res;
ok(wait_for(sub { $res = enqueue('good'); $res->{status} == 202 }, 30, 0.05),
   'a valid answer: 202') or diag explain $res;

# === a sentinel's AUTH error cannot forge a line of the error log either
set_mode('authforge');
my $s2 = TaskGW::Stack->new;
$s2->start_nginx(worker_processes => 1, vars => { SPORT => $sport },
                 config => <<'EOC');
    taskgw_redis sentinel=127.0.0.1:%%SPORT%% master=mymaster
                 sentinel_password=pw;
    taskgw_redis_timeout 1s;
    taskgw_redis_backoff 50ms 200ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=default type=system.ping; }
    }
EOC
ok(wait_for(sub { $s2->error_log =~ /AUTH failed: ERR x/ }, 30),
   'AUTH refused by the sentinel: logged');
unlike($s2->error_log, qr/^2026\/01\/01 00:00:00 \[emerg\] 1#1: FORGED/m,
       'the AUTH error cannot forge a line of the error log');
is(scalar $s2->error_log_alerts, 0, 'no alert in the error log')
    or diag join "\n", $s2->error_log_alerts;
$s2->stop_nginx;

done_testing;
