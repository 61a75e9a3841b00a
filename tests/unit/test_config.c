/* SPDX-License-Identifier: Apache-2.0 */
/* test_config.c - defaults, YAML file, environment, flags, errors, printing. */
#include <stdlib.h>

#include "intent/config.h"
#include "intent/serve.h"
#include "test.h"

static char *write_tmp(const char *name, const char *text)
{
    char *p = ic_path_join(test_tmpdir(), name);
    struct ic_err err;
    if (ic_write_file_atomic(p, text, strlen(text), &err) != IC_OK) {
        ic_free(p);
        return NULL;
    }
    return p;
}

TEST(config_defaults)
{
    struct ic_config c;
    ic_config_init(&c);
    ASSERT_STR_EQ(c.model_name, "prajjwal1/bert-tiny");
    ASSERT_STR_EQ(c.data, "data/dataset_v2.json");
    ASSERT_STR_EQ(c.output, "final_model");
    ASSERT_STR_EQ(c.metric_for_best_model, "f1_macro");
    ASSERT_NEAR(c.eval_fraction, 0.2, 1e-12);
    ASSERT_NEAR(c.max_grad_norm, 1.0, 1e-12);
    ASSERT_EQ(c.seed, 42);
    ASSERT_EQ(c.tracking, 1);
    ASSERT_EQ(c.origin[0], IC_CONFIG_DEFAULT);
    struct ic_err err;
    ASSERT_OK_ERR(ic_config_check(&c, &err), err);
    /* every key documented, flag name derivable, default parses */
    size_t n;
    const struct ic_config_key *k = ic_config_keys(&n);
    ASSERT(n > 30);
    for (size_t i = 0; i < n; i++) {
        ASSERT(k[i].doc && *k[i].doc);
        ASSERT(ic_config_find(k[i].name) == &k[i]);
    }
    ic_config_free(&c);
}

TEST(config_file_env_flag_precedence)
{
    char *p = write_tmp("a.yaml", "# comment\nepochs: 7\nlearning_rate: 1e-3\n"
                                  "output: \"out dir\"\nrun_name:\ntracking: no\n");
    ASSERT(p);
    struct ic_config c;
    struct ic_err err;
    ic_config_init(&c);
    ASSERT_OK_ERR(ic_config_load_file(&c, p, &err), err);
    ASSERT_EQ(c.epochs, 7);
    ASSERT_NEAR(c.learning_rate, 1e-3, 1e-15);
    ASSERT_STR_EQ(c.output, "out dir");
    ASSERT_STR_EQ(c.run_name, "");
    ASSERT_EQ(c.tracking, 0);
    ASSERT_EQ(c.origin[ic_config_find("epochs") - ic_config_keys(NULL)], IC_CONFIG_FILE);
    setenv("INTENT_EPOCHS", "9", 1);
    setenv("MLFLOW_EXPERIMENT_NAME", "exp-from-mlflow", 1);
    setenv("INTENT_BATCH_SIZE", "12", 1);
    int rc = ic_config_apply_env(&c, &err);
    unsetenv("INTENT_EPOCHS");
    unsetenv("MLFLOW_EXPERIMENT_NAME");
    unsetenv("INTENT_BATCH_SIZE");
    ASSERT_OK_ERR(rc, err);
    ASSERT_EQ(c.epochs, 9);
    ASSERT_EQ(c.batch_size, 12);
    ASSERT_STR_EQ(c.experiment_name, "exp-from-mlflow");
    ASSERT_OK_ERR(ic_config_set(&c, "epochs", "11", IC_CONFIG_FLAG, "--epochs", &err), err);
    ASSERT_OK_ERR(ic_config_set(&c, "learning-rate", "2e-4", IC_CONFIG_FLAG, "--learning-rate",
                                &err), err);
    ASSERT_EQ(c.epochs, 11);
    /* values YAML cannot hold plain: quoted and escaped, and they load back */
    ASSERT_OK_ERR(ic_config_set(&c, "run_name", "a\x7f b \"q\"\\ \xc3\xa9\xc2\x85: #x\t",
                                IC_CONFIG_FLAG, "--run-name", &err), err);
    struct ic_buf b;
    ic_buf_init(&b, 0);
    ASSERT_OK(ic_config_print(&c, &b));
    ASSERT_CONTAINS(b.data, "epochs: 11");
    ASSERT_CONTAINS(b.data, "# flag --epochs");
    ASSERT_CONTAINS(b.data, "# env INTENT_BATCH_SIZE");
    ASSERT_CONTAINS(b.data, "# env MLFLOW_EXPERIMENT_NAME");
    ASSERT_CONTAINS(b.data, "learning_rate: 0.0002");
    ASSERT_CONTAINS(b.data, "output: out dir");
    ASSERT_CONTAINS(b.data, "system_metrics_interval: 10 ");
    ASSERT_CONTAINS(b.data, "eval_data: \"\"");
    ASSERT_CONTAINS(b.data, "a.yaml:4");
    /* the printed configuration loads back to the same values */
    char *p2 = write_tmp("b.yaml", b.data);
    struct ic_config c2;
    ic_config_init(&c2);
    ASSERT_OK_ERR(ic_config_load_file(&c2, p2, &err), err);
    size_t n;
    ic_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        char *x = ic_config_value_str(&c, i), *y = ic_config_value_str(&c2, i);
        int same = strcmp(x, y) == 0;
        ic_free(x);
        ic_free(y);
        ASSERT(same);
    }
    ic_buf_free(&b);
    ic_config_free(&c2);
    ic_config_free(&c);
    ic_free(p);
    ic_free(p2);
}

TEST(config_errors_name_file_line_key)
{
    struct {
        const char *text, *want;
        int code;
    } cases[] = {
        {"epochs: 3\nlerning_rate: 0.1\n", "c.yaml:2: unknown key \"lerning_rate\"",
         IC_ERR_NOTFOUND},
        {"epochs: three\n", "c.yaml:1: epochs: expected an integer", IC_ERR_INVAL},
        {"\n\nbatch_size: 0\n", "c.yaml:3: batch_size: 0 is out of range", IC_ERR_RANGE},
        {"tracking: maybe\n", "c.yaml:1: tracking: expected true or false", IC_ERR_INVAL},
        {"epochs: [1, 2]\n", "c.yaml:1: key \"epochs\": expected a plain value, not a list",
         IC_ERR_FORMAT},
        {"epochs: 2\nepochs: 3\n", "c.yaml:2: key \"epochs\" given twice", IC_ERR_FORMAT},
        {"- a\n- b\n", "expected a plain value, not a list", IC_ERR_FORMAT},
        {"epochs: 2\nrun_name: \"abc\n", "c.yaml:", IC_ERR_FORMAT},
        {"learning_rate:\n", "c.yaml:1: key \"learning_rate\": a value is required",
         IC_ERR_INVAL},
        {"learning_rate: nan\n", "learning_rate: expected a number", IC_ERR_INVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = write_tmp("c.yaml", cases[i].text);
        struct ic_config c;
        struct ic_err err;
        ic_config_init(&c);
        int rc = ic_config_load_file(&c, p, &err);
        ic_config_free(&c);
        ic_free(p);
        if (rc != cases[i].code)
            FAIL("case %zu: rc %d (%s), want %d", i, rc, err.msg, cases[i].code);
        ASSERT_CONTAINS(err.msg, cases[i].want);
    }
    /* empty file and a comment-only file are fine */
    char *p = write_tmp("e.yaml", "# nothing\n");
    struct ic_config c;
    struct ic_err err;
    ic_config_init(&c);
    ASSERT_OK_ERR(ic_config_load_file(&c, p, &err), err);
    ic_free(p);
    /* env errors name the variable; flags name the flag */
    setenv("INTENT_SEED", "-1", 1);
    int rc = ic_config_apply_env(&c, &err);
    unsetenv("INTENT_SEED");
    ASSERT_EQ(rc, IC_ERR_RANGE);
    ASSERT_CONTAINS(err.msg, "INTENT_SEED: seed");
    ASSERT_EQ(ic_config_set(&c, "warmup_ratio", "2", IC_CONFIG_FLAG, "--warmup-ratio", &err),
              IC_ERR_RANGE);
    ASSERT_CONTAINS(err.msg, "--warmup-ratio: warmup_ratio");
    ASSERT_EQ(ic_config_set(&c, "nope", "2", IC_CONFIG_FLAG, "--nope", &err), IC_ERR_NOTFOUND);
    /* cross-key checks */
    ASSERT_OK(ic_config_set(&c, "metric_for_best_model", "eval_accuracy", IC_CONFIG_FLAG, "f",
                            &err));
    ASSERT_OK_ERR(ic_config_check(&c, &err), err);
    ASSERT_OK(ic_config_set(&c, "metric_for_best_model", "bleu", IC_CONFIG_FLAG, "--m", &err));
    ASSERT_EQ(ic_config_check(&c, &err), IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "bleu");
    ASSERT_OK(ic_config_set(&c, "metric_for_best_model", "loss", IC_CONFIG_FLAG, "--m", &err));
    ASSERT_OK(ic_config_set(&c, "scratch_heads", "3", IC_CONFIG_FLAG, "--scratch-heads", &err));
    ASSERT_EQ(ic_config_check(&c, &err), IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "--scratch-heads: scratch_heads: 3 does not divide");
    const char *canon;
    int greater;
    ASSERT_OK(ic_config_best_metric("eval_loss", &canon, &greater));
    ASSERT_STR_EQ(canon, "loss");
    ASSERT_EQ(greater, 0);
    ic_config_free(&c);
}

TEST(config_file_shared_with_serve)
{
    /* intent serve's serve_* keys may sit in the same intent.yaml. */
    char *p = write_tmp("s.yaml", "epochs: 4\nserve_port: 9000\nserve_max_body: 1024\n");
    ASSERT(p);
    struct ic_config c;
    struct ic_err err;
    ic_config_init(&c);
    int rc = ic_config_load_file(&c, p, &err);
    int epochs = c.epochs;
    ic_config_free(&c);
    ic_free(p);
    ASSERT_OK_ERR(rc, err);
    ASSERT_EQ(epochs, 4);
    p = write_tmp("t.yaml", "serve_port: [1]\n");
    ic_config_init(&c);
    rc = ic_config_load_file(&c, p, &err);
    ic_config_free(&c);
    ic_free(p);
    ASSERT_EQ(rc, IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "serve_port");
}

/* A NUL byte, a "\0" escape, a lone surrogate (ED A0 80) or bytes that are not
 * UTF-8 anywhere in the file: an error naming the file and the right line
 * (libyaml reports these by byte offset only); CR LF line ends are fine. */
TEST(config_nul_and_bad_bytes_name_line)
{
    static const struct {
        const char *text;
        size_t len;
        const char *want;
    } cases[] = {
#define C(lit, want) {lit, sizeof lit - 1, want}
        C("epochs: 3\nseed: 4\0 2\n", "b.yaml:2: YAML error: control characters are not allowed "
                                      "(U+0000 at byte 17)"),
        C("\0epochs: 3\n", "b.yaml:1: YAML error: control characters are not allowed (U+0000"),
        C("epochs: 3\n\nrun_name: \"ab\\0cd\"\n", "b.yaml:3: NUL character (\\0) in a value"),
        C("epochs: 3\n\"seed\\0x\": 4\n", "b.yaml:2: NUL character (\\0) in a key"),
        C("epochs: 3\r\nrun_name: a\xed\xa0\x80" "b\r\n", "b.yaml:2: YAML error: invalid Unicode "
                                                         "character (U+D800 at byte 22)"),
        C("epochs: 3\n\n\nrun_name: caf\xe9\n", "b.yaml:4: YAML error: incomplete UTF-8 octet "
                                                "sequence (at byte 25)"),
        C("epochs: 3\r\nlerning_rate: 1\r\n", "b.yaml:2: unknown key \"lerning_rate\""),
#undef C
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *p = ic_path_join(test_tmpdir(), "b.yaml");
        struct ic_config c;
        struct ic_err err;
        ASSERT_OK_ERR(ic_write_file_atomic(p, cases[i].text, cases[i].len, &err), err);
        ic_config_init(&c);
        int rc = ic_config_load_file(&c, p, &err);
        ic_config_free(&c);
        if (rc == IC_OK)
            FAIL("case %zu: accepted", i);
        ASSERT_CONTAINS(err.msg, cases[i].want);
        /* intent serve reads the same file through the same reader */
        struct ic_serve_opts o;
        ic_serve_default_opts(&o);
        rc = ic_serve_opts_from_file(&o, p, &err);
        ic_serve_opts_free(&o);
        ic_free(p);
        if (i < 6) {
            ASSERT_EQ(rc, IC_ERR_FORMAT);
            ASSERT_CONTAINS(err.msg, cases[i].want);
        }
    }
    /* a CR LF file gives the same values as a LF one */
    char *p = ic_path_join(test_tmpdir(), "crlf.yaml");
    struct ic_config c;
    struct ic_err err;
    const char crlf[] = "epochs: 3\r\nrun_name: \"a b\"\r\nseed: 7\r";
    ASSERT_OK_ERR(ic_write_file_atomic(p, crlf, sizeof crlf - 1, &err), err);
    ic_config_init(&c);
    ASSERT_OK_ERR(ic_config_load_file(&c, p, &err), err);
    ASSERT_EQ(c.epochs, 3);
    ASSERT_EQ(c.seed, 7);
    ASSERT_STR_EQ(c.run_name, "a b");
    ic_config_free(&c);
    ic_free(p);
}
