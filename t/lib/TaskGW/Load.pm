package TaskGW::Load;

# A steady client load for the fault-injection tests: each loop is a
# forked process sending one request after another (a new connection
# each) until told to stop, and writing one line per answer:
#
#   <unix time> <status> <task id or -> <error or ->
#
#   my $l = TaskGW::Load->start($stack, loops => 2, path => '/tasks',
#                               headers => [...], body => sub { "n$_[0]" });
#   ... faults ...
#   my @answers = $l->stop;   # ({ t, status, id, error, loop }, ...)
#
# Status 0 is a connection error (refused, reset, no answer in time).

use strict;
use warnings;

use POSIX ();
use Time::HiRes qw(time sleep);
use TaskGW::Stack qw(wait_for json_decode);

sub start {
    my ($class, $s, %opt) = @_;
    my $self = bless { s => $s, loops => [], n => $opt{loops} // 1 }, $class;
    my $stop = $self->{stopfile} = $s->dir . '/load-stop.' . ++$TaskGW::Load::N;
    unlink $stop;
    for my $k (1 .. $self->{n}) {
        my $out = $s->dir . "/load-$TaskGW::Load::N-$k.txt";
        my $pid = $s->fork_process("load-$k", sub {
            open my $fh, '>', $out or die "$out: $!";
            $fh->autoflush(1);
            my $deadline = time + ($opt{max_seconds} // 60);
            my $i = 0;
            while (!-e $stop && time < $deadline) {
                $i++;
                my $body = ref $opt{body} ? $opt{body}->("$k-$i")
                                          : ($opt{body} // "$k-$i");
                my $r = $s->http(POST => $opt{path}, body => $body,
                                 headers => $opt{headers} // [],
                                 timeout => $opt{timeout} // 5);
                my $id = $r->{json} && $r->{json}{id} || '-';
                my $err = $r->{error} // '-';
                $err =~ s/\s+/_/g;
                printf $fh "%.3f %d %s %s %s\n", time, $r->{status}, $id,
                       $err, $body;
                sleep $opt{pause} if $opt{pause};
            }
            close $fh;
        });
        push @{ $self->{loops} }, { pid => $pid, out => $out };
    }
    return $self;
}

# Answers so far (the loops keep running).
sub answers {
    my ($self) = @_;
    my @a;
    local $_;                   # a caller's $_ (a map, a for) stays its own
    for my $k (0 .. $#{ $self->{loops} }) {
        open my $fh, '<', $self->{loops}[$k]{out} or next;
        while (<$fh>) {
            my ($t, $st, $id, $err, $body) = split ' ', $_, 5;
            next unless defined $body && $body =~ /\n\z/;
            chomp $body;
            push @a, { t => $t, status => $st, id => $id eq '-' ? undef : $id,
                       error => $err eq '-' ? undef : $err, body => $body,
                       loop => $k + 1 };
        }
    }
    return sort { $a->{t} <=> $b->{t} } @a;
}

# Stops the loops (each finishes its request under way) and returns all
# answers.
sub stop {
    my ($self) = @_;
    open my $fh, '>', $self->{stopfile} or die;
    close $fh;
    $self->{s}->kill_process($_->{pid}, 'ZERO', 20) for @{ $self->{loops} };
    return $self->answers;
}

1;
