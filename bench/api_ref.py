# SPDX-License-Identifier: Apache-2.0
"""api_ref.py - the reference side of bench/bench_serve.sh: a small FastAPI +
PyTorch service shaped like the original api.py (model loaded once in the
lifespan, GET /health, POST /classify {"text"} -> {"text", "intent",
"confidence"}), serving the same Hugging Face model directory as `intent
serve` (config.json + model.safetensors + vocab.txt). It also answers the two
drop-in routes of `intent serve` the way a Python service would write them:
text-embeddings-inference's POST /predict ({"inputs": text or [texts],
"raw_scores", "truncate"} -> [{"score", "label"}] over every label, most
probable first, or a list of those) and Rasa's POST /model/parse ({"text",
"message_id"} -> {"text", "intent": {"name", "confidence"}, "entities": [],
"intent_ranking": the best 10}).

Only Debian's packages are needed (python3-torch, python3-fastapi,
python3-uvicorn, python3-numpy): BertForSequenceClassification is written out
in torch below (post-LN BERT, exact GELU, HF key names) and the tokenizer is
BERT's basic + WordPiece tokenizer in plain Python.

    REF_MODEL=DIR REF_TORCH_THREADS=2 \
        python3 -m uvicorn api_ref:app --app-dir bench --port 8011

FastAPI 0.92 ignores FastAPI(lifespan=...), so the lifespan is installed on
app.router.lifespan_context (same behaviour as the original on newer FastAPI).
"""
import contextlib
import json
import math
import os
import struct
import unicodedata

import numpy as np
import torch
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from typing import List, Optional, Union


# --- weights -----------------------------------------------------------------

def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError("%s: dtype %s not supported here" % (name, info["dtype"]))
        a, b = info["data_offsets"]
        arr = np.frombuffer(data, dtype="<f4", count=(b - a) // 4, offset=base + a)
        out[name] = torch.from_numpy(arr.copy()).reshape(info["shape"])
    return out


class Bert(torch.nn.Module):
    """BertForSequenceClassification, evaluation mode (no dropout)."""

    def __init__(self, cfg):
        super().__init__()
        H, I = cfg["hidden_size"], cfg["intermediate_size"]
        self.nh = cfg["num_attention_heads"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        lin = torch.nn.Linear
        self.word = torch.nn.Embedding(cfg["vocab_size"], H)
        self.pos = torch.nn.Embedding(cfg["max_position_embeddings"], H)
        self.typ = torch.nn.Embedding(cfg.get("type_vocab_size", 2), H)
        self.emb_ln = torch.nn.LayerNorm(H, eps=self.eps)
        self.layers = torch.nn.ModuleList()
        for _ in range(cfg["num_hidden_layers"]):
            m = torch.nn.Module()
            m.q, m.k, m.v, m.o = lin(H, H), lin(H, H), lin(H, H), lin(H, H)
            m.ln1 = torch.nn.LayerNorm(H, eps=self.eps)
            m.up, m.down = lin(H, I), lin(I, H)
            m.ln2 = torch.nn.LayerNorm(H, eps=self.eps)
            self.layers.append(m)
        self.pooler = lin(H, H)
        self.cls = lin(H, len(cfg["id2label"]))
        act = cfg.get("hidden_act", "gelu")
        self.act = {"gelu": torch.nn.functional.gelu, "relu": torch.relu,
                    "gelu_new": lambda x: torch.nn.functional.gelu(x, approximate="tanh")}[act]

    def load_hf(self, sd):
        sd = {k.replace("LayerNorm.gamma", "LayerNorm.weight")
               .replace("LayerNorm.beta", "LayerNorm.bias"): v for k, v in sd.items()}
        p = "bert."
        e = p + "embeddings."
        own = {"word.weight": e + "word_embeddings.weight",
               "pos.weight": e + "position_embeddings.weight",
               "typ.weight": e + "token_type_embeddings.weight",
               "emb_ln.weight": e + "LayerNorm.weight", "emb_ln.bias": e + "LayerNorm.bias",
               "pooler.weight": p + "pooler.dense.weight", "pooler.bias": p + "pooler.dense.bias",
               "cls.weight": "classifier.weight", "cls.bias": "classifier.bias"}
        for i in range(len(self.layers)):
            L = p + "encoder.layer.%d." % i
            names = {"q": "attention.self.query", "k": "attention.self.key",
                     "v": "attention.self.value", "o": "attention.output.dense",
                     "ln1": "attention.output.LayerNorm", "up": "intermediate.dense",
                     "down": "output.dense", "ln2": "output.LayerNorm"}
            for a, b in names.items():
                for w in ("weight", "bias"):
                    own["layers.%d.%s.%s" % (i, a, w)] = L + b + "." + w
        self.load_state_dict({k: sd[v] for k, v in own.items()})

    def forward(self, ids, mask):
        B, T = ids.shape
        x = self.word(ids) + self.pos.weight[:T] + self.typ.weight[0]
        x = self.emb_ln(x)
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        hd = x.shape[-1] // self.nh
        for m in self.layers:
            q = m.q(x).view(B, T, self.nh, hd).transpose(1, 2)
            k = m.k(x).view(B, T, self.nh, hd).transpose(1, 2)
            v = m.v(x).view(B, T, self.nh, hd).transpose(1, 2)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + ext, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(B, T, -1)
            x = m.ln1(x + m.o(ctx))
            x = m.ln2(x + m.down(self.act(m.up(x))))
        return self.cls(torch.tanh(self.pooler(x[:, 0])))


# --- tokenizer ---------------------------------------------------------------

def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


class WordPiece:
    def __init__(self, vocab_path, max_length):
        with open(vocab_path, encoding="utf-8") as f:
            toks = [l.rstrip("\r\n") for l in f]
        self.vocab = {t: i for i, t in enumerate(toks)}
        self.unk, self.cls, self.sep = (self.vocab[t] for t in ("[UNK]", "[CLS]", "[SEP]"))
        self.max_length = max_length

    def words(self, text):
        text = unicodedata.normalize("NFD", text.lower())
        out, cur = [], []
        for ch in text:
            cat = unicodedata.category(ch)
            if cat == "Mn" or (cat.startswith("C") and ch not in "\t\n\r"):
                continue
            if ch.isspace():
                if cur:
                    out.append("".join(cur))
                    cur = []
            elif _is_punct(ch):
                if cur:
                    out.append("".join(cur))
                    cur = []
                out.append(ch)
            else:
                cur.append(ch)
        if cur:
            out.append("".join(cur))
        return out

    def encode(self, text):
        ids = [self.cls]
        for w in self.words(text):
            if len(w) > 100:
                ids.append(self.unk)
                continue
            pieces, start = [], 0
            while start < len(w):
                end, hit = len(w), None
                while start < end:
                    s = w[start:end] if start == 0 else "##" + w[start:end]
                    if s in self.vocab:
                        hit = self.vocab[s]
                        break
                    end -= 1
                if hit is None:
                    pieces = [self.unk]
                    break
                pieces.append(hit)
                start = end
            ids.extend(pieces)
        ids = ids[:self.max_length - 1] + [self.sep]
        return ids


# --- the service -------------------------------------------------------------

STATE = {}


def load_model():
    d = os.environ.get("REF_MODEL", "final_model")
    torch.set_num_threads(int(os.environ.get("REF_TORCH_THREADS", "2")))
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    model = Bert(cfg)
    model.load_hf(load_safetensors(os.path.join(d, "model.safetensors")))
    model.eval()
    max_len = min(int(cfg.get("intent_max_length", 128)), cfg["max_position_embeddings"])
    STATE["model"] = model
    STATE["tok"] = WordPiece(os.path.join(d, "vocab.txt"), max_len)
    STATE["labels"] = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]
    predict("hola")  # warm-up


def predict(text):
    ids = torch.tensor([STATE["tok"].encode(text)])
    with torch.inference_mode():
        probs = torch.softmax(STATE["model"](ids, torch.ones_like(ids)), dim=-1)[0]
    conf, idx = torch.max(probs, dim=0)
    return STATE["labels"][int(idx)], float(conf)


def scores(texts, raw=False):
    """Logits (raw) or probabilities of texts, one padded batch: (n, labels)."""
    rows = [STATE["tok"].encode(t) for t in texts]
    T = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), T), dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    with torch.inference_mode():
        logits = STATE["model"](ids, mask)
        return logits if raw else torch.softmax(logits, dim=-1)


def ranking(row, k=None):
    """(label, score) pairs of one row, best first, the best k (all if None)."""
    vals, idx = torch.sort(row, descending=True)
    if k is not None:
        vals, idx = vals[:k], idx[:k]
    return [(STATE["labels"][int(i)], float(v)) for v, i in zip(vals, idx)]


@contextlib.asynccontextmanager
async def lifespan(app):
    load_model()
    yield
    STATE.clear()


app = FastAPI(title="Intent classifier (reference)")
app.router.lifespan_context = lifespan


class TextIn(BaseModel):
    text: str


class PredictIn(BaseModel):
    inputs: Union[str, List[str]]
    raw_scores: bool = False
    truncate: bool = False


class ParseIn(BaseModel):
    text: str
    message_id: Optional[str] = None


@app.get("/health")
async def health():
    return {"status": "ok", "model_loaded": "model" in STATE}


@app.post("/classify")
async def classify(inp: TextIn):
    if not inp.text.strip():
        raise HTTPException(status_code=400, detail="text must not be empty")
    intent, conf = predict(inp.text)
    return {"text": inp.text, "intent": intent, "confidence": conf}


@app.post("/predict")
async def tei_predict(inp: PredictIn):
    texts = [inp.inputs] if isinstance(inp.inputs, str) else inp.inputs
    if not texts:
        raise HTTPException(status_code=422, detail="`inputs` cannot be empty")
    out = [[{"score": s, "label": l} for l, s in ranking(row)]
           for row in scores(texts, inp.raw_scores)]
    return out[0] if isinstance(inp.inputs, str) else out


@app.post("/model/parse")
async def rasa_parse(inp: ParseIn):
    best = ranking(scores([inp.text])[0], 10)
    return {"text": inp.text, "intent": {"name": best[0][0], "confidence": best[0][1]},
            "entities": [], "intent_ranking": [{"name": l, "confidence": c} for l, c in best]}
