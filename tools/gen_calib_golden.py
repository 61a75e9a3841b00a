#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""gen_calib_golden.py - references for src/train/calib.c (tests/unit/test_calib.c).

Writes tests/golden/calib/calib.json with seeded random data and what
PyTorch / numpy compute on it:

  temperature  logits (n, L) drawn over-confident (labels sampled from
               softmax(logits / 2.5)); the temperature PyTorch's LBFGS finds
               by minimising the NLL over log T (float64), and the NLL there
  ece          max-probability confidence and correctness before and after
               scaling; ECE and the reliability table over 15 equal-width
               bins (b/15, (b+1)/15]
  energy       T * logsumexp(logits / T) for both temperatures (torch)
  maha         features (n, D) of C classes, one class left empty; class
               means, pooled covariance shrunk by `shrinkage` towards
               trace/D * I, its inverse (numpy.linalg.inv), and the squared
               distances of query points to the nearest class mean
  oos          scores with ties and out-of-scope flags; AUROC by counting
               every (in, oos) pair, the best-F1 threshold by trying every
               cut, the keep-95% threshold and FPR there

Run with Debian's /usr/bin/python3 (torch 1.13):  /usr/bin/python3 tools/gen_calib_golden.py
"""
import json
import math
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "calib")


def f32(a):
    return [float(np.float32(x)) for x in np.asarray(a, dtype=np.float32).ravel()]


def temperature(rng):
    n, L = 400, 6
    z = rng.normal(0, 2.0, size=(n, L)).astype(np.float32)
    z[np.arange(n), rng.integers(0, L, n)] += 3.0
    zd = z.astype(np.float64) / 2.5
    p = np.exp(zd - zd.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(L, p=row) for row in p], dtype=np.int32)
    zt = torch.tensor(z, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.long)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=1, max_iter=500, tolerance_grad=1e-13,
                            tolerance_change=1e-15, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(zt / torch.exp(log_t), yt)
        loss.backward()
        return loss
    opt.step(closure)
    T = float(torch.exp(log_t))
    nll = float(torch.nn.functional.cross_entropy(zt / T, yt))
    nll1 = float(torch.nn.functional.cross_entropy(zt, yt))
    return z, y, T, nll, nll1


def ece(conf, correct):
    bins = []
    total = 0.0
    n = len(conf)
    for b in range(15):
        lo, hi = b / 15.0, (b + 1) / 15.0
        m = (conf > lo) & (conf <= hi)
        if b == 0:
            m |= conf <= 0
        c = int(m.sum())
        mc = float(conf[m].mean()) if c else 0.0
        ma = float(correct[m].mean()) if c else 0.0
        total += c / n * abs(ma - mc)
        bins.append({"count": c, "confidence": mc, "accuracy": ma})
    return total, bins


def ece_case(z, y, T):
    p = torch.softmax(torch.tensor(z, dtype=torch.float64) / T, dim=1).numpy()
    conf = p.max(1).astype(np.float32).astype(np.float64)
    correct = (p.argmax(1) == y).astype(np.float64)
    e, bins = ece(conf, correct)
    return {"T": T, "ece": e, "bins": bins}


def maha(rng):
    n, D, C, shrink = 300, 7, 5, 0.1
    centres = rng.normal(0, 3, size=(C, D))
    y = rng.integers(0, C - 1, n).astype(np.int32)  # class C-1 stays empty
    A = rng.normal(0, 1, size=(D, D))
    x = (centres[y] + rng.normal(0, 1, size=(n, D)) @ A).astype(np.float32)
    xd = x.astype(np.float64)
    means = np.zeros((C, D))
    for c in range(C - 1):
        means[c] = xd[y == c].mean(0)
    diff = xd - means[y]
    S = diff.T @ diff / n
    S = (1 - shrink) * S + shrink * np.trace(S) / D * np.eye(D)
    P = np.linalg.inv(S)
    q = (centres[rng.integers(0, C - 1, 25)] + rng.normal(0, 2.5, size=(25, D)) @ A)
    q = q.astype(np.float32)
    qd = q.astype(np.float64)
    d = np.stack([np.einsum("nd,de,ne->n", qd - means[c], P, qd - means[c])
                  for c in range(C - 1)], 1)
    return {"n": n, "dim": D, "classes": C, "shrinkage": shrink, "feats": f32(x),
            "labels": y.tolist(), "means": means[:C - 1].ravel().tolist(),
            "precision": P.ravel().tolist(), "queries": f32(q),
            "distance": d.min(1).tolist(), "nearest": d.argmin(1).tolist()}


def oos(rng):
    n_in, n_oos = 180, 40
    s_in = np.round(rng.normal(1.0, 0.6, n_in), 2)   # rounding makes ties
    s_oos = np.round(rng.normal(0.0, 0.6, n_oos), 2)
    s = np.concatenate([s_in, s_oos])
    o = np.concatenate([np.zeros(n_in), np.ones(n_oos)]).astype(np.int32)
    perm = rng.permutation(len(s))
    s, o = s[perm], o[perm]
    pos, neg = s[o == 0], s[o == 1]
    auroc = float(((pos[:, None] > neg[None, :]).sum() +
                   0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg)))
    best, thr = -1.0, None
    u = np.unique(s)
    cands = [u[0]] + [(a + b) / 2 for a, b in zip(u[:-1], u[1:])]
    for t in cands:
        pred = s < t
        tp = int((pred & (o == 1)).sum())
        f1 = 2 * tp / (pred.sum() + o.sum())
        if f1 >= best:
            best, thr = f1, float(t)
    srt = np.sort(pos)
    keep_thr = None
    for t in srt[::-1]:  # the largest threshold keeping >= 95%
        if (pos >= t).mean() >= 0.95:
            keep_thr = float(t)
            break
    fpr = float((neg >= keep_thr).mean())
    return {"scores": s.tolist(), "is_oos": o.tolist(), "auroc": auroc, "f1_threshold": thr,
            "best_f1": best, "keep95_threshold": keep_thr, "fpr95": fpr}


def main():
    rng = np.random.default_rng(13)
    torch.manual_seed(13)
    z, y, T, nll, nll1 = temperature(rng)
    zt = torch.tensor(z, dtype=torch.float64)
    out = {
        "temperature": {"n": len(y), "labels_n": z.shape[1], "logits": f32(z),
                        "labels": y.tolist(), "T": T, "nll": nll, "nll_T1": nll1},
        "ece": [ece_case(z, y, 1.0), ece_case(z, y, T)],
        "energy": {"T1": (torch.logsumexp(zt, 1)).tolist()[:20],
                   "T": (T * torch.logsumexp(zt / T, 1)).tolist()[:20]},
        "maha": maha(rng),
        "oos": oos(rng),
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "calib.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
