#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_memory.sh - peak resident memory (VmHWM / getrusage max RSS) of
#   - training: `intent train` fine-tuning the benchmark model for one epoch
#     on data/dataset_v2.json (batch 32) vs bench/train_ref.py (PyTorch
#     training steps at batch 32, sequence 32 and 64, same bert-tiny shape);
#   - predicting: `intent predict` on a few texts vs bench/infer_ref.py (torch
#     loaded, model built, one batch-1 shape: the least a PyTorch predict
#     script holds, without any tokenizer library);
#   - serving: `intent serve` vs bench/api_ref.py under uvicorn, both on the
#     same model directory, after a burst of 16 concurrent keep-alive clients
#     x 100 POST /classify each.
# BENCH_RUNS runs each (interleaved), medians with min-max, ratio ref/ours
# (> 1: ours smaller). References skipped, saying so, without torch
# (fastapi/uvicorn for the server).
#   bench/bench_memory.sh [BUILD_DIR]
# Environment: BENCH_RUNS (3), THREADS (2), BENCH_MEMORY_MODEL (model directory;
# default BUILD_DIR/bench-serve/model as bench_serve.sh builds it — bert-tiny
# shape, vocabulary 30522 — else one trained here from scratch for one epoch).
set -u
cd "$(dirname "$0")/.."
build=${1:-${BUILD:-build}}
. bench/common.sh
BIN=$build/intent
THREADS=${THREADS:-2}
PORT=${BENCH_MEMORY_PORT:-18251}
[ -x "$BIN" ] || { echo "bench_memory: $BIN not built"; exit 1; }
[ -x /usr/bin/time ] || { echo "skip: /usr/bin/time missing (apt-get install time)"; exit 0; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export HF_HOME="$T/hf" HF_HUB_OFFLINE=1
unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE

model=${BENCH_MEMORY_MODEL:-$build/bench-serve/model}
model_note="$model (bench_serve.sh's bert-tiny-shaped model)"
if [ ! -f "$model/config.json" ]; then
    model=$T/model
    model_note="trained here from scratch, 1 epoch on data/dataset_v2.json (small vocabulary; run bench_serve.sh first for the bert-tiny vocabulary of 30522)"
    "$BIN" train --model-name "$T/no-base" --data data/dataset_v2.json --epochs 1 --no-tracking \
        --threads "$THREADS" --output "$model" >"$T/mk.log" 2>&1 || { echo "bench_memory: training the model failed"; tail -3 "$T/mk.log"; exit 1; }
fi

ref=1; ref_why=""
ref_torch_ok || { ref=0; ref_why="$PY cannot import torch"; }
refsrv=$ref; refsrv_why=$ref_why
[ $ref = 1 ] && ! "$PY" -c 'import fastapi, uvicorn' 2>/dev/null && { refsrv=0; refsrv_why="fastapi/uvicorn not installed"; }
REFENV=$(ref_env)

# maxrss OUT CMD...: runs CMD, appends its peak RSS in KiB to OUT
maxrss() {
    local out=$1; shift
    if /usr/bin/time -f "%M" -o "$T/time.out" "$@" >"$T/cmd.log" 2>&1; then
        tail -1 "$T/time.out" >>"$out"
    else
        echo "bench_memory: failed: $*" >&2; tail -3 "$T/cmd.log" >&2
    fi
}

# serve_hwm OUT CMD...: starts a server on $PORT, waits for /health, sends the
# burst, appends VmHWM (KiB) to OUT, stops the server.
serve_hwm() {
    local out=$1; shift
    "$PY" - "$PORT" "$out" "$@" <<'PYEOF'
import http.client, json, os, signal, subprocess, sys, threading, time
port, out, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
env = dict(os.environ)
while cmd and "=" in cmd[0] and not cmd[0].startswith("-"):
    k, v = cmd.pop(0).split("=", 1)
    env[k] = v
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                     start_new_session=True)
t0 = time.time()
ok = False
while time.time() - t0 < 60 and p.poll() is None:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/health")
        if c.getresponse().status == 200:
            ok = True
            break
    except OSError:
        pass
    time.sleep(0.01)
errors = [0]
def client():
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps({"text": "pon una alarma para mañana a las siete de la mañana por favor"})
        for _ in range(100):
            c.request("POST", "/classify", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                errors[0] += 1
    except OSError:
        errors[0] += 1
if ok:
    th = [threading.Thread(target=client) for _ in range(16)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    hwm = 0
    for line in open("/proc/%d/status" % p.pid):
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    if errors[0]:
        print("bench_memory: %d failed requests" % errors[0], file=sys.stderr)
    with open(out, "a") as f:
        f.write("%d\n" % hwm)
else:
    print("bench_memory: server did not start: %s" % " ".join(cmd), file=sys.stderr)
os.killpg(p.pid, signal.SIGTERM)
try:
    p.wait(10)
except subprocess.TimeoutExpired:
    os.killpg(p.pid, signal.SIGKILL)
PYEOF
}

for r in $(seq 1 "$RUNS"); do
    rm -rf "$T/out"
    maxrss "$T/ours.train" "$BIN" train --model-name "$model" --data data/dataset_v2.json --epochs 1 \
        --no-tracking --eval-fraction 0 --batch-size 32 --threads "$THREADS" --output "$T/out"
    [ $ref = 1 ] && maxrss "$T/ref.train" env "$REFENV" "$PY" bench/train_ref.py --what train --windows 1 --threads "$THREADS"
    maxrss "$T/ours.predict" "$BIN" predict --model "$model" --threads "$THREADS" \
        "pon una alarma a las siete" "¿va a llover mañana?" "recuérdame llamar a mamá"
    [ $ref = 1 ] && maxrss "$T/ref.predict" env "$REFENV" "$PY" bench/infer_ref.py --batch 1 --seq 16 --windows 1 --threads "$THREADS"
    serve_hwm "$T/ours.serve" "$BIN" serve --model "$model" --host 127.0.0.1 --port "$PORT" --threads "$THREADS"
    [ $refsrv = 1 ] && serve_hwm "$T/ref.serve" "$REFENV" REF_MODEL="$model" REF_TORCH_THREADS="$THREADS" \
        "$PY" -m uvicorn api_ref:app --app-dir bench --host 127.0.0.1 --port "$PORT" --log-level warning
done

"$PY" - "$T" "$RUNS" "$ref" "$ref_why" "$refsrv" "$refsrv_why" "$model_note" <<'PYEOF'
import os, statistics, sys
T, runs, ref, why, refsrv, why_srv, note = sys.argv[1:8]
def vals(name):
    p = os.path.join(T, name)
    return [int(x) / 1024 for x in open(p).read().split()] if os.path.exists(p) else []
print("peak resident memory (MiB), medians of %s runs (min-max); model: %s" % (runs, note))
print("%-9s %-22s %-22s %-9s  %s" % ("", "ours", "ref", "ref/ours", "reference process"))
refs = {"train": ("bench/train_ref.py b32 s32+s64 training steps", ref == "1", why),
        "predict": ("bench/infer_ref.py (torch + model, b1 s16)", ref == "1", why),
        "serve": ("bench/api_ref.py under uvicorn after the burst", refsrv == "1", why_srv)}
for k in ("train", "predict", "serve"):
    o, r = vals("ours." + k), vals("ref." + k)
    c = lambda v: "%.1f (%.1f-%.1f)" % (statistics.median(v), min(v), max(v)) if v else "-"
    ratio = "%.1fx" % (statistics.median(r) / statistics.median(o)) if o and r else "-"
    what, have, w = refs[k]
    print("%-9s %-22s %-22s %-9s  %s" % (k, c(o), c(r) if have else "skipped", ratio,
                                         what if have else "skipped: " + w))
PYEOF
