#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# train.sh - `intent train` / `intent eval` end to end, offline, on a tiny
# from-scratch model and the small fixtures in tests/golden/data/:
# configuration precedence, data errors, the saved directory, the report,
# eval, determinism, --require-pretrained, Ctrl-C. Usage: train.sh BUILD_DIR
set -u
B=${1:-build}
case $B in /*) ;; *) B="$PWD/$B" ;; esac
BIN="$B/intent"
G=tests/golden/data
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# Offline, with an empty Hugging Face cache: the base model cannot be had.
export HF_HOME="$T/hf" HF_HUB_OFFLINE=1
unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE MLFLOW_TRACKING_URI MLFLOW_EXPERIMENT_NAME
for v in $(env | sed -n 's/^\(INTENT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }

TINY=(--scratch-hidden-size 32 --scratch-layers 1 --scratch-heads 2
      --scratch-intermediate-size 64 --scratch-vocab-size 300 --max-length 32
      --batch-size 16 --threads 1 --seed 7 --logging-steps 2)

# --- configuration ------------------------------------------------------------
(
    cd "$T" || exit 1
    printf 'epochs: 3\nbatch_size: 8\nlearning_rate: 0.001\n' > intent.yaml
    out=$(INTENT_EPOCHS=4 INTENT_BATCH_SIZE=9 "$BIN" train --print-config --epochs 5 2>&1)
    echo "$out" | grep -q '^epochs: 5 .*# flag --epochs$' || { echo "$out"; exit 1; }
    echo "$out" | grep -q '^batch_size: 9 .*# env INTENT_BATCH_SIZE$' || exit 1
    echo "$out" | grep -q '^learning_rate: 0.001 .*# file intent.yaml:3$' || exit 1
    echo "$out" | grep -q '^seed: 42 .*# default$' || exit 1
    out=$(MLFLOW_TRACKING_URI=file:/tmp/x "$BIN" train --print-config --no-tracking)
    echo "$out" | grep -q '^tracking_uri: file:/tmp/x .*# env MLFLOW_TRACKING_URI$' || exit 1
    echo "$out" | grep -q '^tracking: false .*# flag --no-tracking$' || exit 1
    # the printed configuration is itself a valid config file
    echo "$out" > printed.yaml
    "$BIN" train --config printed.yaml --print-config >/dev/null || exit 1
) && ok train_print_config_precedence || fail train_print_config_precedence "precedence file < env < flag not as expected"

printf 'epochs: 3\nlerning_rate: 0.1\n' > "$T/bad.yaml"
err=$("$BIN" train --config "$T/bad.yaml" --print-config 2>&1); rc=$?
if [ $rc -eq 2 ] && echo "$err" | grep -q 'bad.yaml:2: unknown key "lerning_rate"'; then
    ok train_config_error_names_line
else fail train_config_error_names_line "rc=$rc: $err"; fi
err=$("$BIN" train --epochs zero --print-config 2>&1); rc=$?
if [ $rc -eq 2 ] && echo "$err" | grep -q -- '--epochs: epochs: expected an integer'; then
    ok train_flag_error
else fail train_flag_error "rc=$rc: $err"; fi

# --- data errors name the file and the record ---------------------------------
bad_ok=1
for f in bad_missing_text.json:'record 2' bad_empty_text.json:'record 3' bad_utf8.json:'line 3' \
         bad_wrong_type.json:'record 2' bad_syntax.jsonl:'record 2' bad_unterminated.csv:'record 2' \
         bad_one_intent.json:'at least 2'; do
    file=${f%%:*}; want=${f#*:}
    err=$("$BIN" train --data "$G/$file" --output "$T/never" --no-tracking "${TINY[@]}" 2>&1); rc=$?
    if [ $rc -ne 1 ] || ! echo "$err" | grep -q "$file" || ! echo "$err" | grep -q "$want"; then
        fail train_data_errors "$file: rc=$rc: $err"; bad_ok=0
    fi
done
[ -e "$T/never" ] && { fail train_data_errors "an output directory was written"; bad_ok=0; }
[ $bad_ok = 1 ] && ok train_data_errors

# --- a short run from scratch ---------------------------------------------------
run1="$T/m1"
log="$T/train1.log"
"$BIN" train --data "$G/train_small.json" --output "$run1" --epochs 2 \
    --tracking-uri "$T/mlruns" --experiment-name e2e --run-name short "${TINY[@]}" >"$log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    fail train_short_run "exit $rc: $(tail -5 "$log")"
else
    missing=""
    for f in config.json model.safetensors vocab.txt tokenizer_config.json \
             special_tokens_map.json intent_classifier.pt eval_report.json; do
        [ -s "$run1/$f" ] || missing="$missing $f"
    done
    if [ -n "$missing" ]; then fail train_short_run "missing:$missing"
    elif [ "$(grep -c 'training from scratch' "$log")" != 1 ]; then
        fail train_short_run "the offline fallback is not said in exactly one line"
    elif ! grep -q '^step 2/' "$log" || ! grep -q '^epoch 2/2 eval_loss' "$log"; then
        fail train_short_run "no log or eval lines: $(cat "$log")"
    elif ! grep -Eq "^intent: MLflow run [0-9a-f]{32}: mlflow ui --backend-store-uri $T/mlruns \(then http://127.0.0.1:5000/#/experiments/[0-9]+/runs/[0-9a-f]{32}\)\$" "$log"; then
        fail train_short_run "no line saying where the MLflow run is: $(grep MLflow "$log")"
    else ok train_short_run; fi
fi

if "$PY" - "$run1/eval_report.json" "$run1/config.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
for k in ("accuracy", "f1_macro", "loss", "num_examples", "per_intent", "confusion_matrix", "labels"):
    assert k in r, k
assert r["num_examples"] == 16, r["num_examples"]      # 20% of 80, stratified
assert r["from_scratch"] is True
# from scratch there is no base model; the report says where the vocabulary came from
assert "base_model" not in r, r.get("base_model")
v = r["vocabulary"]
assert v["trained_on"].endswith("tests/golden/data/train_small.json") and v["texts"] == 64, v
assert v["type"] == "wordpiece", v
c0 = json.load(open(sys.argv[2]))
assert v["size"] == c0["vocab_size"], (v, c0["vocab_size"])
assert r["evaluated_on"] == "eval_split"
labels = r["labels"]
assert labels == sorted(labels)
m = r["confusion_matrix"]["matrix"]
assert len(m) == len(labels) == 5 and sum(map(sum, m)) == 16
for name, e in r["per_intent"].items():
    assert set(e) == {"precision", "recall", "f1", "support"}, e
    assert e["support"] in (3, 4), e   # every intent on both sides
assert 0 <= r["accuracy"] <= 1
c = json.load(open(sys.argv[2]))
assert sorted(c["id2label"].values()) == labels
PYEOF
then ok train_eval_report_fields; else fail train_eval_report_fields "eval_report.json incomplete"; fi

# tracking: a file-store run with params, metrics and FINISHED status
meta=$(grep -rl "run_name: short" "$T/mlruns" 2>/dev/null | head -1)
if [ -n "$meta" ]; then
    rd=$(dirname "$meta")
    if [ -s "$rd/params/learning_rate" ] && [ -s "$rd/params/from_scratch" ] && \
       [ -s "$rd/metrics/loss" ] && [ -s "$rd/metrics/eval_f1_macro" ] && \
       grep -q '^status: 3' "$meta"; then
        ok train_tracking_file_store
    else fail train_tracking_file_store "run $rd lacks params/metrics/status: $(ls "$rd" "$rd/params" 2>&1 | tr '\n' ' ')"; fi
else fail train_tracking_file_store "no run named short under $T/mlruns"; fi

# --- intent eval -------------------------------------------------------------------
ev=$("$BIN" eval --model "$run1" --data "$G/eval_small.jsonl" 2>"$T/eval.err"); rc=$?
ev2=$("$BIN" eval --model "$run1/intent_classifier.pt" --data "$G/eval_small.jsonl" --batch-size 3 2>>"$T/eval.err")
if [ $rc -eq 0 ] && echo "$ev" | "$PY" -c '
import json, sys
r = json.load(sys.stdin); assert r["num_examples"] == 30 and "accuracy" in r and "confusion_matrix" in r' &&
   [ "$(echo "$ev" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')" = \
     "$(echo "$ev2" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')" ]; then
    ok train_eval_command
else fail train_eval_command "rc=$rc: $(cat "$T/eval.err")"; fi
printf '{"text": "hola", "intent": "greeting"}\n{"text": "pide una pizza", "intent": "order_pizza"}\n' > "$T/unknown.jsonl"
err=$("$BIN" eval --model "$run1" --data "$T/unknown.jsonl" 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$err" | grep -q 'unknown.jsonl: record 2 (line 2): unknown intent "order_pizza"'; then
    ok train_eval_unknown_label
else fail train_eval_unknown_label "rc=$rc: $err"; fi

# --- determinism: same seed and threads -> same bytes ------------------------------
"$BIN" train --data "$G/train_small.json" --output "$T/m2" --epochs 2 --no-tracking "${TINY[@]}" \
    >"$T/train2.log" 2>&1
if cmp -s "$run1/model.safetensors" "$T/m2/model.safetensors" && \
   cmp -s "$run1/vocab.txt" "$T/m2/vocab.txt"; then
    ok train_deterministic
else fail train_deterministic "two runs with seed 7 differ"; fi
"$BIN" train --data "$G/train_small.json" --output "$T/m3" --epochs 2 --no-tracking "${TINY[@]}" \
    --seed 8 >"$T/train3.log" 2>&1
if ! cmp -s "$run1/model.safetensors" "$T/m3/model.safetensors"; then
    ok train_seed_matters
else fail train_seed_matters "seed 8 gave the same weights as seed 7"; fi

# --- separate eval file --------------------------------------------------------------
"$BIN" train --data "$G/train_small.json" --eval-data "$G/eval_small.jsonl" --output "$T/m4" \
    --epochs 1 --no-tracking "${TINY[@]}" >"$T/train4.log" 2>&1
if "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["num_examples"]==30 and r["evaluated_on"]=="eval_data"' "$T/m4/eval_report.json" 2>/dev/null; then
    ok train_eval_data_file
else fail train_eval_data_file "$(tail -3 "$T/train4.log")"; fi

# --- progress bar on a terminal only ----------------------------------------------------
if command -v script >/dev/null 2>&1; then
    script -qec "$BIN train --data $G/train_small.json --output $T/mt --epochs 1 --no-tracking ${TINY[*]}" \
        /dev/null >"$T/tty.out" 2>&1
    if grep -q '\] 100% step 4/4' "$T/tty.out" && ! grep -q $'\r' "$log"; then
        ok train_progress_bar_tty_only
    else fail train_progress_bar_tty_only "no bar on the terminal, or a bar in the plain log"; fi
else
    echo "skip train_progress_bar_tty_only: script(1) not installed"
fi

# --- a local base model directory: the pretrained path ------------------------------
"$BIN" train --data "$G/train_small.json" --model-name "$run1" --output "$T/m7" --epochs 1 \
    --no-tracking "${TINY[@]}" >"$T/train7.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && ! grep -q 'from scratch' "$T/train7.log" && \
   "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["from_scratch"] is False and r["base_model"]==sys.argv[2]' \
       "$T/m7/eval_report.json" "$run1" 2>/dev/null; then
    ok train_from_local_base
else fail train_from_local_base "rc=$rc: $(tail -3 "$T/train7.log")"; fi
# a base whose classifier head was trained for other labels gets a new head, with a warning
"$BIN" train --data "$G/small.json" --model-name "$run1" --output "$T/m8" --epochs 1 \
    --no-tracking "${TINY[@]}" >"$T/train8.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -qi 'warning.*head' "$T/train8.log" && \
   "$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); assert sorted(c["id2label"].values())==["get_weather","greeting","set_alarm"]' \
       "$T/m8/config.json" 2>/dev/null; then
    ok train_new_head_for_other_labels
else fail train_new_head_for_other_labels "rc=$rc: $(tail -3 "$T/train8.log")"; fi

# --- no evaluation split (report on the training data); length-grouped batches ------------
"$BIN" train --data "$G/train_small.json" --output "$T/m9" --epochs 2 --eval-fraction 0 \
    --group-by-length --no-tracking "${TINY[@]}" >"$T/train9.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["num_examples"]==80 and r["evaluated_on"]=="train" and r["best_epoch"]==0' "$T/m9/eval_report.json" 2>/dev/null; then
    ok train_no_eval_split
else fail train_no_eval_split "rc=$rc: $(tail -3 "$T/train9.log")"; fi

# --- --require-pretrained offline ----------------------------------------------------
err=$("$BIN" train --data "$G/train_small.json" --output "$T/m5" --require-pretrained --no-tracking \
    "${TINY[@]}" 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$err" | grep -q 'prajjwal1/bert-tiny' && echo "$err" | grep -q 'require_pretrained' \
   && [ ! -e "$T/m5" ]; then
    ok train_require_pretrained_offline
else fail train_require_pretrained_offline "rc=$rc: $err"; fi

# --- Ctrl-C: stops at the next step, saves the best model so far, exits 130 ------------
"$BIN" train --data "$G/train_small.json" --output "$T/m6" --epochs 100000 --logging-steps 1 \
    --early-stopping-patience 0 --no-tracking "${TINY[@]}" >"$T/int.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
    grep -q '^epoch 1/' "$T/int.log" 2>/dev/null && break
    sleep 0.05
done
kill -INT $pid
wait $pid; rc=$?
if [ $rc -eq 130 ] && [ -s "$T/m6/model.safetensors" ] && \
   "$PY" -c 'import json,sys; assert json.load(open(sys.argv[1]))["interrupted"] is True' "$T/m6/eval_report.json"; then
    ok train_sigint_saves
else fail train_sigint_saves "rc=$rc: $(tail -3 "$T/int.log")"; fi
exit 0
