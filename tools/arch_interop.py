#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""arch_interop.py - does a directory saved by `intent` load as its
architecture in PyTorch? Builds the Hugging Face module tree of config.json's
model_type with tools/gen_golden.py's re-implementations (transformers is not
needed), loads model.safetensors with load_state_dict(strict=True) (every name
and shape must match), runs the token ids given on the command line in
evaluation mode and prints the class probabilities, one per line.

  arch_interop.py DIR '[0, 17, 5, 2]'

Exit status 2 when torch is missing (callers skip), 1 on a mismatch.
"""
import importlib.util
import json
import os
import struct
import sys

try:
    import torch
except ImportError:
    sys.exit(2)


def golden_module():
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("gen_golden", os.path.join(here, "gen_golden.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit("%s: %s is %s, expected F32" % (path, name, info["dtype"]))
        b0, b1 = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + b0:base + b1]), dtype=torch.float32)
        out[name] = t.reshape(info["shape"])
    return out


def main():
    d, ids = sys.argv[1], json.loads(sys.argv[2])
    g = golden_module()
    cfg = json.load(open(os.path.join(d, "config.json")))
    c = g.Cfg(**cfg)
    c.num_labels = len(cfg["id2label"])
    mt = cfg.get("model_type", "bert")
    if mt == "bert":
        model = g.BertForSequenceClassification(c)
    elif mt in ("roberta", "xlm-roberta", "camembert"):
        model = g.FamilyForSequenceClassification(c, "roberta")
    elif mt == "electra":
        model = g.FamilyForSequenceClassification(c, "electra")
    elif mt == "distilbert":
        model = g.DistilBertForSequenceClassification(c)
    else:
        raise SystemExit("unknown model_type " + mt)
    sd = read_safetensors(os.path.join(d, "model.safetensors"))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        print("missing %s unexpected %s" % (missing, unexpected), file=sys.stderr)
        sys.exit(1)
    model.eval()
    x = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        logits, _ = model(x, torch.zeros_like(x), torch.ones_like(x))
    for p in torch.softmax(logits[0], dim=-1).tolist():
        print("%.8f" % p)


if __name__ == "__main__":
    main()
