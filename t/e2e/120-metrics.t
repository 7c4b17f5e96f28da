#!/usr/bin/perl
# taskgw_metrics across two nginx worker processes: every request is
# counted once whichever process served it, the figures read from Redis
# match what is in it (queued, pending, scheduled, dead tasks, a live
# worker's counters), `promtool check metrics` accepts the exposition,
# a scrape while Redis is down still answers (taskgw_redis_up 0), and the
# counters survive a reload.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use TaskGW::Stack qw(wait_for json_decode);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $promtool = `sh -c 'command -v promtool'`;
chomp $promtool;

my $DEV = 'tgw_dev_metrics_' . 'd' x 30;
open my $tf, '>', $s->dir . '/tokens' or die;
print $tf 'ci-bot dev sha256:' . sha256_hex($DEV) . "\n";
close $tf;

my $config = <<'EOC';
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_prefix %%PREFIX%%;
    taskgw_redis_timeout 2s;
    taskgw_redis_backoff 50ms 200ms;
    taskgw_tokens %%SERVROOT%%/tokens;
    taskgw_limit_zone zone=e2eone:64k rate=1r/m;
    log_format pid '$pid $status $taskgw_outcome';
    server {
        # reuseport: the kernel spreads connections over both workers
        listen 127.0.0.1:%%PORT%% reuseport;
        access_log %%SERVROOT%%/logs/pid.log pid;
        location /ping  { taskgw_enqueue queue=default type=system.ping;
                          taskgw_validate_json on; }
        location /boom  { taskgw_enqueue queue=default type=boom; }
        location /slow  { taskgw_enqueue queue=default type=slow; }
        location /idle  { taskgw_enqueue queue=idle type=system.ping; }
        location /small { client_max_body_size 10;
                          taskgw_enqueue queue=default type=system.ping; }
        location /ops   { taskgw_auth ops; taskgw_enqueue queue=default; }
        location /limited { taskgw_limit zone=e2eone;
                            taskgw_enqueue queue=limited; }
        location /metrics { taskgw_metrics; }
    }
EOC

$s->start_redis;
$s->start_nginx(worker_processes => 2, config => $config);
my $prefix = $s->prefix;

# Name -> value of every sample of a scrape ("name{labels}" as written).
sub scrape {
    my $r = $s->http(GET => '/metrics');
    return undef unless $r->{status} == 200;
    my %m;
    for (split /\n/, $r->{body}) {
        next if /^#/;
        my ($k, $v) = /^(\S+) (\S+)$/ or return undef;
        $m{$k} = $v;
    }
    return { samples => \%m, body => $r->{body}, r => $r };
}

sub req { "taskgw_requests_total{outcome=\"$_[0]\"}" }

sub promtool_ok {
    my ($body, $name) = @_;
    SKIP: {
        skip 'promtool not installed (Debian package prometheus)', 1
            unless $promtool;
        my $f = $s->dir . '/scrape.txt';
        open my $fh, '>', $f or die;
        print $fh $body;
        close $fh;
        my $out = `$promtool check metrics < $f 2>&1`;
        is($? >> 8, 0, "promtool check metrics: $name") or diag $out;
    }
}

# === TEST 1: a scrape before any request: all zero, content type
my $m = scrape();
ok($m, 'metrics answer 200');
is($m->{r}{headers}{'content-type'},
   'text/plain; version=0.0.4; charset=utf-8', 'exposition content type');
is($m->{samples}{ req('accepted') }, 0, 'no request counted yet');
is($m->{samples}{'taskgw_redis_up'}, 1, 'taskgw_redis_up 1');

# === TEST 2: known requests over both workers are each counted once
my $N = 40;
my $res = $s->http_parallel([
    (map { [ POST => '/ping', body => '{}' ] } 1 .. $N),
    (map { [ POST => '/ping', body => 'not json' ] } 1 .. 3),
    (map { [ POST => '/small', body => 'x' x 100 ] } 1 .. 2),
    (map { [ POST => '/ops', body => '{}' ] } 1 .. 5),
    (map { [ POST => '/ops', body => '{}',
             headers => [ Authorization => "Bearer $DEV" ] ] } 1 .. 6),
    (map { [ POST => '/limited', body => '{}' ] } 1 .. 7),
], timeout => 30);
my %codes;
$codes{ $_->{status} }++ for @$res;
is_deeply(\%codes, { 202 => $N + 1, 400 => 3, 413 => 2, 401 => 5, 403 => 6,
                     429 => 6 },
          'replies as expected (one zone of 1r/m: 1 of 7 passes)')
    or diag explain \%codes;

# nginx writes a request's access log line when it closes the request,
# which can be after the client has read the whole answer (a lingering
# close waits for the client to close first): wait for the line of each
# of the requests above before counting who served them.
my %pids;
my $logged = wait_for(sub {
    %pids = ();
    my $n = 0;
    for (split /\n/, TaskGW::Stack::_slurp($s->dir . '/logs/pid.log')) {
        next unless /^(\d+) (202|400|401|403|413|429) /;
        $pids{$1}++;
        $n++;
    }
    return $n >= @$res;
}, 20);
ok($logged, 'each request of the batch is in the access log')
    or diag explain \%pids;
is(scalar keys %pids, 2, 'both nginx workers served some of them')
    or diag explain \%pids;

ok(wait_for(sub {
    my $x = scrape() or return 0;
    ($m = $x)->{samples}{ req('accepted') } == $N + 1
        && $m->{samples}{ req('rate_limited') } == 6
        && $m->{samples}{ req('bad_request') } == 3
        && $m->{samples}{ req('too_large') } == 2
        && $m->{samples}{ req('unauthorized') } == 5
        && $m->{samples}{ req('forbidden') } == 6;
}, 10), "accepted $N + 1, rate_limited 6, bad_request 3, too_large 2, "
        . "unauthorized 5, forbidden 6 (summed over workers)")
    or diag $m->{body};
is($m->{samples}{'taskgw_limit_zone_keys{zone="e2eone"}'}, 1,
   'taskgw_limit_zone_keys: one key (the client address) in the zone');
is($m->{samples}{ req('unavailable') }, 0, 'unavailable 0');
is($m->{samples}{'taskgw_enqueue_duration_seconds_count'}, $N + 4,
   'every enqueue that got its body is observed once');
is($m->{samples}{'taskgw_enqueue_duration_seconds_bucket{le="+Inf"}'},
   $N + 4, '+Inf bucket equals the count');
my @b = map { /_bucket\{le="[^"]+"\} (\d+)$/ ? $1 : () }
        split /\n/, $m->{body};
is(scalar @b, 15, '14 buckets and +Inf');
ok(!grep({ $b[$_] < $b[$_ - 1] } 1 .. $#b), 'buckets are cumulative');
ok($m->{samples}{'taskgw_enqueue_duration_seconds_sum'} > 0, 'sum > 0');
like($m->{body}, qr/_bucket\{le="0\.0001"\}/, 'sub-millisecond buckets');
is($m->{samples}{'taskgw_queue_length{queue="default",priority="normal"}'},
   $N, "queue_length default/normal = $N");

# === TEST 3: Redis down: 503s are counted; the scrape still answers
$s->stop_redis;
$res = $s->http_parallel([ map { [ POST => '/ping', body => '{}' ] } 1 .. 4 ],
                         timeout => 30);
is(scalar(grep { $_->{status} == 503 } @$res), 4, 'four 503 while down');
ok(wait_for(sub {
    my $x = scrape() or return 0;
    ($m = $x)->{samples}{ req('unavailable') } == 4;
}, 10), 'unavailable 4') or diag $m->{body};
is($m->{samples}{'taskgw_redis_up'}, 0, 'taskgw_redis_up 0 while down');
ok(!exists $m->{samples}{'taskgw_workers'}, 'no Redis figures while down');
is($m->{samples}{ req('accepted') }, $N + 1, 'local counters still shown');
promtool_ok($m->{body}, 'Redis down');
$s->restart_redis;

# Enqueues, trying again while a worker's link is still reconnecting.
sub enqueue_ok {
    my ($path, $body, @h) = @_;
    my $st = 0;
    wait_for(sub {
        $st = $s->http(POST => $path, body => $body, headers => [@h])->{status};
        $st != 503;
    }, 10);
    return $st;
}

# === TEST 4: queued, pending, scheduled and dead tasks; a worker's counters
my $w = $s->start_worker({
    queues   => { default => 1 },
    concurrency => 2,
    retry    => { max_attempts => 1, base => '10ms', cap => '10ms' },
    handlers => { 'system.ping' => { builtin => 'ping' },
                  boom          => { builtin => 'fail' },
                  slow          => { builtin => 'sleep' } },
});
# (the restart emptied Redis: it keeps no data in these tests)
is(enqueue_ok('/ping', '{}'), 202, 'a task that succeeds') for 1 .. 5;

is(enqueue_ok('/boom', '{"permanent":true}'), 202, 'a task that dies')
    for 1 .. 2;
is(enqueue_ok('/slow', '{"ms":60000}'), 202,
   'a task that stays running (pending)');
is(enqueue_ok('/ping', '{}', 'X-Task-Delay' => 3600), 202,
   'a scheduled task');
is(enqueue_ok('/idle', '{}'), 202, 'a task on a queue no worker reads')
    for 1 .. 3;

my $want = {
    'taskgw_dead_tasks{queue="default"}'  => 2,
    'taskgw_queue_pending{queue="default"}' => 1,
    'taskgw_scheduled_tasks'              => 1,
    'taskgw_workers'                      => 1,
    'taskgw_queue_length{queue="idle",priority="normal"}' => 3,
    'taskgw_dead_tasks{queue="idle"}'     => 0,
    'taskgw_worker_tasks_total{outcome="dead"}' => 2,
    'taskgw_worker_tasks_total{outcome="succeeded"}' => 5,
    'taskgw_redis_up'                     => 1,
};
my $got;
ok(wait_for(sub {
    my $x = scrape() or return 0;
    $m = $x;
    $got = { map { $_ => $m->{samples}{$_} } keys %$want };
    !grep { ($got->{$_} // -1) != $want->{$_} } keys %$want;
}, 30), 'Redis figures match what is in Redis (heartbeat every 5 s)')
    or diag explain($got), $m->{body}, $s->worker_log($w);
promtool_ok($m->{body}, 'tasks queued, pending, scheduled and dead');

# === TEST 5: a reload keeps the counters
my $before = $m->{samples}{ req('accepted') };
$s->reload_nginx(worker_processes => 2);
ok(wait_for(sub {
    my $x = scrape() or return 0;
    ($m = $x)->{samples}{ req('accepted') } == $before;
}, 10), "after a reload accepted is still $before") or diag $m->{body};

# === TEST 6: HEAD answers, other methods are 405 JSON
my $r = $s->http(POST => '/metrics', body => '');
is($r->{status}, 405, 'POST /metrics: 405');
is($r->{headers}{allow}, 'GET, HEAD', 'Allow: GET, HEAD');
is((json_decode($r->{body}) // {})->{error}, 'method_not_allowed',
   'JSON error');

# === TEST 7: the alerting rules and the dashboard in conf/ fit the metrics
my %served = map { /^(taskgw_\w+?)(?:_bucket|_sum|_count)?[{ ]/ ? ($1 => 1) : () }
             split /\n/, $m->{body};
SKIP: {
    skip 'promtool not installed (Debian package prometheus)', 1
        unless $promtool;
    my $rules = $s->root . '/conf/prometheus-alerts.yml';
    my $out = `$promtool check rules $rules 2>&1`;
    is($? >> 8, 0, 'promtool check rules conf/prometheus-alerts.yml')
        or diag $out;
}
my $dash = json_decode(TaskGW::Stack::_slurp($s->root
                                             . '/conf/grafana-dashboard.json'));
ok($dash && @{ $dash->{panels} // [] }, 'the dashboard is JSON with panels');
my @unknown = grep { !$served{$_} }
              map { /(taskgw_[a-z_]+?)(?:_bucket)?\b/g }
              map { $_->{expr} } map { @{ $_->{targets} } }
              @{ $dash->{panels} // [] };
is_deeply(\@unknown, [], 'the dashboard uses only metrics served');

$s->stop_worker($w, signal => 'KILL');
is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

done_testing;
