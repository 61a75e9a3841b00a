#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tracking.sh BUILD_DIR - run tracking end to end: `intent train` on a tiny
# from-scratch model logging to the stub MLflow server
# (tests/tools/mlflow_stub.py, which validates every request) and to a
# FileStore directory; failures (503s, server down, Ctrl-C). Also checks that
# the stub itself refuses what a real MLflow server refuses, so the
# "no invalid request" checks here and in test_track.c can fail.
set -u
B=${1:-build}
BIN="$B/intent"
G=tests/golden/data
PY=/usr/bin/python3
STUB=tests/tools/mlflow_stub.py
T=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
export HF_HOME="$T/hf" HF_HUB_OFFLINE=1
unset MLFLOW_TRACKING_URI MLFLOW_EXPERIMENT_NAME MLFLOW_EXPERIMENT_ID MLFLOW_TRACKING_TOKEN \
    MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD
for v in $(env | sed -n 's/^\(INTENT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }

if [ ! -x "$PY" ]; then
    echo "skip tracking: no $PY to run the stub MLflow server"
    exit 0
fi

TINY=(--scratch-hidden-size 32 --scratch-layers 1 --scratch-heads 2
      --scratch-intermediate-size 64 --scratch-vocab-size 300 --max-length 32
      --batch-size 16 --threads 1 --seed 7 --logging-steps 2
      --system-metrics-interval 0)

# start_stub NAME ARGS... -> sets PORT; record in $T/NAME.json
start_stub() {
    local n=$1; shift
    "$PY" "$STUB" --record "$T/$n.json" "$@" >"$T/$n.port" 2>"$T/$n.err" &
    pids+=($!)
    for _ in $(seq 1 100); do
        grep -q PORT "$T/$n.port" 2>/dev/null && break
        sleep 0.05
    done
    PORT=$(awk '/PORT/{print $2}' "$T/$n.port")
    [ -n "$PORT" ]
}

# --- the stub refuses what MLflow refuses ---------------------------------------
start_stub selftest || { fail tracking_stub_validates "stub did not start"; exit 1; }
if "$PY" - "$PORT" <<'PY'
import json, sys, urllib.request, urllib.error
base = "http://127.0.0.1:%s/api/2.0/mlflow/" % sys.argv[1]
def call(ep, body, ct="application/json", raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(base + ep, data, {"Content-Type": ct} if ct else {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
st, r = call("runs/create", {"experiment_id": "0", "start_time": 1700000000000})
assert st == 200, r
rid = r["run"]["info"]["run_id"]
ts = 1700000000000
m = lambda k="loss", v=1.0: {"key": k, "value": v, "timestamp": ts, "step": 0}
bad = [
    ("no content type", "runs/log-batch", {"run_id": rid, "metrics": [m()]}, None, None),
    ("bare NaN token", "runs/log-batch", None, "application/json",
     ('{"run_id":"%s","metrics":[{"key":"a","value":NaN,"timestamp":1,"step":0}]}' % rid).encode()),
    ("1001 metrics", "runs/log-batch", {"run_id": rid, "metrics": [m()] * 1001}, "application/json", None),
    ("101 params", "runs/log-batch", {"run_id": rid, "params": [{"key": "p%d" % i, "value": "v"} for i in range(101)]}, "application/json", None),
    ("duplicate params", "runs/log-batch", {"run_id": rid, "params": [{"key": "a", "value": "1"}, {"key": "a", "value": "1"}]}, "application/json", None),
    ("no timestamp", "runs/log-batch", {"run_id": rid, "metrics": [{"key": "a", "value": 1}]}, "application/json", None),
    ("bad key", "runs/log-batch", {"run_id": rid, "metrics": [m("../x")]}, "application/json", None),
    ("value as text", "runs/log-batch", {"run_id": rid, "metrics": [m("a", "1.5")]}, "application/json", None),
    ("param too long", "runs/log-batch", {"run_id": rid, "params": [{"key": "a", "value": "x" * 6001}]}, "application/json", None),
    ("start_time in seconds", "runs/create", {"experiment_id": "0", "start_time": 1700000000}, "application/json", None),
    ("unknown status", "runs/update", {"run_id": rid, "status": "DONE", "end_time": ts}, "application/json", None),
    ("unknown run", "runs/log-batch", {"run_id": "nope", "metrics": [m()]}, "application/json", None),
]
ds = {"name": "d.json", "digest": "ab12", "source_type": "local", "source": '{"uri": "/d.json"}'}
inp = lambda **kw: {"run_id": rid, "datasets": [{"tags": [], "dataset": dict(ds, **kw)}]}
bad += [
    ("digest over 36", "runs/log-inputs", inp(digest="x" * 37), "application/json", None),
    ("dataset without source", "runs/log-inputs", {"run_id": rid, "datasets": [{"dataset": {
        k: v for k, v in ds.items() if k != "source"}}]}, "application/json", None),
    ("input tag value over 500", "runs/log-inputs", {"run_id": rid, "datasets": [{"tags": [
        {"key": "mlflow.data.context", "value": "v" * 501}], "dataset": ds}]}, "application/json", None),
    ("inputs without datasets", "runs/log-inputs", {"run_id": rid}, "application/json", None),
    ("inputs for an unknown run", "runs/log-inputs", dict(inp(), run_id="nope"), "application/json", None),
]
for what, ep, body, ct, raw in bad:
    st, r = call(ep, body, ct, raw)
    assert st >= 400 and "error_code" in r, "%s: accepted (%s %r)" % (what, st, r)
st, r = call("runs/log-batch", {"run_id": rid, "metrics": [m("a", "NaN"), m("b", "-Infinity")],
             "params": [{"key": "lr", "value": "0.1"}]})
assert st == 200, r
st, r = call("runs/log-batch", {"run_id": rid, "params": [{"key": "lr", "value": "0.2"}]})
assert st == 400 and "Changing param" in r["message"], r
st, r = call("runs/log-inputs", inp(digest="x" * 36))
assert st == 200, r
with urllib.request.urlopen(base + "runs/get?run_id=" + rid) as resp:
    got = json.load(resp)["run"]["inputs"]["dataset_inputs"]
assert got == [{"tags": [], "dataset": dict(ds, digest="x" * 36)}], got
PY
then ok tracking_stub_validates
else fail tracking_stub_validates "the stub accepted a request MLflow refuses"
fi

# --- intent train -> stub ------------------------------------------------------
start_stub train1 || { fail tracking_train_rest "stub did not start"; exit 1; }
"$BIN" train --data "$G/train_small.json" --output "$T/m1" --epochs 2 \
    --tracking-uri "http://127.0.0.1:$PORT" --experiment-name e2e-track --run-name stubbed \
    "${TINY[@]}" >"$T/train1.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    fail tracking_train_rest "intent train exited $rc: $(tail -3 "$T/train1.log")"
elif ! grep -Eq "^intent: MLflow run [0-9a-f]{32}: http://127.0.0.1:$PORT/#/experiments/1/runs/[0-9a-f]{32}\$" "$T/train1.log"; then
    fail tracking_train_rest "no line with the run's page: $(grep MLflow "$T/train1.log")"
elif out=$("$PY" - "$T/train1.json" "$T/m1" 2>&1 <<'PY'
import hashlib, json, os, sys
rec = json.load(open(sys.argv[1]))
out = sys.argv[2]
bad = [r for r in rec if r["invalid"]]
assert not bad, "stub refused: %s" % bad[0]["invalid"]
paths = [r["path"].split("/api/2.0/")[1] for r in rec]
assert paths[0] == "mlflow/experiments/get-by-name", paths[:3]
assert paths[1] == "mlflow/experiments/create", paths[:3]
assert paths[2] == "mlflow/runs/create", paths[:3]
assert paths[-1] == "mlflow/runs/update", paths[-3:]
create = rec[2]["body"]
tags = {t["key"]: t["value"] for t in create["tags"]}
assert create["run_name"] == "stubbed" and tags["mlflow.runName"] == "stubbed", create
assert tags["mlflow.source.name"] == "intent train" and tags["mlflow.source.type"] == "LOCAL"
assert rec[-1]["body"]["status"] == "FINISHED", rec[-1]["body"]
run_id = rec[-1]["body"]["run_id"]
params, metrics, btags = {}, [], {}
for r in rec:
    if r["path"].endswith("/runs/log-batch"):
        b = r["body"]
        assert len(b.get("metrics", [])) <= 1000 and len(b.get("params", [])) + len(b.get("tags", [])) <= 100
        for p in b.get("params", []):
            params[p["key"]] = p["value"]
        for t in b.get("tags", []):
            btags[t["key"]] = t["value"]
        metrics += b.get("metrics", [])
for k in ("learning_rate", "epochs", "num_intents", "from_scratch", "data"):
    assert k in params, "param %s missing (have %s)" % (k, sorted(params)[:50])
keys = {m["key"] for m in metrics}
for k in ("loss", "eval_accuracy", "system/cpu_utilization_percentage",
          "system/system_memory_usage_megabytes", "system/disk_usage_percentage",
          "system/network_receive_megabytes"):
    assert k in keys, "metric %s missing (have %s)" % (k, sorted(keys))
loss_steps = [m["step"] for m in metrics if m["key"] == "loss"]
sys_steps = [m["step"] for m in metrics if m["key"] == "system/cpu_utilization_percentage"]
assert loss_steps and sorted(set(sys_steps)) == sorted(set(loss_steps)), (loss_steps, sys_steps)
# the data file as a dataset input: absolute path, SHA-256, context
li = [r for r in rec if r["path"].endswith("/runs/log-inputs")]
assert len(li) == 1 and li[0]["body"]["run_id"] == run_id, li
(di,) = li[0]["body"]["datasets"]
data = os.path.abspath("tests/golden/data/train_small.json")
sha = hashlib.sha256(open(data, "rb").read()).hexdigest()
ds = di["dataset"]
assert ds["name"] == "train_small.json" and ds["source_type"] == "local", ds
assert json.loads(ds["source"]) == {"uri": os.path.realpath(data)}, ds["source"]
assert ds["digest"] == sha[:32], (ds["digest"], sha)
prof = json.loads(ds["profile"])
assert prof == {"num_rows": 80, "num_intents": 5, "sha256": sha}, prof
assert [c["name"] for c in json.loads(ds["schema"])["mlflow_colspec"]] == ["text", "intent"]
assert di["tags"] == [{"key": "mlflow.data.context", "value": "training"}], di["tags"]
puts = {r["path"].split("/artifacts/", 2)[-1]: r for r in rec if r["method"] == "PUT"}
for f in ("model/model.safetensors", "model/config.json", "model/vocab.txt", "eval_report.json"):
    assert f in puts, "artifact %s not uploaded (have %s)" % (f, sorted(puts))
    assert puts[f]["path"].startswith("/api/2.0/mlflow-artifacts/artifacts/1/%s/artifacts/" % run_id)
size = os.path.getsize(os.path.join(out, "model.safetensors"))
assert puts["model/model.safetensors"]["body_len"] == size
print(len(metrics), len(params), len(puts))
PY
); then ok tracking_train_rest
else fail tracking_train_rest "$(echo "$out" | tail -1)"
fi

# --- 503s on log-batch: retried, delivered, one warning --------------------------
start_stub train2 --fail runs/log-batch:503:3 || { fail tracking_train_503 "stub did not start"; exit 1; }
"$BIN" train --data "$G/train_small.json" --output "$T/m2" --epochs 1 \
    --tracking-uri "http://127.0.0.1:$PORT" --run-name retried "${TINY[@]}" >"$T/train2.log" 2>&1
rc=$?
nwarn=$(grep -c 'warning: tracking' "$T/train2.log")
if [ $rc -ne 0 ]; then
    fail tracking_train_503 "intent train exited $rc: $(tail -3 "$T/train2.log")"
elif [ "$nwarn" -ne 1 ]; then
    fail tracking_train_503 "$nwarn tracking warnings: $(grep 'warning: tracking' "$T/train2.log")"
elif out=$("$PY" - "$T/train2.json" 2>&1 <<'PY'
import json, sys
rec = json.load(open(sys.argv[1]))
lb = [r for r in rec if r["path"].endswith("/runs/log-batch")]
assert sum(1 for r in lb if r["status"] == 503) == 3, [r["status"] for r in lb]
assert not [r for r in rec if r["invalid"]]
assert rec[-1]["path"].endswith("/runs/update") and rec[-1]["status"] == 200
assert rec[-1]["body"]["status"] == "FINISHED"
ok = [m for r in lb if r["status"] == 200 for m in r["body"].get("metrics", [])]
assert any(m["key"] == "loss" for m in ok)
PY
); then ok tracking_train_503
else fail tracking_train_503 "$(echo "$out" | tail -1)"
fi

# --- the server is down: training still succeeds and saves its model ------------
DOWN=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" train --data "$G/train_small.json" --output "$T/m3" --epochs 1 \
    --tracking-uri "http://127.0.0.1:$DOWN" "${TINY[@]}" >"$T/train3.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    fail tracking_train_server_down "intent train exited $rc: $(tail -3 "$T/train3.log")"
elif [ ! -s "$T/m3/model.safetensors" ]; then
    fail tracking_train_server_down "no model saved"
elif ! grep -q 'warning: tracking: MLflow server .* unreachable' "$T/train3.log"; then
    fail tracking_train_server_down "no 'unreachable' warning: $(grep warning "$T/train3.log")"
elif [ "$(grep -c 'unreachable' "$T/train3.log")" -ne 1 ]; then
    fail tracking_train_server_down "the unreachable warning was repeated"
else ok tracking_train_server_down
fi

# --- Ctrl-C: the run is marked KILLED --------------------------------------------
start_stub train4 || { fail tracking_train_killed "stub did not start"; exit 1; }
"$BIN" train --data "$G/train_small.json" --output "$T/m4" --epochs 100000 --early-stopping-patience 0 \
    --tracking-uri "http://127.0.0.1:$PORT" --run-name killed "${TINY[@]}" >"$T/train4.log" 2>&1 &
tp=$!
for _ in $(seq 1 200); do
    grep -q 'runs/log-batch' "$T/train4.json" 2>/dev/null && break
    sleep 0.05
done
kill -INT "$tp"
wait "$tp"
rc=$?
if out=$("$PY" - "$T/train4.json" 2>&1 <<'PY'
import json, sys
rec = json.load(open(sys.argv[1]))
up = [r for r in rec if r["path"].endswith("/runs/update")]
assert up, "no runs/update"
assert up[-1]["body"]["status"] == "KILLED", up[-1]["body"]
PY
); then
    [ $rc -eq 130 ] && ok tracking_train_killed || fail tracking_train_killed "exit $rc (want 130)"
else fail tracking_train_killed "$(echo "$out" | tail -1)"
fi

# --- FileStore -------------------------------------------------------------------
"$BIN" train --data "$G/train_small.json" --output "$T/m5" --epochs 1 \
    --tracking-uri "file://$T/mlruns" --experiment-name fs-e2e --run-name fs "${TINY[@]}" \
    >"$T/train5.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    fail tracking_train_filestore "intent train exited $rc: $(tail -3 "$T/train5.log")"
elif out=$("$PY" - "$T/mlruns" "$T/m5" 2>&1 <<'PY'
import os, re, sys, filecmp
root, out = sys.argv[1], sys.argv[2]
exps = [d for d in os.listdir(root) if d.isdigit() and d != "0"]
assert len(exps) == 1, exps
exp = os.path.join(root, exps[0])
assert "name: fs-e2e\n" in open(os.path.join(exp, "meta.yaml")).read()
runs = [d for d in os.listdir(exp) if re.fullmatch(r"[0-9a-f]{32}", d)]
assert len(runs) == 1, runs
run = os.path.join(exp, runs[0])
meta = open(os.path.join(run, "meta.yaml")).read()
for line in ("status: 3", "run_name: fs", "run_id: " + runs[0], "run_uuid: " + runs[0],
             "source_type: 4", "lifecycle_stage: active", "experiment_id: '%s'" % exps[0]):
    assert line + "\n" in meta, "%r not in meta.yaml" % line
for line in open(os.path.join(run, "metrics", "loss")):
    ts, v, step = line.rstrip("\n").split(" ")
    int(ts); float(v); int(step)
assert os.path.exists(os.path.join(run, "metrics", "system", "cpu_utilization_percentage"))
assert open(os.path.join(run, "params", "epochs")).read() == "1"
assert open(os.path.join(run, "tags", "mlflow.runName")).read() == "fs"
assert filecmp.cmp(os.path.join(out, "model.safetensors"),
                   os.path.join(run, "artifacts", "model", "model.safetensors"), shallow=False)
assert os.path.exists(os.path.join(run, "artifacts", "eval_report.json"))
# the data file as a dataset input (<exp>/datasets/<id>, <run>/inputs/<id>)
(ds_id,) = os.listdir(os.path.join(exp, "datasets"))
(in_id,) = os.listdir(os.path.join(run, "inputs"))
ds = open(os.path.join(exp, "datasets", ds_id, "meta.yaml")).read()
assert "name: train_small.json\n" in ds and "source_type: local\n" in ds, ds
inp = open(os.path.join(run, "inputs", in_id, "meta.yaml")).read()
assert "source_id: '%s'\n" % ds_id in inp or "source_id: %s\n" % ds_id in inp, inp
assert "  mlflow.data.context: training\n" in inp, inp
PY
); then ok tracking_train_filestore
else fail tracking_train_filestore "$(echo "$out" | tail -1)"
fi
# --- the git commit of the data's checkout (else the current directory's) -------
if command -v git >/dev/null 2>&1; then
    case $BIN in /*) ABIN=$BIN ;; *) ABIN="$PWD/$BIN" ;; esac
    (
        set -e
        mkdir -p "$T/repo/data" "$T/elsewhere"
        cp "$G/train_small.json" "$T/repo/data/"
        cd "$T/repo"
        git init -q . && git add data
        git -c user.name=t -c user.email=t@example.invalid commit -q -m data
        git -c user.name=t -c user.email=t@example.invalid commit -q --allow-empty -m second
        git pack-refs --all
    ) >"$T/git.log" 2>&1
    want=$(git -C "$T/repo" rev-parse HEAD 2>/dev/null)
    # run from a directory outside any checkout, with the data in the repository
    (cd "$T/elsewhere" && "$ABIN" train --data "$T/repo/data/train_small.json" --output "$T/mg" \
        --epochs 1 --tracking-uri "$T/mlruns-git" "${TINY[@]}" >"$T/traing.log" 2>&1)
    rc=$?
    got=$(cat "$T"/mlruns-git/0/*/tags/mlflow.source.git.commit 2>/dev/null)
    # and with the data outside, from inside the checkout
    cp "$G/train_small.json" "$T/elsewhere/"
    (cd "$T/repo" && "$ABIN" train --data "$T/elsewhere/train_small.json" --output "$T/mg2" \
        --epochs 1 --tracking-uri "$T/mlruns-git2" "${TINY[@]}" >"$T/traing2.log" 2>&1)
    rc2=$?
    got2=$(cat "$T"/mlruns-git2/0/*/tags/mlflow.source.git.commit 2>/dev/null)
    if [ -z "$want" ]; then
        fail tracking_git_commit "could not make a test repository: $(tail -2 "$T/git.log")"
    elif [ $rc -ne 0 ] || [ $rc2 -ne 0 ]; then
        fail tracking_git_commit "intent train exited $rc/$rc2: $(tail -2 "$T/traing.log")"
    elif [ "$got" != "$want" ] || [ "$got2" != "$want" ]; then
        fail tracking_git_commit "mlflow.source.git.commit '$got' / '$got2', git says '$want'"
    else ok tracking_git_commit
    fi
else
    echo "skip tracking_git_commit: no git to make a test repository"
fi

# --- GPU metrics through NVML, with a stand-in libnvidia-ml.so.1 -----------------
# Two fake GPUs with fixed readings; the real library has the same C ABI.
if command -v cc >/dev/null 2>&1; then
    mkdir -p "$T/nvml"
    cat >"$T/nvml/fake_nvml.c" <<'C'
struct mem { unsigned long long total, free, used; };
struct util { unsigned int gpu, memory; };
static int h[2];
int nvmlInit_v2(void) { return 0; }
int nvmlShutdown(void) { return 0; }
int nvmlDeviceGetCount_v2(unsigned int *n) { *n = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **d) { *d = &h[i]; return i < 2 ? 0 : 1; }
int nvmlDeviceGetMemoryInfo(void *d, struct mem *m)
{ m->total = 80000000000ULL; m->used = d == &h[0] ? 20000000000ULL : 1234567890ULL;
  m->free = m->total - m->used; return 0; }
int nvmlDeviceGetUtilizationRates(void *d, struct util *u)
{ u->gpu = d == &h[0] ? 37 : 0; u->memory = 5; return 0; }
int nvmlDeviceGetPowerUsage(void *d, unsigned int *mw) { *mw = d == &h[0] ? 150000 : 61234; return 0; }
int nvmlDeviceGetEnforcedPowerLimit(void *d, unsigned int *mw) { (void)d; *mw = 700000; return 0; }
C
    if cc -shared -fPIC -o "$T/nvml/libnvidia-ml.so.1" "$T/nvml/fake_nvml.c" 2>"$T/nvml/cc.err"; then
        LD_LIBRARY_PATH="$T/nvml${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
            "$BIN" train --data "$G/train_small.json" --output "$T/m6" --epochs 1 \
            --tracking-uri "$T/mlruns-gpu" --run-name gpu "${TINY[@]}" >"$T/train6.log" 2>&1
        rc=$?
        if [ $rc -ne 0 ]; then
            fail tracking_gpu_metrics "intent train exited $rc: $(tail -3 "$T/train6.log")"
        elif out=$("$PY" - "$T/mlruns-gpu" 2>&1 <<'PY'
import glob, os, sys
runs = glob.glob(os.path.join(sys.argv[1], "0", "*", "metrics", "system"))
assert len(runs) == 1, runs
d = runs[0]
want = {"gpu_0_utilization_percentage": 37.0, "gpu_0_memory_usage_megabytes": 20000.0,
        "gpu_0_memory_usage_percentage": 25.0, "gpu_0_power_usage_watts": 150.0,
        "gpu_0_power_usage_percentage": 21.4, "gpu_1_utilization_percentage": 0.0,
        "gpu_1_memory_usage_megabytes": 1234.6, "gpu_1_memory_usage_percentage": 1.5,
        "gpu_1_power_usage_watts": 61.2, "gpu_1_power_usage_percentage": 8.7}
for k, v in want.items():
    lines = open(os.path.join(d, k)).read().splitlines()
    assert lines, k
    for line in lines:
        got = float(line.split(" ")[1])
        assert got == v, "%s = %s, want %s" % (k, got, v)
assert not os.path.exists(os.path.join(d, "gpu_2_utilization_percentage"))
PY
        ); then ok tracking_gpu_metrics
        else fail tracking_gpu_metrics "$(echo "$out" | tail -1)"
        fi
    else
        echo "skip tracking_gpu_metrics: cannot build the stand-in NVML library: $(head -1 "$T/nvml/cc.err")"
    fi
else
    echo "skip tracking_gpu_metrics: no C compiler to build the stand-in NVML library"
fi
exit 0
