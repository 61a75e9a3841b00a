#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# valgrind.sh - runs a tiny `intent train`, `intent predict` (arguments and
# stdin, directory and .pt) and `intent serve` (every route, a reload, a
# malformed request, SIGTERM) under valgrind --leak-check=full and reports
# leaks and memory errors. Exit status non-zero when valgrind finds any
# definite or indirect leak or any error.
#   scripts/valgrind.sh [BUILD_DIR]   (default build; a plain, non-sanitizer build)
# Reports are kept in $VALGRIND_OUT (default: a temporary directory, printed).
#
# OpenMP: libgomp keeps its thread pool alive at exit ("possibly lost" /
# "still reachable" blocks from pthread_create); those are not counted. The
# run uses OMP_NUM_THREADS=2 so the threaded kernels are still exercised.
set -u
B=${1:-build}
[ -d "$B" ] && B=$(cd "$B" && pwd)
cd "$(dirname "$0")/.." || exit 2
BIN="$B/intent"
if ! command -v valgrind >/dev/null; then echo "skip valgrind: valgrind is not installed"; exit 0; fi
if nm "$BIN" 2>/dev/null | grep -q '__asan_init\|__tsan_init'; then
    echo "valgrind.sh: $BIN is a sanitizer build; give a plain build directory" >&2; exit 2
fi
OUT=${VALGRIND_OUT:-$(mktemp -d /tmp/intent-valgrind.XXXXXX)}
mkdir -p "$OUT"
T=$(mktemp -d /tmp/intent-vg.XXXXXX)
SPID=
trap '[ -n "$SPID" ] && kill -9 $SPID 2>/dev/null; rm -rf "$T"' EXIT
export HF_HOME="$T/hf" HF_HUB_OFFLINE=1 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1
unset MLFLOW_TRACKING_URI
VG=(valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
    --error-exitcode=99 --track-origins=yes --num-callers=30)
fail=0
check() { # NAME LOGFILE RC
    local name=$1 log=$2 rc=$3 def ind err
    def=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -n 1 | tr -d ,)
    ind=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -n 1 | tr -d ,)
    err=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -n 1)
    if [ -z "$err" ]; then
        echo "FAIL valgrind_$name: no valgrind summary (exit $rc); see $log"; fail=1
    elif [ "${def:-0}" != 0 ] || [ "${ind:-0}" != 0 ] || [ "$err" != 0 ]; then
        echo "FAIL valgrind_$name: definitely lost ${def:-0} B, indirectly lost ${ind:-0} B, $err error(s); see $log"
        grep -A25 -E 'definitely lost in|indirectly lost in|Invalid (read|write)|uninitialised|Mismatched' "$log" |
            head -n 60 | sed 's/^/    /'
        fail=1
    else
        echo "ok valgrind_$name: no leaks, no errors (exit $rc)"
    fi
}

# --- train (tiny, from scratch, with the file-store tracker) ---------------------
"${VG[@]}" --log-file="$OUT/train.log" "$BIN" train --data tests/golden/data/train_small.json \
    --output "$T/model" --epochs 2 --scratch-hidden-size 32 --scratch-layers 1 --scratch-heads 2 \
    --scratch-intermediate-size 64 --scratch-vocab-size 300 --max-length 32 --batch-size 16 \
    --threads 2 --seed 1 --tracking-uri "$T/mlruns" --system-metrics-interval 0.5 >"$OUT/train.out" 2>&1
rc=$?
check train "$OUT/train.log" $rc
[ -s "$T/model/model.safetensors" ] || { echo "FAIL valgrind_train: no model saved (exit $rc)"; tail -n 5 "$OUT/train.out"; exit 1; }

# --- predict: arguments, stdin, the .pt file, top-k ----------------------------------
"${VG[@]}" --log-file="$OUT/predict.log" "$BIN" predict --model "$T/model" --top-k 3 \
    "hola que tal" "pon una alarma a las siete" >"$OUT/predict.out" 2>&1
check predict_args "$OUT/predict.log" $?
printf 'que tiempo hace\n\nnoticias de hoy\n' | "${VG[@]}" --log-file="$OUT/predict_stdin.log" \
    "$BIN" predict --model "$T/model/intent_classifier.pt" >"$OUT/predict_stdin.out" 2>&1
check predict_stdin_pt "$OUT/predict_stdin.log" $?

# --- serve: every route, a bad request, a reload, SIGTERM ------------------------------
if ! command -v curl >/dev/null; then
    echo "skip valgrind_serve: curl is not installed"
else
    "${VG[@]}" --log-file="$OUT/serve.log" "$BIN" serve --model "$T/model" --host 127.0.0.1 --port 0 \
        --threads 2 2>"$OUT/serve.err" &
    SPID=$!
    PORT=
    for _ in $(seq 1 600); do
        PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$OUT/serve.err" | head -n 1)
        [ -n "$PORT" ] && break
        kill -0 $SPID 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$PORT" ]; then
        echo "FAIL valgrind_serve: the server did not start: $(tail -n 3 "$OUT/serve.err")"; fail=1
    else
        U="http://127.0.0.1:$PORT"
        J='Content-Type: application/json'
        {
            curl -s "$U/health"; curl -s "$U/intents"; curl -s "$U/metrics" >/dev/null
            curl -s "$U/openapi.json" >/dev/null; curl -s "$U/docs" >/dev/null; curl -s "$U/nope"
            curl -s -X POST -H "$J" -d '{"text":"hola"}' "$U/classify"
            curl -s -X POST -H "$J" -d '{"text":"hola","top_k":3}' "$U/classify"
            curl -s -X POST -H "$J" -d '{"texts":["hola","adios","que tiempo hace"]}' "$U/classify/batch"
            curl -s -X POST -H "$J" -d '{"text":' "$U/classify"
            curl -s -X POST -H "$J" -d '{"text":""}' "$U/classify"
            curl -s -X GET "$U/classify"
            kill -HUP $SPID; sleep 2
            curl -s -X POST -H "$J" -d '{"text":"hola otra vez"}' "$U/classify"
        } >"$OUT/serve.out" 2>&1
        kill -TERM $SPID
    fi
    wait $SPID; rc=$?
    SPID=
    check serve "$OUT/serve.log" $rc
fi
echo "(valgrind reports in $OUT)"
exit $fail
