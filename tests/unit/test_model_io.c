/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_model_io.c - config.json parsing/writing, the saved-model bundle
 * (save -> load round trips through the directory and the .pt), pretrained
 * loading of a legacy-named checkpoint without head, head re-initialisation,
 * and the model engineer's golden directory in both weight formats.
 */
#include <jansson.h>
#include <math.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "intent/ckpt.h"
#include "intent/model.h"
#include "test.h"

static int parse_cfg(const char *json, struct ic_hfconfig *c, struct ic_err *err)
{
    return ic_hfconfig_parse(json, strlen(json), "cfg/config.json", c, err);
}

TEST(hfconfig_old_bert_tiny_style)
{
    struct ic_hfconfig c;
    struct ic_err err = {0};
    const char *j = "{\"hidden_size\": 128, \"hidden_act\": \"gelu\", \"initializer_range\": 0.02,"
                    " \"vocab_size\": 30522, \"hidden_dropout_prob\": 0.1, \"num_attention_heads\": 2,"
                    " \"type_vocab_size\": 2, \"max_position_embeddings\": 512,"
                    " \"num_hidden_layers\": 2, \"intermediate_size\": 512,"
                    " \"attention_probs_dropout_prob\": 0.1}";
    ASSERT_OK_ERR(parse_cfg(j, &c, &err), err);
    int ok = c.cfg.hidden_size == 128 && c.cfg.num_layers == 2 && c.cfg.num_heads == 2 &&
             c.cfg.intermediate_size == 512 && c.cfg.num_labels == 2 && !c.model_type &&
             c.cfg.layer_norm_eps == 1e-12f && c.cfg.classifier_dropout < 0 && !c.has_labels &&
             !strcmp(c.id2label[1], "LABEL_1") && c.cfg.act == IC_ACT_GELU;
    ic_hfconfig_free(&c);
    ASSERT(ok);
}

TEST(hfconfig_labels_and_fields)
{
    struct ic_hfconfig c;
    struct ic_err err = {0};
    const char *j = "{\"model_type\": \"bert\", \"architectures\": [\"BertForSequenceClassification\"],"
                    " \"hidden_size\": 8, \"num_attention_heads\": 2, \"num_hidden_layers\": 1,"
                    " \"intermediate_size\": 16, \"vocab_size\": 50, \"max_position_embeddings\": 16,"
                    " \"hidden_act\": \"gelu_new\", \"classifier_dropout\": 0.25,"
                    " \"problem_type\": \"single_label_classification\","
                    " \"id2label\": {\"1\": \"b\", \"0\": \"a\", \"2\": \"c\"},"
                    " \"label2id\": {\"a\": 0, \"b\": 1, \"c\": 2},"
                    " \"intent_base_model\": \"prajjwal1/bert-tiny\", \"intent_from_scratch\": true,"
                    " \"intent_max_length\": 12}";
    ASSERT_OK_ERR(parse_cfg(j, &c, &err), err);
    int ok = c.cfg.num_labels == 3 && !strcmp(c.id2label[0], "a") && !strcmp(c.id2label[2], "c") &&
             c.cfg.act == IC_ACT_GELU_NEW && fabsf(c.cfg.classifier_dropout - 0.25f) < 1e-7f &&
             c.from_scratch == 1 && c.max_length == 12 && c.base_model &&
             !strcmp(c.base_model, "prajjwal1/bert-tiny");
    /* write and read back */
    char *out = NULL;
    int rc = ic_hfconfig_to_json(&c, &out, &err);
    struct ic_hfconfig d;
    int rc2 = rc ? rc : parse_cfg(out, &d, &err);
    int same = !rc2 && d.cfg.num_labels == 3 && !strcmp(d.id2label[1], "b") &&
               d.cfg.hidden_size == 8 && d.cfg.layer_norm_eps == c.cfg.layer_norm_eps &&
               d.cfg.classifier_dropout == c.cfg.classifier_dropout && d.from_scratch &&
               d.max_length == 12 && d.model_type && !strcmp(d.model_type, "bert");
    int text_ok = out && strstr(out, "\"layer_norm_eps\": 1e-12,") &&
                  strstr(out, "\"label2id\": {\n    \"a\": 0,") &&
                  strstr(out, "\"torch_dtype\": \"float32\"") &&
                  strstr(out, "\"problem_type\": \"single_label_classification\"") &&
                  strstr(out, "\"architectures\": [\n    \"BertForSequenceClassification\"");
    if (!rc2)
        ic_hfconfig_free(&d);
    ic_free(out);
    ic_hfconfig_free(&c);
    ASSERT(ok);
    ASSERT_OK_ERR(rc2, err);
    ASSERT(same);
    ASSERT(text_ok);
}

TEST(hfconfig_rejects_nonsense)
{
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {"[1, 2]", "not a JSON object"},
        {"{\"hidden_size\": ", "invalid JSON"},
        {"{\"hidden_size\": 130, \"num_attention_heads\": 4}", "num_attention_heads"},
        {"{\"hidden_size\": -1}", "\"hidden_size\""},
        {"{\"hidden_size\": \"768\"}", "\"hidden_size\" must be an integer"},
        {"{\"hidden_act\": \"swish\"}", "\"hidden_act\""},
        {"{\"model_type\": \"gpt2\"}", "\"model_type\""},
        {"{\"architectures\": [\"GPT2LMHeadModel\"]}", "\"architectures\""},
        {"{\"id2label\": {\"0\": \"a\", \"5\": \"b\"}}", "\"id2label\""},
        {"{\"id2label\": {\"0\": \"a\", \"1\": \"a\"}}", "appears twice"},
        {"{\"num_labels\": 3, \"id2label\": {\"0\": \"a\"}}", "\"num_labels\""},
        {"{\"id2label\": {\"0\": \"a\", \"1\": \"b\"}, \"label2id\": {\"a\": 1}}", "\"label2id\""},
        {"{\"layer_norm_eps\": \"x\"}", "\"layer_norm_eps\""},
        {"{\"position_embedding_type\": \"relative_key\"}", "position_embedding_type"},
        {"{\"problem_type\": \"regression\"}", "problem_type"},
        {"{\"a\": 1, \"a\": 2}", "duplicate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ic_hfconfig c;
        struct ic_err err = {0};
        int rc = parse_cfg(cases[i].json, &c, &err);
        if (rc == IC_OK) {
            ic_hfconfig_free(&c);
            FAIL("case %zu accepted: %s", i, cases[i].json);
        }
        ASSERT_CONTAINS(err.msg, "cfg/config.json");
        ASSERT_CONTAINS(err.msg, cases[i].expect);
    }
}

/* --- bundle ---------------------------------------------------------------- */

static char golden_path[512];
static const char *golden(const char *rel)
{
    snprintf(golden_path, sizeof golden_path, "%s/%s", test_golden_dir(), rel);
    return golden_path;
}

TEST(model_pretrained_legacy_checkpoint)
{
    struct ic_model m;
    struct ic_err err = {0};
    struct ic_rng rng;
    struct ic_tensors ref;
    const char *labels[3] = {"greeting", "goodbye", "get_news"};
    ic_rng_seed(&rng, 7);
    ic_tensors_init(&ref);
    ASSERT_OK_ERR(ic_model_load_pretrained(&m, golden("io/legacy_bert"), 3, labels, &rng, &err), err);
    int rc = ic_safetensors_load(golden("io/legacy_bert_ref.safetensors"), &ref, NULL, NULL, &err);
    if (rc) {
        ic_model_free(&m);
        FAIL("%s", err.msg);
    }
    /* every bert.* weight equals the modern-named reference */
    int mism = 0, checked = 0;
    char bad[128] = "";
    for (size_t i = 0; i < m.bert.n_table; i++) {
        const struct ic_param *p = &m.bert.table[i];
        if (p->is_head)
            continue;
        const struct ic_tensor *t = ic_tensors_find(&ref, p->name);
        if (!t || t->nbytes != p->numel * 4 ||
            memcmp(t->data, m.bert.params + p->offset, t->nbytes) != 0) {
            mism++;
            snprintf(bad, sizeof bad, "%s", p->name);
        }
        checked++;
    }
    /* new head: N(0, 0.02) weights, zero bias */
    const struct ic_param *hw = ic_bert_find_param(&m.bert, "classifier.weight");
    const struct ic_param *hb = ic_bert_find_param(&m.bert, "classifier.bias");
    double ss = 0;
    int bias_zero = 1;
    for (size_t i = 0; hw && i < hw->numel; i++)
        ss += (double)m.bert.params[hw->offset + i] * m.bert.params[hw->offset + i];
    for (size_t i = 0; hb && i < hb->numel; i++)
        bias_zero &= m.bert.params[hb->offset + i] == 0.0f;
    double sd = hw ? sqrt(ss / (double)hw->numel) : 0;
    int ok = m.bert.cfg.num_labels == 3 && !strcmp(m.labels[2], "get_news") &&
             ic_tokenizer_vocab_size(&m.tok) == 40 && m.max_length == 16 && m.base_model &&
             !m.from_scratch && hw && hw->shape[0] == 3;
    ic_tensors_free(&ref);
    ic_model_free(&m);
    if (mism)
        FAIL("%d of %d tensors differ from the reference (e.g. %s)", mism, checked, bad);
    ASSERT(ok);
    ASSERT(bias_zero);
    ASSERT(sd > 0.01 && sd < 0.04);
}

static int same_params(const struct ic_model *a, const struct ic_model *b)
{
    return a->bert.num_params == b->bert.num_params &&
           memcmp(a->bert.params, b->bert.params, a->bert.num_params * sizeof(float)) == 0;
}

TEST(model_save_load_roundtrip)
{
    struct ic_model m, d, p, only;
    struct ic_err err = {0};
    struct ic_rng rng;
    const char *labels[3] = {"saludo", "despedida", "noticias"};
    ic_rng_seed(&rng, 11);
    ASSERT_OK_ERR(ic_model_load_pretrained(&m, golden("io/legacy_bert"), 3, labels, &rng, &err), err);
    m.max_length = 12;
    m.from_scratch = 1;
    char out[512], pt[600], extra[600], tmpcheck[600];
    snprintf(out, sizeof out, "%s/final_model", test_tmpdir());
    const char *names[1] = {"eval_report.json"};
    const char *contents[1] = {"{\"accuracy\": 1.0}\n"};
    int rc = ic_model_save(&m, out, names, contents, 1, &err);
    if (rc) {
        ic_model_free(&m);
        FAIL("save: %s", err.msg);
    }
    /* save again over it without the extra file: the old one is replaced */
    rc = ic_model_save(&m, out, NULL, NULL, 0, &err);
    snprintf(extra, sizeof extra, "%s/eval_report.json", out);
    int extra_gone = !ic_path_exists(extra);
    snprintf(tmpcheck, sizeof tmpcheck, "%s/final_model.tmp.%ld", test_tmpdir(), (long)getpid());
    int no_tmp = !ic_path_exists(tmpcheck);
    int rcd = rc ? rc : ic_model_load(&d, out, &err);
    snprintf(pt, sizeof pt, "%s/intent_classifier.pt", out);
    int rcp = rcd ? rcd : ic_model_load(&p, pt, &err);
    if (rc || rcd || rcp) {
        if (!rc && !rcd)
            ic_model_free(&d);
        ic_model_free(&m);
        FAIL("save/load: %s", err.msg);
    }
    int ok_d = same_params(&m, &d) && d.bert.cfg.num_labels == 3 && !strcmp(d.labels[1], "despedida") &&
               d.max_length == 12 && d.from_scratch == 1 && d.base_model &&
               !strcmp(d.base_model, m.base_model) &&
               ic_tokenizer_vocab_size(&d.tok) == ic_tokenizer_vocab_size(&m.tok) &&
               d.bert.cfg.layer_norm_eps == m.bert.cfg.layer_norm_eps;
    int ok_p = same_params(&m, &p) && p.bert.cfg.num_labels == 3 && !strcmp(p.labels[2], "noticias") &&
               p.max_length == 12 && p.from_scratch == 1 &&
               p.bert.cfg.layer_norm_eps == m.bert.cfg.layer_norm_eps &&
               p.bert.cfg.hidden_dropout == m.bert.cfg.hidden_dropout &&
               ic_tokenizer_vocab_size(&p.tok) == ic_tokenizer_vocab_size(&m.tok) &&
               p.tok.opts.lowercase == m.tok.opts.lowercase;
    /* a directory holding only the .pt */
    char solo[512], solo_pt[600];
    snprintf(solo, sizeof solo, "%s/solo", test_tmpdir());
    snprintf(solo_pt, sizeof solo_pt, "%s/intent_classifier.pt", solo);
    int rco = ic_mkdirs(solo, &err);
    if (!rco)
        rco = ic_model_save_pt(&m, solo_pt, &err);
    if (!rco)
        rco = ic_model_load(&only, solo, &err);
    int ok_o = !rco && same_params(&m, &only);
    if (!rco)
        ic_model_free(&only);
    ic_model_free(&m);
    ic_model_free(&d);
    ic_model_free(&p);
    ASSERT(ok_d);
    ASSERT(ok_p);
    ASSERT_OK_ERR(rco, err);
    ASSERT(ok_o);
    ASSERT(extra_gone);
    ASSERT(no_tmp);
}

TEST(model_pretrained_head_reuse_and_mismatch)
{
    struct ic_model m, same, other;
    struct ic_err err = {0};
    struct ic_rng rng;
    const char *labels[3] = {"a", "b", "c"};
    ic_rng_seed(&rng, 3);
    ASSERT_OK_ERR(ic_model_load_pretrained(&m, golden("io/legacy_bert"), 3, labels, &rng, &err), err);
    char out[512];
    snprintf(out, sizeof out, "%s/base", test_tmpdir());
    int rc = ic_model_save(&m, out, NULL, NULL, 0, &err);
    int rc1 = rc ? rc : ic_model_load_pretrained(&same, out, 3, labels, &rng, &err);
    const char *labels4[4] = {"a", "b", "c", "d"};
    int rc2 = rc1 ? rc1 : ic_model_load_pretrained(&other, out, 4, labels4, &rng, &err);
    if (rc2) {
        if (!rc && !rc1)
            ic_model_free(&same);
        ic_model_free(&m);
        FAIL("%s", err.msg);
    }
    const struct ic_param *hw = ic_bert_find_param(&m.bert, "classifier.weight");
    const struct ic_param *hw4 = ic_bert_find_param(&other.bert, "classifier.weight");
    const struct ic_param *emb = ic_bert_find_param(&m.bert, "bert.embeddings.word_embeddings.weight");
    int head_kept = !memcmp(m.bert.params + hw->offset, same.bert.params + hw->offset, hw->numel * 4);
    int new_head = hw4->shape[0] == 4 && other.bert.cfg.num_labels == 4 &&
                   memcmp(m.bert.params + hw->offset, other.bert.params + hw4->offset, 16) != 0;
    int body_kept = !memcmp(m.bert.params + emb->offset, other.bert.params + emb->offset, emb->numel * 4);
    ic_model_free(&m);
    ic_model_free(&same);
    ic_model_free(&other);
    ASSERT(head_kept);
    ASSERT(new_head);
    ASSERT(body_kept);
}

TEST(model_load_errors_name_the_path)
{
    struct ic_model m;
    struct ic_err err = {0};
    char p[512];
    snprintf(p, sizeof p, "%s/nothing_here", test_tmpdir());
    ASSERT_EQ(ic_model_load(&m, p, &err), IC_ERR_NOTFOUND);
    ASSERT_CONTAINS(err.msg, "nothing_here");
    /* a torch file that is not ours */
    int rc = ic_model_load(&m, golden("io/flat.bin"), &err);
    ASSERT_EQ(rc, IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "flat.bin");
    ASSERT_CONTAINS(err.msg, "intent_classifier");
    /* an empty directory */
    ASSERT_OK(ic_mkdirs(p, &err));
    ASSERT_EQ(ic_model_load(&m, p, &err), IC_ERR_NOTFOUND);
}

/* The model engineer's golden directory (tests/golden/model): both weight
 * files load to identical weights. */
TEST(model_golden_both_formats_identical)
{
    struct ic_tensors a, b;
    struct ic_err err = {0};
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/model/model.safetensors", test_golden_dir());
    snprintf(p2, sizeof p2, "%s/model/pytorch_model.bin", test_golden_dir());
    if (!ic_path_exists(p1) || !ic_path_exists(p2))
        SKIP("tests/golden/model has no model.safetensors + pytorch_model.bin yet");
    ic_tensors_init(&a);
    ic_tensors_init(&b);
    ASSERT_OK_ERR(ic_safetensors_load(p1, &a, NULL, NULL, &err), err);
    int rc = ic_torch_load(p2, &b, &err);
    if (rc) {
        ic_tensors_free(&a);
        FAIL("%s", err.msg);
    }
    int diff = 0;
    size_t n = 0;
    for (size_t i = 0; i < a.n; i++) {
        const struct ic_tensor *x = &a.v[i], *y = ic_tensors_find(&b, x->name);
        if (!y || x->nbytes != y->nbytes || memcmp(x->data, y->data, x->nbytes))
            diff++;
        n++;
    }
    ic_tensors_free(&a);
    ic_tensors_free(&b);
    ASSERT(n > 0);
    ASSERT_EQ(diff, 0);
}

/* The golden model into struct ic_bert from both files (identical weights),
 * then written back by our writers (safetensors and torch) and read again:
 * bit-identical parameters. */
TEST(model_golden_bert_roundtrip)
{
    char cfgp[512], stp[512], binp[512], o1[600], o2[600];
    struct ic_hfconfig hc;
    struct ic_err err = {0};
    snprintf(cfgp, sizeof cfgp, "%s/model/config.json", test_golden_dir());
    snprintf(stp, sizeof stp, "%s/model/model.safetensors", test_golden_dir());
    snprintf(binp, sizeof binp, "%s/model/pytorch_model.bin", test_golden_dir());
    if (!ic_path_exists(cfgp) || !ic_path_exists(stp) || !ic_path_exists(binp))
        SKIP("tests/golden/model is not there yet");
    ASSERT_OK_ERR(ic_hfconfig_load(cfgp, &hc, &err), err);
    struct ic_bert b[4];
    const char *src[4] = {stp, binp, o1, o2};
    snprintf(o1, sizeof o1, "%s/rt.safetensors", test_tmpdir());
    snprintf(o2, sizeof o2, "%s/rt.bin", test_tmpdir());
    memset(b, 0, sizeof b);
    int rc = IC_OK;
    for (int i = 0; i < 4 && rc == IC_OK; i++) {
        struct ic_tensors ts;
        int hm, hx;
        ic_tensors_init(&ts);
        rc = ic_bert_init(&b[i], &hc.cfg, &err);
        if (rc == IC_OK)
            rc = i == 0 || i == 2 ? ic_safetensors_load(src[i], &ts, NULL, NULL, &err)
                                  : ic_torch_load(src[i], &ts, &err);
        if (rc == IC_OK)
            rc = ic_bert_load_tensors(&b[i], &ts, src[i], &hm, &hx, &err);
        if (rc == IC_OK && (hm || hx))
            rc = ic_errf(&err, IC_ERR_FORMAT, "%s: head missing", src[i]);
        ic_tensors_free(&ts);
        if (rc == IC_OK && i == 0) { /* write both copies from the first */
            ic_bert_export_tensors(&b[0], b[0].params, &ts);
            rc = ic_safetensors_save(o1, &ts, NULL, 0, &err);
            if (rc == IC_OK)
                rc = ic_torch_save_tensors(o2, &ts, &err);
            ic_tensors_free(&ts);
        }
    }
    int same = rc == IC_OK;
    for (int i = 1; i < 4 && same; i++)
        same = !memcmp(b[0].params, b[i].params, b[0].num_params * sizeof(float));
    for (int i = 0; i < 4; i++)
        ic_bert_free(&b[i]);
    ic_hfconfig_free(&hc);
    ASSERT_OK_ERR(rc, err);
    ASSERT(same);
}

/* intent_classifier.pt files with one part missing or wrong: each load
 * fails with a message naming the file and the part (and nothing leaks). */
TEST(model_pt_broken_parts)
{
    struct ic_model m;
    struct ic_err err = {0};
    struct ic_rng rng;
    char pt[512];
    ic_rng_seed(&rng, 5);
    ASSERT_OK_ERR(ic_model_load_pretrained(&m, golden("io/legacy_bert"), 2, NULL, &rng, &err), err);
    snprintf(pt, sizeof pt, "%s/good.pt", test_tmpdir());
    int rc = ic_model_save_pt(&m, pt, &err);
    ic_model_free(&m);
    ASSERT_OK_ERR(rc, err);
    static const struct {
        const char *key, *sub, *rename; /* rename root[key] (or root[key][sub]) to this */
        const char *expect;
    } cases[] = {
        {"config", NULL, "xconfig", "\"config\""},
        {"state_dict", NULL, "xstate", "\"state_dict\""},
        {"tokenizer", NULL, "xtok", "vocab"},
        {"format", NULL, "xformat", "not an intent_classifier.pt"},
        {"config", "hidden_size", "hidden_size2", "the config needs [40, 768]"}, /* default 768 vs 8 */
        {"state_dict", "bert.pooler.dense.weight", "other", NULL},   /* pooler: re-initialised */
        {"state_dict", "classifier.weight", "other", "classifier head"},
        {"state_dict", "bert.encoder.layer.1.output.dense.bias", "x", "missing tensor"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ic_py_arena a;
        struct ic_py *root = NULL;
        ic_py_arena_init(&a);
        ASSERT_OK_ERR(ic_torch_load_obj(pt, &a, &root, &err), err);
        struct ic_py *d = cases[i].sub ? ic_py_get(root, cases[i].key) : root;
        const char *k = cases[i].sub ? cases[i].sub : cases[i].key;
        int found = 0;
        for (size_t j = 0; d && j < d->n / 2; j++) {
            struct ic_py *kk = d->items[2 * j];
            if (kk->type == IC_PY_STR && !strcmp(kk->s, k)) {
                ic_free(kk->s);
                kk->s = ic_xstrdup(cases[i].rename);
                kk->slen = strlen(kk->s);
                found = 1;
            }
        }
        char bad[600];
        snprintf(bad, sizeof bad, "%s/bad%zu.pt", test_tmpdir(), i);
        int rc1 = found ? ic_torch_save(bad, root, &err) : -1;
        ic_py_arena_free(&a);
        if (rc1 != IC_OK)
            FAIL("case %zu: could not build the file (%s)", i, found ? err.msg : "key not found");
        int rc2 = ic_model_load(&m, bad, &err);
        if (cases[i].expect == NULL) {
            if (rc2 == IC_OK)
                ic_model_free(&m);
            ASSERT_OK_ERR(rc2, err);
            continue;
        }
        if (rc2 == IC_OK) {
            ic_model_free(&m);
            FAIL("case %zu: loaded", i);
        }
        ASSERT_CONTAINS(err.msg, bad);
        ASSERT_CONTAINS(err.msg, cases[i].expect);
    }
}

/* Does the Python object o hold exactly the JSON value j, JSON types kept
 * (real <-> float with the same double, integer <-> int, true/false <->
 * bool, null <-> None, object <-> dict with string keys in the same order,
 * array <-> list)? why gets the path of the first difference. */
static int py_equals_json(const struct ic_py *o, json_t *j, const char *path, char *why, size_t n)
{
    int ok = 0;
    switch (json_typeof(j)) {
    case JSON_REAL:
        ok = o->type == IC_PY_FLOAT && o->f == json_real_value(j);
        break;
    case JSON_INTEGER:
        ok = o->type == IC_PY_INT && o->i == json_integer_value(j);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        ok = o->type == IC_PY_BOOL && o->i == json_is_true(j);
        break;
    case JSON_NULL:
        ok = o->type == IC_PY_NONE;
        break;
    case JSON_STRING:
        ok = o->type == IC_PY_STR && !strcmp(o->s, json_string_value(j));
        break;
    case JSON_ARRAY:
        ok = o->type == IC_PY_LIST && o->n == json_array_size(j);
        for (size_t i = 0; ok && i < o->n; i++)
            ok = py_equals_json(o->items[i], json_array_get(j, i), path, why, n);
        return ok || (why[0] ? 0 : (snprintf(why, n, "%s", path), 0));
    case JSON_OBJECT: {
        ok = o->type == IC_PY_DICT && !o->ordered && o->n / 2 == json_object_size(j);
        size_t k = 0;
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
            if (!ok)
                break;
            const struct ic_py *kk = o->items[2 * k++];
            char sub[256];
            snprintf(sub, sizeof sub, "%s.%s", path, key);
            ok = kk->type == IC_PY_STR && !strcmp(kk->s, key) &&
                 py_equals_json(o->items[2 * k - 1], v, sub, why, n);
        }
        break;
    }
    }
    if (!ok && !why[0])
        snprintf(why, n, "%s", path);
    return ok;
}

/* The .pt's "config" is config.json as Python values: floats are floats
 * (layer_norm_eps 1e-12, dropouts 0.1), ints ints, null None, id2label a
 * dict with string keys, the same keys in the same order; no "float_keys"
 * side list, no made-up transformers_version. */
TEST(model_pt_config_keeps_json_types)
{
    struct ic_model m;
    struct ic_err err = {0};
    struct ic_rng rng;
    const char *labels[3] = {"saludo", "despedida", "noticias"};
    ic_rng_seed(&rng, 13);
    ASSERT_OK_ERR(ic_model_load_pretrained(&m, golden("io/legacy_bert"), 3, labels, &rng, &err), err);
    char out[512], cj[600], pt[600];
    snprintf(out, sizeof out, "%s/typed", test_tmpdir());
    int rc = ic_model_save(&m, out, NULL, NULL, 0, &err);
    ic_model_free(&m);
    ASSERT_OK_ERR(rc, err);
    snprintf(cj, sizeof cj, "%s/config.json", out);
    snprintf(pt, sizeof pt, "%s/intent_classifier.pt", out);
    json_error_t jerr;
    json_t *j = json_load_file(cj, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        FAIL("%s: %s", cj, jerr.text);
    struct ic_py_arena a;
    struct ic_py *root = NULL;
    ic_py_arena_init(&a);
    rc = ic_torch_load_obj(pt, &a, &root, &err);
    char why[256] = "";
    const struct ic_py *cfg = rc ? NULL : ic_py_get(root, "config");
    int same = cfg && py_equals_json(cfg, j, "config", why, sizeof why);
    const struct ic_py *eps = ic_py_get(cfg, "layer_norm_eps"), *hd = ic_py_get(cfg, "hidden_dropout_prob");
    const struct ic_py *i2l = ic_py_get(cfg, "id2label");
    int typed = eps && eps->type == IC_PY_FLOAT && eps->f == 1e-12 && hd &&
                hd->type == IC_PY_FLOAT && hd->f == 0.1 && i2l && i2l->n == 6 &&
                i2l->items[0]->type == IC_PY_STR && !strcmp(i2l->items[0]->s, "0") &&
                !strcmp(i2l->items[1]->s, "saludo");
    int no_side_list = root && !ic_py_get(root, "float_keys");
    int no_tf_version = !json_object_get(j, "transformers_version") &&
                        json_is_string(json_object_get(j, "intent_version"));
    json_decref(j);
    ic_py_arena_free(&a);
    ASSERT_OK_ERR(rc, err);
    if (!same)
        FAIL("the .pt config differs from config.json at %s", why);
    ASSERT(typed);
    ASSERT(no_side_list);
    ASSERT(no_tf_version);
}

/* Float config values survive .pt save -> load exactly (float32 in the
 * model, the shortest decimal's double in the file: 0.3f is written as the
 * Python float 0.3, as config.json says "0.3"). */
TEST(model_pt_float_config_roundtrip)
{
    struct ic_model m, back;
    struct ic_err err = {0};
    struct ic_rng rng;
    ic_rng_seed(&rng, 17);
    ASSERT_OK_ERR(ic_model_load_pretrained(&m, golden("io/legacy_bert"), 2, NULL, &rng, &err), err);
    m.bert.cfg.classifier_dropout = 0.3f;
    m.bert.cfg.attention_dropout = 0.125f;
    m.bert.cfg.hidden_dropout = 0.07f;
    m.bert.cfg.initializer_range = 0.037f;
    m.bert.cfg.layer_norm_eps = 1e-7f;
    char pt[512];
    snprintf(pt, sizeof pt, "%s/floats.pt", test_tmpdir());
    int rc = ic_model_save_pt(&m, pt, &err);
    int rc2 = rc ? rc : ic_model_load(&back, pt, &err);
    int same = !rc2 && back.bert.cfg.classifier_dropout == 0.3f &&
               back.bert.cfg.attention_dropout == 0.125f && back.bert.cfg.hidden_dropout == 0.07f &&
               back.bert.cfg.initializer_range == 0.037f && back.bert.cfg.layer_norm_eps == 1e-7f &&
               same_params(&m, &back);
    if (!rc2)
        ic_model_free(&back);
    ic_model_free(&m);
    ASSERT_OK_ERR(rc2, err);
    ASSERT(same);
    struct ic_py_arena a;
    struct ic_py *root = NULL;
    ic_py_arena_init(&a);
    rc = ic_torch_load_obj(pt, &a, &root, &err);
    const struct ic_py *cfg = rc ? NULL : ic_py_get(root, "config");
    const struct ic_py *cd = ic_py_get(cfg, "classifier_dropout"), *hd = ic_py_get(cfg, "hidden_dropout_prob");
    const struct ic_py *eps = ic_py_get(cfg, "layer_norm_eps");
    int decimal = cd && cd->type == IC_PY_FLOAT && cd->f == 0.3 && hd && hd->f == 0.07 && eps &&
                  eps->f == 1e-7;
    ic_py_arena_free(&a);
    ASSERT_OK_ERR(rc, err);
    ASSERT(decimal);
}

/* A .pt from before floats were floats (committed fixture written by that
 * writer: config floats as decimal strings named in "float_keys", plus a
 * transformers_version) still loads, floats exact; without its float_keys
 * list the same strings are refused, naming the field. */
TEST(model_pt_reads_legacy_float_strings)
{
    struct ic_model m;
    struct ic_err err = {0};
    const char *old = golden("io/intent_classifier_float_keys.pt");
    char path[600];
    snprintf(path, sizeof path, "%s", old);
    ASSERT_OK_ERR(ic_model_load(&m, path, &err), err);
    int ok = m.bert.cfg.layer_norm_eps == 1e-12f && m.bert.cfg.hidden_dropout == 0.1f &&
             m.bert.cfg.attention_dropout == 0.1f && m.bert.cfg.initializer_range == 0.02f &&
             m.bert.cfg.classifier_dropout < 0 && m.bert.cfg.num_labels == 5 &&
             !strcmp(m.labels[4], "set_alarm") && m.max_length == 8;
    ic_model_free(&m);
    ASSERT(ok);
    /* the same file without its float_keys list */
    struct ic_py_arena a;
    struct ic_py *root = NULL;
    ic_py_arena_init(&a);
    int rc = ic_torch_load_obj(path, &a, &root, &err);
    int renamed = 0;
    for (size_t k = 0; rc == IC_OK && k < root->n / 2; k++) {
        struct ic_py *kk = root->items[2 * k];
        if (kk->type == IC_PY_STR && !strcmp(kk->s, "float_keys")) {
            ic_free(kk->s);
            kk->s = ic_xstrdup("other_keys");
            kk->slen = strlen(kk->s);
            renamed = 1;
        }
    }
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no_float_keys.pt", test_tmpdir());
    if (rc == IC_OK)
        rc = ic_torch_save(bad, root, &err);
    ic_py_arena_free(&a);
    ASSERT_OK_ERR(rc, err);
    ASSERT(renamed);
    int rc2 = ic_model_load(&m, bad, &err);
    if (rc2 == IC_OK) {
        ic_model_free(&m);
        FAIL("float strings without float_keys were accepted");
    }
    ASSERT_CONTAINS(err.msg, bad);
    ASSERT_CONTAINS(err.msg, "_prob\"");
}

TEST(model_save_removes_stale_siblings_of_dead_saves)
{
    /* A save killed half-way leaves final_model.tmp.<pid>; the next save of
     * the same directory removes it when that process is gone, and leaves a
     * live process's sibling alone. */
    long dead = 0;
    for (long pid = 4194000; pid > 4000000; pid--) {
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            dead = pid;
            break;
        }
    }
    if (!dead)
        SKIP("no unused pid found");
    char out[512], stale[600], live[600];
    snprintf(out, sizeof out, "%s/final_model", test_tmpdir());
    snprintf(stale, sizeof stale, "%s.tmp.%ld", out, dead);
    snprintf(live, sizeof live, "%s.tmp.1", out); /* init: always alive */
    ASSERT_OK(ic_mkdirs(stale, NULL));
    ASSERT_OK(ic_mkdirs(live, NULL));
    char *junk = ic_path_join(stale, "model.safetensors");
    ASSERT_OK(ic_write_file_atomic(junk, "half", 4, NULL));
    ic_free(junk);
    struct ic_model m;
    struct ic_err err = {0};
    struct ic_rng rng;
    const char *labels[2] = {"a", "b"};
    ic_rng_seed(&rng, 3);
    ASSERT_OK_ERR(ic_model_load_pretrained(&m, golden("io/legacy_bert"), 2, labels, &rng, &err), err);
    int rc = ic_model_save(&m, out, NULL, NULL, 0, &err);
    ic_model_free(&m);
    ASSERT_OK_ERR(rc, err);
    ASSERT(!ic_path_exists(stale));
    ASSERT(ic_is_dir(live));
    ASSERT(ic_is_dir(out));
}
