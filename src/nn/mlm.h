/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mlm.h - the masked-LM head of a cfg.mlm_head model (internal; bert.c
 * gathers the encoder's output at the predicted positions into x and
 * scatters dx back).
 *
 *   u = x @ dense^T + b ; g = act(u) ; t = LayerNorm(g)
 *   logits = t @ word_emb^T + bias ; loss = mean CE over the M rows
 *
 * Only the M predicted positions go through the head (as Hugging Face's
 * BertForMaskedLM computes the same loss over all positions with the others
 * ignored). The (M, V) logits are never held whole: the decoder runs over
 * chunks of rows, and the backward recomputes each chunk's logits, so the
 * memory is chunk x V whatever the batch.
 */
#ifndef IC_NN_MLM_H
#define IC_NN_MLM_H

#include <stddef.h>
#include <stdint.h>

#include "intent/bert.h"

struct ic__mlm {
    size_t cap;          /* rows the buffers hold (max_batch x max_seq) */
    size_t chunk;        /* decoder rows per pass */
    int nthr;            /* threads the scratch is sized for */
    int32_t *pos;        /* (cap) flat index b * T + t of each predicted position */
    int32_t *lab;        /* (cap) its target token id */
    float *x;            /* (cap, H) encoder output there */
    float *u;            /* (cap, H) dense pre-activation; with grads act'(pre) */
    float *g;            /* (cap, H) act(u), the LayerNorm input */
    float *mean, *rstd;  /* (cap) */
    float *t;            /* (cap, H) LayerNorm output, the decoder input */
    float *dt, *dg;      /* (cap, H) with grads; after the backward dt holds dx */
    float *logits;       /* (chunk, V) */
    double *row_loss;    /* (chunk) */
    float *ones;         /* (cap) of 1.0 */
    float *scratch;      /* nthr * 2 * H */
    size_t M;            /* rows of the last forward */
    double loss_sum;     /* summed cross-entropy of the last forward */
};

/* Buffers for up to cap rows of cfg's head (gradient buffers with_grads). */
void ic__mlm_alloc(struct ic__mlm *h, const struct ic_bert_config *c, size_t cap, int with_grads,
                   int nthr);
void ic__mlm_free(struct ic__mlm *h);
/* h->x, h->lab, h->M set: loss_sum over the M rows (saves what the backward needs). */
void ic__mlm_forward(struct ic__mlm *h, const struct ic_bert_weights *w,
                     const struct ic_bert_config *c, int with_grads);
/* Gradient of loss_sum / count: head weights, bias and the decoder's share of
 * word_emb accumulate into g; h->dt receives d(loss)/dx (M, H). */
void ic__mlm_backward(struct ic__mlm *h, struct ic_bert_weights *g, const struct ic_bert_weights *w,
                      const struct ic_bert_config *c, size_t count);
/* Activation between dense and LayerNorm: RoBERTa's lm_head always uses
 * exact GELU, BERT's transform and DistilBERT's vocab_transform hidden_act. */
enum ic_act ic__mlm_act(const struct ic_bert_config *c);

#endif
