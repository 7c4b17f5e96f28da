#!/usr/bin/perl
# Worker behaviour through the whole stack: retries with
# backoff, permanent failures, unknown types, cancellation before a task
# runs, priorities, crash recovery (a dead worker's task is reclaimed, a
# live worker's is never stolen) and a Redis restart under a running worker.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $dir = $s->dir;

sub script {
    my ($name, $text) = @_;
    my $path = "$dir/$name.sh";
    open my $fh, '>', $path or die;
    print $fh "#!/bin/sh\n$text";
    close $fh;
    chmod 0755, $path;
    return $path;
}

# succeeds on its third attempt, fails (EX_TEMPFAIL) before
my $flaky = script('flaky', <<'EOS');
if [ "$TASKGW_ATTEMPT" -ge 3 ]; then echo '"third time"'; exit 0; fi
echo "attempt $TASKGW_ATTEMPT failed" >&2
exit 75
EOS
my $always = script('always', "echo 'always fails' >&2\nexit 1\n");
my $perm   = script('perm', "echo 'bad data' >&2\nexit 65\n");
# records every run, one line per attempt
my $marker = script('marker', <<"EOS");
echo "\$TASKGW_TASK_ID \$TASKGW_ATTEMPT" >> $dir/runs
cat > /dev/null
echo '"ran"'
EOS
my $long = script('long', <<"EOS");
echo "\$TASKGW_TASK_ID \$TASKGW_ATTEMPT" >> $dir/long-runs
sleep 3
echo '"done"'
EOS

my %handlers = (
    'system.ping' => { builtin => 'ping' },
    'fail.perm'   => { builtin => 'fail' },
    'flaky'       => { exec => [ $flaky ], max_attempts => 5 },
    'always'      => { exec => [ $always ], max_attempts => 3 },
    'perm'        => { exec => [ $perm ], max_attempts => 5 },
    'marker'      => { exec => [ $marker ] },
    'long'        => { exec => [ $long ], timeout => '30s' },
);
my %wconf = (
    concurrency => 4,
    queues      => { default => 1 },
    claim_idle  => '1s',
    retry       => { max_attempts => 3, base => '100ms', cap => '300ms' },
    handlers    => \%handlers,
);

$s->start_redis;
$s->start_nginx(config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location ~ ^/t/(?<t>[a-z.]+)$ {
            taskgw_enqueue queue=default type=$t;
        }
        location ~ ^/high/(?<t>[a-z.]+)$ {
            taskgw_enqueue queue=default type=$t priority=high;
        }
        location /status/ { taskgw_status; }
    }
EOC

sub enqueue {
    my ($type, $body, $path) = @_;
    my $res = $s->http(POST => ($path // '/t/') . $type, body => $body // '',
                       headers => [ 'Content-Type' => 'application/json' ]);
    is($res->{status}, 202, "enqueue $type: 202") or diag explain $res;
    return $res->{json} ? $res->{json}{id} : undef;
}

sub task { return $s->http(GET => "/status/$_[0]")->{json} }

my %terminal = map { $_ => 1 } qw(succeeded dead cancelled);

sub finished {
    my ($id, $timeout) = @_;
    my $t;
    wait_for(sub { $t = task($id); $t && $terminal{ $t->{status} // '' } },
             $timeout // 20, 0.1);
    return $t;
}

sub runs {
    my ($file, $id) = @_;
    open my $fh, '<', "$dir/$file" or return 0;
    return scalar grep { /^\Q$id\E / } <$fh>;
}

my $r = $s->redis;

# === TEST 1: cancelled before it runs: never runs, ends cancelled
my $c = enqueue('marker', '{}');
my $del = $s->http(DELETE => "/status/$c");
is($del->{status}, 202, 'DELETE queued task: 202');
is($del->{json} && $del->{json}{status}, 'cancelling', 'cancelling');

# === TEST 2: priorities: high is taken before normal
my @normal = map { enqueue('system.ping') } 1 .. 6;
my $high = enqueue('system.ping', '', '/high/');

# one worker slot so the order is observable
my $w = $s->start_worker({ %wconf, concurrency => 1 });
my $t = finished($c);
is($t->{status}, 'cancelled', 'cancelled task: cancelled')
    or diag explain($t), $s->worker_log($w);
is(runs('runs', $c), 0, 'its handler never ran');

my @started = map { finished($_)->{started_at} // 'z' } @normal;
my $hs = finished($high)->{started_at} // 'z';
ok(!grep({ $_ lt $hs } @started), "high priority started first ($hs)")
    or diag explain { high => $hs, normal => \@started };
is($s->stop_worker($w), 0, 'worker stopped');

$w = $s->start_worker(\%wconf);

# === TEST 3: retryable failures are retried until success
my $f = enqueue('flaky');
$t = finished($f);
is($t->{status}, 'succeeded', 'flaky: succeeded') or diag explain $t;
is($t->{attempts}, 3, 'after 3 attempts');
is($t->{result}, 'third time', 'result of the third attempt');

# === TEST 4: retries exhausted: dead after max_attempts
my $a = enqueue('always');
$t = finished($a);
is($t->{status}, 'dead', 'always failing: dead') or diag explain $t;
is($t->{attempts}, 3, 'handler max_attempts 3 honoured');
like($t->{error} // '', qr/always fails/, 'error kept');
my ($d) = grep { $_->[1]{id} eq $a } @{ $r->xrange("$prefix:dead:default") };
is($d && $d->[1]{attempts}, '3', 'dead entry with attempts 3');

# === TEST 5: permanent failures are not retried
my $p = enqueue('perm');
$t = finished($p);
is($t->{status}, 'dead', 'exit 65: dead') or diag explain $t;
is($t->{attempts}, 1, 'exit 65: one attempt only');
my $fp = enqueue('fail.perm', '{"permanent":true}');
$t = finished($fp);
is($t->{status}, 'dead', 'builtin fail permanent: dead');
is($t->{attempts}, 1, 'builtin fail permanent: one attempt');
my $u = enqueue('no.such.type');
$t = finished($u);
is($t->{status}, 'dead', 'unknown type: dead') or diag explain $t;
is($t->{attempts}, 1, 'unknown type: one attempt');

# === TEST 6: a live worker's long task is not stolen by another worker
my $w2 = $s->start_worker(\%wconf);
my $l = enqueue('long');
$t = finished($l, 30);
is($t->{status}, 'succeeded', 'long task (3 s, claim_idle 1 s): succeeded')
    or diag explain($t), $s->worker_log($w), $s->worker_log($w2);
is(runs('long-runs', $l), 1, 'it ran exactly once');
is($t->{attempts}, 1, 'attempts 1');
$s->stop_worker($w2);

# === TEST 7: a killed worker's task is reclaimed and finished by another
my $k = enqueue('long');
ok(wait_for(sub { (task($k) // {})->{status} eq 'running' }, 10),
   'long task running');
ok(wait_for(sub { runs('long-runs', $k) == 1 }, 10),
   'its handler has started');
$s->stop_worker($w, signal => 'KILL');
$w2 = $s->start_worker(\%wconf);
$t = finished($k, 30);
is($t->{status}, 'succeeded', 'reclaimed after the worker died: succeeded')
    or diag explain($t), $s->worker_log($w2);
ok(runs('long-runs', $k) >= 2, 'it ran again (at-least-once)');
ok(wait_for(sub {
    my $pend = $r->cmd('XPENDING', "$prefix:q:default:normal", 'workers');
    ref $pend eq 'ARRAY' && $pend->[0] == 0;
}, 10), 'nothing left pending');

# === TEST 8: Redis restarts under a running worker; work continues
$s->restart_redis;
my $after;
ok(wait_for(sub {
    my $res = $s->http(POST => '/t/system.ping', body => '');
    $after = $res->{json}{id} if $res->{status} == 202;
    $after;
}, 15, 0.2), 'nginx accepts again');
$t = finished($after, 30) if $after;
is($t && $t->{status}, 'succeeded', 'the worker processes it after the '
   . 'restart (group recreated)') or diag $s->worker_log($w2);

is($s->stop_worker($w2), 0, 'worker exits 0');
unlike($s->worker_log($w2), qr/AddressSanitizer|runtime error/,
       'no sanitizer report');

done_testing();
