// SPDX-License-Identifier: Apache-2.0
/*
 * lowp_x86.c - the x86 kernels of the low-precision Linear layers (layout
 * and math in lowp.h): int8 with AVX512-VNNI (vpdpbusd) and AVX2
 * (vpmaddubsw + vpsignb), bf16 with AVX512-BF16 (vdpbf16ps) and AVX2 (FMA
 * on bf16 widened to fp32). Each function is compiled for its own target
 * (function attributes), so the default build needs no -march flag; lowp.c
 * calls one only when the CPU has its instructions.
 *
 * Register tiles: up to 4 rows x 4 blocks of 16 channels (AVX-512, 16
 * accumulators; the weights are padded to whole groups of 4 blocks) or 4
 * rows x 1 block (AVX2, 8 accumulators). The tile functions are inlined with
 * a constant row count (one copy per remainder), which keeps the
 * accumulators in registers.
 */
#include "nn/lowp.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))
#define T_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define T_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define T_AVX2 __attribute__((target("avx2,fma")))

/* The activations' k-group g of row r (4 int8 or 2 bf16: 32 bits). */
static inline int32_t group32(const void *a, size_t lda_bytes, size_t r, size_t g)
{
    int32_t x;
    memcpy(&x, (const char *)a + r * lda_bytes + g * 4, 4);
    return x;
}

static inline size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

#define ROW_CASES(fn, ...)                                                                      \
    switch (mr) {                                                                               \
    case 1: fn(__VA_ARGS__, 1); break;                                                          \
    case 2: fn(__VA_ARGS__, 2); break;                                                          \
    case 3: fn(__VA_ARGS__, 3); break;                                                          \
    default: fn(__VA_ARGS__, 4); break;                                                         \
    }

/* Store mask of the channels of block nb that exist (N may end mid-block;
 * the padding blocks up to Np have none). */
static inline unsigned valid_mask(size_t N, size_t nb)
{
    size_t left = N > nb * 16 ? N - nb * 16 : 0;
    return left >= 16 ? 0xffffu : (1u << left) - 1u;
}

/* --- int8, AVX512-VNNI ----------------------------------------------------- */

T_VNNI INLINE void i8v_tile(float *out, const void *a, const float *xs, const struct ic__pw *pw,
                            const float *bias, size_t m, size_t nb, const int mr)
{
    const int nr = 4;
    const size_t G = pw->Kp / 4, lda = pw->Kp;
    const unsigned char *w = (const unsigned char *)pw->w + nb * G * 64;
    __m512i acc[4][4];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            acc[i][j] = _mm512_setzero_si512();
    const __m512i flip = _mm512_set1_epi32((int32_t)0x80808080u);
    for (size_t g = 0; g < G; g++) {
        __m512i wv[4];
        for (int j = 0; j < nr; j++)
            wv[j] = _mm512_load_si512((const void *)(w + ((size_t)j * G + g) * 64));
        for (int i = 0; i < mr; i++) {
            /* a + 128 as unsigned bytes: flip each byte's sign bit */
            __m512i av = _mm512_xor_si512(_mm512_set1_epi32(group32(a, lda, m + i, g)), flip);
            for (int j = 0; j < nr; j++)
                acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], av, wv[j]);
        }
    }
    for (int j = 0; j < nr; j++) {
        size_t col = (nb + j) * 16;
        __mmask16 k = (__mmask16)valid_mask(pw->N, nb + j);
        __m512 ws = _mm512_loadu_ps(pw->scale + col);
        __m512i cs = _mm512_loadu_si512((const void *)(pw->colsum + col));
        __m512 bv = bias ? _mm512_maskz_loadu_ps(k, bias + col) : _mm512_setzero_ps();
        for (int i = 0; i < mr; i++) {
            __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][j], cs));
            v = _mm512_fmadd_ps(v, _mm512_mul_ps(_mm512_set1_ps(xs[m + i]), ws), bv);
            _mm512_mask_storeu_ps(out + (m + i) * pw->N + col, k, v);
        }
    }
}

T_VNNI void ic__i8_avx512(float *out, const void *a, const float *xs, const struct ic__pw *pw,
                          const float *bias, size_t m0, size_t m1, size_t nb0, size_t nb1)
{
    for (size_t nb = nb0; nb < nb1; nb += 4) /* Np is a multiple of 64: whole groups */
        for (size_t m = m0; m < m1; m += 4) {
            int mr = (int)min_sz(4, m1 - m);
            ROW_CASES(i8v_tile, out, a, xs, pw, bias, m, nb)
        }
}

/* --- bf16, AVX512-BF16 ----------------------------------------------------- */

T_BF16 INLINE void bfv_tile(float *out, const void *a, const struct ic__pw *pw, const float *bias,
                            size_t m, size_t nb, const int mr)
{
    const int nr = 4;
    const size_t G = pw->Kp / 2, lda = pw->Kp * 2;
    const unsigned char *w = (const unsigned char *)pw->w + nb * G * 64;
    __m512 acc[4][4];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (size_t g = 0; g < G; g++) {
        __m512i wv[4];
        for (int j = 0; j < nr; j++)
            wv[j] = _mm512_load_si512((const void *)(w + ((size_t)j * G + g) * 64));
        for (int i = 0; i < mr; i++) {
            __m512i av = _mm512_set1_epi32(group32(a, lda, m + i, g));
            for (int j = 0; j < nr; j++)
                acc[i][j] = _mm512_dpbf16_ps(acc[i][j], (__m512bh)av, (__m512bh)wv[j]);
        }
    }
    for (int j = 0; j < nr; j++) {
        size_t col = (nb + j) * 16;
        __mmask16 k = (__mmask16)valid_mask(pw->N, nb + j);
        __m512 bv = bias ? _mm512_maskz_loadu_ps(k, bias + col) : _mm512_setzero_ps();
        for (int i = 0; i < mr; i++)
            _mm512_mask_storeu_ps(out + (m + i) * pw->N + col, k, _mm512_add_ps(acc[i][j], bv));
    }
}

T_BF16 void ic__bf_avx512(float *out, const void *a, const float *xs, const struct ic__pw *pw,
                          const float *bias, size_t m0, size_t m1, size_t nb0, size_t nb1)
{
    (void)xs;
    for (size_t nb = nb0; nb < nb1; nb += 4)
        for (size_t m = m0; m < m1; m += 4) {
            int mr = (int)min_sz(4, m1 - m);
            ROW_CASES(bfv_tile, out, a, pw, bias, m, nb)
        }
}

/* --- AVX2: one block of 16 channels (two 8-lane halves) x up to 4 rows ----- */

/* Stores 8 lanes (the first `valid` of them) of v at p. */
T_AVX2 INLINE void store8(float *p, __m256 v, size_t valid)
{
    if (valid >= 8) {
        _mm256_storeu_ps(p, v);
        return;
    }
    float tmp[8];
    _mm256_storeu_ps(tmp, v);
    memcpy(p, tmp, valid * sizeof(float));
}

T_AVX2 INLINE __m256 load8(const float *p, size_t valid)
{
    if (valid >= 8)
        return _mm256_loadu_ps(p);
    float tmp[8] = {0};
    memcpy(tmp, p, valid * sizeof(float));
    return _mm256_loadu_ps(tmp);
}

T_AVX2 INLINE void i8a_tile(float *out, const void *a, const float *xs, const struct ic__pw *pw,
                            const float *bias, size_t m, size_t nb, const int mr)
{
    const size_t G = pw->Kp / 4, lda = pw->Kp;
    const unsigned char *w = (const unsigned char *)pw->w + nb * G * 64;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[4][2];
    for (int i = 0; i < mr; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_si256();
    for (size_t g = 0; g < G; g++) {
        __m256i w0 = _mm256_load_si256((const __m256i *)(w + g * 64));
        __m256i w1 = _mm256_load_si256((const __m256i *)(w + g * 64 + 32));
        for (int i = 0; i < mr; i++) {
            __m256i x = _mm256_set1_epi32(group32(a, lda, m + i, g));
            __m256i ax = _mm256_abs_epi8(x);
            __m256i p0 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, x));
            __m256i p1 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, x));
            acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(p0, ones));
            acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(p1, ones));
        }
    }
    for (int h = 0; h < 2; h++) {
        size_t col = nb * 16 + (size_t)h * 8;
        size_t valid = pw->N > col ? pw->N - col : 0;
        if (!valid)
            break;
        __m256 ws = _mm256_loadu_ps(pw->scale + col);
        __m256 bv = bias ? load8(bias + col, valid) : _mm256_setzero_ps();
        for (int i = 0; i < mr; i++) {
            __m256 v = _mm256_cvtepi32_ps(acc[i][h]);
            v = _mm256_fmadd_ps(v, _mm256_mul_ps(_mm256_set1_ps(xs[m + i]), ws), bv);
            store8(out + (m + i) * pw->N + col, v, valid);
        }
    }
}

T_AVX2 INLINE void bfa_tile(float *out, const void *a, const struct ic__pw *pw, const float *bias,
                            size_t m, size_t nb, const int mr)
{
    const size_t G = pw->Kp / 2, lda = pw->Kp * 2;
    const unsigned char *w = (const unsigned char *)pw->w + nb * G * 64;
    const __m256i hi = _mm256_set1_epi32((int32_t)0xffff0000u);
    __m256 acc[4][2];
    for (int i = 0; i < mr; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (size_t g = 0; g < G; g++) {
        __m256i w0 = _mm256_load_si256((const __m256i *)(w + g * 64));
        __m256i w1 = _mm256_load_si256((const __m256i *)(w + g * 64 + 32));
        __m256 we0 = _mm256_castsi256_ps(_mm256_slli_epi32(w0, 16));
        __m256 wo0 = _mm256_castsi256_ps(_mm256_and_si256(w0, hi));
        __m256 we1 = _mm256_castsi256_ps(_mm256_slli_epi32(w1, 16));
        __m256 wo1 = _mm256_castsi256_ps(_mm256_and_si256(w1, hi));
        for (int i = 0; i < mr; i++) {
            uint32_t x = (uint32_t)group32(a, lda, m + i, g), e = x << 16, o = x & 0xffff0000u;
            float fe, fo;
            memcpy(&fe, &e, 4);
            memcpy(&fo, &o, 4);
            __m256 ae = _mm256_set1_ps(fe), ao = _mm256_set1_ps(fo);
            /* odd element first, as vdpbf16ps adds them */
            acc[i][0] = _mm256_fmadd_ps(ae, we0, _mm256_fmadd_ps(ao, wo0, acc[i][0]));
            acc[i][1] = _mm256_fmadd_ps(ae, we1, _mm256_fmadd_ps(ao, wo1, acc[i][1]));
        }
    }
    for (int h = 0; h < 2; h++) {
        size_t col = nb * 16 + (size_t)h * 8;
        size_t valid = pw->N > col ? pw->N - col : 0;
        if (!valid)
            break;
        __m256 bv = bias ? load8(bias + col, valid) : _mm256_setzero_ps();
        for (int i = 0; i < mr; i++)
            store8(out + (m + i) * pw->N + col, _mm256_add_ps(acc[i][h], bv), valid);
    }
}

T_AVX2 void ic__i8_avx2(float *out, const void *a, const float *xs, const struct ic__pw *pw,
                        const float *bias, size_t m0, size_t m1, size_t nb0, size_t nb1)
{
    for (size_t nb = nb0; nb < nb1; nb++)
        for (size_t m = m0; m < m1; m += 4) {
            int mr = (int)min_sz(4, m1 - m);
            ROW_CASES(i8a_tile, out, a, xs, pw, bias, m, nb)
        }
}

T_AVX2 void ic__bf_avx2(float *out, const void *a, const float *xs, const struct ic__pw *pw,
                        const float *bias, size_t m0, size_t m1, size_t nb0, size_t nb1)
{
    (void)xs;
    for (size_t nb = nb0; nb < nb1; nb++)
        for (size_t m = m0; m < m1; m += 4) {
            int mr = (int)min_sz(4, m1 - m);
            ROW_CASES(bfa_tile, out, a, pw, bias, m, nb)
        }
}

#endif
