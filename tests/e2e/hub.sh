#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# hub.sh - `intent download` against tests/tools/hub_stub.py (a local stand-in
# for the Hugging Face Hub on 127.0.0.1): prints the snapshot directory, works
# offline from the cache, fails in one line when the model cannot be had.
#   bash tests/e2e/hub.sh BUILD_DIR
set -u
bin="$1/intent"
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'exec 3>&- 4>&- 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok $1"; }
bad() { echo "FAIL $1: $2"; fail=1; }

# --help and usage errors
if "$bin" download --help | grep -q "usage: intent download MODEL"; then ok hub_cli_help
else bad hub_cli_help "no usage text"; fi
"$bin" download >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok hub_cli_usage_error || bad hub_cli_usage_error "exit $rc without MODEL, want 2"

# a local directory is printed as it is
out=$("$bin" download "$tmp" 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$out" = "$tmp" ] && ok hub_cli_local_dir || bad hub_cli_local_dir "exit $rc: $out"

# offline with an empty cache: exit 1, one line that says why
export HF_HOME="$tmp/hf-home"
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_HUB_CACHE HUGGINGFACE_HUB_CACHE TRANSFORMERS_OFFLINE HF_ENDPOINT
err=$(HF_HUB_OFFLINE=1 "$bin" download test-org/tiny-bert 2>&1 >/dev/null); rc=$?
if [ $rc -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && printf '%s' "$err" | grep -q offline; then
    ok hub_cli_offline_not_cached
else bad hub_cli_offline_not_cached "exit $rc: $err"; fi

if [ ! -x "$py" ]; then
    echo "skip hub_cli_download: $py not found"
    exit $fail
fi
mkdir -p "$tmp/repo"
printf '{"model_type": "bert"}\n' >"$tmp/repo/config.json"
head -c 50000 /dev/zero | tr '\0' 'w' >"$tmp/repo/model.safetensors"
printf '[PAD]\n[UNK]\n' >"$tmp/repo/vocab.txt"
exec 3> >(exec "$py" tests/tools/hub_stub.py --dir "$tmp/repo" --log "$tmp/log" >"$tmp/port")
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
port=$(awk '{print $2}' "$tmp/port")
[ -n "$port" ] || { bad hub_cli_download "the stub did not start"; exit 1; }
export HF_ENDPOINT="http://127.0.0.1:$port"

snap=$("$bin" download test-org/tiny-bert 2>"$tmp/err"); rc=$?
want="$HF_HOME/hub/models--test-org--tiny-bert/snapshots/1111111111111111111111111111111111111111"
if [ $rc -eq 0 ] && [ "$snap" = "$want" ] && cmp -s "$snap/model.safetensors" "$tmp/repo/model.safetensors" \
   && [ "$(readlink "$snap/config.json" | cut -c1-12)" = "../../blobs/" ] \
   && [ "$(cat "$HF_HOME/hub/models--test-org--tiny-bert/refs/main")" = "1111111111111111111111111111111111111111" ]; then
    ok hub_cli_download
else bad hub_cli_download "exit $rc, printed \"$snap\": $(cat "$tmp/err")"; fi

gets=$(grep -c '"GET"' "$tmp/log")
snap2=$("$bin" download test-org/tiny-bert --cache-dir "$HF_HOME/hub" 2>&1); rc=$?
gets2=$(grep -c '"GET"' "$tmp/log")
[ $rc -eq 0 ] && [ "$snap2" = "$want" ] && [ "$gets" = "$gets2" ] && ok hub_cli_cached_no_get \
    || bad hub_cli_cached_no_get "exit $rc, GETs $gets -> $gets2: $snap2"

n=$(wc -l <"$tmp/log")
snap3=$("$bin" download test-org/tiny-bert --offline 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$snap3" = "$want" ] && [ "$(wc -l <"$tmp/log")" = "$n" ] && ok hub_cli_offline_cached \
    || bad hub_cli_offline_cached "exit $rc: $snap3"

err=$("$bin" download test-org/absent 2>&1 >/dev/null); rc=$?
[ $rc -eq 1 ] && printf '%s' "$err" | grep -q "404" && ok hub_cli_not_found || bad hub_cli_not_found "exit $rc: $err"

# two downloads at once into an empty cache: both succeed with the same
# snapshot (the blob lock serialises them), and the cache is whole
c2="$tmp/cache-concurrent"
"$bin" download test-org/tiny-bert --cache-dir "$c2" >"$tmp/a.out" 2>"$tmp/a.err" & pa=$!
"$bin" download test-org/tiny-bert --cache-dir "$c2" >"$tmp/b.out" 2>"$tmp/b.err" & pb=$!
wait $pa; ra=$?; wait $pb; rb=$?
sa=$(cat "$tmp/a.out"); sb=$(cat "$tmp/b.out")
if [ $ra -eq 0 ] && [ $rb -eq 0 ] && [ "$sa" = "$sb" ] && [ -n "$sa" ] \
   && cmp -s "$sa/model.safetensors" "$tmp/repo/model.safetensors" \
   && [ -z "$(find "$c2" -name '*.incomplete' -o -name '*.tmp.*')" ]; then
    ok hub_cli_concurrent_downloads
else bad hub_cli_concurrent_downloads "exit $ra/$rb: $(cat "$tmp/a.err" "$tmp/b.err")"; fi
exec 3>&-

# `intent train` takes its base model from the Hub (a repository laid out like
# prajjwal1/bert-tiny on main), then, offline, from the cache
legacy=tests/golden/io/legacy_bert
if "$bin" train --help 2>&1 | grep -q "not built yet"; then
    echo "skip hub_train_base_model_from_hub: intent train is not built yet"
elif [ ! -d "$legacy" ]; then
    echo "skip hub_train_base_model_from_hub: $legacy missing"
else
    rm -f "$tmp/port"
    exec 4> >(exec "$py" tests/tools/hub_stub.py --dir "$legacy" --repo prajjwal1/bert-tiny \
        --log "$tmp/log2" >"$tmp/port")
    for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
    port=$(awk '{print $2}' "$tmp/port")
    export HF_ENDPOINT="http://127.0.0.1:$port"
    train() { # output dir, extra env...
        local out=$1; shift
        env "$@" "$bin" train --model-name prajjwal1/bert-tiny --data tests/golden/data/small.json \
            --epochs 1 --output "$out" --no-tracking --require-pretrained --threads 1 \
            >"$tmp/train.out" 2>&1
    }
    if train "$tmp/m1" && grep -q "\"from_scratch\": false" "$tmp/m1/eval_report.json" \
       && [ -L "$HF_HOME/hub/models--prajjwal1--bert-tiny/snapshots/1111111111111111111111111111111111111111/pytorch_model.bin" ]; then
        ok hub_train_base_model_from_hub
    else bad hub_train_base_model_from_hub "$(tail -n 3 "$tmp/train.out")"; fi
    n=$(wc -l <"$tmp/log2")
    if train "$tmp/m2" HF_HUB_OFFLINE=1 && [ "$(wc -l <"$tmp/log2")" = "$n" ] \
       && grep -q "\"from_scratch\": false" "$tmp/m2/eval_report.json"; then
        ok hub_train_base_model_offline_cache
    else bad hub_train_base_model_offline_cache "$(tail -n 3 "$tmp/train.out")"; fi
    exec 4>&-
fi
exit $fail
