package TaskGW::HA;

# A Redis high-availability rig for end-to-end tests: a primary, one
# replica (or more: replicas => N) and three redis-sentinel processes on
# free loopback ports, all started through TaskGW::Stack (so its process
# bookkeeping kills them at exit, on a signal and even after a SIGKILL of
# the test).
#
#   my $s  = TaskGW::Stack->new;
#   my $ha = TaskGW::HA->new($s);          # starts everything, waits ready
#   $s->start_nginx(config => <<'EOC', vars => $ha->vars);
#       taskgw_redis sentinel=%%SENTINELS%% master=%%MASTER_NAME%%;
#       ...
#   EOC
#   $s->start_worker({ sentinel => [ $ha->sentinel_addrs ],
#                      master => $ha->master_name, ... });
#   my $old = $ha->kill_primary;           # kill -9 of the current master
#   my $new = $ha->wait_switched($old);    # every sentinel agrees, and so
#                                          # does the promoted server
#   $ha->restart_old_primary;              # it comes back as a replica
#
# The sentinels watch the master "taskgw-ha" with quorum 2.  They call it
# down after down_after ms without an answer (default 3000) and give a
# failover failover_timeout ms (default 10000): quick enough for tests,
# slow enough that a loaded 2-core machine does not trigger failovers of
# its own.  Every wait here has a generous deadline (timeout => S).
#
# A sentinel whose timer is late by more than 2 s (a machine stalled that
# long) goes into TILT mode for 30 s and starts no failover meanwhile; the
# default deadline of wait_switched (90 s) leaves room for that.

use strict;
use warnings;

use File::Path qw(make_path);
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for free_port);
use TaskGW::Load;

my $MASTER = 'taskgw-ha';

# new($stack, down_after => MS, failover_timeout => MS, timeout => S,
#     replicas => N, args => [...]): starts the primary, N replicas
# (default 1) and the sentinels, and returns once every replica is in
# sync and every sentinel knows the replicas and the two other
# sentinels.  args are more redis-server options for every server (kept
# for restart_old_primary), e.g. [qw(--min-replicas-to-write 1)].
# ipv6 => 1: every server and sentinel also listens on ::1, and the
# sentinels watch the first primary as ::1 (so they name the master by an
# IPv6 address until a failover promotes a replica, which they know by
# its IPv4 address); the test's own connections still use 127.0.0.1.
sub new {
    my ($class, $stack, %opt) = @_;
    my $self = bless {
        stack            => $stack,
        down_after       => $opt{down_after} // 3000,
        failover_timeout => $opt{failover_timeout} // 10000,
        replicas         => $opt{replicas} // 1,
        args             => $opt{args} // [],
        ipv6             => $opt{ipv6},
        servers          => {},         # port => pid (undef: killed)
        sentinels        => [],         # [ { port, pid, conf } ]
    }, $class;
    my $primary = free_port();
    $self->{first_primary} = $primary;
    $self->_start_server($primary);
    # all at once: they share the primary's (delayed) first transfer
    my @replicas = map { free_port() } 1 .. $self->{replicas};
    $self->_start_server($_, replicaof => $primary) for @replicas;
    $self->_wait_in_sync($primary, $_, $opt{timeout} // 30) for @replicas;
    $self->_start_sentinel($primary) for 1 .. 3;
    $self->_wait_sentinels_ready($opt{timeout} // 30);
    return $self;
}

sub stack       { $_[0]{stack} }
sub master_name { $MASTER }

# The ports of the redis-servers (the first primary and the replicas) and
# of the three sentinels.
sub redis_ports    { sort { $a <=> $b } keys %{ $_[0]{servers} } }
sub sentinel_ports { map { $_->{port} } @{ $_[0]{sentinels} } }

# "127.0.0.1:P" of each sentinel; sentinels_arg joins them with commas
# (the form of taskgw_redis sentinel=... and taskgwctl -S).
sub sentinel_addrs { map { "127.0.0.1:$_" } $_[0]->sentinel_ports }
sub sentinels_arg  { join ',', $_[0]->sentinel_addrs }

# Placeholders for TaskGW::Stack's configs: %%SENTINELS%%, %%MASTER_NAME%%.
sub vars {
    my ($self) = @_;
    return { SENTINELS => $self->sentinels_arg, MASTER_NAME => $MASTER };
}

# The master's port as the first answering sentinel has it (undef when
# none answers).
sub master_port {
    my ($self) = @_;
    for my $port ($self->sentinel_ports) {
        my $p = $self->_sentinel_master_port($port);
        return $p if defined $p;
    }
    return undef;
}

# A client connection to the current master, or to a given port.
sub redis {
    my ($self, $port) = @_;
    $port //= $self->master_port // die "no sentinel knows the master\n";
    return TaskGW::Stack::Redis->new($port);
}

# The port of the server that is currently the replica (the one of the
# two that is not the master; with more replicas, the lowest port of
# those), or undef.  replica_ports: all servers but the master.
sub replica_port {
    my ($self) = @_;
    my ($r) = $self->replica_ports;
    return $r;
}

sub replica_ports {
    my ($self) = @_;
    my $m = $self->master_port // return ();
    return grep { $_ != $m } $self->redis_ports;
}

# ROLE of the server on $port: 'master', 'slave', or undef when it does
# not answer.
sub role {
    my ($self, $port) = @_;
    my $r = eval { TaskGW::Stack::Redis->new($port, 2)->cmd('ROLE') };
    return ref $r eq 'ARRAY' ? $r->[0] : undef;
}

# kill -9 of the current master; returns its port.
sub kill_primary {
    my ($self) = @_;
    my $port = $self->master_port // die "no sentinel knows the master\n";
    my $pid = $self->{servers}{$port} or die "master $port is not running\n";
    $self->{stack}->kill_process($pid, 'KILL', 5);
    $self->{servers}{$port} = undef;
    $self->{down_port} = $port;
    return $port;
}

# SENTINEL FAILOVER on a sentinel (a planned switch); returns the old
# master's port.  Dies when the sentinel refuses (e.g. -INPROG).
sub failover {
    my ($self, %opt) = @_;
    my $old = $self->master_port // die "no sentinel knows the master\n";
    my $port = $opt{sentinel} // ($self->sentinel_ports)[0];
    my $r = TaskGW::Stack::Redis->new($port)
        ->cmd('SENTINEL', 'FAILOVER', $MASTER);
    die "SENTINEL FAILOVER: $r\n" if ref $r;
    $self->{switched_from} = $old;
    return $old;
}

# Waits until every sentinel names the same master, not $old_port, and
# the server there answers ROLE as a master; returns its port.  Dies at
# the deadline (timeout => S, default 90) saying what each one reported.
# replicas => N also waits until that master has N replicas connected
# (after a planned failover, the old master once it has been turned into
# a replica).
sub wait_switched {
    my ($self, $old_port, %opt) = @_;
    $old_port //= $self->{down_port} // $self->{switched_from}
        // die "wait_switched: from which master?\n";
    my $new;
    my $ok = wait_for(sub {
        my %seen;
        for my $port ($self->sentinel_ports) {
            my $p = $self->_sentinel_master_port($port) // return 0;
            $seen{$p} = 1;
        }
        return 0 if keys %seen != 1;
        ($new) = keys %seen;
        return 0 if $new == $old_port;
        return 0 unless ($self->role($new) // '') eq 'master';
        return 1 unless $opt{replicas};
        return $self->_connected_replicas($new) >= $opt{replicas};
    }, $opt{timeout} // 90, 0.1);
    die "wait_switched: no agreement on a new master:\n" . $self->report
        unless $ok;
    return $new;
}

# Starts the killed master again on its old port, as an operator would
# (its own settings, no replicaof), and waits until the sentinels have
# turned it into a replica of the current master with its link up.  Call
# it only after wait_switched: before the switch the sentinels would keep
# the restarted (empty) server as master.
sub restart_old_primary {
    my ($self, %opt) = @_;
    my $port = delete $self->{down_port}
        // die "restart_old_primary: no primary was killed\n";
    $self->_start_server($port);
    my $ok = wait_for(sub {
        my $info = $self->_info($port) // return 0;
        my $m = $self->master_port // return 0;
        return $info =~ /^role:slave\r?$/m
            && $info =~ /^master_port:$m\r?$/m
            && $info =~ /^master_link_status:up\r?$/m;
    }, $opt{timeout} // 90, 0.1);
    die "restart_old_primary: $port did not become a replica:\n"
        . $self->report unless $ok;
    return $port;
}

# Stops the sentinels, then the servers (TaskGW::Stack would at exit).
sub stop {
    my ($self) = @_;
    for my $s (@{ $self->{sentinels} }) {
        $self->{stack}->kill_process(delete $s->{pid}, 'TERM', 5)
            if $s->{pid};
    }
    for my $port (keys %{ $self->{servers} }) {
        my $pid = $self->{servers}{$port} or next;
        $self->{stack}->kill_process($pid, 'TERM', 5);
        $self->{servers}{$port} = undef;
    }
}

# What each sentinel and server says, for a failure message.
sub report {
    my ($self) = @_;
    my $out = '';
    for my $port ($self->sentinel_ports) {
        my $m = $self->_sentinel_master($port);
        $out .= "  sentinel $port: "
              . ($m ? join(' ', map { "$_=" . ($m->{$_} // '?') }
                           qw(port flags num-slaves num-other-sentinels))
                    : 'no answer') . "\n";
    }
    for my $port ($self->redis_ports) {
        $out .= "  redis $port: " . ($self->role($port) // 'down') . "\n";
    }
    return $out;
}

# taskgwctl through the sentinels: $ha->ctl(ARGS..., { stdin => ... })
# -> { out, err, code }, like TaskGW::Stack::ctl.
sub ctl {
    my ($self, @args) = @_;
    my $opt = ref $args[-1] eq 'HASH' ? pop @args : {};
    my $s = $self->{stack};
    return $s->run_cmd([ $s->ctl_binary, '-S', $self->sentinels_arg,
                         '-M', $MASTER, '-p', $s->prefix, @args ], %$opt);
}

# start_gateway(workers => N): nginx with 2 worker processes finding the
# master through the sentinels, with two locations enqueueing system.ping
# on the queue "ha": /tasks (a 202 once the master has the task) and /wait
# (taskgw_redis_wait replicas=1 timeout=1s: once a replica has it too);
# and N workers (default 2) running it, also through the sentinels.
sub start_gateway {
    my ($self, %opt) = @_;
    my $s = $self->{stack};
    $s->start_nginx(worker_processes => 2, vars => $self->vars,
                    config => <<'EOC');
    taskgw_redis sentinel=%%SENTINELS%% master=%%MASTER_NAME%%;
    taskgw_redis_timeout 1s;
    taskgw_redis_backoff 50ms 500ms;
    taskgw_prefix %%PREFIX%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /tasks { taskgw_enqueue queue=ha type=system.ping; }
        location /wait {
            taskgw_enqueue queue=ha type=system.ping;
            taskgw_redis_wait replicas=1 timeout=1s;
        }
    }
EOC
    my %wconf = (sentinel => [ $self->sentinel_addrs ],
                 master => $MASTER, queues => { ha => 1 },
                 concurrency => 8, claim_idle => '3s',
                 redis_backoff => { min => '50ms', max => '500ms' },
                 handlers => { 'system.ping' => { builtin => 'ping' } });
    $s->start_worker({ %wconf }) for 1 .. ($opt{workers} // 2);
}

# start_loads(PATH, ...): a client loop enqueueing on each path of
# start_gateway's; returns the loads by path and a sub counting the 202s
# on a path answered after a time ($accepted->($path, $since)).
sub start_loads {
    my ($self, @paths) = @_;
    my %load = map {
        $_ => TaskGW::Load->start($self->{stack}, loops => 1, path => "/$_",
                                  pause => 0.005, timeout => 10,
                                  max_seconds => 600)
    } @paths;
    my $accepted = sub {
        my ($path, $since) = @_;
        scalar grep { $_->{status} == 202 && $_->{t} > ($since // 0) }
            $load{$path}->answers;
    };
    return (\%load, $accepted);
}

# ---- internals --------------------------------------------------------------

sub _start_server {
    my ($self, $port, %opt) = @_;
    my $s = $self->{stack};
    my $dir = $s->dir . "/ha-redis-$port";
    make_path($dir);
    my $bin = $ENV{TASKGW_REDIS_SERVER} || 'redis-server';
    my @repl = $opt{replicaof}
        ? ('--replicaof', '127.0.0.1', $opt{replicaof}) : ();
    my $pid = $s->spawn("ha-redis-$port", $bin,
        '--port', $port, '--bind', $self->_bind, '--save', '',
        '--appendonly', 'no', '--dir', $dir, '--daemonize', 'no',
        '--protected-mode', 'no', @{ $self->{args} }, @repl);
    $self->{servers}{$port} = $pid;
    my $ok = wait_for(sub {
        return -1 unless kill 0, $pid;
        my $r = eval { TaskGW::Stack::Redis->new($port, 1) } or return 0;
        return (eval { $r->cmd('PING') } // '') eq 'PONG';
    }, 15);
    die "redis-server did not start on $port\n" unless $ok && $ok != -1;
}

sub _bind { $_[0]{ipv6} ? '127.0.0.1 ::1' : '127.0.0.1' }

sub _wait_in_sync {
    my ($self, $primary, $replica, $timeout) = @_;
    wait_for(sub {
        my $info = $self->_info($replica) // return 0;
        return $info =~ /^master_link_status:up\r?$/m;
    }, $timeout) or die "replica $replica did not sync with $primary\n";
}

sub _start_sentinel {
    my ($self, $primary) = @_;
    my $s = $self->{stack};
    my $n = @{ $self->{sentinels} } + 1;
    my $port = free_port();
    my $dir = $s->dir . "/ha-sentinel-$n";
    make_path($dir);
    # sentinel rewrites this file (its id, what it learns): it must be
    # writable and its own
    my $conf = "$dir/sentinel.conf";
    my $bind = $self->_bind;
    my $host = $self->{ipv6} ? '::1' : '127.0.0.1';
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh <<"EOC";
port $port
bind $bind
protected-mode no
daemonize no
dir $dir
logfile ""
sentinel monitor $MASTER $host $primary 2
sentinel down-after-milliseconds $MASTER $self->{down_after}
sentinel failover-timeout $MASTER $self->{failover_timeout}
sentinel parallel-syncs $MASTER 1
EOC
    close $fh or die "$conf: $!";
    my $bin = $ENV{TASKGW_REDIS_SENTINEL} || 'redis-sentinel';
    my $pid = $s->spawn("ha-sentinel-$n", $bin, $conf);
    push @{ $self->{sentinels} }, { port => $port, pid => $pid,
                                    conf => $conf };
    my $ok = wait_for(sub {
        return -1 unless kill 0, $pid;
        my $r = eval { TaskGW::Stack::Redis->new($port, 1) } or return 0;
        return (eval { $r->cmd('PING') } // '') eq 'PONG';
    }, 15);
    die "redis-sentinel $n did not start on $port\n" unless $ok && $ok != -1;
}

sub _wait_sentinels_ready {
    my ($self, $timeout) = @_;
    my $ok = wait_for(sub {
        for my $port ($self->sentinel_ports) {
            my $m = $self->_sentinel_master($port) or return 0;
            return 0 unless ($m->{'num-slaves'} // 0) >= $self->{replicas}
                && ($m->{'num-other-sentinels'} // 0) >= 2
                && ($m->{flags} // '') eq 'master';
        }
        return 1;
    }, $timeout, 0.1);
    die "the sentinels did not find each other and the replica:\n"
        . $self->report unless $ok;
}

# SENTINEL MASTER as a hash, or undef.
sub _sentinel_master {
    my ($self, $port) = @_;
    my $r = eval {
        TaskGW::Stack::Redis->new($port, 2)->cmd('SENTINEL', 'MASTER', $MASTER)
    };
    return ref $r eq 'ARRAY' ? { @$r } : undef;
}

sub _sentinel_master_port {
    my ($self, $port) = @_;
    my $r = eval {
        TaskGW::Stack::Redis->new($port, 2)
            ->cmd('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', $MASTER)
    };
    return ref $r eq 'ARRAY' && defined $r->[1] ? $r->[1] : undef;
}

sub _info {
    my ($self, $port) = @_;
    my $r = eval {
        TaskGW::Stack::Redis->new($port, 2)->cmd('INFO', 'replication')
    };
    return defined $r && !ref $r ? $r : undef;
}

sub _connected_replicas {
    my ($self, $port) = @_;
    my $info = $self->_info($port) // return 0;
    my @up = $info =~ /^slave\d+:.*state=online/mg;
    return scalar @up;
}

1;
