#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_serve.sh - `intent serve` against the reference FastAPI + PyTorch
# service (bench/api_ref.py under uvicorn) on the same trained bert-tiny-shaped
# model, on this machine, in the same run, for each route:
#   classify  POST /classify     {"text": ...}   (the original service's route)
#   predict   POST /predict      {"inputs": ...} (text-embeddings-inference)
#   parse     POST /model/parse  {"text": ...}   (Rasa)
# with the same 13-word Spanish sentence (bench/post_<route>.lua):
#   - throughput and latency under wrk (-c16 -d10s --latency, keep-alive)
#     after a 2 s warm-up on that route;
#   - the server's CPU time (user + system) per request served;
#   - resident memory of each server after each route's load (VmRSS, and
#     VmHWM = peak);
#   - start-up: process spawn to the first 200 from GET /health (polled every
#     millisecond), model loaded.
# Where taskset exists and there are 2 cores or more, the server runs on the
# first half of the cores and wrk (one thread per core) on the other half
# (2 cores: server on core 0, wrk on core 1), so that the load generator does
# not take the server's CPU; BENCH_SERVE_PIN=0 turns that off.
# Each server is started fresh for every run and serves the routes in turn;
# runs are interleaved (ours, ref, ours, ref, ...). Figures are medians over
# BENCH_RUNS runs (default 3) with their min-max spread. The reference runs
# in the best configurations from the performance notes: OpenMP OpenBLAS
# (libopenblas0-openmp), uvloop + httptools when installed (else asyncio +
# h11), uvicorn's default logging sent to /dev/null, torch with as many
# threads as the server has cores and with 1 thread (BENCH_SERVE_REF_THREADS;
# default "1" when pinned to one core, else "2 1"); the ratios use the better
# one per route. The reference is skipped, saying so, when torch, fastapi or
# uvicorn are missing. "other load" is the CPU (in cores) that processes
# other than the server and wrk used during the measurement: on a shared
# machine figures taken under other load are not comparable with quiet-machine
# ones. "server CPU us/request" depends much less on that load.
#   bench/bench_serve.sh [BUILD_DIR]
# Environment: BENCH_RUNS, BENCH_SERVE_SECONDS (10), BENCH_SERVE_CONNS (16),
# BENCH_SERVE_ROUTES ("classify predict parse"), BENCH_SERVE_PIN (1),
# BENCH_SERVE_MODEL (a model directory to use instead of the one built here),
# BENCH_SERVE_ARGS (extra `intent serve` flags), BENCH_SERVE_SKIP_REF=1.
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
BIN=$build/intent
RUNS=${BENCH_RUNS:-3}
DUR=${BENCH_SERVE_SECONDS:-10}
CONNS=${BENCH_SERVE_CONNS:-16}
PY=/usr/bin/python3
OMPBLAS=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/openblas-openmp
work=$build/bench-serve
mkdir -p "$work"
PORT_OURS=${BENCH_SERVE_PORT:-18231}
PORT_REF=$((PORT_OURS + 1))

[ -x "$BIN" ] || { echo "bench_serve: $BIN not built (make first)"; exit 1; }
if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "bench_serve: installing wrk"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null 2>&1
    fi
    command -v wrk >/dev/null || { echo "bench_serve: wrk is not installed (apt-get install wrk); skipped"; exit 0; }
fi
[ -x "$PY" ] || { echo "bench_serve: $PY missing; skipped"; exit 0; }

# --- the model: trained by intent itself on the bundled dataset (from scratch,
# bert-tiny shape: 2 layers, hidden 128, 2 heads, feed-forward 512), then its
# vocabulary padded with [unusedN] tokens to bert-tiny's 30522 so that the
# embedding table (and memory) has bert-tiny's size. Built once, kept in
# $work/model.
model=${BENCH_SERVE_MODEL:-$work/model}
if [ ! -f "$model/config.json" ]; then
    echo "bench_serve: training the benchmark model (once, kept in $model)"
    rm -rf "$work/trained"
    if ! "$BIN" train --model-name "$work/no-such-base" --data data/dataset_v2.json --epochs 3 \
        --no-tracking --output "$work/trained" >"$work/train.log" 2>&1; then
        echo "bench_serve: training the model failed:"; tail -5 "$work/train.log"; exit 1
    fi
    $PY - "$work/trained" "$model" <<'EOF' || exit 1
import json, os, shutil, struct, sys
import numpy as np
src, dst = sys.argv[1], sys.argv[2]
V = 30522
tmp = dst + ".tmp"
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
cfg = json.load(open(os.path.join(src, "config.json")))
vocab = open(os.path.join(src, "vocab.txt"), encoding="utf-8").read().split("\n")
if vocab and vocab[-1] == "":
    vocab.pop()
n0 = len(vocab)
vocab += ["[unused%d]" % i for i in range(V - n0)]
open(os.path.join(tmp, "vocab.txt"), "w", encoding="utf-8").write("\n".join(vocab) + "\n")
data = open(os.path.join(src, "model.safetensors"), "rb").read()
(n,) = struct.unpack("<Q", data[:8])
hdr = json.loads(data[8:8 + n])
tensors = {}
for k, v in hdr.items():
    if k == "__metadata__":
        continue
    a, b = v["data_offsets"]
    tensors[k] = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").reshape(v["shape"])
key = "bert.embeddings.word_embeddings.weight"
H = tensors[key].shape[1]
rng = np.random.default_rng(0)
extra = (rng.standard_normal((V - n0, H)) * 0.02).astype("<f4")
tensors[key] = np.concatenate([tensors[key], extra])
cfg["vocab_size"] = V
json.dump(cfg, open(os.path.join(tmp, "config.json"), "w"), indent=2)
header, off, blobs = {}, 0, []
for k in sorted(tensors):
    t = np.ascontiguousarray(tensors[k], dtype="<f4")
    header[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + t.nbytes]}
    off += t.nbytes
    blobs.append(t.tobytes())
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(tmp, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
for extra_file in ("tokenizer_config.json", "special_tokens_map.json"):
    p = os.path.join(src, extra_file)
    if os.path.exists(p):
        shutil.copy(p, tmp)
shutil.rmtree(dst, ignore_errors=True)
os.rename(tmp, dst)
print("bench_serve: model %s: vocab %d (%d trained + padding), %d labels" % (dst, V, n0, len(cfg["id2label"])))
EOF
fi

# --- reference availability and configuration
ref=1
ref_why=
if [ "${BENCH_SERVE_SKIP_REF:-0}" = 1 ]; then
    ref=0; ref_why="BENCH_SERVE_SKIP_REF=1"
elif ! $PY -c 'import torch, fastapi, uvicorn' 2>/dev/null; then
    ref=0; ref_why="python3-torch, python3-fastapi or python3-uvicorn is not installed"
fi
ref_loop="--loop asyncio --http h11"
ref_cfg="asyncio + h11"
if $PY -c 'import uvloop, httptools' 2>/dev/null; then
    ref_loop="--loop uvloop --http httptools"
    ref_cfg="uvloop + httptools"
fi
ref_env=()
if [ -d "$OMPBLAS" ]; then
    ref_env=(LD_LIBRARY_PATH="$OMPBLAS")
    ref_cfg="$ref_cfg, OpenMP OpenBLAS"
else
    ref_cfg="$ref_cfg, Debian's default BLAS"
fi
ROUTES=${BENCH_SERVE_ROUTES:-classify predict parse}
for rt in $ROUTES; do
    [ -f "bench/post_$rt.lua" ] || { echo "bench_serve: unknown route $rt (no bench/post_$rt.lua)"; exit 1; }
done
# route_path ROUTE -> the URL path bench/post_ROUTE.lua posts to
route_path() { case $1 in parse) echo /model/parse ;; *) echo "/$1" ;; esac; }

# --- pinning: the server on the first half of the cores, wrk on the rest
ncpu=$(nproc)
srv_pin=() wrk_pin=() wrk_thr=2 srv_cores=$ncpu
pin_note="not pinned (BENCH_SERVE_PIN=0)"
if [ "${BENCH_SERVE_PIN:-1}" = 1 ]; then
    if ! command -v taskset >/dev/null; then
        pin_note="not pinned (no taskset)"
    elif [ "$ncpu" -lt 2 ]; then
        pin_note="not pinned (1 core)"
    else
        srv_cores=$((ncpu / 2))
        srv_pin=(taskset -c "0-$((srv_cores - 1))")
        wrk_pin=(taskset -c "$srv_cores-$((ncpu - 1))")
        wrk_thr=$((ncpu - srv_cores))
        pin_note="server on core(s) 0-$((srv_cores - 1)), wrk ($wrk_thr thread(s)) on core(s) $srv_cores-$((ncpu - 1)) (taskset)"
    fi
fi
if [ "$srv_cores" -gt 1 ]; then
    REF_THREADS=${BENCH_SERVE_REF_THREADS:-$srv_cores 1}
else
    REF_THREADS=${BENCH_SERVE_REF_THREADS:-1}
fi

# start_server NAME PORT [VAR=VALUE...] CMD... -> prints "PID STARTUP_MS"
# (spawn -> first 200 /health); the command runs under $SRV_PIN (taskset).
start_server() {
    local name=$1 port=$2; shift 2
    $PY - "$port" "$work/$name.log" "$@" <<'EOF'
import http.client, os, subprocess, sys, time
port, log, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
env = dict(os.environ)
while cmd and "=" in cmd[0] and not cmd[0].startswith("-"):
    k, v = cmd.pop(0).split("=", 1)
    env[k] = v
cmd = os.environ.get("SRV_PIN", "").split() + cmd
t0 = time.perf_counter()
p = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env,
                     start_new_session=True)
while True:
    if p.poll() is not None:
        print("-1 -1")
        sys.exit(1)
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/health")
        if c.getresponse().status == 200:
            break
    except OSError:
        pass
    time.sleep(0.001)
print(p.pid, "%.1f" % ((time.perf_counter() - t0) * 1e3))
EOF
}

mem_kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# one_route NAME PORT PID ROUTE -> appends "rps p50 p99 rss hwm startup errors
# other_load cpu_us" to $work/NAME.ROUTE.res (STARTUP from the global $st)
one_route() {
    local name=$1 port=$2 pid=$3 rt=$4 url
    url="http://127.0.0.1:$port$(route_path "$rt")"
    "${wrk_pin[@]}" wrk -t"$wrk_thr" -c"$CONNS" -d2s -s "bench/post_$rt.lua" "$url" >/dev/null 2>&1
    local b0 s0 b1 s1 t0 t1 other rss hwm scpu
    b0=$(busy_ticks); s0=$(proc_ticks "$pid"); t0=$(date +%s.%N)
    TIMEFORMAT='%U %S'
    { time "${wrk_pin[@]}" wrk -t"$wrk_thr" -c"$CONNS" -d"${DUR}s" --latency \
        -s "bench/post_$rt.lua" "$url" >"$work/$name.$rt.wrk" 2>&1; } 2>"$work/$name.time"
    b1=$(busy_ticks); s1=$(proc_ticks "$pid"); t1=$(date +%s.%N)
    other=$(awk -v b="$((b1 - b0))" -v s="$((s1 - s0))" -v hz="$(getconf CLK_TCK)" \
        -v t0="$t0" -v t1="$t1" '{ w = $1 + $2 } END { o = (b - s) / hz - w; if (o < 0) o = 0;
        printf "%.2f", o / (t1 - t0) }' "$work/$name.time")
    scpu=$(awk -v s="$((s1 - s0))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", s / hz }')
    rss=$(mem_kib "$pid" VmRSS)
    hwm=$(mem_kib "$pid" VmHWM)
    $PY - "$work/$name.$rt.wrk" "$rss" "$hwm" "$st" "$other" "$scpu" >>"$work/$name.$rt.res" <<'PYEOF'
import re, sys
t = open(sys.argv[1]).read()
def ms(v, u):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[u]
rps = float(re.search(r"Requests/sec:\s*([\d.]+)", t).group(1))
lat = {m.group(1): ms(m.group(2), m.group(3))
       for m in re.finditer(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)}
err = 0
m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", t)
err += int(m.group(1)) if m else 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
err += sum(int(x) for x in m.groups()) if m else 0
n = int(re.search(r"(\d+) requests in", t).group(1))
print(rps, lat["50"], lat["99"], int(sys.argv[2]) / 1024, int(sys.argv[3]) / 1024,
      float(sys.argv[4]), err, float(sys.argv[5]), float(sys.argv[6]) / max(n, 1) * 1e6)
PYEOF
}

# run_one NAME PORT CMD... : starts the server (pinned), loads every route in
# turn, stops it.
run_one() {
    local name=$1 port=$2; shift 2
    local out pid rt
    out=$(SRV_PIN="${srv_pin[*]}" start_server "$name" "$port" "$@") ||
        { echo "bench_serve: $name did not start:"; tail -5 "$work/$name.log"; return 1; }
    read -r pid st <<<"$out"
    for rt in $ROUTES; do
        one_route "$name" "$port" "$pid" "$rt"
    done
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null
    return 0
}

rm -f "$work"/ours.*.res "$work"/ref*.res
echo "model: $model"
echo "load: wrk -t$wrk_thr -c$CONNS -d${DUR}s --latency, keep-alive, routes: $ROUTES ($(grep -o '"text": "[^"]*"' bench/post_classify.lua)), $RUNS runs, interleaved"
echo "pinning: $pin_note"
echo "machine: $ncpu cores, shared; load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
if [ $ref = 1 ]; then
    echo "reference: bench/api_ref.py under uvicorn ($ref_cfg; torch threads: $REF_THREADS)"
else
    echo "reference: skipped ($ref_why)"
fi
for r in $(seq 1 "$RUNS"); do
    # shellcheck disable=SC2086
    run_one ours "$PORT_OURS" "$BIN" serve --model "$model" --port "$PORT_OURS" ${BENCH_SERVE_ARGS:-} || exit 1
    if [ $ref = 1 ]; then
        for th in $REF_THREADS; do
            # shellcheck disable=SC2086
            run_one "ref$th" "$PORT_REF" "${ref_env[@]}" REF_MODEL="$model" REF_TORCH_THREADS="$th" \
                "$PY" -m uvicorn api_ref:app --app-dir bench --host 127.0.0.1 --port "$PORT_REF" \
                $ref_loop || ref=0
        done
    fi
done
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

ths=()
if [ $ref = 1 ]; then ths=($REF_THREADS); fi
$PY - "$CONNS" "$work" "$ROUTES" "${ths[@]}" <<'PYEOF'
import statistics, sys
conns, work, routes, ths = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]
paths = {"classify": "/classify", "predict": "/predict", "parse": "/model/parse"}
def load(p):
    rows = [list(map(float, l.split())) for l in open(p) if l.strip()]
    return list(zip(*rows))
cols = [("req/s", 0, "%.0f"), ("p50 ms", 1, "%.2f"), ("p99 ms", 2, "%.2f"),
        ("server CPU us/request", 8, "%.0f"), ("RSS MiB", 3, "%.1f"), ("peak RSS MiB", 4, "%.1f"),
        ("start-up ms", 5, "%.0f"), ("other load (cores)", 7, "%.2f")]
med = statistics.median
def cell(vals, fmt):
    return (fmt % med(vals)) + " (" + (fmt % min(vals)) + "-" + (fmt % max(vals)) + ")"
def row(name, d):
    print("| %s | " % name + " | ".join(cell(d[i], f) for _, i, f in cols) + " | %d |" % sum(d[6]))
summary = []
for rt in routes:
    ours = load("%s/ours.%s.res" % (work, rt))
    refs = [(th, load("%s/ref%s.%s.res" % (work, th, rt))) for th in ths]
    print()
    print("POST %s, %s connections" % (paths.get(rt, "/" + rt), conns))
    print()
    print("| server | " + " | ".join(c[0] for c in cols) + " | errors |")
    print("|---" * (len(cols) + 2) + "|")
    row("intent serve", ours)
    for th, d in refs:
        row("FastAPI reference, torch %s thread%s" % (th, "" if th == "1" else "s"), d)
    if not refs:
        continue
    th, best = max(refs, key=lambda r: med(r[1][0]))
    r = [med(ours[i]) / med(best[i]) for _, i, _ in cols[:7]]
    print("| ratio ours / best reference (torch %s) | " % th +
          " | ".join("%.2fx" % x for x in r) + " | | |")
    summary.append((rt, r[0], med(ours[2]), med(best[8]) / med(ours[8]), r[4], r[5]))
if summary:
    print()
    print("| route | req/s ours / reference (target >= 10x) | our p99 ms (target < 5) | "
          "reference CPU per request / ours | RSS ours / reference (target <= 0.1x) | "
          "peak RSS ours / reference |")
    print("|---|---|---|---|---|---|")
    for rt, x, p99, cpu, rss, hwm in summary:
        print("| %s | %.1fx | %.2f | %.1fx | %.3fx | %.3fx |" % (rt, x, p99, cpu, rss, hwm))
PYEOF
