#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the whole suite: the C unit tests (build/intent_test) and every
# tests/e2e/*.sh script. Each prints "ok NAME", "FAIL NAME: why" or
# "skip NAME: why" lines; a script that exits non-zero without printing a
# FAIL line counts as one failure. The last line is "N passed, N failed".
#   tests/run.sh [BUILD_DIR]          (default: build)
set -u
build=${1:-build}
export IC_TEST_CLI="$build/intent"
export IC_TEST_GOLDEN="tests/golden"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fails_extra=0

run_one() { # name, command...
    local name=$1; shift
    local out rc
    out=$("$@" 2>"$log.err"); rc=$?
    printf '%s\n' "$out"
    printf '%s\n' "$out" >>"$log"
    if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL '; then
        echo "FAIL $name: exited with status $rc"
        echo "FAIL $name: exited with status $rc" >>"$log"
        tail -n 20 "$log.err" | sed 's/^/    /'
    elif [ $rc -ne 0 ]; then
        tail -n 20 "$log.err" | sed 's/^/    /'
    fi
    rm -f "$log.err"
}

run_one unit "$build/intent_test"
for t in tests/e2e/*.sh; do
    [ -e "$t" ] || continue
    run_one "$(basename "$t" .sh)" bash "$t" "$build"
done

passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^FAIL ' "$log")
skipped=$(grep -c '^skip ' "$log")
[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
