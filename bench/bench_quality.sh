#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_quality.sh - model quality of the DEFAULT training settings on
# fb_mtod_es (Spanish alarm/reminder/weather intents, 12 intents; Facebook's
# Multilingual Task-Oriented Dialog data, CC BY-SA, not distributed here:
# bench/README.md):
# trains offline from scratch on train.json, chooses the best epoch on
# dev.json (--eval-data), then scores test.json ONCE with `intent eval`.
# Prints test accuracy and macro-F1 next to the fastText baseline of the
# dataset's README (0.971), and the training throughput (examples/s).
#   bench/bench_quality.sh [BUILD_DIR]
# Environment: FB_MTOD (dataset dir, default ../shared/datasets/fb_mtod_es),
# THREADS (default 2), EXTRA_ARGS (extra `intent train` flags, for tuning on
# dev only), KEEP (directory to keep the model in), FEWSHOT=N (train on N
# utterances per intent of train.json, drawn with seed 0), PRETRAIN="ARGS"
# (first `intent pretrain ARGS` on all of train.json's texts, labels unused,
# then fine-tune from it with --model-name; docs/pretraining.md), or
# PRETRAINED=DIR (fine-tune from an `intent pretrain` output made before).
# The dataset's JSON array of {"text","intent"} is read as is (no conversion).
set -u
cd "$(dirname "$0")/.."
build=${1:-${BUILD:-build}}
BIN="$build/intent"
D=${FB_MTOD:-../shared/datasets/fb_mtod_es}
THREADS=${THREADS:-2}
if [ ! -s "$D/train.json" ]; then
    echo "skip: fb_mtod_es not found at $D (set FB_MTOD)"; exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
out=${KEEP:-$T/model}
# Offline with an empty Hugging Face cache: from scratch, as the issue asks.
export HF_HOME="$T/hf" HF_HUB_OFFLINE=1
unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
train=$D/train.json
if [ -n "${FEWSHOT:-}" ]; then
    train=$T/fewshot.json
    "$PY" - "$D/train.json" "$FEWSHOT" "$train" <<'PYEOF'
import json, random, sys
rows = json.load(open(sys.argv[1])); k = int(sys.argv[2]); by = {}
for r in rows:
    by.setdefault(r["intent"], []).append(r)
rng = random.Random(0); out = []
for name in sorted(by):
    out += rng.sample(by[name], min(k, len(by[name])))
json.dump(out, open(sys.argv[3], "w"), ensure_ascii=False)
PYEOF
fi
t0=$(date +%s.%N)
base=()
if [ -n "${PRETRAIN+x}" ]; then
    # shellcheck disable=SC2086
    "$BIN" pretrain --data "$D/train.json" --output "$T/pretrained" --no-tracking \
        --threads "$THREADS" $PRETRAIN 2>"$T/pretrain.log" ||
        { echo "pretraining failed:"; tail -5 "$T/pretrain.log"; exit 1; }
    base=(--model-name "$T/pretrained")
elif [ -n "${PRETRAINED:-}" ]; then
    base=(--model-name "$PRETRAINED")
fi
# shellcheck disable=SC2086
"$BIN" train --data "$train" --eval-data "$D/dev.json" --output "$out" --no-tracking \
    --threads "$THREADS" "${base[@]}" ${EXTRA_ARGS:-} 2>"$T/train.log"
rc=$?
t1=$(date +%s.%N)
if [ $rc -ne 0 ]; then echo "training failed ($rc):"; tail -5 "$T/train.log"; exit 1; fi
"$BIN" eval --model "$out" --data "$D/test.json" --threads "$THREADS" >"$T/test.json" || exit 1
setting="${FEWSHOT:+$FEWSHOT per intent, }${PRETRAIN+pretrained on train texts ($PRETRAIN), }${PRETRAINED:+from $PRETRAINED, }"
"$PY" - "$T/test.json" "$out/eval_report.json" "$T/train.log" "$t0" "$t1" "$THREADS" "$setting" <<'PYEOF'
import json, re, sys
test = json.load(open(sys.argv[1])); dev = json.load(open(sys.argv[2]))
log = open(sys.argv[3]).read()
m = re.findall(r"trained (\d+) steps \((\d+) examples/s\)", log)
eps = m[-1][1] if m else "?"
wall = float(sys.argv[5]) - float(sys.argv[4])
print(f"fb_mtod_es, {sys.argv[7]}default settings, from scratch, {sys.argv[6]} threads")
print(f"  dev   (model choice) accuracy {dev['accuracy']:.4f}  macro-F1 {dev['f1_macro']:.4f}  best epoch {dev.get('best_epoch')} of {dev.get('epochs_done')}")
print(f"  test  (reported once) accuracy {test['accuracy']:.4f}  macro-F1 {test['f1_macro']:.4f}  n={test['num_examples']}")
print(f"  fastText baseline (README)   accuracy 0.9714")
print(f"  training throughput {eps} examples/s, wall time {wall:.0f} s (pretrain + train + dev evals + save)")
PYEOF
