#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_oos.sh - out-of-scope detection and calibration figures
# (docs/calibration.md) on CLINC150 (train.json with its 100 oos examples,
# dev.json for every choice, test.json scored once) and the ECE of
# fb_mtod_es test before/after temperature scaling.
#   bench/bench_oos.sh [BUILD_DIR]
# Models, offline from scratch:
#   IN   trained on CLINC150's in-scope train examples (dev in-scope for the
#        epoch), calibrated with `intent calibrate` on dev's in-scope examples
#        (thresholds keep 95% of them, no ambiguity check): rows max-softmax,
#        energy, Mahalanobis
#   OOS  trained on all of train.json with --oos-label oos (CLINC150's
#        oos-train): row oos-train (the oos class alone)
# Environment: CLINC, FB_MTOD (dataset dirs, default ../shared/datasets/...),
# THREADS (2), EPOCHS and LR (empty = the training defaults: 30 epochs with
# early stopping, learning rate 5e-4), NICE (nice level, 0), KEEP (directory that
# keeps the models), MODEL_IN, MODEL_OOS, MODEL_FB (reuse trained models:
# they are calibrated again here, so models saved before calibration work).
set -u
cd "$(dirname "$0")/.."
build=${1:-${BUILD:-build}}
BIN="$build/intent"
C=${CLINC:-../shared/datasets/clinc150}
F=${FB_MTOD:-../shared/datasets/fb_mtod_es}
THREADS=${THREADS:-2}
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
if [ ! -s "$C/train.json" ]; then echo "skip: clinc150 not found at $C (set CLINC)"; exit 0; fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
K=${KEEP:-$T}
mkdir -p "$K"
export HF_HOME="$T/hf" HF_HUB_OFFLINE=1
unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE
EP=(); [ -n "${EPOCHS:-}" ] && EP=(--epochs "$EPOCHS")
[ -n "${LR:-}" ] && EP+=(--learning-rate "$LR")

"$PY" - "$C" "$T" <<'PYEOF'
import json, sys
c, t = sys.argv[1:]
for s in ("train", "dev"):
    d = [x for x in json.load(open(f"{c}/{s}.json")) if x["intent"] != "oos"]
    json.dump(d, open(f"{t}/{s}_in.json", "w"))
PYEOF

train() { # out log args...
    local out=$1 log=$2; shift 2
    echo "training $out ..." >&2
    nice -n "${NICE:-0}" "$BIN" train --output "$out" --no-tracking --threads "$THREADS" "${EP[@]}" "$@" >"$log" 2>&1 ||
        { echo "training failed:"; tail -5 "$log"; exit 1; }
}

IN=${MODEL_IN:-$K/clinc_in}
[ -n "${MODEL_IN:-}" ] || train "$IN" "$K/train_in.log" --data "$T/train_in.json" --eval-data "$T/dev_in.json"
"$BIN" calibrate --model "$IN" --output "$K/clinc_in_cal" --data "$T/train_in.json" \
    --eval-data "$T/dev_in.json" --ambiguity-threshold 0 --threads "$THREADS" >"$K/cal_in.json" || exit 1
for s in softmax energy mahalanobis; do
    "$BIN" eval --model "$K/clinc_in_cal" --data "$C/test.json" --oos-label oos --oos-score "$s" \
        --ambiguity-threshold 0 --threads "$THREADS" >"$K/test_$s.json" 2>/dev/null || exit 1
done
OOS=${MODEL_OOS:-$K/clinc_oos}
[ -n "${MODEL_OOS:-}" ] || train "$OOS" "$K/train_oos.log" --data "$C/train.json" --eval-data "$C/dev.json" --oos-label oos
"$BIN" eval --model "$OOS" --data "$C/test.json" --oos-label oos --fallback-threshold 0 \
    --ambiguity-threshold 0 --threads "$THREADS" >"$K/test_oostrain.json" 2>/dev/null || exit 1
FB=
if [ -s "$F/train.json" ]; then
    FB=${MODEL_FB:-$K/fb}
    [ -n "${MODEL_FB:-}" ] || train "$FB" "$K/train_fb.log" --data "$F/train.json" --eval-data "$F/dev.json"
    "$BIN" calibrate --model "$FB" --output "$K/fb_cal" --data "$F/train.json" --eval-data "$F/dev.json" \
        --threads "$THREADS" >"$K/cal_fb.json" || exit 1
    "$BIN" eval --model "$K/fb_cal" --data "$F/test.json" --threads "$THREADS" >"$K/test_fb.json" 2>/dev/null || exit 1
fi

"$PY" - "$K" "$FB" <<'PYEOF'
import json, os, sys
k, fb = sys.argv[1:]
def load(n): return json.load(open(os.path.join(k, n)))
print("CLINC150 test (4500 in-scope, 1000 oos); thresholds chosen on dev (keep 95% in-scope)")
print(f"{'method':<12} {'in-scope acc':>12} {'oos recall':>10} {'oos prec':>9} {'AUROC':>7} {'FPR95':>7} {'thr':>6}")
for s, name in (("softmax", "max-softmax"), ("energy", "energy"), ("mahalanobis", "Mahalanobis")):
    m = load(f"test_{s}.json")["out_of_scope"]["methods"][s]
    print(f"{name:<12} {m['in_scope_accuracy']:>12.4f} {m['oos_recall']:>10.4f} {m['oos_precision']:>9.4f} "
          f"{m['auroc']:>7.4f} {m['fpr_at_95_tpr']:>7.4f} {m['threshold']:>6.3f}")
m = load("test_oostrain.json")["out_of_scope"]["methods"]["oos_class"]
print(f"{'oos-train':<12} {m['in_scope_accuracy']:>12.4f} {m['oos_recall']:>10.4f} {m['oos_precision']:>9.4f} {'':>7} {'':>7} {'':>6}")
print(f"{'fastText':<12} {0.8516:>12.4f} {0.1010:>10.4f}   (dataset README, oos as a class)")
r = load("test_softmax.json")
print(f"in-scope accuracy without fallback: {r['accuracy']:.4f}; "
      f"temperature {load('cal_in.json')['calibration']['temperature']:.4f}")
c = r["calibration"]
print(f"CLINC150 test ECE (in-scope, 15 bins): before {c['ece_before']:.4f} after {c['ece_after']:.4f}")
if fb:
    c = load("test_fb.json")["calibration"]
    print(f"fb_mtod_es test ECE: before {c['ece_before']:.4f} after {c['ece_after']:.4f} "
          f"(temperature {c['temperature']:.4f}, accuracy {load('test_fb.json')['accuracy']:.4f})")
PYEOF
