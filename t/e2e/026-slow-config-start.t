#!/usr/bin/perl
# nginx reads its configuration before it forks its workers, and a worker
# starts with the clock of the moment that reading began.  The first
# connect to Redis must get its whole taskgw_redis_timeout however long
# the configuration took: here a perl_require that takes 2.5 s (nginx's
# perl module, from nginx-extras) and a 1 s timeout, against a healthy
# Redis.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
my @taskgw = $s->_modules({});
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } @taskgw;
my $perl = '/usr/lib/nginx/modules/ngx_http_perl_module.so';
plan skip_all => "$perl not installed (Debian package nginx-extras)"
    unless -f $perl;

my $d = $s->dir;
open my $fh, '>', "$d/SlowStart.pm" or die;
print $fh <<'PM';
package SlowStart;
# loaded by nginx's master while it reads its configuration
select(undef, undef, undef, 2.5);
1;
PM
close $fh;

$s->start_redis;
my $t0 = time;
$s->start_nginx(modules => [ $perl, @taskgw ], config => <<'EOC');
    perl_modules %%SERVROOT%%;
    perl_require SlowStart.pm;
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_timeout 1s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=default type=system.ping; }
    }
EOC
cmp_ok(time - $t0, '>=', 2.5, 'nginx took its 2.5 s to read the configuration');

my $res;
ok(wait_for(sub {
    ($res = $s->http(POST => '/tasks', body => 'first'))->{status} == 202
}, 15), 'an enqueue is accepted') or diag explain $res;

my @down = grep { /taskgw: redis .*(unreachable|link lost)/ }
           split /\n/, $s->error_log;
is_deeply(\@down, [], 'the first connect to a healthy Redis did not time out');

$s->stop_nginx;
is(scalar($s->error_log_alerts), 0, 'no alert in the error log')
    or diag join "\n", $s->error_log_alerts;

done_testing();
