#!/usr/bin/perl
# The Redis link's teardown: a connection that fails asynchronously (a
# refused connect, or an AUTH that Redis refuses) answers its requests 503
# at once, and the subrequests those answers set going (the next include of
# an SSI page) cannot start a new connection that hiredis's clean-up of the
# failed one would then free.  Every page load answers promptly, and a
# reload afterwards finds no connection left open.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

# A port where nothing listens: every connect is refused.
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                              Listen => 1, ReuseAddr => 1)
    or die "listen: $!";
my $dead = $l->sockport;
close $l;

# A page with two status subrequests, the second one made once the first
# is answered: it comes while the failed connection is being torn down.
my $id = '01a20000-0000-7000-8000-00000000000';
mkdir $s->dir . '/html';
open my $fh, '>', $s->dir . '/html/page.html' or die "page: $!";
print $fh "<p>\n",
    "<!--# include virtual=\"/status/${id}a\" wait=\"yes\" -->\n",
    "<!--# include virtual=\"/status/${id}b\" -->\n",
    "</p>\n";
close $fh;

# A server that refuses AUTH, 20 ms after it is asked: the failure comes
# later than the backoff minimum, every time.
my $l2 = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                               Listen => 128, ReuseAddr => 1)
    or die "listen: $!";
my $refuser = $l2->sockport;
$s->fork_process('auth-refuser', sub {
    $SIG{CHLD} = 'IGNORE';
    while (my $c = $l2->accept) {
        next if fork;
        my $buf = '';
        while (sysread($c, $buf, 4096, length $buf)) {
            next unless $buf =~ /AUTH/;
            sleep 0.02;
            syswrite($c, "-WRONGPASS invalid username-password pair\r\n");
            $buf = '';
        }
        POSIX::_exit(0);
    }
});
close $l2;

my $conf = <<'EOC';
    taskgw_redis 127.0.0.1:%%R%% %%AUTH%%;
    taskgw_redis_timeout 5s;
    taskgw_redis_backoff 1ms 4ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%SERVROOT%%/html;
        location /page { ssi on; }
        location /status/ { taskgw_status; }
    }
EOC

# The defect this guards against stalled a page until the command timeout
# (5 s): a page slower than half of it is one.  Loads go on for 3 s, and
# on a busy machine for as long as it takes to make 40 of them.
sub pages {
    my ($what) = @_;
    my ($n, $slow, $bad, $max) = (0, 0, 0, 0);
    my $t0 = time;
    while ((time - $t0 < 3 || $n < 40) && $n < 200 && time - $t0 < 60) {
        my $batch = $s->http_parallel([ map { [ GET => '/page.html' ] }
                                        1 .. 4 ], timeout => 15);
        for my $res (@$batch) {
            $n++;
            $max = $res->{time} if $res->{time} > $max;
            $slow++ if $res->{time} > 2.5;
            my $parts = () = ($res->{body} // '') =~ /"error":"unavailable"/g;
            $bad++ unless $res->{status} == 200 && $parts == 2;
        }
    }
    cmp_ok($n, '>=', 40, "$what: $n page loads");
    is($slow, 0, sprintf('%s: none took more than 2.5 s (slowest %.3f s)',
                         $what, $max));
    is($bad, 0, "$what: each one 200 with both parts 503 \"unavailable\"");
}

sub reload_clean {
    my ($what, %v) = @_;
    my @old = $s->reload_nginx(worker_processes => 1, vars => \%v,
                               config => $conf);
    ok(wait_for(sub { !grep { kill 0, $_ } @old }, 10, 0.02),
       "$what: the old worker exited");
    my @left = grep { /open socket .* left/ } split /\n/, $s->error_log;
    is(scalar @left, 0, "$what: no \"open socket ... left\" alert")
        or diag join "\n", @left[0 .. ($#left < 4 ? $#left : 4)];
    is_deeply([ $s->error_log_alerts ], [],
              "$what: no alert or crash in the error log");
}

# === TEST 1: Redis's port closed: every connect refused
my %v = (R => $dead, AUTH => '');
$s->start_nginx(worker_processes => 1, vars => \%v, config => $conf);
pages('port closed');

# === TEST 2: a reload finds no connection left open
reload_clean('port closed', %v);

# === TEST 3: AUTH refused after 20 ms
%v = (R => $refuser, AUTH => 'password=secret');
reload_clean('onto the AUTH refuser', %v);
pages('AUTH refused');
like($s->error_log, qr/AUTH failed: WRONGPASS/, 'the refusal is logged');

# === TEST 4: a reload finds no connection left open
reload_clean('AUTH refused', %v);

done_testing();
