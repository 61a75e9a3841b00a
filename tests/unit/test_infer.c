/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_infer.c - the batched predictor (intent/infer.h) on the committed
 * golden BERT (tests/golden/model, 5 labels, max_position 16) with a small
 * vocabulary written by the test: batches agree with one-at-a-time runs
 * (dynamic padding, length sorting), truncation, top-k, errors, and the .pt
 * bundle gives the same answers as the directory; ic_evaluate and
 * ic_forward_collect (one batch iterator) agree with the predictor and with
 * each other at any batch size.
 */
#include <stdlib.h>

#include "intent/infer.h"
#include "intent/model.h"
#include "intent/train.h"
#include "test.h"

static const char *const vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hola", "adios", "quiero", "ver", "las",
    "noticias", "reservar", "una", "mesa", "cancelar", "el", "clima", "de", "hoy", "en",
    "madrid", "que", "tiempo", "hace", "buenos", "dias", "gracias", "por", "favor", "vuelo",
    "hotel", "para", "dos", "personas", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k",
    "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "##a", "##b",
    "##c", "##d", "##e", "##f", "##g", "##h", "##i", "##j", "##k", "##l", "##m", "##n", "##o",
    "##p", "##q", "##r", "##s", "##t", "##u", "##v", "##w", "##x", "##y", "##z", ".", ",", "!",
    "?", "[unused0]", "[unused1]", "[unused2]", "[unused3]", "[unused4]", "[unused5]",
    "[unused6]", "[unused7]", "[unused8]"};

/* Copies the golden model into a scratch directory with a vocab.txt. */
static int make_model_dir(char *dir, size_t n)
{
    struct ic_buf b;
    char *data = NULL, *src = NULL, *dst = NULL;
    size_t len = 0;
    int rc;
    snprintf(dir, n, "%s/model", test_tmpdir());
    rc = ic_mkdirs(dir, NULL);
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; !rc && i < 2; i++) {
        src = ic_path_join("tests/golden/model", files[i]);
        dst = ic_path_join(dir, files[i]);
        rc = ic_read_file(src, 1 << 24, &data, &len, NULL);
        if (!rc)
            rc = ic_write_file_atomic(dst, data, len, NULL);
        ic_free(data);
        ic_free(src);
        ic_free(dst);
        data = src = dst = NULL;
    }
    ic_buf_init(&b, 0);
    for (size_t i = 0; !rc && i < sizeof vocab / sizeof vocab[0]; i++)
        rc = ic_buf_printf(&b, "%s\n", vocab[i]);
    if (!rc) {
        dst = ic_path_join(dir, "vocab.txt");
        rc = ic_write_file_atomic(dst, b.data, b.len, NULL);
        ic_free(dst);
    }
    ic_buf_free(&b);
    return rc;
}

static const char *const texts[] = {
    "hola",
    "quiero ver las noticias",
    "reservar una mesa para dos personas en madrid",
    "adios",
    "que tiempo hace hoy",
    "cancelar el vuelo de hoy por favor gracias",
    "x",
    "buenos dias",
    "Hola, ¿qué tal?",
    "el clima en madrid",
    "gracias",
};
#define N_TEXTS ((int)(sizeof texts / sizeof texts[0]))

TEST(infer_batch_matches_single)
{
    char dir[512];
    struct ic_model m;
    struct ic_infer big, one;
    struct ic_err err;
    struct ic_prediction pb[N_TEXTS], p1;
    ASSERT_OK(make_model_dir(dir, sizeof dir));
    ic_model_init(&m);
    ASSERT_OK_ERR(ic_model_load(&m, dir, &err), err);
    struct ic_infer_opts o;
    ic_infer_default_opts(&o);
    o.max_batch = 3; /* several forwards, texts sorted by length */
    ASSERT_OK_ERR(ic_infer_init(&big, &m, &o, &err), err);
    o.max_batch = 1;
    ASSERT_OK_ERR(ic_infer_init(&one, &m, &o, &err), err);
    ASSERT_OK_ERR(ic_predict_batch(&big, texts, NULL, N_TEXTS, 0, pb, &err), err);
    int differ = 0;
    for (int i = 0; i < N_TEXTS; i++) {
        ASSERT_OK_ERR(ic_predict_batch(&one, &texts[i], NULL, 1, 0, &p1, &err), err);
        if (p1.label != pb[i].label || fabsf(p1.confidence - pb[i].confidence) > 1e-5f ||
            p1.n_tokens != pb[i].n_tokens)
            differ = i + 1;
    }
    /* the same call twice reuses the buffers and gives the same answers */
    int32_t *tok = big.tok;
    struct ic_prediction again[N_TEXTS];
    ASSERT_OK_ERR(ic_predict_batch(&big, texts, NULL, N_TEXTS, 0, again, &err), err);
    int same = tok == big.tok;
    for (int i = 0; i < N_TEXTS; i++)
        same &= again[i].label == pb[i].label && again[i].confidence == pb[i].confidence;
    ic_infer_free(&big);
    ic_infer_free(&one);
    ic_model_free(&m);
    if (differ)
        FAIL("text %d: batched and single predictions differ", differ - 1);
    ASSERT(same);
}

TEST(infer_truncation_and_top_k)
{
    char dir[512];
    struct ic_model m;
    struct ic_infer c;
    struct ic_err err;
    struct ic_prediction p[2];
    ASSERT_OK(make_model_dir(dir, sizeof dir));
    ic_model_init(&m);
    ASSERT_OK_ERR(ic_model_load(&m, dir, &err), err);
    ASSERT_OK_ERR(ic_infer_init(&c, &m, NULL, &err), err);
    ASSERT_EQ(c.max_length, 16); /* capped by max_position_embeddings */
    const char *in[2] = {"hola", "quiero ver las noticias de hoy en madrid quiero ver las "
                                 "noticias de hoy en madrid quiero ver las noticias"};
    ASSERT_OK_ERR(ic_predict_batch(&c, in, NULL, 2, 3, p, &err), err);
    ASSERT_EQ(p[0].n_tokens, 3);
    ASSERT_EQ(p[0].truncated, 0);
    ASSERT_EQ(p[1].n_tokens, 16);
    ASSERT_EQ(p[1].truncated, 1);
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(p[i].n_top, 3);
        ASSERT_EQ(p[i].top[0].label, p[i].label);
        ASSERT_NEAR(p[i].top[0].prob, p[i].confidence, 0);
        ASSERT(p[i].top[0].prob >= p[i].top[1].prob && p[i].top[1].prob >= p[i].top[2].prob);
    }
    /* k over the label count is capped; all probabilities sum to 1 */
    ASSERT_OK_ERR(ic_predict_batch(&c, in, NULL, 1, 50, p, &err), err);
    ASSERT_EQ(p[0].n_top, 5);
    double sum = 0;
    for (int k = 0; k < 5; k++)
        sum += p[0].top[k].prob;
    ASSERT_NEAR(sum, 1.0, 1e-5);
    /* invalid UTF-8 names the text */
    const char *bad[2] = {"hola", "ho\xffla"};
    int rc = ic_predict_batch(&c, bad, NULL, 2, 0, p, &err);
    ASSERT_EQ(rc, IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "text 1");
    ASSERT_STR_EQ(ic_infer_label(&c, 0), "saludo");
    ASSERT_STR_EQ(ic_infer_label(&c, 99), "?");
    ic_infer_free(&c);
    ic_model_free(&m);
}

TEST(infer_pt_bundle_matches_directory)
{
    char dir[512], pt[600];
    struct ic_model m, m2;
    struct ic_infer c, c2;
    struct ic_err err;
    struct ic_prediction p[N_TEXTS], q[N_TEXTS];
    ASSERT_OK(make_model_dir(dir, sizeof dir));
    ic_model_init(&m);
    ic_model_init(&m2);
    ASSERT_OK_ERR(ic_model_load(&m, dir, &err), err);
    snprintf(pt, sizeof pt, "%s/bundle.pt", test_tmpdir());
    ASSERT_OK_ERR(ic_model_save_pt(&m, pt, &err), err);
    ASSERT_OK_ERR(ic_model_load(&m2, pt, &err), err);
    ASSERT_OK_ERR(ic_infer_init(&c, &m, NULL, &err), err);
    ASSERT_OK_ERR(ic_infer_init(&c2, &m2, NULL, &err), err);
    ASSERT_OK_ERR(ic_predict_batch(&c, texts, NULL, N_TEXTS, 2, p, &err), err);
    ASSERT_OK_ERR(ic_predict_batch(&c2, texts, NULL, N_TEXTS, 2, q, &err), err);
    int differ = -1;
    for (int i = 0; i < N_TEXTS; i++)
        if (p[i].label != q[i].label || p[i].confidence != q[i].confidence ||
            p[i].top[1].label != q[i].top[1].label)
            differ = i;
    struct ic_buf b;
    ic_buf_init(&b, 0);
    ASSERT_OK(ic_prediction_json(&b, &m2, texts[1], strlen(texts[1]), &q[1]));
    ic_infer_free(&c);
    ic_infer_free(&c2);
    ic_model_free(&m);
    ic_model_free(&m2);
    if (differ >= 0) {
        ic_buf_free(&b);
        FAIL("text %d: .pt and directory predictions differ", differ);
    }
    ASSERT_CONTAINS(b.data, "{\"text\":\"quiero ver las noticias\",\"intent\":\"");
    ASSERT_CONTAINS(b.data, ",\"top_k\":[{\"intent\":");
    ic_buf_free(&b);
}

TEST(infer_format_prob_round_trips)
{
    char buf[32];
    const float v[] = {0.5f, 0.1f, 0.98765432f, 1.0f, 1e-7f, 0.33333334f};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        ASSERT(strtof(ic_format_prob(v[i], buf), NULL) == v[i]);
    ASSERT_STR_EQ(ic_format_prob(0.5f, buf), "0.5");
}

/* A random model with 128 positions: texts of 3 to ~120 tokens spread over
 * several shapes (4 x 16, 2 x 32, 1 x 64, 1 x 128) give the answers they
 * give one at a time. */
TEST(infer_shapes_match_single)
{
    struct ic_model m;
    struct ic_bert_config cfg;
    struct ic_err err;
    struct ic_rng rng;
    struct ic_buf v;
    ic_model_init(&m);
    ic_bert_config_default(&cfg);
    cfg.vocab_size = 99;
    cfg.hidden_size = 16;
    cfg.num_layers = 1;
    cfg.num_heads = 2;
    cfg.intermediate_size = 24;
    cfg.max_position = 128;
    cfg.num_labels = 3;
    ASSERT_OK_ERR(ic_bert_init(&m.bert, &cfg, &err), err);
    ic_rng_seed(&rng, 7);
    ic_bert_init_weights(&m.bert, &rng);
    for (size_t i = 0; i < m.bert.num_params; i++)
        m.bert.params[i] *= 20.0f; /* spread the probabilities */
    ic_buf_init(&v, 0);
    for (size_t i = 0; i < sizeof vocab / sizeof vocab[0]; i++)
        ASSERT_OK(ic_buf_printf(&v, "%s\n", vocab[i]));
    int rc = ic_tokenizer_load_vocab_mem(&m.tok, v.data, v.len, NULL, &err);
    ic_buf_free(&v);
    ASSERT_OK_ERR(rc, err);
    const char *names[3] = {"a", "b", "c"};
    ic_model_set_labels(&m, names, 3);
    m.max_length = 128;

    struct ic_buf t[6];
    const char *in[6];
    const int words[6] = {1, 20, 5, 50, 120, 30};
    for (int i = 0; i < 6; i++) {
        ic_buf_init(&t[i], 0);
        for (int w = 0; w < words[i]; w++)
            ASSERT_OK(ic_buf_printf(&t[i], "%s%s", w ? " " : "", vocab[5 + (w * 7 + i) % 29]));
        in[i] = t[i].data;
    }
    struct ic_infer big, one;
    struct ic_infer_opts o;
    ic_infer_default_opts(&o);
    o.max_batch = 4;
    ASSERT_OK_ERR(ic_infer_init(&big, &m, &o, &err), err);
    ASSERT_EQ(big.n_shapes, 4);
    ASSERT_EQ(big.shapes[1].max_batch, 2);
    ASSERT_EQ(big.shapes[3].max_seq, 128);
    o.max_batch = 1;
    ASSERT_OK_ERR(ic_infer_init(&one, &m, &o, &err), err);
    struct ic_prediction pb[6], p1;
    ASSERT_OK_ERR(ic_predict_batch(&big, in, NULL, 6, 3, pb, &err), err);
    int bad = -1;
    for (int i = 0; i < 6; i++) {
        ASSERT_OK_ERR(ic_predict_batch(&one, &in[i], NULL, 1, 3, &p1, &err), err);
        if (p1.label != pb[i].label || fabsf(p1.confidence - pb[i].confidence) > 1e-5f ||
            p1.n_tokens != pb[i].n_tokens || p1.top[2].label != pb[i].top[2].label)
            bad = i;
    }
    int n_forwards = (int)big.n_forwards;
    int truncated = pb[4].truncated, ntok4 = pb[4].n_tokens;
    for (int i = 0; i < 6; i++)
        ic_buf_free(&t[i]);
    ic_infer_free(&big);
    ic_infer_free(&one);
    ic_model_free(&m);
    if (bad >= 0)
        FAIL("text %d: batched and single predictions differ", bad);
    ASSERT_EQ(truncated, 0);
    ASSERT_EQ(ntok4, 122);
    ASSERT(n_forwards >= 3 && n_forwards <= 5);
}

/* Tokenizing apart (ic_infer_encode, as the server does on its connection
 * threads) and running the ids (ic_predict_ids) gives ic_predict_batch's
 * answers bit for bit, truncation counts included. */
TEST(infer_ids_match_texts)
{
    char dir[512];
    struct ic_model m;
    struct ic_infer c;
    struct ic_err err;
    struct ic_prediction pt[N_TEXTS], pi[N_TEXTS];
    ASSERT_OK(make_model_dir(dir, sizeof dir));
    ic_model_init(&m);
    ASSERT_OK_ERR(ic_model_load(&m, dir, &err), err);
    struct ic_infer_opts o;
    ic_infer_default_opts(&o);
    o.max_batch = 3;
    o.max_length = 6; /* some texts are truncated */
    ASSERT_OK_ERR(ic_infer_init(&c, &m, &o, &err), err);
    ASSERT_OK_ERR(ic_predict_batch(&c, texts, NULL, N_TEXTS, 4, pt, &err), err);
    struct ic_label_prob top_t[N_TEXTS][4];
    for (int i = 0; i < N_TEXTS; i++)
        memcpy(top_t[i], pt[i].top, sizeof top_t[i]);
    struct ic_tok_work tw;
    ic_tok_work_init(&tw);
    int32_t ids[N_TEXTS][6];
    const int32_t *idp[N_TEXTS];
    int nt[N_TEXTS], whole[N_TEXTS], truncated = 0, bad = -1;
    for (int i = 0; i < N_TEXTS; i++) {
        ASSERT_OK_ERR(ic_infer_encode(&c, &tw, texts[i], strlen(texts[i]), ids[i], &nt[i],
                                      &whole[i], &err), err);
        idp[i] = ids[i];
        truncated += whole[i] > nt[i];
    }
    ic_tok_work_free(&tw);
    int rc = ic_predict_ids(&c, idp, nt, N_TEXTS, 4, pi, &err);
    for (int i = 0; rc == IC_OK && i < N_TEXTS; i++)
        if (pi[i].label != pt[i].label || pi[i].confidence != pt[i].confidence ||
            pi[i].n_tokens != pt[i].n_tokens || whole[i] != pt[i].text_tokens ||
            memcmp(pi[i].top, top_t[i], sizeof top_t[i]) != 0)
            bad = i;
    nt[0] = 7; /* more than max_length: refused */
    int rc_long = ic_predict_ids(&c, idp, nt, 1, 0, pi, &err);
    ic_infer_free(&c);
    ic_model_free(&m);
    ASSERT_OK(rc);
    if (bad >= 0)
        FAIL("text %d: ids and text predictions differ", bad);
    ASSERT(truncated > 0);
    ASSERT_EQ(rc_long, IC_ERR_RANGE);
}

/* The texts with labels (cycling over the model's five intents). */
static int load_texts(struct ic_dataset *d, const struct ic_model *m)
{
    struct ic_buf b;
    struct ic_err err;
    ic_buf_init(&b, 0);
    int rc = ic_buf_printf(&b, "text,intent\n");
    for (int i = 0; rc == IC_OK && i < N_TEXTS; i++)
        rc = ic_buf_printf(&b, "\"%s\",%s\n", texts[i], m->labels[i % 5]);
    if (rc == IC_OK)
        rc = ic_dataset_parse(d, "texts.csv", b.data, b.len, (const char *const *)m->labels, 5, 0,
                              &err);
    ic_buf_free(&b);
    return rc;
}

TEST(evaluate_and_collect_share_one_pass)
{
    char dir[512];
    struct ic_model m;
    struct ic_dataset d;
    struct ic_encoded e;
    struct ic_metrics met;
    struct ic_infer c;
    struct ic_err err;
    struct ic_prediction p[N_TEXTS];
    float lg1[N_TEXTS * 5], lg4[N_TEXTS * 5], fe[N_TEXTS * 32];
    ASSERT_OK(make_model_dir(dir, sizeof dir));
    ic_model_init(&m);
    memset(&d, 0, sizeof d);
    ASSERT_OK_ERR(ic_model_load(&m, dir, &err), err);
    ASSERT_OK(load_texts(&d, &m));
    ASSERT_OK_ERR(ic_encode(&m, &d, NULL, 0, 16, &e, &err), err);
    ASSERT_OK_ERR(ic_forward_collect(&m, &e, 1, NULL, lg1, NULL, &err), err);
    ASSERT_OK_ERR(ic_forward_collect(&m, &e, 4, NULL, lg4, fe, &err), err);
    ASSERT_OK_ERR(ic_evaluate(&m, &e, 4, NULL, &met, &err), err);
    ASSERT_OK_ERR(ic_infer_init(&c, &m, NULL, &err), err);
    ASSERT_OK_ERR(ic_predict_batch(&c, texts, NULL, N_TEXTS, 0, p, &err), err);
    double loss = 0, maxdiff = 0;
    int64_t conf[25] = {0};
    for (int i = 0; i < N_TEXTS; i++) {
        int am = 0;
        double s = 0;
        for (int j = 0; j < 5; j++) {
            maxdiff = fmax(maxdiff, fabs(lg1[i * 5 + j] - lg4[i * 5 + j]));
            am = lg4[i * 5 + j] > lg4[i * 5 + am] ? j : am;
        }
        for (int j = 0; j < 5; j++)
            s += exp(lg4[i * 5 + j] - lg4[i * 5 + am]);
        loss += log(s) + lg4[i * 5 + am] - lg4[i * 5 + e.label[i]];
        conf[e.label[i] * 5 + am]++;
        if (am != p[i].label)
            FAIL("text %d: collected argmax %d, predictor %d", i, am, p[i].label);
    }
    int same = !memcmp(conf, met.confusion, sizeof conf) && met.n == N_TEXTS;
    double mloss = met.loss;
    ic_infer_free(&c);
    ic_metrics_free(&met);
    ic_encoded_free(&e);
    ic_dataset_free(&d);
    ic_model_free(&m);
    ASSERT(maxdiff < 1e-5);
    ASSERT(same);
    ASSERT_NEAR(mloss, loss / N_TEXTS, 1e-5);
}
