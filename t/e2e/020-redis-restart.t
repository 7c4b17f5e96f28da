#!/usr/bin/perl
# Redis goes away and comes back (the durability promise of docs/keys.md): while it is
# down every enqueue is 503 "unavailable" with Retry-After and no 202 is
# ever sent; once it is back on the same address nginx enqueues again
# within a few seconds, without a reload, in every worker process.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for);

my $s = TaskGW::Stack->new;
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});

$s->start_redis;
$s->start_nginx(worker_processes => 2, config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_redis_timeout 500ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks  { taskgw_enqueue queue=default type=system.ping; }
        location /status/ { taskgw_status; }
    }
EOC

my @workers = $s->nginx_worker_pids;
my $master = $s->nginx_pid;
my $prefix = $s->prefix;

sub enqueue {
    my ($body) = @_;
    return $s->http(POST => '/tasks', body => $body, timeout => 10,
                    headers => [ 'Content-Type' => 'text/plain' ]);
}

# Asserts that a 202's task is stored: hash and stream entry.
sub stored {
    my ($id, $body, $what) = @_;
    my $r = $s->redis;
    my $h = $r->hgetall("$prefix:task:$id");
    is($h->{status}, 'queued', "$what: task hash stored, queued");
    is($h->{payload}, $body, "$what: payload stored");
    my @e = grep { $_->[1]{id} eq $id }
            @{ $r->xrange("$prefix:q:default:normal") };
    is(scalar @e, 1, "$what: one stream entry");
}

# === TEST 1: Redis up: 202 and the task is in Redis
my $res = enqueue('before');
is($res->{status}, 202, 'redis up: 202') or diag explain $res;
my $id = $res->{json} && $res->{json}{id};
like($id // '', qr/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
     'id is a UUIDv7');
stored($id, 'before', 'redis up') if $id;

# === TEST 2: Redis stopped: 503 unavailable, Retry-After, never 202
$s->stop_redis;
my (@st, $bad);
for my $i (1 .. 10) {
    $res = enqueue("down $i");
    push @st, $res->{status};
    if ($i == 1) {
        is($res->{status}, 503, 'redis down: 503') or diag explain $res;
        is($res->{json} && $res->{json}{error}, 'unavailable',
           'error code "unavailable"');
        ok(defined $res->{json} && length($res->{json}{message} // ''),
           'with a message');
        like($res->{headers}{'content-type'} // '', qr{^application/json},
             'JSON content type');
        is($res->{headers}{'retry-after'}, '1', 'Retry-After: 1');
    }
    $bad = $res if $res->{time} > 3 && !$bad;
}
is_deeply(\@st, [ (503) x 10 ], '10 enqueues while down: all 503')
    or diag "statuses: @st";
ok(!$bad, 'each answered within 3 s') or diag explain $bad;

# === TEST 3: status lookups while down are 503 too
$res = $s->http(GET => "/status/$id", timeout => 10);
is($res->{status}, 503, 'GET status while down: 503');
is($res->{json} && $res->{json}{error}, 'unavailable', 'unavailable');

# === TEST 4: Redis back on the same port: the next requests succeed
# Each worker tries the link again on its backoff schedule, at most the
# backoff maximum (2 s by default) apart, without a failed request to wake
# it up: so once Redis has listened again for that long, the very next
# batch, over both nginx workers, is accepted; then poll as before to
# collect what the workers accept.
sleep 3;                    # long enough for the backoff to reach 2 s
$s->start_redis;
sleep 2.5;
my $first_batch = $s->http_parallel([ map { [ POST => '/tasks',
                                              body => "next $_" ] } 1 .. 20 ],
                                    timeout => 10);
is(scalar(grep { $_->{status} == 202 } @$first_batch), 20,
   'the first 20 requests after Redis is back: all 202')
    or diag 'statuses: ' . join ' ', map { $_->{status} } @$first_batch;
my $t0 = time;
my (@accepted, $first, $last);
my $r = $s->redis;
my $all = wait_for(sub {
    my $batch = $s->http_parallel([ map { [ POST => '/tasks',
                                            body => "after $_" ] } 1 .. 20 ],
                                  timeout => 10);
    my @ok = grep { $_->{status} == 202 } @$batch;
    my @other = grep { $_->{status} != 202 && $_->{status} != 503 } @$batch;
    diag('unexpected status ' . $other[0]{status}) if @other;
    push @accepted, @ok;
    $first //= time - $t0 if @ok;
    $last = $batch;
    return @ok == 20;
}, 15, 0.1);
my $dt = time - $t0;
ok(defined $first, sprintf('first 202 after redis restart (%.2f s)',
                           $first // -1));
ok($all, sprintf('a whole batch of 20 accepted (%.2f s)', $dt))
    or diag 'last batch: ' . join ' ', map { $_->{status} } @$last;
cmp_ok($dt, '<', 10, 'every nginx worker recovered within 10 s');

# === TEST 5: every 202 after the restart is stored
my $missing = grep {
    my $j = $_->{json};
    !$j || !$j->{id}
        || ($r->cmd('HGET', "$prefix:task:$j->{id}", 'status') // '')
           ne 'queued';
} @accepted;
ok(@accepted >= 20, scalar(@accepted) . ' tasks accepted after restart');
is($missing, 0, 'every one of them has its task hash');
my %ids = map { $_->[1]{id} => 1 } @{ $r->xrange("$prefix:q:default:normal") };
is(scalar(grep { !$ids{$_->{json}{id}} } @accepted), 0,
   'every one of them has its stream entry');
my $back = $accepted[0];

# === TEST 6: no reload happened: same master, same workers
is($s->nginx_pid, $master, 'same nginx master');
is_deeply([ $s->nginx_worker_pids ], \@workers, 'same nginx workers');

# === TEST 7: the status endpoint works again
$res = $s->http(GET => "/status/$back->{json}{id}") if $back;
is($res->{status}, 200, 'GET status after recovery: 200');
is($res->{json} && $res->{json}{status}, 'queued', 'task queued');

# === TEST 8: a second outage and recovery behave the same
$s->stop_redis;
is(enqueue('down again')->{status}, 503, 'second outage: 503');
$s->start_redis;
ok(wait_for(sub { enqueue('again')->{status} == 202 }, 15, 0.1),
   'second recovery: 202');

is_deeply([ $s->error_log_alerts ], [], 'no alert or crash in the error log');

done_testing();
