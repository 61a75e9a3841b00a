#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""precision_ref.py - the PyTorch reference for bench/bench_precision.c.

BertForSequenceClassification (the re-implementation of tools/gen_golden.py)
at one shape, inference (eval mode, torch.no_grad) at batch 1 and 32,
sequence S, all tokens real, at
  fp32  as built;
  int8  torch.quantization.quantize_dynamic on every nn.Linear (qint8
        weights per tensor, activations per batch, the engine's kernels:
        fbgemm when this torch has it, else onednn);
  bf16  torch.autocast("cpu", dtype=torch.bfloat16).
Output lines match bench_precision.c's, prefixed "ref".

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 \\
        bench/precision_ref.py --layers 12 --hidden 768 --heads 12 --inter 3072
"""
import argparse
import contextlib
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from gen_golden import BertForSequenceClassification, Cfg  # noqa: E402


def times(v):
    return "ms=%.4f min_ms=%.4f max_ms=%.4f" % (statistics.median(v) * 1e3, min(v) * 1e3,
                                               max(v) * 1e3)


def bench(model, name, B, T, windows, ctx):
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 30522, (B, T), generator=gen)
    tt = torch.zeros(B, T, dtype=torch.long)
    mask = torch.ones(B, T, dtype=torch.long)
    win = []
    with torch.no_grad(), ctx():
        model(ids, tt, mask)
        a = time.perf_counter()
        model(ids, tt, mask)
        one = time.perf_counter() - a
        n = 1 if one > 0.1 else int(0.1 / (one + 1e-9)) + 1
        for _ in range(windows):
            a = time.perf_counter()
            for _ in range(n):
                model(ids, tt, mask)
            win.append((time.perf_counter() - a) / n)
    print("ref %s infer b=%d s=%d %s windows=%d" % (name, B, T, times(win), windows), flush=True)


def main():
    ap = argparse.ArgumentParser()
    for name, v in (("layers", 2), ("hidden", 128), ("heads", 2), ("inter", 512), ("seq", 16),
                    ("windows", 3), ("threads", 2)):
        ap.add_argument("--" + name, type=int, default=v)
    ap.add_argument("--precisions", default="fp32,bf16,int8")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    c = Cfg(hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
            intermediate_size=a.inter, vocab_size=30522, num_labels=8, initializer_range=0.02)
    model = BertForSequenceClassification(c).eval()
    engines = torch.backends.quantized.supported_engines
    engine = "fbgemm" if "fbgemm" in engines else ("onednn" if "onednn" in engines else engines[0])
    torch.backends.quantized.engine = engine
    blas = os.environ.get("LD_LIBRARY_PATH", "") or "default libblas.so.3"
    print("# ref: PyTorch %s, %d threads, BLAS from %s, bert %dx%d, int8 engine %s" %
          (torch.__version__, torch.get_num_threads(), blas, a.layers, a.hidden, engine),
          flush=True)
    for p in a.precisions.split(","):
        if p == "fp32":
            m, ctx = model, contextlib.nullcontext
        elif p == "int8":
            m = torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
            ctx = contextlib.nullcontext
        elif p == "bf16":
            m = model
            ctx = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
        else:
            sys.exit("precision_ref.py: unknown precision " + p)
        bench(m, p, 1, a.seq, a.windows, ctx)
        bench(m, p, 32, a.seq, a.windows, ctx)


if __name__ == "__main__":
    main()
