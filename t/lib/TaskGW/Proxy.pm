package TaskGW::Proxy;

# A TCP proxy in front of Redis that loses one reply on purpose, for
# tests of what a client does when a command ran but its answer never
# came (the connection died in between):
#
#   my $px = TaskGW::Proxy->new($stack, $stack->redis_port,
#                               drop => [ qr/HGETALL/ ]);
#   ... point the worker at $px->port ...
#   $px->dropped     # how many replies were lost so far
#
# The steps of `drop` fire once each, in order.  A pattern: when a chunk
# a client sent matches it, the chunk still goes to Redis (the command
# runs), but Redis's answer is thrown away and both connections are
# closed as soon as it came.  { pass => qr/.../ }: the chunk just passes,
# and the next step is armed (to lose the answer of a command that
# follows another one).  { cut => qr/.../ }: the chunk never reaches
# Redis (the command does not run) and both connections are closed at
# once, counted as a lost reply (for a client that must tell a command
# lost before it ran from one whose answer was lost after).  Everything
# else is passed through untouched.
#
# hold => 1: once a reply was lost, every new client is closed as soon
# as it connects (the client cannot get back to Redis) until
# $px->release: to make something happen before the client's retry.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);

use TaskGW::Stack qw(free_port);

sub new {
    my ($class, $stack, $upstream, %opt) = @_;
    my $n = ++$stack->{nproxy};
    my $self = bless {
        stack => $stack,
        port  => $opt{port} // free_port(),
        up    => $upstream,
        log   => $stack->dir . "/proxy-$n.log",
        drop  => $opt{drop} // [],
        hold  => $opt{hold} // 0,
    }, $class;
    open my $fh, '>', $self->{log} or die "$self->{log}: $!";
    close $fh;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => $self->{port},
                                       Proto => 'tcp', Listen => 64,
                                       ReuseAddr => 1)
        or die "proxy: cannot listen on $self->{port}: $!";
    $self->{pid} = $stack->fork_process('proxy', sub {
        _serve($listen, $upstream, $self->{drop}, $self->{log},
               $self->{hold} ? "$self->{log}.released" : undef);
    });
    close $listen;
    return $self;
}

sub port { $_[0]{port} }

# Replies dropped so far.
sub dropped {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return 0;
    my $n = () = grep { /^dropped/ } <$fh>;
    return $n;
}

# Clients may connect again (hold => 1).
sub release {
    my ($self) = @_;
    open my $fh, '>', "$self->{log}.released" or die "$self->{log}: $!";
    close $fh;
}

# Clients closed at once while held, so far.
sub refused {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return 0;
    my $n = () = grep { /^refused/ } <$fh>;
    return $n;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    $self->{stack}->kill_process($pid, 'KILL', 5);
}

sub _serve {
    my ($listen, $upstream, $drop, $log, $released) = @_;
    my @drop = @$drop;
    my $sel = IO::Select->new($listen);
    my %peer;           # fileno => the other socket
    my %victim;         # fileno of an upstream whose next reply is lost
    my %client;         # fileno of the client side of a pair
    my $lost = 0;       # replies lost so far
    open my $out, '>>', $log or die;
    $out->autoflush(1);
    while (1) {
        for my $fh ($sel->can_read(1)) {
            if ($fh == $listen) {
                my $c = $listen->accept or next;
                if ($released && $lost && !-e $released) {
                    print $out "refused\n";
                    close $c;
                    next;
                }
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
            my $other = $peer{fileno $fh};
            my $n = sysread($fh, my $data, 1 << 20);
            if (!$n || !$other) {
                for my $s ($fh, $other ? $other : ()) {
                    $sel->remove($s);
                    delete $peer{fileno $s};
                    delete $victim{fileno $s};
                    delete $client{fileno $s};
                    close $s;
                }
                next;
            }
            if ($victim{fileno $fh}) {
                # the answer to the command that must lose it: gone,
                # with both connections
                print $out "dropped\n";
                $lost++;
                for my $s ($fh, $other) {
                    $sel->remove($s);
                    delete $peer{fileno $s};
                    delete $victim{fileno $s};
                    delete $client{fileno $s};
                    close $s;
                }
                next;
            }
            if (!$client{fileno $fh}) {
                # an answer: passed on
            } elsif (@drop && ref $drop[0] eq 'HASH'
                     && $drop[0]{cut} && $data =~ $drop[0]{cut}) {
                # lost on the way: Redis never sees the command
                shift @drop;
                print $out "dropped\n";
                $lost++;
                for my $s ($fh, $other) {
                    $sel->remove($s);
                    delete $peer{fileno $s};
                    delete $victim{fileno $s};
                    delete $client{fileno $s};
                    close $s;
                }
                next;
            } elsif (@drop && ref $drop[0] eq 'HASH') {
                if ($drop[0]{pass} && $data =~ $drop[0]{pass}) {
                    shift @drop;
                    print $out "passed\n";
                }
            } elsif (@drop && $data =~ $drop[0]) {
                shift @drop;
                $victim{fileno $other} = 1;
                print $out "armed\n";
            }
            my $off = 0;
            while ($off < length $data) {
                my $w = syswrite($other, $data, length($data) - $off, $off);
                last unless defined $w;
                $off += $w;
            }
        }
    }
}

1;
