/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bert_params.c - the parameter table: layout of the one weight block, the
 * Hugging Face names that map onto it, initialisation, and copying weights in
 * from a loaded checkpoint (legacy names, prefixes, new heads).
 * Forward and backward live in bert.c; this file does no arithmetic.
 */
#include <stdio.h>
#include <string.h>

#include "intent/bert.h"

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
#undef CHECK_RANGE
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

const char *ic_act_name(enum ic_act a)
{
    switch (a) {
    case IC_ACT_GELU_NEW: return "gelu_new";
    case IC_ACT_RELU: return "relu";
    default: return "gelu";
    }
}

/* --- layout -------------------------------------------------------------- */

/* Field sizes in the order they sit in the block (struct ic_bert_weights). */
static void layout_sizes(const struct ic_bert_config *c, size_t sz[21])
{
    size_t V = c->vocab_size, H = c->hidden_size, L = c->num_layers, I = c->intermediate_size;
    size_t P = c->max_position, TV = c->type_vocab_size, N = c->num_labels;
    size_t s[21] = {V * H, P * H, TV * H, H, H,
                    L * 3 * H * H, L * 3 * H, L * H * H, L * H, L * H, L * H,
                    L * I * H, L * I, L * H * I, L * H, L * H, L * H,
                    H * H, H, N * H, N};
    memcpy(sz, s, sizeof s);
}

size_t ic_bert_num_params(const struct ic_bert_config *cfg)
{
    size_t sz[21], n = 0;
    layout_sizes(cfg, sz);
    for (int i = 0; i < 21; i++)
        n += sz[i];
    return n;
}

void ic_bert_point(struct ic_bert_weights *w, float *block, const struct ic_bert_config *cfg)
{
    size_t sz[21];
    layout_sizes(cfg, sz);
    float **ptrs[21] = {&w->word_emb,   &w->pos_emb,    &w->type_emb,   &w->emb_ln_w,
                        &w->emb_ln_b,   &w->qkv_w,      &w->qkv_b,      &w->attn_out_w,
                        &w->attn_out_b, &w->attn_ln_w,  &w->attn_ln_b,  &w->ffn_up_w,
                        &w->ffn_up_b,   &w->ffn_down_w, &w->ffn_down_b, &w->ffn_ln_w,
                        &w->ffn_ln_b,   &w->pooler_w,   &w->pooler_b,   &w->cls_w,
                        &w->cls_b};
    float *p = block;
    for (int i = 0; i < 21; i++) {
        *ptrs[i] = p;
        p += sz[i];
    }
}

static void table_add(struct ic_bert *m, size_t *k, const char *name, const float *ptr, int ndim,
                      int64_t d0, int64_t d1, int no_decay, int is_head)
{
    struct ic_param *p = &m->table[(*k)++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = ndim == 2 ? d1 : 0;
    p->numel = (size_t)d0 * (ndim == 2 ? (size_t)d1 : 1);
    p->offset = (size_t)(ptr - m->params);
    p->no_decay = no_decay;
    p->is_head = is_head;
}

static void build_table(struct ic_bert *m)
{
    const struct ic_bert_config *c = &m->cfg;
    const struct ic_bert_weights *w = &m->w;
    int64_t H = c->hidden_size, I = c->intermediate_size;
    m->n_table = 5 + 16 * (size_t)c->num_layers + 4;
    m->table = ic_xcalloc(m->n_table, sizeof *m->table);
    size_t k = 0;
    char name[IC_PARAM_NAME_MAX];
    table_add(m, &k, "bert.embeddings.word_embeddings.weight", w->word_emb, 2, c->vocab_size, H, 0, 0);
    table_add(m, &k, "bert.embeddings.position_embeddings.weight", w->pos_emb, 2, c->max_position, H, 0, 0);
    table_add(m, &k, "bert.embeddings.token_type_embeddings.weight", w->type_emb, 2, c->type_vocab_size, H, 0, 0);
    table_add(m, &k, "bert.embeddings.LayerNorm.weight", w->emb_ln_w, 1, H, 0, 1, 0);
    table_add(m, &k, "bert.embeddings.LayerNorm.bias", w->emb_ln_b, 1, H, 0, 1, 0);
    static const char *qkv[3] = {"query", "key", "value"};
    for (int l = 0; l < c->num_layers; l++) {
        const char *pre = "bert.encoder.layer";
        for (int j = 0; j < 3; j++) {
            snprintf(name, sizeof name, "%s.%d.attention.self.%s.weight", pre, l, qkv[j]);
            table_add(m, &k, name, w->qkv_w + ((size_t)l * 3 + j) * H * H, 2, H, H, 0, 0);
            snprintf(name, sizeof name, "%s.%d.attention.self.%s.bias", pre, l, qkv[j]);
            table_add(m, &k, name, w->qkv_b + ((size_t)l * 3 + j) * H, 1, H, 0, 1, 0);
        }
        snprintf(name, sizeof name, "%s.%d.attention.output.dense.weight", pre, l);
        table_add(m, &k, name, w->attn_out_w + (size_t)l * H * H, 2, H, H, 0, 0);
        snprintf(name, sizeof name, "%s.%d.attention.output.dense.bias", pre, l);
        table_add(m, &k, name, w->attn_out_b + (size_t)l * H, 1, H, 0, 1, 0);
        snprintf(name, sizeof name, "%s.%d.attention.output.LayerNorm.weight", pre, l);
        table_add(m, &k, name, w->attn_ln_w + (size_t)l * H, 1, H, 0, 1, 0);
        snprintf(name, sizeof name, "%s.%d.attention.output.LayerNorm.bias", pre, l);
        table_add(m, &k, name, w->attn_ln_b + (size_t)l * H, 1, H, 0, 1, 0);
        snprintf(name, sizeof name, "%s.%d.intermediate.dense.weight", pre, l);
        table_add(m, &k, name, w->ffn_up_w + (size_t)l * I * H, 2, I, H, 0, 0);
        snprintf(name, sizeof name, "%s.%d.intermediate.dense.bias", pre, l);
        table_add(m, &k, name, w->ffn_up_b + (size_t)l * I, 1, I, 0, 1, 0);
        snprintf(name, sizeof name, "%s.%d.output.dense.weight", pre, l);
        table_add(m, &k, name, w->ffn_down_w + (size_t)l * H * I, 2, H, I, 0, 0);
        snprintf(name, sizeof name, "%s.%d.output.dense.bias", pre, l);
        table_add(m, &k, name, w->ffn_down_b + (size_t)l * H, 1, H, 0, 1, 0);
        snprintf(name, sizeof name, "%s.%d.output.LayerNorm.weight", pre, l);
        table_add(m, &k, name, w->ffn_ln_w + (size_t)l * H, 1, H, 0, 1, 0);
        snprintf(name, sizeof name, "%s.%d.output.LayerNorm.bias", pre, l);
        table_add(m, &k, name, w->ffn_ln_b + (size_t)l * H, 1, H, 0, 1, 0);
    }
    table_add(m, &k, "bert.pooler.dense.weight", w->pooler_w, 2, H, H, 0, 0);
    table_add(m, &k, "bert.pooler.dense.bias", w->pooler_b, 1, H, 0, 1, 0);
    table_add(m, &k, "classifier.weight", w->cls_w, 2, c->num_labels, H, 0, 1);
    table_add(m, &k, "classifier.bias", w->cls_b, 1, c->num_labels, 0, 1, 1);
    IC_ASSERT(k == m->n_table);
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
        float *d = m->params + p->offset;
        size_t len = strlen(p->name);
        if (p->ndim == 2) {
            fill_normal(d, p->numel, c->initializer_range, rng);
        } else if (len > 13 && strcmp(p->name + len - 16, "LayerNorm.weight") == 0) {
            for (size_t j = 0; j < p->numel; j++)
                d[j] = 1.0f;
        }
    }
    /* nn.Embedding(padding_idx=pad_token_id): the padding row starts at zero. */
    memset(m->w.word_emb + (size_t)c->pad_token_id * c->hidden_size, 0,
           (size_t)c->hidden_size * sizeof(float));
}

void ic_bert_init_head(struct ic_bert *m, struct ic_rng *rng)
{
    size_t N = (size_t)m->cfg.num_labels, H = (size_t)m->cfg.hidden_size;
    fill_normal(m->w.cls_w, N * H, m->cfg.initializer_range, rng);
    memset(m->w.cls_b, 0, N * sizeof(float));
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
    /* Everything but the head is laid out identically and comes first. */
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

/* Maps a checkpoint key to our table name in buf, or returns 0 to ignore it. */
static int canonical_name(const char *key, char *buf, size_t cap)
{
    size_t n = strlen(key);
    if (n + 8 >= cap)
        return 0;
    if (strncmp(key, "cls.", 4) == 0 || strstr(key, "position_ids") ||
        strstr(key, "embeddings.token_type_ids"))
        return 0;
    if (strncmp(key, "bert.", 5) == 0 || strncmp(key, "classifier.", 11) == 0)
        snprintf(buf, cap, "%s", key);
    else if (strncmp(key, "embeddings.", 11) == 0 || strncmp(key, "encoder.", 8) == 0 ||
             strncmp(key, "pooler.", 7) == 0)
        snprintf(buf, cap, "bert.%s", key);
    else
        return 0;
    size_t len = strlen(buf);
    if (len > 16 && strcmp(buf + len - 16, ".LayerNorm.gamma") == 0)
        snprintf(buf + len - 6, cap - (len - 6), ".weight");
    else if (len > 15 && strcmp(buf + len - 15, ".LayerNorm.beta") == 0)
        snprintf(buf + len - 5, cap - (len - 5), ".bias");
    return 1;
}

int ic_bert_load_tensors(struct ic_bert *m, const struct ic_tensors *ts, const char *source,
                         int *head_missing, int *head_mismatch, struct ic_err *err)
{
    unsigned char *seen = ic_xcalloc(m->n_table, 1);
    int rc = IC_OK;
    *head_missing = 0;
    *head_mismatch = 0;
    char name[IC_PARAM_NAME_MAX + 16];
    for (size_t i = 0; i < ts->n; i++) {
        const struct ic_tensor *t = &ts->v[i];
        if (!canonical_name(t->name, name, sizeof name))
            continue;
        const struct ic_param *p = ic_bert_find_param(m, name);
        if (!p)
            continue; /* unknown extra tensors are ignored, as transformers does */
        size_t idx = (size_t)(p - m->table);
        if (seen[idx]) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: tensor %s appears twice", source, name);
            goto out;
        }
        int same = t->ndim == p->ndim && t->shape[0] == p->shape[0] &&
                   (p->ndim == 1 || t->shape[1] == p->shape[1]);
        if (!same) {
            if (p->is_head && t->ndim == p->ndim && (p->ndim == 1 || t->shape[1] == p->shape[1])) {
                *head_mismatch = 1;
                continue;
            }
            char got[64] = "", want[64];
            for (int d = 0; d < t->ndim && d < 4; d++) {
                size_t l = strlen(got);
                snprintf(got + l, sizeof got - l, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
            }
            if (p->ndim == 1)
                snprintf(want, sizeof want, "%lld", (long long)p->shape[0]);
            else
                snprintf(want, sizeof want, "%lld, %lld", (long long)p->shape[0],
                         (long long)p->shape[1]);
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
        if (seen[i])
            continue;
        if (m->table[i].is_head) {
            if (!*head_mismatch)
                *head_missing = 1;
            continue;
        }
        if (strncmp(m->table[i].name, "bert.pooler.", 12) == 0) {
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
