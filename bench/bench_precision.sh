#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_precision.sh - inference at fp32, bf16 and int8 side by side with
# PyTorch's fp32, dynamic int8 (quantize_dynamic on the Linear layers) and
# bf16 (autocast on CPU), at batch 1 and 32, sequence SEQ (16), at two
# shapes:
#   tiny  2 layers, hidden 128, 2 heads, intermediate 512 (bert-tiny)
#   base 12 layers, hidden 768, 12 heads, intermediate 3072 (bert-base)
# bench/bench_precision.c (ours) and bench/precision_ref.py (ref) run
# interleaved in separate processes, BENCH_RUNS times per shape; the table
# gives medians over runs (min-max), our speed-up over our fp32, and ref/ours
# at each precision (> 1: ours faster). Load average printed with the figures.
#   bench/bench_precision.sh [BUILD_DIR]
# Environment: BENCH_RUNS (3), THREADS (2), PREC_SHAPES ("tiny base"),
# SEQ (16), BENCH_WINDOWS (3), BENCH_MODEL_SKIP_REF=1.
set -u
cd "$(dirname "$0")/.."
build=${1:-${BUILD:-build}}
. bench/common.sh
THREADS=${THREADS:-2}
SHAPES=${PREC_SHAPES:-tiny base}
SEQ=${SEQ:-16}
WINDOWS=${BENCH_WINDOWS:-3}
[ -f "$build/libintent.a" ] || { echo "bench_precision: $build/libintent.a not built"; exit 1; }
bin=$build/bench
bench_cc "$build" bench/bench_precision.c "$bin/bench_precision" ||
    { echo "bench_precision: cannot build bench_precision"; exit 1; }

ref=1 ref_why=""
if [ "${BENCH_MODEL_SKIP_REF:-0}" = 1 ]; then ref=0; ref_why="BENCH_MODEL_SKIP_REF=1"
elif ! ref_torch_ok; then ref=0; ref_why="$PY cannot import torch (apt-get install python3-torch)"; fi
REFENV=$(ref_env)

shape_args() {
    case $1 in
    tiny) echo "--layers 2 --hidden 128 --heads 2 --inter 512" ;;
    base) echo "--layers 12 --hidden 768 --heads 12 --inter 3072" ;;
    *) return 1 ;;
    esac
}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
load0=$(cat /proc/loadavg)
for shape in $SHAPES; do
    sa=$(shape_args "$shape") || { echo "bench_precision: unknown shape $shape (tiny, base)"; exit 2; }
    common="$sa --seq $SEQ --windows $WINDOWS --threads $THREADS"
    for r in $(seq 1 "$RUNS"); do
        # shellcheck disable=SC2086
        "$bin/bench_precision" $common >"$out/ours.$shape.$r" 2>&1 ||
            echo "bench_precision: ours $shape failed (run $r): $(tail -1 "$out/ours.$shape.$r")"
        # shellcheck disable=SC2086
        [ $ref = 1 ] && { env "$REFENV" "$PY" bench/precision_ref.py $common >"$out/ref.$shape.$r" 2>&1 ||
            echo "bench_precision: ref $shape failed (run $r): $(tail -1 "$out/ref.$shape.$r")"; }
    done
done
load1=$(cat /proc/loadavg)

"$PY" - "$out" "$RUNS" "$ref" "$ref_why" "$THREADS" "$SEQ" "$load0" "$load1" "$SHAPES" <<'PYEOF'
import glob, os, re, statistics, sys
out, runs, ref, why, threads, seq, load0, load1, shapes = sys.argv[1:10]
ref = ref == "1"
rows, heads = {}, {}
for p in sorted(glob.glob(os.path.join(out, "*.*.*"))):
    side, shape, _ = os.path.basename(p).split(".")
    for line in open(p, errors="replace"):
        if line.startswith("# "):
            heads.setdefault(side, line[2:].strip().split(": ", 1)[-1])
            continue
        m = re.match(r"(ours|ref) (\w+) infer b=(\d+) s=(\d+) ms=([0-9.]+)", line)
        if m:
            rows.setdefault((side, shape, m.group(2), int(m.group(3))), []).append(float(m.group(5)))

def stat(key):
    v = rows.get(key)
    return (statistics.median(v), min(v), max(v)) if v else None

def cell(x):
    if not x:
        return "-"
    return ("%.1f (%.1f-%.1f)" if x[0] >= 10 else "%.3f (%.3f-%.3f)") % x

def ratio(a, b):
    return "%.2fx" % (a[0] / b[0]) if a and b else "-"

names = {"tiny": "2x128", "base": "12x768"}
print("Inference at fp32 / bf16 / int8, batch 1 and 32, seq %s, %s threads;" % (seq, threads))
print("medians of %s interleaved runs (min-max over runs), ms per forward" % runs)
print("  ours: %s" % heads.get("ours", "?"))
print("  ref:  %s" % (heads.get("ref", "?") if ref else "skipped: " + why))
print("  load average before: %s   after: %s" % (" ".join(load0.split()[:3]), " ".join(load1.split()[:3])))
print()
hdr = "%-7s %-5s %-5s %-24s %-24s %9s %9s" % ("shape", "batch", "prec", "ours ms (min-max)",
                                            "ref ms (min-max)", "vs fp32", "ref/ours")
print(hdr)
print("-" * len(hdr))
for shape in shapes.split():
    for b in (1, 32):
        of = stat(("ours", shape, "fp32", b))
        for p in ("fp32", "bf16", "int8"):
            o = stat(("ours", shape, p, b))
            r = stat(("ref", shape, p, b)) if ref else None
            print("%-7s %-5d %-5s %-24s %-24s %9s %9s" % (names.get(shape, shape), b, p, cell(o),
                  cell(r), ratio(of, o), ratio(r, o)))
print()
print("vs fp32: our fp32 time over this precision's (our speed-up); ref/ours: PyTorch's time")
print("at the same precision over ours (> 1: ours faster).")
PYEOF
