#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# http_contract.py - sends the requests of tests/golden/http/*.json to a running server and
# compares the answers with the recorded examples (see tests/golden/http/README.md).
#   http_contract.py BASE_URL [--style STYLE] FILE...
# Prints "ok serve_contract_NAME" / "FAIL serve_contract_NAME: why" per case.
import json
import sys
import urllib.error
import urllib.request


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def shape_diff(got, want, where="$"):
    """None when got has want's shape: same keys in the same order, same JSON types."""
    def kind(v):
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, (int, float)):
            return "number"
        return type(v).__name__
    if kind(got) != kind(want):
        return "%s: %s, want %s" % (where, kind(got), kind(want))
    if isinstance(want, dict):
        if list(got.keys()) != list(want.keys()):
            # maps keyed by data (id2label) only need the same value types
            if where.endswith(("id2label", "label2id")):
                vals = list(want.values())[:1]
                for k, v in got.items():
                    d = shape_diff(v, vals[0], "%s.%s" % (where, k)) if vals else None
                    if d:
                        return d
                return None
            return "%s: keys %s, want %s" % (where, list(got.keys()), list(want.keys()))
        for k in want:
            d = shape_diff(got[k], want[k], "%s.%s" % (where, k))
            if d:
                return d
    if isinstance(want, list) and want:
        for i, g in enumerate(got):
            d = shape_diff(g, want[0], "%s[%d]" % (where, i))
            if d:
                return d
    return None


def sorted_diff(v, key, where="$"):
    if isinstance(v, list):
        objs = [x for x in v if isinstance(x, dict) and key in x]
        if objs and any(objs[i][key] < objs[i + 1][key] for i in range(len(objs) - 1)):
            return "%s: not sorted by %s" % (where, key)
        for i, x in enumerate(v):
            d = sorted_diff(x, key, "%s[%d]" % (where, i))
            if d:
                return d
    elif isinstance(v, dict):
        for k, x in v.items():
            d = sorted_diff(x, key, "%s.%s" % (where, k))
            if d:
                return d
    return None


def send(base, case):
    if "raw_body_hex" in case:
        data = bytes.fromhex(case["raw_body_hex"])
    elif "raw_body" in case:
        data = case["raw_body"].encode()
    elif "body" in case:
        data = compact(case["body"]).encode()
    else:
        data = None
    req = urllib.request.Request(base + case["path"], data=data, method=case["method"])
    if case.get("content_type"):
        req.add_header("Content-Type", case["content_type"])
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def check(base, case):
    status, raw = send(base, case)
    if status != case["status"]:
        return "status %d, want %d: %s" % (status, case["status"], raw[:300])
    text = raw.decode("utf-8")
    got = json.loads(text)
    want = case["response"]
    if case["compare"] == "bytes":
        ign = case.get("ignore", [])
        if ign:
            for k in ign:
                if k not in got:
                    return "missing key %s" % k
                want = dict(want)
                want[k] = got[k]
        if text != compact(want):
            return "body\n got  %s\n want %s" % (text, compact(want))
        return None
    d = shape_diff(got, want)
    if not d and case.get("sorted_desc"):
        d = sorted_diff(got, case["sorted_desc"])
    return d


def main():
    args = sys.argv[1:]
    base = args.pop(0)
    style = None
    if args and args[0] == "--style":
        style = args[1]
        args = args[2:]
    bad = 0
    for path in args:
        for case in json.load(open(path, encoding="utf-8"))["cases"]:
            if style and case.get("style", style) != style:
                continue
            name = "contract_" + case["name"]
            try:
                why = check(base, case)
            except Exception as e:  # a crash of the checker is a failure too
                why = "%s: %s" % (type(e).__name__, e)
            if why:
                bad += 1
                print("FAIL serve_%s: %s" % (name, why))
            else:
                print("ok serve_%s" % name)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
