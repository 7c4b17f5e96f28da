#!/usr/bin/perl
# Measures the long polls and the revocation messages (docs/performance.md,
# "Long polls and revocation"):
#
#   1. latency from a task's outcome (its finished_at, written by the
#      worker) to the answer of a long poll waiting on it, p50/p99 over N
#      tasks whose N waiters wait at once (2 nginx workers); beside it, in
#      the same run, a plain GET's round trip as the baseline;
#   2. memory per waiting request: the nginx worker processes' resident
#      memory with the N waiters, minus before them, divided by N;
#   3. revocation delay: two nginx instances (2 workers each) on one Redis,
#      a run-time token cached in both; from the start of
#      `taskgwctl token revoke` until every request to an instance is 401,
#      checked every 2 ms.
#
#   make && perl scripts/measure-longpoll.pl
#   RUNS=3 (runs; the median of their figures is printed), TASKS=1000,
#   REVOKES=20 (revocations per run)
#
# Uses the e2e harness (t/lib/TaskGW/Stack.pm): private Redis, nginx with
# the module, the real worker and taskgwctl; everything is stopped at the
# end.  Print `uptime` beside the figures: the machine is shared.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);
use IO::Select;
use TaskGW::Stack qw(wait_for);

my $RUNS    = $ENV{RUNS}    || 3;
my $TASKS   = $ENV{TASKS}   || 1000;
my $REVOKES = $ENV{REVOKES} || 20;

sub pct {
    my ($p, @v) = @_;
    @v = sort { $a <=> $b } @v;
    return $v[ int($p / 100 * $#v + 0.5) ];
}

sub median { return pct(50, @_) }

sub rss_kb {
    my $kb = 0;
    for my $pid (@_) {
        open my $f, '<', "/proc/$pid/status" or next;
        while (<$f>) { $kb += $1 if /^VmRSS:\s+(\d+)/ }
    }
    return $kb;
}

# "2026-11-30T15:00:00.123Z" -> unix ms
sub iso_ms {
    my ($t) = @_;
    return undef unless $t && $t =~
        /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d{3})Z$/;
    return (timegm($6, $5, $4, $3, $2 - 1, $1) * 1000) + $7;
}

sub long_polls {
    my $s = TaskGW::Stack->new(prefix => 'mlp');
    $s->start_redis;
    $s->start_nginx(worker_processes => 2, worker_connections => 4096,
                    log_level => 'warn', config => <<'EOC');
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_prefix %%PREFIX%%;
    access_log off;
    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        location /tasks/  { taskgw_enqueue queue=$arg_q type=ping; }
        location /status/ { taskgw_status; }
    }
EOC
    my @ids = map { $s->http(POST => '/tasks/?q=lp', body => '')->{json}{id} }
              1 .. $TASKS;
    die "enqueue failed\n" if grep { !defined } @ids;

    # the subscribers up (a first wait in each worker), then the baseline
    my $warm = $s->http(POST => '/tasks/?q=idle', body => '')->{json}{id};
    $s->http_parallel([ map { [ GET => "/status/$warm?wait=1" ] } 1 .. 8 ],
                      timeout => 10);
    my @rtt = map { $s->http(GET => "/status/$ids[0]")->{time} * 1000 }
              1 .. 200;
    my @pids = $s->nginx_worker_pids;
    my $rss0 = rss_kb(@pids);

    my @h = map { TaskGW::Stack::request_send(GET => "/status/$_?wait=30",
                                               port => $s->port,
                                               timeout => 60) } @ids;
    # every request read and waiting: nginx has answered none, and has
    # stopped growing
    my ($rss1, $prev) = (0, -1);
    for (1 .. 50) {
        sleep 0.2;
        $rss1 = rss_kb(@pids);
        last if $rss1 == $prev;
        $prev = $rss1;
    }
    my $sel = IO::Select->new(map { $_->{sock} } @h);
    die "answered before the tasks ran\n" if $sel->can_read(0);

    my $w = $s->start_worker({ concurrency => 16, queues => { lp => 1 },
                               handlers => { ping => { builtin => 'ping' } } });
    my %by = map { fileno($_->{sock}) => $_ } @h;
    my $deadline = time + 60;
    while ($sel->count && time < $deadline) {
        for my $fh ($sel->can_read(1)) {
            my $x = $by{ fileno $fh };
            TaskGW::Stack::_http_read($x);
            if ($x->{eof} || $x->{error}) {
                $sel->remove($fh);
            }
        }
    }
    my @lat;
    for my $x (@h) {
        my $res = TaskGW::Stack::request_recv($x);
        my $fin = iso_ms($res->{json} && $res->{json}{finished_at});
        die "a waiter got no finished task\n"
            unless $res->{status} == 200 && defined $fin;
        push @lat, $x->{done} * 1000 - $fin;
    }
    $s->stop_worker($w);
    $s->stop_nginx;
    return { p50 => pct(50, @lat), p99 => pct(99, @lat),
             max => pct(100, @lat), rtt => median(@rtt),
             per => ($rss1 - $rss0) * 1024 / $TASKS };
}

sub revocations {
    my $a = TaskGW::Stack->new(prefix => 'mrv');
    my $b = TaskGW::Stack->new(prefix => 'mrv');
    $a->start_redis;
    $b->{redis_port} = $a->redis_port;
    my $conf = <<'EOC';
    taskgw_redis 127.0.0.1:%%REDIS_PORT%%;
    taskgw_prefix %%PREFIX%%;
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl 60s;
    access_log off;
    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        location /ping { taskgw_auth dev; empty_gif; }
    }
EOC
    $_->start_nginx(worker_processes => 2, log_level => 'warn',
                    config => $conf) for $a, $b;
    my (@d, @ctl);
    for my $i (1 .. $REVOKES) {
        my ($tok) = $a->ctl('token', 'create', "t$i", 'dev')->{out}
                    =~ /^(tgw_\S+)$/m;
        for my $s ($a, $b) {
            $s->http_parallel([ map { [ GET => '/ping', headers =>
                                [ 'X-API-Token' => $tok ] ] } 1 .. 8 ]);
        }
        my $t0 = time;
        $a->ctl('token', 'revoke', "t$i");
        my $ctl = time - $t0;
        my %took;
        wait_for(sub {
            for my $s (grep { !$took{$_->port} } $a, $b) {
                my $res = $s->http_parallel([ map { [ GET => '/ping',
                          headers => [ 'X-API-Token' => $tok ] ] } 1 .. 4 ]);
                $took{$s->port} = time - $t0
                    unless grep { $_->{status} != 401 } @$res;
            }
            keys %took == 2;
        }, 70, 0.002);
        push @d, map { ($took{$_->port} // 999) * 1000 } $a, $b;
        push @ctl, $ctl * 1000;
    }
    $b->stop_nginx;
    $a->stop_nginx;
    return { p50 => median(@d), max => pct(100, @d), ctl => median(@ctl) };
}

chomp(my $up = `uptime`);
print "uptime: $up\n";
my (@lp, @rv);
for my $run (1 .. $RUNS) {
    my $l = long_polls();
    my $v = revocations();
    printf "run %d: outcome->answer p50 %.1f ms p99 %.1f ms max %.1f ms "
         . "(plain GET %.2f ms); %.0f bytes per waiting request; "
         . "revocation p50 %.1f ms max %.1f ms (taskgwctl itself %.1f ms)\n",
           $run, @$l{qw(p50 p99 max rtt per)}, @$v{qw(p50 max ctl)};
    push @lp, $l;
    push @rv, $v;
}
chomp($up = `uptime`);
print "uptime: $up\n";
printf "median of %d runs: outcome->answer p50 %.1f ms, p99 %.1f ms "
     . "(plain GET round trip %.2f ms); %.0f bytes per waiting request; "
     . "revocation delay p50 %.1f ms, max %.1f ms (of which taskgwctl "
     . "%.1f ms)\n", $RUNS,
       median(map { $_->{p50} } @lp), median(map { $_->{p99} } @lp),
       median(map { $_->{rtt} } @lp), median(map { $_->{per} } @lp),
       median(map { $_->{p50} } @rv), median(map { $_->{max} } @rv),
       median(map { $_->{ctl} } @rv);
