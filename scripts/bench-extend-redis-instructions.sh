#!/bin/sh
# What one round of the claim extension costs Redis, in instructions
# (valgrind's callgrind), with T tasks held (64 unless given): the round
# as the worker sends it now (extend.lua: one EVALSHA naming the T
# entries, re-claiming those still pending under the worker's name)
# against the round it sent before (T pipelined XCLAIM ... 0 ... JUSTID).
# redis-server runs under callgrind; T entries are pending under the
# consumer; then N rounds (200 unless given), and on a new Redis 2N: the
# per-round figure is the difference over N, so Redis's start, stop and
# the set-up are left out.  The rounds go through redis-cli --pipe.
#
#   sh scripts/bench-extend-redis-instructions.sh [N] [T]
#
# BENCH_REDIS_SERVER: the redis-server to measure (the one on PATH)
set -u
cd "$(dirname "$0")/.." || exit 1
N=${1:-200}
T=${2:-64}
SERVER=${BENCH_REDIS_SERVER:-redis-server}

command -v valgrind >/dev/null 2>&1 || { echo "bench: needs valgrind" >&2; exit 1; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/taskgw-bench-extend-ir.XXXXXX")
REDIS_PORT=$(perl scripts/free-port.pl)
REDIS_PID=
BENCH_PID=
# the cleanup at exit (Redis, $DIR) is bench-lib.sh's
. scripts/bench-lib.sh
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# the script as Redis gets it from the worker: tgw_lua_extend of
# worker/common/tgw_lua.h (scripts/lua2h.sh made it from extend.lua, with
# lib/pending.lua spliced in and the comments dropped), so the text and
# its SHA1 are the worker's
cat > "$DIR/dump.c" <<'C'
#include <stdio.h>
#include "tgw_lua.h"
int main(void) { return fputs(tgw_lua_extend, stdout) < 0; }
C
${CC:-cc} -Iworker/common -o "$DIR/dump" "$DIR/dump.c" \
    && "$DIR/dump" > "$DIR/extend.lua" \
    || { echo "bench: cannot read extend.lua from tgw_lua.h" >&2; exit 1; }
SHA=$(sha1sum "$DIR/extend.lua" | cut -d' ' -f1)

# writes the protocol of n rounds of kind (old, new) over the entries
cat > "$DIR/rounds.pl" <<'PERL'
my ($kind, $n, $sha, $file) = @ARGV;
open my $fh, '<', $file or die;
chomp(my @e = <$fh>);
my $s = 'taskgw:q:bench:normal';
sub cmd { my $o = '*' . @_ . "\r\n"; $o .= '$' . length($_) . "\r\n$_\r\n" for @_; $o }
my $round = $kind eq 'old'
    ? join('', map { cmd('XCLAIM', $s, 'workers', 'w1', '0', $_, 'JUSTID') } @e)
    : cmd('EVALSHA', $sha, '0', 'workers', 'w1', map { ($s, $_) } @e);
binmode STDOUT;
print $round for 1 .. $n;
PERL

# instructions of one Redis run doing n rounds of kind
measure() {
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --callgrind-out-file="$DIR/cg.out" \
        "$SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$DIR" --logfile "$DIR/redis.log" \
        >/dev/null 2>"$DIR/vg.log" &
    REDIS_PID=$!
    i=0
    until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 300 ] && { echo "bench: redis did not start" >&2; exit 1; }
        sleep 0.1
    done
    c="redis-cli -p $REDIS_PORT"
    $c xgroup create taskgw:q:bench:normal workers 0 mkstream >/dev/null
    i=0
    while [ $i -lt "$T" ]; do
        $c xadd taskgw:q:bench:normal '*' id "t$i" >/dev/null
        i=$((i + 1))
    done
    $c --raw xreadgroup group workers w1 count "$T" streams \
        taskgw:q:bench:normal '>' | grep -E '^[0-9]+-[0-9]+$' > "$DIR/entries"
    $c -x script load < "$DIR/extend.lua" >/dev/null
    perl "$DIR/rounds.pl" "$1" "$2" "$SHA" "$DIR/entries" \
        | $c --pipe > "$DIR/pipe.log" 2>&1
    grep -q 'errors: 0,' "$DIR/pipe.log" \
        || { echo "bench: errors in the rounds" >&2; cat "$DIR/pipe.log" >&2; }
    OWNER=$($c --raw xpending taskgw:q:bench:normal workers | sed -n '4p;5p' \
        | paste -sd' ')
    kill "$REDIS_PID"
    wait "$REDIS_PID"; REDIS_PID=
    awk '/^(summary|totals):/ { print $2; exit }' "$DIR/cg.out" > "$DIR/ir"
}

measure old "$N";          O1=$(cat "$DIR/ir")
measure old $((N * 2));    O2=$(cat "$DIR/ir")
measure new "$N";          E1=$(cat "$DIR/ir")
measure new $((N * 2));    E2=$(cat "$DIR/ir"); HELD=$OWNER

echo "redis-server instructions per claim-extension round, $T entries held (callgrind, $N and $((N * 2)) rounds):"
echo "$O1 $O2 $N $T" | awk '{ d = ($2 - $1) / $3
    printf "  %d pipelined XCLAIMs (before): %9.0f  (%.0f per entry)\n", $4, d, d / $4 }'
echo "$E1 $E2 $N $T" | awk '{ d = ($2 - $1) / $3
    printf "  extend.lua, one EVALSHA:      %9.0f  (%.0f per entry)\n", d, d / $4 }'
echo "$O1 $O2 $E1 $E2" | awk '{ printf "  ratio script / XCLAIMs:        %9.2f\n", ($4 - $3) / ($2 - $1) }'
echo "after the script rounds, pending under (consumer count): $HELD"
