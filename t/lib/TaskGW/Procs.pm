package TaskGW::Procs;

# What /proc says of a process, for the suites that watch the programs an
# exec handler starts and the spawner that starts them (t/e2e/082, 085,
# 089, 163), and for those that hold up a worker (t/e2e/099).
#
#   alive($pid)        it exists and is not a zombie
#   ppid_of($pid)      its parent's pid (0: gone)
#   comm_of($pid)      its name ('' : gone)
#   spawner_of($w)     the exec spawner of a worker TaskGW::Stack started:
#                      its child named taskgw-spawn (0: none)
#   pid_list($file)    the pids a test's programs wrote into $file
#   stop_wait($pid)    SIGSTOP, then wait until it shows as stopped

use strict;
use warnings;

use Exporter qw(import);

use TaskGW::Stack qw(wait_for);

our @EXPORT_OK = qw(alive ppid_of comm_of spawner_of pid_list stop_wait);

sub _stat {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return undef;
    return <$fh> // '';
}

sub alive {
    my $st = _stat($_[0]) // return 0;
    return $st !~ /^\d+ \(.*\) [ZX]/s;
}

sub ppid_of {
    my $st = _stat($_[0]) // return 0;
    return $st =~ /^\d+ \(.*\) \S+ (\d+)/s ? $1 : 0;
}

sub comm_of {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/comm" or return '';
    my $c = <$fh> // '';
    chomp $c;
    return $c;
}

sub spawner_of {
    my ($w) = @_;
    opendir my $d, '/proc' or return 0;
    for my $pid (grep { /^\d+$/ } readdir $d) {
        next unless ppid_of($pid) == $w->{pid};
        return $pid if comm_of($pid) =~ /^taskgw-spawn/ && alive($pid);
    }
    return 0;
}

sub pid_list {
    my ($file) = @_;
    open my $fh, '<', $file or return ();
    return map { split ' ' } <$fh>;
}

# SIGSTOP takes effect a moment after kill() returns: sends it, then
# waits (10 s at most) until /proc shows the process stopped (state T).
# True when it did.
sub stop_wait {
    my ($pid) = @_;
    kill 'STOP', $pid;
    return wait_for(sub { (_stat($pid) // '') =~ /^\d+ \(.*\) [Tt]/s },
                    10, 0.01);
}

1;
