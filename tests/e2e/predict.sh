#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# predict.sh - end-to-end tests of `intent predict`: texts as arguments,
# stdin in batches (order kept, same answers as arguments), --top-k, the
# sample-sentence mode on a terminal with the default model path, a .pt
# bundle and safetensors / pytorch_model.bin directories giving the same
# output, any bytes on a line (NUL, CR, not UTF-8, 1 MiB) answered line for
# line, and bad model paths.
#   bash tests/e2e/predict.sh BUILD_DIR
set -u
build=${1:-build}
cd "$(dirname "$0")/../.."
BIN=$(cd "$(dirname "$build/intent")" && pwd)/intent
PY=/usr/bin/python3
source tests/e2e/lib/serve_model.sh
tmp=$(mktemp -d /tmp/intent-predict-e2e.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ok() { echo "ok predict_$1"; }
fail() { echo "FAIL predict_$1: $2"; }
res() { if [ $? = 0 ]; then ok "$1"; else fail "$1" "${LAST_WHY:-check failed}"; fi; LAST_WHY=; }

M=$tmp/model
make_test_model "$M"

out=$("$BIN" predict --model "$M" "hola" "quiero ver las noticias" 2>"$tmp/err")
rc=$?
LAST_WHY="rc $rc: $out $(cat "$tmp/err")"
[ $rc = 0 ] && $PY -c '
import json, sys
lines = sys.argv[1].split("\n")
assert len(lines) == 2, lines
for l, t in zip(lines, ["hola", "quiero ver las noticias"]):
    d = json.loads(l)
    assert list(d) == ["text", "intent", "confidence"], d
    assert d["text"] == t
    assert d["intent"] in ["saludo", "despedida", "reservar", "cancelar", "clima"]
    assert 0.2 <= d["confidence"] <= 1
' "$out"
res args

out=$("$BIN" predict --model "$M" --top-k 3 "hola")
LAST_WHY="$out"
$PY -c '
import json, sys
d = json.loads(sys.argv[1])
t = d["top_k"]
assert len(t) == 3 and t[0]["intent"] == d["intent"] and t[0]["confidence"] == d["confidence"]
assert t[0]["confidence"] >= t[1]["confidence"] >= t[2]["confidence"]
' "$out"
res top_k

# stdin: 70 lines in batches of 8, an empty line among them; order and
# answers as when given as arguments
$PY -c '
import random
random.seed(3)
w = "hola adios quiero ver las noticias reservar una mesa cancelar el clima de hoy en madrid".split()
for i in range(70):
    print("" if i == 33 else " ".join(random.choice(w) for _ in range(1 + i % 9)))
' >"$tmp/in.txt"
"$BIN" predict --model "$M" --top-k 2 --batch-size 8 <"$tmp/in.txt" >"$tmp/stdin.out" 2>"$tmp/err"
rc=$?
mapfile -t lines <"$tmp/in.txt"
"$BIN" predict --model "$M" --top-k 2 -- "${lines[@]}" >"$tmp/args.out" 2>>"$tmp/err"
LAST_WHY="rc $rc; $(head -c 300 "$tmp/err")"
[ $rc = 0 ] && $PY -c '
import json, sys
inp = open(sys.argv[1]).read().split("\n")[:-1]
a = [json.loads(l) for l in open(sys.argv[2])]
b = [json.loads(l) for l in open(sys.argv[3])]
assert len(a) == len(b) == len(inp) == 70, (len(a), len(b), len(inp))
for x, y, t in zip(a, b, inp):
    assert x["text"] == y["text"] == t, (x, t)
    assert x["intent"] == y["intent"] and abs(x["confidence"] - y["confidence"]) < 1e-5, (x, y)
    assert [e["intent"] for e in x["top_k"]] == [e["intent"] for e in y["top_k"]]
' "$tmp/in.txt" "$tmp/stdin.out" "$tmp/args.out"
res stdin_batches

long=$(for i in $(seq 1 300); do printf 'quiero ver las noticias '; done)
out=$("$BIN" predict --model "$M" "$long")
LAST_WHY="${out:0:200}"
[[ "$out" == *'"intent":'* ]]
res long_text_truncated

# the same weights from model.safetensors, pytorch_model.bin and a .pt bundle
mkdir -p "$tmp/bin"
cp "$M/config.json" "$M/vocab.txt" tests/golden/model/pytorch_model.bin "$tmp/bin/"
"$BIN" predict --model "$tmp/bin" --top-k 5 <"$tmp/in.txt" >"$tmp/bin.out" 2>"$tmp/err"
rc=$?
LAST_WHY="rc $rc: $(head -c 300 "$tmp/err")"
[ $rc = 0 ] && $PY -c '
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 70
for x, y in zip(a, b):
    assert x["intent"] == y["intent"] and abs(x["confidence"] - y["confidence"]) < 1e-5, (x, y)
' "$tmp/stdin.out" "$tmp/bin.out"
res pytorch_bin_same_as_safetensors

# PyTorch parity: probabilities from model.safetensors and from
# pytorch_model.bin match PyTorch's on real sentences within 1e-5 (PyTorch
# runs on the ids of `intent tokenize`, padded to 16 with the mask)
if $PY -c 'import torch, numpy' 2>/dev/null; then
    cat >"$tmp/sent.txt" <<'EOF'
quiero ver las noticias
hola, buenos días
¿qué tiempo hace hoy en Madrid?
reservar una mesa para dos personas mañana por la noche
cancela la alarma de las siete
pon música de rock en el salón, por favor, y sube el volumen un poco más
adiós
gracias por todo
¿me recuerdas comprar pan?
EOF
    "$BIN" tokenize --model "$M" --max-length 16 <"$tmp/sent.txt" >"$tmp/ids.jsonl" 2>"$tmp/err" &&
        $PY tests/e2e/lib/torch_probs.py "$M/config.json" "$M/model.safetensors" \
            <"$tmp/ids.jsonl" >"$tmp/torch_st.jsonl" 2>>"$tmp/err" &&
        $PY tests/e2e/lib/torch_probs.py "$M/config.json" tests/golden/model/pytorch_model.bin \
            <"$tmp/ids.jsonl" >"$tmp/torch_bin.jsonl" 2>>"$tmp/err" &&
        "$BIN" predict --model "$M" --top-k 5 <"$tmp/sent.txt" >"$tmp/c_st.jsonl" 2>>"$tmp/err" &&
        "$BIN" predict --model "$tmp/bin" --top-k 5 <"$tmp/sent.txt" >"$tmp/c_bin.jsonl" 2>>"$tmp/err"
    rc=$?
    LAST_WHY="rc $rc: $(head -c 400 "$tmp/err")"
    [ $rc = 0 ] && $PY -c '
import json, sys
cfg = json.load(open(sys.argv[1]))
names = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]
worst = 0.0
for c_file, t_file in ((sys.argv[2], sys.argv[3]), (sys.argv[4], sys.argv[5])):
    cs = [json.loads(l) for l in open(c_file)]
    ts = [json.loads(l) for l in open(t_file)]
    assert len(cs) == len(ts) == 9, (len(cs), len(ts))
    for c, t in zip(cs, ts):
        got = {e["intent"]: e["confidence"] for e in c["top_k"]}
        assert len(got) == len(names)
        for i, n in enumerate(names):
            worst = max(worst, abs(got[n] - t[i]))
        assert names[max(range(len(t)), key=lambda i: t[i])] == c["intent"], (c, t)
assert worst <= 1e-5, "max |p_c - p_torch| = %g" % worst
' "$M/config.json" "$tmp/c_st.jsonl" "$tmp/torch_st.jsonl" "$tmp/c_bin.jsonl" "$tmp/torch_bin.jsonl"
    res torch_parity
else
    echo "skip predict_torch_parity: python3-torch (Debian) is not installed"
fi

# a model trained by `intent train` (tiny, from scratch): its directory and
# its intent_classifier.pt give the same output
$PY -c '
import json
rows = []
for i in range(12):
    rows.append({"text": "hola buenos dias %d" % i, "intent": "saludo"})
    rows.append({"text": "quiero ver las noticias %d" % i, "intent": "noticias"})
    rows.append({"text": "reservar una mesa %d" % i, "intent": "reservar"})
json.dump(rows, open("'"$tmp"'/data.json", "w"))
'
(cd "$tmp" && "$BIN" train --model-name "$tmp/no-base" --data data.json --epochs 1 \
    --no-tracking --output trained --scratch-hidden-size 16 --scratch-layers 1 \
    --scratch-heads 2 --scratch-intermediate-size 32 --batch-size 8 --eval-fraction 0 \
    >"$tmp/train.log" 2>&1)
rc=$?
if [ $rc = 0 ] && [ -f "$tmp/trained/intent_classifier.pt" ]; then
    "$BIN" predict --model "$tmp/trained" --top-k 3 <"$tmp/in.txt" >"$tmp/dir.out" 2>"$tmp/err" &&
        "$BIN" predict --model "$tmp/trained/intent_classifier.pt" --top-k 3 <"$tmp/in.txt" \
            >"$tmp/pt.out" 2>>"$tmp/err"
    rc=$?
    LAST_WHY="rc $rc: $(head -c 300 "$tmp/err")"
    [ $rc = 0 ] && [ -s "$tmp/dir.out" ] && cmp -s "$tmp/dir.out" "$tmp/pt.out"
    res pt_same_as_directory
else
    fail pt_same_as_directory "intent train did not produce a model (rc $rc): $(tail -3 "$tmp/train.log")"
fi

# no arguments, stdin a terminal: the default model path and the sample sentence
if command -v script >/dev/null; then
    mkdir -p "$tmp/cwd" && cp -r "$M" "$tmp/cwd/final_model"
    out=$(cd "$tmp/cwd" && script -qec "$BIN predict" /dev/null </dev/null 2>&1)
    LAST_WHY="$out"
    [[ "$out" == *'{"text":"quiero ver las noticias","intent":"'* ]]
    res sample_sentence_on_terminal
else
    echo "skip predict_sample_sentence_on_terminal: script (util-linux) is not installed"
fi

# every input line, whatever its bytes, gets exactly one output line, in order:
# NUL and other control characters (dropped by the tokenizer, echoed in
# "text"), a lone CR, CR LF, empty lines, a lone surrogate (ED A0 80), Latin-1
# bytes and a stray FF (read as U+FFFD, as Python's errors="replace"), a line
# of exactly 1 MiB and no final newline; in batches of 3 so lines straddle them
$PY -c '
import sys
mib = (b"quiero ver las noticias " * 43691)[:1 << 20]
lines = [b"x", b"a\x00b", b"a\x01b", b"y", b"", b"hola\rmesa", b"\x00", b"reservar\x00\x00 una mesa",
         b"caf\xe9", b"a\xed\xa0\x80b", b"\xff", b"", b"adios\x1b[0m", b"\x7f\x85", mib, b"\tclima\x0b"]
sys.stdout.buffer.write(b"\n".join(lines[:5]) + b"\r\n" + b"\n".join(lines[5:]))
' >"$tmp/bytes.txt"
"$BIN" predict --model "$M" --batch-size 3 <"$tmp/bytes.txt" >"$tmp/bytes.out" 2>"$tmp/err"
rc=$?
# the same texts as the tokenizer sees them (controls dropped, whitespace as
# spaces), one per line
$PY -c '
import sys
mib = (b"quiero ver las noticias " * 43691)[:1 << 20]
ref = [b"x", b"ab", b"ab", b"y", b"", b"hola mesa", b"", b"reservar una mesa", b"caf", b"ab", b"",
       b"", b"adios[0m", b"", mib, b" clima "]
sys.stdout.buffer.write(b"\n".join(ref) + b"\n")
' | "$BIN" predict --model "$M" --batch-size 3 >"$tmp/bytes.ref" 2>>"$tmp/err"
rc2=$?
LAST_WHY="rc $rc/$rc2: $(head -c 600 "$tmp/err")"
[ $rc = 0 ] && [ $rc2 = 0 ] && grep -q 'warning: stdin line 9: bytes that are not UTF-8' "$tmp/err" &&
    $PY -c '
import json, sys
raw = open(sys.argv[1], "rb").read()
want = raw.split(b"\n")
want = [l[:-1] if l.endswith(b"\r") else l for l in want]
out = open(sys.argv[2], "rb").read().split(b"\n")
ref = open(sys.argv[3], "rb").read().split(b"\n")
assert out[-1] == b"" and ref[-1] == b"", "output must end with a newline"
out, ref = out[:-1], ref[:-1]
assert len(out) == len(want) == 16 == len(ref), (len(out), len(want), len(ref))
for i, (o, w, r) in enumerate(zip(out, want, ref)):
    d, e = json.loads(o), json.loads(r)
    assert d["text"] == w.decode("utf-8", errors="replace"), (i, d["text"][:80], w[:80])
    assert d["intent"] == e["intent"] and abs(d["confidence"] - e["confidence"]) < 1e-5, (i, d, e)
' "$tmp/bytes.txt" "$tmp/bytes.out" "$tmp/bytes.ref"
res any_bytes_line_for_line

printf 'hola\nadios\ncaf\xe9\nmesa\n' | "$BIN" predict --model "$M" >"$tmp/bad.out" 2>"$tmp/err"
rc=$?
LAST_WHY="rc $rc; stdout: $(cat "$tmp/bad.out"); stderr: $(cat "$tmp/err")"
[ $rc = 0 ] && [ "$(grep -c '"intent"' "$tmp/bad.out")" = 4 ] &&
    grep -qF "$(printf '"text":"caf\xef\xbf\xbd"')" "$tmp/bad.out" &&
    grep -q 'warning: stdin line 3: bytes that are not UTF-8 (first at byte 3) read as U+FFFD' "$tmp/err"
res invalid_utf8_read_as_replacement

{ printf 'hola\n'; head -c 1100000 /dev/zero | tr '\0' a; printf '\nadios\n'; } >"$tmp/huge.txt"
out=$("$BIN" predict --model "$M" <"$tmp/huge.txt" 2>"$tmp/err")
rc=$?
LAST_WHY="rc $rc: $(cat "$tmp/err")"
[ $rc = 1 ] && grep -q 'stdin: line 2: longer than 1048576 bytes' "$tmp/err" && [ "$(printf '%s\n' "$out" | grep -c intent)" = 1 ]
res line_over_1mib

"$BIN" predict --model "$tmp/missing-model" "hola" >/dev/null 2>"$tmp/err"
rc=$?
LAST_WHY="rc $rc: $(cat "$tmp/err")"
[ $rc = 1 ] && grep -q "missing-model" "$tmp/err"
res bad_model_path

"$BIN" predict --model "$M" --top-k x "hola" >/dev/null 2>"$tmp/err"
rc=$?
"$BIN" predict --bogus >/dev/null 2>>"$tmp/err"
rc2=$?
LAST_WHY="rc $rc / $rc2: $(cat "$tmp/err")"
[ $rc = 2 ] && [ $rc2 = 2 ] && grep -q -- "--top-k" "$tmp/err"
res usage_errors

"$BIN" predict --help >"$tmp/help"
LAST_WHY="--help misses an option"
miss=0
for o in --model --top-k --batch-size --threads --max-length; do grep -q -- "$o" "$tmp/help" || miss=1; done
[ $miss = 0 ] && grep -q 'quiero ver las noticias' "$tmp/help"
res help
exit 0
