/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops.h - the BERT kernels, llm.c style: free functions on plain float
 * arrays, `<op>_forward(out, inp, weight, bias, dims)` and
 * `<op>_backward(dinp, dweight, dbias, dout, saved..., dims)`.
 *
 * Conventions (read before calling):
 *  - Row-major everywhere. M = number of rows (tokens B*T), C/K = features.
 *  - Weight and bias gradients ACCUMULATE (+=). Activation gradients are
 *    documented per kernel (most write, a flag selects accumulation).
 *  - Matrix products go through OpenBLAS cblas_sgemm; element-wise work is
 *    split over rows with OpenMP (serial below a size threshold).
 *  - No kernel allocates. Kernels that need per-thread scratch take a
 *    scratch pointer and the number of threads it was sized for.
 *  - Dropout is counter-based: whether element i of stream s is kept is a
 *    hash of (seed, s, i), so backward recomputes the mask instead of
 *    storing it, and the result does not depend on the thread count.
 * The math of each backward is in docs/model.md.
 */
#ifndef IC_NN_OPS_H
#define IC_NN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "intent/bert.h"

/* Hot element-wise loops are compiled three times (baseline x86-64, AVX2+FMA,
 * AVX-512) and the loader picks the best the CPU has (GCC target_clones,
 * an ifunc). Elsewhere (other compilers, ARM) the plain build is used. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(IC_NO_CLONES)
#define IC_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define IC_CLONES
#endif

/* A dropout site. p == 0 (or seed unused) means identity. */
struct ic__dropout {
    float p;         /* drop probability in [0, 1) */
    uint64_t seed;   /* per forward call */
    uint32_t stream; /* distinct per site (layer, position in the layer) */
    size_t base;     /* index of this tensor's element 0 in the whole batch's
                        tensor (a slice of the batch sees the same mask) */
};

/* 1 if element idx of the site is kept. */
int ic__dropout_keep(const struct ic__dropout *d, size_t idx);

/* Number of threads kernels may use now (OpenMP's current team size). */
int ic__threads_now(void);

/* ------------------------------------------------------------------------
 * RoBERTa position ids (transformers' create_position_ids_from_input_ids):
 * a real token (id != pad_id) at t gets pad_id + (number of real tokens in
 * [0, t]), a pad token pad_id. Integer only: nothing to differentiate.
 * pos_ids, ids (B,T). */
void position_ids_forward(int32_t *pos_ids, const int32_t *ids, int32_t pad_id, size_t B,
                          size_t T);

/* Embeddings: out[b,t] = word[ids] + type[type_ids] + pos[pos_id]   (HF order)
 * out (B,T,C); ids, type_ids, pos_ids (B,T) (type_ids NULL = 0; pos_ids
 * NULL = t); word (V,C), pos (P,C), type (TV,C) or NULL for no token types. */
void embedding_forward(float *out, const int32_t *ids, const int32_t *type_ids,
                       const int32_t *pos_ids, const float *word, const float *pos,
                       const float *type, size_t B, size_t T, size_t C);
/* Scatter-adds dout into the three tables (any of them may be NULL). Like
 * nn.Embedding(padding_idx=pad_id), the word row pad_id gets no gradient
 * (pad_id < 0: none skipped); with pos_ids (RoBERTa) neither does the
 * position row pad_id. */
void embedding_backward(float *dword, float *dpos, float *dtype, const float *dout,
                        const int32_t *ids, const int32_t *type_ids, const int32_t *pos_ids,
                        int32_t pad_id, size_t B, size_t T, size_t C);

/* ------------------------------------------------------------------------
 * LayerNorm over the last dim, biased variance:
 * out = (inp - mean) * rstd * w + b; saves mean, rstd (M). */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, size_t M, size_t C, float eps);
/* dinp (=, or += when accumulate) from dout; dw, db accumulate.
 * scratch: nthr * 2 * C floats (per-thread partial sums of dw, db). */
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *mean, const float *rstd, const float *w, size_t M, size_t C,
                        int accumulate, float *scratch, int nthr);

/* Fused residual + LayerNorm (post-LN BERT):
 *   r = dropout(y) + x ; out = LayerNorm(r)
 * r may alias y. Saves r, mean, rstd for the backward. */
void residual_layernorm_forward(float *out, float *r, float *mean, float *rstd, const float *y,
                                const float *x, const float *w, const float *b, size_t M,
                                size_t C, float eps, const struct ic__dropout *drop);
/* From dout (gradient of out): dx = dr = LN backward (written; the caller
 * adds the other paths into it later); dy = dropout_backward(dr) (written)
 * unless dy is NULL (without dropout dy == dx, so the caller reads dx).
 * dw, db accumulate. scratch: nthr * 2 * C floats. */
void residual_layernorm_backward(float *dy, float *dx, float *dw, float *db, const float *dout,
                                 const float *r, const float *mean, const float *rstd,
                                 const float *w, size_t M, size_t C,
                                 const struct ic__dropout *drop, float *scratch, int nthr);

/* ------------------------------------------------------------------------
 * Linear layer: out (M,N) = inp (M,K) @ W(N,K)^T + bias(N) (bias may be NULL). */
void matmul_forward(float *out, const float *inp, const float *W, const float *bias, size_t M,
                    size_t N, size_t K);
/* dinp (M,K) = (or += when accumulate) dout @ W; dW (N,K) += dout^T @ inp;
 * dbias (N) += column sums of dout (ones: M floats of 1.0). Any output may
 * be NULL to skip it. */
void matmul_backward(float *dinp, float *dW, float *dbias, const float *dout, const float *inp,
                     const float *W, size_t M, size_t N, size_t K, int accumulate,
                     const float *ones);

/* ------------------------------------------------------------------------
 * Fused bias + activation: pre (M,N) += bias, out = act(pre). With
 * dact NULL, pre keeps the pre-activation (for act_backward); otherwise
 * dact (M,N) receives act'(pre) for act_backward_saved (dact may alias pre:
 * training stores the derivative where the pre-activation was, so the
 * backward is one multiply). Exact GELU uses a vectorisable erf accurate
 * to about 1e-7 (docs/model.md). */
void bias_act_forward(float *out, float *pre, float *dact, const float *bias, size_t M, size_t N,
                      enum ic_act act);
/* dpre = dout * act'(pre), element-wise over n; dpre may alias dout. */
void act_backward(float *dpre, const float *dout, const float *pre, size_t n, enum ic_act act);
/* dpre = dout * dact (the derivative saved by bias_act_forward). */
void act_backward_saved(float *dpre, const float *dout, const float *dact, size_t n);
/* Scalar activation and derivative with libm (reference for tests). */
float ic__act(float x, enum ic_act act);
float ic__act_grad(float x, enum ic_act act);
/* The kernels' own exp and erf (vectorisable), exposed for tests. */
float ic__exp_fast(float x);
float ic__erf_fast(float x);

/* tanh over n; backward: dinp = dout * (1 - out^2). */
void tanh_forward(float *out, const float *inp, size_t n);
void tanh_backward(float *dinp, const float *dout, const float *out, size_t n);

/* Element-wise dropout: out = inp * keep / (1 - p) (out may alias inp).
 * Backward: dinp = dout * keep / (1 - p) (may alias). */
void dropout_forward(float *out, const float *inp, size_t n, const struct ic__dropout *d);
void dropout_backward(float *dinp, const float *dout, size_t n, const struct ic__dropout *d);

/* ------------------------------------------------------------------------
 * Multi-head self-attention core on packed QKV.
 * qkv (B,T,3C): per token [q | k | v], heads of D = C/NH contiguous in each.
 * mask (B,T) int32, nonzero = real token. att (B,NH,T,T) saves the softmax
 * probabilities (before dropout); only key columns < klen(b) are written,
 * where klen(b) = last real position + 1 (keys past it are padding and are
 * skipped: their probability is exactly 0, as with HF's finfo.min bias).
 * A row whose mask is all zero attends uniformly over all T keys (what
 * softmax over T equal finfo.min scores gives in PyTorch).
 * ctx (B,T,C) = dropout(att) @ V, heads merged.
 * scratch: nthr * 2 * T * T floats. */
void attention_forward(float *ctx, float *att, const float *qkv, const int32_t *mask, size_t B,
                       size_t T, size_t C, size_t NH, const struct ic__dropout *drop,
                       float *scratch, int nthr);
/* attention_forward for query position 0 of every row only, without
 * dropout (inference: the classification head reads nothing else of the
 * last layer), from q0 (B,C), the queries of position 0, and kv (B,T,2C),
 * keys then values of every position: ctx0 (B,C) = att[.,.,0,:] @ V, with
 * att's row 0 of each (b, head) written as attention_forward writes it. */
void attention_first_forward(float *ctx0, float *att, const float *q0, const float *kv,
                             const int32_t *mask, size_t B, size_t T, size_t C, size_t NH);
/* dqkv (B,T,3C) written (not accumulated) from dctx (B,T,C). */
void attention_backward(float *dqkv, const float *dctx, const float *att, const float *qkv,
                        const int32_t *mask, size_t B, size_t T, size_t C, size_t NH,
                        const struct ic__dropout *drop, float *scratch, int nthr);

/* ------------------------------------------------------------------------
 * Softmax + cross-entropy. probs (B,N) = softmax(logits). With labels
 * (-100 = ignored, as torch's ignore_index), returns the mean loss over the
 * counted rows and sets *count; without labels returns 0. */
float softmax_ce_forward(float *probs, const float *logits, const int32_t *labels, size_t B,
                         size_t N, int *count);
/* dlogits (B,N) = (probs - onehot(label)) / count, 0 for ignored rows (written). */
void softmax_ce_backward(float *dlogits, const float *probs, const int32_t *labels, size_t B,
                         size_t N, int count);

#endif
