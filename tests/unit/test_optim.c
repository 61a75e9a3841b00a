/* SPDX-License-Identifier: Apache-2.0 */
/* test_optim.c - AdamW against the torch.optim.AdamW update written out in
 * double, weight decay only where the table allows it, clip_grad_norm_ and
 * get_linear_schedule_with_warmup values. (The golden AdamW trajectory
 * against PyTorch itself is in test_bert.c.) */
#include <math.h>
#include <string.h>

#include "intent/optim.h"
#include "test.h"

static void small_model(struct ic_bert *m)
{
    struct ic_bert_config c;
    ic_bert_config_default(&c);
    c.vocab_size = 10;
    c.hidden_size = 4;
    c.num_layers = 1;
    c.num_heads = 2;
    c.intermediate_size = 6;
    c.max_position = 4;
    c.num_labels = 2;
    IC_ASSERT(ic_bert_init(m, &c, NULL) == IC_OK);
    struct ic_rng r;
    ic_rng_seed(&r, 1);
    ic_bert_init_weights(m, &r);
}

TEST(optim_adamw_matches_reference_update)
{
    struct ic_bert m;
    small_model(&m);
    size_t n = m.num_params;
    struct ic_adamw_params p = {1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f};
    struct ic_adamw o;
    ASSERT_OK(ic_adamw_init(&o, &m, &p, NULL));
    double *rp = ic_xmalloc(n * sizeof(double)), *rm = ic_xcalloc(n, sizeof(double));
    double *rv = ic_xcalloc(n, sizeof(double));
    float *g = ic_xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        rp[i] = m.params[i];
    struct ic_rng r;
    ic_rng_seed(&r, 2);
    for (int t = 1; t <= 4; t++) {
        for (size_t i = 0; i < n; i++)
            g[i] = ic_rng_normal(&r) * 0.1f;
        float lr = 1e-2f * (float)t / 4;
        ic_adamw_step(&o, &m, g, lr);
        for (size_t k = 0; k < m.n_table; k++) {
            const struct ic_param *tp = &m.table[k];
            double wd = tp->no_decay ? 0.0 : 0.1;
            for (size_t j = 0; j < tp->numel; j++) {
                size_t i = tp->offset + j;
                rp[i] *= 1.0 - lr * wd;
                rm[i] = 0.9 * rm[i] + 0.1 * g[i];
                rv[i] = 0.999 * rv[i] + 0.001 * (double)g[i] * g[i];
                double bc1 = 1 - pow(0.9, t), bc2 = 1 - pow(0.999, t);
                rp[i] -= lr / bc1 * rm[i] / (sqrt(rv[i]) / sqrt(bc2) + 1e-8);
            }
        }
    }
    ASSERT_EQ(o.t, 4);
    for (size_t i = 0; i < n; i++)
        if (fabs(m.params[i] - rp[i]) > 1e-6 * (1 + fabs(rp[i])))
            FAIL("param %zu: %.9g vs reference %.9g", i, (double)m.params[i], rp[i]);
    ic_free(rp);
    ic_free(rm);
    ic_free(rv);
    ic_free(g);
    ic_adamw_free(&o);
    ic_bert_free(&m);
}

TEST(optim_weight_decay_skips_bias_and_layernorm)
{
    struct ic_bert m;
    small_model(&m);
    struct ic_adamw_params p = ic_adamw_default_params();
    p.weight_decay = 0.5f;
    struct ic_adamw o;
    ASSERT_OK(ic_adamw_init(&o, &m, &p, NULL));
    float *before = ic_xmalloc(m.num_params * sizeof(float));
    float *zero = ic_xcalloc(m.num_params, sizeof(float));
    for (size_t i = 0; i < m.num_params; i++)
        m.params[i] = before[i] = 1.0f;
    ic_adamw_step(&o, &m, zero, 0.1f); /* zero grads: only decay moves params */
    int n_decay = 0, n_keep = 0;
    for (size_t k = 0; k < m.n_table; k++) {
        const struct ic_param *tp = &m.table[k];
        float want = tp->no_decay ? 1.0f : 1.0f - 0.1f * 0.5f;
        int is_bias_or_ln = strstr(tp->name, "bias") || strstr(tp->name, "LayerNorm");
        ASSERT_EQ(tp->no_decay, is_bias_or_ln);
        ASSERT_NEAR(m.params[tp->offset], want, 1e-7);
        tp->no_decay ? n_keep++ : n_decay++;
    }
    ASSERT(n_decay > 0 && n_keep > 0);
    ic_free(before);
    ic_free(zero);
    ic_adamw_free(&o);
    ic_bert_free(&m);
}

TEST(optim_grad_clip_like_torch)
{
    float g[4] = {3, 0, 4, 0}; /* norm 5 */
    float n = ic_grad_clip(g, 4, 10.0f);
    ASSERT_NEAR(n, 5.0, 1e-6);
    ASSERT_NEAR(g[0], 3.0, 0); /* below max_norm: untouched */
    n = ic_grad_clip(g, 4, 1.0f);
    ASSERT_NEAR(n, 5.0, 1e-6);
    ASSERT_NEAR(g[0], 3.0 / (5.0 + 1e-6), 1e-7);
    ASSERT_NEAR(g[2], 4.0 / (5.0 + 1e-6), 1e-7);
    n = ic_grad_clip(g, 4, 0.0f); /* disabled: just the norm */
    ASSERT_NEAR(n, 1.0, 1e-5);
}

TEST(optim_linear_schedule_with_warmup)
{
    /* get_linear_schedule_with_warmup(warmup 2, total 5), base 1e-3 */
    const double want[6] = {0, 0.5e-3, 1e-3, 2e-3 / 3, 1e-3 / 3, 0};
    for (int s = 0; s < 6; s++)
        ASSERT_NEAR(ic_lr_linear(s, 2, 5, 1e-3f), want[s], 1e-9);
    ASSERT_NEAR(ic_lr_linear(7, 2, 5, 1e-3f), 0.0, 0); /* past the end: 0, not negative */
    ASSERT_NEAR(ic_lr_linear(0, 0, 4, 1.0f), 1.0, 0);  /* no warmup */
    ASSERT_NEAR(ic_lr_linear(3, 0, 4, 1.0f), 0.25, 1e-7);
}

TEST(optim_fused_clip_step_equals_clip_then_step)
{
    struct ic_bert a, b;
    small_model(&a);
    small_model(&b);
    size_t n = a.num_params;
    struct ic_adamw_params p = {1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f};
    struct ic_adamw oa, ob;
    ASSERT_OK(ic_adamw_init(&oa, &a, &p, NULL));
    ASSERT_OK(ic_adamw_init(&ob, &b, &p, NULL));
    ASSERT(oa.n_segs > 1 && oa.n_segs < a.n_table);
    float *ga = ic_xmalloc(n * sizeof(float)), *gb = ic_xmalloc(n * sizeof(float));
    struct ic_rng r;
    ic_rng_seed(&r, 3);
    for (int t = 0; t < 3; t++) {
        for (size_t i = 0; i < n; i++)
            ga[i] = gb[i] = ic_rng_normal(&r) * (t == 1 ? 0.001f : 1.0f); /* t 1: no clipping */
        float na = ic_grad_clip(ga, n, 1.0f);
        ic_adamw_step(&oa, &a, ga, 1e-2f);
        float nb = ic_grad_norm(gb, n);
        ASSERT_EQ(memcmp(&na, &nb, 4), 0);
        ic_adamw_step_scaled(&ob, &b, gb, 1e-2f, ic_grad_clip_coef(nb, 1.0f));
        ASSERT_EQ(memcmp(a.params, b.params, n * sizeof(float)), 0);
    }
    ASSERT_NEAR(ic_grad_clip_coef(5.0f, 0.0f), 1.0, 0);
    ASSERT_NEAR(ic_grad_clip_coef(0.5f, 1.0f), 1.0, 0);
    ic_free(ga);
    ic_free(gb);
    ic_adamw_free(&oa);
    ic_adamw_free(&ob);
    ic_bert_free(&a);
    ic_bert_free(&b);
}
