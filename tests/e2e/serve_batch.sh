#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# serve_batch.sh - intent serve's token-budget batching (text-embeddings-inference's
# --max-batch-tokens, --max-batch-requests, --max-concurrent-requests,
# --max-client-batch-size): concurrent clients get the answers sequential ones get,
# requests are merged within the budgets, 429 + Retry-After beyond the admission limit
# in each route's shape, the te_* Prometheus histograms, the x-*-time headers, the
# bearer scheme in /openapi.json; bad flag values exit 2.
# The checks themselves are in tests/e2e/serve_batch_check.py.
#   bash tests/e2e/serve_batch.sh BUILD_DIR
set -u
build=${1:-build}
cd "$(dirname "$0")/../.."
case $build in /*) ;; *) build=$PWD/$build ;; esac
BIN=$build/intent
PY=/usr/bin/python3
CHECK=tests/e2e/serve_batch_check.py
source tests/e2e/lib/serve_model.sh

if ! command -v curl >/dev/null || ! [ -x "$PY" ]; then
    echo "skip serve_batch: curl or python3 is not installed"
    exit 0
fi
tmp=$(mktemp -d /tmp/intent-batch-e2e.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
ok() { echo "ok serve_batch_$1"; }
fail() { echo "FAIL serve_batch_$1: $2"; }

make_test_model "$tmp/model"

# start LOG [args...]: starts a server, appends its pid to PIDS, sets U.
start() {
    local log=$1; shift
    "$BIN" serve --model "$tmp/model" --host 127.0.0.1 --port 0 --no-access-log "$@" 2>"$log" &
    PIDS+=($!)
    local port=
    for _ in $(seq 1 1500); do
        port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log" | head -1)
        [ -n "$port" ] && { U=http://127.0.0.1:$port; return 0; }
        kill -0 "${PIDS[-1]}" 2>/dev/null || break
        sleep 0.02
    done
    fail "start" "$* : $(tail -3 "$log")"
    return 1
}

# merging on (the default --coalesce 16), two inference threads
if start "$tmp/a.log" --threads 2; then
    $PY $CHECK headers "$U"
    $PY $CHECK same "$U"
    $PY $CHECK metrics "$U"
    # oversized headers: libmicrohttpd's 431, then the server goes on
    hdr=$(head -c 70000 /dev/zero | tr '\0' a)
    for route in /predict /model/parse /classify; do
        code=$(curl -s -o /dev/null -w '%{http_code}' "$U$route" -H "X-Big: $hdr" \
            -H 'Content-Type: application/json' -d '{"inputs":"hola","text":"hola"}')
        after=$(curl -s -o /dev/null -w '%{http_code}' "$U$route" \
            -H 'Content-Type: application/json' -d '{"inputs":"hola","text":"hola"}')
        [ "$code" = 431 ] && [ "$after" = 200 ] || { fail big_headers "$route: $code then $after"; break; }
    done
    [ "$code" = 431 ] && [ "$after" = 200 ] && ok big_headers
fi
# no merging: every answer byte for byte the sequential one
if start "$tmp/b.log" --threads 2 --coalesce 1; then
    $PY $CHECK exact "$U"
fi
# admission limit 1: 429 + Retry-After, then the server goes on
if start "$tmp/c.log" --threads 1 --max-concurrent-requests 1; then
    $PY $CHECK busy "$U"
fi
# token and request budgets of a merged batch, and /info reporting them
if start "$tmp/d.log" --threads 1 --max-batch-tokens 16 --max-batch-requests 2 \
        --max-client-batch-size 3; then
    $PY $CHECK budget "$U"
    info=$(curl -s "$U/info")
    case $info in
    *'"max_concurrent_requests":512,'*'"max_batch_tokens":16,"max_batch_requests":2,"max_client_batch_size":3,'*)
        ok info_budgets ;;
    *) fail info_budgets "$info" ;;
    esac
    # TEI's client batch limit: 413 on /predict, FastAPI's 422 on /classify/batch
    body=$(curl -s -w ' %{http_code}' "$U/predict" -H 'Content-Type: application/json' \
        -d '{"inputs":[["a"],["b"],["c"],["d"]]}')
    want='{"error":"batch size 4 > maximum allowed batch size 3","error_type":"validation"} 413'
    [ "$body" = "$want" ] && ok client_batch_predict || fail client_batch_predict "$body"
    code=$(curl -s -o /dev/null -w '%{http_code}' "$U/classify/batch" \
        -H 'Content-Type: application/json' -d '{"texts":["a","b","c","d"]}')
    [ "$code" = 422 ] && ok client_batch_classify || fail client_batch_classify "status $code"
fi
# the bearer scheme of /openapi.json and the routes it locks
if start "$tmp/e.log" --api-key s3cret-key; then
    $PY $CHECK openapi "$U" s3cret-key
fi
# over --max-body: 413 in each anchor's shape
if start "$tmp/f.log" --max-body 1024; then
    big=$(head -c 2000 /dev/zero | tr '\0' a)
    t=$(curl -s -w ' %{http_code}' "$U/predict" -H 'Content-Type: application/json' \
        -d "{\"inputs\":\"$big\"}")
    r=$(curl -s -w ' %{http_code}' "$U/model/parse" -d "{\"text\":\"$big\"}")
    f=$(curl -s -w ' %{http_code}' "$U/classify" -H 'Content-Type: application/json' \
        -d "{\"text\":\"$big\"}")
    case "$t|$r|$f" in
    '{"error":"Failed to buffer the request body: length limit exceeded","error_type":"validation"} 413|'*'"code":413}'*' 413|{"detail":"Request body too large"} 413')
        ok body_too_large ;;
    *) fail body_too_large "$t | $r | $f" ;;
    esac
fi

# bad values: exit 2 naming the flag or variable
bad_flag() { # name expected-text args...
    local name=$1 want=$2; shift 2
    local out rc
    out=$("$BIN" serve --model "$tmp/model" --port 0 "$@" 2>&1); rc=$?
    if [ $rc -eq 2 ] && printf '%s' "$out" | grep -q -- "$want"; then ok "$name"
    else fail "$name" "exit $rc: $out"; fi
}
bad_flag flag_tokens0 "max-batch-tokens" --max-batch-tokens 0
bad_flag flag_requests_neg "max-batch-requests" --max-batch-requests -1
bad_flag flag_concurrent_text "max-concurrent-requests" --max-concurrent-requests many
bad_flag flag_client_batch0 "max-client-batch-size" --max-client-batch-size 0
out=$(INTENT_SERVE_MAX_BATCH_TOKENS=0 "$BIN" serve --model "$tmp/model" --port 0 2>&1); rc=$?
if [ $rc -eq 2 ] && printf '%s' "$out" | grep -q INTENT_SERVE_MAX_BATCH_TOKENS; then ok env_tokens0
else fail env_tokens0 "exit $rc: $out"; fi
exit 0
