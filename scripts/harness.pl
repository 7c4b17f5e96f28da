#!/usr/bin/perl
# Runs every taskgw suite through one TAP::Harness and prints the closing
# line "N passed, M failed" (test points; a suite that dies or exits badly
# without a failing point counts as one failure, one that skips itself
# whole counts as neither).  Exit status 1 on any failure.  Arguments,
# when given, are the suites to run instead of all.
use strict;
use warnings;
use TAP::Harness;

my $unit_dir = $ENV{TASKGW_UNIT_TESTS} || 'build/tests';

my @suites = @ARGV;
if (!@suites) {
    push @suites, sort glob('t/*.t');
    push @suites, sort glob('t/selftest/*.t');
    push @suites, sort grep { -x $_ && !/\.[a-z]+$/ } glob("$unit_dir/test_*");
    # every fuzz target over its seeds plus a few seconds of fuzzing
    push @suites, 'scripts/fuzz-smoke.sh';
    push @suites, sort glob('t/e2e/*.t');
}

# The Sentinel suites (t/e2e/15x, 16x: a primary, a replica and three
# redis-sentinel processes each) spend most of their minutes waiting for
# Sentinel to notice a dead primary and agree on a new one, not on the CPU.
# They run one after another in a second lane beside all the other suites,
# which keep their order in the first: the whole run takes some five
# minutes less.  TASKGW_TEST_JOBS=1 runs everything in one lane.
my $jobs = defined $ENV{TASKGW_TEST_JOBS} ? $ENV{TASKGW_TEST_JOBS} : 2;
my @ha = grep { m{(^|/)t/e2e/1[56]\d-} } @suites;
my @rest = grep { !m{(^|/)t/e2e/1[56]\d-} } @suites;
my $rules;
if ($jobs > 1 && @ha && @rest) {
    $rules = { par => [ { seq => [@rest] }, { seq => [@ha] } ] };
    @suites = (@rest, @ha);
} else {
    $jobs = 1;
}

my $harness = TAP::Harness->new({
    verbosity => $ENV{TEST_VERBOSE} ? 1 : 0,
    jobs      => $jobs,
    ($rules ? (rules => $rules) : ()),
    timer     => 1,
    color     => -t STDOUT ? 1 : 0,
    # .t files are Perl with t/lib first in @INC (t/lib/Test/Nginx/Socket.pm
    # defers to a real Test::Nginx when one is installed); anything else is
    # a TAP-printing executable.
    # The runner's self-tests exercise the runner against stock nginx
    # (they crash it on purpose), never the sanitizer wrapper.
    exec      => sub {
        my ($h, $file) = @_;
        return [$file] if $file !~ /\.t\z/;
        return ['env', 'TEST_NGINX_BINARY=/usr/sbin/nginx', $^X, '-It/lib',
                $file]
            if $file =~ m{(^|/)t/selftest/};
        return [$^X, '-It/lib', $file];
    },
});

my $agg = $harness->runtests(@suites);

my ($passed, $failed) = (0, 0);
my @skipped;
for my $name ($agg->descriptions) {
    my ($p) = $agg->parsers($name);
    my $bad = scalar $p->failed;
    push @skipped, "$name (" . ($p->skip_all || 'no reason given') . ')'
        if $p->skip_all;
    $passed += scalar $p->passed;
    # a suite that skips itself as a whole ("1..0 # SKIP reason", shown
    # above) ran no point and failed none: e.g. 124-install.t under make
    # test-asan in a tree where only build/asan was built
    if (!$bad && ($p->exit || $p->wait || $p->parse_errors
                  || (!$p->tests_run && !$p->skip_all))) {
        $bad = 1;
    }
    $failed += $bad;
}

# Sanitizer reports: any file in SAN_LOGS is a failure.
if ($ENV{SAN_LOGS} && -d $ENV{SAN_LOGS}) {
    for my $f (sort glob("$ENV{SAN_LOGS}/*")) {
        print STDERR "sanitizer report: $f\n";
        if (open my $fh, '<', $f) {
            print STDERR "    $_" while <$fh>;
        }
        $failed++;
    }
}

# What did not run at all, said again where it is seen: a missing tool
# (strace, redis-sentinel) turns a suite into a skip, not a failure.
print "skipped whole: $_\n" for @skipped;
print "$passed passed, $failed failed\n";
exit($failed ? 1 : 0);
