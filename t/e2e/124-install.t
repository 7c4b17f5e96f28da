#!/usr/bin/perl
# make install (into a DESTDIR): the module, both binaries, the worker's
# systemd unit, the docs, alerting rules and dashboard, and an example
# worker config that a second install does not overwrite.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use TaskGW::Stack;

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless -f $s->root . '/build/ngx_http_taskgw_module.so';
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;

my $dest = tempdir(CLEANUP => 1);
my $root = $s->root;

sub install {
    my $out = `make -s -C $root install DESTDIR=$dest 2>&1`;
    return ($? >> 8, $out);
}

# === TEST 1: a first install puts every piece in place
my ($rc, $out) = install();
is($rc, 0, 'make install DESTDIR=...: exit 0') or diag $out;
for my $f (qw(/usr/lib/nginx/modules/ngx_http_taskgw_module.so
              /usr/local/bin/taskgw-worker /usr/local/bin/taskgwctl
              /usr/local/bin/taskgw-exec-keeper
              /etc/systemd/system/taskgw-worker.service
              /etc/taskgw/worker.json
              /usr/local/share/doc/taskgw/operations.md
              /usr/local/share/doc/taskgw/directives.md
              /usr/local/share/doc/taskgw/prometheus-alerts.yml
              /usr/local/share/doc/taskgw/grafana-dashboard.json)) {
    ok(-f "$dest$f", "installed: $f");
}
ok(-x "$dest/usr/local/bin/taskgw-worker", 'the worker is executable');
ok(-x "$dest/usr/local/bin/taskgw-exec-keeper",
   'the exec keeper is executable, beside the worker');
is((stat "$dest/etc/taskgw/worker.json")[2] & 07777, 0640,
   'worker.json mode 0640 (it may hold a password)');

my $unit = TaskGW::Stack::_slurp("$dest/etc/systemd/system/"
                                 . 'taskgw-worker.service');
like($unit, qr/^KillMode=mixed$/m, 'unit: KillMode=mixed (SIGTERM to the '
     . 'worker only, tasks finish)');
like($unit, qr/^Restart=on-failure$/m, 'unit: restarts on failure');
like($unit, qr/^ExecStart=\/usr\/local\/bin\/taskgw-worker -c \/etc\/taskgw\/worker\.json$/m,
     'unit: ExecStart');
my ($stop) = $unit =~ /^TimeoutStopSec=(\d+)$/m;
ok(($stop // 0) > 30, "unit: TimeoutStopSec ($stop) above the default "
   . 'shutdown_grace of 30 s');

# === TEST 2: the example config is valid for the worker
my $check = `$dest/usr/local/bin/taskgw-worker -c $dest/etc/taskgw/worker.json --check 2>&1`;
is($? >> 8, 0, 'the installed example config passes --check') or diag $check;

# === TEST 3: a second install keeps the operator's config
open my $fh, '>', "$dest/etc/taskgw/worker.json" or die;
print $fh "{\"prefix\":\"mine\"}\n";
close $fh;
($rc, $out) = install();
is($rc, 0, 'second make install: exit 0') or diag $out;
is(TaskGW::Stack::_slurp("$dest/etc/taskgw/worker.json"),
   "{\"prefix\":\"mine\"}\n", 'worker.json left as the operator wrote it');

done_testing;
