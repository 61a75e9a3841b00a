/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_predict.c - libFuzzer target for the server's inference path of a
 * text-embeddings-inference /predict body: the body is parsed
 * (ic__parse_predict, at most 1..8 inputs), each text is tokenized apart as
 * the connection threads do (ic_infer_encode), and the ids are run as one
 * merged batch (ic_predict_ids), as the batcher does.
 *
 * Input: byte 0's low 3 bits + 1 are the client batch limit, bit 3 the
 * maximum length (the model's 16 or 6, so long texts get truncated); the
 * rest is the body. The model is the committed golden BERT (run from the
 * repository root: tests/golden/model) with a small vocabulary.
 * Invariants: a body answered 200 gives 1..limit texts; each tokenizes to
 * 2..max_length ids with the whole text's count >= that (truncated exactly
 * when larger); the merged run gives, per text, the label, confidence and
 * ranking that ic_predict_batch gives on the texts, bit for bit (the same
 * context, so the same forward shapes), and probabilities that sum to 1.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "intent/infer.h"
#include "intent/model.h"
#include "serve/routes.h"

static const char ic_fuzz_predict_vocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhola\nadios\nquiero\nver\nlas\nnoticias\n"
    "reservar\nuna\nmesa\nclima\n##s\n##a\n";

/* The model and one context per maximum length, loaded once. */
static struct ic_infer *ic_fuzz_predict_ctx(int short_len)
{
    static struct ic_model m;
    static struct ic_infer c[2];
    static int loaded;
    if (!loaded) {
        struct ic_err err;
        char *cfg = NULL, *st = NULL;
        size_t cfg_len = 0, st_len = 0;
        loaded = 1;
        if (ic_read_file("tests/golden/model/config.json", 1 << 20, &cfg, &cfg_len, &err) ||
            ic_read_file("tests/golden/model/model.safetensors", 64 << 20, &st, &st_len, &err)) {
            fprintf(stderr, "fuzz_predict: %s (run from the repository root)\n", err.msg);
            abort();
        }
        ic_fuzz_put("pmodel/config.json", cfg, cfg_len);
        ic_fuzz_put("pmodel/model.safetensors", st, st_len);
        ic_fuzz_put("pmodel/vocab.txt", ic_fuzz_predict_vocab, sizeof ic_fuzz_predict_vocab - 1);
        ic_free(cfg);
        ic_free(st);
        char dir[600];
        snprintf(dir, sizeof dir, "%s/pmodel", ic_fuzz_scratch());
        ic_model_init(&m);
        struct ic_infer_opts o;
        ic_infer_default_opts(&o);
        o.max_batch = 3; /* several forwards for a batch of 8 */
        if (ic_model_load(&m, dir, &err) || ic_infer_init(&c[0], &m, &o, &err)) {
            fprintf(stderr, "fuzz_predict: %s\n", err.msg);
            abort();
        }
        o.max_length = 6;
        if (ic_infer_init(&c[1], &m, &o, &err)) {
            fprintf(stderr, "fuzz_predict: %s\n", err.msg);
            abort();
        }
    }
    return &c[short_len ? 1 : 0];
}

/* Tokenizes r's texts apart, runs the ids, compares with the texts' run. */
static void ic_fuzz_predict_run(struct ic_infer *c, const struct ic__req *r)
{
    enum { MAXN = 8, MAXL = 16 };
    int32_t ids[MAXN][MAXL];
    const int32_t *idp[MAXN];
    int nt[MAXN], whole[MAXN];
    struct ic_prediction pi[MAXN], pt[MAXN];
    struct ic_label_prob top[MAXN][5];
    struct ic_tok_work tw;
    struct ic_err err;
    IC_FUZZ_CHECK(r->n >= 1 && r->n <= MAXN && c->max_length <= MAXL);
    ic_tok_work_init(&tw);
    for (int i = 0; i < r->n; i++) {
        int rc = ic_infer_encode(c, &tw, r->texts[i], r->lens[i], ids[i], &nt[i], &whole[i],
                                 &err);
        IC_FUZZ_CHECK(rc == IC_OK); /* the parser let only valid UTF-8 through */
        IC_FUZZ_CHECK(nt[i] >= 2 && nt[i] <= c->max_length && whole[i] >= nt[i]);
        IC_FUZZ_CHECK(whole[i] == nt[i] || nt[i] == c->max_length);
        idp[i] = ids[i];
    }
    ic_tok_work_free(&tw);
    IC_FUZZ_CHECK(ic_predict_ids(c, idp, nt, r->n, 5, pi, &err) == IC_OK);
    for (int i = 0; i < r->n; i++)
        memcpy(top[i], pi[i].top, (size_t)pi[i].n_top * sizeof top[i][0]);
    IC_FUZZ_CHECK(ic_predict_batch(c, r->texts, r->lens, r->n, 5, pt, &err) == IC_OK);
    for (int i = 0; i < r->n; i++) {
        IC_FUZZ_CHECK(pi[i].label == pt[i].label && pi[i].confidence == pt[i].confidence);
        IC_FUZZ_CHECK(pi[i].n_tokens == pt[i].n_tokens && whole[i] == pt[i].text_tokens);
        IC_FUZZ_CHECK(pi[i].n_top == pt[i].n_top && pi[i].n_top == 5);
        IC_FUZZ_CHECK(memcmp(top[i], pt[i].top, 5 * sizeof top[i][0]) == 0);
        float s = 0;
        for (int k = 0; k < 5; k++)
            s += top[i][k].prob;
        IC_FUZZ_CHECK(fabsf(s - 1.0f) < 1e-4f);
    }
}

int ic_fuzz_predict(const uint8_t *data, size_t size);
int ic_fuzz_predict(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ic_fuzz_quiet();
    int limit = 1 + (data[0] & 7);
    struct ic_infer *c = ic_fuzz_predict_ctx(data[0] & 8);
    struct ic__req r;
    struct ic_buf eb;
    ic__req_init(&r);
    ic_buf_init(&eb, 0);
    int st = ic__parse_predict((const char *)data + 1, size - 1, "application/json", limit, &r,
                               &eb);
    if (st == 200) {
        IC_FUZZ_CHECK(r.n >= 1 && r.n <= limit);
        ic_fuzz_predict_run(c, &r);
    }
    ic__req_free(&r);
    ic_buf_free(&eb);
    return 0;
}

#ifndef IC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return ic_fuzz_predict(data, size);
}
#endif
