#!/bin/sh
# What the edge checks cost, counted in instructions of the nginx worker
# (valgrind's callgrind), which unlike req/s does not move with other load
# on the machine.  nginx runs in one process under callgrind; a client
# sends N enqueues over one keep-alive connection to a location without
# checks, and in another run 2N: the difference is N requests without the
# start-up, nor anything done once on first use (OpenSSL's random
# generator, a digest's implementation).  The same for every location:
# then N to the same location behind taskgw_allow + taskgw_auth with a
# token of the file, N with a run-time token (cached), and N behind
# taskgw_allow + taskgw_auth + taskgw_limit (a limit far above the load)
# with the token of the file: the edge checks as a whole.  As the client
# sending a token header costs nginx its parsing, and the token's name is
# stored as the task's owner, the location without checks is measured a
# second time with the same token header: that difference is what the
# checks themselves cost.  Redis is not counted.  Needs valgrind.
# TASKGW_BENCH_MODULE: another build of the module (to compare two);
# TASKGW_BENCH_CG: a directory where the callgrind profiles are kept
# (plain.out, static.out, runtime.out, edge.out, plain-token.out, and the
# runs of 2N as *-2n.out: the difference of the two is N requests) for
# callgrind_annotate.
#
#   sh scripts/bench-edge-instructions.sh [N]
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
N=${1:-3000}

command -v valgrind >/dev/null 2>&1 || { echo "bench: needs valgrind" >&2; exit 1; }
MODULE=${TASKGW_BENCH_MODULE:-$ROOT/build/ngx_http_taskgw_module.so}
KEEP=${TASKGW_BENCH_CG:-}
[ -f "$MODULE" ] && [ -x build/taskgwctl ] \
    || { echo "bench: run make first" >&2; exit 1; }

. scripts/bench-lib.sh
bench_start bench-ir
bench_tokens

cat > "$DIR/conf/nginx.conf" <<CONF
load_module $MODULE;
master_process off;
daemon off;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $DIR/body;
    taskgw_redis 127.0.0.1:$REDIS_PORT;
    taskgw_tokens tokens;
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl 10m;
    taskgw_limit_zone zone=bench:10m rate=1000000r/s burst=1000000;
    server {
        listen 127.0.0.1:$HTTP_PORT;
        location /plain { taskgw_enqueue queue=bench; }
        location /static {
            taskgw_allow 10.0.0.0/8;
            taskgw_allow 127.0.0.0/8;
            taskgw_auth dev;
            taskgw_enqueue queue=bench;
        }
        location /runtime {
            taskgw_allow 10.0.0.0/8;
            taskgw_allow 127.0.0.0/8;
            taskgw_auth dev;
            taskgw_enqueue queue=bench;
        }
        location /edge {
            taskgw_allow 10.0.0.0/8;
            taskgw_allow 127.0.0.0/8;
            taskgw_auth dev;
            taskgw_limit zone=bench;
            taskgw_enqueue queue=bench;
        }
    }
}
CONF

cat > "$DIR/client.pl" <<'PERL'
use strict;
use IO::Socket::INET;
my ($port, $path, $n, $tok) = @ARGV;
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "$!\n";
my $body = '{"report":"monthly","rows":1000}';
my $h = $tok ? "X-API-Token: $tok\r\n" : '';
my $ok = 0;
for (1 .. $n) {
    print $s "POST $path HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           . "${h}Content-Length: " . length($body) . "\r\n\r\n$body";
    my $r = '';
    sysread($s, $r, 4096, length $r) or die "eof\n" until $r =~ /\r\n\r\n/;
    my ($head, $rest) = split /\r\n\r\n/, $r, 2;
    my ($cl) = $head =~ /Content-Length: (\d+)/i;
    sysread($s, $rest, 4096, length $rest) or die "eof\n" while length($rest) < $cl;
    $ok++ if $head =~ m{^HTTP/1\.1 202};
}
print "$ok\n";
PERL

# instructions of one nginx run serving n requests to path [token] [name]
measure() {
    valgrind --tool=callgrind --callgrind-out-file="$DIR/cg.out" \
        /usr/sbin/nginx -p "$DIR/" -c conf/nginx.conf >/dev/null 2>"$DIR/vg.log" &
    BENCH_PID=$!
    i=0
    until curl -s -o /dev/null -X POST -d x "http://127.0.0.1:$HTTP_PORT/plain"; do
        i=$((i + 1)); [ $i -gt 200 ] && { echo "bench: nginx did not start" >&2; exit 1; }
        sleep 0.2
    done
    ok=$(perl "$DIR/client.pl" "$HTTP_PORT" "$1" "$2" "${3:-}")
    [ "$ok" = "$2" ] || echo "bench: only $ok of $2 answered 202" >&2
    # on a loaded machine a TERM can go unheeded: send it again until the
    # process exits (callgrind writes its profile at exit)
    i=0
    while kill -TERM "$BENCH_PID" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt 120 ] && { kill -KILL "$BENCH_PID"; echo "bench: nginx did not stop" >&2; exit 1; }
        sleep 0.5
    done
    wait "$BENCH_PID"; BENCH_PID=
    awk '/^(summary|totals):/ { print $2; exit }' "$DIR/cg.out" > "$DIR/ir"
    [ -n "$KEEP" ] && [ -n "${4:-}" ] && cp "$DIR/cg.out" "$KEEP/$4.out"
    return 0
}

[ -n "$KEEP" ] && mkdir -p "$KEEP"

# instructions of N requests to path [token], without start-up
twice() {
    measure "$1" "$N" "${2:-}" "${3:-}";      a=$(cat "$DIR/ir")
    measure "$1" $((N * 2)) "${2:-}" "${3:+$3-2n}"; b=$(cat "$DIR/ir")
    echo $((b - a))
}

P=$(twice /plain "" plain)
S=$(twice /static "$STATIC" static)
R=$(twice /runtime "$RUNTIME" runtime)
E=$(twice /edge "$STATIC" edge)
T=$(twice /plain "$STATIC" plain-token)

echo "nginx worker instructions per enqueue (callgrind, $N requests each):"
echo "$P $S $R $E $T $N" | awk '{
    p = $1 / $6; s = $2 / $6; r = $3 / $6; e = $4 / $6; t = $5 / $6
    printf "  no checks:                               %8.0f\n", p
    printf "  allow + auth, token file (50):          +%8.0f  (%+.1f%%)\n", s - p, (s - p) / p * 100
    printf "  allow + auth, run-time (cached):        +%8.0f  (%+.1f%%)\n", r - p, (r - p) / p * 100
    printf "  allow + auth + limit, token file (50):  +%8.0f  (%+.1f%%)\n", e - p, (e - p) / p * 100
    printf "  no checks, the same token header sent:  +%8.0f  (%+.1f%%)\n", t - p, (t - p) / p * 100
    printf "  allow + auth + limit against that:      +%8.0f  (%+.1f%%)\n", e - t, (e - t) / t * 100
}'
echo "(valgrind runs OpenSSL without SHA-NI: SHA-256 counts more than natively)"
