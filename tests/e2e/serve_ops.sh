#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# serve_ops.sh - operations features of `intent serve`: --api-key (401 in each anchor's shape,
# Bearer and Rasa's ?token=, --open-health), X-Request-Id taken or made, CORS (--cors-origin:
# preflight and response headers), the access log (text and --log-format json: one line per
# request with time, method, path, status, bytes, duration, request id), /ready answering 503
# while a reload is loading (the loader blocks on a named pipe) and the old model serving
# meanwhile, the start-up warning for a non-loopback --host without --api-key.
#   bash tests/e2e/serve_ops.sh BUILD_DIR
set -u
build=${1:-build}
cd "$(dirname "$0")/../.."
case $build in /*) ;; *) build=$PWD/$build ;; esac
BIN=$build/intent
PY=/usr/bin/python3
source tests/e2e/lib/serve_model.sh

if ! command -v curl >/dev/null || ! [ -x "$PY" ]; then
    echo "skip serve_ops: curl or python3 is not installed"
    exit 0
fi
tmp=$(mktemp -d /tmp/intent-ops-e2e.XXXXXX)
PIDS=()
cleanup() {
    exec 3>&- 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
ok() { echo "ok serve_$1"; }
fail() { echo "FAIL serve_$1: $2"; }
check() { # name: status of the command just before
    if [ $? = 0 ]; then ok "$1"; else fail "$1" "${WHY:-check failed}"; fi
    WHY=
}

make_test_model "$tmp/model"

start() { # LOG args...: sets PORT, appends to PIDS
    local log=$1; shift
    "$BIN" serve --model "$tmp/model" --port 0 "$@" 2>"$log" &
    PIDS+=($!)
    PORT=
    for _ in $(seq 1 1500); do
        PORT=$(sed -n 's|.*listening on http://[^:]*:\([0-9]*\).*|\1|p' "$log" | head -1)
        [ -n "$PORT" ] && return 0
        kill -0 "${PIDS[-1]}" 2>/dev/null || break
        sleep 0.02
    done
    return 1
}
# code METHOD PATH [curl args...] -> prints the status, body in $tmp/body, headers in $tmp/hdr
code() {
    local m=$1 p=$2; shift 2
    curl -s -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' -X "$m" "$@" "$U$p"
}
J=(-H 'Content-Type: application/json')

# --- API key, request ids, CORS, JSON access log ---------------------------
start "$tmp/log" --api-key 's3cr:et' --open-health --cors-origin 'https://a.example, https://b.example' \
    --log-format json || { fail ops_start "$(tail -3 "$tmp/log")"; exit 1; }
U=http://127.0.0.1:$PORT
A=(-H 'Authorization: Bearer s3cr:et')

c=$(code POST /classify "${J[@]}" -d '{"text":"hola"}')
WHY="$c $(cat "$tmp/body")"
[ "$c" = 401 ] && [ "$(cat "$tmp/body")" = '{"detail":"Not authenticated"}' ] &&
    grep -qi '^www-authenticate: Bearer' "$tmp/hdr"
check auth_fastapi_401
c=$(code POST /classify "${J[@]}" -H 'Authorization: Bearer wrong' -d '{"text":"hola"}')
[ "$c" = 401 ]; WHY=$c; check auth_wrong_key
c=$(code POST /classify "${J[@]}" -H 'Authorization: s3cr:et' -d '{"text":"hola"}')
[ "$c" = 401 ]; WHY=$c; check auth_not_bearer
c=$(code POST /predict "${J[@]}" -d '{"inputs":"hola"}')
[ "$c" = 401 ] && [ ! -s "$tmp/body" ]; WHY="$c $(cat "$tmp/body")"; check auth_tei_401
c=$(code POST /model/parse "${J[@]}" -d '{"text":"hola"}')
WHY="$c $(cat "$tmp/body")"
[ "$c" = 401 ] && [[ "$(cat "$tmp/body")" == *'"status":"failure","message":"User is not authenticated.","reason":"NotAuthenticated","details":{},"help":null,"code":401}' ]]
check auth_rasa_401
c=$(code POST '/model/parse?token=s3cr:et' "${J[@]}" -d '{"text":"hola"}')
[ "$c" = 200 ]; WHY=$c; check auth_rasa_token
for r in /classify /predict /model/parse; do
    body='{"text":"hola"}'; [ $r = /predict ] && body='{"inputs":"hola"}'
    c=$(code POST $r "${J[@]}" "${A[@]}" -d "$body")
    [ "$c" = 200 ]; WHY="$r $c"; check "auth_ok_${r//\//_}"
done
for r in /health /ready /metrics /docs /redoc /openapi.json; do
    c=$(code GET $r)
    [ "$c" = 200 ]; WHY="$r $c"; check "open_${r//[\/.]/_}"
done
for r in /intents /info /status; do
    c=$(code GET $r)
    [ "$c" = 401 ]; WHY="$r $c"; check "closed_${r//\//_}"
done
# bad input with a key still gets the anchor's status
c=$(code POST /predict "${J[@]}" "${A[@]}" -d '{"inputs":[]}')
[ "$c" = 413 ]; WHY=$c; check auth_then_validation

# request ids: a sane one is echoed, anything else replaced
code GET /health -H 'X-Request-Id: trace-42.a:b_c' >/dev/null
grep -qi '^x-request-id: trace-42.a:b_c' "$tmp/hdr"; WHY=$(cat "$tmp/hdr"); check request_id_taken
code GET /health -H 'X-Request-Id: bad id"<>' >/dev/null
grep -Eqi '^x-request-id: [0-9a-f]{32}' "$tmp/hdr"; WHY=$(cat "$tmp/hdr"); check request_id_replaced
code GET /health >/dev/null
id1=$(sed -n 's/^[Xx]-[Rr]equest-[Ii]d: \([0-9a-f]*\).*/\1/p' "$tmp/hdr")
code GET /health >/dev/null
id2=$(sed -n 's/^[Xx]-[Rr]equest-[Ii]d: \([0-9a-f]*\).*/\1/p' "$tmp/hdr")
[ ${#id1} = 32 ] && [ "$id1" != "$id2" ]; WHY="$id1 $id2"; check request_id_made

# CORS
c=$(code OPTIONS /classify -H 'Origin: https://b.example' -H 'Access-Control-Request-Method: POST')
WHY="$c $(cat "$tmp/hdr")"
[ "$c" = 204 ] && grep -qi '^access-control-allow-origin: https://b.example' "$tmp/hdr" &&
    grep -qi '^access-control-allow-methods: POST' "$tmp/hdr" &&
    grep -qi '^access-control-allow-headers: .*Authorization' "$tmp/hdr"
check cors_preflight
c=$(code POST /classify "${J[@]}" "${A[@]}" -H 'Origin: https://a.example' -d '{"text":"hola"}')
grep -qi '^access-control-allow-origin: https://a.example' "$tmp/hdr" &&
    grep -qi '^vary: Origin' "$tmp/hdr"; WHY=$(cat "$tmp/hdr"); check cors_allowed
c=$(code POST /classify "${J[@]}" "${A[@]}" -H 'Origin: https://evil.example' -d '{"text":"hola"}')
! grep -qi '^access-control-allow-origin' "$tmp/hdr"; WHY=$(cat "$tmp/hdr"); check cors_other_origin

# the access log: one JSON line per request so far
n_req=$(grep -c '"request_id"' "$tmp/log")
$PY - "$tmp/log" <<'PYEOF'; WHY="$(tail -2 "$tmp/log")"; check access_log_json
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
assert len(lines) >= 25, len(lines)
for l in lines:
    d = json.loads(l)
    assert list(d) == ["time", "remote", "method", "path", "status", "bytes", "duration_ms",
                       "request_id"], d
    assert d["time"].endswith("Z") and d["remote"] == "127.0.0.1" and d["duration_ms"] >= 0
ids = [json.loads(l)["request_id"] for l in lines]
assert "trace-42.a:b_c" in ids
first = json.loads(lines[0])
assert (first["method"], first["path"], first["status"], first["bytes"]) == \
    ("POST", "/classify", 401, 30), first
PYEOF

# --- /ready during a reload; text access log; --no-access-log ---------------
start "$tmp/log2" || { fail ops_start2 "$(tail -3 "$tmp/log2")"; exit 1; }
U=http://127.0.0.1:$PORT
SPID=${PIDS[-1]}
cp "$tmp/model/config.json" "$tmp/config.saved"
rm "$tmp/model/config.json"
mkfifo "$tmp/model/config.json"
kill -HUP "$SPID"
sleep 0.5 # the reload now waits for a writer on the pipe
c=$(code GET /ready); WHY="$c $(cat "$tmp/body")"
[ "$c" = 503 ] && [ "$(cat "$tmp/body")" = '{"status":"reloading"}' ]; check ready_503_while_reloading
c=$(code GET /health); [ "$c" = 200 ]; WHY=$c; check health_200_while_reloading
c=$(code POST /classify "${J[@]}" -d '{"text":"hola"}'); [ "$c" = 200 ]; WHY=$c
check serves_while_reloading
exec 3>"$tmp/model/config.json"
cat "$tmp/config.saved" >&3
exec 3>&-
rm "$tmp/model/config.json"
cp "$tmp/config.saved" "$tmp/model/config.json"
for _ in $(seq 1 100); do
    [ "$(code GET /ready)" = 200 ] && break
    sleep 0.05
done
[ "$(code GET /ready)" = 200 ]; WHY="$(tail -3 "$tmp/log2")"; check ready_after_reload
line=$(grep ' GET /ready 503 ' "$tmp/log2" | head -1)
[[ "$line" =~ ^20[0-9-]+T[0-9:.]+Z\ 127\.0\.0\.1\ GET\ /ready\ 503\ 22\ [0-9.]+ms\ [0-9a-f]{32}$ ]]
WHY="$line"; check access_log_text
code GET '/nope%20"x' >/dev/null
grep -q ' GET /nope%20%22x 404 ' "$tmp/log2"; WHY=$(tail -2 "$tmp/log2"); check access_log_escapes

start "$tmp/log3" --no-access-log || { fail ops_start3 "$(tail -3 "$tmp/log3")"; exit 1; }
U=http://127.0.0.1:$PORT
code GET /health >/dev/null
! grep -q '/health' "$tmp/log3"; WHY=$(cat "$tmp/log3"); check no_access_log

# --- binding every address without a key warns ------------------------------
start "$tmp/log4" --host 0.0.0.0 --no-access-log || { fail ops_start4 "$(tail -3 "$tmp/log4")"; exit 1; }
grep -q 'warning: listening on 0.0.0.0 without --api-key' "$tmp/log4"; WHY=$(cat "$tmp/log4")
check host_all_warning
exit 0
