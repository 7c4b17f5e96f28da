#!/bin/sh
# Runs every fuzz target (fuzz/fuzz_*.c) over its seed corpus and then
# fuzzes it for a few seconds; prints TAP, one test point per target.
# `make test` runs it (about 30 s in all); `make fuzz-run` runs it with
# FUZZ_TIME seconds per target.  New inputs the fuzzer finds go to
# build/fuzz/corpus/<name>/ (never into the committed seeds), a crashing
# input to build/fuzz/crash/<name>-*.
#
#   sh scripts/fuzz-smoke.sh [seconds per target]        default 2
#   FUZZ_TARGETS="conf cron" sh scripts/fuzz-smoke.sh 600    only those
#
# Without clang's libFuzzer runtime (Debian: clang, libclang-rt-14-dev,
# which `sh scripts/deps.sh test` installs) every point is a skip.  The
# module's targets also need the nginx source that `sh scripts/deps.sh
# test` fetches (scripts/nginx-src.sh); `make fuzz` fetches it when it is
# missing.
set -u

cd "$(dirname "$0")/.." || exit 1
SECS=${1:-2}
OUT=build/fuzz
TARGETS=${FUZZ_TARGETS:-$(ls fuzz/fuzz_*.c | sed 's|fuzz/fuzz_||; s|\.c$||')}
N=$(echo $TARGETS | wc -w)

echo "1..$N"

# Is there a clang that links -fsanitize=fuzzer?
probe=$(mktemp -d "${TMPDIR:-/tmp}/taskgw-fuzz.XXXXXX")
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ return 0; }\n' \
    > "$probe/p.c"
if ! clang -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" \
        >"$probe/log" 2>&1; then
    i=0
    for t in $TARGETS; do
        i=$((i + 1))
        echo "ok $i - fuzz_$t # SKIP clang's libFuzzer runtime is not" \
             "installed (apt-get install clang libclang-rt-14-dev)"
    done
    exit 0
fi

if ! make -s fuzz >"$probe/build.log" 2>&1; then
    sed 's/^/# /' "$probe/build.log"
    i=0
    for t in $TARGETS; do
        i=$((i + 1))
        echo "not ok $i - fuzz_$t # make fuzz failed"
    done
    exit 1
fi

rc=0
i=0
for t in $TARGETS; do
    i=$((i + 1))
    mkdir -p "$OUT/corpus/$t" "$OUT/crash"
    # one process (no -jobs); the first directory receives what the
    # fuzzer finds, the seeds are only read
    if "$OUT/fuzz_$t" -max_total_time="$SECS" \
            -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
            -artifact_prefix="$OUT/crash/$t-" \
            "$OUT/corpus/$t" "fuzz/corpus/$t" >"$probe/$t.log" 2>&1
    then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
                   "$probe/$t.log")
        echo "ok $i - fuzz_$t: seeds, then ${SECS}s, $runs executions"
    else
        echo "not ok $i - fuzz_$t crashed (input in $OUT/crash/):"
        grep -v '^INFO\|^#[0-9]' "$probe/$t.log" | head -60 | sed 's/^/# /'
        rc=1
    fi
done
exit $rc
