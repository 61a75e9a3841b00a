#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# report.sh - the evaluation report (report.html + PNG images) end to end,
# offline, on a tiny from-scratch model whose intent names include
# "<script>alert(1)</script>": training writes it into the model folder and
# logs it to MLflow (a file: store) under report/, --no-report turns it off,
# and `intent eval --report DIR --oos-label oos` writes one with the threshold
# curve. The page is rendered by headless Chromium (Debian's chromium,
# --dump-dom) and checked on what it shows: the heat map has N x N cells
# with the report's counts, an intent's F1 in the per-intent table, 15 bins
# in the reliability diagram, the threshold curve with OOS recall, the most
# confused pairs with example utterances, the training curves, and no
# script element (the names are escaped). The PNGs are decoded with Python's
# zlib: signature, IHDR size, every chunk's CRC, the rows' length.
# Usage: report.sh BUILD_DIR
set -u
B=${1:-build}
case $B in /*) ;; *) B="$PWD/$B" ;; esac
BIN="$B/intent"
G=tests/golden/data
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
export HF_HOME="$T/hf" HF_HUB_OFFLINE=1
unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE MLFLOW_TRACKING_URI MLFLOW_EXPERIMENT_NAME
for v in $(env | sed -n 's/^\(INTENT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }

TINY=(--scratch-hidden-size 32 --scratch-layers 1 --scratch-heads 2
      --scratch-intermediate-size 64 --scratch-vocab-size 300 --max-length 32
      --batch-size 16 --threads 1 --seed 7 --epochs 6 --learning-rate 0.005)
EVIL='<script>alert(1)</script>'

# train: "goodbye" renamed to EVIL, "greeting" left out (it plays the
# out-of-scope examples of the evaluation file)
"$PY" - "$G/train_small.json" "$T" "$EVIL" <<'PY'
import json, sys
src, t, evil = sys.argv[1:]
d = json.load(open(src))
for x in d:
    x["intent"] = {"goodbye": evil, "greeting": "oos"}.get(x["intent"], x["intent"])
json.dump([x for x in d if x["intent"] != "oos"], open(f"{t}/train.json", "w"))
json.dump(d, open(f"{t}/eval.json", "w"))
PY

M="$T/m"
if ! "$BIN" train --data "$T/train.json" --output "$M" --tracking-uri "file://$T/mlruns" \
        "${TINY[@]}" >"$T/train.log" 2>&1; then
    fail report_train "$(tail -3 "$T/train.log")"
    exit 0
fi

# --- the PNG files --------------------------------------------------------------
check_png() { # name file min_w min_h
    "$PY" - "$2" "$3" "$4" <<'PY'
import struct, sys, zlib
f, min_w, min_h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
b = open(f, "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n", "signature"
pos, chunks = 8, []
while pos < len(b):
    n, = struct.unpack(">I", b[pos:pos + 4])
    typ, data = b[pos + 4:pos + 8], b[pos + 8:pos + 8 + n]
    crc, = struct.unpack(">I", b[pos + 8 + n:pos + 12 + n])
    assert zlib.crc32(typ + data) & 0xffffffff == crc, f"CRC of {typ}"
    chunks.append((typ, data))
    pos += 12 + n
assert [c[0] for c in chunks][0] == b"IHDR" and chunks[-1][0] == b"IEND", chunks
w, h, depth, ctype, comp, filt, inter = struct.unpack(">IIBBBBB", chunks[0][1])
assert (depth, ctype, comp, filt, inter) == (8, 2, 0, 0, 0), (depth, ctype)
assert w >= min_w and h >= min_h, (w, h)
raw = zlib.decompress(b"".join(d for t, d in chunks if t == b"IDAT"))
assert len(raw) == h * (1 + 3 * w), (len(raw), w, h)
# undo the per-row filters (PNG spec: None, Sub, Up, Average, Paeth; 3 bytes per pixel)
def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)
stride, prev, pix = 3 * w, bytearray(3 * w), []
for y in range(h):
    ft, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    assert ft <= 4, f"filter type {ft} on row {y}"
    for i in range(stride):
        a = row[i - 3] if i >= 3 else 0
        c = prev[i - 3] if i >= 3 else 0
        pred = (0, a, prev[i], (a + prev[i]) // 2, paeth(a, prev[i], c))[ft]
        row[i] = (row[i] + pred) & 0xff
    pix.append(bytes(row))
    prev = row
colours = {r[i:i + 3] for r in pix for i in range(0, stride, 3)}
assert len(colours) >= 4, f"{len(colours)} colours: nothing drawn"
PY
}
for f in confusion_matrix:100:100 training_curves:400:200; do
    name=${f%%:*}; rest=${f#*:}
    if out=$(check_png "$name" "$M/$name.png" "${rest%%:*}" "${rest#*:}" 2>&1); then
        ok "report_png_$name"
    else
        fail "report_png_$name" "$out"
    fi
done

# --- MLflow artifacts and --no-report --------------------------------------------
arts=$(find "$T/mlruns" -path '*/artifacts/report/*' -type f -printf '%f\n' 2>/dev/null | sort | tr '\n' ' ')
if [ "$arts" = "confusion_matrix.png report.html training_curves.png " ]; then
    ok report_mlflow_artifacts
else
    fail report_mlflow_artifacts "artifacts/report holds: $arts"
fi
if "$BIN" train --data "$T/train.json" --output "$T/m2" --no-tracking --no-report "${TINY[@]}" \
        >"$T/train2.log" 2>&1 && [ -s "$T/m2/model.safetensors" ] && [ ! -e "$T/m2/report.html" ] &&
        [ ! -e "$T/m2/confusion_matrix.png" ]; then
    ok report_off
else
    fail report_off "$(ls "$T/m2" 2>&1 | tr '\n' ' ')"
fi

# --- eval --report --------------------------------------------------------------
if ! "$BIN" eval --model "$M" --data "$T/eval.json" --oos-label oos --threads 1 \
        --report "$T/rep" --output "$T/eval.json.out" >/dev/null 2>"$T/eval.err"; then
    fail report_eval "$(tail -3 "$T/eval.err")"
    exit 0
fi
if "$BIN" eval --model "$M" --data "$T/eval.json" --report "" >/dev/null 2>&1; then
    fail report_eval_empty_dir "an empty --report was accepted"
else
    ok report_eval_empty_dir
fi

CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
    echo "skip report_browser: needs chromium (scripts/install-deps.sh --test)"
    exit 0
fi
render() { # html -> dom
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$T/chrome" --dump-dom "file://$1" 2>"$T/chrome.err"
}
check_dom() { # dom report_json evil model_dir
    "$PY" - "$@" <<'PY'
import json, sys
from html.parser import HTMLParser
dom, rep, evil, model = sys.argv[1:]
r = json.load(open(rep))

class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.stack = []; s.els = []; s.text = {}
    def handle_starttag(s, tag, attrs):
        a = dict(attrs); e = {"tag": tag, "a": a, "up": [x for x in s.stack], "text": ""}
        s.els.append(e)
        if tag not in ("meta", "br", "img", "link", "input", "hr"): s.stack.append(e)
    def handle_startendtag(s, tag, attrs):
        s.els.append({"tag": tag, "a": dict(attrs), "up": list(s.stack), "text": ""})
    def handle_endtag(s, tag):
        while tag in [x["tag"] for x in s.stack]:
            if s.stack.pop()["tag"] == tag: break
    def handle_data(s, d):
        for e in s.stack: e["text"] += d
p = P(); p.feed(open(dom).read())
def inside(e, id_): return any(u["a"].get("id") == id_ for u in e["up"])
def cls(e): return e["a"].get("class", "").split()
assert not [e for e in p.els if e["tag"] == "script"], "a script element: a name was not escaped"

N = len(r["labels"])
cells = [e for e in p.els if e["tag"] == "rect" and "cell" in cls(e) and inside(e, "confusion")]
assert len(cells) == N * N, f"{len(cells)} cells for {N} intents"
counts = [int(e["a"]["data-count"]) for e in cells]
assert counts == [c for row in r["confusion_matrix"]["matrix"] for c in row], "cell counts"
assert len({e["a"]["fill"] for e in cells}) >= 2, "one colour for every cell"

rows = [e for e in p.els if e["tag"] == "tr" and inside(e, "per-intent")]
def cell_of(row, c): return [e for e in p.els if e["tag"] == "td" and c in cls(e) and row in e["up"]]
found = {}
for row in rows:
    name = cell_of(row, "intent"); f1 = cell_of(row, "f1")
    if name and f1: found[name[0]["text"]] = f1[0]["text"]
assert evil in found, f"{evil!r} not in the per-intent table: {list(found)}"
assert found[evil] == "%.4f" % r["per_intent"][evil]["f1"], (found[evil], r["per_intent"][evil])
assert len(found) == N

bins = [e for e in p.els if e["tag"] == "rect" and "bin" in cls(e) and inside(e, "reliability")]
assert len(bins) == 15, f"{len(bins)} reliability bins"

curve = [e for e in p.els if e["tag"] == "polyline" and inside(e, "threshold-curve")]
names = {c for e in curve for c in cls(e)}
assert {"in-scope-accuracy", "oos-recall"} <= names, names
sweep = r["out_of_scope"]["threshold_sweep"]
for e in curve:
    assert int(e["a"]["data-points"]) == len(sweep) == len(e["a"]["points"].split()), e["a"]

conf = [e for e in p.els if e["tag"] == "table" and e["a"].get("id") == "confused"]
assert conf and "examples" in conf[0]["text"], "no confused pairs table"
lis = [e["text"] for e in p.els if e["tag"] == "li" and inside(e, "confused")]
texts = {x["text"] for x in json.load(open(sys.argv[2].replace(".out", "")))}
assert lis and all(t in texts for t in lis), lis[:3]

hist = json.load(open(f"{model}/eval_report.json"))["history"]
tl = [e for e in p.els if e["tag"] == "polyline" and "train-loss" in cls(e) and inside(e, "training-curves")]
assert hist and tl and int(tl[0]["a"]["data-points"]) == len(hist), (len(hist), tl)
PY
}
if ! render "$T/rep/report.html" >"$T/dom.html" || [ ! -s "$T/dom.html" ]; then
    fail report_browser_render "$(tail -3 "$T/chrome.err")"
elif out=$(check_dom "$T/dom.html" "$T/eval.json.out" "$EVIL" "$M" 2>&1); then
    ok report_browser_eval
else
    fail report_browser_eval "$out"
fi
# the page training wrote (no out-of-scope examples: no OOS recall line)
if render "$M/report.html" >"$T/dom2.html" && grep -q 'id="reliability"' "$T/dom2.html" &&
        [ "$(grep -o 'class="cell"' "$T/dom2.html" | wc -l)" = 16 ] &&
        ! grep -qi '<script' "$T/dom2.html" && grep -q '&lt;script&gt;alert(1)' "$T/dom2.html"; then
    ok report_browser_train
else
    fail report_browser_train "$(grep -o 'class="cell"' "$T/dom2.html" | wc -l) cells; $(tail -2 "$T/chrome.err")"
fi
