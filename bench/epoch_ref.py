#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""epoch_ref.py - the PyTorch reference for bench/bench_epoch.sh: one whole
training epoch, as Hugging Face's Trainer runs it, on already tokenised data.

Input: a JSON Lines file of {"ids": [...], "label": N} (one per training
example, [CLS] ... [SEP], at most max_length ids; bench_epoch.sh writes it
with `intent tokenize` on the vocabulary `intent train` learned) and the
model's config.json (shape, vocab size, labels). The model is the Hugging
Face BertForSequenceClassification re-implementation of tools/gen_golden.py,
trained from its random initialisation with Trainer's set-up: shuffled
order, batches of --batch-size padded to their own longest text (dynamic
padding, DataCollatorWithPadding), dropout 0.1, torch.optim.AdamW (lr
--lr, betas 0.9/0.999, eps 1e-8, weight decay 0.01 except biases and
LayerNorm weights), linear schedule with 10 % warm-up, clip_grad_norm_(1.0).

Only the epoch loop is timed (model built and data loaded before). Prints:
    # ref: PyTorch ..., N threads, BLAS ...
    ref epoch examples=E steps=S seconds=T ex_s=R loss=L
Run in the reference's best configuration:
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 bench/epoch_ref.py DATA.jsonl config.json
"""
import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from gen_golden import BertForSequenceClassification, Cfg, decay_groups, linear_schedule  # noqa: E402


def blas_loaded():
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                base = os.path.basename(line.split()[-1])
                if "blas" in base:
                    libs.add(line.split()[-1])
    except OSError:
        pass
    return ", ".join(sorted(libs)) or "none found"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("config")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cj = json.load(open(a.config))
    c = Cfg(vocab_size=cj["vocab_size"], hidden_size=cj["hidden_size"],
            num_hidden_layers=cj["num_hidden_layers"],
            num_attention_heads=cj["num_attention_heads"],
            intermediate_size=cj["intermediate_size"],
            max_position_embeddings=cj.get("max_position_embeddings", 512),
            type_vocab_size=cj.get("type_vocab_size", 2),
            num_labels=len(cj["id2label"]))
    ex = [json.loads(l) for l in open(a.data) if l.strip()]
    model = BertForSequenceClassification(c)
    model.train()
    B = a.batch_size
    steps = math.ceil(len(ex) / B)
    opt = torch.optim.AdamW(decay_groups(model, 0.01), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    sched = linear_schedule(opt, int(math.ceil(0.1 * steps)), steps)
    order = torch.randperm(len(ex)).tolist()
    t0 = time.perf_counter()
    loss = None
    for s in range(steps):
        rows = [ex[i] for i in order[s * B:(s + 1) * B]]
        T = max(len(r["ids"]) for r in rows)
        ids = torch.zeros(len(rows), T, dtype=torch.long)
        mask = torch.zeros(len(rows), T, dtype=torch.long)
        for j, r in enumerate(rows):
            ids[j, :len(r["ids"])] = torch.tensor(r["ids"])
            mask[j, :len(r["ids"])] = 1
        tt = torch.zeros_like(ids)
        y = torch.tensor([r["label"] for r in rows])
        _, loss = model(ids, tt, mask, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
    dt = time.perf_counter() - t0
    print("# ref: PyTorch %s, %d threads, BLAS %s, model V %d H %d L %d I %d, %d labels" %
          (torch.__version__, torch.get_num_threads(), blas_loaded(), c.vocab_size,
           c.hidden_size, c.num_hidden_layers, c.intermediate_size, c.num_labels))
    print("ref epoch examples=%d steps=%d seconds=%.3f ex_s=%.1f loss=%.4f" %
          (len(ex), steps, dt, len(ex) / dt, loss.item()), flush=True)


if __name__ == "__main__":
    main()
