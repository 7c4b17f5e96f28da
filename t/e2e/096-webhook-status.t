#!/usr/bin/perl
# The webhook status write is not sent once and forgotten: when Redis is
# away at the moment a delivery ends, webhook_status is written once Redis
# is back, instead of staying "pending" for a delivery that succeeded.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $dir = $s->dir;
$s->start_redis;
my $r = $s->redis;

# A webhook receiver that notes each POST in $dir/posted and answers 200
# only once $dir/go exists.
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                   Listen => 16, ReuseAddr => 1)
    or die "listen: $!";
my $hook_port = $listen->sockport;
$s->fork_process('hook', sub {
    while (my $c = $listen->accept) {
        my $req = '';
        while ($req !~ /\r\n\r\n/s) {
            sysread($c, my $chunk, 65536) or last;
            $req .= $chunk;
        }
        my ($len) = $req =~ /^content-length:\s*(\d+)/mi;
        my ($head, $body) = split /\r\n\r\n/, $req, 2;
        while (length($body // '') < ($len // 0)) {
            sysread($c, my $chunk, 65536) or last;
            $body .= $chunk;
        }
        open my $fh, '>>', "$dir/posted" or die;
        print $fh "post\n";
        close $fh;
        sleep 0.05 until -e "$dir/go";
        syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                     . "Connection: close\r\n\r\n");
        close $c;
    }
});
close $listen;

my $w = $s->start_worker({
    concurrency   => 2,
    redis_timeout => '300ms',
    redis_backoff => { min => '50ms', max => '200ms' },
    handlers      => { 'system.ping' => { builtin => 'ping' } },
    webhook       => { url => "http://127.0.0.1:$hook_port/hook",
                       allow_private => JSON::PP::true(),
                       timeout => '30s', schedule => ['100ms'] },
});

my $id = '01900000-0000-7000-8000-000000000001';
$r->cmd('HSET', "$prefix:task:$id", id => $id, queue => 'default',
        type => 'system.ping', priority => 'normal', status => 'queued',
        payload => '', owner => 'e2e', created_at => int(time * 1000),
        attempts => 0);
$r->cmd('XADD', "$prefix:q:default:normal", '*', id => $id);

# === TEST 1: the delivery ends while Redis does not answer
ok(wait_for(sub { -e "$dir/posted" }, 10), 'the webhook POST arrived')
    or diag $s->worker_log($w);
is($r->cmd('HGET', "$prefix:task:$id", 'webhook_status'), 'pending',
   'webhook_status is pending while it is under way');

# Redis stops answering; the worker drops its connections
kill 'STOP', $s->{redis_pid};
my $down = wait_for(sub { $s->worker_log($w) =~ /event=redis_down conn=cmd/ },
                    10);
ok($down, 'the worker saw Redis go away');
open my $go, '>', "$dir/go" or die;
close $go;
ok(wait_for(sub { $s->worker_log($w) =~ /event=webhook_delivered/ }, 10),
   'the receiver answered 200: delivered');
sleep 0.5;                      # the status write finds Redis away
kill 'CONT', $s->{redis_pid};

# === TEST 2: once Redis is back, the status write lands
ok(wait_for(sub {
       ($r->cmd('HGET', "$prefix:task:$id", 'webhook_status') // '')
           eq 'delivered'
   }, 10), 'webhook_status becomes delivered')
    or diag $s->worker_log($w);
is($r->cmd('HGET', "$prefix:task:$id", 'webhook_attempts'), 1,
   'after one try');

is($s->stop_worker($w), 0, 'worker exits 0');
unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
       'no sanitizer report');

done_testing();
