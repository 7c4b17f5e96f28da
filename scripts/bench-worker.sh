#!/bin/sh
# Benchmark: the worker side by side with its limits and its peers, in one
# run, on one private Redis (a free loopback port):
#
#   raw limit    a C client of hiredis (built here) draining the same
#                pre-filled stream as fast as a consumer group allows:
#                XREADGROUP COUNT 100, then one XACK and one XDEL naming
#                the batch's entries, pipelined with the next read
#   spawn limit  a C program (built here) that posix_spawns /bin/true and
#                waits for it, 64 in flight: what this machine can spawn
#   ping         taskgw-worker, builtin `ping`, over N pre-filled tasks,
#                at each concurrency of CONCS; every task must end
#                `succeeded`; the worker's peak RSS (VmHWM) is noted
#   exec         taskgw-worker running `exec /bin/true` at concurrency 64
#   Celery, RQ   a no-op task on Debian's python3-celery (prefork pool,
#                CELERY_CONC processes) and python3-rq (its default worker,
#                which forks per job); every task must end SUCCESS /
#                finished
#
# Tasks are created as taskgwctl and the cron create them (create.lua, by
# EVALSHA through redis-cli --pipe); filling is not timed.  taskgw is
# timed from the worker's start until the last task's finished_at, once
# the stream is empty and nothing is pending (its own start-up is counted
# against it); Celery and RQ from
# their first to their last task's completion time (their start-up is
# not).  Each row is the median of RUNS runs (each run's figure beside
# it); ratios are to the raw limit's median.  Every run is bounded by
# LIMIT seconds; whatever was started is stopped at exit.
#
#   sh scripts/deps.sh bench            # python3-celery, python3-rq
#   sh scripts/bench-worker.sh
#   N=20000 RUNS=1 CONCS="16 64" sh scripts/bench-worker.sh
#
# Settings (environment): N (100000) tasks per ping run, CONCS ("1 16 64
# 256"), N_EXEC (3000), N_CELERY (10000), N_RQ (1000), CELERY_CONC (2),
# RUNS (3), LIMIT (300) seconds per step, PEERS (1; 0 skips Celery/RQ),
# WORKER (build/taskgw-worker: another build to compare, e.g. an older
# one), WORKERS ("1": the ping rows for each number of taskgw-worker
# processes listed, all in one consumer group on the one Redis, each at
# the row's concurrency; "1 2" shows what a second worker process adds),
# STEPS ("raw ping exec peers": which rows to run; "exec" alone gives the
# spawn limit and the exec row, e.g. STEPS=exec N_EXEC=20000 RUNS=3).
# The spawn limit is measured right before and right after each run's
# exec row, and the exec row's ratio to their mean is printed per run
# below the table.
set -u

cd "$(dirname "$0")/.." || exit 1
N=${N:-100000}
CONCS=${CONCS:-1 16 64 256}
WORKERS=${WORKERS:-1}
N_EXEC=${N_EXEC:-3000}
N_CELERY=${N_CELERY:-10000}
N_RQ=${N_RQ:-1000}
CELERY_CONC=${CELERY_CONC:-2}
RUNS=${RUNS:-3}
LIMIT=${LIMIT:-300}
PEERS=${PEERS:-1}
STEPS=${STEPS:-raw ping exec peers}
PY=/usr/bin/python3                 # Debian's, where python3-celery lives
WORKER=${WORKER:-build/taskgw-worker}

[ -x "$WORKER" ] || { echo "bench: run make first" >&2; exit 1; }
if [ "$PEERS" = 1 ] && ! $PY -c 'import celery, rq, redis' 2>/dev/null; then
    echo "bench: Celery/RQ missing: sh scripts/deps.sh bench (or PEERS=0)" >&2
    exit 1
fi

. scripts/bench-lib.sh
bench_start bench-worker

PREFIX=bench
QUEUE=default
STREAM=$PREFIX:q:$QUEUE:normal
RESULTS=$DIR/results
: > "$RESULTS"
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
say() { echo "bench: $*" >&2; }

# ---- the two C helpers --------------------------------------------------

cat > "$DIR/raw.c" <<'C'
/* raw PORT STREAM GROUP COUNT: drains STREAM through GROUP, prints
 * "<entries> <seconds>". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <hiredis/hiredis.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    redisContext *c;
    redisReply   *r, *e, *x;
    const char   *s, *g, **cmd = NULL;
    long          done = 0, count;
    size_t        i, n, pending = 0;
    double        t0;

    if (argc != 5) {
        return 2;
    }
    s = argv[2];
    g = argv[3];
    count = atol(argv[4]);
    c = redisConnect("127.0.0.1", atoi(argv[1]));
    if (c == NULL || c->err) {
        return 1;
    }
    t0 = now();
    redisAppendCommand(c, "XREADGROUP GROUP %s raw COUNT %ld STREAMS %s >",
                       g, count, s);
    for ( ;; ) {
        while (pending > 0) {       /* the acks of the previous batch */
            if (redisGetReply(c, (void **) &x) != REDIS_OK) {
                return 1;
            }
            freeReplyObject(x);
            pending--;
        }
        if (redisGetReply(c, (void **) &r) != REDIS_OK) {
            return 1;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
            freeReplyObject(r);
            break;
        }
        e = r->element[0]->element[1];
        n = e->elements;
        /* one XACK and one XDEL naming every entry of the batch */
        cmd = realloc(cmd, (n + 3) * sizeof(char *));
        if (cmd == NULL) {
            return 1;
        }
        cmd[0] = "XACK";
        cmd[1] = s;
        cmd[2] = g;
        for (i = 0; i < n; i++) {
            cmd[3 + i] = e->element[i]->element[0]->str;
        }
        redisAppendCommandArgv(c, (int) n + 3, cmd, NULL);
        cmd[1] = "XDEL";
        cmd[2] = s;
        redisAppendCommandArgv(c, (int) n + 2, cmd + 1, NULL);
        pending = 2;
        done += (long) n;
        freeReplyObject(r);
        /* the next read goes out with these acks */
        redisAppendCommand(c, "XREADGROUP GROUP %s raw COUNT %ld STREAMS %s >",
                           g, count, s);
    }
    printf("%ld %.6f\n", done, now() - t0);
    free(cmd);
    redisFree(c);
    return 0;
}
C

cat > "$DIR/spawn.c" <<'C'
/* spawn N INFLIGHT: posix_spawn /bin/true N times, INFLIGHT at once;
 * prints "<exited 0> <seconds>". */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>

extern char **environ;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    char   *args[] = { "/bin/true", NULL };
    long    n, inflight, started = 0, running = 0, ok = 0;
    pid_t   pid;
    int     st;
    double  t0;

    if (argc != 3) {
        return 2;
    }
    n = atol(argv[1]);
    inflight = atol(argv[2]);
    t0 = now();
    while (started < n || running > 0) {
        while (started < n && running < inflight) {
            if (posix_spawn(&pid, args[0], NULL, NULL, args, environ) != 0) {
                return 1;
            }
            started++;
            running++;
        }
        if (waitpid(-1, &st, 0) < 0) {
            return 1;
        }
        running--;
        ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    printf("%ld %.6f\n", ok, now() - t0);
    return 0;
}
C

cc -O2 -o "$DIR/raw" "$DIR/raw.c" -lhiredis || exit 1
cc -O2 -o "$DIR/spawn" "$DIR/spawn.c" || exit 1

# ---- filling ------------------------------------------------------------

printf '#include <stdio.h>\n#include "tgw_lua.h"\nint main(void) { fputs(tgw_lua_create, stdout); return 0; }\n' \
    > "$DIR/dump.c"
cc -Iworker/common -o "$DIR/dump" "$DIR/dump.c" || exit 1
"$DIR/dump" > "$DIR/create.lua"

cat > "$DIR/count.lua" <<'LUA'
local n, last = {}, 0
for i = 1, tonumber(ARGV[2]) do
  local f = redis.call('HMGET', string.format('%s:task:bench-%08d', ARGV[1], i),
                       'status', 'finished_at')
  local s = f[1] or 'missing'
  n[s] = (n[s] or 0) + 1
  if f[2] and tonumber(f[2]) > last then last = tonumber(f[2]) end
end
local out = {}
for s, c in pairs(n) do out[#out + 1] = s .. '=' .. c end
table.sort(out)
return table.concat(out, ' ') .. ' ' .. string.format('%d', last)
LUA

# fill N TYPE: N tasks of TYPE in the default queue, normal priority
fill() {
    rcli flushall >/dev/null
    sha=$(rcli -x script load < "$DIR/create.lua")
    now=$(date +%s%3N)
    perl -e '
        my ($n, $sha, $p, $q, $now, $type) = @ARGV;
        sub cmd { my $s = "*" . scalar(@_) . "\r\n";
                  $s .= "\$" . length($_) . "\r\n$_\r\n" for @_; $s }
        for my $i (1 .. $n) {
            my $id = sprintf "bench-%08d", $i;
            print cmd("EVALSHA", $sha, 3, "$p:task:$id", "$p:q:$q:normal",
                      "$p:scheduled", $id, $q, $type, "normal",
                      "{}", "application/json", "bench", "", "", "",
                      $now, "", 0);
        }' "$1" "$sha" "$PREFIX" "$QUEUE" "$now" "$2" \
        | rcli --pipe > "$DIR/pipe.log" 2>&1 \
        || { cat "$DIR/pipe.log" >&2; exit 1; }
    [ "$(rcli xlen "$STREAM")" = "$1" ] \
        || { say "fill: stream holds $(rcli xlen "$STREAM") of $1"; exit 1; }
}

# record NAME CONC TASKS RATE [RSS]
record() {
    printf '%s|%s|%s|%s|%s\n' "$1" "$2" "$3" "$4" "${5:-}" >> "$RESULTS"
}

# rate TASKS SECONDS
rate() { echo "$1 $2" | awk '{ printf "%.0f", $1 / $2 }'; }

# ---- the steps ----------------------------------------------------------

step_raw() {
    fill "$N" system.ping
    rcli xgroup create "$STREAM" rawgroup 0 >/dev/null
    out=$(timeout "$LIMIT" "$DIR/raw" "$REDIS_PORT" "$STREAM" rawgroup 100) \
        || { say "raw: failed"; exit 1; }
    set -- $out
    [ "$1" = "$N" ] || { say "raw: read $1 of $N"; exit 1; }
    [ "$(rcli xlen "$STREAM")" = 0 ] || { say "raw: stream not empty"; exit 1; }
    [ "$(rcli xpending "$STREAM" rawgroup | head -1)" = 0 ] \
        || { say "raw: entries left pending"; exit 1; }
    record "raw consumer group (XREADGROUP COUNT 100 + XACK + XDEL of the batch, pipelined)" \
        - "$N" "$(rate "$1" "$2")"
}

step_spawn() {
    out=$(timeout "$LIMIT" "$DIR/spawn" "$N_EXEC" 64) \
        || { say "spawn: failed"; exit 1; }
    set -- $out
    [ "$1" = "$N_EXEC" ] || { say "spawn: $1 of $N_EXEC exited 0"; exit 1; }
    record "spawn limit (posix_spawn + wait of /bin/true)" 64 "$N_EXEC" \
        "$(rate "$1" "$2")"
}

# taskgw NAME CONC TASKS TYPE HANDLER-JSON [PROCESSES]: PROCESSES workers
# (default 1) in one consumer group; peak RSS is the largest of them
taskgw() {
    name=$1 conc=$2 n=$3 type=$4 procs=${6:-1}
    fill "$n" "$type"
    BENCH_PID=
    i=1
    t0=$(date +%s%3N)
    while [ $i -le "$procs" ]; do
        cat > "$DIR/worker-$i.json" <<JSON
{
  "redis": "127.0.0.1:$REDIS_PORT",
  "prefix": "$PREFIX",
  "group": "workers",
  "name": "bench-$i",
  "concurrency": $conc,
  "queues": {"$QUEUE": 1},
  "handlers": {"$type": $5}
}
JSON
        "$WORKER" -c "$DIR/worker-$i.json" > "$DIR/logs/worker-$i.log" 2>&1 &
        BENCH_PID="$BENCH_PID $!"
        i=$((i + 1))
    done
    deadline=$(( $(date +%s) + LIMIT ))
    while :; do
        left=$(rcli xlen "$STREAM")
        if [ "$left" = 0 ] \
           && [ "$(rcli xpending "$STREAM" workers | head -1)" = 0 ]; then
            break
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            say "$name c$conc: $left tasks left after ${LIMIT}s"
            exit 1
        fi
        sleep "${poll:-0.1}"
    done
    rss=
    for pid in $BENCH_PID; do
        rss="$rss $(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' \
                       "/proc/$pid/status" 2>/dev/null)"
    done
    rss=$(echo "$rss" | tr ' ' '\n' | sort -n | tail -1)
    # shellcheck disable=SC2086
    kill $BENCH_PID 2>/dev/null
    # shellcheck disable=SC2086
    wait $BENCH_PID 2>/dev/null
    BENCH_PID=
    # timed until the last task's finished_at (the worker's clock, ms),
    # not until the poll above saw it: polling every 20 ms cost some 7% of
    # the CPU the worker ran on (redis-cli and date processes)
    set -- $(rcli eval "$(cat "$DIR/count.lua")" 0 "$PREFIX" "$n")
    counts=$1 t1=${2:-0}
    [ "$counts" = "succeeded=$n" ] \
        || { say "$name c$conc: not all succeeded: $counts"; exit 1; }
    [ "$t1" -gt "$t0" ] || { say "$name c$conc: no finished_at"; exit 1; }
    record "$name" "$conc" "$n" \
        "$(echo "$n $t0 $t1" | awk '{ printf "%.0f", $1 * 1e3 / ($3 - $2) }')" \
        "$rss"
}

step_ping() {
    for w in $WORKERS; do
        if [ "$w" = 1 ]; then
            what="taskgw-worker, builtin ping"
        else
            what="$w taskgw-worker processes, builtin ping"
        fi
        for c in $CONCS; do
            taskgw "$what" "$c" "$N" system.ping '{"builtin": "ping"}' "$w"
        done
    done
}

# the spawn limit right before and right after the exec row (the same
# load on the machine), and the run's ratio of the exec row to the mean
# of the two
step_exec() {
    step_spawn
    # polled every 0.5 s: the poll's redis-cli, date and sleep processes
    # took ~3.5% of the machine at 0.1 s, which the spawn limit's row
    # does not pay (the row is timed by finished_at, not by the poll)
    poll=0.5
    taskgw "taskgw-worker, exec /bin/true" 64 "$N_EXEC" bench.true \
        '{"exec": ["/bin/true"]}'
    poll=
    step_spawn
    tail -3 "$RESULTS" | awk -F'|' '
        NR != 2 { s += $4 / 2 } NR == 2 { e = $4 }
        END { printf "%.2f\n", e / s }' >> "$DIR/exec-ratios"
}

# wait_for CMD EXPECTED WHAT: until CMD prints EXPECTED, within LIMIT
wait_for() {
    deadline=$(( $(date +%s) + LIMIT ))
    until [ "$(eval "$1")" = "$2" ]; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            say "$3: not done after ${LIMIT}s ($(eval "$1") of $2)"
            exit 1
        fi
        sleep 0.1
    done
}

step_celery() {
    rcli flushall >/dev/null
    cat > "$DIR/celery_bench.py" <<PY
from celery import Celery
app = Celery('bench', broker='redis://127.0.0.1:$REDIS_PORT/0',
             backend='redis://127.0.0.1:$REDIS_PORT/0')
app.conf.update(result_expires=None, worker_hijack_root_logger=False)

@app.task(name='noop')
def noop():
    return None
PY
    (cd "$DIR" && $PY -c "
from celery_bench import app
for i in range($N_CELERY):
    app.send_task('noop', task_id='bench-%08d' % i)
") || { say "celery: fill failed"; exit 1; }
    (cd "$DIR" && exec $PY -m celery -A celery_bench worker -l warning \
        --pool prefork -c "$CELERY_CONC" --without-heartbeat \
        --without-gossip --without-mingle) > "$DIR/logs/celery.log" 2>&1 &
    BENCH_PID=$!
    wait_for "rcli eval \"return #redis.call('keys', 'celery-task-meta-*')\" 0" \
        "$N_CELERY" celery
    kill "$BENCH_PID" 2>/dev/null
    wait "$BENCH_PID" 2>/dev/null
    BENCH_PID=
    out=$($PY - "$REDIS_PORT" "$N_CELERY" <<'PY'
import json, sys, datetime, redis
r = redis.Redis(port=int(sys.argv[1]))
n = int(sys.argv[2])
ok, t = 0, []
for i in range(n):
    m = r.get('celery-task-meta-bench-%08d' % i)
    if m is None:
        continue
    m = json.loads(m)
    ok += m['status'] == 'SUCCESS'
    t.append(datetime.datetime.fromisoformat(m['date_done']).timestamp())
print(ok, max(t) - min(t))
PY
) || { say "celery: check failed"; exit 1; }
    set -- $out
    [ "$1" = "$N_CELERY" ] || { say "celery: $1 of $N_CELERY SUCCESS"; exit 1; }
    record "Celery $($PY -c 'import celery; print(celery.__version__)'), prefork pool, no-op task" \
        "$CELERY_CONC" "$N_CELERY" "$(rate $(( $1 - 1 )) "$2")"
}

step_rq() {
    rcli flushall >/dev/null
    printf 'def noop():\n    return None\n' > "$DIR/rq_bench.py"
    (cd "$DIR" && $PY - "$REDIS_PORT" "$N_RQ" <<'PY'
import sys, redis
from rq import Queue
q = Queue(connection=redis.Redis(port=int(sys.argv[1])))
with q.connection.pipeline() as pipe:
    q.enqueue_many([Queue.prepare_data('rq_bench.noop', job_id='bench-%08d' % i,
                                       result_ttl=-1)
                    for i in range(int(sys.argv[2]))], pipeline=pipe)
    pipe.execute()
PY
) || { say "rq: fill failed"; exit 1; }
    (cd "$DIR" && PYTHONPATH=$DIR exec timeout "$LIMIT" $PY -c \
        'import sys; from rq.cli import main; sys.exit(main())' \
        worker --burst -q --url "redis://127.0.0.1:$REDIS_PORT") \
        > "$DIR/logs/rq.log" 2>&1 || { say "rq: worker failed"; exit 1; }
    out=$($PY - "$REDIS_PORT" "$N_RQ" <<'PY'
import sys, datetime, redis
r = redis.Redis(port=int(sys.argv[1]))
ok, t = 0, []
for i in range(int(sys.argv[2])):
    j = r.hgetall('rq:job:bench-%08d' % i)
    ok += j.get(b'status') == b'finished'
    if b'ended_at' in j:
        t.append(datetime.datetime.strptime(j[b'ended_at'].decode(),
                 '%Y-%m-%dT%H:%M:%S.%fZ').timestamp())
print(ok, max(t) - min(t))
PY
) || { say "rq: check failed"; exit 1; }
    set -- $out
    [ "$1" = "$N_RQ" ] || { say "rq: $1 of $N_RQ finished"; exit 1; }
    record "RQ $($PY -c 'import rq; print(rq.__version__)'), default worker (fork per job), no-op task" \
        1 "$N_RQ" "$(rate $(( $1 - 1 )) "$2")"
}

# ---- the runs and the table ---------------------------------------------

say "$(nproc) cores; load before: $(uptime | sed 's/.*load average: //')"
run=1
while [ $run -le "$RUNS" ]; do
    say "run $run of $RUNS"
    case " $STEPS " in *" raw "*) step_raw ;; esac
    case " $STEPS " in *" ping "*) step_ping ;; esac
    case " $STEPS " in *" exec "*) step_exec ;; esac
    if [ "$PEERS" = 1 ] && case " $STEPS " in *" peers "*) ;; *) false ;; esac
    then
        step_celery
        step_rq
    fi
    run=$((run + 1))
done
say "load after: $(uptime | sed 's/.*load average: //')"

# Rows in first-seen order; median of the runs; ratio to the raw limit's
# median (and, for the spawn-bound exec, to the spawn limit's).
awk -F'|' '
    function median(s,    a, n, i, j, t) {
        n = split(s, a, " ")
        for (i = 1; i <= n; i++)
            for (j = i + 1; j <= n; j++)
                if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        k = $1 SUBSEP $2
        if (!(k in runs)) { order[++nk] = k; name[k] = $1; conc[k] = $2; tasks[k] = $3 }
        runs[k] = runs[k] " " $4
        if ($5 != "") rss[k] = rss[k] " " $5
    }
    END {
        for (i = 1; i <= nk; i++) {
            k = order[i]
            med[k] = median(runs[k])
            if (name[k] ~ /^raw/) raw = med[k]
            if (name[k] ~ /^spawn/) spawn = med[k]
            if (name[k] ~ /^Celery/) celery = med[k]
        }
        print "| what | concurrency | tasks | tasks/s (median) | runs | × raw limit | × spawn limit | × Celery | peak RSS MB |"
        print "|---|---:|---:|---:|---|---:|---:|---:|---:|"
        for (i = 1; i <= nk; i++) {
            k = order[i]
            r = runs[k]; sub(/^ /, "", r); gsub(/ /, ", ", r)
            m = rss[k]; sub(/^ /, "", m); gsub(/ /, ", ", m)
            printf "| %s | %s | %s | %.0f | %s | %s | %s | %s | %s |\n",
                name[k], conc[k], tasks[k], med[k], r,
                raw ? sprintf("%.3f", med[k] / raw) : "",
                (spawn && name[k] ~ /exec/) ? sprintf("%.2f", med[k] / spawn) : "",
                (celery && name[k] ~ /^taskgw/) ? sprintf("%.1f", med[k] / celery) : "",
                m
        }
    }' "$RESULTS"

if [ -s "$DIR/exec-ratios" ]; then
    awk '
        { r[NR] = $1 + 0; l = l (NR > 1 ? ", " : "") $1 }
        END {
            for (i = 1; i <= NR; i++)
                for (j = i + 1; j <= NR; j++)
                    if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
            printf "\nexec /bin/true ÷ the spawn limit around it, run by run: %s (median %.2f)\n",
                   l, NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
        }' "$DIR/exec-ratios"
fi
