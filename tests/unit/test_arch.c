/* SPDX-License-Identifier: Apache-2.0 */
/* test_arch.c - the architecture table seen from outside: each family's
 * checkpoint names (prefixed, base-model without prefix, headless, legacy
 * LayerNorm.gamma/beta, pretraining heads ignored, another architecture's
 * weights refused), safetensors and pytorch_model.bin alike, and each
 * family's config.json keys, class names and refusals. Fixtures:
 * tests/golden/model/{roberta,electra,distilbert} (tools/gen_golden.py). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "intent/bert.h"
#include "intent/ckpt.h"
#include "intent/model.h"
#include "test.h"

static const char *const k_families[] = {"roberta", "electra", "distilbert"};

static void fixture(char *out, size_t cap, const char *family, const char *file)
{
    snprintf(out, cap, "%s/model/%s/%s", test_golden_dir(), family, file);
}

/* ts with every name passed through rename (NULL return drops the tensor). */
typedef const char *(*rename_fn)(const char *name, char *buf, size_t cap);
static void renamed(const struct ic_tensors *ts, rename_fn fn, struct ic_tensors *out)
{
    ic_tensors_init(out);
    char buf[256];
    for (size_t i = 0; i < ts->n; i++) {
        const struct ic_tensor *t = &ts->v[i];
        const char *n = fn(t->name, buf, sizeof buf);
        if (n)
            ic_tensors_add(out, n, t->dtype, t->ndim, t->shape, t->data, 1);
    }
}

/* base-model checkpoint: prefix removed, head dropped */
static const char *headless(const char *name, char *buf, size_t cap)
{
    const char *dot = strchr(name, '.');
    if (strncmp(name, "classifier.", 11) == 0 || strncmp(name, "pre_classifier.", 15) == 0)
        return NULL;
    snprintf(buf, cap, "%s", dot ? dot + 1 : name);
    return buf;
}

/* old names: LayerNorm.weight/bias -> gamma/beta, plus pretraining heads */
static const char *legacy(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", name);
    char *p = strstr(buf, "LayerNorm.weight");
    if (p)
        snprintf(p, cap - (size_t)(p - buf), "LayerNorm.gamma");
    p = strstr(buf, "LayerNorm.bias");
    if (p)
        snprintf(p, cap - (size_t)(p - buf), "LayerNorm.beta");
    return buf;
}

static const char *as_bert(const char *name, char *buf, size_t cap)
{
    const char *dot = strchr(name, '.');
    if (strncmp(name, "electra.", 8) != 0 || !dot)
        return name;
    snprintf(buf, cap, "bert.%s", dot + 1);
    return buf;
}

static int same_body(const struct ic_bert *a, const struct ic_bert *b, int with_head)
{
    for (size_t i = 0; i < a->n_table; i++) {
        const struct ic_param *p = &a->table[i];
        if (p->is_head && !with_head)
            continue;
        if (memcmp(a->params + p->offset, b->params + p->offset, p->numel * sizeof(float)) != 0)
            return 0;
    }
    return 1;
}

static void load_into(struct ic_bert *m, const struct ic_bert_config *c, const struct ic_tensors *ts,
                      int *hm, int *hx, int expect_rc, struct ic_err *err)
{
    IC_ASSERT(ic_bert_init(m, c, err) == IC_OK);
    memset(m->params, 0, m->num_params * sizeof(float));
    int rc = ic_bert_load_tensors(m, ts, "ckpt", hm, hx, err);
    IC_ASSERT(rc == expect_rc);
}

TEST(arch_checkpoint_names_each_family)
{
    for (size_t f = 0; f < sizeof k_families / sizeof *k_families; f++) {
        char path[512];
        struct ic_hfconfig hc;
        struct ic_err err;
        fixture(path, sizeof path, k_families[f], "config.json");
        ASSERT_OK_ERR(ic_hfconfig_load(path, &hc, &err), err);
        struct ic_tensors st, pt, v;
        ic_tensors_init(&st);
        ic_tensors_init(&pt);
        fixture(path, sizeof path, k_families[f], "model.safetensors");
        ASSERT_OK_ERR(ic_safetensors_load(path, &st, NULL, NULL, &err), err);
        fixture(path, sizeof path, k_families[f], "pytorch_model.bin");
        ASSERT_OK_ERR(ic_torch_load(path, &pt, &err), err);
        struct ic_bert a, b;
        int hm, hx;
        load_into(&a, &hc.cfg, &st, &hm, &hx, IC_OK, &err);
        ASSERT(!hm && !hx);
        /* pytorch_model.bin: the same weights */
        load_into(&b, &hc.cfg, &pt, &hm, &hx, IC_OK, &err);
        ASSERT(!hm && !hx && same_body(&a, &b, 1));
        ic_bert_free(&b);
        /* base-model checkpoint without prefix or head: body loads, head missing */
        renamed(&st, headless, &v);
        load_into(&b, &hc.cfg, &v, &hm, &hx, IC_OK, &err);
        ASSERT(hm && !hx && same_body(&a, &b, 0));
        ic_bert_free(&b);
        ic_tensors_free(&v);
        /* legacy names and extra pretraining tensors */
        renamed(&st, legacy, &v);
        int64_t shape[2] = {2, 2};
        float junk[4] = {1, 2, 3, 4};
        ic_tensors_add(&v, "lm_head.dense.weight", IC_DTYPE_F32, 2, shape, junk, 0);
        ic_tensors_add(&v, "generator_predictions.dense.weight", IC_DTYPE_F32, 2, shape, junk, 0);
        ic_tensors_add(&v, "discriminator_predictions.dense.weight", IC_DTYPE_F32, 2, shape, junk,
                       0);
        load_into(&b, &hc.cfg, &v, &hm, &hx, IC_OK, &err);
        ASSERT(!hm && !hx && same_body(&a, &b, 1));
        ic_bert_free(&b);
        ic_tensors_free(&v);
        ic_bert_free(&a);
        ic_tensors_free(&st);
        ic_tensors_free(&pt);
        ic_hfconfig_free(&hc);
    }
}

TEST(arch_checkpoint_of_another_architecture_refused)
{
    char path[512];
    struct ic_hfconfig hc;
    struct ic_err err;
    struct ic_tensors st, v;
    ic_tensors_init(&st);
    fixture(path, sizeof path, "electra", "config.json");
    ASSERT_OK_ERR(ic_hfconfig_load(path, &hc, &err), err);
    fixture(path, sizeof path, "electra", "model.safetensors");
    ASSERT_OK_ERR(ic_safetensors_load(path, &st, NULL, NULL, &err), err);
    renamed(&st, as_bert, &v);
    struct ic_bert m;
    int hm, hx;
    load_into(&m, &hc.cfg, &v, &hm, &hx, IC_ERR_FORMAT, &err);
    ASSERT(strstr(err.msg, "ckpt: tensor bert.") && strstr(err.msg, "\"model_type\" says electra"));
    ic_bert_free(&m);
    ic_tensors_free(&v);
    ic_tensors_free(&st);
    ic_hfconfig_free(&hc);
}

/* fixture tensors of one family (optionally headless) into a model of another's config */
static int load_cross(const char *ckpt_family, int headless_names, const char *cfg_family,
                      const struct ic_tensor *extra, struct ic_err *err)
{
    char path[512];
    struct ic_hfconfig hc;
    struct ic_tensors st, v;
    ic_tensors_init(&st);
    fixture(path, sizeof path, cfg_family, "config.json");
    IC_ASSERT(ic_hfconfig_load(path, &hc, err) == IC_OK);
    fixture(path, sizeof path, ckpt_family, "model.safetensors");
    IC_ASSERT(ic_safetensors_load(path, &st, NULL, NULL, err) == IC_OK);
    if (headless_names)
        renamed(&st, headless, &v);
    else
        renamed(&st, legacy, &v);
    if (extra)
        ic_tensors_add(&v, extra->name, extra->dtype, extra->ndim, extra->shape, extra->data, 0);
    struct ic_bert m;
    int hm, hx;
    IC_ASSERT(ic_bert_init(&m, &hc.cfg, err) == IC_OK);
    int rc = ic_bert_load_tensors(&m, &v, "ckpt", &hm, &hx, err);
    ic_bert_free(&m);
    ic_tensors_free(&v);
    ic_tensors_free(&st);
    ic_hfconfig_free(&hc);
    return rc;
}

/* Base-model checkpoints carry no prefix: their layer and embedding names
 * still tell the family, and are refused before any shape check. */
TEST(arch_headless_checkpoint_of_another_architecture_refused)
{
    struct ic_err err = {0};
    ASSERT_EQ(load_cross("distilbert", 1, "roberta", NULL, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "ckpt: tensor ");
    ASSERT_CONTAINS(err.msg, "named as in a distilbert checkpoint");
    ASSERT_CONTAINS(err.msg, "config.json field \"model_type\" says roberta");
    ASSERT_EQ(load_cross("roberta", 1, "distilbert", NULL, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "embeddings.token_type_embeddings.weight is named as in a "
                             "bert/roberta/electra checkpoint");
    ASSERT_CONTAINS(err.msg, "says distilbert");
    /* a RobertaModel pooler (xlm-roberta-base has one) is ignored, not refused */
    float pool[16 * 16] = {0};
    char pname[] = "roberta.pooler.dense.weight";
    struct ic_tensor p = {.name = pname, .dtype = IC_DTYPE_F32,
                          .ndim = 2, .shape = {16, 16}, .data = pool};
    ASSERT_OK_ERR(load_cross("roberta", 0, "roberta", &p, &err), err);
}

/* ---------------------------------------------------------------------------
 * config.json per family */

static int parse(const char *text, struct ic_hfconfig *c, struct ic_err *err)
{
    return ic_hfconfig_parse(text, strlen(text), "d/config.json", c, err);
}

TEST(arch_hfconfig_distilbert_keys)
{
    struct ic_hfconfig c;
    struct ic_err err;
    const char *j = "{\"model_type\": \"distilbert\", \"dim\": 48, \"n_layers\": 3, \"n_heads\": 4,"
                    " \"hidden_dim\": 96, \"vocab_size\": 77, \"dropout\": 0.15,"
                    " \"attention_dropout\": 0.05, \"seq_classif_dropout\": 0.25,"
                    " \"activation\": \"relu\", \"sinusoidal_pos_embds\": false}";
    ASSERT_OK_ERR(parse(j, &c, &err), err);
    const struct ic_bert_config *b = &c.cfg;
    ASSERT(b->arch == IC_ARCH_DISTILBERT && b->hidden_size == 48 && b->num_layers == 3 &&
           b->num_heads == 4 && b->intermediate_size == 96 && b->vocab_size == 77 &&
           b->act == IC_ACT_RELU);
    ASSERT_NEAR(b->hidden_dropout, 0.15, 1e-7);
    ASSERT_NEAR(b->attention_dropout, 0.05, 1e-7);
    ASSERT_NEAR(b->classifier_dropout, 0.25, 1e-7);
    char *out;
    ASSERT_OK_ERR(ic_hfconfig_to_json(&c, &out, &err), err);
    ASSERT(strstr(out, "\"dim\": 48") && strstr(out, "\"n_layers\": 3") &&
           strstr(out, "\"seq_classif_dropout\": 0.25") && !strstr(out, "hidden_size") &&
           strstr(out, "\"DistilBertForSequenceClassification\""));
    struct ic_hfconfig back;
    ASSERT_OK_ERR(parse(out, &back, &err), err);
    ASSERT(memcmp(&back.cfg, &c.cfg, sizeof c.cfg) == 0);
    ic_hfconfig_free(&back);
    ic_free(out);
    ic_hfconfig_free(&c);
    ASSERT_EQ(parse("{\"model_type\": \"distilbert\", \"sinusoidal_pos_embds\": true}", &c, &err),
              IC_ERR_UNSUPPORTED);
    ASSERT(strstr(err.msg, "d/config.json") && strstr(err.msg, "\"sinusoidal_pos_embds\""));
}

TEST(arch_hfconfig_roberta_variants_and_electra)
{
    static const char *const cases[][3] = {
        {"xlm-roberta", "XLMRobertaForSequenceClassification", "\"model_type\": \"xlm-roberta\""},
        {"camembert", "CamembertForSequenceClassification", "\"model_type\": \"camembert\""},
        {"roberta", "RobertaForSequenceClassification", "\"model_type\": \"roberta\""},
    };
    struct ic_hfconfig c;
    struct ic_err err;
    char j[256], *out;
    for (size_t i = 0; i < 3; i++) {
        snprintf(j, sizeof j, "{\"model_type\": \"%s\", \"vocab_size\": 60}", cases[i][0]);
        ASSERT_OK_ERR(parse(j, &c, &err), err);
        ASSERT(c.cfg.arch == IC_ARCH_ROBERTA && c.cfg.pad_token_id == 1);
        ASSERT_OK_ERR(ic_hfconfig_to_json(&c, &out, &err), err);
        ASSERT(strstr(out, cases[i][1]) && strstr(out, cases[i][2]));
        ic_free(out);
        ic_hfconfig_free(&c);
    }
    /* ELECTRA: embedding_size; no model_type but an ELECTRA class */
    ASSERT_OK_ERR(parse("{\"architectures\": [\"ElectraForPreTraining\"], \"hidden_size\": 32,"
                        " \"num_attention_heads\": 2, \"embedding_size\": 16}", &c, &err), err);
    ASSERT(c.cfg.arch == IC_ARCH_ELECTRA && c.cfg.embedding_size == 16);
    ASSERT_OK_ERR(ic_hfconfig_to_json(&c, &out, &err), err);
    ASSERT(strstr(out, "\"embedding_size\": 16") && strstr(out, "\"model_type\": \"electra\""));
    ic_free(out);
    ic_hfconfig_free(&c);
}

TEST(arch_hfconfig_refusals_name_the_field)
{
    static const char *const cases[][3] = {
        {"{\"model_type\": \"deberta-v2\"}", "\"model_type\"",
         "bert, roberta, xlm-roberta, camembert, distilbert, electra"},
        {"{\"model_type\": \"mpnet\"}", "\"model_type\" is \"mpnet\"", "supported model types"},
        {"{\"model_type\": \"bert\", \"architectures\": [\"RobertaForSequenceClassification\"]}",
         "\"architectures\" names RobertaForSequenceClassification", "\"model_type\""},
        {"{\"architectures\": [\"XLMRobertaXLForSequenceClassification\"]}",
         "\"architectures\"", "supported model types"},
        {"{\"model_type\": \"distilbert\", \"activation\": \"swish\"}", "\"activation\"",
         "not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ic_hfconfig c;
        struct ic_err err;
        err.msg[0] = 0;
        int rc = parse(cases[i][0], &c, &err);
        if (rc == IC_OK || !strstr(err.msg, cases[i][1]) || !strstr(err.msg, cases[i][2]) ||
            !strstr(err.msg, "config.json"))
            FAIL("case %zu: rc %d, message \"%s\"", i, rc, err.msg);
    }
}

/* --- a head for another label count: transformers' ignore_mismatched_sizes */


static int copy_file(const char *from, const char *to, struct ic_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = ic_read_file(from, (size_t)1 << 26, &buf, &len, err);
    if (rc == IC_OK)
        rc = ic_write_file_atomic(to, buf, len, err);
    ic_free(buf);
    return rc;
}

/* A 40-token tokenizer matching the fixture's vocab_size and pad id:
 * RoBERTa vocab.json + merges.txt (pad 1), the others vocab.txt (pad 0). */
static int write_tokenizer(const char *dir, const char *family, struct ic_err *err)
{
    static const char *const bpe_sp[] = {"<s>", "<pad>", "</s>", "<unk>"};
    static const char *const wp_sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    int bpe = strcmp(family, "roberta") == 0, n_sp = bpe ? 4 : 5;
    char text[1024], path[600];
    size_t n = (size_t)snprintf(text, sizeof text, "%s", bpe ? "{" : "");
    for (int i = 0; i < 40; i++) {
        char tok[8];
        snprintf(tok, sizeof tok, "t%d", i);
        const char *t = i < n_sp ? (bpe ? bpe_sp[i] : wp_sp[i]) : tok;
        if (bpe)
            n += (size_t)snprintf(text + n, sizeof text - n, "%s\"%s\": %d", i ? ", " : "", t, i);
        else
            n += (size_t)snprintf(text + n, sizeof text - n, "%s\n", t);
    }
    n += (size_t)snprintf(text + n, sizeof text - n, "%s", bpe ? "}\n" : "");
    snprintf(path, sizeof path, "%s/%s", dir, bpe ? "vocab.json" : "vocab.txt");
    int rc = ic_write_file_atomic(path, text, n, err);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    if (rc == IC_OK && bpe)
        rc = ic_write_file_atomic(path, "#version: 0.2\n", 14, err);
    return rc;
}

/* tmp/<family>_head: the fixture's config.json and weights (3 labels) plus a tokenizer. */
static int head_fixture_dir(char *dir, size_t cap, const char *family, struct ic_err *err)
{
    static const char *const files[] = {"config.json", "model.safetensors"};
    char from[512], to[700];
    snprintf(dir, cap, "%s/%s_head", test_tmpdir(), family);
    int rc = ic_mkdirs(dir, err);
    for (size_t i = 0; rc == IC_OK && i < 2; i++) {
        fixture(from, sizeof from, family, files[i]);
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        rc = copy_file(from, to, err);
    }
    return rc ? rc : write_tokenizer(dir, family, err);
}

/* Compares m's head with the checkpoint: returns the number of head tensors
 * equal to the checkpoint's (dense ones), and checks per-label ones are new. */
static int head_dense_kept(const struct ic_model *m, const struct ic_tensors *ck, int *fresh_ok)
{
    int kept = 0;
    *fresh_ok = 1;
    for (size_t i = 0; i < m->bert.n_table; i++) {
        const struct ic_param *p = &m->bert.table[i];
        const float *v = m->bert.params + p->offset;
        if (!p->is_head)
            continue;
        const struct ic_tensor *t = ic_tensors_find(ck, p->name);
        if (!p->per_label) {
            kept += t && t->nbytes == p->numel * 4 && !memcmp(t->data, v, t->nbytes);
            continue;
        }
        double ss = 0;
        for (size_t j = 0; j < p->numel; j++)
            ss += (double)v[j] * v[j];
        double sd = sqrt(ss / (double)p->numel);
        /* new: 5 rows; weight N(0, 0.02), bias 0 */
        *fresh_ok &= p->shape[0] == 5 && (p->ndim == 1 ? ss == 0 : sd > 0.008 && sd < 0.04);
    }
    return kept;
}

TEST(arch_head_of_another_label_count_keeps_dense)
{
    static const char *const labels[5] = {"a", "b", "c", "d", "e"};
    for (size_t f = 0; f < sizeof k_families / sizeof *k_families; f++) {
        char dir[512], path[600];
        struct ic_err err = {0};
        ASSERT_OK_ERR(head_fixture_dir(dir, sizeof dir, k_families[f], &err), err);
        struct ic_tensors ck;
        ic_tensors_init(&ck);
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        ASSERT_OK_ERR(ic_safetensors_load(path, &ck, NULL, NULL, &err), err);
        struct ic_model m;
        struct ic_rng rng;
        ic_rng_seed(&rng, 5);
        int rc = ic_model_load_pretrained(&m, dir, 5, labels, &rng, &err);
        if (rc) {
            ic_tensors_free(&ck);
            FAIL("%s: %s", k_families[f], err.msg);
        }
        int fresh_ok = 0, kept = head_dense_kept(&m, &ck, &fresh_ok);
        int body = 1;
        for (size_t i = 0; i < m.bert.n_table; i++) {
            const struct ic_param *p = &m.bert.table[i];
            const struct ic_tensor *t = ic_tensors_find(&ck, p->name);
            if (!p->is_head)
                body &= t && !memcmp(t->data, m.bert.params + p->offset, p->numel * 4);
        }
        ic_model_free(&m);
        ic_tensors_free(&ck);
        if (kept != 2 || !fresh_ok || !body)
            FAIL("%s: %d dense tensors kept (want 2), new classifier %s, body %s", k_families[f],
                 kept, fresh_ok ? "ok" : "wrong", body ? "kept" : "changed");
    }
}
