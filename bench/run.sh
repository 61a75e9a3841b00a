#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every benchmark in bench/ and prints their tables. Each benchmark runs
# ours and the reference (PyTorch / FastAPI from Debian packages) side by side,
# interleaved, and reports medians, spread and the ratio (bench_archs.sh: every
# architecture at 6x384 and 12x768, the longest; ARCH_SHAPES=small shortens it).
# Benchmarks whose reference is missing say so and print our figures only.
#   bench/run.sh [BUILD_DIR]      (default: build; `make bench` calls this)
# Environment: BENCH_RUNS (repetitions, default 3), FB_MTOD (path to the
# fb_mtod_es dataset directory, needed by the tokenizer, epoch and quality
# benchmarks; CC BY-SA, not distributed with the project: bench/README.md).
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
export BUILD="$build"
status=0
for b in bench/bench_*.sh; do
    [ -e "$b" ] || continue
    echo "== $(basename "$b" .sh)"
    bash "$b" "$build" || { echo "($(basename "$b") failed)"; status=1; }
    echo
done
exit $status
