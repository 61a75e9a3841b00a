/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mlm.c - forward and backward of the masked-LM head (mlm.h) on the kernels
 * of ops.c. The decoder's weight is the word-embedding table: its gradient
 * here is the classifier-side share, to which the embedding backward adds
 * the input-side share.
 */
#include <math.h>
#include <string.h>

#include "nn/mlm.h"
#include "nn/ops.h"

enum ic_act ic__mlm_act(const struct ic_bert_config *c)
{
    return c->arch == IC_ARCH_ROBERTA ? IC_ACT_GELU : c->act;
}

static float *fbuf(size_t n)
{
    return ic_alloc_aligned((n ? n : 1) * sizeof(float));
}

void ic__mlm_alloc(struct ic__mlm *h, const struct ic_bert_config *c, size_t cap, int with_grads,
                   int nthr)
{
    size_t H = (size_t)c->hidden_size, V = (size_t)c->vocab_size;
    memset(h, 0, sizeof *h);
    h->cap = cap;
    /* chunk x V logits: at most 16 M floats, at most 256 rows */
    size_t chunk = ((size_t)1 << 24) / V;
    chunk = chunk < 1 ? 1 : chunk > 256 ? 256 : chunk;
    h->chunk = chunk < cap ? chunk : cap;
    h->nthr = nthr < 1 ? 1 : nthr;
    h->pos = ic_xmalloc(cap * sizeof *h->pos);
    h->lab = ic_xmalloc(cap * sizeof *h->lab);
    h->x = fbuf(cap * H);
    h->u = fbuf(cap * H);
    h->g = fbuf(cap * H);
    h->t = fbuf(cap * H);
    h->mean = fbuf(cap);
    h->rstd = fbuf(cap);
    if (with_grads) {
        h->dt = fbuf(cap * H);
        h->dg = fbuf(cap * H);
    }
    h->logits = fbuf(h->chunk * V);
    h->row_loss = ic_xmalloc(h->chunk * sizeof *h->row_loss);
    h->ones = fbuf(cap);
    for (size_t i = 0; i < cap; i++)
        h->ones[i] = 1.0f;
    h->scratch = fbuf((size_t)h->nthr * 2 * H);
}

void ic__mlm_free(struct ic__mlm *h)
{
    ic_free(h->pos);
    ic_free(h->lab);
    float *bufs[] = {h->x, h->u, h->g, h->t, h->mean, h->rstd, h->dt, h->dg, h->logits,
                     h->ones, h->scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        ic_free_aligned(bufs[i]);
    ic_free(h->row_loss);
    memset(h, 0, sizeof *h);
}

/* Softmax of each of n rows of z in place; row_loss[i] = -log p(lab[i]).
 * Rows are independent, so the result does not depend on the thread count. */
static double softmax_rows(float *z, const int32_t *lab, double *row_loss, size_t n, size_t V)
{
#pragma omp parallel for schedule(static) if (n * V > 65536)
    for (size_t i = 0; i < n; i++) {
        float *r = z + i * V;
        float mx = r[0];
        for (size_t j = 1; j < V; j++)
            mx = r[j] > mx ? r[j] : mx;
        float zy = r[lab[i]];
        double sum = 0.0;
        for (size_t j = 0; j < V; j++) {
            r[j] = expf(r[j] - mx);
            sum += r[j];
        }
        float inv = (float)(1.0 / sum);
        for (size_t j = 0; j < V; j++)
            r[j] *= inv;
        row_loss[i] = log(sum) + (double)mx - (double)zy;
    }
    double total = 0.0;
    for (size_t i = 0; i < n; i++)
        total += row_loss[i];
    return total;
}

/* Rows [r0, r0 + n) through the decoder: softmax in h->logits. */
static double decode_chunk(struct ic__mlm *h, const struct ic_bert_weights *w, size_t r0, size_t n,
                           size_t H, size_t V)
{
    matmul_forward(h->logits, h->t + r0 * H, w->word_emb, w->mlm_bias, n, V, H);
    return softmax_rows(h->logits, h->lab + r0, h->row_loss, n, V);
}

void ic__mlm_forward(struct ic__mlm *h, const struct ic_bert_weights *w,
                     const struct ic_bert_config *c, int with_grads)
{
    size_t M = h->M, H = (size_t)c->hidden_size, V = (size_t)c->vocab_size;
    h->loss_sum = 0.0;
    if (M == 0)
        return;
    matmul_forward(h->u, h->x, w->mlm_dense_w, NULL, M, H, H);
    /* with grads u keeps act'(pre): the backward is then one multiply */
    bias_act_forward(h->g, h->u, with_grads ? h->u : NULL, w->mlm_dense_b, M, H, ic__mlm_act(c));
    layernorm_forward(h->t, h->mean, h->rstd, h->g, w->mlm_ln_w, w->mlm_ln_b, M, H,
                      c->layer_norm_eps);
    for (size_t r0 = 0; r0 < M; r0 += h->chunk) {
        size_t n = M - r0 < h->chunk ? M - r0 : h->chunk;
        h->loss_sum += decode_chunk(h, w, r0, n, H, V);
    }
}

void ic__mlm_backward(struct ic__mlm *h, struct ic_bert_weights *g, const struct ic_bert_weights *w,
                      const struct ic_bert_config *c, size_t count)
{
    size_t M = h->M, H = (size_t)c->hidden_size, V = (size_t)c->vocab_size;
    if (M == 0 || count == 0)
        return;
    float inv = 1.0f / (float)count;
    for (size_t r0 = 0; r0 < M; r0 += h->chunk) {
        size_t n = M - r0 < h->chunk ? M - r0 : h->chunk;
        decode_chunk(h, w, r0, n, H, V); /* recomputed: (M, V) is never stored */
        /* dlogits = (softmax - onehot) / count, in place */
#pragma omp parallel for schedule(static) if (n * V > 65536)
        for (size_t i = 0; i < n; i++) {
            float *r = h->logits + i * V;
            r[h->lab[r0 + i]] -= 1.0f;
            for (size_t j = 0; j < V; j++)
                r[j] *= inv;
        }
        /* dt = dlogits @ word_emb; word_emb += dlogits^T @ t; bias += sums */
        matmul_backward(h->dt + r0 * H, g->word_emb, g->mlm_bias, h->logits, h->t + r0 * H,
                        w->word_emb, n, V, H, 0, h->ones);
    }
    layernorm_backward(h->dg, g->mlm_ln_w, g->mlm_ln_b, h->dt, h->g, h->mean, h->rstd, w->mlm_ln_w,
                       M, H, 0, h->scratch, h->nthr);
    act_backward_saved(h->dg, h->dg, h->u, M * H);
    matmul_backward(h->dt, g->mlm_dense_w, g->mlm_dense_b, h->dg, h->x, w->mlm_dense_w, M, H, H, 0,
                    h->ones);
}
