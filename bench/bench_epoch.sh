#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_epoch.sh - one whole training epoch on fb_mtod_es train.json (3,616
# Spanish texts, 12 intents; CC BY-SA, not distributed here: bench/README.md),
# batch 32, dynamic padding (each batch padded to its longest text), from
# scratch, bert-tiny shape (H 128, L 2, heads 2, I 512; the WordPiece
# vocabulary learned from the training texts):
#   ours: `intent train --epochs 1 --no-tracking --eval-fraction 0` (the epoch
#         time is the log's "trained N steps (R examples/s)": the training
#         loop itself, without reading data, learning the vocabulary or saving);
#   ref:  bench/epoch_ref.py, the same epoch in PyTorch (Trainer's set-up) on
#         the same token ids (`intent tokenize` with the vocabulary ours
#         learned) and the same model shape and vocabulary size.
# Interleaved runs (ours, ref, ... BENCH_RUNS, default 3), medians, min-max,
# ratio ours/ref in examples/s. The reference is skipped, saying so, without
# torch; the whole benchmark is skipped, saying so, without the dataset.
#   bench/bench_epoch.sh [BUILD_DIR]
# Environment: FB_MTOD (dataset dir; default ../shared/datasets/fb_mtod_es,
# then /work/shared/datasets/fb_mtod_es), BENCH_RUNS, THREADS (2).
set -u
cd "$(dirname "$0")/.."
build=${1:-${BUILD:-build}}
. bench/common.sh
BIN=$build/intent
THREADS=${THREADS:-2}
D=${FB_MTOD:-../shared/datasets/fb_mtod_es}
[ -s "$D/train.json" ] || D=/work/shared/datasets/fb_mtod_es
if [ ! -s "$D/train.json" ]; then
    echo "skip: fb_mtod_es not found (set FB_MTOD to the directory holding train.json)"; exit 0
fi
[ -x "$BIN" ] || { echo "bench_epoch: $BIN not built"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export HF_HOME="$T/hf" HF_HUB_OFFLINE=1
unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE

ours_run() { # $1 = run number; output in $T/ours.$1
    rm -rf "$T/model.$1"
    "$BIN" train --model-name "$T/no-base" --data "$D/train.json" --epochs 1 --no-tracking \
        --eval-fraction 0 --batch-size 32 --max-length 64 --threads "$THREADS" \
        --output "$T/model.$1" >"$T/ours.$1" 2>&1
}

ref=1
ref_why=""
ref_torch_ok || { ref=0; ref_why="$PY cannot import torch (apt-get install python3-torch)"; }
REFENV=$(ref_env)
load0=$(cat /proc/loadavg)
for r in $(seq 1 "$RUNS"); do
    ours_run "$r" || { echo "bench_epoch: intent train failed:"; tail -5 "$T/ours.$r"; exit 1; }
    if [ $ref = 1 ] && [ ! -f "$T/data.jsonl" ]; then
        # the same token ids: the vocabulary ours learned, ours' tokenizer
        "$PY" - "$D/train.json" "$T/model.1/config.json" "$T/texts.jsonl" "$T/labels.txt" <<'PYEOF' || exit 1
import json, sys
data = json.load(open(sys.argv[1])); cfg = json.load(open(sys.argv[2]))
l2i = {k: int(v) for k, v in cfg["label2id"].items()}
with open(sys.argv[3], "w") as t, open(sys.argv[4], "w") as l:
    for d in data:
        t.write(json.dumps({"text": d["text"]}, ensure_ascii=False) + "\n")
        l.write("%d\n" % l2i[d["intent"]])
PYEOF
        "$BIN" tokenize --model "$T/model.1" --json-input --max-length 64 <"$T/texts.jsonl" >"$T/tok.jsonl" || exit 1
        "$PY" - "$T/tok.jsonl" "$T/labels.txt" "$T/data.jsonl" <<'PYEOF' || exit 1
import json, sys
labels = [int(x) for x in open(sys.argv[2])]
toks = [json.loads(x) for x in open(sys.argv[1]) if x.strip()]
assert len(toks) == len(labels), (len(toks), len(labels))
with open(sys.argv[3], "w") as f:
    for t, y in zip(toks, labels):
        n = sum(t["attention_mask"])
        f.write(json.dumps({"ids": t["ids"][:n], "label": y}) + "\n")
PYEOF
    fi
    if [ $ref = 1 ]; then
        env "$REFENV" "$PY" bench/epoch_ref.py "$T/data.jsonl" "$T/model.1/config.json" \
            --threads "$THREADS" --batch-size 32 >"$T/ref.$r" 2>&1 || { echo "bench_epoch: epoch_ref.py failed:"; tail -5 "$T/ref.$r"; ref=0; ref_why="it failed"; }
    fi
done
load1=$(cat /proc/loadavg)
"$PY" - "$T" "$RUNS" "$ref" "$ref_why" "$THREADS" "$D" "$load0" "$load1" <<'PYEOF'
import glob, json, os, re, statistics, sys
T, runs, ref, why, threads, D, load0, load1 = sys.argv[1:9]
ref = ref == "1"
ours, refs, head, n = [], [], "", 0
for p in glob.glob(os.path.join(T, "ours.*")):
    log = open(p, errors="replace").read()
    m = re.findall(r"trained (\d+) steps \((\d+) examples/s\)", log)
    e = re.findall(r"training: (\d+) examples", log)
    if m:
        ours.append(float(m[-1][1]))
        n = int(e[-1]) if e else n
for p in glob.glob(os.path.join(T, "ref.*")):
    for line in open(p, errors="replace"):
        if line.startswith("# ref: "):
            head = line[7:].strip()
        m = re.match(r"ref epoch examples=(\d+) steps=(\d+) seconds=(\S+) ex_s=(\S+)", line)
        if m:
            refs.append(float(m.group(4)))
cfg = json.load(open(os.path.join(T, "model.1", "config.json")))
print("one training epoch, fb_mtod_es train.json (%s), batch 32, dynamic padding, from scratch," % D)
print("  bert-tiny shape H %d L %d I %d, vocabulary %d (learned from the texts), %d labels, %s threads"
      % (cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"], cfg["vocab_size"],
         len(cfg["id2label"]), threads))
print("  medians of %s interleaved runs (min-max); load average before: %s  after: %s"
      % (runs, " ".join(load0.split()[:3]), " ".join(load1.split()[:3])))
print("  ref: %s" % (head if ref else "skipped: " + why))
def cell(v):
    if not v:
        return "-", "-"
    med = statistics.median(v)
    return ("%.0f (%.0f-%.0f)" % (med, min(v), max(v)),
            "%.2f (%.2f-%.2f)" % (n / med, n / max(v), n / min(v)) if n else "-")
print("%-6s %-22s %-22s" % ("", "examples/s", "epoch s"))
for name, v in (("ours", ours), ("ref", refs if ref else [])):
    a, b = cell(v)
    print("%-6s %-22s %-22s" % (name, a, b))
if ours and ref and refs:
    r = statistics.median(ours) / statistics.median(refs)
    print("ratio ours/ref (examples/s): %.2fx   target >= 3x: %s" % (r, "met" if r >= 3 else "NOT met"))
PYEOF
