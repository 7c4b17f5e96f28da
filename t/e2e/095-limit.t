#!/usr/bin/perl
# Rate limits across two nginx worker processes under many concurrent
# connections: the accepted count over an interval stays within what the
# rate and burst allow (and reaches it), also per run-time token with a
# token's own rate=, a zone sized for N keys keeps
# working when ten times as many keys arrive, and a key's state survives
# a reload while a changed zone size is refused.
#
# Bounds are computed from the elapsed time measured here, which contains
# the server's own window, so a slow machine widens them instead of
# failing them.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(request_parallel wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgwctl not built' unless -x $s->ctl_binary;

my $CONFIG = <<'EOC';
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl 60s;
    log_format lim '$pid $status $taskgw_limit_status';
    taskgw_limit_zone zone=slow:1m rate=10r/m burst=30;
    taskgw_limit_zone zone=fast:1m rate=20r/s burst=10;
    taskgw_limit_zone zone=small:32k rate=1r/m;
    taskgw_limit_zone zone=keep:1m rate=%%KEEP_RATE%%;
    taskgw_limit_zone zone=tok:1m rate=1r/m burst=10;
    server {
        listen 127.0.0.1:%%PORT%% backlog=1024;
        access_log %%SERVROOT%%/logs/lim.log lim;
        root %%SERVROOT%%/html;
        location /slow  { taskgw_limit zone=slow key=all;  try_files /ok =404; }
        location /fast  { taskgw_limit zone=fast key=all;  try_files /ok =404; }
        location /small { taskgw_limit zone=small key=$arg_k;
                          try_files /ok =404; }
        location /keep  { taskgw_limit zone=keep key=$arg_k;
                          try_files /ok =404; }
        location /tok   { taskgw_auth dev; taskgw_limit zone=tok;
                          try_files /ok =404; }
        %%EXTRA%%
    }
EOC

mkdir $s->dir . '/html';
open my $fh, '>', $s->dir . '/html/ok' or die $!;
print $fh "ok\n";
close $fh;

$s->start_redis;
$s->start_nginx(worker_processes => 2, log_level => 'notice',
                config => $CONFIG,
                vars => { KEEP_RATE => '1r/m', EXTRA => '' });
is(scalar(my @w = $s->nginx_worker_pids), 2, 'two nginx worker processes');

# Hammers $path from $nproc processes, each keeping $batch connections
# busy, for $secs seconds; returns ({status => count}, elapsed seconds).
sub hammer {
    my ($path, $secs, $nproc, $batch, @headers) = @_;
    my $t0 = time;
    my $deadline = $t0 + $secs;
    my @kids;
    for my $i (1 .. $nproc) {
        my $out = $s->dir . "/hammer-$$-$i";
        push @kids, [ $out, $s->fork_process("hammer-$i", sub {
            my %c;
            while (time < $deadline) {
                my $res = request_parallel(
                    [ map { [ GET => $path, headers => [ @headers ] ] }
                          1 .. $batch ],
                    port => $s->port, timeout => 30);
                $c{ $_->{status} }++ for @$res;
                sleep 0.01;     # many connections, without taking the
                                # whole machine from tests running beside
            }
            open my $o, '>', $out or die $!;
            print $o "$_ $c{$_}\n" for keys %c;
            close $o;
        }) ];
    }
    my %codes;
    for my $k (@kids) {
        waitpid($k->[1], 0);
        $s->kill_process($k->[1]);
        open my $in, '<', $k->[0] or next;
        while (<$in>) { $codes{$1} += $2 if /^(\d+) (\d+)$/ }
    }
    return (\%codes, time - $t0);
}

sub pids_in_log {
    my %pids;
    open my $in, '<', $s->dir . '/logs/lim.log' or return {};
    while (<$in>) { $pids{$1}++ if /^(\d+) (200|429) / }
    return \%pids;
}

# === TEST 1: slow zone, 10r/m burst=30: exactly burst + 1 + one per 6 s
{
    my ($c, $dt) = hammer('/slow', 6, 4, 16);
    my $acc = $c->{200} // 0;
    my $max = 30 + 1 + int($dt * 10 / 60) + 1;
    my $min = 30 + 1 + ($dt > 2 ? int(($dt - 2) * 10 / 60) : 0);
    my $total = 0;
    $total += $_ for values %$c;
    note(sprintf '/slow: %d requests in %.2f s: %s', $total, $dt,
         join(', ', map { "$_=$c->{$_}" } sort keys %$c));
    cmp_ok($acc, '<=', $max, "slow zone: accepted $acc <= $max");
    cmp_ok($acc, '>=', $min, "slow zone: accepted $acc >= $min");
    is_deeply([ grep { $_ != 200 && $_ != 429 } keys %$c ], [],
              'slow zone: every answer is 200 or 429');
    cmp_ok($c->{429} // 0, '>', 10 * $acc, 'slow zone: heavily overloaded');
}

# === TEST 2: fast zone, 20r/s burst=10
{
    my ($c, $dt) = hammer('/fast', 6, 4, 16);
    my $acc = $c->{200} // 0;
    my $max = 10 + 1 + int($dt * 20) + 1;
    my $min = 10 + 1 + ($dt > 2 ? int(($dt - 2) * 20) : 0);
    note(sprintf '/fast: %.2f s: %s', $dt,
         join(', ', map { "$_=$c->{$_}" } sort keys %$c));
    cmp_ok($acc, '<=', $max, "fast zone: accepted $acc <= $max");
    cmp_ok($acc, '>=', $min, "fast zone: accepted $acc >= $min");
    is_deeply([ grep { $_ != 200 && $_ != 429 } keys %$c ], [],
              'fast zone: every answer is 200 or 429');
}

# === TEST 2b: keyed by run-time tokens, one with its own rate=, at once
{
    my %tok;
    for ([ 'plain-rt', [] ], [ 'fast-rt', [ 'rate=20r/s' ] ]) {
        my $res = $s->ctl('token', 'create', $_->[0], 'dev', @{ $_->[1] });
        ($tok{ $_->[0] }) = $res->{out} =~ /^(tgw_\S+)$/m;
    }
    ok($tok{'plain-rt'} && $tok{'fast-rt'}, 'two run-time tokens created');

    my (%got, %dt);
    my $t0 = Time::HiRes::time();
    my $pid = $s->fork_process('hammer-plain-rt', sub {
        my ($c) = hammer('/tok', 5, 2, 8,
                         Authorization => "Bearer $tok{'plain-rt'}");
        open my $o, '>', $s->dir . '/plain-rt' or die $!;
        print $o join(' ', map { "$_=$c->{$_}" } sort keys %$c), "\n";
        close $o;
    });
    my ($fast) = hammer('/tok', 5, 2, 8,
                        Authorization => "Bearer $tok{'fast-rt'}");
    waitpid($pid, 0);
    $s->kill_process($pid);
    my $dt = Time::HiRes::time() - $t0;
    my %plain = map { split /=/ } split ' ',
                do { open my $i, '<', $s->dir . '/plain-rt'; <$i> // '' };
    note(sprintf 'run-time tokens, %.2f s: plain %s; fast %s', $dt,
         join(', ', map { "$_=$plain{$_}" } sort keys %plain),
         join(', ', map { "$_=$fast->{$_}" } sort keys %$fast));

    # the zone's 1r/m burst=10: the 11 of the burst, at most one more
    my $p = $plain{200} // 0;
    cmp_ok($p, '>=', 11, "zone rate: accepted $p >= 11");
    cmp_ok($p, '<=', 11 + int($dt / 60) + 1, "zone rate: accepted $p <= 12");

    # the token's 20r/s with the zone's burst=10
    my $f = $fast->{200} // 0;
    my $max = 10 + 1 + int($dt * 20) + 1;
    my $min = 10 + 1 + ($dt > 3 ? int(($dt - 3) * 20) : 0);
    cmp_ok($f, '<=', $max, "token rate: accepted $f <= $max");
    cmp_ok($f, '>=', $min, "token rate: accepted $f >= $min");
    is_deeply([ grep { $_ != 200 && $_ != 429 } keys %$fast, keys %plain ],
              [], 'every answer is 200 or 429');
}

my $pids = pids_in_log();
note('answers per nginx worker: '
     . join(', ', map { "$_=$pids->{$_}" } sort keys %$pids));
is(scalar(keys %$pids), 2, 'both worker processes decided requests');

# === TEST 3: a zone sized for N keys takes 10 x N distinct keys
{
    # learn N: new keys until the zone says it is full
    my ($n, $sent) = (0, 0);
    my %codes;
    while (!$n && $sent < 100_000) {
        my $res = request_parallel(
            [ map { [ GET => '/small?k=fill' . ($sent + $_) ] } 1 .. 50 ],
            port => $s->port, timeout => 30);
        $sent += 50;
        $codes{ $_->{status} }++ for @$res;
        $n = $1 if $s->error_log
            =~ /taskgw zone "small" is full with (\d+) keys/;
    }
    ok($n > 50, "a 32k zone holds $n keys before it evicts");
    is_deeply(\%codes, { 200 => $sent }, "$sent new keys: all 200")
        or diag explain \%codes;

    # 10 x N more distinct keys, many at once
    my $want = 10 * $n;
    %codes = ();
    for (my $i = 0; $i < $want; $i += 100) {
        my $res = request_parallel(
            [ map { [ GET => '/small?k=more' . ($i + $_) ] } 1 .. 100 ],
            port => $s->port, timeout => 30);
        $codes{ $_->{status} }++ for @$res;
    }
    my $got = 0;
    $got += $_ for values %codes;
    is_deeply(\%codes, { 200 => $got }, "$got more new keys: all 200")
        or diag explain \%codes;

    # the zone still limits the keys it holds
    my $r = $s->http(GET => '/small?k=more' . ($got));
    is($r->{status}, 429, 'a recent key is still limited');
    $r = $s->http(GET => '/small?k=fresh-one');
    is($r->{status}, 200, 'a new key passes');
    $r = $s->http(GET => '/small?k=fresh-one');
    is($r->{status}, 429, 'and is limited on its second request');

    my @bad = grep { /\[(error|crit|alert|emerg)\]/ } split /\n/,
              $s->error_log;
    is_deeply(\@bad, [], 'no error in the log while the zone was full');
}

# === TEST 4: a reload keeps the state of an exhausted key
{
    my $r = $s->http(GET => '/keep?k=spent');
    is($r->{status}, 200, 'first request of a key passes');
    $r = $s->http(GET => '/keep?k=spent');
    is($r->{status}, 429, 'second is limited');

    $s->reload_nginx(worker_processes => 2, log_level => 'notice',
                     config => $CONFIG,
                     vars => { KEEP_RATE => '1r/m',
                               EXTRA => 'location /v2 { return 204; }' });
    ok(wait_for(sub { $s->http(GET => '/v2')->{status} == 204 }, 10),
       'the new configuration runs');

    my %after;
    $after{ $s->http(GET => '/keep?k=spent')->{status} }++ for 1 .. 4;
    is_deeply(\%after, { 429 => 4 },
              'after the reload the key is still limited, in every worker');
    is($s->http(GET => '/keep?k=other')->{status}, 200,
       'another key still passes');

    # a new rate applies to the kept state: 2r/m would have let it pass
    # after 30 s, 1r/m after 60 s; the state is 30-60 s from drained
    $s->reload_nginx(worker_processes => 2, log_level => 'notice',
                     config => $CONFIG,
                     vars => { KEEP_RATE => '2r/m', EXTRA => '' });
    like($s->error_log, qr/taskgw_limit_zone "keep": rate 2 r\/m burst 0 now, was 1 r\/m burst 0; its keys keep their state/,
         'a changed rate is logged and the keys are kept');
    is($s->http(GET => '/keep?k=spent')->{status}, 429,
       'the exhausted key is still limited under the new rate');
}

# === TEST 5: a changed zone size is refused; the old configuration serves
{
    wait_for(sub { (my @p = $s->nginx_worker_pids) == 2 }, 10);
    my %old = map { $_ => 1 } $s->nginx_worker_pids;
    my $conf = $CONFIG;
    $conf =~ s/zone=keep:1m/zone=keep:2m/;
    $s->_write_nginx_conf(worker_processes => 2, log_level => 'notice',
                          config => $conf,
                          vars => { KEEP_RATE => '2r/m',
                                    EXTRA => 'location /v3 { return 204; }' });
    kill 'HUP', $s->nginx_pid;
    ok(wait_for(sub { $s->error_log =~ /zone "keep" cannot change its size from 1048576 to 2097152 bytes on reload; restart nginx to resize it, or give it another name in \S+nginx\.conf:\d+/ }, 10),
       'the reload is refused with the reason, file and line');
    is_deeply([ sort $s->nginx_worker_pids ], [ sort keys %old ],
              'the worker processes of the old configuration go on');
    isnt($s->http(GET => '/v3')->{status}, 204,
         'the refused configuration does not run');
    is($s->http(GET => '/keep?k=spent')->{status}, 429,
       'and the zone kept its state');
}

my @alerts = grep { !/cannot change its size/ } $s->error_log_alerts;
is_deeply(\@alerts, [], 'no crash or alert in the error log');

done_testing();
