#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# archs.sh - the whole product on each architecture, offline: `intent train
# --arch A` from scratch writes a small random-weight checkpoint directory of
# that kind (RoBERTa with a byte-level BPE vocabulary, DistilBERT and ELECTRA
# with WordPiece), then `intent train --model-name DIR` fine-tunes from it,
# and eval, predict (directory and intent_classifier.pt) and serve use the
# result; with python3-torch, the saved directory must load strictly into
# PyTorch's module tree of its architecture and give the same probabilities.
# Then pretrained checkpoints of each family (RoBERTa, RoBERTa with only
# vocab.json + merges.txt, XLM-R with a Unigram tokenizer, DistilBERT, ELECTRA,
# BERT with the XLM-R Unigram tokenizer) are trained on by Hub id from the
# Hugging Face cache and from tests/tools/hub_stub.py, and the results used.
# Usage: archs.sh BUILD_DIR
set -u
B=${1:-build}
case $B in /*) ;; *) B="$PWD/$B" ;; esac
BIN="$B/intent"
G=tests/golden/data
T=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$T"' EXIT
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

export HF_HOME="$T/hf" HF_HUB_OFFLINE=1
unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE MLFLOW_TRACKING_URI MLFLOW_EXPERIMENT_NAME
for v in $(env | sed -n 's/^\(INTENT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }

TINY=(--scratch-hidden-size 32 --scratch-layers 1 --scratch-heads 2
      --scratch-intermediate-size 64 --scratch-vocab-size 300 --max-length 32
      --batch-size 16 --threads 1 --seed 7 --no-tracking)

# config.json of DIR has model_type MT and architectures [CLS]
has_arch() {
    "$PY" -c 'import json,sys; c=json.load(open(sys.argv[1]+"/config.json"));
assert c["model_type"]==sys.argv[2] and c["architectures"]==[sys.argv[3]], c' "$@" 2>/dev/null
}

serve_check() { # dir name
    local log="$T/serve_$2.log" port=
    "$BIN" serve --model "$1" --host 127.0.0.1 --port 0 2>"$log" &
    PID=$!
    for _ in $(seq 1 1500); do
        port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log" | head -1)
        [ -n "$port" ] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.02
    done
    local body=
    [ -n "$port" ] && body=$(curl -s -X POST -H 'Content-Type: application/json' \
        --data-binary '{"text":"what is the weather today"}' "http://127.0.0.1:$port/classify")
    kill "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    PID=
    if printf '%s' "$body" | grep -q '"intent":"\(get_news\|get_weather\|goodbye\|greeting\|set_alarm\)"'; then
        ok "archs_serve_$2"
    else fail "archs_serve_$2" "port '$port' body '$body': $(tail -2 "$log")"; fi
}

for spec in roberta:RobertaForSequenceClassification distilbert:DistilBertForSequenceClassification \
            electra:ElectraForSequenceClassification; do
    a=${spec%%:*} cls=${spec#*:}
    # from scratch: a checkpoint directory of that kind
    "$BIN" train --data "$G/train_small.json" --output "$T/s_$a" --epochs 2 --arch "$a" \
        "${TINY[@]}" >"$T/s_$a.log" 2>&1; rc=$?
    if [ $rc -eq 0 ] && has_arch "$T/s_$a" "$a" "$cls" && grep -q "from scratch ($a," "$T/s_$a.log"
    then ok "archs_scratch_$a"
    else fail "archs_scratch_$a" "rc=$rc: $(tail -2 "$T/s_$a.log")"; continue; fi
    # fine-tuning from that directory keeps the architecture
    "$BIN" train --data "$G/train_small.json" --model-name "$T/s_$a" --output "$T/f_$a" \
        --epochs 2 "${TINY[@]}" >"$T/f_$a.log" 2>&1; rc=$?
    if [ $rc -eq 0 ] && ! grep -q 'from scratch' "$T/f_$a.log" && has_arch "$T/f_$a" "$a" "$cls"
    then ok "archs_finetune_$a"
    else fail "archs_finetune_$a" "rc=$rc: $(tail -2 "$T/f_$a.log")"; continue; fi
    "$BIN" eval --model "$T/f_$a" --data "$G/small.json" >"$T/e_$a.json" 2>"$T/e_$a.log"; rc=$?
    if [ $rc -eq 0 ] && "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert 0 <= r["accuracy"] <= 1' "$T/e_$a.json" 2>/dev/null
    then ok "archs_eval_$a"
    else fail "archs_eval_$a" "rc=$rc: $(tail -2 "$T/e_$a.log")"; fi
    # predict: the directory and the .pt give the same answers
    printf '%s\n' "hello there" "set an alarm for 7" "goodbye friend" >"$T/in.txt"
    "$BIN" predict --model "$T/f_$a" <"$T/in.txt" >"$T/pd_$a" 2>"$T/pd_$a.log"; r1=$?
    "$BIN" predict --model "$T/f_$a/intent_classifier.pt" <"$T/in.txt" >"$T/pp_$a" 2>"$T/pp_$a.log"; r2=$?
    if [ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ "$(wc -l <"$T/pd_$a")" -eq 3 ] && cmp -s "$T/pd_$a" "$T/pp_$a"
    then ok "archs_predict_dir_pt_$a"
    else fail "archs_predict_dir_pt_$a" "rc=$r1/$r2: $(tail -1 "$T/pd_$a.log") $(tail -1 "$T/pp_$a.log")"; fi
    # the saved directory loads strictly into PyTorch's module tree of that
    # architecture (tools/arch_interop.py) and gives the same probabilities
    ids=$(echo "set an alarm for 7" | "$BIN" tokenize --model "$T/f_$a" 2>/dev/null |
          "$PY" -c 'import json,sys; print(json.load(sys.stdin)["ids"])')
    "$PY" tools/arch_interop.py "$T/f_$a" "$ids" >"$T/torch_$a" 2>"$T/torch_$a.log"; rc=$?
    if [ $rc -eq 2 ]; then echo "skip archs_torch_reload_$a: python3-torch is not installed"
    else
        echo "set an alarm for 7" | "$BIN" predict --model "$T/f_$a" --top-k 100 --no-calibration \
            --fallback-threshold 0 >"$T/pk_$a" 2>/dev/null
        if [ $rc -eq 0 ] && "$PY" -c '
import json,sys
lab=json.load(open(sys.argv[1]+"/config.json"))["id2label"]
p=[float(x) for x in open(sys.argv[2])]
c={k["intent"]: k["confidence"] for k in json.load(open(sys.argv[3]))["top_k"]}
assert len(p)==len(lab) and all(abs(p[int(i)]-c[l]) < 1e-6 for i,l in lab.items()), (p, c)'             "$T/f_$a" "$T/torch_$a" "$T/pk_$a" 2>"$T/cmp_$a.log"
        then ok "archs_torch_reload_$a"
        else fail "archs_torch_reload_$a" "rc=$rc: $(tail -2 "$T/torch_$a.log") $(tail -1 "$T/cmp_$a.log")"; fi
    fi
    if command -v curl >/dev/null; then serve_check "$T/f_$a" "$a"
    else echo "skip archs_serve_$a: curl is not installed"; fi
done

# a config.json of one architecture over weights of another is refused, naming both
mkdir -p "$T/mixed"
cp "$T/s_distilbert/"* "$T/mixed/" 2>/dev/null
cp "$T/s_electra/model.safetensors" "$T/mixed/"
rm -f "$T/mixed/pytorch_model.bin"
"$BIN" predict --model "$T/mixed" "hola" >/dev/null 2>"$T/mixed.log"; rc=$?
if [ $rc -ne 0 ] && grep -q 'electra' "$T/mixed.log" && grep -q 'model_type' "$T/mixed.log"
then ok "archs_mixed_checkpoint_refused"
else fail "archs_mixed_checkpoint_refused" "rc=$rc: $(cat "$T/mixed.log")"; fi

# an unsupported model_type fails before any work, listing the supported ones
mkdir -p "$T/deberta"
cp "$T/s_electra/"* "$T/deberta/" 2>/dev/null
sed -i 's/"model_type": "electra"/"model_type": "deberta-v2"/; s/ElectraForSequenceClassification/DebertaV2ForSequenceClassification/' "$T/deberta/config.json"
"$BIN" train --data "$G/train_small.json" --model-name "$T/deberta" --output "$T/d_out" \
    --epochs 1 "${TINY[@]}" >"$T/deberta.log" 2>&1; rc=$?
if [ $rc -ne 0 ] && grep -q 'deberta-v2' "$T/deberta.log" && \
   grep -q 'bert, roberta, xlm-roberta, camembert, distilbert, electra' "$T/deberta.log" && \
   [ ! -e "$T/d_out" ]
then ok "archs_unsupported_model_type"
else fail "archs_unsupported_model_type" "rc=$rc: $(tail -2 "$T/deberta.log")"; fi

# a tokenizer larger than config.json's vocab_size is refused naming the field
mkdir -p "$T/bigvocab"
cp "$T/s_distilbert/"* "$T/bigvocab/" 2>/dev/null
rm -f "$T/bigvocab/tokenizer.json"
printf '%s\n' extra_token_one extra_token_two >>"$T/bigvocab/vocab.txt"
"$BIN" predict --model "$T/bigvocab" "hola" >/dev/null 2>"$T/bigvocab.log"; rc=$?
if [ $rc -ne 0 ] && grep -q 'config.json field "vocab_size" is [0-9]* but the tokenizer has' "$T/bigvocab.log"
then ok "archs_vocab_size_disagrees"
else fail "archs_vocab_size_disagrees" "rc=$rc: $(cat "$T/bigvocab.log")"; fi

# --- pretrained checkpoints of each family, through the Hugging Face cache and the Hub ---
# A small random-weight classification checkpoint (tests/tools/make_ckpt.py, 3 labels, so
# fine-tuning on 5 intents replaces only the classifier) with the family's tokenizer:
# roberta byte-level BPE (tests/golden/tok/tiny_bpe), xlm-roberta SentencePiece Unigram
# (tiny_unigram), distilbert/electra WordPiece; bert+unigram is the multilingual-e5 /
# paraphrase-multilingual-MiniLM case (BERT weights, XLM-R tokenizer).
# Each is trained on by id from a cache laid out under HF_HUB_CACHE (offline), by id
# from the Hub stub into an empty HF_HOME, and (bert+unigram) as a local directory;
# then eval, predict (directory and .pt) and serve /classify use each result.
FT=(--data "$G/train_small.json" --epochs 1 --max-length 32 --batch-size 16 --threads 1
    --seed 7 --no-tracking --require-pretrained)
COMMIT=2222222222222222222222222222222222222222

make_repo() { # dir family: config.json + model.safetensors + tokenizer files
    local d=$1 f=$2 tok vocab pad fam=$2
    case $f in
    roberta) tok=tests/golden/tok/tiny_bpe vocab=1000 pad=1 ;;
    xlm-roberta) tok=tests/golden/tok/tiny_unigram vocab=775 pad=773 ;;
    bert-unigram) tok=tests/golden/tok/tiny_unigram vocab=775 pad=773 fam=bert ;;
    roberta-legacy) tok=tests/golden/tok/tiny_bpe vocab=1000 pad=1 fam=roberta ;;
    *) tok=tests/golden/io/legacy_bert vocab=40 pad=0 ;;
    esac
    "$PY" tests/tools/make_ckpt.py "$d" "$fam" $vocab $pad --labels 3 || return 1
    for x in tokenizer.json tokenizer_config.json special_tokens_map.json vocab.json \
             merges.txt vocab.txt; do
        [ -f "$tok/$x" ] && cp "$tok/$x" "$d/"
    done
    [ "$f" = roberta-legacy ] && rm -f "$d/tokenizer.json" # vocab.json + merges.txt only
    return 0
}

cache_put() { # repo_dir cache org/name: the huggingface_hub layout (blobs + relative links)
    local r="$2/models--${3%%/*}--${3#*/}" x b
    mkdir -p "$r/blobs" "$r/refs" "$r/snapshots/$COMMIT"
    printf '%s' "$COMMIT" >"$r/refs/main"
    for x in "$1"/*; do
        b=$(sha256sum "$x" | cut -c1-64)
        cp "$x" "$r/blobs/$b"
        ln -s "../../blobs/$b" "$r/snapshots/$COMMIT/$(basename "$x")"
    done
}

stub_start() { # repo_dir org/name -> HUB_PORT (the stub exits when fd 5 closes)
    rm -f "$T/stub.port"
    exec 5> >(exec "$PY" tests/tools/hub_stub.py --dir "$1" --repo "$2" --commit "$COMMIT" \
        --log "$T/stub.log" >"$T/stub.port")
    for _ in $(seq 200); do [ -s "$T/stub.port" ] && break; sleep 0.05; done
    HUB_PORT=$(awk '{print $2}' "$T/stub.port")
}

# trained from the base (not from scratch), same model_type, the base's tokenizer kind
trained_ok() { # out family log
    local mt=$2
    case $2 in bert-unigram) mt=bert ;; roberta-legacy) mt=roberta ;; esac
    grep -q '"from_scratch": false' "$1/eval_report.json" 2>/dev/null && \
        ! grep -q 'from scratch' "$3" && "$PY" -c '
import json,sys
c=json.load(open(sys.argv[1]+"/config.json")); assert c["model_type"]==sys.argv[2], c["model_type"]
if sys.argv[3].endswith("unigram") or sys.argv[3]=="xlm-roberta":
    assert json.load(open(sys.argv[1]+"/tokenizer.json"))["model"]["type"]=="Unigram"' \
        "$1" "$mt" "$2" 2>>"$3"
}

use_checks() { # out name: eval, predict dir vs .pt, serve
    local m=$1 n=$2 r1 r2
    "$BIN" eval --model "$m" --data "$G/small.json" >"$T/e_$n.json" 2>"$T/e_$n.log"; r1=$?
    if [ $r1 -eq 0 ] && "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert 0 <= r["accuracy"] <= 1' "$T/e_$n.json" 2>/dev/null
    then ok "archs_eval_$n"; else fail "archs_eval_$n" "rc=$r1: $(tail -2 "$T/e_$n.log")"; fi
    printf '%s\n' "quiero ver las noticias" "pon una alarma" "adios" >"$T/in.txt"
    "$BIN" predict --model "$m" <"$T/in.txt" >"$T/pd_$n" 2>"$T/pd_$n.log"; r1=$?
    "$BIN" predict --model "$m/intent_classifier.pt" <"$T/in.txt" >"$T/pp_$n" 2>"$T/pp_$n.log"; r2=$?
    if [ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ "$(wc -l <"$T/pd_$n")" -eq 3 ] && cmp -s "$T/pd_$n" "$T/pp_$n"
    then ok "archs_predict_dir_pt_$n"
    else fail "archs_predict_dir_pt_$n" "rc=$r1/$r2: $(tail -1 "$T/pd_$n.log") $(tail -1 "$T/pp_$n.log")"; fi
    if command -v curl >/dev/null; then serve_check "$m" "$n"
    else echo "skip archs_serve_$n: curl is not installed"; fi
}

if [ ! -x "$PY" ]; then
    echo "skip archs_pretrained: $PY not found"
    exit 0
fi
for f in roberta roberta-legacy xlm-roberta distilbert electra bert-unigram; do
    make_repo "$T/repo_$f" "$f" || { fail "archs_repo_$f" "make_ckpt.py failed"; continue; }
    # by id, offline, from a cache under HF_HUB_CACHE
    cache_put "$T/repo_$f" "$T/hubcache" "test-org/$f-tiny"
    HF_HUB_CACHE="$T/hubcache" "$BIN" train --model-name "test-org/$f-tiny" \
        --output "$T/c_$f" "${FT[@]}" >"$T/c_$f.log" 2>&1; rc=$?
    if [ $rc -eq 0 ] && trained_ok "$T/c_$f" "$f" "$T/c_$f.log"; then ok "archs_hf_cache_train_$f"
    else fail "archs_hf_cache_train_$f" "rc=$rc: $(tail -2 "$T/c_$f.log")"; fi
    use_checks "$T/c_$f" "cache_$f"
    # by id from the Hub stub into an empty HF_HOME
    stub_start "$T/repo_$f" "test-org/$f-hub"
    env -u HF_HUB_OFFLINE HF_HOME="$T/hf_$f" HF_ENDPOINT="http://127.0.0.1:$HUB_PORT" \
        "$BIN" train --model-name "test-org/$f-hub" --output "$T/h_$f" "${FT[@]}" \
        >"$T/h_$f.log" 2>&1; rc=$?
    exec 5>&-
    snap="$T/hf_$f/hub/models--test-org--$f-hub/snapshots/$COMMIT"
    if [ $rc -eq 0 ] && trained_ok "$T/h_$f" "$f" "$T/h_$f.log" && [ -L "$snap/model.safetensors" ]
    then ok "archs_hub_train_$f"
    else fail "archs_hub_train_$f" "rc=$rc: $(tail -2 "$T/h_$f.log")"; fi
    use_checks "$T/h_$f" "hub_$f"
done

# bert-unigram as a local directory: trains, and the model it saves tokenizes with the
# SentencePiece Unigram pieces (not WordPiece), as the base does
f=bert-unigram
"$BIN" train --model-name "$T/repo_$f" --output "$T/d_$f" "${FT[@]}" >"$T/d_$f.log" 2>&1; rc=$?
t1=$(echo "quiero ver las noticias" | "$BIN" tokenize --model "$T/repo_$f" 2>&1)
t2=$(echo "quiero ver las noticias" | "$BIN" tokenize --model "$T/d_$f" 2>&1)
if [ $rc -eq 0 ] && trained_ok "$T/d_$f" "$f" "$T/d_$f.log" && [ "$t1" = "$t2" ] && \
   printf '%s' "$t2" | grep -q '"tokens": \["<s>", "▁' && ! printf '%s' "$t2" | grep -q '\[CLS\]'
then ok "archs_local_dir_train_$f"
else fail "archs_local_dir_train_$f" "rc=$rc: $(tail -2 "$T/d_$f.log") base $t1 saved $t2"; fi
use_checks "$T/d_$f" "dir_$f"
