#!/bin/sh
# Benchmark: what the edge checks (allowlist, token, rate limit) cost an
# enqueue.  Two locations of one nginx, measured in the same run, in pairs
# of runs in alternating order: /plain (taskgw_enqueue alone) and /edge
# (the same with taskgw_allow + taskgw_auth + taskgw_limit, the limit far
# above the load).  Prints both rates and the nginx worker's CPU time per
# request, per pair and as medians, and their ratios: on a machine busy
# with other work the CPU ratio is the one to trust.  Then fills a 10 MB
# taskgw_limit_zone with distinct keys and prints how many it held when it
# first had to evict one.  Needs wrk (apt-get install wrk).
#
#   sh scripts/bench-edge.sh [seconds] [connections] [pairs]
#
# Checks this build does not have yet are left out, and the output says
# which ones were measured; TASKGW_BENCH_CHECKS="limit" (or "allow auth",
# ...) measures the ones named.
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
SECS=${1:-5}
CONNS=${2:-32}
ROUNDS=${3:-5}
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
    allow= auth= tokens= limit=
    case " $1 " in *" limit "*) limit='taskgw_limit zone=bench;' ;; esac
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
            $limit
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

# TASKGW_BENCH_CHECKS="limit" (or "allow", "auth", ...) measures a subset
CHECKS=
for c in ${TASKGW_BENCH_CHECKS:+"$TASKGW_BENCH_CHECKS"} \
         "allow auth limit" "allow limit" "auth limit" "limit"; do
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

# cpu: clock ticks the nginx worker process has used so far
cpu() {
    awk '{ print $14 + $15 }' "/proc/$WORKER/stat"
}

# run PATH: "<req/s> <worker CPU microseconds per request>"
run() {
    c0=$(cpu)
    out=$(wrk -t 1 -c "$CONNS" -d "${SECS}s" -s "$DIR/post.lua" \
              "http://127.0.0.1:$HTTP_PORT$1" 2>&1)
    c1=$(cpu)
    echo "$out" | grep -q Non-2xx && echo "bench: $1: $(echo "$out" | grep Non-2xx)" >&2
    echo "$out" | awk -v ticks=$((c1 - c0)) -v hz="$HZ" '
        / requests in / { n = $1 }
        /Requests\/sec/ { rps = $2 }
        END { printf "%s %.2f\n", rps, n ? ticks * 1000000 / hz / n : 0 }'
}

median() {
    echo "$@" | tr ' ' '\n' | grep . | sort -n \
        | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

HZ=$(getconf CLK_TCK)
WORKER=$(ps -o pid= --ppid "$(cat "$DIR/logs/nginx.pid")" | head -1 | tr -d ' ')

# Warm up both paths, then measure in pairs, in alternating order, so
# that a busy machine weighs on both.  Throughput depends on what else
# the machine runs; the nginx worker's CPU time per request much less:
# both are shown, per pair and as medians.
run /plain >/dev/null
run /edge >/dev/null
PR= ER= RR= PC= EC= CR=
i=0
while [ $i -lt "$ROUNDS" ]; do
    if [ $((i % 2)) = 0 ]; then
        p=$(run /plain); e=$(run /edge)
    else
        e=$(run /edge); p=$(run /plain)
    fi
    set -- $p $e
    PR="$PR $1" PC="$PC $2" ER="$ER $3" EC="$EC $4"
    RR="$RR $(echo "$3 $1" | awk '{ printf "%.3f", $1 / $2 }')"
    CR="$CR $(echo "$2 $4" | awk '{ printf "%.3f", $1 / $2 }')"
    i=$((i + 1))
done

echo "one nginx worker, $CONNS connections, $ROUNDS pairs of ${SECS}s runs, 33-byte JSON body"
echo "edge checks measured: $CHECKS"
echo "taskgw_enqueue alone: median $(median $PR) req/s, $(median $PC) us of worker CPU per request"
echo "with the edge checks: median $(median $ER) req/s, $(median $EC) us of worker CPU per request"
echo "throughput edge/plain per pair:$RR"
echo "CPU per request plain/edge per pair:$CR"
echo "median throughput ratio edge/plain: $(median $RR)"
echo "median CPU ratio plain/edge (throughput at equal CPU): $(median $CR)"
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
