#!/bin/sh
# Benchmark: enqueue throughput of taskgw_enqueue against a baseline
# measured in the same run on the same nginx: a location that answers 202
# with a fixed JSON body and stores nothing.  Each path is measured ROUNDS
# times, the rounds interleaved so that load from elsewhere hits both;
# prints the medians, their ratio, the bytes Redis received and the tasks it stored per MULTI/EXEC,
# and the load average.  Needs wrk (apt-get install wrk); for the other
# servers side by side, scripts/bench-gateway.sh.
#
#   sh scripts/bench-enqueue.sh [seconds] [connections] [rounds]
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
SECS=${1:-5}
CONNS=${2:-32}
ROUNDS=${3:-3}

command -v wrk >/dev/null 2>&1 || { echo "bench: needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -f build/ngx_http_taskgw_module.so ] || { echo "bench: run make first" >&2; exit 1; }

. scripts/bench-lib.sh
bench_start bench

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
    server {
        listen 127.0.0.1:$HTTP_PORT;
        location /baseline {
            default_type application/json;
            return 202 '{"id":"00000000-0000-7000-8000-000000000000","status":"queued","queue":"bench","type":"bench","priority":"normal"}';
        }
        location /tasks { taskgw_enqueue queue=bench; }
    }
}
CONF

bench_nginx
bench_wrk_post

stat() {
    redis-cli -p "$REDIS_PORT" info "$1" | tr -d '\r' | awk -F'[:=,]' "$2"
}

# warm up both paths, then measure (Redis's counters from here)
bench_rate /baseline >/dev/null
bench_rate /tasks >/dev/null
redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
S0=$(redis-cli -p "$REDIS_PORT" xlen taskgw:q:bench:normal)

BASES=
ENQS=
i=0
while [ $i -lt "$ROUNDS" ]; do
    BASES="$BASES $(bench_rate /baseline)"
    ENQS="$ENQS $(bench_rate /tasks)"
    i=$((i + 1))
done
# shellcheck disable=SC2086
BASE=$(bench_median $BASES)
# shellcheck disable=SC2086
ENQ=$(bench_median $ENQS)

STORED=$(( $(redis-cli -p "$REDIS_PORT" xlen taskgw:q:bench:normal) - S0 ))
BYTES=$(stat stats '/^total_net_input_bytes:/ { print $2 }')
EXECS=$(stat commandstats '/^cmdstat_exec:/ { print $3 }')

echo "one nginx worker, $CONNS connections, ${SECS}s each, $ROUNDS rounds (median), 32-byte JSON body"
echo "baseline (return 202, nothing stored): $BASE req/s ($BASES )"
echo "taskgw_enqueue (HSET and XADD, in a MULTI/EXEC shared by a turn's enqueues): $ENQ req/s ($ENQS )"
echo "ratio enqueue/baseline: $(echo "$ENQ $BASE" | awk '{ printf "%.3f", $1 / $2 }')"
echo "tasks stored: $STORED"
echo "bytes Redis received per task: $(echo "$BYTES $STORED" | awk '{ printf "%.0f", $1 / $2 }')"
echo "tasks per MULTI/EXEC: $(echo "$STORED ${EXECS:-0}" | awk '{ if ($2) printf "%.1f", $1 / $2; else print "-" }')"
echo "load: $(uptime)"
