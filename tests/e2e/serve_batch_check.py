# SPDX-License-Identifier: Apache-2.0
"""serve_batch_check.py - checks of intent serve's token-budget batcher, run by
tests/e2e/serve_batch.sh against a running server.

  serve_batch_check.py same URL        concurrent answers == sequential ones: the same
                                       labels in the same order, scores within float32
                                       rounding (a merged forward has more rows, and BLAS
                                       blocks its sums by the row count), and the batcher
                                       merged requests (te_batch_next_size)
  serve_batch_check.py exact URL       the same, byte for byte, on a server with
                                       --coalesce 1 (no merging: every request its own
                                       forward, as when sequential)
  serve_batch_check.py busy URL        --max-concurrent-requests 1: some of many concurrent
                                       requests get 429 + Retry-After in each route's shape
  serve_batch_check.py metrics URL     /metrics is valid Prometheus text; histograms are
                                       cumulative, +Inf == _count, monotonic across scrapes
  serve_batch_check.py headers URL     x-compute-time & co. on inference answers
  serve_batch_check.py budget URL      --max-batch-tokens 16 --max-batch-requests 2: under
                                       concurrent load no merged batch passes either
  serve_batch_check.py openapi URL KEY /openapi.json with --api-key KEY: an HTTP bearer
                                       scheme required by exactly the protected routes;
                                       429 and 413 documented on the inference routes

Prints "ok NAME" / "FAIL NAME: why"; exit status 1 on any failure.
"""
import http.client
import json
import re
import sys
import threading
import urllib.parse

FAILED = []


def ok(name):
    print("ok serve_batch_" + name)


def fail(name, why):
    FAILED.append(name)
    print("FAIL serve_batch_%s: %s" % (name, why))


def request(url, method, path, body=None, headers=None):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    h = {"Content-Type": "application/json"} if body is not None else {}
    h.update(headers or {})
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


WORDS = ("hola adios quiero ver las noticias reservar una mesa cancelar el clima de hoy en "
         "madrid que tiempo hace buenos dias gracias por favor vuelo hotel para dos personas").split()


def texts(n):
    """n texts of different lengths (1 to 40 words), deterministic."""
    out = []
    for i in range(n):
        k = 1 + (i * 7) % 40
        out.append(" ".join(WORDS[(i + j * 3) % len(WORDS)] for j in range(k)))
    return out


def calls(ts):
    """(route, body) pairs: every inference route, single texts and a batch."""
    out = []
    for i, t in enumerate(ts):
        if i % 4 == 0:
            out.append(("/predict", {"inputs": t, "raw_scores": True, "truncate": True}))
        elif i % 4 == 1:
            out.append(("/classify", {"text": t, "top_k": 5}))
        elif i % 4 == 2:
            out.append(("/model/parse", {"text": t}))
        else:
            out.append(("/predict", {"inputs": [[t], [ts[(i + 5) % len(ts)]]], "truncate": True}))
    return out


def metric(url, name):
    _, _, data = request(url, "GET", "/metrics")
    m = re.search(r"^%s (\S+)$" % re.escape(name), data.decode(), re.M)
    return float(m.group(1)) if m else None


def run_concurrent(url, work, n_threads):
    """Runs work (list of (route, body)) from n_threads threads; answers by index."""
    res = [None] * len(work)
    nxt = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(work):
                return
            st, h, data = request(url, "POST", work[i][0], work[i][1])
            res[i] = (st, h, data)

    th = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return res


def close(a, b, worst):
    """a and b (parsed JSON) equal but for float scores within 1e-5 relative."""
    if isinstance(a, float) or isinstance(b, float):
        d = abs(a - b)
        worst[0] = max(worst[0], d)
        return d <= 1e-5 * max(1.0, abs(a))
    if isinstance(a, dict):
        return (isinstance(b, dict) and list(a) == list(b) and
                all(close(a[k], b[k], worst) for k in a))
    if isinstance(a, list):
        return (isinstance(b, list) and len(a) == len(b) and
                all(close(x, y, worst) for x, y in zip(a, b)))
    return a == b


def check_same(url, exact=False):
    work = calls(texts(96))
    seq = [request(url, "POST", r, b)[::2] for r, b in work]
    bad = [i for i, (st, _) in enumerate(seq) if st != 200]
    if bad:
        return fail("sequential", "status %d for %s" % (seq[bad[0]][0], work[bad[0]]))
    n0 = metric(url, "te_batch_next_size_count")
    s0 = metric(url, "te_batch_next_size_sum")
    merged, worst, name = False, [0.0], "exact" if exact else "same_scores"
    for _ in range(5):
        con = run_concurrent(url, work, 16)
        for i, (st, _, data) in enumerate(con):
            same = data == seq[i][1] if exact else close(json.loads(data),
                                                         json.loads(seq[i][1]), worst)
            if st != 200 or not same:
                return fail(name, "request %d %s: %d %r != %r" %
                            (i, work[i][0], st, data[:200], seq[i][1][:200]))
        n1 = metric(url, "te_batch_next_size_count")
        s1 = metric(url, "te_batch_next_size_sum")
        if n1 is None or s1 is None:
            return fail("same_scores", "no te_batch_next_size in /metrics")
        if n1 - n0 < len(work) and s1 - s0 > n1 - n0:
            merged = True
            break
        n0, s0 = n1, s1
    print("# %s: %d requests x 16 clients, largest score difference %.3g" %
          (name, len(work), worst[0]))
    ok(name)
    if exact:
        if merged:
            return fail("exact", "--coalesce 1 merged requests")
        return None
    if merged:
        ok("merged")
    else:
        fail("merged", "16 concurrent clients never shared a forward")


def check_busy(url):
    big = texts(200)
    shapes = {
        "/classify/batch": ({"texts": big}, lambda j: j == {"detail": "Too Many Requests"}),
        "/predict": ({"inputs": [[t] for t in big], "truncate": True},
                     lambda j: j == {"error": "Model is overloaded", "error_type": "overloaded"}),
        "/model/parse": ({"text": " ".join(big)},
                         lambda j: j.get("code") == 429 and j.get("status") == "failure"),
    }
    for route, (body, shape) in shapes.items():
        seen = None
        for _ in range(10):
            res = run_concurrent(url, [(route, body)] * 24, 24)
            sts = {st for st, _, _ in res}
            if not sts <= {200, 429}:
                return fail("busy", "%s: statuses %s" % (route, sorted(sts)))
            seen = [r for r in res if r[0] == 429]
            if seen and any(st == 200 for st, _, _ in res):
                break
        if not seen:
            return fail("busy", "%s: no 429 from 24 concurrent requests with a limit of 1" % route)
        st, h, data = seen[0]
        if h.get("retry-after") != "1":
            return fail("busy", "%s: Retry-After %r" % (route, h.get("retry-after")))
        if not shape(json.loads(data)):
            return fail("busy", "%s: body %r" % (route, data))
    st, _, _ = request(url, "POST", "/classify", {"text": "hola"})
    if st != 200:
        return fail("busy", "after the 429s /classify answers %d" % st)
    if not metric(url, 'te_request_failure{err="overloaded"}'):
        return fail("busy", "te_request_failure{err=\"overloaded\"} is 0")
    ok("busy_429")


LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def parse_metrics(text):
    """{(name, labels): value}; checks every line's syntax and TYPE/HELP order."""
    out, types = {}, {}
    for ln in text.splitlines():
        if ln.startswith("# TYPE "):
            _, _, name, typ = ln.split(" ", 3)
            if name in types:
                raise ValueError("TYPE %s twice" % name)
            types[name] = typ
            continue
        if ln.startswith("#") or not ln:
            continue
        m = LINE.match(ln)
        if not m:
            raise ValueError("bad line %r" % ln)
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out, types


def check_hist(vals, name):
    """Buckets cumulative and ascending, +Inf == _count, _sum >= 0."""
    bs = sorted(((float(re.search(r'le="([^"]+)"', lab).group(1)), v)
                 for (n, lab), v in vals.items() if n == name + "_bucket"))
    if not bs or bs[-1][0] != float("inf"):
        raise ValueError("%s: no +Inf bucket" % name)
    for (_, a), (_, b) in zip(bs, bs[1:]):
        if b < a:
            raise ValueError("%s: buckets not cumulative" % name)
    if vals[(name + "_count", "")] != bs[-1][1] or vals[(name + "_sum", "")] < 0:
        raise ValueError("%s: _count != +Inf bucket or negative _sum" % name)


def check_metrics(url):
    hists = ["te_request_duration", "te_tokenization_duration", "te_queue_duration",
             "te_inference_duration", "te_batch_next_size", "te_batch_next_tokens"]
    try:
        _, h, a = request(url, "GET", "/metrics")
        if not h.get("content-type", "").startswith("text/plain; version=0.0.4"):
            raise ValueError("content type %r" % h.get("content-type"))
        va, ta = parse_metrics(a.decode())
        for n in hists:
            if ta.get(n) != "histogram":
                raise ValueError("%s: TYPE %r" % (n, ta.get(n)))
            check_hist(va, n)
        request(url, "POST", "/predict", {"inputs": "hola"})
        vb, _ = parse_metrics(request(url, "GET", "/metrics")[2].decode())
        for n in hists:
            check_hist(vb, n)
        for k, v in va.items():
            if ta.get(k[0].rsplit("_", 1)[0]) == "histogram" or ta.get(k[0]) == "counter":
                if vb.get(k, -1) < v:
                    raise ValueError("%s%s went down: %g -> %g" % (k[0], k[1], v, vb.get(k, -1)))
        if vb[("te_request_duration_count", "")] < va[("te_request_duration_count", "")] + 1:
            raise ValueError("te_request_duration_count did not count a /predict")
    except (ValueError, KeyError) as e:
        return fail("metrics", str(e))
    ok("metrics")


def check_headers(url):
    names = ["x-compute-time", "x-tokenization-time", "x-queue-time", "x-inference-time",
             "x-total-time", "x-compute-characters", "x-compute-tokens"]
    for route, body in [("/predict", {"inputs": "hola que tiempo hace"}),
                        ("/classify", {"text": "hola que tiempo hace"}),
                        ("/model/parse", {"text": "hola que tiempo hace"})]:
        st, h, _ = request(url, "POST", route, body)
        for n in names:
            if st != 200 or not re.fullmatch(r"[0-9]+", h.get(n, "")):
                return fail("headers", "%s: %s = %r" % (route, n, h.get(n)))
        if h["x-compute-characters"] != "20" or h["x-compute-tokens"] != "6":
            return fail("headers", "%s: characters %s tokens %s" %
                        (route, h["x-compute-characters"], h["x-compute-tokens"]))
    st, h, _ = request(url, "POST", "/predict", {"inputs": ""})
    if st != 413 or "x-compute-time" in h:
        return fail("headers", "a refused request has timing headers (%d)" % st)
    ok("headers")


def bucket(vals, name, le):
    return vals[(name + "_bucket", '{le="%s"}' % le)]


def check_budget(url):
    # short texts (3 to 8 tokens): two to five would fit 16 tokens, so both
    # budgets bind
    short = [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(1 + i % 6)) for i in range(64)]
    work = [("/classify", {"text": t}) for t in short] * 3
    vals = {}
    for _ in range(12):
        run_concurrent(url, work, 24)
        vals, _ = parse_metrics(request(url, "GET", "/metrics")[2].decode())
        if vals[("te_batch_next_size_sum", "")] > vals[("te_batch_next_size_count", "")]:
            break
    n = vals[("te_batch_next_size_count", "")]
    if bucket(vals, "te_batch_next_size", "2") != n:
        return fail("budget", "a merged batch held more than 2 requests")
    if bucket(vals, "te_batch_next_tokens", "16") != n:
        return fail("budget", "a merged batch held more than 16 tokens")
    if vals[("te_batch_next_size_sum", "")] <= n:
        return fail("budget", "no merged batch of 2 requests under 24 concurrent clients")
    ok("budget")


def check_openapi(url, key):
    st, _, data = request(url, "GET", "/openapi.json")
    doc = json.loads(data)
    schemes = doc.get("components", {}).get("securitySchemes", {})
    if schemes.get("HTTPBearer") != {"type": "http", "scheme": "bearer"}:
        return fail("openapi", "securitySchemes %r" % schemes)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            st, _, _ = request(url, method.upper(), path,
                               {"text": "hola"} if "requestBody" in op else None)
            locked = st == 401
            if locked != (op.get("security") == [{"HTTPBearer": []}]):
                return fail("openapi", "%s %s: status %d without a key, security %r" %
                            (method, path, st, op.get("security")))
            if "requestBody" in op:
                for code in ("413", "429"):
                    if code not in op["responses"]:
                        return fail("openapi", "%s %s: no %s response" % (method, path, code))
            if locked:
                st, _, _ = request(url, method.upper(), path,
                                   {"text": "hola"} if "requestBody" in op else None,
                                   {"Authorization": "Bearer " + key})
                if st == 401:
                    return fail("openapi", "%s %s: 401 with the key" % (method, path))
    ok("openapi_security")


def main():
    what, url = sys.argv[1], sys.argv[2]
    {"same": check_same, "exact": lambda u: check_same(u, True), "busy": check_busy, "metrics": check_metrics,
     "headers": check_headers, "budget": check_budget,
     "openapi": lambda u: check_openapi(u, sys.argv[3])}[what](url)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
