#!/usr/bin/perl
# Self-check of the e2e harness (t/lib/TaskGW/Stack.pm) against stock
# nginx and redis only: process control, the HTTP and RESP clients, and
# that nothing started is left behind.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for free_port);

my $s = TaskGW::Stack->new;

# === TEST 1: redis starts on a free port and answers PING
my $rport = $s->start_redis;
ok($rport > 0, "redis on port $rport");
my $r = $s->redis;
is($r->cmd('PING'), 'PONG', 'PING -> PONG');

# === TEST 2: RESP client: binary bulk strings, integers, nil, errors
my $bin = join '', map { chr } 0 .. 255;
$bin .= "\r\n\$3\r\n";
is($r->cmd('SET', 'k:bin', $bin), 'OK', 'SET binary value');
is($r->cmd('GET', 'k:bin'), $bin, 'GET returns the same 262 bytes');
is($r->cmd('INCR', 'k:n'), 1, 'integer reply');
is($r->cmd('GET', 'k:none'), undef, 'nil reply is undef');
my $e = $r->cmd('HGET', 'k:bin', 'x');
isa_ok($e, 'TaskGW::Stack::Redis::Error', 'WRONGTYPE reply');
like("$e", qr/^WRONGTYPE/, 'error message kept');

# === TEST 3: nested arrays: streams
my $id = $r->cmd('XADD', 's:1', '*', 'id', 'abc', 'blob', "a\0b");
like($id, qr/^\d+-\d+$/, 'XADD id');
my $entries = $r->xrange('s:1');
is(scalar @$entries, 1, 'one stream entry');
is_deeply($entries->[0], [ $id, { id => 'abc', blob => "a\0b" } ],
          'XRANGE entry decoded');
is($r->cmd('HSET', 'h:1', 'a', '1', 'b', '2'), 2, 'HSET');
is_deeply($r->hgetall('h:1'), { a => 1, b => 2 }, 'hgetall');
is_deeply($r->hgetall('h:none'), {}, 'hgetall of a missing key');

# === TEST 4: redis stop / start keeps the port, data is gone (no save)
$s->stop_redis;
ok(!$s->redis_running, 'redis stopped');
ok(!eval { TaskGW::Stack::Redis->new($rport, 1) }, 'port closed');
is($s->start_redis, $rport, 'restarted on the same port');
is($s->redis->cmd('GET', 'k:n'), undef, 'fresh dataset after restart');
is($s->restart_redis, $rport, 'restart_redis');
is($s->redis->cmd('PING'), 'PONG', 'PING after restart_redis');

# === TEST 5: stock nginx, 2 workers, from a config with placeholders
$s->start_nginx(modules => [], worker_processes => 2, config => <<'EOC');
    server {
        listen 127.0.0.1:%%PORT%%;
        location /hello { return 200 "hello %%REDIS_PORT%%\n"; }
        location /echo  {
            client_body_buffer_size 1m;
            add_header X-Len $content_length always;
            add_header X-Test "a" always;
            add_header X-Test "b" always;
            return 201 "len=$content_length\n";
        }
        location /slow  { return 204; }
    }
EOC
ok($s->nginx_running, 'nginx master running');
my @w = $s->nginx_worker_pids;
is(scalar @w, 2, 'two nginx worker processes');

my $res = $s->http(GET => '/hello');
is($res->{status}, 200, 'GET /hello 200');
is($res->{body}, "hello $rport\n", 'placeholder expanded');
like($res->{headers}{server} // '', qr/nginx/, 'headers lowercased');

$res = $s->http(POST => '/echo', body => "x" x 100000,
                headers => [ 'Content-Type' => 'application/octet-stream' ]);
is($res->{status}, 201, 'POST with a 100 kB body');
is($res->{body}, "len=100000\n", 'body length seen by nginx');
is($res->{headers}{'x-test'}, 'a, b', 'repeated headers joined');

$res = $s->http(GET => '/nowhere');
is($res->{status}, 404, '404 for an unknown location');

# === TEST 6: HTTP client reports a refused connection and a timeout
my $closed = free_port();
$res = TaskGW::Stack::http_request(GET => '/', port => $closed, timeout => 2);
is($res->{status}, 0, 'status 0 on refused connection');
like($res->{error}, qr/connect/, 'connect error reported');

my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                              Listen => 5, ReuseAddr => 1) or die $!;
my $t0 = time;
$res = TaskGW::Stack::http_request(GET => '/', port => $l->sockport,
                                   timeout => 0.5);
my $dt = time - $t0;
is($res->{status}, 0, 'status 0 when the server never answers');
like($res->{error}, qr/timeout/, 'timeout reported');
ok($dt < 2, sprintf('timeout honoured (%.2fs)', $dt));
close $l;

# === TEST 6b: parallel requests and a request kept open
my $many = $s->http_parallel([ map { [ GET => "/hello?$_" ] } 1 .. 100 ],
                             timeout => 10);
is(scalar(grep { $_->{status} == 200 } @$many), 100,
   '100 parallel requests all 200');
my $h = $s->http_send(POST => '/echo', body => 'abc');
is($s->http_recv($h)->{body}, "len=3\n", 'http_send then http_recv');

# === TEST 6c: forked helpers are tracked and killed
my $helper = $s->fork_process('sleeper', sub { sleep 60 });
ok(kill(0, $helper), 'helper running');
$s->kill_process($helper);
ok(!kill(0, $helper), 'helper gone');

# === TEST 7: wait_for polls until true, gives up at the timeout
my $n = 0;
ok(wait_for(sub { ++$n >= 3 }, 5, 0.01), 'wait_for true after 3 polls');
$t0 = time;
ok(!wait_for(sub { 0 }, 0.3, 0.05), 'wait_for false at timeout');
ok(time - $t0 < 1, 'wait_for returned at its timeout');

# === TEST 8: nginx -t reports config errors
my ($code, $out) = $s->nginx_test(modules => [], config => 'bogus_directive;');
isnt($code, 0, 'nginx -t fails on a bad config');
like($out, qr/unknown directive "bogus_directive"/, 'with the reason');

# === TEST 9: a failing start dies with the error log
ok(!eval { $s->stop_nginx; $s->start_nginx(modules => [],
           config => 'server { listen 127.0.0.1:%%PORT%%; nope; }'); 1 },
   'start_nginx dies on a bad config');
like($@, qr/unknown directive "nope"/, 'error log in the message');

# === TEST 10: stop leaves no process behind
$s->start_nginx(modules => [], worker_processes => 2, config => <<'EOC');
    server { listen 127.0.0.1:%%PORT%%; location / { return 200; } }
EOC
my $master = $s->nginx_pid;
@w = $s->nginx_worker_pids;
$s->stop_nginx;
ok(!kill(0, $master), 'nginx master gone');
ok(!(grep { kill 0, $_ } @w), 'nginx workers gone');
ok(!wait_for(sub { $s->http(GET => '/', timeout => 1)->{status} }, 0.2),
   'port no longer answers');

# === TEST 11: a forked child exiting does not kill the stack
my $pid = fork;
if (!$pid) { exit 0 }
waitpid $pid, 0;
is($s->redis->cmd('PING'), 'PONG', 'redis survives a child exit');

# === TEST 12: the END block kills a stack left running by a dying script
my $probe = "$FindBin::Bin/../lib";
my $script = <<'EOP';
use lib $ARGV[0];
use TaskGW::Stack;
$| = 1;
my $s = TaskGW::Stack->new;
my $p = $s->start_redis;
print "$p $s->{redis_pid}\n";
die "test died\n";
EOP
my ($rp, $rpid) = split ' ', `$^X -e '$script' $probe 2>/dev/null`;
ok($rpid && !kill(0, $rpid), 'redis of a dead script is gone');
ok(!eval { TaskGW::Stack::Redis->new($rp, 1) }, 'its port is closed');

(my $term = $script) =~ s/die "test died\\n";/kill "TERM", \$\$; sleep 5;/;
($rp, $rpid) = split ' ', `$^X -e '$term' $probe 2>/dev/null`;
ok($rpid && !kill(0, $rpid), 'redis gone after SIGTERM to the script');

# === TEST 13: even a SIGKILLed script leaves nothing (the watchdog)
(my $killed = $script) =~ s/die "test died\\n";/kill "KILL", \$\$;/;
($rp, $rpid) = split ' ', `$^X -e '$killed' $probe 2>/dev/null`;
ok($rpid, "redis $rpid started by a script that got SIGKILL");
ok(wait_for(sub { !kill(0, $rpid) }, 10), 'its redis is killed anyway');

done_testing();
