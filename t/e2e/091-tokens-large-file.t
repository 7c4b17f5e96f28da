#!/usr/bin/perl
# A large static token file: 200,000 tokens are read by `nginx -t` in
# seconds, not minutes (finding a duplicate name or digest does not
# compare each line with every line before it, and the tokens are not
# sorted by insertion), and a duplicate near the end of it is still named
# with its line.  The bound is generous for a loaded machine: the quadratic
# reading took 74 s for this file.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use Digest::SHA qw(sha256_hex);
use TaskGW::Stack;

my $s = TaskGW::Stack->new(prefix => 'e2e091l');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

my $n = 200_000;
my $file = $s->dir . '/tokens';

sub write_tokens {
    my (@extra) = @_;
    open my $fh, '>', $file or die "$file: $!";
    for my $i (1 .. $n) {
        print $fh "t$i dev sha256:", sha256_hex("token-$i"), "\n";
    }
    print $fh @extra;
    close $fh;
}

my $conf = <<"EOC";
    taskgw_redis 127.0.0.1:1;
    taskgw_tokens $file;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_auth dev; taskgw_enqueue; }
    }
EOC

# === TEST 1: 200,000 tokens
write_tokens();
my $t0 = time;
my ($code, $out) = $s->nginx_test(config => $conf);
my $took = time - $t0;
is($code, 0, "nginx -t takes $n tokens") or diag $out;
cmp_ok($took, '<', 30, sprintf('in %.2f s', $took));

# === TEST 2: a duplicate name at the end is named with its line
write_tokens("t17 dev sha256:" . sha256_hex('another') . "\n");
($code, $out) = $s->nginx_test(config => $conf);
isnt($code, 0, 'a duplicate name fails nginx -t');
like($out, qr/\Q$file\E:@{[ $n + 1 ]}: duplicate token name: "t17"/,
     'naming the file, the line and the name') or diag $out;

# === TEST 3: a duplicate digest at the end is named with its line
write_tokens("other dev sha256:" . sha256_hex('token-99999') . "\n");
($code, $out) = $s->nginx_test(config => $conf);
isnt($code, 0, 'a duplicate digest fails nginx -t');
like($out, qr/\Q$file\E:@{[ $n + 1 ]}: duplicate digest/,
     'naming the file and the line') or diag $out;

done_testing();
