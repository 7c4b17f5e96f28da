#!/usr/bin/perl
# Benchmark: Redis alone running the worker's scripts for `ping` tasks,
# without the worker: a private redis-server, N tasks created as
# create.lua creates them, then a client that does nothing else reads and
# takes them BATCH at a time (read_take.lua) and records each batch as
# succeeded in one call (record_many.lua's short blocks), until the
# stream is empty.  Every task must end `succeeded`.  Prints per run the
# µs of Redis per task: the scripts' own time (INFO commandstats of
# EVALSHA, whose time includes the commands they run), the commands the
# scripts run (their calls per task), and Redis's CPU time per task
# (/proc, user + system) over the loop.
#
# With -c (callgrind), redis-server runs under valgrind's callgrind and
# the figure is Redis's instructions per task over the loop (counters
# zeroed after the fill, dumped at the end: callgrind_control): the same
# from run to run whatever else the machine does, so small differences
# show (a run is ~50 times slower: use a smaller N).
#
# Each candidate is a tgw_lua.h (the generated header of a build: the
# scripts as that build sends them), with that build's tgw_keys.h beside
# it (the answer's width is read from there), given as NAME=PATH; the runs
# alternate between candidates, RUNS rounds, and the medians are printed
# last.  A candidate whose record_many.lua knows the clean short form
# ("c") gets it for the tasks whose take saw nothing stale.
#
#   perl scripts/bench-worker-scripts.pl [-n N] [-b BATCH] [-r RUNS] [-c] \
#       NAME=worker/common/tgw_lua.h [NAME=other/tgw_lua.h ...]
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use File::Temp qw(tempdir);
use Getopt::Long;
use TaskGW::Stack;

my ($N, $BATCH, $RUNS, $CG) = (20000, 64, 3, 0);
GetOptions('n=i' => \$N, 'b=i' => \$BATCH, 'r=i' => \$RUNS, 'c' => \$CG)
    or exit 2;
die "usage: $0 [-n N] [-b BATCH] [-r RUNS] NAME=tgw_lua.h ...\n"
    unless @ARGV;
chdir "$FindBin::Bin/.." or die "chdir: $!\n";

my $dir = tempdir('taskgw-bench-scripts.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $TICK = `getconf CLK_TCK` + 0 || 100;

# the scripts of each candidate, as its build sends them
my @cands;
for my $arg (@ARGV) {
    my ($name, $h) = $arg =~ /^([^=]+)=(.+)$/ or die "bad candidate $arg\n";
    my $c = "$dir/dump-$name.c";
    open my $f, '>', $c or die "$c: $!\n";
    print $f "#include <stdio.h>\n#include \"$h\"\n"
        . "#ifndef TGW_READ_TAKE_WIDTH\n"
        . "#define TGW_READ_TAKE_WIDTH 16\n"
        . "#endif\n"
        . "int main(int argc, char **argv) {\n"
        . "  const char *s = argv[1][0] == 'c' ? tgw_lua_create\n"
        . "      : argv[1][0] == 't' ? tgw_lua_read_take : tgw_lua_record_many;\n"
        . "  if (argv[1][0] == 'w') { printf(\"%d\", TGW_READ_TAKE_WIDTH);"
        . " return 0; }\n"
        . "  (void) argc; fputs(s, stdout); return 0; }\n";
    close $f;
    system('cc', '-Iworker/common', '-o', "$dir/dump-$name", $c) == 0
        or die "cannot build the dump of $h\n";
    my %lua = map { $_ => scalar `$dir/dump-$name $_` }
              qw(create take record);
    # the elements per entry of read_take.lua's answer, as the build's
    # worker counts them (tgw_keys.h; 16 for a build from before it said,
    # whose answer also ends in whether anything is stale)
    push @cands, { name => $name, lua => \%lua,
                   per => scalar `$dir/dump-$name w`,
                   clean => $lua{record} =~ /m == 'c'/ ? 1 : 0 };
}

my $port = `perl scripts/free-port.pl`;
chomp $port;
my $rpid = fork // die "fork: $!\n";
if ($rpid == 0) {
    my @cg = $CG ? ('valgrind', '--tool=callgrind', '-q',
                    "--callgrind-out-file=$dir/cg.out.%p") : ();
    exec @cg, 'redis-server', '--port', $port, '--bind', '127.0.0.1',
         '--save', '', '--appendonly', 'no', '--dir', $dir,
         '--logfile', "$dir/redis.log";
    die "redis-server: $!\n";
}
END { if ($rpid) { kill 'TERM', $rpid; waitpid $rpid, 0 } }
my $r;
for (1 .. ($CG ? 600 : 100)) {
    $r = eval { TaskGW::Stack::Redis->new($port, 60) } and last;
    select undef, undef, undef, 0.05;
}
die "redis-server did not start\n" unless $r;

sub cpu {
    open my $f, '<', "/proc/$rpid/stat" or return 0;
    my @f = split ' ', <$f>;
    return $f[13] + $f[14];
}

my ($P, $Q, $G) = ('bench', 'default', 'workers');
my $stream = "$P:q:$Q:normal";

sub run {
    my ($c) = @_;
    $r->cmd('FLUSHALL');
    my %sha = map { $_ => $r->cmd('SCRIPT', 'LOAD', $c->{lua}{$_}) }
              qw(create take record);
    my $now = int(`date +%s%3N`);
    for my $i (1 .. $N) {
        my $id = sprintf 'bench-%08d', $i;
        $r->cmd('EVALSHA', $sha{create}, 3, "$P:task:$id", $stream,
                "$P:scheduled", $id, $Q, 'system.ping', 'normal', '{}',
                'application/json', 'bench', '', '', '', $now, '', 0);
    }
    $r->cmd('XGROUP', 'CREATE', $stream, $G, '0', 'MKSTREAM');
    $r->cmd('CONFIG', 'RESETSTAT');
    system('callgrind_control', '-z', $rpid) == 0 or die "callgrind_control\n"
        if $CG;
    my $cpu0 = cpu();
    my $done = 0;
    while (1) {
        my $a = $r->cmd('EVALSHA', $sha{take}, 1, $stream, $G, 5, 0,
                        'bench', $BATCH, "$P:task:", 128, $now);
        die "read_take: $a\n" unless ref $a eq 'ARRAY';
        my $per = $c->{per};
        # a build whose read_take.lua answers each stream's count first
        shift @$a if @$a % $per == 1;
        last unless @$a;
        my @blocks;
        for (my $i = 0; $i < @$a; $i += $per) {
            my $clean = !defined $a->[$i + $per - 1];
            push @blocks, $stream, $a->[$i],
                 $c->{clean} && $clean ? 'c' : 's', $a->[$i + 1],
                 $now, '"pong"', '';
        }
        my $w = $r->cmd('EVALSHA', $sha{record}, 0, $G, $P, 86400000,
                        @blocks);
        die "record_many: $w\n" unless ref $w eq 'ARRAY';
        $done += @blocks / 7;
    }
    my $cpu = cpu() - $cpu0;
    my $ir = 0;
    if ($CG) {
        unlink glob "$dir/cg.out.*";
        system("callgrind_control -d $rpid >/dev/null") == 0
            or die "callgrind_control\n";
        for my $f (glob "$dir/cg.out.*") {
            system('cp', $f, "$ENV{BENCH_CG_KEEP}/$c->{name}.cg.out")
                if $ENV{BENCH_CG_KEEP};
            open my $fh, '<', $f or die "$f: $!\n";
            while (<$fh>) { $ir += $1 if /^summary: (\d+)/ }
        }
        $ir /= $N;
    }
    my (%calls, $us, $sus);
    for (split /\r?\n/, $r->cmd('INFO', 'commandstats')) {
        next unless /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/;
        next if $1 eq 'config' || $1 eq 'info';
        $calls{$1} = $2;
        $sus += $3 if $1 eq 'evalsha';
    }
    my $st = $r->cmd('EVAL', 'local n = 0 for i = 1, tonumber(ARGV[1]) do '
        . "if redis.call('HGET', string.format('$P:task:bench-%08d', i), "
        . "'status') == 'succeeded' then n = n + 1 end end return n",
        0, $N);
    die "$c->{name}: $st of $N succeeded ($done recorded)\n" if $st != $N;
    my $inner = join ' ', map { sprintf '%s %.2f', $_, $calls{$_} / $N }
                grep { $_ ne 'evalsha' && $calls{$_} / $N >= 0.005 }
                sort keys %calls;
    return { script => $sus / $N, cpu => $cpu * 1e6 / $TICK / $N,
             ir => $ir, inner => $inner };
}

my %res;
for my $round (1 .. $RUNS) {
    for my $c (@cands) {
        my $x = run($c);
        push @{ $res{ $c->{name} } }, $x;
        printf "%-12s run %d: scripts %.2f µs/task, Redis CPU %.2f µs/task,"
            . " %.0f instructions/task; per task: %s\n", $c->{name}, $round,
            $x->{script}, $x->{cpu}, $x->{ir}, $x->{inner};
    }
}
sub median { my @s = sort { $a <=> $b } @_; $s[$#s / 2] }
print "\n| candidate | scripts µs/task (median) | Redis CPU µs/task (median) | instructions/task (median) |\n";
print "|---|---:|---:|---:|\n";
for my $c (@cands) {
    my $x = $res{ $c->{name} };
    printf "| %s | %.2f (%s) | %.2f | %.0f |\n", $c->{name},
        median(map { $_->{script} } @$x),
        join(' ', map { sprintf '%.2f', $_->{script} } @$x),
        median(map { $_->{cpu} } @$x), median(map { $_->{ir} } @$x);
}
