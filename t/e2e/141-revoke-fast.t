#!/usr/bin/perl
# Revocation within a second: two nginx instances (2 worker processes
# each) on one Redis, a run-time token cached in both (cache TTL 60 s, so
# only the revocation message can explain a quick 401).  `taskgwctl token
# revoke` and the admin API's DELETE tokens/<name> each make every worker
# of both instances reject the token within 1 s; other cached tokens stay
# cached.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Digest::SHA qw(sha256_hex);
use TaskGW::Stack qw(wait_for);

my $a = TaskGW::Stack->new(prefix => 'e2e141');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $a->_modules({});
plan skip_all => 'build/taskgwctl not built' unless -x $a->ctl_binary;

my $b = TaskGW::Stack->new(prefix => 'e2e141');

my $admin = 'tgw_admin_' . 'c' x 40;
for my $s ($a, $b) {
    open my $fh, '>', $s->dir . '/tokens' or die;
    print $fh "root admin sha256:" . sha256_hex($admin) . "\n";
    close $fh;
}

$a->start_redis;
$b->{redis_port} = $a->redis_port;   # the same Redis

my $conf = <<'EOC';
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_prefix %%PREFIX%%;
    taskgw_tokens %%SERVROOT%%/tokens;
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl 60s;
    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        location /ping {
            taskgw_auth dev;
            add_header X-Pid $pid always;
            empty_gif;
        }
        location /admin/ { taskgw_admin; }
    }
EOC
$_->start_nginx(worker_processes => 2, config => $conf) for $a, $b;

my $r = $a->redis;

sub hgetalls {
    my ($line) = grep { /^cmdstat_hgetall:/ }
                 split /\r?\n/, $r->cmd('INFO', 'commandstats');
    return $line && $line =~ /calls=(\d+)/ ? $1 : 0;
}

# statuses of n concurrent requests with the token, and the worker pids
# that answered them
sub burst {
    my ($s, $tok, $n) = @_;
    my $res = $s->http_parallel([ map { [ GET => '/ping', headers =>
                                  [ 'X-API-Token' => $tok ] ] } 1 .. $n ],
                                timeout => 10);
    my %pids = map { ($_->{headers}{'x-pid'} // '?') => 1 } @$res;
    return ([ map { $_->{status} } @$res ], scalar(keys %pids));
}

# the token passes on every worker of both instances, then is cached
sub cache_everywhere {
    my ($tok, $what) = @_;
    for my $s ($a, $b) {
        my ($st, $workers);
        wait_for(sub {
            ($st, $workers) = burst($s, $tok, 20);
            $workers == 2;
        }, 10, 0.1);
        is_deeply($st, [ (200) x 20 ], "$what: passes on " . $s->port);
        is($workers, 2, "$what: on both workers of " . $s->port);
    }
    my $before = hgetalls();
    burst($_, $tok, 20) for $a, $b;
    is(hgetalls() - $before, 0, "$what: cached (no Redis lookup)");
}

# after the revocation: how long until every request to both instances
# is 401, checked every 20 ms
sub rejected_after {
    my ($tok, $t0) = @_;
    my %took;
    wait_for(sub {
        for my $s (grep { !$took{$_->port} } $a, $b) {
            my ($st) = burst($s, $tok, 6);
            $took{$s->port} = time - $t0
                unless grep { $_ != 401 } @$st;
        }
        keys %took == 2;
    }, 30, 0.02);
    return map { $took{$_->port} // 999 } $a, $b;
}

# === TEST 1: taskgwctl token revoke: both instances reject within 1 s
my $res = $a->ctl('token', 'create', 'ci', 'dev');
my ($tok) = $res->{out} =~ /^(tgw_\S+)$/m;
ok($tok, 'a run-time token');
cache_everywhere($tok, 'ctl');
my $t0 = time;
is($a->ctl('token', 'revoke', 'ci')->{code}, 0, 'taskgwctl token revoke');
my @took = rejected_after($tok, $t0);
cmp_ok($took[0], '<', 1, sprintf('ctl revoke: instance 1 rejects after '
                                 . '%.3f s', $took[0]));
cmp_ok($took[1], '<', 1, sprintf('ctl revoke: instance 2 rejects after '
                                 . '%.3f s', $took[1]));
for my $s ($a, $b) {
    my ($st, $workers) = burst($s, $tok, 20);
    is_deeply($st, [ (401) x 20 ], 'ctl revoke: 401 on every worker of '
                                   . $s->port . " ($workers answered)");
}

# === TEST 2: the admin API's revoke, sent to instance 2: the same
$res = $a->ctl('token', 'create', 'deploy', 'dev');
($tok) = $res->{out} =~ /^(tgw_\S+)$/m;
ok($tok, 'another run-time token');
cache_everywhere($tok, 'admin');
$t0 = time;
$res = $b->http(DELETE => '/admin/tokens/deploy',
                headers => [ Authorization => "Bearer $admin" ]);
is($res->{status}, 200, 'admin API: DELETE tokens/deploy')
    or diag($res->{body});
@took = rejected_after($tok, $t0);
cmp_ok($took[0], '<', 1, sprintf('admin revoke: instance 1 rejects after '
                                 . '%.3f s', $took[0]));
cmp_ok($took[1], '<', 1, sprintf('admin revoke: instance 2 rejects after '
                                 . '%.3f s', $took[1]));

# === TEST 3: a revocation drops only its own token: another cached token
# still passes without a Redis lookup
$res = $a->ctl('token', 'create', 'keep', 'dev');
my ($keep) = $res->{out} =~ /^(tgw_\S+)$/m;
$res = $a->ctl('token', 'create', 'drop', 'dev');
($tok) = $res->{out} =~ /^(tgw_\S+)$/m;
cache_everywhere($_, 'two tokens') for $keep, $tok;
is($a->ctl('token', 'revoke', 'drop')->{code}, 0, 'one of them revoked');
@took = rejected_after($tok, time);
cmp_ok($took[0] + $took[1], '<', 2, 'the revoked one is rejected');
my $before = hgetalls();
for my $s ($a, $b) {
    my ($st) = burst($s, $keep, 20);
    is_deeply($st, [ (200) x 20 ], 'the other passes on ' . $s->port);
}
is(hgetalls() - $before, 0, 'the other is still cached');

my @alerts = map { $_->error_log_alerts } $a, $b;
is(scalar(@alerts), 0, 'no alert or crash') or diag(join "\n", @alerts);

$b->stop_nginx;
done_testing();
