#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_tokenizer.sh - builds bench/bench_tokenizer.c against BUILD_DIR's
# libintent.a and runs it on fb_mtod_es (CC BY-SA, not distributed here:
# bench/README.md) with the bert-base-uncased
# vocabulary: tokens/s and MB/s on one core (fastest round and mean).
#   bench/bench_tokenizer.sh [BUILD_DIR]
# Environment: FB_MTOD (dataset dir, default ../shared/datasets/fb_mtod_es),
# BERT_VOCAB (default ../shared/vocab/bert-base-uncased.txt), SECONDS_BENCH (3).
set -u
cd "$(dirname "$0")/.."
build=${1:-${BUILD:-build}}
D=${FB_MTOD:-../shared/datasets/fb_mtod_es}
V=${BERT_VOCAB:-../shared/vocab/bert-base-uncased.txt}
if [ ! -d "$D" ] || [ ! -s "$V" ]; then
    echo "skip: need $D (FB_MTOD) and $V (BERT_VOCAB)"; exit 0
fi
cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc bench/bench_tokenizer.c "$build/libintent.a" \
    $(pkg-config --libs jansson libutf8proc) -lm -o "$build/bench_tokenizer" || exit 1
"$build/bench_tokenizer" "$D" "$V" "${SECONDS_BENCH:-3}"
