#!/usr/bin/perl
# The subscriber notices a Redis that goes silent without closing the
# connection (frozen, or a network black hole): a proxy between nginx and
# Redis stops passing anything on the subscriber's connection while its
# sockets stay open, and the command link's connection works on.  Within
# about twice taskgw_redis_timeout (its PING gets no answer) the
# subscriber drops that connection, logs why and subscribes again on a
# new one; a long poll whose outcome was announced into the black hole
# then reads its task again and answers before its wait runs out, and a
# revocation reaches the token cache again within a second.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);
use TaskGW::Freeze;

my $s = TaskGW::Stack->new(prefix => 'e2e142');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgwctl not built' unless -x $s->ctl_binary;

$s->start_redis;
my $px = TaskGW::Freeze->new($s, $s->redis_port);

# nginx reaches Redis only through the proxy; the cache TTL is long, so
# only a revocation message explains a quick 401
my $conf = <<'EOC';
    taskgw_redis 127.0.0.1:%%PROXY_PORT%%;
    taskgw_redis_timeout 1s;
    taskgw_prefix %%PREFIX%%;
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl 60s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks/ { taskgw_enqueue queue=nobody type=ping; }
        location /status/ { taskgw_status; }
        location /ping {
            taskgw_auth dev;
            empty_gif;
        }
    }
EOC
$s->start_nginx(config => $conf, vars => { PROXY_PORT => $px->port });

my $r = $s->redis;

# the ids of the subscriber connections Redis has
sub subscribers {
    return map { /\bid=(\d+)\b/ ? $1 : () }
           grep { /\bsub=[1-9]/ } split /\r?\n/, $r->cmd('CLIENT', 'LIST');
}

sub hgetalls {
    my ($line) = grep { /^cmdstat_hgetall:/ }
                 split /\r?\n/, $r->cmd('INFO', 'commandstats');
    return $line && $line =~ /calls=(\d+)/ ? $1 : 0;
}

sub ping { $s->http(GET => '/ping',
                    headers => [ 'X-API-Token' => $_[0] ])->{status} }

ok(wait_for(sub { subscribers() == 1 }, 10, 0.05), 'the subscriber is up');
my ($old) = subscribers();

# a run-time token, cached
my $res = $s->ctl('token', 'create', 'ci', 'dev');
my ($tok) = $res->{out} =~ /^(tgw_\S+)$/m;
ok($tok, 'a run-time token');
is(ping($tok), 200, 'it passes');
my $before = hgetalls();
is(ping($tok), 200, 'it passes again');
is(hgetalls() - $before, 0, 'from the cache');

# a long poll on a task nobody runs
$res = $s->http(POST => '/tasks/', body => '{}');
is($res->{status}, 202, 'a task');
my $id = $res->{json}{id};
my $t_poll = time;
my $poll = $s->http_send(GET => "/status/$id?wait=25", timeout => 40);

# === TEST 1: the subscriber's connection goes silent: noticed, dropped,
# and a new one subscribes, within about twice taskgw_redis_timeout
my $t0 = time;
is($px->freeze_subscribers, 1, 'the subscriber connection is silent now');

# the outcome is recorded as the worker would, announced into the silence
$r->cmd('HSET', "e2e142:task:$id", 'status', 'succeeded',
        'finished_at', int(time * 1000));
cmp_ok($r->cmd('PUBLISH', 'e2e142:events:done', $id), '>=', 1,
       'the outcome announced to the silent subscriber');

my $new;
wait_for(sub { ($new) = grep { $_ != $old } subscribers(); $new }, 20, 0.02);
my $took = time - $t0;
ok($new, 'a new subscriber connection');
cmp_ok($took, '<', 10, sprintf('it came %.2f s after the silence began',
                               $took));
diag(sprintf('silent subscriber replaced after %.3f s', $took));
like($s->error_log, qr/redis subscriber 127\.0\.0\.1:\d+ link lost: did not answer PING within 1000 ms/,
     'the error log says why');

# === TEST 2: the long poll, whose message was lost, reads its task again
# once the subscriber is back, long before its wait runs out
$res = $s->http_recv($poll);
my $waited = time - $t_poll;
is($res->{status}, 200, 'the long poll: 200');
is($res->{json} && $res->{json}{status}, 'succeeded',
   'the long poll: the terminal status');
cmp_ok($waited, '<', 15, sprintf('the long poll: after %.2f s, not the 25 s '
                                 . 'of its wait', $waited));

# === TEST 3: revocations are heard again: the cached token is rejected
# within a second
is($s->ctl('token', 'revoke', 'ci')->{code}, 0, 'taskgwctl token revoke');
$t0 = time;
ok(wait_for(sub { ping($tok) == 401 }, 5, 0.02), 'the token is rejected');
$took = time - $t0;
cmp_ok($took, '<', 1, sprintf('within a second (%.3f s)', $took));

# === TEST 4: a quiet but healthy subscriber is not dropped: its PINGs are
# answered (three intervals without traffic)
my $quiet = time;
wait_for(sub { time - $quiet > 3.5 }, 5, 0.25);
is_deeply([ grep { $_ != $old } subscribers() ], [ $new ],
          'the same subscriber after 3.5 quiet seconds');
my $lost = () = $s->error_log =~ /did not answer PING/g;
is($lost, 1, 'only the silent connection was dropped');

my @alerts = $s->error_log_alerts;
is(scalar(@alerts), 0, 'no alert or crash') or diag(join "\n", @alerts);

$px->stop;
done_testing();
