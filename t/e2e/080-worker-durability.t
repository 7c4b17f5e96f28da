#!/usr/bin/perl
# Worker durability edges: no accepted task is lost and no
# live task is stolen, also while the worker shuts down or when a stream
# key cannot take an entry (scheduled-set mover, cron ticks), or an entry
# is malformed.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for json_decode);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $prefix = $s->prefix;
my $dir = $s->dir;

sub script {
    my ($name, $text) = @_;
    my $path = "$dir/$name.sh";
    open my $fh, '>', $path or die;
    print $fh "#!/bin/sh\n$text";
    close $fh;
    chmod 0755, $path;
    return $path;
}

# records every run, then takes 4 s
my $long = script('long', <<"EOS");
echo "\$TASKGW_TASK_ID \$TASKGW_ATTEMPT" >> $dir/long-runs
sleep 4
echo '"done"'
EOS

sub runs {
    my ($id) = @_;
    open my $fh, '<', "$dir/long-runs" or return 0;
    return scalar grep { /^\Q$id\E / } <$fh>;
}

my %handlers = (
    'system.ping' => { builtin => 'ping' },
    'long'        => { exec => [ $long ], timeout => '30s' },
);

$s->start_redis;
my $r = $s->redis;

my $seq = 0;
sub uuid { sprintf '01900000-0000-7000-8000-%012d', ++$seq }

# A task as the module stores it (hash + stream entry), or only the hash.
sub task_hash {
    my ($id, %f) = @_;
    my $now = int(time * 1000);
    $r->cmd('HSET', "$prefix:task:$id", id => $id, queue => 'default',
            type => 'system.ping', priority => 'normal', status => 'queued',
            payload => '', owner => 'e2e', created_at => $now,
            attempts => 0, %f);
}

sub enqueue {
    my ($type) = @_;
    my $id = uuid();
    task_hash($id, type => $type);
    $r->cmd('XADD', "$prefix:q:default:normal", '*', id => $id);
    return $id;
}

sub status { $r->cmd('HGET', "$prefix:task:$_[0]", 'status') // '' }

my %terminal = map { $_ => 1 } qw(succeeded dead cancelled);

# === TEST 1: a task running while its worker shuts down is not stolen
# (the worker keeps extending its claim during shutdown_grace)
my %wconf = (
    concurrency    => 2,
    queues         => { default => 1 },
    claim_idle     => '1s',
    shutdown_grace => '15s',
    retry          => { max_attempts => 3, base => '100ms', cap => '300ms' },
    handlers       => \%handlers,
);
my $w1 = $s->start_worker(\%wconf);
my $l = enqueue('long');
ok(wait_for(sub { runs($l) == 1 }, 10), 'long task started');
kill 'TERM', $w1->{pid};
# while it finishes its task it is still listed, marked stopping
ok(wait_for(sub {
    my $hb = $r->cmd('GET', "$prefix:worker:e2e-1") // return 0;
    my $j = eval { json_decode($hb) } // return 0;
    $j->{stopping} && $j->{in_flight} == 1;
}, 3, 0.1), 'stopping worker heartbeat: stopping, in_flight 1');
my $w2 = $s->start_worker(\%wconf);
ok(wait_for(sub { $terminal{ status($l) } }, 20), 'long task finished')
    or diag $s->worker_log($w1), $s->worker_log($w2);
is(status($l), 'succeeded', 'succeeded');
is(runs($l), 1, 'it ran once: the stopping worker kept its claim')
    or diag $s->worker_log($w1), $s->worker_log($w2);
is($r->cmd('HGET', "$prefix:task:$l", 'attempts'), '1', 'attempts 1');
is($s->stop_worker($w1), 0, 'stopping worker exits 0');

# === TEST 2: a due retry whose stream cannot take the entry stays in the
# scheduled set (never dropped from it), and later ids still move
$r->cmd('SET', "$prefix:q:broken:normal", 'not a stream');
my $bad = uuid();
task_hash($bad, queue => 'broken', status => 'retrying', attempts => 1);
my $good = uuid();
task_hash($good, status => 'retrying', attempts => 1);
my $now = int(time * 1000);
$r->cmd('ZADD', "$prefix:scheduled", $now - 2000, $bad, $now - 1000, $good);
ok(wait_for(sub { status($good) eq 'succeeded' }, 10),
   'the good retry behind it moved and ran');
sleep 1;                                    # a few more mover runs
ok(defined $r->cmd('ZSCORE', "$prefix:scheduled", $bad),
   'the retry that could not move is still scheduled')
    or diag $s->worker_log($w2);
is(status($bad), 'retrying', 'and still retrying');
is($r->cmd('XLEN', "$prefix:q:default:normal"), 0, 'nothing else queued');
$r->cmd('DEL', "$prefix:q:broken:normal");
$r->cmd('ZADD', "$prefix:scheduled", int(time * 1000), $bad);
ok(wait_for(sub { $r->cmd('XLEN', "$prefix:q:broken:normal") == 1 }, 10),
   'once the stream works the retry moves');
is(status($bad), 'queued', 'and is queued');
$s->stop_worker($w2);

# === TEST 3: a cron tick whose stream cannot take the entry creates no
# task (no record left queued without an entry) and fires once it can
$r->cmd('SET', "$prefix:q:cronq:normal", 'not a stream');
my $w3 = $s->start_worker({
    %wconf,
    schedules => [ { name => 'every', cron => '* * * * *', queue => 'cronq',
                     type => 'system.ping' } ],
});
ok(wait_for(sub { $s->worker_log($w3) =~ /event=cron_error/ }, 10),
   'the tick failed') or diag $s->worker_log($w3);
sub cron_tasks {
    return grep { ($r->cmd('HGET', $_, 'owner') // '') eq 'cron' }
           @{ $r->cmd('KEYS', "$prefix:task:*") // [] };
}
is(scalar(cron_tasks()), 0, 'no task record without its stream entry');
is(scalar @{ $r->cmd('KEYS', "$prefix:cron:every:*") // [] }, 0,
   'the tick guard is not taken');
$r->cmd('DEL', "$prefix:q:cronq:normal");
ok(wait_for(sub { $r->cmd('XLEN', "$prefix:q:cronq:normal") == 1 }, 10),
   'the tick fires once the stream works')
    or diag $s->worker_log($w3);
is(scalar(cron_tasks()), $r->cmd('XLEN', "$prefix:q:cronq:normal"),
   'every cron task has its stream entry');
like($r->cmd('HGET', (cron_tasks())[0] // '', 'traceparent') // '',
     qr/^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-01$/,
     'a cron task starts a trace of its own (traceparent stored)');
is($s->stop_worker($w3), 0, 'worker exits 0');

# === TEST 4: an entry whose id cannot name a task key (far too long) is
# dropped as a bad entry instead of holding a slot for ever
my $w4 = $s->start_worker({ %wconf, concurrency => 1 });
$r->cmd('XADD', "$prefix:q:default:normal", '*', id => 'x' x 600);
my $after = enqueue('system.ping');
ok(wait_for(sub { status($after) eq 'succeeded' }, 10),
   'the task behind it runs') or diag $s->worker_log($w4);
ok(wait_for(sub { $r->cmd('XLEN', "$prefix:q:default:normal") == 0 }, 5),
   'the bad entry is gone from the stream');
like($s->worker_log($w4), qr/event=bad_entry/, 'logged as bad_entry');
is($s->stop_worker($w4), 0, 'worker exits 0');

# === TEST 5: a write of the outcome that fails inside Redis (here the
# scheduled set is not a zset) does not ack the entry: the retry is not
# lost, it is recorded once the key is fixed, and the task ends dead
$handlers{'fail'} = { builtin => 'fail' };
$r->cmd('SET', "$prefix:scheduled", 'not a zset');
my $w5 = $s->start_worker(\%wconf);
my $f = enqueue('fail');
ok(wait_for(sub { $s->worker_log($w5)
                  =~ /event=record_key_refused key=\Q$prefix\E:scheduled /
                }, 10), 'recording the retry fails, the key named')
    or diag $s->worker_log($w5);
my $pend = $r->cmd('XPENDING', "$prefix:q:default:normal", 'workers');
is($pend->[0], 1, 'its entry is still pending (not acked)');
$r->cmd('DEL', "$prefix:scheduled");
ok(wait_for(sub { status($f) eq 'dead' }, 10), 'it ends dead')
    or diag $s->worker_log($w5);
is($r->cmd('HGET', "$prefix:task:$f", 'attempts'), '3', 'after 3 attempts');
is($s->stop_worker($w5), 0, 'worker exits 0');

# === TEST 6: Redis stalls right after the outcome was sent; the worker
# gives up on the reply and records again once Redis is back: the first
# transaction ran all the same, and the task is still dead-lettered once
my $rpid = $s->{redis_pid};
my $stall = script('stall', <<"EOS");
kill -STOP $rpid
setsid sh -c 'sleep 1.5; kill -CONT $rpid' </dev/null >/dev/null 2>&1 &
echo 'bad data' >&2
exit 65
EOS
$handlers{'stall'} = { exec => [ $stall ] };
my $w6 = $s->start_worker({ %wconf, redis_timeout => '300ms' });
my $st = enqueue('stall');
sleep 3;                                    # Redis stopped, then back
ok(wait_for(sub { status($st) eq 'dead' }, 10), 'stalled: dead')
    or diag $s->worker_log($w6);
like($s->worker_log($w6), qr/event=redis_down/, 'the worker lost Redis');
sleep 0.5;
my @dead = grep { $_->[1]{id} eq $st }
           @{ $r->xrange("$prefix:dead:default") };
is(scalar @dead, 1, 'one dead-letter entry') or diag $s->worker_log($w6);
is($s->stop_worker($w6), 0, 'worker exits 0');

# === TEST 7: a task whose entry was finished elsewhere while it waited
# here for its type's slot (as when another worker reclaimed and ran it)
# is not started again: its outcome stays, it is never left 'running'
$handlers{'slow'} = { builtin => 'sleep', concurrency => 1 };
my $q = "$prefix:q:default:normal";
my $s1 = enqueue('slow');
my $s2 = enqueue('slow');
$r->cmd('HSET', "$prefix:task:$_", payload => '{"ms":1500}') for $s1, $s2;
my ($e2) = map { $_->[0] } grep { $_->[1]{id} eq $s2 } @{ $r->xrange($q) };
my $w7 = $s->start_worker(\%wconf);
ok(wait_for(sub { status($s1) eq 'running' }, 10), 'first slow task runs');
sleep 0.3;                                  # the second waits for the cap
$r->cmd('HSET', "$prefix:task:$s2", status => 'succeeded',
        finished_at => int(time * 1000));
$r->cmd('XACK', $q, 'workers', $e2);
$r->cmd('XDEL', $q, $e2);
ok(wait_for(sub { status($s1) eq 'succeeded' }, 10), 'first one done');
sleep 0.5;
is(status($s2), 'succeeded', 'the one finished elsewhere stays succeeded')
    or diag $s->worker_log($w7);
unlike($s->worker_log($w7), qr/event=task_started task_id=$s2/,
       'and was not started again');
is($s->stop_worker($w7), 0, 'worker exits 0');

# === TEST 8: an entry Redis delivered to this worker whose reply was lost
# with the read connection (dropped by the reply watchdog) is taken up as
# soon as the connection is back, not only after claim_idle
# (one slot busy with a long task, whose entry comes first in the
# worker's pending list)
my $w8 = $s->start_worker({ %wconf, claim_idle => '60s',
                            redis_timeout => '300ms' });
my $busy = enqueue('slow');
$r->cmd('HSET', "$prefix:task:$busy", payload => '{"ms":9000}');
ok(wait_for(sub { status($busy) eq 'running' }, 10), 'one slot busy');
sleep 0.5;                                  # its blocking read is out
kill 'STOP', $w8->{pid};
my $lost = enqueue('system.ping');          # delivered to the stopped worker
sleep 3;                                    # past its reply deadline
kill 'CONT', $w8->{pid};
ok(wait_for(sub { status($lost) eq 'succeeded' }, 4),
   'the task delivered in the lost reply runs at once')
    or diag $s->worker_log($w8);
is(status($busy), 'running', 'the long task still runs');
is($s->stop_worker($w8), 0, 'worker exits 0');

# === TEST 9: a dead consumer's entry behind many live ones in the
# pending list is still reclaimed (XAUTOCLAIM looks at 10 per entry it
# may claim: the pass must go on from the cursor it returns)
my @live = map { $r->cmd('XADD', $q, '*', id => uuid()) } 1 .. 25;
$r->cmd('XREADGROUP', 'GROUP', 'workers', 'live', 'COUNT', 25,
        'STREAMS', $q, '>');
my $orphan = enqueue('system.ping');
$r->cmd('XREADGROUP', 'GROUP', 'workers', 'dead', 'COUNT', 1,
        'STREAMS', $q, '>');
my $w9 = $s->start_worker({ %wconf, concurrency => 1 });
my $deadline = time + 5;
while (time < $deadline && status($orphan) ne 'succeeded') {
    $r->cmd('XCLAIM', $q, 'workers', 'live', 0, @live, 'JUSTID');
    sleep 0.2;
}
is(status($orphan), 'succeeded', 'the dead consumer\'s task was reclaimed')
    or diag $s->worker_log($w9);
$r->cmd('XACK', $q, 'workers', @live);
$r->cmd('XDEL', $q, @live);
is($s->stop_worker($w9), 0, 'worker exits 0');

# === TEST 10: a queue stream that cannot be read (a key of another type
# in place of the high-priority stream) does not stop the other streams
$r->cmd('DEL', "$prefix:q:default:high");
$r->cmd('SET', "$prefix:q:default:high", 'not a stream');
my $w10 = $s->start_worker(\%wconf);
my $np = enqueue('system.ping');
ok(wait_for(sub { status($np) eq 'succeeded' }, 5),
   'a normal-priority task still runs') or diag $s->worker_log($w10);
$r->cmd('DEL', "$prefix:q:default:high");
is($s->stop_worker($w10), 0, 'worker exits 0');

for my $w ($w1, $w2, $w3, $w4, $w5, $w6, $w7, $w8, $w9, $w10) {
    unlike($s->worker_log($w), qr/AddressSanitizer|runtime error/,
           "worker $w->{n}: no sanitizer report");
}

done_testing();
