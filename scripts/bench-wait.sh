#!/bin/sh
# Benchmark: what taskgw_redis_wait costs.  A primary and one replica on
# loopback; one nginx worker with two enqueue locations, one plain and one
# under "taskgw_redis_wait replicas=1 timeout=1s"; each measured 3 times,
# interleaved, with the same wrk load.  Prints the medians, their ratio,
# and how many enqueues one WAIT covered (group commit).  Needs wrk.
#
#   sh scripts/bench-wait.sh [seconds] [connections]
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
SECS=${1:-5}
CONNS=${2:-32}

command -v wrk >/dev/null 2>&1 || { echo "bench: needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -f build/ngx_http_taskgw_module.so ] || { echo "bench: run make first" >&2; exit 1; }

. scripts/bench-lib.sh
bench_start bench-wait

# the replica, stopped by the EXIT trap with the rest
redis-cli -p "$REDIS_PORT" config set repl-diskless-sync-delay 0 >/dev/null
REPLICA_PORT=$(perl scripts/free-port.pl)
redis-server --port "$REPLICA_PORT" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$DIR" --logfile "$DIR/logs/replica.log" \
    --replicaof 127.0.0.1 "$REDIS_PORT" &
BENCH_PID=$!
i=0
until redis-cli -p "$REDIS_PORT" info replication | grep -q 'state=online'; do
    i=$((i + 1))
    [ $i -gt 200 ] && { echo "bench: the replica did not sync" >&2; exit 1; }
    sleep 0.05
done

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
        location /tasks  { taskgw_enqueue queue=bench; }
        location /waited { taskgw_enqueue queue=bench;
                           taskgw_redis_wait replicas=1 timeout=1s; }
    }
}
CONF

bench_nginx
bench_wrk_post

waits() {
    redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' \
        | awk -F'[:=,]' '/^cmdstat_wait:/ { print $3 }'
}

bench_rate /tasks >/dev/null
bench_rate /waited >/dev/null

P1=$(bench_rate /tasks);  W0=$(waits); s0=$(redis-cli -p "$REDIS_PORT" xlen taskgw:q:bench:normal)
W1=$(bench_rate /waited); w1=$(waits); s1=$(redis-cli -p "$REDIS_PORT" xlen taskgw:q:bench:normal)
P2=$(bench_rate /tasks)
W2=$(bench_rate /waited)
P3=$(bench_rate /tasks)
W3=$(bench_rate /waited)

PLAIN=$(bench_median "$P1" "$P2" "$P3")
WAITED=$(bench_median "$W1" "$W2" "$W3")

echo "one nginx worker, $CONNS connections, ${SECS}s each, 3 runs each (median)"
echo "plain enqueue: $PLAIN req/s ($P1 $P2 $P3)"
echo "taskgw_redis_wait replicas=1 (1 replica): $WAITED req/s ($W1 $W2 $W3)"
echo "ratio waited/plain: $(echo "$WAITED $PLAIN" | awk '{ printf "%.3f", $1 / $2 }')"
echo "enqueues per WAIT (first waited run): $(echo "$s0 $s1 ${W0:-0} $w1" \
    | awk '{ printf "%.1f", ($2 - $1) / ($4 - $3) }')"
echo "load: $(uptime)"
