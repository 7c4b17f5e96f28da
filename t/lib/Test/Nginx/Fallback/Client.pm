# The HTTP client side of a test: requests built from the block's
# request / more_headers / raw_request / pipelined_requests sections, sent
# over a raw TCP socket, and responses parsed (chunked bodies decoded).

package Test::Nginx::Fallback::Client;

use strict;
use warnings;
use IO::Socket::INET ();
use IO::Select ();
use Errno ();
use Time::HiRes ();

# "--- more_headers" text into header lines ("Name: value\r\n" each) and
# whether it asks for a chunked request body. Lines starting with # are
# comments.
sub parse_more_headers {
    my ($text) = @_;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $text) {
        next if $line =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $line, 2;
        next unless defined $key && length $key;
        $val = '' unless defined $val;
        $chunked = 1 if lc $key eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $chunked);
}

# Turn one request given as packets ("METHOD [URI [VERSION]]\nbody" split
# anywhere) into the packets to send: a normalised request line, Host and
# Connection unless given, the extra headers, Content-Length for a body
# (which is then trimmed, like the real Test::Nginx does), and the body.
# Packet boundaries are kept: one inside the request line stays there, one
# in the body stays at the same body offset.
sub build_request {
    my (%o) = @_;
    my @packets = @{ $o{packets} };
    my $text = join '', @packets;

    $text =~ /\A([^\n]*\n?)/;
    my $first = $1;
    my $body = substr $text, length $first;

    $first =~ /^\s*(\S+)(?:\s+(\S+))?(?:\s+(\S+))?\s*$/
        or die "$o{name} - Request line is not valid. Should be "
             . "'meth [url [version]]' but got \"$first\".\n";
    my ($meth, $url, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');
    my $line = "$meth $url $ver\r\n";

    my $more = $o{more_headers} // '';
    my $lead = 0;    # body bytes dropped at the front by trimming
    my $len_header = '';
    if (!$o{chunked} && length $body && $more !~ /(?:^|\n)Content-Length:/i)
    {
        (my $trimmed = $body) =~ s/^\s+//s;
        $lead = length($body) - length($trimmed);
        $trimmed =~ s/\s+$//s;
        $body = $trimmed;
        $len_header = 'Content-Length: ' . length($body) . "\r\n";
    }

    my $headers = '';
    $headers .= "Host: $o{server_name}\r\n" if $more !~ /(?:^|\n)Host:/i;
    $headers .= "Connection: $o{connection}\r\n"
        if $more !~ /(?:^|\n)Connection/i;
    $headers .= "$more$len_header\r\n";

    my $head = $line . $headers;
    my $out = $head . $body;
    return [$out] if @packets <= 1;

    # Map each original packet boundary into the new text.
    my @cuts;
    my $pos = 0;
    for my $pk (@packets[0 .. $#packets - 1]) {
        $pos += length $pk;
        my $cut;
        if ($pos < length $first) {
            $cut = $pos < length($line) - 2 ? $pos : length($line) - 2;
        } else {
            my $in_body = $pos - length($first) - $lead;
            $in_body = 0 if $in_body < 0;
            $in_body = length $body if $in_body > length $body;
            $cut = length($head) + $in_body;
        }
        push @cuts, $cut;
    }
    my @result;
    my $prev = 0;
    for my $cut (@cuts, length $out) {
        $cut = $prev if $cut < $prev;
        push @result, substr($out, $prev, $cut - $prev);
        $prev = $cut;
    }
    return \@result;
}

# Connect to addr:port, retrying while nginx comes up (and while $alive,
# when given, says it still runs). Returns the socket or undef with the
# last error in $@.
sub connect_server {
    my ($addr, $port, $timeout, $alive) = @_;
    my $tries = 50;
    my $err;
    for my $i (1 .. $tries) {
        my $sock = IO::Socket::INET->new(
            PeerAddr => $addr,
            PeerPort => $port,
            Proto    => 'tcp',
            Timeout  => $timeout,
        );
        return $sock if $sock;
        $err = $! || $@;
        last if $alive && !$alive->();
        my $wait = 0.015 * $i;
        $wait = 0.2 if $wait > 0.2;
        Time::HiRes::sleep($wait);
    }
    $@ = "Can't connect to $addr:$port: $err";
    return undef;
}

# Send packets [{ value => bytes, delay_before => secs }, ...] and read
# until the server closes the connection or stays silent for $timeout.
# Returns (response bytes, timed out?, error text).
sub send_request {
    my (%o) = @_;
    # A server that answers early and closes (413...) must not kill us
    # with SIGPIPE while the rest of the body is being written.
    local $SIG{PIPE} = 'IGNORE';
    my $sock = connect_server($o{addr}, $o{port}, $o{timeout}, $o{alive})
        or return (undef, 0, $@);
    $sock->blocking(0);
    my $sel = IO::Select->new($sock);

    my $resp = '';
    my $timed_out = 0;
    my $closed = 0;

    # Reads whatever is available; false once the peer has closed.
    my $drain = sub {
        while (1) {
            my $n = sysread $sock, my $buf, 65536;
            if (!defined $n) {
                return 1 if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
                return 0;    # ECONNRESET and friends end the response
            }
            return 0 if $n == 0;
            $resp .= $buf;
        }
    };

    my @packets = @{ $o{packets} };
    my $first = 1;
    PACKET: for my $pk (@packets) {
        my $delay = $pk->{delay_before};
        $delay = $o{middle_delay} if !defined $delay && !$first;
        Time::HiRes::sleep($delay) if $delay;
        $first = 0;

        my $data = $pk->{value} // '';
        my $off = 0;
        while ($off < length $data) {
            my (undef, $w) = IO::Select->select(undef, $sel, undef,
                                                 $o{timeout});
            if (!$w || !@$w) { $timed_out = 1; last PACKET }
            my $n = syswrite $sock, $data, length($data) - $off, $off;
            if (!defined $n) {
                next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
                # The server may answer and close early (e.g. 413).
                last PACKET;
            }
            $off += $n;
        }
    }

    if (!$timed_out && defined $o{shutdown}) {
        shutdown $sock, $o{shutdown};
    }

    while (!$timed_out) {
        my @r = $sel->can_read($o{timeout});
        if (!@r) { $timed_out = 1; last }
        last unless $drain->();
    }
    close $sock;
    return ($resp, $timed_out, undef);
}


# ---------------------------------------------------------------------
# A parsed response: code, headers (case-insensitive, repeated ones joined
# with ", " like HTTP::Headers), content.

package Test::Nginx::Fallback::Response;

use strict;
use warnings;

sub new {
    my ($class, %f) = @_;
    return bless { code => undef, headers => [], content => '', %f }, $class;
}

sub code {
    my $self = shift;
    $self->{code} = shift if @_;
    return $self->{code};
}

sub content {
    my $self = shift;
    $self->{content} = shift if @_;
    return $self->{content};
}

sub header {
    my ($self, $name) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name }
                                 @{ $self->{headers} };
    return wantarray ? @v : @v ? join(', ', @v) : undef;
}

sub headers { return @{ $_[0]{headers} } }


package Test::Nginx::Fallback::Client;

# Parse one response from the front of $raw. Returns (response, raw header
# text, bytes left after it, error text). Chunked bodies are decoded; a
# Content-Length body is cut at its length.
sub parse_response {
    my ($raw, $head_req) = @_;
    $raw = '' unless defined $raw;

    my $res = Test::Nginx::Fallback::Response->new;
    my $raw_headers = $raw =~ /\A(.*?\r\n)\r\n/s ? $1 : '';

    my ($head, $body);
    if ($raw =~ /\A(.*?)\r?\n\r?\n/s) {
        $head = $1;
        $body = substr $raw, $+[0];
    } else {
        ($head, $body) = ($raw, '');
    }

    my @lines = split /\r?\n/, $head;
    my $status = shift @lines;
    if (defined $status && $status =~ m{^HTTP/\d+(?:\.\d+)?\s+(\d+)}) {
        $res->code($1);
    } elsif (defined $status) {
        # Not a status line (HTTP/0.9 style): all of it is body.
        $res->content($raw);
        return ($res, '', undef, undef);
    }

    for my $l (@lines) {
        if ($l =~ /^[ \t]+(.*)/ && @{ $res->{headers} }) {
            $res->{headers}[-1][1] .= " $1";    # folded header line
        } elsif ($l =~ /^([^:\s]+)\s*:\s*(.*?)\s*$/) {
            push @{ $res->{headers} }, [$1, $2];
        }
    }

    my $code = $res->code // 0;

    # An interim response (100 Continue...) precedes the real one.
    if ($code >= 100 && $code < 200 && $code != 101
        && $raw =~ /\A.*?\r?\n\r?\n/s)
    {
        return parse_response(substr($raw, $+[0]), $head_req);
    }

    if ($code == 304 || $code == 101 || $code == 204
        || ($code >= 100 && $code < 200) || $head_req)
    {
        $res->content($head_req || $code != 101 ? '' : $body);
        my $left = $head_req || $code != 101 ? $body : '';
        return ($res, $raw_headers, length $left ? $left : undef, undef);
    }

    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $left;

    if (defined $enc && lc $enc eq 'chunked') {
        my $decoded = '';
        pos($body) = 0;
        while (1) {
            if ($body =~ /\G[ \t]*([A-Fa-f0-9]+)[^\r\n]*\r\n/gc) {
                my $size = hex $1;
                if ($size == 0) {
                    # Trailer fields, then the final CRLF.
                    $body =~ /\G(?:[^\r\n]+\r\n)*\r\n/gc
                        or return ($res, $raw_headers, undef,
                                   'invalid chunked data: no final CRLF');
                    my $rest = substr $body, pos $body;
                    $left = $rest if length $rest;
                    last;
                }
                if (length($body) - pos($body) < $size + 2) {
                    $res->content($decoded);
                    return ($res, $raw_headers, undef,
                            'invalid chunked data: not enough octets '
                          . 'for the data section');
                }
                $decoded .= substr $body, pos($body), $size;
                pos($body) = pos($body) + $size;
                $body =~ /\G\r\n/gc
                    or return ($res, $raw_headers, undef,
                               'invalid chunked data: expected CRLF');
            } elsif (pos($body) >= length $body) {
                $res->content($decoded);
                return ($res, $raw_headers, undef,
                        'no last chunk found');
            } else {
                $res->content($decoded);
                return ($res, $raw_headers, undef,
                        'invalid chunked body: '
                      . substr($body, pos $body, 40));
            }
        }
        $res->content($decoded);

    } elsif (defined $len && $len =~ /^\d+$/) {
        if (length $body > $len) {
            $left = substr $body, $len;
            $body = substr $body, 0, $len;
        }
        $res->content($body);

    } else {
        $res->content($body);
    }

    return ($res, $raw_headers, $left, undef);
}

1;
