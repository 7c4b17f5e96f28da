# Test data of a suite: the __DATA__ text split into blocks and sections,
# with section filters, following the format Test::Base defines.
#
#   === TEST 1: title          starts a block (its name is "TEST 1: title")
#   --- config                 starts a multi-line section
#   --- response_body eval     ... with filters applied in order
#   --- error_code: 404        one-line section (no filters after ':')
#
# Every section first goes through the default filters "norm" (CRLF -> LF)
# and "trim" (drop blank lines at both ends, keep the final newline), then
# through the ones named after it. A block holding a section ONLY is the
# only block run; one holding SKIP is dropped; LAST ends the list.

package Test::Nginx::Fallback::Data;

use strict;
use warnings;
use Carp ();
use Scalar::Util ();

# Filters applied to every section before its own (see filters()).
our @DefaultFilters = qw(norm trim);

# Per-section extra filters set with filters { section => [...] }.
our %FilterMap;

# Parsed blocks of the current suite (built on first use).
my $BlockList;

# Next index for next_block().
my $NextIndex = 0;

# The suite text: main::DATA, read once.
my $SpecText;

sub spec_text {
    return $SpecText if defined $SpecText;
    no warnings 'once';
    my $fh = Scalar::Util::openhandle(\*main::DATA);
    $SpecText = $fh ? do { local $/; <$fh> } : '';
    $SpecText = '' unless defined $SpecText;
    return $SpecText;
}

# Set the suite text directly (used when a suite has no __DATA__ or by
# the self-tests).
sub set_spec_text {
    $SpecText = shift;
    undef $BlockList;
    $NextIndex = 0;
}

# Split the text into blocks, honouring ONLY / SKIP / LAST.
sub block_list {
    return $BlockList if $BlockList;

    my $text = spec_text();
    my @hunks = ($text =~ /^(===.*?(?=^===|\z))/msg);
    my @blocks;
    my $seq = 1;
    for my $hunk (@hunks) {
        my $block = make_block($hunk);
        if (exists $block->{ONLY}) {
            Test::More::diag("I found ONLY: maybe you're debugging?");
            @blocks = ($block);
            last;
        }
        next if exists $block->{SKIP};
        push @blocks, $block;
        last if exists $block->{LAST};
    }
    $_->{_seq_num} = $seq++ for @blocks;
    $BlockList = \@blocks;
    return $BlockList;
}

# One "=== name" hunk into a block object (values not yet filtered).
sub make_block {
    my ($hunk) = @_;

    $hunk =~ s/\A===[ \t]*(.*)\s+// or Carp::croak("bad block: $hunk");
    my $name = $1;

    # Splitting on section headers yields: description, then triples of
    # (section name, text after the name, section body).
    my @parts = split /^--- +\(?(\w+)\)? *(.*)?\n/m, $hunk;
    my $description = shift @parts;
    $description = $name unless defined $description && $description =~ /\S/;
    $description =~ s/\s*\z//;

    my $block = Test::Nginx::Fallback::Block->new;
    $block->set_value(description => $description);
    $block->set_value(name => $name);

    my (%filters, @order);
    while (@parts) {
        my ($section, $filter_text, $value) = splice @parts, 0, 3;
        $value = '' unless defined $value;
        $filter_text = '' unless defined $filter_text;

        # "--- name: value" and "--- name filters: value" put the value
        # on the header line.
        if ($filter_text =~ /:(\s|\z)/) {
            Carp::croak("Extra lines not allowed in '$section' section")
                if $value =~ /\S/;
            ($filter_text, $value) = split /\s*:(?:\s+|\z)/, $filter_text, 2;
            $value = '' unless defined $value;
            $value =~ s/^\s*(.*?)\s*$/$1/;
        }
        $filters{$section} = $filter_text;
        push @order, $section;
        $block->set_value($section, $value);
    }
    $block->{_section_filters} = \%filters;
    $block->{_section_order} = \@order;
    return $block;
}

# blocks([section]): the blocks (filtered) in list context, their number
# in scalar context; with a section name, only blocks that have it.
sub blocks {
    my ($section) = @_;
    my @blocks = @{ block_list() };
    @blocks = grep { exists $_->{$section} } @blocks if defined $section;
    return scalar @blocks unless wantarray;
    $_->run_filters for grep { !$_->{_is_filtered} } @blocks;
    return @blocks;
}

sub next_block {
    my $list = block_list();
    if ($NextIndex > $#$list) {
        $NextIndex = 0;
        return undef;
    }
    my $block = $list->[$NextIndex++];
    $block->run_filters unless $block->{_is_filtered};
    return $block;
}

sub first_block {
    $NextIndex = 0;
    return next_block();
}

# filters(LIST) adds default filters; filters({ section => f | [f...] })
# adds filters for one section in every block.
sub filters {
    my ($arg) = @_;
    if (ref $arg eq 'HASH') {
        %FilterMap = (%FilterMap, %$arg);
    } else {
        push @DefaultFilters, @_;
    }
    return;
}


# ---------------------------------------------------------------------
# A block: a hash of section name => [values]; accessors return the first
# value in scalar context and all values in list context (like Test::Base).

package Test::Nginx::Fallback::Block;

use strict;
use warnings;

our $AUTOLOAD;

sub new {
    my ($class) = @_;
    return bless { _original_values => {} }, $class;
}

sub set_value {
    my ($self, $section, @values) = @_;
    $self->{$section} = [@values];
    return;
}

sub _get {
    my ($self, $section) = @_;
    my $v = $self->{$section};
    return wantarray ? () : undef unless $v;
    return wantarray ? @$v : $v->[0];
}

sub name        { my $self = shift; return $self->_get('name') }
sub description { my $self = shift; return $self->_get('description') }
sub seq_num     { return $_[0]{_seq_num} }
sub is_filtered { return $_[0]{_is_filtered} }
sub original_values { return $_[0]{_original_values} }

# Any other method name is a section accessor: undef when absent.
sub AUTOLOAD {
    my $self = shift;
    (my $section = $AUTOLOAD) =~ s/.*:://;
    return if $section eq 'DESTROY';
    return $self->_get($section);
}

sub can {
    my ($self, $method) = @_;
    my $code = $self->SUPER::can($method);
    return $code if $code || !ref $self;
    return exists $self->{$method} ? sub { $_[0]->_get($method) } : undef;
}

# Run the default, mapped and own filters of every section, in the order
# the sections appear.
sub run_filters {
    my ($self) = @_;
    Carp::croak('Attempt to filter a block twice') if $self->{_is_filtered};

    my $own = $self->{_section_filters} || {};
    for my $section (@{ $self->{_section_order} || [] }) {
        my @value = @{ $self->{$section} };
        $self->{_original_values}{$section} = $value[0];

        for my $filter ($self->_filter_list($section, $own->{$section})) {
            @value = Test::Nginx::Fallback::Filter::apply($self, $section,
                                                          $filter, @value);
            $self->set_value($section, @value);
        }
    }
    $self->{_is_filtered} = 1;
    return;
}

# Filter names for a section: defaults, then filters{} ones, then its own;
# "-name" removes an earlier one, "+name" appends after all others.
sub _filter_list {
    my ($self, $section, $string) = @_;
    $string = '' unless defined $string;
    $string =~ s/^\s+|\s+$//g;

    my $mapped = $Test::Nginx::Fallback::Data::FilterMap{$section} || [];
    $mapped = [$mapped] unless ref $mapped;

    my (@filters, @append);
    for my $f (@Test::Nginx::Fallback::Data::DefaultFilters, @$mapped,
               split /\s+/, $string)
    {
        last unless length $f;
        if ($f =~ s/^-//) {
            @filters = grep { $_ ne $f } @filters;
        } elsif ($f =~ s/^\+//) {
            push @append, $f;
        } else {
            push @filters, $f;
        }
    }
    return (@filters, @append);
}


# ---------------------------------------------------------------------
# Section filters. A filter takes the section's values and returns new
# ones; "name=arg" passes an argument. A sub of that name in package main
# wins over the built-in one, as with Test::Base.

package Test::Nginx::Fallback::Filter;

use strict;
use warnings;

# Argument of the filter being run ("join=," gives ",").
our $arguments;

my %Builtin = (
    norm => sub {
        my $t = join '', map { defined $_ ? $_ : '' } @_;
        $t =~ s/\015\012/\n/g;
        $t =~ s/\r/\n/g;
        return $t;
    },
    trim => sub {
        return map {
            my $v = $_;
            if (defined $v) {
                $v =~ s/\A([ \t]*\n)+//;
                $v =~ s/(?<=\n)\s*\z//g;
            }
            $v;
        } @_;
    },
    chomp   => sub { return map { my $v = $_; chomp $v; $v } @_ },
    chop    => sub { return map { my $v = $_; chop $v; $v } @_ },
    unchomp => sub { return map { $_ . "\n" } @_ },
    lines   => sub {
        my $t = join '', @_;
        return () unless length $t;
        return ($t =~ /^(.*\n?)/gm);
    },
    array   => sub { return [@_] },
    join    => sub { return join(defined $arguments ? $arguments : '', @_) },
    append  => sub { my $s = $arguments // ''; return map { $_ . $s } @_ },
    prepend => sub { my $s = $arguments // ''; return map { $s . $_ } @_ },
    reverse => sub { return reverse @_ },
    base64_decode => sub {
        require MIME::Base64;
        return MIME::Base64::decode_base64(join '', @_);
    },
    base64_encode => sub {
        require MIME::Base64;
        return MIME::Base64::encode_base64(join '', @_);
    },
    escape => sub {
        my $t = join '', @_;
        $t =~ s/(\\.)/eval "qq{$1}"/ge;
        return $t;
    },
    regexp => sub {
        my $text = join '', @_;
        my $flags = $arguments;
        if ($text =~ /\n.*?\n/s) {
            $flags = 'xism' unless defined $flags;
        } else {
            chomp $text;
        }
        $flags = '' unless defined $flags;
        my $re = eval "qr{$text}$flags";
        die "regexp filter: $@" if $@;
        return $re;
    },
    eval => sub {
        my $code = join '', @_;
        my @r = Test::Nginx::Fallback::Filter::_eval_code($code);
        die "eval filter failed: $@" if $@;
        return @r;
    },
);

# Evaluate section text as Perl the way Test::Base does: strict, in its
# filter package, so the suite's own subs need their package name
# (Test::Nginx::Socket::server_port(), main::helper()) exactly as with
# the real module.
sub _eval_code {
    my $code = shift;
    package Test::Base::Filter;
    use strict;
    use warnings;
    return eval $code;    ## no critic (ProhibitStringyEval)
}

sub apply {
    my ($block, $section, $filter, @value) = @_;

    local $arguments = ($filter =~ s/=(.*)$//) ? $1 : undef;

    no strict 'refs';
    my $user = "main::$filter";
    if (defined &$user) {
        # User filters may munge $_ and return a number (Test::Base rule).
        local $_ = (@value == 1 && !defined $value[0]) ? undef
                                                      : join '', @value;
        my $old = $_;
        my @out = &$user(@value);
        if (!@out
            || (@out == 1 && defined $out[0] && $out[0] =~ /\A(\d+|)\z/))
        {
            @out = ($_);
        }
        return @out;
    }

    my $code = $Builtin{$filter}
        or die "Can't find a function or method for '$filter' filter "
             . "(section '$section')\n";
    my @out = eval { $code->(@value) };
    if ($@) {
        my $name = $block->name // '?';
        die "$name - section '$section', filter '$filter': $@";
    }
    return @out;
}

1;
