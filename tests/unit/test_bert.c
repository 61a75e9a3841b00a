/* SPDX-License-Identifier: Apache-2.0 */
/* test_bert.c - BERT forward/backward: smoke checks, determinism, padding
 * invariance, dropout, and golden parity with the PyTorch reference
 * (tests/golden/model, written by tools/gen_golden.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <pthread.h>

#include "intent/bert.h"
#include "intent/ckpt.h"
#include "intent/optim.h"
#include "intent/tensors.h"
#include "test.h"

static void tiny_config(struct ic_bert_config *c)
{
    ic_bert_config_default(c);
    c->vocab_size = 50;
    c->hidden_size = 16;
    c->num_layers = 2;
    c->num_heads = 2;
    c->intermediate_size = 24;
    c->max_position = 16;
    c->num_labels = 3;
}

TEST(bert_forward_smoke)
{
    struct ic_bert_config c;
    tiny_config(&c);
    struct ic_bert m;
    struct ic_err err;
    ASSERT_OK_ERR(ic_bert_init(&m, &c, &err), err);
    struct ic_rng rng;
    ic_rng_seed(&rng, 1);
    ic_bert_init_weights(&m, &rng);
    struct ic_bert_state s;
    ASSERT_OK_ERR(ic_bert_state_init(&s, &c, 4, 8, 1, &err), err);
    int32_t ids[2 * 5] = {1, 5, 7, 2, 0, 1, 9, 2, 0, 0};
    int32_t mask[2 * 5] = {1, 1, 1, 1, 0, 1, 1, 1, 0, 0};
    int32_t labels[2] = {2, 0};
    struct ic_batch b = {2, 5, ids, NULL, mask, labels, NULL};
    ASSERT_OK(ic_bert_forward(&m, &s, &b, NULL));
    for (int i = 0; i < 2; i++) {
        float sum = 0;
        for (int j = 0; j < 3; j++)
            sum += s.probs[i * 3 + j];
        ASSERT_NEAR(sum, 1.0, 1e-5);
    }
    ASSERT(isfinite(s.loss) && s.loss > 0);
    ic_bert_zero_grad(&s);
    ASSERT_OK(ic_bert_backward(&m, &s, &b));
    double gn = 0;
    for (size_t i = 0; i < m.num_params; i++)
        gn += (double)s.grads[i] * s.grads[i];
    ASSERT(isfinite(gn) && gn > 0);
    ic_bert_state_free(&s);
    ic_bert_free(&m);
}

/* ---------------------------------------------------------------------------
 * Golden parity with tools/gen_golden.py. The fixture's weights are read
 * from its model.safetensors by the small reader below (on purpose
 * independent of src/io), the rest from state.bin (layout documented in
 * tools/gen_golden.py). */

static int read_u32(const unsigned char **p, const unsigned char *end, uint32_t *v)
{
    if (end - *p < 4)
        return -1;
    *v = (uint32_t)(*p)[0] | (uint32_t)(*p)[1] << 8 | (uint32_t)(*p)[2] << 16 |
         (uint32_t)(*p)[3] << 24;
    *p += 4;
    return 0;
}

/* state.bin -> tensor list (owned copies; F32 or I32). */
static int load_state(const char *path, struct ic_tensors *ts)
{
    char *data;
    size_t len;
    ic_tensors_init(ts);
    if (ic_read_file(path, 64u << 20, &data, &len, NULL))
        return -1;
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    uint32_t ver, n;
    int rc = -1;
    if (len < 16 || memcmp(p, "ICGOLD\0\0", 8) != 0)
        goto out;
    p += 8;
    if (read_u32(&p, end, &ver) || ver != 1 || read_u32(&p, end, &n))
        goto out;
    for (uint32_t r = 0; r < n; r++) {
        uint32_t nl, dt, nd, d;
        char name[256];
        int64_t shape[8];
        size_t numel = 1;
        if (read_u32(&p, end, &nl) || nl >= sizeof name || (size_t)(end - p) < nl)
            goto out;
        memcpy(name, p, nl);
        name[nl] = 0;
        p += nl;
        if (read_u32(&p, end, &dt) || dt > 1 || read_u32(&p, end, &nd) || nd < 1 || nd > 8)
            goto out;
        for (uint32_t i = 0; i < nd; i++) {
            if (read_u32(&p, end, &d))
                goto out;
            shape[i] = d;
            numel *= d;
        }
        if ((size_t)(end - p) < numel * 4)
            goto out;
        ic_tensors_add(ts, name, dt ? IC_DTYPE_I32 : IC_DTYPE_F32, (int)nd, shape, p, 1);
        p += numel * 4;
    }
    rc = p == end ? 0 : -1;
out:
    ic_free(data);
    if (rc)
        ic_tensors_free(ts);
    return rc;
}

/* model.safetensors -> tensor list (F32 only, owned copies). */
static int load_safetensors_f32(const char *path, struct ic_tensors *ts)
{
    char *data;
    size_t len;
    ic_tensors_init(ts);
    if (ic_read_file(path, 64u << 20, &data, &len, NULL))
        return -1;
    int rc = -1;
    json_t *h = NULL;
    uint64_t hl = 0;
    if (len < 8)
        goto out;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | (unsigned char)data[i];
    if (hl > len - 8)
        goto out;
    h = json_loadb(data + 8, hl, 0, NULL);
    if (!h)
        goto out;
    const char *key;
    json_t *v;
    const unsigned char *buf = (const unsigned char *)data + 8 + hl;
    size_t blen = len - 8 - hl;
    json_object_foreach(h, key, v) {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        json_t *sh = json_object_get(v, "shape"), *off = json_object_get(v, "data_offsets");
        if (strcmp(json_string_value(json_object_get(v, "dtype")), "F32") != 0 ||
            json_array_size(sh) > 8 || json_array_size(off) != 2)
            goto out;
        int64_t shape[8];
        size_t numel = 1;
        for (size_t i = 0; i < json_array_size(sh); i++) {
            shape[i] = json_integer_value(json_array_get(sh, i));
            numel *= (size_t)shape[i];
        }
        size_t b0 = (size_t)json_integer_value(json_array_get(off, 0));
        size_t b1 = (size_t)json_integer_value(json_array_get(off, 1));
        if (b1 > blen || b0 > b1 || b1 - b0 != numel * 4)
            goto out;
        ic_tensors_add(ts, key, IC_DTYPE_F32, (int)json_array_size(sh), shape, buf + b0, 1);
    }
    rc = 0;
out:
    json_decref(h);
    ic_free(data);
    if (rc)
        ic_tensors_free(ts);
    return rc;
}

/* config.json through the library's parser (each family's own keys). */
static int load_config(const char *path, struct ic_bert_config *c)
{
    struct ic_hfconfig hc;
    if (ic_hfconfig_load(path, &hc, NULL))
        return -1;
    *c = hc.cfg;
    ic_hfconfig_free(&hc);
    return 0;
}

/* max|a - b| <= tol * max|ref| (per tensor), or below 1e-7 absolute: some
 * gradients are zero in exact arithmetic (the key bias, since softmax ignores
 * a per-row constant) and both sides hold rounding noise there. On failure
 * the message names the tensor with its max abs diff and relative error. */
static double g_worst; /* largest relative error close_enough saw since reset */

static int close_enough(const char *name, const float *a, const float *ref, size_t n, double tol,
                        char *msg, size_t cap)
{
    double md = 0, mref = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (d > md || isnan(d)) {
            md = isnan(d) ? INFINITY : d;
            at = i;
        }
        if (fabs(ref[i]) > mref)
            mref = fabs(ref[i]);
    }
    double rel = md / (mref > 1e-30 ? mref : 1e-30);
    if (md >= 1e-7 && rel > g_worst)
        g_worst = rel;
    if (rel <= tol || md < 1e-7)
        return 1;
    snprintf(msg, cap, "%s: max abs diff %.3g at [%zu] (%.9g vs %.9g), relative %.3g > %g", name,
             md, at, (double)a[at], (double)ref[at], rel, tol);
    return 0;
}

struct golden {
    struct ic_bert_config cfg;
    struct ic_bert m;
    struct ic_tensors st, w;
    struct ic_batch b;
};

static int golden_open(struct golden *g, const char *sub, int mlm, char *msg, size_t cap)
{
    memset(g, 0, sizeof *g);
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/model%s", test_golden_dir(), sub);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (load_config(path, &g->cfg))
        return snprintf(msg, cap, "cannot read %s", path), -1;
    g->cfg.mlm_head = mlm;
    struct ic_err err;
    if (ic_bert_init(&g->m, &g->cfg, &err))
        return snprintf(msg, cap, "%s", err.msg), -1;
    struct ic_rng rng;
    ic_rng_seed(&rng, 3);
    ic_bert_init_weights(&g->m, &rng);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (load_safetensors_f32(path, &g->w))
        return snprintf(msg, cap, "cannot read %s", path), -1;
    int hm, hx;
    if (ic_bert_load_tensors(&g->m, &g->w, path, &hm, &hx, &err) || hm || hx)
        return snprintf(msg, cap, "load: %s", err.msg), -1;
    snprintf(path, sizeof path, "%s/state.bin", dir);
    if (load_state(path, &g->st))
        return snprintf(msg, cap, "cannot read %s", path), -1;
    struct ic_tensor *ids = ic_tensors_find(&g->st, "input.ids");
    if (!ids)
        return snprintf(msg, cap, "%s: no input.ids", path), -1;
    g->b.B = (int)ids->shape[0];
    g->b.T = (int)ids->shape[1];
    g->b.ids = ids->data;
    g->b.type_ids = ic_tensors_find(&g->st, "input.type_ids")->data;
    g->b.mask = ic_tensors_find(&g->st, "input.mask")->data;
    int32_t *labels = ic_tensors_find(&g->st, "input.labels")->data;
    if (mlm)
        g->b.mlm_labels = labels; /* (B, T) */
    else
        g->b.labels = labels;
    return 0;
}

static void golden_close(struct golden *g)
{
    ic_tensors_free(&g->st);
    ic_tensors_free(&g->w);
    ic_bert_free(&g->m);
}

static const float *ref_f32(struct golden *g, const char *name)
{
    struct ic_tensor *t = ic_tensors_find(&g->st, name);
    return t ? t->data : NULL;
}

/* The inference state (no gradients: the last layer runs for position 0
 * only) gives the golden logits and probabilities too. */
static int golden_inference(struct golden *g, char *msg, size_t cap)
{
    struct ic_bert_state si;
    struct ic_err err;
    size_t n = (size_t)g->b.B * (size_t)g->cfg.num_labels;
    if (ic_bert_state_init(&si, &g->cfg, g->b.B, g->b.T, 0, &err)) {
        snprintf(msg, cap, "inference state: %s", err.msg);
        return 0;
    }
    int ok = ic_bert_forward(&g->m, &si, &g->b, NULL) == IC_OK;
    ok = ok && close_enough("inference logits", si.logits, ref_f32(g, "logits"), n, 1e-5, msg, cap);
    ok = ok && close_enough("inference probs", si.probs, ref_f32(g, "probs"), n, 1e-5, msg, cap);
    ic_bert_state_free(&si);
    return ok;
}

static void golden_check_head(const char *sub, int mlm)
{
    struct golden g;
    char msg[1024];
    if (golden_open(&g, sub, mlm, msg, sizeof msg)) {
        golden_close(&g);
        FAIL("%s", msg);
    }
    struct ic_bert_state s;
    struct ic_err err;
    const int B = g.b.B, N = g.cfg.num_labels;
    int ok = 1;
    ASSERT_OK_ERR(ic_bert_state_init(&s, &g.cfg, B, g.b.T, 1, &err), err);
    /* forward: logits, probs, loss within 1e-5 relative */
    double worst[3] = {0, 0, 0}; /* forward, gradients, AdamW trajectory */
    g_worst = 0;
    ok = ic_bert_forward(&g.m, &s, &g.b, NULL) == IC_OK;
    ok = ok && (mlm || close_enough("logits", s.logits, ref_f32(&g, "logits"), (size_t)B * N, 1e-5, msg,
                            sizeof msg));
    ok = ok && (mlm || close_enough("probs", s.probs, ref_f32(&g, "probs"), (size_t)B * N, 1e-5,
                                    msg, sizeof msg));
    ok = ok && close_enough("loss", &s.loss, ref_f32(&g, "loss"), 1, 1e-5, msg, sizeof msg);
    ok = ok && (mlm || golden_inference(&g, msg, sizeof msg));
    worst[0] = g_worst;
    g_worst = 0;
    /* backward: every parameter's gradient within 1e-4 */
    ic_bert_zero_grad(&s);
    ok = ok && ic_bert_backward(&g.m, &s, &g.b) == IC_OK;
    for (size_t i = 0; ok && i < g.m.n_table; i++) {
        const struct ic_param *p = &g.m.table[i];
        char name[IC_PARAM_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", p->name);
        const float *ref = ref_f32(&g, name);
        if (!ref) {
            snprintf(msg, sizeof msg, "state.bin has no %s", name);
            ok = 0;
            break;
        }
        ok = close_enough(name, s.grads + p->offset, ref, p->numel, 1e-4, msg, sizeof msg);
    }
    /* AdamW trajectory: losses, grad norms, learning rates, final params */
    const float *hp = ref_f32(&g, "adam.hparams");
    const float *losses = ref_f32(&g, "adam.losses"), *norms = ref_f32(&g, "adam.grad_norms");
    const float *lrs = ref_f32(&g, "adam.lrs");
    worst[1] = g_worst;
    g_worst = 0;
    struct ic_adamw opt;
    memset(&opt, 0, sizeof opt);
    if (ok && hp && losses && norms && lrs) {
        struct ic_adamw_params ap = {hp[0], hp[1], hp[2], hp[3], hp[4]};
        int warmup = (int)hp[6], steps = (int)hp[7];
        ok = ic_adamw_init(&opt, &g.m, &ap, &err) == IC_OK;
        for (int t = 0; ok && t < steps; t++) {
            ic_bert_zero_grad(&s);
            ok = ic_bert_forward(&g.m, &s, &g.b, NULL) == IC_OK &&
                 ic_bert_backward(&g.m, &s, &g.b) == IC_OK;
            float norm = ic_grad_clip(s.grads, g.m.num_params, hp[5]);
            float lr = ic_lr_linear(t, warmup, steps, hp[0]);
            char what[64];
            snprintf(what, sizeof what, "adam step %d loss", t);
            ok = ok && close_enough(what, &s.loss, &losses[t], 1, 1e-4, msg, sizeof msg);
            snprintf(what, sizeof what, "adam step %d grad norm", t);
            ok = ok && close_enough(what, &norm, &norms[t], 1, 1e-4, msg, sizeof msg);
            snprintf(what, sizeof what, "adam step %d lr", t);
            ok = ok && close_enough(what, &lr, &lrs[t], 1, 1e-6, msg, sizeof msg);
            ic_adamw_step(&opt, &g.m, s.grads, lr);
        }
        int checked = 0;
        for (size_t i = 0; ok && i < g.st.n; i++) {
            const struct ic_tensor *t = &g.st.v[i];
            if (strncmp(t->name, "adam.param.", 11) != 0)
                continue;
            const struct ic_param *p = ic_bert_find_param(&g.m, t->name + 11);
            ok = p && close_enough(t->name, g.m.params + p->offset, t->data, p->numel, 1e-4, msg,
                                   sizeof msg);
            checked++;
        }
        if (ok && checked == 0) {
            snprintf(msg, sizeof msg, "no adam.param.* records");
            ok = 0;
        }
    } else if (ok) {
        snprintf(msg, sizeof msg, "state.bin lacks the adam.* records");
        ok = 0;
    }
    worst[2] = g_worst;
    if (getenv("IC_TEST_VERBOSE"))
        fprintf(stderr, "model%s: max relative error logits/probs/loss %.2g, gradients %.2g, "
                "AdamW %.2g\n", sub, worst[0], worst[1], worst[2]);
    ic_adamw_free(&opt);
    ic_bert_state_free(&s);
    golden_close(&g);
    if (!ok)
        FAIL("model%s: %s", sub, msg);
}

static void golden_check(const char *sub)
{
    golden_check_head(sub, 0);
}

TEST(bert_golden_gelu)
{
    golden_check("");
}

TEST(bert_golden_gelu_new)
{
    golden_check("/gelu_new");
}

TEST(bert_golden_relu_masked_row_ignore_index)
{
    golden_check("/relu");
}

/* RoBERTa: offset position ids from pad 1, one token type, dense+tanh+out_proj head */
TEST(bert_golden_roberta)
{
    golden_check("/roberta");
}

/* ELECTRA discriminator: embedding_size 8 projected to 16, dense+GELU+out_proj head */
TEST(bert_golden_electra)
{
    golden_check("/electra");
}

/* DistilBERT: its own names, no token types, pre_classifier+ReLU head */
TEST(bert_golden_distilbert)
{
    golden_check("/distilbert");
}

/* Masked-LM heads against BertForMaskedLM, RobertaForMaskedLM and
 * DistilBertForMaskedLM: loss, every gradient (the tied word embeddings
 * hold the decoder's share plus the input's) and an AdamW trajectory. The
 * model's table is exactly the checkpoint's tensors (no pooler, no
 * classifier, no separate decoder weight). */
static void mlm_golden(const char *sub)
{
    struct golden g;
    char msg[512];
    int rc = golden_open(&g, sub, 1, msg, sizeof msg);
    size_t n_table = g.m.n_table, n_ckpt = g.w.n;
    golden_close(&g);
    if (rc)
        FAIL("%s", msg);
    ASSERT_EQ(n_table, n_ckpt);
    golden_check_head(sub, 1);
}

TEST(bert_golden_mlm_bert)
{
    mlm_golden("/mlm_bert");
}

/* RoBERTa's lm_head is GELU even with hidden_act gelu_new (the fixture's) */
TEST(bert_golden_mlm_roberta)
{
    mlm_golden("/mlm_roberta");
}

TEST(bert_golden_mlm_distilbert)
{
    mlm_golden("/mlm_distilbert");
}

/* A masked-LM batch split into shards gives the single-shard loss and
 * gradients (within float summation noise), and no position predicted is
 * a zero loss with zero head gradients. */
TEST(bert_mlm_sharded_matches_single_and_empty_targets)
{
    struct ic_bert_config c;
    tiny_config(&c);
    c.mlm_head = 1;
    struct ic_bert m;
    struct ic_err err;
    ASSERT_OK_ERR(ic_bert_init(&m, &c, &err), err);
    struct ic_rng rng;
    ic_rng_seed(&rng, 5);
    ic_bert_init_weights(&m, &rng);
    ASSERT(ic_bert_find_param(&m, "cls.predictions.bias") &&
           !ic_bert_find_param(&m, "bert.pooler.dense.weight") &&
           !ic_bert_find_param(&m, "classifier.weight"));
    enum { B = 16, T = 16 };
    static int32_t ids[B * T], mask[B * T], y[B * T], none[B * T];
    for (int i = 0; i < B * T; i++) {
        ids[i] = 1 + (int32_t)(ic_rng_u64(&rng) % 49);
        mask[i] = 1;
        y[i] = i % 5 == 0 ? (int32_t)(ic_rng_u64(&rng) % 50) : -100;
        none[i] = -100;
    }
    struct ic_batch b = {.B = B, .T = T, .ids = ids, .mask = mask, .mlm_labels = y};
    float *g1 = ic_xmalloc(m.num_params * sizeof(float));
    float loss1 = 0;
    int saved = ic_get_threads();
    for (int pass = 0; pass < 2; pass++) {
        ic_set_threads(pass == 0 ? 1 : 3);
        struct ic_bert_state s;
        ASSERT_OK_ERR(ic_bert_state_init(&s, &c, B, T, 1, &err), err);
        ic_bert_zero_grad(&s);
        ASSERT_OK(ic_bert_forward(&m, &s, &b, NULL));
        ASSERT_OK(ic_bert_backward(&m, &s, &b));
        ASSERT(s.mlm_count == (B * T + 4) / 5 && isfinite(s.loss) && s.loss > 0);
        if (pass == 0) {
            memcpy(g1, s.grads, m.num_params * sizeof(float));
            loss1 = s.loss;
        } else {
            ASSERT_NEAR(s.loss, loss1, 1e-5);
            for (size_t i = 0; i < m.num_params; i++)
                ASSERT_NEAR(s.grads[i], g1[i], 1e-5);
        }
        struct ic_batch e = b;
        e.mlm_labels = none;
        ic_bert_zero_grad(&s);
        ASSERT_OK(ic_bert_forward(&m, &s, &e, NULL));
        ASSERT(s.mlm_count == 0 && s.loss == 0.0f);
        ASSERT_OK(ic_bert_backward(&m, &s, &e));
        ASSERT(ic_bert_grad_norm(&s) == 0.0f);
        /* out-of-vocabulary target refused */
        y[3] = 50;
        ASSERT(ic_bert_forward(&m, &s, &b, NULL) == IC_ERR_RANGE);
        y[3] = -100;
        ic_bert_state_free(&s);
    }
    ic_set_threads(saved);
    ic_free(g1);
    ic_bert_free(&m);
}

/* ---------------------------------------------------------------------------
 * Behaviour beyond parity. */

struct tiny {
    struct ic_bert_config c;
    struct ic_bert m;
    int32_t ids[3 * 12], tt[3 * 12], mask[3 * 12], labels[3];
};

/* A random tiny model of architecture arch and a 3 x T batch with lengths
 * 6, 4, 2 (T >= 6). */
static void tiny_init_arch(struct tiny *t, int T, float dropout, enum ic_arch arch)
{
    tiny_config(&t->c);
    t->c.arch = arch;
    if (arch == IC_ARCH_ELECTRA)
        t->c.embedding_size = 8; /* projected to hidden 16 */
    t->c.hidden_dropout = dropout;
    t->c.attention_dropout = dropout;
    struct ic_err err;
    IC_ASSERT(ic_bert_init(&t->m, &t->c, &err) == IC_OK);
    struct ic_rng rng;
    ic_rng_seed(&rng, 11);
    ic_bert_init_weights(&t->m, &rng);
    for (size_t i = 0; i < t->m.num_params; i++) /* larger weights: a less linear model */
        t->m.params[i] += 0.1f * ic_rng_normal(&rng);
    static const int len[3] = {6, 4, 2};
    for (int b = 0; b < 3; b++) {
        for (int i = 0; i < T; i++) {
            t->ids[b * T + i] = i < len[b] ? 1 + (int32_t)ic_rng_below(&rng, 49) : 0;
            t->tt[b * T + i] = i < len[b] && i >= 3 ? 1 : 0;
            t->mask[b * T + i] = i < len[b];
        }
        t->labels[b] = b;
    }
}

static void tiny_init(struct tiny *t, int T, float dropout)
{
    tiny_init_arch(t, T, dropout, IC_ARCH_BERT);
}

static struct ic_batch tiny_batch(struct tiny *t, int T)
{
    struct ic_batch b = {3, T, t->ids, t->tt, t->mask, t->labels, NULL};
    return b;
}

TEST(bert_eval_deterministic_and_inference_state)
{
    struct tiny t;
    tiny_init(&t, 6, 0.1f);
    struct ic_batch b = tiny_batch(&t, 6);
    struct ic_bert_state s, si;
    struct ic_err err;
    ASSERT_OK_ERR(ic_bert_state_init(&s, &t.c, 4, 8, 1, &err), err);
    ASSERT_OK_ERR(ic_bert_state_init(&si, &t.c, 4, 8, 0, &err), err);
    ASSERT(si.grads == NULL);
    float first[9];
    ASSERT_OK(ic_bert_forward(&t.m, &s, &b, NULL));
    memcpy(first, s.logits, sizeof first);
    ASSERT_OK(ic_bert_forward(&t.m, &s, &b, NULL));
    for (int i = 0; i < 9; i++)
        ASSERT_EQ(memcmp(&first[i], &s.logits[i], 4), 0);
    /* the inference state (shared layer buffers, no grads) agrees */
    ASSERT_OK(ic_bert_forward(&t.m, &si, &b, NULL));
    for (int i = 0; i < 9; i++)
        ASSERT_NEAR(si.logits[i], first[i], 1e-6);
    ASSERT_NEAR(si.loss, s.loss, 1e-6);
    ASSERT_EQ(ic_bert_backward(&t.m, &si, &b), IC_ERR_INVAL);
    /* bad input is refused, not crashed on */
    t.ids[1] = 50;
    ASSERT_EQ(ic_bert_forward(&t.m, &s, &b, NULL), IC_ERR_RANGE);
    t.ids[1] = 3;
    b.T = 9;
    ASSERT_EQ(ic_bert_forward(&t.m, &s, &b, NULL), IC_ERR_INVAL);
    ic_bert_state_free(&s);
    ic_bert_state_free(&si);
    ic_bert_free(&t.m);
}

TEST(bert_padding_does_not_change_logits)
{
    struct tiny a, p;
    tiny_init(&a, 6, 0.0f);
    tiny_init(&p, 10, 0.0f); /* same weights and tokens, 4 more padding columns */
    struct ic_batch ba = tiny_batch(&a, 6), bp = tiny_batch(&p, 10);
    struct ic_bert_state s;
    struct ic_err err;
    ASSERT_OK_ERR(ic_bert_state_init(&s, &a.c, 3, 12, 1, &err), err);
    ASSERT_OK(ic_bert_forward(&a.m, &s, &ba, NULL));
    float la[9];
    memcpy(la, s.logits, sizeof la);
    ASSERT_OK(ic_bert_forward(&p.m, &s, &bp, NULL));
    for (int i = 0; i < 9; i++)
        ASSERT_NEAR(s.logits[i], la[i], 1e-5 * fabs(la[i]) + 1e-6);
    ic_bert_state_free(&s);
    ic_bert_free(&a.m);
    ic_bert_free(&p.m);
}

TEST(bert_dropout_random_and_reproducible)
{
    struct tiny t;
    tiny_init(&t, 6, 0.2f);
    struct ic_batch b = tiny_batch(&t, 6);
    struct ic_bert_state s;
    struct ic_err err;
    ASSERT_OK_ERR(ic_bert_state_init(&s, &t.c, 3, 6, 1, &err), err);
    float ev[9], d1[9], d2[9];
    ASSERT_OK(ic_bert_forward(&t.m, &s, &b, NULL));
    memcpy(ev, s.logits, sizeof ev);
    struct ic_rng r;
    ic_rng_seed(&r, 5);
    ASSERT_OK(ic_bert_forward(&t.m, &s, &b, &r));
    memcpy(d1, s.logits, sizeof d1);
    ASSERT_OK(ic_bert_forward(&t.m, &s, &b, &r)); /* the rng moved on */
    memcpy(d2, s.logits, sizeof d2);
    int diff_eval = 0, diff_next = 0;
    for (int i = 0; i < 9; i++) {
        diff_eval += fabsf(d1[i] - ev[i]) > 1e-4f;
        diff_next += fabsf(d1[i] - d2[i]) > 1e-4f;
    }
    ASSERT(diff_eval > 0);
    ASSERT(diff_next > 0);
    ic_rng_seed(&r, 5);
    ASSERT_OK(ic_bert_forward(&t.m, &s, &b, &r));
    for (int i = 0; i < 9; i++)
        ASSERT_EQ(memcmp(&d1[i], &s.logits[i], 4), 0);
    ic_bert_state_free(&s);
    ic_bert_free(&t.m);
}

/* The whole model's backward, dropout on, against finite differences of the
 * loss (same dropout masks: the rng is reseeded before every forward). */
static float loss_at(struct tiny *t, struct ic_bert_state *s, struct ic_batch *b)
{
    struct ic_rng r;
    ic_rng_seed(&r, 9);
    IC_ASSERT(ic_bert_forward(&t->m, s, b, &r) == IC_OK);
    return s->loss;
}

static void backward_fd_with_dropout(enum ic_arch arch)
{
    struct tiny t;
    tiny_init_arch(&t, 6, 0.2f, arch);
    struct ic_batch b = tiny_batch(&t, 6);
    struct ic_bert_state s;
    struct ic_err err;
    ASSERT_OK_ERR(ic_bert_state_init(&s, &t.c, 3, 6, 1, &err), err);
    loss_at(&t, &s, &b);
    ic_bert_zero_grad(&s);
    ASSERT_OK(ic_bert_backward(&t.m, &s, &b));
    float *g = ic_xmalloc(t.m.num_params * sizeof(float));
    memcpy(g, s.grads, t.m.num_params * sizeof(float));
    struct ic_rng pick;
    ic_rng_seed(&pick, 4);
    int checked = 0;
    for (size_t k = 0; k < t.m.n_table; k++) {
        const struct ic_param *p = &t.m.table[k];
        for (int j = 0; j < 3; j++) { /* three coordinates of every tensor */
            size_t i = p->offset + ic_rng_below(&pick, (uint32_t)p->numel);
            float old = t.m.params[i], h = 1e-2f;
            t.m.params[i] = old + h;
            double lp = loss_at(&t, &s, &b);
            t.m.params[i] = old - h;
            double lm = loss_at(&t, &s, &b);
            t.m.params[i] = old;
            double num = (lp - lm) / (2 * h);
            if (fabs(num - g[i]) > 2e-3 + 2e-2 * fabs(num)) {
                ic_free(g);
                FAIL("%s[%zu]: numeric %.6g analytic %.6g", p->name, i - p->offset, num,
                     (double)g[i]);
            }
            checked++;
        }
    }
    ASSERT(checked > 50);
    ic_free(g);
    ic_bert_state_free(&s);
    ic_bert_free(&t.m);
}

TEST(bert_backward_fd_with_dropout)
{
    backward_fd_with_dropout(IC_ARCH_BERT);
}

/* The other architectures' dropout sites (RoBERTa/ELECTRA head input,
 * DistilBERT's missing attention-output dropout, ReLU head) and ELECTRA's
 * projection, which the golden fixtures (evaluation mode) do not reach. */
TEST(bert_backward_fd_with_dropout_other_archs)
{
    backward_fd_with_dropout(IC_ARCH_ROBERTA);
    backward_fd_with_dropout(IC_ARCH_ELECTRA);
    backward_fd_with_dropout(IC_ARCH_DISTILBERT);
}

/* Serving: many threads, one shared model, a state each. */
struct thr_arg {
    struct tiny *t;
    float logits[9];
    int rc;
};

static void *thr_main(void *p)
{
    struct thr_arg *a = p;
    struct ic_bert_state s;
    a->rc = ic_bert_state_init(&s, &a->t->c, 3, 6, 0, NULL);
    struct ic_batch b = tiny_batch(a->t, 6);
    for (int i = 0; a->rc == 0 && i < 50; i++)
        a->rc = ic_bert_forward(&a->t->m, &s, &b, NULL);
    if (a->rc == 0)
        memcpy(a->logits, s.logits, sizeof a->logits);
    ic_bert_state_free(&s);
    return NULL;
}

TEST(bert_forward_threads_share_model)
{
    struct tiny t;
    tiny_init(&t, 6, 0.1f);
    struct thr_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i].t = &t;
        ASSERT_EQ(pthread_create(&th[i], NULL, thr_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        ASSERT_OK(args[i].rc);
        for (int j = 0; j < 9; j++)
            ASSERT_NEAR(args[i].logits[j], args[0].logits[j], 1e-6);
    }
    ic_bert_free(&t.m);
}

/* With several threads a large batch is split into one slice per thread
 * (shards); the result must be the one-thread result, dropout included. */
TEST(bert_sharded_batch_matches_single_thread)
{
    struct ic_bert_config c;
    tiny_config(&c);
    c.max_position = 40;
    struct ic_bert m;
    struct ic_err err;
    ASSERT_OK_ERR(ic_bert_init(&m, &c, &err), err);
    struct ic_rng rng;
    ic_rng_seed(&rng, 21);
    ic_bert_init_weights(&m, &rng);
    for (size_t i = 0; i < m.num_params; i++)
        m.params[i] += 0.05f * ic_rng_normal(&rng);
    enum { B = 7, T = 40 }; /* 280 tokens: sharded with 2+ threads */
    static int32_t ids[B * T], tt[B * T], mask[B * T], labels[B];
    for (int b = 0; b < B; b++) {
        int len = 5 + 5 * b;
        for (int t = 0; t < T; t++) {
            ids[b * T + t] = t < len ? 1 + (int32_t)ic_rng_below(&rng, 49) : 0;
            tt[b * T + t] = t < len && t > len / 2;
            mask[b * T + t] = t < len;
        }
        labels[b] = b % 3;
    }
    struct ic_batch batch = {B, T, ids, tt, mask, labels, NULL};
    int saved = ic_get_threads();
    struct ic_bert_state s1, s3;
    ic_set_threads(1);
    ASSERT_OK_ERR(ic_bert_state_init(&s1, &c, B, T, 1, &err), err);
    ic_set_threads(3);
    ASSERT_OK_ERR(ic_bert_state_init(&s3, &c, B, T, 1, &err), err);
    int ok = 1;
    char msg[256] = "";
    for (int drop = 0; drop < 2 && ok; drop++) {
        struct ic_rng r1, r3;
        ic_rng_seed(&r1, 77);
        ic_rng_seed(&r3, 77);
        c.hidden_dropout = 0.1f; /* m.cfg keeps it; the rng decides */
        ic_set_threads(1);
        ic_bert_zero_grad(&s1);
        ok = ic_bert_forward(&m, &s1, &batch, drop ? &r1 : NULL) == IC_OK &&
             ic_bert_backward(&m, &s1, &batch) == IC_OK;
        ic_set_threads(3);
        ic_bert_zero_grad(&s3);
        ok = ok && ic_bert_forward(&m, &s3, &batch, drop ? &r3 : NULL) == IC_OK &&
             ic_bert_backward(&m, &s3, &batch) == IC_OK;
        if (!ok) {
            snprintf(msg, sizeof msg, "forward/backward failed");
            break;
        }
        ok = close_enough("logits", s3.logits, s1.logits, B * 3, 1e-5, msg, sizeof msg) &&
             close_enough("loss", &s3.loss, &s1.loss, 1, 1e-5, msg, sizeof msg);
        for (size_t k = 0; ok && k < m.n_table; k++) {
            const struct ic_param *p = &m.table[k];
            ok = close_enough(p->name, s3.grads + p->offset, s1.grads + p->offset, p->numel, 1e-4,
                              msg, sizeof msg);
        }
    }
    ic_set_threads(saved);
    ic_bert_state_free(&s1);
    ic_bert_state_free(&s3);
    ic_bert_free(&m);
    if (!ok)
        FAIL("%s", msg);
}

TEST(bert_zero_grad_and_grad_norm_track_touched_rows)
{
    struct tiny t;
    tiny_init(&t, 6, 0.0f);
    struct ic_batch b = tiny_batch(&t, 6);
    struct ic_bert_state s;
    struct ic_err err;
    ASSERT_OK_ERR(ic_bert_state_init(&s, &t.c, 3, 6, 1, &err), err);
    for (int round = 0; round < 3; round++) {
        ic_bert_zero_grad(&s);
        for (size_t i = 0; i < t.m.num_params; i++)
            if (s.grads[i] != 0.0f)
                FAIL("round %d: grads[%zu] = %g after zero_grad", round, i, (double)s.grads[i]);
        t.ids[1] = 1 + round; /* different rows each round */
        ASSERT_OK(ic_bert_forward(&t.m, &s, &b, NULL));
        ASSERT_OK(ic_bert_backward(&t.m, &s, &b));
        float full = ic_grad_norm(s.grads, t.m.num_params), fast = ic_bert_grad_norm(&s);
        ASSERT(full > 0);
        ASSERT_NEAR(fast, full, 1e-6 * full);
    }
    ic_bert_state_free(&s);
    ic_bert_free(&t.m);
}
