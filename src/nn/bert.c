/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bert.c - forward and backward of BertForSequenceClassification on the
 * kernels of ops.c, and the per-call state that holds their activations.
 *
 * The state allocates everything once, for max_batch x max_seq, split into
 * shards: with several threads a large batch is cut into one slice of rows
 * per thread, and each thread runs the whole forward (and backward) of its
 * slice on its own buffers with single-threaded kernels. That needs one
 * synchronisation per call instead of one per kernel, which is what keeps
 * two threads useful on a busy machine. Small batches (batch-1 inference)
 * run as one shard with the kernels themselves split between threads.
 *
 * Per shard: activations (per layer when gradients are wanted, one shared
 * set of layer buffers otherwise, since inference needs no history) and,
 * with gradients, one set of activation-gradient buffers and (shards after
 * the first) a private copy of the non-embedding parameter gradients, added
 * into s->grads at the end of the backward. Forward and backward never
 * allocate and touch no memory outside the state and the (read-only) model,
 * so threads may share one struct ic_bert.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "intent/optim.h"
#include "nn/arch.h"
#include "nn/lowp.h"
#include "nn/mlm.h"
#include "nn/ops.h"

#define IGNORE_LABEL (-100) /* torch.nn.CrossEntropyLoss ignore_index */
#define SHARD_MIN_TOKENS 256 /* below B*T of this, one shard (kernels split instead) */
#define SHARD_GRAD_BYTES ((size_t)256 << 20) /* cap on the shards' private gradients */

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

struct shard {
    float *acts;          /* one block for everything below */
    int32_t *pos_ids;     /* (B,T) RoBERTa position ids */
    float *emb_sum;       /* (B,T,E) LN input */
    float *emb_mean, *emb_rstd; /* (B,T) */
    float *h_emb;         /* (B,T,E) after LN and dropout (== h0 without projection) */
    float *h0;            /* (B,T,H) encoder input (ELECTRA: projected h_emb) */
    struct layer_acts *layers; /* L entries (all alike when !with_grads) */
    float *cls;           /* (B,H) last layer, position 0 */
    float *cls_d;         /* (B,H) after the head's input dropout (== cls without) */
    float *head_pre;      /* (B,H) head dense output (pre-activation) */
    float *head_dact;     /* (B,H) act'(head_pre) (with_grads) */
    float *pooled;        /* (B,H) act(head_pre): BERT's pooler output */
    float *pooled_d;      /* (B,H) after classifier dropout */
    const float *last;    /* (B,T,H) the encoder's output (masked-LM models) */
    float *ones;          /* (B*T) of 1.0, for bias gradients */
    float *scratch;       /* nthr * max(2*T*T, 2*FI, 2*H) */
    float *lowp;          /* int8/bf16 Linear inputs (ic__lowp_scratch_bytes) */
    /* activation gradients (with_grads) */
    float *dacts;
    float *d0, *d1, *d2;  /* (B,T,H) each; d1 ends as d(emb_sum) */
    float *dE0, *dE1;     /* (B,T,E) ELECTRA projection: d(h_emb), d(emb_sum) */
    float *demb;          /* d(emb_sum): d1 or dE1 */
    float *dI;            /* (B,T,FI) */
    float *dqkv;          /* (B,T,3H) */
    float *dlogits;       /* (B,N) */
    float *dpooled;       /* (B,H) */
    float *gpriv;         /* shards > 0: private non-embedding gradients */
    struct ic_bert_weights g; /* where this shard's backward accumulates */
    /* the last call */
    int b0, nb;           /* rows [b0, b0 + nb) of the batch */
    int count;            /* labelled rows */
    double loss_sum;
};

struct impl {
    struct shard *sh;
    int nshard;           /* shards allocated */
    int cap;              /* rows per shard */
    int cap0;             /* rows shard 0 can take (>= cap) */
    int nthr;             /* threads the scratch is sized for */
    size_t tail;          /* floats of the non-embedding part of the layout */
    unsigned char *touched; /* (V) word rows with gradient since the last zero_grad */
    struct ic__mlm mlm;   /* the masked-LM head's buffers (cfg.mlm_head) */
    /* the last forward */
    int B, T, nsh, labels_count, have_forward, dropout_on;
    int split_kernels;    /* 1: one shard, kernels split between threads */
    uint64_t seed;
};

static float cls_dropout(const struct ic_bert_config *c)
{
    return c->classifier_dropout < 0.0f ? c->hidden_dropout : c->classifier_dropout;
}

/* Attention output dropout (DistilBERT has none after out_lin). */
static float attn_out_dropout(const struct ic_bert_config *c)
{
    return ic_arch_get(c->arch)->attn_out_dropout ? c->hidden_dropout : 0.0f;
}

/* Dropout sites: stream 0 embeddings, 1 + 3l + {0,1,2} attention probs,
 * attention output, FFN output of layer l; 1 + 3L the classifier, 2 + 3L
 * the head's input (RoBERTa, ELECTRA). base is the index of the shard's
 * first element in the whole batch's tensor. */
static struct ic__dropout site(const struct impl *im, float p, uint32_t stream, size_t base)
{
    struct ic__dropout d = {im->dropout_on ? p : 0.0f, im->seed, stream, base};
    return d;
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

static void carve_acts(struct shard *sh, struct carve *cv, const struct ic_bert_config *c,
                       size_t Bm, size_t Tm, int with_grads, int nthr)
{
    size_t H = c->hidden_size, FI = c->intermediate_size, NH = c->num_heads, BT = Bm * Tm;
    size_t E = (size_t)ic__emb_width(c);
    const struct ic_arch_info *ai = ic_arch_get(c->arch);
    sh->pos_ids = ai->pad_positions ? (int32_t *)take(cv, BT) : NULL;
    sh->emb_sum = take(cv, BT * E);
    sh->emb_mean = take(cv, BT);
    sh->emb_rstd = take(cv, BT);
    sh->h0 = take(cv, BT * H);
    sh->h_emb = E != H ? take(cv, BT * E) : sh->h0;
    size_t nl = with_grads ? (size_t)c->num_layers : 1;
    for (size_t l = 0; l < nl; l++) {
        struct layer_acts *la = &sh->layers[l];
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
        sh->layers[l] = sh->layers[0];
    sh->cls = take(cv, Bm * H);
    sh->cls_d = ai->head_dropout_in ? take(cv, Bm * H) : sh->cls;
    sh->head_pre = take(cv, Bm * H);
    sh->head_dact = with_grads ? take(cv, Bm * H) : NULL;
    sh->pooled = take(cv, Bm * H);
    sh->pooled_d = take(cv, Bm * H);
    sh->ones = take(cv, BT);
    size_t per = 2 * Tm * Tm;
    if (per < 2 * FI)
        per = 2 * FI;
    if (per < 2 * H)
        per = 2 * H;
    if (per < 2 * E)
        per = 2 * E;
    sh->scratch = take(cv, (size_t)nthr * per);
    size_t kmax = FI > H ? FI : H;
    sh->lowp = take(cv, ic__lowp_scratch_bytes(BT, kmax > E ? kmax : E) / sizeof(float));
}

static void carve_grads(struct shard *sh, struct carve *cv, const struct ic_bert_config *c,
                        size_t Bm, size_t Tm, size_t priv)
{
    size_t H = c->hidden_size, FI = c->intermediate_size, BT = Bm * Tm;
    sh->d0 = take(cv, BT * H);
    sh->d1 = take(cv, BT * H);
    sh->d2 = take(cv, BT * H);
    sh->dI = take(cv, BT * FI);
    sh->dqkv = take(cv, BT * 3 * H);
    sh->dlogits = take(cv, Bm * (size_t)c->num_labels);
    sh->dpooled = take(cv, Bm * H);
    size_t E = (size_t)ic__emb_width(c);
    sh->dE0 = E != H ? take(cv, BT * E) : NULL;
    sh->dE1 = E != H ? take(cv, BT * E) : NULL;
    sh->demb = E != H ? sh->dE1 : sh->d1;
    sh->gpriv = priv ? take(cv, priv) : NULL;
}

/* Points g at a private block that mirrors the layout from emb_ln_w on
 * (the embedding tables' gradients are scattered into s->grads directly). */
static void point_private(struct ic_bert_weights *g, float *priv, const struct ic_bert_weights *full,
                          const float *full_base, size_t head)
{
#define PRIV(f) g->f = priv + (size_t)(full->f - full_base) - head
    memset(g, 0, sizeof *g);
    PRIV(emb_ln_w); PRIV(emb_ln_b); PRIV(emb_proj_w); PRIV(emb_proj_b); PRIV(qkv_w); PRIV(qkv_b); PRIV(attn_out_w);
    PRIV(attn_out_b); PRIV(attn_ln_w); PRIV(attn_ln_b); PRIV(ffn_up_w); PRIV(ffn_up_b);
    PRIV(ffn_down_w); PRIV(ffn_down_b); PRIV(ffn_ln_w); PRIV(ffn_ln_b); PRIV(mlm_dense_w);
    PRIV(mlm_dense_b); PRIV(mlm_ln_w); PRIV(mlm_ln_b); PRIV(mlm_bias); PRIV(pooler_w);
    PRIV(pooler_b); PRIV(cls_w); PRIV(cls_b);
#undef PRIV
}

static void free_impl(struct impl *im)
{
    if (!im)
        return;
    for (int k = 0; k < im->nshard; k++) {
        ic_free_aligned(im->sh[k].acts);
        ic_free_aligned(im->sh[k].dacts);
        ic_free(im->sh[k].layers);
    }
    ic_free(im->sh);
    ic_free(im->touched);
    ic__mlm_free(&im->mlm);
    ic_free(im);
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
    if (max_seq < 1 || max_seq > ic_bert_max_seq(cfg))
        return ic_errf(err, IC_ERR_RANGE,
                       "bert state: max_seq %d outside [1, %d] (max_position_embeddings %d)",
                       max_seq, ic_bert_max_seq(cfg), cfg->max_position);
    struct impl *im = ic_xcalloc(1, sizeof *im);
    im->nthr = ic__threads_now();
    if (im->nthr < 1)
        im->nthr = 1;
    if (im->nthr > 256)
        im->nthr = 256;
    im->nshard = im->nthr < max_batch ? im->nthr : max_batch;
    if ((size_t)max_batch * (size_t)max_seq < SHARD_MIN_TOKENS)
        im->nshard = 1;
    struct ic__dims dm;
    ic__dims_of(&dm, cfg);
    size_t head = (dm.V + dm.P + dm.TV) * dm.E; /* the embedding tables */
    im->tail = ic_bert_num_params(cfg) - head;
    /* Each extra training shard holds a copy of the encoder's gradients:
     * past SHARD_GRAD_BYTES of copies (large models), split kernels instead. */
    while (with_grads && im->nshard > 1 &&
           (size_t)(im->nshard - 1) * im->tail * sizeof(float) > SHARD_GRAD_BYTES)
        im->nshard--;
    im->cap = (max_batch + im->nshard - 1) / im->nshard;
    im->sh = ic_xcalloc((size_t)im->nshard, sizeof *im->sh);
    /* shard 0 may run a whole small batch alone: it gets room for max_batch
     * rows when that is under the sharding threshold */
    size_t Tm = (size_t)max_seq;
    size_t total = 0;
    for (int k = 0; k < im->nshard; k++) {
        struct shard *sh = &im->sh[k];
        size_t Bm = (size_t)im->cap;
        if (k == 0 && (size_t)max_batch * Tm < SHARD_MIN_TOKENS * 2)
            Bm = (size_t)max_batch;
        if (k == 0)
            im->cap0 = (int)Bm;
        sh->layers = ic_xcalloc((size_t)cfg->num_layers, sizeof *sh->layers);
        struct carve cv = {NULL, 0};
        carve_acts(sh, &cv, cfg, Bm, Tm, with_grads, k == 0 ? im->nthr : 1);
        if (with_grads)
            carve_grads(sh, &cv, cfg, Bm, Tm, k ? im->tail : 0);
        total += cv.used;
        if (total > ((size_t)1 << 34) / sizeof(float)) {
            free_impl(im);
            return ic_errf(err, IC_ERR_RANGE,
                           "bert state: %d x %d needs over %zu MiB of activations, too much",
                           max_batch, max_seq, total * sizeof(float) >> 20);
        }
        sh->acts = ic_alloc_aligned(cv.used * sizeof(float));
        cv.base = sh->acts;
        cv.used = 0;
        carve_acts(sh, &cv, cfg, Bm, Tm, with_grads, k == 0 ? im->nthr : 1);
        if (with_grads)
            carve_grads(sh, &cv, cfg, Bm, Tm, k ? im->tail : 0);
        for (size_t i = 0; i < Bm * Tm; i++)
            sh->ones[i] = 1.0f;
    }
    size_t Bm = (size_t)max_batch;
    if (cfg->mlm_head)
        ic__mlm_alloc(&im->mlm, cfg, Bm * Tm, with_grads, im->nthr);
    s->logits = ic_alloc_aligned(Bm * (size_t)cfg->num_labels * sizeof(float));
    s->probs = ic_alloc_aligned(Bm * (size_t)cfg->num_labels * sizeof(float));
    s->features = ic_alloc_aligned(Bm * (size_t)cfg->hidden_size * sizeof(float));
    if (with_grads) {
        s->grads = ic_alloc_aligned(ic_bert_num_params(cfg) * sizeof(float));
        im->touched = ic_xcalloc((size_t)cfg->vocab_size, 1);
        ic_bert_point(&s->g, s->grads, cfg);
        im->sh[0].g = s->g;
        for (int k = 1; k < im->nshard; k++)
            point_private(&im->sh[k].g, im->sh[k].gpriv, &s->g, s->grads, head);
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
    free_impl(s->impl);
    ic_free_aligned(s->logits);
    ic_free_aligned(s->probs);
    ic_free_aligned(s->features);
    ic_free_aligned(s->grads);
    memset(s, 0, sizeof *s);
}

void ic_bert_zero_grad(struct ic_bert_state *s)
{
    struct impl *im = s->impl;
    if (!s->grads || !im)
        return;
    /* Word-embedding rows no backward touched are still zero: clear only
     * the touched ones (the table is most of the parameters). */
    size_t V = (size_t)s->cfg.vocab_size, H = (size_t)ic__emb_width(&s->cfg);
    for (size_t v = 0; v < V; v++)
        if (im->touched[v]) {
            memset(s->g.word_emb + v * H, 0, H * sizeof(float));
            im->touched[v] = 0;
        }
    size_t rest = ic_bert_num_params(&s->cfg) - V * H;
    memset(s->g.word_emb + V * H, 0, rest * sizeof(float));
}

float ic_bert_grad_norm(const struct ic_bert_state *s)
{
    const struct impl *im = s->impl;
    if (!s->grads || !im)
        return 0.0f;
    size_t V = (size_t)s->cfg.vocab_size, H = (size_t)ic__emb_width(&s->cfg);
    double ss = (double)ic_grad_norm(s->g.word_emb + V * H, ic_bert_num_params(&s->cfg) - V * H);
    ss *= ss;
    for (size_t v = 0; v < V; v++)
        if (im->touched[v]) {
            const float *r = s->g.word_emb + v * H;
            float acc = 0.0f;
            for (size_t i = 0; i < H; i++)
                acc += r[i] * r[i];
            ss += acc;
        }
    return (float)sqrt(ss);
}

void ic_bert_grads_dense(struct ic_bert_state *s)
{
    struct impl *im = s->impl;
    if (s->grads && im)
        memset(im->touched, 1, (size_t)s->cfg.vocab_size);
}

/* --- threads --------------------------------------------------------------- */

static int g_threads; /* 0: not set */
static pthread_mutex_t g_blas_lock = PTHREAD_MUTEX_INITIALIZER;

void ic_set_threads(int n)
{
#ifdef _OPENMP
    if (n <= 0)
        n = omp_get_num_procs();
    omp_set_num_threads(n);
#else
    n = 1;
#endif
    /* openblas_set_num_threads re-sizes OpenBLAS's global buffers and is not
     * thread-safe: serialise it, and skip it when OpenBLAS already has that
     * count (server workers all asking for 1 then touch nothing). */
    pthread_mutex_lock(&g_blas_lock);
    if (openblas_get_num_threads() != n)
        openblas_set_num_threads(n);
    pthread_mutex_unlock(&g_blas_lock);
    __atomic_store_n(&g_threads, n, __ATOMIC_RELAXED);
}

int ic_get_threads(void)
{
    int n = __atomic_load_n(&g_threads, __ATOMIC_RELAXED);
    return n > 0 ? n : ic__threads_now();
}

/* Makes the kernels of the calling shard thread single-threaded. Only
 * called inside an active parallel region: there OpenBLAS runs on the
 * calling thread (omp_in_parallel) and never re-sizes its global thread
 * buffers, which it would do (not thread-safely) if it saw a thread count
 * of 1 at the top level. */
static void serial_kernels(void)
{
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
}

/* --- forward --------------------------------------------------------------- */

static int same_shape(const struct ic_bert_config *a, const struct ic_bert_config *b)
{
    return a->arch == b->arch && a->mlm_head == b->mlm_head && a->embedding_size == b->embedding_size &&
           a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size &&
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
    if (s->prep && (s->prep->L != c->num_layers || s->prep->cls.N != (size_t)c->num_labels))
        return IC_ERR_INVAL;
    if (b->B < 1 || b->B > s->max_batch || b->T < 1 || b->T > s->max_seq || !b->ids ||
        !b->mask)
        return IC_ERR_INVAL;
    size_t n = (size_t)b->B * (size_t)b->T;
    int tt = ic_arch_get(c->arch)->token_types;
    for (size_t i = 0; i < n; i++) {
        if (b->ids[i] < 0 || b->ids[i] >= c->vocab_size)
            return IC_ERR_RANGE;
        if (tt && b->type_ids && (b->type_ids[i] < 0 || b->type_ids[i] >= c->type_vocab_size))
            return IC_ERR_RANGE;
    }
    if (c->mlm_head && b->mlm_labels)
        for (size_t i = 0; i < n; i++)
            if (b->mlm_labels[i] != IGNORE_LABEL &&
                (b->mlm_labels[i] < 0 || b->mlm_labels[i] >= c->vocab_size))
                return IC_ERR_RANGE;
    if (b->labels)
        for (int i = 0; i < b->B; i++)
            if (b->labels[i] != IGNORE_LABEL && (b->labels[i] < 0 || b->labels[i] >= c->num_labels))
                return IC_ERR_RANGE;
    return IC_OK;
}

/* Rows of the batch for shard k of n: near-equal contiguous slices. */
static void shard_rows(int B, int n, int k, int *b0, int *nb)
{
    int base = B / n, extra = B % n;
    *b0 = k * base + (k < extra ? k : extra);
    *nb = base + (k < extra ? 1 : 0);
}

/* The prepared weight of a Linear (layer l of an encoder one) when the
 * state runs at low precision, else NULL (fp32). */
#define PW(s, field, l) ((s)->prep ? &(s)->prep->field[(l)] : NULL)
#define PW1(s, field) ((s)->prep ? &(s)->prep->field : NULL)

/* embeddings -> LayerNorm -> dropout (-> ELECTRA projection) into sh->h0 */
static void embed_forward(const struct ic_bert *m, const struct ic_bert_state *s,
                          struct impl *im, struct shard *sh, const struct ic_batch *b)
{
    const struct ic_bert_config *c = &m->cfg;
    const struct ic_bert_weights *w = &m->w;
    const struct ic_arch_info *ai = ic_arch_get(c->arch);
    size_t T = (size_t)b->T, B = (size_t)sh->nb, b0 = (size_t)sh->b0, BT = B * T;
    size_t H = (size_t)c->hidden_size, E = (size_t)ic__emb_width(c);
    const int32_t *ids = b->ids + b0 * T;
    const int32_t *tt = ai->token_types && b->type_ids ? b->type_ids + b0 * T : NULL;
    if (sh->pos_ids)
        position_ids_forward(sh->pos_ids, ids, c->pad_token_id, B, T);
    embedding_forward(sh->emb_sum, ids, tt, sh->pos_ids, w->word_emb, w->pos_emb,
                      ai->token_types ? w->type_emb : NULL, B, T, E);
    layernorm_forward(sh->h_emb, sh->emb_mean, sh->emb_rstd, sh->emb_sum, w->emb_ln_w,
                      w->emb_ln_b, BT, E, c->layer_norm_eps);
    struct ic__dropout d = site(im, c->hidden_dropout, 0, b0 * T * E);
    dropout_forward(sh->h_emb, sh->h_emb, BT * E, &d);
    if (sh->h_emb != sh->h0)
        ic__linear_forward(sh->h0, sh->h_emb, w->emb_proj_w, PW1(s, emb_proj), w->emb_proj_b,
                           BT, H, E, sh->lowp);
}

/* first token (x's rows are stride positions apart) -> [dropout] -> dense -> act -> dropout -> classifier -> softmax/CE */
static void head_forward(const struct ic_bert *m, struct ic_bert_state *s, struct impl *im,
                         struct shard *sh, const struct ic_batch *b, const float *x,
                         size_t stride)
{
    const struct ic_bert_config *c = &m->cfg;
    const struct ic_bert_weights *w = &m->w;
    const struct ic_arch_info *ai = ic_arch_get(c->arch);
    size_t B = (size_t)sh->nb, b0 = (size_t)sh->b0;
    size_t H = c->hidden_size, N = c->num_labels, L = c->num_layers;
    const int32_t *labels = b->labels ? b->labels + b0 : NULL;
    for (size_t i = 0; i < B; i++)
        memcpy(sh->cls + i * H, x + i * stride * H, H * sizeof(float));
    if (sh->cls_d != sh->cls) {
        struct ic__dropout di = site(im, cls_dropout(c), 2 + 3 * (uint32_t)L, b0 * H);
        dropout_forward(sh->cls_d, sh->cls, B * H, &di);
    }
    ic__linear_forward(sh->head_pre, sh->cls_d, w->pooler_w, PW1(s, pooler), w->pooler_b, B, H,
                       H, sh->lowp);
    bias_act_forward(sh->pooled, sh->head_pre, sh->head_dact, NULL, B, H, ai->head_act);
    /* the classifier layer's input, kept for out-of-scope scores (Mahalanobis) */
    memcpy(s->features + b0 * H, sh->pooled, B * H * sizeof(float));
    struct ic__dropout dc = site(im, cls_dropout(c), 1 + 3 * (uint32_t)L, b0 * H);
    dropout_forward(sh->pooled_d, sh->pooled, B * H, &dc);
    float *logits = s->logits + b0 * N, *probs = s->probs + b0 * N;
    ic__linear_forward(logits, sh->pooled_d, w->cls_w, PW1(s, cls), w->cls_b, B, N, H,
                       sh->lowp);
    float mean = softmax_ce_forward(probs, logits, labels, B, N, &sh->count);
    sh->loss_sum = (double)mean * sh->count;
}

/* The last layer of an inference forward, for position 0 only (all the
 * classification head reads): keys and values for every position, the rest
 * (queries included) for one row per text; the same products as the full
 * layer restricted to those rows. x is the layer's input (B,T,H); the (B,H)
 * output is left in la->out. sh->cls holds x's position-0 rows (the queries'
 * input and the first residual); la->qkv holds keys and values (B,T,2H). */
static void last_layer_first(const struct ic_bert *m, struct shard *sh, struct layer_acts *la,
                             size_t l, const float *x, const int32_t *mask, size_t B, size_t T)
{
    const struct ic_bert_config *c = &m->cfg;
    const struct ic_bert_weights *w = &m->w;
    size_t H = c->hidden_size, FI = c->intermediate_size, NH = c->num_heads;
    float eps = c->layer_norm_eps;
    struct ic__dropout off = {0.0f, 0, 0, 0};
    const float *qkv_w = w->qkv_w + l * 3 * H * H, *qkv_b = w->qkv_b + l * 3 * H;
    float *q0 = la->r1; /* (B,H), free until the attention output */

    for (size_t i = 0; i < B; i++)
        memcpy(sh->cls + i * H, x + i * T * H, H * sizeof(float));
    matmul_forward(la->qkv, x, qkv_w + H * H, qkv_b + H, B * T, 2 * H, H);
    matmul_forward(q0, sh->cls, qkv_w, qkv_b, B, H, H);
    attention_first_forward(la->ctx, la->att, q0, la->qkv, mask, B, T, H, NH);
    matmul_forward(la->r1, la->ctx, w->attn_out_w + l * H * H, w->attn_out_b + l * H, B, H, H);
    residual_layernorm_forward(la->a, la->r1, la->mean1, la->rstd1, la->r1, sh->cls,
                               w->attn_ln_w + l * H, w->attn_ln_b + l * H, B, H, eps, &off);
    matmul_forward(la->u, la->a, w->ffn_up_w + l * FI * H, NULL, B, FI, H);
    bias_act_forward(la->g, la->u, NULL, w->ffn_up_b + l * FI, B, FI, c->act);
    matmul_forward(la->r2, la->g, w->ffn_down_w + l * H * FI, w->ffn_down_b + l * H, B, H, FI);
    residual_layernorm_forward(la->out, la->r2, la->mean2, la->rstd2, la->r2, la->a,
                               w->ffn_ln_w + l * H, w->ffn_ln_b + l * H, B, H, eps, &off);
}

static void forward_shard(const struct ic_bert *m, struct ic_bert_state *s, struct impl *im,
                          struct shard *sh, const struct ic_batch *b, int nthr)
{
    const struct ic_bert_config *c = &m->cfg;
    const struct ic_bert_weights *w = &m->w;
    size_t T = (size_t)b->T, B = (size_t)sh->nb, b0 = (size_t)sh->b0, BT = B * T;
    size_t H = c->hidden_size, FI = c->intermediate_size, NH = c->num_heads;
    size_t L = c->num_layers;
    float eps = c->layer_norm_eps;
    const int32_t *mask = b->mask + b0 * T;

    embed_forward(m, s, im, sh, b);
    const float *x = sh->h0;
    /* Without gradients, dropout or a masked-LM head, at fp32, the last layer
     * runs for position 0 only (low-precision states run it whole). */
    size_t full = !s->with_grads && !im->dropout_on && !c->mlm_head && !s->prep && T > 1 ? L - 1
                                                                                      : L;
    for (size_t l = 0; l < full; l++) {
        struct layer_acts *la = &sh->layers[l];
        const float *qkv_w = w->qkv_w + l * 3 * H * H, *qkv_b = w->qkv_b + l * 3 * H;
        const float *ao_w = w->attn_out_w + l * H * H, *ao_b = w->attn_out_b + l * H;
        const float *up_w = w->ffn_up_w + l * FI * H, *up_b = w->ffn_up_b + l * FI;
        const float *dn_w = w->ffn_down_w + l * H * FI, *dn_b = w->ffn_down_b + l * H;
        uint32_t st = 1 + 3 * (uint32_t)l;

        ic__linear_forward(la->qkv, x, qkv_w, PW(s, qkv, l), qkv_b, BT, 3 * H, H, sh->lowp);
        struct ic__dropout da = site(im, c->attention_dropout, st, b0 * NH * T * T);
        attention_forward(la->ctx, la->att, la->qkv, mask, B, T, H, NH, &da, sh->scratch, nthr);
        ic__linear_forward(la->r1, la->ctx, ao_w, PW(s, attn_out, l), ao_b, BT, H, H, sh->lowp);
        struct ic__dropout d1 = site(im, attn_out_dropout(c), st + 1, b0 * T * H);
        residual_layernorm_forward(la->a, la->r1, la->mean1, la->rstd1, la->r1, x,
                                   w->attn_ln_w + l * H, w->attn_ln_b + l * H, BT, H, eps, &d1);
        ic__linear_forward(la->u, la->a, up_w, PW(s, ffn_up, l), NULL, BT, FI, H, sh->lowp);
        /* training keeps act'(u) in u's place: the backward is then one multiply */
        bias_act_forward(la->g, la->u, s->with_grads ? la->u : NULL, up_b, BT, FI, c->act);
        ic__linear_forward(la->r2, la->g, dn_w, PW(s, ffn_down, l), dn_b, BT, H, FI, sh->lowp);
        struct ic__dropout d2 = site(im, c->hidden_dropout, st + 2, b0 * T * H);
        residual_layernorm_forward(la->out, la->r2, la->mean2, la->rstd2, la->r2, la->a,
                                   w->ffn_ln_w + l * H, w->ffn_ln_b + l * H, BT, H, eps, &d2);
        x = la->out;
    }
    if (full < L) {
        last_layer_first(m, sh, &sh->layers[L - 1], L - 1, x, mask, B, T);
        head_forward(m, s, im, sh, b, sh->layers[L - 1].out, 1);
        return;
    }
    sh->last = x;
    if (!c->mlm_head)
        head_forward(m, s, im, sh, b, x, T);
}

/* The masked-LM head over the predicted positions of every shard. */
static void mlm_forward(const struct ic_bert *m, struct ic_bert_state *s, struct impl *im,
                        const struct ic_batch *b)
{
    struct ic__mlm *h = &im->mlm;
    size_t T = (size_t)b->T, H = (size_t)m->cfg.hidden_size, M = 0;
    for (int k = 0; b->mlm_labels && k < im->nsh; k++) {
        const struct shard *sh = &im->sh[k];
        for (size_t i = 0; i < (size_t)sh->nb * T; i++) {
            size_t flat = (size_t)sh->b0 * T + i;
            if (b->mlm_labels[flat] == IGNORE_LABEL)
                continue;
            h->pos[M] = (int32_t)flat;
            h->lab[M] = b->mlm_labels[flat];
            memcpy(h->x + M * H, sh->last + i * H, H * sizeof(float));
            M++;
        }
    }
    h->M = M;
    ic__mlm_forward(h, &m->w, &m->cfg, s->with_grads);
    s->mlm_count = (int)M;
    s->loss = M > 0 ? (float)(h->loss_sum / (double)M) : 0.0f;
    im->labels_count = (int)M;
    im->have_forward = b->mlm_labels ? 1 : 0;
}

/* Back through the masked-LM head; the encoder output's gradient lands in
 * each shard's d0 (zero at the positions not predicted). The decoder's
 * gradient reaches every word-embedding row. */
static void mlm_backward(const struct ic_bert *m, struct ic_bert_state *s, struct impl *im,
                         const struct ic_batch *b)
{
    struct ic__mlm *h = &im->mlm;
    size_t T = (size_t)b->T, H = (size_t)m->cfg.hidden_size;
    ic__mlm_backward(h, &s->g, &m->w, &m->cfg, (size_t)im->labels_count);
    for (int k = 0; k < im->nsh; k++)
        memset(im->sh[k].d0, 0, (size_t)im->sh[k].nb * T * H * sizeof(float));
    int k = 0;
    for (size_t r = 0; r < h->M; r++) {
        size_t flat = (size_t)h->pos[r];
        while (flat >= (size_t)(im->sh[k].b0 + im->sh[k].nb) * T)
            k++;
        struct shard *sh = &im->sh[k];
        memcpy(sh->d0 + (flat - (size_t)sh->b0 * T) * H, h->dt + r * H, H * sizeof(float));
    }
    memset(im->touched, 1, (size_t)m->cfg.vocab_size);
}

int ic_bert_forward(const struct ic_bert *m, struct ic_bert_state *s, const struct ic_batch *b,
                    struct ic_rng *dropout_rng)
{
    int rc = check_batch(m, s, b);
    if (rc)
        return rc;
    struct impl *im = s->impl;
    im->B = b->B;
    im->T = b->T;
    im->have_forward = 0;
    im->dropout_on = dropout_rng != NULL;
    im->seed = dropout_rng ? ic_rng_u64(dropout_rng) : 0;
    /* One slice per thread, unless the batch is small enough for shard 0.
     * Inference (no backward to share the thread start-up with) asks for
     * more tokens per slice. */
    size_t min_tokens = s->with_grads ? SHARD_MIN_TOKENS : 4 * SHARD_MIN_TOKENS;
    int nsh = im->nshard < b->B ? im->nshard : b->B;
    if ((size_t)b->B * (size_t)b->T < min_tokens && b->B <= im->cap0)
        nsh = 1;
    im->nsh = nsh;
    for (int k = 0; k < nsh; k++)
        shard_rows(b->B, nsh, k, &im->sh[k].b0, &im->sh[k].nb);
    /* One slice: the kernels split their own work when it is large enough
     * (a small batch stays on the calling thread: the element-wise kernels
     * are under their thresholds and OpenBLAS keeps small products on one
     * thread). Several slices: one per thread, kernels single-threaded. */
    im->split_kernels = nsh == 1;
    if (im->split_kernels) {
        int big = (size_t)b->B * (size_t)b->T >= SHARD_MIN_TOKENS;
        forward_shard(m, s, im, &im->sh[0], b, big ? im->nthr : 1);
    } else {
#pragma omp parallel for schedule(static, 1) num_threads(nsh)
        for (int k = 0; k < nsh; k++) {
            serial_kernels();
            forward_shard(m, s, im, &im->sh[k], b, 1);
        }
    }
    double sum = 0.0;
    int count = 0;
    for (int k = 0; k < nsh; k++) {
        sum += im->sh[k].loss_sum;
        count += im->sh[k].count;
    }
    im->labels_count = count;
    s->loss = count > 0 ? (float)(sum / count) : 0.0f;
    im->have_forward = b->labels ? 1 : 0;
    if (m->cfg.mlm_head)
        mlm_forward(m, s, im, b);
    return IC_OK;
}

/* --- backward -------------------------------------------------------------- */

/* loss -> logits -> classifier -> dropout -> act -> dense -> [dropout]:
 * the gradient of the last layer's output into sh->d0 (position 0 only). */
static void head_backward(const struct ic_bert *m, struct ic_bert_state *s, struct impl *im,
                          struct shard *sh, const struct ic_batch *b)
{
    const struct ic_bert_config *c = &m->cfg;
    const struct ic_bert_weights *w = &m->w;
    struct ic_bert_weights *g = &sh->g;
    size_t T = (size_t)b->T, B = (size_t)sh->nb, b0 = (size_t)sh->b0, BT = B * T;
    size_t H = c->hidden_size, N = c->num_labels, L = c->num_layers;
    const float *ones = sh->ones;
    const int32_t *labels = b->labels + b0;
    softmax_ce_backward(sh->dlogits, s->probs + b0 * N, labels, B, N, im->labels_count);
    matmul_backward(sh->dpooled, g->cls_w, g->cls_b, sh->dlogits, sh->pooled_d, w->cls_w, B, N, H,
                    0, ones);
    struct ic__dropout dc = site(im, cls_dropout(c), 1 + 3 * (uint32_t)L, b0 * H);
    dropout_backward(sh->dpooled, sh->dpooled, B * H, &dc);
    act_backward_saved(sh->dpooled, sh->dpooled, sh->head_dact, B * H);
    /* d0 = gradient of the last layer's output: only position 0 is used. */
    memset(sh->d0, 0, BT * H * sizeof(float));
    float *dcls = sh->d2; /* (B,H) temporary */
    matmul_backward(dcls, g->pooler_w, g->pooler_b, sh->dpooled, sh->cls_d, w->pooler_w, B, H, H,
                    0, ones);
    if (sh->cls_d != sh->cls) {
        struct ic__dropout di = site(im, cls_dropout(c), 2 + 3 * (uint32_t)L, b0 * H);
        dropout_backward(dcls, dcls, B * H, &di);
    }
    for (size_t i = 0; i < B; i++)
        memcpy(sh->d0 + i * T * H, dcls + i * H, H * sizeof(float));
}

/* From sh->d0 (gradient of the last layer's output) through the layers and
 * the embeddings' LayerNorm; leaves the gradient of the embedding sum in
 * sh->demb. */
static void encoder_backward(const struct ic_bert *m, struct impl *im, struct shard *sh,
                             const struct ic_batch *b, int nthr)
{
    const struct ic_bert_config *c = &m->cfg;
    const struct ic_bert_weights *w = &m->w;
    struct ic_bert_weights *g = &sh->g;
    size_t T = (size_t)b->T, B = (size_t)sh->nb, b0 = (size_t)sh->b0, BT = B * T;
    size_t H = c->hidden_size, FI = c->intermediate_size, NH = c->num_heads;
    size_t L = c->num_layers;
    const float *ones = sh->ones;
    const int32_t *mask = b->mask + b0 * T;
    int hid_on = im->dropout_on && c->hidden_dropout > 0.0f;
    for (size_t l = L; l-- > 0;) {
        struct layer_acts *la = &sh->layers[l];
        const float *x = l == 0 ? sh->h0 : sh->layers[l - 1].out;
        size_t lH = l * H;
        uint32_t st = 1 + 3 * (uint32_t)l;
        /* out = LN2(dropout(r2') + a): d1 = dLN2 (also da), dy -> d2 */
        struct ic__dropout d2 = site(im, c->hidden_dropout, st + 2, b0 * T * H);
        residual_layernorm_backward(hid_on ? sh->d2 : NULL, sh->d1, g->ffn_ln_w + lH,
                                    g->ffn_ln_b + lH, sh->d0, la->r2, la->mean2, la->rstd2,
                                    w->ffn_ln_w + lH, BT, H, &d2, sh->scratch, nthr);
        const float *dy = hid_on ? sh->d2 : sh->d1;
        /* FFN down: dg = dy @ W2 ; W2, b2 grads */
        matmul_backward(sh->dI, g->ffn_down_w + l * H * FI, g->ffn_down_b + lH, dy, la->g,
                        w->ffn_down_w + l * H * FI, BT, H, FI, 0, ones);
        act_backward_saved(sh->dI, sh->dI, la->u, BT * FI);
        /* FFN up: da += du @ W1 */
        matmul_backward(sh->d1, g->ffn_up_w + l * FI * H, g->ffn_up_b + l * FI, sh->dI, la->a,
                        w->ffn_up_w + l * FI * H, BT, FI, H, 1, ones);
        /* a = LN1(dropout(r1') + x): d0 = dLN1 (also dx), dy -> d2 */
        struct ic__dropout d1 = site(im, attn_out_dropout(c), st + 1, b0 * T * H);
        residual_layernorm_backward(hid_on ? sh->d2 : NULL, sh->d0, g->attn_ln_w + lH,
                                    g->attn_ln_b + lH, sh->d1, la->r1, la->mean1, la->rstd1,
                                    w->attn_ln_w + lH, BT, H, &d1, sh->scratch, nthr);
        const float *dao = hid_on ? sh->d2 : sh->d0;
        /* attention output dense: dctx -> d1 (free now) */
        matmul_backward(sh->d1, g->attn_out_w + l * H * H, g->attn_out_b + lH, dao, la->ctx,
                        w->attn_out_w + l * H * H, BT, H, H, 0, ones);
        struct ic__dropout da = site(im, c->attention_dropout, st, b0 * NH * T * T);
        attention_backward(sh->dqkv, sh->d1, la->att, la->qkv, mask, B, T, H, NH, &da,
                           sh->scratch, nthr);
        /* QKV: dx += dqkv @ Wqkv */
        matmul_backward(sh->d0, g->qkv_w + l * 3 * H * H, g->qkv_b + l * 3 * H, sh->dqkv, x,
                        w->qkv_w + l * 3 * H * H, BT, 3 * H, H, 1, ones);
    }

    /* embeddings: [projection] -> dropout -> LN; demb = gradient of the sum */
    size_t E = (size_t)ic__emb_width(c);
    float *dh = sh->d0;
    if (sh->h_emb != sh->h0) {
        dh = sh->dE0;
        matmul_backward(dh, g->emb_proj_w, g->emb_proj_b, sh->d0, sh->h_emb, w->emb_proj_w, BT, H,
                        E, 0, ones);
    }
    struct ic__dropout d = site(im, c->hidden_dropout, 0, b0 * T * E);
    dropout_backward(dh, dh, BT * E, &d);
    layernorm_backward(sh->demb, g->emb_ln_w, g->emb_ln_b, dh, sh->emb_sum, sh->emb_mean,
                       sh->emb_rstd, w->emb_ln_w, BT, E, 0, sh->scratch, nthr);
}

/* One shard's backward: the classification head (a masked-LM model's
 * d0 was filled by mlm_backward), then the encoder. */
static void backward_shard(const struct ic_bert *m, struct ic_bert_state *s, struct impl *im,
                           struct shard *sh, const struct ic_batch *b, int nthr)
{
    if (sh->gpriv)
        memset(sh->gpriv, 0, im->tail * sizeof(float));
    if (!m->cfg.mlm_head)
        head_backward(m, s, im, sh, b);
    encoder_backward(m, im, sh, b, nthr);
}

int ic_bert_backward(const struct ic_bert *m, struct ic_bert_state *s, const struct ic_batch *b)
{
    struct impl *im = s->impl;
    const struct ic_bert_config *c = &m->cfg;
    const int32_t *targets = c->mlm_head ? b->mlm_labels : b->labels;
    if (!im || !s->with_grads || !im->have_forward || !targets || b->B != im->B ||
        b->T != im->T || !same_shape(&m->cfg, &s->cfg))
        return IC_ERR_INVAL;
    const struct ic_arch_info *ai = ic_arch_get(c->arch);
    size_t T = (size_t)b->T, E = (size_t)ic__emb_width(c);
    int nsh = im->nsh;
    if (c->mlm_head)
        mlm_backward(m, s, im, b);
    if (im->split_kernels) {
        int big = (size_t)b->B * (size_t)b->T >= SHARD_MIN_TOKENS;
        backward_shard(m, s, im, &im->sh[0], b, big ? im->nthr : 1);
    } else {
#pragma omp parallel for schedule(static, 1) num_threads(nsh)
        for (int k = 0; k < nsh; k++) {
            serial_kernels();
            backward_shard(m, s, im, &im->sh[k], b, 1);
        }
    }
    if (nsh > 1) {
        /* the other shards' private gradients into s->grads */
        float *dst = s->g.emb_ln_w;
        size_t n = im->tail;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            float acc = dst[i];
            for (int k = 1; k < nsh; k++)
                acc += im->sh[k].gpriv[i];
            dst[i] = acc;
        }
    }
    /* embedding tables: scatter every shard's rows (column-parallel inside) */
    for (size_t i = 0; i < (size_t)b->B * T; i++)
        if (b->ids[i] != c->pad_token_id)
            im->touched[b->ids[i]] = 1;
    for (int k = 0; k < nsh; k++) {
        const struct shard *sh = &im->sh[k];
        size_t b0 = (size_t)sh->b0;
        const int32_t *tt = ai->token_types && b->type_ids ? b->type_ids + b0 * T : NULL;
        embedding_backward(s->g.word_emb, s->g.pos_emb, ai->token_types ? s->g.type_emb : NULL,
                           sh->demb, b->ids + b0 * T, tt, sh->pos_ids, c->pad_token_id,
                           (size_t)sh->nb, T, E);
    }
    return IC_OK;
}
