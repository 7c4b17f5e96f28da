#!/bin/sh
# Benchmark: the gateway side by side with its limit and its peers, in one
# run on loopback.  The same wrk load (1 thread, 32 connections, a POST of
# a 200-byte JSON body with "Authorization: Bearer <token>", after a
# warm-up) against:
#
#   nginx return 202     bare nginx answering 202, nothing stored (the
#                        same nginx binary, 1 worker): the limit
#   taskgw enqueue       taskgw_enqueue alone, 1 worker
#   taskgw + edge        taskgw_allow + taskgw_auth (token file of 50) +
#                        taskgw_limit far above the load, 1 worker
#   taskgw + edge, 2w    the same with 2 nginx workers
#   nginx + Lua          lua-resty-redis: the token checked, the same task
#                        hash and stream entry written in one MULTI/EXEC,
#                        202 (1 worker)
#   FastAPI              uvicorn (uvloop, httptools) with redis.asyncio
#                        doing the same, 1 process
#   redis-benchmark XADD 32 clients, without and with pipelining (16):
#                        what Redis itself takes
#   enqueue / + edge, before
#                        with BENCH_BEFORE=<module.so>: the taskgw enqueue
#                        and edge rows again, on a third nginx (1 worker)
#                        loading that build of the module, in the same
#                        interleaved rounds: a before/after in one run
#
# For each: req/s, p50/p99 latency, non-2xx replies, the ratio to bare
# nginx, the CPU time the server's processes (nginx workers, uvicorn),
# Redis and wrk itself spent per request (on a machine busy with other
# work these move less than req/s; on 2 cores, what the three add up to
# is what bounds req/s), and a check that Redis holds exactly one task (a hash
# and a stream entry) per request its server answered 2xx, and no more
# than wrk counted plus the requests in flight when it stopped.  For the taskgw rows also
# the nginx workers' RSS before and after the measured run.  Each path is
# measured ROUNDS times, the rounds interleaved so that load from elsewhere
# hits all of them; the table shows each path's median round (by req/s).
#
# Everything runs on private loopback ports and is stopped at the end.
# Needs `sh scripts/deps.sh bench` and `make`.
#
#   sh scripts/bench-gateway.sh [seconds] [connections] [rounds]
#
# Environment: BENCH_WARMUP (seconds, 3), BENCH_THREADS (wrk threads, 1),
# BENCH_MODULE (the taskgw module to load, build/ngx_http_taskgw_module.so),
# BENCH_BEFORE (another build of the module, for the "before" rows),
# BENCH_ONLY (the paths to run, e.g. "base enq": base enq edge edge2 lua
# fastapi xadd, and with BENCH_BEFORE enqb edgeb), BENCH_ORDER (rotate:
# each round in another order, see order() below; fixed: the same),
# BENCH_REDIS (more redis-server settings, e.g. "--hash-max-listpack-value
# 1024": the one Redis every row uses; the table's head names them).
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
SECS=${1:-10}
CONNS=${2:-32}
ROUNDS=${3:-1}
WARMUP=${BENCH_WARMUP:-3}
THREADS=${BENCH_THREADS:-1}
MODULE=${BENCH_MODULE:-$ROOT/build/ngx_http_taskgw_module.so}
BEFORE=${BENCH_BEFORE:-}
ORDER=${BENCH_ORDER:-rotate}
if [ -n "$BEFORE" ]; then
    ONLY=${BENCH_ONLY:-base enqb enq edgeb edge edge2 lua fastapi xadd}
else
    ONLY=${BENCH_ONLY:-base enq edge edge2 lua fastapi xadd}
fi
PY=/usr/bin/python3
LUA_MODULES=/usr/lib/nginx/modules

need() {
    [ -e "$1" ] || { echo "bench: $1 is missing: $2" >&2; exit 1; }
}
need /usr/bin/wrk "sh scripts/deps.sh bench"
need "$LUA_MODULES/ngx_http_lua_module.so" "sh scripts/deps.sh bench"
need /usr/share/lua/5.1/nginx/redis.lua "sh scripts/deps.sh bench"
need /usr/bin/redis-benchmark "sh scripts/deps.sh"
need "$MODULE" "run make first"
[ -n "$BEFORE" ] && need "$BEFORE" "BENCH_BEFORE names no module"
need build/taskgwctl "run make first"
$PY -c 'import fastapi, uvicorn, redis.asyncio, uvloop, httptools' \
    2>/dev/null || { echo "bench: FastAPI stack missing: sh scripts/deps.sh bench" >&2; exit 1; }

. scripts/bench-lib.sh
bench_start gateway
bench_tokens

# the other servers: a second taskgw nginx (2 workers), nginx + Lua, uvicorn,
# and with BENCH_BEFORE a third taskgw nginx loading the other build
P2=$(perl scripts/free-port.pl)
PB=$(perl scripts/free-port.pl)
PLUA=$(perl scripts/free-port.pl)
PAPI=$(perl scripts/free-port.pl)
mkdir -p "$DIR/n2/logs" "$DIR/n2/conf" "$DIR/lua/logs" "$DIR/lua/conf" \
    "$DIR/nb/logs" "$DIR/nb/conf" "$DIR/res"
cp "$DIR/conf/tokens" "$DIR/n2/conf/tokens"
cp "$DIR/conf/tokens" "$DIR/nb/conf/tokens"
API_PID=

gateway_cleanup() {
    for d in "$DIR/n2" "$DIR/lua" "$DIR/nb"; do
        [ -f "$d/logs/nginx.pid" ] \
            && /usr/sbin/nginx -p "$d/" -c conf/nginx.conf -s stop 2>/dev/null
    done
    [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
    # nginx -s stop returns at once: wait for the masters to go
    i=0
    while [ $i -lt 100 ] && ls "$DIR"/logs/nginx.pid "$DIR"/n2/logs/nginx.pid \
            "$DIR"/lua/logs/nginx.pid "$DIR"/nb/logs/nginx.pid \
            >/dev/null 2>&1; do
        sleep 0.1
        i=$((i + 1))
    done
    bench_cleanup
}
trap gateway_cleanup EXIT

# ---------------------------------------------------------------------------
# The servers
# ---------------------------------------------------------------------------

# taskgw_conf WORKERS PORT [MODULE]: a taskgw nginx; /baseline, /enqueue,
# /edge
taskgw_conf() {
    cat <<CONF
load_module ${3:-$MODULE};
worker_processes $1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path body;
    taskgw_redis 127.0.0.1:$REDIS_PORT;
    taskgw_tokens tokens;
    taskgw_limit_zone zone=bench:10m rate=1000000r/s burst=1000000;
    server {
        listen 127.0.0.1:$2 backlog=1024;
        location /baseline {
            default_type application/json;
            return 202 '{"id":"00000000-0000-7000-8000-000000000000","status":"queued","queue":"bench","type":"bench","priority":"normal"}';
        }
        location /enqueue { taskgw_enqueue queue=enq\$arg_w; }
        location /edge {
            taskgw_allow 10.0.0.0/8;
            taskgw_allow 127.0.0.0/8;
            taskgw_auth dev;
            taskgw_limit zone=bench;
            taskgw_enqueue queue=edge\$arg_w;
        }
        location /metrics { taskgw_metrics; }
    }
}
CONF
}

taskgw_conf 1 "$HTTP_PORT" > "$DIR/conf/nginx.conf"
taskgw_conf 2 "$P2" > "$DIR/n2/conf/nginx.conf"
[ -n "$BEFORE" ] && taskgw_conf 1 "$PB" "$BEFORE" > "$DIR/nb/conf/nginx.conf"

# nginx + Lua: what a Lua developer writes for the same job, favoured
# where it is simpler: the token is a table lookup of its plain text, the
# id 128 random bits from math.random with the UUIDv7 time prefix
cat > "$DIR/lua/conf/nginx.conf" <<CONF
load_module $LUA_MODULES/ndk_http_module.so;
load_module $LUA_MODULES/ngx_http_lua_module.so;
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path body;
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
    lua_shared_dict counts 1m;
    init_worker_by_lua_block { math.randomseed(ngx.now() * 1000 + ngx.worker.pid()) }
    server {
        listen 127.0.0.1:$PLUA backlog=1024;
        client_body_buffer_size 16k;
        location /tasks {
            content_by_lua_block {
                local tokens = { ["$STATIC"] = "bench" }
                local auth = ngx.var.http_authorization or ""
                local owner = tokens[string.sub(auth, 8)]
                if string.sub(auth, 1, 7) ~= "Bearer " or not owner then
                    ngx.status = 401
                    ngx.say('{"error":"unauthorized","message":"bad token"}')
                    return
                end
                ngx.req.read_body()
                local body = ngx.req.get_body_data() or ""
                local ms = math.floor(ngx.now() * 1000)
                local r = math.random
                local id = string.format("%08x-%04x-7%03x-%04x-%04x%08x",
                    math.floor(ms / 65536), ms % 65536, r(0, 4095),
                    0x8000 + r(0, 16383), r(0, 65535), r(0, 4294967295))
                local q = "lua" .. (ngx.var.arg_w or "")
                local redis = require "nginx.redis"
                local red = redis:new()
                red:set_timeout(2000)
                local ok, err = red:connect("127.0.0.1", $REDIS_PORT)
                if not ok then
                    ngx.status = 503
                    ngx.say('{"error":"unavailable","message":"redis"}')
                    return
                end
                red:init_pipeline()
                red:multi()
                red:hset("taskgw:task:" .. id, "id", id, "queue", q,
                         "type", q, "priority", "normal", "status", "queued",
                         "payload", body,
                         "content_type", ngx.var.http_content_type or "",
                         "request_id", ngx.var.request_id, "owner", owner,
                         "client_addr", ngx.var.remote_addr,
                         "created_at", ms, "attempts", "0")
                red:xadd("taskgw:q:" .. q .. ":normal", "*", "id", id)
                red:exec()
                local res, err = red:commit_pipeline()
                if not res or type(res[4]) ~= "table" then
                    ngx.status = 503
                    ngx.say('{"error":"unavailable","message":"redis"}')
                    return
                end
                red:set_keepalive(10000, 64)
                ngx.shared.counts:incr("ok", 1, 0)
                ngx.status = 202
                ngx.header["Content-Type"] = "application/json"
                ngx.print('{"id":"', id, '","status":"queued","queue":"', q,
                          '","type":"', q, '","priority":"normal"}')
            }
        }
        location /count {
            content_by_lua_block { ngx.print(ngx.shared.counts:get("ok") or 0) }
        }
    }
}
CONF

# FastAPI: the same job on uvicorn with redis.asyncio
cat > "$DIR/api.py" <<PY
import json, os, time
from fastapi import FastAPI, Request, Response
import redis.asyncio as aioredis

app = FastAPI()
red = aioredis.Redis(host="127.0.0.1", port=$REDIS_PORT, max_connections=64)
tokens = {"$STATIC": "bench"}
counted = {"ok": 0}


def uuid7():
    ms = int(time.time() * 1000)
    b = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", ms


def error(code, name, message):
    return Response(json.dumps({"error": name, "message": message}),
                    status_code=code, media_type="application/json")


@app.post("/tasks")
async def enqueue(request: Request, w: str = ""):
    auth = request.headers.get("authorization", "")
    owner = tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
    if owner is None:
        return error(401, "unauthorized", "bad token")
    body = await request.body()
    tid, ms = uuid7()
    q = "api" + w
    try:
        async with red.pipeline(transaction=True) as p:
            p.hset("taskgw:task:" + tid, mapping={
                "id": tid, "queue": q, "type": q, "priority": "normal",
                "status": "queued", "payload": body,
                "content_type": request.headers.get("content-type", ""),
                "request_id": os.urandom(16).hex(), "owner": owner,
                "client_addr": request.client.host, "created_at": ms,
                "attempts": 0})
            p.xadd("taskgw:q:" + q + ":normal", {"id": tid})
            await p.execute()
    except Exception:
        return error(503, "unavailable", "redis")
    counted["ok"] += 1
    return Response(json.dumps({"id": tid, "status": "queued", "queue": q,
                                "type": q, "priority": "normal"}),
                    status_code=202, media_type="application/json")


@app.get("/count")
async def count():
    return Response(str(counted["ok"]))
PY

/usr/sbin/nginx -p "$DIR/" -c conf/nginx.conf || exit 1
/usr/sbin/nginx -p "$DIR/n2/" -c conf/nginx.conf || exit 1
/usr/sbin/nginx -p "$DIR/lua/" -c conf/nginx.conf || exit 1
if [ -n "$BEFORE" ]; then
    /usr/sbin/nginx -p "$DIR/nb/" -c conf/nginx.conf || exit 1
fi
(cd "$DIR" && exec $PY -m uvicorn api:app --host 127.0.0.1 --port "$PAPI" \
    --workers 1 --loop uvloop --http httptools --no-access-log \
    --log-level warning > "$DIR/api.log" 2>&1) &
API_PID=$!

i=0
until curl -sf "http://127.0.0.1:$PAPI/count" >/dev/null 2>&1 \
        && curl -sf "http://127.0.0.1:$PLUA/count" >/dev/null 2>&1 \
        && curl -s "http://127.0.0.1:$HTTP_PORT/baseline" >/dev/null 2>&1 \
        && curl -s "http://127.0.0.1:$P2/baseline" >/dev/null 2>&1 \
        && { [ -z "$BEFORE" ] \
             || curl -s "http://127.0.0.1:$PB/baseline" >/dev/null 2>&1; }; do
    i=$((i + 1))
    [ $i -gt 200 ] && { echo "bench: the servers did not start" >&2; cat "$DIR/api.log" >&2; exit 1; }
    sleep 0.1
done

# ---------------------------------------------------------------------------
# The load
# ---------------------------------------------------------------------------

# a 200-byte JSON body, and the bearer token
BODY='{"report":"monthly","customer":"c-0042","rows":1000,"format":"csv","notify":["ops@example.com"],"filters":{"region":"eu-west","since":"2026-01-01"},"pad":"'
BODY="$BODY$(printf '%*s' $((198 - ${#BODY})) '' | tr ' ' x)\"}"
cat > "$DIR/post.lua" <<LUA
wrk.method = "POST"
wrk.body   = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $STATIC"
LUA

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

# the bytes Redis holds for its data and itself
rmem() {
    rcli info memory | tr -d '\r' | awk -F: '/^used_memory:/ { print $2 }'
}

# the CPU seconds Redis has used so far
rcpu() {
    rcli info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ { t += $2 } END { print t }'
}

# the RSS in KB of the nginx workers under master pid file $1, summed
rss() {
    t=0
    for p in $(ps -o pid= --ppid "$(cat "$1")"); do
        r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
        t=$((t + ${r:-0}))
    done
    echo $t
}

# the CPU clock ticks the server processes of path $1 have used so far:
# an nginx's workers, or uvicorn
HZ=$(getconf CLK_TCK)
ticks() {
    case $1 in
        base|enq|edge) pids=$(ps -o pid= --ppid "$(cat "$DIR/logs/nginx.pid")") ;;
        edge2) pids=$(ps -o pid= --ppid "$(cat "$DIR/n2/logs/nginx.pid")") ;;
        enqb|edgeb) pids=$(ps -o pid= --ppid "$(cat "$DIR/nb/logs/nginx.pid")") ;;
        lua) pids=$(ps -o pid= --ppid "$(cat "$DIR/lua/logs/nginx.pid")") ;;
        api) pids=$API_PID ;;
    esac
    for p in $pids; do cat "/proc/$p/stat"; done \
        | awk '{ t += $14 + $15 } END { print t + 0 }'
}

# the number of 2xx a server says it answered for path $1
served() {
    case $1 in
        enq|edge) url="http://127.0.0.1:$HTTP_PORT/metrics" ;;
        edge2) url="http://127.0.0.1:$P2/metrics" ;;
        enqb|edgeb) url="http://127.0.0.1:$PB/metrics" ;;
        lua) curl -s "http://127.0.0.1:$PLUA/count"; echo; return ;;
        api) curl -s "http://127.0.0.1:$PAPI/count"; echo; return ;;
    esac
    curl -s "$url" | awk '/^taskgw_requests_total\{outcome="accepted"\}/ { n = $2 } END { print n + 0 }'
}

# the stream length of queue $1 once it stopped growing (requests in
# flight when wrk stopped still end)
settled_xlen() {
    prev=-1
    n=$(rcli xlen "taskgw:q:$1:normal")
    j=0
    while [ "$n" != "$prev" ] && [ $j -lt 50 ]; do
        sleep 0.2
        prev=$n
        n=$(rcli xlen "taskgw:q:$1:normal")
        j=$((j + 1))
    done
    echo "$n"
}

# kids FILE: the CPU seconds of this script's children that have ended
# (wrk, once it is waited for) into FILE: `times` run by the shell itself,
# not in a subshell ($(...)), whose children these are not
kids() {
    times > "$DIR/times"
    awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] } print t }' "$DIR/times" > "$1"
}

# wrk URL SECONDS: "<req/s> <requests> <non-2xx> <p50 ms> <p99 ms>"
load() {
    wrk -t "$THREADS" -c "$CONNS" -d "${2}s" --latency -s "$DIR/post.lua" \
        "$1" 2>&1 | awk '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /s$/) return v * 1000
            return v
        }
        / requests in / { n = $1 }
        /Requests\/sec/ { rps = $2 }
        /Non-2xx/ { bad = $NF }
        /socket errors/ { bad += 0 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        END { printf "%.0f %d %d %.3f %.3f\n", rps, n, bad, p50, p99 }'
}

# measure NAME URL QUEUE PIDFILE round: one line into $DIR/res/NAME
measure() {
    name=$1 url=$2 queue=$3 pidf=$4
    load "$url" "$WARMUP" >/dev/null
    # the measured run's tasks go to a queue of their own
    url="$url?w=$5"
    [ -n "$queue" ] && queue="$queue$5"
    before=$(served "$name")
    c0=$(rcpu)
    m0=$(rmem)
    t0=$(ticks "$name")
    r0=
    [ -n "$pidf" ] && r0=$(rss "$pidf")
    kids "$DIR/k0"
    set -- $(load "$url" "$SECS")
    kids "$DIR/k1"
    k0=$(cat "$DIR/k0") k1=$(cat "$DIR/k1")
    c1=$(rcpu)
    t1=$(ticks "$name")
    r1=
    [ -n "$pidf" ] && r1=$(rss "$pidf")
    check=-
    rus=-
    mem=-
    if [ -n "$queue" ]; then
        stored=$(settled_xlen "$queue")
        [ "$stored" -gt 0 ] && rus=$(echo "$c0 $c1 $stored" | awk '{ printf "%.1f", ($2 - $1) * 1000000 / $3 }')
        # what the run's tasks (hash and stream entry) take in Redis
        [ "$stored" -gt 0 ] && mem=$(echo "$m0 $(rmem) $stored" | awk '{ printf "%.0f", ($2 - $1) / $3 }')
        answered=$(( $(served "$name") - before ))
        ok2xx=$(( $2 - $3 ))
        hashes=$(rcli eval "local n = 0 for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do n = n + redis.call('EXISTS', 'taskgw:task:' .. e[2][2]) end return n" 1 "taskgw:q:$queue:normal")
        # Every 2xx nginx sent has its task and hash (stored >= answered);
        # a task may be stored without a 2xx only for the requests under
        # way when wrk stopped and closed its connections (at most one a
        # connection: written, then the client was gone).
        if [ "$stored" -ge "$answered" ] \
           && [ "$stored" -le $((answered + CONNS)) ] \
           && [ "$hashes" -eq "$stored" ] \
           && [ "$ok2xx" -le "$answered" ] \
           && [ "$answered" -le $((ok2xx + CONNS)) ]; then
            check="ok: $stored stored"
            [ "$stored" -gt "$answered" ] && check="$check ($((stored - answered)) of them for requests cut off by wrk's stop)"
        else
            check="MISMATCH: wrk 2xx $ok2xx, server 2xx $answered, stream $stored, hashes $hashes"
        fi
    fi
    # the tasks of the warm-up and the run are not needed any more
    rcli flushdb >/dev/null
    sus=$(echo "$t0 $t1 $2 $HZ" | awk '{ printf "%.1f", $3 ? ($2 - $1) * 1000000 / $4 / $3 : 0 }')
    wus=$(echo "$k0 $k1 $2" | awk '{ printf "%.1f", $3 ? ($2 - $1) * 1000000 / $3 : 0 }')
    echo "$1 $4 $5 $3 ${r0:--} ${r1:--} $rus $sus $wus $mem $check" >> "$DIR/res/$name"
}

# xadd PIPELINE: redis-benchmark, "<req/s> <p50 ms> <p99 ms> <entries>"
xadd() {
    rcli del bench:xadd >/dev/null
    n=$((SECS * 60000))
    [ "$1" -gt 1 ] && n=$((SECS * 300000))
    out=$(redis-benchmark -p "$REDIS_PORT" -c "$CONNS" -n "$n" -P "$1" \
          XADD bench:xadd '*' id 00000000-0000-7000-8000-000000000000 2>&1 \
          | tr '\r' '\n')
    rps=$(echo "$out" | awk '/throughput summary/ { printf "%.0f", $3 }')
    lat=$(echo "$out" | awk '/latency summary/ { getline; getline; print $3, $5 }')
    echo "$rps ${lat:-- -} $(rcli xlen bench:xadd) $n"
}

# order ROUND: the paths of that round.  A fixed order favoured the path
# that ran first after bare nginx, by about 5% (the same build measured in
# two slots); so each round starts one path further along the list, and
# in every second round each "before" row and its build's row trade
# places: over the rounds every path runs in several slots, and the two
# builds of a before/after lead in turn.  BENCH_ORDER=fixed keeps the
# list's order in every round.
in_only() {
    case " $ONLY " in *" $1 "*) return 0 ;; esac
    return 1
}

order() {
    rnd=$1
    set -- $ONLY
    k=$(( (rnd - 1) % $# ))
    [ "$ORDER" = fixed ] && k=0
    rot=
    i=0
    for p in "$@"; do
        [ $i -ge "$k" ] && rot="$rot $p"
        i=$((i + 1))
    done
    i=0
    for p in "$@"; do
        [ $i -lt "$k" ] && rot="$rot $p"
        i=$((i + 1))
    done
    if [ "$ORDER" != fixed ] && [ -n "$BEFORE" ] && [ $((rnd % 2)) -eq 0 ]; then
        swap=
        for p in $rot; do
            case $p in
                enqb) in_only enq && p=enq ;;
                enq) in_only enqb && p=enqb ;;
                edgeb) in_only edge && p=edge ;;
                edge) in_only edgeb && p=edgeb ;;
            esac
            swap="$swap $p"
        done
        rot=$swap
    fi
    echo $rot
}

r=1
while [ $r -le "$ROUNDS" ]; do
    this=$(order "$r")
    echo "round $r: $this" >> "$DIR/res/order"
    for p in $this; do
        case $p in
            base) measure base "http://127.0.0.1:$HTTP_PORT/baseline" "" \
                      "$DIR/logs/nginx.pid" "$r" ;;
            enq) measure enq "http://127.0.0.1:$HTTP_PORT/enqueue" enq \
                      "$DIR/logs/nginx.pid" "$r" ;;
            edge) measure edge "http://127.0.0.1:$HTTP_PORT/edge" edge \
                      "$DIR/logs/nginx.pid" "$r" ;;
            edge2) measure edge2 "http://127.0.0.1:$P2/edge" edge \
                      "$DIR/n2/logs/nginx.pid" "$r" ;;
            enqb) [ -n "$BEFORE" ] && measure enqb \
                      "http://127.0.0.1:$PB/enqueue" enq \
                      "$DIR/nb/logs/nginx.pid" "$r" ;;
            edgeb) [ -n "$BEFORE" ] && measure edgeb \
                      "http://127.0.0.1:$PB/edge" edge \
                      "$DIR/nb/logs/nginx.pid" "$r" ;;
            lua) measure lua "http://127.0.0.1:$PLUA/tasks" lua "" "$r" ;;
            fastapi) measure api "http://127.0.0.1:$PAPI/tasks" api "" "$r" ;;
            xadd)
                set -- $(xadd 1)
                c="ok: $4 stored"; [ "$4" -eq "$5" ] || c="MISMATCH: $5 sent, $4 stored"
                echo "$1 $2 $3 0 - - - - - - $c" >> "$DIR/res/xadd1"
                set -- $(xadd 16)
                c="ok: $4 stored"; [ "$4" -eq "$5" ] || c="MISMATCH: $5 sent, $4 stored"
                echo "$1 $2 $3 0 - - - - - - $c" >> "$DIR/res/xadd16" ;;
        esac
    done
    r=$((r + 1))
done

# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

# median NAME: the median round of a path, by req/s
median() {
    [ -f "$DIR/res/$1" ] || return 0
    sort -n -k1,1 "$DIR/res/$1" | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'
}

BASE=$(median base | cut -d' ' -f1)
BASE_P99=$(median base | cut -d' ' -f3)

echo "## bench-gateway: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average$(uptime | sed 's/.*load average//')"
echo
echo "wrk -t $THREADS -c $CONNS, ${SECS}s after a ${WARMUP}s warm-up, ${#BODY}-byte JSON body, bearer token; median of $ROUNDS round(s) by req/s"
echo
echo "Redis $(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/') for every row, settings: ${BENCH_REDIS:-its defaults}"
echo
echo "| path | req/s | × bare nginx | p50 ms | p99 ms | p99 × bare | non-2xx | server CPU µs/req | Redis CPU µs/task | Redis bytes/task | wrk CPU µs/req | nginx RSS KB before → after | one task per 2xx |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
row() {
    m=$(median "$1")
    [ -n "$m" ] || return 0
    echo "$m" | awk -v label="$2" -v base="${BASE:-0}" -v bp99="${BASE_P99:-0}" '{
        rss = ($5 == "-") ? "-" : $5 " → " $6
        check = $11; for (i = 12; i <= NF; i++) check = check " " $i
        printf "| %s | %d | %s | %.2f | %.2f | %s | %d | %s | %s | %s | %s | %s | %s |\n", label, $1,
            (base > 0 ? sprintf("%.3f", $1 / base) : "-"), $2, $3,
            (bp99 > 0 ? sprintf("%.2f", $3 / bp99) : "-"), $4, $8, $7, $10, $9, rss, check }'
}
row base "nginx \`return 202\` (1 worker)"
row enqb "taskgw enqueue (1 worker), BENCH_BEFORE build"
row enq "taskgw enqueue (1 worker)"
row edgeb "taskgw + allow + auth + limit (1 worker), BENCH_BEFORE build"
row edge "taskgw + allow + auth + limit (1 worker)"
row edge2 "taskgw + allow + auth + limit (2 workers)"
row lua "nginx + Lua, lua-resty-redis (1 worker)"
row api "FastAPI + uvicorn + redis.asyncio (1 process)"
row xadd1 "redis-benchmark XADD, no pipelining"
row xadd16 "redis-benchmark XADD, pipeline 16"

if [ "$ROUNDS" -gt 1 ]; then
    echo
    echo "every round, req/s:"
    for n in base enqb enq edgeb edge edge2 lua api xadd1 xadd16; do
        [ -f "$DIR/res/$n" ] && echo "  $n: $(cut -d' ' -f1 "$DIR/res/$n" | tr '\n' ' ')"
    done
    echo "the rounds' order:"
    sed 's/^/  /' "$DIR/res/order"
fi

grep -h -E '\[(alert|crit|emerg)\]' "$DIR"/logs/error.log "$DIR"/n2/logs/error.log \
    "$DIR"/lua/logs/error.log "$DIR"/nb/logs/error.log >&2 2>/dev/null
exit 0
