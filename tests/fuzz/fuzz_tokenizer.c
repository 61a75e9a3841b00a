/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_tokenizer.c - libFuzzer target for the BERT tokenizer. The first byte
 * picks the mode: bit 7 set -> the rest is a vocab.txt to load, then a fixed
 * text is encoded with it; otherwise the rest is a text encoded with a small
 * vocabulary under options chosen by the low bits (cased/uncased, accents,
 * clean_text, CJK spacing, word limit) and a length limit. Checks: no crash,
 * status OK exactly when the text is valid UTF-8, [CLS] ... [SEP] framing,
 * ids in range, and identical results from a reused work struct.
 * Follows tests/fuzz/fuzz_common.h (ic_fuzz_tokenizer is replayed by the
 * unit tests).
 *   make fuzz && build/fuzz/fuzz_tokenizer tests/fuzz/corpus/tokenizer
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "intent/ic.h"
#include "intent/tokenizer.h"

static const char ic_fuzz_tok_vocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n!\n\"\n#\n$\n%\n&\n'\n(\n)\n*\n+\n,\n-\n.\n/\n0\n1\n2\n3\n"
    "a\nb\nc\nd\ne\nn\no\ns\nt\n##a\n##b\n##c\n##d\n##e\n##n\n##o\n##s\n##t\nthe\nhello\nworld\n"
    "##ing\nun\n##aff\n##able\nest\n##a\ndon\n##de\n¿\n¡\nñ\n##ñ\n中\n文\né\nİ\ni\n##̇\nσ\nς\n"
    "##σ\n##ς\n😀\n€\n[unused0]\n##\n###\n";

static void ic_fuzz_tok_encode(const struct ic_tokenizer *t, const char *text, size_t len,
                             int max_len)
{
    struct ic_tok_work w;
    ic_tok_work_init(&w);
    size_t cap = max_len > 0 ? (size_t)max_len : IC_TOK_MAX_IDS(len);
    int32_t *ids = ic_xmalloc(cap * sizeof *ids), *ids2 = ic_xmalloc(cap * sizeof *ids);
    int n = -1, n2 = -1;
    size_t bad;
    int rc = ic_tokenizer_encode(t, &w, text, len, max_len, ids, &n, NULL);
    IC_FUZZ_CHECK((rc == IC_OK) == ic_utf8_valid(text, len, &bad));
    if (rc == IC_OK) {
        IC_FUZZ_CHECK(n >= 2 && (size_t)n <= cap);
        IC_FUZZ_CHECK(ids[0] == t->cls_id && ids[n - 1] == t->sep_id);
        for (int i = 0; i < n; i++)
            IC_FUZZ_CHECK(ids[i] >= 0 && (size_t)ids[i] < ic_tokenizer_vocab_size(t));
        int rc2 = ic_tokenizer_encode(t, &w, text, len, max_len, ids2, &n2, NULL);
        IC_FUZZ_CHECK(rc2 == IC_OK && n2 == n && memcmp(ids, ids2, (size_t)n * sizeof *ids) == 0);
    } else {
        IC_FUZZ_CHECK(n == 0);
    }
    ic_free(ids);
    ic_free(ids2);
    ic_tok_work_free(&w);
}

int ic_fuzz_tokenizer(const uint8_t *data, size_t size);
int ic_fuzz_tokenizer(const uint8_t *data, size_t size)
{
    ic_fuzz_quiet();
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    const char *rest = (const char *)data + 1;
    size_t len = size - 1;
    struct ic_tokenizer t;
    struct ic_tokenizer_opts o;
    ic_tokenizer_default_opts(&o);
    if (mode & 0x80) {
        if (ic_tokenizer_load_vocab_mem(&t, rest, len, &o, NULL) != IC_OK)
            return 0;
        static const char text[] = "Hello [CLS] wörld, ¿qué? 中文 a\xe2\x80\x8b b [UNK]";
        ic_fuzz_tok_encode(&t, text, sizeof text - 1, 0);
        ic_tokenizer_free(&t);
        return 0;
    }
    o.lowercase = mode & 1;
    o.strip_accents = (mode & 2) ? -1 : (int)((mode >> 2) & 1);
    o.clean_text = !(mode & 8);
    o.handle_chinese_chars = !(mode & 16);
    o.max_input_chars_per_word = (mode & 32) ? 5 : 100;
    int max_len = (mode & 64) ? 2 + (int)(len % 7) : 0;
    IC_FUZZ_CHECK(ic_tokenizer_load_vocab_mem(&t, ic_fuzz_tok_vocab, sizeof ic_fuzz_tok_vocab - 1,
                                              &o, NULL) == IC_OK);
    ic_fuzz_tok_encode(&t, rest, len, max_len);
    ic_tokenizer_free(&t);
    return 0;
}

#ifndef IC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return ic_fuzz_tokenizer(data, size);
}
#endif
