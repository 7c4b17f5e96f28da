# taskgw's stand-in for openresty's Test::Nginx::Socket: same API, same
# data format, same nginx.conf layout and same test counting, written from
# scratch with core Perl only. Loaded by t/lib/Test/Nginx/Socket.pm when
# the real module is not installed (see the comment there).
#
# Per block: recreate the server root, write user files and nginx.conf,
# start nginx (or check that it dies, for must_die), send the requests,
# check status / headers / body / error log through Test::More, stop
# nginx. nginx is also stopped on die, on INT/TERM/HUP and at END.
#
# Differences from the real module a suite may notice:
# - nginx runs in the foreground as our child ("daemon off" in
#   nginx.conf) and is stopped after every block, so each block gets a
#   fresh error.log and no process is ever left behind;
# - a problem that stops one block (undefined $TEST_NGINX_ variable,
#   nginx that will not start, bad section) is one failing test and the
#   suite goes on, where the real module bails out of the whole run;
# - a no_error_log pattern that matches several lines fails once;
# - not supported: HTTP/2 and HTTP/3 (http2, http3, curl), udp_listen,
#   stap, use_hup, no_nginx_manager, the valgrind /
#   check-leak / benchmark modes.

package Test::Nginx::Socket;

use strict;
use warnings;
use Carp ();
use Cwd ();
use File::Spec ();
use List::Util ();
use Scalar::Util ();
use Time::HiRes ();
use IO::Socket::INET ();
use IO::Select ();
use POSIX ();
use Socket ();
use Test::More ();
use Test::Builder ();

use Test::Nginx::Fallback::Data ();
use Test::Nginx::Fallback::Server ();
use Test::Nginx::Fallback::Client ();

our $VERSION = '0.33_taskgw';

# True in this implementation; the real module does not define it.
our $IsFallback = 1;

# ---------------------------------------------------------------------
# Settings (names and defaults as in the real Test::Nginx::Util).

our $NginxBinary = $ENV{TEST_NGINX_BINARY}
    || Test::Nginx::Fallback::Server::find_binary('nginx')
    || '/usr/sbin/nginx';
our $Workers              = 1;
our $WorkerConnections    = 64;
our $LogLevel             = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $ServerAddr           = '127.0.0.1';
our $ServerName           = 'localhost';
our $ServerPort           = $ENV{TEST_NGINX_SERVER_PORT}
                            || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient  = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $Timeout              = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $NoShuffle            = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $LoadModules          = $ENV{TEST_NGINX_LOAD_MODULES};
our $EventType            = $ENV{TEST_NGINX_EVENT_TYPE};
our $CheckAccumErrLog     = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $TestNginxSleep       = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $Verbose              = $ENV{TEST_NGINX_VERBOSE};
our $Randomize            = $ENV{TEST_NGINX_RANDOMIZE};
our $WorkerUser           = $ENV{TEST_NGINX_WORKER_USER};
our $RepeatEach           = 1;
our $NoLongString;
our $NoRootLocation       = 0;
our $ConfigPreamble       = '';
our $FilterHttpConfig;
our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;
our @TestCleanupHandlers;
our @ResponseBodyChecks;

# TEST_NGINX_RANDOMIZE: a free random port and its own server root, so
# several suites can run at once.
if ($Randomize) {
    $ServerPort = free_port()
        or die "Cannot find an available listening port number\n";
    $ServerPortForClient = $ServerPort;
}

our $ServRoot = $Randomize
    ? File::Spec->rel2abs("t/servroot_$ServerPort")
    : File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
our $Paths     = Test::Nginx::Fallback::Server::paths_for($ServRoot);
our $HtmlDir   = $Paths->{html_dir};
our $LogDir    = $Paths->{log_dir};
our $ErrLogFile = $Paths->{error_log};
our $AccLogFile = $Paths->{access_log};
our $ConfDir   = $Paths->{conf_dir};
our $ConfFile  = $Paths->{conf_file};
our $PidFile   = $Paths->{pid_file};

# Variables a suite's sections and Perl code may use. The real module
# sets only TEST_NGINX_SERVER_ROOT; the other two are taskgw conveniences
# a harness should export itself when running the real module.
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
$ENV{TEST_NGINX_SERVROOT} //= $ServRoot;
$ENV{TEST_NGINX_HTML_DIR} //= $HtmlDir;


# Run-time state.
my $MainPid = $$;        # forked children must not stop nginx at exit
my $ErrLogPos = 0;       # where this block's part of error.log starts
my $NginxVersion;        # e.g. 1.022001
my $PrevSetupBlock;      # block whose config a config-less block reuses
my $TotalConnectFailures = 0;
our $RandPorts = {};     # TEST_NGINX_RAND_PORT_N values of this block
our $CurrentBlock;       # block being run (for handlers)
our $NginxRan;           # did nginx run (not must_die, not skipped)?

# ---------------------------------------------------------------------
# Exports: the real module's list plus what Test::Base re-exports.

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test
    repeat_each config_preamble worker_connections
    master_process_enabled
    no_long_string workers master_on master_off
    log_level no_shuffle no_root_location use_hup
    server_name
    server_addr server_root html_dir server_port server_port_for_client
    timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_test_cleanup_handler
    add_cleanup_handler add_response_body_check

    ok is isnt like unlike is_deeply cmp_ok
    skip todo_skip pass fail
    eq_array eq_hash eq_set
    can_ok isa_ok diag use_ok
    no_diff blocks next_block first_block filters filters_delay
    croak carp cluck confess
);

my %FromTestMore = map { $_ => 1 } qw(
    plan ok is isnt like unlike is_deeply cmp_ok skip todo_skip pass fail
    eq_array eq_hash eq_set can_ok isa_ok diag use_ok
);
my %FromCarp = map { $_ => 1 } qw(croak carp cluck confess);

# Code written for the real module may use Test::Nginx::Util's names
# (and init / skip_eval / post_setup_server_root code runs in that
# package, as with the real module): alias our variables and functions.
{
    no strict 'refs';
    for my $v (qw(ServerPort ServerPortForClient ServerAddr ServerName
                  NoLongString RepeatEach ServRoot PidFile ConfFile
                  ErrLogFile AccLogFile HtmlDir LogDir NginxBinary
                  LogLevel Workers MasterProcessEnabled Timeout))
    {
        *{"Test::Nginx::Util::$v"} = \${"Test::Nginx::Socket::$v"};
    }
    for my $f (grep { !$FromTestMore{$_} && !$FromCarp{$_} } @EXPORT,
               qw(expand_env_in_text parse_time sleep_time verbose))
    {
        *{"Test::Nginx::Util::$f"} = \&{"Test::Nginx::Socket::$f"};
    }
}

# use Test::Nginx::Socket 'no_plan';   or   ... tests => 10;
sub import {
    my ($class, @args) = @_;
    my $caller = caller;

    no strict 'refs';
    for my $name (@EXPORT) {
        my $code = $FromTestMore{$name} ? \&{"Test::More::$name"}
                 : $FromCarp{$name}     ? \&{"Carp::$name"}
                 :                        \&{"Test::Nginx::Socket::$name"};
        *{"${caller}::$name"} = $code;
    }

    # Test::Base turns these on for the test file.
    strict->import;
    warnings->import;

    Test::More::plan(@args) if @args;
    return;
}

# ---------------------------------------------------------------------
# Settings API.

sub env_to_nginx {
    Carp::croak('env_to_nginx: no arguments specified') unless @_;
    for my $v (@_) {
        Carp::croak("env_to_nginx: bad argument value: $v")
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
    return;
}

sub repeat_each            { $RepeatEach = shift if @_; return $RepeatEach }
sub workers                { $Workers = shift if @_; return $Workers }
sub worker_connections     { $WorkerConnections = shift if @_;
                             return $WorkerConnections }
sub log_level              { $LogLevel = shift if @_; return $LogLevel }
sub timeout                { $Timeout = shift if @_; return $Timeout }
sub server_port            { $ServerPort = shift if @_; return $ServerPort }
sub server_port_for_client { $ServerPortForClient = shift if @_;
                             return $ServerPortForClient }
sub server_addr            { $ServerAddr = shift if @_; return $ServerAddr }
sub server_name            { $ServerName = shift if @_; return $ServerName }
sub server_root            { return $ServRoot }
sub html_dir               { return $HtmlDir }
sub master_on              { $MasterProcessEnabled = 'on'; return }
sub master_off             { $MasterProcessEnabled = 'off'; return }
sub no_shuffle             { $NoShuffle = 1; return }
sub no_long_string         { $NoLongString = 1; return }
sub no_root_location       { $NoRootLocation = 1; return }
sub check_accum_error_log  { $CheckAccumErrLog = 1; return }
sub config_preamble        { $ConfigPreamble = shift; return }
sub set_http_config_filter { $FilterHttpConfig = shift; return }
sub add_response_body_check { push @ResponseBodyChecks, shift; return }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift; return }
sub add_cleanup_handler    { unshift @CleanupHandlers, shift; return }
sub add_test_cleanup_handler { unshift @TestCleanupHandlers, shift; return }
sub no_diff                { return }
sub filters_delay          { return }
sub sleep_time             { return $TestNginxSleep }
sub verbose                { return $Verbose }

sub master_process_enabled {
    $MasterProcessEnabled = shift() ? 'on' : 'off' if @_;
    return $MasterProcessEnabled;
}

# Not supported here: HUP reloads and running without managing nginx.
sub use_hup {
    warn "WARNING: use_hup() is not supported by the taskgw fallback "
       . "Test::Nginx; nginx is restarted for every block\n";
    return;
}

sub no_nginx_manager {
    warn "WARNING: no_nginx_manager() is not supported by the taskgw "
       . "fallback Test::Nginx\n";
    return;
}

sub blocks      { return Test::Nginx::Fallback::Data::blocks(@_) }
sub next_block  { return Test::Nginx::Fallback::Data::next_block() }
sub first_block { return Test::Nginx::Fallback::Data::first_block() }
sub filters     { return Test::Nginx::Fallback::Data::filters(@_) }

sub bail_out {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# A free TCP port on the loopback address, or undef.
sub free_port {
    for (1 .. 1000) {
        my $port = 1988 + int rand 63000;
        my $sock = IO::Socket::INET->new(
            LocalAddr => $ServerAddr, LocalPort => $port, Proto => 'tcp',
            Listen => 1, ReuseAddr => 1,
        ) or next;
        close $sock;
        return $port;
    }
    return undef;
}

# ---------------------------------------------------------------------
# String comparison with a readable report for long strings.

sub fmt_str {
    my ($s) = @_;
    return 'undef' unless defined $s;
    $s =~ s/\\/\\\\/g;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/([\x00-\x1f\x7f])/sprintf('\\x%02x', ord $1)/ge;
    return $s;
}

# is() for bodies: on mismatch, show where the strings start to differ.
sub is_string {
    my ($got, $expected, $desc) = @_;
    my $tb = Test::More->builder;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    if (defined $got && defined $expected && $got eq $expected
        || !defined $got && !defined $expected)
    {
        return $tb->ok(1, $desc);
    }
    my $ok = $tb->ok(0, $desc);
    if (!defined $got || !defined $expected) {
        $tb->diag(sprintf "         got: %s\n    expected: %s",
                  defined $got ? '"' . fmt_str($got) . '"' : 'undef',
                  defined $expected ? '"' . fmt_str($expected) . '"'
                                    : 'undef');
        return $ok;
    }
    my $i = 0;
    my $max = length $got < length $expected ? length $got
                                              : length $expected;
    $i++ while $i < $max && substr($got, $i, 1) eq substr($expected, $i, 1);
    my $from = $i > 30 ? $i - 30 : 0;
    my $ctx = sub {
        my $s = shift;
        my $part = substr $s, $from, 70;
        return ($from ? '...' : '') . '"' . fmt_str($part) . '"'
             . ($from + 70 < length $s ? '...' : '');
    };
    $tb->diag(sprintf "         got: %s\n      length: %d\n"
                    . "    expected: %s\n      length: %d\n"
                    . "    strings begin to differ at char %d",
              $ctx->($got), length $got, $ctx->($expected),
              length $expected, $i + 1);
    return $ok;
}

# The real module's is_str: regex when the expectation is one.
sub is_str {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::like($got, $expected, $desc)
        if ref $expected && ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc) if $NoLongString;
    return is_string($got, $expected, $desc);
}

# ---------------------------------------------------------------------
# $TEST_NGINX_* expansion. An undefined variable is an error;
# TEST_NGINX_RAND_PORT_N get a free port each, fixed within a block.

sub expand_env_in_text {
    my ($text, $name) = @_;
    return $text unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $RandPorts->{$var} //= free_port()
                // die "$name - Cannot find an available listening port "
                     . "number for $var.\n";
            $val = $RandPorts->{$var};
        } else {
            die "$name - No environment $var defined.\n"
                unless defined $ENV{$var};
            $val = $ENV{$var};
        }
        $val;
    }ge;
    return $text;
}

# ---------------------------------------------------------------------
# Running the suite.

sub run_tests {
    $NginxVersion //= Test::Nginx::Fallback::Server::nginx_version(
        $NginxBinary);
    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
        unless defined $ENV{TEST_NGINX_SERVER_PORT};

    # Stop nginx if we are interrupted, then die of the same signal.
    local $SIG{INT}  = \&_on_signal;
    local $SIG{TERM} = \&_on_signal;
    local $SIG{HUP}  = \&_on_signal;

    my @blocks = blocks();
    @blocks = List::Util::shuffle(@blocks) unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        $_->($block) for @TestCleanupHandlers;
    }
    cleanup();
    return;
}

sub _on_signal {
    my ($sig) = @_;
    if ($$ == $MainPid) {
        stop_tcp_server();
        stop_nginx();
    }
    $SIG{$sig} = 'DEFAULT';
    kill $sig, $$;
    exit 1;
}

# Run one block. Errors that stop the block (bad section, nginx that will
# not start, undefined variable) become one failed test, and the suite
# goes on with the next block.
sub run_test {
    my ($block) = @_;
    return if defined $block->SKIP;
    my $name = $block->name;

    local $CurrentBlock = $block;
    local $RandPorts = {};

    local $NginxRan = 0;
    my $ok = eval { _run_block($block); 1 };
    my $err = $@;
    stop_tcp_server();
    stop_nginx();
    if ($NginxRan) {
        # A crash (a module's segfault) fails the block by name.
        my $how = Test::Nginx::Fallback::Server::unexpected_exit();
        Test::More::fail("$name - nginx $how while the block ran; see "
                       . "$ErrLogFile") if $how;
    }
    if ($ok && $NginxRan) {
        $ok = eval { check_shutdown_error_log($block); 1 };
        $err = $@;
    }
    if (!$ok) {
        chomp $err;
        $err = "$name - $err" unless index($err, $name) == 0;
        Test::More::fail($err);
    }
    return;
}

# skip_nginx / skip_eval / todo: (number of tests, reason) when the block
# must be skipped, else ().
sub _skip_spec {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $spec = $block->skip_eval)) {
        $spec =~ /^\s*(\d+)\s*:\s*(.*)/s
            or die "Invalid --- skip_eval spec: $spec\n";
        my ($n, $code) = ($1, $2);
        my $skip = do { package Test::Nginx::Util; eval $code };   ## no critic
        die "skip_eval - failed to eval the Perl code \"$code\": $@\n"
            if $@;
        return ($n, 'skip_eval') if $skip;
    }

    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ m{^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)
                   (?:\s*:\s*(.*))?\s*$}x
            or die "Invalid --- skip_nginx spec: $spec\n";
        my ($n, $op, $reason) = ($1, $2, $6);
        my $want = sprintf '%d.%03d%03d', $3, $4, $5;
        $reason ||= "nginx version $op $3.$4.$5";
        my $have = $NginxVersion // 0;
        my $skip = $op eq '<'  ? $have <  $want
                 : $op eq '<=' ? $have <= $want
                 : $op eq '>'  ? $have >  $want
                 :               $have >= $want;
        return ($n, $reason) if $skip;
    }
    return ();
}

sub _run_block {
    my ($block) = @_;
    my $name = $block->name;

    my @skip = _skip_spec($block);
    if (@skip) {
        for (1 .. $RepeatEach) {
            SKIP: { Test::More::skip("$name - $skip[1]", $skip[0]) }
        }
        return;
    }

    my ($todo_n, $todo_reason);
    if (defined(my $todo = $block->todo)) {
        $todo =~ /^\s*(\d+)\s*:\s*(.*)/s
            or die "Invalid --- todo spec: $todo\n";
        ($todo_n, $todo_reason) = ($1, $2);
    }

    # A block without config runs against the previous block's server.
    my $setup = $block;
    if (!defined $block->config) {
        $setup = $PrevSetupBlock
            or die "No '--- config' section specified and could not get "
                 . "previous one.\n";
    }
    $PrevSetupBlock = $setup;

    my $log_level = $block->log_level || $LogLevel;

    stop_nginx();    # a stale nginx from an aborted run
    setup_server($block, $setup, $log_level);

    if (defined $block->must_die) {
        _run_must_die($block);
        return;
    }

    start_nginx($name);
    $NginxRan = 1;

    if (defined(my $init = $block->init)) {
        do { package Test::Nginx::Util; eval $init };    ## no critic
        die "init failed: $@" if $@;
    }

    $ErrLogPos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        if ($i > 0 && defined $setup->user_files) {
            write_user_files($setup, $name);
        }
        if (defined $todo_n) {
            TODO: {
                Test::More::todo_skip("$name - $todo_reason", $todo_n);
            }
            next;
        }
        my $tcp = defined $block->tcp_listen ? start_tcp_server($block)
                                              : undef;
        run_test_helper($block, $i);
        check_tcp_server($block, $tcp) if $tcp;
    }
    return;
}

# Server root, user files, nginx.conf for a block.
sub setup_server {
    my ($block, $setup, $log_level) = @_;
    my $name = $block->name;

    Test::Nginx::Fallback::Server::setup_servroot($Paths);

    if (defined(my $code = $block->post_setup_server_root)) {
        do { package Test::Nginx::Util; eval $code };    ## no critic
        die "post_setup_server_root failed: $@" if $@;
    }

    write_user_files($setup, $name) if defined $setup->user_files;
    write_config_file($setup, $name, $log_level);
    return;
}

sub write_user_files {
    my ($block, $name) = @_;
    Test::Nginx::Fallback::Server::write_user_files(
        $Paths, scalar $block->user_files,
        sub { expand_env_in_text($_[0], $name) });
    return;
}

sub write_config_file {
    my ($block, $name, $log_level) = @_;

    my $config = expand_env_in_text($block->config // '', $name);
    my $http_config = expand_env_in_text($block->http_config // '', $name);
    $http_config = $FilterHttpConfig->($http_config) if $FilterHttpConfig;
    my $main_config = expand_env_in_text($block->main_config // '', $name);
    my $post_main = expand_env_in_text($block->post_main_config // '',
                                       $name);
    my $err_log = expand_env_in_text($block->error_log_file || $ErrLogFile,
                                     $name);
    my $server_name = $block->server_name // $ServerName;
    $server_name =~ s/([\\'])/\\$1/g;

    # Temp paths inside the server root unless the suite sets its own
    # (the distribution's compiled-in ones may not be writable).
    my %temp = (
        client_body_temp_path => "$ServRoot/client_body_temp",
        proxy_temp_path       => "$ServRoot/proxy_temp",
        fastcgi_temp_path     => "$ServRoot/fastcgi_temp",
        scgi_temp_path        => "$ServRoot/scgi_temp",
        uwsgi_temp_path       => "$ServRoot/uwsgi_temp",
    );
    my $nginx_v = _nginx_configure_args();
    for my $m (qw(fastcgi scgi uwsgi proxy)) {
        delete $temp{"${m}_temp_path"}
            if $nginx_v =~ /--without-http_${m}_module/;
    }
    for my $d (keys %temp) {
        delete $temp{$d} if $http_config =~ /\b$d\b/;
    }

    my @modules = grep { length } split /\s+/, ($LoadModules // '');
    my $user = defined $WorkerUser ? $WorkerUser : $> == 0 ? 'root' : undef;

    my $text = Test::Nginx::Fallback::Server::conf_text(
        $Paths,
        workers            => $Workers,
        master             => $MasterProcessEnabled,
        error_log          => $err_log,
        log_level          => $log_level,
        env                => \@EnvToNginx,
        modules            => \@modules,
        main_config        => $main_config,
        post_main_config   => $post_main,
        http_config        => $http_config,
        config             => $config,
        preamble           => $ConfigPreamble,
        port               => $ServerPort,
        server_name        => $server_name,
        worker_connections => $WorkerConnections,
        root_location      => !$NoRootLocation,
        user               => $user,
        temp_dirs          => \%temp,
        event_type         => $EventType,
    );
    Test::Nginx::Fallback::Server::write_file($ConfFile, $text);
    return;
}

my $ConfigureArgs;
sub _nginx_configure_args {
    $ConfigureArgs //= `$NginxBinary -V 2>&1` // '';
    return $ConfigureArgs;
}

sub _start_opts {
    return (binary  => $NginxBinary,
            use_e   => ($NginxVersion // 0) >= 1.019005,
            timeout => $Timeout);
}

# Start nginx for a block; dies (failing the block) when it will not run.
# A port still held by the previous nginx is waited out for a few seconds.
sub start_nginx {
    my ($name) = @_;
    die "Cannot find the nginx executable ($NginxBinary)\n"
        unless Test::Nginx::Fallback::Server::find_binary($NginxBinary);

    my $waited = 0;
    while (1) {
        my ($status, $stderr) =
            Test::Nginx::Fallback::Server::start($Paths, _start_opts());
        return if $status == 0;
        if ($stderr =~ /Address already in use/ && $waited < 5) {
            Time::HiRes::sleep(0.2);
            $waited += 0.2;
            next;
        }
        $stderr =~ s/\s+\z//;
        die "Cannot start nginx using $NginxBinary (status "
          . ($status == -1 ? 'exec failed' : $status >> 8) . "):\n"
          . $stderr . "\n";
    }
}

# Stop the nginx of our server root, if one runs (only from the process
# that started it).
sub stop_nginx {
    return unless $$ == $MainPid;
    Test::Nginx::Fallback::Server::stop($Paths, timeout => $Timeout,
        fast => $ENV{TEST_NGINX_FAST_SHUTDOWN});
    return;
}

# Is the nginx of this block still running?
sub _nginx_alive {
    my $pid = $Test::Nginx::Fallback::Server::ChildPid;
    return defined $pid && Test::Nginx::Fallback::Server::is_running($pid);
}

sub cleanup {
    $_->() for @CleanupHandlers;
    stop_tcp_server();
    stop_nginx();
    return;
}

# --- must_die: nginx must refuse to start; error_log / no_error_log are
# matched against what it wrote at startup (error.log and stderr).
sub _run_must_die {
    my ($block) = @_;
    my $name = $block->name;
    my $must_die = $block->must_die;
    $ErrLogPos = 0;

    for my $i (0 .. $RepeatEach - 1) {
        my ($status, $stderr) =
            Test::Nginx::Fallback::Server::start($Paths, _start_opts());
        my $exit = $status == -1 ? undef : $status >> 8;

        if ($status == -1) {
            Test::More::fail("$name - failed to execute the nginx command "
                           . "line");
        } elsif ($status & 128) {
            Test::More::fail("$name - nginx core dumped");
        } elsif (Scalar::Util::looks_like_number($must_die)) {
            Test::More::is($must_die, $exit,
                           "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }

        my @stderr = map { "$_\n" } split /\n/, $stderr;
        check_error_log($block, undef, $i, 0, \@stderr);

        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; "
               . "killing it (req $i)\n";
            stop_nginx();
        }
    }
    return;
}

# ---------------------------------------------------------------------
# --- tcp_listen: a one-connection TCP server standing in for a backend,
# forked for each repetition of the block. It accepts one connection,
# reads the query (tcp_query_len bytes, else what one read returns, or
# until tcp_query_auto_timeout of silence), waits tcp_reply_delay, sends
# tcp_reply (text, array of texts, or code given the query) and closes,
# or keeps the connection open with tcp_no_close. tcp_shutdown shuts
# down a direction first. tcp_query / tcp_query_len are then checked.

my $TcpServer;    # { pid, query_file, unix_path } of the running one

sub start_tcp_server {
    my ($block) = @_;
    my $name = $block->name;
    my $target = expand_env_in_text(scalar $block->tcp_listen, $name);
    my $reply = $block->tcp_reply;
    die "no --- tcp_reply specified but --- tcp_listen is specified\n"
        if !defined $reply && !defined $block->tcp_shutdown;

    my $req_len = $block->tcp_query_len;
    $req_len = length $block->tcp_query
        if !defined $req_len && defined $block->tcp_query;
    my $query_file = "$LogDir/tcp_query";
    unlink $query_file;

    my ($listen, $unix_path);
    for my $try (1 .. 30) {
        if ($target =~ /^\d+$/) {
            $listen = IO::Socket::INET->new(
                LocalAddr => '127.0.0.1', LocalPort => $target,
                Proto => 'tcp', Listen => 5, ReuseAddr => 1);
        } elsif ($target =~ /\S+\.sock$/) {
            require IO::Socket::UNIX;
            unlink $target;
            $unix_path = $target;
            $listen = IO::Socket::UNIX->new(
                Local => $target, Listen => 5,
                Type => Socket::SOCK_STREAM());
        } else {
            die "bad tcp_listen target: $target\n";
        }
        last if $listen || !$!{EADDRINUSE};
        Time::HiRes::sleep(0.1);
    }
    die "failed to create the tcp listening socket $target: $!\n"
        unless $listen;

    my $pid = fork;
    die "fork failed: $!\n" unless defined $pid;
    if ($pid == 0) {
        eval { _tcp_server_child($block, $listen, $req_len, $query_file) };
        warn "WARNING: $name - TCP server: $@" if $@;
        POSIX::_exit(0);
    }
    close $listen;
    $TcpServer = { pid => $pid, query_file => $query_file,
                   unix_path => $unix_path };
    return $TcpServer;
}

sub _tcp_server_child {
    my ($block, $listen, $req_len, $query_file) = @_;
    $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);

    my $client;
    until ($client = $listen->accept) {
        Time::HiRes::sleep($TestNginxSleep);
    }

    my ($no_read, $no_write);
    if (defined(my $how = $block->tcp_shutdown)) {
        Time::HiRes::sleep(parse_time(scalar $block->tcp_shutdown_delay))
            if $block->tcp_shutdown_delay;
        shutdown $client, $how;
        if ($how == 0 || $how == 2) { $no_read = 1 } else { $no_write = 1 }
    }

    unless ($no_read) {
        my $auto = $block->tcp_query_auto_timeout;
        my $wait = defined $auto && $auto ne '' ? $auto + 0 : 0.1;
        my $sel = IO::Select->new($client);
        my $buf = '';
        while (1) {
            last if defined $auto && !$sel->can_read($wait);
            my $n = sysread $client, my $chunk, 4096;
            last unless $n;    # EOF or error
            $buf .= $chunk;
            # Publish what was read so far (rename is atomic).
            Test::Nginx::Fallback::Server::write_file("$query_file.tmp",
                                                      $buf);
            rename "$query_file.tmp", $query_file;
            last if !defined $auto && (!$req_len || length $buf >= $req_len);
        }
    }

    Time::HiRes::sleep(parse_time(scalar $block->tcp_reply_delay))
        if $block->tcp_reply_delay;

    my $reply = $block->tcp_reply;
    if (!$no_write && defined $reply) {
        if (ref $reply eq 'CODE') {
            my $query = -f $query_file
                ? Test::Nginx::Fallback::Server::_slurp($query_file) : '';
            $reply = $reply->($query);
        }
        for my $r (ref $reply eq 'ARRAY' ? @$reply : ($reply)) {
            my $off = 0;
            while ($off < length $r) {
                my $n = syswrite $client, $r, length($r) - $off, $off;
                last unless defined $n;
                $off += $n;
            }
        }
    }

    sleep 3600 while defined $block->tcp_no_close;
    close $client;
    return;
}

# tcp_query / tcp_query_len tests, then stop the server.
sub check_tcp_server {
    my ($block, $tcp) = @_;
    my $name = $block->name;
    my $buf = -f $tcp->{query_file}
        ? Test::Nginx::Fallback::Server::_slurp($tcp->{query_file}) : '';
    if (defined $block->tcp_query) {
        is_str($buf, scalar $block->tcp_query, "$name - tcp_query ok");
    }
    if (defined $block->tcp_query_len) {
        Test::More::is(length $buf, scalar $block->tcp_query_len,
                       "$name - TCP query length ok");
    }
    stop_tcp_server();
    return;
}

sub stop_tcp_server {
    return unless $TcpServer && $$ == $MainPid;
    my $pid = $TcpServer->{pid};
    kill 'TERM', $pid;
    my $deadline = Time::HiRes::time() + 2;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        if (Time::HiRes::time() > $deadline) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
            last;
        }
        Time::HiRes::sleep(0.005);
    }
    unlink $TcpServer->{unix_path} if defined $TcpServer->{unix_path};
    undef $TcpServer;
    return;
}

# ---------------------------------------------------------------------
# Requests of a block.

# The block's requests: a list of requests, each a list of packets
# { value => bytes, delay_before => secs }. Also says whether expected
# values must be arrays and how many pipelined responses to expect.
sub requests_from_block {
    my ($block) = @_;
    my $name = $block->name;
    my @reqs;

    my $more = $block->more_headers // '';
    my $headers_for = sub {
        my ($i) = @_;
        my $h = $more;
        if (ref $h eq 'ARRAY') {
            $h = $more->[$i];
            die "--- more_headers lacks data for request $i\n"
                unless defined $h;
        }
        return Test::Nginx::Fallback::Client::parse_more_headers($h);
    };
    my $build = sub {
        my ($i, $conn, @packets) = @_;
        my ($hdr, $chunked) = $headers_for->($i);
        return Test::Nginx::Fallback::Client::build_request(
            name => $name, packets => \@packets, more_headers => $hdr,
            chunked => $chunked, connection => $conn,
            server_name => $ServerName);
    };

    if (defined(my $raw = $block->raw_request)) {
        my @parts = ref $raw eq 'ARRAY' ? @$raw : ($raw);
        push @reqs, [map { { value => $_ } } @parts];
        return (\@reqs, 0);
    }

    if (defined(my $pipe = $block->pipelined_requests)) {
        die "invalid entries in --- pipelined_requests\n"
            unless ref $pipe eq 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$pipe) {
            my $r = expand_env_in_text($pipe->[$i], $name);
            my $conn = $i == $#$pipe ? 'close' : 'keep-alive';
            $all .= join '', @{ $build->($i, $conn, $r) };
        }
        push @reqs, [{ value => $all }];
        return (\@reqs, scalar @$pipe);
    }

    my $request = $block->request;
    die "request empty\n" unless defined $request;
    if (!ref $request) {
        1 while $request =~ s/^\s*#[^\n]+\s+|^\s+//gs;
        push @reqs, [map { { value => $_ } } @{ $build->(0, 'close',
                                                         $request) }];
        return (\@reqs, 0);
    }
    die "invalid --- request: MUST be string or array of requests\n"
        unless ref $request eq 'ARRAY';

    for my $i (0 .. $#$request) {
        my $one = $request->[$i];
        if (!ref $one) {
            push @reqs, [map { { value => $_ } } @{ $build->($i, 'close',
                                                             $one) }];
        } elsif (ref $one eq 'ARRAY') {
            # A request given as packets; hashes carry delay_before.
            my @vals = map {
                ref $_ eq 'HASH' ? $_->{value}
                : !ref $_ ? $_
                : die "Invalid syntax. $_ should be a string or hash "
                    . "with value.\n"
            } @$one;
            my $out = $build->($i, 'close', @vals);
            my @pk;
            for my $k (0 .. $#$out) {
                my %p = ref $one->[$k] eq 'HASH' ? %{ $one->[$k] } : ();
                $p{value} = $out->[$k];
                push @pk, \%p;
            }
            push @reqs, \@pk;
        } else {
            die "Invalid syntax. $one should be a string or an array of "
              . "packets.\n";
        }
    }
    return (\@reqs, 0);
}

# Element $idx of an expected value given per request, or the value
# itself for a single request.
sub get_indexed_value {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value eq 'ARRAY';
        my $what = defined $value ? "\"" . fmt_str($value) . "\"" : 'undef';
        die "You asked for many requests, the expected results should be "
          . "arrays as well (got $what for request $idx).\n";
    }
    return ref $value eq 'ARRAY' ? $value->[0] : $value;
}

# Send the block's requests once and check every response.
sub run_test_helper {
    my ($block, $rep) = @_;
    my $name = $block->name;

    my ($reqs, $npipe) = requests_from_block($block);
    my $need_array = $npipe ? 1 : @$reqs > 1;

    my $timeout = parse_time(scalar $block->timeout) // $Timeout;
    my $ignore = defined $block->ignore_response;
    my $res;
    my $req_idx = 0;

    for my $ri (0 .. $#$reqs) {
        my $packets = $reqs->[$ri];
        my $head_req = (join '', map { $_->{value} } @$packets)
                       =~ /^\s*HEAD\s+/ ? 1 : 0;

        my ($raw, $timed_out, $err) =
          Test::Nginx::Fallback::Client::send_request(
            addr => $ServerAddr, port => $ServerPortForClient,
            packets => $packets, timeout => $timeout,
            middle_delay => scalar $block->raw_request_middle_delay,
            alive => \&_nginx_alive,
            shutdown => _shutdown_how($block));

        if (defined $err) {
            # A dead nginx is reported by run_test; a live one we cannot
            # reach (wrong port?) three times makes the rest pointless.
            if (_nginx_alive() && ++$TotalConnectFailures >= 3) {
                bail_out("$name - $err (aborted)");
            }
            Test::More::fail("$name - $err (aborted)");
        }
        if ($timed_out && !defined $block->abort) {
            Test::More::fail("ERROR: client socket timed out - $name");
        }

        for my $k (1 .. ($npipe || 1)) {
            my ($raw_headers, $left, $perr);
            if (!$ignore) {
                ($res, $raw_headers, $left, $perr) =
                    Test::Nginx::Fallback::Client::parse_response($raw,
                                                                $head_req);
                Test::More::fail("$name - $perr") if defined $perr;
            }
            if ($npipe) {
                $raw = $left;
            } elsif (defined $left && length $left) {
                warn "WARNING: $name - unexpected extra bytes after last "
                   . "chunk in response: \"" . fmt_str($left) . "\"\n";
            }

            if (!$ignore) {
                check_error_code($block, $res, $req_idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $req_idx,
                                           $need_array);
                check_response_headers($block, $res, $raw_headers,
                                       $req_idx, $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $req_idx, $rep,
                                    $need_array);
            }

            # Between requests the log is checked too, so each request
            # must produce the expected lines.
            if ($k < ($npipe || 1) || $ri < $#$reqs) {
                Time::HiRes::sleep(parse_time(scalar $block->wait))
                    if $block->wait;
                check_error_log($block, $res, $rep, $need_array);
                check_access_log($block, $rep) unless $ignore;
            }
            $req_idx++;
        }
    }

    Time::HiRes::sleep(parse_time(scalar $block->wait)) if $block->wait;
    check_error_log($block, $res, $rep, $need_array);
    check_access_log($block, $rep) unless $ignore;
    return;
}

sub _shutdown_how {
    my ($block) = @_;
    my $s = $block->shutdown;
    return undef unless defined $s;
    return $s =~ /^\s*$/ ? 1 : $s;
}

# "500ms", "2s", "1.5" into seconds.
sub parse_time {
    my ($t) = @_;
    return undef unless defined $t;
    return $t / 1000 if $t =~ s/([^_a-zA-Z])ms$/$1/;
    $t =~ s/([^_a-zA-Z])s$/$1/;
    return $t;
}

# ---------------------------------------------------------------------
# Checks. Each is one or more Test::More assertions named
# "<file> TEST n: title - what".

sub check_error_code {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    if (defined $block->error_code_like) {
        my $pat = get_indexed_value($name, scalar $block->error_code_like,
                                    $idx, $need_array);
        Test::More::like($code, qr/$pat/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        Test::More::is($code,
                       get_indexed_value($name, scalar $block->error_code,
                                         $idx, $need_array),
                       "$name - status code ok");
    } else {
        Test::More::is($code, 200, "$name - status code ok");
    }
    return;
}

sub check_raw_response_headers {
    my ($block, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;
    $raw_headers //= '';
    if (defined $block->raw_response_headers_like) {
        my $pat = get_indexed_value($name,
                                    scalar $block->raw_response_headers_like,
                                    $idx, $need_array);
        Test::More::like($raw_headers, qr/$pat/s,
                         "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $pat = get_indexed_value($name,
                                    scalar $block->raw_response_headers_unlike,
                                    $idx, $need_array);
        Test::More::unlike($raw_headers, qr/$pat/s,
                           "$name - raw resp headers unlike");
    }
    return;
}

# "Name: value" lines into [name, value] pairs; "!Name" gives undef.
sub parse_headers {
    my ($text) = @_;
    my @pairs;
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next unless length $line;
        if ($line =~ s/^!\s*//) {
            push @pairs, [$line, undef];
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            push @pairs, [$k, $v // ''];
        }
    }
    return \@pairs;
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;
    $raw_headers //= '';

    if (defined $block->response_headers) {
        my $spec = get_indexed_value($name, scalar $block->response_headers,
                                     $idx, $need_array);
        for my $pair (@{ parse_headers($spec) }) {
            my ($key, $val) = @$pair;
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/mi,
                    "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            my $got = $res ? $res->header($key) : undef;
            Test::More::is($got // '', $val, "$name - header $key ok");
        }

    } elsif (defined $block->response_headers_like) {
        # As in the real runner, "!Name" means nothing here: its pattern
        # is undefined (Perl warns, and only an absent header matches).
        # A header that must be absent: raw_response_headers_unlike.
        my $spec = get_indexed_value($name,
                                     scalar $block->response_headers_like,
                                     $idx, $need_array);
        for my $pair (@{ parse_headers($spec) }) {
            my ($key, $val) = @$pair;
            my $got = $res ? $res->header($key) : undef;
            Test::More::like($got // '', qr/^$val$/,
                             "$name - header $key like ok");
        }
    }
    return;
}

# --- response_body_filters: uc, lc, md5_hex... or code refs, applied to
# the received body before comparison.
sub transform_response_body {
    my ($block, $res, $idx) = @_;
    my $filters = $block->response_body_filters;
    return unless defined $filters && $res && defined $res->content;
    my $name = $block->name;

    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//g;
        $filters = [split /\s+/, $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    if (ref $filters->[0] eq 'ARRAY') {
        $filters = $filters->[$idx]
            // die "the --- response_body_filters two-dimensional array "
                 . "has no entry for request $idx\n";
    }

    my $content = $res->content;
    for my $f (@$filters) {
        if (ref $f eq 'CODE') {
            $content = $f->($content);
        } elsif ($f eq 'md5_hex') {
            require Digest::MD5;
            $content = Digest::MD5::md5_hex($content);
        } elsif ($f eq 'sha1_hex') {
            require Digest::SHA;
            $content = Digest::SHA::sha1_hex($content);
        } elsif ($f =~ /^(uc|lc|ucfirst|lcfirst|length)$/) {
            $content = $f eq 'uc' ? uc $content
                     : $f eq 'lc' ? lc $content
                     : $f eq 'ucfirst' ? ucfirst $content
                     : $f eq 'lcfirst' ? lcfirst $content
                     : length $content;
        } else {
            die "unknown filter, \"$f\", specified in the --- "
              . "response_body_filters section\n";
        }
    }
    $res->content($content);
    return;
}

sub check_response_body {
    my ($block, $res, $idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;

    if (defined $block->response_body) {
        my $expected = get_indexed_value($name, scalar $block->response_body,
                                         $idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected = expand_env_in_text($expected, $name);
        }
        my $desc = "$name - response_body - response is expected "
                 . "(repeated req $rep, req $idx)";
        if (ref $expected) {
            Test::More::like($content, $expected,
                             "$name - response_body - like (repeated req "
                           . "$rep, req $idx)");
        } elsif ($NoLongString) {
            Test::More::is($content, $expected, $desc);
        } else {
            is_string($content, $expected, $desc);
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $like = defined $block->response_body_like;
        my $pat = get_indexed_value($name,
            scalar($like ? $block->response_body_like
                         : $block->response_body_unlike),
            $idx, $need_array);
        if (!ref $pat) {
            $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $pat =~ s/\$ServerPort\b/$ServerPort/g;
        }
        my $summary = $content // '';
        $summary =~ s/^\s+|\s+$//g;
        $summary =~ s/\s+/ /g;
        $summary = substr($summary, 0, 60) . '...' if length $summary > 63;
        my $type = $like ? 'like' : 'unlike';
        my $desc = "$name - response_body_$type - response is expected "
                 . "($summary)";
        if ($like) {
            Test::More::like($content, qr/$pat/s, $desc);
        } else {
            Test::More::unlike($content, qr/$pat/s, $desc);
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $content, $idx, $rep, 0);
    }
    return;
}

# Lines of error.log written since the last look (this block's part), or
# all of it with check_accum_error_log.
sub error_log_data {
    # Log-phase lines are written after the response is sent.
    Time::HiRes::sleep($TestNginxSleep * 3);
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogPos, 0 if !$CheckAccumErrLog && $ErrLogPos > 0;
    my @lines = <$in>;
    $ErrLogPos = tell $in unless $CheckAccumErrLog;
    close $in;
    return \@lines;
}

# Patterns of error_log / no_error_log: text (one per line), a qr//, or
# an array of them.
sub _patterns {
    my ($pats) = @_;
    return [] unless defined $pats;
    if (!ref $pats) {
        chomp $pats;
        return [grep { length } split /\n+/, $pats];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub _matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub _mentions {
    my ($pats, $text) = @_;
    for my $p (grep { defined $_ } @$pats) {
        return 1 if index("$p", $text) >= 0;
    }
    return 0;
}

# Every pattern of $want must match a line of the log and no pattern of
# $unwanted any: one test per pattern. Returns all the patterns.
sub _check_patterns {
    my ($name, $get, $want, $unwanted, $suffix, $log) = @_;
    $log //= 'error.log';
    my @all;

    if (defined $want) {
        my @pending = @{ _patterns($want) };
        push @all, @pending;
        for my $line (@{ $get->() }) {
            for my $pat (@pending) {
                next unless defined $pat;
                if (_matches($line, $pat)) {
                    Test::More::pass("$name - pattern \"$pat\" matches a "
                                   . "line in $log$suffix");
                    undef $pat;
                }
            }
        }
        for my $pat (grep { defined } @pending) {
            Test::More::fail("$name - pattern \"$pat\" should match a line "
                           . "in $log$suffix");
        }
    }

    if (defined $unwanted) {
        my $pats = _patterns($unwanted);
        push @all, @$pats;
        for my $pat (@$pats) {
            my $p = fmt_str($pat);
            my ($hit) = grep { _matches($_, $pat) } @{ $get->() };
            if (defined $hit) {
                Test::More::fail("$name - pattern \"$p\" should not match "
                               . "any line in $log but matches line \""
                               . fmt_str($hit) . "\"$suffix");
            } else {
                Test::More::pass("$name - pattern \"$p\" does not match a "
                               . "line in $log$suffix");
            }
        }
    }
    return @all;
}

# --- access_log / no_access_log: patterns for the whole access.log.
sub check_access_log {
    my ($block, $rep) = @_;
    return unless defined $block->access_log
               || defined $block->no_access_log;
    my $get = sub {
        Time::HiRes::sleep($TestNginxSleep * 3);
        open my $in, '<', $AccLogFile or return [];
        return [<$in>];
    };
    _check_patterns($block->name, $get, scalar $block->access_log,
                    scalar $block->no_access_log, " (req $rep)",
                    'access.log');
    return;
}

# --- shutdown_error_log / no_shutdown_error_log: what nginx logged while
# stopping (checked once it has exited).
sub check_shutdown_error_log {
    my ($block) = @_;
    return unless defined $block->shutdown_error_log
               || defined $block->no_shutdown_error_log;
    my $lines;
    my $get = sub { $lines //= error_log_data() };
    _check_patterns($block->name, $get, scalar $block->shutdown_error_log,
                    scalar $block->no_shutdown_error_log, '');
    return;
}

# error_log patterns must each match a line, no_error_log ones none;
# grep_error_log collects matches to compare with grep_error_log_out.
# [alert], [crit] and [emerg] lines are reported as warnings unless a
# pattern mentions them. $extra holds more lines to search (nginx's
# stderr for must_die).
sub check_error_log {
    my ($block, $res, $rep, $need_array, $extra) = @_;
    my $name = $block->name;
    my $lines;
    my $get = sub {
        $lines //= [@{ error_log_data() }, @{ $extra || [] }];
        return $lines;
    };

    if (defined(my $grep = $block->grep_error_log)) {
        my $pat = ref $grep eq 'ARRAY' ? $grep->[$rep] : $grep;
        my $expected = $block->grep_error_log_out;
        die "No --- grep_error_log_out defined but --- grep_error_log is "
          . "defined\n" unless defined $expected;
        $expected = $expected->[$rep] if ref $expected eq 'ARRAY';
        $expected = expand_env_in_text($expected, $name) unless ref $expected;
        my $out = '';
        for my $line (@{ $get->() }) {
            my $m;
            if (ref $pat) { $m = $& if $line =~ $pat }
            elsif (index($line, $pat) >= 0) { $m = $pat }
            $out .= "$m\n" if defined $m && $m !~ /\n/;
        }
        my $desc = "$name - grep_error_log_out (req $rep)";
        if (ref $expected eq 'Regexp') {
            Test::More::like($out, $expected, $desc);
        } else {
            is_str($out, $expected, $desc);
        }
    }

    my @all_pats = _check_patterns($name, $get,
                                   scalar $block->error_log,
                                   scalar $block->no_error_log,
                                   " (req $rep)");

    for my $level (qw(alert crit emerg)) {
        next if _mentions(\@all_pats, "[$level");
        next if defined $block->must_die;
        for my $line (grep { /\[$level\]/ } @{ $get->() }) {
            warn "WARNING: $name - " . fmt_str($line) . "\n";
        }
    }
    for my $line (@{ $lines || [] }) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            chomp(my $l = $line);
            Test::More::fail("$name - $l");
        }
    }
    return;
}

END {
    # Leave no nginx behind, whatever happened (die, BAIL_OUT, exit).
    if (defined $MainPid && $$ == $MainPid) {
        local $?;
        eval { cleanup() };
        # TEST_NGINX_RANDOMIZE server roots are per run: remove ours.
        if ($Randomize && $ServRoot =~ m{/t/servroot_\d+\z}) {
            require File::Path;
            File::Path::remove_tree($ServRoot);
        }
    }
}

1;
