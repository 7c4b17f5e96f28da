package TaskGW::Stack;

# A private taskgw stack for end-to-end tests: redis-server, the real nginx
# with the module, taskgw-worker, plus small HTTP and Redis clients.
#
#   my $s = TaskGW::Stack->new;
#   $s->start_redis;
#   $s->start_nginx(config => <<'EOC');     # inside http { }
#       taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
#       server { listen 127.0.0.1:%%PORT%%; location /tasks { ... } }
#   EOC
#   my $r = $s->http(POST => '/tasks', body => 'x');
#   $s->start_worker({ handlers => { ... } });
#
# Core Perl only.  Every process started here runs in its own process group
# and is killed (group-wide) at exit, on SIGINT/SIGTERM and when a test dies.
#
# TASKGW_VALGRIND=1 (make test-valgrind, docs/testing.md) runs every
# taskgw-worker under valgrind's memcheck: any memory error or definite
# leak it reports fails the test file (its exit status is non-zero and the
# report is printed), and every deadline of wait_for() and of stopping a
# worker is TASKGW_VALGRIND_SLOW times longer (default 5).

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(wait_for free_port repo_root json_decode json_encode
                    http_request request_send request_recv
                    request_parallel);

# ---------------------------------------------------------------------------
# Process bookkeeping: everything we start, killed at exit.
# ---------------------------------------------------------------------------

my %CHILDREN;               # pid => name, live processes we spawned
my $VALGRIND = $ENV{TASKGW_VALGRIND} ? 1 : 0;
my $SLOW = $VALGRIND ? ($ENV{TASKGW_VALGRIND_SLOW} || 5) : 1;
my $VALGRIND_EXIT = 97;     # a worker's exit status when valgrind found errors
my @VALGRIND_LOGS;          # log-file patterns of the workers started
my $OWNER = $$;             # forked helpers must not clean up our children
my $WATCHDOG;               # pipe to the watchdog, see _watchdog

# A watchdog in its own process group that outlives us: it learns every
# process group we start ("+pid") or reap ("-pid") through a pipe, and
# when the pipe closes without "bye" (we were SIGKILLed, or our whole
# process group was) it kills what is left.  END covers every other exit.
sub _watchdog {
    return $WATCHDOG if $WATCHDOG && $$ == $OWNER;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $w;
        POSIX::setpgid(0, 0);
        $SIG{$_} = 'IGNORE' for qw(INT TERM HUP PIPE);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';      # prove waits for EOF on it
        open STDERR, '>', '/dev/null';
        # hold nothing else of the test's (listening sockets above all)
        my $keep = fileno $r;
        if (opendir my $d, '/proc/self/fd') {
            for my $fd (grep { /^\d+$/ } readdir $d) {
                POSIX::close($fd) if $fd > 2 && $fd != $keep;
            }
        }
        my (%live, @dirs, $bye);
        while (my $line = <$r>) {
            if ($line =~ /^\+(\d+)$/) { $live{$1} = 1 }
            elsif ($line =~ /^-(\d+)$/) { delete $live{$1} }
            elsif ($line =~ /^dir (.+)$/) { push @dirs, $1 }
            elsif ($line =~ /^bye$/) { $bye = 1 }
        }
        if (!$bye) {
            if (%live) {
                kill 'TERM', -$_ for keys %live;
                sleep 2;
                kill 'KILL', -$_ for keys %live;
            }
            File::Path::remove_tree($_) for grep { m{/taskgw-e2e-} } @dirs;
        }
        POSIX::_exit(0);
    }
    close $r;
    my $old = select $w;
    $| = 1;
    select $old;
    return $WATCHDOG = $w;
}

sub _track {
    my ($pid, $name) = @_;
    $CHILDREN{$pid} = $name;
    return unless $$ == $OWNER;
    local $SIG{PIPE} = 'IGNORE';
    print { _watchdog() } "+$pid\n";
}

sub _untrack {
    my ($pid) = @_;
    delete $CHILDREN{$pid};
    local $SIG{PIPE} = 'IGNORE';
    print { $WATCHDOG } "-$pid\n" if $WATCHDOG && $$ == $OWNER;
}

sub _kill_all {
    return unless $$ == $OWNER;
    my @pids = keys %CHILDREN;
    if (@pids) {
        kill 'TERM', -$_ for @pids;
        my $deadline = time + 3 * $SLOW;
        while (%CHILDREN && time < $deadline) {
            for my $pid (keys %CHILDREN) {
                _untrack($pid) if waitpid($pid, WNOHANG) != 0;
            }
            sleep 0.05 if %CHILDREN;
        }
        for my $pid (keys %CHILDREN) {
            kill 'KILL', -$pid;
            kill 'KILL', $pid;
            waitpid($pid, 0);
            _untrack($pid);
        }
    }
    if ($WATCHDOG) {
        local $SIG{PIPE} = 'IGNORE';
        print $WATCHDOG "bye\n";
        close $WATCHDOG;
        undef $WATCHDOG;
    }
}

END {
    my $status = $?;
    _kill_all();
    $status = 1 if _valgrind_errors() && !$status;
    $? = $status;
}

# Reads the logs of the workers run under valgrind once they are stopped;
# prints each one that reports an error (a memory error or a definite
# leak) and returns how many do.
sub _valgrind_errors {
    return 0 unless $VALGRIND && $$ == $OWNER;
    my $bad = 0;
    for my $log (map { glob $_ } @VALGRIND_LOGS) {
        my $text = _slurp($log);
        my ($n) = $text =~ /ERROR SUMMARY: (\d+) errors/;
        next unless $n || $text =~ /definitely lost: [1-9]/;
        $bad++;
        print STDERR "# valgrind found errors in a worker ($log):\n";
        print STDERR "#   $_\n" for split /\n/, $text;
    }
    return $bad;
}

for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub {
        _kill_all();
        exit(128 + ($sig eq 'INT' ? 2 : $sig eq 'TERM' ? 15 : 1));
    };
}

# Spawns argv in a new process group with stdout/stderr to $log (appended).
sub _spawn {
    my ($name, $log, @argv) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        POSIX::setpgid(0, 0);
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
        open STDIN, '<', '/dev/null';
        if (defined $log) {
            open STDOUT, '>>', $log or POSIX::_exit(127);
            open STDERR, '>>&', \*STDOUT or POSIX::_exit(127);
        }
        exec { $argv[0] } @argv
            or print STDERR "exec $argv[0]: $!\n";
        POSIX::_exit(127);
    }
    POSIX::setpgid($pid, $pid);     # no race with the child's own call
    _track($pid, $name);
    return $pid;
}

# Sends $sig, waits up to $timeout s, then SIGKILLs the group.  Returns the
# wait status ($?-style) of the leader, or undef when it had to be killed.
sub _stop {
    my ($pid, $sig, $timeout) = @_;
    return undef unless $pid && exists $CHILDREN{$pid};
    kill $sig, $pid;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        my $w = waitpid($pid, WNOHANG);
        if ($w == $pid || $w < 0) {
            my $st = $w == $pid ? $? : undef;
            kill 'KILL', -$pid;     # leftovers of the group, if any
            _untrack($pid);
            return $st;
        }
        sleep 0.02;
    }
    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
    _untrack($pid);
    return undef;
}

sub _alive {
    my ($pid) = @_;
    return 0 unless $pid && exists $CHILDREN{$pid};
    my $w = waitpid($pid, WNOHANG);
    return 1 if $w == 0;
    _untrack($pid);
    return 0;
}

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

sub repo_root {
    return abs_path(dirname(__FILE__) . '/../../..');
}

my %USED_PORTS;

# A free loopback TCP port, never the same twice in one process.  It is
# taken below the kernel's ephemeral range, so outgoing connections (of
# this test or of tests running in parallel) never grab it between now and
# the moment a server binds it, nor while a server is restarted on it.
sub free_port {
    my ($low) = split ' ', _slurp('/proc/sys/net/ipv4/ip_local_port_range');
    $low = 32768 unless $low && $low =~ /^\d+$/;
    for (1 .. 200) {
        my $port = $low > 12000 ? 10000 + int(rand($low - 10000)) : 0;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $port, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 1)
            or next;
        $port = $s->sockport;
        close $s;
        next if $USED_PORTS{$port}++;
        return $port;
    }
    die "free_port: no free port found";
}

# Polls $cb every $interval s until it returns true or $timeout s pass;
# returns the callback's last value.
sub wait_for {
    my ($cb, $timeout, $interval) = @_;
    $timeout  //= 10;
    $interval //= 0.05;
    my $deadline = time + $timeout * $SLOW;
    while (1) {
        my $v = $cb->();
        return $v if $v;
        return $v if time >= $deadline;
        sleep $interval;
    }
}

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

# Decodes JSON text; undef (not a die) when it is not JSON.
sub json_decode {
    my ($text) = @_;
    return undef unless defined $text;
    my $v = eval { $JSON->decode($text) };
    return $v;
}

sub json_encode { return $JSON->encode($_[0]) }

sub _slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub _spew {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh $data;
    close $fh or die "$path: $!";
}

# Can we open a TCP connection to 127.0.0.1:$port?
sub _listening {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

# ---------------------------------------------------------------------------
# The stack object
# ---------------------------------------------------------------------------

sub new {
    my ($class, %opt) = @_;
    my $keep = $ENV{TASKGW_KEEP_SERVROOT};
    my $dir = tempdir('taskgw-e2e-XXXXXX', TMPDIR => 1, CLEANUP => !$keep);
    chmod 0755, $dir;
    diag_note("servroot kept at $dir") if $keep;
    if ($$ == $OWNER && !$keep) {
        local $SIG{PIPE} = 'IGNORE';
        print { _watchdog() } "dir $dir\n";
    }
    my $self = bless {
        dir     => $dir,
        root    => repo_root(),
        prefix  => $opt{prefix} // 'taskgw',
        workers => [],
        nworker => 0,
    }, $class;
    return $self;
}

sub diag_note { print STDERR "# $_[0]\n" }

sub dir    { $_[0]{dir} }
sub root   { $_[0]{root} }
sub prefix { $_[0]{prefix} }

# A path relative to the repo root, or the given absolute one.
sub _repo_path {
    my ($self, $p) = @_;
    return $p =~ m{^/} ? $p : "$self->{root}/$p";
}

# ---- redis ----------------------------------------------------------------

sub redis_port { $_[0]{redis_port} }

# Starts a private redis-server (on the port of a previous start, so a
# restart keeps the address) and waits until it answers PING.  args =>
# [...] adds (or overrides: the last wins) redis-server options, kept for
# later restarts, e.g. [qw(--appendonly yes --appendfsync always)].
sub start_redis {
    my ($self, %opt) = @_;
    die "redis already running" if _alive($self->{redis_pid});
    my $port = $self->{redis_port} //= $opt{port} // free_port();
    $self->{redis_args} = $opt{args} if $opt{args};
    my $bin = $ENV{TASKGW_REDIS_SERVER} || 'redis-server';
    my $log = "$self->{dir}/redis.log";
    my @aof = $self->{redis_persist}
        ? ('--appendonly', 'yes', '--appendfsync', 'always')
        : ('--appendonly', 'no');
    $self->{redis_pid} = _spawn('redis-server', $log, $bin,
        '--port', $port, '--bind', '127.0.0.1', '--save', '',
        '--appendonly', 'no', '--dir', $self->{dir},
        '--daemonize', 'no', '--protected-mode', 'no',
        @{ $self->{redis_args} // [] });
    my $ok = wait_for(sub {
        return -1 unless _alive($self->{redis_pid});
        my $r = eval { TaskGW::Stack::Redis->new($port, 1) } or return 0;
        return ($r->cmd('PING') // '') eq 'PONG';
    }, 10);
    die "redis-server did not start on $port:\n" . _slurp($log)
        unless $ok && $ok != -1;
    return $port;
}

# stop_redis(signal => 'KILL') stops it the hard way (no shutdown save).
sub stop_redis {
    my ($self, %opt) = @_;
    my $pid = delete $self->{redis_pid} or return;
    _stop($pid, $opt{signal} // 'TERM', 5);
    wait_for(sub { !_listening($self->{redis_port}) }, 5);
}

sub restart_redis {
    my ($self, %opt) = @_;
    $self->stop_redis(%opt);
    return $self->start_redis;
}

sub redis_running { _alive($_[0]{redis_pid}) }

# A new client connection to the stack's redis.
sub redis {
    my ($self) = @_;
    return TaskGW::Stack::Redis->new($self->{redis_port});
}

# ---- nginx ----------------------------------------------------------------

sub port { $_[0]{port} }

sub nginx_binary { $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx' }

# Module paths to load_module: $TEST_NGINX_LOAD_MODULES (space separated),
# default build/ngx_http_taskgw_module.so; modules => [] loads none.
sub _modules {
    my ($self, $opt) = @_;
    return @{ $opt->{modules} } if $opt->{modules};
    my $list = $ENV{TEST_NGINX_LOAD_MODULES}
        // 'build/ngx_http_taskgw_module.so';
    return map { $self->_repo_path($_) } split ' ', $list;
}

# Expands %%NAME%% placeholders: PORT, REDIS_PORT, SERVROOT, PREFIX and
# any key of $vars.  An unknown placeholder is an error in the test.
sub expand {
    my ($self, $text, $vars) = @_;
    my %v = (
        PORT       => $self->{port},
        REDIS_PORT => $self->{redis_port},
        SERVROOT   => $self->{dir},
        PREFIX     => $self->{prefix},
        %{ $vars // {} },
    );
    $text =~ s{%%([A-Z0-9_]+)%%}{
        defined $v{$1} ? $v{$1} : die "placeholder %%$1%% has no value\n"
    }ge;
    return $text;
}

# Writes the full nginx.conf around the test's http-level config.
sub _write_nginx_conf {
    my ($self, %opt) = @_;
    my $d = $self->{dir};
    make_path("$d/conf", "$d/logs", map { "$d/tmp/$_" }
              qw(body proxy fastcgi uwsgi scgi));
    my $level = $opt{log_level} // 'info';
    my $main = join '', map { "load_module $_;\n" } $self->_modules(\%opt);
    $main .= "user root;\n" if $> == 0;
    my $conf = <<"EOC";
$main
worker_processes  @{[ $opt{worker_processes} // 1 ]};
master_process    on;
daemon            off;
pid               $d/logs/nginx.pid;
error_log         $d/logs/error.log $level;
@{[ $opt{main_config} // '' ]}
events {
    worker_connections  @{[ $opt{worker_connections} // 1024 ]};
}

http {
    access_log              $d/logs/access.log;
    client_body_temp_path   $d/tmp/body;
    proxy_temp_path         $d/tmp/proxy;
    fastcgi_temp_path       $d/tmp/fastcgi;
    uwsgi_temp_path         $d/tmp/uwsgi;
    scgi_temp_path          $d/tmp/scgi;
    default_type            application/octet-stream;

$opt{config}
}
EOC
    $conf = $self->expand($conf, $opt{vars});
    _spew("$d/conf/nginx.conf", $conf);
    return "$d/conf/nginx.conf";
}

# Runs `nginx -t` on a config; returns (exit code, output).
sub nginx_test {
    my ($self, %opt) = @_;
    $self->{port} //= free_port();
    my $conf = $self->_write_nginx_conf(%opt);
    my $bin = $self->nginx_binary;
    my $out = `$bin -t -p $self->{dir}/ -e $self->{dir}/logs/error.log -c $conf 2>&1`;
    return ($? >> 8, $out);
}

# Starts nginx (master + workers) and waits until it accepts on %%PORT%%.
#   config => http-level text; worker_processes, log_level, main_config,
#   modules => [...], vars => { NAME => value }.
sub start_nginx {
    my ($self, %opt) = @_;
    die "nginx already running" if _alive($self->{nginx_pid});
    die "start_nginx: config is required" unless defined $opt{config};
    $self->{port} //= free_port();
    my $conf = $self->_write_nginx_conf(%opt);
    my $d = $self->{dir};
    my $pos = -s "$d/logs/error.log" // 0;
    $self->{nginx_pid} = _spawn('nginx', "$d/logs/stderr.log",
        $self->nginx_binary, '-p', "$d/", '-e', "$d/logs/error.log",
        '-c', $conf);
    my $n = $opt{worker_processes} // 1;
    my $ok = wait_for(sub {
        return -1 unless _alive($self->{nginx_pid});
        return _listening($self->{port})
            && (my @w = $self->nginx_worker_pids) >= $n;
    }, 30);
    unless ($ok && $ok != -1) {
        my $log = substr(_slurp("$d/logs/error.log"), $pos)
                . _slurp("$d/logs/stderr.log");
        $self->stop_nginx;
        die "nginx did not start:\n$log";
    }
    return $self->{port};
}

# Reload (SIGHUP), with a new config when given (same options as
# start_nginx).  Waits until new worker processes run; returns the pids of
# the old ones (which may still be finishing their requests).
sub reload_nginx {
    my ($self, %opt) = @_;
    my $pid = $self->{nginx_pid} or die "nginx is not running";
    $self->_write_nginx_conf(%opt) if defined $opt{config};
    my %old = map { $_ => 1 } $self->nginx_worker_pids;
    kill 'HUP', $pid;
    my $n = $opt{worker_processes} // 1;
    # generous: a loaded machine may take seconds to fork new workers
    wait_for(sub { (grep { !$old{$_} } $self->nginx_worker_pids) >= $n }, 30)
        or die "nginx did not reload:\n" . $self->error_log;
    return sort { $a <=> $b } keys %old;
}

# Graceful stop (QUIT), then KILL of the whole group after $timeout s.
sub stop_nginx {
    my ($self, $timeout) = @_;
    my $pid = delete $self->{nginx_pid} or return;
    return _stop($pid, 'QUIT', $timeout // 5);
}

sub nginx_running { _alive($_[0]{nginx_pid}) }

sub nginx_pid { $_[0]{nginx_pid} }

# PIDs of the nginx worker processes (children of the master).
sub nginx_worker_pids {
    my ($self) = @_;
    my $master = $self->{nginx_pid} or return ();
    my @pids;
    opendir my $dh, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $dh) {
        my $stat = _slurp("/proc/$p/stat");
        next unless $stat =~ /^\d+ \(.*\) \S (\d+)/s;
        push @pids, $p if $1 == $master;
    }
    return sort { $a <=> $b } @pids;
}

sub error_log { _slurp("$_[0]{dir}/logs/error.log") }

# Lines of the error log that show a crash or an alert (for an assertion
# that prints exactly what went wrong).
sub error_log_alerts {
    my ($self) = @_;
    return grep { /\[(alert|emerg|crit)\]|exited on signal|segfault/ }
           split /\n/, $self->error_log;
}

# ---- taskgw-worker ----------------------------------------------------------

sub worker_binary {
    my ($self) = @_;
    return $self->_repo_path($ENV{TASKGW_WORKER} || 'build/taskgw-worker');
}

# Starts taskgw-worker with the config of docs/worker-config.md: redis, prefix and a
# short claim/shutdown default are filled in, the test's hash wins.  A
# config that names "sentinel" gets no "redis" (the two exclude each other).
# Returns a handle { pid, conf, log }; the worker's stderr goes to log.
sub start_worker {
    my ($self, $cfg, %opt) = @_;
    my $n = ++$self->{nworker};
    my %conf = (
        ($cfg && exists $cfg->{sentinel}
            ? () : (redis => "127.0.0.1:$self->{redis_port}")),
        prefix         => $self->{prefix},
        name           => "e2e-$n",
        shutdown_grace => '5s',
        %{ $cfg // {} },
    );
    my $conf = "$self->{dir}/worker-$n.json";
    my $log  = "$self->{dir}/worker-$n.log";
    _spew($conf, JSON::PP->new->canonical->pretty->encode(\%conf));
    my @valgrind;
    if ($VALGRIND) {
        # %p: the worker's pid (valgrind execs nothing: the pid it is
        # started under stays the worker's, and the exec keeper, a new
        # program, runs natively)
        my $vlog = "$self->{dir}/valgrind-worker-$n.%p.log";
        push @VALGRIND_LOGS, "$self->{dir}/valgrind-worker-$n.*.log";
        @valgrind = ('valgrind', '--tool=memcheck', '--leak-check=full',
                     '--errors-for-leak-kinds=definite',
                     '--show-leak-kinds=definite', '--num-callers=30',
                     "--error-exitcode=$VALGRIND_EXIT", '--trace-children=no',
                     "--log-file=$vlog");
    }
    my $pid = _spawn("taskgw-worker-$n", $log, @valgrind, $self->worker_binary,
                     '-c', $conf, @{ $opt{args} // [] });
    my $w = { pid => $pid, conf => $conf, log => $log, n => $n };
    push @{ $self->{workers} }, $w;
    return $w;
}

# SIGTERM (or $sig), wait; returns the wait status or undef if it had to be
# killed.  Without a handle, stops the most recent worker.
sub stop_worker {
    my ($self, $w, %opt) = @_;
    $w //= $self->{workers}[-1] or return;
    @{ $self->{workers} } = grep { $_ != $w } @{ $self->{workers} };
    return _stop($w->{pid}, $opt{signal} // 'TERM',
                 ($opt{timeout} // 10) * $SLOW);
}

sub worker_running { _alive($_[1]{pid}) }

sub worker_log {
    my ($self, $w) = @_;
    $w //= $self->{workers}[-1];
    return $w ? _slurp($w->{log}) : '';
}

# The number of lines of a worker's log that hold every one of the texts
# given (the worker: as worker_log's).
sub log_lines {
    my ($self, $w, @what) = @_;
    my @l = split /\n/, $self->worker_log($w);
    for my $x (@what) {
        @l = grep { /\Q$x\E/ } @l;
    }
    return scalar @l;
}

# ---- taskgwctl and other commands ---------------------------------------------

sub ctl_binary {
    my ($self) = @_;
    return $self->_repo_path($ENV{TASKGW_CTL} || 'build/taskgwctl');
}

# Runs taskgwctl against the stack's redis and prefix:
#   $s->ctl(ARGS..., { stdin => BYTES }) -> { out, err, code }
sub ctl {
    my ($self, @args) = @_;
    my $opt = ref $args[-1] eq 'HASH' ? pop @args : {};
    return $self->run_cmd([ $self->ctl_binary,
                            '-r', "127.0.0.1:$self->{redis_port}",
                            '-p', $self->{prefix}, @args ], %$opt);
}

# Runs argv (no shell) to completion with stdin from a string; returns
# { out, err, code } (code: exit status, or 128+signal).
sub run_cmd {
    my ($self, $argv, %opt) = @_;
    my $n = ++$self->{ncmd};
    my ($in, $out, $err) = map { "$self->{dir}/cmd-$n.$_" } qw(in out err);
    _spew($in, $opt{stdin} // '');
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', $in;
        open STDOUT, '>', $out;
        open STDERR, '>', $err;
        exec { $argv->[0] } @$argv or print STDERR "exec: $!\n";
        POSIX::_exit(127);
    }
    $CHILDREN{$pid} = 'command';    # same group as us: not the watchdog's
    waitpid($pid, 0);
    my $st = $?;
    delete $CHILDREN{$pid};
    return { out => _slurp($out), err => _slurp($err),
             code => $st & 127 ? 128 + ($st & 127) : $st >> 8 };
}

# ---- generic processes --------------------------------------------------------

# Spawns any helper process the stack should clean up; returns its pid.
sub spawn {
    my ($self, $name, @argv) = @_;
    return _spawn($name, "$self->{dir}/$name.log", @argv);
}

# Forks a helper running $code (in its own process group), cleaned up
# like everything else; returns its pid.
sub fork_process {
    my ($self, $name, $code) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        POSIX::setpgid(0, 0);
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
        eval { $code->() };
        POSIX::_exit($@ ? 1 : 0);
    }
    POSIX::setpgid($pid, $pid);
    _track($pid, $name);
    return $pid;
}

sub kill_process {
    my ($self, $pid, $sig, $timeout) = @_;
    return _stop($pid, $sig // 'TERM', $timeout // 5);
}

# ---- HTTP client ----------------------------------------------------------------

# $s->http(METHOD => PATH, headers => {...}|[...], body => BYTES,
#          timeout => S, port => P) -> { status, headers, body, json, time }
sub http {
    my ($self, $method, $path, %opt) = @_;
    return http_request($method, $path, port => $self->{port}, %opt);
}

# $s->http_send(...) now, $s->http_recv($h) later: a request kept open.
sub http_send {
    my ($self, $method, $path, %opt) = @_;
    return request_send($method, $path, port => $self->{port},
                                    %opt);
}

sub http_recv { return request_recv($_[1]) }

# $s->http_parallel([[POST => '/tasks', body => 'x'], ...], timeout => S)
sub http_parallel {
    my ($self, $reqs, %opt) = @_;
    return request_parallel($reqs, port => $self->{port}, %opt);
}

# Plain HTTP/1.1 with Connection: close.  Header names are lowercased in
# the result; repeated headers are joined with ", ".  status 0 and error
# on connect/timeout failure.
sub http_request {
    my ($method, $path, %opt) = @_;
    my $h = request_send($method, $path, %opt);
    return request_recv($h);
}

# Connects and writes the request; the reply is read by request_recv, so a
# test can keep a request hanging while it does something else.
sub request_send {
    my ($method, $path, %opt) = @_;
    my $t0 = time;
    my $timeout = $opt{timeout} // 10;
    my $host = $opt{host} // '127.0.0.1';
    my $h = { t0 => $t0, deadline => $t0 + $timeout, raw => '' };
    my $sock = IO::Socket::INET->new(PeerAddr => $host,
                                     PeerPort => $opt{port}, Proto => 'tcp',
                                     Timeout => $timeout);
    unless ($sock) {
        $h->{error} = "connect: $!";
        return $h;
    }
    binmode $sock;
    my @h = ref $opt{headers} eq 'ARRAY' ? @{ $opt{headers} }
          : %{ $opt{headers} // {} };
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\n";
    my %has;
    while (my ($k, $v) = splice @h, 0, 2) {
        $req .= "$k: $v\r\n";
        $has{lc $k} = 1;
    }
    my $body = $opt{body};
    if (defined $body) {
        $req .= 'Content-Length: ' . length($body) . "\r\n"
            unless $has{'content-length'} || $has{'transfer-encoding'};
    } elsif ($method =~ /^(POST|PUT)$/ && !$has{'content-length'}) {
        $req .= "Content-Length: 0\r\n";
    }
    $req .= "\r\n" . ($body // '');

    my $fd = fileno $sock;
    my $off = 0;
    while ($off < length $req) {
        my $w = '';
        vec($w, $fd, 1) = 1;
        my $left = $h->{deadline} - time;
        if ($left <= 0 || !select(undef, $w, undef, $left)) {
            $h->{error} = 'timeout writing';
            last;
        }
        my $n = syswrite($sock, $req, length($req) - $off, $off);
        unless (defined $n) {
            $h->{error} = "write: $!";
            last;
        }
        $off += $n;
    }
    $h->{sock} = $sock;
    return $h;
}

# Reads the reply of a request_send to EOF (or its deadline) and parses it.
sub request_recv {
    my ($h) = @_;
    while ($h->{sock} && !$h->{error} && !$h->{eof}) {
        my $r = '';
        vec($r, fileno $h->{sock}, 1) = 1;
        my $left = $h->{deadline} - time;
        if ($left <= 0 || !select($r, undef, undef, $left)) {
            $h->{error} = 'timeout';
            last;
        }
        _http_read($h);
    }
    close $h->{sock} if $h->{sock};
    delete $h->{sock};
    return _http_parse($h);
}

# One non-blocking read step of a request handle.
sub _http_read {
    my ($h) = @_;
    my $n = sysread($h->{sock}, my $buf, 65536);
    if (!defined $n) {
        $h->{error} = "read: $!";
    } elsif ($n == 0) {
        $h->{eof} = 1;
        $h->{done} = time;
    } else {
        $h->{raw} .= $buf;
    }
}

# Runs many requests at once over non-blocking sockets.  Each element of
# $reqs is [METHOD, PATH, %opt]; returns the responses in the same order.
sub request_parallel {
    my ($reqs, %opt) = @_;
    my @h = map {
        my ($m, $p, %o) = @$_;
        request_send($m, $p, port => $opt{port}, timeout => $opt{timeout},
                  %o);
    } @$reqs;
    my $deadline = time + ($opt{timeout} // 30);
    while (1) {
        my @open = grep { $_->{sock} && !$_->{eof} && !$_->{error} } @h;
        last unless @open;
        my $left = $deadline - time;
        if ($left <= 0) {
            $_->{error} = 'timeout' for @open;
            last;
        }
        my $r = '';
        vec($r, fileno $_->{sock}, 1) = 1 for @open;
        my $n = select(my $ready = $r, undef, undef, $left);
        next if $n <= 0;
        for my $x (@open) {
            _http_read($x) if vec($ready, fileno $x->{sock}, 1);
        }
    }
    return [ map { request_recv($_) } @h ];
}

sub _http_parse {
    my ($h) = @_;
    my $t = ($h->{done} // time) - $h->{t0};
    my $raw = $h->{raw};
    return { status => 0, error => $h->{error}, headers => {}, body => '',
             time => $t }
        if $h->{error} && !length $raw;
    my ($head, $rest) = split /\r\n\r\n/, $raw, 2;
    unless (defined $rest && $head =~ m{^HTTP/1\.[01] (\d{3})}) {
        return { status => 0, error => $h->{error} // 'bad response',
                 raw => $raw, headers => {}, body => '', time => $t };
    }
    my %hdr;
    my $status = $1;
    for my $line (split /\r\n/, $head) {
        next unless $line =~ /^([^:\s]+):\s*(.*?)\s*$/;
        my $k = lc $1;
        $hdr{$k} = exists $hdr{$k} ? "$hdr{$k}, $2" : $2;
    }
    if (($hdr{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($rest =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr($rest, 0, $len, '');
            $rest =~ s/^\r\n//;
        }
        $rest = $out;
    }
    return { status => $status, headers => \%hdr, body => $rest,
             json => json_decode($rest), time => $t,
             error => $h->{error} };
}

# ---------------------------------------------------------------------------
# A minimal RESP client
# ---------------------------------------------------------------------------

package TaskGW::Stack::Redis;

use strict;
use warnings;
use IO::Socket::INET;

# new(port [, timeout]) dies when it cannot connect.
sub new {
    my ($class, $port, $timeout) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Proto => 'tcp',
                                     Timeout => $timeout // 5)
        or die "redis 127.0.0.1:$port: $!\n";
    binmode $sock;
    return bless { sock => $sock, buf => '', timeout => $timeout // 5 },
                 $class;
}

# cmd(ARGS...) -> reply: string (status or bulk, binary safe), integer,
# undef for nil, array ref for arrays (nested), and for an error reply a
# TaskGW::Stack::Redis::Error object ("$err" is its message).
sub cmd {
    my ($self, @args) = @_;
    my $out = '*' . @args . "\r\n";
    for my $a (@args) {
        $a //= '';
        $out .= '$' . length($a) . "\r\n$a\r\n";
    }
    my $sock = $self->{sock};
    my $off = 0;
    while ($off < length $out) {
        my $n = syswrite($sock, $out, length($out) - $off, $off);
        die "redis write: $!\n" unless defined $n;
        $off += $n;
    }
    return $self->_reply;
}

# HGETALL as a hash ref ({} when the key does not exist).
sub hgetall {
    my ($self, $key) = @_;
    my $r = $self->cmd('HGETALL', $key);
    return {} unless ref $r eq 'ARRAY';
    return { @$r };
}

# Calls of each command since the last CONFIG RESETSTAT, as
# { command => calls } (commands that scripts run count too).
sub command_calls {
    my ($self) = @_;
    my %n;
    for (split /\r?\n/, $self->cmd('INFO', 'commandstats') // '') {
        $n{$1} = $2 if /^cmdstat_([^:]+):calls=(\d+)/;
    }
    return \%n;
}

# The number of entries group has pending on stream (XINFO GROUPS), -1
# when the stream has no such group.
sub group_pending {
    my ($self, $stream, $group) = @_;
    my $groups = $self->cmd('XINFO', 'GROUPS', $stream);
    return -1 unless ref $groups eq 'ARRAY';
    for my $g (@$groups) {
        my %g = @$g;
        return $g{pending} if $g{name} eq $group;
    }
    return -1;
}

# The statuses of the tasks ids under prefix, counted: "queued=2
# succeeded=8" (a missing hash counts as "missing").
sub task_statuses {
    my ($self, $prefix, @ids) = @_;
    my %n;
    $n{ $self->cmd('HGET', "$prefix:task:$_", 'status') // 'missing' }++
        for @ids;
    return join ' ', map { "$_=$n{$_}" } sort keys %n;
}

# Stream entries as [ [id, { field => value }], ... ].
sub xrange {
    my ($self, $key, $start, $end) = @_;
    my $r = $self->cmd('XRANGE', $key, $start // '-', $end // '+');
    return [] unless ref $r eq 'ARRAY';
    return [ map { [ $_->[0], { @{ $_->[1] } } ] } @$r ];
}

sub _fill {
    my ($self) = @_;
    my $sock = $self->{sock};
    my $r = '';
    vec($r, fileno $sock, 1) = 1;
    die "redis: read timeout\n"
        unless select($r, undef, undef, $self->{timeout});
    my $n = sysread($sock, my $buf, 65536);
    die "redis read: $!\n" unless defined $n;
    die "redis: connection closed\n" if $n == 0;
    $self->{buf} .= $buf;
}

sub _line {
    my ($self) = @_;
    my $i;
    $self->_fill while ($i = index($self->{buf}, "\r\n")) < 0;
    my $line = substr($self->{buf}, 0, $i + 2, '');
    return substr($line, 0, -2);
}

sub _bytes {
    my ($self, $len) = @_;
    $self->_fill while length($self->{buf}) < $len + 2;
    my $s = substr($self->{buf}, 0, $len + 2, '');
    return substr($s, 0, $len);
}

sub _reply {
    my ($self) = @_;
    my $line = $self->_line;
    my ($t, $v) = (substr($line, 0, 1), substr($line, 1));
    return $v if $t eq '+';
    return TaskGW::Stack::Redis::Error->new($v) if $t eq '-';
    return 0 + $v if $t eq ':';
    if ($t eq '$') {
        return undef if $v < 0;
        return $self->_bytes($v);
    }
    if ($t eq '*') {
        return undef if $v < 0;
        return [ map { $self->_reply } 1 .. $v ];
    }
    die "redis: bad reply line '$line'\n";
}

package TaskGW::Stack::Redis::Error;

use overload '""' => sub { ${ $_[0] } }, fallback => 1;

sub new { my ($c, $m) = @_; return bless \$m, $c }

1;
