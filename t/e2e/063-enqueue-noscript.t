#!/usr/bin/perl
# nginx enqueues a task that needs checking in Redis (here: a location
# with taskgw_max_backlog) with one EVALSHA of the enqueue script carrying
# the whole task, and loads the script on every connect of its Redis link.  A SCRIPT
# FLUSH under a live link makes the next call meet NOSCRIPT, which means
# nothing ran: nginx loads the script and sends the same task again, so
# the client still gets 202 and exactly one task is stored.  A restarted
# Redis is loaded again by the reconnect.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

my $prefix = $s->prefix;

$s->start_redis;
$s->start_nginx(config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_max_backlog 1000000;
                          taskgw_enqueue queue=default type=ping; }
    }
EOC

my $r = $s->redis;

sub enqueue {
    my $res = $s->http(POST => '/tasks', body => '{"n":1}',
                       headers => [ 'Content-Type' => 'application/json' ]);
    return $res;
}

sub cmdstat {
    my ($name) = @_;
    my $info = $r->cmd('INFO', 'commandstats') // '';
    return $info =~ /^cmdstat_\Q$name\E:calls=(\d+)/m ? $1 : 0;
}

sub stored {
    my $keys = $r->cmd('KEYS', "$prefix:task:*");
    return (ref $keys eq 'ARRAY' ? scalar @$keys : 0,
            $r->cmd('XLEN', "$prefix:q:default:normal") // 0);
}

my $accepted = 0;

# === TEST 1: the enqueue script goes by digest
$r->cmd('CONFIG', 'RESETSTAT');
for (1 .. 5) {
    my $res = enqueue();
    is($res->{status}, 202, 'enqueue: 202') or diag explain $res;
    $accepted++ if $res->{status} == 202;
}
is(cmdstat('evalsha'), 5, 'five EVALSHA');
is(cmdstat('eval'), 0, 'no EVAL (the script text is not resent)');

# === TEST 2: SCRIPT FLUSH under the live link: the enqueue that meets it
# loads the script and is sent again, once; the client never sees it
for my $round (1 .. 3) {
    is($r->cmd('SCRIPT', 'FLUSH'), 'OK', "flush $round");
    my $loads = cmdstat('script|load');
    my @res = map { enqueue() } 1 .. 5;
    my @codes = map { $_->{status} } @res;
    $accepted += grep { $_ == 202 } @codes;
    is("@codes", '202 202 202 202 202',
       "round $round: every enqueue accepted, the one that met the flush too");
    is(cmdstat('script|load') - $loads, 1, "round $round: loaded once");
    my $first = $res[0]{json} && $res[0]{json}{id};
    ok($first && $r->cmd('EXISTS', "$prefix:task:$first"),
       "round $round: the task that met the flush is stored under its id");
}
my ($hashes, $entries) = stored();
is($hashes, $accepted, "one task hash per 202 ($accepted)");
is($entries, $accepted, 'one stream entry per 202: nothing stored twice');
like($s->error_log, qr/NOSCRIPT/, 'the reload is in the error log');

# === TEST 3: a flush while many enqueues are in flight on the link: each
# that meets NOSCRIPT is sent again, none fails, none is stored twice
for my $round (1 .. 3) {
    is($r->cmd('SCRIPT', 'FLUSH'), 'OK', "flush under load $round");
    my $res = $s->http_parallel([ map {
        [ POST => '/tasks', body => '{"n":1}',
          headers => [ 'Content-Type' => 'application/json' ] ] } 1 .. 40 ],
        timeout => 30);
    my @bad = grep { $_->{status} != 202 } @$res;
    is(scalar @bad, 0, "round $round: 40 concurrent enqueues, all 202")
        or diag explain $bad[0];
    $accepted += grep { $_->{status} == 202 } @$res;
    my %ids = map { ($_->{json} && $_->{json}{id}) // '' => 1 } @$res;
    is(scalar(grep { length } keys %ids), 40, "round $round: 40 distinct ids");
}
($hashes, $entries) = stored();
is($hashes, $accepted, "one task hash per 202 ($accepted)");
is($entries, $accepted, 'one stream entry per 202');
my $ids = $r->cmd('XRANGE', "$prefix:q:default:normal", '-', '+');
my %seen;
$seen{ $_->[1][1] }++ for @$ids;
is(scalar(grep { $_ > 1 } values %seen), 0, 'no task id entered twice');

# === TEST 4: a restarted Redis (empty script cache): the reconnect loads it
$s->restart_redis;
$r = $s->redis;
my $res;
ok(wait_for(sub { $res = enqueue(); $res->{status} == 202 }, 15, 0.2),
   'enqueue accepted again after the restart');
my @codes = map { enqueue()->{status} } 1 .. 5;
is("@codes", '202 202 202 202 202', 'and every enqueue after it');
is(cmdstat('script|load'), 1, 'the script was loaded once, by the connect');

is(scalar $s->error_log_alerts, 0, 'no alerts in the error log');

done_testing();
