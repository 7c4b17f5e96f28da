#!/bin/sh
# Benchmark: enqueue throughput of taskgw_enqueue against a baseline
# measured in the same run on the same nginx: a location that answers 202
# with a fixed JSON body and stores nothing.  Prints both rates and their
# ratio.  Needs wrk (apt-get install wrk).
#
#   sh scripts/bench-enqueue.sh [seconds] [connections]
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
SECS=${1:-5}
CONNS=${2:-32}

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

sleep 0.3
/usr/sbin/nginx -p "$DIR/" -c conf/nginx.conf || exit 1
sleep 0.3

cat > "$DIR/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body   = '{"report":"monthly","rows":1000}'
wrk.headers["Content-Type"] = "application/json"
LUA

rate() {
    wrk -t 1 -c "$CONNS" -d "${SECS}s" -s "$DIR/post.lua" \
        "http://127.0.0.1:$HTTP_PORT$1" 2>&1 \
        | awk '/Requests\/sec/ { print $2 } /Non-2xx/ { bad = $NF } END { if (bad) print "non-2xx " bad > "/dev/stderr" }'
}

# warm up both paths, then measure
rate /baseline >/dev/null
rate /tasks >/dev/null
BASE=$(rate /baseline)
ENQ=$(rate /tasks)

echo "one nginx worker, $CONNS connections, ${SECS}s each, 33-byte JSON body"
echo "baseline (return 202, nothing stored): $BASE req/s"
echo "taskgw_enqueue (MULTI/HSET/EVALSHA/EXEC): $ENQ req/s"
echo "ratio enqueue/baseline: $(echo "$ENQ $BASE" | awk '{ printf "%.3f", $1 / $2 }')"
STORED=$(redis-cli -p "$REDIS_PORT" xlen taskgw:q:bench:normal)
echo "tasks stored: $STORED"
echo "bytes Redis received per task: $(redis-cli -p "$REDIS_PORT" info stats \
    | tr -d '\r' | awk -F: -v n="$STORED" \
      '/^total_net_input_bytes:/ { printf "%.0f", $2 / n }')"
