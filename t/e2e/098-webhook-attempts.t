#!/usr/bin/perl
# The count of tries an outbox event's hash holds is read as a bounded
# number: a hash whose "attempts" is at the edge of int (written by hand,
# or damaged) is delivered on its next try and recorded with a sane,
# non-negative count, with no overflow in the worker (under
# `make test-asan` an overflow aborts the worker), and a count that is no
# decimal is taken as 0.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use TaskGW::Stack qw(wait_for json_decode);
use TaskGW::Receiver;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $P = $s->prefix;
my $rcv = TaskGW::Receiver->new($s);
# the first try of each fails, so the event waits in the outbox for its
# (long) next try; the test then edits it and makes it due at once
$rcv->script(
    '/edge'    => [ { status => 500 }, { status => 200 } ],
    '/garbage' => [ { status => 500 }, { status => 200 } ],
);

$s->start_redis;
$s->start_nginx(vars => { RPORT => $rcv->port }, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        taskgw_callback_allow "http://127\.0\.0\.1:%%RPORT%%/[a-z]*";
        location /t {
            taskgw_enqueue queue=default type=system.ping;
        }
    }
EOC
my $redis = $s->redis;

my $w = $s->start_worker({
    concurrency => 1,
    handlers    => { 'system.ping' => { builtin => 'ping' } },
    webhook     => { secret => 'whsec_' . ('A' x 32), timeout => '2s',
                     schedule => [ '1h', '1h' ],
                     allow_private => JSON::PP::true() },
});

sub task { $redis->hgetall("$P:task:$_[0]") }

sub enqueue {
    my ($path) = @_;
    my $r = $s->http(POST => '/t', body => '{}',
                     headers => { 'Content-Type' => 'application/json',
                                  'X-Callback-URL' => $rcv->url($path) });
    die "enqueue: $r->{status} $r->{body}" unless $r->{status} == 202;
    return json_decode($r->{body})->{id};
}

# Runs a task whose first webhook try fails, sets its event's attempts to
# $attempts and makes it due now; returns the task hash once the event
# is final.
sub retried_with {
    my ($path, $attempts) = @_;
    my $id = enqueue($path);
    my $t;
    ok(wait_for(sub {
        $t = task($id);
        ($t->{webhook_status} // '') eq 'pending'
            && ($t->{webhook_attempts} // '') eq '1';
    }, 30), "$path: the first try failed, the event waits")
        or diag explain $t;
    my ($ev) = @{ $redis->cmd('ZRANGE', "$P:outbox", 0, -1) // [] };
    ok(defined $ev && $ev =~ /^msg_\Q$id\E_/, "$path: its event is queued");
    $redis->cmd('HSET', "$P:event:$ev", 'attempts', $attempts);
    $redis->cmd('ZADD', "$P:outbox", int(time * 1000) - 1, $ev);
    ok(wait_for(sub {
        $t = task($id);
        ($t->{webhook_status} // '') =~ /^(delivered|failed)$/;
    }, 30), "$path: the retry is answered") or diag explain $t;
    return $t;
}

my $t = retried_with('/edge', '2147483647');
is($t->{webhook_status}, 'delivered', 'attempts at INT_MAX: delivered');
like($t->{webhook_attempts} // '', qr/^[0-9]+$/,
     '... and the count recorded is not negative')
    or diag "webhook_attempts: $t->{webhook_attempts}";
cmp_ok($t->{webhook_attempts} // 0, '>', 2, '... nor reset');
is(scalar(() = $rcv->requests('/edge')), 2, '... after two requests');

$t = retried_with('/garbage', '7x');
is($t->{webhook_status}, 'delivered', 'attempts "7x": delivered');
is($t->{webhook_attempts}, 1, '... counted from 0');

ok($s->worker_running($w), 'the worker is still running');
is($s->stop_worker($w), 0, 'the worker exits 0');

done_testing;
