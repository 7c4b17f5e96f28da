#!/bin/sh
# Installs the Debian packages taskgw needs to build and run, and with
# `test` also those only the test suites need.  Only what is missing is
# installed; nothing happens when all are present.
#
#   sh scripts/deps.sh         build and run (make, make run)
#   sh scripts/deps.sh test    and the test dependencies (make test)
#   sh scripts/deps.sh bench   and what the benchmarks compare taskgw with
#
# `test` also installs, with npm, the independent webhook signature
# verifier of the end-to-end tests (the reference Standard Webhooks
# implementation, npm "standardwebhooks", pinned in t/node/package.json
# and package-lock.json) into t/node/node_modules: the tests check every
# signature the worker makes with it, never with taskgw's own code.  And it
# fetches the source of Debian's nginx into build/nginx-src for the
# module's fuzz targets (scripts/nginx-src.sh).
#
# The test dependencies include nginx-extras, Debian's set of third-party
# modules (nchan, lua, echo, headers-more, ...): a suite proves taskgw
# works loaded beside every one of them.  Installing it enables those
# modules in /etc/nginx/modules-enabled/, so run the tests on a
# development machine, not on the nginx you serve with.
set -eu

PKGS="build-essential pkg-config perl curl procps
nginx nginx-dev zlib1g-dev libpcre2-dev libssl-dev
libhiredis-dev libjansson-dev libuv1-dev libcurl4-openssl-dev
redis-server"

# prometheus: its promtool checks the metrics exposition (t/e2e/100-metrics.t)
# clang, libclang-rt-14-dev: libFuzzer and the sanitizers of `make fuzz`
# cppcheck, clang-tidy: the static analysers of `make lint`
# valgrind: `make test-valgrind` (the worker's end-to-end suites under it)
# redis-sentinel: the high-availability rig of the end-to-end tests
# (t/lib/TaskGW/HA.pm: a primary, a replica and three sentinels)
# strace: the suites that count a process's system calls (t/e2e/065, 066,
# 087: writes per batch, per log line, spawns per batch)
TEST_PKGS="nginx-extras prometheus clang libclang-rt-14-dev cppcheck
clang-tidy valgrind redis-sentinel strace"

# bench: the load generator and the peers scripts/bench-*.sh run beside taskgw
# scripts/bench-gateway.sh: wrk; nginx + Lua (lua-resty-redis); FastAPI on
# uvicorn with redis.asyncio (with uvloop and httptools, as uvicorn[standard])
# scripts/bench-worker.sh: Celery and RQ running no-op tasks over Redis
BENCH_PKGS="wrk libnginx-mod-http-lua lua-nginx-redis"
BENCH_PKGS="$BENCH_PKGS python3-fastapi python3-uvicorn python3-redis"
BENCH_PKGS="$BENCH_PKGS python3-uvloop python3-httptools"
BENCH_PKGS="$BENCH_PKGS python3-celery python3-rq"

TEST=0
case "${1:-}" in
    "") ;;
    test) PKGS="$PKGS $TEST_PKGS"; TEST=1 ;;
    bench) PKGS="$PKGS $BENCH_PKGS" ;;
    *) echo "usage: sh scripts/deps.sh [test|bench]" >&2; exit 2 ;;
esac

# The npm part of `test`: t/node/node_modules from the committed lock file,
# again whenever the lock file changed since the last install.
node_deps() {
    dir=$(cd "$(dirname "$0")/.." && pwd)/t/node
    stamp=$dir/node_modules/.package-lock.json
    if [ -f "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "taskgw: the tests need Node.js (>= 18) and npm for the webhook verifier" >&2
        exit 1
    fi
    echo "taskgw: installing the webhook verifier (npm ci in t/node)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || {
        echo "taskgw: npm ci in $dir failed" >&2
        exit 1
    }
}

[ "${1:-}" = test ] && node_deps

# The other part: the source of the nginx that nginx-dev comes from, for
# the module's fuzz targets (scripts/nginx-src.sh says why and how).
nginx_src() {
    [ "$TEST" = 1 ] || return 0
    sh "$(dirname "$0")/nginx-src.sh"
}

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    nginx_src
    exit 0
fi

echo "taskgw: missing Debian packages:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=sudo
    else
        echo "taskgw: run as root:  apt-get update && apt-get install -y$missing" >&2
        exit 1
    fi
else
    SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null

# Debian starts the packaged daemons on install where it can; taskgw runs
# its own private instances, so leave the system ones alone but stopped.
# The system sentinel is also kept from starting at boot: it would watch
# the system redis-server on 6379 and answer on 26379, and a stray
# sentinel is the last thing a failover test needs beside its own.
if command -v service >/dev/null 2>&1; then
    $SUDO service nginx stop >/dev/null 2>&1 || true
    $SUDO service redis-server stop >/dev/null 2>&1 || true
    $SUDO service redis-sentinel stop >/dev/null 2>&1 || true
    $SUDO service prometheus stop >/dev/null 2>&1 || true
fi
case " $missing " in
*" redis-sentinel "*)
    if command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable redis-sentinel >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1; then
        $SUDO update-rc.d redis-sentinel disable >/dev/null 2>&1 || true
    fi
    ;;
esac
nginx_src
exit 0
