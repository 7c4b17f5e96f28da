#!/usr/bin/perl
# A task's life seen from outside: the 202's Location
# leads to the task, unknown ids are 404, a running or finished task
# cannot be cancelled (409), and nginx, the worker and taskgwctl agree:
# a task enqueued by taskgwctl is run by the worker and shown by nginx, a
# task cancelled by taskgwctl is never run.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(sleep);
use TaskGW::Stack qw(wait_for json_decode);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'build/taskgw-worker not built' unless -x $s->worker_binary;
plan skip_all => 'build/taskgwctl not built' unless -x $s->ctl_binary;

my $dir = $s->dir;
my $runs = "$dir/runs";
my $slow = "$dir/slow.sh";
open my $fh, '>', $slow or die;
print $fh "#!/bin/sh\necho \"\$TASKGW_TASK_ID\" >> $runs\nsleep 2\n"
        . "echo '\"slept\"'\n";
close $fh;
chmod 0755, $slow;

$s->start_redis;
$s->start_nginx(config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks   { taskgw_enqueue queue=default type=slow; }
        location /status/ { taskgw_status; }
    }
EOC

sub ran {
    my ($id) = @_;
    open my $f, '<', $runs or return 0;
    return scalar grep { /^\Q$id\E$/ } <$f>;
}

my %terminal = map { $_ => 1 } qw(succeeded dead cancelled);

sub finished {
    my ($id) = @_;
    my $t;
    wait_for(sub {
        $t = $s->http(GET => "/status/$id")->{json};
        $t && $terminal{ $t->{status} // '' };
    }, 20, 0.1);
    return $t;
}

# === TEST 1: 202 carries Location: <status location>/<id>
my $res = $s->http(POST => '/tasks', body => '{}');
is($res->{status}, 202, 'enqueue: 202');
my $id = $res->{json} && $res->{json}{id};
is($res->{headers}{location}, "/status/$id", 'Location: /status/<id>');
my $g = $s->http(GET => $res->{headers}{location} // '/status/x');
is($g->{status}, 200, 'GET Location: 200');
is($g->{json} && $g->{json}{id}, $id, 'the same task');
like($g->{headers}{'content-type'} // '', qr{^application/json}, 'JSON');

# === TEST 2: an unknown id is 404 not_found
$g = $s->http(GET => '/status/01a20835-f48a-7493-9db5-6b7aa48a8610');
is($g->{status}, 404, 'unknown id: 404');
is($g->{json} && $g->{json}{error}, 'not_found', 'error not_found');
$g = $s->http(DELETE => '/status/01a20835-f48a-7493-9db5-6b7aa48a8610');
is($g->{status}, 404, 'DELETE unknown id: 404');

# === TEST 3: taskgwctl cancels a queued task: the worker never runs it
my $c = $s->ctl('enqueue', 'default', 'slow', { stdin => '' });
chomp(my $cid = $c->{out});
is($c->{code}, 0, 'taskgwctl enqueue');
is($s->ctl('task', 'cancel', $cid)->{code}, 0, 'taskgwctl task cancel');

# === TEST 4: a task enqueued by taskgwctl runs and nginx shows it
$c = $s->ctl('enqueue', 'default', 'slow', { stdin => '' });
chomp(my $eid = $c->{out});

my $w = $s->start_worker({
    concurrency => 2,
    queues      => { default => 1 },
    handlers    => { slow => { exec => [ $slow ], timeout => '30s' } },
});

# === TEST 5: a running task cannot be cancelled: 409 (nginx and CLI)
ok(wait_for(sub { ($s->http(GET => "/status/$id")->{json} // {})->{status}
                  eq 'running' }, 10), 'first task running');
my $d = $s->http(DELETE => "/status/$id");
is($d->{status}, 409, 'DELETE running task: 409');
is($d->{json} && $d->{json}{error}, 'conflict', 'error conflict');
my $cl = $s->ctl('task', 'cancel', $id);
is($cl->{code}, 1, 'taskgwctl task cancel of a running task: exit 1');
like($cl->{err}, qr/conflict/, 'conflict');

my $t = finished($id);
is($t->{status}, 'succeeded', 'it still succeeds');
is($t->{result}, 'slept', 'with its result');

# === TEST 6: a finished task cannot be cancelled either
$d = $s->http(DELETE => "/status/$id");
is($d->{status}, 409, 'DELETE finished task: 409');

# results of TEST 3 and 4, now that the worker has had its turn
$t = finished($cid);
is($t->{status}, 'cancelled', 'cancelled by taskgwctl: cancelled')
    or diag explain $t;
is(ran($cid), 0, 'never ran');
$t = finished($eid);
is($t->{status}, 'succeeded', 'enqueued by taskgwctl: succeeded');
is($t->{owner}, 'cli', 'owner cli');
my $shown = json_decode($s->ctl('--json', 'task', 'show', $eid)->{out});
is_deeply($shown, $t, 'taskgwctl shows what nginx shows');

is($s->stop_worker($w), 0, 'worker exits 0');

done_testing();
