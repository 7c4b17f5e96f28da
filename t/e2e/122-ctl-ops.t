#!/usr/bin/perl
# taskgwctl workers and dead list|replay|purge against a real Redis and a
# real worker: tables for people (with a task's escape bytes shown
# escaped, never sent to the terminal), --json parsed by a JSON parser,
# every change in the audit stream, a replayed task runs again, and
# every error exits 1 with a message on stderr.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for json_decode free_port);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgwctl not built' unless -x $s->ctl_binary;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $dir = $s->dir;
my $ESC = "\e";

# A handler that fails permanently, with terminal escapes in its error,
# until the file "fixed" exists.
my $boom = "$dir/boom.sh";
open my $fh, '>', $boom or die;
print $fh "#!/bin/sh\n[ -e $dir/fixed ] && { echo '\"fixed\"'; exit 0; }\n"
        . "printf '\\033[2J\\033[31mboom\\n' >&2\nexit 65\n";
close $fh;
chmod 0755, $boom;

$s->start_redis;
my $r = $s->redis;
my $w = $s->start_worker({
    name     => 'ops-w1',
    queues   => { default => 1 },
    handlers => { boom => { exec => [ $boom ] },
                  'system.ping' => { builtin => 'ping' } },
});

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

sub task { $r->hgetall("$prefix:task:$_[0]") }

sub enqueue {
    my ($type) = @_;
    my $res = ok_run($s->ctl('enqueue', 'default', $type, '-',
                             { stdin => '{}' }), "enqueue $type");
    chomp(my $id = $res->{out});
    return $id;
}

sub audit {
    my $e = $r->xrange("$prefix:audit") || [];
    return [ map { $_->[1] } @$e ];
}

# === TEST 1: workers: the live worker, table and JSON
ok(wait_for(sub { $r->cmd('EXISTS', "$prefix:worker:ops-w1") }, 10),
   'heartbeat written');
my $res = ok_run($s->ctl('workers'), 'workers');
like($res->{out}, qr/^NAME\s+HOST\s+PID\s+CONC\s+RUNNING\s+STARTED\s+QUEUES/,
     'workers: header row');
like($res->{out}, qr/^ops-w1\s+\S+\s+$w->{pid}\s+16\s+0\s+\d{4}-\d\d-\d\dT\S+Z\s+default\s+0\s+0\s+0$/m,
     'workers: a row for ops-w1 with its pid') or diag $res->{out};
$res = ok_run($s->ctl('workers', '--json'), 'workers --json');
my $j = json_decode($res->{out});
is(ref $j->{workers}, 'ARRAY', 'workers --json: {"workers":[...]}');
is(scalar @{ $j->{workers} }, 1, 'one worker');
is($j->{workers}[0]{name}, 'ops-w1', 'its heartbeat: name');
is($j->{workers}[0]{pid}, $w->{pid}, 'its heartbeat: pid');

# === TEST 2: two tasks die; dead list shows them, escapes escaped
my @dead = map { enqueue('boom') } 1 .. 2;
ok(wait_for(sub { ($r->cmd('XLEN', "$prefix:dead:default") // 0) == 2 }, 20),
   'two dead tasks') or diag $s->worker_log($w);
$res = ok_run($s->ctl('dead', 'list'), 'dead list');
like($res->{out}, qr/^ID\s+ATTEMPTS\s+FAILED_AT\s+ERROR$/m, 'header row');
for my $id (@dead) {
    like($res->{out}, qr/^\Q$id\E\s+1\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+\\x1b\[2J\\x1b\[31mboom/m,
         "a row for $id, its error escaped") or diag $res->{out};
}
unlike($res->{out}, qr/$ESC/, 'no raw escape byte reaches the terminal');
$res = ok_run($s->ctl('--json', 'dead', 'list', 'default', '1'),
              'dead list default 1 --json');
$j = json_decode($res->{out});
is($j->{queue}, 'default', '--json: queue');
is(scalar @{ $j->{dead} // [] }, 1, 'LIMIT 1: one entry');
# the two may die in either order: the newest is the stream's last entry
my $last = $r->cmd('XREVRANGE', "$prefix:dead:default", '+', '-', 'COUNT', 1);
my %lf = @{ $last->[0][1] };
is($j->{dead}[0]{id}, $lf{id}, 'newest first');
is($j->{dead}[0]{entry}, $last->[0][0], '--json: entry, the stream id');
like($j->{dead}[0]{error}, qr/^\e\[2J\e\[31mboom/, '--json: error as is');
is($j->{dead}[0]{attempts}, 1, '--json: attempts');
like($j->{dead}[0]{failed_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
     '--json: failed_at RFC 3339');

# === TEST 3: task show escapes a task's escape bytes too
$res = ok_run($s->ctl('task', 'show', $dead[0]), 'task show');
like($res->{out}, qr/^error\s+\\x1b\[2J\\x1b\[31mboom/m, 'error escaped');
unlike($res->{out}, qr/$ESC/, 'task show: no raw escape byte');

# === TEST 4: dead replay puts it back; it runs and succeeds
open $fh, '>', "$dir/fixed" or die;
close $fh;
$res = ok_run($s->ctl('dead', 'replay', $dead[0]), 'dead replay');
is($res->{out}, "$dead[0] queued (queue default)\n", 'dead replay: output');
ok(wait_for(sub { (task($dead[0])->{status} // '') eq 'succeeded' }, 20),
   'the replayed task ran and succeeded') or diag explain task($dead[0]);
is(task($dead[0])->{attempts}, 1, 'attempts were reset (1 after the run)');
is($r->cmd('TTL', "$prefix:task:$dead[0]") > 0 ? 1 : 0, 1,
   'finished again: a result TTL again');
is($r->cmd('XLEN', "$prefix:dead:default"), 1, 'one dead task left');
my $a = audit();
is_deeply([ map { [ @$_{qw(what id queue)} ] } @$a ],
          [ [ 'dead replay', $dead[0], 'default' ] ], 'audit: the replay');
like($a->[0]{who}, qr/^taskgwctl:\S+$/, 'audit: who');
like($a->[0]{when}, qr/^\d{13}$/, 'audit: when (unix ms)');

# === TEST 5: replaying a task that is not dead is refused
fails($s->ctl('dead', 'replay', $dead[0]), qr/not found/,
      'dead replay of a task no longer dead');
fails($s->ctl('dead', 'replay', 'nope'), qr/invalid task id "nope"/,
      'dead replay of a bad id');

# === TEST 6: dead purge deletes it for good, --json
$res = ok_run($s->ctl('--json', 'dead', 'purge', $dead[1]), 'dead purge');
is_deeply(json_decode($res->{out}),
          { tasks => [ { id => $dead[1], status => 'purged',
                         queue => 'default' } ] }, 'dead purge --json');
is($r->cmd('EXISTS', "$prefix:task:$dead[1]"), 0, 'task hash deleted');
is($r->cmd('XLEN', "$prefix:dead:default"), 0, 'no dead entry left');
is_deeply([ map { $_->{what} } @{ audit() } ], [ 'dead replay', 'dead purge' ],
          'audit: the purge');
fails($s->ctl('dead', 'purge', $dead[1]), qr/not found/, 'purge it again');

# === TEST 7: a purge finds the entry of a task whose hash expired
my $gone = enqueue('boom');
unlink "$dir/fixed";
$gone = enqueue('boom');
ok(wait_for(sub { (task($gone)->{status} // '') eq 'dead' }, 20), 'dead');
$r->cmd('DEL', "$prefix:task:$gone");
ok_run($s->ctl('dead', 'purge', $gone), 'purge of an expired task');
is(scalar(grep { $_->[1]{id} eq $gone }
          @{ $r->xrange("$prefix:dead:default") || [] }), 0,
   'its dead entry is gone');

# === TEST 8: errors: arguments, Redis unreachable, help
fails($s->ctl('dead', 'list', 'bad/queue'), qr/invalid queue name/,
      'dead list with a bad queue');
fails($s->ctl('dead', 'list', 'default', '0'), qr/LIMIT must be 1-1000/,
      'dead list with a bad limit');
fails($s->ctl('dead', 'replay'), qr/usage: taskgwctl dead replay ID\.\.\./,
      'dead replay without an id');
fails($s->ctl('workers', 'extra'), qr/usage: taskgwctl workers/,
      'workers with an argument');
my $port = free_port();
fails($s->run_cmd([ $s->ctl_binary, '-r', "127.0.0.1:$port", 'workers' ]),
      qr/cannot connect to redis 127\.0\.0\.1:$port/, 'Redis unreachable');
$res = ok_run($s->ctl('help'), 'help');
like($res->{out}, qr/^  workers /m, 'help: workers');
like($res->{out}, qr/^  dead list \[QUEUE \[LIMIT\]\]/m, 'help: dead list');
like($res->{out}, qr/^  dead replay ID\.\.\./m, 'help: dead replay');
like($res->{out}, qr/^  dead purge ID\.\.\./m, 'help: dead purge');
for my $c ([qw(dead list)], [qw(dead replay)], [qw(dead purge)], ['workers'],
           [qw(task show)], ['queues']) {
    $res = ok_run($s->ctl(@$c, '--help'), "@$c --help");
    like($res->{out}, qr/^usage: taskgwctl \[OPTIONS\] \Q@$c\E\b.*\n\n  \Q@$c\E\b/s,
         "@$c --help: its usage and description");
}

$s->stop_worker($w);
done_testing;
