#!/bin/sh
# What one enqueue costs the nginx worker, in instructions (valgrind's
# callgrind), which unlike req/s does not move with other load on the
# machine.  nginx runs in one process under callgrind; a client sends N
# enqueues of a 200-byte JSON body over one keep-alive connection (or
# BENCH_CONC at once over as many), then 2N in a second run, so that the
# per-request figure excludes start-up.
# Next to it, the same for a location answering `return 202`.  With
# BENCH_TOP=n the n functions (inclusive of what they call) that cost the
# most in the 2N run are listed.  Redis is not counted.  Needs valgrind.
#
#   sh scripts/bench-enqueue-instructions.sh [N]
#
# BENCH_MODULE: the taskgw module to load (build/ngx_http_taskgw_module.so)
# BENCH_CGOUT: where to keep the 2N-enqueue run's callgrind output (for
# callgrind_annotate), else it goes with the run's directory
# BENCH_CONC: requests sent at once, one on each of this many keep-alive
# connections, before their replies are read (1).  With more than one the
# enqueues of a turn share the link's writes and its MULTI/EXEC, as under
# wrk's load; with one, each enqueue is a batch of its own.
# BENCH_LOCATION=1: the server also has a taskgw_status location, so that
# each 202 carries a Location header (as with conf/nginx.conf); the return
# 202 location is in the same server but has none.
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
N=${1:-3000}
MODULE=${BENCH_MODULE:-$ROOT/build/ngx_http_taskgw_module.so}
CGOUT=${BENCH_CGOUT:-}
TOP=${BENCH_TOP:-0}
CONC=${BENCH_CONC:-1}
STATUS=
[ "${BENCH_LOCATION:-0}" = 1 ] && STATUS='location /tasks/ { taskgw_status; }'

command -v valgrind >/dev/null 2>&1 || { echo "bench: needs valgrind" >&2; exit 1; }
[ -f "$MODULE" ] || { echo "bench: run make first" >&2; exit 1; }

. scripts/bench-lib.sh
bench_start bench-enq-ir

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
    server {
        listen 127.0.0.1:$HTTP_PORT;
        location /baseline {
            default_type application/json;
            return 202 '{"id":"00000000-0000-7000-8000-000000000000","status":"queued","queue":"bench","type":"bench","priority":"normal"}';
        }
        location /plain { taskgw_enqueue queue=bench; }
        $STATUS
    }
}
CONF

cat > "$DIR/client.pl" <<'PERL'
use strict;
use IO::Socket::INET;
my ($port, $path, $n, $conc) = @ARGV;
my @s = map { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
              or die "$!\n" } 1 .. $conc;
my $body = '{"report":"monthly","customer":"c-0042","rows":1000,"format":"csv",'
         . '"notify":["ops@example.com"],"filters":{"region":"eu-west",'
         . '"since":"2026-01-01"},"pad":"';
$body .= 'x' x (198 - length $body) . '"}';
my $req = "POST $path HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
my $ok = 0;
# conc requests at once, one on each connection, then their replies
for (my $i = 0; $i < $n; $i += $conc) {
    my @w = @s[0 .. ($n - $i < $conc ? $n - $i : $conc) - 1];
    print $_ $req for @w;
    for my $s (@w) {
        my $r = '';
        sysread($s, $r, 4096, length $r) or die "eof\n" until $r =~ /\r\n\r\n/;
        my ($head, $rest) = split /\r\n\r\n/, $r, 2;
        my ($cl) = $head =~ /Content-Length: (\d+)/i;
        sysread($s, $rest, 4096, length $rest) or die "eof\n" while length($rest) < $cl;
        $ok++ if $head =~ m{^HTTP/1\.1 202};
    }
}
print "$ok\n";
PERL

# A SIGTERM that reaches nginx while valgrind is busy is sometimes never
# acted on: it is sent again every 10 s until nginx has gone.
stop_nginx() {
    kill -TERM "$BENCH_PID"
    i=0
    # until it has exited (a zombie, not reaped yet, counts as gone)
    while ps -o stat= -p "$BENCH_PID" 2>/dev/null | grep -qv '^Z'; do
        i=$((i + 1))
        [ $((i % 50)) -eq 0 ] && kill -TERM "$BENCH_PID" 2>/dev/null
        sleep 0.2
    done
    wait "$BENCH_PID"; BENCH_PID=
}

# instructions of one nginx run serving n requests to path
measure() {
    valgrind --tool=callgrind --callgrind-out-file="$DIR/cg.out" \
        /usr/sbin/nginx -p "$DIR/" -c conf/nginx.conf >/dev/null 2>"$DIR/vg.log" &
    BENCH_PID=$!
    i=0
    until curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/baseline"; do
        i=$((i + 1)); [ $i -gt 200 ] && { echo "bench: nginx did not start" >&2; exit 1; }
        sleep 0.2
    done
    ok=$(perl "$DIR/client.pl" "$HTTP_PORT" "$1" "$2" "$CONC")
    [ "$ok" = "$2" ] || echo "bench: only $ok of $2 answered 202" >&2
    stop_nginx
    awk '/^(summary|totals):/ { print $2; exit }' "$DIR/cg.out" > "$DIR/ir"
}

measure /baseline "$N";         B1=$(cat "$DIR/ir")
measure /baseline $((N * 2));   B2=$(cat "$DIR/ir")
measure /plain "$N";            P1=$(cat "$DIR/ir")
measure /plain $((N * 2));      P2=$(cat "$DIR/ir")

[ -n "$CGOUT" ] && cp "$DIR/cg.out" "$CGOUT"

STORED=$(redis-cli -p "$REDIS_PORT" xlen taskgw:q:bench:normal)

echo "nginx worker instructions per request (callgrind, $N and $((N * 2)) requests, $CONC at once):"
echo "$B1 $B2 $P1 $P2 $N" | awk '{
    b = ($2 - $1) / $5; p = ($4 - $3) / $5
    printf "  return 202:  %8.0f\n", b
    printf "  enqueue:     %8.0f  (%.2f x return 202)\n", p, p / b
}'
echo "tasks stored: $STORED (of $((N * 3)) enqueues)"

if [ "$TOP" -gt 0 ]; then
    echo "most costly functions of the $((N * 2))-enqueue run, inclusive:"
    callgrind_annotate --inclusive=yes "$DIR/cg.out" 2>/dev/null \
        | grep -E '^ *[0-9,]+ ' | head -n "$TOP"
fi
