# The nginx under test: server root layout, nginx.conf generation, start
# and stop. Functions take the settings they need explicitly so that this
# file holds no test state of its own.

package Test::Nginx::Fallback::Server;

use strict;
use warnings;
use File::Path ();
use File::Spec ();
use POSIX ();
use Time::HiRes ();

# Paths under a server root, as the real Test::Nginx lays them out.
sub paths_for {
    my ($servroot) = @_;
    my $logs = File::Spec->catfile($servroot, 'logs');
    my $conf = File::Spec->catfile($servroot, 'conf');
    return {
        servroot   => $servroot,
        log_dir    => $logs,
        error_log  => File::Spec->catfile($logs, 'error.log'),
        access_log => File::Spec->catfile($logs, 'access.log'),
        stderr_log => File::Spec->catfile($logs, 'nginx.stderr'),
        pid_file   => File::Spec->catfile($logs, 'nginx.pid'),
        html_dir   => File::Spec->catfile($servroot, 'html'),
        conf_dir   => $conf,
        conf_file  => File::Spec->catfile($conf, 'nginx.conf'),
        cache_dir  => File::Spec->catfile($servroot, 'cache'),
    };
}

# Recreate the server root: empty logs/, html/ (with an index.html), conf/.
# Only the directories we create are removed, so a mistaken
# TEST_NGINX_SERVROOT never wipes foreign data.
sub setup_servroot {
    my ($p) = @_;
    my $root = $p->{servroot};

    if (-d $root) {
        File::Path::remove_tree($p->{conf_dir}, $p->{log_dir},
                                $p->{html_dir}, $p->{cache_dir},
                                glob("$root/*_temp"), glob("$root/*_cache"));
    }
    for my $dir ($root, $p->{log_dir}, $p->{html_dir}, $p->{conf_dir}) {
        next if -d $dir;
        File::Path::make_path($dir)
            or die "cannot create directory $dir: $!\n";
    }

    my $index = File::Spec->catfile($p->{html_dir}, 'index.html');
    write_file($index, '<html><head><title>It works!</title></head>'
                     . '<body>It works!</body></html>');
    return;
}

sub write_file {
    my ($path, $data) = @_;
    if ($path =~ m{^(.*)/[^/]+$} && !-d $1) {
        File::Path::make_path($1) or die "cannot create directory $1: $!\n";
    }
    open my $out, '>', $path or die "cannot write $path: $!\n";
    binmode $out;
    print $out $data;
    close $out or die "cannot write $path: $!\n";
    return;
}

# "--- user_files" text into [name, body, date] triples:
#   >>> foo.html
#   body lines...
#   >>> sub/bar.txt 201801011200
sub parse_user_files {
    my ($text) = @_;
    my @files;
    my ($fname, $body, $date);
    for my $line (split /^/m, $text) {
        if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
            push @files, [$fname, $body, $date] if defined $fname;
            ($fname, $date, $body) = ($1, $2, undef);
        } else {
            $body .= $line;
        }
    }
    push @files, [$fname, $body, $date] if defined $fname;
    return \@files;
}

# Write user files (relative names land under html/). $expand is applied
# to each body ($TEST_NGINX_* expansion).
sub write_user_files {
    my ($p, $files, $expand) = @_;
    $files = parse_user_files($files) unless ref $files;
    die "user_files must be text or an array of [name, body]\n"
        unless ref $files eq 'ARRAY';

    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        $body = '' unless defined $body;
        my $path = $fname =~ m{^/} ? $fname
                 : File::Spec->catfile($p->{html_dir}, $fname);
        write_file($path, $expand->($body));
        if ($date) {
            system('touch', '-t', $date, $path) == 0
                or die "cannot set the date of $path to $date\n";
        }
    }
    return;
}

# nginx version as a comparable number (1.022001 for 1.22.1), or undef.
sub nginx_version {
    my ($binary) = @_;
    my $out = `$binary -v 2>&1`;
    return undef unless defined $out && $out =~ m{/(\d+)\.(\d+)\.(\d+)};
    return sprintf '%d.%03d%03d', $1, $2, $3;
}

# Full path of an executable name, searching PATH; undef when absent.
sub find_binary {
    my ($name) = @_;
    return (-x $name ? $name : undef) if $name =~ m{/};
    for my $dir (File::Spec->path) {
        my $path = File::Spec->catfile($dir, $name);
        return $path if -f $path && -x _;
    }
    return undef;
}

# nginx.conf text. %o: workers, master, log_level, env (list), modules
# (list of .so paths), main_config, post_main_config, http_config, config,
# preamble, port, server_name, worker_connections, root_location, user,
# temp_dirs (hash of directive => path), event_type.
sub conf_text {
    my ($p, %o) = @_;

    my $text = '';
    # Modules first: their directives may appear anywhere below.
    $text .= "load_module $_;\n" for @{ $o{modules} || [] };

    $text .= <<"_EOC_";
worker_processes  $o{workers};
daemon off;
master_process $o{master};
error_log $o{error_log} $o{log_level};
pid       $p->{pid_file};
_EOC_

    for my $v (@{ $o{env} || [] }) {
        $text .= $v =~ /\s/ ? "env '$v';\n" : "env $v;\n";
    }

    my $temp = '';
    for my $d (sort keys %{ $o{temp_dirs} || {} }) {
        $temp .= " $d $o{temp_dirs}{$d};";
    }

    my $root_location = !$o{root_location} ? '' : <<"_EOC_";
        location / {
            root $p->{html_dir};
            index index.html index.htm;
        }
_EOC_

    $text .= <<"_EOC_";

$o{main_config}

http {
    access_log $p->{access_log};$temp

    default_type text/plain;
    keepalive_timeout  68000ms;

$o{http_config}

    server {
        listen          $o{port};
        server_name     '$o{server_name}';

        client_max_body_size 30M;

        # Begin preamble config...
$o{preamble}
        # End preamble config...

        # Begin test case config...
$o{config}
        # End test case config.

$root_location    }
}

$o{post_main_config}

events {
    accept_mutex off;
    worker_connections  $o{worker_connections};
_EOC_
    $text .= "    use $o{event_type};\n" if $o{event_type};
    $text .= "}\n";
    $text .= "user $o{user};\n" if $o{user};
    return $text;
}

# The nginx we started and have not reaped yet (our direct child).
our $ChildPid;

# Wait status of our nginx once reaped, and whether we had asked it to
# stop by then; together they tell a crash from a requested exit.
our $ChildStatus;
our $StopRequested;

# Is $pid a live (not zombie) process? Our own child is reaped here; for
# a foreign one (stale pid file) a zombie counts as gone, since PID 1 may
# not reap anything.
sub is_running {
    my ($pid) = @_;
    return 0 unless $pid && $pid =~ /^\d+$/;
    if (defined $ChildPid && $pid == $ChildPid) {
        my $r = waitpid $pid, POSIX::WNOHANG();
        if ($r == $pid || $r < 0) {
            $ChildStatus = $r == $pid ? $? : undef;
            undef $ChildPid;
            return 0;
        }
        return 1;
    }
    return 0 unless kill 0, $pid;
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh> // '';
        return 0 if $stat =~ /^\d+ \(.*\) Z/s;
    }
    return 1;
}

# Is $pid an nginx process (so a stale pid file never makes us signal an
# unrelated process that reused the number)?
sub is_nginx {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/cmdline" or return 1;   # no /proc: trust
    my $cmd = do { local $/; <$fh> } // '';
    return $cmd =~ /nginx/;
}

# Pids whose parent is $pid (from /proc).
sub children_of {
    my ($pid) = @_;
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // '';
        push @kids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) /s && $2 == $pid;
    }
    return @kids;
}

sub read_pid {
    my ($p) = @_;
    open my $fh, '<', $p->{pid_file} or return undef;
    my $pid = <$fh>;
    close $fh;
    return undef unless defined $pid && $pid =~ /(\d+)/;
    return $1;
}

sub _slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    return <$fh> // '';
}

# What nginx has printed on stderr so far.
sub stderr_text {
    my ($p) = @_;
    return _slurp($p->{stderr_log});
}

# Start nginx as our child, in the foreground ("daemon off", so that we
# reap it and no zombie or orphan is left), and wait until it either
# exits (a startup failure) or writes its pid file (it is up: the pid
# file is written once the configuration is loaded and the listening
# sockets are open).
#
# Returns (wait status, stderr text): status 0 means running; -1 means it
# could not be executed or neither exited nor came up in time.
sub start {
    my ($p, %o) = @_;
    my @cmd = ($o{binary});
    push @cmd, '-e', $p->{error_log} if $o{use_e};
    push @cmd, '-p', "$p->{servroot}/", '-c', $p->{conf_file};

    unlink $p->{stderr_log}, $p->{pid_file};
    my $pid = fork;
    die "fork failed: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $p->{stderr_log};
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "cannot execute $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    $ChildPid = $pid;
    $ChildStatus = undef;
    $StopRequested = 0;

    my $deadline = Time::HiRes::time() + ($o{timeout} || 3) + 10;
    my $status;
    while (1) {
        my $r = waitpid $pid, POSIX::WNOHANG();
        if ($r == $pid || $r < 0) {
            $status = $r < 0 ? -1 : $?;
            undef $ChildPid;
            last;
        }
        my $written = read_pid($p);
        if ($written && $written == $pid) {
            $status = 0;
            last;
        }
        if (Time::HiRes::time() > $deadline) {
            stop($p, %o, pid => $pid);
            $status = -1;
            last;
        }
        Time::HiRes::sleep(0.005);
    }

    my $stderr = _slurp($p->{stderr_log});
    $status = -1 if $status > 0 && ($status >> 8) == 127
                    && $stderr =~ /^cannot execute/;
    return ($status, $stderr);
}

# Did the nginx we started die on its own (not asked to stop)? Returns
# a description ("killed by signal 11 (core dumped)", "exited with
# status 2") or undef. Call after stop().
sub unexpected_exit {
    return undef if $StopRequested || !defined $ChildStatus;
    my $st = $ChildStatus;
    undef $ChildStatus;
    if ($st & 127) {
        return sprintf 'killed by signal %d%s', $st & 127,
                       $st & 128 ? ' (core dumped)' : '';
    }
    return $st >> 8 ? 'exited with status ' . ($st >> 8) : 'exited';
}

# Stop the nginx of this server root (our child, else the one in the pid
# file): QUIT (graceful), then TERM, then KILL. Returns true when
# something had to be stopped.
sub stop {
    my ($p, %o) = @_;
    my $pid = $o{pid} // $ChildPid // read_pid($p);
    return 0 unless $pid && is_running($pid);
    my $ours = defined $ChildPid && $pid == $ChildPid;
    return 0 unless $ours || is_nginx($pid);
    $StopRequested = 1 if $ours;

    my $timeout = $o{timeout} || 3;
    for my $sig ($o{fast} ? () : ('QUIT'), 'TERM') {
        kill $sig, $pid;
        my $deadline = Time::HiRes::time() + $timeout;
        while (is_running($pid) && Time::HiRes::time() < $deadline) {
            Time::HiRes::sleep(0.005);
        }
        last unless is_running($pid);
        warn "WARNING: nginx $pid did not exit on $sig\n";
    }
    if (is_running($pid)) {
        # Its workers (master_on) would outlive a killed master.
        kill 'KILL', $pid, children_of($pid);
        waitpid $pid, 0 if $ours;
        undef $ChildPid if $ours;
    }
    unlink $p->{pid_file};
    return 1;
}

1;
