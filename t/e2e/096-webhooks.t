#!/usr/bin/perl
# Webhooks end to end: nginx takes X-Callback-URL, the worker posts the
# event to a real receiver, and every signature is checked by the npm
# reference implementation (standardwebhooks), never by our own code.
# 500, 500, 200 is delivered on the third try under one webhook-id; 410
# stops at once; a receiver that never answers is given up after the
# (shortened) schedule; Retry-After on 429/503 is waited out; a redirect
# is not followed; two secrets give two signatures, each accepted alone;
# dead and cancelled tasks (queued, scheduled, retrying; DELETE and
# taskgwctl) emit their events; with allow_private false no connection
# to a loopback receiver is made (IPv4, IPv6, IPv4-mapped) and the reason
# is recorded.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for json_decode);
use TaskGW::Receiver;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $P = $s->prefix;
my @secret = map { 'whsec_' . encode_base64(join('', map { chr int rand 256 }
                                                 1 .. 24), '') } 1 .. 3;

my $rcv = TaskGW::Receiver->new($s);
my $rport = $rcv->port;
$rcv->script(
    '/flaky'   => [ { status => 500 }, { status => 500 }, { status => 200 } ],
    '/gone'    => [ { status => 410 } ],
    '/never'   => [ { hang => 1 } ],
    '/busy'    => [ { status => 429, headers => { 'Retry-After' => 2 } },
                    { status => 200 } ],
    '/unavail' => [ { status => 503, headers => { 'Retry-After' => 2 } },
                    { status => 200 } ],
    '/moved'   => [ { status => 302,
                      headers => { Location => $rcv->url('/target') } } ],
);

$s->start_redis;
$s->start_nginx(vars => { RPORT => $rport }, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        taskgw_callback_allow "http://127\.0\.0\.1:%%RPORT%%/[a-z0-9/]*";
        taskgw_callback_allow "http://\[::(1|ffff:127\.0\.0\.1)\]:%%RPORT%%/[a-z0-9]*";
        location ~ ^/t/(?<t>[a-z.]+)$ {
            taskgw_enqueue queue=default type=$t;
        }
        location /status/ {
            taskgw_status;
        }
    }
EOC
my $redis = $s->redis;

sub enqueue {
    my ($type, %o) = @_;
    my %h;
    $h{'X-Callback-URL'} = $o{url} if $o{url};
    $h{'X-Task-Delay'} = $o{delay} if $o{delay};
    my $r = $s->http(POST => "/t/$type", body => $o{body} // '{}',
                     headers => { 'Content-Type' => 'application/json',
                                  %h });
    die "enqueue $type: $r->{status} $r->{body}" unless $r->{status} == 202;
    return $r->{json}{id} // ev($r)->{id};
}

sub task { $redis->hgetall("$P:task:$_[0]") }

# Waits until the task's webhook_status is final; returns the hash.
sub hook_done {
    my ($id, $timeout) = @_;
    my $t;
    wait_for(sub {
        $t = task($id);
        ($t->{webhook_status} // '') =~ /^(delivered|failed)$/;
    }, $timeout // 20);
    return $t;
}

# The event a request carried ({} for none).
sub ev {
    my ($r) = @_;
    return ($r ? json_decode($r->{body}) : undef) // {};
}

sub verified_by {
    my ($secret, @reqs) = @_;
    my @r = TaskGW::Receiver::verify($secret, @reqs);
    return scalar grep { $_->{ok} } @r;
}

my %wconf = (
    concurrency => 1,
    retry    => { max_attempts => 3, base => '30s', cap => '30s' },
    handlers => {
        'system.ping' => { builtin => 'ping' },
        'fail'        => { builtin => 'fail' },
        'hooked'      => { builtin => 'ping',
                           webhook => $rcv->url('/handler') },
    },
    webhook  => { secret => [ @secret[0, 1] ], timeout => '1s',
                  schedule => [ '300ms', '300ms', '300ms' ],
                  allow_private => JSON::PP::true() },
);

# === a queued task cancelled before any worker runs: the worker that
# reads it marks it cancelled and emits task.cancelled
my $queued = enqueue('system.ping', url => $rcv->url('/cq'));
is($s->http(DELETE => "/status/$queued")->{status}, 202,
   'DELETE of a queued task: 202');

my $w = $s->start_worker(\%wconf);

# === TEST 1: 500, 500, 200: delivered on the third try, one webhook-id
my $flaky = enqueue('system.ping', url => $rcv->url('/flaky'));
my $t = hook_done($flaky);
is($t->{webhook_status}, 'delivered', '500,500,200: delivered');
is($t->{webhook_attempts}, 3, '... webhook_attempts 3');
is($t->{webhook_last_error}, 'HTTP 500', '... the last error kept');
my @f = $rcv->requests('/flaky');
is(scalar @f, 3, '... three requests reached the receiver');
my %ids = map { $_->{headers}{'webhook-id'} => 1 } @f;
is(scalar keys %ids, 1, '... all under the same webhook-id');
like((keys %ids)[0], qr/^msg_\Q$flaky\E_\d+$/, '... msg_<task id>_<ms>');
is(scalar(grep { $_->{body} eq $f[0]{body} } @f), 3,
   '... the same body each time');
my $ev = json_decode($f[2]{body});
is($ev->{type}, 'task.succeeded', '... type task.succeeded');
is($ev->{data}{id}, $flaky, '... data is the task');
is($ev->{data}{result}, 'pong', '... with its result');
is($f[0]{headers}{'content-type'}, 'application/json', '... JSON');
like($f[0]{headers}{'user-agent'}, qr{^taskgw/}, '... User-Agent taskgw/');
my $st = $s->http(GET => "/status/$flaky")->{json}
      // json_decode($s->http(GET => "/status/$flaky")->{body});
is_deeply($st->{webhook}, { status => 'delivered', attempts => 3 },
          '... and GET shows it');

# === TEST 2: secret rotation: two signatures, either secret verifies
for (@f) {
    my @sigs = split ' ', $_->{headers}{'webhook-signature'} // '';
    is(scalar(grep { /^v1,[A-Za-z0-9+\/]+=*$/ } @sigs), 2,
       'two v1 signatures, space-separated') or diag explain $_->{headers};
}
is(verified_by($secret[0], @f), 3, 'a verifier holding the first secret accepts all three');
is(verified_by($secret[1], @f), 3, 'a verifier holding the second secret accepts all three');
is(verified_by($secret[2], @f), 0, 'a verifier holding another secret accepts none');

# === TEST 3: 410 Gone: one try, failed
my $gone = enqueue('system.ping', url => $rcv->url('/gone'));
$t = hook_done($gone);
is($t->{webhook_status}, 'failed', '410: failed');
is($t->{webhook_attempts}, 1, '... after one try');
is($t->{webhook_last_error}, 'HTTP 410', '... reason recorded');

# === TEST 4: no answer: each try ends at the timeout, the schedule is
# followed, then failed
my $never = enqueue('system.ping', url => $rcv->url('/never'));
$rcv->wait_requests('/never', 1, 20);
my $ping = enqueue('system.ping');
ok(wait_for(sub { (task($ping)->{status} // '') eq 'succeeded' }, 10),
   'a task runs while a webhook POST hangs: a delivery holds no slot '
   . '(concurrency 1)');
ok(scalar($rcv->requests('/never')) < 4, '... before that delivery ended');
$t = hook_done($never, 30);
is($t->{webhook_status}, 'failed', 'no answer: failed');
is($t->{webhook_attempts}, 4, '... after 1 + 3 scheduled tries');
like($t->{webhook_last_error}, qr/timed out|timeout/i, '... a timeout');
my @n = $rcv->requests('/never');
is(scalar @n, 4, '... four requests');
my @gaps = map { $n[$_]{t} - $n[$_ - 1]{t} } 1 .. $#n;
ok(!grep({ $_ < 1.2 } @gaps),
   '... each try waited its 1 s timeout plus 300 ms: '
   . join(' ', map { sprintf '%.2fs', $_ } @gaps));
is(verified_by($secret[0], @n), 4, '... each one signed');

# === TEST 5: Retry-After on 429 and 503 is honoured (2 s > 300 ms)
my @ra;
for my $path ('/busy', '/unavail') {
    my $id = enqueue('system.ping', url => $rcv->url($path));
    $t = hook_done($id);
    is($t->{webhook_status}, 'delivered', "$path: delivered");
    is($t->{webhook_attempts}, 2, '... on the second try');
    my @r = $rcv->requests($path);
    my $gap = $r[1]{t} - $r[0]{t};
    ok($gap >= 1.9, sprintf('... which waited Retry-After: 2 (%.2fs)', $gap));
    is(verified_by($secret[1], @r), 2, '... both signed');
}

# === TEST 6: a redirect is not followed and counts as a failure
my $moved = enqueue('system.ping', url => $rcv->url('/moved'));
$t = hook_done($moved);
is($t->{webhook_status}, 'failed', '302: failed in the end');
is($t->{webhook_attempts}, 4, '... after the whole schedule');
like($t->{webhook_last_error}, qr/^HTTP 302/, '... reason: HTTP 302');
is(scalar $rcv->requests('/target'), 0, '... the Location was never visited');

# === TEST 7: a dead task emits task.dead
my $dead = enqueue('fail', url => $rcv->url('/dead'),
                   body => '{"permanent":true}');
$t = hook_done($dead);
is($t->{status}, 'dead', 'permanent failure: dead');
is($t->{webhook_status}, 'delivered', '... its webhook delivered');
my ($d) = $rcv->requests('/dead');
is(ev($d)->{type}, 'task.dead', '... type task.dead');
is(ev($d)->{data}{status}, 'dead', '... data.status dead');

# a scheduled task that can only end dead (its hash lost its queue
# field) emits task.dead too
my $noq = enqueue('system.ping', url => $rcv->url('/noqueue'), delay => 1);
$redis->cmd('HDEL', "$P:task:$noq", 'queue');
$t = hook_done($noq);
is($t->{status}, 'dead', 'a scheduled task without a queue field: dead');
is($t->{webhook_status}, 'delivered', '... its webhook delivered');
is(ev(($rcv->requests('/noqueue'))[0])->{type}, 'task.dead',
   '... type task.dead');

# === TEST 8: cancelled tasks emit task.cancelled
$t = hook_done($queued);
is($t->{status}, 'cancelled', 'queued + DELETE: cancelled by the worker');
my ($cq) = $rcv->requests('/cq');
is(ev($cq)->{type}, 'task.cancelled',
   '... task.cancelled posted');

my $sched = enqueue('system.ping', url => $rcv->url('/cs'), delay => 60);
is($s->http(DELETE => "/status/$sched")->{status}, 202,
   'DELETE of a scheduled task: 202');
$t = hook_done($sched);
is($t->{status}, 'cancelled', '... cancelled');
is($t->{webhook_status}, 'delivered', '... webhook delivered');
my ($cs) = $rcv->requests('/cs');
is(ev($cs)->{type}, 'task.cancelled',
   '... task.cancelled posted');
is(ev($cs)->{data}{status}, 'cancelled',
   '... data.status cancelled');
is(verified_by($secret[0], grep { defined } $cs), 1, '... signed');

my $retrying = enqueue('fail', url => $rcv->url('/cr'));
wait_for(sub { (task($retrying)->{status} // '') eq 'retrying' }, 10);
is(task($retrying)->{status}, 'retrying', 'a failing task is retrying');
my $c = $s->ctl('task', 'cancel', $retrying);
is($c->{code}, 0, '... taskgwctl task cancel') or diag $c->{err};
$t = hook_done($retrying);
is($t->{status}, 'cancelled', '... cancelled');
my ($cr) = $rcv->requests('/cr');
is(ev($cr)->{type}, 'task.cancelled',
   '... task.cancelled posted');

my $hooked = enqueue('hooked', delay => 60);
is($s->http(DELETE => "/status/$hooked")->{status}, 202,
   "a scheduled task with only its handler's webhook: cancelled");
my ($ch) = $rcv->wait_requests('/handler', 1, 20);
is(ev($ch)->{type}, 'task.cancelled',
   "... task.cancelled goes to the handler's webhook");
is(ev($ch)->{data}{id}, $hooked, '... for it');

my $nohook = enqueue('system.ping', delay => 60);
is($s->http(DELETE => "/status/$nohook")->{status}, 202,
   'a scheduled task with no webhook anywhere: cancelled');
ok(wait_for(sub { !$redis->cmd('ZCARD', "$P:outbox") }, 20),
   '... its event is dropped: the outbox is empty');
is(task($nohook)->{webhook_status}, undef, '... no webhook_status');

# === TEST 9: allow_private false: a loopback receiver is never contacted
is($s->stop_worker($w), 0, 'worker stopped');
$w = $s->start_worker({ %wconf, webhook => { %{ $wconf{webhook} },
                                             allow_private => JSON::PP::false() } });
my %priv = ('/private'  => "http://127.0.0.1:$rport/private",
            '/privsix'  => "http://[::1]:$rport/privsix",
            '/privmap'  => "http://[::ffff:127.0.0.1]:$rport/privmap");
for my $path (sort keys %priv) {
    my $id = enqueue('system.ping', url => $priv{$path});
    $t = hook_done($id);
    is($t->{webhook_status}, 'failed', "$priv{$path}: failed");
    is($t->{webhook_last_error}, 'refused: the address is not public',
       '... the reason recorded');
    is(scalar $rcv->requests($path), 0, '... the receiver saw nothing');
}

# === TEST 10: nothing is left in the outbox
is($redis->cmd('ZCARD', "$P:outbox"), 0, 'the outbox is empty');
is(scalar @{ $redis->cmd('KEYS', "$P:event:*") }, 0, 'no event hash left');
is($s->stop_worker($w), 0, 'worker exits 0');

done_testing;
