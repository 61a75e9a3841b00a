// SPDX-License-Identifier: Apache-2.0
/*
 * test_lowp.c - int8 and bf16 Linear kernels (src/nn/lowp.c) on every path
 * this CPU runs (portable, AVX2, AVX-512), against the fp32 product in
 * double precision, within the error bound of the rounding each path does:
 *   int8  |y - ref| <= xs/2 sum|w| + ws/2 sum|x| + 3/4 K xs ws   (+ fp32 slack)
 *         (x and w each off by at most half a quantisation step)
 *   bf16  |y - ref| <= (2^-8 + 2^-16) sum|x w|                    (+ fp32 slack)
 *         (each operand rounded to 8 significant bits)
 * Odd sizes (N and K not multiples of the block and group sizes), a zero
 * row, M = 0; the paths agree with each other; a model forward at int8 and
 * bf16 stays close to fp32; NaN weights are refused naming the tensor.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "intent/bert.h"
#include "nn/lowp.h"
#include "test.h"

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((float)((*s >> 8) & 0xffff) / 32768.0f) - 1.0f;
}

struct prob {
    size_t M, N, K;
    float *x, *w, *bias, *out, *ref;
    double *absum; /* (M, N) sum_k |x w| */
    void *scratch;
};

static void prob_init(struct prob *p, size_t M, size_t N, size_t K, unsigned seed)
{
    p->M = M;
    p->N = N;
    p->K = K;
    p->x = calloc(M * K + 1, sizeof(float));
    p->w = calloc(N * K + 1, sizeof(float));
    p->bias = calloc(N + 1, sizeof(float));
    p->out = calloc(M * N + 1, sizeof(float));
    p->ref = calloc(M * N + 1, sizeof(float));
    p->absum = calloc(M * N + 1, sizeof(double));
    for (size_t i = 0; i < M * K; i++)
        p->x[i] = frand(&seed) * 3.0f;
    for (size_t i = 0; i < N * K; i++)
        p->w[i] = frand(&seed) * 0.1f;
    for (size_t i = 0; i < N; i++)
        p->bias[i] = frand(&seed);
    if (M > 2) /* a row of zeros: gives exactly the bias */
        memset(p->x + K, 0, K * sizeof(float));
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            double acc = p->bias[n], ab = 0;
            for (size_t k = 0; k < K; k++) {
                acc += (double)p->x[m * K + k] * p->w[n * K + k];
                ab += fabs((double)p->x[m * K + k] * p->w[n * K + k]);
            }
            p->ref[m * N + n] = (float)acc;
            p->absum[m * N + n] = ab;
        }
    p->scratch = ic_alloc_aligned(ic__lowp_scratch_bytes(M, K) + 64);
}

static void prob_free(struct prob *p)
{
    free(p->x);
    free(p->w);
    free(p->bias);
    free(p->out);
    free(p->ref);
    free(p->absum);
    ic_free_aligned(p->scratch);
}

/* The int8 bound for element (m, n). */
static double int8_bound(const struct prob *p, size_t m, size_t n)
{
    double xa = 0, wa = 0, xsum = 0, wsum = 0;
    for (size_t k = 0; k < p->K; k++) {
        xa = fmax(xa, fabs(p->x[m * p->K + k]));
        wa = fmax(wa, fabs(p->w[n * p->K + k]));
        xsum += fabs(p->x[m * p->K + k]);
        wsum += fabs(p->w[n * p->K + k]);
    }
    double xs = xa / 127, ws = wa / 127;
    return xs / 2 * wsum + ws / 2 * xsum + 0.75 * (double)p->K * xs * ws;
}

/* Runs p at precision pr on level lvl; returns the worst error / bound. */
static double run_check(struct prob *p, enum ic_precision pr, enum ic__kern lvl)
{
    struct ic__pw pw;
    ic__pw_init(&pw, p->w, p->N, p->K, pr);
    for (size_t i = 0; i < p->M * p->N; i++)
        p->out[i] = NAN;
    p->out[p->M * p->N] = 12345.0f; /* guard past the end */
    ic__lowp_forward(p->out, p->x, &pw, p->bias, p->M, p->scratch, lvl);
    double worst = 0;
    for (size_t m = 0; m < p->M; m++)
        for (size_t n = 0; n < p->N; n++) {
            double e = fabs((double)p->out[m * p->N + n] - p->ref[m * p->N + n]);
            double slack = 1e-6 * (p->absum[m * p->N + n] + fabs(p->bias[n])) + 1e-7;
            double bound = pr == IC_PRECISION_INT8 ? int8_bound(p, m, n)
                                                   : (1.0 / 256 + 1.0 / 65536) *
                                                         p->absum[m * p->N + n];
            double r = isnan(e) ? 1e9 : e / (bound + slack);
            worst = r > worst ? r : worst;
        }
    if (p->out[p->M * p->N] != 12345.0f)
        worst = 1e9;
    ic__pw_free(&pw);
    return worst;
}

static const size_t sizes[][3] = {{1, 1, 1},   {3, 17, 5},  {5, 33, 130}, {16, 48, 64},
                                  {4, 64, 128}, {37, 70, 771}, {66, 130, 36}, {2, 3, 3072}};

static void check_all(enum ic_precision pr)
{
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        struct prob p;
        prob_init(&p, sizes[s][0], sizes[s][1], sizes[s][2], 7 + (unsigned)s);
        for (int lvl = 0; lvl <= (int)ic__kern_cpu_max(pr); lvl++) {
            double r = run_check(&p, pr, (enum ic__kern)lvl);
            if (r > 1.0) {
                prob_free(&p);
                FAIL("%s %s M=%zu N=%zu K=%zu: error %.3g x the bound", ic_precision_name(pr),
                     ic__kern_name(pr, (enum ic__kern)lvl), sizes[s][0], sizes[s][1],
                     sizes[s][2], r);
            }
        }
        if (p.M > 2) /* the zero row is the bias */
            for (size_t n = 0; n < p.N; n++)
                if (p.out[p.N + n] != p.bias[n]) {
                    prob_free(&p);
                    FAIL("zero row: %g != bias %g", p.out[p.N + n], p.bias[n]);
                }
        prob_free(&p);
    }
}

TEST(lowp_int8_paths_within_bound)
{
    check_all(IC_PRECISION_INT8);
}

TEST(lowp_bf16_paths_within_bound)
{
    check_all(IC_PRECISION_BF16);
}

/* Every path gives the portable path's numbers (int8: the same integer
 * sums; bf16: the same exact products added in the same order). */
TEST(lowp_paths_agree)
{
    enum ic_precision precs[2] = {IC_PRECISION_INT8, IC_PRECISION_BF16};
    for (int i = 0; i < 2; i++) {
        struct prob p;
        prob_init(&p, 37, 70, 771, 99);
        struct ic__pw pw;
        ic__pw_init(&pw, p.w, p.N, p.K, precs[i]);
        ic__lowp_forward(p.ref, p.x, &pw, p.bias, p.M, p.scratch, IC__KERN_PORTABLE);
        for (int lvl = 1; lvl <= (int)ic__kern_cpu_max(precs[i]); lvl++) {
            ic__lowp_forward(p.out, p.x, &pw, p.bias, p.M, p.scratch, (enum ic__kern)lvl);
            for (size_t j = 0; j < p.M * p.N; j++)
                if (fabsf(p.out[j] - p.ref[j]) > 1e-5f * (1.0f + fabsf(p.ref[j]))) {
                    float a = p.out[j], b = p.ref[j];
                    ic__pw_free(&pw);
                    prob_free(&p);
                    FAIL("%s %s [%zu]: %.9g, portable %.9g", ic_precision_name(precs[i]),
                         ic__kern_name(precs[i], (enum ic__kern)lvl), j, a, b);
                }
        }
        ic__pw_free(&pw);
        prob_free(&p);
    }
}

TEST(lowp_zero_rows_untouched)
{
    float w[6] = {1, 2, 3, 4, 5, 6}, out[2] = {7, 8}, x[3] = {0};
    struct ic__pw pw;
    ic__pw_init(&pw, w, 2, 3, IC_PRECISION_INT8);
    void *scratch = ic_alloc_aligned(ic__lowp_scratch_bytes(1, 3));
    for (int lvl = 0; lvl <= (int)ic__kern_cpu_max(IC_PRECISION_INT8); lvl++)
        ic__lowp_forward(out, x, &pw, NULL, 0, scratch, (enum ic__kern)lvl);
    ic_free_aligned(scratch);
    ic__pw_free(&pw);
    ASSERT(out[0] == 7 && out[1] == 8);
}

TEST(lowp_precision_names)
{
    enum ic_precision p;
    ASSERT_OK(ic_precision_parse("int8", &p));
    ASSERT_EQ(p, IC_PRECISION_INT8);
    ASSERT_OK(ic_precision_parse("bf16", &p));
    ASSERT_EQ(p, IC_PRECISION_BF16);
    ASSERT_OK(ic_precision_parse("fp32", &p));
    ASSERT_EQ(p, IC_PRECISION_FP32);
    ASSERT(ic_precision_parse("fp16", &p) != 0);
    ASSERT(ic_precision_parse(NULL, &p) != 0);
    ASSERT_STR_EQ(ic_kernels_name(IC_PRECISION_FP32), "openblas");
    ASSERT(strlen(ic_kernels_name(IC_PRECISION_INT8)) > 0);
}

static void small_model(struct ic_bert *m, enum ic_arch arch)
{
    struct ic_bert_config c;
    ic_bert_config_default(&c);
    c.arch = arch;
    c.vocab_size = 60;
    c.hidden_size = 32;
    c.embedding_size = arch == IC_ARCH_ELECTRA ? 20 : 0;
    c.num_layers = 2;
    c.num_heads = 2;
    c.intermediate_size = 50;
    c.max_position = 20;
    c.num_labels = 5;
    struct ic_err err;
    IC_ASSERT(ic_bert_init(m, &c, &err) == IC_OK);
    struct ic_rng rng;
    ic_rng_seed(&rng, 3);
    ic_bert_init_weights(m, &rng);
    /* larger weights than the 0.02 init, so the logits differ across labels */
    for (size_t i = 0; i < m->num_params; i++)
        m->params[i] *= 5.0f;
}

/* Forward of a fixed batch at precision pr; probabilities into probs (B*N). */
static int forward_at(const struct ic_bert *m, enum ic_precision pr, float *probs)
{
    struct ic_err err;
    struct ic_bert_prepared *pp = NULL;
    struct ic_bert_state s;
    if (ic_bert_prepare(&pp, m, pr, &err) || ic_bert_state_init(&s, &m->cfg, 3, 9, 0, &err))
        return -1;
    s.prep = pp;
    int32_t ids[27], mask[27];
    for (int i = 0; i < 27; i++) {
        ids[i] = (i * 7 + 3) % 60;
        mask[i] = i % 9 < 9 - (i / 9) * 3;
    }
    struct ic_batch b = {.B = 3, .T = 9, .ids = ids, .mask = mask};
    int rc = ic_bert_forward(m, &s, &b, NULL);
    memcpy(probs, s.probs, 15 * sizeof(float));
    ic_bert_state_free(&s);
    ic_bert_prepared_free(pp);
    return rc;
}

TEST(lowp_model_forward_close_to_fp32)
{
    enum ic_arch archs[2] = {IC_ARCH_BERT, IC_ARCH_ELECTRA};
    for (int a = 0; a < 2; a++) {
        struct ic_bert m;
        small_model(&m, archs[a]);
        float ref[15], lp[15];
        int rc = forward_at(&m, IC_PRECISION_FP32, ref);
        for (int pr = IC_PRECISION_BF16; !rc && pr <= IC_PRECISION_INT8; pr++) {
            rc = forward_at(&m, (enum ic_precision)pr, lp);
            double worst = 0;
            for (int i = 0; i < 15; i++)
                worst = fmax(worst, fabs(lp[i] - ref[i]));
            if (!rc && !(worst < 0.03)) {
                ic_bert_free(&m);
                FAIL("%s %s: max probability error %g", ic_arch_get(archs[a])->model_type,
                     ic_precision_name((enum ic_precision)pr), worst);
            }
        }
        ic_bert_free(&m);
        ASSERT_OK(rc);
    }
}

TEST(lowp_refuses_nonfinite_weights)
{
    struct ic_bert m;
    small_model(&m, IC_ARCH_BERT);
    const struct ic_param *e = ic_bert_find_param(&m, "bert.encoder.layer.1.output.dense.weight");
    ASSERT(e != NULL);
    m.params[e->offset + 7] = NAN;
    struct ic_bert_prepared *pp = (void *)1;
    struct ic_err err;
    int rc = ic_bert_prepare(&pp, &m, IC_PRECISION_INT8, &err);
    ic_bert_free(&m);
    ASSERT_EQ(rc, IC_ERR_RANGE);
    ASSERT(pp == NULL);
    ASSERT_CONTAINS(err.msg, "bert.encoder.layer.1.output.dense.weight");
    ASSERT_CONTAINS(err.msg, "NaN");
}
