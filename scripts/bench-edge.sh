#!/bin/sh
# Benchmark: what the edge checks cost an enqueue.  One taskgw_enqueue
# location without any check (/plain) against the same location behind
# taskgw_allow + taskgw_auth + taskgw_limit (the limit far above the load),
# with a token from the token file (/static, one of 50 lines) and with a
# run-time token served from the shared cache (/runtime); /limited has
# the taskgw_limit alone.  One nginx, one run, the runs interleaved so
# that load from elsewhere hits all of them.
# For each: requests per second and the nginx worker's CPU time per
# request; on a machine busy with other work the CPU figure is the one to
# trust.  Then a 10 MB taskgw_limit_zone is filled with distinct keys and
# the number it held when it first had to evict one is printed, and the
# same for the 2 MB cache of run-time token lookups (default size), filled
# with unknown tokens.
# TASKGW_BENCH_EDGE_EXTRA adds directives to the guarded locations;
# TASKGW_BENCH_LIMIT=off leaves the taskgw_limit out; TASKGW_BENCH_MODULE
# runs another build of the module (to compare two).  Needs wrk.
#
#   sh scripts/bench-edge.sh [seconds] [connections] [rounds]
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
SECS=${1:-5}
CONNS=${2:-32}
ROUNDS=${3:-5}
EXTRA=${TASKGW_BENCH_EDGE_EXTRA:-}
LIMIT='taskgw_limit zone=bench;'
[ "${TASKGW_BENCH_LIMIT:-on}" = off ] && LIMIT=

command -v wrk >/dev/null 2>&1 || { echo "bench: needs wrk (apt-get install wrk)" >&2; exit 1; }
MODULE=${TASKGW_BENCH_MODULE:-$ROOT/build/ngx_http_taskgw_module.so}
[ -f "$MODULE" ] || { echo "bench: run make first" >&2; exit 1; }
[ -x build/taskgwctl ] || { echo "bench: run make first" >&2; exit 1; }

. scripts/bench-lib.sh
bench_start bench
mkdir -p "$DIR/html"
echo ok > "$DIR/html/ok"

# a static token among 50 (the digest is compared with every one)
bench_tokens

cat > "$DIR/conf/nginx.conf" <<CONF
load_module $MODULE;
worker_processes 1;
error_log logs/error.log notice;
pid logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $DIR/body;
    taskgw_redis 127.0.0.1:$REDIS_PORT;
    taskgw_tokens tokens;
    taskgw_tokens_redis on;
    taskgw_tokens_cache_ttl 10m;
    taskgw_limit_zone zone=bench:10m rate=1000000r/s burst=1000000;
    taskgw_limit_zone zone=capacity:10m rate=1r/m;
    server {
        listen 127.0.0.1:$HTTP_PORT backlog=1024;
        location /plain { taskgw_enqueue queue=bench; }
        location /limited {
            $LIMIT
            taskgw_enqueue queue=bench;
        }
        location /static {
            taskgw_allow 10.0.0.0/8;
            taskgw_allow 127.0.0.0/8;
            taskgw_auth dev;
            $LIMIT
            $EXTRA
            taskgw_enqueue queue=bench;
        }
        location /runtime {
            taskgw_allow 10.0.0.0/8;
            taskgw_allow 127.0.0.0/8;
            taskgw_auth dev;
            $LIMIT
            $EXTRA
            taskgw_enqueue queue=bench;
        }
        location /tokens {
            taskgw_auth dev;
            empty_gif;
        }
        location /capacity {
            root $DIR/html;
            taskgw_limit zone=capacity key=\$arg_k;
            try_files /ok =404;
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

HZ=$(getconf CLK_TCK)
WORKER=$(ps -o pid= --ppid "$(cat "$DIR/logs/nginx.pid")" | head -1 | tr -d ' ')

# clock ticks the nginx worker process has used so far
cpu() {
    awk '{ print $14 + $15 }' "/proc/$WORKER/stat"
}

# run PATH [TOKEN]: "<req/s> <worker CPU microseconds per request>"
run() {
    c0=$(cpu)
    out=$(wrk -t 1 -c "$CONNS" -d "${SECS}s" -s "$DIR/post.lua" \
              ${2:+-H "X-API-Token: $2"} "http://127.0.0.1:$HTTP_PORT$1" 2>&1)
    c1=$(cpu)
    echo "$out" | grep Non-2xx | sed "s|^|bench: $1: |" >&2
    echo "$out" | awk -v ticks=$((c1 - c0)) -v hz="$HZ" '
        / requests in / { n = $1 }
        /Requests\/sec/ { rps = $2 }
        END { printf "%s %.2f\n", rps, n ? ticks * 1000000 / hz / n : 0 }'
}

med() {
    echo "$@" | tr ' ' '\n' | grep . | sort -n \
        | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

run /plain >/dev/null
run /limited >/dev/null
run /static "$STATIC" >/dev/null
run /runtime "$RUNTIME" >/dev/null

PR= PC= LR= LC= SR= SC= RR= RC=
r=0
while [ $r -lt "$ROUNDS" ]; do
    set -- $(run /plain) $(run /limited) $(run /static "$STATIC") \
           $(run /runtime "$RUNTIME")
    PR="$PR $1" PC="$PC $2" LR="$LR $3" LC="$LC $4"
    SR="$SR $5" SC="$SC $6" RR="$RR $7" RC="$RC $8"
    r=$((r + 1))
done

# cost A B: how much less A is than B; extra A B: how much more
cost() { echo "$1 $2" | awk '{ printf "%.1f%%", (1 - $1 / $2) * 100 }'; }
extra() { echo "$1 $2" | awk '{ printf "%+.1f%%", ($1 / $2 - 1) * 100 }'; }

echo "one nginx worker, $CONNS connections, $ROUNDS rounds of ${SECS}s each, interleaved"
echo "guarded locations: taskgw_allow (2 ranges), taskgw_auth dev${LIMIT:+, $LIMIT}${EXTRA:+ $EXTRA}"
echo "                                   req/s (median, runs)         worker CPU per request (median, runs)"
echo "no checks:                         $(med $PR) ($PR)   $(med $PC) us ($PC)"
[ -n "$LIMIT" ] && echo "the limit alone:                   $(med $LR) ($LR)   $(med $LC) us ($LC)"
echo "edge checks, token file (50):      $(med $SR) ($SR)   $(med $SC) us ($SC)"
echo "edge checks, run-time (cached):    $(med $RR) ($RR)   $(med $RC) us ($RC)"
[ -n "$LIMIT" ] && echo "cost, limit alone: throughput $(cost "$(med $LR)" "$(med $PR)"), CPU per request $(extra "$(med $LC)" "$(med $PC)")"
echo "cost, token file:  throughput $(cost "$(med $SR)" "$(med $PR)"), CPU per request $(extra "$(med $SC)" "$(med $PC)")"
echo "cost, run-time:    throughput $(cost "$(med $RR)" "$(med $PR)"), CPU per request $(extra "$(med $RC)" "$(med $PC)")"

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

KEYS=
i=0
while [ $i -lt 10 ] && [ -z "$KEYS" ]; do
    wrk -t 1 -c "$CONNS" -d 5s -s "$DIR/keys.lua" \
        "http://127.0.0.1:$HTTP_PORT/" -- "${i}0000000" >/dev/null 2>&1
    KEYS=$(sed -n 's/.*taskgw zone "capacity" is full with \([0-9]*\) keys.*/\1/p' \
           "$DIR/logs/error.log")
    i=$((i + 1))
done
echo "a 10 MB taskgw_limit_zone holds ${KEYS:-more than the keys sent} keys (of up to 64 bytes) before it evicts"

# The token cache: unknown tokens, each looked up once and cached as such.
cat > "$DIR/tokens.lua" <<'LUA'
local n = 0
init = function(args)
    n = tonumber(args[1])
end
request = function()
    n = n + 1
    return wrk.format("GET", "/tokens", { ["X-API-Token"] = "unknown-" .. n })
end
LUA

TOKENS=
i=0
while [ $i -lt 10 ] && [ -z "$TOKENS" ]; do
    wrk -t 1 -c "$CONNS" -d 5s -s "$DIR/tokens.lua" \
        "http://127.0.0.1:$HTTP_PORT/" -- "${i}0000000" >/dev/null 2>&1
    TOKENS=$(sed -n 's/.*taskgw zone "taskgw_tokens" is full with \([0-9]*\) keys.*/\1/p' \
             "$DIR/logs/error.log")
    i=$((i + 1))
done
echo "the 2 MB cache of run-time token lookups holds ${TOKENS:-more than the tokens sent} answers (unknown tokens) before it evicts"
grep -E '\[(alert|crit|emerg)\]' "$DIR/logs/error.log" >&2
exit 0
