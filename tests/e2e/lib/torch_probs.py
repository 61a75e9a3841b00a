# SPDX-License-Identifier: Apache-2.0
"""torch_probs.py - PyTorch's answer for tests/e2e/predict.sh: the softmax
probabilities of a Hugging Face BertForSequenceClassification checkpoint
(config.json + model.safetensors or pytorch_model.bin) on token ids given as
`intent tokenize` JSON lines. The model is written out in torch (post-LN
BERT, as transformers defines it) because Debian has no transformers package.

    python3 torch_probs.py CONFIG.json WEIGHTS (model.safetensors | pytorch_model.bin) < ids.jsonl

Prints one JSON list of probabilities per input line.
"""
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F


def load_weights(path):
    if path.endswith(".safetensors"):
        data = open(path, "rb").read()
        (n,) = struct.unpack("<Q", data[:8])
        hdr = json.loads(data[8:8 + n])
        out = {}
        for k, v in hdr.items():
            if k == "__metadata__":
                continue
            assert v["dtype"] == "F32", (k, v["dtype"])
            a, b = v["data_offsets"]
            arr = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").reshape(v["shape"])
            out[k] = torch.from_numpy(arr.copy())
        return out
    return {k: v.float() for k, v in torch.load(path, map_location="cpu").items()}


def forward(cfg, w, ids, mask, logits=False):
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    eps = cfg.get("layer_norm_eps", 1e-12)
    act = {"gelu": F.gelu, "relu": F.relu,
           "gelu_new": lambda x: F.gelu(x, approximate="tanh")}[cfg.get("hidden_act", "gelu")]
    g = lambda k: w[k]
    B, T = ids.shape
    e = "bert.embeddings."
    x = g(e + "word_embeddings.weight")[ids] + g(e + "position_embeddings.weight")[:T] \
        + g(e + "token_type_embeddings.weight")[0]
    x = F.layer_norm(x, (H,), g(e + "LayerNorm.weight"), g(e + "LayerNorm.bias"), eps)
    ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    hd = H // nh
    for i in range(cfg["num_hidden_layers"]):
        L = "bert.encoder.layer.%d." % i
        lin = lambda t, n: F.linear(t, g(L + n + ".weight"), g(L + n + ".bias"))
        q = lin(x, "attention.self.query").view(B, T, nh, hd).transpose(1, 2)
        k = lin(x, "attention.self.key").view(B, T, nh, hd).transpose(1, 2)
        v = lin(x, "attention.self.value").view(B, T, nh, hd).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + ext, dim=-1)
        ctx = (a @ v).transpose(1, 2).reshape(B, T, H)
        x = F.layer_norm(x + lin(ctx, "attention.output.dense"), (H,),
                         g(L + "attention.output.LayerNorm.weight"),
                         g(L + "attention.output.LayerNorm.bias"), eps)
        h = lin(act(lin(x, "intermediate.dense")), "output.dense")
        x = F.layer_norm(x + h, (H,), g(L + "output.LayerNorm.weight"),
                         g(L + "output.LayerNorm.bias"), eps)
    pooled = torch.tanh(F.linear(x[:, 0], g("bert.pooler.dense.weight"), g("bert.pooler.dense.bias")))
    out = F.linear(pooled, g("classifier.weight"), g("classifier.bias"))
    return out if logits else torch.softmax(out, dim=-1)


def main():
    cfg = json.load(open(sys.argv[1]))
    w = load_weights(sys.argv[2])
    rows = [json.loads(l) for l in sys.stdin if l.strip()]
    ids = torch.tensor([r["ids"] for r in rows])
    mask = torch.tensor([r["attention_mask"] for r in rows])
    with torch.no_grad():
        p = forward(cfg, w, ids, mask)
    for r in p.tolist():
        print(json.dumps(r))


if __name__ == "__main__":
    main()
