#!/usr/bin/perl
# Webhook events are not lost, whatever happens between the outcome and
# the receiver: the reply to the record script lost (the event was
# written with the outcome), the task read for the body lost, the worker
# SIGTERMed after a first try, kill -9ed while retries wait and while a
# POST is out, Redis restarted while outcomes are recorded.  Every event
# reaches the receiver afterwards (at least once, always under its one
# webhook-id, verified by npm standardwebhooks) and every task hash ends
# with the true webhook_status.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for json_decode);
use TaskGW::Receiver;
use TaskGW::Proxy;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $P = $s->prefix;
my $secret = 'whsec_' . encode_base64(join('', map { chr int rand 256 }
                                           1 .. 24), '');
my $rcv = TaskGW::Receiver->new($s);

$s->start_redis(args => [qw(--appendonly yes --appendfsync always)]);
$s->start_nginx(vars => { RPORT => $rcv->port }, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        taskgw_callback_allow "http://127\.0\.0\.1:%%RPORT%%/[a-z0-9/-]*";
        location ~ ^/t/(?<t>[a-z.]+)$ {
            taskgw_enqueue queue=default type=$t;
        }
    }
EOC

sub enqueue {
    my ($type, $path, $body) = @_;
    my $r = $s->http(POST => "/t/$type", body => $body // '{}',
                     headers => { 'Content-Type' => 'application/json',
                                  'X-Callback-URL' => $rcv->url($path) });
    die "enqueue: $r->{status} $r->{body}" unless $r->{status} == 202;
    return json_decode($r->{body})->{id};
}

sub task { $s->redis->hgetall("$P:task:$_[0]") }

sub hook_done {
    my ($id, $timeout) = @_;
    my $t;
    wait_for(sub {
        $t = eval { task($id) } || {};
        ($t->{webhook_status} // '') =~ /^(delivered|failed)$/;
    }, $timeout // 20);
    return $t;
}

# Every request of a path: one event, signed, for this task.
sub check_requests {
    my ($path, $id, $what) = @_;
    my @r = $rcv->requests($path);
    my %ids = map { $_->{headers}{'webhook-id'} // '' => 1 } @r;
    ok(@r >= 1 && keys %ids == 1, "$what: one webhook-id over "
       . scalar(@r) . ' request(s)');
    is(scalar(grep { $_->{ok} } TaskGW::Receiver::verify($secret, @r)),
       scalar @r, "$what: every request verifies");
    is(((@r ? json_decode($r[0]{body}) : undef) // {})->{data}{id}, $id,
       "$what: the event of the task");
}

my %wconf = (
    concurrency   => 4,
    redis_timeout => '1s',
    handlers => { 'system.ping' => { builtin => 'ping' },
                  'sleep'       => { builtin => 'sleep' } },
    webhook  => { secret => $secret, timeout => '2s',
                  schedule => [ '1500ms', '1500ms' ],
                  allow_private => JSON::PP::true() },
);

# The worker calls its scripts by digest (EVALSHA), and the record
# script is the only one it calls with no keys.  A first task run with
# Redis reached directly loads every script, so the calls through the
# proxies below find them and run (a NOSCRIPT would not run anything).
my $record = qr/EVALSHA\r\n\$40\r\n[0-9a-f]{40}\r\n\$1\r\n0\r\n/;
{
    my $w = $s->start_worker(\%wconf);
    my $t = hook_done(enqueue('system.ping', '/warm-up'));
    is($t->{webhook_status}, 'delivered', 'warm-up task: webhook delivered');
    is($s->stop_worker($w), 0, '... worker exits 0');
}

# === TEST 1: the reply to the record script is lost
{
    my $px = TaskGW::Proxy->new($s, $s->redis_port, drop => [ $record ]);
    my $w = $s->start_worker({ %wconf,
                               redis => '127.0.0.1:' . $px->port });
    my $id = enqueue('system.ping', '/lost-record');
    my $t = hook_done($id);
    is($px->dropped, 1, 'lost record reply: the proxy lost it');
    is($t->{status}, 'succeeded', '... the task succeeded');
    is($t->{webhook_status}, 'delivered', '... and its webhook is delivered');
    check_requests('/lost-record', $id, '... lost record reply');
    is($s->stop_worker($w), 0, '... worker exits 0');
    $px->stop;
}

# === TEST 2: the read of the task for the event's body is lost
{
    my $px = TaskGW::Proxy->new($s, $s->redis_port,
                                drop => [ { pass => $record },
                                          qr/HGETALL/ ]);
    my $w = $s->start_worker({ %wconf,
                               redis => '127.0.0.1:' . $px->port });
    my $id = enqueue('system.ping', '/lost-read');
    my $t = hook_done($id);
    is($px->dropped, 1, 'lost task read: the proxy lost it');
    is($t->{webhook_status}, 'delivered', '... the webhook is delivered');
    check_requests('/lost-read', $id, '... lost task read');
    is($s->stop_worker($w), 0, '... worker exits 0');
    $px->stop;
}

# === TEST 3: SIGTERM after the first try: the next worker retries
{
    $rcv->script('/term' => [ { status => 500 }, { status => 200 } ]);
    my $w = $s->start_worker(\%wconf);
    my $id = enqueue('system.ping', '/term');
    $rcv->wait_requests('/term', 1, 20);
    is($s->stop_worker($w), 0, 'SIGTERM after the first try: exit 0');
    is(task($id)->{webhook_status}, 'pending', '... webhook pending');
    $w = $s->start_worker(\%wconf);
    my $t = hook_done($id);
    is($t->{webhook_status}, 'delivered', '... delivered by the next worker');
    is($t->{webhook_attempts}, 2, '... on the second try');
    check_requests('/term', $id, '... SIGTERM');
    is($s->stop_worker($w), 0, '... worker exits 0');
}

# === TEST 4: kill -9 while retries wait, and while a POST is out
{
    my @ids;
    for my $i (1 .. 5) {
        $rcv->script("/wait$i" => [ { status => 503 }, { status => 200 } ]);
    }
    $rcv->script('/hang' => [ { hang => 1 }, { status => 200 } ]);
    my $w = $s->start_worker(\%wconf);
    push @ids, enqueue('system.ping', "/wait$_") for 1 .. 5;
    my $hang = enqueue('system.ping', '/hang');
    ok(wait_for(sub { !grep { !$rcv->requests("/wait$_") } 1 .. 5 }, 20)
       && $rcv->wait_requests('/hang', 1, 20),
       'kill -9: five retries wait, one POST is out');
    $s->stop_worker($w, signal => 'KILL');
    $w = $s->start_worker(\%wconf);
    for my $i (1 .. 5) {
        my $t = hook_done($ids[$i - 1]);
        is($t->{webhook_status}, 'delivered', "... /wait$i delivered");
        is($t->{webhook_attempts}, 2, '... on its second try');
        check_requests("/wait$i", $ids[$i - 1], "... /wait$i");
    }
    my $t = hook_done($hang, 30);
    is($t->{webhook_status}, 'delivered',
       '... the POST cut by kill -9 is made again once its claim ran out');
    check_requests('/hang', $hang, '... /hang');
    is($s->stop_worker($w), 0, '... worker exits 0');
}

# === TEST 5: Redis killed and restarted (three times) while outcomes are
# being recorded
{
    my $w = $s->start_worker(\%wconf);
    my @ids = map { enqueue('sleep', "/many/$_", '{"ms":100}') } 1 .. 60;
    my $seen = sub { scalar grep { m{^/many/} } map { $_->{path} }
                                 $rcv->requests };
    for my $at (1, 15, 30) {
        ok(wait_for(sub { $seen->() >= $at }, 30),
           "Redis restart: $at events seen");
        my $n = $seen->();
        # kill -9: answers in flight are lost; the append-only file,
        # fsynced before any answer, keeps every acknowledged write
        $s->restart_redis(signal => 'KILL');
        ok($n < 60, "... Redis killed and restarted with $n of 60 events "
                    . 'seen');
    }
    wait_for(sub { !grep { (task($_)->{webhook_status} // '')
                           !~ /^(delivered|failed)$/ } @ids }, 60);
    my $bad = 0;
    for my $i (1 .. 60) {
        my $t = task($ids[$i - 1]);
        $bad++, $bad <= 3 && diag("task $i: " . explain($t))
            unless ($t->{status} // '') eq 'succeeded'
                   && ($t->{webhook_status} // '') eq 'delivered'
                   && ($t->{webhook_attempts} // 0) >= 1;
    }
    is($bad, 0, '... every task succeeded with webhook_status delivered');
    my $missing = grep { !$rcv->requests("/many/$_") } 1 .. 60;
    is($missing, 0, '... every event reached the receiver');
    my @all = grep { $_->{path} =~ m{^/many/} } $rcv->requests;
    is(scalar(grep { $_->{ok} } TaskGW::Receiver::verify($secret, @all)),
       scalar @all, '... every request verifies (' . scalar(@all) . ')');
    is($s->redis->cmd('ZCARD', "$P:outbox"), 0, '... the outbox is empty');
    is($s->stop_worker($w), 0, '... worker exits 0');
}

done_testing;
