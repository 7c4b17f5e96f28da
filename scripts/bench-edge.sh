#!/bin/sh
# Benchmark: what the edge checks (allowlist, token, rate limit) cost an
# enqueue.  Two locations of one nginx, measured in the same run, in
# alternating rounds: /plain (taskgw_enqueue alone) and /edge (the same
# with taskgw_allow + taskgw_auth + taskgw_limit, the limit far above the
# load).  Prints both rates and their ratio.  Then fills a 10 MB
# taskgw_limit_zone with distinct keys and prints how many it held when it
# first had to evict one.  Needs wrk (apt-get install wrk).
#
#   sh scripts/bench-edge.sh [seconds] [connections] [rounds]
#
# Checks this build does not have yet are left out, and the output says
# which ones were measured.
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
SECS=${1:-5}
CONNS=${2:-32}
ROUNDS=${3:-3}
NGINX=${TEST_NGINX_BINARY:-/usr/sbin/nginx}

command -v wrk >/dev/null 2>&1 || { echo "bench: needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -f build/ngx_http_taskgw_module.so ] || { echo "bench: run make first" >&2; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/taskgw-bench.XXXXXX")
mkdir -p "$DIR/logs" "$DIR/conf" "$DIR/html"
echo ok > "$DIR/html/ok"
chmod 755 "$DIR"
REDIS_PORT=$(perl scripts/free-port.pl)
HTTP_PORT=$(perl scripts/free-port.pl)
REDIS_PID=

cleanup() {
    "$NGINX" -p "$DIR/" -c conf/nginx.conf -s stop 2>/dev/null
    [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$DIR" --logfile "$DIR/logs/redis.log" &
REDIS_PID=$!

TOKEN=tgw_bench_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG
DIGEST=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
echo "bench-client dev sha256:$DIGEST" > "$DIR/conf/tokens"

# conf CHECKS: CHECKS is a list of allow, auth, limit
conf() {
    allow= auth= tokens=
    case " $1 " in *" allow "*) allow='taskgw_allow 127.0.0.0/8;' ;; esac
    case " $1 " in *" auth "*) auth='taskgw_auth dev;'
                               tokens="taskgw_tokens $DIR/conf/tokens;" ;; esac
    cat > "$DIR/conf/nginx.conf" <<CONF
load_module $ROOT/build/ngx_http_taskgw_module.so;
worker_processes 1;
error_log logs/error.log notice;
pid logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $DIR/body;
    taskgw_redis 127.0.0.1:$REDIS_PORT;
    $tokens
    taskgw_limit_zone zone=bench:10m rate=1000000r/s burst=1000000;
    taskgw_limit_zone zone=capacity:10m rate=1r/m;
    server {
        listen 127.0.0.1:$HTTP_PORT backlog=1024;
        location /plain { taskgw_enqueue queue=bench; }
        location /edge {
            $allow
            $auth
            taskgw_limit zone=bench;
            taskgw_enqueue queue=bench;
        }
        location /capacity {
            root $DIR/html;
            taskgw_limit zone=capacity key=\$arg_k;
            try_files /ok =404;
        }
    }
}
CONF
    "$NGINX" -t -q -p "$DIR/" -c conf/nginx.conf 2>/dev/null
}

CHECKS=
for c in "allow auth limit" "allow limit" "auth limit" "limit"; do
    if conf "$c"; then
        CHECKS=$c
        break
    fi
done
[ -n "$CHECKS" ] || { "$NGINX" -t -p "$DIR/" -c conf/nginx.conf; exit 1; }

sleep 0.3
"$NGINX" -p "$DIR/" -c conf/nginx.conf || exit 1
sleep 0.3

cat > "$DIR/post.lua" <<LUA
wrk.method = "POST"
wrk.body   = '{"report":"monthly","rows":1000}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA

rate() {
    wrk -t 1 -c "$CONNS" -d "${SECS}s" -s "$DIR/post.lua" \
        "http://127.0.0.1:$HTTP_PORT$1" 2>&1 \
        | awk '/Requests\/sec/ { print $2 } /Non-2xx/ { bad = $NF } END { if (bad) print "non-2xx " bad > "/dev/stderr" }'
}

# warm up both paths, then alternate, so that a busy machine weighs on both
rate /plain >/dev/null
rate /edge >/dev/null
PLAIN= EDGE=
i=0
while [ $i -lt "$ROUNDS" ]; do
    PLAIN="$PLAIN $(rate /plain)"
    EDGE="$EDGE $(rate /edge)"
    i=$((i + 1))
done

median() {
    echo "$@" | tr ' ' '\n' | grep . | sort -n \
        | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

P=$(median $PLAIN)
E=$(median $EDGE)

echo "one nginx worker, $CONNS connections, $ROUNDS rounds of ${SECS}s each, 33-byte JSON body"
echo "edge checks measured: $CHECKS"
echo "taskgw_enqueue alone:        $P req/s (rounds:$PLAIN)"
echo "with the edge checks:        $E req/s (rounds:$EDGE)"
echo "ratio edge/plain: $(echo "$E $P" | awk '{ printf "%.3f", $1 / $2 }')"
echo "tasks stored: $(redis-cli -p "$REDIS_PORT" xlen taskgw:q:bench:normal)"

# A 10 MB zone: distinct keys until it logs that it is full.
cat > "$DIR/keys.lua" <<'LUA'
local n = 0
init = function(args)
    n = tonumber(args[1])
end
request = function()
    n = n + 1
    return wrk.format("GET", "/capacity?k=" .. n)
end
LUA

i=0
while [ $i -lt 10 ]; do
    wrk -t 1 -c "$CONNS" -d 5s -s "$DIR/keys.lua" \
        "http://127.0.0.1:$HTTP_PORT/" -- "${i}0000000" >/dev/null 2>&1
    
    KEYS=$(sed -n 's/.*taskgw zone "capacity" is full with \([0-9]*\) keys.*/\1/p' \
           "$DIR/logs/error.log")
    [ -n "$KEYS" ] && break
    i=$((i + 1))
done
echo "a 10 MB taskgw_limit_zone holds ${KEYS:-more than the keys sent} keys (of up to 64 bytes) before it evicts"
grep -E '\[(alert|crit|emerg)\]' "$DIR/logs/error.log" >&2
exit 0
