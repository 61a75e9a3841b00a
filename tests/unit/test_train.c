/* SPDX-License-Identifier: Apache-2.0 */
/* test_train.c - metrics (scikit-learn conventions), the report JSON, and
 * that every configuration key is documented. Training itself is covered
 * end to end by tests/e2e/train.sh. */
#include <jansson.h>

#include "intent/train.h"
#include "test.h"

TEST(train_metrics_macro_f1)
{
    struct ic_metrics m;
    ic_metrics_init(&m, 4); /* label 3 never occurs: left out of the macro averages */
    int t[] = {0, 0, 1, 1, 2}, p[] = {0, 1, 1, 1, 0};
    for (int i = 0; i < 5; i++)
        ic_metrics_add(&m, t[i], p[i], 0.5 * i);
    ic_metrics_finish(&m);
    ASSERT_EQ(m.n, 5);
    ASSERT_NEAR(m.accuracy, 0.6, 1e-12);
    ASSERT_NEAR(m.precision[0], 0.5, 1e-12);
    ASSERT_NEAR(m.recall[1], 1.0, 1e-12);
    ASSERT_NEAR(m.f1[1], 0.8, 1e-12);
    ASSERT_NEAR(m.f1[2], 0.0, 1e-12);
    ASSERT_NEAR(m.f1_macro, (0.5 + 0.8 + 0.0) / 3, 1e-12);
    ASSERT_NEAR(m.precision_macro, (0.5 + 2.0 / 3 + 0) / 3, 1e-12);
    ASSERT_NEAR(m.loss, (0 + 0.5 + 1 + 1.5 + 2) / 5, 1e-12);
    ASSERT_EQ(m.support[0], 2);
    ASSERT_EQ(m.support[3], 0);
    double v;
    ASSERT_OK(ic_metrics_get(&m, "eval_f1_macro", &v));
    ASSERT_NEAR(v, m.f1_macro, 0);
    ASSERT_EQ(ic_metrics_get(&m, "bleu", &v), IC_ERR_INVAL);

    struct ic_metrics c;
    memset(&c, 0, sizeof c);
    ic_metrics_copy(&c, &m);
    ASSERT_NEAR(c.f1_macro, m.f1_macro, 0);
    ASSERT_EQ(c.confusion[0 * 4 + 1], 1);
    ic_metrics_reset(&m);
    ASSERT_EQ(c.confusion[0 * 4 + 1], 1);

    const char *labels[] = {"a", "b", "c", "d"};
    char *js = ic_metrics_report_json(&c, labels, "{\"data\": \"x.json\", \"epoch\": 3}");
    json_error_t je;
    json_t *o = json_loads(js, 0, &je);
    ic_free(js);
    ASSERT(o);
    ASSERT_EQ(json_integer_value(json_object_get(o, "num_examples")), 5);
    ASSERT_NEAR(json_real_value(json_object_get(o, "accuracy")), 0.6, 1e-9);
    ASSERT_NEAR(json_real_value(json_object_get(o, "f1_macro")), c.f1_macro, 1e-9);
    ASSERT(json_is_real(json_object_get(o, "loss")));
    json_t *b = json_object_get(json_object_get(o, "per_intent"), "b");
    ASSERT_NEAR(json_real_value(json_object_get(b, "f1")), 0.8, 1e-9);
    ASSERT_EQ(json_integer_value(json_object_get(b, "support")), 2);
    json_t *cm = json_object_get(o, "confusion_matrix");
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(cm, "labels"), 2)), "c");
    json_t *row2 = json_array_get(json_object_get(cm, "matrix"), 2);
    ASSERT_EQ(json_integer_value(json_array_get(row2, 0)), 1); /* c predicted as a */
    ASSERT_STR_EQ(json_string_value(json_object_get(o, "data")), "x.json");
    json_decref(o);
    ic_metrics_free(&c);
    ic_metrics_free(&m);
}

TEST(train_config_keys_documented)
{
    char *md = NULL, *yaml = NULL;
    size_t n;
    struct ic_err err;
    ASSERT_OK_ERR(ic_read_file("docs/config.md", 1 << 20, &md, NULL, &err), err);
    ASSERT_OK_ERR(ic_read_file("intent.example.yaml", 1 << 20, &yaml, NULL, &err), err);
    const struct ic_config_key *k = ic_config_keys(&n);
    int missing = 0;
    for (size_t i = 0; i < n; i++) {
        char flag[80], env[80], key[80];
        snprintf(key, sizeof key, "%s:", k[i].name);
        snprintf(flag, sizeof flag, "--%s", k[i].name);
        for (char *q = flag; *q; q++)
            if (*q == '_')
                *q = '-';
        snprintf(env, sizeof env, "INTENT_%s", k[i].name);
        for (char *q = env; *q; q++)
            if (*q >= 'a' && *q <= 'z')
                *q = (char)(*q - 'a' + 'A');
        if (!strstr(md, flag) || !strstr(md, env) || !strstr(yaml, key)) {
            fprintf(stderr, "undocumented key %s\n", k[i].name);
            missing++;
        }
    }
    /* the example file loads and holds the defaults */
    struct ic_config c;
    ic_config_init(&c);
    int rc = ic_config_load_file(&c, "intent.example.yaml", &err);
    ic_config_free(&c);
    ic_free(md);
    ic_free(yaml);
    ASSERT_OK_ERR(rc, err);
    ASSERT_EQ(missing, 0);
}

// --- a whole (tiny) run through the library -------------------------------------

#include <malloc.h>
#include <stdlib.h>

struct watch {
    enum ic_train_event_kind prev;
    size_t last_bytes;
    unsigned long long last_allocs;
    int compared, changed, steps, logs, evals, begin, end;
    double last_epoch;
};

static void watch_cb(const struct ic_train_event *ev, void *ud)
{
    struct watch *w = ud;
    struct mallinfo2 mi = mallinfo2();
    switch (ev->kind) {
    case IC_TRAIN_EV_STEP:
        w->steps++;
        /* Between two steps of the same epoch (after the first epoch, when
         * every lazy first-use allocation has happened) nothing may be
         * allocated or freed. */
        if (w->prev == IC_TRAIN_EV_STEP && ev->epoch > 1.0 + 1e-9) {
            w->compared++;
            w->changed += mi.uordblks != w->last_bytes || ic_alloc_count() != w->last_allocs;
        }
        break;
    case IC_TRAIN_EV_LOG: w->logs++; break;
    case IC_TRAIN_EV_EVAL: w->evals++; break;
    case IC_TRAIN_EV_BEGIN: w->begin++; break;
    case IC_TRAIN_EV_END: w->end++; break;
    }
    if (ev->kind != IC_TRAIN_EV_LOG) {
        w->prev = ev->kind;
        w->last_bytes = mallinfo2().uordblks;
        w->last_allocs = ic_alloc_count();
    }
}

static void tiny_config(struct ic_config *c, const char *out)
{
    struct ic_err err;
    ic_config_init(c);
    const char *kv[][2] = {
        {"data", "tests/golden/data/train_small.json"}, {"output", out}, {"epochs", "3"},
        {"tracking", "false"}, {"scratch_hidden_size", "32"}, {"scratch_layers", "1"},
        {"scratch_heads", "2"}, {"scratch_intermediate_size", "64"},
        {"scratch_vocab_size", "300"}, {"max_length", "32"}, {"batch_size", "8"},
        {"threads", "1"}, {"logging_steps", "3"}, {"seed", "3"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        IC_ASSERT(ic_config_set(c, kv[i][0], kv[i][1], IC_CONFIG_FLAG, kv[i][0], &err) == IC_OK);
}

TEST(train_run_tiny_scratch_no_alloc_in_step)
{
    char *hf = ic_path_join(test_tmpdir(), "hf");
    setenv("HF_HOME", hf, 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    char *out = ic_path_join(test_tmpdir(), "model");
    struct ic_config c;
    tiny_config(&c, out);
    struct ic_train_result r;
    struct ic_err err;
    struct watch w;
    memset(&w, 0, sizeof w);
    w.prev = IC_TRAIN_EV_END;
    int rc = ic_train_run(&c, NULL, watch_cb, &w, &r, &err);
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("HF_HOME");
    ic_config_free(&c);
    ic_free(hf);
    if (rc != IC_OK) {
        ic_free(out);
        ic_train_result_free(&r);
        FAIL("ic_train_run: %s", err.msg);
    }
    ASSERT_EQ(r.from_scratch, 1);
    ASSERT_EQ(r.n_train, 64);
    ASSERT_EQ(r.n_eval, 16);
    ASSERT_EQ(r.n_labels, 5);
    ASSERT_EQ(r.steps, 24); /* 3 epochs x 64 / 8 */
    ASSERT_EQ(w.steps, 24);
    ASSERT_EQ(w.logs, 8);
    ASSERT_EQ(w.evals, 3);
    ASSERT_EQ(w.begin, 1);
    ASSERT_EQ(w.end, 1);
    ASSERT(r.best_epoch >= 1 && r.best_epoch <= 3);
    ASSERT(r.report_json && strstr(r.report_json, "\"f1_macro\""));
    ASSERT(w.compared >= 10);
    ASSERT_EQ(w.changed, 0);
    char *p = ic_path_join(out, "eval_report.json");
    ASSERT(ic_path_exists(p));
    ic_free(p);
    ic_free(out);
    ic_train_result_free(&r);
}

static volatile sig_atomic_t stop_flag;
static void stop_after_5(const struct ic_train_event *ev, void *ud)
{
    (void)ud;
    if (ev->kind == IC_TRAIN_EV_STEP && ev->step == 5)
        stop_flag = 1;
}

TEST(train_run_stop_flag_saves_and_reports)
{
    char *hf = ic_path_join(test_tmpdir(), "hf");
    setenv("HF_HOME", hf, 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    char *out = ic_path_join(test_tmpdir(), "model");
    struct ic_config c;
    tiny_config(&c, out);
    struct ic_train_result r;
    struct ic_err err;
    stop_flag = 0;
    int rc = ic_train_run(&c, &stop_flag, stop_after_5, NULL, &r, &err);
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("HF_HOME");
    ic_config_free(&c);
    ic_free(hf);
    char *p = ic_path_join(out, "model.safetensors");
    int saved = ic_path_exists(p);
    ic_free(p);
    ic_free(out);
    int steps = (int)r.steps, interrupted = r.interrupted, best = r.best_epoch;
    ic_train_result_free(&r);
    ASSERT_EQ(rc, IC_ERR_INTERRUPTED);
    ASSERT_CONTAINS(err.msg, "interrupted at step 5");
    ASSERT_EQ(steps, 5);
    ASSERT_EQ(interrupted, 1);
    ASSERT_EQ(best, 0); /* stopped before the first evaluation (8 steps per epoch) */
    ASSERT(saved);
}

TEST(train_run_stopped_before_training_saves_nothing)
{
    char *hf = ic_path_join(test_tmpdir(), "hf");
    setenv("HF_HOME", hf, 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    char *out = ic_path_join(test_tmpdir(), "model");
    struct ic_config c;
    tiny_config(&c, out);
    struct ic_train_result r;
    struct ic_err err;
    stop_flag = 1; /* Ctrl-C while the base model was being resolved */
    int rc = ic_train_run(&c, &stop_flag, NULL, NULL, &r, &err);
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("HF_HOME");
    ic_config_free(&c);
    ic_free(hf);
    int exists = ic_path_exists(out);
    ic_free(out);
    ic_train_result_free(&r);
    ASSERT_EQ(rc, IC_ERR_INTERRUPTED);
    ASSERT_CONTAINS(err.msg, "nothing saved");
    ASSERT(!exists);
}
