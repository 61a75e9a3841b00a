#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# interop_torch.sh - the saved model against real PyTorch (Debian's
# python3-torch 1.13): `intent train` fine-tunes the small legacy-named
# checkpoint in tests/golden/io/legacy_bert (LayerNorm.gamma/beta,
# position_ids, MLM heads, no classifier), then tools/interop_check.py loads
# intent_classifier.pt with torch.load (weights_only=True on torch >= 2.0;
# torch 1.13 must fail there only for want of BINFLOAT, and loads it with
# weights_only=False), checks its config keeps config.json's JSON types
# (and builds transformers.BertConfig from it when installed), compares it with
# model.safetensors (parsed by hand), config.json and vocab.txt, and
# reproduces `intent predict`'s probabilities with a PyTorch BERT built from
# the .pt alone. Also: a checkpoint torch.save wrote is read by our loader
# (pytorch_model.bin of the same model), and `intent predict` gives the same
# answers from the directory and from the .pt file.
# Usage: interop_torch.sh BUILD_DIR
set -u
B=${1:-build}
BIN="$B/intent"
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export HF_HUB_OFFLINE=1 HF_HOME="$T/hf" INTENT_LOG=error
for v in $(env | sed -n 's/^\(INTENT_[A-Z_]*\)=.*/\1/p'); do [ "$v" = INTENT_LOG ] || unset "$v"; done

if ! [ -x "$PY" ] || ! "$PY" -c 'import torch' >/dev/null 2>&1; then
    echo "skip interop_torch: /usr/bin/python3 with torch is not installed (apt-get install python3-torch)"
    exit 0
fi

# A tiny dataset in the words of the fixture's 40-token vocabulary.
cat >"$T/data.json" <<'JSON'
[
 {"text": "hola que tal", "intent": "greeting"}, {"text": "hola", "intent": "greeting"},
 {"text": "hola hola", "intent": "greeting"}, {"text": "que tal", "intent": "greeting"},
 {"text": "hola que tal hoy", "intent": "greeting"}, {"text": "hola, que tal?", "intent": "greeting"},
 {"text": "adios", "intent": "goodbye"}, {"text": "adios adios", "intent": "goodbye"},
 {"text": "adios, hasta manana", "intent": "goodbye"}, {"text": "adios hoy", "intent": "goodbye"},
 {"text": "adios y manana", "intent": "goodbye"}, {"text": "adios!", "intent": "goodbye"},
 {"text": "dime las noticias", "intent": "get_news"}, {"text": "noticias de hoy", "intent": "get_news"},
 {"text": "dime noticias", "intent": "get_news"}, {"text": "las noticias de manana", "intent": "get_news"},
 {"text": "noticias", "intent": "get_news"}, {"text": "noticias en la tele", "intent": "get_news"},
 {"text": "pon musica", "intent": "play_music"}, {"text": "pon una musica", "intent": "play_music"},
 {"text": "musica", "intent": "play_music"}, {"text": "pon la musica de hoy", "intent": "play_music"},
 {"text": "musica en la sala", "intent": "play_music"}, {"text": "pon un tema de musica", "intent": "play_music"}
]
JSON

out="$T/model"
if ! "$BIN" train --model-name tests/golden/io/legacy_bert --data "$T/data.json" --output "$out" \
        --epochs 3 --batch-size 4 --max-length 16 --threads 1 --seed 5 --learning-rate 0.001 \
        --no-tracking >"$T/train.log" 2>&1; then
    echo "FAIL interop_train: intent train failed: $(tail -n 3 "$T/train.log" | tr '\n' ' ')"
    exit 0
fi
echo "ok interop_train"

printf '%s\n' "hola que tal" "pon musica de hoy" "dime las noticias" "adios" "algo desconocido xyz" \
    "la musica, la musica!" >"$T/texts.txt"
"$BIN" tokenize --model "$out" <"$T/texts.txt" >"$T/tokens.jsonl" 2>"$T/tok.err" ||
    echo "FAIL interop_tokenize: $(cat "$T/tok.err")"
"$BIN" predict --model "$out" --top-k 4 <"$T/texts.txt" >"$T/pred_dir.jsonl" 2>"$T/pred.err" ||
    echo "FAIL interop_predict_dir: $(cat "$T/pred.err")"
"$BIN" predict --model "$out/intent_classifier.pt" --top-k 4 <"$T/texts.txt" >"$T/pred_pt.jsonl" 2>"$T/pred.err" ||
    echo "FAIL interop_predict_pt: $(cat "$T/pred.err")"
if cmp -s "$T/pred_dir.jsonl" "$T/pred_pt.jsonl" && [ -s "$T/pred_dir.jsonl" ]; then
    echo "ok interop_predict_dir_eq_pt"
else
    echo "FAIL interop_predict_dir_eq_pt: predictions from the directory and the .pt differ"
fi

"$PY" tools/interop_check.py "$out" "$T/tokens.jsonl" "$T/pred_dir.jsonl" 2>"$T/check.err"
[ -s "$T/check.err" ] && head -n 5 "$T/check.err" | sed "s/^/    /" >&2

# torch.save's own pytorch_model.bin of the same weights: our loader reads it
# back to the same predictions.
bin_dir="$T/from_bin"
mkdir -p "$bin_dir"
cp "$out/config.json" "$out/vocab.txt" "$out/tokenizer_config.json" "$out/special_tokens_map.json" "$bin_dir/"
# the out-of-scope statistics belong to the model directory too (docs/formats.md)
[ -f "$out/intent_oos.safetensors" ] && cp "$out/intent_oos.safetensors" "$bin_dir/"
if "$PY" - "$out/intent_classifier.pt" "$bin_dir/pytorch_model.bin" <<'PYEOF' 2>"$T/bin.err"
import sys, torch
ck = torch.load(sys.argv[1], weights_only=int(torch.__version__.split(".")[0]) >= 2)
# a view with an offset and a transposed copy exercise the reader's strides
sd = ck["state_dict"]
torch.save(sd, sys.argv[2])
PYEOF
then
    "$BIN" predict --model "$bin_dir" --top-k 4 <"$T/texts.txt" >"$T/pred_bin.jsonl" 2>"$T/pred.err"
    if cmp -s "$T/pred_dir.jsonl" "$T/pred_bin.jsonl" && [ -s "$T/pred_bin.jsonl" ]; then
        echo "ok interop_torch_saved_bin"
    else
        echo "FAIL interop_torch_saved_bin: predictions from torch.save's pytorch_model.bin differ: $(head -c 300 "$T/pred.err")"
    fi
else
    echo "FAIL interop_torch_saved_bin: $(tail -n 2 "$T/bin.err")"
fi
exit 0
