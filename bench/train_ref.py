#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""train_ref.py - the PyTorch reference for bench/bench_train.c.

The same measurements as bench_train.c, on the same bert-tiny shape (V 30522,
H 128, L 2, heads 2, I 512, 8 labels), with the Hugging Face
BertForSequenceClassification re-implementation of tools/gen_golden.py and
Trainer's optimiser set-up: torch.optim.AdamW (lr 5e-5, betas 0.9/0.999, eps
1e-8, weight decay 0.01 except biases and LayerNorm weights), linear schedule,
clip_grad_norm_(1.0), dropout 0.1 in training. Inference is eval mode under
torch.no_grad().

Its best configuration on Debian (perf.md section 0) uses the OpenMP build of
OpenBLAS, which shares torch's thread pool:
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 bench/train_ref.py
Options: --threads N (torch.set_num_threads, default 2), --what train|infer|all,
--windows W, --breakdown. Output lines match bench_train.c's, prefixed "ref".
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from gen_golden import BertForSequenceClassification, Cfg, decay_groups, linear_schedule  # noqa: E402


def fwd_flops(c, S):
    H, I, N = c.hidden_size, c.intermediate_size, c.num_labels
    layer = 6 * S * H * H + 4 * S * S * H + 2 * S * H * H + 4 * S * H * I
    return c.num_hidden_layers * layer + 2 * H * H + 2 * H * N


def make_batch(c, B, T, padded, gen):
    ids = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    for i in range(B):
        n = T // 4 + int(torch.randint(0, T - T // 4 + 1, (1,), generator=gen)) if padded else T
        n = max(n, 1)
        ids[i, :n] = torch.randint(1, c.vocab_size, (n,), generator=gen)
        mask[i, :n] = 1
    tt = torch.zeros(B, T, dtype=torch.long)
    y = torch.randint(0, c.num_labels, (B,), generator=gen)
    return ids, tt, mask, y


def spread(win):
    return statistics.median(win), min(win), max(win)


def bench_train(model, c, B, T, windows, breakdown):
    gen = torch.Generator().manual_seed(1)
    ids, tt, mask, y = make_batch(c, B, T, True, gen)
    warm, per = 3, 5
    total = warm + windows * per
    opt = torch.optim.AdamW(decay_groups(model, 0.01), lr=5e-5, betas=(0.9, 0.999), eps=1e-8)
    sched = linear_schedule(opt, 0, total)
    model.train()
    win, ph = [], [[], [], [], []]
    loss = None
    cpu0 = 0.0
    for w in range(-1, windows):
        n = warm if w < 0 else per
        if w == 0:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(n):
            a = time.perf_counter()
            _, loss = model(ids, tt, mask, y)
            f = time.perf_counter()
            loss.backward()
            g = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            cl = time.perf_counter()
            opt.step()
            sched.step()
            opt.zero_grad()
            e = time.perf_counter()
            if w >= 0:
                for k, v in enumerate((f - a, g - f, cl - g, e - cl)):
                    ph[k].append(v)
        if w >= 0:
            win.append((time.perf_counter() - t0) / n)
    cpu = (time.process_time() - cpu0) / (windows * per)
    med, mn, mx = spread(win)
    fl = 3.0 * fwd_flops(c, T) * B
    print("ref train b=%d s=%d ms=%.3f ex_s=%.1f gflop_s=%.1f min_ms=%.3f max_ms=%.3f "
          "cpu_ms=%.3f windows=%d loss=%.4f" % (B, T, med * 1e3, B / med, fl / med * 1e-9,
                                                mn * 1e3, mx * 1e3, cpu * 1e3, windows,
                                                loss.item()), flush=True)
    if breakdown:
        names = ("forward", "backward", "clip", "adamw")
        print("ref breakdown b=%d s=%d " % (B, T) +
              " ".join("%s_ms=%.3f" % (names[k], statistics.median(ph[k]) * 1e3)
                       for k in range(4)), flush=True)


def bench_infer(model, c, B, T, windows):
    gen = torch.Generator().manual_seed(3)
    ids, tt, mask, _ = make_batch(c, B, T, False, gen)
    model.eval()
    n = 200 if B == 1 else 10
    win = []
    cpu0 = 0.0
    with torch.no_grad():
        for w in range(-1, windows):
            if w == 0:
                cpu0 = time.process_time()
            t0 = time.perf_counter()
            for _ in range(n):
                model(ids, tt, mask)
            if w >= 0:
                win.append((time.perf_counter() - t0) / n)
    cpu = (time.process_time() - cpu0) / (windows * n)
    med, mn, mx = spread(win)
    fl = fwd_flops(c, T) * B
    print("ref infer b=%d s=%d ms=%.4f ex_s=%.1f gflop_s=%.1f min_ms=%.4f max_ms=%.4f "
          "cpu_ms=%.4f windows=%d" % (B, T, med * 1e3, B / med, fl / med * 1e-9, mn * 1e3,
                                      mx * 1e3, cpu * 1e3, windows), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--what", default="all", choices=("train", "infer", "all"))
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--breakdown", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    c = Cfg(vocab_size=30522, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=512, num_labels=8)
    model = BertForSequenceClassification(c)
    blas = os.environ.get("LD_LIBRARY_PATH", "") or "default libblas.so.3"
    print("# ref: PyTorch %s, %d threads, BLAS from %s, bert-tiny (%d params, 8 labels)" %
          (torch.__version__, torch.get_num_threads(), blas,
           sum(p.numel() for p in model.parameters())), flush=True)
    if a.what in ("train", "all"):
        bench_train(model, c, 32, 32, a.windows, a.breakdown)
        bench_train(model, c, 32, 64, a.windows, a.breakdown)
    if a.what in ("infer", "all"):
        for S in (16, 32, 64):
            bench_infer(model, c, 1, S, a.windows)
        for S in (16, 32, 64):
            bench_infer(model, c, 32, S, a.windows)


if __name__ == "__main__":
    main()
