#!/bin/sh
# Benchmark: taskgw-worker running the builtin `ping` handler over N
# pre-filled tasks, at each concurrency given.  The tasks are created the
# way taskgwctl and the worker's cron create them (worker/common/lua/
# create.lua, loaded once and called with EVALSHA through redis-cli
# --pipe), then one worker is started and timed until the queue is empty
# and nothing is pending; every task must then be `succeeded`.  Prints,
# per run, tasks/s and the Redis commands per task (INFO commandstats,
# reset after the fill: calls of each command / N; the commands a script
# runs count too, and their time is inside the script's), Redis CPU per
# task (the sum of every command's usec / N, so a script's inner commands
# count twice), the mean time of one EVAL/EVALSHA call, and the bytes
# Redis received per task (INFO stats total_net_input_bytes), and the CPU
# time (user + system, from /proc/PID/stat) the worker and redis-server
# spent per task over the timed part.  On stderr, per run, how the timed
# wall went for redis-server and for the worker (/proc/PID/schedstat): on
# a CPU, runnable but waiting for one (the machine busy), and asleep (for
# Redis: nothing to do, waiting for the worker's next call), as fractions
# of the wall.  WORKER=path runs another build.
# BENCH_STATS=1 also prints each command's calls per task and µs per
# call; BENCH_PERF=dir records `perf record -g` of redis-server and of
# the worker over each timed part into dir (perf.redis-C.data,
# perf.worker-C.data for concurrency C).
#
#   sh scripts/bench-worker-ping.sh [tasks] [concurrency...]
#   sh scripts/bench-worker-ping.sh 20000 16 64
set -u

cd "$(dirname "$0")/.." || exit 1
N=${1:-20000}
[ $# -gt 0 ] && shift
CONCS=${*:-16 64}
LIMIT=${BENCH_LIMIT:-120}           # seconds a run may take at most

WORKER=${WORKER:-build/taskgw-worker}
[ -x "$WORKER" ] || { echo "bench: run make first" >&2; exit 1; }

. scripts/bench-lib.sh
bench_start bench-ping

PREFIX=bench
QUEUE=default
STREAM=$PREFIX:q:$QUEUE:normal
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

# the create script as the worker and taskgwctl send it (tgw_lua.h)
printf '#include <stdio.h>\n#include "tgw_lua.h"\nint main(void) { fputs(tgw_lua_create, stdout); return 0; }\n' \
    > "$DIR/dump.c"
cc -Iworker/common -o "$DIR/dump" "$DIR/dump.c" || exit 1
"$DIR/dump" > "$DIR/create.lua"

# the Lua that counts, after a run, the tasks in each status
cat > "$DIR/count.lua" <<'LUA'
local n = {}
for i = 1, tonumber(ARGV[2]) do
  local s = redis.call('HGET', string.format('%s:task:bench-%08d', ARGV[1], i),
                       'status') or 'missing'
  n[s] = (n[s] or 0) + 1
end
local out = {}
for s, c in pairs(n) do out[#out + 1] = s .. '=' .. c end
table.sort(out)
return table.concat(out, ' ')
LUA

# CPU time (user + system) of a process so far, in clock ticks
cpu() {
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
TICK=$(getconf CLK_TCK)

fill() {
    rcli flushall >/dev/null
    sha=$(rcli -x script load < "$DIR/create.lua")
    now=$(date +%s%3N)
    perl -e '
        my ($n, $sha, $p, $q, $now) = @ARGV;
        sub cmd { my $s = "*" . scalar(@_) . "\r\n";
                  $s .= "\$" . length($_) . "\r\n$_\r\n" for @_; $s }
        for my $i (1 .. $n) {
            my $id = sprintf "bench-%08d", $i;
            print cmd("EVALSHA", $sha, 3, "$p:task:$id", "$p:q:$q:normal",
                      "$p:scheduled", $id, $q, "system.ping", "normal",
                      "{}", "application/json", "bench", "", "", "",
                      $now, "", 0);
        }' "$N" "$sha" "$PREFIX" "$QUEUE" "$now" \
        | rcli --pipe > "$DIR/pipe.log" 2>&1 \
        || { cat "$DIR/pipe.log" >&2; exit 1; }
    [ "$(rcli xlen "$STREAM")" = "$N" ] \
        || { echo "bench: fill: stream holds $(rcli xlen "$STREAM") of $N" >&2; exit 1; }
}

run() {
    conc=$1
    cat > "$DIR/worker.json" <<JSON
{
  "redis": "127.0.0.1:$REDIS_PORT",
  "prefix": "$PREFIX",
  "group": "workers",
  "name": "bench",
  "concurrency": $conc,
  "queues": {"$QUEUE": 1},
  "handlers": {"system.ping": {"builtin": "ping"}}
}
JSON
    fill
    rcli config resetstat >/dev/null
    rcpu0=$(cpu "$REDIS_PID")
    rsched0=$(cat "/proc/$REDIS_PID/schedstat")
    t0=$(date +%s%N)
    "$WORKER" -c "$DIR/worker.json" > "$DIR/logs/worker.log" 2>&1 &
    BENCH_PID=$!
    if [ -n "${BENCH_PERF:-}" ]; then
        mkdir -p "$BENCH_PERF"
        perf record -q -g -p "$REDIS_PID" -o "$BENCH_PERF/perf.redis-$conc.data" \
            > /dev/null 2>&1 &
        PERF_R=$!
        perf record -q -g -p "$BENCH_PID" -o "$BENCH_PERF/perf.worker-$conc.data" \
            > /dev/null 2>&1 &
        PERF_W=$!
        BENCH_PID="$BENCH_PID $PERF_R $PERF_W"
    fi
    WPID=${BENCH_PID%% *}
    deadline=$(( $(date +%s) + LIMIT ))
    while :; do
        left=$(rcli xlen "$STREAM")
        if [ "$left" = 0 ]; then
            pend=$(rcli xpending "$STREAM" workers | head -1)
            [ "$pend" = 0 ] && break
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "bench: concurrency $conc: $left tasks left after ${LIMIT}s" >&2
            exit 1
        fi
        sleep 0.02
    done
    t1=$(date +%s%N)
    rcpu=$(( $(cpu "$REDIS_PID") - rcpu0 ))
    wcpu=$(cpu "$WPID")
    # schedstat: ns on a CPU, ns waiting on a run queue, time slices
    echo "$rsched0 $(cat "/proc/$REDIS_PID/schedstat") \
          $(cat "/proc/$WPID/schedstat" 2>/dev/null || echo 0 0 0) $t0 $t1" \
        | awk '{ w = ($11 - $10) / 1e9; r = ($4 - $1) / 1e9 / w;
                 q = ($5 - $2) / 1e9 / w
                 printf "  of the wall (%.2f s): redis on a CPU %.2f, waiting for one %.2f, asleep %.2f; worker on a CPU %.2f, waiting for one %.2f\n",
                        w, r, q, 1 - r - q, $7 / 1e9 / w, $8 / 1e9 / w }' >&2
    if [ -n "${BENCH_PERF:-}" ]; then
        kill -INT $PERF_R $PERF_W 2>/dev/null
        wait $PERF_R $PERF_W 2>/dev/null
    fi
    kill "$WPID" 2>/dev/null
    wait "$WPID" 2>/dev/null
    BENCH_PID=
    if [ -n "${BENCH_STATS:-}" ]; then
        rcli info commandstats | tr -d '\r' | awk -F'[_:=,]' -v n="$N" '
            /^cmdstat_/ && $4 / n >= 0.005 {
                printf "  %-12s %6.2f calls/task %7.2f us/call %6.2f us/task\n",
                       $2, $4 / n, $10, $6 / n }' >&2
    fi
    # commands per task, before the count below adds its own (this
    # script's XLEN polling and INFO/CONFIG are left out; its few
    # XPENDING stay in, a rounding error at thousands of tasks)
    stats=$(rcli info commandstats | tr -d '\r' | awk -F'[_:=,]' -v n="$N" '
        /^cmdstat_/ {
            c = $2; calls = $4; usec = $6
            if (c == "xlen" || c == "info" || c == "config") next
            total += calls; us += usec
            if (c == "eval" || c == "evalsha") { sc += calls; sus += usec }
            if (calls / n >= 0.005) line = line sprintf(" %s %.2f", c, calls / n)
        }
        END { printf "%.2f;%.1f;%s;%.1f", total / n, us / n, line, sc ? sus / sc : 0 }')
    counts=$(rcli eval "$(cat "$DIR/count.lua")" 0 "$PREFIX" "$N")
    if [ "$counts" != "succeeded=$N" ]; then
        echo "bench: concurrency $conc: not all succeeded: $counts" >&2
        exit 1
    fi
    bytes=$(rcli info stats | tr -d '\r' \
            | awk -F: -v n="$N" '/^total_net_input_bytes:/ { printf "%.0f", $2 / n }')
    ms=$(( (t1 - t0) / 1000000 ))
    rate=$(echo "$N $ms" | awk '{ printf "%.0f", $1 * 1000 / $2 }')
    cpus=$(echo "$wcpu $rcpu $TICK $N" \
           | awk '{ printf "%.1f | %.1f", $1 * 1e6 / $3 / $4, $2 * 1e6 / $3 / $4 }')
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$conc" "$N" "$ms" \
        "$rate" "$(echo "$stats" | cut -d";" -f1)" \
        "$(echo "$stats" | cut -d";" -f2)" "$(echo "$stats" | cut -d";" -f4)" \
        "$bytes" "$cpus"
    echo "  per task: $(echo "$stats" | cut -d";" -f3)" >&2
}

echo "| concurrency | tasks | ms | tasks/s | Redis commands/task | Redis µs/task | µs/script call | bytes to Redis/task | worker CPU µs/task | Redis CPU µs/task |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in $CONCS; do
    run "$c"
done
