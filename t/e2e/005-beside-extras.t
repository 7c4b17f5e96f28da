#!/usr/bin/perl
# taskgw beside the third-party modules Debian ships (nginx-extras): every
# module Debian enables in /etc/nginx/modules-enabled/ is loaded together
# with taskgw, taskgw first and taskgw last.  nchan carries its own hiredis
# 1.x and exports it; taskgw links its hiredis privately, so neither binds
# to the other's copy: the module exports and imports no redis*/sds*
# symbol, enqueue works, nchan (with its own Redis storage, so both copies
# of hiredis run in one process) works, and no worker dies on a signal.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
my ($module) = $s->_modules({});
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless defined $module && -f $module;

my $enabled = '/etc/nginx/modules-enabled';
my $moddir  = '/usr/lib/nginx/modules';

# === TEST 1: the module neither exports nor imports a hiredis symbol
my $nm = $s->run_cmd(['nm', '-D', $module]);
is($nm->{code}, 0, 'nm -D reads the module') or diag $nm->{err};
my @hiredis = grep { /\s(?:redis|sds|__redis)\w*$/ } split /\n/, $nm->{out};
is_deeply(\@hiredis, [], 'no redis*/sds* symbol in the dynamic table');
my @needed = grep { /NEEDED.*hiredis/ }
             split /\n/, $s->run_cmd(['readelf', '-d', $module])->{out};
is_deeply(\@needed, [], 'no libhiredis.so among the needed libraries');

# The modules Debian enables, in Debian's order (ndk before lua).  Their
# load_module lines are relative to nginx's prefix; use absolute paths.
opendir my $dh, $enabled
    or BAIL_OUT("$enabled is missing: the test dependencies are not "
                . "installed (sh scripts/deps.sh test)");
my @debian;
for my $f (sort grep { /\.conf$/ } readdir $dh) {
    open my $fh, '<', "$enabled/$f" or next;
    while (<$fh>) {
        push @debian, "$moddir/$1" if /^\s*load_module\s+modules\/(\S+);/;
    }
}
closedir $dh;
ok((grep { m{/ngx_nchan_module\.so$} } @debian),
   'nchan is among the enabled modules')
    or BAIL_OUT('libnginx-mod-nchan is not installed (sh scripts/deps.sh test)');
ok((grep { m{/ngx_http_lua_module\.so$} } @debian),
   'lua is among the enabled modules');
note(scalar(@debian) . " Debian modules: @debian");

my $conf = <<'EOC';
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;

    upstream nchan_redis {
        nchan_redis_server redis://127.0.0.1:%%REDIS_PORT%%;
    }

    server {
        listen 127.0.0.1:%%PORT%%;

        location /tasks {
            taskgw_enqueue queue=extras type=system.ping;
        }
        location /tasks/status/ {
            taskgw_status;
        }

        location = /pub {
            nchan_publisher;
            nchan_channel_id extras;
            nchan_redis_pass nchan_redis;
        }
        location = /sub {
            nchan_subscriber;
            nchan_channel_id extras;
            nchan_redis_pass nchan_redis;
        }

        location = /lua {
            content_by_lua_block { ngx.say("lua ", ngx.var.request_method) }
        }
        location = /echo {
            more_set_headers "X-More: yes";
            echo "echo ok";
        }
    }
EOC

$s->start_redis;
my $r = $s->redis;
my $prefix = $s->prefix;

for my $order ('first', 'last') {
    my @mods = $order eq 'first' ? ($module, @debian) : (@debian, $module);

    # === TEST 2/3: nginx -t and start with every module
    my ($rc, $out) = $s->nginx_test(modules => \@mods, config => $conf,
                                    worker_processes => 2);
    is($rc, 0, "taskgw $order: nginx -t passes") or diag $out;
    $s->start_nginx(modules => \@mods, config => $conf,
                    worker_processes => 2);
    my @workers = $s->nginx_worker_pids;

    # enqueue: 202 and the task stored in Redis with its stream entry
    my @ids;
    for my $i (1 .. 10) {
        my $res = $s->http(POST => '/tasks', body => "{\"n\":$i}",
                           headers => { 'Content-Type' => 'application/json' });
        push @ids, $res->{json}{id} if $res->{status} == 202 && $res->{json};
    }
    is(scalar(@ids), 10, "taskgw $order: 10 enqueues answered 202");
    is(scalar(grep { ($r->cmd('HGET', "$prefix:task:$_", 'queue') // '')
                     eq 'extras' } @ids), 10,
       "taskgw $order: every task is stored in Redis");
    is($r->cmd('XLEN', "$prefix:q:extras:normal"), 10 * ($order eq 'last' ? 2 : 1),
       "taskgw $order: every task has its stream entry");
    my $st = $s->http(GET => "/tasks/status/$ids[0]");
    is($st->{status}, 200, "taskgw $order: status GET answers 200");

    # nchan in the same server, stored in Redis through nchan's own hiredis
    my $msg = "hello-$order";
    my $pub = $s->http(POST => '/pub', body => $msg);
    like($pub->{status}, qr/^20[12]$/, "taskgw $order: nchan publishes")
        or diag explain $pub;
    # nchan answers a subscriber once its own Redis connection in that
    # worker is up: on a slow machine give it time, and ask again
    my $sub;
    wait_for(sub {
        $sub = $s->http(GET => '/sub', timeout => 20, headers => {
            'If-Modified-Since' => 'Thu, 01 Jan 1970 00:00:00 GMT' });
        return $sub->{status} == 200;
    }, 60, 0.5);
    is($sub->{status}, 200, "taskgw $order: nchan subscriber answers");
    like($sub->{body}, qr/^hello-/, "taskgw $order: and gets a published message");
    ok(scalar(@{ $r->cmd('KEYS', '{channel:/extras}*') // [] }),
       "taskgw $order: nchan stored its channel in Redis");

    # other Debian modules keep working
    my $lua = $s->http(GET => '/lua');
    is($lua->{body}, "lua GET\n", "taskgw $order: lua runs");
    my $echo = $s->http(GET => '/echo');
    is($echo->{body}, "echo ok\n", "taskgw $order: echo runs");
    is($echo->{headers}{'x-more'}, 'yes', "taskgw $order: headers-more runs");

    # no worker died: same worker pids, no "exited on signal" in the log
    is_deeply([ $s->nginx_worker_pids ], \@workers,
              "taskgw $order: the same worker processes still run");
    my @crash = grep { /exited on signal|segfault/ } split /\n/, $s->error_log;
    is_deeply(\@crash, [], "taskgw $order: no worker exited on a signal");

    $s->stop_nginx;
}

done_testing();
