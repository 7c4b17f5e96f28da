#!/usr/bin/perl
# Prints a TCP port on 127.0.0.1 that is free right now.
use strict;
use warnings;
use IO::Socket::INET;

my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                              Proto => 'tcp', Listen => 1, ReuseAddr => 1)
    or die "free-port: $!\n";
print $s->sockport, "\n";
