// SPDX-License-Identifier: Apache-2.0
/*
 * lowp.c - low-precision Linear layers (see lowp.h): preparing weights,
 * preparing activations, choosing the kernel, the portable kernels, and the
 * model's prepared-weights set (include/intent/bert.h).
 */
#include "nn/lowp.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "nn/arch.h"
#include "nn/ops.h"

#define TILE_ROWS 64          /* rows per parallel work item */
#define TILE_BLOCKS 4         /* 16-channel blocks per parallel work item */
#define PAR_MACS ((size_t)1 << 21) /* below this many products, one thread */

static size_t round_up(size_t x, size_t m)
{
    return (x + m - 1) / m * m;
}

/* --- precision names ------------------------------------------------------- */

static const char *const prec_names[] = {"fp32", "bf16", "int8"};

int ic_precision_parse(const char *name, enum ic_precision *out)
{
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, prec_names[i])) {
            *out = (enum ic_precision)i;
            return IC_OK;
        }
    return IC_ERR_INVAL;
}

const char *ic_precision_name(enum ic_precision p)
{
    return (unsigned)p < 3 ? prec_names[p] : "?";
}

/* --- kernel choice --------------------------------------------------------- */

static enum ic__kern g_cap = IC__KERN_COUNT; /* INTENT_KERNELS; COUNT = no cap */
static pthread_once_t g_cap_once = PTHREAD_ONCE_INIT;

static void read_cap(void)
{
    static const char *const names[] = {"portable", "avx2", "avx512"};
    const char *e = getenv("INTENT_KERNELS");
    if (!e || !*e)
        return;
    for (int i = 0; i < IC__KERN_COUNT; i++)
        if (!strcmp(e, names[i])) {
            g_cap = (enum ic__kern)i;
            return;
        }
    fprintf(stderr, "intent: INTENT_KERNELS=%s is not portable, avx2 or avx512; ignored\n", e);
}

enum ic__kern ic__kern_cpu_max(enum ic_precision p)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    int base = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
    if (p == IC_PRECISION_INT8 && base && __builtin_cpu_supports("avx512vnni"))
        return IC__KERN_AVX512;
    if (p == IC_PRECISION_BF16 && base && __builtin_cpu_supports("avx512bf16"))
        return IC__KERN_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return IC__KERN_AVX2;
#endif
    (void)p;
    return IC__KERN_PORTABLE;
}

enum ic__kern ic__kern_level(enum ic_precision p)
{
    pthread_once(&g_cap_once, read_cap);
    enum ic__kern k = ic__kern_cpu_max(p);
    return k < g_cap ? k : g_cap;
}

const char *ic__kern_name(enum ic_precision p, enum ic__kern k)
{
    if (p == IC_PRECISION_FP32)
        return "openblas";
    if (k == IC__KERN_AVX512)
        return p == IC_PRECISION_INT8 ? "avx512-vnni" : "avx512-bf16";
    return k == IC__KERN_AVX2 ? "avx2" : "portable";
}

const char *ic_kernels_name(enum ic_precision p)
{
    return ic__kern_name(p, p == IC_PRECISION_FP32 ? IC__KERN_PORTABLE : ic__kern_level(p));
}

int ic_kernels_native(enum ic_precision p)
{
    return p == IC_PRECISION_FP32 || ic__kern_level(p) == IC__KERN_AVX512;
}

/* --- weights --------------------------------------------------------------- */

/* fp32 -> bf16, round to nearest even (inputs are finite). */
static inline uint16_t to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* Byte offset of element (n, k) in the packed layout, elements of size es
 * in groups of G. */
static inline size_t packed_at(size_t n, size_t k, size_t Kp, size_t G, size_t es)
{
    return ((n / 16) * (Kp / G) + k / G) * 64 + ((n % 16) * G + k % G) * es;
}

static void pack_int8(struct ic__pw *pw, const float *W)
{
    int8_t *q = pw->w;
    for (size_t n = 0; n < pw->N; n++) {
        const float *row = W + n * pw->K;
        float amax = 0.0f;
        for (size_t k = 0; k < pw->K; k++)
            amax = fmaxf(amax, fabsf(row[k]));
        float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        for (size_t k = 0; k < pw->K; k++) {
            long v = lrintf(row[k] * inv);
            v = v > 127 ? 127 : (v < -127 ? -127 : v);
            q[packed_at(n, k, pw->Kp, 4, 1)] = (int8_t)v;
            sum += (int32_t)v;
        }
        pw->scale[n] = amax / 127.0f;
        pw->colsum[n] = 128 * sum;
    }
}

static void pack_bf16(struct ic__pw *pw, const float *W)
{
    unsigned char *b = pw->w;
    for (size_t n = 0; n < pw->N; n++)
        for (size_t k = 0; k < pw->K; k++) {
            uint16_t h = to_bf16(W[n * pw->K + k]);
            memcpy(b + packed_at(n, k, pw->Kp, 2, 2), &h, 2);
        }
}

void ic__pw_init(struct ic__pw *pw, const float *W, size_t N, size_t K, enum ic_precision p)
{
    memset(pw, 0, sizeof *pw);
    pw->prec = p;
    pw->N = N;
    pw->K = K;
    pw->Np = round_up(N, 64); /* whole groups of 4 blocks (the AVX-512 tiles) */
    pw->Kp = round_up(K, p == IC_PRECISION_INT8 ? 4 : 2);
    size_t es = p == IC_PRECISION_INT8 ? 1 : 2;
    pw->w = ic_alloc_aligned(pw->Np * pw->Kp * es); /* zeroed: the padding is 0 */
    if (p == IC_PRECISION_INT8) {
        pw->scale = ic_alloc_aligned(pw->Np * sizeof(float));
        pw->colsum = ic_alloc_aligned(pw->Np * sizeof(int32_t));
        pack_int8(pw, W);
    } else {
        pack_bf16(pw, W);
    }
}

void ic__pw_free(struct ic__pw *pw)
{
    ic_free_aligned(pw->w);
    ic_free_aligned(pw->scale);
    ic_free_aligned(pw->colsum);
    memset(pw, 0, sizeof *pw);
}

/* --- activations ----------------------------------------------------------- */

size_t ic__lowp_scratch_bytes(size_t M, size_t K)
{
    return round_up(M * sizeof(float), 64) + round_up(M * round_up(K, 4) * 2, 64);
}

/* Row r of x (K) -> int8 row q (Kp, zero padded) and its scale. */
IC_CLONES static void quant_row(int8_t *q, float *scale, const float *x, size_t K, size_t Kp)
{
    float amax = 0.0f;
    for (size_t k = 0; k < K; k++)
        amax = fmaxf(amax, fabsf(x[k]));
    float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (size_t k = 0; k < K; k++) {
        float v = x[k] * inv; /* |v| <= 127 */
        q[k] = (int8_t)(int32_t)(v + (v >= 0.0f ? 0.5f : -0.5f));
    }
    for (size_t k = K; k < Kp; k++)
        q[k] = 0;
    *scale = amax / 127.0f;
}

IC_CLONES static void bf16_row(uint16_t *b, const float *x, size_t K, size_t Kp)
{
    for (size_t k = 0; k < K; k++) {
        uint32_t u;
        memcpy(&u, &x[k], 4);
        u += 0x7fffu + ((u >> 16) & 1u);
        b[k] = (uint16_t)(u >> 16);
    }
    for (size_t k = K; k < Kp; k++)
        b[k] = 0;
}

static void prepare_rows(void *a, float *xs, const float *inp, const struct ic__pw *pw, size_t M,
                         int par)
{
    size_t K = pw->K, Kp = pw->Kp;
    if (pw->prec == IC_PRECISION_INT8) {
#pragma omp parallel for schedule(static) if (par)
        for (size_t r = 0; r < M; r++)
            quant_row((int8_t *)a + r * Kp, &xs[r], inp + r * K, K, Kp);
    } else {
#pragma omp parallel for schedule(static) if (par)
        for (size_t r = 0; r < M; r++)
            bf16_row((uint16_t *)a + r * Kp, inp + r * K, K, Kp);
    }
}

/* --- portable kernels ------------------------------------------------------ */

static void i8_portable(float *out, const void *a, const float *xs, const struct ic__pw *pw,
                        const float *bias, size_t m0, size_t m1, size_t nb0, size_t nb1)
{
    const size_t G = pw->Kp / 4;
    for (size_t m = m0; m < m1; m++) {
        const int8_t *x = (const int8_t *)a + m * pw->Kp;
        for (size_t nb = nb0; nb < nb1; nb++) {
            const int8_t *w = (const int8_t *)pw->w + nb * G * 64;
            int32_t acc[16] = {0};
            for (size_t g = 0; g < G; g++, w += 64)
                for (int l = 0; l < 16; l++)
                    for (int t = 0; t < 4; t++)
                        acc[l] += (int32_t)x[g * 4 + (size_t)t] * (int32_t)w[l * 4 + t];
            for (size_t l = 0; l < 16 && nb * 16 + l < pw->N; l++) {
                size_t n = nb * 16 + l;
                float v = (float)acc[l] * (xs[m] * pw->scale[n]);
                out[m * pw->N + n] = bias ? v + bias[n] : v;
            }
        }
    }
}

static void bf_portable(float *out, const void *a, const float *xs, const struct ic__pw *pw,
                        const float *bias, size_t m0, size_t m1, size_t nb0, size_t nb1)
{
    (void)xs;
    const size_t G = pw->Kp / 2;
    for (size_t m = m0; m < m1; m++) {
        const uint16_t *x = (const uint16_t *)a + m * pw->Kp;
        for (size_t nb = nb0; nb < nb1; nb++) {
            const uint16_t *w = (const uint16_t *)pw->w + nb * G * 32;
            float acc[16] = {0};
            for (size_t g = 0; g < G; g++, w += 32) {
                float xe = from_bf16(x[2 * g]), xo = from_bf16(x[2 * g + 1]);
                float we[16], wo[16];
                /* each lane's pair read as one 32-bit word, as the SIMD paths
                 * do (GCC 12 -O3 vectorised two strided 16-bit reads wrongly) */
                for (int l = 0; l < 16; l++) {
                    uint32_t pair, e, o;
                    memcpy(&pair, w + 2 * l, 4);
                    e = pair << 16;
                    o = pair & 0xffff0000u;
                    memcpy(&we[l], &e, 4);
                    memcpy(&wo[l], &o, 4);
                }
                for (int l = 0; l < 16; l++) /* exact products, odd first */
                    acc[l] = (acc[l] + xo * wo[l]) + xe * we[l];
            }
            for (size_t l = 0; l < 16 && nb * 16 + l < pw->N; l++) {
                size_t n = nb * 16 + l;
                out[m * pw->N + n] = bias ? acc[l] + bias[n] : acc[l];
            }
        }
    }
}

static ic__lowp_kernel *pick_kernel(enum ic_precision p, enum ic__kern lvl)
{
    if (lvl > ic__kern_cpu_max(p))
        lvl = ic__kern_cpu_max(p);
#if defined(__x86_64__) && defined(__GNUC__)
    if (lvl == IC__KERN_AVX512)
        return p == IC_PRECISION_INT8 ? ic__i8_avx512 : ic__bf_avx512;
    if (lvl == IC__KERN_AVX2)
        return p == IC_PRECISION_INT8 ? ic__i8_avx2 : ic__bf_avx2;
#endif
    return p == IC_PRECISION_INT8 ? i8_portable : bf_portable;
}

/* --- the product ----------------------------------------------------------- */

void ic__lowp_forward(float *out, const float *inp, const struct ic__pw *pw, const float *bias,
                      size_t M, void *scratch, enum ic__kern lvl)
{
    if (!M)
        return;
    float *xs = scratch;
    void *a = (char *)scratch + round_up(M * sizeof(float), 64);
    int par = M * pw->N * pw->K >= PAR_MACS;
#ifdef _OPENMP
    par = par && !omp_in_parallel() && omp_get_max_threads() > 1;
#endif
    prepare_rows(a, xs, inp, pw, M, par);
    ic__lowp_kernel *fn = pick_kernel(pw->prec, lvl);
    size_t nblk = pw->Np / 16;
    size_t ncol = (nblk + TILE_BLOCKS - 1) / TILE_BLOCKS, nrow = (M + TILE_ROWS - 1) / TILE_ROWS;
    size_t ntile = ncol * nrow;
    /* a thread's consecutive tiles share their weight columns */
#pragma omp parallel for schedule(static) if (par)
    for (size_t t = 0; t < ntile; t++) {
        size_t c = t / nrow, r = t % nrow;
        size_t nb0 = c * TILE_BLOCKS, m0 = r * TILE_ROWS;
        size_t nb1 = nb0 + TILE_BLOCKS < nblk ? nb0 + TILE_BLOCKS : nblk;
        size_t m1 = m0 + TILE_ROWS < M ? m0 + TILE_ROWS : M;
        fn(out, a, xs, pw, bias, m0, m1, nb0, nb1);
    }
}

void ic__linear_forward(float *out, const float *inp, const float *W, const struct ic__pw *pw,
                        const float *bias, size_t M, size_t N, size_t K, void *scratch)
{
    if (!pw) {
        matmul_forward(out, inp, W, bias, M, N, K);
        return;
    }
    IC_ASSERT(pw->N == N && pw->K == K);
    ic__lowp_forward(out, inp, pw, bias, M, scratch, ic__kern_level(pw->prec));
}

/* --- a model's prepared weights -------------------------------------------- */

/* IC_ERR_RANGE naming the first tensor of m with a NaN or infinity. */
static int check_finite(const struct ic_bert *m, enum ic_precision p, struct ic_err *err)
{
    for (size_t t = 0; t < m->n_table; t++) {
        const struct ic_param *e = &m->table[t];
        const float *x = m->params + e->offset;
        for (size_t i = 0; i < e->numel; i++)
            if (!isfinite(x[i]))
                return ic_errf(err, IC_ERR_RANGE,
                               "%s weights: tensor %s holds %s at index %zu; refusing to "
                               "convert a model with non-finite weights",
                               ic_precision_name(p), e->name, isnan(x[i]) ? "NaN" : "an infinity",
                               i);
    }
    return IC_OK;
}

static void pw_add(struct ic_bert_prepared *pp, struct ic__pw *pw, const float *W, size_t N,
                   size_t K)
{
    ic__pw_init(pw, W, N, K, pp->prec);
    size_t es = pp->prec == IC_PRECISION_INT8 ? 1 : 2;
    pp->bytes += pw->Np * pw->Kp * es + (pw->scale ? pw->Np * 8 : 0);
}

int ic_bert_prepare(struct ic_bert_prepared **out, const struct ic_bert *m, enum ic_precision p,
                    struct ic_err *err)
{
    *out = NULL;
    if (p == IC_PRECISION_FP32)
        return IC_OK;
    if (p != IC_PRECISION_BF16 && p != IC_PRECISION_INT8)
        return ic_errf(err, IC_ERR_INVAL, "precision %d is not fp32, bf16 or int8", (int)p);
    int rc = check_finite(m, p, err);
    if (rc)
        return rc;
    const struct ic_bert_config *c = &m->cfg;
    const struct ic_bert_weights *w = &m->w;
    size_t H = (size_t)c->hidden_size, FI = (size_t)c->intermediate_size;
    size_t E = (size_t)ic__emb_width(c), L = (size_t)c->num_layers;
    struct ic_bert_prepared *pp = ic_xcalloc(1, sizeof *pp);
    pp->prec = p;
    pp->L = (int)L;
    pp->qkv = ic_xcalloc(L, sizeof *pp->qkv);
    pp->attn_out = ic_xcalloc(L, sizeof *pp->attn_out);
    pp->ffn_up = ic_xcalloc(L, sizeof *pp->ffn_up);
    pp->ffn_down = ic_xcalloc(L, sizeof *pp->ffn_down);
    for (size_t l = 0; l < L; l++) {
        pw_add(pp, &pp->qkv[l], w->qkv_w + l * 3 * H * H, 3 * H, H);
        pw_add(pp, &pp->attn_out[l], w->attn_out_w + l * H * H, H, H);
        pw_add(pp, &pp->ffn_up[l], w->ffn_up_w + l * FI * H, FI, H);
        pw_add(pp, &pp->ffn_down[l], w->ffn_down_w + l * H * FI, H, FI);
    }
    if (E != H)
        pw_add(pp, &pp->emb_proj, w->emb_proj_w, H, E);
    pw_add(pp, &pp->pooler, w->pooler_w, H, H);
    pw_add(pp, &pp->cls, w->cls_w, (size_t)c->num_labels, H);
    *out = pp;
    return IC_OK;
}

void ic_bert_prepared_free(struct ic_bert_prepared *pp)
{
    if (!pp)
        return;
    for (int l = 0; l < pp->L; l++) {
        ic__pw_free(&pp->qkv[l]);
        ic__pw_free(&pp->attn_out[l]);
        ic__pw_free(&pp->ffn_up[l]);
        ic__pw_free(&pp->ffn_down[l]);
    }
    ic_free(pp->qkv);
    ic_free(pp->attn_out);
    ic_free(pp->ffn_up);
    ic_free(pp->ffn_down);
    ic__pw_free(&pp->emb_proj);
    ic__pw_free(&pp->pooler);
    ic__pw_free(&pp->cls);
    ic_free(pp);
}

enum ic_precision ic_bert_prepared_precision(const struct ic_bert_prepared *pp)
{
    return pp ? pp->prec : IC_PRECISION_FP32;
}

size_t ic_bert_prepared_bytes(const struct ic_bert_prepared *pp)
{
    return pp ? pp->bytes : 0;
}
