#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_precision_accuracy.sh - accuracy held at low precision on fb_mtod_es
# test (not distributed here: bench/README.md): a model (MODEL, or one trained
# here from scratch on train.json with the best epoch chosen on dev.json)
# answers every test text at fp32, bf16 and int8 (`intent predict --top-k
# all`, raw softmax, no fallback); prints per precision the share of texts
# whose top intent equals fp32's, the largest probability difference, and
# the test accuracy with its drop from fp32 in points (tools/precision_agree.py).
#   bench/bench_precision_accuracy.sh [BUILD_DIR]
# Environment: FB_MTOD (default ../shared/datasets/fb_mtod_es), MODEL (a
# trained model: skips training), THREADS (2), EXTRA_ARGS (extra `intent
# train` flags), KEEP (directory to keep the trained model in).
set -u
cd "$(dirname "$0")/.."
build=${1:-${BUILD:-build}}
BIN="$build/intent"
D=${FB_MTOD:-../shared/datasets/fb_mtod_es}
THREADS=${THREADS:-2}
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
if [ ! -s "$D/test.json" ]; then
    echo "skip: fb_mtod_es not found at $D (set FB_MTOD)"; exit 0
fi
D=$(cd "$D" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
M=${MODEL:-}
if [ -z "$M" ]; then
    M=${KEEP:-$T/model}
    export HF_HOME="$T/hf" HF_HUB_OFFLINE=1
    unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE
    # shellcheck disable=SC2086
    "$BIN" train --data "$D/train.json" --eval-data "$D/dev.json" --output "$M" --no-tracking \
        --threads "$THREADS" ${EXTRA_ARGS:-} 2>"$T/train.log" ||
        { echo "training failed:"; tail -5 "$T/train.log"; exit 1; }
fi
"$PY" -c 'import json, sys; [print(r["text"].replace("\n", " ")) for r in json.load(open(sys.argv[1]))]' \
    "$D/test.json" >"$T/texts.txt"
for p in fp32 bf16 int8; do
    "$BIN" predict --model "$M" --precision "$p" --threads "$THREADS" --top-k 1000 \
        --no-calibration --fallback-threshold 0 --ambiguity-threshold 0 <"$T/texts.txt" \
        >"$T/$p.jsonl" 2>"$T/$p.err" || { echo "predict $p failed:"; cat "$T/$p.err"; exit 1; }
done
echo "fb_mtod_es test, model $( [ -n "${MODEL:-}" ] && echo "$MODEL" || echo "trained from scratch here"), kernels: $("$BIN" --version | sed -n 's/^kernels: //p')"
"$PY" tools/precision_agree.py "$T/fp32.jsonl" "$T/bf16.jsonl" "$T/int8.jsonl" \
    --labels "$D/test.json" --min-agree 0.995 | sed "s|$T/||; s/\.jsonl:/:/"
