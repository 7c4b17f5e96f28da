#!/usr/bin/perl
# The wait link (taskgw_redis_wait) follows a Sentinel switch at once.
#
# A primary, two replicas and three sentinels (TaskGW::HA); nginx finds
# the master through the sentinels, and a client loop enqueues on a
# location under taskgw_redis_wait replicas=1 while a SENTINEL FAILOVER
# promotes one replica.  Sentinel points the other replica at the new
# master before it announces the switch, so the new master has a replica
# at once; the old master stays a master with no replica until Sentinel
# turns it into a replica too, some seconds later.  A wait link left on
# the old master meanwhile gets only 503s (its WAITs find no replica)
# until its next write there meets -READONLY; a wait link that followed
# +switch-master (as the main link and the subscriber do) gets 202s from
# the new master while the old one is still a master.  So:
#   - a waited 202 answered after the sentinels named the new master and
#     before the old master stopped being one, with its task stored on
#     the new master;
#   - the "redis wait" link's error log line names the switch as the
#     reason it left the old master;
#   - every answer is a 202 or a 503, and waited 202s go on after the
#     old master has become a replica.
# It prints how long the client saw no waited 202 (for
# docs/operations.md) and how many waited 202s are not on the new master:
# with two replicas, replicas=1 does not keep those of a planned switch.
# Between the promotion of one replica and Sentinel's REPLICAOF to the
# other, the old master still has that other replica, whose WAIT
# acknowledgements count; the other replica then resynchronises from the
# new master in full and drops them (printed, not asserted).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use TaskGW::Stack qw(wait_for);
use TaskGW::HA;
use TaskGW::Load;

my $s = TaskGW::Stack->new(prefix => 'e2e158');
plan skip_all => 'build/ngx_http_taskgw_module.so not built'
    unless grep { -f } $s->_modules({});
plan skip_all => 'redis-sentinel is not installed (sh scripts/deps.sh test)'
    unless grep { -x "$_/redis-sentinel" } split /:/, $ENV{PATH};

my $P = $s->prefix;
my $ha = TaskGW::HA->new($s, replicas => 2);
my $old = $ha->master_port;
my @replicas = $ha->replica_ports;
is(scalar @replicas, 2, "a primary ($old) and two replicas (@replicas)");

$s->start_nginx(worker_processes => 1, vars => $ha->vars, config => <<'EOC');
    taskgw_redis sentinel=%%SENTINELS%% master=%%MASTER_NAME%%;
    taskgw_redis_timeout 1s;
    taskgw_redis_backoff 50ms 500ms;
    taskgw_prefix %%PREFIX%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /wait {
            taskgw_enqueue queue=ha type=system.ping;
            taskgw_redis_wait replicas=1 timeout=1s;
        }
    }
EOC

sub stored_on {
    my ($port, $id) = @_;
    return 0 unless $id;
    return eval { $ha->redis($port)->cmd('EXISTS', "$P:task:$id") } // 0;
}

# === before the switch: waited 202s on the first primary
my $res;
ok(wait_for(sub {
    $res = $s->http(POST => '/wait', body => 'first', timeout => 10);
    return $res->{status} == 202;
}, 20, 0.1), 'before the switch: a waited 202') or diag explain $res;
ok(wait_for(sub { stored_on($_, $res->{json}{id}) }, 10),
   "... its task reaches replica $_") for @replicas;

my $load = TaskGW::Load->start($s, loops => 1, path => '/wait',
    pause => 0.005, timeout => 10, max_seconds => 120);
ok(wait_for(sub {
    grep { $_->{status} == 202 } $load->answers
}, 30), 'the client loop gets waited 202s');

# === SENTINEL FAILOVER (sent to the first sentinel, the one nginx asks
# first; it leads the failover, so it names the new master first)
my $t_failover = time;
$ha->failover;
my ($new, $t_switch, $t_master_seen, $t_demoted);
my $switched = wait_for(sub {
    my $t = time;
    unless (defined $t_switch) {
        my $m = $ha->master_port;
        if (defined $m && $m != $old) {
            ($new, $t_switch) = ($m, $t);
        }
    }
    # when the old master was last seen a master: from the start of the
    # ROLE that said so (a 202 answered before then came while it was)
    my $role = $ha->role($old) // '';
    if ($role eq 'master') {
        $t_master_seen = $t;
        return 0;
    }
    return 0 unless $role eq 'slave';
    $t_demoted //= time;
    return defined $t_switch;
}, 90, 0.05);
ok($switched, 'Sentinel promoted a replica and made the old master a '
              . 'replica') or diag $ha->report;
ok(defined $new && (grep { $_ == $new } @replicas),
   "the new master ($new) is one of the replicas");
is($ha->wait_switched($old, replicas => 2), $new,
   'every sentinel agrees; the new master has both others as replicas');

# waited 202s from the new master after the old one became a replica too
ok(wait_for(sub {
    grep { $_->{status} == 202 && $_->{t} > $t_demoted } $load->answers
}, 30), 'waited 202s go on after the old master became a replica');
my @a = $load->stop;

# === the wait link left the old master at the switch
my @early = grep { $_->{status} == 202 && $_->{t} > $t_switch
                   && $_->{t} < $t_master_seen } @a;
my @early_new = grep { stored_on($new, $_->{id}) } @early;
ok(scalar @early_new,
   sprintf('a waited 202 from the new master while the old one was still a '
           . 'master (%d of %d answered between %.2f s and %.2f s after '
           . 'SENTINEL FAILOVER)', scalar @early_new, scalar @early,
           $t_switch - $t_failover, $t_master_seen - $t_failover))
    or diag sprintf('the first waited 202 after the switch came %s s after '
                    . 'the command', map { defined $_ ? sprintf('%.2f',
                    $_->{t} - $t_failover) : 'never' }
                    (grep { $_->{status} == 202 && $_->{t} > $t_switch } @a)[0]);
my @wait_log = grep { /taskgw: redis wait\b/ } split /\n/, $s->error_log;
ok((grep { /\[error\].*taskgw: redis wait 127\.0\.0\.1:$old link lost: the sentinels switched the master/ } @wait_log),
   'the wait link left the old master because of +switch-master')
    or diag join "\n", @wait_log;

my @odd = grep { $_->{status} != 202 && $_->{status} != 503 } @a;
is(scalar @odd, 0, 'every answer a 202 or a 503')
    or diag explain [ @odd[0 .. ($#odd < 9 ? $#odd : 9)] ];

# === figures: the time without a waited 202, and what was lost
my ($last, $gap, $gap_from, $n503) = (undef, 0, 0, 0);
for my $x (grep { $_->{status} == 202 } @a) {
    if (defined $last && $x->{t} - $last > $gap) {
        ($gap, $gap_from) = ($x->{t} - $last, $last);
        $n503 = grep { $_->{status} == 503 && $_->{t} > $last
                       && $_->{t} < $x->{t} } @a;
    }
    $last = $x->{t};
}
my ($first_after) = grep { $_->{status} == 202 && $_->{t} > $t_switch
                           && stored_on($new, $_->{id}) } @a;
diag(sprintf 'waited enqueues: the longest time without a 202 was %.2f s '
     . '(from %.2f s after SENTINEL FAILOVER, %d answers 503 in it); the '
     . 'sentinels named the new master %.2f s after the command, the first '
     . 'waited 202 from it came %.2f s later; the old master was a '
     . 'replica %.2f s after the command', $gap, $gap_from - $t_failover,
     $n503, $t_switch - $t_failover,
     $first_after ? $first_after->{t} - $t_switch : -1,
     $t_demoted - $t_failover);
my @ok = grep { $_->{status} == 202 } @a;
my @lost = grep { !stored_on($new, $_->{id}) } @ok;
diag(sprintf '%d of %d waited 202s are not on the new master%s',
     scalar @lost, scalar @ok,
     @lost ? sprintf(' (answered from %.2f s to %.2f s after the command)',
                     $lost[0]{t} - $t_failover, $lost[-1]{t} - $t_failover)
           : '');

$s->stop_nginx;
is(scalar($s->error_log_alerts), 0, 'no alert or crash in the error log')
    or diag join "\n", $s->error_log_alerts;
done_testing();
