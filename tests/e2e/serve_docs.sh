#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# serve_docs.sh - /docs and /redoc in a real browser (Debian's chromium, headless, driven over
# the DevTools protocol by tests/e2e/docs_browser.js with node's built-ins): the page loads
# the route list from /openapi.json, a sentence typed into the box and submitted with Enter
# shows the ranking, which must equal POST /classify's own top_k answer; GET /intents tried
# from its form shows the labels; /redoc renders one section per documented route. Both pages
# load nothing from outside the server.
#   bash tests/e2e/serve_docs.sh BUILD_DIR
set -u
build=${1:-build}
cd "$(dirname "$0")/../.."
case $build in /*) ;; *) build=$PWD/$build ;; esac
BIN=$build/intent
PY=/usr/bin/python3
source tests/e2e/lib/serve_model.sh

CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ] || ! command -v node >/dev/null || ! command -v curl >/dev/null; then
    echo "skip serve_docs: needs chromium (scripts/install-deps.sh --test), node and curl"
    exit 0
fi
tmp=$(mktemp -d /tmp/intent-docs-e2e.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }
    rm -rf "$tmp"
}
trap cleanup EXIT
make_test_model "$tmp/model"
"$BIN" serve --model "$tmp/model" --port 0 --no-access-log 2>"$tmp/log" &
PID=$!
PORT=
for _ in $(seq 1 1500); do
    PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/log" | head -1)
    [ -n "$PORT" ] && break
    sleep 0.02
done
U=http://127.0.0.1:$PORT
text='quiero ver las noticias'
if ! out=$(node tests/e2e/docs_browser.js "$CHROME" "$U" "$text" 2>"$tmp/err"); then
    echo "FAIL serve_docs_browser: $(tail -12 "$tmp/err")"
    exit 0
fi
want=$(curl -s -H 'Content-Type: application/json' \
    -d "{\"text\":\"$text\",\"top_k\":1000}" "$U/classify")
n_ops=$(curl -s "$U/openapi.json" | $PY -c \
    'import json,sys; print(sum(len(v) for v in json.load(sys.stdin)["paths"].values()))')
$PY - "$out" "$want" "$n_ops" "$text" <<'PYEOF' && echo "ok serve_docs_browser" ||
import json, sys
got, want, n_ops, text = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
assert got["typed"] == text, got["typed"]
rows = got["rows"]
assert [r[0] for r in rows] == [x["intent"] for x in want["top_k"]], (rows, want)
for (name, conf), x in zip(rows, want["top_k"]):
    assert abs(conf - x["confidence"]) <= 5e-5, (name, conf, x)
assert got["routes"] == n_ops, (got["routes"], n_ops)
assert got["documented"] == n_ops, (got["documented"], n_ops)
assert got["intents"] == {"intents": ["saludo", "despedida", "reservar", "cancelar", "clima"]}
PYEOF
    echo "FAIL serve_docs_browser: $out / $want"
for page in docs redoc; do
    curl -s "$U/$page" >"$tmp/$page.html"
    ! grep -Eq '(src|href)="(https?:)?//|@import|url\(' "$tmp/$page.html" &&
        echo "ok serve_docs_${page}_self_contained" ||
        echo "FAIL serve_docs_${page}_self_contained: external reference"
done
exit 0
