#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""gen_golden.py - PyTorch reference for the C BERT classifier (golden fixtures).

Builds a small seeded random BertForSequenceClassification, written here in
plain torch.nn with exactly Hugging Face's module structure and parameter
names (transformers itself is not needed), runs a padded batch through it in
evaluation mode (no dropout) with gradients, then a few AdamW steps as the
Hugging Face Trainer does them, and writes into tests/golden/model/:

  config.json          Hugging Face style (as save_pretrained writes it after fine-tuning)
  model.safetensors    the weights, safetensors format written by hand (below)
  pytorch_model.bin    torch.save(state_dict) (PyTorch zip format)
  state.bin            inputs, logits, loss, every gradient, the AdamW trajectory

and the smaller activation fixtures tests/golden/model/gelu_new/ and
tests/golden/model/relu/ (config.json, model.safetensors, state.bin), the
other families' (roberta/, electra/, distilbert/) and the masked-LM heads'
(mlm_bert/, mlm_roberta/, mlm_distilbert/: input.labels is then (B, T), the
target token of each predicted position, -100 elsewhere).

state.bin layout (all little-endian):
  magic    8 bytes  b"ICGOLD\\0\\0"
  version  u32      1
  count    u32      number of records
  record   u32 name_len, name (UTF-8, no NUL), u32 dtype (0 = f32, 1 = i32),
           u32 ndim, ndim x u32 dims, then prod(dims) elements
Records:
  input.ids, input.type_ids, input.mask (i32, B x T), input.labels (i32, B; -100 = ignored)
  logits (f32, B x N), probs (f32, B x N), loss (f32, [1])
  grad.<hf name>       gradient of the mean loss, every parameter, table order
  adam.hparams         f32 [lr, beta1, beta2, eps, weight_decay, max_grad_norm, warmup, steps]
  adam.losses          f32 [steps]  loss of the forward before each step
  adam.grad_norms      f32 [steps]  pre-clip global gradient norm of each step
  adam.lrs             f32 [steps]  learning rate used by each step
  adam.param.<hf name> f32          the parameter after the last step (a selection)

Run with Debian's /usr/bin/python3 (torch 1.13):  /usr/bin/python3 tools/gen_golden.py
The output is deterministic for a given torch build.
"""
import collections
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


# --- the model (Hugging Face BertForSequenceClassification, names included) --

def act_fn(name):
    if name == "gelu":
        return lambda x: F.gelu(x)
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) *
                                                     (x + 0.044715 * torch.pow(x, 3.0))))
    if name == "relu":
        return F.relu
    raise ValueError(name)


class Cfg:
    def __init__(self, **kw):
        self.vocab_size = 30522
        self.hidden_size = 768
        self.num_hidden_layers = 12
        self.num_attention_heads = 12
        self.intermediate_size = 3072
        self.hidden_act = "gelu"
        self.hidden_dropout_prob = 0.1
        self.attention_probs_dropout_prob = 0.1
        self.max_position_embeddings = 512
        self.type_vocab_size = 2
        self.initializer_range = 0.02
        self.layer_norm_eps = 1e-12
        self.pad_token_id = 0
        self.classifier_dropout = None
        self.num_labels = 2
        self.__dict__.update(kw)


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, ids, type_ids):
        T = ids.shape[1]
        pos = torch.arange(T, dtype=torch.long).unsqueeze(0)
        e = self.word_embeddings(ids) + self.token_type_embeddings(type_ids)
        e = e + self.position_embeddings(pos)
        return self.dropout(self.LayerNorm(e))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.nh = c.num_attention_heads
        self.d = c.hidden_size // c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def split(self, x):
        B, T, _ = x.shape
        return x.view(B, T, self.nh, self.d).permute(0, 2, 1, 3)

    def forward(self, x, ext_mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.d)
        scores = scores + ext_mask
        probs = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(x.shape)


class BertSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h, x):
        return self.LayerNorm(self.dropout(self.dense(h)) + x)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, x, ext_mask):
        return self.output(self.self(x, ext_mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.act = act_fn(c.hidden_act)

    def forward(self, x):
        return self.act(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.intermediate_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h, x):
        return self.LayerNorm(self.dropout(self.dense(h)) + x)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, x, ext_mask):
        a = self.attention(x, ext_mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c.num_hidden_layers)])

    def forward(self, x, ext_mask):
        for layer in self.layer:
            x = layer(x, ext_mask)
        return x


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c)

    def forward(self, ids, type_ids, mask):
        ext = (1.0 - mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        h = self.encoder(self.embeddings(ids, type_ids), ext)
        return self.pooler(h)


class BertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.prefix = "bert"
        self.bert = BertModel(c)
        p = c.classifier_dropout if c.classifier_dropout is not None else c.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(c.hidden_size, c.num_labels)
        self.apply(self._init_weights)

    def _init_weights(self, m):
        r = self.config.initializer_range
        if isinstance(m, nn.Linear):
            m.weight.data.normal_(0.0, r)
            m.bias.data.zero_()
        elif isinstance(m, nn.Embedding):
            m.weight.data.normal_(0.0, r)
            if m.padding_idx is not None:
                m.weight.data[m.padding_idx].zero_()
        elif isinstance(m, nn.LayerNorm):
            m.weight.data.fill_(1.0)
            m.bias.data.zero_()

    def forward(self, ids, type_ids, mask, labels=None):
        logits = self.classifier(self.dropout(self.bert(ids, type_ids, mask)))
        loss = F.cross_entropy(logits, labels, ignore_index=-100) if labels is not None else None
        return logits, loss


# --- the other families (RoBERTa/XLM-R, ELECTRA, DistilBERT), HF structure --

def roberta_position_ids(ids, pad):
    """transformers' create_position_ids_from_input_ids (past length 0)."""
    m = ids.ne(pad).int()
    return (torch.cumsum(m, dim=1).type_as(m) * m).long() + pad


class FamilyEmbeddings(nn.Module):
    """RobertaEmbeddings (offset positions, padding_idx on positions) and
    ElectraEmbeddings (embedding_size wide); token types as BERT."""
    def __init__(self, c, width, roberta):
        super().__init__()
        self.roberta = roberta
        self.pad = c.pad_token_id
        self.word_embeddings = nn.Embedding(c.vocab_size, width, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, width,
                                                padding_idx=c.pad_token_id if roberta else None)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, width)
        self.LayerNorm = nn.LayerNorm(width, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, ids, type_ids):
        if self.roberta:
            pos = roberta_position_ids(ids, self.pad)
        else:
            pos = torch.arange(ids.shape[1], dtype=torch.long).unsqueeze(0)
        e = self.word_embeddings(ids) + self.token_type_embeddings(type_ids)
        e = e + self.position_embeddings(pos)
        return self.dropout(self.LayerNorm(e))


def ext_mask(mask):
    return (1.0 - mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min


class RobertaModel(nn.Module):
    """RobertaModel(add_pooling_layer=False) / ElectraModel."""
    def __init__(self, c, roberta):
        super().__init__()
        width = getattr(c, "embedding_size", c.hidden_size)
        self.embeddings = FamilyEmbeddings(c, width, roberta)
        if width != c.hidden_size:
            self.embeddings_project = nn.Linear(width, c.hidden_size)
        self.encoder = BertEncoder(c)

    def forward(self, ids, type_ids, mask):
        h = self.embeddings(ids, type_ids)
        if hasattr(self, "embeddings_project"):
            h = self.embeddings_project(h)
        return self.encoder(h, ext_mask(mask))


class ClassificationHead(nn.Module):
    """RobertaClassificationHead (tanh) / ElectraClassificationHead (gelu)."""
    def __init__(self, c, act):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        p = c.classifier_dropout if c.classifier_dropout is not None else c.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.out_proj = nn.Linear(c.hidden_size, c.num_labels)
        self.act = act

    def forward(self, h):
        x = self.dropout(h[:, 0, :])
        x = self.act(self.dense(x))
        return self.out_proj(self.dropout(x))


class FamilyForSequenceClassification(nn.Module):
    def __init__(self, c, family):
        super().__init__()
        self.config = c
        self.family = family
        self.prefix = family
        roberta = family == "roberta"
        setattr(self, family, RobertaModel(c, roberta))
        self.classifier = ClassificationHead(c, torch.tanh if roberta else F.gelu)
        self.apply(BertForSequenceClassification._init_weights.__get__(self))

    def forward(self, ids, type_ids, mask, labels=None):
        logits = self.classifier(getattr(self, self.family)(ids, type_ids, mask))
        loss = F.cross_entropy(logits, labels, ignore_index=-100) if labels is not None else None
        return logits, loss


class DistilMHSA(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.nh = c.n_heads
        self.d = c.dim // c.n_heads
        self.q_lin = nn.Linear(c.dim, c.dim)
        self.k_lin = nn.Linear(c.dim, c.dim)
        self.v_lin = nn.Linear(c.dim, c.dim)
        self.out_lin = nn.Linear(c.dim, c.dim)
        self.dropout = nn.Dropout(c.attention_dropout)

    def forward(self, x, mask):
        B, T, _ = x.shape

        def shape(t):
            return t.view(B, T, self.nh, self.d).transpose(1, 2)
        q = shape(self.q_lin(x)) / math.sqrt(self.d)
        k, v = shape(self.k_lin(x)), shape(self.v_lin(x))
        scores = torch.matmul(q, k.transpose(2, 3))
        m = (mask == 0).view(B, 1, 1, T).expand_as(scores)
        scores = scores.masked_fill(m, torch.finfo(scores.dtype).min)
        w = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(w, v).transpose(1, 2).contiguous().view(B, T, self.nh * self.d)
        return self.out_lin(ctx)


class DistilFFN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.lin1 = nn.Linear(c.dim, c.hidden_dim)
        self.lin2 = nn.Linear(c.hidden_dim, c.dim)
        self.dropout = nn.Dropout(c.dropout)
        self.act = act_fn(c.activation)

    def forward(self, x):
        return self.dropout(self.lin2(self.act(self.lin1(x))))


class DistilBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = DistilMHSA(c)
        self.sa_layer_norm = nn.LayerNorm(c.dim, eps=1e-12)
        self.ffn = DistilFFN(c)
        self.output_layer_norm = nn.LayerNorm(c.dim, eps=1e-12)

    def forward(self, x, mask):
        sa = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.ffn(sa) + sa)


class DistilEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.dim, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.dim)
        self.LayerNorm = nn.LayerNorm(c.dim, eps=1e-12)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], dtype=torch.long).unsqueeze(0)
        return self.dropout(self.LayerNorm(self.word_embeddings(ids) +
                                           self.position_embeddings(pos)))


class DistilTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([DistilBlock(c) for _ in range(c.n_layers)])


class DistilBertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = DistilEmbeddings(c)
        self.transformer = DistilTransformer(c)

    def forward(self, ids, mask):
        h = self.embeddings(ids)
        for layer in self.transformer.layer:
            h = layer(h, mask)
        return h


class DistilBertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.prefix = "distilbert"
        self.distilbert = DistilBertModel(c)
        self.pre_classifier = nn.Linear(c.dim, c.dim)
        self.classifier = nn.Linear(c.dim, c.num_labels)
        self.dropout = nn.Dropout(c.seq_classif_dropout)
        self.apply(BertForSequenceClassification._init_weights.__get__(self))

    def forward(self, ids, type_ids, mask, labels=None):
        h = self.distilbert(ids, mask)[:, 0]
        h = self.dropout(F.relu(self.pre_classifier(h)))
        logits = self.classifier(h)
        loss = F.cross_entropy(logits, labels, ignore_index=-100) if labels is not None else None
        return logits, loss


# --- masked-LM heads (BertForMaskedLM, RobertaForMaskedLM, DistilBertForMaskedLM) --

class BertEncoderModel(nn.Module):
    """BertModel(add_pooling_layer=False), as BertForMaskedLM builds it."""
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)

    def forward(self, ids, type_ids, mask):
        return self.encoder(self.embeddings(ids, type_ids), ext_mask(mask))


class LMTransform(nn.Module):
    """BertPredictionHeadTransform: dense -> hidden_act -> LayerNorm."""
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.act = act_fn(c.hidden_act)

    def forward(self, h):
        return self.LayerNorm(self.act(self.dense(h)))


class LMPrediction(nn.Module):
    """BertLMPredictionHead; the decoder weight is the word embeddings (tied)."""
    def __init__(self, c):
        super().__init__()
        self.transform = LMTransform(c)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.predictions = LMPrediction(c)


class RobertaLMHead(nn.Module):
    """dense -> gelu -> layer_norm -> decoder (tied) + bias."""
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))


class ProjectorBias(nn.Module):
    """DistilBERT's vocab_projector: its weight is the word embeddings (tied)."""
    def __init__(self, c):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))


class ForMaskedLM(nn.Module):
    """BertForMaskedLM / RobertaForMaskedLM / DistilBertForMaskedLM: the loss is
    the cross-entropy over the positions whose label is not -100."""
    def __init__(self, c, family):
        super().__init__()
        self.config = c
        self.family = family
        self.prefix = family
        if family == "bert":
            self.bert = BertEncoderModel(c)
            self.cls = BertOnlyMLMHead(c)
        elif family == "roberta":
            self.roberta = RobertaModel(c, True)
            self.lm_head = RobertaLMHead(c)
        else:
            self.distilbert = DistilBertModel(c)
            self.vocab_transform = nn.Linear(c.dim, c.dim)
            self.vocab_layer_norm = nn.LayerNorm(c.dim, eps=1e-12)
            self.vocab_projector = ProjectorBias(c)
        self.apply(BertForSequenceClassification._init_weights.__get__(self))

    def head(self, h):
        if self.family == "bert":
            p = self.cls.predictions
            return F.linear(p.transform(h), self.bert.embeddings.word_embeddings.weight, p.bias)
        if self.family == "roberta":
            x = self.lm_head.layer_norm(F.gelu(self.lm_head.dense(h)))
            return F.linear(x, self.roberta.embeddings.word_embeddings.weight, self.lm_head.bias)
        x = self.vocab_layer_norm(act_fn(self.config.activation)(self.vocab_transform(h)))
        return F.linear(x, self.distilbert.embeddings.word_embeddings.weight,
                        self.vocab_projector.bias)

    def forward(self, ids, type_ids, mask, labels=None):
        if self.family == "distilbert":
            h = self.distilbert(ids, mask)
        else:
            h = getattr(self, self.family)(ids, type_ids, mask)
        logits = self.head(h)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1),
                                   ignore_index=-100)
        return logits, loss


def mlm_labels(ids, mask, gen, frac=0.35):
    """Targets at about frac of the real positions (at least one per row), -100 elsewhere."""
    y = torch.full(ids.shape, -100, dtype=torch.int64)
    for b in range(ids.shape[0]):
        real = [t for t in range(ids.shape[1]) if mask[b, t]]
        pick = [t for t in real if torch.rand(1, generator=gen).item() < frac] or real[:1]
        for t in pick:
            y[b, t] = ids[b, t]
    return y


def with_class(write, cls):
    """A config writer whose architectures is [cls]."""
    def w(c, labels):
        d = json.loads(write(c, labels))
        d["architectures"] = [cls]
        return json.dumps(d, indent=2, sort_keys=True) + "\n"
    return w


def mlm_fixtures(root):
    """The masked-LM heads: loss and every gradient (the tied word embeddings
    get the decoder's and the input's share) and an AdamW trajectory."""
    lab3 = ["a", "b", "c"]
    shape = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=24, num_labels=3)
    bc = Cfg(max_position_embeddings=12, type_vocab_size=2, **shape)
    gen = torch.Generator().manual_seed(31)
    ids, tt, mask, _ = batch_from([(7, 3, 0), (5, None, 0), (3, None, 0)], 7, gen, bc.vocab_size)
    y = mlm_labels(ids, mask, gen)
    make_fixture(os.path.join(root, "mlm_bert"), bc, lab3, (ids, tt, mask, y), 31,
                 ["bert.embeddings.word_embeddings.weight", "cls.predictions.bias",
                  "cls.predictions.transform.dense.weight"], False,
                 build=lambda c: ForMaskedLM(c, "bert"),
                 config_json=with_class(hf_config_json, "BertForMaskedLM"))
    rc = Cfg(max_position_embeddings=20, type_vocab_size=1, pad_token_id=1, hidden_act="gelu_new",
             **shape)
    gen = torch.Generator().manual_seed(32)
    ids, tt, mask, _ = batch_from([(6, None, 0), (4, None, 0), (2, None, 0)], 6, gen,
                                  rc.vocab_size, pad=1)
    y = mlm_labels(ids, mask, gen)
    make_fixture(os.path.join(root, "mlm_roberta"), rc, lab3, (ids, tt, mask, y), 32,
                 ["roberta.embeddings.word_embeddings.weight", "lm_head.layer_norm.weight"],
                 False, build=lambda c: ForMaskedLM(c, "roberta"),
                 config_json=with_class(family_config_json("roberta",
                                                           "RobertaForMaskedLM", []),
                                        "RobertaForMaskedLM"))
    dc = Cfg(vocab_size=40, dim=16, n_layers=2, n_heads=2, hidden_dim=24, activation="gelu",
             dropout=0.1, attention_dropout=0.1, seq_classif_dropout=0.2,
             max_position_embeddings=12, pad_token_id=0, num_labels=3, initializer_range=0.02)
    gen = torch.Generator().manual_seed(33)
    ids, tt, mask, _ = batch_from([(6, None, 0), (3, None, 0), (5, None, 0)], 6, gen,
                                  dc.vocab_size)
    y = mlm_labels(ids, mask, gen)
    make_fixture(os.path.join(root, "mlm_distilbert"), dc, lab3, (ids, tt, mask, y), 33,
                 ["distilbert.embeddings.word_embeddings.weight", "vocab_transform.weight",
                  "vocab_projector.bias"], False,
                 build=lambda c: ForMaskedLM(c, "distilbert"),
                 config_json=with_class(distil_config_json, "DistilBertForMaskedLM"))


def decay_groups(model, weight_decay):
    """Hugging Face Trainer's groups: no decay for biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if ("bias" in name or "LayerNorm" in name or "layer_norm" in name)
         else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def linear_schedule(optimizer, warmup, total):
    def f(step):
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, f)


# --- writers -------------------------------------------------------------------

def write_safetensors(path, sd):
    names = sorted(sd.keys())
    header = collections.OrderedDict()
    header["__metadata__"] = {"format": "pt"}
    off = 0
    blobs = []
    for n in names:
        t = sd[n].detach().contiguous().to(torch.float32)
        b = t.numpy().astype("<f4").tobytes()
        header[n] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class StateWriter:
    def __init__(self):
        self.recs = []

    def add(self, name, t):
        t = torch.as_tensor(t).detach()
        if t.dtype in (torch.int32, torch.int64):
            dt, data = 1, t.to(torch.int32).numpy().astype("<i4").tobytes()
        else:
            dt, data = 0, t.to(torch.float32).numpy().astype("<f4").tobytes()
        shape = list(t.shape) or [1]
        nb = name.encode()
        rec = struct.pack("<I", len(nb)) + nb + struct.pack("<II", dt, len(shape))
        rec += b"".join(struct.pack("<I", d) for d in shape) + data
        self.recs.append(rec)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(b"ICGOLD\0\0" + struct.pack("<II", 1, len(self.recs)))
            for r in self.recs:
                f.write(r)


def hf_config_json(c, labels):
    d = collections.OrderedDict()
    d["architectures"] = ["BertForSequenceClassification"]
    d["attention_probs_dropout_prob"] = c.attention_probs_dropout_prob
    d["classifier_dropout"] = c.classifier_dropout
    d["hidden_act"] = c.hidden_act
    d["hidden_dropout_prob"] = c.hidden_dropout_prob
    d["hidden_size"] = c.hidden_size
    d["id2label"] = {str(i): l for i, l in enumerate(labels)}
    d["initializer_range"] = c.initializer_range
    d["intermediate_size"] = c.intermediate_size
    d["label2id"] = {l: i for i, l in enumerate(labels)}
    d["layer_norm_eps"] = c.layer_norm_eps
    d["max_position_embeddings"] = c.max_position_embeddings
    d["model_type"] = "bert"
    d["num_attention_heads"] = c.num_attention_heads
    d["num_hidden_layers"] = c.num_hidden_layers
    d["pad_token_id"] = c.pad_token_id
    d["position_embedding_type"] = "absolute"
    d["problem_type"] = "single_label_classification"
    d["torch_dtype"] = "float32"
    d["transformers_version"] = "4.44.2"
    d["type_vocab_size"] = c.type_vocab_size
    d["use_cache"] = True
    d["vocab_size"] = c.vocab_size
    return json.dumps(d, indent=2) + "\n"


def family_config_json(model_type, cls, extra):
    def write(c, labels):
        d = collections.OrderedDict()
        d["architectures"] = [cls]
        d["attention_probs_dropout_prob"] = c.attention_probs_dropout_prob
        d["classifier_dropout"] = c.classifier_dropout
        d["hidden_act"] = c.hidden_act
        d["hidden_dropout_prob"] = c.hidden_dropout_prob
        d["hidden_size"] = c.hidden_size
        d["id2label"] = {str(i): l for i, l in enumerate(labels)}
        d["initializer_range"] = c.initializer_range
        d["intermediate_size"] = c.intermediate_size
        d["label2id"] = {l: i for i, l in enumerate(labels)}
        d["layer_norm_eps"] = c.layer_norm_eps
        d["max_position_embeddings"] = c.max_position_embeddings
        d["model_type"] = model_type
        d["num_attention_heads"] = c.num_attention_heads
        d["num_hidden_layers"] = c.num_hidden_layers
        d["pad_token_id"] = c.pad_token_id
        d["position_embedding_type"] = "absolute"
        d["problem_type"] = "single_label_classification"
        d["type_vocab_size"] = c.type_vocab_size
        d["vocab_size"] = c.vocab_size
        for k in extra:
            d[k] = getattr(c, k)
        return json.dumps(dict(sorted(d.items())), indent=2) + "\n"
    return write


def distil_config_json(c, labels):
    d = {"activation": c.activation, "architectures": ["DistilBertForSequenceClassification"],
         "attention_dropout": c.attention_dropout, "dim": c.dim, "dropout": c.dropout,
         "hidden_dim": c.hidden_dim, "id2label": {str(i): l for i, l in enumerate(labels)},
         "initializer_range": c.initializer_range,
         "label2id": {l: i for i, l in enumerate(labels)},
         "max_position_embeddings": c.max_position_embeddings, "model_type": "distilbert",
         "n_heads": c.n_heads, "n_layers": c.n_layers, "pad_token_id": c.pad_token_id,
         "qa_dropout": 0.1, "seq_classif_dropout": c.seq_classif_dropout,
         "sinusoidal_pos_embds": False, "vocab_size": c.vocab_size}
    return json.dumps(d, indent=2, sort_keys=True) + "\n"


# --- fixtures ------------------------------------------------------------------

def perturb(model, gen, std):
    """Random weights with every bias and LayerNorm parameter away from its init."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name or "layer_norm.weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(std * torch.randn(p.shape, generator=gen))
        emb = getattr(model, model.prefix).embeddings
        emb.word_embeddings.weight[model.config.pad_token_id].zero_()
        if emb.position_embeddings.padding_idx is not None:
            emb.position_embeddings.weight[emb.position_embeddings.padding_idx].zero_()


def make_fixture(outdir, cfg, labels, batch, seed, keep_params, write_bin,
                 steps=5, warmup=2, lr=1e-3, wd=0.01, max_norm=1.0,
                 build=BertForSequenceClassification, config_json=None):
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build(cfg)
    perturb(model, gen, 0.15)
    model.eval()  # dropout off: deterministic
    ids, type_ids, mask, y = batch

    sd = model.state_dict()
    write_safetensors(os.path.join(outdir, "model.safetensors"), sd)
    if write_bin:
        torch.save(sd, os.path.join(outdir, "pytorch_model.bin"))
    with open(os.path.join(outdir, "config.json"), "w") as f:
        f.write((config_json or hf_config_json)(cfg, labels))

    st = StateWriter()
    st.add("input.ids", ids)
    st.add("input.type_ids", type_ids)
    st.add("input.mask", mask)
    st.add("input.labels", y)

    logits, loss = model(ids, type_ids, mask, y)
    loss.backward()
    st.add("logits", logits)
    st.add("probs", F.softmax(logits, dim=-1))
    st.add("loss", loss.reshape(1))
    for name, p in model.named_parameters():
        st.add("grad." + name, p.grad)

    model.zero_grad()
    opt = torch.optim.AdamW(decay_groups(model, wd), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    sched = linear_schedule(opt, warmup, steps)
    losses, norms, lrs = [], [], []
    for _ in range(steps):
        opt.zero_grad()
        _, l = model(ids, type_ids, mask, y)
        l.backward()
        n = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        losses.append(l.item())
        norms.append(float(n))
    st.add("adam.hparams", torch.tensor([lr, 0.9, 0.999, 1e-8, wd, max_norm, warmup, steps]))
    st.add("adam.losses", torch.tensor(losses))
    st.add("adam.grad_norms", torch.tensor(norms))
    st.add("adam.lrs", torch.tensor(lrs))
    params = dict(model.named_parameters())
    for name in keep_params:
        st.add("adam.param." + name, params[name])
    st.write(os.path.join(outdir, "state.bin"))
    return logits, loss


def batch_from(rows, T, gen, V, pad=0):
    """rows: (length, second_segment_start or None, label). Right padding with pad."""
    B = len(rows)
    ids = torch.full((B, T), pad, dtype=torch.int64)
    tt = torch.zeros(B, T, dtype=torch.int64)
    mask = torch.zeros(B, T, dtype=torch.int64)
    for b, (n, seg, _) in enumerate(rows):
        if n > 0:
            ids[b, :n] = torch.randint(pad + 1, V, (n,), generator=gen)
            mask[b, :n] = 1
        if seg is not None:
            tt[b, seg:n] = 1
    y = torch.tensor([r[2] for r in rows], dtype=torch.int64)
    return ids, tt, mask, y


def family_fixtures(root):
    """RoBERTa (offset positions, pad 1, one token type), ELECTRA (embedding
    projection 8 -> 16, GELU head) and DistilBERT (its own names, no token
    types), each with a padded batch and one ignored label."""
    lab3 = ["a", "b", "c"]
    shape = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=24, num_labels=3)
    rc = Cfg(max_position_embeddings=20, type_vocab_size=1, pad_token_id=1, **shape)
    gen = torch.Generator().manual_seed(21)
    b = batch_from([(7, None, 2), (4, None, 0), (6, None, -100), (2, None, 1)], 7, gen,
                   rc.vocab_size, pad=1)
    make_fixture(os.path.join(root, "roberta"), rc, lab3, b, 21,
                 ["roberta.embeddings.position_embeddings.weight", "classifier.dense.weight",
                  "classifier.out_proj.bias"], True,
                 build=lambda c: FamilyForSequenceClassification(c, "roberta"),
                 config_json=family_config_json("roberta", "RobertaForSequenceClassification",
                                                []))
    ec = Cfg(max_position_embeddings=12, type_vocab_size=2, embedding_size=8, **shape)
    gen = torch.Generator().manual_seed(22)
    b = batch_from([(6, 3, 1), (5, None, 2), (3, None, 0)], 6, gen, ec.vocab_size)
    make_fixture(os.path.join(root, "electra"), ec, lab3, b, 22,
                 ["electra.embeddings_project.weight", "electra.embeddings.LayerNorm.weight",
                  "classifier.out_proj.weight"], True,
                 build=lambda c: FamilyForSequenceClassification(c, "electra"),
                 config_json=family_config_json("electra", "ElectraForSequenceClassification",
                                                ["embedding_size"]))
    dc = Cfg(vocab_size=40, dim=16, n_layers=2, n_heads=2, hidden_dim=24, activation="gelu",
             dropout=0.1, attention_dropout=0.1, seq_classif_dropout=0.2,
             max_position_embeddings=12, pad_token_id=0, num_labels=3, initializer_range=0.02)
    gen = torch.Generator().manual_seed(23)
    b = batch_from([(6, None, 0), (3, None, 2), (5, None, 1)], 6, gen, dc.vocab_size)
    make_fixture(os.path.join(root, "distilbert"), dc, lab3, b, 23,
                 ["distilbert.transformer.layer.1.attention.k_lin.weight",
                  "distilbert.transformer.layer.0.sa_layer_norm.weight", "pre_classifier.bias"],
                 True, build=DistilBertForSequenceClassification, config_json=distil_config_json)


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "model")
    torch.set_num_threads(1)

    cfg = Cfg(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=40, max_position_embeddings=16, type_vocab_size=2, num_labels=5,
              hidden_act="gelu", layer_norm_eps=1e-12)
    gen = torch.Generator().manual_seed(1234)
    batch = batch_from([(12, 7, 1), (7, None, 4), (3, None, 0), (10, 4, 2)], 12, gen, cfg.vocab_size)
    keep = ["bert.embeddings.position_embeddings.weight", "bert.embeddings.LayerNorm.bias",
            "bert.encoder.layer.0.output.LayerNorm.weight",
            "bert.encoder.layer.1.attention.self.query.weight",
            "bert.encoder.layer.1.intermediate.dense.bias",
            "bert.pooler.dense.weight", "classifier.weight", "classifier.bias"]
    labels = ["saludo", "despedida", "reservar", "cancelar", "clima"]
    make_fixture(root, cfg, labels, batch, 42, keep, True)

    # Small fixtures for the other activations. relu also covers ignore_index
    # (-100) and a row whose attention mask is all zero.
    small = dict(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=16, max_position_embeddings=8, type_vocab_size=2, num_labels=3)
    keep_small = ["bert.encoder.layer.0.attention.self.value.weight", "classifier.weight"]
    lab3 = ["a", "b", "c"]
    c2 = Cfg(hidden_act="gelu_new", layer_norm_eps=1e-5, **small)
    gen = torch.Generator().manual_seed(7)
    b2 = batch_from([(6, 3, 2), (4, None, 0), (2, None, 1)], 6, gen, c2.vocab_size)
    make_fixture(os.path.join(root, "gelu_new"), c2, lab3, b2, 7, keep_small, False)
    c3 = Cfg(hidden_act="relu", **small)
    gen = torch.Generator().manual_seed(8)
    b3 = batch_from([(5, None, 1), (3, 1, -100), (0, None, 2)], 5, gen, c3.vocab_size)
    make_fixture(os.path.join(root, "relu"), c3, lab3, b3, 8, keep_small, False)
    family_fixtures(root)
    mlm_fixtures(root)
    total = 0
    for d, _, files in os.walk(root):
        total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
    print("wrote %s (%d bytes)" % (root, total), file=sys.stderr)


if __name__ == "__main__":
    main()
