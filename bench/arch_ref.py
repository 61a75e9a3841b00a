#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""arch_ref.py - the PyTorch reference for bench/bench_arch.c.

One architecture at one shape, with the Hugging Face re-implementations of
tools/gen_golden.py (BertForSequenceClassification,
RobertaForSequenceClassification, DistilBertForSequenceClassification,
ElectraForSequenceClassification) and Trainer's optimiser set-up:
torch.optim.AdamW (lr 5e-5, weight decay 0.01 except biases and LayerNorm
weights), linear schedule, clip_grad_norm_(1.0), dropout 0.1 in training.
Training step at batch 32, inference (eval mode, torch.no_grad) at batch 1
and 32, all at sequence S; the same configuration and batches as
bench_arch.c. Output lines match bench_arch.c's, prefixed "ref".

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 \
        bench/arch_ref.py --arch roberta --layers 6 --hidden 384 --heads 12 --inter 1536
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from gen_golden import (BertForSequenceClassification, Cfg,  # noqa: E402
                        DistilBertForSequenceClassification, FamilyForSequenceClassification,
                        decay_groups, linear_schedule)


def build(a):
    shape = dict(vocab_size=30522, num_labels=8, initializer_range=0.02)
    if a.arch == "distilbert":
        c = Cfg(dim=a.hidden, n_layers=a.layers, n_heads=a.heads, hidden_dim=a.inter,
                activation="gelu", dropout=0.1, attention_dropout=0.1, seq_classif_dropout=0.2,
                max_position_embeddings=512, pad_token_id=0, **shape)
        return c, DistilBertForSequenceClassification(c)
    c = Cfg(hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
            intermediate_size=a.inter, **shape)
    if a.arch == "bert":
        return c, BertForSequenceClassification(c)
    if a.arch == "roberta":
        c.pad_token_id, c.max_position_embeddings, c.type_vocab_size = 1, 514, 1
    return c, FamilyForSequenceClassification(c, a.arch)


def make_batch(c, B, T, padded, gen):
    pad = c.pad_token_id
    ids = torch.full((B, T), pad, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    for i in range(B):
        n = T // 4 + int(torch.randint(0, T - T // 4 + 1, (1,), generator=gen)) if padded else T
        n = max(n, 1)
        ids[i, :n] = torch.randint(pad + 1, c.vocab_size, (n,), generator=gen)
        mask[i, :n] = 1
    tt = torch.zeros(B, T, dtype=torch.long)
    y = torch.randint(0, c.num_labels, (B,), generator=gen)
    return ids, tt, mask, y


def times(v):
    return "ms=%.4f min_ms=%.4f max_ms=%.4f" % (statistics.median(v) * 1e3, min(v) * 1e3,
                                               max(v) * 1e3)


def bench_train(model, c, B, T, steps):
    ids, tt, mask, y = make_batch(c, B, T, True, torch.Generator().manual_seed(1))
    opt = torch.optim.AdamW(decay_groups(model, 0.01), lr=5e-5, betas=(0.9, 0.999), eps=1e-8)
    sched = linear_schedule(opt, 0, steps + 1)
    model.train()
    t, loss = [], None
    for i in range(steps + 1):
        a = time.perf_counter()
        _, loss = model(ids, tt, mask, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        if i > 0:
            t.append(time.perf_counter() - a)
    print("ref train b=%d s=%d %s steps=%d loss=%.4f" % (B, T, times(t), steps, loss.item()),
          flush=True)


def bench_infer(model, c, B, T, windows):
    ids, tt, mask, _ = make_batch(c, B, T, False, torch.Generator().manual_seed(3))
    model.eval()
    win = []
    with torch.no_grad():
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
    print("ref infer b=%d s=%d %s windows=%d" % (B, T, times(win), windows), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="bert", choices=("bert", "roberta", "distilbert", "electra"))
    for name, v in (("layers", 6), ("hidden", 384), ("heads", 12), ("inter", 1536), ("seq", 16),
                    ("steps", 2), ("windows", 3), ("threads", 2)):
        ap.add_argument("--" + name, type=int, default=v)
    ap.add_argument("--what", default="all", choices=("train", "infer", "all"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    c, model = build(a)
    blas = os.environ.get("LD_LIBRARY_PATH", "") or "default libblas.so.3"
    print("# ref: PyTorch %s, %d threads, BLAS from %s, %s %dx%d (%d params, 8 labels)" %
          (torch.__version__, torch.get_num_threads(), blas, a.arch, a.layers, a.hidden,
           sum(p.numel() for p in model.parameters())), flush=True)
    if a.what != "infer":
        bench_train(model, c, 32, a.seq, max(1, a.steps))
    if a.what != "train":
        bench_infer(model, c, 1, a.seq, max(1, a.windows))
        bench_infer(model, c, 32, a.seq, max(1, a.windows))


if __name__ == "__main__":
    main()
