#!/usr/bin/perl
# The webhook test harness itself: the receiver records every request and
# answers each path by its script (500 then 200, 410, Retry-After, a
# redirect, never); the independent verifier (npm "standardwebhooks")
# accepts a webhook the worker signed and refuses a changed body, a wrong
# secret and an old timestamp.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for http_request json_decode);
use TaskGW::Receiver;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $rcv = TaskGW::Receiver->new($s);
$rcv->script('/flaky' => [ { status => 500 }, { status => 500 },
                           { status => 200, body => 'ok' } ],
             '/gone'  => [ { status => 410 } ],
             '/busy'  => [ { status => 429,
                             headers => { 'Retry-After' => 7 } } ],
             '/moved' => [ { status => 302,
                             headers => { Location => $rcv->url('/x') } } ],
             '/never' => [ { hang => 1 } ]);

# === TEST 1: answers follow the script, the last one repeats
my @st = map { http_request(POST => '/flaky', port => $rcv->port,
                            body => "n=$_")->{status} } 1 .. 4;
is_deeply(\@st, [ 500, 500, 200, 200 ], '/flaky: 500, 500, 200, 200');
is(http_request(POST => '/gone', port => $rcv->port)->{status}, 410,
   '/gone: 410');
my $r = http_request(POST => '/busy', port => $rcv->port);
is($r->{status}, 429, '/busy: 429');
is($r->{headers}{'retry-after'}, 7, '... with Retry-After');
$r = http_request(POST => '/moved', port => $rcv->port);
is($r->{status}, 302, '/moved: 302');
like($r->{headers}{location}, qr{/x$}, '... with Location');
$r = http_request(POST => '/never', port => $rcv->port, timeout => 1);
is($r->{status}, 0, '/never: no answer within the client timeout');
is(http_request(POST => '/other', port => $rcv->port)->{status}, 200,
   'a path without a script: 200');

# === TEST 2: every request is recorded with its headers and body
my @f = $rcv->requests('/flaky');
is(scalar @f, 4, 'four requests to /flaky recorded');
is_deeply([ map { $_->{body} } @f ], [ map { "n=$_" } 1 .. 4 ],
          '... with their bodies, in order');
is($rcv->requests('/never'), 1, 'a request never answered is recorded');

# === TEST 3: the verifier accepts what the worker signed
my $secret = 'whsec_' . encode_base64(join('', map { chr int rand 256 }
                                           1 .. 24), '');
$s->start_redis;
$s->start_worker({
    handlers => { 'system.ping' => { builtin => 'ping' } },
    webhook  => { secret => $secret, url => $rcv->url('/hook'),
                  allow_private => JSON::PP::true() },
});
my $e = $s->ctl('enqueue', 'default', 'system.ping', '-', { stdin => '{}' });
is($e->{code}, 0, 'task enqueued with taskgwctl') or diag $e->{err};
my @h = $rcv->wait_requests('/hook', 1, 20);
is(scalar @h, 1, 'the worker posted the webhook');
my ($ok) = TaskGW::Receiver::verify($secret, @h);
ok($ok->{ok}, 'standardwebhooks verifies its signature')
    or diag explain $ok, $h[0];
is(json_decode($h[0]{body})->{type}, 'task.succeeded', 'event type');

# === TEST 4: and refuses a changed body, a wrong secret, an old timestamp
my %bad = %{ $h[0] };
$bad{body} = $h[0]{body} . ' ';
my ($b1) = TaskGW::Receiver::verify($secret, \%bad);
ok(!$b1->{ok}, 'a changed body is refused') or diag explain $b1;
my ($b2) = TaskGW::Receiver::verify(
    'whsec_' . encode_base64('another secret of 24 b.', ''), $h[0]);
ok(!$b2->{ok}, 'another secret is refused');
my %old = %{ $h[0] };
$old{headers} = { %{ $h[0]{headers} },
                  'webhook-timestamp' => int(time) - 3600 };
my ($b3) = TaskGW::Receiver::verify($secret, \%old);
ok(!$b3->{ok}, 'a webhook-timestamp an hour old is refused');

done_testing;
