#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the checkpoint-I/O fixtures in tests/golden/io/ with Debian's torch 1.13.

Run from the repository root:  /usr/bin/python3 tools/gen_io_golden.py
Everything is seeded, so reruns give the same tensors (zip timestamps aside).

  legacy_bert/         a pretrained-style BertModel checkpoint as old releases saved
                       it: config.json without model_type, no "bert." prefix,
                       LayerNorm.gamma/beta, a position_ids buffer, MLM/NSP heads
                       (cls.*), no pooler-less surprises, no classifier; plus vocab.txt
  legacy_bert_ref.safetensors   the same weights under modern HF names, written
                       by hand (not with the safetensors package) as the reference
  views.pt             tensors that are views of shared storages (transpose, slice
                       with an offset, expand with stride 0), several dtypes, in a
                       nested dict with floats, big/negative ints, lists, None, bools
  views_ref.safetensors contiguous copies of those tensors (hand-written safetensors)
  deflate.pt           views.pt re-zipped with DEFLATE (torch reads those too)
  zip64.pt             views.pt re-zipped with zip64 extra fields and end records
  legacy.pt            views.pt's object in the legacy (pre-1.6) torch.save format
  flat.bin             a flat OrderedDict state_dict (what pytorch_model.bin holds)
"""
import collections
import json
import os
import struct
import zipfile

import torch

OUT = "tests/golden/io"

DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
      torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
      torch.uint8: "U8", torch.bool: "BOOL"}


def write_safetensors(path, tensors):
    """Minimal independent safetensors writer (sorted by name, packed)."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
        header[name] = {"dtype": DT[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def legacy_bert():
    g = torch.Generator().manual_seed(1234)
    V, H, L, NH, I, P, T = 40, 8, 2, 2, 16, 16, 2
    cfg = {"hidden_size": H, "num_hidden_layers": L, "num_attention_heads": NH,
           "intermediate_size": I, "vocab_size": V, "max_position_embeddings": P,
           "type_vocab_size": T, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
           "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
           "layer_norm_eps": 1e-12}

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.5

    modern = collections.OrderedDict()
    modern["embeddings.word_embeddings.weight"] = r(V, H)
    modern["embeddings.position_embeddings.weight"] = r(P, H)
    modern["embeddings.token_type_embeddings.weight"] = r(T, H)
    modern["embeddings.LayerNorm.weight"] = 1 + r(H) * 0.1
    modern["embeddings.LayerNorm.bias"] = r(H) * 0.1
    for i in range(L):
        p = f"encoder.layer.{i}."
        for m in ("query", "key", "value"):
            modern[p + f"attention.self.{m}.weight"] = r(H, H)
            modern[p + f"attention.self.{m}.bias"] = r(H)
        modern[p + "attention.output.dense.weight"] = r(H, H)
        modern[p + "attention.output.dense.bias"] = r(H)
        modern[p + "attention.output.LayerNorm.weight"] = 1 + r(H) * 0.1
        modern[p + "attention.output.LayerNorm.bias"] = r(H) * 0.1
        modern[p + "intermediate.dense.weight"] = r(I, H)
        modern[p + "intermediate.dense.bias"] = r(I)
        modern[p + "output.dense.weight"] = r(H, I)
        modern[p + "output.dense.bias"] = r(H)
        modern[p + "output.LayerNorm.weight"] = 1 + r(H) * 0.1
        modern[p + "output.LayerNorm.bias"] = r(H) * 0.1
    modern["pooler.dense.weight"] = r(H, H)
    modern["pooler.dense.bias"] = r(H)

    legacy = collections.OrderedDict()
    for k, v in modern.items():
        k2 = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        legacy[k2] = v
    legacy["embeddings.position_ids"] = torch.arange(P).unsqueeze(0)
    legacy["cls.predictions.bias"] = r(V)
    legacy["cls.predictions.transform.dense.weight"] = r(H, H)
    legacy["cls.seq_relationship.weight"] = r(2, H)

    d = os.path.join(OUT, "legacy_bert")
    os.makedirs(d, exist_ok=True)
    # Legacy zip with the file-stem folder name, as torch 1.13 writes to a path.
    torch.save(legacy, os.path.join(d, "pytorch_model.bin"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = ["hola", "que", "tal", "el", "tiempo", "##s", "musica", "pon", "alarma", "noticias",
             "a", "b", "c", "d", "e", "o", "s", "t", "##a", "##e", "##o", "##s0", "!", "?", ",", ".",
             "adios", "dime", "hoy", "manana", "de", "la", "en", "un", "una"]
    vocab = specials + words
    assert len(vocab) == V, len(vocab)
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    write_safetensors(os.path.join(OUT, "legacy_bert_ref.safetensors"),
                      {"bert." + k: v for k, v in modern.items()})


def views():
    g = torch.Generator().manual_seed(99)
    base = torch.randn(4, 6, generator=g)
    t = {
        "transposed": base.t(),                 # non-contiguous, shares base's storage
        "slice": base[1:3, 2:5],                # offset + strides
        "expanded": torch.randn(3, generator=g).expand(2, 3),  # stride 0
        "base": base,
        "half": torch.randn(5, generator=g).half(),
        "bf16": torch.randn(2, 2, generator=g).bfloat16(),
        "double": torch.randn(3, generator=g).double(),
        "long": torch.tensor([1, -2, 3 << 40]),
        "int": torch.tensor([[7, -8]], dtype=torch.int32),
        "bool": torch.tensor([True, False, True]),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 4),
    }
    obj = {
        "state_dict": collections.OrderedDict(sorted(t.items())),
        "config": {"eps": 1e-12, "lr": 5e-05, "name": "tiny", "n": 300, "big": 1 << 40,
                   "neg": -7, "flag": True, "off": False, "none": None, "list": [1, "two", 3.0],
                   "tuple": (1, 2, 3, 4)},
        "id_to_intent": {0: "get_news", 1: "greeting"},
    }
    torch.save(obj, os.path.join(OUT, "views.pt"))
    write_safetensors(os.path.join(OUT, "views_ref.safetensors"),
                      {k: v.contiguous().clone() for k, v in t.items()})
    # Same archive, DEFLATE-compressed.
    src = zipfile.ZipFile(os.path.join(OUT, "views.pt"))
    with zipfile.ZipFile(os.path.join(OUT, "deflate.pt"), "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, src.read(info.filename))
    # Same archive with zip64 structures everywhere (limits lowered so that
    # Python's zipfile writes zip64 extra fields and end records).
    lim = (zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT)
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 16, 1
    try:
        with zipfile.ZipFile(os.path.join(OUT, "zip64.pt"), "w", zipfile.ZIP_STORED) as z:
            for info in src.infolist():
                z.writestr(info.filename, src.read(info.filename))
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = lim
    # The same object in the legacy (pre-1.6) format.
    torch.save(obj, os.path.join(OUT, "legacy.pt"), _use_new_zipfile_serialization=False)
    # A flat state_dict as pytorch_model.bin.
    torch.save(collections.OrderedDict([("a.weight", base), ("a.bias", torch.arange(4.0))]),
               os.path.join(OUT, "flat.bin"))


if __name__ == "__main__":
    torch.manual_seed(0)
    legacy_bert()
    views()
    # check that everything loads back in torch, weights-only where torch allows it
    torch.load(os.path.join(OUT, "legacy_bert", "pytorch_model.bin"), weights_only=True)
    torch.load(os.path.join(OUT, "deflate.pt"))
    # (torch 1.13's miniz refuses zip64.pt's zip64 local headers; our reader
    # takes it: it only tests the zip64 code paths.)
    print("wrote", OUT)
