#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# pretrain.sh - `intent pretrain` end to end, offline, on tiny models: every
# corpus format (text, JSON, CSV, gzip, several files), the Hugging Face
# output checked against PyTorch (tools/check_mlm.py: names, shapes and the
# probe loss) for BERT, RoBERTa and DistilBERT, bit-reproducibility, a base
# checkpoint with and one without an MLM head, `intent train --model-name` on
# the result, bad input, truncation and Ctrl-C. Usage: pretrain.sh BUILD_DIR
set -u
B=${1:-build}
case $B in /*) ;; *) B="$PWD/$B" ;; esac
BIN="$B/intent"
G=tests/golden/data
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PY=/usr/bin/python3
export HF_HOME="$T/hf" HF_HUB_OFFLINE=1
unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE MLFLOW_TRACKING_URI MLFLOW_EXPERIMENT_NAME
for v in $(env | sed -n 's/^\(INTENT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }
have_torch() { [ -x "$PY" ] && "$PY" -c 'import torch' >/dev/null 2>&1; }
rep() { "$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1/pretrain_report.json"; }

TINY=(--scratch-hidden-size 32 --scratch-layers 1 --scratch-heads 2
      --scratch-intermediate-size 64 --scratch-vocab-size 300 --max-length 24
      --batch-size 8 --threads 1 --seed 7 --logging-steps 5 --no-tracking)

# --- corpora: text, JSON (labels ignored), CSV, gzip, several files ------------------
"$PY" -c 'import json,sys; [print(r["text"]) for r in json.load(open(sys.argv[1]))]' \
    "$G/train_small.json" >"$T/lines.txt"
printf '\n   \n' >>"$T/lines.txt" # blank lines are skipped
gzip -c "$T/lines.txt" >"$T/lines.txt.gz"
n_json=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$G/train_small.json")
n_txt=$(grep -c '[^[:space:]]' "$T/lines.txt")
n_csv=$("$PY" -c 'import csv,sys; print(len(list(csv.DictReader(open(sys.argv[1])))))' "$G/small.csv")
"$BIN" pretrain --data "$T/lines.txt.gz" "$G/train_small.json" --data "$G/small.csv" \
    --output "$T/m1" --epochs 2 "${TINY[@]}" >"$T/p1.log" 2>&1; rc=$?
texts=$([ $rc -eq 0 ] && rep "$T/m1" 'r["texts"]')
if [ $rc -eq 0 ] && [ "$texts" = $((n_txt + n_json + n_csv)) ] &&
   grep -q '"BertForMaskedLM"' "$T/m1/config.json" && [ -s "$T/m1/vocab.txt" ] &&
   [ -s "$T/m1/model.safetensors" ]; then
    ok pretrain_corpora_formats
else fail pretrain_corpora_formats "rc=$rc texts=$texts want $((n_txt + n_json + n_csv)): $(tail -3 "$T/p1.log")"; fi

# --- bit-reproducible ----------------------------------------------------------------
"$BIN" pretrain --data "$T/lines.txt.gz" "$G/train_small.json" --data "$G/small.csv" \
    --output "$T/m1b" --epochs 2 "${TINY[@]}" >"$T/p1b.log" 2>&1
a=$(sha256sum <"$T/m1/model.safetensors"); b=$(sha256sum <"$T/m1b/model.safetensors" 2>/dev/null)
if [ "$a" = "$b" ]; then ok pretrain_bit_reproducible
else fail pretrain_bit_reproducible "model.safetensors differs between two runs"; fi

# --- the output against PyTorch, each family ---------------------------------------------
if have_torch; then
    out=$("$PY" tools/check_mlm.py "$T/m1" 2>&1) && ok pretrain_torch_bert ||
        fail pretrain_torch_bert "$out"
    for arch in roberta distilbert; do
        "$BIN" pretrain --data "$T/lines.txt" --output "$T/m_$arch" --arch $arch --epochs 1 \
            "${TINY[@]}" >"$T/p_$arch.log" 2>&1 || fail pretrain_torch_$arch "$(tail -2 "$T/p_$arch.log")"
        out=$("$PY" tools/check_mlm.py "$T/m_$arch" 2>&1) && ok pretrain_torch_$arch ||
            fail pretrain_torch_$arch "$out"
    done
else
    echo "skip pretrain_torch: /usr/bin/python3 with torch is not installed"
fi

# --- base checkpoints: one with a masked-LM head keeps it; a partial, legacy-named head
# (cls.predictions.bias and dense.weight only) gets its missing tensors, said once ------------
"$BIN" pretrain --data "$T/lines.txt" --output "$T/m2" --model-name "$T/m1" \
    --epochs 1 "${TINY[@]}" >"$T/p2.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && ! grep -q 'masked-LM head' "$T/p2.log" &&
   [ "$(rep "$T/m2" 'r["from_scratch"]')" = False ]; then
    ok pretrain_from_base_keeps_its_head
else fail pretrain_from_base_keeps_its_head "rc=$rc: $(tail -3 "$T/p2.log")"; fi
"$BIN" pretrain --data "$T/lines.txt" --output "$T/m2b" --model-name tests/golden/io/legacy_bert \
    --epochs 1 "${TINY[@]}" >"$T/p2b.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c 'no complete masked-LM head; its missing tensors are initialised' "$T/p2b.log")" = 1 ]; then
    ok pretrain_from_base_new_head
else fail pretrain_from_base_new_head "rc=$rc: $(tail -3 "$T/p2b.log")"; fi
if have_torch; then
    out=$("$PY" tools/check_mlm.py "$T/m2b" 2>&1) && ok pretrain_torch_from_base ||
        fail pretrain_torch_from_base "$out"
fi

# --- intent train fine-tunes the result (encoder loaded, classifier new) --------------------
"$BIN" train --model-name "$T/m1" --data "$G/train_small.json" --output "$T/ft" --epochs 1 \
    --batch-size 16 --threads 1 --no-tracking >"$T/ft.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q 'no classifier head; a new one' "$T/ft.log" && [ -s "$T/ft/model.safetensors" ] &&
   grep -q '"BertForSequenceClassification"' "$T/ft/config.json"; then
    ok pretrain_then_train
else fail pretrain_then_train "rc=$rc: $(tail -3 "$T/ft.log")"; fi

# --- intent train from scratch with --pretrain (+ --unlabelled-data): pretrained first ---------
"$BIN" train --data "$G/train_small.json" --output "$T/ftp" --epochs 1 --pretrain \
    --pretrain-epochs 1 --unlabelled-data "$T/lines.txt.gz,$G/small.csv" "${TINY[@]}" \
    >"$T/ftp.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q 'pretraining the encoder first' "$T/ftp.log" &&
   [ "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["pretrained_mlm"])' "$T/ftp/eval_report.json")" = True ] &&
   ! ls -d "$T"/ftp.pretrain.* >/dev/null 2>&1; then
    ok train_pretrain_first
else fail train_pretrain_first "rc=$rc: $(tail -3 "$T/ftp.log")"; fi
"$BIN" train --data "$G/train_small.json" --output "$T/ftn" --epochs 1 --no-pretrain "${TINY[@]}" \
    >"$T/ftn.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && ! grep -q 'pretraining the encoder' "$T/ftn.log"; then ok train_no_pretrain
else fail train_no_pretrain "rc=$rc: $(tail -3 "$T/ftn.log")"; fi

# --- bad input: clear messages, nothing written --------------------------------------------
: >"$T/empty.txt"
printf '\n  \n\t\n' >"$T/blank.txt"
for f in empty blank; do
    err=$("$BIN" pretrain --data "$T/$f.txt" --output "$T/bad_$f" "${TINY[@]}" 2>&1); rc=$?
    if [ $rc -eq 1 ] && echo "$err" | grep -q "$f.txt: no text" && [ ! -e "$T/bad_$f" ]; then
        ok pretrain_refuses_${f}_corpus
    else fail pretrain_refuses_${f}_corpus "rc=$rc: $err"; fi
done
err=$("$BIN" pretrain --data "$T/missing.txt" --output "$T/bad_m" "${TINY[@]}" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$err" | grep -q 'missing.txt' && ok pretrain_missing_file ||
    fail pretrain_missing_file "rc=$rc: $err"
err=$("$BIN" pretrain --data "$T/lines.txt" --mask-prob 1.5 "${TINY[@]}" 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$err" | grep -q 'mask-prob' && ok pretrain_bad_mask_prob ||
    fail pretrain_bad_mask_prob "rc=$rc: $err"
err=$("$BIN" pretrain --output "$T/x" 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$err" | grep -q 'no corpus' && ok pretrain_needs_data ||
    fail pretrain_needs_data "rc=$rc: $err"
err=$("$BIN" pretrain --data "$T/lines.txt" --electra-thing 3 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$err" | grep -q 'unknown option' && ok pretrain_unknown_option ||
    fail pretrain_unknown_option "rc=$rc: $err"
err=$("$BIN" pretrain --data "$T/lines.txt" --arch electra --output "$T/bad_e" "${TINY[@]}" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$err" | grep -q 'masked-LM head for electra' && [ ! -e "$T/bad_e" ] &&
    ok pretrain_electra_refused || fail pretrain_electra_refused "rc=$rc: $err"

# --- a corpus smaller than one batch; lines over max_length truncated and counted -------------
{ echo "hola"; echo "que tal"; printf 'palabra %.0s' $(seq 1 60); echo; } >"$T/tiny.txt"
"$BIN" pretrain --data "$T/tiny.txt" --output "$T/m3" --epochs 2 "${TINY[@]}" --batch-size 32 \
    >"$T/p3.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && [ "$(rep "$T/m3" 'r["truncated"], r["steps"]')" = "1 2" ] &&
   grep -q '1 of 3 texts are longer than max_length' "$T/p3.log"; then
    ok pretrain_small_corpus_and_truncation
else fail pretrain_small_corpus_and_truncation "rc=$rc: $(tail -3 "$T/p3.log")"; fi

# --- Ctrl-C: stops at the next step, saves, exits 130 -------------------------------------------
"$BIN" pretrain --data "$T/lines.txt" --output "$T/m4" --epochs 100000 --logging-steps 1 \
    "${TINY[@]}" --logging-steps 1 >"$T/int.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
    grep -q '^step ' "$T/int.log" 2>/dev/null && break
    sleep 0.05
done
kill -INT $pid
wait $pid; rc=$?
if [ $rc -eq 130 ] && [ -s "$T/m4/model.safetensors" ] && [ "$(rep "$T/m4" 'r["interrupted"]')" = True ]; then
    ok pretrain_sigint_saves
else fail pretrain_sigint_saves "rc=$rc: $(tail -3 "$T/int.log")"; fi
exit 0
