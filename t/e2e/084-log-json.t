#!/usr/bin/perl
# --log-json writes one valid JSON object per line, also when what it logs
# (a task's stderr, a type name from a task hash) is not valid UTF-8: the
# bad bytes become U+FFFD.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP ();
use TaskGW::Stack qw(wait_for);
use TaskGW::Tasks;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

$s->start_redis;
my $t = TaskGW::Tasks->new($s);

# stderr: a lone continuation byte, a cut sequence, an overlong '/', a
# UTF-16 surrogate, then valid text; exits 65 (permanent)
my $bad = $t->script('bad', <<'EOS');
printf 'bad \200 cut \342\202 overlong \300\257 surrogate \355\240\200 ok \303\251\n' >&2
exit 65
EOS

my $w = $s->start_worker({
    concurrency => 2,
    queues      => { default => 1 },
    retry       => { max_attempts => 1, base => '100ms', cap => '100ms' },
    handlers    => { bad => { exec => [ $bad ] } },
}, args => [ '--log-json' ]);

# === TEST 1: a task whose stderr is not UTF-8, and a task whose type is
# not UTF-8 (unknown, so dead at once): both logged as valid JSON
my $id1 = $t->enqueue('bad');
my $id2 = $t->enqueue("no\xff\xfe-such-type");
ok(wait_for(sub { $t->status($id1) eq 'dead' && $t->status($id2) eq 'dead' },
            15), 'both tasks end dead') or diag $s->worker_log($w);
is($s->stop_worker($w), 0, 'worker exits 0');

my $json = JSON::PP->new->utf8;
my @lines = split /\n/, $s->worker_log($w);
ok(@lines >= 4, scalar(@lines) . ' log lines');
my @bad = grep { !eval { $json->decode($_); 1 } } @lines;
is_deeply(\@bad, [], 'every line is valid UTF-8 JSON')
    or diag map { "$_\n" } @bad;

my @about1 = grep { ($_->{task_id} // '') eq $id1 }
             map { eval { $json->decode($_) } // () } @lines;
my ($err) = grep { defined } map { $_->{error} } @about1;
ok(defined $err, 'the failure of the first task is logged with its error');
is($err, "bad \x{fffd} cut \x{fffd}\x{fffd} overlong \x{fffd}\x{fffd} "
       . "surrogate \x{fffd}\x{fffd}\x{fffd} ok \x{e9}",
   'each bad byte is U+FFFD, valid text kept')
    if defined $err;
my @about2 = grep { ($_->{task_id} // '') eq $id2 }
             map { eval { $json->decode($_) } // () } @lines;
ok(scalar(grep { ($_->{type} // '') eq "no\x{fffd}\x{fffd}-such-type" }
           @about2), 'the bad type is logged with U+FFFD')
    or diag explain \@about2;

# === TEST 2: key=value lines are valid UTF-8 too (a value with bad bytes
# is quoted and escaped)
my $w2 = $s->start_worker({
    concurrency => 2,
    queues      => { default => 1 },
    retry       => { max_attempts => 1, base => '100ms', cap => '100ms' },
    handlers    => { bad => { exec => [ $bad ] } },
});
my $id3 = $t->enqueue('bad');
ok(wait_for(sub { $t->status($id3) eq 'dead' }, 15), 'the task ends dead')
    or diag $s->worker_log($w2);
is($s->stop_worker($w2), 0, 'worker exits 0');
my $text = $s->worker_log($w2);
ok(utf8::decode(my $copy = $text), 'the key=value log is valid UTF-8')
    or diag $text;
like($text, qr/task_failed task_id=$id3 .*error="bad \x{ef}\x{bf}\x{bd} /,
     'the error is quoted, its bad bytes replaced');

for my $x ($w, $w2) {
    unlike($s->worker_log($x), qr/AddressSanitizer|runtime error/,
           "worker $x->{n}: no sanitizer report");
}

done_testing();
