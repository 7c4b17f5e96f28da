package TaskGW::Freeze;

# A TCP proxy in front of Redis that, when told, goes quiet on part of
# the traffic while keeping every socket open: what a frozen Redis or a
# network black hole looks like to a client, without freezing the Redis
# the rest of the test talks to.
#
#   my $px = TaskGW::Freeze->new($stack, $stack->redis_port,
#                                hold => qr/HGETALL/);
#   ... point nginx at $px->port ...
#   $px->freeze_subscribers;  # connections that sent SUBSCRIBE go silent
#   $px->wait_held;           # a chunk matched `hold`: its answer is kept
#   $px->release;             # ... and now passed on
#
# freeze_subscribers: every connection that has sent SUBSCRIBE so far is
# no longer read from or written to, either way (its sockets stay open);
# connections opened later pass through as usual.  hold: the answer to
# the first chunk that matches is kept back (the command ran in Redis)
# until release.  The proxy is told by signals; what it did is in its
# log, which the methods wait on.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

use TaskGW::Stack qw(free_port wait_for);

sub new {
    my ($class, $stack, $upstream, %opt) = @_;
    my $n = ++$stack->{nproxy};
    my $self = bless {
        stack => $stack,
        port  => $opt{port} // free_port(),
        log   => $stack->dir . "/freeze-$n.log",
    }, $class;
    open my $fh, '>', $self->{log} or die "$self->{log}: $!";
    close $fh;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => $self->{port},
                                       Proto => 'tcp', Listen => 64,
                                       ReuseAddr => 1)
        or die "freeze proxy: cannot listen on $self->{port}: $!";
    $self->{pid} = $stack->fork_process('freeze-proxy', sub {
        _serve($listen, $upstream, $opt{hold}, $self->{log});
    });
    close $listen;
    return $self;
}

sub port { $_[0]{port} }

# The lines of the proxy's log that start with $what.
sub logged {
    my ($self, $what) = @_;
    open my $fh, '<', $self->{log} or return ();
    return grep { /^\Q$what\E/ } <$fh>;
}

sub _tell {
    my ($self, $sig, $what, $n) = @_;
    my $before = () = $self->logged($what);
    kill $sig, $self->{pid} or die "freeze proxy: kill $sig: $!";
    my $ok = wait_for(sub { $self->logged($what) > $before }, 10, 0.02);
    die "freeze proxy: no \"$what\" in its log" unless $ok;
    my @l = $self->logged($what);
    return $l[-1] =~ /(\d+)/ ? $1 : 0;
}

# How many connections went silent.
sub freeze_subscribers { $_[0]->_tell('USR1', 'frozen') }

sub wait_held {
    my ($self, $timeout) = @_;
    return wait_for(sub { $self->logged('held') > 0 }, $timeout // 10, 0.01);
}

sub release { $_[0]->_tell('USR2', 'released') }

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    $self->{stack}->kill_process($pid, 'KILL', 5);
}

sub _serve {
    my ($listen, $upstream, $hold, $log) = @_;
    my ($freeze, $release) = (0, 0);
    local $SIG{USR1} = sub { $freeze = 1 };
    local $SIG{USR2} = sub { $release = 1 };
    my $sel = IO::Select->new($listen);
    my %peer;           # fileno => the other socket
    my %client;         # fileno of the client side of a pair
    my %subscriber;     # fileno of a client side that sent SUBSCRIBE
    my %frozen;         # fileno => socket, kept open, never served again
    my ($held, $kept);  # the upstream whose answer is kept, and the bytes
    open my $out, '>>', $log or die;
    $out->autoflush(1);
    my $drop = sub {
        for my $s (@_) {
            $sel->remove($s);
            delete $peer{fileno $s};
            delete $client{fileno $s};
            delete $subscriber{fileno $s};
            close $s;
        }
    };
    my $send = sub {
        my ($to, $data) = @_;
        my $off = 0;
        while ($off < length $data) {
            my $w = syswrite($to, $data, length($data) - $off, $off);
            last unless defined $w;
            $off += $w;
        }
    };
    while (1) {
        if ($freeze) {
            $freeze = 0;
            my $n = 0;
            for my $fd (keys %subscriber) {
                my $u = $peer{$fd} or next;
                my $c = $peer{fileno $u};
                for my $s ($c, $u) {
                    $sel->remove($s);
                    $frozen{fileno $s} = $s;
                }
                $n++;
            }
            %subscriber = ();
            print $out "frozen $n\n";
        }
        if ($release) {
            $release = 0;
            if ($held && $peer{fileno $held}) {
                $send->($peer{fileno $held}, $kept // '');
            }
            ($held, $kept) = (undef, undef);
            print $out "released\n";
        }
        for my $fh ($sel->can_read(0.05)) {
            if ($fh == $listen) {
                my $c = $listen->accept or next;
                my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                              PeerPort => $upstream,
                                              Proto => 'tcp');
                unless ($u) {
                    close $c;
                    next;
                }
                $peer{fileno $c} = $u;
                $peer{fileno $u} = $c;
                $client{fileno $c} = 1;
                $sel->add($c, $u);
                next;
            }
            next if $frozen{fileno $fh};
            my $other = $peer{fileno $fh};
            my $n = sysread($fh, my $data, 1 << 20);
            if (!$n || !$other) {
                $held = undef if $held && ($held == $fh
                                           || ($other && $held == $other));
                $drop->($fh, $other ? $other : ());
                next;
            }
            if ($client{fileno $fh}) {
                $subscriber{fileno $fh} = 1 if $data =~ /SUBSCRIBE/i;
                if ($hold && $data =~ $hold) {
                    undef $hold;
                    $held = $other;
                    $kept = '';
                    print $out "held\n";
                }
            } elsif ($held && $fh == $held) {
                $kept .= $data;
                next;
            }
            $send->($other, $data);
        }
    }
}

1;
