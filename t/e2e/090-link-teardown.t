#!/usr/bin/perl
# The Redis link's teardown: a connection attempt that fails
# asynchronously answers its requests 503 at once, and the subrequests
# those answers set going (SSI here) cannot start a new connection that
# hiredis's clean-up of the failed one would then free.  Every page load
# answers promptly, and a reload afterwards finds no connection left open.

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

# A port where nothing listens: every connect is refused.
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                              Listen => 1, ReuseAddr => 1)
    or die "listen: $!";
my $dead = $l->sockport;
close $l;

# A page with two status subrequests.
mkdir $s->dir . '/html';
open my $fh, '>', $s->dir . '/html/page.html' or die "page: $!";
print $fh "<p>\n",
    "<!--# include virtual=\"/status/01a20000-0000-7000-8000-00000000000a\" wait=\"yes\" -->\n",
    "<!--# include virtual=\"/status/01a20000-0000-7000-8000-00000000000b\" -->\n",
    "</p>\n";
close $fh;

my $conf = <<'EOC';
    taskgw_redis 127.0.0.1:%%DEAD%%;
    taskgw_redis_timeout 1s;
    taskgw_redis_backoff 1ms 4ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%SERVROOT%%/html;
        location /page { ssi on; }
        location /status/ { taskgw_status; }
    }
EOC
my %v = (DEAD => $dead);

$s->start_nginx(worker_processes => 1, vars => \%v, config => $conf);

# === TEST 1: every page load answers promptly, both parts 503 JSON
my ($n, $slow, $bad, $max) = (0, 0, 0, 0);
my $t0 = time;
while (time - $t0 < 4 && $n < 300) {
    my $batch = $s->http_parallel([ map { [ GET => '/page.html' ] } 1 .. 2 ],
                                  timeout => 5);
    for my $res (@$batch) {
        $n++;
        $max = $res->{time} if $res->{time} > $max;
        $slow++ if $res->{time} > 0.5;
        my $parts = () = ($res->{body} // '') =~ /"error":"unavailable"/g;
        $bad++ unless $res->{status} == 200 && $parts == 2;
    }
}
cmp_ok($n, '>=', 50, "$n page loads");
is($slow, 0, sprintf('none took more than 0.5 s (slowest %.3f s)', $max));
is($bad, 0, 'each one 200 with both parts 503 "unavailable"');

# === TEST 2: a reload finds no connection left open
my @old = $s->reload_nginx(worker_processes => 1, vars => \%v,
                           config => $conf);
ok(wait_for(sub { !grep { kill 0, $_ } @old }, 10, 0.02),
   'the old worker exited');
my @left = grep { /open socket .* left/ } split /\n/, $s->error_log;
is(scalar @left, 0, 'no "open socket ... left" alert')
    or diag join "\n", @left[0 .. ($#left < 4 ? $#left : 4)];
is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

done_testing();
