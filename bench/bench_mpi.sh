#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_mpi.sh - data-parallel training under mpirun (docs/scale-out.md):
#   1. per optimizer step, compute (forward, backward, AdamW) and all-reduce
#      time, from `intent train`'s "step time" line, at two shapes:
#        tiny  bert-tiny's shape (2 layers, hidden 128, 2 heads, ffn 512)
#        base  bert-base's shape (12 layers, hidden 768, 12 heads, ffn 3072)
#      each as 1 process x 1 thread, 1 process x 2 threads and 2 processes x
#      1 thread, global batch BATCH (32; BASE_BATCH, 16, at the base shape),
#      a few steps (TINY_STEPS, BASE_STEPS);
#      from-scratch models, so the vocabulary is the one trained on
#      data/dataset_v2.json (smaller than bert's 30522: the parameter count
#      printed is the one reduced);
#   2. the all-reduce alone (bench_allreduce.c) on 2 ranks, over loopback TCP
#      (the transport between nodes) and over shared memory (Open MPI's vader,
#      what ranks on one node use): time and bandwidth for 4, 17.6 (bert-tiny's
#      gradients) and 64 MB;
#   3. a model of multi-node scaling: per-node batch fixed (weak scaling, as
#      the published Hugging Face + oneCCL figures), step(N) = compute +
#      2 (N-1)/N x gradient bytes / bandwidth + 2 (N-1) x latency, for 2, 4, 8
#      nodes at the measured loopback bandwidth and at 10 and 100 Gbit/s,
#      with the faster single-process compute measured here as one node's.
# The machine this ran on may have fewer cores than ranks x threads and other
# load: the load average is printed with the figures; read them as such.
#   bench/bench_mpi.sh [BUILD_DIR]
# Environment: BATCH (32), BASE_BATCH (16), TINY_STEPS (20), BASE_STEPS (2), SHAPES
# ("tiny base"), BENCH_REPS (5, all-reduce repetitions).
set -u
cd "$(dirname "$0")/.."
build=${1:-${BUILD:-build}}
. bench/common.sh
BATCH=${BATCH:-32}
TINY_STEPS=${TINY_STEPS:-20}
BASE_STEPS=${BASE_STEPS:-2}
BASE_BATCH=${BASE_BATCH:-16}
SHAPES=${SHAPES:-tiny base}
BIN="$build/intent"

if ! command -v mpirun >/dev/null || ! ldd "$BIN" 2>/dev/null | grep -q 'libmpi\.so'; then
    echo "skip bench_mpi: needs mpirun and a build with MPI (scripts/install-deps.sh; make)"
    exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export HF_HOME="$T/hf" HF_HUB_OFFLINE=1
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_plm_rsh_agent= OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)

echo "bench_mpi: $(nproc) cores, load average $(loadavg) before; global batch $BATCH"

# data: enough examples for STEPS global batches, no evaluation
subset() { # steps batch -> file
    "$PY" -c 'import json,sys; d=json.load(open("data/dataset_v2.json")); n=int(sys.argv[1])
json.dump([d[i * 37 % len(d)] for i in range(n)], open(sys.argv[2], "w"), ensure_ascii=False)' $(($1 * $2)) "$T/data$1-$2.json"
    echo "$T/data$1-$2.json"
}
batch_of() { if [ "$1" = base ]; then echo "$BASE_BATCH"; else echo "$BATCH"; fi; }

shape_args() {
    case $1 in
        tiny) echo "--scratch-hidden-size 128 --scratch-layers 2 --scratch-heads 2 --scratch-intermediate-size 512" ;;
        base) echo "--scratch-hidden-size 768 --scratch-layers 12 --scratch-heads 12 --scratch-intermediate-size 3072" ;;
    esac
}

# one training run; prints "compute_ms allreduce_ms MB examples_per_s"
train_once() { # shape steps procs threads
    local data log b
    b=$(batch_of "$1")
    data=$(subset "$2" "$b")
    log="$T/$1-$3x$4.log"
    # shellcheck disable=SC2046
    local cmd=("$BIN" train --data "$data" --eval-fraction 0 --no-calibrate --no-tracking
               --epochs 1 --batch-size "$b" --max-length 32 --threads "$4" --seed 3
               --logging-steps 100000 --scratch-vocab-size 8000 $(shape_args "$1"))
    if [ "$3" = 1 ]; then "${cmd[@]}" >"$log" 2>&1; else "${MPIRUN[@]}" -n "$3" "${cmd[@]}" >"$log" 2>&1; fi || {
        echo "bench_mpi: $1 $3x$4 failed: $(tail -2 "$log")" >&2; return 1; }
    sed -n 's/.*step time: \([0-9.]*\) ms compute, \([0-9.]*\) ms all-reduce of \([0-9.]*\) MB.*/\1 \2 \3/p' "$log" | tr '\n' ' '
    sed -n 's/.*trained [0-9]* steps (\([0-9.]*\) examples\/s).*/\1/p' "$log"
}

declare -A RES
params_mb() { # shape -> MB of fp32 gradients (from the 2-rank run's line)
    echo "${RES[$1-2x1]}" | awk '{print $3}'
}
printf '\n%-5s %-22s %12s %14s %12s %10s\n' shape "processes x threads" "compute ms" "all-reduce ms" "step ms" "ex/s"
for s in $SHAPES; do
    steps=$TINY_STEPS
    [ "$s" = base ] && steps=$BASE_STEPS
    for pt in 1x1 1x2 2x1; do
        r=$(train_once "$s" "$steps" "${pt%x*}" "${pt#*x}") || continue
        RES[$s-$pt]=$r
        echo "$r" | awk -v s="$s" -v pt="$pt" '{printf "%-5s %-22s %12.1f %14.1f %12.1f %10.1f\n", s, pt, $1, $2, $1 + $2, $4}'
    done
    [ -n "${RES[$s-2x1]:-}" ] && echo "      ($s: $(params_mb "$s") MB of fp32 gradients summed per step)"
done

echo
bench_cc "$build" bench/bench_allreduce.c "$build/bench/bench_allreduce" || { echo "bench_mpi: cannot build bench_allreduce" >&2; exit 1; }
for btl in tcp vader; do
    echo "all-reduce over $btl:"
    OMPI_MCA_btl=self,$btl "${MPIRUN[@]}" -n 2 "$build/bench/bench_allreduce" 4 17.6 64 | tee "$T/ar-$btl.txt"
done
bw=$(awk '/17.6 MB/ {for (i = 1; i <= NF; i++) if ($i == "busbw") print $(i + 1)}' "$T/ar-tcp.txt")

echo
echo "model of N nodes, per-node batch as measured (weak scaling): speed-up over one node"
echo "  step(N) = compute(1 node) + 2(N-1)/N x bytes / bandwidth + 2(N-1) x 50 us"
for s in $SHAPES; do
    comp=$(printf '%s\n' "${RES[$s-1x1]:-}" "${RES[$s-1x2]:-}" | awk 'NF && (m == "" || $1 < m) {m = $1} END {print m}')
    [ -n "$comp" ] || continue
    case $s in tiny) mb=17.6; name="bert-tiny (4.39M params, 17.6 MB)";; base) mb=438; name="bert-base (109.5M params, 438 MB)";; esac
    printf '  %s, compute %.0f ms/step on one node (the faster single process here)\n' "$name" "$comp"
    for link in "lo-tcp ${bw:-1}" "10GbE 1.25" "100GbE 12.5"; do
        set -- $link
        awk -v c="$comp" -v mb="$mb" -v bw="$2" -v name="$1" 'BEGIN {
            printf "    %-9s %6.2f GB/s:", name, bw
            for (n = 2; n <= 8; n *= 2) {
                ar = 2 * (n - 1) / n * mb / 1000 / bw * 1000 + 2 * (n - 1) * 0.05
                printf "  %d nodes %.2fx (all-reduce %.0f ms)", n, n * c / (c + ar), ar
            }
            printf "\n" }'
    done
done
echo "  published, Hugging Face Trainer + oneCCL on Xeon nodes: about 1.7x on 2 nodes, 3x on 4"
echo "bench_mpi: load average $(loadavg) after"
