#!/usr/bin/perl
# nginx sends the enqueue script as EVALSHA inside its MULTI/EXEC, and
# loads the script on every connect of its Redis link.  A SCRIPT FLUSH
# under a live link costs the enqueue that meets it a 503 (with nothing
# left stored); that reply loads the script again, and the enqueues after
# it get 202.  A restarted Redis is loaded again by the reconnect.

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
        location /tasks { taskgw_enqueue queue=default type=ping; }
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

# === TEST 2: SCRIPT FLUSH under the live link: one 503, then 202s
for my $round (1 .. 3) {
    is($r->cmd('SCRIPT', 'FLUSH'), 'OK', "flush $round");
    my @codes = map { enqueue()->{status} } 1 .. 5;
    $accepted += grep { $_ == 202 } @codes;
    is("@codes", '503 202 202 202 202',
       "round $round: the enqueue that met the flush failed, later ones not");
}
my ($hashes, $entries) = stored();
is($hashes, $accepted, "one task hash per 202 ($accepted): a 503 left none");
is($entries, $accepted, 'one stream entry per 202');
like($s->error_log, qr/NOSCRIPT/, 'the failure is in the error log');

# === TEST 3: a restarted Redis (empty script cache): the reconnect loads it
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
