#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""make_ckpt.py - writes a small random-weight Hugging Face classification
checkpoint (config.json + model.safetensors) of one family, for tests.
Standard library only, so the tests that use it need no numpy or torch.

    make_ckpt.py OUT_DIR FAMILY VOCAB_SIZE PAD_ID [--labels N] [--headless]
                 [--hidden 32] [--layers 1] [--heads 2] [--ffn 64] [--max-len 32]

FAMILY: bert, roberta, xlm-roberta, distilbert or electra. The names are the
ones transformers' *ForSequenceClassification state_dict holds (BertModel /
RobertaModel etc. without prefix with --headless). RoBERTa and XLM-R get
max_position_embeddings = PAD_ID + 2 + max_len (positions start after the
padding index). Weights N(0, 0.02), LayerNorm (1, 0), seeded.
"""
import argparse
import json
import os
import random
import struct

CLASSES = {
    "bert": "BertForSequenceClassification",
    "roberta": "RobertaForSequenceClassification",
    "xlm-roberta": "XLMRobertaForSequenceClassification",
    "distilbert": "DistilBertForSequenceClassification",
    "electra": "ElectraForSequenceClassification",
}


def bert_like(a, prefix, V, P, TV):
    H, F = a.hidden, a.ffn
    e = prefix + ".embeddings."
    t = [(e + "word_embeddings.weight", (V, H)), (e + "position_embeddings.weight", (P, H)),
         (e + "token_type_embeddings.weight", (TV, H)),
         (e + "LayerNorm.weight", (H,)), (e + "LayerNorm.bias", (H,))]
    for i in range(a.layers):
        p = "%s.encoder.layer.%d." % (prefix, i)
        for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense"):
            t += [(p + n + ".weight", (H, H)), (p + n + ".bias", (H,))]
        t += [(p + "attention.output.LayerNorm.weight", (H,)),
              (p + "attention.output.LayerNorm.bias", (H,)),
              (p + "intermediate.dense.weight", (F, H)), (p + "intermediate.dense.bias", (F,)),
              (p + "output.dense.weight", (H, F)), (p + "output.dense.bias", (H,)),
              (p + "output.LayerNorm.weight", (H,)), (p + "output.LayerNorm.bias", (H,))]
    return t


def distilbert(a, V, P):
    H, F = a.hidden, a.ffn
    e = "distilbert.embeddings."
    t = [(e + "word_embeddings.weight", (V, H)), (e + "position_embeddings.weight", (P, H)),
         (e + "LayerNorm.weight", (H,)), (e + "LayerNorm.bias", (H,))]
    for i in range(a.layers):
        p = "distilbert.transformer.layer.%d." % i
        for n in ("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"):
            t += [(p + n + ".weight", (H, H)), (p + n + ".bias", (H,))]
        t += [(p + "sa_layer_norm.weight", (H,)), (p + "sa_layer_norm.bias", (H,)),
              (p + "ffn.lin1.weight", (F, H)), (p + "ffn.lin1.bias", (F,)),
              (p + "ffn.lin2.weight", (H, F)), (p + "ffn.lin2.bias", (H,)),
              (p + "output_layer_norm.weight", (H,)), (p + "output_layer_norm.bias", (H,))]
    return t


def head(family, H, N):
    if family == "bert":
        return [("classifier.weight", (N, H)), ("classifier.bias", (N,))]
    if family == "distilbert":
        return [("pre_classifier.weight", (H, H)), ("pre_classifier.bias", (H,)),
                ("classifier.weight", (N, H)), ("classifier.bias", (N,))]
    return [("classifier.dense.weight", (H, H)), ("classifier.dense.bias", (H,)),
            ("classifier.out_proj.weight", (N, H)), ("classifier.out_proj.bias", (N,))]


def tensors(a, P):
    fam = a.family
    if fam == "distilbert":
        t = distilbert(a, a.vocab_size, P)
    else:
        prefix = {"xlm-roberta": "roberta"}.get(fam, fam)
        t = bert_like(a, prefix, a.vocab_size, P, 1 if "roberta" in fam else 2)
        if fam == "bert":
            t += [("bert.pooler.dense.weight", (a.hidden, a.hidden)),
                  ("bert.pooler.dense.bias", (a.hidden,))]
    if a.headless:
        return [(n.split(".", 1)[1], s) for n, s in t]
    return t + head(fam, a.hidden, a.labels)


def values(name, shape, rng):
    n = 1
    for d in shape:
        n *= d
    if "LayerNorm.weight" in name or "layer_norm.weight" in name:
        return [1.0] * n
    if len(shape) == 1:
        return [0.0] * n
    return [rng.gauss(0.0, 0.02) for _ in range(n)]


def write_safetensors(path, ts, rng):
    hdr, blobs, off = {}, [], 0
    for name, shape in ts:
        v = values(name, shape, rng)
        b = struct.pack("<%df" % len(v), *v)
        hdr[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def config(a, P):
    labels = {str(i): "LABEL_%d" % i for i in range(a.labels)}
    c = {"model_type": a.family, "architectures": [CLASSES[a.family]], "vocab_size": a.vocab_size,
         "pad_token_id": a.pad_id, "max_position_embeddings": P, "initializer_range": 0.02,
         "id2label": labels, "label2id": {v: int(k) for k, v in labels.items()}}
    if a.family == "distilbert":
        c.update(dim=a.hidden, n_layers=a.layers, n_heads=a.heads, hidden_dim=a.ffn,
                 activation="gelu", dropout=0.1, attention_dropout=0.1, seq_classif_dropout=0.2,
                 sinusoidal_pos_embds=False)
        return c
    c.update(hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
             intermediate_size=a.ffn, hidden_act="gelu", hidden_dropout_prob=0.1,
             attention_probs_dropout_prob=0.1, layer_norm_eps=1e-12,
             type_vocab_size=1 if "roberta" in a.family else 2)
    if "roberta" in a.family:
        c.update(bos_token_id=0 if a.pad_id != 0 else 2, eos_token_id=2, layer_norm_eps=1e-5)
    if a.family == "electra":
        c["embedding_size"] = a.hidden
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("family", choices=sorted(CLASSES))
    ap.add_argument("vocab_size", type=int)
    ap.add_argument("pad_id", type=int)
    ap.add_argument("--labels", type=int, default=3)
    ap.add_argument("--headless", action="store_true")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    P = a.pad_id + 2 + a.max_len if "roberta" in a.family else a.max_len
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config(a, P), f, indent=2)
    write_safetensors(os.path.join(a.out, "model.safetensors"), tensors(a, P),
                      random.Random(a.seed))


if __name__ == "__main__":
    main()
