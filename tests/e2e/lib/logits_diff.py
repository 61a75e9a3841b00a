# SPDX-License-Identifier: Apache-2.0
"""logits_diff.py - for tests/e2e/mpi.sh: the largest absolute difference
between the logits of two BERT checkpoints (same config) on token ids given
as `intent tokenize` JSON lines, computed in PyTorch (torch_probs.forward).

    python3 logits_diff.py CONFIG.json A.safetensors B.safetensors < ids.jsonl
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_probs  # noqa: E402


def main():
    cfg = json.load(open(sys.argv[1]))
    rows = [json.loads(l) for l in sys.stdin if l.strip()]
    ids = torch.tensor([r["ids"] for r in rows])
    mask = torch.tensor([r["attention_mask"] for r in rows])
    out = []
    with torch.no_grad():
        for path in sys.argv[2:4]:
            w = torch_probs.load_weights(path)
            out.append(torch_probs.forward(cfg, w, ids, mask, logits=True))
    print("%.3g" % (out[0] - out[1]).abs().max().item())


if __name__ == "__main__":
    main()
