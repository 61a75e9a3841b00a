#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_tok_families.sh - tokenizer throughput (MB/s of UTF-8 text, one
# core) of byte-level BPE and SentencePiece Unigram next to Hugging Face's
# Rust tokenizer (npm `tokenizers`, tools/package.json) on the same texts:
# fb_mtod_es (not distributed here: bench/README.md). Runs alternate
# (intent, npm, intent, npm, ...) so both see the same machine load; each
# run reports the median of ROUNDS rounds; the table gives the median over
# RUNS runs and the ratio.
#   bench/bench_tok_families.sh [BUILD_DIR]
# Environment: FB_MTOD (dataset dir, default ../shared/datasets/fb_mtod_es),
# TOKENIZERS_DIR (../shared/tokenizers; without it the small committed
# tests/golden/tok/tiny_bpe and tiny_unigram), RUNS (3), ROUNDS (5).
set -u
cd "$(dirname "$0")/.."
build=${1:-${BUILD:-build}}
D=${FB_MTOD:-../shared/datasets/fb_mtod_es}
TD=${TOKENIZERS_DIR:-../shared/tokenizers}
RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-5}
if [ ! -d "$D" ]; then echo "skip: need $D (FB_MTOD)"; exit 0; fi
if [ ! -d tools/node_modules/tokenizers ]; then
    echo "skip: npm tokenizers missing (cd tools && npm install)"; exit 0
fi
if [ -d "$TD/roberta-base" ] && [ -d "$TD/xlm-roberta" ]; then
    toks="$TD/roberta-base $TD/xlm-roberta"
else
    toks="tests/golden/tok/tiny_bpe tests/golden/tok/tiny_unigram"
fi
cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc bench/bench_tok_families.c "$build/libintent.a" \
    $(pkg-config --libs jansson libutf8proc) -lm -fopenmp -o "$build/bench_tok_families" || exit 1
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
export TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1
printf '%-34s %10s %10s %8s\n' "tokenizer (texts)" "intent" "npm" ratio
for tk in $toks; do
    # GROUP 1: the dataset's short texts; 100: every 100 joined (long texts,
    # where the package's per-call cost matters less)
    for group in 1 100; do
        a=() b=()
        for r in $(seq "$RUNS"); do
            x=$(taskset -c 0 "$build/bench_tok_families" "$tk" "$D" "$ROUNDS" "$group" |
                sed -n 's/.*: \([0-9.]*\) MB\/s.*/\1/p')
            y=$(taskset -c 0 node bench/tok_families_ref.mjs "$tk" "$D" "$ROUNDS" "$group" |
                sed -n 's/.*rounds: \([0-9.]*\) MB\/s.*/\1/p')
            a+=("${x:-0}") b+=("${y:-0}")
        done
        ma=$(printf '%s\n' "${a[@]}" | median) mb=$(printf '%s\n' "${b[@]}" | median)
        printf '%-34s %7s MB/s %5s MB/s %7s\n' "$(basename "$tk") ($([ "$group" = 1 ] && echo short || echo "x$group joined"))" \
            "$ma" "$mb" "$(awk -v a="$ma" -v b="$mb" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')"
    done
done
