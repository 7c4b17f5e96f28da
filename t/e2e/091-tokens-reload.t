#!/usr/bin/perl
# The static token file across reloads: `nginx -s reload` (HUP) picks up a
# changed file; a bad file is refused with file:line and the reason, and
# the running configuration keeps serving with the old tokens.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new(prefix => 'e2e091');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

my $file = $s->dir . '/tokens';

sub tokens {
    my ($text) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;
}

my $conf = <<"EOC";
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_prefix %%PREFIX%%;
    taskgw_tokens $file;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_auth dev; taskgw_enqueue; }
    }
EOC

sub status {
    my ($tok) = @_;
    return $s->http(POST => '/tasks', body => 'x', timeout => 10,
                    headers => [ 'X-API-Token' => $tok ])->{status};
}

my ($a, $b) = ('reload-token-a', 'reload-token-b');
tokens("alpha dev sha256:" . sha256_hex($a) . "\n");

$s->start_redis;
$s->start_nginx(config => $conf);

# === TEST 1: the first file
is(status($a), 202, 'token a works');
is(status($b), 401, 'token b is unknown');

# === TEST 2: a changed file is picked up by a reload
tokens("# a replaces b\nbeta ops sha256:" . sha256_hex($b) . "\n");
my @old = $s->reload_nginx(config => $conf);
# the old worker may still take a connection until it got its QUIT
ok(wait_for(sub { !grep { kill 0, $_ } @old }, 10), 'the old worker is gone');
ok(wait_for(sub { status($b) == 202 }, 10), 'after reload: token b works');
is(status($a), 401, 'after reload: token a is gone');

# === TEST 3: a bad file fails nginx -t with file:line and the reason
tokens("beta ops sha256:" . sha256_hex($b) . "\ngamma boss sha256:"
       . sha256_hex('x') . "\n");
my ($code, $out) = $s->nginx_test(config => $conf);
isnt($code, 0, 'nginx -t fails');
like($out, qr/\Q$file\E:2: unknown role \(dev, ops or admin\): "boss" in \S+nginx\.conf:\d+/,
     'naming file, line and reason');

# === TEST 4: a reload with the bad file keeps the old configuration
ok(wait_for(sub { (my @w = $s->nginx_worker_pids) == 1 }, 10),
   'the workers of the first configuration are gone');
my @before = $s->nginx_worker_pids;
my $log0 = length $s->error_log;
kill 'HUP', $s->nginx_pid;
ok(wait_for(sub { substr($s->error_log, $log0) =~ /unknown role/ }, 10),
   'the reload is refused (logged)');
is_deeply([ $s->nginx_worker_pids ], \@before, 'the old workers keep running');
is(status($b), 202, 'the old tokens still work');
is(status($a), 401, 'and only those');

$s->stop_nginx;
done_testing;
