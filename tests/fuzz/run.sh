#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh - builds every libFuzzer target tests/fuzz/fuzz_<x>.c (clang,
# ASan + UBSan) and runs each one in turn.
#
#   tests/fuzz/run.sh SECONDS [TARGET...]   fuzz each target for SECONDS
#   tests/fuzz/run.sh --smoke [TARGET...]   replay the seeds and regressions,
#                                           then fuzz each target briefly
#                                           (FUZZ_SMOKE_SECONDS, default 2)
#   tests/fuzz/run.sh --build               build only
# TARGET is a name like "dataset" or "fuzz_dataset"; default: all of them.
#
# Environment: FUZZ_BUILD (default build/fuzz), FUZZ_JOBS (make -j, 2),
# FUZZ_RSS_MB (2048), FUZZ_TIMEOUT (seconds per input before libFuzzer calls
# it a hang, 10).
#
# Corpora: tests/fuzz/corpus/<x>/ (committed seeds, read-only here) and
# tests/fuzz/regress/<x>/ (inputs that once crashed) are read; new inputs
# found go to $FUZZ_BUILD/corpus/<x>/. A crash, leak or hang leaves its input
# in $FUZZ_BUILD/crashes/<x>/ and the target counts as failed: copy that
# input to tests/fuzz/regress/<x>/ once fixed (tests/unit/test_fuzz_regress.c
# replays it in every test run).
#
# The fuzzers run at the lowest CPU priority (nice 19): the machine may be
# shared with benchmarks.
#
# Output: one line per target, "ok fuzz_<x>: ...", "FAIL fuzz_<x>: ..." or
# "skip fuzz: ..." when clang's libFuzzer is not available. Exit status is
# non-zero when any target failed to build or crashed.
set -u
cd "$(dirname "$0")/../.." || exit 2

mode=time secs=
case "${1:-}" in
--smoke) mode=smoke; secs=${FUZZ_SMOKE_SECONDS:-2}; shift ;;
--build) mode=build; shift ;;
''|-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2 ;;
*) secs=$1; shift
   case "$secs" in ''|*[!0-9]*) echo "run.sh: SECONDS must be a number, not '$secs'" >&2; exit 2 ;; esac ;;
esac

FB=${FUZZ_BUILD:-build/fuzz}
JOBS=${FUZZ_JOBS:-2}
RSS=${FUZZ_RSS_MB:-2048}
TMO=${FUZZ_TIMEOUT:-10}

# --- is libFuzzer there? --------------------------------------------------------
if ! command -v clang >/dev/null 2>&1; then
    echo "skip fuzz: clang is not installed (apt-get install clang)"; exit 0
fi
probe=$(mktemp -d)
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
    rm -rf "$probe"
    echo "skip fuzz: clang cannot link libFuzzer (-fsanitize=fuzzer); install clang's runtime (libclang-rt-dev / libclang-common-dev)"
    exit 0
fi
rm -rf "$probe"

# --- targets --------------------------------------------------------------------
targets=()
if [ $# -gt 0 ]; then
    for t in "$@"; do t=${t#fuzz_}; t=${t%.c}; targets+=("$t"); done
else
    for f in tests/fuzz/fuzz_*.c; do [ -e "$f" ] || continue; t=$(basename "$f" .c); targets+=("${t#fuzz_}"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "skip fuzz: no targets in tests/fuzz/"; exit 0; }

# --- build (serialised: several test runs may share $FB) ------------------------
mkdir -p "$FB"
exec 9>"$FB/.lock"
flock 9 2>/dev/null || true
# compile and link flags as the Makefile has them (libraries change as the
# project grows)
flags=$(make -s NO_OMP=1 print-fuzz-flags 2>/dev/null)
LIBS=$(printf '%s\n' "$flags" | sed -n 's/^LIBS=//p')
INC=$(printf '%s\n' "$flags" | sed -n 's/^CFLAGS=//p' | tr ' ' '\n' | grep -E '^-(I|D)' | tr '\n' ' ')
if [ -z "$LIBS" ]; then
    echo "FAIL fuzz_build: 'make print-fuzz-flags' gave no link flags"; exit 1
fi
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
blog="$FB/build.log"
if ! make -s -j"$JOBS" BUILD="$FB/lib" CC=clang NO_OMP=1 OPT=-O1 \
        EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $SAN" EXTRA_LDFLAGS="$SAN" \
        "$FB/lib/libintent.a" >"$blog" 2>&1; then
    echo "FAIL fuzz_build: libintent.a does not build with clang (see $blog)"
    tail -n 20 "$blog" | sed 's/^/    /' >&2
    exit 1
fi
failed=0
built=()
for t in "${targets[@]}"; do
    src=tests/fuzz/fuzz_$t.c bin=$FB/fuzz_$t
    if [ ! -f "$src" ]; then echo "FAIL fuzz_$t: no $src"; failed=1; continue; fi
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$FB/lib/libintent.a" -nt "$bin" ] ||
       [ tests/fuzz/fuzz_common.h -nt "$bin" ]; then
        if ! clang -std=c11 -D_GNU_SOURCE -g -O1 $INC -fsanitize=fuzzer $SAN \
                "$src" "$FB/lib/libintent.a" $LIBS -o "$bin" >"$FB/build_$t.log" 2>&1; then
            echo "FAIL fuzz_$t: does not build (see $FB/build_$t.log)"
            tail -n 20 "$FB/build_$t.log" | sed 's/^/    /' >&2
            failed=1; continue
        fi
    fi
    built+=("$t")
done
exec 9>&-
[ "$mode" = build ] && { [ $failed -eq 0 ] && echo "ok fuzz_build: ${built[*]}"; exit $failed; }

# --- run ------------------------------------------------------------------------
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export IC_FUZZ_TMPDIR="$scratch" INTENT_LOG=error
for t in "${built[@]}"; do
    bin=$FB/fuzz_$t
    work=$FB/corpus/$t crashes=$FB/crashes/$t
    mkdir -p "$work" "$crashes"
    dirs=("$work")
    for d in tests/fuzz/corpus/$t tests/fuzz/regress/$t; do [ -d "$d" ] && dirs+=("$d"); done
    opts=(-timeout="$TMO" -rss_limit_mb="$RSS" -malloc_limit_mb="$RSS" -artifact_prefix="$crashes/"
          -print_final_stats=1)
    [ -f "tests/fuzz/$t.dict" ] && opts+=(-dict="tests/fuzz/$t.dict")
    log=$FB/run_$t.log
    [ "$mode" = smoke ] && log=$FB/smoke_$t.log
    rc=0
    if [ "$mode" = smoke ]; then
        # every committed input once (seeds and regressions), then a short run
        files=()
        for d in tests/fuzz/corpus/$t tests/fuzz/regress/$t; do
            [ -d "$d" ] && for f in "$d"/*; do [ -f "$f" ] && files+=("$f"); done
        done
        if [ ${#files[@]} -gt 0 ]; then
            nice -n 19 "$bin" "${opts[@]}" -runs=1 "${files[@]}" >"$log" 2>&1 || rc=$?
        fi
        [ $rc -eq 0 ] && { nice -n 19 "$bin" "${opts[@]}" -max_total_time="$secs" "${dirs[@]}" >>"$log" 2>&1 || rc=$?; }
    else
        # fork mode: keep fuzzing after a crash, so one known bug does not
        # hide the others; every crashing input is kept in $crashes
        touch "$FB/.mark_$t"
        nice -n 19 "$bin" "${opts[@]}" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
            -max_total_time="$secs" "${dirs[@]}" >"$log" 2>&1 || rc=$?
        new=$(find "$crashes" -type f -newer "$FB/.mark_$t" | wc -l)
        first=$(find "$crashes" -type f -newer "$FB/.mark_$t" | head -n 1)
        [ "$new" -gt 0 ] && rc=1
    fi
    if [ "$mode" = time ]; then # fork mode: "#N: cov: C ft: ..."
        runs=$(grep -ao '^#[0-9]*: cov' "$log" | tail -n 1 | tr -dc '0-9')
    else
        runs=$(grep -a '^stat::number_of_executed_units:' "$log" | tail -n 1 | tr -dc '0-9')
    fi
    cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')
    if [ $rc -eq 0 ]; then
        echo "ok fuzz_$t: ${runs:-?} runs in ${secs}s, coverage ${cov:-?} edges"
    else
        art=$(grep -a 'Test unit written to' "$log" | tail -n 1 | sed 's/.*Test unit written to //')
        # replaying committed files: the one that was running
        [ -n "$art" ] || art=$(grep -a '^Running: ' "$log" | tail -n 1 | sed 's/^Running: //')
        why=$(grep -a -m1 -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|fuzz invariant broken|ALARM|out-of-memory' "$log" | head -c 300)
        if [ "$mode" = time ]; then
            echo "FAIL fuzz_$t: $new crashing input(s) in $crashes/ (e.g. $first; replay: $bin $first)${why:+: $why}"
        else
            echo "FAIL fuzz_$t: ${why:-exit $rc}; input: ${art:-?}; log: $log"
        fi
        failed=1
    fi
done
exit $failed
