#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_model.sh - the BERT core side by side with the PyTorch reference, at
# bert-tiny shape (V 30522, H 128, L 2, heads 2, I 512, 8 labels):
#   - training step at batch 32, sequence 32 and 64 (bench/bench_train.c vs
#     bench/train_ref.py: forward with dropout, backward, clip 1.0, AdamW,
#     linear schedule);
#   - inference at batch 1 and 32, sequence 16, 32 and 64 (bench/bench_infer.c
#     vs bench/infer_ref.py: eval mode, no gradients);
#   - the training step at sequence 64 as a share of the FP32 FMA peak,
#     FMA_PEAK_GFLOPS (default 228: 2 Zen 4 cores at ~3.6 GHz, measured with
#     a register-only FMA loop, docs/performance.md).
# Ours and the reference run interleaved in separate processes (ours, ref,
# ours, ref, ... BENCH_RUNS times, default 3); each process reports the median
# of its timed windows; the table gives the median over runs, the min-max
# spread over runs and the speed ratio ours/ref (> 1: ours faster).
# The reference runs in its best Debian configuration: torch with THREADS
# threads and the OpenMP build of OpenBLAS (LD_LIBRARY_PATH); the table names
# the torch version, the BLAS library actually mapped and the threads. It is
# skipped, saying so, when /usr/bin/python3 cannot import torch.
#   bench/bench_model.sh [BUILD_DIR]
# Environment: BENCH_RUNS (3), THREADS (2), BENCH_WINDOWS (5),
# FMA_PEAK_GFLOPS (228), BENCH_MODEL_SKIP_REF=1.
set -u
cd "$(dirname "$0")/.."
build=${1:-${BUILD:-build}}
. bench/common.sh
THREADS=${THREADS:-2}
WINDOWS=${BENCH_WINDOWS:-5}
PEAK_NOMINAL=${FMA_PEAK_GFLOPS:-228}
[ -f "$build/libintent.a" ] || { echo "bench_model: $build/libintent.a not built (make BUILD=$build)"; exit 1; }
bin=$build/bench
bench_cc "$build" bench/bench_train.c "$bin/bench_train" || { echo "bench_model: cannot build bench_train"; exit 1; }
bench_cc "$build" bench/bench_infer.c "$bin/bench_infer" || { echo "bench_model: cannot build bench_infer"; exit 1; }

ref=1
ref_why=""
if [ "${BENCH_MODEL_SKIP_REF:-0}" = 1 ]; then
    ref=0; ref_why="BENCH_MODEL_SKIP_REF=1"
elif ! ref_torch_ok; then
    ref=0; ref_why="$PY cannot import torch (apt-get install python3-torch)"
fi
REFENV=$(ref_env)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
load0=$(cat /proc/loadavg)
for r in $(seq 1 "$RUNS"); do
    "$bin/bench_train" --threads "$THREADS" --what train --windows "$WINDOWS" >"$out/ours.train.$r" 2>&1 || echo "bench_model: bench_train failed (run $r)"
    [ $ref = 1 ] && { env "$REFENV" "$PY" bench/train_ref.py --threads "$THREADS" --what train --windows "$WINDOWS" >"$out/ref.train.$r" 2>&1 || echo "bench_model: train_ref.py failed (run $r)"; }
    "$bin/bench_infer" --threads "$THREADS" --windows "$WINDOWS" >"$out/ours.infer.$r" 2>&1 || echo "bench_model: bench_infer failed (run $r)"
    [ $ref = 1 ] && { env "$REFENV" "$PY" bench/infer_ref.py --threads "$THREADS" --windows "$WINDOWS" >"$out/ref.infer.$r" 2>&1 || echo "bench_model: infer_ref.py failed (run $r)"; }
done
load1=$(cat /proc/loadavg)

"$PY" - "$out" "$RUNS" "$ref" "$ref_why" "$PEAK_NOMINAL" "$THREADS" "$load0" "$load1" <<'PYEOF'
import glob, os, re, statistics, sys
out, runs, ref, why, nominal, threads, load0, load1 = sys.argv[1:9]
ref = ref == "1"
rows = {}   # (side, kind, b, s) -> list of dicts
heads = {}
for p in sorted(glob.glob(os.path.join(out, "*.*.*"))):
    side = os.path.basename(p).split(".")[0]
    for line in open(p, errors="replace"):
        if line.startswith("# "):
            heads.setdefault(side, line[2:].strip().split(": ", 1)[-1])
            continue
        m = re.match(r"(ours|ref) (train|infer) b=(\d+) s=(\d+) (.*)", line)
        if not m:
            continue
        kv = dict(x.split("=", 1) for x in m.group(5).split())
        rows.setdefault((m.group(1), m.group(2), int(m.group(3)), int(m.group(4))), []).append(
            {k: float(v) for k, v in kv.items()})

def stat(side, key, field):
    v = [d[field] for d in rows.get((side,) + key, [])]
    if not v:
        return None
    return statistics.median(v), min(v), max(v), len(v)

print("BERT core, bert-tiny shape, %s threads; medians of %s interleaved runs (min-max over runs)" % (threads, runs))
print("  ours: %s" % heads.get("ours", "?"))
print("  ref:  %s" % (heads.get("ref", "?") if ref else "skipped: " + why))
print("  load average before: %s   after: %s" % (" ".join(load0.split()[:3]), " ".join(load1.split()[:3])))
print()
hdr = "%-22s %-26s %-26s %9s %9s %7s" % ("figure", "ours ms (min-max)", "ref ms (min-max)", "ours ex/s", "ref ex/s", "ours/ref")
print(hdr)
print("-" * len(hdr))
keys = [("train", 32, 32), ("train", 32, 64)] + [("infer", b, s) for b in (1, 32) for s in (16, 32, 64)]
for key in keys:
    o = stat("ours", key, "ms")
    rr = stat("ref", key, "ms") if ref else None
    def cell(x):
        if not x:
            return "-"
        return "%.3f (%.3f-%.3f)" % x[:3] if x[0] < 10 else "%.2f (%.2f-%.2f)" % x[:3]
    b = key[1]
    oe = "%.0f" % (b / o[0] * 1e3) if o else "-"
    re_ = "%.0f" % (b / rr[0] * 1e3) if rr else "-"
    ratio = "%.2fx" % (rr[0] / o[0]) if o and rr else "-"
    print("%-22s %-26s %-26s %9s %9s %7s" % ("%s b=%d s=%d" % key, cell(o), cell(rr), oe, re_, ratio))
print()
g = stat("ours", ("train", 32, 64), "gflop_s")
if g:
    line = "training step b=32 s=64: ours %.1f GFLOP/s (matmul FLOPs) = %.0f%% of the %s GFLOP/s FMA peak (FMA_PEAK_GFLOPS)" % (
        g[0], 100 * g[0] / float(nominal), nominal)
    print(line)
    if float(nominal) > 0:
        print("  target >= 60%% of the FMA peak: %s" % ("met" if 100 * g[0] / float(nominal) >= 60 else "NOT met"))
    gr = stat("ref", ("train", 32, 64), "gflop_s") if ref else None
    if gr:
        print("                         ref  %.1f GFLOP/s = %.0f%% of %s" % (gr[0], 100 * gr[0] / float(nominal), nominal))
def ratio(key):
    o, rr = stat("ours", key, "ms"), stat("ref", key, "ms") if ref else None
    return rr[0] / o[0] if o and rr else None
print()
print("issue targets (ratios of this run):")
for key, want in ((("train", 32, 32), 2), (("train", 32, 64), 2), (("infer", 1, 16), 3)):
    x = ratio(key)
    if x is not None:
        print("  %s b=%d s=%d: %.2fx, target >= %dx: %s" % (key + (x, want, "met" if x >= want else "NOT met")))
o = stat("ours", ("infer", 1, 16), "ms")
if o:
    print("  infer b=1 s=16: %.3f ms, target < 0.2 ms: %s" % (o[0], "met" if o[0] < 0.2 else "NOT met"))
PYEOF
