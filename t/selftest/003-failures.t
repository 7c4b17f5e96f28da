# Self-test of the Test::Nginx runner: mismatches are reported as failing
# tests, and no nginx outlives a suite, even one that dies or is killed.
#
# Each case writes a tiny suite into a temporary directory and runs it in
# a child perl (same @INC rules as a harness: t/lib first), with its own
# server root and port, then looks at the child's TAP output and exit
# status. Plain Test::More here: this file starts no nginx itself.
use strict;
use warnings;
use Test::More;
use Cwd ();
use File::Temp ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();

# The child suites use stock nginx only, whatever the harness loads.
delete $ENV{TEST_NGINX_LOAD_MODULES};

my $lib = Cwd::abs_path('t/lib');
my $tmp = File::Temp::tempdir('tn-selftest-XXXXXX', TMPDIR => 1,
                              CLEANUP => 1);

# Is the runner under test ours (1) or openresty's (0)?
my $probe = 'no warnings; print $Test::Nginx::Socket::IsFallback ? 1 : 0';
my $fallback = `$^X -I$lib -MTest::Nginx::Socket -e '$probe' 2>/dev/null`;
$fallback = 1 unless defined $fallback && length $fallback;

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp')
        or die "no free port: $!";
    return $s->sockport;
}

# Write suite $name with the given __DATA__ text and its environment.
sub write_suite {
    my ($name, $data, $head) = @_;
    $head //= '';
    my $file = "$tmp/$name.t";
    open my $out, '>', $file or die "$file: $!";
    print $out "use Test::Nginx::Socket 'no_plan';\n$head\n"
             . "no_shuffle();\nrun_tests();\n\n__DATA__\n\n$data";
    close $out;
    return $file;
}

sub child_env {
    my ($name) = @_;
    return (TEST_NGINX_SERVROOT => "$tmp/servroot-$name",
            TEST_NGINX_PORT     => free_port());
}

# Run suite $name; returns (exit code, combined output). %extra_env is
# added to the child's environment.
sub run_suite {
    my ($name, $data, $head, %extra_env) = @_;
    my $file = write_suite($name, $data, $head);
    my %env = (child_env($name), %extra_env);
    local @ENV{keys %env} = values %env;
    local $ENV{TEST_NGINX_SERVER_PORT};
    delete $ENV{TEST_NGINX_SERVER_PORT};
    my $out = `$^X -I$lib $file 2>&1`;
    return ($? >> 8, $out);
}

# Processes whose command line mentions our temporary directory.
sub leftover_nginx {
    my @pids;
    for my $f (glob '/proc/[0-9]*/cmdline') {
        open my $fh, '<', $f or next;
        my $cmd = do { local $/; <$fh> } // '';
        next unless $cmd =~ /nginx/ && index($cmd, $tmp) >= 0;
        my ($pid) = $f =~ m{/proc/(\d+)/};
        # zombies have an empty cmdline, so anything here is alive
        push @pids, $pid;
    }
    return @pids;
}

my $ok_config = <<'_EOC_';
--- config
    location = /t {
        add_header X-A a;
        add_header X-B b;
        return 200 "hello\n";
    }
_EOC_

sub not_ok_like {
    my ($out, $re, $what) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    like($out, qr/^not ok \d+ - .*$re/m, $what)
        or diag($out);
}

# --- a passing suite passes
{
    my ($rc, $out) = run_suite('pass', <<"_EOD_");
=== TEST 1: fine
$ok_config--- request
GET /t
--- response_body
hello
--- response_headers
X-A: a
_EOD_
    is($rc, 0, 'a matching block passes');
    unlike($out, qr/^not ok/m, 'and reports no failure') or diag($out);
}

# --- each kind of mismatch is a failing test
{
    my ($rc, $out) = run_suite('mismatch', <<"_EOD_");
=== TEST 1: wrong body
$ok_config--- request
GET /t
--- response_body
goodbye



=== TEST 2: wrong status
$ok_config--- request
GET /t
--- error_code: 404
--- response_body
hello



=== TEST 3: wrong header value, header that should be absent
$ok_config--- request
GET /t
--- response_headers
X-A: not-a
!X-B
--- response_body
hello



=== TEST 4: body regex that does not match
$ok_config--- request
GET /t
--- response_body_like: ^bye



=== TEST 5: missing error_log line, unwanted no_error_log line
--- config
    location = /up { proxy_pass http://127.0.0.1:1/; }
--- request
GET /up
--- error_code: 502
--- response_body_like: Bad Gateway
--- error_log
this line is never logged
--- no_error_log
[error]
_EOD_
    isnt($rc, 0, 'a suite with mismatches exits non-zero');
    my @fails = $out =~ /^not ok/mg;
    is(scalar @fails, 7, 'one failing test per mismatch') or diag($out);
    not_ok_like($out, 'TEST 1: wrong body - response_body', 'wrong body');
    not_ok_like($out, 'TEST 2: wrong status - status code ok',
                'wrong status');
    not_ok_like($out, 'TEST 3: .* - header X-A ok', 'wrong header value');
    not_ok_like($out, 'TEST 3: .* - header X-B not present',
                'header that should be absent');
    not_ok_like($out, 'TEST 4: .* - response_body_like',
                'body regex mismatch');
    not_ok_like($out, 'TEST 5: .*should match a line in error.log',
                'missing error_log line');
    not_ok_like($out, 'TEST 5: .*should not match any line in error.log',
                'unwanted no_error_log line');
}

# --- must_die when nginx starts fine
{
    my ($rc, $out) = run_suite('mustdie', <<"_EOD_");
=== TEST 1: this config is valid
$ok_config--- must_die
_EOD_
    isnt($rc, 0, 'must_die with a valid config fails');
    not_ok_like($out, 'TEST 1: .* - die as expected',
                'reported as "die as expected"');
}

# --- a variable that is not set fails loudly
{
    my ($rc, $out) = run_suite('undefvar', <<"_EOD_");
=== TEST 1: undefined variable
--- config
    location = /t { return 200 "\$TEST_NGINX_SELFTEST_UNDEFINED\\n"; }
--- request
GET /t
--- response_body
x
_EOD_
    isnt($rc, 0, 'an undefined $TEST_NGINX_ variable fails the suite');
    like($out, qr/^(?:not\ ok|Bail\ out!) .*
                  No\ environment\ TEST_NGINX_SELFTEST_UNDEFINED\ defined/mx,
         'naming the variable') or diag($out);
}

# --- a server that never closes the connection is a timeout failure
{
    my ($rc, $out) = run_suite('timeout', <<"_EOD_");
=== TEST 1: keep-alive connection is never closed
$ok_config--- more_headers
Connection: keep-alive
--- request
GET /t
--- timeout: 0.3
--- response_body
hello
_EOD_
    # (openresty's runner turns Test::Builder's ending off here, so only
    # the failing test point tells; ours also exits non-zero)
    SKIP: {
        skip 'exit status after a timeout is not checked for openresty', 1
            unless $fallback;
        isnt($rc, 0, 'a response that never ends fails');
    }
    like($out, qr/^not ok \d+ - ERROR: client socket timed out/m,
         'reported as a client socket timeout') or diag($out);
}

# --- a block marked ONLY is the only one run
{
    my ($rc, $out) = run_suite('only', <<"_EOD_");
=== TEST 1: would fail
$ok_config--- request
GET /t
--- response_body
goodbye



=== TEST 2: the only one
$ok_config--- request
GET /t
--- response_body
hello
--- ONLY
_EOD_
    is($rc, 0, 'with ONLY, other blocks are not run') or diag($out);
    like($out, qr/^ok \d+ - .*TEST 2: the only one/m, 'the ONLY block ran');
}

# --- a broken eval section fails the suite
{
    my ($rc, $out) = run_suite('badeval', <<"_EOD_");
=== TEST 1: unterminated string
$ok_config--- request
GET /t
--- response_body eval
"hello
_EOD_
    isnt($rc, 0, 'an eval section that does not compile fails the suite');
}

# --- TEST_NGINX_LOAD_MODULES becomes load_module lines
{
    my $so = "$tmp/no-such-dir/ngx_selftest_module.so";
    my ($rc, $out) = run_suite('modules', <<"_EOD_", '',
=== TEST 1: the module cannot be loaded
$ok_config--- request
GET /t
--- response_body
hello
_EOD_
        TEST_NGINX_LOAD_MODULES => $so);
    isnt($rc, 0, 'a module that cannot be loaded fails the suite');
    my $conf = do {
        local $/;
        open my $fh, '<', "$tmp/servroot-modules/conf/nginx.conf" or die $!;
        <$fh>;
    };
    like($conf, qr/^\s*load_module \Q$so\E;/m,
         'nginx.conf has a load_module line for it');
    like($out, qr/\Q$so\E/, 'and the failure names the module') or diag($out);
}

# --- nginx dying under a block (a module crash) is reported by name
SKIP: {
    skip 'crash reports are a feature of the fallback runner', 2
        unless $fallback;
    my ($rc, $out) = run_suite('crash', <<"_EOD_");
=== TEST 1: nginx gets SIGSEGV before the request
$ok_config--- init
open my \$fh, '<', "\$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid" or die;
kill 'SEGV', scalar <\$fh>;
--- request
GET /t
--- response_body
hello
_EOD_
    isnt($rc, 0, 'a block during which nginx crashes fails');
    not_ok_like($out, 'TEST 1: .* - nginx killed by signal 11',
                'with the signal named');
}

# --- a suite whose Perl code dies in the middle of a block stops nginx
{
    my ($rc, $out) = run_suite('dies', <<"_EOD_", <<'_EOH_');
=== TEST 1: the body check dies
$ok_config--- request
GET /t
--- response_body
hello
_EOD_
add_response_body_check(sub { die "selftest: deliberate death\n" });
_EOH_
    isnt($rc, 0, 'a suite that dies fails');
    like($out, qr/deliberate death/, 'with the error shown') or diag($out);
    my @left = leftover_nginx();
    is(scalar @left, 0, 'and leaves no nginx running')
        or diag("left: @left");
}

# --- a suite killed by a signal while nginx runs stops nginx
SKIP: {
    skip 'signal cleanup is a feature of the fallback runner', 2
        unless $fallback;

    my $file = write_suite('killed', <<"_EOD_");
=== TEST 1: waits for a reply that never ends
$ok_config--- more_headers
Connection: keep-alive
--- request
GET /t
--- timeout: 20
--- response_body
hello
_EOD_
    my %env = child_env('killed');
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        @ENV{keys %env} = values %env;
        delete $ENV{TEST_NGINX_SERVER_PORT};
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        { no warnings "exec"; exec $^X, "-I$lib", $file; }
        POSIX::_exit(127);
    }

    # Wait for nginx of that suite to be up, then kill the suite.
    my $pid_file = "$env{TEST_NGINX_SERVROOT}/logs/nginx.pid";
    my $deadline = Time::HiRes::time() + 10;
    Time::HiRes::sleep(0.05)
        until -s $pid_file || Time::HiRes::time() > $deadline;
    Time::HiRes::sleep(0.2);
    ok(scalar(leftover_nginx()) > 0, 'nginx of the suite was running');
    kill 'TERM', $pid;
    waitpid $pid, 0;
    Time::HiRes::sleep(0.1);
    my @left = leftover_nginx();
    is(scalar @left, 0, 'a suite killed with TERM leaves no nginx')
        or diag("left: @left");
}

is(scalar(leftover_nginx()), 0, 'no nginx left by any case');

done_testing();
