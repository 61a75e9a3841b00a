/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_vocab.c - libFuzzer target for tokenizer files (include/intent/
 * tokenizer.h): vocab.txt, and a checkpoint directory's tokenizer.json and
 * tokenizer_config.json.
 *
 * Input: byte 0 bit 0 clear -> the rest is vocab.txt content, loaded from
 * memory with options from bits 1-3; set -> the rest is split at
 * "\n=====\n" into tokenizer.json (vocab.txt when bit 1 is set) and
 * tokenizer_config.json (absent when empty), written to a scratch directory
 * and loaded with ic_tokenizer_load_dir. A loaded tokenizer then encodes a
 * few texts (and the first bytes of the input when they are UTF-8); ids must
 * be in range, framed by [CLS] .. [SEP], and within the length asked for.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "intent/tokenizer.h"

static const char *const ic_fuzz_vocab_texts[] = {
    "Hola, ¿qué tal? [CLS] mundo [UNK]",
    "",
    ("unaPalabraMuyLargaQueSuperaLosCienCaracteresunaPalabraMuyLargaQueSuperaLosCienCaracteres"
     "unaPalabraMuyLargaQueSuperaLosCienCaracteres"),
    "中文 café naïve ₹100 😀 \xe2\x80\x8b zero-width",
};

static void ic_fuzz_vocab_encode(const struct ic_tokenizer *t, const char *text, size_t len)
{
    struct ic_tok_work w;
    struct ic_err err;
    int32_t ids[16];
    int n = -1;
    ic_tok_work_init(&w);
    IC_FUZZ_CHECK(t->unk_id >= 0 && t->cls_id >= 0 && t->sep_id >= 0);
    if (ic_tokenizer_encode(t, &w, text, len, 16, ids, &n, &err) == IC_OK) {
        IC_FUZZ_CHECK(n >= 2 && n <= 16);
        IC_FUZZ_CHECK(ids[0] == t->cls_id && ids[n - 1] == t->sep_id);
        for (int i = 0; i < n; i++) {
            IC_FUZZ_CHECK(ids[i] >= 0 && (size_t)ids[i] < t->n_tokens);
            IC_FUZZ_CHECK(ic_tokenizer_token(t, ids[i]) != NULL);
        }
    }
    if (t->pad_id >= 0) {
        struct ic_tok_batch b;
        memset(&b, 0, sizeof b);
        const char *texts[2] = {text, "hola"};
        size_t lens[2] = {len, 4};
        if (ic_tokenizer_encode_batch(t, &w, texts, lens, 2, 8, IC_TOK_PAD_MAX_LENGTH, &b,
                                      &err) == IC_OK) {
            IC_FUZZ_CHECK(b.n == 2 && b.seq_len == 8);
            for (int i = 0; i < 2 * 8; i++) {
                IC_FUZZ_CHECK(b.ids[i] >= 0 && (size_t)b.ids[i] < t->n_tokens);
                IC_FUZZ_CHECK(b.attention_mask[i] == 0 || b.attention_mask[i] == 1);
            }
        }
        ic_tok_batch_free(&b);
    }
    ic_tok_work_free(&w);
}

int ic_fuzz_vocab(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    struct ic_tokenizer t;
    struct ic_err err;
    memset(&t, 0, sizeof t);
    memset(&err, 0, sizeof err);
    int rc;
    if ((sel & 1) == 0) {
        struct ic_tokenizer_opts o;
        ic_tokenizer_default_opts(&o);
        o.lowercase = (sel >> 1) & 1;
        o.strip_accents = ((sel >> 2) & 1) ? -1 : o.lowercase;
        o.handle_chinese_chars = (sel >> 3) & 1;
        o.model_max_length = (sel >> 4) & 1 ? 12 : 0;
        rc = ic_tokenizer_load_vocab_mem(&t, (const char *)body, len, &o, &err);
    } else {
        size_t n1, n2;
        const uint8_t *rest;
        ic_fuzz_split(body, len, "\n=====\n", &n1, &rest, &n2);
        const char *main_name = (sel & 2) ? "tok/vocab.txt" : "tok/tokenizer.json";
        const char *other_name = (sel & 2) ? "tok/tokenizer.json" : "tok/vocab.txt";
        const char *p = ic_fuzz_put(main_name, body, n1);
        char dir[512];
        snprintf(dir, sizeof dir, "%s", p);
        *strrchr(dir, '/') = 0;
        char other[600], cfg[600];
        snprintf(other, sizeof other, "%s/%s", dir, strchr(other_name, '/') + 1);
        unlink(other);
        snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
        if (n2)
            ic_fuzz_put("tok/tokenizer_config.json", rest, n2);
        else
            unlink(cfg);
        rc = ic_tokenizer_load_dir(&t, dir, &err);
    }
    if (rc == IC_OK) {
        IC_FUZZ_CHECK(t.n_tokens >= 3 && t.n_tokens <= IC_TOK_MAX_VOCAB);
        for (size_t i = 0; i < sizeof ic_fuzz_vocab_texts / sizeof *ic_fuzz_vocab_texts; i++)
            ic_fuzz_vocab_encode(&t, ic_fuzz_vocab_texts[i], strlen(ic_fuzz_vocab_texts[i]));
        size_t k = len < 64 ? len : 64, bad;
        if (ic_utf8_valid((const char *)body, k, &bad))
            ic_fuzz_vocab_encode(&t, (const char *)body, k);
        struct ic_buf b;
        ic_buf_init(&b, 0);
        IC_FUZZ_CHECK(ic_tokenizer_vocab_text(&t, &b) == IC_OK);
        ic_buf_free(&b);
    } else {
        IC_FUZZ_CHECK(err.msg[0] != 0);
    }
    ic_tokenizer_free(&t);
    return 0;
}

#ifndef IC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ic_fuzz_quiet();
    return ic_fuzz_vocab(data, size);
}
#endif
