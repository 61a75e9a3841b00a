#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_archs.sh - every architecture (bert, roberta, distilbert, electra)
# side by side with the PyTorch reference at its real shape class:
#   small  6 layers, hidden 384, 12 heads, intermediate 1536 (MiniLM, e5-small)
#   base  12 layers, hidden 768, 12 heads, intermediate 3072 (bert-base, roberta-base)
# at sequence SEQ (default 16): training step at batch 32 (bench/bench_arch.c
# vs bench/arch_ref.py: forward with dropout, backward, clip 1.0, AdamW,
# linear schedule) and inference at batch 1 and 32 (eval mode, no gradients).
# Ours and the reference run interleaved in separate processes (ours, ref,
# ours, ref, ... BENCH_RUNS times per architecture and shape); the table
# gives the median over runs, the min-max spread and the speed ratio ref/ours
# (> 1: ours faster). The BERT rows are the yardstick: another architecture's
# ratio should not be lower than BERT's at the same shape. The load average
# before and after is printed with the figures.
#   bench/bench_archs.sh [BUILD_DIR]
# Environment: BENCH_RUNS (3), THREADS (2), ARCH_SHAPES ("small base"),
# ARCHS ("bert roberta distilbert electra"), SEQ (16), ARCH_STEPS (timed
# training steps per process after one warm-up, 2), BENCH_WINDOWS (3),
# BENCH_MODEL_SKIP_REF=1. The base shape alone, briefly (one sample per
# figure, about 3 minutes per architecture at 1 thread on 2 loaded cores):
#   THREADS=1 BENCH_RUNS=1 ARCH_STEPS=1 BENCH_WINDOWS=1 ARCH_SHAPES=base bench/bench_archs.sh
set -u
cd "$(dirname "$0")/.."
build=${1:-${BUILD:-build}}
. bench/common.sh
THREADS=${THREADS:-2}
SHAPES=${ARCH_SHAPES:-small base}
ARCHS=${ARCHS:-bert roberta distilbert electra}
SEQ=${SEQ:-16}
STEPS=${ARCH_STEPS:-2}
WINDOWS=${BENCH_WINDOWS:-3}
[ -f "$build/libintent.a" ] || { echo "bench_archs: $build/libintent.a not built (make BUILD=$build)"; exit 1; }
bin=$build/bench
bench_cc "$build" bench/bench_arch.c "$bin/bench_arch" || { echo "bench_archs: cannot build bench_arch"; exit 1; }

ref=1
ref_why=""
if [ "${BENCH_MODEL_SKIP_REF:-0}" = 1 ]; then
    ref=0; ref_why="BENCH_MODEL_SKIP_REF=1"
elif ! ref_torch_ok; then
    ref=0; ref_why="$PY cannot import torch (apt-get install python3-torch)"
fi
REFENV=$(ref_env)

shape_args() {
    case $1 in
    small) echo "--layers 6 --hidden 384 --heads 12 --inter 1536" ;;
    base) echo "--layers 12 --hidden 768 --heads 12 --inter 3072" ;;
    *) return 1 ;;
    esac
}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
load0=$(cat /proc/loadavg)
for shape in $SHAPES; do
    sa=$(shape_args "$shape") || { echo "bench_archs: unknown shape $shape (small, base)"; exit 2; }
    for arch in $ARCHS; do
        common="--arch $arch $sa --seq $SEQ --steps $STEPS --windows $WINDOWS --threads $THREADS"
        for r in $(seq 1 "$RUNS"); do
            # shellcheck disable=SC2086
            "$bin/bench_arch" $common >"$out/ours.$shape.$arch.$r" 2>&1 ||
                echo "bench_archs: bench_arch $arch $shape failed (run $r)"
            # shellcheck disable=SC2086
            [ $ref = 1 ] && { env "$REFENV" "$PY" bench/arch_ref.py $common >"$out/ref.$shape.$arch.$r" 2>&1 ||
                echo "bench_archs: arch_ref.py $arch $shape failed (run $r)"; }
        done
    done
done
load1=$(cat /proc/loadavg)

"$PY" - "$out" "$RUNS" "$ref" "$ref_why" "$THREADS" "$SEQ" "$load0" "$load1" "$SHAPES" "$ARCHS" <<'PYEOF'
import glob, os, re, statistics, sys
out, runs, ref, why, threads, seq, load0, load1, shapes, archs = sys.argv[1:11]
ref = ref == "1"
rows, heads = {}, {}
for p in sorted(glob.glob(os.path.join(out, "*.*.*.*"))):
    side, shape, arch, _ = os.path.basename(p).split(".")
    for line in open(p, errors="replace"):
        if line.startswith("# "):
            heads.setdefault(side, line[2:].strip().split(": ", 1)[-1].split(", %s " % arch)[0])
            continue
        m = re.match(r"(ours|ref) (train|infer) b=(\d+) s=(\d+) ms=([0-9.]+)", line)
        if m:
            rows.setdefault((side, shape, arch, m.group(2), int(m.group(3))), []).append(float(m.group(5)))

def stat(key):
    v = rows.get(key)
    return (statistics.median(v), min(v), max(v)) if v else None

def cell(x):
    if not x:
        return "-"
    f = "%.1f (%.1f-%.1f)" if x[0] >= 10 else "%.2f (%.2f-%.2f)"
    return f % x
names = {"small": "6x384", "base": "12x768"}
print("Architectures, batch 32 training step and batch 1/32 inference, seq %s, %s threads;" % (seq, threads))
print("medians of %s interleaved runs (min-max over runs), ms" % runs)
print("  ours: %s" % heads.get("ours", "?"))
print("  ref:  %s" % (heads.get("ref", "?") if ref else "skipped: " + why))
print("  load average before: %s   after: %s" % (" ".join(load0.split()[:3]), " ".join(load1.split()[:3])))
print()
hdr = "%-7s %-11s %-14s %-24s %-24s %8s %9s" % ("shape", "arch", "figure", "ours ms (min-max)",
                                               "ref ms (min-max)", "ref/ours", "vs BERT")
print(hdr)
print("-" * len(hdr))
for shape in shapes.split():
    for arch in archs.split():
        for what, b in (("train", 32), ("infer", 1), ("infer", 32)):
            o = stat(("ours", shape, arch, what, b))
            r = stat(("ref", shape, arch, what, b)) if ref else None
            ratio = r[0] / o[0] if o and r else None
            ob = stat(("ours", shape, "bert", what, b))
            rb = stat(("ref", shape, "bert", what, b)) if ref else None
            vs = "-"
            if ratio and ob and rb and arch != "bert":
                vs = "%.2f" % (ratio / (rb[0] / ob[0]))
            print("%-7s %-11s %-14s %-24s %-24s %8s %9s" % (
                names.get(shape, shape), arch, "%s b=%d" % (what, b), cell(o), cell(r),
                "%.2fx" % ratio if ratio else "-", vs))
print()
print("vs BERT: this architecture's ref/ours ratio over BERT's at the same shape and figure")
print("(>= 1: not slower relative to PyTorch than the BERT path).")
PYEOF
