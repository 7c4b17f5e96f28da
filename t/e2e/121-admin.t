#!/usr/bin/perl
# The admin API (taskgw_admin) with real tokens, a real worker and Redis:
# each endpoint with the right role, a role too low (403) and no token
# (401); a replay from the API moves a dead task back and it runs; a token
# created through the API works for enqueue and stops working once
# revoked; the audit stream records every change with who and when.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use TaskGW::Stack qw(wait_for json_decode);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $dir = $s->dir;

my %tok = (dev => 'tgw_dev_' . 'a' x 40, ops => 'tgw_ops_' . 'b' x 40,
           admin => 'tgw_admin_' . 'c' x 40);
open my $fh, '>', "$dir/tokens" or die;
print $fh "ci-bot dev sha256:" . sha256_hex($tok{dev}) . "\n"
        . "oncall ops sha256:" . sha256_hex($tok{ops}) . "\n"
        . "root admin sha256:" . sha256_hex($tok{admin}) . "\n";
close $fh;

my $boom = "$dir/boom.sh";
open $fh, '>', $boom or die;
print $fh "#!/bin/sh\n[ -e $dir/fixed ] && { echo '\"fixed\"'; exit 0; }\n"
        . "echo broken >&2\nexit 65\n";
close $fh;
chmod 0755, $boom;

$s->start_redis;
$s->start_nginx(worker_processes => 2, vars => { DIR => $dir },
                config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_timeout 1s;
    taskgw_redis_backoff 50ms 200ms;
    taskgw_prefix %%PREFIX%%;
    taskgw_tokens %%DIR%%/tokens;
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl 1s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /admin/ { taskgw_admin; }
        location /boom   { taskgw_auth dev; taskgw_enqueue type=boom; }
        location /ping   { taskgw_auth dev; taskgw_enqueue type=system.ping; }
    }
EOC
my $r = $s->redis;
my $w = $s->start_worker({
    name => 'adm-w1', queues => { default => 1 },
    handlers => { boom => { exec => [ $boom ] },
                  'system.ping' => { builtin => 'ping' } },
});

sub api {
    my ($method, $path, $who, $body) = @_;
    my @h = defined $who ? (Authorization => "Bearer "
                                . ($tok{$who} // $who)) : ();
    my $res = $s->http($method, "/admin/$path", headers => \@h,
                       defined $body ? (body => $body) : ());
    $res->{json} = json_decode($res->{body});
    return $res;
}

sub audit { [ map { $_->[1] } @{ $r->xrange("$prefix:audit") || [] } ] }

my $id0 = '01a20000-0000-7000-8000-00000000000a';

# === TEST 1: the role rules of every endpoint
my @routes = (
    [ GET    => 'queues',              'ops' ],
    [ GET    => 'workers',             'ops' ],
    [ GET    => 'dead?queue=default',  'ops' ],
    [ POST   => "dead/$id0/replay",    'ops' ],
    [ DELETE => "dead/$id0",           'admin' ],
    [ GET    => 'tokens',              'admin' ],
    [ POST   => 'tokens',              'admin' ],
    [ DELETE => 'tokens/nobody',       'admin' ],
);
my %rank = (dev => 1, ops => 2, admin => 3);
for my $rt (@routes) {
    my ($m, $p, $least) = @$rt;
    my $res = api($m, $p, undef, $m eq 'POST' ? '{}' : undef);
    is($res->{status}, 401, "$m $p without a token: 401");
    is($res->{headers}{'www-authenticate'}, 'Bearer',
       "$m $p: WWW-Authenticate: Bearer");
    is($res->{json}{error}, 'unauthorized', "$m $p: JSON error");
    $res = api($m, $p, 'tgw_unknown_' . 'z' x 40, $m eq 'POST' ? '{}' : undef);
    is($res->{status}, 401, "$m $p with an unknown token: 401");
    for my $role (qw(dev ops admin)) {
        $res = api($m, $p, $role, $m eq 'POST' ? '{}' : undef);
        if ($rank{$role} < $rank{$least}) {
            is($res->{status}, 403, "$m $p as $role: 403");
            is($res->{json}{error}, 'forbidden', "$m $p as $role: forbidden");
        } else {
            isnt($res->{status}, 401, "$m $p as $role: allowed");
            isnt($res->{status}, 403, "$m $p as $role: not forbidden")
                or diag $res->{body};
        }
    }
}

# === TEST 2: GET queues and workers
is(api(POST => '', 'admin')->{status}, 404, 'the bare location: 404');
my $dead = $s->http(POST => '/boom', body => '{}',
                    headers => [ Authorization => "Bearer $tok{dev}" ]);
is($dead->{status}, 202, 'a task that will die') or diag $dead->{body};
my $did = json_decode($dead->{body})->{id};
ok(wait_for(sub { ($r->hgetall("$prefix:task:$did")->{status} // '') eq 'dead' },
            20), 'it died') or diag $s->worker_log($w);
my $res = api(GET => 'queues', 'ops');
is($res->{status}, 200, 'GET queues: 200');
is_deeply($res->{json}, { queues => [ { name => 'default',
              length => { high => 0, normal => 0, low => 0 },
              pending => 0, dead => 1, scheduled => 0 } ], scheduled => 0 },
          'GET queues: the figures') or diag $res->{body};
ok(wait_for(sub { @{ api(GET => 'workers', 'ops')->{json}{workers} // [] } },
            10), 'GET workers lists a worker');
$res = api(GET => 'workers', 'ops');
is($res->{json}{workers}[0]{name}, 'adm-w1', 'GET workers: its heartbeat');

# === TEST 3: GET dead, then a replay from the API: it runs again
$res = api(GET => 'dead?queue=default&limit=10', 'ops');
is($res->{status}, 200, 'GET dead: 200');
is($res->{json}{queue}, 'default', 'GET dead: queue');
is(scalar @{ $res->{json}{dead} }, 1, 'GET dead: one');
is($res->{json}{dead}[0]{id}, $did, 'GET dead: the task');
is($res->{json}{dead}[0]{error}, 'broken', 'GET dead: its error');
is(api(GET => 'dead?queue=bad/name', 'ops')->{status}, 400,
   'GET dead with a bad queue: 400');
is(api(GET => 'dead?limit=0', 'ops')->{status}, 400,
   'GET dead with a bad limit: 400');

open $fh, '>', "$dir/fixed" or die;
close $fh;
$res = api(POST => "dead/$did/replay", 'ops');
is($res->{status}, 200, 'POST replay: 200') or diag $res->{body};
is_deeply($res->{json}, { id => $did, status => 'queued', queue => 'default' },
          'POST replay: the reply');
ok(wait_for(sub { ($r->hgetall("$prefix:task:$did")->{status} // '')
                  eq 'succeeded' }, 20), 'the replayed task ran and succeeded');
is(api(POST => "dead/$did/replay", 'ops')->{status}, 404,
   'replaying it again: 404 (not dead)');
is(api(POST => 'dead/not-a-uuid/replay', 'ops')->{status}, 404,
   'replay of a malformed id: 404');

# === TEST 4: DELETE dead/<id> (admin)
unlink "$dir/fixed";
$did = json_decode($s->http(POST => '/boom', body => '{}',
        headers => [ Authorization => "Bearer $tok{dev}" ])->{body})->{id};
ok(wait_for(sub { ($r->hgetall("$prefix:task:$did")->{status} // '') eq 'dead' },
            20), 'another task died');
$res = api(DELETE => "dead/$did", 'admin');
is_deeply($res->{json}, { id => $did, status => 'purged', queue => 'default' },
          'DELETE dead: purged') or diag $res->{body};
is($r->cmd('EXISTS', "$prefix:task:$did"), 0, 'its hash is gone');
is($r->cmd('XLEN', "$prefix:dead:default"), 0, 'its dead entry is gone');

# === TEST 5: tokens: create (shown once), use, list, revoke
$res = api(POST => 'tokens', 'admin',
           '{"name":"api-bot","role":"dev","queues":["default"],'
           . '"ips":"127.0.0.0/8,::1","rate":"50r/s"}');
is($res->{status}, 201, 'POST tokens: 201') or diag $res->{body};
my $new = $res->{json}{token} // '';
like($new, qr/^tgw_[A-Za-z0-9_-]{43}$/, 'the token: tgw_ + 43 base64url');
is_deeply([ @{ $res->{json} }{qw(name role)} ], [ 'api-bot', 'dev' ],
          'POST tokens: name and role');
my $th = $r->hgetall("$prefix:token:" . sha256_hex($new));
is($th->{name}, 'api-bot', 'stored under its SHA-256');
is($th->{queues}, 'default', 'queues stored as the token file writes them');
ok(!grep({ index($_, $new) >= 0 } values %$th), 'the token itself is not stored');
my $enq = $s->http(POST => '/ping', body => '{}',
                   headers => [ Authorization => "Bearer $new" ]);
is($enq->{status}, 202, 'the new token enqueues') or diag $enq->{body};

$res = api(GET => 'tokens', 'admin');
is($res->{status}, 200, 'GET tokens: 200');
is_deeply([ map { $_->{name} } @{ $res->{json}{tokens} } ], [ 'api-bot' ],
          'GET tokens: the run-time token');
is($res->{json}{tokens}[0]{rate}, '50r/s', 'GET tokens: its rate');
ok($res->{body} !~ /[0-9a-f]{64}/, 'GET tokens: no digest in the reply');

is(api(POST => 'tokens', 'admin', '{"name":"api-bot","role":"ops"}')->{status},
   409, 'a name that exists: 409');
for my $bad ('not json', '[]', '{"name":"x"}', '{"name":"x","role":"root"}',
             '{"name":"bad name","role":"dev"}',
             '{"name":"x","role":"dev","ips":"300.1.1.1"}',
             '{"name":"x","role":"dev","rate":"fast"}',
             '{"name":"x","role":"dev","queues":["bad/q"]}',
             '{"name":"x","role":"dev","colour":"blue"}') {
    my $b = api(POST => 'tokens', 'admin', $bad);
    is($b->{status}, 400, "POST tokens $bad: 400");
    like($b->{json}{error} // '', qr/^(bad_request|invalid_json)$/,
         "POST tokens $bad: JSON error");
}

$res = api(DELETE => 'tokens/api-bot', 'admin');
is_deeply($res->{json}, { name => 'api-bot', status => 'revoked' },
          'DELETE tokens: revoked');
is(api(DELETE => 'tokens/api-bot', 'admin')->{status}, 404,
   'revoking it again: 404');
ok(wait_for(sub {
    $s->http(POST => '/ping', body => '{}',
             headers => [ Authorization => "Bearer $new" ])->{status} == 401
}, 10), 'the revoked token is refused once its cache entry expired');

# === TEST 6: the audit stream: every change, who and when
my $a = audit();
is_deeply([ map { $_->{what} } @$a ],
          [ 'dead replay', 'dead purge', 'token create', 'token revoke' ],
          'audit: every change, in order') or diag explain $a;
is_deeply([ map { $_->{who} } @$a ],
          [ 'api:oncall', 'api:root', 'api:root', 'api:root' ],
          'audit: who (the token name)');
ok(!grep({ ($_->{when} // '') !~ /^\d{13}$/ } @$a), 'audit: when (unix ms)');
is($a->[2]{name}, 'api-bot', 'audit: the token created');
ok(!grep({ join(' ', %$_) =~ /\Q$new\E/ } @$a), 'audit: never the token');

# === TEST 7: Redis down: 503 JSON
$s->stop_redis;
$res = api(GET => 'queues', 'ops');
is($res->{status}, 503, 'GET queues with Redis down: 503');
is($res->{json}{error}, 'unavailable', 'JSON error unavailable');

$s->stop_worker($w, signal => 'KILL');
is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');
done_testing;
