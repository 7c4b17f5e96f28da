#!/usr/bin/perl
# The worker sends its scripts as EVALSHA of their digest, not as text.
# Redis forgets them on a restart or a SCRIPT FLUSH; the worker's next
# EVALSHA then gets NOSCRIPT, loads the script and sends the command
# again: no task fails, none runs twice, none is retried for it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(sleep);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $dir = $s->dir;

# records every run, one line per attempt
my $marker = "$dir/marker.sh";
open my $fh, '>', $marker or die;
print $fh <<"EOS";
#!/bin/sh
echo "\$TASKGW_TASK_ID \$TASKGW_ATTEMPT" >> $dir/runs
cat > /dev/null
echo '"ran"'
EOS
close $fh;
chmod 0755, $marker;

$s->start_redis;
$s->start_nginx(config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location ~ ^/t/(?<t>[a-z.]+)$ {
            taskgw_enqueue queue=default type=$t;
        }
        location /status/ { taskgw_status; }
    }
EOC

my $r = $s->redis;

# nginx's enqueue meets the flush too (its first one after it is a 503,
# t/e2e/063-enqueue-noscript.t): retried once, as a client would.  nginx
# then loads its own script only; the worker's stay flushed.
sub enqueue {
    my ($type) = @_;
    my $res;
    for (1 .. 2) {
        $res = $s->http(POST => "/t/$type", body => '{}',
                        headers => [ 'Content-Type' => 'application/json' ]);
        last if $res->{status} != 503;
    }
    return $res->{status} == 202 && $res->{json} ? $res->{json}{id} : undef;
}

sub cmdstat {
    my ($name) = @_;
    my $info = $r->cmd('INFO', 'commandstats') // '';
    return $info =~ /^cmdstat_\Q$name\E:calls=(\d+)/m ? $1 : 0;
}

sub all_done {
    my ($ids, $timeout) = @_;
    return wait_for(sub {
        !grep { ($r->cmd('HGET', "$prefix:task:$_", 'status') // '')
                ne 'succeeded' } @$ids;
    }, $timeout // 20, 0.1);
}

sub runs {
    open my $fh, '<', "$dir/runs" or return {};
    my %n;
    $n{ (split ' ', $_)[0] }++ while <$fh>;
    return \%n;
}

my $w = $s->start_worker({
    concurrency => 8,
    queues      => { default => 1 },
    retry       => { max_attempts => 3, base => '100ms', cap => '300ms' },
    handlers    => { 'system.ping' => { builtin => 'ping' },
                     'marker'      => { exec => [ $marker ] } },
});

# === TEST 1: a fresh Redis knows no script: the first calls load them
my @ids = map { enqueue('system.ping') } 1 .. 20;
is(scalar(grep { defined } @ids), 20, '20 tasks enqueued');
ok(all_done(\@ids), 'all succeeded') or diag $s->worker_log($w);
ok(cmdstat('evalsha') > 0, 'the worker calls its scripts with EVALSHA');
ok(cmdstat('script|load') > 0, 'and loaded them after NOSCRIPT');

# === TEST 2: SCRIPT FLUSH between tasks
my @more;
for my $i (1 .. 10) {
    is($r->cmd('SCRIPT', 'FLUSH'), 'OK', "flush $i");
    my $id = enqueue('marker');
    ok(defined $id, "enqueued after flush $i");
    ok(all_done([$id]), "task after flush $i succeeded")
        or diag $s->worker_log($w);
    push @more, $id;
}

# === TEST 3: SCRIPT FLUSH over and over while a batch is running
my @batch = map { enqueue('marker') } 1 .. 60;
is(scalar(grep { defined } @batch), 60, '60 tasks enqueued');
my $flushes = 0;
for (1 .. 40) {
    $r->cmd('SCRIPT', 'FLUSH');
    $flushes++;
    sleep 0.02;
}
ok(all_done(\@batch, 30), "all 60 succeeded across $flushes flushes")
    or diag $s->worker_log($w);

# every marker task ran once, on its first attempt
my $runs = runs();
is(scalar(grep { ($runs->{$_} // 0) != 1 } @more, @batch), 0,
   'each ran exactly once');
is(scalar(grep { ($r->cmd('HGET', "$prefix:task:$_", 'attempts') // '')
                 ne '1' } @ids, @more, @batch), 0,
   'each on its first attempt (no retry for a flushed script)');
my $pend = $r->cmd('XPENDING', "$prefix:q:default:normal", 'workers');
is(ref $pend eq 'ARRAY' ? $pend->[0] : $pend, 0, 'nothing left pending');
my $log = $s->worker_log($w);
unlike($log, qr/NOSCRIPT/, 'no NOSCRIPT error reached the log');

# === TEST 4: Redis restarts (its script cache is empty): work goes on
$s->restart_redis;
$r = $s->redis;
my $after;
ok(wait_for(sub { $after = enqueue('system.ping') }, 15, 0.2),
   'nginx accepts again');
ok($after && all_done([$after], 30), 'a task after the restart succeeded')
    or diag $s->worker_log($w);

is($s->stop_worker($w), 0, 'worker exits 0');
unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
       'no sanitizer report');

done_testing();
