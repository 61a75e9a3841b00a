#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# pt_weights_only.sh - intent_classifier.pt against torch 2.x's weights-only
# rules without torch: tools/weights_only_check.py unpickles it with a
# restricted pickle.Unpickler (torch's opcode set and default globals,
# storages as persistent ids) and checks that its "config" is config.json
# with the JSON types kept (floats are floats) and that its state_dict is
# model.safetensors byte for byte; crafted archives with a disallowed global,
# an opcode outside the set or a non-storage persistent id are refused by
# that checker and by `intent predict`.
# Needs only python3 (skips without it). Usage: pt_weights_only.sh BUILD_DIR
set -u
B=${1:-build}
BIN="$B/intent"
PY=$(command -v python3 || true)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export HF_HUB_OFFLINE=1 HF_HOME="$T/hf" INTENT_LOG=error
for v in $(env | sed -n 's/^\(INTENT_[A-Z_]*\)=.*/\1/p'); do [ "$v" = INTENT_LOG ] || unset "$v"; done

if [ -z "$PY" ]; then
    echo "skip pt_weights_only: python3 is not installed"
    exit 0
fi

cat >"$T/data.json" <<'JSON'
[
 {"text": "hola que tal", "intent": "greeting"}, {"text": "hola", "intent": "greeting"},
 {"text": "hola hola", "intent": "greeting"}, {"text": "que tal", "intent": "greeting"},
 {"text": "adios", "intent": "goodbye"}, {"text": "adios adios", "intent": "goodbye"},
 {"text": "adios, hasta manana", "intent": "goodbye"}, {"text": "adios hoy", "intent": "goodbye"},
 {"text": "dime las noticias", "intent": "get_news"}, {"text": "noticias de hoy", "intent": "get_news"},
 {"text": "dime noticias", "intent": "get_news"}, {"text": "noticias", "intent": "get_news"}
]
JSON
out="$T/model"
if ! "$BIN" train --model-name tests/golden/io/legacy_bert --data "$T/data.json" --output "$out" \
        --epochs 1 --batch-size 4 --max-length 16 --threads 1 --seed 3 --no-tracking \
        >"$T/train.log" 2>&1; then
    echo "FAIL pt_weights_only_train: intent train failed: $(tail -n 3 "$T/train.log" | tr '\n' ' ')"
    exit 0
fi
"$PY" tools/weights_only_check.py model "$out"

mkdir -p "$T/crafted"
"$PY" tools/weights_only_check.py refuse "$T/crafted"
# our own reader refuses the same globals and persistent ids, naming them
bad=0
while read -r name expect; do
    f="$T/crafted/$name.pt"
    if "$BIN" predict --model "$f" </dev/null >"$T/p.out" 2>"$T/p.err"; then
        echo "FAIL pt_weights_only_c_refuses: intent predict accepted $name.pt"
        bad=1
    elif ! grep -q "$name.pt: .*$expect" "$T/p.err" || [ -s "$T/p.out" ]; then
        echo "FAIL pt_weights_only_c_refuses: $name.pt: $(head -c 300 "$T/p.err")"
        bad=1
    fi
done <<'LIST'
refuse_os_system disallowed global os.system
refuse_builtins_eval disallowed global builtins.eval
refuse_other_class disallowed global __main__.Opaque
refuse_non_storage_persid persistent id is not a storage
LIST
[ $bad = 0 ] && echo "ok pt_weights_only_c_refuses"
exit 0
