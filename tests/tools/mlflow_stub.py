#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""mlflow_stub.py - a stub MLflow tracking server for the tracker's tests.

Python 3 standard library only (runs under Debian's /usr/bin/python3).
Serves the REST routes the tracker uses on 127.0.0.1, VALIDATES every
request against the shapes and limits of MLflow 2.12's REST API (as
documented in mlflow/protos/service.proto and mlflow/utils/validation.py),
answers like MLflow, and records every request to a JSON file.

    mlflow_stub.py --record FILE [--port N] [--fail SPEC]... [--slow SPEC]...
                   [--basic USER:PASS] [--bearer TOKEN] [--artifact-root-file DIR]
                   [--tls-cert PEM --tls-key PEM]

Prints "PORT <n>" on stdout once it listens (port 0 = ephemeral). Exits on
SIGTERM, or by itself when its parent process goes away.

--fail PATH:CODE:COUNT[:RETRY_AFTER]  the first COUNT requests whose path
    contains PATH get HTTP CODE (with an MLflow error body for 4xx, a plain
    text body for 5xx, and Retry-After when given). CODE 0 closes the
    connection without answering (a server going away).
--slow PATH:SECONDS:COUNT  the first COUNT matching requests sleep first.
--basic / --bearer  require that Authorization (401 otherwise).
--tls-cert PEM --tls-key PEM  serve HTTPS.
--artifact-root-file DIR  runs get artifact_uri file://DIR/<exp>/<run>/artifacts
    instead of mlflow-artifacts:/<exp>/<run>/artifacts.

The record is a JSON list, rewritten after each request, of
{"method","path","query","content_type","authorization","body" (parsed JSON,
or null), "body_len", "status", "invalid" (why the stub refused it, or null)}.
"""
import argparse
import base64
import hashlib
import json
import math
import os
import posixpath
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

KEY_RE = re.compile(r"^[/\w.\- ]*$")
MAX_METRICS = 1000
MAX_PARAMS_TAGS = 100
MAX_ENTITIES = 1000
MAX_REQUEST = 1000000
MAX_KEY = 250
MAX_PARAM_VAL = 6000
MAX_TAG_VAL = 5000
STATUSES = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"}
# runs/log-inputs (mlflow/utils/validation.py; source_type: the SQL store's column)
MAX_DATASETS = 1000
DATASET_LIMITS = {"name": 500, "digest": 36, "source_type": 36, "source": 65535,
                  "schema": 65535, "profile": 16777215}
DATASET_REQUIRED = ("name", "digest", "source_type", "source")
MAX_INPUT_TAG_KEY = 255
MAX_INPUT_TAG_VALUE = 500
NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class Invalid(Exception):
    def __init__(self, msg, code="INVALID_PARAMETER_VALUE", status=400):
        super().__init__(msg)
        self.code = code
        self.status = status


def reject_constant(name):
    # json.loads accepts bare NaN/Infinity; protobuf's JSON parser does not.
    raise Invalid("bare %s token is not valid JSON (send the string \"NaN\")" % name)


def check_key(key, what):
    if not isinstance(key, str):
        raise Invalid("%s key must be a string, got %r" % (what, key))
    if len(key) > MAX_KEY:
        raise Invalid("%s key %r longer than %d" % (what, key[:40], MAX_KEY))
    if not KEY_RE.match(key):
        raise Invalid("Invalid %s name: %r" % (what, key))
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith("..") or norm.startswith("/"):
        raise Invalid("Invalid %s name: %r (not a normalized path)" % (what, key))


def as_int(v, what, required=True):
    if v is None:
        if required:
            raise Invalid("Missing value for required parameter '%s'" % what)
        return None
    if isinstance(v, bool):
        raise Invalid("%s must be an integer" % what)
    if isinstance(v, int):
        return v
    if isinstance(v, str) and re.fullmatch(r"-?\d+", v):
        return int(v)
    raise Invalid("%s must be an integer, got %r" % (what, v))


def as_str(v, what, required=True):
    if v is None:
        if required:
            raise Invalid("Missing value for required parameter '%s'" % what)
        return None
    if not isinstance(v, str):
        raise Invalid("%s must be a string, got %r" % (what, v))
    return v


def check_kv_list(lst, what):
    if lst is None:
        return []
    if not isinstance(lst, list):
        raise Invalid("%s must be a list" % what)
    for e in lst:
        if not isinstance(e, dict) or set(e) - {"key", "value"}:
            raise Invalid("%s entries must be {key, value}: %r" % (what, e))
        check_key(e.get("key"), what)
        as_str(e.get("value", ""), what + ".value")
    return lst


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.record = []
        now = int(time.time() * 1000)
        self.experiments = {"0": {"experiment_id": "0", "name": "Default",
                                  "artifact_location": "mlflow-artifacts:/0",
                                  "lifecycle_stage": "active", "creation_time": now,
                                  "last_update_time": now, "tags": []}}
        self.next_exp = 1
        self.runs = {}
        self.artifacts = {}
        self.fails = []
        for spec in args.fail or []:
            parts = spec.split(":")
            self.fails.append({"path": parts[0], "code": int(parts[1]), "left": int(parts[2]),
                               "retry_after": parts[3] if len(parts) > 3 else None})
        self.slows = []
        for spec in args.slow or []:
            parts = spec.split(":")
            self.slows.append({"path": parts[0], "secs": float(parts[1]), "left": int(parts[2])})

    def save(self):
        tmp = self.args.record + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.record, f, indent=1)
        os.replace(tmp, self.args.record)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mlflow-stub/2.12"

    def log_message(self, fmt, *a):  # quiet
        pass

    def reply(self, status, obj=None, text=None, headers=None):
        body = (json.dumps(obj) if obj is not None else (text or "")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if obj is not None else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def handle_any(self, method):
        st = self.server.state
        url = urlsplit(self.path)
        path = unquote(url.path)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        rec = {"method": method, "path": path, "raw_path": url.path, "query": url.query,
               "content_type": self.headers.get("Content-Type"),
               "authorization": self.headers.get("Authorization"),
               "body": None, "body_len": len(raw), "status": None, "invalid": None,
               "time": time.time()}
        with st.lock:
            fail = None
            slow = None
            for f in st.fails:
                if f["path"] in path and f["left"] > 0:
                    f["left"] -= 1
                    fail = f
                    break
            for s in st.slows:
                if s["path"] in path and s["left"] > 0:
                    s["left"] -= 1
                    slow = s
                    break
        if slow:
            time.sleep(slow["secs"])
        status, obj, text, headers = 200, {}, None, {}
        try:
            if fail is not None:
                rec["injected"] = fail["code"]
                if raw and method == "POST":
                    try:
                        rec["body"] = json.loads(raw.decode("utf-8"))
                    except ValueError:
                        pass
                if fail["code"] == 0:
                    with st.lock:
                        rec["status"] = 0
                        st.record.append(rec)
                        st.save()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status = fail["code"]
                if fail["retry_after"] is not None:
                    headers["Retry-After"] = fail["retry_after"]
                if status >= 500:
                    obj, text = None, "injected failure"
                else:
                    obj = {"error_code": "BAD_REQUEST", "message": "injected failure"}
            else:
                with st.lock:
                    self.check_auth()
                    if method == "PUT":
                        obj = self.put_artifact(st, path, raw, rec)
                    else:
                        if method == "POST":
                            ct = (rec["content_type"] or "").split(";")[0].strip()
                            if ct != "application/json":
                                raise Invalid("Content-Type must be one of ['application/json']")
                            if len(raw) >= MAX_REQUEST:
                                raise Invalid("request of %d bytes is over 1 MB" % len(raw))
                            try:
                                body = json.loads(raw.decode("utf-8"),
                                                  parse_constant=reject_constant)
                            except Invalid:
                                raise
                            except Exception as e:
                                raise Invalid("body is not JSON: %s" % e)
                            if not isinstance(body, dict):
                                raise Invalid("body must be a JSON object")
                            rec["body"] = body
                        else:
                            body = {k: v[0] for k, v in parse_qs(url.query).items()}
                            rec["body"] = body
                        obj = self.route(st, method, path, body)
        except Invalid as e:
            status, obj = e.status, {"error_code": e.code, "message": str(e)}
            if e.code not in ("RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS"):
                rec["invalid"] = str(e)
        with st.lock:
            rec["status"] = status
            st.record.append(rec)
            st.save()
        self.reply(status, obj, text, headers)

    def check_auth(self):
        a = self.server.state.args
        got = self.headers.get("Authorization") or ""
        if a.basic:
            want = "Basic " + base64.b64encode(a.basic.encode()).decode()
            if got != want:
                raise Invalid("credentials required", "UNAUTHENTICATED", 401)
        if a.bearer and got != "Bearer " + a.bearer:
            raise Invalid("token required", "UNAUTHENTICATED", 401)

    def put_artifact(self, st, path, raw, rec):
        prefix = "/api/2.0/mlflow-artifacts/artifacts/"
        if not path.startswith(prefix):
            raise Invalid("no such route: PUT %s" % path, "ENDPOINT_NOT_FOUND", 404)
        rel = path[len(prefix):]
        if ".." in rel.split("/") or rel.startswith("/") or "//" in rel:
            raise Invalid("Invalid path")
        parts = rel.split("/")
        if len(parts) < 4 or parts[2] != "artifacts" or parts[1] not in st.runs:
            raise Invalid("artifact path %r is not <exp>/<run>/artifacts/<file>" % rel)
        st.artifacts[rel] = {"size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
        rec["artifact"] = st.artifacts[rel]
        return {}

    def route(self, st, method, path, body):
        prefixes = ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/")
        ep = None
        for p in prefixes:
            if path.startswith(p):
                ep = path[len(p):]
        if ep is None:
            raise Invalid("no such route: %s %s" % (method, path), "ENDPOINT_NOT_FOUND", 404)
        fn = ROUTES.get((method, ep))
        if fn is None:
            raise Invalid("no such route: %s %s" % (method, path), "ENDPOINT_NOT_FOUND", 404)
        return fn(st, body)


def get_run(st, body):
    run_id = as_str(body.get("run_id") or body.get("run_uuid"), "run_id")
    run = st.runs.get(run_id)
    if run is None:
        raise Invalid("Run '%s' not found" % run_id, "RESOURCE_DOES_NOT_EXIST", 404)
    return run


def exp_get_by_name(st, body):
    name = as_str(body.get("experiment_name"), "experiment_name")
    for e in st.experiments.values():
        if e["name"] == name:
            return {"experiment": e}
    raise Invalid("Could not find experiment with name '%s'" % name,
                  "RESOURCE_DOES_NOT_EXIST", 404)


def exp_get(st, body):
    eid = as_str(body.get("experiment_id"), "experiment_id")
    if eid not in st.experiments:
        raise Invalid("No Experiment with id=%s exists" % eid, "RESOURCE_DOES_NOT_EXIST", 404)
    return {"experiment": st.experiments[eid]}


def exp_create(st, body):
    name = as_str(body.get("name"), "name")
    if not name:
        raise Invalid("Invalid experiment name: ''")
    if len(name) > 500:
        raise Invalid("experiment name longer than 500")
    check_kv_list(body.get("tags"), "tag")
    for e in st.experiments.values():
        if e["name"] == name:
            raise Invalid("Experiment '%s' already exists." % name, "RESOURCE_ALREADY_EXISTS")
    eid = str(st.next_exp)
    st.next_exp += 1
    now = int(time.time() * 1000)
    st.experiments[eid] = {"experiment_id": eid, "name": name,
                           "artifact_location": "mlflow-artifacts:/" + eid,
                           "lifecycle_stage": "active", "creation_time": now,
                           "last_update_time": now, "tags": body.get("tags") or []}
    return {"experiment_id": eid}


def run_create(st, body):
    eid = as_str(body.get("experiment_id"), "experiment_id")
    if eid not in st.experiments:
        raise Invalid("No Experiment with id=%s exists" % eid, "RESOURCE_DOES_NOT_EXIST", 404)
    start = as_int(body.get("start_time"), "start_time")
    if start < 10 ** 12:
        raise Invalid("start_time %d is not in milliseconds" % start)
    user = as_str(body.get("user_id", ""), "user_id")
    name = as_str(body.get("run_name", ""), "run_name")
    tags = check_kv_list(body.get("tags"), "tag")
    rid = uuid.uuid4().hex
    if st.args.artifact_root_file:
        art = "file://%s/%s/%s/artifacts" % (st.args.artifact_root_file, eid, rid)
    else:
        art = "mlflow-artifacts:/%s/%s/artifacts" % (eid, rid)
    info = {"run_id": rid, "run_uuid": rid, "run_name": name, "experiment_id": eid,
            "user_id": user, "status": "RUNNING", "start_time": start,
            "artifact_uri": art, "lifecycle_stage": "active"}
    run = {"info": info, "metrics": [], "params": {}, "tags": {}, "inputs": []}
    for t in tags:
        run["tags"][t["key"]] = t["value"]
    if name:
        run["tags"]["mlflow.runName"] = name
    st.runs[rid] = run
    return {"run": {"info": info, "data": {"tags": [{"key": k, "value": v}
                                                    for k, v in run["tags"].items()]},
                    "inputs": {}}}


def run_update(st, body):
    run = get_run(st, body)
    status = body.get("status")
    if status is not None:
        if status not in STATUSES:
            raise Invalid("unknown run status %r" % status)
        run["info"]["status"] = status
    end = as_int(body.get("end_time"), "end_time", required=False)
    if end is not None:
        if end < 10 ** 12:
            raise Invalid("end_time %d is not in milliseconds" % end)
        run["info"]["end_time"] = end
    return {"run_info": run["info"]}


def value_of(v):
    if isinstance(v, bool):
        raise Invalid("metric value must be a number, got %r" % v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v in NONFINITE:
        return NONFINITE[v]
    raise Invalid("metric value must be a number or \"NaN\"/\"Infinity\"/\"-Infinity\", "
                  "got %r" % v)


def log_batch(st, body):
    run = get_run(st, body)
    metrics = body.get("metrics") or []
    params = body.get("params") or []
    tags = body.get("tags") or []
    for lst, what in ((metrics, "metrics"), (params, "params"), (tags, "tags")):
        if not isinstance(lst, list):
            raise Invalid("%s must be a list" % what)
    if len(metrics) > MAX_METRICS:
        raise Invalid("A batch logging request can contain at most %d metrics. Got %d metrics."
                      % (MAX_METRICS, len(metrics)))
    if len(params) > MAX_PARAMS_TAGS:
        raise Invalid("A batch logging request can contain at most %d params. Got %d params."
                      % (MAX_PARAMS_TAGS, len(params)))
    if len(tags) > MAX_PARAMS_TAGS:
        raise Invalid("A batch logging request can contain at most %d tags. Got %d tags."
                      % (MAX_PARAMS_TAGS, len(tags)))
    if len(metrics) + len(params) + len(tags) > MAX_ENTITIES:
        raise Invalid("A batch logging request can contain at most %d entities."
                      % MAX_ENTITIES)
    new_metrics = []
    for m in metrics:
        if not isinstance(m, dict):
            raise Invalid("metric must be an object")
        check_key(m.get("key"), "metric")
        val = value_of(m.get("value"))
        ts = as_int(m.get("timestamp"), "timestamp")
        if ts < 0:
            raise Invalid("Metric timestamp must be non-negative")
        step = as_int(m.get("step", 0), "step")
        new_metrics.append({"key": m["key"], "value": val, "timestamp": ts, "step": step})
    check_kv_list(params, "param")
    check_kv_list(tags, "tag")
    keys = [p["key"] for p in params]
    if len(set(keys)) != len(keys):
        raise Invalid("Duplicate parameter keys have been submitted: %r" % keys)
    for p in params:
        v = p.get("value", "")
        if len(v) > MAX_PARAM_VAL:
            raise Invalid("Param value for %s longer than %d" % (p["key"], MAX_PARAM_VAL))
        old = run["params"].get(p["key"])
        if old is not None and old != v:
            raise Invalid("Changing param values is not allowed. Param with key='%s' was "
                          "already logged with value='%s'" % (p["key"], old))
    for t in tags:
        if len(t.get("value", "")) > MAX_TAG_VAL:
            raise Invalid("Tag value for %s longer than %d" % (t["key"], MAX_TAG_VAL))
    for p in params:
        run["params"][p["key"]] = p.get("value", "")
    for t in tags:
        run["tags"][t["key"]] = t.get("value", "")
    run["metrics"].extend(new_metrics)
    return {}


def check_dataset_input(di):
    if not isinstance(di, dict) or set(di) - {"tags", "dataset"}:
        raise Invalid("dataset input must be {tags, dataset}: %r" % (di,))
    ds = di.get("dataset")
    if not isinstance(ds, dict):
        raise Invalid("Dataset cannot be None")
    extra = set(ds) - set(DATASET_LIMITS)
    if extra:
        raise Invalid("unknown dataset field(s) %s" % sorted(extra))
    for k in DATASET_REQUIRED:
        if not as_str(ds.get(k), "dataset." + k):
            raise Invalid("Dataset %s cannot be None" % k)
    for k, limit in DATASET_LIMITS.items():
        v = as_str(ds.get(k), "dataset." + k, required=False)
        if v is not None and len(v) > limit:
            raise Invalid("Dataset %s exceeds the maximum length of %d" % (k, limit))
    tags = di.get("tags") or []
    if not isinstance(tags, list):
        raise Invalid("dataset input tags must be a list")
    for t in tags:
        if not isinstance(t, dict) or set(t) - {"key", "value"}:
            raise Invalid("input tag must be {key, value}: %r" % (t,))
        key = as_str(t.get("key"), "InputTag key")
        val = as_str(t.get("value"), "InputTag value")
        if len(key) > MAX_INPUT_TAG_KEY:
            raise Invalid("InputTag key exceeds the maximum length of %d" % MAX_INPUT_TAG_KEY)
        if len(val) > MAX_INPUT_TAG_VALUE:
            raise Invalid("InputTag value exceeds the maximum length of %d"
                          % MAX_INPUT_TAG_VALUE)
    return {"tags": [dict(t) for t in tags], "dataset": dict(ds)}


def log_inputs(st, body):
    run = get_run(st, body)
    if run["info"]["lifecycle_stage"] != "active":
        raise Invalid("The run %s must be in the 'active' state." % run["info"]["run_id"])
    datasets = body.get("datasets")
    if datasets is None:
        raise Invalid("Missing value for required parameter 'datasets'")
    if not isinstance(datasets, list):
        raise Invalid("datasets must be a list")
    if len(datasets) > MAX_DATASETS:
        raise Invalid("A batch logging request can contain at most %d datasets. Got %d."
                      % (MAX_DATASETS, len(datasets)))
    new = [check_dataset_input(di) for di in datasets]
    for di in new:
        d = di["dataset"]
        same = [x for x in run["inputs"] if x["dataset"]["name"] == d["name"]
                and x["dataset"]["digest"] == d["digest"]]
        if not same:
            run["inputs"].append(di)
    return {}


def json_value(v):
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def run_get(st, body):
    run = get_run(st, body)
    latest = {}
    for m in run["metrics"]:
        k = (m["step"], m["timestamp"], m["value"])
        if m["key"] not in latest or k >= latest[m["key"]][0]:
            latest[m["key"]] = (k, m)
    return {"run": {"info": run["info"], "data": {
        "metrics": [dict(m, value=json_value(m["value"])) for _, m in latest.values()],
        "params": [{"key": k, "value": v} for k, v in run["params"].items()],
        "tags": [{"key": k, "value": v} for k, v in run["tags"].items()]},
        "inputs": {"dataset_inputs": run["inputs"]}}}


def metric_history(st, body):
    run = get_run(st, body)
    key = as_str(body.get("metric_key"), "metric_key")
    return {"metrics": [dict(m, value=json_value(m["value"]))
                        for m in run["metrics"] if m["key"] == key]}


ROUTES = {
    ("GET", "experiments/get-by-name"): exp_get_by_name,
    ("GET", "experiments/get"): exp_get,
    ("POST", "experiments/create"): exp_create,
    ("POST", "runs/create"): run_create,
    ("POST", "runs/update"): run_update,
    ("POST", "runs/log-batch"): log_batch,
    ("POST", "runs/log-inputs"): log_inputs,
    ("GET", "runs/get"): run_get,
    ("GET", "metrics/get-history"): metric_history,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--record", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fail", action="append")
    ap.add_argument("--slow", action="append")
    ap.add_argument("--basic")
    ap.add_argument("--bearer")
    ap.add_argument("--artifact-root-file")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.daemon_threads = True
    srv.state = State(args)
    srv.state.save()
    # exit when whoever started us goes away (a test killed by a timeout)
    parent = os.getppid()

    def watch_parent():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
