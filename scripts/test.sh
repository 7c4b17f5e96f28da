#!/bin/sh
# `make test`: starts a private redis-server on a free loopback port, runs
# every suite (Test::Nginx t/*.t, the runner's self-test, the worker's C
# unit tests, end-to-end t/e2e/*.t), stops what it started, and ends with
# "N passed, M failed".  Exit status is non-zero when anything failed.
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/taskgw-test.XXXXXX")
REDIS_PID=

cleanup() {
    if [ -n "$REDIS_PID" ] && kill -0 "$REDIS_PID" 2>/dev/null; then
        kill "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
    fi
    rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TEST_NGINX_REDIS_PORT=$(perl scripts/free-port.pl) || exit 1
redis-server --port "$TEST_NGINX_REDIS_PORT" --bind 127.0.0.1 \
    --save '' --appendonly no --dir "$RUN_DIR" \
    --logfile "$RUN_DIR/redis.log" &
REDIS_PID=$!

i=0
until redis-cli -p "$TEST_NGINX_REDIS_PORT" ping >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then
        echo "test: redis-server did not start" >&2
        cat "$RUN_DIR/redis.log" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
    sleep 0.05
done

export TEST_NGINX_REDIS_PORT
TEST_NGINX_PORT=$(perl scripts/free-port.pl)
export TEST_NGINX_PORT
TASKGW_ENV_SH=$ROOT/t/env.sh
. "$ROOT/t/env.sh"

if [ "${TASKGW_SAN:-0}" = 1 ]; then
    SAN_LOGS=$TASKGW_OUT/san-logs
    rm -rf "$SAN_LOGS"
    mkdir -p "$SAN_LOGS"
    LIBASAN=$(gcc -print-file-name=libasan.so)
    cat > "$TEST_NGINX_BINARY" <<WRAP
#!/bin/sh
# nginx with the ASan runtime preloaded, for the instrumented module.
export LD_PRELOAD=$LIBASAN
export ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=1:log_path=$SAN_LOGS/nginx:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:log_path=$SAN_LOGS/nginx-ubsan
exec /usr/sbin/nginx "\$@"
WRAP
    chmod +x "$TEST_NGINX_BINARY"
    # the worker, the CLI and the unit tests are instrumented executables;
    # detect_stack_use_after_return: a pointer kept into a frame that
    # returned is reported (the record plan once kept two)
    ASAN_OPTIONS=log_path=$SAN_LOGS/worker:detect_leaks=1:detect_stack_use_after_return=1
    UBSAN_OPTIONS=print_stacktrace=1:log_path=$SAN_LOGS/worker-ubsan
    export ASAN_OPTIONS UBSAN_OPTIONS SAN_LOGS
fi

perl scripts/harness.pl "$@"
