/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops.c - forward and backward kernels of the BERT classifier (see ops.h for
 * the conventions and docs/model.md for the backward math).
 * Matrix products: OpenBLAS sgemm/sgemv. Element-wise work: OpenMP over
 * rows, serial when the tensor is small (thread start-up would dominate).
 * Nothing here allocates; nothing here keeps state between calls.
 */
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "nn/ops.h"

/* Element count below which a kernel stays on the calling thread. */
#define PAR_MIN 32768

int ic__threads_now(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int team_size(int nthr)
{
    int n = ic__threads_now();
    return n < nthr ? n : nthr;
}

/* --- dropout ------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline int keep_bit(uint64_t key, uint32_t thr, size_t idx)
{
    uint64_t z = mix64(key + (uint64_t)idx * 0x9E3779B97F4A7C15ull);
    return (uint32_t)(z >> 32) >= thr;
}

/* keep_bit(drop_key(d), thr, i) == keep of element base + i of the site. */
static inline uint64_t drop_key(const struct ic__dropout *d)
{
    uint64_t k = mix64(d->seed ^ ((uint64_t)d->stream * 0xD1B54A32D192ED03ull + 0x2545F4914F6CDD1Dull));
    return k + (uint64_t)d->base * 0x9E3779B97F4A7C15ull;
}

static inline uint32_t drop_thr(const struct ic__dropout *d)
{
    double t = (double)d->p * 4294967296.0;
    return t >= 4294967295.0 ? 0xFFFFFFFFu : (uint32_t)t;
}

static inline int drop_on(const struct ic__dropout *d)
{
    return d && d->p > 0.0f;
}

int ic__dropout_keep(const struct ic__dropout *d, size_t idx)
{
    if (!drop_on(d))
        return 1;
    return keep_bit(drop_key(d), drop_thr(d), idx);
}

IC_CLONES static void dropout_range(float *out, const float *inp, size_t n, uint64_t key,
                                    uint32_t thr, float scale, size_t i0)
{
    for (size_t i = 0; i < n; i++)
        out[i] = keep_bit(key, thr, i0 + i) ? inp[i] * scale : 0.0f;
}

void dropout_forward(float *out, const float *inp, size_t n, const struct ic__dropout *d)
{
    if (!drop_on(d)) {
        if (out != inp)
            memmove(out, inp, n * sizeof(float));
        return;
    }
    uint64_t key = drop_key(d);
    uint32_t thr = drop_thr(d);
    float scale = 1.0f / (1.0f - d->p);
    size_t chunk = 16384, nblk = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t k = 0; k < nblk; k++) {
        size_t i0 = k * chunk, m = i0 + chunk < n ? chunk : n - i0;
        dropout_range(out + i0, inp + i0, m, key, thr, scale, i0);
    }
}

void dropout_backward(float *dinp, const float *dout, size_t n, const struct ic__dropout *d)
{
    dropout_forward(dinp, dout, n, d); /* the same mask and scale */
}

/* --- embeddings ---------------------------------------------------------- */

void position_ids_forward(int32_t *pos_ids, const int32_t *ids, int32_t pad_id, size_t B,
                          size_t T)
{
    for (size_t b = 0; b < B; b++) {
        int32_t count = 0;
        for (size_t t = 0; t < T; t++) {
            int real = ids[b * T + t] != pad_id;
            count += real;
            pos_ids[b * T + t] = real ? pad_id + count : pad_id;
        }
    }
}

void embedding_forward(float *out, const int32_t *ids, const int32_t *type_ids,
                       const int32_t *pos_ids, const float *word, const float *pos,
                       const float *type, size_t B, size_t T, size_t C)
{
#pragma omp parallel for schedule(static) if (B * T * C > PAR_MIN)
    for (size_t bt = 0; bt < B * T; bt++) {
        const float *w = word + (size_t)ids[bt] * C;
        const float *ty = type ? type + (size_t)(type_ids ? type_ids[bt] : 0) * C : NULL;
        const float *p = pos + (pos_ids ? (size_t)pos_ids[bt] : bt % T) * C;
        float *o = out + bt * C;
        if (ty)
            for (size_t i = 0; i < C; i++)
                o[i] = (w[i] + ty[i]) + p[i];
        else
            for (size_t i = 0; i < C; i++)
                o[i] = w[i] + p[i];
    }
}

void embedding_backward(float *dword, float *dpos, float *dtype, const float *dout,
                        const int32_t *ids, const int32_t *type_ids, const int32_t *pos_ids,
                        int32_t pad_id, size_t B, size_t T, size_t C)
{
    /* Rows may repeat (same token twice), so split the work by columns. */
    size_t nblk = (C + 15) / 16;
#pragma omp parallel for schedule(static) if (B * T * C > PAR_MIN)
    for (size_t blk = 0; blk < nblk; blk++) {
        size_t c0 = blk * 16, c1 = c0 + 16 < C ? c0 + 16 : C;
        for (size_t bt = 0; bt < B * T; bt++) {
            const float *d = dout + bt * C;
            float *w = dword && ids[bt] != pad_id ? dword + (size_t)ids[bt] * C : NULL;
            /* offset positions: the padding row (pad_id) gets no gradient */
            float *p = NULL;
            if (dpos && !pos_ids)
                p = dpos + (bt % T) * C;
            else if (dpos && pos_ids[bt] != pad_id)
                p = dpos + (size_t)pos_ids[bt] * C;
            float *ty = dtype ? dtype + (size_t)(type_ids ? type_ids[bt] : 0) * C : NULL;
            for (size_t i = c0; i < c1; i++) {
                if (w)
                    w[i] += d[i];
                if (p)
                    p[i] += d[i];
                if (ty)
                    ty[i] += d[i];
            }
        }
    }
}

/* --- layernorm ----------------------------------------------------------- */

/* Row kernels for a range of rows, compiled per CPU level (IC_CLONES).
 * Reductions carry `omp simd reduction` so they vectorise (the pragma allows
 * reordering the sum, which plain -O3 may not do for floats). */
static inline void ln_row(float *o, float *mean, float *rstd, const float *x, const float *w,
                          const float *b, size_t C, float eps)
{
    float m = 0.0f;
#pragma omp simd reduction(+ : m)
    for (size_t i = 0; i < C; i++)
        m += x[i];
    m /= (float)C;
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (size_t i = 0; i < C; i++) {
        float d = x[i] - m;
        v += d * d;
    }
    v /= (float)C;
    float sd = 1.0f / sqrtf(v + eps);
    for (size_t i = 0; i < C; i++)
        o[i] = (x[i] - m) * sd * w[i] + b[i];
    *mean = m;
    *rstd = sd;
}

IC_CLONES static void ln_rows(float *out, float *mean, float *rstd, const float *inp,
                              const float *w, const float *b, size_t rows, size_t C, float eps)
{
    for (size_t r = 0; r < rows; r++)
        ln_row(out + r * C, mean + r, rstd + r, inp + r * C, w, b, C, eps);
}

/* r = dropout(y) + x, then LayerNorm; row0 is the first row's index (mask). */
IC_CLONES static void res_ln_rows(float *out, float *r, float *mean, float *rstd, const float *y,
                                  const float *x, const float *w, const float *b, size_t row0,
                                  size_t rows, size_t C, float eps, uint64_t key, uint32_t thr,
                                  float scale, int on)
{
    for (size_t row = 0; row < rows; row++) {
        float *rr = r + row * C;
        const float *yy = y + row * C, *xx = x + row * C;
        if (on) {
            size_t base = (row0 + row) * C;
            for (size_t i = 0; i < C; i++)
                rr[i] = (keep_bit(key, thr, base + i) ? yy[i] * scale : 0.0f) + xx[i];
        } else {
            for (size_t i = 0; i < C; i++)
                rr[i] = yy[i] + xx[i];
        }
        ln_row(out + row * C, mean + row, rstd + row, rr, w, b, C, eps);
    }
}

/* Rows per task of the row-parallel loops below. */
static size_t row_block(size_t C)
{
    size_t rows = 8192 / (C ? C : 1);
    return rows ? rows : 1;
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, size_t M, size_t C, float eps)
{
    size_t rb = row_block(C), nblk = (M + rb - 1) / rb;
#pragma omp parallel for schedule(static) if (M * C > PAR_MIN)
    for (size_t k = 0; k < nblk; k++) {
        size_t r0 = k * rb, n = r0 + rb < M ? rb : M - r0;
        ln_rows(out + r0 * C, mean + r0, rstd + r0, inp + r0 * C, w, b, n, C, eps);
    }
}

void residual_layernorm_forward(float *out, float *r, float *mean, float *rstd, const float *y,
                                const float *x, const float *w, const float *b, size_t M,
                                size_t C, float eps, const struct ic__dropout *drop)
{
    int on = drop_on(drop);
    uint64_t key = on ? drop_key(drop) : 0;
    uint32_t thr = on ? drop_thr(drop) : 0;
    float scale = on ? 1.0f / (1.0f - drop->p) : 1.0f;
    size_t rb = row_block(C), nblk = (M + rb - 1) / rb;
#pragma omp parallel for schedule(static) if (M * C > PAR_MIN)
    for (size_t k = 0; k < nblk; k++) {
        size_t r0 = k * rb, n = r0 + rb < M ? rb : M - r0;
        res_ln_rows(out + r0 * C, r + r0 * C, mean + r0, rstd + r0, y + r0 * C, x + r0 * C, w, b,
                    r0, n, C, eps, key, thr, scale, on);
    }
}

/* LayerNorm backward for rows: writes dx (or adds), adds to dw/db; with dy
 * set, also dy = dropout_backward(dx) (mask of rows from row0). */
IC_CLONES static void ln_back_rows(float *dx, float *dy, float *dw, float *db, const float *dout,
                                   const float *x, const float *mean, const float *rstd,
                                   const float *w, size_t row0, size_t rows, size_t C,
                                   int accumulate, uint64_t key, uint32_t thr, float scale,
                                   int on)
{
    for (size_t row = 0; row < rows; row++) {
        const float *g = dout + row * C, *xr = x + row * C;
        float *d = dx + row * C;
        float mu = mean[row], sd = rstd[row];
        float s1 = 0.0f, s2 = 0.0f; /* sums of g w and g w xhat */
#pragma omp simd reduction(+ : s1, s2)
        for (size_t i = 0; i < C; i++) {
            float xh = (xr[i] - mu) * sd;
            float gw = g[i] * w[i];
            s1 += gw;
            s2 += gw * xh;
        }
        for (size_t i = 0; i < C; i++) {
            float xh = (xr[i] - mu) * sd;
            dw[i] += g[i] * xh;
            db[i] += g[i];
        }
        s1 /= (float)C;
        s2 /= (float)C;
        for (size_t i = 0; i < C; i++) {
            float xh = (xr[i] - mu) * sd;
            float v = (g[i] * w[i] - s1 - xh * s2) * sd;
            d[i] = accumulate ? d[i] + v : v;
        }
        if (!dy)
            continue;
        float *e = dy + row * C;
        if (on) {
            size_t base = (row0 + row) * C;
            for (size_t i = 0; i < C; i++)
                e[i] = keep_bit(key, thr, base + i) ? d[i] * scale : 0.0f;
        } else {
            memcpy(e, d, C * sizeof(float));
        }
    }
}

/* Shared body of the two LayerNorm backwards: rows split between threads,
 * dw/db summed per thread in scratch (nthr * 2 * C) and added at the end. */
static void ln_backward(float *dx, float *dy, float *dw, float *db, const float *dout,
                        const float *x, const float *mean, const float *rstd, const float *w,
                        size_t M, size_t C, int accumulate, const struct ic__dropout *drop,
                        float *scratch, int nthr)
{
    int nt = (M * C > PAR_MIN) ? team_size(nthr) : 1;
    int on = drop_on(drop);
    uint64_t key = on ? drop_key(drop) : 0;
    uint32_t thr = on ? drop_thr(drop) : 0;
    float scale = on ? 1.0f / (1.0f - drop->p) : 1.0f;
    if (nt == 1) {
        ln_back_rows(dx, dy, dw, db, dout, x, mean, rstd, w, 0, M, C, accumulate, key, thr,
                     scale, on);
        return;
    }
    memset(scratch, 0, (size_t)nt * 2 * C * sizeof(float));
    size_t rb = row_block(C), nblk = (M + rb - 1) / rb;
#pragma omp parallel num_threads(nt)
    {
        float *pw = scratch + (size_t)thread_id() * 2 * C, *pb = pw + C;
#pragma omp for schedule(static)
        for (size_t k = 0; k < nblk; k++) {
            size_t r0 = k * rb, n = r0 + rb < M ? rb : M - r0;
            ln_back_rows(dx + r0 * C, dy ? dy + r0 * C : NULL, pw, pb, dout + r0 * C, x + r0 * C,
                         mean + r0, rstd + r0, w, r0, n, C, accumulate, key, thr, scale, on);
        }
    }
    for (int t = 0; t < nt; t++) {
        const float *pw = scratch + (size_t)t * 2 * C, *pb = pw + C;
        for (size_t i = 0; i < C; i++) {
            dw[i] += pw[i];
            db[i] += pb[i];
        }
    }
}

void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *mean, const float *rstd, const float *w, size_t M, size_t C,
                        int accumulate, float *scratch, int nthr)
{
    ln_backward(dinp, NULL, dw, db, dout, inp, mean, rstd, w, M, C, accumulate, NULL, scratch,
                nthr);
}

void residual_layernorm_backward(float *dy, float *dx, float *dw, float *db, const float *dout,
                                 const float *r, const float *mean, const float *rstd,
                                 const float *w, size_t M, size_t C,
                                 const struct ic__dropout *drop, float *scratch, int nthr)
{
    ln_backward(dx, dy, dw, db, dout, r, mean, rstd, w, M, C, 0, drop, scratch, nthr);
}

/* --- linear layers ------------------------------------------------------- */

#define SMALL_MNK 1000000 /* OpenBLAS (x86-64) small-matrix kernels: M*N*K <= 100^3 */
#define SMALL_MN 1200      /* ... and, for x @ W^T, M*N <= 1200 */

/* Whether OpenBLAS takes its small-matrix path for x @ W^T on this CPU: in
 * OpenBLAS 0.3.x only the SkylakeX kernel set (also used for Cooper Lake and
 * Sapphire Rapids) permits it. Elsewhere (Haswell, Zen) feeding W in row
 * blocks only repacks x once per block, which cost 15-20 % of a served
 * request's CPU. Decided once; 1 or 0. */
static int small_kernels(void)
{
    static atomic_int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v >= 0)
        return v;
    const char *core = openblas_get_corename();
    v = core && (strcasestr(core, "skylakex") || strcasestr(core, "cooperlake") ||
                 strcasestr(core, "sapphire"));
    atomic_store_explicit(&cached, v, memory_order_relaxed);
    return v;
}

void matmul_forward(float *out, const float *inp, const float *W, const float *bias, size_t M,
                    size_t N, size_t K)
{
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for schedule(static) if (M * N > PAR_MIN)
        for (size_t r = 0; r < M; r++)
            memcpy(out + r * N, bias, N * sizeof(float));
        beta = 1.0f;
    }
    /* Few rows (batch-1 inference): OpenBLAS's packed path copies all of W
     * each call, which costs as much as the product. Its unpacked small-matrix
     * kernels (x86-64, OpenBLAS >= 0.3.16) take this transposition only when
     * rows * cols <= 1200 and rows * cols * K <= 100^3, so W is fed in row
     * blocks that qualify (about twice as fast at M = 16), on the CPUs where
     * OpenBLAS permits that path (small_kernels). */
    size_t chunk = N;
    if (M <= 128 && M * N > SMALL_MN && small_kernels()) {
        chunk = SMALL_MN / M;
        if (chunk * M * K > SMALL_MNK)
            chunk = SMALL_MNK / (M * K);
        chunk &= ~(size_t)7;
        if (chunk < 8)
            chunk = N;
    }
    for (size_t n0 = 0; n0 < N; n0 += chunk) {
        size_t nn = N - n0 < chunk ? N - n0 : chunk;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)nn, (int)K, 1.0f, inp,
                    (int)K, W + n0 * K, (int)K, beta, out + n0, (int)N);
    }
}

void matmul_backward(float *dinp, float *dW, float *dbias, const float *dout, const float *inp,
                     const float *W, size_t M, size_t N, size_t K, int accumulate,
                     const float *ones)
{
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)K, (int)N, 1.0f, dout,
                    (int)N, W, (int)K, accumulate ? 1.0f : 0.0f, dinp, (int)K);
    if (dW)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)N, (int)K, (int)M, 1.0f, dout,
                    (int)N, inp, (int)K, 1.0f, dW, (int)K);
    if (dbias)
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)M, (int)N, 1.0f, dout, (int)N, ones, 1, 1.0f,
                    dbias, 1);
}

/* --- activations --------------------------------------------------------- */

#define SQRT_2_OVER_PI 0.7978845608028654f
#define INV_SQRT_2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

float ic__act(float x, enum ic_act act)
{
    switch (act) {
    case IC_ACT_GELU_NEW: {
        float t = tanhf(SQRT_2_OVER_PI * (x + 0.044715f * x * x * x));
        return 0.5f * x * (1.0f + t);
    }
    case IC_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case IC_ACT_TANH:
        return tanhf(x);
    default:
        return 0.5f * x * (1.0f + erff(x * INV_SQRT_2));
    }
}

float ic__act_grad(float x, enum ic_act act)
{
    switch (act) {
    case IC_ACT_GELU_NEW: {
        float u = SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
        float t = tanhf(u);
        float du = SQRT_2_OVER_PI * (1.0f + 3.0f * 0.044715f * x * x);
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    case IC_ACT_RELU:
        return x > 0.0f ? 1.0f : 0.0f;
    case IC_ACT_TANH: {
        float t = tanhf(x);
        return 1.0f - t * t;
    }
    default:
        return 0.5f * (1.0f + erff(x * INV_SQRT_2)) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
    }
}

/* exp(x): x = n ln2 + r with |r| <= ln2/2, e^r by its Taylor series to r^7
 * (truncation < 1e-8 relative), 2^n through the exponent bits. Inputs are
 * clamped to [-87, 88] (results stay normal floats). */
static inline float exp_fast(float xin)
{
    /* Written so that NaN clamps too (both comparisons false -> -87): the
     * integer conversion below never sees NaN; NaN is passed through at the
     * end, so a NaN input still gives a NaN result. */
    float x = xin > -87.0f ? xin : -87.0f;
    x = x < 88.0f ? x : 88.0f;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = x - n * 0.693145751953125f - n * 1.42860682030941723e-6f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union {
        uint32_t u;
        float f;
    } sc;
    sc.u = (uint32_t)((int32_t)n + 127) << 23;
    float y = p * sc.f;
    return xin == xin ? y : xin;
}

/* erfc(z) for z >= 0 as t exp(-z^2 + P(t)), t = 1 / (1 + z/2), P a degree-9
 * least-squares fit over z in [0, 9] (fitted for this project with numpy:
 * relative error 4e-8 in double; in float about 3e-7 absolute near 0 and
 * 1.5e-6 relative where erfc is tiny, from rounding z^2). */
static inline float erfc_pos(float z)
{
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 1.3542471903e-01f;
    p = p * t - 6.2863168376e-01f;
    p = p * t + 1.0327699253e+00f;
    p = p * t - 5.2955326775e-01f;
    p = p * t - 2.1976044306e-01f;
    p = p * t + 7.6345519485e-02f;
    p = p * t + 8.6870844398e-03f;
    p = p * t + 3.9215494981e-01f;
    p = p * t + 9.9797830237e-01f;
    p = p * t - 1.2654150654e+00f;
    return t * exp_fast(p - z * z);
}

static inline float erf_fast(float x)
{
    float e = 1.0f - erfc_pos(fabsf(x));
    return x < 0.0f ? -e : e;
}

/* The standard normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2, with the
 * negative side from erfc directly (no cancellation in 1 + erf). */
static inline float norm_cdf(float x)
{
    float h = 0.5f * erfc_pos(fabsf(x) * 0.70710678118654752f);
    return x < 0.0f ? h : 1.0f - h;
}

float ic__exp_fast(float x)
{
    return exp_fast(x);
}

float ic__erf_fast(float x)
{
    return erf_fast(x);
}

IC_CLONES static void gelu_rows(float *out, float *pre, float *dact, const float *bias, size_t M,
                                size_t N)
{
    for (size_t r = 0; r < M; r++) {
        float *p = pre + r * N, *o = out + r * N, *d = dact ? dact + r * N : NULL;
        if (bias)
            for (size_t i = 0; i < N; i++)
                p[i] += bias[i];
        if (d) {
            for (size_t i = 0; i < N; i++) {
                float x = p[i];
                float cdf = norm_cdf(x);
                o[i] = x * cdf;
                d[i] = cdf + x * INV_SQRT_2PI * exp_fast(-0.5f * x * x);
            }
        } else {
            for (size_t i = 0; i < N; i++)
                o[i] = p[i] * norm_cdf(p[i]);
        }
    }
}

void bias_act_forward(float *out, float *pre, float *dact, const float *bias, size_t M, size_t N,
                      enum ic_act act)
{
    if (act == IC_ACT_GELU) {
        size_t rows = (32768 + N - 1) / N; /* rows per task */
        size_t ntask = (M + rows - 1) / rows;
#pragma omp parallel for schedule(static) if (ntask > 1)
        for (size_t k = 0; k < ntask; k++) {
            size_t r0 = k * rows, r1 = r0 + rows < M ? r0 + rows : M;
            gelu_rows(out + r0 * N, pre + r0 * N, dact ? dact + r0 * N : NULL, bias, r1 - r0, N);
        }
        return;
    }
#pragma omp parallel for schedule(static) if (M * N > PAR_MIN / 4)
    for (size_t r = 0; r < M; r++) {
        float *p = pre + r * N, *o = out + r * N, *d = dact ? dact + r * N : NULL;
        if (bias)
            for (size_t i = 0; i < N; i++)
                p[i] += bias[i];
        for (size_t i = 0; i < N; i++) {
            float x = p[i];
            o[i] = ic__act(x, act);
            if (d)
                d[i] = ic__act_grad(x, act);
        }
    }
}

IC_CLONES static void gelu_grad_range(float *dpre, const float *dout, const float *pre, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = pre[i];
        float g = norm_cdf(x) + x * INV_SQRT_2PI * exp_fast(-0.5f * x * x);
        dpre[i] = dout[i] * g;
    }
}

void act_backward(float *dpre, const float *dout, const float *pre, size_t n, enum ic_act act)
{
    if (act == IC_ACT_GELU) {
        size_t chunk = 32768, ntask = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (ntask > 1)
        for (size_t k = 0; k < ntask; k++) {
            size_t i0 = k * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
            gelu_grad_range(dpre + i0, dout + i0, pre + i0, i1 - i0);
        }
        return;
    }
#pragma omp parallel for schedule(static) if (n > PAR_MIN / 4)
    for (size_t i = 0; i < n; i++)
        dpre[i] = dout[i] * ic__act_grad(pre[i], act);
}

void act_backward_saved(float *dpre, const float *dout, const float *dact, size_t n)
{
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dpre[i] = dout[i] * dact[i];
}

void tanh_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = tanhf(inp[i]);
}

void tanh_backward(float *dinp, const float *dout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dinp[i] = dout[i] * (1.0f - out[i] * out[i]);
}

/* --- attention ----------------------------------------------------------- */

/* Keys to visit for example row m (T entries): returns klen and sets *all_masked. */
static size_t key_len(const int32_t *m, size_t T, int *all_masked)
{
    size_t k = T;
    while (k > 0 && m[k - 1] == 0)
        k--;
    *all_masked = k == 0;
    return k == 0 ? T : k;
}

/* Masked softmax of rows i < n (T apart) over keys j < kl (key j real iff
 * mb[j]). */
IC_CLONES static void softmax_rows_n(float *P, size_t n, size_t T, size_t kl, const int32_t *mb)
{
    for (size_t i = 0; i < n; i++) {
        float *row = P + i * T;
        float mx = -FLT_MAX;
#pragma omp simd reduction(max : mx)
        for (size_t j = 0; j < kl; j++)
            mx = mb[j] && row[j] > mx ? row[j] : mx;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (size_t j = 0; j < kl; j++) {
            float e = mb[j] ? exp_fast(row[j] - mx) : 0.0f;
            row[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (size_t j = 0; j < kl; j++)
            row[j] *= inv;
    }
}

/* Masked softmax of all T rows of a T x T tile. */
static void softmax_rows(float *P, size_t T, size_t kl, const int32_t *mb)
{
    softmax_rows_n(P, T, T, kl, mb);
}

/* Dropout on the (T, kl) block of a T x T tile whose element 0 has mask
 * index idx0: out = in * keep * scale; with out2/in2 also out2 = in2 * keep
 * * scale (the backward applies the mask to P and dP at once). */
IC_CLONES static void dropout_rows(float *out, float *out2, const float *in, const float *in2,
                                   size_t T, size_t kl, uint64_t key, uint32_t thr, float scale,
                                   size_t idx0)
{
    for (size_t i = 0; i < T; i++)
        for (size_t j = 0; j < kl; j++) {
            size_t o = i * T + j;
            int kp = keep_bit(key, thr, idx0 + o);
            out[o] = kp ? in[o] * scale : 0.0f;
            if (out2)
                out2[o] = kp ? in2[o] * scale : 0.0f;
        }
}

/* dP <- P * (dP - rowsum(P dP)) over keys j < kl. */
IC_CLONES static void softmax_back_rows(float *dP, const float *P, size_t T, size_t kl)
{
    for (size_t i = 0; i < T; i++) {
        const float *pr = P + i * T;
        float *dr = dP + i * T;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (size_t j = 0; j < kl; j++)
            dot += pr[j] * dr[j];
        for (size_t j = 0; j < kl; j++)
            dr[j] = pr[j] * (dr[j] - dot);
    }
}

void attention_forward(float *ctx, float *att, const float *qkv, const int32_t *mask, size_t B,
                       size_t T, size_t C, size_t NH, const struct ic__dropout *drop,
                       float *scratch, int nthr)
{
    size_t D = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)D);
    int on = drop_on(drop);
    uint64_t key = on ? drop_key(drop) : 0;
    uint32_t thr = on ? drop_thr(drop) : 0;
    float dscale = on ? 1.0f / (1.0f - drop->p) : 1.0f;
    int nt = team_size(nthr);
    if (B * NH < 2 || B * T * T * NH * D < PAR_MIN)
        nt = 1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
    for (size_t bh = 0; bh < B * NH; bh++) {
        size_t b = bh / NH, h = bh % NH;
        const int32_t *mb = mask + b * T;
        int all_masked;
        size_t kl = key_len(mb, T, &all_masked);
        const float *q = qkv + b * T * C3 + h * D, *k = q + C, *v = q + 2 * C;
        float *P = att + bh * T * T;
        if (all_masked) {
            for (size_t i = 0; i < T * T; i++)
                P[i] = 1.0f / (float)T;
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)kl, (int)D, scale,
                        q, (int)C3, k, (int)C3, 0.0f, P, (int)T);
            softmax_rows(P, T, kl, mb);
        }
        const float *Pd = P;
        if (on) {
            float *S = scratch + (size_t)(nt > 1 ? thread_id() : 0) * 2 * T * T;
            dropout_rows(S, NULL, P, NULL, T, kl, key, thr, dscale, bh * T * T);
            Pd = S;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)D, (int)kl, 1.0f, Pd,
                    (int)T, v, (int)C3, 0.0f, ctx + b * T * C + h * D, (int)C);
    }
}

void attention_first_forward(float *ctx0, float *att, const float *q0, const float *kv,
                             const int32_t *mask, size_t B, size_t T, size_t C, size_t NH)
{
    size_t D = C / NH, C2 = 2 * C;
    float scale = 1.0f / sqrtf((float)D);
    for (size_t bh = 0; bh < B * NH; bh++) {
        size_t b = bh / NH, h = bh % NH;
        const int32_t *mb = mask + b * T;
        int all_masked;
        size_t kl = key_len(mb, T, &all_masked);
        const float *q = q0 + b * C + h * D, *k = kv + b * T * C2 + h * D, *v = k + C;
        float *P = att + bh * T * T;
        if (all_masked) {
            for (size_t j = 0; j < T; j++)
                P[j] = 1.0f / (float)T;
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 1, (int)kl, (int)D, scale, q,
                        (int)C, k, (int)C2, 0.0f, P, (int)T);
            softmax_rows_n(P, 1, T, kl, mb);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, (int)D, (int)kl, 1.0f, P,
                    (int)T, v, (int)C2, 0.0f, ctx0 + b * C + h * D, (int)C);
    }
}

void attention_backward(float *dqkv, const float *dctx, const float *att, const float *qkv,
                        const int32_t *mask, size_t B, size_t T, size_t C, size_t NH,
                        const struct ic__dropout *drop, float *scratch, int nthr)
{
    size_t D = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)D);
    int on = drop_on(drop);
    uint64_t key = on ? drop_key(drop) : 0;
    uint32_t thr = on ? drop_thr(drop) : 0;
    float dscale = on ? 1.0f / (1.0f - drop->p) : 1.0f;
    int nt = team_size(nthr);
    if (B * NH < 2 || B * T * T * NH * D < PAR_MIN)
        nt = 1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
    for (size_t bh = 0; bh < B * NH; bh++) {
        size_t b = bh / NH, h = bh % NH;
        int all_masked;
        size_t kl = key_len(mask + b * T, T, &all_masked);
        const float *q = qkv + b * T * C3 + h * D, *k = q + C, *v = q + 2 * C;
        float *dq = dqkv + b * T * C3 + h * D, *dk = dq + C, *dv = dq + 2 * C;
        const float *dc = dctx + b * T * C + h * D;
        const float *P = att + bh * T * T;
        float *dP = scratch + (size_t)(nt > 1 ? thread_id() : 0) * 2 * T * T;
        float *Pd = dP + T * T;
        /* dPd = dctx @ V^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)kl, (int)D, 1.0f, dc,
                    (int)C, v, (int)C3, 0.0f, dP, (int)T);
        const float *Pv = P;
        if (on) {
            dropout_rows(Pd, dP, P, dP, T, kl, key, thr, dscale, bh * T * T);
            Pv = Pd;
        }
        /* dV = Pd^T @ dctx */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)kl, (int)D, (int)T, 1.0f, Pv,
                    (int)T, dc, (int)C, 0.0f, dv, (int)C3);
        /* softmax backward: dS = P * (dP - sum_j P dP) */
        softmax_back_rows(dP, P, T, kl);
        /* dQ = scale dS @ K ; dK = scale dS^T @ Q */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)D, (int)kl, scale, dP,
                    (int)T, k, (int)C3, 0.0f, dq, (int)C3);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)kl, (int)D, (int)T, scale, dP,
                    (int)T, q, (int)C3, 0.0f, dk, (int)C3);
        for (size_t j = kl; j < T; j++) {
            memset(dk + j * C3, 0, D * sizeof(float));
            memset(dv + j * C3, 0, D * sizeof(float));
        }
    }
}

/* --- loss ---------------------------------------------------------------- */

float softmax_ce_forward(float *probs, const float *logits, const int32_t *labels, size_t B,
                         size_t N, int *count)
{
    double total = 0.0;
    int n = 0;
    for (size_t b = 0; b < B; b++) {
        const float *l = logits + b * N;
        float *p = probs + b * N;
        float mx = l[0];
        for (size_t i = 1; i < N; i++)
            mx = l[i] > mx ? l[i] : mx;
        double sum = 0.0;
        for (size_t i = 0; i < N; i++) {
            p[i] = expf(l[i] - mx);
            sum += p[i];
        }
        for (size_t i = 0; i < N; i++)
            p[i] = (float)(p[i] / sum);
        if (labels && labels[b] >= 0) {
            /* log-sum-exp form: loss = log(sum) + mx - l[y] */
            total += log(sum) + (double)mx - (double)l[labels[b]];
            n++;
        }
    }
    if (count)
        *count = n;
    return n > 0 ? (float)(total / n) : 0.0f;
}

void softmax_ce_backward(float *dlogits, const float *probs, const int32_t *labels, size_t B,
                         size_t N, int count)
{
    float inv = count > 0 ? 1.0f / (float)count : 0.0f;
    for (size_t b = 0; b < B; b++) {
        float *d = dlogits + b * N;
        const float *p = probs + b * N;
        if (!labels || labels[b] < 0) {
            memset(d, 0, N * sizeof(float));
            continue;
        }
        for (size_t i = 0; i < N; i++)
            d[i] = (p[i] - ((int32_t)i == labels[b] ? 1.0f : 0.0f)) * inv;
    }
}
