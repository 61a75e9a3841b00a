/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bert_params.c - the parameter table: layout of the one weight block, the
 * Hugging Face names that map onto it, initialisation, and copying weights in
 * from a loaded checkpoint (legacy names, prefixes, new heads).
 * Forward and backward live in bert.c; this file does no arithmetic.
 */
#include <stdio.h>
#include <string.h>

#include <stddef.h>

#include "intent/bert.h"
#include "nn/arch.h"

void ic_bert_config_default(struct ic_bert_config *c)
{
    memset(c, 0, sizeof *c);
    c->vocab_size = 30522;
    c->hidden_size = 768;
    c->num_layers = 12;
    c->num_heads = 12;
    c->intermediate_size = 3072;
    c->max_position = 512;
    c->type_vocab_size = 2;
    c->num_labels = 2;
    c->pad_token_id = 0;
    c->act = IC_ACT_GELU;
    c->layer_norm_eps = 1e-12f;
    c->initializer_range = 0.02f;
    c->hidden_dropout = 0.1f;
    c->attention_dropout = 0.1f;
    c->classifier_dropout = -1.0f;
}

int ic_bert_config_check(const struct ic_bert_config *c, struct ic_err *err)
{
#define CHECK_RANGE(field, lo, hi)                                                             \
    if (c->field < (lo) || c->field > (hi))                                                    \
        return ic_errf(err, IC_ERR_RANGE, "config: %s = %d is outside [%d, %d]", #field,        \
                       (int)c->field, (int)(lo), (int)(hi));
    CHECK_RANGE(vocab_size, 1, 4000000)
    CHECK_RANGE(hidden_size, 1, 16384)
    CHECK_RANGE(num_layers, 1, 256)
    CHECK_RANGE(num_heads, 1, 1024)
    CHECK_RANGE(intermediate_size, 1, 131072)
    CHECK_RANGE(max_position, 1, 65536)
    CHECK_RANGE(type_vocab_size, 1, 1024)
    CHECK_RANGE(num_labels, 1, 100000)
    CHECK_RANGE(embedding_size, 0, 16384)
#undef CHECK_RANGE
    if ((int)c->arch < 0 || c->arch >= IC_ARCH_COUNT)
        return ic_errf(err, IC_ERR_RANGE, "config: unknown architecture %d", (int)c->arch);
    if (c->embedding_size > 0 && c->embedding_size != c->hidden_size &&
        c->arch != IC_ARCH_ELECTRA)
        return ic_errf(err, IC_ERR_RANGE,
                       "config: embedding_size %d differs from hidden_size %d (ELECTRA only)",
                       c->embedding_size, c->hidden_size);
    if (c->mlm_head && c->arch == IC_ARCH_ELECTRA)
        return ic_errf(err, IC_ERR_UNSUPPORTED,
                       "config: no masked-LM head for electra (its generator is a separate "
                       "model); use bert, roberta or distilbert");
    if (ic_bert_max_seq(c) < 1)
        return ic_errf(err, IC_ERR_RANGE,
                       "config: max_position_embeddings %d leaves no position after "
                       "pad_token_id %d",
                       c->max_position, c->pad_token_id);
    if (c->hidden_size % c->num_heads != 0)
        return ic_errf(err, IC_ERR_RANGE,
                       "config: hidden_size %d is not a multiple of num_attention_heads %d",
                       c->hidden_size, c->num_heads);
    if (c->pad_token_id < 0 || c->pad_token_id >= c->vocab_size)
        return ic_errf(err, IC_ERR_RANGE, "config: pad_token_id %d is outside the vocabulary",
                       c->pad_token_id);
    if (!(c->layer_norm_eps > 0.0f && c->layer_norm_eps < 1.0f))
        return ic_errf(err, IC_ERR_RANGE, "config: layer_norm_eps must be in (0, 1)");
    if (!(c->hidden_dropout >= 0.0f && c->hidden_dropout < 1.0f) ||
        !(c->attention_dropout >= 0.0f && c->attention_dropout < 1.0f) ||
        !(c->classifier_dropout < 1.0f))
        return ic_errf(err, IC_ERR_RANGE, "config: dropout probabilities must be in [0, 1)");
    if (ic_bert_num_params(c) > ((size_t)1 << 33))
        return ic_errf(err, IC_ERR_RANGE, "config: model of %zu parameters is too large",
                       ic_bert_num_params(c));
    return IC_OK;
}

int ic_act_parse(const char *name, enum ic_act *out)
{
    if (strcmp(name, "gelu") == 0)
        *out = IC_ACT_GELU;
    else if (strcmp(name, "gelu_new") == 0 || strcmp(name, "gelu_pytorch_tanh") == 0)
        *out = IC_ACT_GELU_NEW;
    else if (strcmp(name, "relu") == 0)
        *out = IC_ACT_RELU;
    else
        return IC_ERR_UNSUPPORTED;
    return IC_OK;
}

int ic_bert_max_seq(const struct ic_bert_config *c)
{
    if (ic_arch_get(c->arch)->pad_positions)
        return c->max_position - c->pad_token_id - 1;
    return c->max_position;
}

const char *ic_act_name(enum ic_act a)
{
    switch (a) {
    case IC_ACT_TANH: return "tanh";
    case IC_ACT_GELU_NEW: return "gelu_new";
    case IC_ACT_RELU: return "relu";
    default: return "gelu";
    }
}

/* --- layout: everything from IC_BERT_TENSORS (arch.h) --------------------- */

struct row {
    enum ic__field field;
    int part, stage;                 /* arch.h: part in the field, 0/1/2 */
    size_t rows, cols;               /* offsets of the dims in struct ic__dims */
    const char *names[IC_ARCH_COUNT];
};

#define ROW(field, part, stage, rows, cols, bert, roberta, distilbert, electra)                 \
    {IC__F_##field, part, stage, offsetof(struct ic__dims, rows), offsetof(struct ic__dims, cols), \
     {bert, roberta, distilbert, electra}},
static const struct row g_rows[] = {IC_BERT_TENSORS(ROW)};
#undef ROW
#define N_ROWS (sizeof g_rows / sizeof g_rows[0])

static size_t dim(const struct ic__dims *d, size_t off)
{
    return *(const size_t *)((const char *)d + off);
}

/* Floats of one HF tensor of row r (one layer's worth for stage 1). */
static size_t row_numel(const struct row *r, const struct ic__dims *d)
{
    size_t cols = dim(d, r->cols);
    return dim(d, r->rows) * (cols ? cols : 1);
}

/* Floats of each field for cfg: the sum of its parts, times L per layer. */
static void field_sizes(const struct ic_bert_config *c, size_t sz[IC__F_COUNT])
{
    struct ic__dims d;
    ic__dims_of(&d, c);
    memset(sz, 0, IC__F_COUNT * sizeof *sz);
    for (size_t i = 0; i < N_ROWS; i++)
        sz[g_rows[i].field] += (g_rows[i].stage == 1 ? d.L : 1) * row_numel(&g_rows[i], &d);
}

size_t ic_bert_num_params(const struct ic_bert_config *cfg)
{
    size_t sz[IC__F_COUNT], n = 0;
    field_sizes(cfg, sz);
    for (int i = 0; i < IC__F_COUNT; i++)
        n += sz[i];
    return n;
}

/* The named pointer of each field, in block order. */
static void field_ptrs(struct ic_bert_weights *w, float **ptrs[IC__F_COUNT])
{
#define PTR_0(field) ptrs[IC__F_##field] = &w->field;
#define PTR_1(field)
#define PTR_2(field)
#define PTR(field, part, ...) PTR_##part(field)
    IC_BERT_TENSORS(PTR)
#undef PTR
#undef PTR_0
#undef PTR_1
#undef PTR_2
}

void ic_bert_point(struct ic_bert_weights *w, float *block, const struct ic_bert_config *cfg)
{
    size_t sz[IC__F_COUNT];
    float **ptrs[IC__F_COUNT];
    field_sizes(cfg, sz);
    field_ptrs(w, ptrs);
    float *p = block;
    for (int i = 0; i < IC__F_COUNT; i++) {
        *ptrs[i] = p;
        p += sz[i];
    }
}

/* Adds the table entry of row r (layer l for stage 1) if the architecture
 * has it. part_off: floats before this part within the field (per layer). */
static void table_add(struct ic_bert *m, size_t *k, const struct row *r, int l,
                      const struct ic__dims *d, const float *field, size_t layer_floats,
                      size_t part_off)
{
    const struct ic_arch_info *ai = ic_arch_get(m->cfg.arch);
    const char *tmpl = r->names[m->cfg.arch];
    size_t numel = row_numel(r, d);
    if (!tmpl || numel == 0)
        return;
    struct ic_param *p = &m->table[(*k)++];
    char fmt[IC_PARAM_NAME_MAX];
    int base = tmpl[0] == '.';
    snprintf(fmt, sizeof fmt, "%s%s", base ? ai->prefix : "", tmpl);
    if (r->stage == 1)
        snprintf(p->name, sizeof p->name, fmt, l);
    else
        snprintf(p->name, sizeof p->name, "%s", fmt);
    size_t cols = dim(d, r->cols);
    p->ndim = cols ? 2 : 1;
    p->shape[0] = (int64_t)dim(d, r->rows);
    p->shape[1] = (int64_t)cols;
    p->numel = numel;
    p->offset = (size_t)(field - m->params) + (size_t)(l > 0 ? l : 0) * layer_floats + part_off;
    p->no_decay = p->ndim == 1; /* biases and LayerNorm parameters (HF Trainer groups) */
    p->is_head = !base;
    p->per_label = r->rows == offsetof(struct ic__dims, N);
}

/* Entries of one stage (layer l for stage 1), in state_dict order. */
static void table_stage(struct ic_bert *m, size_t *k, int stage, int l, const struct ic__dims *d)
{
    size_t sz[IC__F_COUNT], part_off[IC__F_COUNT] = {0};
    float **ptrs[IC__F_COUNT];
    struct ic_bert_weights *w = &m->w;
    field_sizes(&m->cfg, sz);
    field_ptrs(w, ptrs);
    for (size_t i = 0; i < N_ROWS; i++) {
        const struct row *r = &g_rows[i];
        size_t layer_floats = r->stage == 1 ? sz[r->field] / d->L : 0;
        if (r->stage == stage)
            table_add(m, k, r, stage == 1 ? l : -1, d, *ptrs[r->field], layer_floats,
                      part_off[r->field]);
        part_off[r->field] += row_numel(r, d);
    }
}

static void build_table(struct ic_bert *m)
{
    struct ic__dims d;
    ic__dims_of(&d, &m->cfg);
    m->table = ic_xcalloc(N_ROWS * (d.L + 1), sizeof *m->table);
    size_t k = 0;
    table_stage(m, &k, 0, -1, &d);
    for (int l = 0; l < (int)d.L; l++)
        table_stage(m, &k, 1, l, &d);
    table_stage(m, &k, 2, -1, &d);
    m->n_table = k;
    size_t covered = 0;
    for (size_t i = 0; i < k; i++)
        covered += m->table[i].numel;
    IC_ASSERT(covered == m->num_params);
}

int ic_bert_init(struct ic_bert *m, const struct ic_bert_config *cfg, struct ic_err *err)
{
    memset(m, 0, sizeof *m);
    int rc = ic_bert_config_check(cfg, err);
    if (rc)
        return rc;
    m->cfg = *cfg;
    m->num_params = ic_bert_num_params(cfg);
    m->params = ic_alloc_aligned(m->num_params * sizeof(float));
    ic_bert_point(&m->w, m->params, cfg);
    build_table(m);
    return IC_OK;
}

void ic_bert_free(struct ic_bert *m)
{
    ic_free_aligned(m->params);
    ic_free(m->table);
    memset(m, 0, sizeof *m);
}

static void fill_normal(float *p, size_t n, float std, struct ic_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        p[i] = ic_rng_normal(rng) * std;
}

void ic_bert_init_weights(struct ic_bert *m, struct ic_rng *rng)
{
    const struct ic_bert_config *c = &m->cfg;
    memset(m->params, 0, m->num_params * sizeof(float));
    for (size_t i = 0; i < m->n_table; i++) {
        const struct ic_param *p = &m->table[i];
        if (p->ndim == 2)
            fill_normal(m->params + p->offset, p->numel, c->initializer_range, rng);
    }
    size_t E = (size_t)ic__emb_width(c), LH = (size_t)c->num_layers * c->hidden_size;
    for (size_t j = 0; j < E; j++)
        m->w.emb_ln_w[j] = 1.0f;
    for (size_t j = 0; j < LH; j++)
        m->w.attn_ln_w[j] = m->w.ffn_ln_w[j] = 1.0f;
    for (size_t j = 0; c->mlm_head && j < (size_t)c->hidden_size; j++)
        m->w.mlm_ln_w[j] = 1.0f;
    /* nn.Embedding(padding_idx=pad_token_id): the padding row starts at zero
     * (RoBERTa's position table has the same padding_idx). */
    memset(m->w.word_emb + (size_t)c->pad_token_id * E, 0, E * sizeof(float));
    if (ic_arch_get(c->arch)->pad_positions)
        memset(m->w.pos_emb + (size_t)c->pad_token_id * E, 0, E * sizeof(float));
}

static void init_head_where(struct ic_bert *m, struct ic_rng *rng, int only_unloaded)
{
    for (size_t i = 0; i < m->n_table; i++) {
        const struct ic_param *p = &m->table[i];
        if (!p->is_head || (only_unloaded && p->loaded))
            continue;
        float *d = m->params + p->offset;
        if (p->ndim == 2)
            fill_normal(d, p->numel, m->cfg.initializer_range, rng);
        else if (m->cfg.mlm_head && d == m->w.mlm_ln_w) /* the MLM head's LayerNorm: (1, 0) */
            for (size_t j = 0; j < p->numel; j++)
                d[j] = 1.0f;
        else
            memset(d, 0, p->numel * sizeof(float));
    }
}

void ic_bert_init_head(struct ic_bert *m, struct ic_rng *rng)
{
    init_head_where(m, rng, 0);
}

void ic_bert_init_head_unloaded(struct ic_bert *m, struct ic_rng *rng)
{
    init_head_where(m, rng, 1);
}

void ic_bert_resize_head(struct ic_bert *m, int num_labels, struct ic_rng *rng)
{
    if (num_labels == m->cfg.num_labels) {
        ic_bert_init_head(m, rng);
        return;
    }
    struct ic_bert_config cfg = m->cfg;
    cfg.num_labels = num_labels;
    struct ic_bert n;
    struct ic_err err;
    int rc = ic_bert_init(&n, &cfg, &err);
    IC_ASSERT(rc == IC_OK);
    /* Everything before the classifier is laid out identically. */
    size_t body = (size_t)(m->w.cls_w - m->params);
    memcpy(n.params, m->params, body * sizeof(float));
    ic_bert_free(m);
    *m = n;
    ic_bert_init_head(m, rng);
}

const struct ic_param *ic_bert_find_param(const struct ic_bert *m, const char *name)
{
    for (size_t i = 0; i < m->n_table; i++)
        if (strcmp(m->table[i].name, name) == 0)
            return &m->table[i];
    return NULL;
}

/* --- loading from a checkpoint's tensors ----------------------------------- */

/* Maps a checkpoint key to our table name in buf (legacy LayerNorm names
 * renamed), or returns 0 to ignore it (buffers). */
static int canonical_name(const char *key, char *buf, size_t cap)
{
    if (strlen(key) + 24 >= cap || strstr(key, "position_ids") ||
        strstr(key, "embeddings.token_type_ids"))
        return 0;
    snprintf(buf, cap, "%s", key);
    size_t len = strlen(buf);
    if (len > 16 && strcmp(buf + len - 16, ".LayerNorm.gamma") == 0)
        snprintf(buf + len - 6, cap - (len - 6), ".weight");
    else if (len > 15 && strcmp(buf + len - 15, ".LayerNorm.beta") == 0)
        snprintf(buf + len - 5, cap - (len - 5), ".bias");
    return 1;
}

/* The table entry for a checkpoint key: its own name, else (a base-model
 * checkpoint without prefix) the prefixed name. */
static const struct ic_param *find_key(const struct ic_bert *m, const char *name)
{
    const struct ic_param *p = ic_bert_find_param(m, name);
    if (p)
        return p;
    char pre[IC_PARAM_NAME_MAX + 48];
    snprintf(pre, sizeof pre, "%s.%s", ic_arch_get(m->cfg.arch)->prefix, name);
    p = ic_bert_find_param(m, pre);
    return p && !p->is_head ? p : NULL;
}

/* A key under another architecture's prefix: a checkpoint of another kind. */
static int foreign_key(const struct ic_bert *m, const char *key, const char *source,
                       struct ic_err *err)
{
    for (int a = 0; a < IC_ARCH_COUNT; a++) {
        const char *pre = ic_arch_get((enum ic_arch)a)->prefix;
        size_t n = strlen(pre);
        if (a != (int)m->cfg.arch && strncmp(key, pre, n) == 0 && key[n] == '.')
            return ic_errf(err, IC_ERR_FORMAT,
                           "%s: tensor %s is a %s weight but config.json field \"model_type\" "
                           "says %s",
                           source, key, pre, ic_arch_get(m->cfg.arch)->model_type);
    }
    return IC_OK;
}

/* The base-model template of a checkpoint key (".encoder.layer.%d.output.dense.weight"):
 * any architecture's prefix removed, the layer number replaced by %d. 0 for
 * keys that say nothing about the architecture (head, pooler). */
static int key_template(const char *key, char *out, size_t cap)
{
    for (int a = 0; a < IC_ARCH_COUNT; a++) {
        const char *pre = ic_arch_get((enum ic_arch)a)->prefix;
        size_t n = strlen(pre);
        if (strncmp(key, pre, n) == 0 && key[n] == '.')
            key += n + 1;
    }
    /* heads, and the pooler RobertaModel checkpoints (xlm-roberta-base) carry
     * and RobertaForSequenceClassification ignores */
    if (strncmp(key, "classifier.", 11) == 0 || strncmp(key, "pre_classifier.", 15) == 0 ||
        strncmp(key, "pooler.", 7) == 0)
        return 0;
    const char *lay = strstr(key, "layer.");
    size_t digits = lay ? strspn(lay + 6, "0123456789") : 0;
    if (lay && digits && lay[6 + digits] == '.')
        snprintf(out, cap, ".%.*s%%d%s", (int)(lay + 6 - key), key, lay + 6 + digits);
    else
        snprintf(out, cap, ".%s", key);
    return 1;
}

/* A key that only other architectures' tables name, in their base model
 * ("transformer.layer.0.ffn.lin1.weight" under a BERT config, a token-type
 * table under DistilBERT's): a checkpoint of another kind, named in *out
 * ("distilbert", "bert/roberta/electra"). */
static int other_arch_key(enum ic_arch own, const char *key, char *out, size_t cap)
{
    char tmpl[IC_PARAM_NAME_MAX + 48];
    if (!key_template(key, tmpl, sizeof tmpl))
        return 0;
    int mine = 0;
    out[0] = 0;
    for (size_t i = 0; i < N_ROWS; i++)
        for (int a = 0; a < IC_ARCH_COUNT; a++) {
            const char *nm = g_rows[i].names[a];
            if (!nm || strcmp(nm, tmpl) != 0)
                continue;
            mine |= a == (int)own;
            size_t l = strlen(out);
            const char *mt = ic_arch_get((enum ic_arch)a)->model_type;
            if (a != (int)own && !strstr(out, mt))
                snprintf(out + l, cap - l, "%s%s", l ? "/" : "", mt);
        }
    return !mine && out[0];
}

/* Before any copy: a key under another architecture's prefix, or one only
 * another architecture names, is a checkpoint of another kind. */
static int check_foreign(const struct ic_bert *m, const struct ic_tensors *ts, const char *source,
                         struct ic_err *err)
{
    char name[IC_PARAM_NAME_MAX + 16], other[64];
    for (size_t i = 0; i < ts->n; i++) {
        if (!canonical_name(ts->v[i].name, name, sizeof name) || find_key(m, name))
            continue;
        int rc = foreign_key(m, name, source, err);
        if (rc)
            return rc;
        if (other_arch_key(m->cfg.arch, name, other, sizeof other))
            return ic_errf(err, IC_ERR_FORMAT,
                           "%s: tensor %s is named as in a %s checkpoint but config.json field "
                           "\"model_type\" says %s",
                           source, ts->v[i].name, other, ic_arch_get(m->cfg.arch)->model_type);
    }
    return IC_OK;
}

static void shape_str(char *out, size_t cap, int ndim, const int64_t *shape)
{
    out[0] = 0;
    for (int d = 0; d < ndim && d < 4; d++) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%lld", d ? ", " : "", (long long)shape[d]);
    }
}

int ic_bert_load_tensors(struct ic_bert *m, const struct ic_tensors *ts, const char *source,
                         int *head_missing, int *head_mismatch, struct ic_err *err)
{
    unsigned char *seen = ic_xcalloc(m->n_table, 1);
    int rc = IC_OK;
    *head_missing = 0;
    *head_mismatch = 0;
    char name[IC_PARAM_NAME_MAX + 16];
    rc = check_foreign(m, ts, source, err);
    if (rc)
        goto out;
    for (size_t i = 0; i < ts->n; i++) {
        const struct ic_tensor *t = &ts->v[i];
        if (!canonical_name(t->name, name, sizeof name))
            continue;
        const struct ic_param *p = find_key(m, name);
        if (!p) /* unknown extra tensors (pretraining heads) are ignored, as
                 * transformers does; another architecture's were refused above */
            continue;
        size_t idx = (size_t)(p - m->table);
        if (seen[idx]) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: tensor %s appears twice", source, p->name);
            goto out;
        }
        int same = t->ndim == p->ndim && t->shape[0] == p->shape[0] &&
                   (p->ndim == 1 || t->shape[1] == p->shape[1]);
        if (!same) {
            if (p->per_label && t->ndim == p->ndim &&
                (p->ndim == 1 || t->shape[1] == p->shape[1])) {
                *head_mismatch = 1;
                continue;
            }
            char got[64], want[64];
            shape_str(got, sizeof got, t->ndim, t->shape);
            shape_str(want, sizeof want, p->ndim, p->shape);
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: tensor %s has shape [%s], the config needs [%s]",
                         source, t->name, got, want);
            goto out;
        }
        rc = ic_tensor_to_f32(t, m->params + p->offset, err);
        if (rc) {
            ic_err_prefix(err, "%s", source);
            goto out;
        }
        seen[idx] = 1;
    }
    for (size_t i = 0; i < m->n_table; i++) {
        m->table[i].loaded = seen[i];
        if (seen[i])
            continue;
        if (m->table[i].is_head) {
            if (!*head_mismatch)
                *head_missing = 1;
            continue;
        }
        if (m->w.pooler_w - m->params == (ptrdiff_t)m->table[i].offset ||
            m->w.pooler_b - m->params == (ptrdiff_t)m->table[i].offset) {
            /* Some BertModel exports have no pooler: transformers initialises it
             * (weight N(0, initializer_range), bias 0); so do we, seeded. */
            const struct ic_param *p = &m->table[i];
            float *d = m->params + p->offset;
            if (p->ndim == 2) {
                struct ic_rng rng;
                ic_rng_seed(&rng, 42);
                fill_normal(d, p->numel, m->cfg.initializer_range, &rng);
            } else {
                memset(d, 0, p->numel * sizeof(float));
            }
            ic_log(IC_LOG_WARN, "%s: no %s, initialised fresh", source, p->name);
            continue;
        }
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: missing tensor %s", source, m->table[i].name);
        goto out;
    }
out:
    ic_free(seen);
    return rc;
}

void ic_bert_export_tensors(const struct ic_bert *m, const float *block, struct ic_tensors *ts)
{
    ic_tensors_init(ts);
    for (size_t i = 0; i < m->n_table; i++) {
        const struct ic_param *p = &m->table[i];
        ic_tensors_add(ts, p->name, IC_DTYPE_F32, p->ndim, p->shape, block + p->offset, 0);
    }
}
