#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# resume.sh - the epoch checkpoint and --resume in one process: a run killed
# (SIGKILL) after an epoch leaves the previous model in the output folder
# untouched, and the rerun with --resume ends with the model an uninterrupted
# run saves, bit for bit; checkpoints of another run are refused with the
# field named, damaged ones as damaged. Usage: resume.sh BUILD_DIR
set -u
B=${1:-build}
case $B in /*) ;; *) B="$PWD/$B" ;; esac
BIN="$B/intent"
T=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT
export HF_HOME="$T/hf" HF_HUB_OFFLINE=1
unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE MLFLOW_TRACKING_URI MLFLOW_EXPERIMENT_NAME
for v in $(env | sed -n 's/^\(INTENT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }
sha() { sha256sum "$1/model.safetensors" 2>/dev/null | cut -c1-64; }

# big enough that an epoch takes a visible fraction of a second
RUN=(--data data/dataset_v2.json --no-tracking --epochs 5 --learning-rate 0.003
     --scratch-hidden-size 64 --scratch-layers 2 --scratch-heads 2
     --scratch-intermediate-size 256 --scratch-vocab-size 400 --max-length 32
     --batch-size 16 --threads 1 --seed 11 --logging-steps 1000)

"$BIN" train "${RUN[@]}" --output "$T/full" >"$T/full.log" 2>&1 ||
    { fail resume_reference "$(tail -3 "$T/full.log")"; exit 1; }
want=$(sha "$T/full")

# a previous model in the output folder, then a run killed after an epoch
"$BIN" train "${RUN[@]}" --epochs 1 --output "$T/out" >"$T/old.log" 2>&1 ||
    { fail resume_previous "$(tail -3 "$T/old.log")"; exit 1; }
old=$(sha "$T/out")
"$BIN" train "${RUN[@]}" --output "$T/out" --resume >"$T/crash.log" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do [ -e "$T/out.ckpt" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.01; done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ ! -e "$T/out.ckpt" ]; then
    fail resume_killed "no checkpoint before the run ended: $(tail -3 "$T/crash.log")"
elif [ "$(sha "$T/out")" != "$old" ]; then
    fail resume_killed "the previous model in the output folder changed"
else
    ok resume_killed_keeps_previous_model
fi

"$BIN" train "${RUN[@]}" --output "$T/out" --resume >"$T/resume.log" 2>&1
rc=$?
if [ $rc != 0 ]; then
    fail resume_bit_identical "rc $rc: $(tail -3 "$T/resume.log")"
elif ! grep -q 'resume: .*continuing after epoch' "$T/resume.log"; then
    fail resume_bit_identical "no resume line: $(grep -i resume "$T/resume.log")"
elif [ "$(sha "$T/out")" != "$want" ]; then
    fail resume_bit_identical "resumed model $(sha "$T/out") != uninterrupted $want"
elif [ -e "$T/out.ckpt" ]; then
    fail resume_bit_identical "checkpoint left after the final save"
else
    ok resume_bit_identical
fi

# a checkpoint of another run: refused, naming what differs
"$BIN" train "${RUN[@]}" --epochs 2 --epoch-checkpoint --output "$T/o2" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 3000); do [ -e "$T/o2.ckpt" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.01; done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ -e "$T/o2.ckpt" ]; then
    cp "$T/o2.ckpt" "$T/keep.ckpt"
    err=$("$BIN" train "${RUN[@]}" --batch-size 8 --output "$T/o2" --resume 2>&1); rc=$?
    if [ $rc != 0 ] && printf '%s' "$err" | grep -q 'o2.ckpt: written by a run with 16 batch_size, this run has 8'; then
        ok resume_refuses_other_run
    else
        fail resume_refuses_other_run "rc $rc: $err"
    fi
    head -c 1000 "$T/keep.ckpt" >"$T/o2.ckpt"
    err=$("$BIN" train "${RUN[@]}" --output "$T/o2" --resume 2>&1); rc=$?
    if [ $rc != 0 ] && printf '%s' "$err" | grep -q 'o2.ckpt: truncated or damaged checkpoint'; then
        ok resume_refuses_damaged
    else
        fail resume_refuses_damaged "rc $rc: $err"
    fi
else
    fail resume_refuses_other_run "no checkpoint written"
fi
