#!/usr/bin/perl
# The worker's Sentinel keys ("sentinel", "master", "sentinel_password"
# instead of "redis") at --check: every mistake is named with its key, a
# good config passes, and taskgwctl refuses the same mistakes before it
# connects anywhere (exit 1, a message naming the problem).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP ();
use TaskGW::Stack;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $dir = $s->dir;
my $n = 0;

sub write_conf {
    my ($conf) = @_;
    my $path = "$dir/check-" . ++$n . '.json';
    open my $fh, '>', $path or die;
    print $fh JSON::PP->new->canonical->encode($conf);
    close $fh;
    return $path;
}

# taskgw-worker --check on a config (nothing else in it); { out, err, code }.
sub check {
    my ($conf) = @_;
    return $s->run_cmd([ $s->worker_binary, '-c', write_conf($conf),
                         '--check' ]);
}

sub refused {
    my ($conf, $re, $what) = @_;
    my $c = check($conf);
    is($c->{code}, 1, "$what: --check exits 1");
    like($c->{err}, $re, "$what: the message names the problem")
        or diag $c->{err};
}

my @three = ('127.0.0.1:26379', '127.0.0.1:26380', '[::1]:26381');

# === TEST 1: accepted
for my $ok ([ { sentinel => \@three, master => 'taskgw-ha' },
              'three sentinels and a master' ],
            [ { sentinel => [ 'localhost:26379' ], master => 'm',
                sentinel_password => 'sp', password => 'p', db => 3 },
              'one sentinel, both passwords, a db' ]) {
    my $c = check($ok->[0]);
    is($c->{code}, 0, "$ok->[1]: accepted") or diag $c->{err};
    like($c->{out}, qr/^ok$/m, "$ok->[1]: prints ok");
}

# === TEST 2: refused, each with its key
refused({ sentinel => \@three },
        qr/: sentinel: needs "master"/, 'sentinel without master');
refused({ master => 'taskgw-ha' },
        qr/: master: needs "sentinel"/, 'master without sentinel');
refused({ redis => '127.0.0.1:6379', sentinel => \@three,
          master => 'taskgw-ha' },
        qr/: sentinel: cannot be given with "redis"/,
        'both redis and sentinel');
refused({ sentinel => [], master => 'm' },
        qr/: sentinel: must name at least one sentinel/, 'an empty list');
refused({ sentinel => [ '127.0.0.1:26379', 'nohost' ], master => 'm' },
        qr/: sentinel\[1\]: bad address "nohost" \(want host:port/,
        'an address without a port');
refused({ sentinel => [ '127.0.0.1:0' ], master => 'm' },
        qr/: sentinel\[0\]: bad address "127\.0\.0\.1:0"/, 'port 0');
refused({ sentinel => [ '::1:26379' ], master => 'm' },
        qr/: sentinel\[0\]: bad address/, 'a v6 address without brackets');
refused({ sentinel => '127.0.0.1:26379', master => 'm' },
        qr/: sentinel: expected an array of "host:port" strings, got a string/,
        'a string instead of an array');
refused({ sentinel => [ 26379 ], master => 'm' },
        qr/: sentinel\[0\]: expected a string, got an integer/,
        'a number in the list');
refused({ sentinel => \@three, master => [ 'm' ] },
        qr/: master: expected a string, got an array/, 'master an array');
refused({ sentinel => \@three, master => 'two words' },
        qr/: master: must be 1 to 128 visible ASCII characters/,
        'master with a blank');
refused({ sentinel => \@three, master => 'm', sentinel_password => 5 },
        qr/: sentinel_password: expected a string or null, got an integer/,
        'sentinel_password a number');
refused({ sentinel_password => 'x' },
        qr/: sentinel_password: needs "sentinel"/,
        'sentinel_password alone');

# === TEST 3: two mistakes at once are both named
{
    my $c = check({ sentinel => [ 'bad' ], redis => '127.0.0.1:1' });
    like($c->{err}, qr/sentinel\[0\]: bad address.*\n.*/s,
         'bad address reported');
    like($c->{err}, qr/: sentinel: needs "master"/, 'and the missing master');
}

# === TEST 4: taskgwctl refuses the same before connecting
sub ctl_refused {
    my ($args, $re, $what) = @_;
    my $c = $s->run_cmd([ $s->ctl_binary, @$args, 'queues' ]);
    is($c->{code}, 1, "taskgwctl $what: exit 1");
    like($c->{err}, $re, "taskgwctl $what: says why") or diag $c->{err};
}

ctl_refused([ '-S', '127.0.0.1:26379' ], qr/--sentinel needs --master/,
            '-S without -M');
ctl_refused([ '-M', 'm' ], qr/--master needs --sentinel/, '-M without -S');
ctl_refused([ '-r', '127.0.0.1:6379', '-S', '127.0.0.1:26379', '-M', 'm' ],
            qr/--redis cannot be given with --sentinel/, '-r with -S');
ctl_refused([ '-S', '', '-M', 'm' ], qr/empty sentinel list/,
            'an empty list');
ctl_refused([ '-S', '127.0.0.1:26379,,127.0.0.1:26380', '-M', 'm' ],
            qr/empty address in sentinel list/, 'an empty item');
ctl_refused([ '-S', '127.0.0.1', '-M', 'm' ],
            qr/bad sentinel address "127\.0\.0\.1"/, 'no port');
ctl_refused([ '-c', write_conf({ sentinel => \@three }) ],
            qr/--sentinel needs --master/, '-c: sentinel without master');
ctl_refused([ '-c', write_conf({ sentinel => \@three, master => 'm',
                                 redis => '127.0.0.1:6379' }) ],
            qr/sentinel: cannot be given with "redis"/,
            '-c: both redis and sentinel');
ctl_refused([ '-c', "$dir/missing.json" ], qr/missing\.json/,
            '-c: a missing file');

# Every sentinel unreachable: a clear message, exit 1, within the timeouts.
{
    my $p1 = TaskGW::Stack::free_port();
    my $p2 = TaskGW::Stack::free_port();
    my $c = $s->run_cmd([ $s->ctl_binary, '-S',
                          "127.0.0.1:$p1,127.0.0.1:$p2", '-M', 'm',
                          'queues' ]);
    is($c->{code}, 1, 'taskgwctl: no sentinel answers: exit 1');
    like($c->{err}, qr/no sentinel named master m \(last: sentinel 127\.0\.0\.1:$p2: Connection refused\)/,
         'taskgwctl: no sentinel answers: says so') or diag $c->{err};
}

done_testing();
