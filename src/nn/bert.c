/*
 * bert.c - forward and backward of BertForSequenceClassification on the
 * kernels of ops.c, and the per-call state that holds their activations.
 *
 * The state allocates everything once, for max_batch x max_seq: one block of
 * activations (per layer when gradients are wanted, one shared set of layer
 * buffers otherwise, since inference needs no history) and, with_grads, the
 * parameter gradients and one set of activation-gradient buffers. Forward and
 * backward never allocate and touch no memory outside the state and the
 * (read-only) model, so threads may share one struct ic_bert.
 */
#include <math.h>
#include <string.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "nn/ops.h"

#define IGNORE_LABEL (-100) /* torch.nn.CrossEntropyLoss ignore_index */

struct layer_acts {
    float *qkv;          /* (B,T,3H) */
    float *att;          /* (B,NH,T,T) softmax probabilities */
    float *ctx;          /* (B,T,H) */
    float *r1;           /* (B,T,H) dropout(attn dense) + x, LN1 input */
    float *mean1, *rstd1; /* (B,T) */
    float *a;            /* (B,T,H) LN1 output */
    float *u;            /* (B,T,FI) FFN pre-activation; with grads act'(pre-activation) */
    float *g;            /* (B,T,FI) act(u) */
    float *r2;           /* (B,T,H) dropout(ffn down) + a, LN2 input */
    float *mean2, *rstd2; /* (B,T) */
    float *out;          /* (B,T,H) layer output */
};

struct impl {
    float *acts;          /* one block for everything below */
    float *emb_sum;       /* (B,T,H) LN input */
    float *emb_mean, *emb_rstd; /* (B,T) */
    float *h0;            /* (B,T,H) embeddings after LN and dropout */
    struct layer_acts *layers; /* L entries (all alike when !with_grads) */
    float *cls;           /* (B,H) last layer, position 0 */
    float *pooled;        /* (B,H) tanh(dense(cls)) */
    float *pooled_d;      /* (B,H) after classifier dropout */
    float *ones;          /* (B*T) of 1.0, for bias gradients */
    float *scratch;       /* nthr * max(2*T*T, 2*FI, 2*H) */
    int nthr;
    /* activation gradients (with_grads) */
    float *dacts;
    float *d0, *d1, *d2;  /* (B,T,H) each */
    float *dI;            /* (B,T,FI) */
    float *dqkv;          /* (B,T,3H) */
    float *dlogits;       /* (B,N) */
    float *dpooled;       /* (B,H) */
    /* the last forward */
    int B, T, labels_count, have_forward, dropout_on;
    uint64_t seed;
};

/* Dropout sites: stream 0 embeddings, 1 + 3l + {0,1,2} attention probs,
 * attention output, FFN output of layer l; 1 + 3L the classifier. */
static struct ic__dropout site(const struct impl *im, float p, uint32_t stream)
{
    struct ic__dropout d = {im->dropout_on ? p : 0.0f, im->seed, stream};
    return d;
}

static float cls_dropout(const struct ic_bert_config *c)
{
    return c->classifier_dropout < 0.0f ? c->hidden_dropout : c->classifier_dropout;
}

/* --- state ----------------------------------------------------------------- */

/* Bump allocator over a block; with block NULL it only counts. */
struct carve {
    float *base;
    size_t used;
};
static float *take(struct carve *c, size_t n)
{
    float *p = c->base ? c->base + c->used : NULL;
    c->used += (n + 15) & ~(size_t)15; /* keep every tensor 64-byte aligned */
    return p;
}

static void carve_acts(struct impl *im, struct carve *cv, const struct ic_bert_config *c,
                       size_t Bm, size_t Tm, int with_grads)
{
    size_t H = c->hidden_size, FI = c->intermediate_size, NH = c->num_heads, BT = Bm * Tm;
    im->emb_sum = take(cv, BT * H);
    im->emb_mean = take(cv, BT);
    im->emb_rstd = take(cv, BT);
    im->h0 = take(cv, BT * H);
    size_t nl = with_grads ? (size_t)c->num_layers : 1;
    for (size_t l = 0; l < nl; l++) {
        struct layer_acts *la = &im->layers[l];
        la->qkv = take(cv, BT * 3 * H);
        la->att = take(cv, Bm * NH * Tm * Tm);
        la->ctx = take(cv, BT * H);
        la->r1 = take(cv, BT * H);
        la->mean1 = take(cv, BT);
        la->rstd1 = take(cv, BT);
        la->a = take(cv, BT * H);
        la->u = take(cv, BT * FI);
        la->g = take(cv, BT * FI);
        la->r2 = take(cv, BT * H);
        la->mean2 = take(cv, BT);
        la->rstd2 = take(cv, BT);
        la->out = take(cv, BT * H);
    }
    for (size_t l = nl; l < (size_t)c->num_layers; l++)
        im->layers[l] = im->layers[0];
    im->cls = take(cv, Bm * H);
    im->pooled = take(cv, Bm * H);
    im->pooled_d = take(cv, Bm * H);
    im->ones = take(cv, BT);
    size_t per = 2 * Tm * Tm;
    if (per < 2 * FI)
        per = 2 * FI;
    if (per < 2 * H)
        per = 2 * H;
    im->scratch = take(cv, (size_t)im->nthr * per);
}

static void carve_grads(struct impl *im, struct carve *cv, const struct ic_bert_config *c,
                        size_t Bm, size_t Tm)
{
    size_t H = c->hidden_size, FI = c->intermediate_size, BT = Bm * Tm;
    im->d0 = take(cv, BT * H);
    im->d1 = take(cv, BT * H);
    im->d2 = take(cv, BT * H);
    im->dI = take(cv, BT * FI);
    im->dqkv = take(cv, BT * 3 * H);
    im->dlogits = take(cv, Bm * (size_t)c->num_labels);
    im->dpooled = take(cv, Bm * H);
}

int ic_bert_state_init(struct ic_bert_state *s, const struct ic_bert_config *cfg, int max_batch,
                       int max_seq, int with_grads, struct ic_err *err)
{
    memset(s, 0, sizeof *s);
    int rc = ic_bert_config_check(cfg, err);
    if (rc)
        return rc;
    if (max_batch < 1 || max_batch > 1 << 16)
        return ic_errf(err, IC_ERR_RANGE, "bert state: max_batch %d outside [1, 65536]",
                       max_batch);
    if (max_seq < 1 || max_seq > cfg->max_position)
        return ic_errf(err, IC_ERR_RANGE,
                       "bert state: max_seq %d outside [1, max_position_embeddings %d]", max_seq,
                       cfg->max_position);
    struct impl *im = ic_xcalloc(1, sizeof *im);
    im->layers = ic_xcalloc((size_t)cfg->num_layers, sizeof *im->layers);
    im->nthr = ic__threads_now();
    if (im->nthr < 1)
        im->nthr = 1;
    if (im->nthr > 256)
        im->nthr = 256;
    size_t Bm = (size_t)max_batch, Tm = (size_t)max_seq;
    struct carve cv = {NULL, 0};
    carve_acts(im, &cv, cfg, Bm, Tm, with_grads);
    size_t n_acts = cv.used;
    if (n_acts > ((size_t)1 << 34) / sizeof(float)) {
        ic_free(im->layers);
        ic_free(im);
        return ic_errf(err, IC_ERR_RANGE,
                       "bert state: %d x %d needs %zu MiB of activations, too much", max_batch,
                       max_seq, n_acts * sizeof(float) >> 20);
    }
    im->acts = ic_alloc_aligned(n_acts * sizeof(float));
    cv.base = im->acts;
    cv.used = 0;
    carve_acts(im, &cv, cfg, Bm, Tm, with_grads);
    for (size_t i = 0; i < Bm * Tm; i++)
        im->ones[i] = 1.0f;
    s->logits = ic_alloc_aligned(Bm * (size_t)cfg->num_labels * sizeof(float));
    s->probs = ic_alloc_aligned(Bm * (size_t)cfg->num_labels * sizeof(float));
    if (with_grads) {
        struct carve gv = {NULL, 0};
        carve_grads(im, &gv, cfg, Bm, Tm);
        im->dacts = ic_alloc_aligned(gv.used * sizeof(float));
        gv.base = im->dacts;
        gv.used = 0;
        carve_grads(im, &gv, cfg, Bm, Tm);
        s->grads = ic_alloc_aligned(ic_bert_num_params(cfg) * sizeof(float));
        ic_bert_point(&s->g, s->grads, cfg);
    }
    s->max_batch = max_batch;
    s->max_seq = max_seq;
    s->with_grads = with_grads ? 1 : 0;
    s->cfg = *cfg;
    s->impl = im;
    return IC_OK;
}

void ic_bert_state_free(struct ic_bert_state *s)
{
    struct impl *im = s->impl;
    if (im) {
        ic_free_aligned(im->acts);
        ic_free_aligned(im->dacts);
        ic_free(im->layers);
        ic_free(im);
    }
    ic_free_aligned(s->logits);
    ic_free_aligned(s->probs);
    ic_free_aligned(s->grads);
    memset(s, 0, sizeof *s);
}

void ic_bert_zero_grad(struct ic_bert_state *s)
{
    if (s->grads)
        memset(s->grads, 0, ic_bert_num_params(&s->cfg) * sizeof(float));
}

/* --- threads --------------------------------------------------------------- */

static int g_threads; /* 0: not set */

void ic_set_threads(int n)
{
#ifdef _OPENMP
    if (n <= 0)
        n = omp_get_num_procs();
    omp_set_num_threads(n);
#else
    n = 1;
#endif
    openblas_set_num_threads(n);
    __atomic_store_n(&g_threads, n, __ATOMIC_RELAXED);
}

int ic_get_threads(void)
{
    int n = __atomic_load_n(&g_threads, __ATOMIC_RELAXED);
    return n > 0 ? n : ic__threads_now();
}

/* --- forward --------------------------------------------------------------- */

static int same_shape(const struct ic_bert_config *a, const struct ic_bert_config *b)
{
    return a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size &&
           a->num_layers == b->num_layers && a->num_heads == b->num_heads &&
           a->intermediate_size == b->intermediate_size && a->max_position == b->max_position &&
           a->type_vocab_size == b->type_vocab_size && a->num_labels == b->num_labels;
}

static int check_batch(const struct ic_bert *m, const struct ic_bert_state *s,
                       const struct ic_batch *b)
{
    const struct ic_bert_config *c = &m->cfg;
    if (!s->impl || !same_shape(c, &s->cfg))
        return IC_ERR_INVAL;
    if (b->B < 1 || b->B > s->max_batch || b->T < 1 || b->T > s->max_seq || !b->ids ||
        !b->mask)
        return IC_ERR_INVAL;
    size_t n = (size_t)b->B * (size_t)b->T;
    for (size_t i = 0; i < n; i++) {
        if (b->ids[i] < 0 || b->ids[i] >= c->vocab_size)
            return IC_ERR_RANGE;
        if (b->type_ids && (b->type_ids[i] < 0 || b->type_ids[i] >= c->type_vocab_size))
            return IC_ERR_RANGE;
    }
    if (b->labels)
        for (int i = 0; i < b->B; i++)
            if (b->labels[i] != IGNORE_LABEL && (b->labels[i] < 0 || b->labels[i] >= c->num_labels))
                return IC_ERR_RANGE;
    return IC_OK;
}

int ic_bert_forward(const struct ic_bert *m, struct ic_bert_state *s, const struct ic_batch *b,
                    struct ic_rng *dropout_rng)
{
    int rc = check_batch(m, s, b);
    if (rc)
        return rc;
    struct impl *im = s->impl;
    const struct ic_bert_config *c = &m->cfg;
    const struct ic_bert_weights *w = &m->w;
    size_t B = (size_t)b->B, T = (size_t)b->T, BT = B * T;
    size_t H = c->hidden_size, FI = c->intermediate_size, NH = c->num_heads;
    size_t N = c->num_labels, L = c->num_layers;
    float eps = c->layer_norm_eps;
    im->B = b->B;
    im->T = b->T;
    im->have_forward = 0;
    im->dropout_on = dropout_rng != NULL;
    im->seed = dropout_rng ? ic_rng_u64(dropout_rng) : 0;

    /* embeddings -> LayerNorm -> dropout */
    embedding_forward(im->emb_sum, b->ids, b->type_ids, w->word_emb, w->pos_emb, w->type_emb, B,
                      T, H);
    layernorm_forward(im->h0, im->emb_mean, im->emb_rstd, im->emb_sum, w->emb_ln_w, w->emb_ln_b,
                      BT, H, eps);
    struct ic__dropout d = site(im, c->hidden_dropout, 0);
    dropout_forward(im->h0, im->h0, BT * H, &d);

    const float *x = im->h0;
    for (size_t l = 0; l < L; l++) {
        struct layer_acts *la = &im->layers[l];
        const float *qkv_w = w->qkv_w + l * 3 * H * H, *qkv_b = w->qkv_b + l * 3 * H;
        const float *ao_w = w->attn_out_w + l * H * H, *ao_b = w->attn_out_b + l * H;
        const float *up_w = w->ffn_up_w + l * FI * H, *up_b = w->ffn_up_b + l * FI;
        const float *dn_w = w->ffn_down_w + l * H * FI, *dn_b = w->ffn_down_b + l * H;

        matmul_forward(la->qkv, x, qkv_w, qkv_b, BT, 3 * H, H);
        struct ic__dropout da = site(im, c->attention_dropout, 1 + 3 * (uint32_t)l);
        attention_forward(la->ctx, la->att, la->qkv, b->mask, B, T, H, NH, &da, im->scratch,
                          im->nthr);
        matmul_forward(la->r1, la->ctx, ao_w, ao_b, BT, H, H);
        struct ic__dropout d1 = site(im, c->hidden_dropout, 2 + 3 * (uint32_t)l);
        residual_layernorm_forward(la->a, la->r1, la->mean1, la->rstd1, la->r1, x,
                                   w->attn_ln_w + l * H, w->attn_ln_b + l * H, BT, H, eps, &d1);
        matmul_forward(la->u, la->a, up_w, NULL, BT, FI, H);
        /* training keeps act'(u) in u's place: the backward is then one multiply */
        bias_act_forward(la->g, la->u, s->with_grads ? la->u : NULL, up_b, BT, FI, c->act);
        matmul_forward(la->r2, la->g, dn_w, dn_b, BT, H, FI);
        struct ic__dropout d2 = site(im, c->hidden_dropout, 3 + 3 * (uint32_t)l);
        residual_layernorm_forward(la->out, la->r2, la->mean2, la->rstd2, la->r2, la->a,
                                   w->ffn_ln_w + l * H, w->ffn_ln_b + l * H, BT, H, eps, &d2);
        x = la->out;
    }

    /* pooler on position 0, classifier dropout, classifier */
    for (size_t i = 0; i < B; i++)
        memcpy(im->cls + i * H, x + i * T * H, H * sizeof(float));
    matmul_forward(im->pooled, im->cls, w->pooler_w, w->pooler_b, B, H, H);
    tanh_forward(im->pooled, im->pooled, B * H);
    struct ic__dropout dc = site(im, cls_dropout(c), 1 + 3 * (uint32_t)L);
    dropout_forward(im->pooled_d, im->pooled, B * H, &dc);
    matmul_forward(s->logits, im->pooled_d, w->cls_w, w->cls_b, B, N, H);
    s->loss = softmax_ce_forward(s->probs, s->logits, b->labels, B, N, &im->labels_count);
    im->have_forward = b->labels ? 1 : 0;
    return IC_OK;
}

/* --- backward -------------------------------------------------------------- */

int ic_bert_backward(const struct ic_bert *m, struct ic_bert_state *s, const struct ic_batch *b)
{
    struct impl *im = s->impl;
    if (!im || !s->with_grads || !im->have_forward || !b->labels || b->B != im->B ||
        b->T != im->T || !same_shape(&m->cfg, &s->cfg))
        return IC_ERR_INVAL;
    const struct ic_bert_config *c = &m->cfg;
    const struct ic_bert_weights *w = &m->w;
    struct ic_bert_weights *g = &s->g;
    size_t B = (size_t)b->B, T = (size_t)b->T, BT = B * T;
    size_t H = c->hidden_size, FI = c->intermediate_size, NH = c->num_heads;
    size_t N = c->num_labels, L = c->num_layers;
    const float *ones = im->ones;

    /* loss -> logits -> classifier -> dropout -> tanh -> pooler */
    softmax_ce_backward(im->dlogits, s->probs, b->labels, B, N, im->labels_count);
    matmul_backward(im->dpooled, g->cls_w, g->cls_b, im->dlogits, im->pooled_d, w->cls_w, B, N, H,
                    0, ones);
    struct ic__dropout dc = site(im, cls_dropout(c), 1 + 3 * (uint32_t)L);
    dropout_backward(im->dpooled, im->dpooled, B * H, &dc);
    tanh_backward(im->dpooled, im->dpooled, im->pooled, B * H);
    /* d0 = gradient of the last layer's output: only position 0 is used. */
    memset(im->d0, 0, BT * H * sizeof(float));
    float *dcls = im->d2; /* (B,H) temporary */
    matmul_backward(dcls, g->pooler_w, g->pooler_b, im->dpooled, im->cls, w->pooler_w, B, H, H, 0,
                    ones);
    for (size_t i = 0; i < B; i++)
        memcpy(im->d0 + i * T * H, dcls + i * H, H * sizeof(float));

    for (size_t l = L; l-- > 0;) {
        struct layer_acts *la = &im->layers[l];
        const float *x = l == 0 ? im->h0 : im->layers[l - 1].out;
        size_t lH = l * H;
        /* out = LN2(dropout(r2') + a): d1 = dLN2 (also da), dy -> d2 */
        struct ic__dropout d2 = site(im, c->hidden_dropout, 3 + 3 * (uint32_t)l);
        int on2 = im->dropout_on && c->hidden_dropout > 0.0f;
        residual_layernorm_backward(on2 ? im->d2 : NULL, im->d1, g->ffn_ln_w + lH, g->ffn_ln_b + lH,
                                    im->d0, la->r2, la->mean2, la->rstd2, w->ffn_ln_w + lH, BT, H,
                                    &d2, im->scratch, im->nthr);
        const float *dy = on2 ? im->d2 : im->d1;
        /* FFN down: dg = dy @ W2 ; W2, b2 grads */
        matmul_backward(im->dI, g->ffn_down_w + l * H * FI, g->ffn_down_b + lH, dy, la->g,
                        w->ffn_down_w + l * H * FI, BT, H, FI, 0, ones);
        act_backward_saved(im->dI, im->dI, la->u, BT * FI);
        /* FFN up: da += du @ W1 */
        matmul_backward(im->d1, g->ffn_up_w + l * FI * H, g->ffn_up_b + l * FI, im->dI, la->a,
                        w->ffn_up_w + l * FI * H, BT, FI, H, 1, ones);
        /* a = LN1(dropout(r1') + x): d0 = dLN1 (also dx), dy -> d2 */
        struct ic__dropout d1 = site(im, c->hidden_dropout, 2 + 3 * (uint32_t)l);
        int on1 = im->dropout_on && c->hidden_dropout > 0.0f;
        residual_layernorm_backward(on1 ? im->d2 : NULL, im->d0, g->attn_ln_w + lH,
                                    g->attn_ln_b + lH, im->d1, la->r1, la->mean1, la->rstd1,
                                    w->attn_ln_w + lH, BT, H, &d1, im->scratch, im->nthr);
        const float *dao = on1 ? im->d2 : im->d0;
        /* attention output dense: dctx -> d1 (free now) */
        matmul_backward(im->d1, g->attn_out_w + l * H * H, g->attn_out_b + lH, dao, la->ctx,
                        w->attn_out_w + l * H * H, BT, H, H, 0, ones);
        struct ic__dropout da = site(im, c->attention_dropout, 1 + 3 * (uint32_t)l);
        attention_backward(im->dqkv, im->d1, la->att, la->qkv, b->mask, B, T, H, NH, &da,
                           im->scratch, im->nthr);
        /* QKV: dx += dqkv @ Wqkv */
        matmul_backward(im->d0, g->qkv_w + l * 3 * H * H, g->qkv_b + l * 3 * H, im->dqkv, x,
                        w->qkv_w + l * 3 * H * H, BT, 3 * H, H, 1, ones);
    }

    /* embeddings: dropout -> LN -> tables */
    struct ic__dropout d = site(im, c->hidden_dropout, 0);
    dropout_backward(im->d0, im->d0, BT * H, &d);
    layernorm_backward(im->d1, g->emb_ln_w, g->emb_ln_b, im->d0, im->emb_sum, im->emb_mean,
                       im->emb_rstd, w->emb_ln_w, BT, H, 0, im->scratch, im->nthr);
    embedding_backward(g->word_emb, g->pos_emb, g->type_emb, im->d1, b->ids, b->type_ids,
                       c->pad_token_id, B, T, H);
    return IC_OK;
}
