#!/usr/bin/perl
# worker/common/tgw_lua.h is generated from worker/common/lua/*.lua by
# scripts/lua2h.sh and committed (so nginx's configure alone builds the
# module): the committed header must be what the generator makes now.

use strict;
use warnings;
use FindBin;
use File::Temp qw(tempdir);
use Test::More;

my $root = "$FindBin::Bin/../..";
my @lua = sort glob("$root/worker/common/lua/*.lua");
ok(@lua >= 6, scalar(@lua) . ' Lua scripts');

my $tmp = tempdir(CLEANUP => 1);
is(system('sh', "$root/scripts/lua2h.sh", "$tmp/tgw_lua.h", @lua), 0,
   'the generator runs');

sub slurp { local (@ARGV, $/) = @_; return <> }
my $want = slurp("$tmp/tgw_lua.h");
my $have = slurp("$root/worker/common/tgw_lua.h");
ok($have eq $want, 'the committed tgw_lua.h is current (run make)')
    or diag "regenerate it: sh scripts/lua2h.sh worker/common/tgw_lua.h "
          . "worker/common/lua/*.lua";

for my $f (@lua) {
    my ($name) = $f =~ m{([^/]+)\.lua$};
    like($have, qr/static const char tgw_lua_\Q$name\E\[\]/,
         "tgw_lua_$name is in the header");
}

done_testing();
