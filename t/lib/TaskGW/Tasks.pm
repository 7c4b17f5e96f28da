package TaskGW::Tasks;

# Tasks written straight into a stack's Redis, as the module stores them
# (hash + stream entry), for worker tests that need no nginx, and the
# small scripts those tests run as exec handlers.
#
#   my $t = TaskGW::Tasks->new($s);          # $s: a TaskGW::Stack
#   my $id = $t->enqueue('system.ping', payload => '{"ms":100}');
#   $t->status($id); $t->field($id, 'error'); $t->hash($id);
#   my $path = $t->script('name', "echo hi\n");   # #!/bin/sh, executable
#   my $ex = $t->overlap_script('ex', 2);    # notes two live runs of a task
#   is_deeply($t->overlaps, [], 'no overlap');

use strict;
use warnings;

use Time::HiRes qw(time);

sub new {
    my ($class, $s) = @_;
    return bless { s => $s, r => $s->redis, seq => 0,
                   prefix => $s->prefix }, $class;
}

sub redis { $_[0]{r} }

# A unique task id per test run (UUIDv7-shaped).
sub uuid {
    my ($self) = @_;
    return sprintf '01900000-%04x-7000-8000-%012d', $$ & 0xffff,
                   ++$self->{seq};
}

# Writes only the task hash; %f overrides or adds fields, a field given
# as undef is left out.
sub task_hash {
    my ($self, $id, %f) = @_;
    my %h = (id => $id, queue => 'default', type => 'system.ping',
             priority => 'normal', status => 'queued', payload => '',
             owner => 'e2e', created_at => int(time * 1000),
             attempts => 0, %f);
    delete $h{$_} for grep { !defined $h{$_} } keys %h;
    $self->{r}->cmd('HSET', "$self->{prefix}:task:$id", %h);
}

# Hash + entry in {prefix}:q:<queue>:<priority>; returns the task id.
# stream => KEY puts the entry in another stream than the hash names.
sub enqueue {
    my ($self, $type, %f) = @_;
    my $id = delete $f{id} // $self->uuid;
    my $stream = delete $f{stream};
    $self->task_hash($id, type => $type, %f);
    my $q = $f{queue} // 'default';
    my $p = $f{priority} // 'normal';
    $stream //= "$self->{prefix}:q:$q:$p";
    $self->{r}->cmd('XADD', $stream, '*', id => $id);
    return $id;
}

sub hash   { $_[0]{r}->hgetall("$_[0]{prefix}:task:$_[1]") }
sub field  { $_[0]{r}->cmd('HGET', "$_[0]{prefix}:task:$_[1]", $_[2]) }
sub status { $_[0]->field($_[1], 'status') // '' }

my %TERMINAL = map { $_ => 1 } qw(succeeded dead cancelled);

sub terminal { $TERMINAL{ $_[0]->status($_[1]) } }

# An executable /bin/sh script in the stack's directory.
sub script {
    my ($self, $name, $text) = @_;
    my $path = $self->{s}->dir . "/$name.sh";
    open my $fh, '>', $path or die "$path: $!";
    print $fh "#!/bin/sh\n$text";
    close $fh or die "$path: $!";
    chmod 0755, $path;
    return $path;
}

# An exec program (script()'s "gated") that runs until the file "go"
# exists in the run's directory, reads its payload and answers
# {"ok":true}, or exits 1 when its task id is the one in the file "fail".
sub gated_script {
    my ($self) = @_;
    my $dir = $self->{s}->dir;
    return $self->script('gated', <<"EOS");
while [ ! -e $dir/go ]; do sleep 0.02; done
cat > /dev/null
[ "\$TASKGW_TASK_ID" = "\$(cat $dir/fail 2>/dev/null)" ] && exit 1
echo '{"ok":true}'
EOS
}

# An exec program (script()'s NAME) that notes a live earlier run of its
# own task (the pid in its lock file, locks/<task id> in the run's
# directory, still runs) as a line "<task id> <earlier pid> <own pid>" of
# the file "overlaps", appends its pid to the file "pids", runs SECS
# seconds and answers "ok".  What a worker held up or killed leaves
# running shows there when another worker runs the task again.
sub overlap_script {
    my ($self, $name, $secs) = @_;
    my $dir = $self->{s}->dir;
    mkdir "$dir/locks";
    return $self->script($name, <<"EOS");
L=$dir/locks/\$TASKGW_TASK_ID
if [ -s \$L ]; then
    p=\$(cat \$L)
    if [ -e /proc/\$p ] && ! grep -q '^State:.*[ZX]' /proc/\$p/status; then
        echo "\$TASKGW_TASK_ID \$p \$\$" >> $dir/overlaps
    fi
fi
echo \$\$ > \$L
echo \$\$ >> $dir/pids
sleep $secs
rm -f \$L
echo '"ok"'
EOS
}

# The lines overlap_script()'s programs wrote into "overlaps" (a list
# ref; empty when no run found an earlier one alive).
sub overlaps {
    my ($self) = @_;
    open my $fh, '<', $self->{s}->dir . '/overlaps' or return [];
    return [ <$fh> ];
}

# Entries left in every queue stream, pending in its group, and in the
# scheduled set: (streams, pending, scheduled) counts.
sub leftovers {
    my ($self) = @_;
    my $r = $self->{r};
    my ($len, $pend) = (0, 0);
    for my $k (@{ $r->cmd('KEYS', "$self->{prefix}:q:*") // [] }) {
        next unless ($r->cmd('TYPE', $k) // '') eq 'stream';
        $len += $r->cmd('XLEN', $k);
        my $groups = $r->cmd('XINFO', 'GROUPS', $k);
        next unless ref $groups eq 'ARRAY';
        for my $g (@$groups) {
            my %g = @$g;
            $pend += $g{pending} // 0;
        }
    }
    my $sched = $r->cmd('ZCARD', "$self->{prefix}:scheduled");
    return ($len, $pend, ref $sched ? 0 : $sched);
}

1;
