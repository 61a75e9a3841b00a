#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fuzz_smoke.sh - a short run of every libFuzzer target (tests/fuzz/run.sh
# --smoke: each committed seed and regression input once, then a brief
# fuzzing run per target). Skips, saying so, when clang's libFuzzer is not
# available. The fuzzers are built once in build/fuzz (ASan + UBSan,
# whatever BUILD_DIR is), so the plain and the ASan test passes share them.
#   fuzz_smoke.sh BUILD_DIR
set -u
cd "$(dirname "$0")/../.." || exit 1
export FUZZ_SMOKE_SECONDS=${FUZZ_SMOKE_SECONDS:-1}
# Per-input time limit: the replayed regression inputs take about 1.5 s each
# under the sanitizers (num_labels 50808 in hfconfig); 60 s still catches a
# hang but not a loaded machine.
export FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-60}
out=$(tests/fuzz/run.sh --smoke 2>&1); rc=$?
printf '%s\n' "$out" | grep -E '^(ok|FAIL|skip) '
if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL '; then
    echo "FAIL fuzz_smoke: tests/fuzz/run.sh exited with status $rc"
    printf '%s\n' "$out" | tail -n 20 >&2
fi
exit $rc
