/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_model.c - libFuzzer target for loading a saved model
 * (ic_model_load, include/intent/model.h): the cross-file checks between
 * config.json, the weights and the tokenizer, and our single-file
 * intent_classifier.pt (a torch archive holding the state_dict, the config,
 * the label maps and the tokenizer).
 *
 * Input: byte 0 picks what is fuzzed; the other files come from the
 * committed golden model (tests/golden/model: 5 labels, vocabulary of 99;
 * run from the repository root):
 *   0: the rest is intent_classifier.pt, loaded as a file;
 *   1: the rest is split at "\n=====\n" into config.json, vocab.txt and
 *      tokenizer_config.json (absent when empty) next to the golden
 *      model.safetensors;
 *   2: the rest is model.safetensors next to the golden config.json and a
 *      fixed vocab.txt.
 * A model that loads must be usable: labels for every class, a tokenizer
 * whose ids fit the embedding table, and a prediction over two texts that
 * gives a label in range and probabilities that sum to 1.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "intent/infer.h"
#include "intent/model.h"

static const char ic_fuzz_model_vocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhola\nadios\nquiero\nver\nlas\nnoticias\n";

/* Golden file content, read once (NULL + 0 when missing). */
static const char *ic_fuzz_model_golden(const char *name, size_t *len)
{
    static char *cfg, *st;
    static size_t cfg_len, st_len;
    static int loaded;
    if (!loaded) {
        struct ic_err err;
        loaded = 1;
        if (ic_read_file("tests/golden/model/config.json", 1 << 20, &cfg, &cfg_len, &err) != IC_OK ||
            ic_read_file("tests/golden/model/model.safetensors", 64 << 20, &st, &st_len, &err) !=
                IC_OK) {
            fprintf(stderr, "fuzz_model: %s (run from the repository root)\n", err.msg);
            abort();
        }
    }
    if (strcmp(name, "config.json") == 0) {
        *len = cfg_len;
        return cfg;
    }
    *len = st_len;
    return st;
}

static void ic_fuzz_model_clear(void)
{
    static const char *const names[] = {"config.json", "model.safetensors", "pytorch_model.bin",
                                        "vocab.txt", "tokenizer.json", "tokenizer_config.json",
                                        "special_tokens_map.json", "intent_classifier.pt"};
    char p[600];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/model/%s", ic_fuzz_scratch(), names[i]);
        unlink(p);
    }
}

static void ic_fuzz_model_use(const struct ic_model *m)
{
    int nl = m->bert.cfg.num_labels;
    IC_FUZZ_CHECK(nl >= 1 && m->labels != NULL);
    for (int i = 0; i < nl; i++)
        IC_FUZZ_CHECK(m->labels[i] != NULL);
    IC_FUZZ_CHECK(ic_tokenizer_vocab_size(&m->tok) <= (size_t)m->bert.cfg.vocab_size);
    IC_FUZZ_CHECK(m->max_length >= 2 && m->max_length <= m->bert.cfg.max_position);
    /* the forward pass is only affordable on small models */
    if (m->bert.num_params > ((size_t)1 << 22))
        return;
    struct ic_infer c;
    struct ic_infer_opts o;
    struct ic_err err;
    memset(&c, 0, sizeof c);
    ic_infer_default_opts(&o);
    o.max_batch = 2;
    if (ic_infer_init(&c, m, &o, &err) != IC_OK)
        return;
    const char *texts[2] = {"hola quiero ver las noticias", "adios [UNK] \xc3\xb1 \xe4\xb8\xad"};
    struct ic_prediction r[2];
    if (ic_predict_batch(&c, texts, NULL, 2, 3, r, &err) == IC_OK) {
        for (int i = 0; i < 2; i++) {
            IC_FUZZ_CHECK(r[i].label >= 0 && r[i].label < nl);
            IC_FUZZ_CHECK(r[i].n_tokens >= 2 && r[i].n_tokens <= m->max_length);
            IC_FUZZ_CHECK(r[i].n_top == (nl < 3 ? nl : 3));
            float s = 0;
            for (int k = 0; k < r[i].n_top; k++) {
                IC_FUZZ_CHECK(r[i].top[k].label >= 0 && r[i].top[k].label < nl);
                s += r[i].top[k].prob;
            }
            /* finite weights give probabilities; a NaN in the file may not */
            if (isfinite(r[i].confidence))
                IC_FUZZ_CHECK(s <= 1.0001f);
        }
    }
    ic_infer_free(&c);
}

int ic_fuzz_model(const uint8_t *data, size_t size);
int ic_fuzz_model(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 3;
    const uint8_t *body = data + 1;
    size_t len = size - 1, glen;
    const char *g;
    char path[600];
    ic_fuzz_model_clear();
    if (mode == 0) {
        ic_fuzz_put("model/intent_classifier.pt", body, len);
        snprintf(path, sizeof path, "%s/model/intent_classifier.pt", ic_fuzz_scratch());
    } else if (mode == 1) {
        size_t n1, n2, n3, n4;
        const uint8_t *r1, *r2;
        ic_fuzz_split(body, len, "\n=====\n", &n1, &r1, &n2);
        ic_fuzz_split(r1, n2, "\n=====\n", &n3, &r2, &n4);
        ic_fuzz_put("model/config.json", body, n1);
        ic_fuzz_put("model/vocab.txt", r1, n3);
        if (n4)
            ic_fuzz_put("model/tokenizer_config.json", r2, n4);
        g = ic_fuzz_model_golden("model.safetensors", &glen);
        ic_fuzz_put("model/model.safetensors", g, glen);
        snprintf(path, sizeof path, "%s/model", ic_fuzz_scratch());
    } else {
        ic_fuzz_put("model/model.safetensors", body, len);
        g = ic_fuzz_model_golden("config.json", &glen);
        ic_fuzz_put("model/config.json", g, glen);
        ic_fuzz_put("model/vocab.txt", ic_fuzz_model_vocab, sizeof ic_fuzz_model_vocab - 1);
        snprintf(path, sizeof path, "%s/model", ic_fuzz_scratch());
    }
    struct ic_model m;
    struct ic_err err;
    memset(&err, 0, sizeof err);
    ic_model_init(&m);
    if (ic_model_load(&m, path, &err) == IC_OK)
        ic_fuzz_model_use(&m);
    else
        IC_FUZZ_CHECK(err.msg[0] != 0);
    ic_model_free(&m);
    return 0;
}

#ifndef IC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ic_fuzz_quiet();
    return ic_fuzz_model(data, size);
}
#endif
