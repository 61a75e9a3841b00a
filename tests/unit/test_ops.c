/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ops.c - every kernel's backward against central finite differences
 * of its forward, on tiny shapes. The scalar checked is L = sum(out * R)
 * with a fixed random R (so dout = R), accumulated in double; inputs are
 * perturbed by +-eps one at a time.
 */
#include <math.h>
#include <string.h>

#include "intent/bert.h"
#include "nn/ops.h"
#include "test.h"

#define EPS 1e-3f

static struct ic_rng g_rng;

static void randn(float *p, size_t n, float std)
{
    for (size_t i = 0; i < n; i++)
        p[i] = ic_rng_normal(&g_rng) * std;
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* A kernel under test: forward() recomputes ctx->out from the inputs. */
struct fd {
    void (*forward)(struct fd *);
    float *out, *R;
    size_t nout;
    void *ctx;
};

static double fd_loss(struct fd *f)
{
    f->forward(f);
    return dot(f->out, f->R, f->nout);
}

/* Compares analytic grad[i] of input x[n] with central differences.
 * Returns the worst error normalised as |num - ana| / (atol + rtol |num|). */
static double fd_check(struct fd *f, float *x, const float *grad, size_t n, const char *what,
                       char *msg, size_t msg_len)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        float old = x[i];
        x[i] = old + EPS;
        double lp = fd_loss(f);
        x[i] = old - EPS;
        double lm = fd_loss(f);
        x[i] = old;
        double num = (lp - lm) / (2.0 * EPS);
        double err = fabs(num - grad[i]) / (2e-3 + 1e-2 * fabs(num));
        if (err > worst) {
            worst = err;
            snprintf(msg, msg_len, "%s[%zu]: numeric %.6g analytic %.6g", what, i, num,
                     (double)grad[i]);
        }
    }
    f->forward(f);
    return worst;
}

#define CHECK_FD(f, x, g, n, name)                                            \
    do {                                                                      \
        char m_[256] = "";                                                    \
        double e_ = fd_check(f, x, g, n, name, m_, sizeof m_);                \
        if (e_ > 1.0)                                                         \
            FAIL("finite differences disagree: %s", m_);                      \
    } while (0)

/* ---------------------------------------------------------------------------- */

struct mm_ctx {
    float *inp, *W, *b;
    size_t M, N, K;
};
static void mm_fwd(struct fd *f)
{
    struct mm_ctx *c = f->ctx;
    matmul_forward(f->out, c->inp, c->W, c->b, c->M, c->N, c->K);
}

TEST(ops_matmul_backward_fd)
{
    ic_rng_seed(&g_rng, 1);
    enum { M = 5, N = 4, K = 3 };
    float inp[M * K], W[N * K], b[N], out[M * N], R[M * N], ones[M];
    randn(inp, M * K, 1);
    randn(W, N * K, 1);
    randn(b, N, 1);
    randn(R, M * N, 1);
    for (int i = 0; i < M; i++)
        ones[i] = 1;
    struct mm_ctx c = {inp, W, b, M, N, K};
    struct fd f = {mm_fwd, out, R, M * N, &c};
    float dinp[M * K], dW[N * K], db[N];
    for (int i = 0; i < M * K; i++)
        dinp[i] = 100; /* overwritten when accumulate = 0 */
    memset(dW, 0, sizeof dW);
    memset(db, 0, sizeof db);
    matmul_backward(dinp, dW, db, R, inp, W, M, N, K, 0, ones);
    CHECK_FD(&f, inp, dinp, M * K, "dinp");
    CHECK_FD(&f, W, dW, N * K, "dW");
    CHECK_FD(&f, b, db, N, "db");
    /* accumulation: a second backward adds the same again */
    matmul_backward(dinp, dW, db, R, inp, W, M, N, K, 1, ones);
    float dinp1[M * K], dW1[N * K], db1[N];
    memset(dW1, 0, sizeof dW1);
    memset(db1, 0, sizeof db1);
    matmul_backward(dinp1, dW1, db1, R, inp, W, M, N, K, 0, ones);
    for (int i = 0; i < M * K; i++)
        ASSERT_NEAR(dinp[i], 2 * dinp1[i], 1e-5);
    for (int i = 0; i < N * K; i++)
        ASSERT_NEAR(dW[i], 2 * dW1[i], 1e-5);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(db[i], 2 * db1[i], 1e-5);
}

/* ---------------------------------------------------------------------------- */

struct ln_ctx {
    float *x, *y, *w, *b, *r, *mean, *rstd;
    size_t M, C;
    struct ic__dropout drop;
    int residual;
};
static void ln_fwd(struct fd *f)
{
    struct ln_ctx *c = f->ctx;
    if (c->residual)
        residual_layernorm_forward(f->out, c->r, c->mean, c->rstd, c->y, c->x, c->w, c->b, c->M,
                                   c->C, 1e-5f, &c->drop);
    else
        layernorm_forward(f->out, c->mean, c->rstd, c->x, c->w, c->b, c->M, c->C, 1e-5f);
}

TEST(ops_layernorm_backward_fd)
{
    ic_rng_seed(&g_rng, 2);
    enum { M = 4, C = 6 };
    float x[M * C], w[C], b[C], out[M * C], R[M * C], mean[M], rstd[M], scratch[8 * 2 * C];
    randn(x, M * C, 1);
    randn(w, C, 1);
    randn(b, C, 1);
    randn(R, M * C, 1);
    struct ln_ctx c = {x, NULL, w, b, NULL, mean, rstd, M, C, {0, 0, 0, 0}, 0};
    struct fd f = {ln_fwd, out, R, M * C, &c};
    ln_fwd(&f);
    float dx[M * C], dw[C] = {0}, db[C] = {0};
    layernorm_backward(dx, dw, db, R, x, mean, rstd, w, M, C, 0, scratch, 8);
    CHECK_FD(&f, x, dx, M * C, "dx");
    CHECK_FD(&f, w, dw, C, "dw");
    CHECK_FD(&f, b, db, C, "db");
}

TEST(ops_residual_layernorm_dropout_backward_fd)
{
    ic_rng_seed(&g_rng, 3);
    enum { M = 4, C = 6 };
    float x[M * C], y[M * C], w[C], b[C], r[M * C], out[M * C], R[M * C], mean[M], rstd[M];
    float scratch[8 * 2 * C];
    randn(x, M * C, 1);
    randn(y, M * C, 1);
    randn(w, C, 1);
    randn(b, C, 1);
    randn(R, M * C, 1);
    for (int with_drop = 0; with_drop < 2; with_drop++) {
        struct ln_ctx c = {x, y, w, b, r, mean, rstd, M, C, {with_drop ? 0.3f : 0.0f, 99, 4, 0}, 1};
        struct fd f = {ln_fwd, out, R, M * C, &c};
        ln_fwd(&f);
        if (with_drop) {
            int dropped = 0;
            for (size_t i = 0; i < M * C; i++)
                dropped += !ic__dropout_keep(&c.drop, i);
            ASSERT(dropped > 0 && dropped < M * C);
        }
        float dx[M * C], dy[M * C], dw[C] = {0}, db[C] = {0};
        residual_layernorm_backward(dy, dx, dw, db, R, r, mean, rstd, w, M, C, &c.drop, scratch,
                                    8);
        CHECK_FD(&f, x, dx, M * C, "dx");
        CHECK_FD(&f, y, dy, M * C, "dy");
        CHECK_FD(&f, w, dw, C, "dw");
        CHECK_FD(&f, b, db, C, "db");
    }
}

/* ---------------------------------------------------------------------------- */

struct act_ctx {
    float *pre0, *pre, *bias;
    size_t M, N;
    enum ic_act act;
};
static void act_fwd(struct fd *f)
{
    struct act_ctx *c = f->ctx;
    memcpy(c->pre, c->pre0, c->M * c->N * sizeof(float));
    bias_act_forward(f->out, c->pre, NULL, c->bias, c->M, c->N, c->act);
}

TEST(ops_bias_act_backward_fd)
{
    enum { M = 3, N = 7 };
    for (int a = 0; a < 3; a++) {
        enum ic_act act = a == 0 ? IC_ACT_GELU : a == 1 ? IC_ACT_GELU_NEW : IC_ACT_RELU;
        ic_rng_seed(&g_rng, 10 + (uint64_t)a);
        float pre0[M * N], pre[M * N], bias[N], out[M * N], R[M * N];
        randn(pre0, M * N, 1.5f);
        randn(bias, N, 0.5f);
        randn(R, M * N, 1);
        /* keep relu's inputs away from the kink */
        for (int i = 0; i < M * N; i++)
            if (fabsf(pre0[i] + bias[i % N]) < 0.05f)
                pre0[i] += 0.2f;
        struct act_ctx c = {pre0, pre, bias, M, N, act};
        struct fd f = {act_fwd, out, R, M * N, &c};
        act_fwd(&f);
        float dpre[M * N], db[N] = {0};
        act_backward(dpre, R, pre, M * N, act);
        for (int i = 0; i < M * N; i++)
            db[i % N] += dpre[i];
        CHECK_FD(&f, pre0, dpre, M * N, ic_act_name(act));
        CHECK_FD(&f, bias, db, N, "bias");
        /* the derivative saved by the forward gives the same backward */
        float out2[M * N], dact[M * N], dpre2[M * N];
        memcpy(pre, pre0, sizeof pre);
        bias_act_forward(out2, pre, dact, bias, M, N, act);
        act_backward_saved(dpre2, R, dact, M * N);
        for (int i = 0; i < M * N; i++) {
            ASSERT_NEAR(out2[i], out[i], 0);
            ASSERT_NEAR(dpre2[i], dpre[i], 1e-6 * (1 + fabsf(dpre[i])));
        }
    }
    /* reference values: HF's exact GELU, gelu_new (tanh) and relu at 1.0 */
    ASSERT_NEAR(ic__act(1.0f, IC_ACT_GELU), 0.8413447460685429, 1e-6);
    ASSERT_NEAR(ic__act(1.0f, IC_ACT_GELU_NEW), 0.8411919906082768, 1e-6);
    ASSERT_NEAR(ic__act(-1.0f, IC_ACT_RELU), 0.0, 0);
}

struct tanh_ctx {
    float *x;
    size_t n;
    struct ic__dropout drop;
    int is_drop;
};
static void tanh_fwd(struct fd *f)
{
    struct tanh_ctx *c = f->ctx;
    if (c->is_drop)
        dropout_forward(f->out, c->x, c->n, &c->drop);
    else
        tanh_forward(f->out, c->x, c->n);
}

TEST(ops_tanh_dropout_backward_fd)
{
    ic_rng_seed(&g_rng, 20);
    enum { n = 40 };
    float x[n], out[n], R[n], dx[n];
    randn(x, n, 1);
    randn(R, n, 1);
    struct tanh_ctx c = {x, n, {0.25f, 5, 1, 0}, 0};
    struct fd f = {tanh_fwd, out, R, n, &c};
    tanh_fwd(&f);
    tanh_backward(dx, R, out, n);
    CHECK_FD(&f, x, dx, n, "tanh");
    c.is_drop = 1;
    tanh_fwd(&f);
    int zeros = 0;
    for (int i = 0; i < n; i++) {
        zeros += out[i] == 0.0f;
        if (out[i] != 0.0f)
            ASSERT_NEAR(out[i], x[i] / 0.75f, 1e-6);
    }
    ASSERT(zeros > 0 && zeros < n);
    dropout_backward(dx, R, n, &c.drop);
    CHECK_FD(&f, x, dx, n, "dropout");
}

/* ---------------------------------------------------------------------------- */

struct att_ctx {
    float *qkv, *att, *scratch;
    const int32_t *mask;
    size_t B, T, C, NH;
    struct ic__dropout drop;
};
static void att_fwd(struct fd *f)
{
    struct att_ctx *c = f->ctx;
    attention_forward(f->out, c->att, c->qkv, c->mask, c->B, c->T, c->C, c->NH, &c->drop,
                      c->scratch, 4);
}

TEST(ops_attention_backward_fd)
{
    enum { B = 3, T = 5, C = 8, NH = 2 };
    /* row 0 full, row 1 padded (3 real), row 2 all padding (uniform attention) */
    static const int32_t mask[B * T] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0};
    for (int with_drop = 0; with_drop < 2; with_drop++) {
        ic_rng_seed(&g_rng, 30 + (uint64_t)with_drop);
        float qkv[B * T * 3 * C], att[B * NH * T * T], out[B * T * C], R[B * T * C];
        float scratch[4 * 2 * T * T], dqkv[B * T * 3 * C];
        randn(qkv, B * T * 3 * C, 1);
        randn(R, B * T * C, 1);
        struct att_ctx c = {qkv, att, scratch, mask, B, T, C, NH,
                            {with_drop ? 0.2f : 0.0f, 77, 3, 0}};
        struct fd f = {att_fwd, out, R, B * T * C, &c};
        att_fwd(&f);
        /* probabilities: masked keys get exactly 0, rows sum to 1 */
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                const float *p = att + ((size_t)(1 * NH + h) * T + i) * T;
                ASSERT_NEAR(p[0] + p[1] + p[2], 1.0, 1e-6);
                const float *u = att + ((size_t)(2 * NH + h) * T + i) * T;
                ASSERT_NEAR(u[0], 1.0 / T, 1e-7);
                ASSERT_NEAR(u[T - 1], 1.0 / T, 1e-7);
            }
        attention_backward(dqkv, R, att, qkv, mask, B, T, C, NH, &c.drop, scratch, 4);
        CHECK_FD(&f, qkv, dqkv, 2 * T * 3 * C, with_drop ? "dqkv (dropout)" : "dqkv");
        /* The all-padding row does not depend on its Q and K (uniform
         * weights), but like PyTorch's autograd through s + finfo.min we
         * still pass the softmax gradient to them; only V is checked. */
        for (size_t t = 0; t < T; t++) {
            size_t o = (2 * T + t) * 3 * C + 2 * C;
            CHECK_FD(&f, qkv + o, dqkv + o, C, "dv (all padding)");
        }
    }
}

/* ---------------------------------------------------------------------------- */

struct emb_ctx {
    const int32_t *ids, *tt, *pos_ids;
    float *word, *pos, *type;
    size_t B, T, C;
};
static void emb_fwd(struct fd *f)
{
    struct emb_ctx *c = f->ctx;
    embedding_forward(f->out, c->ids, c->tt, c->pos_ids, c->word, c->pos, c->type, c->B, c->T,
                      c->C);
}

TEST(ops_embedding_backward_fd)
{
    ic_rng_seed(&g_rng, 40);
    enum { B = 2, T = 3, C = 20, V = 5, P = 4, TV = 2 };
    static const int32_t ids[B * T] = {1, 3, 1, 4, 0, 1}; /* repeats on purpose */
    static const int32_t tt[B * T] = {0, 1, 1, 0, 0, 1};
    float word[V * C], pos[P * C], type[TV * C], out[B * T * C], R[B * T * C];
    randn(word, V * C, 1);
    randn(pos, P * C, 1);
    randn(type, TV * C, 1);
    randn(R, B * T * C, 1);
    struct emb_ctx c = {ids, tt, NULL, word, pos, type, B, T, C};
    struct fd f = {emb_fwd, out, R, B * T * C, &c};
    float dword[V * C] = {0}, dpos[P * C] = {0}, dtype[TV * C] = {0};
    embedding_backward(dword, dpos, dtype, R, ids, tt, NULL, -1, B, T, C);
    CHECK_FD(&f, word, dword, V * C, "dword");
    /* padding_idx: row 0 (used once above) gets nothing, the rest the same */
    float dword0[V * C] = {0};
    embedding_backward(dword0, NULL, NULL, R, ids, tt, NULL, 0, B, T, C);
    for (int i = 0; i < V * C; i++)
        ASSERT_NEAR(dword0[i], i < C ? 0.0f : dword[i], 0);
    CHECK_FD(&f, pos, dpos, P * C, "dpos");
    CHECK_FD(&f, type, dtype, TV * C, "dtype");
}

/* RoBERTa: offset position ids from the pad id (1), no token-type table; the
 * position padding row gets no gradient (nn.Embedding padding_idx). */
TEST(ops_embedding_offset_positions_fd)
{
    ic_rng_seed(&g_rng, 41);
    enum { B = 2, T = 4, C = 8, V = 6, P = 6 };
    static const int32_t ids[B * T] = {0, 4, 1, 5, 0, 2, 1, 1}; /* 1 = pad, also mid-row */
    int32_t pos_ids[B * T];
    position_ids_forward(pos_ids, ids, 1, B, T);
    static const int32_t want[B * T] = {2, 3, 1, 4, 2, 3, 1, 1};
    for (int i = 0; i < B * T; i++)
        ASSERT_EQ(pos_ids[i], want[i]);
    float word[V * C], pos[P * C], out[B * T * C], R[B * T * C];
    randn(word, V * C, 1);
    randn(pos, P * C, 1);
    randn(R, B * T * C, 1);
    struct emb_ctx c = {ids, NULL, pos_ids, word, pos, NULL, B, T, C};
    struct fd f = {emb_fwd, out, R, B * T * C, &c};
    float dword[V * C] = {0}, dpos[P * C] = {0};
    embedding_backward(dword, dpos, NULL, R, ids, NULL, pos_ids, 1, B, T, C);
    for (int i = 0; i < C; i++) {
        ASSERT_EQ(dpos[1 * C + i], 0.0f);
        ASSERT_EQ(dword[1 * C + i], 0.0f);
    }
    /* the padding rows' true derivative is not zero; compare the others */
    CHECK_FD(&f, pos + 2 * C, dpos + 2 * C, (P - 2) * C, "dpos");
    CHECK_FD(&f, word + 2 * C, dword + 2 * C, (V - 2) * C, "dword");
}

/* ---------------------------------------------------------------------------- */

struct ce_ctx {
    float *logits, *probs;
    const int32_t *labels;
    size_t B, N;
};
static void ce_fwd(struct fd *f)
{
    struct ce_ctx *c = f->ctx;
    int count;
    f->out[0] = softmax_ce_forward(c->probs, c->logits, c->labels, c->B, c->N, &count);
}

TEST(ops_softmax_ce_backward_fd)
{
    ic_rng_seed(&g_rng, 50);
    enum { B = 4, N = 5 };
    static const int32_t labels[B] = {2, -100, 0, 4};
    float logits[B * N], probs[B * N], out[1], R[1] = {1.0f}, dl[B * N];
    randn(logits, B * N, 2);
    struct ce_ctx c = {logits, probs, labels, B, N};
    struct fd f = {ce_fwd, out, R, 1, &c};
    int count;
    float loss = softmax_ce_forward(probs, logits, labels, B, N, &count);
    ASSERT_EQ(count, 3);
    /* the loss by definition, in double */
    double ref = 0;
    for (int b = 0; b < B; b++) {
        if (labels[b] < 0)
            continue;
        double s = 0;
        for (int i = 0; i < N; i++)
            s += exp((double)logits[b * N + i]);
        ref += log(s) - logits[b * N + labels[b]];
    }
    ASSERT_NEAR(loss, ref / 3, 1e-6);
    softmax_ce_backward(dl, probs, labels, B, N, count);
    CHECK_FD(&f, logits, dl, B * N, "dlogits");
    for (int i = 0; i < N; i++)
        ASSERT_EQ(dl[1 * N + i], 0);
}

TEST(ops_fast_exp_erf_accuracy)
{
    /* the kernels' exp and erf against libm over the range that matters */
    double worst_exp = 0, worst_erf = 0, worst_gelu = 0;
    for (int i = -200000; i <= 200000; i++) {
        float x = (float)i * 4e-4f; /* [-80, 80] for exp */
        double re = exp((double)x);
        double ee = fabs(ic__exp_fast(x) - re) / re;
        worst_exp = ee > worst_exp ? ee : worst_exp;
        float y = (float)i * 5e-5f; /* [-10, 10] for erf and GELU */
        double ef = fabs(ic__erf_fast(y) - erf((double)y));
        worst_erf = ef > worst_erf ? ef : worst_erf;
        float pre = y, out, r = 0;
        bias_act_forward(&out, &pre, NULL, &r, 1, 1, IC_ACT_GELU);
        double g = 0.5 * y * (1.0 + erf(y / sqrt(2.0)));
        double eg = fabs(out - g) / (1e-3 + fabs(g));
        worst_gelu = eg > worst_gelu ? eg : worst_gelu;
    }
    if (worst_exp > 3e-7 || worst_erf > 5e-7 || worst_gelu > 2e-6)
        FAIL("exp rel err %.3g, erf abs err %.3g, gelu rel err %.3g", worst_exp, worst_erf,
             worst_gelu);
}
