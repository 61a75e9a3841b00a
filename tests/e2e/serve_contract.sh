#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# serve_contract.sh - the drop-in contracts of `intent serve` against recorded examples
# (tests/golden/http): text-embeddings-inference /predict and /info, Rasa /model/parse and
# /status, FastAPI's validation errors in both styles (pydantic 2 by default,
# --error-style fastapi-legacy); /openapi.json's structure and every answer against its
# documented schema (tests/e2e/openapi_check.py); bad input on the new routes; the server
# keeps serving afterwards.
#   bash tests/e2e/serve_contract.sh BUILD_DIR
set -u
build=${1:-build}
cd "$(dirname "$0")/../.."
case $build in /*) ;; *) build=$PWD/$build ;; esac
BIN=$build/intent
PY=/usr/bin/python3
source tests/e2e/lib/serve_model.sh

if ! command -v curl >/dev/null || ! [ -x "$PY" ]; then
    echo "skip serve_contract: curl or python3 is not installed"
    exit 0
fi
tmp=$(mktemp -d /tmp/intent-contract-e2e.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
ok() { echo "ok serve_$1"; }
fail() { echo "FAIL serve_$1: $2"; }

make_test_model "$tmp/model"

# start LOG [args...]: starts a server, appends its pid to PIDS, sets PORT.
start() {
    local log=$1; shift
    "$BIN" serve --model "$tmp/model" --host 127.0.0.1 --port 0 --max-batch 4 "$@" 2>"$log" &
    PIDS+=($!)
    PORT=
    for _ in $(seq 1 1500); do
        PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log" | head -1)
        [ -n "$PORT" ] && return 0
        kill -0 "${PIDS[-1]}" 2>/dev/null || break
        sleep 0.02
    done
    return 1
}

G=tests/golden/http
if ! start "$tmp/log"; then
    fail contract_start "$(tail -3 "$tmp/log")"
    exit 1
fi
U=http://127.0.0.1:$PORT
$PY tests/e2e/http_contract.py "$U" --style pydantic2 $G/tei_predict.json $G/tei_info.json \
    $G/rasa.json $G/fastapi_errors.json
$PY tests/e2e/openapi_check.py "$U" $G/tei_predict.json $G/tei_info.json $G/rasa.json

# bad input on the new routes: the anchor's status, and the server keeps serving
bad() { # name status path ctype body
    local code
    code=$(curl -s -o "$tmp/out" -w '%{http_code}' -X POST -H "Content-Type: $4" \
        --data-binary "$5" "$U$3")
    if [ "$code" = "$2" ] && $PY -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out"
    then ok "bad_$1"; else fail "bad_$1" "got $code $(head -c 200 "$tmp/out")"; fi
}
bad predict_wrong_type 422 /predict application/json '{"inputs":{"a":1}}'
bad predict_raw_scores_type 422 /predict application/json '{"inputs":"a","raw_scores":"yes"}'
bad predict_list_of_numbers 422 /predict application/json '{"inputs":[1,2,3]}'
bad predict_left 422 /predict application/json '{"inputs":"a","truncation_direction":"left"}'
bad predict_empty_body 400 /predict application/json ''
bad predict_not_object 422 /predict application/json '[1]'
bad predict_nested_empty 422 /predict application/json '{"inputs":[[]]}'
bad parse_not_object 400 /model/parse application/json '[1,2]'
bad parse_text_number 400 /model/parse application/json '{"text":5}'
bad parse_empty_body 400 /model/parse application/json ''
printf '{"inputs":"a\xc3"}' >"$tmp/badutf8"
code=$(curl -s -o "$tmp/out" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$tmp/badutf8" "$U/model/parse")
[ "$code" = 400 ] && ok bad_parse_invalid_utf8 || fail bad_parse_invalid_utf8 "$code"
# Rasa's normaliser takes the first text of a list
out=$(curl -s -H 'Content-Type: application/json' -d '{"text":["hola","x"]}' "$U/model/parse")
[[ "$out" == '{"text":"hola","intent":{"name":'* ]] && ok parse_text_list || \
    fail parse_text_list "$out"
# /model/parse's intent is /classify's prediction
a=$(curl -s -H 'Content-Type: application/json' -d '{"text":"quiero ver las noticias"}' \
    "$U/classify")
b=$(curl -s -H 'Content-Type: application/json' -d '{"text":"quiero ver las noticias"}' \
    "$U/model/parse")
$PY - "$a" "$b" <<'PYEOF' && ok parse_same_prediction || fail parse_same_prediction "$a / $b"
import json, struct, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
assert a["intent"] == b["intent"]["name"], (a, b)
assert f32(a["confidence"]) == f32(b["intent"]["confidence"])
assert b["intent_ranking"][0] == b["intent"] and len(b["intent_ranking"]) == 5
PYEOF
# raw_scores are the logits: their softmax gives the probabilities
p=$(curl -s -H 'Content-Type: application/json' -d '{"inputs":"hola"}' "$U/predict")
r=$(curl -s -H 'Content-Type: application/json' -d '{"inputs":"hola","raw_scores":true}' \
    "$U/predict")
$PY - "$p" "$r" <<'PYEOF' && ok predict_raw_scores_softmax || fail predict_raw_scores_softmax "$p / $r"
import json, math, sys
p, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert [x["label"] for x in p] == [x["label"] for x in r]
z = sum(math.exp(x["score"]) for x in r)
for a, b in zip(p, r):
    assert abs(a["score"] - math.exp(b["score"]) / z) < 1e-6, (a, b)
assert abs(sum(x["score"] for x in p) - 1) < 1e-5
PYEOF
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/health")
[ "$code" = 200 ] && ok contract_still_serving || fail contract_still_serving "$code"

if start "$tmp/log2" --error-style fastapi-legacy; then
    $PY tests/e2e/http_contract.py "http://127.0.0.1:$PORT" --style fastapi-legacy \
        $G/fastapi_errors.json
    d=$(curl -s "http://127.0.0.1:$PORT/openapi.json")
    [[ "$d" == *'"ValidationError":{"type":"object","required":["loc","msg","type"]'* ]] &&
        ok contract_legacy_schema || fail contract_legacy_schema "${d:0:200}"
else
    fail contract_legacy_start "$(tail -3 "$tmp/log2")"
fi
"$BIN" serve --model "$tmp/model" --error-style pydantic1 2>"$tmp/err" && \
    fail contract_bad_style "accepted" || {
    grep -q 'error-style.*pydantic1' "$tmp/err" && ok contract_bad_style ||
        fail contract_bad_style "$(cat "$tmp/err")"; }
exit 0
