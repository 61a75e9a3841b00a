#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tsan-test.sh - ThreadSanitizer runs of everything that uses threads:
#
#  1. gcc, SANITIZER=thread NO_OMP=1 (build/thread/): the whole unit suite
#     (threads sharing one model, the batched predictor, the server with
#     reloads, the tracker's background sender and sampler) and the serve,
#     train and faults end-to-end tests. OpenMP is off in this build because
#     libgomp is not built with TSan: its barriers and task queues are
#     invisible to TSan, so every parallel loop would be reported as a race
#     (false positives). The Makefile also sets IC_NO_CLONES for this
#     sanitizer: GCC's target_clones resolvers (ifuncs) run during
#     relocation, before the TSan runtime is up, and crash the binary.
#  2. clang with LLVM's OpenMP runtime (libomp) and its Archer tool
#     (OMP_TOOL_LIBRARIES=libarcher.so), which tells TSan about OpenMP's
#     synchronisation, so the threaded kernels themselves are checked with
#     no false positives (build/thread-omp/): the unit suite, with OpenBLAS's
#     own threads off (its pthread build, OPENBLAS_NUM_THREADS=1; OpenBLAS is
#     not instrumented). Skipped, saying so, when clang, libomp or Archer is
#     missing (Debian: clang, libomp-dev).
#
# Any TSan report fails the run (each instrumented process exits 66 on a
# report; reports are also collected under $TSAN_LOG_DIR and printed).
#   scripts/tsan-test.sh            (JOBS=2 by default)
set -u
cd "$(dirname "$0")/.." || exit 2
JOBS=${JOBS:-2}
MA=$(cc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
LOGD=${TSAN_LOG_DIR:-$(mktemp -d /tmp/intent-tsan.XXXXXX)}
mkdir -p "$LOGD"
fail=0

report() { # NAME: prints the collected reports; fails when there are any
    local n
    n=$(cat "$LOGD"/r.* 2>/dev/null | grep -c 'WARNING: ThreadSanitizer')
    if [ "$n" -gt 0 ]; then
        echo "FAIL tsan_reports_$1: $n ThreadSanitizer report(s):"
        cat "$LOGD"/r.* | sed 's/^/    /' | head -n 200
        fail=1
    else
        echo "ok tsan_reports_$1: none"
    fi
    rm -f "$LOGD"/r.*
}

# --- 1. gcc, no OpenMP ----------------------------------------------------------
B=build/thread
echo "== building $B (gcc, -fsanitize=thread, NO_OMP=1)"
if ! make -s -j"$JOBS" BUILD=$B SANITIZER=thread NO_OMP=1 all >"$LOGD/build1.log" 2>&1; then
    echo "FAIL tsan_build: see $LOGD/build1.log"; tail -n 20 "$LOGD/build1.log"; exit 1
fi
export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 log_path=$LOGD/r"
# OpenBLAS's OpenMP build sizes its team by the calling thread's
# omp_get_max_threads(), which this build never lowers: large products (the
# server's merged batches) would run on libgomp threads TSan cannot see.
export OMP_NUM_THREADS=1
echo "== unit tests under TSan"
$B/intent_test >"$LOGD/unit1.out" 2>"$LOGD/unit1.err"; rc=$?
grep '^FAIL' "$LOGD/unit1.out"
[ $rc -ne 0 ] && { echo "FAIL tsan_unit: intent_test exited $rc"; tail -n 5 "$LOGD/unit1.err"; fail=1; }
report unit
export IC_TEST_CLI="$PWD/$B/intent" IC_TEST_GOLDEN=tests/golden
for t in serve serve_batch train faults; do
    [ -f tests/e2e/$t.sh ] || continue
    echo "== tests/e2e/$t.sh under TSan"
    out=$(bash tests/e2e/$t.sh "$PWD/$B" 2>"$LOGD/$t.err"); rc=$?
    printf '%s\n' "$out" | grep -E '^(FAIL|skip) '
    if [ $rc -ne 0 ] || printf '%s\n' "$out" | grep -q '^FAIL '; then
        echo "FAIL tsan_e2e_$t: failures above (exit $rc)"; fail=1
    fi
    report "e2e_$t"
done

# --- 2. clang + libomp + Archer: the OpenMP kernels ------------------------------------
ARCHER=$(ls /usr/lib/llvm-*/lib/libarcher.so 2>/dev/null | sort -V | tail -n 1)
if ! command -v clang >/dev/null || [ -z "$ARCHER" ] || [ ! -d "/usr/lib/$MA/openblas-pthread" ]; then
    echo "skip tsan_openmp: needs clang, LLVM's libomp with libarcher.so (libomp-dev) and libopenblas-pthread"
else
    unset OMP_NUM_THREADS
    B=build/thread-omp
    echo "== building $B (clang, -fsanitize=thread, -fopenmp with libomp)"
    if ! make -s -j"$JOBS" BUILD=$B CC=clang SANITIZER=thread NO_OMP=0 \
            BLAS_DIR="/usr/lib/$MA/openblas-pthread" BLAS_INC="/usr/include/$MA/openblas-pthread" \
            "$B/intent_test" "$B/intent" >"$LOGD/build2.log" 2>&1; then
        echo "FAIL tsan_openmp_build: see $LOGD/build2.log"; tail -n 20 "$LOGD/build2.log"; fail=1
    else
        export TSAN_OPTIONS="halt_on_error=0 ignore_noninstrumented_modules=1 log_path=$LOGD/r"
        echo "== unit tests with OpenMP under TSan + Archer (2 threads)"
        OMP_TOOL_LIBRARIES="$ARCHER" OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 ARCHER_OPTIONS=verbose=1 \
            $B/intent_test >"$LOGD/unit2.out" 2>"$LOGD/unit2.err"; rc=$?
        grep "^FAIL" "$LOGD/unit2.out"
        if ! grep -q 'Archer detected' "$LOGD/unit2.out" "$LOGD/unit2.err" 2>/dev/null; then
            echo "FAIL tsan_openmp: Archer did not attach (no OpenMP semantics for TSan)"; fail=1
        fi
        [ $rc -ne 0 ] && { echo "FAIL tsan_openmp_unit: intent_test exited $rc"; tail -n 5 "$LOGD/unit2.err"; fail=1; }
        report openmp_unit
        # a training run and batched prediction big enough for every parallel
        # loop to take its threaded path (ops.c parallelises above 32768
        # elements: hidden 64 x batch 32 x length 32)
        echo "== intent train / predict with OpenMP under TSan + Archer (2 threads)"
        tt=$(mktemp -d /tmp/intent-tsan-train.XXXXXX)
        OMP_TOOL_LIBRARIES="$ARCHER" OPENBLAS_NUM_THREADS=1 HF_HOME="$tt/hf" HF_HUB_OFFLINE=1 \
            $B/intent train --data tests/golden/data/train_small.json --output "$tt/m" --epochs 1 \
            --no-tracking --threads 2 --batch-size 32 --max-length 32 --scratch-hidden-size 64 \
            --scratch-layers 1 --scratch-heads 2 --scratch-intermediate-size 256 \
            --scratch-vocab-size 300 >"$LOGD/train2.log" 2>&1; rc=$?
        [ $rc -ne 0 ] && { echo "FAIL tsan_openmp_train: exit $rc"; tail -n 5 "$LOGD/train2.log"; fail=1; }
        yes 'quiero saber que tiempo hace hoy en madrid por favor' | head -n 64 |
            OMP_TOOL_LIBRARIES="$ARCHER" OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 \
            $B/intent predict --model "$tt/m" >/dev/null 2>"$LOGD/predict2.log"; rc=$?
        [ $rc -ne 0 ] && { echo "FAIL tsan_openmp_predict: exit $rc"; tail -n 5 "$LOGD/predict2.log"; fail=1; }
        rm -rf "$tt"
        report openmp_train_predict
    fi
fi
[ -z "${TSAN_LOG_DIR:-}" ] && [ $fail -eq 0 ] && rm -rf "$LOGD"
exit $fail
