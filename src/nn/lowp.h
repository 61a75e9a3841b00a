/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lowp.h - low-precision Linear layers (internal): int8 and bf16 products
 * against weights prepared once (struct ic__pw), with the kernel chosen at
 * run time from the CPU (AVX512-VNNI / AVX512-BF16, AVX2, plain C).
 *
 * Packed layout of a prepared weight W (N, K): output channels in blocks of
 * 16, each block stored k-group by k-group, 16 lanes of G consecutive k:
 *   int8  G = 4: byte ((n / 16) * (Kp / 4) + k / 4) * 64 + (n % 16) * 4 + k % 4
 *   bf16  G = 2: the same with 2-element groups (32-bit lanes either way)
 * so one 64-byte load is one k-group of 16 channels, what vpdpbusd and
 * vdpbf16ps take against a broadcast group of the activation row. N is
 * padded to a multiple of 64 (whole AVX-512 register tiles of 4 blocks) and K
 * to one of G, with zeros.
 *
 * int8 math: W[n,k] ~ ws[n] * q[n,k] (q in [-127, 127], ws = max|W[n,:]| /
 * 127); x[m,k] ~ xs[m] * a[m,k] likewise per row; out[m,n] = xs[m] * ws[n]
 * * sum_k a q + bias[n] with the sum in int32 (exact). VNNI multiplies
 * unsigned by signed bytes: it takes a + 128 and subtracts 128 * sum_k q
 * (colsum). AVX2 multiplies |a| by q with a's sign (vpsignb), which cannot
 * saturate vpmaddubsw's 16-bit pairs (2 * 127 * 127 < 32768).
 * bf16 math: both operands rounded to bf16 (nearest even), products exact
 * in fp32, per lane acc += a_odd * w_odd then acc += a_even * w_even (the
 * order of vdpbf16ps; the emulations keep it).
 */
#ifndef IC_NN_LOWP_H
#define IC_NN_LOWP_H

#include <stddef.h>
#include <stdint.h>

#include "intent/bert.h"

/* Kernel levels, lowest first. */
enum ic__kern { IC__KERN_PORTABLE, IC__KERN_AVX2, IC__KERN_AVX512, IC__KERN_COUNT };

/* One prepared Linear weight. */
struct ic__pw {
    enum ic_precision prec; /* IC_PRECISION_INT8 or IC_PRECISION_BF16 */
    size_t N, K;            /* the fp32 weight's shape */
    size_t Np, Kp;          /* N rounded up to 64; K rounded up to 4 (int8) or 2 (bf16) */
    void *w;                /* packed (see above), 64-byte aligned */
    float *scale;           /* int8: (Np) per output channel */
    int32_t *colsum;        /* int8: (Np) 128 * sum_k q[n,k] */
};

/* Prepares W (N, K) at precision p (BF16 or INT8). W must be finite. */
void ic__pw_init(struct ic__pw *pw, const float *W, size_t N, size_t K, enum ic_precision p);
void ic__pw_free(struct ic__pw *pw);

/* Scratch a product of M rows of K inputs needs (bytes, a multiple of 64). */
size_t ic__lowp_scratch_bytes(size_t M, size_t K);

/* out (M, N) = inp (M, K) @ W^T + bias (bias may be NULL), W prepared in pw,
 * with the kernel level lvl (ic__kern_level's choice unless a test forces
 * one). scratch: ic__lowp_scratch_bytes(M, K) bytes, 64-byte aligned.
 * Splits the columns between OpenMP threads when the product is large and
 * the caller is not already in a parallel region. */
void ic__lowp_forward(float *out, const float *inp, const struct ic__pw *pw, const float *bias,
                      size_t M, void *scratch, enum ic__kern lvl);

/* The Linear layer of the model code: fp32 (matmul_forward) when pw is
 * NULL, else ic__lowp_forward at the chosen level. */
void ic__linear_forward(float *out, const float *inp, const float *W, const struct ic__pw *pw,
                        const float *bias, size_t M, size_t N, size_t K, void *scratch);

/* The level in use for p (INTENT_KERNELS caps it; read once). */
enum ic__kern ic__kern_level(enum ic_precision p);
/* The best level this CPU runs for p, ignoring INTENT_KERNELS. */
enum ic__kern ic__kern_cpu_max(enum ic_precision p);
const char *ic__kern_name(enum ic_precision p, enum ic__kern k);

/* A kernel: out rows [m0, m1) x channel blocks [nb0, nb1) from the prepared
 * activations a (int8 or bf16 rows of Kp, row scales xs for int8). */
typedef void ic__lowp_kernel(float *out, const void *a, const float *xs, const struct ic__pw *pw,
                             const float *bias, size_t m0, size_t m1, size_t nb0, size_t nb1);
#if defined(__x86_64__) && defined(__GNUC__)
ic__lowp_kernel ic__i8_avx512, ic__i8_avx2, ic__bf_avx512, ic__bf_avx2; /* lowp_x86.c */
#endif

/* Prepared weights of a model: one struct ic__pw per Linear (per layer for
 * the encoder's). */
struct ic_bert_prepared {
    enum ic_precision prec;
    int L;
    struct ic__pw *qkv, *attn_out, *ffn_up, *ffn_down; /* L each */
    struct ic__pw emb_proj;                            /* ELECTRA, E != H; else N = 0 */
    struct ic__pw pooler, cls;
    size_t bytes;
};

#endif
