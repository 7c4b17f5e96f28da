#!/usr/bin/perl
# taskgwctl against a real Redis and the real module:
# tasks it enqueues are ones nginx can show, its task JSON is the module's,
# cancel follows the same rule as DELETE, queues counts what is there,
# token hash prints a token-file line; every error exits 1 with a message.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(json_decode free_port);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgwctl not built' unless -x $s->ctl_binary;
my $have_module = grep { -f } $s->_modules({});

my $UUID7 = qr/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
my $prefix = $s->prefix;

$s->start_redis;
my $r = $s->redis;
if ($have_module) {
    $s->start_nginx(config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks   { taskgw_enqueue queue=default type=system.ping; }
        location /status/ { taskgw_status; }
    }
EOC
}

sub ok_run {
    my ($res, $what) = @_;
    is($res->{code}, 0, "$what: exit 0") or diag "stderr: $res->{err}";
    return $res;
}

sub fails {
    my ($res, $re, $what) = @_;
    is($res->{code}, 1, "$what: exit 1");
    like($res->{err}, $re, "$what: message on stderr");
    is($res->{out}, '', "$what: nothing on stdout");
}

# === TEST 1: enqueue with a JSON file: the task record of docs/keys.md
my $file = $s->dir . '/payload.json';
open my $fh, '>', $file or die;
print $fh qq({"kind": "full"}\n);
close $fh;
my $res = ok_run($s->ctl('enqueue', 'reports', 'report.build', $file),
                 'enqueue FILE');
chomp(my $id = $res->{out});
like($id, $UUID7, 'prints a UUIDv7');
my $h = $r->hgetall("$prefix:task:$id");
is_deeply([ sort keys %$h ],
          [ sort qw(id queue type priority status payload content_type owner
                    created_at attempts traceparent) ],
          'the fields the module writes (those with nothing in them, '
          . 'request_id and client_addr here, left out as it does)');
is($h->{payload}, qq({"kind": "full"}\n), 'payload stored as is');
is($h->{content_type}, 'application/json', 'JSON payload: application/json');
is($h->{owner}, 'cli', 'owner cli');
is_deeply([ @$h{qw(id queue type priority status attempts)} ],
          [ $id, 'reports', 'report.build', 'normal', 'queued', 0 ],
          'id queue type priority status attempts');
like($h->{created_at}, qr/^\d{13}$/, 'created_at in unix ms');
like($h->{traceparent},
     qr/^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-01$/,
     'a trace of its own, as nginx starts one for a request without');
my $e = $r->xrange("$prefix:q:reports:normal");
is_deeply([ map { $_->[1] } @$e ], [ { id => $id } ], 'one stream entry');

# === TEST 2: enqueue from stdin, binary, --json reply like the module's 202
my $bin = "\0\x01\xff\xfe binary\r\n";
$res = ok_run($s->ctl('--json', 'enqueue', 'default', 'echo', '-',
                      { stdin => $bin }), 'enqueue -');
my $j = json_decode($res->{out});
like($j->{id} // '', $UUID7, '--json: id');
is_deeply({ %{ $j // {} }, id => 'X' },
          { id => 'X', status => 'queued', queue => 'default',
            type => 'echo', priority => 'normal' }, '--json: the 202 body');
$h = $r->hgetall("$prefix:task:$j->{id}");
is($h->{payload}, $bin, 'binary payload round-trips');
is($h->{content_type}, 'application/octet-stream', 'binary: octet-stream');

$res = ok_run($s->ctl('enqueue', 'default', 'system.ping'), 'no FILE');
chomp(my $empty = $res->{out});
is($r->cmd('HGET', "$prefix:task:$empty", 'payload'), '', 'empty payload');

# === TEST 3: task show: the module's JSON, field for field
SKIP: {
    skip 'module not built', 6 unless $have_module;
    my $g = $s->http(GET => "/status/$id");
    is($g->{status}, 200, 'nginx shows the task taskgwctl enqueued');
    $res = ok_run($s->ctl('--json', 'task', 'show', $id), 'task show');
    is_deeply(json_decode($res->{out}), $g->{json},
              'taskgwctl --json task show = GET status (queued)');

    # a finished task, as a worker records it
    $r->cmd('HSET', "$prefix:task:$id", status => 'succeeded',
            attempts => 2, started_at => '1795428001000',
            finished_at => '1795428001456',
            result => '{"rows":[1,2.5,"x"],"ok":true}',
            webhook_status => 'delivered', webhook_attempts => 1);
    $g = $s->http(GET => "/status/$id");
    $res = ok_run($s->ctl('task', 'show', $id, '--json'), 'show finished');
    is_deeply(json_decode($res->{out}), $g->{json},
              'taskgwctl --json task show = GET status (succeeded)');
}
$j = json_decode($s->ctl('--json', 'task', 'show', $id)->{out});
is_deeply($j->{result}, { rows => [ 1, 2.5, 'x' ], ok => JSON::PP::true },
          'result embedded as JSON');
is($j->{finished_at}, '2026-11-23T10:00:01.456Z', 'RFC 3339 with ms');
is($j->{run_at}, undef, 'run_at null');
ok(!exists $j->{payload}, 'payload not shown');

$res = ok_run($s->ctl('task', 'show', $id), 'table');
like($res->{out}, qr/^status\s+succeeded$/m, 'table: status row');
like($res->{out}, qr/^finished_at\s+2026-11-23T10:00:01\.456Z$/m,
     'table: time row');
unlike($res->{out}, qr/kind/, 'table: no payload');

# === TEST 4: task cancel follows the DELETE rule of docs/directives.md
$res = ok_run($s->ctl('task', 'cancel', $empty), 'cancel queued');
is($res->{out}, "$empty cancelling\n", 'prints cancelling');
is($r->cmd('HGET', "$prefix:task:$empty", 'cancel_requested'), '1',
   'queued: cancel_requested set for the worker');

$r->cmd('HSET', "$prefix:task:$j->{id}", status => 'scheduled',
        run_at => '1895428001456');
$r->cmd('ZADD', "$prefix:scheduled", '1895428001456', $j->{id});
$res = ok_run($s->ctl('--json', 'task', 'cancel', $j->{id}),
              'cancel scheduled');
is_deeply(json_decode($res->{out}),
          { id => $j->{id}, status => 'cancelling' }, '--json reply');
is($r->cmd('HGET', "$prefix:task:$j->{id}", 'status'), 'cancelled',
   'scheduled: cancelled at once');
is($r->cmd('ZSCORE', "$prefix:scheduled", $j->{id}), undef,
   'and out of the schedule');

fails($s->ctl('task', 'cancel', $id), qr/conflict/,
      'cancel a succeeded task');
$r->cmd('HSET', "$prefix:task:$empty", status => 'running');
fails($s->ctl('task', 'cancel', $empty), qr/conflict/,
      'cancel a running task');
fails($s->ctl('task', 'show', '01a20835-f48a-7493-9db5-6b7aa48a8610'),
      qr/not found/, 'show an unknown id');
fails($s->ctl('task', 'cancel', '01a20835-f48a-7493-9db5-6b7aa48a8610'),
      qr/not found/, 'cancel an unknown id');
fails($s->ctl('task', 'show', '../etc'), qr/invalid task id/, 'bad id');

# === TEST 5: queues counts streams, pending, dead and scheduled
$r->cmd('DEL', "$prefix:scheduled");
$r->cmd('XGROUP', 'CREATE', "$prefix:q:default:normal", 'workers', '0');
$r->cmd('XREADGROUP', 'GROUP', 'workers', 'w1', 'COUNT', 1, 'STREAMS',
        "$prefix:q:default:normal", '>');
$r->cmd('XADD', "$prefix:q:default:high", '*', id => 'h1');
$r->cmd('XADD', "$prefix:dead:default", '*', id => 'd1', error => 'x',
        attempts => 1, failed_at => 1);
$r->cmd('XADD', "$prefix:dead:old", '*', id => 'd2', error => 'x',
        attempts => 1, failed_at => 1);
$r->cmd('ZADD', "$prefix:scheduled", 1, $id);
$r->cmd('HSET', "$prefix:task:$id", status => 'scheduled');
$r->cmd('SET', "$prefix:q:weird", 'not a queue stream');
$r->cmd('XADD', "other:q:default:normal", '*', id => 'x');

$res = ok_run($s->ctl('--json', 'queues'), 'queues --json');
my %q = map { $_->{name} => $_ } @{ (json_decode($res->{out}) // {})->{queues}
                                    // [] };
is_deeply([ sort keys %q ], [qw(default old reports)],
          'queues from streams, dead letters and the schedule');
is_deeply($q{default}, { name => 'default',
                         length => { high => 1, normal => 2, low => 0 },
                         pending => 1, dead => 1, scheduled => 0 },
          'default: lengths, pending, dead');
is_deeply($q{reports}, { name => 'reports',
                         length => { high => 0, normal => 1, low => 0 },
                         pending => 0, dead => 0, scheduled => 1 },
          'reports: scheduled counted by the task queue');
is($q{old}{dead}, 1, 'a queue with only dead letters is listed');

$res = ok_run($s->ctl('queues'), 'queues table');
like($res->{out}, qr/^QUEUE\s+HIGH\s+NORMAL\s+LOW\s+PENDING\s+DEAD\s+SCHEDULED$/m,
     'table header');
like($res->{out}, qr/^default\s+1\s+2\s+0\s+1\s+1\s+0$/m, 'table row');

# === TEST 6: token hash
$res = ok_run($s->ctl('token', 'hash', { stdin => "test\n" }), 'token hash');
is($res->{out}, "NAME ROLE sha256:9f86d081884c7d659a2feaa0c55ad015"
              . "a3bf4f1b2b0b822cd15d6c15b0f00a08\n",
   'a token-file line with placeholders');
$res = ok_run($s->ctl('token', 'hash', 'ci-bot', 'dev', { stdin => 'test' }),
              'token hash NAME ROLE');
like($res->{out}, qr/^ci-bot dev sha256:9f86d08\S+$/, 'with name and role');
unlike($res->{out} . $res->{err}, qr/\btest\b/, 'the token is not echoed');
fails($s->ctl('token', 'hash', { stdin => '' }), qr/no token/,
      'token hash without a token');

# === TEST 7: help and usage
$res = ok_run($s->run_cmd([ $s->ctl_binary, 'help' ]), 'help');
for my $c ('task show', 'task cancel', 'enqueue', 'queues', 'token hash',
           'token create', 'token list', 'token revoke',
           '--json', '-r', '-a', '-n', '-p') {
    like($res->{out}, qr/\Q$c\E/, "help mentions $c");
}
is($s->run_cmd([ $s->ctl_binary, '-h' ])->{out}, $res->{out}, '-h = help');
is($s->run_cmd([ $s->ctl_binary ])->{code}, 1, 'no command: exit 1');

# === TEST 8: unknown commands and subcommands
# (workers and dead list|replay|purge: t/e2e/122-ctl-ops.t; token
# create|list|revoke: t/e2e/090-tokens.t)
fails($s->ctl('dead'), qr/unknown subcommand/, 'dead alone');
fails($s->ctl('frobnicate'), qr/unknown command/, 'unknown command');

# === TEST 9: bad arguments are refused before connecting
my $closed = free_port();
for my $c ([ [ 'enqueue', 'bad queue', 't' ], qr/invalid queue/ ],
           [ [ 'enqueue', 'q' ], qr/usage: taskgwctl enqueue/ ],
           [ [ 'enqueue', 'q', 't', '/nonexistent' ], qr/nonexistent/ ],
           [ [ 'task', 'show' ], qr/usage: taskgwctl task show ID/ ],
           [ [ 'task', 'show', 'NOPE' ], qr/invalid task id/ ],
           [ [ '-n', 'x', 'queues' ], qr/invalid database/ ],
           [ [ '-r', 'h:0', 'queues' ], qr/invalid Redis address/ ],
           [ [ '--bogus', 'queues' ], qr/unknown option/ ]) {
    my ($args, $re) = @$c;
    fails($s->run_cmd([ $s->ctl_binary, '-r', "127.0.0.1:$closed", @$args ]),
          $re, "taskgwctl @$args");
}

# === TEST 10: Redis down or refusing: exit 1 with the reason
fails($s->run_cmd([ $s->ctl_binary, '-r', "127.0.0.1:$closed", 'queues' ]),
      qr/cannot connect to redis 127\.0\.0\.1:\d+/, 'redis down');
fails($s->ctl('-a', 'secret', 'queues'), qr/AUTH/i, 'AUTH refused');
fails($s->ctl('-n', '99', 'queues'), qr/DB index/i, 'SELECT refused');

done_testing();
