#!/bin/sh
# Benchmark: what the edge checks cost.  Enqueue throughput of one
# taskgw_enqueue location without any check against the same location
# behind taskgw_allow + taskgw_auth, with a token from the token file and
# with a run-time token (served from the shared cache), measured in one
# run on one nginx, the runs interleaved so load from elsewhere hits both.
# TASKGW_BENCH_EDGE_EXTRA adds directives to the guarded locations (for
# instance a taskgw_limit far above the load).  Needs wrk.
#
#   sh scripts/bench-edge.sh [seconds] [connections] [rounds]
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
SECS=${1:-5}
CONNS=${2:-32}
ROUNDS=${3:-3}
EXTRA=${TASKGW_BENCH_EDGE_EXTRA:-}
NTOKENS=${TASKGW_BENCH_TOKENS:-50}

command -v wrk >/dev/null 2>&1 || { echo "bench: needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -f build/ngx_http_taskgw_module.so ] || { echo "bench: run make first" >&2; exit 1; }
[ -x build/taskgwctl ] || { echo "bench: run make first" >&2; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/taskgw-bench.XXXXXX")
mkdir -p "$DIR/logs" "$DIR/conf"
REDIS_PORT=$(perl scripts/free-port.pl)
HTTP_PORT=$(perl scripts/free-port.pl)
REDIS_PID=

cleanup() {
    /usr/sbin/nginx -p "$DIR/" -c conf/nginx.conf -s stop 2>/dev/null
    [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$DIR" --logfile "$DIR/logs/redis.log" &
REDIS_PID=$!

i=0
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "bench: redis did not start" >&2; exit 1; }
    sleep 0.05
done

# the static token is the last of NTOKENS in the file
STATIC=bench-static-token-0123456789abcdefghijklmnopq
: > "$DIR/conf/tokens"
n=1
while [ $n -lt "$NTOKENS" ]; do
    printf 'filler-%d dev sha256:%s\n' $n \
        "$(printf 'filler %d' $n | sha256sum | cut -d' ' -f1)" >> "$DIR/conf/tokens"
    n=$((n + 1))
done
printf '%s\n' "$STATIC" | build/taskgwctl token hash bench dev >> "$DIR/conf/tokens"
RUNTIME=$(build/taskgwctl -r "127.0.0.1:$REDIS_PORT" token create rt dev 2>/dev/null)

cat > "$DIR/conf/nginx.conf" <<CONF
load_module $ROOT/build/ngx_http_taskgw_module.so;
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $DIR/body;
    taskgw_redis 127.0.0.1:$REDIS_PORT;
    taskgw_tokens tokens;
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl 10m;
    server {
        listen 127.0.0.1:$HTTP_PORT;
        location /plain { taskgw_enqueue queue=bench; }
        location /static {
            taskgw_allow 10.0.0.0/8;
            taskgw_allow 127.0.0.0/8;
            taskgw_auth dev;
            $EXTRA
            taskgw_enqueue queue=bench;
        }
        location /runtime {
            taskgw_allow 10.0.0.0/8;
            taskgw_allow 127.0.0.0/8;
            taskgw_auth dev;
            $EXTRA
            taskgw_enqueue queue=bench;
        }
    }
}
CONF

/usr/sbin/nginx -p "$DIR/" -c conf/nginx.conf || exit 1
sleep 0.3

cat > "$DIR/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body   = '{"report":"monthly","rows":1000}'
wrk.headers["Content-Type"] = "application/json"
LUA

WORKER=$(pgrep -P "$(cat "$DIR/logs/nginx.pid")" | head -1)

# CPU time of the nginx worker (clock ticks, user + system)
ticks() { awk '{ print $14 + $15 }' "/proc/$WORKER/stat"; }

# one wrk run: prints "<req/s> <nginx worker CPU microseconds per request>"
run() {
    t0=$(ticks)
    out=$(wrk -t 1 -c "$CONNS" -d "${SECS}s" -s "$DIR/post.lua" ${2:+-H "X-API-Token: $2"} \
          "http://127.0.0.1:$HTTP_PORT$1" 2>&1)
    t1=$(ticks)
    echo "$out" | awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" '
        /requests in/ { n = $1 }
        /Requests\/sec/ { rps = $2 }
        /Non-2xx/ { bad = $NF }
        END {
            if (bad) print "bench: non-2xx " bad > "/dev/stderr"
            printf "%s %.2f\n", rps, n ? t * 1e6 / hz / n : 0
        }'
}

run /plain >/dev/null
run /static "$STATIC" >/dev/null
run /runtime "$RUNTIME" >/dev/null

# Throughput on this box moves with whatever else runs on it; the nginx
# worker's CPU time per request does much less, so both are shown.  Each
# round measures the three locations one after the other.
P=; S=; R=; PC=; SC=; RC=
r=0
while [ $r -lt "$ROUNDS" ]; do
    set -- $(run /plain);               P="$P $1"; PC="$PC $2"
    set -- $(run /static "$STATIC");    S="$S $1"; SC="$SC $2"
    set -- $(run /runtime "$RUNTIME");  R="$R $1"; RC="$RC $2"
    r=$((r + 1))
done

med() { echo "$@" | tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
cost() { echo "$1 $2" | awk '{ printf "%+.1f%%", ($1 / $2 - 1) * 100 }'; }
lower() { echo "$1 $2" | awk '{ printf "%.1f%%", (1 - $2 / $1) * 100 }'; }

echo "one nginx worker, $CONNS connections, $ROUNDS rounds of ${SECS}s per location"
printf '%-34s %10s %14s\n' "" "req/s" "CPU us/req"
printf '%-34s %10s %14s\n' "no checks" "$(med $P)" "$(med $PC)"
printf '%-34s %10s %14s\n' "allow + auth, token file ($NTOKENS)" "$(med $S)" "$(med $SC)"
printf '%-34s %10s %14s\n' "allow + auth, run-time (cached)" "$(med $R)" "$(med $RC)"
echo "(medians; runs req/s: plain$P / static$S / runtime$R)"
echo "(runs CPU us/req: plain$PC / static$SC / runtime$RC)"
[ -n "$EXTRA" ] && echo "guarded locations also had: $EXTRA"
echo "edge cost, token file: throughput $(lower "$(med $P)" "$(med $S)") lower, nginx CPU per request $(cost "$(med $SC)" "$(med $PC)")"
echo "edge cost, run-time:   throughput $(lower "$(med $P)" "$(med $R)") lower, nginx CPU per request $(cost "$(med $RC)" "$(med $PC)")"
