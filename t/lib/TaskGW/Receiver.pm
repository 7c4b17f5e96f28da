package TaskGW::Receiver;

# A real HTTP server for webhook tests, and the independent signature
# check.  The server runs as a process of the stack (cleaned up with it),
# listens on a free loopback port, records every request (method, path,
# headers, body, arrival time) and answers each path by a script:
#
#   my $rcv = TaskGW::Receiver->new($stack);
#   $rcv->script('/flaky' => [ { status => 500 }, { status => 500 },
#                              { status => 200 } ]);
#   $rcv->script('/gone'  => [ { status => 410 } ]);
#   $rcv->script('/slow'  => [ { hang => 1 } ]);      # never answers
#   $rcv->script('/busy'  => [ { status => 429,
#                                headers => { 'Retry-After' => 2 } } ]);
#   my $url = $rcv->url('/flaky');
#   my @reqs = $rcv->wait_requests('/flaky', 3, 20);
#   my @res = TaskGW::Receiver::verify($secret, @reqs);   # node, npm
#
# The n-th request to a path gets the n-th answer, the last one again
# after that; a path without a script gets 200.  Scripts may change while
# the server runs (they are read from a file at each request).
#
# verify() checks signatures with the npm package "standardwebhooks" (the
# reference Standard Webhooks implementation, installed into t/node by
# `sh scripts/deps.sh test`), never with taskgw's code.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use MIME::Base64 qw(encode_base64 decode_base64);
use POSIX ();
use Time::HiRes qw(time sleep);

use TaskGW::Stack qw(wait_for free_port repo_root);

my $JSON = JSON::PP->new->utf8->canonical;

sub new {
    my ($class, $stack, %opt) = @_;
    my $n = ++$stack->{nreceiver};
    my $self = bless {
        stack  => $stack,
        port   => $opt{port} // free_port(),
        log    => $stack->dir . "/receiver-$n.jsonl",
        script => $stack->dir . "/receiver-$n.script.json",
        scripts => {},
    }, $class;
    _spew($self->{script}, $JSON->encode({}));
    open my $fh, '>', $self->{log} or die "$self->{log}: $!";
    close $fh;
    $self->start;
    return $self;
}

sub port { $_[0]{port} }

sub url {
    my ($self, $path) = @_;
    return "http://127.0.0.1:$self->{port}" . ($path // '/');
}

# Sets the answers of a path (see above).
sub script {
    my ($self, %paths) = @_;
    $self->{scripts}{$_} = $paths{$_} for keys %paths;
    my $tmp = "$self->{script}.tmp";
    _spew($tmp, $JSON->encode($self->{scripts}));
    rename $tmp, $self->{script} or die "rename: $!";
}

sub start {
    my ($self) = @_;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => $self->{port},
                                       Proto => 'tcp', Listen => 64,
                                       ReuseAddr => 1)
        or die "receiver: cannot listen on $self->{port}: $!";
    $self->{pid} = $self->{stack}->fork_process('receiver', sub {
        _serve($listen, $self->{log}, $self->{script});
    });
    close $listen;
    return $self;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    $self->{stack}->kill_process($pid, 'KILL', 5);
}

# Every request so far (optionally of one path), in arrival order:
# { n, path, method, headers => {lowercased name => value}, body, t }.
sub requests {
    my ($self, $path) = @_;
    open my $fh, '<:raw', $self->{log} or return ();
    my @r;
    while (my $line = <$fh>) {
        next unless $line =~ /\n\z/;        # a line being written
        my $r = eval { $JSON->decode($line) } or next;
        $r->{body} = decode_base64($r->{body_b64});
        push @r, $r if !defined $path || $r->{path} eq $path;
    }
    return @r;
}

# Waits until a path (undef: any) has had at least $n requests.
sub wait_requests {
    my ($self, $path, $n, $timeout) = @_;
    my @r;
    wait_for(sub { (@r = $self->requests($path)) >= $n }, $timeout // 20);
    return @r;
}

# Checks each request's signature headers with the npm reference
# implementation.  Returns one { ok => 0|1, error => ... } per request.
sub verify {
    my ($secret, @reqs) = @_;
    my $dir = repo_root() . '/t/node';
    die "the webhook verifier is not installed: run sh scripts/deps.sh test\n"
        unless -d "$dir/node_modules/standardwebhooks";
    my @checks = map {
        { secret => $secret, body_b64 => encode_base64($_->{body}, ''),
          headers => {
              'webhook-id'        => $_->{headers}{'webhook-id'} // '',
              'webhook-timestamp' => $_->{headers}{'webhook-timestamp'} // '',
              'webhook-signature' => $_->{headers}{'webhook-signature'} // '',
          } }
    } @reqs;
    my $in = "/tmp/taskgw-verify-$$-" . int(rand(1e9)) . '.json';
    _spew($in, $JSON->encode(\@checks));
    my $out = `node $dir/verify.js < $in 2>&1`;
    unlink $in;
    my $res = eval { $JSON->decode($out) };
    die "verifier failed: $out" unless ref $res eq 'ARRAY' && @$res == @reqs;
    return @$res;
}

# ---------------------------------------------------------------------------
# The server (in its own process)
# ---------------------------------------------------------------------------

sub _spew {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh $data;
    close $fh or die "$path: $!";
}

sub _slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return '';
    local $/;
    return scalar(<$fh>) // '';
}

my %REASON = (200 => 'OK', 201 => 'Created', 204 => 'No Content',
              301 => 'Moved Permanently', 302 => 'Found',
              400 => 'Bad Request', 404 => 'Not Found', 408 =>
              'Request Timeout', 410 => 'Gone', 429 => 'Too Many Requests',
              500 => 'Internal Server Error', 503 => 'Service Unavailable');

sub _serve {
    my ($listen, $log, $script) = @_;
    my $sel = IO::Select->new($listen);
    my (%conn, %count, $seq);
    open my $out, '>>:raw', $log or die "$log: $!";
    $out->autoflush(1);
    while (1) {
        for my $fh ($sel->can_read(1)) {
            if ($fh == $listen) {
                my $c = $listen->accept or next;
                $c->blocking(0);
                $sel->add($c);
                $conn{fileno $c} = { buf => '', fh => $c };
                next;
            }
            my $st = $conn{fileno $fh} or next;
            my $n = sysread($fh, my $data, 65536);
            if (!$n) {
                $sel->remove($fh);
                delete $conn{fileno $fh};
                close $fh;
                next;
            }
            next if $st->{held};
            $st->{buf} .= $data;
            my $end = index($st->{buf}, "\r\n\r\n");
            next if $end < 0;
            my ($line, @h) = split /\r\n/, substr($st->{buf}, 0, $end);
            my %h;
            for (@h) {
                my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
                $h{lc $k} = exists $h{lc $k} ? "$h{lc $k}, $v" : $v;
            }
            my $len = $h{'content-length'} // 0;
            next if length($st->{buf}) < $end + 4 + $len;
            my $body = substr($st->{buf}, $end + 4, $len);
            my ($method, $path) = split ' ', $line;
            my $all = eval { $JSON->decode(_slurp($script)) } || {};
            my $answers = $all->{$path} || [ { status => 200 } ];
            my $i = $count{$path}++;
            my $a = $answers->[$i < @$answers ? $i : -1];
            print $out $JSON->encode({
                n => ++$seq, t => time, method => $method, path => $path,
                headers => \%h, body_b64 => encode_base64($body, ''),
                answer => $a,
            }), "\n";
            if ($a->{hang}) {
                $st->{held} = 1;            # read and ignored until closed
                next;
            }
            my $status = $a->{status} // 200;
            my $rbody = $a->{body} // '';
            my $resp = "HTTP/1.1 $status " . ($REASON{$status} // 'X')
                     . "\r\nContent-Length: " . length($rbody)
                     . "\r\nConnection: close\r\n";
            my %rh = %{ $a->{headers} // {} };
            $resp .= "$_: $rh{$_}\r\n" for sort keys %rh;
            $resp .= "\r\n$rbody";
            $fh->blocking(1);
            syswrite($fh, $resp);
            $sel->remove($fh);
            delete $conn{fileno $fh};
            close $fh;
        }
    }
}

1;
