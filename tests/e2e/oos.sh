#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# oos.sh - calibration, out-of-scope scores and the fallback intent end to
# end, offline, on a tiny from-scratch model: what training stores
# (config.json keys, intent_oos.safetensors, the report), predict's fallback
# answers and flags, a model without calibration, eval --oos-label --sweep,
# serve's /classify, and the bad inputs of docs/calibration.md.
# Usage: oos.sh BUILD_DIR
set -u
B=${1:-build}
case $B in /*) ;; *) B="$PWD/$B" ;; esac
BIN="$B/intent"
G=tests/golden/data
T=$(mktemp -d)
SERVER_PID=
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$T"' EXIT
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
export HF_HOME="$T/hf" HF_HUB_OFFLINE=1
unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE MLFLOW_TRACKING_URI MLFLOW_EXPERIMENT_NAME
for v in $(env | sed -n 's/^\(INTENT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }

TINY=(--scratch-hidden-size 32 --scratch-layers 1 --scratch-heads 2
      --scratch-intermediate-size 64 --scratch-vocab-size 300 --max-length 32
      --batch-size 16 --threads 1 --seed 7 --no-tracking --epochs 3)

# "goodbye" plays the out-of-scope class
sed 's/"goodbye"/"oos"/' "$G/train_small.json" >"$T/data.json"

# --- training stores the calibration -------------------------------------------
M="$T/m"
if ! "$BIN" train --data "$T/data.json" --output "$M" --oos-label oos "${TINY[@]}" \
        >"$T/train.log" 2>&1; then
    fail oos_train "$(tail -3 "$T/train.log")"
    exit 0
fi
if "$PY" - "$M" <<'PY'
import json, math, os, sys
m = sys.argv[1]
c = json.load(open(f"{m}/config.json"))
T = c["intent_temperature"]
assert isinstance(T, float) and 0.01 <= T <= 100, T
o = c["intent_oos"]
assert o["oos_label"] == "oos" and o["score"] in ("softmax", "energy", "mahalanobis"), o
assert 0 <= o["threshold"] <= 1 and o["ambiguity_threshold"] == 0.1, o
for k in ("energy", "mahalanobis"):
    q = o["quantiles"][k]
    assert len(q) == 101 and all(a <= b for a, b in zip(q, q[1:])), k
assert o["stats_file"] == "intent_oos.safetensors" and os.path.getsize(f"{m}/intent_oos.safetensors") > 0
r = json.load(open(f"{m}/eval_report.json"))
cal = r["calibration"]
assert abs(cal["temperature"] - T) < 1e-6 * T
assert len(cal["reliability_before"]) == 15 and len(cal["reliability_after"]) == 15
assert sum(b["count"] for b in cal["reliability_after"]) == cal["num_examples"] > 0
assert 0 <= cal["ece_after"] <= 1 and 0 <= cal["ece_before"] <= 1
assert cal["nll_after"] <= cal["nll_before"] + 1e-9, cal   # the fit cannot make NLL worse
meth = r["out_of_scope"]["methods"]
assert set(meth) == {"softmax", "energy", "mahalanobis", "oos_class"}, set(meth)
for k, v in meth.items():
    assert 0 <= v["in_scope_accuracy"] <= 1 and 0 <= v["oos_recall"] <= 1, (k, v)
    if k != "oos_class":
        assert 0 <= v["auroc"] <= 1, (k, v)
PY
then ok oos_train_stores_calibration; else fail oos_train_stores_calibration "see above"; fi
grep -q "calibration: temperature" "$T/train.log" && ok oos_train_logs_calibration ||
    fail oos_train_logs_calibration "$(tail -3 "$T/train.log")"

# --- predict: forced fallback, no fallback, ranking ------------------------------
out=$("$BIN" predict --model "$M" --top-k 3 --fallback-threshold 1 "hola" "el clima en madrid" 2>/dev/null)
if printf '%s\n' "$out" | "$PY" -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
assert len(rows) == 2
for r in rows:
    assert r["intent"] == "nlu_fallback" and r["confidence"] == 1, r
    f = r["fallback"]
    assert f["reason"] in ("low_score", "oos_class") and f["intent"] != "nlu_fallback", r
    assert r["top_k"][0] == {"intent": "nlu_fallback", "confidence": 1}, r
    assert [t["intent"] for t in r["top_k"][1:]][0] == f["intent"], r   # real intents follow
'; then ok oos_predict_fallback; else fail oos_predict_fallback "$out"; fi
out=$("$BIN" predict --model "$M" --fallback-threshold 0 --ambiguity-threshold 0 --fallback-intent none_of_these "hola" 2>/dev/null)
case $out in *fallback*|*none_of_these*) fail oos_predict_thresholds_off "$out" ;; *'"intent":'*) ok oos_predict_thresholds_off ;; *) fail oos_predict_thresholds_off "$out" ;; esac
out=$(INTENT_FALLBACK_THRESHOLD=1 INTENT_FALLBACK_INTENT=desconocido "$BIN" predict --model "$M" "hola" 2>/dev/null)
case $out in *'"intent":"desconocido"'*) ok oos_predict_env ;; *) fail oos_predict_env "$out" ;; esac

# --- a model saved before calibration existed --------------------------------------
O="$T/old"
cp -r "$M" "$O"
rm -f "$O/intent_oos.safetensors" "$O/intent_classifier.pt"
"$PY" - "$O/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
del c["intent_temperature"], c["intent_oos"]
json.dump(c, open(sys.argv[1], "w"), indent=2, sort_keys=True)
PY
old=$("$BIN" predict --model "$O" --top-k 2 "hola" "el clima" 2>"$T/old.err")
raw=$("$BIN" predict --model "$M" --top-k 2 --no-calibration --fallback-threshold 0 --ambiguity-threshold 0 "hola" "el clima" 2>/dev/null)
n=$(grep -c "no calibration stored" "$T/old.err")
if [ -n "$old" ] && [ "$old" = "$raw" ] && [ "$n" = 1 ]; then ok oos_old_model_raw_softmax
else fail oos_old_model_raw_softmax "notes $n; old $old; raw $raw"; fi
cal=$("$BIN" predict --model "$M" --top-k 2 --fallback-threshold 0 --ambiguity-threshold 0 "hola" "el clima" 2>/dev/null)
T_is_one=$("$PY" -c 'import json,sys; print(abs(json.load(open(sys.argv[1]))["intent_temperature"] - 1) < 1e-6)' "$M/config.json")
if [ "$T_is_one" = True ] || [ "$cal" != "$raw" ]; then ok oos_calibration_applied
else fail oos_calibration_applied "calibrated output equals the raw softmax: $cal"; fi

# --- eval: out-of-scope metrics and the sweep ----------------------------------------
if "$BIN" eval --model "$O" --data "$T/data.json" --oos-label oos --fallback-threshold 0.5 \
        --sweep >"$T/eval.json" 2>"$T/eval.err" &&
   "$PY" - "$T/eval.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
o = r["out_of_scope"]
assert o["num_out_of_scope"] == 16 and o["score"] == "softmax" and o["threshold"] == 0.5, o
sw = o["threshold_sweep"]
assert [round(x["threshold"], 2) for x in sw] == [i / 20 for i in range(21)]
# a higher threshold turns away at least as much
rec = [x["oos_recall"] for x in sw]
kept = [x["in_scope_kept"] for x in sw]
assert all(a <= b + 1e-12 for a, b in zip(rec, rec[1:])) and rec[-1] == 1.0, rec
assert all(a >= b - 1e-12 for a, b in zip(kept, kept[1:])), kept
assert r["calibration"]["temperature"] == 1.0
assert r["num_examples"] == 80   # "oos" is a class of this model: in the classic metrics
PY
then
    grep -q "in_scope_accuracy" "$T/eval.err" && ok oos_eval_sweep || fail oos_eval_sweep "no table: $(cat "$T/eval.err")"
else
    fail oos_eval_sweep "$(tail -3 "$T/eval.err")"
fi

# --- the lone .pt carries the Mahalanobis statistics ------------------------------
mkdir -p "$T/lone"
cp "$M/intent_classifier.pt" "$T/lone/model.pt"
if "$BIN" eval --model "$T/lone/model.pt" --data "$T/data.json" --oos-score mahalanobis \
        >"$T/lone.json" 2>"$T/lone.err" &&
   "$BIN" eval --model "$M" --data "$T/data.json" --oos-score mahalanobis >"$T/dir.json" 2>/dev/null &&
   "$PY" - "$T/lone.json" "$T/dir.json" "$T/lone.err" <<'PY'
import json, sys
a, b = (json.load(open(f))["out_of_scope"] for f in sys.argv[1:3])
assert a["score"] == "mahalanobis" and a["methods"]["mahalanobis"] == b["methods"]["mahalanobis"], (a, b)
err = open(sys.argv[3]).read()
assert "missing" not in err and "softmax score" not in err, err
PY
then ok oos_pt_mahalanobis; else fail oos_pt_mahalanobis "$(tail -3 "$T/lone.err")"; fi
if "$PY" -c 'import torch' 2>/dev/null; then
    if out=$("$PY" - "$T/lone/model.pt" "$M" 2>&1 <<'PY'
import json, sys, torch
# torch >= 2.0 takes weights_only (1.13's unpickler lacks BINFLOAT; the
# rules themselves are checked by tools/weights_only_check.py)
ck = torch.load(sys.argv[1], weights_only=int(torch.__version__.split(".")[0]) >= 2)
o = ck["intent_oos"]
H, C = ck["config"]["hidden_size"], len(ck["id_to_intent"])
m, p = o["intent_oos.class_means"], o["intent_oos.precision"]
assert tuple(m.shape) == (C, H) and tuple(p.shape) == (H, H), (m.shape, p.shape)
assert torch.allclose(p, p.T) and not any(k.startswith("intent_oos") for k in ck["state_dict"])
PY
    ); then ok oos_pt_torch_weights_only; else fail oos_pt_torch_weights_only "$out"; fi
else
    echo "skip oos_pt_torch_weights_only: no torch"
fi

# --- bad input ------------------------------------------------------------------------
check_bad() { # name expected_rc needle cmd...
    local name=$1 want=$2 needle=$3; shift 3
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    if [ "$rc" = "$want" ] && [[ $err == *"$needle"* ]]; then ok "$name"
    else fail "$name" "rc $rc: $err"; fi
}
check_bad oos_bad_threshold_range 2 "--fallback-threshold: 1.5 is outside [0, 1]" \
    "$BIN" predict --model "$M" --fallback-threshold 1.5 hola
check_bad oos_bad_threshold_word 2 "\"abc\" is not a number" \
    "$BIN" eval --model "$M" --data "$T/data.json" --ambiguity-threshold abc
check_bad oos_bad_threshold_env 2 "INTENT_SERVE_FALLBACK_THRESHOLD" \
    env INTENT_SERVE_FALLBACK_THRESHOLD=-1 "$BIN" serve --model "$M" --port 0
check_bad oos_bad_fallback_collides 1 "fallback intent \"get_news\" is one of the model's intents" \
    "$BIN" predict --model "$M" --fallback-intent get_news hola
check_bad oos_bad_oos_label 1 "oos_label: \"nosuch\" is not an intent of" \
    "$BIN" train --data "$T/data.json" --output "$T/never" --oos-label nosuch "${TINY[@]}"
[ ! -e "$T/never" ] && ok oos_bad_oos_label_nothing_written || fail oos_bad_oos_label_nothing_written "output created"
check_bad oos_bad_eval_oos_label 1 "no example has that intent" \
    "$BIN" eval --model "$O" --data "$T/data.json" --oos-label zzz
check_bad oos_bad_threshold_nan 2 "nan is outside [0, 1]" \
    "$BIN" predict --model "$M" --fallback-threshold nan hola
printf 'serve_fallback_threshold: 7\n' >"$T/bad.yaml"
check_bad oos_bad_threshold_yaml 2 "bad.yaml:1: serve_fallback_threshold: 7 is outside [0, 1]" \
    "$BIN" serve --model "$M" --config "$T/bad.yaml" --port 0
check_bad oos_bad_train_ambiguity_nan 2 "ambiguity_threshold: expected a number" \
    "$BIN" train --data "$T/data.json" --output "$T/never" --ambiguity-threshold nan "${TINY[@]}"
check_bad oos_bad_eval_fallback_collides 1 "fallback intent \"get_news\" is one of the model's intents" \
    "$BIN" eval --model "$M" --data "$T/data.json" --fallback-intent get_news
check_bad oos_bad_calibrate_oos_label 1 "--oos-label \"nosuch\": no example of" \
    "$BIN" calibrate --model "$M" --data "$T/data.json" --eval-data "$T/data.json" \
    --oos-label nosuch --output "$T/never2"
[ ! -e "$T/never2" ] && ok oos_bad_calibrate_nothing_written || fail oos_bad_calibrate_nothing_written "output created"
cp -r "$M" "$T/bad"
sed -i 's/"intent_temperature": *[0-9.e+-]*/"intent_temperature": "warm"/' "$T/bad/config.json"
check_bad oos_bad_temperature_field 1 "field \"intent_temperature\" must be a number" \
    "$BIN" predict --model "$T/bad" hola

# --- serve: the fallback in /classify -------------------------------------------------
"$BIN" serve --model "$M" --port 0 --threads 1 --fallback-threshold 1 >"$T/serve.out" 2>"$T/serve.err" &
SERVER_PID=$!
port=
for _ in $(seq 1 100); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$T/serve.out" "$T/serve.err" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
done
if [ -z "$port" ]; then
    fail oos_serve_fallback "server did not start: $(tail -3 "$T/serve.err")"
else
    body=$(curl -s -X POST "http://127.0.0.1:$port/classify" -H 'Content-Type: application/json' \
           -d '{"text": "hola", "top_k": 2}')
    if printf '%s' "$body" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)
assert r["text"] == "hola" and r["intent"] == "nlu_fallback" and r["confidence"] == 1, r
assert r["fallback"]["intent"] != "nlu_fallback" and r["top_k"][0]["intent"] == "nlu_fallback", r
assert len(r["top_k"]) == 3, r
'; then ok oos_serve_fallback; else fail oos_serve_fallback "$body"; fi
fi
kill "$SERVER_PID" 2>/dev/null
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=
