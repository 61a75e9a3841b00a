#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# openapi_check.py - checks GET /openapi.json of a running server with the standard library:
# the OpenAPI 3.1 structure (required fields, unique operationIds, every $ref resolves,
# `required` names only declared properties), that every documented route answers, and that
# answers fit their documented schema exactly: every returned field is declared (no field the
# schema does not name) and every `required` field is present. Answers come from the schema
# examples (200) and from the recorded contract cases given as FILEs (their status's schema).
#   openapi_check.py BASE_URL [FILE...]
# Prints "ok serve_openapi_NAME" / "FAIL serve_openapi_NAME: why".
import json
import sys
import urllib.error
import urllib.request

TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def fetch(base, path, method="GET", body=None, ctype=None):
    req = urllib.request.Request(base + path, data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def resolve(doc, ref):
    if not ref.startswith("#/"):
        raise ValueError("external $ref " + ref)
    node = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def structure(doc):
    """Problems with the document's OpenAPI 3.1 structure, as strings."""
    errs = []
    if not str(doc.get("openapi", "")).startswith("3.1."):
        errs.append("openapi is %r, want 3.1.x" % doc.get("openapi"))
    info = doc.get("info", {})
    for k in ("title", "version"):
        if not isinstance(info.get(k), str):
            errs.append("info.%s missing" % k)
    ids = set()
    for path, item in doc.get("paths", {}).items():
        if not path.startswith("/"):
            errs.append("path %r" % path)
        for m, op in item.items():
            if m not in METHODS:
                errs.append("%s: method %r" % (path, m))
                continue
            oid = op.get("operationId")
            if not oid or oid in ids:
                errs.append("%s %s: operationId %r missing or repeated" % (m, path, oid))
            ids.add(oid)
            rs = op.get("responses")
            if not rs or "200" not in rs:
                errs.append("%s %s: no 200 response" % (m, path))
            for code, r in (rs or {}).items():
                if not isinstance(r.get("description"), str):
                    errs.append("%s %s %s: no description" % (m, path, code))
            rb = op.get("requestBody")
            if rb and "schema" not in rb.get("content", {}).get("application/json", {}):
                errs.append("%s %s: requestBody without a JSON schema" % (m, path))

    def walk(x, where):
        if isinstance(x, dict):
            if "$ref" in x:
                try:
                    resolve(doc, x["$ref"])
                except (KeyError, ValueError):
                    errs.append("%s: $ref %s does not resolve" % (where, x["$ref"]))
            t = x.get("type")
            if isinstance(t, str) and t not in TYPES or (
                    isinstance(t, list) and not set(t) <= TYPES):
                if where.split(".")[-1] != "properties":
                    errs.append("%s: type %r" % (where, t))
            req = x.get("required")
            if isinstance(req, list) and isinstance(x.get("properties"), dict):
                for k in req:
                    if k not in x["properties"]:
                        errs.append("%s: required %r is not a property" % (where, k))
            for k, v in x.items():
                walk(v, where + "." + k)
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, "%s[%d]" % (where, i))
    walk(doc, "$")
    return errs


def validate(doc, v, s, where="$"):
    """None when v fits schema s (strictly: undeclared object fields are errors)."""
    if "$ref" in s:
        return validate(doc, v, resolve(doc, s["$ref"]), where)
    if "oneOf" in s:
        ok = [sub for sub in s["oneOf"] if validate(doc, v, sub, where) is None]
        return None if len(ok) == 1 else "%s: matches %d of oneOf" % (where, len(ok))
    t = s.get("type")
    if t is not None:
        ts = t if isinstance(t, list) else [t]
        def is_(tt):
            return {"object": isinstance(v, dict), "array": isinstance(v, list),
                    "string": isinstance(v, str), "boolean": isinstance(v, bool),
                    "null": v is None,
                    "integer": isinstance(v, int) and not isinstance(v, bool),
                    "number": isinstance(v, (int, float)) and not isinstance(v, bool)}[tt]
        if not any(is_(tt) for tt in ts):
            return "%s: %r is not %s" % (where, v, t)
    if "enum" in s and v not in s["enum"]:
        return "%s: %r not in %r" % (where, v, s["enum"])
    if isinstance(v, (int, float)) and not isinstance(v, bool) and "minimum" in s \
            and v < s["minimum"]:
        return "%s: %r < minimum" % (where, v)
    if isinstance(v, str) and len(v) < s.get("minLength", 0):
        return "%s: shorter than minLength" % where
    if isinstance(v, list):
        if len(v) < s.get("minItems", 0) or len(v) > s.get("maxItems", 1 << 60):
            return "%s: %d items out of [minItems, maxItems]" % (where, len(v))
        for i, x in enumerate(v):
            d = validate(doc, x, s.get("items", {}), "%s[%d]" % (where, i))
            if d:
                return d
    if isinstance(v, dict) and ("properties" in s or "additionalProperties" in s):
        props = s.get("properties", {})
        for k in s.get("required", []):
            if k not in v:
                return "%s: required field %r missing" % (where, k)
        for k, x in v.items():
            if k in props:
                sub = props[k]
            elif isinstance(s.get("additionalProperties"), dict):
                sub = s["additionalProperties"]
            elif s.get("additionalProperties") is True:
                continue
            else:
                return "%s: field %r is not in the schema" % (where, k)
            d = validate(doc, x, sub, "%s.%s" % (where, k))
            if d:
                return d
    return None


def response_schema(doc, path, method, status):
    op = doc["paths"][path][method.lower()]
    r = op["responses"].get(str(status))
    if r is None:
        return None, None
    media = list(r["content"].keys())[0]
    return media, r["content"][media]["schema"]


def check_answer(doc, path, method, status, ctype, raw):
    media, schema = response_schema(doc, path, method, status)
    if schema is None:
        return "status %d is not documented for %s %s" % (status, method, path)
    if not ctype.startswith(media):
        return "content type %s, documented %s" % (ctype, media)
    if media != "application/json":
        return None
    return validate(doc, json.loads(raw), schema)


def example_body(doc, op):
    rb = op.get("requestBody")
    if not rb:
        return None
    s = rb["content"]["application/json"]["schema"]
    s = resolve(doc, s["$ref"]) if "$ref" in s else s
    return json.dumps(s.get("example", {})).encode()


def main():
    base, files = sys.argv[1], sys.argv[2:]
    results = []
    st, ct, raw = fetch(base, "/openapi.json")
    doc = json.loads(raw)
    errs = structure(doc)
    results.append(("structure", "; ".join(errs[:5]) if errs else None))
    # every route answers 200 with a body that fits its schema
    for path, item in doc["paths"].items():
        for m, op in item.items():
            body = example_body(doc, op)
            st, ct, raw = fetch(base, path, m.upper(), body,
                                "application/json" if body is not None else None)
            why = "status %d: %s" % (st, raw[:200]) if st != 200 else \
                check_answer(doc, path, m, st, ct, raw)
            results.append(("route_" + op["operationId"], why))
    # recorded requests: every answer fits the schema documented for its status
    for f in files:
        for case in json.load(open(f, encoding="utf-8"))["cases"]:
            if "raw_body_hex" in case:
                body = bytes.fromhex(case["raw_body_hex"])
            elif "raw_body" in case:
                body = case["raw_body"].encode()
            elif "body" in case:
                body = json.dumps(case["body"]).encode()
            else:
                body = None
            st, ct, raw = fetch(base, case["path"], case["method"], body,
                                case.get("content_type"))
            results.append(("case_" + case["name"],
                            check_answer(doc, case["path"], case["method"], st, ct, raw)))
    bad = 0
    for name, why in results:
        if why:
            bad += 1
            print("FAIL serve_openapi_%s: %s" % (name, why))
        else:
            print("ok serve_openapi_%s" % name)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
