#!/usr/bin/perl
# Configs the worker refuses at --check (and so at start and reload), each
# with a message naming the key: a prefix the module and taskgwctl would
# not take (all three agree on 1-128 visible characters, no braces), a
# worker name with control characters, an exec program that is missing or
# not executable.  A 128-character prefix works end to end.

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

my $dir = $s->dir;
my $n = 0;

# taskgw-worker --check on a config; returns { out, err, code }.
sub check {
    my ($conf) = @_;
    my $path = "$dir/check-" . ++$n . '.json';
    open my $fh, '>', $path or die;
    print $fh JSON::PP->new->canonical->encode({
        redis => '127.0.0.1:1', %$conf });
    close $fh;
    return $s->run_cmd([ $s->worker_binary, '-c', $path, '--check' ]);
}

sub refused {
    my ($conf, $re, $what) = @_;
    my $c = check($conf);
    is($c->{code}, 1, "$what: --check exits 1");
    like($c->{err}, $re, "$what: the message names the key")
        or diag $c->{err};
}

my $p128 = 'p' x 128;
my $p129 = 'p' x 129;
my $noexec = "$dir/noexec.sh";
open my $fh, '>', $noexec or die;
print $fh "#!/bin/sh\necho hi\n";
close $fh;
chmod 0644, $noexec;

# === TEST 1: refused, each with a clear message
refused({ prefix => $p129 },
        qr/: prefix: must be 1 to 128 visible ASCII characters/,
        'a 129-character prefix');
refused({ prefix => 'a{b}' }, qr/: prefix: .*without braces/,
        'a prefix with braces');
refused({ name => "w1\nts=forged level=error" },
        qr/: name: .*without control characters/, 'a name with a newline');
refused({ name => "w\x{7f}" }, qr/: name: .*control characters/,
        'a name with DEL');
refused({ handlers => { x => { exec => [ '/nonexistent/prog' ] } } },
        qr{: handlers\.x\.exec\[0\]: cannot run "/nonexistent/prog": No such},
        'a missing exec program');
refused({ handlers => { x => { exec => [ $noexec ] } } },
        qr{: handlers\.x\.exec\[0\]: cannot run ".*noexec\.sh": not executable},
        'an exec program without the x bit');
refused({ handlers => { x => { exec => [ 'no-such-prog-tgw' ] } } },
        qr{: handlers\.x\.exec\[0\]: cannot run "no-such-prog-tgw": not found},
        'an exec program not in PATH');

# === TEST 2: accepted
for my $ok ([ { prefix => $p128 }, 'a 128-character prefix' ],
            [ { name => 'worker 1' }, 'a name with a space' ],
            [ { handlers => { x => { exec => [ 'sh', '-c', 'true' ] } } },
              'an exec program found in PATH' ]) {
    my $c = check($ok->[0]);
    is($c->{code}, 0, "$ok->[1]: accepted") or diag $c->{err};
}

# === TEST 3: taskgwctl and the module draw the prefix line at the same
# place
$s->start_redis;
my $c = $s->run_cmd([ $s->ctl_binary, '-r', '127.0.0.1:' . $s->redis_port,
                      '-p', $p129, 'queues' ]);
isnt($c->{code}, 0, 'taskgwctl refuses a 129-character prefix');
like($c->{err}, qr/invalid prefix/, 'and says so');
$c = $s->run_cmd([ $s->ctl_binary, '-r', '127.0.0.1:' . $s->redis_port,
                   '-p', $p128, 'queues' ]);
is($c->{code}, 0, 'taskgwctl takes a 128-character prefix') or diag $c->{err};
$c = $s->run_cmd([ $s->ctl_binary, '-r', '127.0.0.1:' . $s->redis_port,
                   '-p', 'a{b}', 'queues' ]);
isnt($c->{code}, 0, 'taskgwctl refuses a prefix with braces');

SKIP: {
    skip 'the module is not built', 2 unless grep { -f } $s->_modules({});
    my $conf = <<'EOC';
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_prefix %%P%%;
    server { listen 127.0.0.1:%%PORT%%; location /t { taskgw_enqueue; } }
EOC
    my ($code, $out) = $s->nginx_test(config => $conf, vars => { P => $p129 });
    isnt($code, 0, 'nginx -t refuses a 129-character prefix');
    ($code, $out) = $s->nginx_test(config => $conf, vars => { P => $p128 });
    is($code, 0, 'nginx -t takes a 128-character prefix') or diag $out;
}

# === TEST 4: with a 128-character prefix a task runs (its keys fit)
my $t = TaskGW::Tasks->new(TaskGW::Stack::Prefixed->new($s, $p128));
my $w = $s->start_worker({ prefix => $p128, queues => { default => 1 },
                           handlers => { 'system.ping' =>
                                         { builtin => 'ping' } } });
my $id = $t->enqueue('system.ping');
ok(wait_for(sub { $t->status($id) eq 'succeeded' }, 10),
   'a task under a 128-character prefix succeeds')
    or diag $s->worker_log($w);
is($s->stop_worker($w), 0, 'worker exits 0');
unlike($s->worker_log($w), qr/bad_entry|AddressSanitizer|runtime error/,
       'no bad entry, no sanitizer report');

done_testing();

# The stack seen under another prefix (for TaskGW::Tasks).
package TaskGW::Stack::Prefixed;
sub new    { my ($c, $s, $p) = @_; bless { s => $s, p => $p }, $c }
sub prefix { $_[0]{p} }
sub redis  { $_[0]{s}->redis }
sub dir    { $_[0]{s}->dir }
