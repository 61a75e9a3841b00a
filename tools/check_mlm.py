#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""check_mlm.py - an `intent pretrain` output directory against PyTorch.

Loads DIR/config.json and DIR/model.safetensors (parsed by hand) into the
PyTorch re-implementation of BertForMaskedLM / RobertaForMaskedLM /
DistilBertForMaskedLM in tools/gen_golden.py (Hugging Face's module names,
decoder tied to the word embeddings) with strict=True, so every tensor name
and shape must be exactly what transformers' AutoModelForMaskedLM expects,
then recomputes the masked-LM loss of the report's probe batch
(DIR/pretrain_report.json) and compares it with ours.

    /usr/bin/python3 tools/check_mlm.py DIR      prints "ok ..." or "FAIL ..."
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_golden as g  # noqa: E402

FAMILIES = {"BertForMaskedLM": "bert", "RobertaForMaskedLM": "roberta",
            "XLMRobertaForMaskedLM": "roberta", "DistilBertForMaskedLM": "distilbert"}


def load_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    hdr = json.loads(data[8:8 + n])
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", (k, v["dtype"])
        a, b = v["data_offsets"]
        t = torch.frombuffer(bytearray(data[8 + n + a:8 + n + b]), dtype=torch.float32)
        out[k] = t.reshape(v["shape"])
    return out


def main():
    d = sys.argv[1]
    cfg = json.load(open(os.path.join(d, "config.json")))
    rep = json.load(open(os.path.join(d, "pretrain_report.json")))
    family = FAMILIES[cfg["architectures"][0]]
    c = g.Cfg(**{k: v for k, v in cfg.items() if not isinstance(v, dict)})
    model = g.ForMaskedLM(c, family)
    sd = load_safetensors(os.path.join(d, "model.safetensors"))
    model.load_state_dict(sd, strict=True)  # names and shapes exactly
    model.eval()
    p = rep["probe"]
    ids = torch.tensor(p["input_ids"], dtype=torch.int64)
    mask = torch.tensor(p["attention_mask"], dtype=torch.int64)
    labels = torch.tensor(p["labels"], dtype=torch.int64)
    with torch.no_grad():
        _, loss = model(ids, torch.zeros_like(ids), mask, labels)
    rel = abs(loss.item() - p["loss"]) / max(abs(p["loss"]), 1e-12)
    what = "%s: %d tensors, torch loss %.7f vs ours %.7f (relative %.2g)" % (
        cfg["architectures"][0], len(sd), loss.item(), p["loss"], rel)
    print(("ok " if rel < 1e-4 else "FAIL ") + what)
    return 0 if rel < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
