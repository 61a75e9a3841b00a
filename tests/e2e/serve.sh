#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# serve.sh - end-to-end tests of `intent serve`: starts the server on an
# ephemeral port on 127.0.0.1 and checks every route, status code and error
# body (the FastAPI shapes recorded from the original stack), limits,
# malformed / truncated / slow requests, the connection limit, a concurrent
# load against sequential answers, SIGHUP reload (good and broken model) and
# SIGTERM with a request in flight.
#   bash tests/e2e/serve.sh BUILD_DIR
set -u
build=${1:-build}
cd "$(dirname "$0")/../.."
case $build in /*) ;; *) build=$PWD/$build ;; esac # some checks run from another directory
BIN=$build/intent
PY=/usr/bin/python3
source tests/e2e/lib/serve_model.sh

tmp=$(mktemp -d /tmp/intent-serve-e2e.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok serve_$1"; }
fail() { echo "FAIL serve_$1: $2"; }
res() { # name: reports the status of the command just before
    if [ $? = 0 ]; then ok "$1"; else fail "$1" "${LAST_WHY:-check failed}"; fi
    LAST_WHY=
}

if ! command -v curl >/dev/null; then
    echo "skip serve: curl is not installed"
    exit 0
fi

make_test_model "$tmp/model"
make_test_model "$tmp/model2" new_

# start_server LOG [args...]: starts the server, sets PID and PORT.
start_server() {
    local log=$1; shift
    "$BIN" serve --model "$tmp/model" --host 127.0.0.1 --port 0 "$@" 2>"$log" &
    PID=$!
    PORT=
    for _ in $(seq 1 1500); do
        PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log" | head -1)
        [ -n "$PORT" ] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.02
    done
    [ -n "$PORT" ]
}

U=
# req METHOD PATH [CONTENT_TYPE BODY] -> sets CODE, BODY
req() {
    local method=$1 path=$2 out
    if [ $# -ge 4 ]; then
        out=$(curl -s -w '\n%{http_code}' -X "$method" -H "Content-Type: $3" --data-binary "$4" \
            "$U$path")
    else
        out=$(curl -s -w '\n%{http_code}' -X "$method" "$U$path")
    fi
    CODE=${out##*$'\n'}
    BODY=${out%$'\n'*}
}

expect() { # name, code, body (exact) | method path [ctype body]
    local name=$1 code=$2 body=$3; shift 3
    req "$@"
    if [ "$CODE" = "$code" ] && { [ -z "$body" ] || [ "$BODY" = "$body" ]; }; then
        ok "$name"
    else
        fail "$name" "got $CODE $BODY; want $code $body"
    fi
}

# --------------------------------------------------------------------------
if ! start_server "$tmp/log" --error-style fastapi-legacy; then
    fail start "server did not start: $(tail -3 "$tmp/log")"
    exit 1
fi
U=http://127.0.0.1:$PORT
LAST_WHY="start-up line lacks the model facts: $(head -1 "$tmp/log")"
grep -q "listening on http://127.0.0.1:$PORT (model .*5 labels" "$tmp/log"
res start_log

req GET /health
LAST_WHY="$CODE $BODY"
[ "$CODE" = 200 ] && [[ "$BODY" == '{"status":"ok",'*'"num_labels":5'* ]]
res health

expect intents 200 '{"intents":["saludo","despedida","reservar","cancelar","clima"]}' GET /intents

req POST /classify application/json '{"text":"quiero ver las noticias"}'
LAST_WHY="$CODE $BODY"
[ "$CODE" = 200 ] && $PY -c '
import json, sys
d = json.loads(sys.argv[1])
assert list(d) == ["text", "intent", "confidence"], d
assert d["text"] == "quiero ver las noticias"
assert d["intent"] in ["saludo", "despedida", "reservar", "cancelar", "clima"]
assert 0.2 <= d["confidence"] <= 1
' "$BODY"
res classify
single=$BODY

req POST /classify application/json '{"text":"quiero ver las noticias","top_k":3}'
LAST_WHY="$CODE $BODY"
[ "$CODE" = 200 ] && $PY -c '
import json, sys
d, s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
t = d["top_k"]
assert len(t) == 3 and t[0]["intent"] == d["intent"] == s["intent"], d
assert t[0]["confidence"] >= t[1]["confidence"] >= t[2]["confidence"]
assert abs(d["confidence"] - s["confidence"]) < 1e-6
' "$BODY" "$single"
res classify_top_k

req POST /classify application/json '{"text":"hola","top_k":99}'
LAST_WHY="$CODE $BODY"
[ "$CODE" = 200 ] && $PY -c '
import json, sys
t = json.loads(sys.argv[1])["top_k"]
assert len(t) == 5 and abs(sum(x["confidence"] for x in t) - 1) < 1e-4, t
' "$BODY"
res classify_top_k_capped

texts='["hola","quiero ver las noticias","reservar una mesa para dos personas","adios",7]'
req POST /classify/batch application/json "{\"texts\":$texts}"
batch=$BODY
LAST_WHY="$CODE $BODY"
ok_batch=1
[ "$CODE" = 200 ] || ok_batch=0
for t in "hola" "quiero ver las noticias" "reservar una mesa para dos personas" "adios" "7"; do
    req POST /classify application/json "{\"text\":\"$t\"}"
    echo "$BODY"
done >"$tmp/seq.jsonl"
[ $ok_batch = 1 ] && $PY -c '
import json, sys
b = json.loads(sys.argv[1])["results"]
s = [json.loads(l) for l in open(sys.argv[2])]
assert len(b) == len(s) == 5
for x, y in zip(b, s):
    assert x["text"] == y["text"] and x["intent"] == y["intent"], (x, y)
    assert abs(x["confidence"] - y["confidence"]) < 1e-5, (x, y)
' "$batch" "$tmp/seq.jsonl"
res classify_batch_order

long=$(for i in $(seq 1 400); do printf 'quiero ver las noticias de hoy '; done)
req POST /classify application/json "{\"text\":\"$long\"}"
LAST_WHY="$CODE ${BODY:0:200}"
[ "$CODE" = 200 ] && [[ "$BODY" == *'"intent":'* ]]
res long_text_truncated

# --- FastAPI-compatible errors (bodies recorded from FastAPI 0.92) ---------
J=application/json
expect err_missing 422 '{"detail":[{"loc":["body","text"],"msg":"field required","type":"value_error.missing"}]}' POST /classify $J '{}'
expect err_null 422 '{"detail":[{"loc":["body","text"],"msg":"none is not an allowed value","type":"type_error.none.not_allowed"}]}' POST /classify $J '{"text":null}'
expect err_wrong_type 422 '{"detail":[{"loc":["body","text"],"msg":"str type expected","type":"type_error.str"}]}' POST /classify $J '{"text":["a"]}'
expect err_not_object 422 '{"detail":[{"loc":["body"],"msg":"value is not a valid dict","type":"type_error.dict"}]}' POST /classify $J '[1,2]'
expect err_empty_body 422 '{"detail":[{"loc":["body"],"msg":"field required","type":"value_error.missing"}]}' POST /classify $J ''
expect err_form_body 422 '{"detail":[{"loc":["body"],"msg":"value is not a valid dict","type":"type_error.dict"}]}' POST /classify application/x-www-form-urlencoded '{"text":"a"}'
expect err_batch_item 422 '{"detail":[{"loc":["body","texts",1],"msg":"none is not an allowed value","type":"type_error.none.not_allowed"},{"loc":["body","texts",3],"msg":"str type expected","type":"type_error.str"}]}' POST /classify/batch $J '{"texts":["a",null,3,[1]]}'
expect err_batch_not_list 422 '{"detail":[{"loc":["body","texts"],"msg":"value is not a valid list","type":"type_error.list"}]}' POST /classify/batch $J '{"texts":"abc"}'
expect err_empty_text 422 '{"detail":[{"loc":["body","text"],"msg":"ensure this value has at least 1 characters","type":"value_error.any_str.min_length","ctx":{"limit_value":1}}]}' POST /classify $J '{"text":""}'
expect err_top_k 422 '{"detail":[{"loc":["body","top_k"],"msg":"value is not a valid integer","type":"type_error.integer"}]}' POST /classify $J '{"text":"a","top_k":"x"}'
expect not_found 404 '{"detail":"Not Found"}' GET /nope
expect not_found_post 404 '{"detail":"Not Found"}' POST /predictx $J '{"text":"a"}'
expect method_get_classify 405 '{"detail":"Method Not Allowed"}' GET /classify
expect method_post_health 405 '{"detail":"Method Not Allowed"}' POST /health $J '{}'
expect method_delete 405 '{"detail":"Method Not Allowed"}' DELETE /intents
expect coerced_number 200 '' POST /classify $J '{"text":123}'
[[ "$BODY" == '{"text":"123",'* ]] && ok coerced_number_text || fail coerced_number_text "$BODY"

req POST /classify $J 'not json'
LAST_WHY="$CODE $BODY"
[ "$CODE" = 422 ] && [[ "$BODY" == '{"detail":[{"loc":["body",'*'"type":"value_error.jsondecode","ctx":{'*'"doc":"not json"'* ]]
res err_not_json

printf '{"text":"caf\xe9"}' >"$tmp/latin1.json"
out=$(curl -s -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary @"$tmp/latin1.json" "$U/classify")
LAST_WHY="$out"
[ "${out##*$'\n'}" = 422 ] && [[ "$out" == *'"type":"value_error.unicode"'* ]]
res err_invalid_utf8

hdr=$(curl -s -D - -o /dev/null -X POST "$U/health")
LAST_WHY="$hdr"
grep -qi '^allow: GET' <<<"$hdr"
res allow_header

# batch limit and body limit
big_batch=$($PY -c 'import json; print(json.dumps({"texts": ["hola"] * 257}))')
req POST /classify/batch $J "$big_batch"
LAST_WHY="$CODE $BODY"
[ "$CODE" = 422 ] && [[ "$BODY" == *'"type":"value_error.list.max_items","ctx":{"limit_value":256}'* ]]
res batch_limit
head -c 1100000 /dev/zero | tr '\0' 'a' >"$tmp/big.txt"
printf '{"text":"' >"$tmp/big.json"; cat "$tmp/big.txt" >>"$tmp/big.json"; printf '"}' >>"$tmp/big.json"
out=$(curl -s -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary @"$tmp/big.json" "$U/classify")
LAST_WHY="$out"
[ "${out##*$'\n'}" = 413 ]
res body_limit_413
out=$(curl -s -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/big.json" "$U/classify")
LAST_WHY="chunked: ${out: -40}"
[ "${out##*$'\n'}" = 413 ] || [ -z "${out##*$'\n'}" ] || [ "${out##*$'\n'}" = 000 ]
res body_limit_chunked

# --- other routes ---------------------------------------------------------
req GET /metrics
LAST_WHY="${BODY:0:300}"
[ "$CODE" = 200 ] &&
    grep -q '^intent_http_requests_total{route="/classify",status="200"} [1-9]' <<<"$BODY" &&
    grep -q '^intent_http_requests_total{route="/classify",status="422"} [1-9]' <<<"$BODY" &&
    grep -q '^intent_http_requests_total{route="other",status="404"} 2' <<<"$BODY" &&
    grep -q '^intent_http_request_duration_seconds_bucket{route="/classify",le="+Inf"} [1-9]' <<<"$BODY" &&
    grep -q '^intent_model_labels 5' <<<"$BODY" &&
    grep -q '^# TYPE intent_http_request_duration_seconds histogram' <<<"$BODY"
res metrics

req GET /openapi.json
LAST_WHY="${BODY:0:200}"
[ "$CODE" = 200 ] && $PY -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["openapi"].startswith("3.")
want = {"/health": "get", "/classify": "post", "/classify/batch": "post", "/intents": "get",
        "/metrics": "get", "/openapi.json": "get", "/docs": "get"}
for p, m in want.items():
    assert m in d["paths"][p], p
def refs(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "$ref":
                yield v
            else:
                yield from refs(v)
    elif isinstance(x, list):
        for v in x:
            yield from refs(v)
for r in refs(d):
    _, _, kind, name = r.split("/")
    assert name in d["components"][kind], r
' "$BODY"
res openapi

hdr=$(curl -s -D - -o "$tmp/docs.html" "$U/docs")
LAST_WHY="$hdr"
grep -qi '^content-type: text/html' <<<"$hdr" && grep -q '/openapi.json' "$tmp/docs.html" &&
    ! grep -Eq '(src|href)="(https?:)?//' "$tmp/docs.html"
res docs

# --- robustness -----------------------------------------------------------
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$PID/status; }
# garbage, truncated requests and requests cut in the middle of the body
flood() {
    for i in $(seq 1 $1); do
        { exec 3<>/dev/tcp/127.0.0.1/$PORT; } 2>/dev/null || continue
        case $((i % 4)) in
        0) printf 'GARBAGE\r\n\r\n' >&3 ;;
        1) printf 'POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"text":' >&3 ;;
        2) printf 'POST /classify HTTP/1.1\r\nHost: x\r\nContent-Len' >&3 ;;
        3) printf 'POST /classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n' >&3 ;;
        esac
        exec 3>&-
    done
}
flood 200
rss1=$(rss)
flood 600
# and valid + invalid keep-alive requests from one client
for i in $(seq 1 300); do
    [ "$i" -gt 1 ] && echo next
    printf 'url = "%s/classify"\nrequest = "POST"\nheader = "Content-Type: application/json"\ndata = "{\\"text\\": %s}"\noutput = "/dev/null"\n' \
        "$U" "$([ $((i % 2)) = 0 ] && echo '\"hola\"' || echo 'null')"
done >"$tmp/curl.cfg"
curl -s -K "$tmp/curl.cfg" >/dev/null
rss2=$(rss)
req GET /health
LAST_WHY="after the flood: $CODE, rss $rss1 -> $rss2 kB"
# (an AddressSanitizer build keeps freed memory in quarantine: no RSS check)
[ "$CODE" = 200 ] && { grep -aq __asan_init "$BIN" || [ $((rss2 - rss1)) -lt 4096 ]; }
res malformed_flood

# a slow client (headers never finished) does not block others
exec 4<>/dev/tcp/127.0.0.1/$PORT
printf 'POST /classify HTTP/1.1\r\nHost: x\r\n' >&4
req POST /classify $J '{"text":"hola"}'
LAST_WHY="$CODE"
[ "$CODE" = 200 ]
res slow_client_no_starvation
exec 4>&-

# --- concurrent load: 8 parallel clients, same answers as sequential -------
for t in "hola" "quiero ver las noticias" "adios" "reservar una mesa" "que tiempo hace en madrid" \
    "cancelar el vuelo" "buenos dias" "gracias por favor"; do
    req POST /classify $J "{\"text\":\"$t\",\"top_k\":2}"
    echo "$BODY"
done >"$tmp/expected.jsonl"
$PY -c '
import json, sys
blocks = []
for line in open(sys.argv[2]):
    body = json.dumps({"text": json.loads(line)["text"], "top_k": 2})
    for _ in range(6):
        blocks.append("url = \"%s/classify\"\nrequest = \"POST\"\n"
                      "header = \"Content-Type: application/json\"\n"
                      "data = %s\nwrite-out = \"\\n\"\n" % (sys.argv[1], json.dumps(body)))
print("next\n".join(blocks))
' "$U" "$tmp/expected.jsonl" >"$tmp/load.cfg"
for c in 1 2 3 4 5 6 7 8; do
    curl -s -K "$tmp/load.cfg" >"$tmp/load$c.out" &
done
wait_pids=$(jobs -p | grep -v "^$PID\$")
for p in $wait_pids; do wait "$p"; done
LAST_WHY="answers under load differ from sequential ones"
$PY -c '
import json, sys
exp = [json.loads(l) for l in open(sys.argv[1])]
want = []
for e in exp:
    want += [e] * 6
for c in range(1, 9):
    got = [json.loads(l) for l in open(sys.argv[2] % c) if l.strip()]
    assert len(got) == len(want), (c, len(got))
    for g, w in zip(got, want):
        assert g["text"] == w["text"] and g["intent"] == w["intent"], (g, w)
        assert abs(g["confidence"] - w["confidence"]) < 1e-5, (g, w)
        assert [x["intent"] for x in g["top_k"]] == [x["intent"] for x in w["top_k"]]
' "$tmp/expected.jsonl" "$tmp/load%d.out"
res concurrent_load

# --- SIGHUP: reload a good model, refuse a broken one --------------------
rm -rf "$tmp/model.old" && mv "$tmp/model" "$tmp/model.old" && cp -r "$tmp/model2" "$tmp/model"
kill -HUP "$PID"
for _ in $(seq 1 1500); do grep -q 'reloaded' "$tmp/log" && break; sleep 0.02; done
req GET /intents
LAST_WHY="$CODE $BODY"
[ "$BODY" = '{"intents":["new_saludo","new_despedida","new_reservar","new_cancelar","new_clima"]}' ]
res reload_good

printf 'not a safetensors file' >"$tmp/model/model.safetensors"
kill -HUP "$PID"
for _ in $(seq 1 1500); do grep -q 'reload refused' "$tmp/log" && break; sleep 0.02; done
req POST /classify $J '{"text":"hola"}'
LAST_WHY="$CODE $BODY; log: $(tail -2 "$tmp/log")"
grep -q 'reload refused.*model.safetensors' "$tmp/log" &&
    [ "$CODE" = 200 ] && [[ "$BODY" == *'"intent":"new_'* ]]
res reload_broken_refused
req GET /metrics
grep -q '^intent_model_reloads_total 1' <<<"$BODY" &&
    grep -q '^intent_model_reload_failures_total 1' <<<"$BODY"
res reload_metrics

# --- SIGTERM with a request in flight: it completes, exit status 0 --------
$PY -c 'import json; print(json.dumps({"texts": ["quiero ver las noticias de hoy"] * 100}))' >"$tmp/slow.json"
curl -s -w '\n%{http_code}' --limit-rate 2k -X POST -H 'Content-Type: application/json' \
    --data-binary @"$tmp/slow.json" "$U/classify/batch" >"$tmp/slow.out" &
cpid=$!
sleep 0.6
kill -TERM "$PID"
wait "$PID"
rc=$?
wait "$cpid"
PID=
LAST_WHY="exit status $rc, in-flight answer: $(tail -c 100 "$tmp/slow.out")"
[ $rc = 0 ] && [ "$(tail -n 1 "$tmp/slow.out")" = 200 ]
res sigterm_graceful

# --- connection limit, bad model, bad option --------------------------------
rm -rf "$tmp/model" && mv "$tmp/model.old" "$tmp/model"
start_server "$tmp/log2" --max-connections 2 --timeout 3
U=http://127.0.0.1:$PORT
exec 5<>/dev/tcp/127.0.0.1/$PORT
exec 6<>/dev/tcp/127.0.0.1/$PORT
sleep 0.4
code=$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$U/health")
exec 5>&- 6>&-
sleep 0.2
req GET /health
LAST_WHY="third connection got $code; after closing: $CODE"
[ "$code" != 200 ] && [ "$CODE" = 200 ]
res connection_limit
# an idle connection is closed after --timeout (3 s here): reading it ends
exec 7<>/dev/tcp/127.0.0.1/$PORT
timeout 15 cat <&7 >/dev/null
rc=$?
exec 7>&-
LAST_WHY="an idle connection was still open after 15 s (timeout rc $rc)"
[ $rc = 0 ]
res idle_timeout

kill -INT "$PID"
wait "$PID"
rc=$?
PID=
LAST_WHY="exit status $rc after SIGINT"
[ $rc = 0 ]
res sigint_exit0

# configuration file (serve_* keys; training keys ignored) < environment < flags
mkdir -p "$tmp/cwd"
printf 'epochs: 3\nserve_model: %s\nserve_host: 127.0.0.1\nserve_port: 0\nserve_max_batch: 3\n' \
    "$tmp/model" >"$tmp/cwd/intent.yaml"
batch4='{"texts":["a","b","c","d"]}'
(cd "$tmp/cwd" && exec "$BIN" serve) 2>"$tmp/log6" &
PID=$!
for _ in $(seq 1 1500); do grep -q listening "$tmp/log6" && break; sleep 0.02; done
U=http://127.0.0.1:$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/log6")
req POST /classify/batch $J "$batch4"
c1=$CODE
kill -TERM "$PID"; wait "$PID"
(cd "$tmp/cwd" && INTENT_SERVE_MAX_BATCH=4 exec "$BIN" serve) 2>"$tmp/log7" &
PID=$!
for _ in $(seq 1 1500); do grep -q listening "$tmp/log7" && break; sleep 0.02; done
U=http://127.0.0.1:$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/log7")
req POST /classify/batch $J "$batch4"
c2=$CODE
kill -TERM "$PID"; wait "$PID"
PID=
printf 'serve_port: abc\n' >"$tmp/bad.yaml"
"$BIN" serve --config "$tmp/bad.yaml" 2>"$tmp/log8"
rc=$?
LAST_WHY="file only: $c1 (want 422), file + env: $c2 (want 200), bad file rc $rc: $(cat "$tmp/log8")"
[ "$c1" = 422 ] && [ "$c2" = 200 ] && [ $rc = 2 ] && grep -q 'bad.yaml:1: serve_port' "$tmp/log8"
res config_file

"$BIN" serve --model "$tmp/nonexistent" --port 0 2>"$tmp/log3"
rc=$?
LAST_WHY="rc $rc: $(cat "$tmp/log3")"
[ $rc != 0 ] && grep -q nonexistent "$tmp/log3" && ! grep -q listening "$tmp/log3"
res bad_model_fails

"$BIN" serve --port 70000 2>"$tmp/log4"
rc=$?
[ $rc = 2 ]
res bad_port_usage

INTENT_SERVE_PORT=abc "$BIN" serve 2>"$tmp/log5"
rc=$?
LAST_WHY="rc $rc: $(cat "$tmp/log5")"
[ $rc = 2 ] && grep -q INTENT_SERVE_PORT "$tmp/log5"
res bad_env_usage

"$BIN" serve --help >"$tmp/help"
LAST_WHY="--help does not describe every option"
grep -q -- --max-body "$tmp/help" && grep -q -- --max-connections "$tmp/help" &&
    grep -q INTENT_SERVE_PORT "$tmp/help" && grep -q SIGHUP "$tmp/help"
res help
exit 0
