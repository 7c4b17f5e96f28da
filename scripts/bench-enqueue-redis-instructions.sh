#!/bin/sh
# What one enqueue costs Redis, in instructions (valgrind's callgrind):
# the gateway's side is scripts/bench-enqueue-instructions.sh, this is the
# other end of its link.  redis-server runs under callgrind, nginx (one
# worker, not under valgrind) stores N enqueues of a 200-byte JSON body
# sent over one keep-alive connection (or BENCH_CONC at once over as
# many), then, on a new Redis, 2N: the per-enqueue figure is the
# difference over N, so Redis's start and stop are left out.  With
# BENCH_TOP=n the n functions that cost the most in the 2N run are listed
# (inclusive of what they call; they need a redis-server with symbols).
#
#   sh scripts/bench-enqueue-redis-instructions.sh [N]
#
# BENCH_MODULE: the taskgw module to load (build/ngx_http_taskgw_module.so)
# BENCH_REDIS_SERVER: the redis-server to measure (the one on PATH)
# BENCH_REDIS: more redis-server settings, e.g.
# "--hash-max-listpack-value 1024" (none: Redis's defaults)
# BENCH_CGOUT: where to keep the 2N run's callgrind output
# BENCH_CONC: requests sent at once (1), as for the nginx side
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
N=${1:-3000}
MODULE=${BENCH_MODULE:-$ROOT/build/ngx_http_taskgw_module.so}
SERVER=${BENCH_REDIS_SERVER:-redis-server}
CGOUT=${BENCH_CGOUT:-}
TOP=${BENCH_TOP:-0}
CONC=${BENCH_CONC:-1}

command -v valgrind >/dev/null 2>&1 || { echo "bench: needs valgrind" >&2; exit 1; }
[ -f "$MODULE" ] || { echo "bench: run make first" >&2; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/taskgw-bench-enq-redis-ir.XXXXXX")
chmod 755 "$DIR"
mkdir -p "$DIR/logs" "$DIR/conf"
REDIS_PORT=$(perl scripts/free-port.pl)
HTTP_PORT=$(perl scripts/free-port.pl)

# its own Redis runs under callgrind, so not bench_start's; the cleanup
# at exit (nginx, Redis, $DIR) is bench-lib.sh's
. scripts/bench-lib.sh
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

cat > "$DIR/conf/nginx.conf" <<CONF
load_module $MODULE;
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $DIR/body;
    taskgw_redis 127.0.0.1:$REDIS_PORT;
    server {
        listen 127.0.0.1:$HTTP_PORT;
        location /plain { taskgw_enqueue queue=bench; }
    }
}
CONF

# the nginx side's client (bench-enqueue-instructions.sh), taken from it
sed -n "/^cat > \"\$DIR\/client.pl\" <<'PERL'$/,/^PERL$/p" \
    scripts/bench-enqueue-instructions.sh | sed '1d;$d' > "$DIR/client.pl"

# instructions of one Redis run storing n enqueues
measure() {
    rm -f "$DIR/dump.rdb"
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --callgrind-out-file="$DIR/cg.out" \
        "$SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$DIR" --logfile "$DIR/logs/redis.log" \
        ${BENCH_REDIS:-} >/dev/null 2>"$DIR/vg.log" &
    REDIS_PID=$!
    i=0
    until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 300 ] && { echo "bench: redis did not start" >&2; exit 1; }
        sleep 0.1
    done
    /usr/sbin/nginx -p "$DIR/" -c conf/nginx.conf || exit 1
    # the link is up once an enqueue is stored; the warm-up is the same in
    # both runs, so the difference leaves it out
    i=0
    until [ "$(perl "$DIR/client.pl" "$HTTP_PORT" /plain 1 1)" = 1 ]; do
        i=$((i + 1))
        [ $i -gt 300 ] && { echo "bench: no enqueue stored" >&2; exit 1; }
        sleep 0.1
    done
    ok=$(perl "$DIR/client.pl" "$HTTP_PORT" /plain "$1" "$CONC")
    [ "$ok" = "$1" ] || echo "bench: only $ok of $1 answered 202" >&2
    STORED=$(redis-cli -p "$REDIS_PORT" xlen taskgw:q:bench:normal)
    ENC=$(redis-cli -p "$REDIS_PORT" --raw eval \
        "local e = redis.call('xrange', KEYS[1], '-', '+', 'COUNT', 1)
         return redis.call('object', 'encoding', 'taskgw:task:' .. e[1][2][2])" \
        1 taskgw:q:bench:normal)
    /usr/sbin/nginx -p "$DIR/" -c conf/nginx.conf -s stop 2>/dev/null
    i=0
    while [ -f "$DIR/logs/nginx.pid" ]; do
        i=$((i + 1)); [ $i -gt 300 ] && break
        sleep 0.1
    done
    kill "$REDIS_PID"
    wait "$REDIS_PID"; REDIS_PID=
    awk '/^(summary|totals):/ { print $2; exit }' "$DIR/cg.out" > "$DIR/ir"
}

measure "$N";           R1=$(cat "$DIR/ir"); S1=$STORED
measure $((N * 2));     R2=$(cat "$DIR/ir"); S2=$STORED

[ -n "$CGOUT" ] && cp "$DIR/cg.out" "$CGOUT"

echo "redis-server instructions per enqueue (callgrind, $N and $((N * 2)) enqueues, $CONC at once):"
echo "$R1 $R2 $N" | awk '{ printf "  enqueue:     %8.0f\n", ($2 - $1) / $3 }'
echo "tasks stored: $S1 and $S2 (of $((N + 1)) and $((N * 2 + 1))); a task hash is a $ENC"

if [ "$TOP" -gt 0 ]; then
    echo "most costly functions of the $((N * 2))-enqueue run, inclusive:"
    callgrind_annotate --inclusive=yes "$DIR/cg.out" 2>/dev/null \
        | grep -E '^ *[0-9,]+ ' | head -n "$TOP"
fi
