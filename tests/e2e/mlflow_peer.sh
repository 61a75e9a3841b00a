#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# mlflow_peer.sh BUILD_DIR - the tracker against a REAL MLflow server (2.12.2).
#
# 1. writes a run into a FileStore with our C writer (intent_test track_peer_fs),
#    starts MLflow's server on that directory and reads the run back through
#    its REST API (runs/get, metrics/get-history, runs/search, artifacts/list);
#    (dataset inputs and the git commit tag included);
# 2. logs a run over REST (intent_test track_peer_rest) to the same server in a
#    new experiment (artifacts through mlflow-artifacts) and reads it back.
# The server comes from $MLFLOW_PEER_URI (REST check only) or is started with
# ../shared/tools/mlflow-peer/start.sh from the MLflow git snapshot in
# $MLFLOW_MIRROR. Without either it prints "skip" and says why.
set -u
build=${1:-build}
name=mlflow_peer
root=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3
tools=${MLFLOW_PEER_TOOLS:-$root/../shared/tools/mlflow-peer}
tmp=$(mktemp -d)
state=""
cleanup() {
    if [ -n "$state" ] && [ -f "$state/server.pid" ]; then
        "$tools/stop.sh" "$state" >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

[ -x "$py" ] || { echo "skip $name: no $py"; exit 0; }
[ -x "$build/intent_test" ] || { echo "FAIL $name: no $build/intent_test"; exit 1; }

# --- FileStore written by us (only when we start the server ourselves) ------
uri=${MLFLOW_PEER_URI:-}
if [ -z "$uri" ]; then
    if [ -z "${MLFLOW_MIRROR:-}" ]; then
        echo "skip $name: no real MLflow server (set MLFLOW_PEER_URI, or MLFLOW_MIRROR to a git snapshot of MLflow with tag v2.12.2)"
        exit 0
    fi
    [ -x "$tools/start.sh" ] || { echo "skip $name: $tools/start.sh not found"; exit 0; }
    if ! MLFLOW_PEER_FS="$tmp/mlruns" MLFLOW_PEER_OUT="$tmp/fs_ids" \
        "$build/intent_test" track_peer_fs >"$tmp/fs.log" 2>&1; then
        echo "FAIL $name-fs-write: $(grep -m1 FAIL "$tmp/fs.log")"
        exit 1
    fi
    port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    state="$tmp/state"
    if ! MLFLOW_PEER_STATE_DIR="$state" MLFLOW_PEER_BACKEND_URI="$tmp/mlruns" \
        timeout 600 "$tools/start.sh" "$MLFLOW_MIRROR" "$port" >"$tmp/peer.env" 2>"$tmp/peer.err"; then
        echo "skip $name: the MLflow server did not start: $(tail -n 1 "$tmp/peer.err")"
        exit 0
    fi
    uri="http://127.0.0.1:$port"
fi

check() { # what ids_file experiment artifacts_mode
    $py - "$uri" "$1" "$2" "$3" "$4" <<'PY'
import json, sys, urllib.request, urllib.parse
uri, what, ids, exp_name, mode = sys.argv[1:6]
exp_id, run_id = open(ids).read().split()
fails = []
def get(route, **q):
    url = uri + route + ("?" + urllib.parse.urlencode(q) if q else "")
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()
def post(path, body):
    req = urllib.request.Request(uri + path, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
def expect(cond, msg):
    if not cond:
        fails.append(msg)
run = json.loads(get("/api/2.0/mlflow/runs/get", run_id=run_id))["run"]
info, data = run["info"], run["data"]
expect(info["status"] == "FINISHED", "status %s" % info["status"])
expect(info["run_name"] == "peer-run", "run_name %r" % info["run_name"])
expect(info["experiment_id"] == exp_id, "experiment_id")
expect(info["end_time"] >= info["start_time"] > 10**12, "start/end time")
expect(info["user_id"] != "", "user_id empty")
params = {p["key"]: p["value"] for p in data["params"]}
expect(len(params) == 122, "%d params" % len(params))
expect(params.get("learning_rate") == "5e-05", "learning_rate")
expect(len(params.get("long_value", "")) == 6000, "long_value not truncated to 6000")
tags = {t["key"]: t["value"] for t in data["tags"]}
for k, v in (("mlflow.runName", "peer-run"), ("mlflow.source.type", "LOCAL"),
             ("mlflow.source.name", "intent train"), ("stage", "peer")):
    expect(tags.get(k) == v, "tag %s=%r" % (k, tags.get(k)))
expect(tags.get("mlflow.user") == info["user_id"], "mlflow.user tag")
expect(tags.get("mlflow.source.git.commit") == "0123456789abcdef0123456789abcdef01234567",
       "mlflow.source.git.commit %r" % tags.get("mlflow.source.git.commit"))
inputs = run.get("inputs", {}).get("dataset_inputs", [])
expect(len(inputs) == 1, "%d dataset inputs: %r" % (len(inputs), inputs))
if inputs:
    ds = inputs[0]["dataset"]
    want = {"name": "peer.json", "digest": "0123456789abcdef0123456789abcdef",
            "source_type": "local", "source": '{"uri": "/data/peer.json"}',
            "profile": '{"num_rows": 7}'}
    for k, v in want.items():
        expect(ds.get(k) == v, "dataset %s %r" % (k, ds.get(k)))
    expect(json.loads(ds.get("schema", "{}"))["mlflow_colspec"][0]["name"] == "text", "schema")
    expect(inputs[0].get("tags") == [{"key": "mlflow.data.context", "value": "training"}],
           "input tags %r" % inputs[0].get("tags"))
metrics = {m["key"]: m for m in data["metrics"]}
expect(metrics.get("nan_metric", {}).get("value") == "NaN", "nan_metric %r" % metrics.get("nan_metric"))
expect(metrics.get("inf_metric", {}).get("value") == "Infinity", "inf_metric")
expect(metrics.get("eval/accuracy", {}).get("value") == 0.75, "eval/accuracy")
for k in ("cpu_utilization_percentage", "system_memory_usage_megabytes",
          "system_memory_usage_percentage", "disk_usage_percentage", "disk_usage_megabytes",
          "disk_available_megabytes", "network_receive_megabytes", "network_transmit_megabytes"):
    m = metrics.get("system/" + k)
    expect(m is not None and m["step"] == 3, "system/%s" % k)
hist = json.loads(get("/api/2.0/mlflow/metrics/get-history", run_id=run_id, metric_key="loss"))["metrics"]
expect(len(hist) == 1500, "loss history has %d points" % len(hist))
expect(sorted(h["step"] for h in hist) == list(range(1500)), "loss steps")
expect(abs(min(hist, key=lambda h: h["step"])["value"] - 1.0) < 1e-12, "loss[0]")
found = post("/api/2.0/mlflow/runs/search", {"experiment_ids": [exp_id],
             "filter": "params.learning_rate = '5e-05' and metrics.loss < 0.001"})
expect(any(r["info"]["run_id"] == run_id for r in found.get("runs", [])), "runs/search")
exp = json.loads(get("/api/2.0/mlflow/experiments/get-by-name", experiment_name=exp_name))["experiment"]
expect(exp["experiment_id"] == exp_id, "experiment by name")
if mode == "file":
    top = json.loads(get("/api/2.0/mlflow/artifacts/list", run_id=run_id))
    files = {f["path"]: f for f in top.get("files", [])}
    expect(files.get("eval_report.json", {}).get("file_size") == 18, "artifacts/list: %r" % files)
    sub = json.loads(get("/api/2.0/mlflow/artifacts/list", run_id=run_id, path="model"))
    expect([f["path"] for f in sub.get("files", [])] == ["model/config.json"], "model/: %r" % sub)
else:
    base = "/api/2.0/mlflow-artifacts/artifacts/%s/%s/artifacts/" % (exp_id, run_id)
    expect(info["artifact_uri"].startswith("mlflow-artifacts:/"), "artifact_uri %s" % info["artifact_uri"])
    expect(get(base + "eval_report.json") == b'{"accuracy": 0.75}', "eval_report.json content")
    expect(get(base + "model/config.json") == b'{"num_labels": 4}', "model/config.json content")
for f in fails:
    print("FAIL %s: %s" % (what, f))
if not fails:
    print("ok %s" % what)
PY
}

rc=0
if [ -f "$tmp/fs_ids" ]; then
    check "$name-filestore-read-by-mlflow" "$tmp/fs_ids" intent-peer file \
        || { echo "FAIL $name-filestore-read-by-mlflow: checker failed"; rc=1; }
fi
if MLFLOW_PEER_URI="$uri" MLFLOW_PEER_OUT="$tmp/rest_ids" MLFLOW_PEER_EXPERIMENT="intent-peer-rest-$$" \
    "$build/intent_test" track_peer_rest >"$tmp/rest.log" 2>&1 && [ -s "$tmp/rest_ids" ]; then
    check "$name-rest-logged-run" "$tmp/rest_ids" "intent-peer-rest-$$" proxy \
        || { echo "FAIL $name-rest-logged-run: checker failed"; rc=1; }
else
    echo "FAIL $name-rest-log: $(grep -m1 FAIL "$tmp/rest.log")"
    rc=1
fi
exit $rc
