#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# faults.sh - fault tests: what happens to a saved model and a running server
# when the world misbehaves.
#   - the output disk full during a save (a small tmpfs when we may mount
#     one, and always an injected ENOSPC), and read-only (tmpfs remounted
#     ro, and an injected EROFS): the save fails with a message, no
#     half-written model, the earlier model in that place intact;
#   - the process SIGKILLed during a save (while writing, just before and
#     just after the final rename): the directory holds the old model or the
#     complete new one, never a partial one;
#   - the model file replaced while serving: SIGHUP picks the new one, a
#     truncated one is refused and the old keeps serving, with requests in
#     flight answered throughout;
#   - the MLflow server dying mid-run (tests/tools/mlflow_stub.py, killed):
#     training finishes, the model is saved, one warning;
#   - the Hub connection dropping mid-download (tests/tools/hub_stub.py):
#     resumed, or failed and later resumed, never a corrupt cache entry.
# Faults are injected with tests/tools/faultshim.c (LD_PRELOAD), built here.
#   bash tests/e2e/faults.sh BUILD_DIR
set -u
B=${1:-build}
B=$(cd "$B" 2>/dev/null && pwd) || { echo "FAIL faults: no build directory ${1:-build}"; exit 1; }
cd "$(dirname "$0")/../.." || exit 1
BIN="$B/intent"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
G=tests/golden/data
T=$(mktemp -d /tmp/intent-faults.XXXXXX)
MNT=
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    exec 3>&- 4>&- 2>/dev/null
    [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

ok() { echo "ok faults_$1"; }
fail() { echo "FAIL faults_$1: $2"; }
skip() { echo "skip faults_$1: $2"; }

export HF_HOME="$T/hf" HF_HUB_OFFLINE=1 INTENT_LOG=info
unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE MLFLOW_TRACKING_URI MLFLOW_EXPERIMENT_NAME HF_ENDPOINT HF_TOKEN
for v in $(env | sed -n 's/^\(INTENT_[A-Z_]*\)=.*/\1/p'); do [ "$v" = INTENT_LOG ] || unset "$v"; done
# ASan binaries accept a preloaded library only with this
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

TINY=(--scratch-hidden-size 32 --scratch-layers 1 --scratch-heads 2
      --scratch-intermediate-size 64 --scratch-vocab-size 300 --max-length 32
      --batch-size 16 --threads 1 --logging-steps 100 --epochs 1)

SHIM="$T/faultshim.so"
if ! cc -shared -fPIC -O1 -o "$SHIM" tests/tools/faultshim.c -ldl 2>"$T/shim.err"; then
    echo "FAIL faults_shim_build: $(head -3 "$T/shim.err")"; exit 1
fi

# train OUT SEED [DATA] [extra args...]: a tiny from-scratch training run
train() {
    local out=$1 seed=$2 data=${3:-$G/train_small.json}
    shift 3 2>/dev/null || shift $#
    "$BIN" train --data "$data" --output "$out" --no-tracking --seed "$seed" "${TINY[@]}" "$@"
}
# digest DIR: one line per file, "sha256  name", sorted (empty if DIR is absent)
digest() { [ -d "$1" ] && (cd "$1" && find . -type f | LC_ALL=C sort | xargs -r sha256sum); }
# loads DIR: intent predict can use it
loads() { "$BIN" predict --model "$1" "hola que tal" >/dev/null 2>&1; }
leftovers() { ls -d "$1".tmp.* "$1".old.* 2>/dev/null | wc -l; }

# reference models
if ! train "$T/ref1" 1 >"$T/ref1.log" 2>&1 || ! loads "$T/ref1"; then
    echo "FAIL faults_setup: intent train did not make a model: $(tail -3 "$T/ref1.log")"; exit 1
fi
sed -e 's/"greeting"/"hello_b"/g' "$G/train_small.json" >"$T/relabelled.json"
train "$T/ref2" 2 "$T/relabelled.json" >"$T/ref2.log" 2>&1 || {
    echo "FAIL faults_setup: second model: $(tail -3 "$T/ref2.log")"; exit 1; }

# save_fails NAME DIR LOG: the save into DIR failed with a message, DIR is the
# model it held before (digest in $T/before), and no partial sibling is left
save_fails() {
    local name=$1 dir=$2 log=$3 rc=$4
    if [ "$rc" -eq 0 ]; then fail "$name" "the save succeeded; want a failure"; return; fi
    # one message naming the place and the reason
    if ! grep -qF "$dir" "$log" || ! grep -qiE 'space|read-only|write|mkdir|rename' "$log"; then
        fail "$name" "no message naming $dir and the reason: $(tail -2 "$log")"; return; fi
    if [ "$(digest "$dir")" != "$(cat "$T/before")" ]; then
        fail "$name" "the earlier model changed: $(ls "$dir" 2>&1 | tr '\n' ' ')"; return; fi
    if ! loads "$dir"; then fail "$name" "the earlier model no longer loads"; return; fi
    local n; n=$(leftovers "$dir")
    if [ "$n" -ne 0 ]; then fail "$name" "partial siblings left: $(ls -d "$dir".* | tr '\n' ' ')"; return; fi
    ok "$name"
}

# --- disk full: a real small tmpfs ----------------------------------------------
MNT="$T/small"
mkdir -p "$MNT"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=700k tmpfs "$MNT" 2>/dev/null; then
    cp -r "$T/ref1" "$MNT/model"
    used=$(du -sk "$MNT" | cut -f1)
    # leave less room than one more model needs
    head -c $(( (700 - used - used / 2) * 1024 )) /dev/zero >"$MNT/filler" 2>/dev/null
    digest "$MNT/model" >"$T/before"
    train "$MNT/model" 2 >"$T/full.log" 2>&1; rc=$?
    save_fails disk_full_tmpfs "$MNT/model" "$T/full.log" $rc
    # read-only: the same filesystem remounted ro
    rm -f "$MNT/filler"
    if mount -o remount,ro "$MNT" 2>/dev/null; then
        train "$MNT/model" 2 >"$T/ro.log" 2>&1; rc=$?
        save_fails read_only_tmpfs "$MNT/model" "$T/ro.log" $rc
        mount -o remount,rw "$MNT" 2>/dev/null
    else
        skip read_only_tmpfs "cannot remount the tmpfs read-only here"
    fi
    umount "$MNT" 2>/dev/null && MNT=
else
    MNT=
    skip disk_full_tmpfs "cannot mount a tmpfs here (not root, or no mount permission); the injected ENOSPC test below still runs"
    skip read_only_tmpfs "cannot mount a tmpfs here; the injected EROFS test below still runs"
fi

# --- disk full / read-only, injected ------------------------------------------------
for f in model.safetensors intent_classifier.pt vocab.txt eval_report.json; do
    rm -rf "$T/inj"; cp -r "$T/ref1" "$T/inj"; digest "$T/inj" >"$T/before"
    LD_PRELOAD="$SHIM" IC_FAULT_ENOSPC="/$f" train "$T/inj" 2 >"$T/enospc.log" 2>&1; rc=$?
    save_fails "disk_full_injected_$f" "$T/inj" "$T/enospc.log" $rc
done
rm -rf "$T/inj"; cp -r "$T/ref1" "$T/inj"; digest "$T/inj" >"$T/before"
LD_PRELOAD="$SHIM" IC_FAULT_EROFS="inj.tmp" train "$T/inj" 2 >"$T/erofs.log" 2>&1
save_fails read_only_injected "$T/inj" "$T/erofs.log" $?
# the first save into a new place fails: nothing at all is left there
rm -rf "$T/new"
LD_PRELOAD="$SHIM" IC_FAULT_ENOSPC="/model.safetensors" train "$T/new" 2 >"$T/new.log" 2>&1; rc=$?
if [ $rc -ne 0 ] && [ ! -e "$T/new" ] && [ "$(leftovers "$T/new")" -eq 0 ]; then
    ok disk_full_first_save
else fail disk_full_first_save "rc=$rc, left: $(ls -d "$T/new"* 2>&1 | tr '\n' ' ')"; fi

# --- SIGKILL during a save ------------------------------------------------------------
killed_save() { # NAME VAR VALUE WANT(old|new)
    local name=$1 var=$2 val=$3 want=$4 rc
    rm -rf "$T/k" "$T"/k.tmp.* "$T"/k.old.*; cp -r "$T/ref1" "$T/k"
    env LD_PRELOAD="$SHIM" "$var=$val" "$BIN" train --data "$T/relabelled.json" --output "$T/k" \
        --no-tracking --seed 2 "${TINY[@]}" >"$T/kill.log" 2>&1 &
    wait $! 2>/dev/null; rc=$?
    if [ $rc -ne 137 ] || ! grep -q 'faultshim: SIGKILL' "$T/kill.log"; then
        fail "$name" "the process was not killed where planned (exit $rc): $(tail -2 "$T/kill.log")"; return; fi
    if [ "$want" = old ]; then
        if [ "$(digest "$T/k")" != "$(digest "$T/ref1")" ]; then
            fail "$name" "the earlier model changed: $(ls "$T/k" 2>&1 | tr '\n' ' ')"; return; fi
    else
        # the complete new model: every file there, it loads, new labels
        for f in config.json model.safetensors vocab.txt tokenizer_config.json \
                 special_tokens_map.json intent_classifier.pt eval_report.json; do
            [ -s "$T/k/$f" ] || { fail "$name" "new model lacks $f"; return; }
        done
        grep -q hello_b "$T/k/config.json" || { fail "$name" "not the new model"; return; }
    fi
    loads "$T/k" || { fail "$name" "the model in place does not load"; return; }
    # a later save into the same place still works, stale temporaries or not
    train "$T/k" 3 >"$T/after.log" 2>&1 && loads "$T/k" ||
        { fail "$name" "a later save failed: $(tail -2 "$T/after.log")"; return; }
    local stale; stale=$(leftovers "$T/k")
    ok "$name${stale:+ ($stale stale temporary sibling(s) left by the killed process)}"
}
killed_save kill_while_writing IC_FAULT_KILL_OPEN "k.tmp" old
killed_save kill_writing_pt IC_FAULT_KILL_OPEN "/intent_classifier.pt" old
killed_save kill_before_rename IC_FAULT_KILL_RENAME "/k" old
killed_save kill_after_rename IC_FAULT_KILL_AFTER_RENAME "/k" new

# --- the model replaced while serving ----------------------------------------------------
if ! command -v curl >/dev/null; then
    skip serve_reload "curl is not installed"
else
    mkdir -p "$T/srv"
    cp "$T/ref1/intent_classifier.pt" "$T/srv/model.pt"
    "$BIN" serve --model "$T/srv/model.pt" --host 127.0.0.1 --port 0 --threads 2 2>"$T/serve.log" &
    SPID=$!; PIDS+=("$SPID")
    PORT=
    for _ in $(seq 1 500); do
        PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$T/serve.log" | head -1)
        [ -n "$PORT" ] && break
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.02
    done
    U="http://127.0.0.1:$PORT"
    intents() { curl -s "$U/intents"; }
    classify() { curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary '{"text":"hola que tal"}' "$U/classify"; }
    if [ -z "$PORT" ]; then
        fail serve_reload "the server did not start: $(tail -3 "$T/serve.log")"
    else
        # clients keep asking during every reload below
        ( while :; do c=$(classify); echo "$c" >>"$T/codes"; done ) &
        LPID=$!; PIDS+=("$LPID")
        n0=$(grep -c reloaded "$T/serve.log")
        # replaced atomically (a new file renamed over the old one)
        cp "$T/ref2/intent_classifier.pt" "$T/srv/new.pt" && mv "$T/srv/new.pt" "$T/srv/model.pt"
        kill -HUP "$SPID"
        for _ in $(seq 1 250); do [ "$(grep -c reloaded "$T/serve.log")" -gt "$n0" ] && break; sleep 0.02; done
        if intents | grep -q hello_b; then ok serve_reload_new_model
        else fail serve_reload_new_model "labels after SIGHUP: $(intents); log: $(tail -2 "$T/serve.log")"; fi
        # truncated in place (a copy caught half-way)
        head -c 50000 "$T/ref1/intent_classifier.pt" >"$T/srv/model.pt"
        n1=$(grep -c 'reload refused' "$T/serve.log")
        kill -HUP "$SPID"
        for _ in $(seq 1 250); do [ "$(grep -c 'reload refused' "$T/serve.log")" -gt "$n1" ] && break; sleep 0.02; done
        if [ "$(grep -c 'reload refused' "$T/serve.log")" -gt "$n1" ] && intents | grep -q hello_b &&
           [ "$(classify)" = 200 ]; then ok serve_reload_truncated_refused
        else fail serve_reload_truncated_refused "labels: $(intents); log: $(tail -2 "$T/serve.log")"; fi
        # gone altogether
        rm -f "$T/srv/model.pt"
        n2=$(grep -c 'reload refused' "$T/serve.log")
        kill -HUP "$SPID"
        for _ in $(seq 1 250); do [ "$(grep -c 'reload refused' "$T/serve.log")" -gt "$n2" ] && break; sleep 0.02; done
        if [ "$(grep -c 'reload refused' "$T/serve.log")" -gt "$n2" ] && [ "$(classify)" = 200 ]; then
            ok serve_reload_missing_refused
        else fail serve_reload_missing_refused "log: $(tail -2 "$T/serve.log")"; fi
        # a config.json that claims an enormous model next to small weights
        # (7.3 G parameters, under the 2^33 cap): refused from the files,
        # without trying to allocate it first
        mkdir -p "$T/srv/huge"
        cp "$T/ref1/model.safetensors" "$T/ref1/vocab.txt" "$T/srv/huge/"
        sed -e 's/"hidden_size": *[0-9]*/"hidden_size": 4096/' \
            -e 's/"num_attention_heads": *[0-9]*/"num_attention_heads": 16/' \
            -e 's/"num_hidden_layers": *[0-9]*/"num_hidden_layers": 36/' \
            -e 's/"intermediate_size": *[0-9]*/"intermediate_size": 16384/' \
            "$T/ref1/config.json" >"$T/srv/huge/config.json"
        # bounded memory, so a build that does try cannot take the machine down
        if nm "$BIN" 2>/dev/null | grep -q '__[at]san_init'; then
            # sanitizer builds reserve huge shadow mappings: no ulimit -v there
            ASAN_OPTIONS="$ASAN_OPTIONS:max_allocation_size_mb=4096:allocator_may_return_null=1" \
            TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}max_allocation_size_mb=4096:allocator_may_return_null=1" \
                "$BIN" predict --model "$T/srv/huge" hola >/dev/null 2>"$T/huge.err"; rc=$?
        else
            ( ulimit -v 4000000; exec "$BIN" predict --model "$T/srv/huge" hola ) >/dev/null 2>"$T/huge.err"; rc=$?
        fi
        if [ $rc -eq 1 ] && grep -q 'config.json\|model.safetensors' "$T/huge.err"; then
            ok predict_absurd_config_refused
        else fail predict_absurd_config_refused "exit $rc (want 1 with a message naming the file): $(head -c 300 "$T/huge.err")"; fi
        # a good one again, then a burst of reloads under load
        cp "$T/ref1/intent_classifier.pt" "$T/srv/model.pt"
        for _ in 1 2 3 4 5; do kill -HUP "$SPID"; sleep 0.1; done
        sleep 0.3
        kill "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null
        total=$(wc -l <"$T/codes"); bad=$(grep -vc '^200$' "$T/codes")
        if [ "$total" -gt 0 ] && [ "$bad" -eq 0 ] && intents | grep -q '"greeting"'; then
            ok "serve_reload_under_load ($total requests, all 200)"
        else fail serve_reload_under_load "$bad of $total requests not 200: $(sort "$T/codes" | uniq -c | tr '\n' ' ')"; fi
        kill -TERM "$SPID"; wait "$SPID"; rc=$?
        [ $rc -eq 0 ] && ok serve_exit_after_reloads || fail serve_exit_after_reloads "exit $rc"
    fi
    # the files of a served directory truncated in place (no rename, no
    # SIGHUP): the loaded model must not depend on them (no mapping kept)
    cp -r "$T/ref1" "$T/srvdir"
    "$BIN" serve --model "$T/srvdir" --host 127.0.0.1 --port 0 --threads 1 2>"$T/serve2.log" &
    SPID=$!; PIDS+=("$SPID")
    PORT=
    for _ in $(seq 1 500); do
        PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$T/serve2.log" | head -1)
        [ -n "$PORT" ] && break
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.02
    done
    U="http://127.0.0.1:$PORT"
    if [ -z "$PORT" ]; then fail serve_files_truncated_in_place "the server did not start"
    else
        for f in "$T/srvdir"/*; do : >"$f"; done
        c1=$(classify); c2=$(classify)
        if [ "$c1" = 200 ] && [ "$c2" = 200 ] && kill -0 "$SPID" 2>/dev/null; then
            ok serve_files_truncated_in_place
        else fail serve_files_truncated_in_place "answers $c1 $c2 after truncating the files; log: $(tail -2 "$T/serve2.log")"; fi
        kill -TERM "$SPID"; wait "$SPID" 2>/dev/null
    fi
fi

# --- the MLflow server dies mid-run ---------------------------------------------------------
if [ ! -x "$PY" ] || ! "$PY" -c 'import http.server' 2>/dev/null; then
    skip mlflow_dies "no python3 for tests/tools/mlflow_stub.py"
else
    exec 3> >(exec "$PY" tests/tools/mlflow_stub.py --record "$T/mlflow.json" --port 0 >"$T/mlport")
    for _ in $(seq 100); do [ -s "$T/mlport" ] && break; sleep 0.05; done
    mlport=$(awk '/PORT/{print $2}' "$T/mlport")
    mlpid=$(pgrep -f "mlflow_stub.py --record $T/mlflow.json" | head -1)
    if [ -z "$mlport" ] || [ -z "$mlpid" ]; then
        fail mlflow_dies "the stub did not start"
    else
        PIDS+=("$mlpid")
        "$BIN" train --data "$G/train_small.json" --output "$T/ml" --seed 4 "${TINY[@]}" \
            --epochs 60 --logging-steps 1 --early-stopping-patience 0 \
            --tracking-uri "http://127.0.0.1:$mlport" --experiment-name faults \
            --system-metrics-interval 0.2 >"$T/ml.log" 2>&1 &
        tpid=$!
        for _ in $(seq 1 400); do grep -q '^step 3/' "$T/ml.log" 2>/dev/null && break; sleep 0.02; done
        kill -9 "$mlpid"
        wait "$tpid"; rc=$?
        nwarn=$(grep -ci 'warning.*\(track\|mlflow\)' "$T/ml.log")
        if [ $rc -eq 0 ] && loads "$T/ml" && [ -s "$T/ml/eval_report.json" ] && [ "$nwarn" -eq 1 ]; then
            ok mlflow_dies
        else fail mlflow_dies "exit $rc, tracking warnings $nwarn (want 1): $(grep -i 'warn\|error' "$T/ml.log" | head -5 | tr '\n' '|')"; fi
        grep -q '"/api/2.0/mlflow/runs/create"' "$T/mlflow.json" 2>/dev/null ||
            echo "    (note: the stub recorded no runs/create before it died)" >&2
    fi
    exec 3>&-
fi

# --- the Hub connection drops mid-download --------------------------------------------------------
if [ ! -x "$PY" ]; then
    skip hub_drop "no python3 for tests/tools/hub_stub.py"
else
    mkdir -p "$T/repo"
    cp "$T/ref1/config.json" "$T/ref1/vocab.txt" "$T/ref1/model.safetensors" "$T/repo/"
    unset HF_HUB_OFFLINE
    hub_start() { # args for the stub; sets HF_ENDPOINT, HPID
        rm -f "$T/hport"
        exec 4> >(exec "$PY" tests/tools/hub_stub.py --dir "$T/repo" "$@" >"$T/hport")
        for _ in $(seq 100); do [ -s "$T/hport" ] && break; sleep 0.05; done
        export HF_ENDPOINT="http://127.0.0.1:$(awk '{print $2}' "$T/hport")"
    }
    hub_stop() { exec 4>&-; sleep 0.2; }
    # every blob in the cache must hold exactly the bytes of some repository file
    cache_clean() {
        local h=$1 f s
        for f in "$h"/hub/models--*/blobs/*; do
            [ -e "$f" ] || continue
            case "$f" in *.incomplete) continue ;; esac
            s=$(sha256sum <"$f" | cut -d' ' -f1)
            sha256sum "$T"/repo/* | grep -q "^$s " || { echo "corrupt cache entry $f"; return 1; }
        done
        return 0
    }
    want_snap() { cmp -s "$1/model.safetensors" "$T/repo/model.safetensors" && cmp -s "$1/config.json" "$T/repo/config.json"; }

    # dropped once: resumed or retried within the same command
    export HF_HOME="$T/hf1"
    hub_start --drop-once model.safetensors
    snap=$("$BIN" download test-org/tiny-bert 2>"$T/h1.err"); rc=$?
    hub_stop
    if [ $rc -eq 0 ] && want_snap "$snap" && cache_clean "$HF_HOME"; then ok hub_drop_once_recovers
    else fail hub_drop_once_recovers "exit $rc: $(tail -2 "$T/h1.err") $(cache_clean "$HF_HOME")"; fi

    # dropped every time: the command fails, nothing corrupt is cached, and
    # the next download against a healthy server completes it
    export HF_HOME="$T/hf2"
    hub_start --drop-always model.safetensors
    snap=$("$BIN" download test-org/tiny-bert 2>"$T/h2.err"); rc=$?
    hub_stop
    badsnap=0
    for s in "$HF_HOME"/hub/models--*/snapshots/*/model.safetensors; do
        [ -e "$s" ] && ! cmp -s "$s" "$T/repo/model.safetensors" && badsnap=1
    done
    if [ $rc -ne 0 ] && [ $badsnap -eq 0 ] && cache_clean "$HF_HOME" >/dev/null; then
        hub_start
        snap=$("$BIN" download test-org/tiny-bert 2>"$T/h3.err"); rc=$?
        hub_stop
        if [ $rc -eq 0 ] && want_snap "$snap" && cache_clean "$HF_HOME"; then ok hub_drop_always_then_resume
        else fail hub_drop_always_then_resume "second try exit $rc: $(tail -2 "$T/h3.err")"; fi
    else fail hub_drop_always_then_resume "first try exit $rc (want failure), corrupt snapshot $badsnap: $(cache_clean "$HF_HOME")"; fi

    # a corrupted body (the sha256 does not match): refused, nothing cached
    export HF_HOME="$T/hf3"
    hub_start --corrupt model.safetensors
    snap=$("$BIN" download test-org/tiny-bert 2>"$T/h4.err"); rc=$?
    hub_stop
    if [ $rc -ne 0 ] && cache_clean "$HF_HOME" >/dev/null &&
       ! ls "$HF_HOME"/hub/models--*/snapshots/*/model.safetensors >/dev/null 2>&1; then
        ok hub_corrupt_refused
    else fail hub_corrupt_refused "exit $rc: $(tail -2 "$T/h4.err") $(cache_clean "$HF_HOME")"; fi
fi
exit 0
