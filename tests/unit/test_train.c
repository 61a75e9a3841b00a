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
