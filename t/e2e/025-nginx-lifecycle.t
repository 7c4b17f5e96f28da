#!/usr/bin/perl
# nginx's own lifecycle with the module's Redis link: a
# reload (HUP) and a graceful stop (QUIT) are not held up by the Redis
# connection or its timers, even while a request waits on a silent Redis;
# a reload can point taskgw_redis somewhere else.

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

my $prefix = $s->prefix;

# A second Redis, to move to on reload.
my $s2 = TaskGW::Stack->new;
$s2->start_redis;

# A server that accepts and never answers.
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                              Listen => 128, ReuseAddr => 1)
    or die "listen: $!";
my $silent_port = $l->sockport;
$s->fork_process('silent-redis', sub {
    my @held;
    while (my $c = $l->accept) { push @held, $c }
});
close $l;

my $conf = <<'EOC';
    taskgw_redis 127.0.0.1:%%R%%;
    taskgw_redis_timeout %%T%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=default type=system.ping; }
        location /plain { return 200 "plain\n"; }
    }
EOC

sub gone {
    my (@pids) = @_;
    return gone_within(10, @pids);
}

sub gone_within {
    my ($secs, @pids) = @_;
    return wait_for(sub { !grep { kill 0, $_ } @pids }, $secs, 0.02);
}

$s->start_redis;
my %v = (R => $s->redis_port, T => '1s');
$s->start_nginx(worker_processes => 2, vars => \%v, config => $conf);

# === TEST 1: reload with live Redis links: old workers exit at once
my $many = $s->http_parallel([ map { [ POST => '/tasks', body => "a$_" ] }
                               1 .. 20 ]);
is(scalar(grep { $_->{status} == 202 } @$many), 20, 'links up: 202');
my $t0 = time;
my @old = $s->reload_nginx(worker_processes => 2, vars => \%v,
                           config => $conf);
ok(gone(@old), sprintf('old workers gone %.2f s after HUP', time - $t0));
cmp_ok(time - $t0, '<', 3, 'not held up by their Redis connections');
$many = $s->http_parallel([ map { [ POST => '/tasks', body => "b$_" ] }
                            1 .. 20 ]);
is(scalar(grep { $_->{status} == 202 } @$many), 20,
   'new workers enqueue: 202');

# === TEST 2: reload onto another Redis: tasks go there
%v = (R => $s2->redis_port, T => '1s');
@old = $s->reload_nginx(worker_processes => 2, vars => \%v, config => $conf);
gone(@old);
my $res = $s->http(POST => '/tasks', body => 'moved');
is($res->{status}, 202, 'after reload to the second Redis: 202');
my $id = $res->{json} && $res->{json}{id} // '';
is($s2->redis->cmd('HGET', "$prefix:task:$id", 'payload'), 'moved',
   'the task is in the second Redis');
is($s->redis->cmd('EXISTS', "$prefix:task:$id"), 0, 'not in the first');

# === TEST 3: reload while a request waits on a silent Redis (10 s timeout)
# A worker held by the link would stay for good (its reconnects never
# end); one that waits for the request leaves once the command timeout
# passes, 10 s, or a few seconds later on a busy machine: the bounds are
# 20 s.
%v = (R => $silent_port, T => '10s');
@old = $s->reload_nginx(worker_processes => 2, vars => \%v, config => $conf);
gone(@old);
my $h = $s->http_send(POST => '/tasks', body => 'hang', timeout => 20);
sleep 0.3;
$t0 = time;
@old = $s->reload_nginx(worker_processes => 2, vars => \%v, config => $conf);
is($s->http(GET => '/plain')->{status}, 200, 'new workers serve at once');
$res = $s->http_recv($h);
isnt($res->{status}, 202, 'the waiting request is not accepted');
ok(gone_within(25, @old), sprintf('old workers gone %.2f s after HUP',
                                  time - $t0));
cmp_ok(time - $t0, '<', 20, 'soon after the pending command timeout');

# === TEST 4: graceful stop with a request waiting: nginx exits
$h = $s->http_send(POST => '/tasks', body => 'hang', timeout => 20);
sleep 0.3;
$t0 = time;
my $st = $s->stop_nginx(30);
ok(defined $st, sprintf('nginx exited on QUIT by itself (%.2f s)',
                        time - $t0));
cmp_ok(time - $t0, '<', 20, 'soon after the command timeout');
$res = $s->http_recv($h);
isnt($res->{status}, 202, 'the waiting request is not accepted');

# === TEST 5: graceful stop with idle Redis links: nginx exits at once
%v = (R => $s->redis_port, T => '1s');
$s->start_nginx(worker_processes => 2, vars => \%v, config => $conf);
is($s->http(POST => '/tasks', body => 'x')->{status}, 202, 'link up');
$t0 = time;
$st = $s->stop_nginx(10);
ok(defined $st, 'nginx exited on QUIT by itself');
cmp_ok(time - $t0, '<', 3, sprintf('in %.2f s, not held up by the idle '
                                   . 'Redis links', time - $t0));

# === TEST 6: worker_shutdown_timeout is not extended by the command timeout
# A Redis that answers the link's PING and then nothing: the request's
# batch is in flight when the shutdown timer closes the client connection;
# nobody waits for that batch's reply any more, so its timer must not keep
# the worker up until the 10 s command timeout.
my $lp = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                               Listen => 128, ReuseAddr => 1)
    or die "listen: $!";
my $pong_port = $lp->sockport;
# The link's set-up is SCRIPT LOAD, then PING: both are answered (the link
# is UP on the PONG), then nothing more.  The server notes in a file when
# it answered the set-up and when the enqueue's MULTI reached it.
my $seen = $s->dir . '/pong-seen';
$s->fork_process('pong-then-silent', sub {
    require IO::Select;
    my $sel = IO::Select->new($lp);
    my (%in, %ponged);
    my $note = sub {
        open my $fh, '>>', $seen or die;
        print $fh "$_[0]\n";
        close $fh;
    };
    while (1) {
        for my $fh ($sel->can_read) {
            if ($fh == $lp) {
                $sel->add($lp->accept);
                next;
            }
            my $n = sysread($fh, my $buf, 65536);
            if (!$n) {
                $sel->remove($fh);
                next;
            }
            $in{fileno $fh} .= $buf;
            if (!$ponged{fileno $fh} && $in{fileno $fh} =~ /PING\r\n/) {
                syswrite($fh, "+OK\r\n+PONG\r\n");
                $ponged{fileno $fh} = 1;
                $in{fileno $fh} = '';
                $note->('ponged');
            } elsif ($ponged{fileno $fh} && $in{fileno $fh} =~ /MULTI/) {
                $in{fileno $fh} = '';
                $note->('multi');
            }
        }
    }
});
close $lp;
sub seen {
    open my $fh, '<', $seen or return 0;
    return scalar grep { $_ eq "$_[0]\n" } <$fh>;
}

%v = (R => $pong_port, T => '10s');
$s->start_nginx(worker_processes => 1, vars => \%v, config => $conf,
                main_config => 'worker_shutdown_timeout 1s;');
ok(wait_for(sub { seen('ponged') }, 15), 'the link\'s set-up was answered');
# the link is UP once nginx read the PONG: a request until then waits for
# it, and one after it goes out at once; wait until one did
my $sent;
for my $try (1 .. 5) {
    $h = $s->http_send(POST => '/tasks', body => 'in flight', timeout => 20);
    last if $sent = wait_for(sub { seen('multi') }, 3, 0.02);
    $s->http_recv($h);
}
ok($sent, 'the enqueue reached the server: its batch is in flight');
$t0 = time;
$st = $s->stop_nginx(15);
ok(defined $st, sprintf('nginx exited on QUIT by itself (%.2f s)',
                        time - $t0));
cmp_ok(time - $t0, '<', 5, 'soon after worker_shutdown_timeout, not after '
                           . 'the 10 s command timeout');
$res = $s->http_recv($h);
isnt($res->{status}, 202, 'the cut-off request is not accepted');

is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

done_testing();
