#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Checks a model directory saved by `intent train` against PyTorch (torch 1.13+).

usage: interop_check.py MODEL_DIR TOKENS_JSONL PREDICT_JSONL

Prints one line per check ("ok <name>" / "FAIL <name>: why") and exits 1 on any
failure. Checks:
  pt_weights_only     torch >= 2.0: torch.load(intent_classifier.pt,
                      weights_only=True) opens it; torch 1.13: that load fails
                      only for want of BINFLOAT (floats are Python floats)
  pt_plain_load       plain torch.load (weights_only=False) opens it
  pt_layout           format/version/state_dict/config/labels/tokenizer entries
  safetensors_layout  model.safetensors parsed by hand: header padded to 8, sorted,
                      packed, __metadata__ {"format": "pt"}
  pt_eq_safetensors   every tensor of the .pt equals model.safetensors bit for bit
  config_eq           the .pt config equals config.json, JSON types kept
                      (floats are floats, no "float_keys" side list)
  bertconfig          transformers.BertConfig(**config) (skipped without transformers)
  vocab_eq            the .pt vocabulary equals vocab.txt
  labels_eq           id_to_intent == config.json id2label; intent_to_id inverse
  logits_match        a PyTorch BERT built from the .pt alone reproduces the
                      probabilities `intent predict` printed (within 1e-5)
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__))))
from gen_golden import BertForSequenceClassification, Cfg  # noqa: E402

failed = 0


def check(name, cond, why=""):
    global failed
    if cond:
        print("ok interop_" + name)
    else:
        failed = 1
        print("FAIL interop_%s: %s" % (name, why))


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr_bytes = raw[8:8 + n]
    hdr = json.loads(hdr_bytes)
    meta = hdr.pop("__metadata__", None)
    buf = raw[8 + n:]
    dt = {"F32": torch.float32, "I64": torch.int64, "F16": torch.float16}
    out = {}
    for k, v in hdr.items():
        b, e = v["data_offsets"]
        t = torch.frombuffer(bytearray(buf[b:e]), dtype=dt[v["dtype"]]) if e > b else \
            torch.zeros(0, dtype=dt[v["dtype"]])
        out[k] = t.reshape(v["shape"])
    # layout checks (as the reference writer lays files out)
    order = sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"][0])
    packed = all(order[i][1]["data_offsets"][0] == (order[i - 1][1]["data_offsets"][1] if i else 0)
                 for i in range(len(order))) and order[-1][1]["data_offsets"][1] == len(buf)
    names = [k for k, _ in order]
    layout = (n % 8 == 0 and hdr_bytes.decode().rstrip(" ") == hdr_bytes.decode().rstrip()
              and hdr_bytes.startswith(b'{"__metadata__"') and meta == {"format": "pt"}
              and packed and names == sorted(names))
    return out, layout


def main():
    d, tok_path, pred_path = sys.argv[1:4]
    pt = os.path.join(d, "intent_classifier.pt")
    major = int(torch.__version__.split(".")[0])
    try:
        ck = torch.load(pt, weights_only=True)
        check("pt_weights_only", major >= 2, "torch %s loaded floats weights-only" %
              torch.__version__)
    except Exception as e:  # noqa: BLE001
        # torch 1.13's weights-only unpickler has no BINFLOAT (opcode 71 'G')
        check("pt_weights_only", major < 2 and "Unsupported operand 71" in str(e), repr(e))
    try:
        ck = torch.load(pt, weights_only=False)
        check("pt_plain_load", True)
    except Exception as e:  # noqa: BLE001
        check("pt_plain_load", False, repr(e))
        return 1
    need = {"format", "version", "state_dict", "config", "id_to_intent", "intent_to_id",
            "tokenizer", "max_length"}
    check("pt_layout", need <= set(ck) and ck["format"] == "intent_classifier" and
          ck["version"] == 1 and isinstance(ck["state_dict"], dict) and
          all(isinstance(v, torch.Tensor) for v in ck["state_dict"].values()),
          "keys %s" % sorted(ck))

    st, layout = read_safetensors(os.path.join(d, "model.safetensors"))
    check("safetensors_layout", layout)
    sd = ck["state_dict"]
    same = set(sd) == set(st) and all(torch.equal(sd[k], st[k]) for k in sd)
    check("pt_eq_safetensors", same, "names or values differ")

    with open(os.path.join(d, "config.json")) as f:
        cj = json.load(f)
    cfg = ck["config"]
    diff = [k for k in set(cfg) | set(cj)
            if not (k in cfg and k in cj and type(cfg[k]) is type(cj[k]) and cfg[k] == cj[k])]
    check("config_eq", not diff and list(cfg) == list(cj) and "float_keys" not in ck and
          isinstance(cfg["layer_norm_eps"], float) and cj["model_type"] == "bert" and
          cj["architectures"] == ["BertForSequenceClassification"], "differs: %s" % diff)
    try:
        import transformers
    except ImportError:
        print("skip interop_bertconfig: transformers is not installed")
    else:
        bc = transformers.BertConfig(**cfg)
        check("bertconfig", bc.layer_norm_eps == cfg["layer_norm_eps"] and
              bc.num_labels == len(ck["id_to_intent"]) and bc.id2label == ck["id_to_intent"],
              "BertConfig(**config) gave %r" % bc)

    with open(os.path.join(d, "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read().split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()
    check("vocab_eq", vocab == ck["tokenizer"]["vocab"], "%d vs %d tokens" %
          (len(vocab), len(ck["tokenizer"]["vocab"])))

    i2l = {int(k): v for k, v in cj["id2label"].items()}
    check("labels_eq", i2l == ck["id_to_intent"] and
          {v: k for k, v in i2l.items()} == ck["intent_to_id"], "label maps differ")

    # logits from the .pt alone
    c = Cfg(**{k: v for k, v in cfg.items() if k in Cfg().__dict__})
    c.num_labels = len(ck["id_to_intent"])
    model = BertForSequenceClassification(c)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    model.eval()
    with open(tok_path) as f:
        toks = [json.loads(line) for line in f if line.strip()]
    with open(pred_path) as f:
        preds = [json.loads(line) for line in f if line.strip()]
    worst = 0.0
    ok_labels = True
    with torch.no_grad():
        for t, p in zip(toks, preds):
            ids = torch.tensor([t["ids"]])
            mask = torch.tensor([t["attention_mask"]])
            logits, _ = model(ids, torch.zeros_like(ids), mask)
            probs = torch.softmax(logits.double(), -1)[0]
            for e in p["top_k"]:
                j = ck["intent_to_id"][e["intent"]]
                worst = max(worst, abs(float(probs[j]) - e["confidence"]))
            ok_labels &= ck["id_to_intent"][int(probs.argmax())] == p["intent"]
    check("logits_match", not missing and not unexpected and len(toks) == len(preds) > 0 and
          worst <= 1e-5 and ok_labels,
          "max |p_torch - p_c| = %.3g, missing %s, unexpected %s, argmax agree %s" %
          (worst, missing, unexpected, ok_labels))
    print("interop: max |p_torch - p_c| = %.3g over %d texts" % (worst, len(toks)), file=sys.stderr)
    return failed


if __name__ == "__main__":
    sys.exit(main())
