#!/usr/bin/perl
# Writes a compile_commands.json for the static analysers of `make lint`
# (scripts/lint.sh) from the build's own Makefiles, so clang-tidy and
# cppcheck see every file with exactly the flags it is compiled with:
#
#   - the module: the compile lines of nginx's generated objs/Makefile
#     (Debian's configure flags from nginx-dev, nginx's include paths);
#   - the worker, taskgwctl, worker/common and the unit tests: the lines
#     of worker/Makefile.
#
# Nothing is compiled: the lines come from `make -n -B`.
#
#   perl scripts/compdb.pl NGX_BUILD_DIR OUT_DIR > compile_commands.json
use strict;
use warnings;
use Cwd qw(abs_path getcwd);

my ($ngx_build, $out) = @ARGV;
die "usage: compdb.pl NGX_BUILD_DIR OUT_DIR\n" unless defined $out;

my $root = getcwd();
$ngx_build = abs_path($ngx_build)
    or die "compdb: no nginx build directory (run make first)\n";

my @entries;

# The commands make would run, with continuation lines joined.
sub dry_run {
    my ($dir, @args) = @_;
    open my $fh, '-|', 'make', '-n', '-B', '--no-print-directory',
        '-C', $dir, @args
        or die "compdb: make: $!\n";
    my $text = do { local $/; <$fh> };
    close $fh or die "compdb: make -n -C $dir failed\n";
    $text =~ s/\\\n\s*/ /g;
    return split /\n/, $text;
}

sub json_str {
    my ($s) = @_;
    $s =~ s/(["\\])/\\$1/g;
    return qq("$s");
}

sub add {
    my ($dir, $line) = @_;
    $line =~ s/^\s+//;
    return unless $line =~ /\s-c\s/;
    my @words = split ' ', $line;
    my ($src) = grep { /\.c\z/ } @words;
    return unless defined $src;
    my $abs = $src =~ m{^/} ? $src : "$dir/$src";
    return unless $abs =~ m{^\Q$root\E/(ngx_taskgw_module|worker)/};
    # -Werror would turn the analyser's compiler warnings on nginx's own
    # headers into errors; warnings are the compiler's job in `make`.
    @words = grep { !/^-Werror\z/ && $_ ne '-pipe' } @words;
    push @entries, sprintf(
        qq(  { "directory": %s, "file": %s, "arguments": [%s] }),
        json_str($dir), json_str($abs),
        join(', ', map { json_str($_) } @words));
}

add($ngx_build, $_)
    for dry_run($ngx_build, '-f', 'objs/Makefile', 'modules');
add("$root/worker", $_)
    for dry_run("$root/worker", "OUT=$out");

die "compdb: no compile commands found\n" unless @entries;
print "[\n", join(",\n", @entries), "\n]\n";
