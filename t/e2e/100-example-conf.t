#!/usr/bin/perl
# The example configuration (conf/nginx.conf), as `make run` serves it:
# its http block runs unchanged against a private Redis; an enqueue is
# 202, and its catch-all answers like every other error of the API, JSON
# with Content-Type: application/json.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(json_decode);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

# The http { } block of conf/nginx.conf, with the stack's ports and paths
# (the substitutions scripts/run.sh makes).
open my $fh, '<', $s->root . '/conf/nginx.conf' or die "conf/nginx.conf: $!";
my $conf = do { local $/; <$fh> };
close $fh;
my ($http) = $conf =~ /^http \{\n(.*)^\}\s*\z/ms
    or die "no http block in conf/nginx.conf";
$http =~ s/127\.0\.0\.1:6379/127.0.0.1:%%REDIS_PORT%%/g;
$http =~ s/listen 127\.0\.0\.1:8080;/listen 127.0.0.1:%%PORT%%;/;
$http =~ s{access_log logs/}{access_log %%SERVROOT%%/logs/}g;
$http =~ s/taskgw_prefix\s+\S+;/taskgw_prefix %%PREFIX%%;/;

$s->start_redis;
$s->start_nginx(config => $http, worker_processes => 2);

my $r = $s->http(POST => '/v1/tasks/system.ping', body => '{}',
                 headers => [ 'Content-Type' => 'application/json' ]);
is($r->{status}, 202, 'enqueue through the example config: 202')
    or diag explain $r;

for my $path ('/', '/nope', '/v1/other/thing') {
    $r = $s->http(GET => $path);
    is($r->{status}, 404, "GET $path: 404");
    is($r->{headers}{'content-type'}, 'application/json',
       "GET $path: Content-Type: application/json");
    my $j = json_decode($r->{body});
    is($j && $j->{error}, 'not_found', "GET $path: error not_found")
        or diag $r->{body};
}

$s->stop_nginx;
done_testing();
