# Self-test of t/lib/Test/Nginx/Socket.pm, the loader: with t/lib first
# in @INC, `use Test::Nginx::Socket` gets the real module when one is
# installed elsewhere in @INC, else the fallback; TEST_NGINX_FALLBACK
# forces either choice.
use strict;
use warnings;
use Test::More;
use Cwd ();
use File::Path ();
use File::Temp ();

my $lib = Cwd::abs_path('t/lib');
my $tmp = File::Temp::tempdir('tn-loader-XXXXXX', TMPDIR => 1,
                              CLEANUP => 1);

# Which module a child perl gets: "fallback" or "other:<path>".
sub loaded {
    my (@inc) = @_;
    my $code = 'no warnings; print $Test::Nginx::Socket::IsFallback'
             . ' ? "fallback" : "other:$INC{q(Test/Nginx/Socket.pm)}"';
    my $incs = join ' ', map { "-I$_" } @inc;
    my $out = `$^X -I$lib $incs -MTest::Nginx::Socket -e '$code' 2>&1`;
    return ($? >> 8, $out);
}

# Is a real Test::Nginx::Socket installed (outside t/lib)?
my ($installed) = grep { !ref && (Cwd::abs_path($_) // '') ne $lib
                         && -f "$_/Test/Nginx/Socket.pm" } @INC;

{
    local $ENV{TEST_NGINX_FALLBACK};
    delete $ENV{TEST_NGINX_FALLBACK};
    my ($rc, $out) = loaded();
    if ($installed) {
        like($out, qr/^other:/, 'an installed Test::Nginx::Socket wins');
    } else {
        is($out, 'fallback', 'without an installed module, the fallback');
    }
}

# A stand-in "installed" module later in @INC.
my $other = "$tmp/other";
File::Path::make_path("$other/Test/Nginx");
open my $fh, '>', "$other/Test/Nginx/Socket.pm" or die $!;
print $fh "package Test::Nginx::Socket;\nsub import {}\n1;\n";
close $fh;

{
    local $ENV{TEST_NGINX_FALLBACK};
    delete $ENV{TEST_NGINX_FALLBACK};
    my ($rc, $out) = loaded($other);
    like($out, qr{^other:}, 'a module later in @INC is loaded instead')
        or diag($out);
}

{
    local $ENV{TEST_NGINX_FALLBACK} = 1;
    my ($rc, $out) = loaded($other);
    is($out, 'fallback', 'TEST_NGINX_FALLBACK=1 forces the fallback');
}

SKIP: {
    skip 'a real Test::Nginx is installed', 1 if $installed;
    local $ENV{TEST_NGINX_FALLBACK} = 0;
    my ($rc, $out) = loaded();
    isnt($rc, 0, 'TEST_NGINX_FALLBACK=0 without a real module dies');
}

done_testing();
