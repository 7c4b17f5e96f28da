#!/bin/sh
# `make lint`: cppcheck and clang-tidy over the module, the worker,
# taskgwctl, worker/common and the unit tests, each file with the flags it
# is built with (scripts/compdb.pl writes build/lint/compile_commands.json
# from the Makefiles: the module's from nginx's configure, with Debian's
# flags from nginx-dev).  The checks are in .clang-tidy and
# scripts/cppcheck.supp, each check or line left out with its reason.
# Exits non-zero on any finding; the last line says how many.
#
#   sh scripts/lint.sh NGX_BUILD_DIR      (make lint passes build/nginx)
#
# LINT_JOBS=N runs N clang-tidy processes at once (default 2).
set -u

cd "$(dirname "$0")/.." || exit 1
NGX_BUILD=${1:-build/nginx}
OUT=build/lint
JOBS=${LINT_JOBS:-2}

for tool in cppcheck clang-tidy; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "lint: $tool is missing (sh scripts/deps.sh test installs it)" >&2
        exit 2
    fi
done

mkdir -p $OUT
if ! perl scripts/compdb.pl "$NGX_BUILD" "$(pwd)/$OUT/obj" \
        > $OUT/compile_commands.json.tmp; then
    echo "lint: could not write the compile commands" >&2
    exit 2
fi
mv $OUT/compile_commands.json.tmp $OUT/compile_commands.json

FILES=$(sed -n 's/.*"file": "\([^"]*\)".*/\1/p' $OUT/compile_commands.json)
echo "lint: $(echo "$FILES" | wc -l) files"

# worker/common/tgw_lua.h is generated from worker/common/lua but kept
# in the tree: after a merge its mtime says nothing, so compare it with
# what scripts/lua2h.sh makes of the scripts now.
echo "lint: tgw_lua.h"
# shellcheck disable=SC2046
(cd worker && LC_ALL=C sh ../scripts/lua2h.sh "../$OUT/tgw_lua.h" \
    $(printf "%s\n" common/lua/*.lua | LC_ALL=C sort))
lua_rc=0
if ! cmp -s $OUT/tgw_lua.h worker/common/tgw_lua.h; then
    echo "worker/common/tgw_lua.h: error: not what scripts/lua2h.sh makes" \
         "of worker/common/lua now (rm it and run make)"
    lua_rc=1
fi

# cppcheck: the checks that find bugs, not style (no "style" class).
echo "lint: cppcheck"
cppcheck --project=$OUT/compile_commands.json \
    --enable=warning,portability,performance \
    --suppressions-list=scripts/cppcheck.supp --inline-suppr \
    --error-exitcode=1 --quiet -j "$JOBS" \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
    > $OUT/cppcheck.log 2>&1
cpp_rc=$?
cat $OUT/cppcheck.log

# clang-tidy: .clang-tidy at the top of the tree; every warning is an
# error there.  Its "N warnings generated" chatter is dropped.
echo "lint: clang-tidy"
echo "$FILES" | xargs -P "$JOBS" -n 4 clang-tidy -p $OUT --quiet \
    > $OUT/clang-tidy.log 2>&1
tidy_rc=$?
grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|^Error while processing' \
    $OUT/clang-tidy.log

n_cpp=$(grep -c -E ': (error|warning|portability|performance|style|information): ' \
        $OUT/cppcheck.log)
n_tidy=$(sort -u $OUT/clang-tidy.log | grep -c -E ': (error|warning): ')

if [ $cpp_rc -ne 0 ] || [ $tidy_rc -ne 0 ] || [ $lua_rc -ne 0 ]; then
    echo "lint: FAILED: $n_cpp cppcheck and $n_tidy clang-tidy findings," \
         "$lua_rc stale generated header" \
         "(cppcheck exit $cpp_rc, clang-tidy exit $tidy_rc)"
    exit 1
fi
echo "lint: clean (cppcheck and clang-tidy, 0 findings; tgw_lua.h current)"
