#!/usr/bin/perl
# Run-time tokens (taskgw_tokens_redis): taskgwctl token create -> the
# token works; revoke -> refused once the cached lookup expired; one Redis
# lookup per token per TTL across nginx workers; Redis stopped -> a cached
# token still passes, an uncached one is 503 (not 401); every token change
# is in the audit stream; no plaintext token in the debug-level error log.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new(prefix => 'e2e090');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgwctl not built' unless -x $s->ctl_binary;

my $conf = <<'EOC';
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_timeout 500ms;
    taskgw_prefix %%PREFIX%%;
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl %%TTL%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_auth dev; taskgw_enqueue queue=default; }
        location /ops   { taskgw_auth ops; taskgw_enqueue queue=default; }
        location /r/    { taskgw_auth dev; taskgw_enqueue queue=reports; }
        location /ping  {
            taskgw_auth dev;
            add_header X-Who "$taskgw_token_name/$taskgw_token_role" always;
            empty_gif;
        }
    }
EOC

$s->start_redis;
$s->start_nginx(worker_processes => 2, log_level => 'debug',
                config => $conf, vars => { TTL => '1s' });

my $prefix = $s->prefix;
my @plain;    # every token used, for the log check at the end

sub create {
    my (@args) = @_;
    my $res = $s->ctl('token', 'create', @args);
    is($res->{code}, 0, "token create @args") or diag explain $res;
    my ($tok) = $res->{out} =~ /^(tgw_\S+)$/m;
    push @plain, $tok if $tok;
    return $tok;
}

sub call {
    my ($path, $tok, %opt) = @_;
    my @h = defined $tok ? ((($opt{header} // 'Authorization') eq 'Authorization')
                            ? (Authorization => "Bearer $tok")
                            : ('X-API-Token' => $tok)) : ();
    return $s->http($opt{method} // 'POST', $path, body => 'x',
                    headers => [ @h ], timeout => 10);
}

# === TEST 1: a created token has the documented form and works at once
my $dev = create('ci-bot', 'dev');
like($dev // '', qr/^tgw_[A-Za-z0-9_-]{43}$/, 'tgw_ + 43 base64url chars');
my $res = call('/tasks', $dev);
is($res->{status}, 202, 'run-time dev token enqueues') or diag explain $res;
$res = call('/tasks', $dev, header => 'X-API-Token');
is($res->{status}, 202, 'also through X-API-Token');
my $id = $res->{json} && $res->{json}{id};
is($s->redis->cmd('HGET', "$prefix:task:$id", 'owner'), 'ci-bot',
   'the run-time token name is the owner') if $id;

# === TEST 2: only the digest is in Redis
my $r = $s->redis;
my $digest = $r->cmd('HGET', "$prefix:tokens", 'ci-bot');
like($digest // '', qr/^[0-9a-f]{64}$/, '{prefix}:tokens maps name -> digest');
my $h = $r->hgetall("$prefix:token:$digest");
is($h->{name}, 'ci-bot', 'token hash: name');
is($h->{role}, 'dev', 'token hash: role');
is($h->{disabled}, '0', 'token hash: disabled 0');
like($h->{created_at} // '', qr/^\d{13}$/, 'token hash: created_at (ms)');
my $dump = join ' ', map { @{ $r->cmd('HGETALL', $_) || [] } }
                     @{ $r->cmd('KEYS', "$prefix:token*") || [] };
unlike($dump, qr/\Q$dev\E/, 'the token itself is nowhere in Redis');

# === TEST 3: roles and options of run-time tokens
$res = call('/ops', $dev);
is($res->{status}, 403, 'dev run-time token in an ops location: 403');
my $ops = create('oncall', 'ops', 'queues=reports');
is(call('/ops', $ops)->{status}, 403, 'queues= of a run-time token applies');
is(call('/r/x', $ops)->{status}, 202, 'its own queue is fine');
my $far = create('far', 'dev', 'ips=10.0.0.0/8');
is(call('/tasks', $far)->{status}, 403, 'ips= of a run-time token applies');
$res = call('/ping', $ops, method => 'GET');
is($res->{headers}{'x-who'}, 'oncall/ops', '$taskgw_token_name/_role');

# === TEST 4: an unknown token is 401, and a disabled one too
$res = call('/tasks', 'tgw_' . ('A' x 43));
is($res->{status}, 401, 'unknown run-time token: 401');
is($res->{headers}{'www-authenticate'}, 'Bearer', 'with WWW-Authenticate');
is($res->{json} && $res->{json}{error}, 'unauthorized', 'JSON error');
my $dis = create('sleepy', 'dev');
my $dd = $r->cmd('HGET', "$prefix:tokens", 'sleepy');
$r->cmd('HSET', "$prefix:token:$dd", 'disabled', '1');
ok(wait_for(sub { call('/tasks', $dis)->{status} == 401 }, 15),
   'a disabled token is refused (within the TTL)');

# === TEST 5: revoke: refused once the cached lookup has expired
$res = $s->ctl('token', 'revoke', 'ci-bot');
is($res->{code}, 0, 'token revoke') or diag explain $res;
is($r->cmd('HGET', "$prefix:tokens", 'ci-bot'), undef, 'name entry gone');
is($r->cmd('EXISTS', "$prefix:token:$digest"), 0, 'token hash gone');
my $t0 = time;
ok(wait_for(sub { call('/tasks', $dev)->{status} == 401 }, 15),
   'a revoked token is refused');
cmp_ok(time - $t0, '<=', 10, 'within a few TTLs (1 s), even on a busy box');
my @after = map { call('/tasks', $dev)->{status} } 1 .. 6;
is_deeply(\@after, [ (401) x 6 ], 'and stays refused on every worker');

# === TEST 6: audit stream: who, what, when
my $audit = $r->cmd('XRANGE', "$prefix:audit", '-', '+');
my @what = map { my %f = @{ $_->[1] }; "$f{what} $f{name}" } @$audit;
is_deeply([ grep { /ci-bot/ } @what ], [ 'token create ci-bot',
                                          'token revoke ci-bot' ],
          'create and revoke are in {prefix}:audit');
my %f = @{ $audit->[0][1] };
like($f{who} // '', qr/^taskgwctl:/, 'audit: who');
like($f{when} // '', qr/^\d{13}$/, 'audit: when (ms)');

# === TEST 7: one Redis lookup per token per TTL, across both workers
my @old = $s->reload_nginx(worker_processes => 2, log_level => 'debug',
                           config => $conf, vars => { TTL => '60s' });
# an old worker may still take a connection until it has seen the reload,
# and would be a third process to look the token up
ok(wait_for(sub { !grep { kill 0, $_ } @old }, 15), 'the old workers exited');
my $burst = create('burst', 'dev');
sub hgetalls {
    my ($line) = grep { /^cmdstat_hgetall:/ }
                 split /\r?\n/, $r->cmd('INFO', 'commandstats');
    return $line && $line =~ /calls=(\d+)/ ? $1 : 0;
}
my $before = hgetalls();
my @st = map { $_->{status} }
         @{ $s->http_parallel([ map { [ GET => '/ping', headers =>
                             [ 'X-API-Token' => $burst ] ] } 1 .. 60 ],
                           timeout => 20) };
is_deeply(\@st, [ (200) x 60 ], '60 concurrent requests with one token');
my $lookups = hgetalls() - $before;
is($lookups, 1, "one lookup for both workers ($lookups)");
note("Redis lookups for 60 concurrent requests with one token: $lookups");

# === TEST 8: Redis down: cached token passes, uncached one is 503
my $cached = create('cached', 'dev');
is(call('/ping', $cached, method => 'GET')->{status}, 200,
   'token looked up and cached');
my $uncached = create('uncached', 'dev');
$s->stop_redis;
$res = call('/ping', $cached, method => 'GET');
is($res->{status}, 200, 'Redis down: a cached valid token passes');
$res = call('/ping', $uncached, method => 'GET');
is($res->{status}, 503, 'Redis down: an uncached token is 503, not 401');
is($res->{json} && $res->{json}{error}, 'unavailable', '503 unavailable');
is($res->{headers}{'retry-after'}, '1', 'with Retry-After: 1');
$res = call('/ping', 'tgw_' . ('B' x 43), method => 'GET');
is($res->{status}, 503, 'Redis down: an unknown token is 503 too');
$res = call('/ping', undef, method => 'GET');
is($res->{status}, 401, 'Redis down: no token at all is still 401');
$s->start_redis;    # empty: it keeps nothing across a restart here
ok(wait_for(sub { call('/ping', $uncached, method => 'GET')->{status} == 401 },
            15), 'Redis back (and empty): the token is looked up, unknown');
my $fresh = create('fresh', 'dev');
# two nginx workers: the other one's link may still wait out its backoff
ok(wait_for(sub { call('/ping', $fresh, method => 'GET')->{status} == 200 },
            15), 'Redis back: a new token works');

# === TEST 9: no plaintext token in anything the module logged (debug level)
my @leaks;
for my $line (split /\n/, $s->error_log) {
    next if $line =~ /\bhttp header: "(?:Authorization|X-API-Token):/i;
    for my $t (grep { defined } @plain) {
        push @leaks, $line if index($line, $t) >= 0;
    }
}
ok(scalar(@plain) >= 6, scalar(@plain) . ' tokens used');
ok(!@leaks, 'no token in any log line but nginx\'s own header dump')
    or diag join "\n", @leaks[0 .. ($#leaks < 4 ? $#leaks : 4)];
like($s->error_log, qr/access denied to token "unknown" from 127\.0\.0\.1: unknown token/,
     'refusals are logged with "unknown"');
like($s->error_log, qr/access denied to token "oncall" from 127\.0\.0\.1: queue not in the token's queues/,
     'and with the token name');

$s->stop_nginx;
done_testing;
