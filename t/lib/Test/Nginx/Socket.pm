# Test::Nginx::Socket loader for taskgw: the real module when installed,
# else taskgw's own compatible runner (t/lib/Test/Nginx/Fallback/).
#
# Why: Debian 12 does not package openresty's Test::Nginx and there is no
# CPAN here, yet the suites in t/*.t must run unchanged under the real one.
#
# Mechanism: a harness always runs the suites with t/lib first in @INC,
# from the repository root, whether or not the real module is installed:
#
#     prove -I t/lib t/ t/selftest/     or     perl -It/lib t/foo.t
#     (PERL5LIB=t/lib works too: it also goes before the system paths)
#
# so `use Test::Nginx::Socket` finds this file first. It then looks for
# another Test/Nginx/Socket.pm in the rest of @INC (any directory but this
# t/lib). If one exists, that file is compiled in our place, so the real
# module (with its own Test::Nginx::Util, Test::Base, ...) is what the
# suite gets; nothing of ours is loaded. Only when none exists is the
# fallback runner, Test/Nginx/Fallback/Socket.pm, loaded; it defines
# package Test::Nginx::Socket with the same API.
#
# TEST_NGINX_FALLBACK overrides the choice: 1 = always use the fallback,
# 0 = require the real module (die if it is missing). Unset = automatic.
#
# Keep t/lib free of Test/Nginx/Util.pm and Test/Base.pm: the real module
# loads those by name and must not pick up anything of ours.

package Test::Nginx::Socket::Loader;

use strict;
use warnings;
use File::Spec ();
use Cwd ();

# Which Test/Nginx/Socket.pm to load: the path of the real one, or undef
# for the fallback.
sub find_real_module {
    my $force = $ENV{TEST_NGINX_FALLBACK};
    return undef if defined $force && $force eq '1';

    # Directory this file was loaded from, as an @INC root (t/lib).
    my $me = Cwd::abs_path(__FILE__) // __FILE__;
    (my $my_root = $me) =~ s{/Test/Nginx/Socket\.pm\z}{};

    for my $dir (@INC) {
        next if ref $dir;    # code refs in @INC are not directories
        my $root = Cwd::abs_path($dir);
        next if !defined $root || $root eq $my_root;
        my $candidate = File::Spec->catfile($root, 'Test', 'Nginx',
                                            'Socket.pm');
        return $candidate if -f $candidate;
    }

    if (defined $force && $force eq '0') {
        die "TEST_NGINX_FALLBACK=0 but no real Test::Nginx::Socket "
          . "is installed\n";
    }
    return undef;
}

my $real = find_real_module();

if (defined $real) {
    # Compile the real module as if `require` had found it first.
    $INC{'Test/Nginx/Socket.pm'} = $real;
    my $rv = do $real;
    die "failed to load $real: $@" if $@;
    die "failed to load $real: $!" if !defined $rv && $!;

} else {
    require Test::Nginx::Fallback::Socket;
}

1;
