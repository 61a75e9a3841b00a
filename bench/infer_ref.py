#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""infer_ref.py - the PyTorch reference for bench/bench_infer.c.

Inference of the bert-tiny shape (V 30522, H 128, L 2, heads 2, I 512,
8 labels) with the Hugging Face BertForSequenceClassification
re-implementation of tools/gen_golden.py, in eval mode under torch.no_grad(),
on random token ids (every position real), at batch 1 and 32 and sequence 16,
32 and 64. Each figure is the median over timed windows of about 0.15 s after
a calibration window; min and max over the windows give the spread.

Best Debian configuration (docs/performance.md): the OpenMP OpenBLAS build,
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 bench/infer_ref.py
Options: --threads N (torch.set_num_threads, default 2), --windows W,
--batch B --seq S (one shape only). Output lines match bench_infer.c's,
prefixed "ref"; the first line says which torch, BLAS library and threads ran.
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from gen_golden import BertForSequenceClassification, Cfg  # noqa: E402


def fwd_flops(c, S):
    H, I, N = c.hidden_size, c.intermediate_size, c.num_labels
    layer = 6 * S * H * H + 4 * S * S * H + 2 * S * H * H + 4 * S * H * I
    return c.num_hidden_layers * layer + 2 * H * H + 2 * H * N


def blas_loaded():
    """The BLAS shared objects mapped into this process."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                base = os.path.basename(p)
                if "blas" in base or "lapack" in base:
                    libs.add(p)
    except OSError:
        pass
    return ", ".join(sorted(libs)) or "none found"


def bench_one(model, c, B, T, windows):
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(1, c.vocab_size, (B, T), generator=gen)
    mask = torch.ones(B, T, dtype=torch.long)
    tt = torch.zeros(B, T, dtype=torch.long)
    with torch.no_grad():
        t0 = time.perf_counter()
        cal = 0
        while time.perf_counter() - t0 < 0.05:
            model(ids, tt, mask)
            cal += 1
        n = max(3, cal * 3)
        win = []
        cpu0 = time.process_time()
        for _ in range(windows):
            a = time.perf_counter()
            for _ in range(n):
                model(ids, tt, mask)
            win.append((time.perf_counter() - a) / n)
        cpu = (time.process_time() - cpu0) / (windows * n)
    med = statistics.median(win)
    fl = fwd_flops(c, T) * B
    print("ref infer b=%d s=%d ms=%.4f ex_s=%.1f gflop_s=%.1f min_ms=%.4f max_ms=%.4f "
          "cpu_ms=%.4f windows=%d" % (B, T, med * 1e3, B / med, fl / med * 1e-9,
                                      min(win) * 1e3, max(win) * 1e3, cpu * 1e3, windows),
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--seq", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    c = Cfg(vocab_size=30522, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=512, num_labels=8)
    model = BertForSequenceClassification(c)
    model.eval()
    with torch.no_grad():  # load the BLAS before looking for it
        model(torch.ones(1, 8, dtype=torch.long), torch.zeros(1, 8, dtype=torch.long),
              torch.ones(1, 8, dtype=torch.long))
    print("# ref: PyTorch %s, %d threads, BLAS %s, bert-tiny (%d params, 8 labels)" %
          (torch.__version__, torch.get_num_threads(), blas_loaded(),
           sum(p.numel() for p in model.parameters())), flush=True)
    windows = max(1, a.windows)
    if a.batch > 0 and a.seq > 0:
        bench_one(model, c, a.batch, a.seq, windows)
    else:
        for B in (1, 32):
            for S in (16, 32, 64):
                bench_one(model, c, B, S, windows)


if __name__ == "__main__":
    main()
