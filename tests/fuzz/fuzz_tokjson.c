/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_tokjson.c - libFuzzer target for the tokenizer.json readers of the
 * BPE and Unigram families (model, merges, pieces and scores, normaliser,
 * pre-tokenizer, post-processor, added tokens with their flags) and for
 * encoding with what they accept. Input: a tokenizer.json, then optionally
 * a NUL byte and a text to encode (default: a fixed text with added-token
 * strings, whitespace runs and non-ASCII). Checks: no crash or leak; a file
 * that loads encodes every valid UTF-8 text as start ... end with ids in
 * range, the same twice with one work struct, and an invalid text is
 * refused. Follows tests/fuzz/fuzz_common.h (ic_fuzz_tokjson is replayed by
 * the unit tests).
 *   make fuzz && build/fuzz/fuzz_tokjson tests/fuzz/corpus/tokjson
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "intent/ic.h"
#include "intent/tokenizer.h"
#include "text/tok_json.h"

static void ic_fuzz_tj_encode(const struct ic_tokenizer *t, const char *text, size_t len)
{
    struct ic_tok_work w;
    ic_tok_work_init(&w);
    size_t cap = IC_TOK_MAX_IDS(len);
    int32_t *ids = ic_xmalloc(cap * sizeof *ids), *ids2 = ic_xmalloc(cap * sizeof *ids);
    int n = -1, n2 = -1;
    size_t bad;
    int rc = ic_tokenizer_encode(t, &w, text, len, 0, ids, &n, NULL);
    if (!ic_utf8_valid(text, len, &bad)) {
        IC_FUZZ_CHECK(rc != IC_OK);
    } else if (rc == IC_OK) {
        IC_FUZZ_CHECK(n >= 2 && (size_t)n <= cap);
        IC_FUZZ_CHECK(ids[0] == t->cls_id && ids[n - 1] == t->sep_id);
        for (int i = 0; i < n; i++)
            IC_FUZZ_CHECK(ids[i] >= 0 && (size_t)ids[i] < ic_tokenizer_vocab_size(t));
        int rc2 = ic_tokenizer_encode(t, &w, text, len, 0, ids2, &n2, NULL);
        IC_FUZZ_CHECK(rc2 == IC_OK && n2 == n && memcmp(ids, ids2, (size_t)n * sizeof *ids) == 0);
    } else {
        /* only a Unigram without unk may refuse valid text */
        IC_FUZZ_CHECK(t->type == IC_TOK_UNIGRAM);
    }
    ic_free(ids);
    ic_free(ids2);
    ic_tok_work_free(&w);
}

int ic_fuzz_tokjson(const uint8_t *data, size_t size);
int ic_fuzz_tokjson(const uint8_t *data, size_t size)
{
    ic_fuzz_quiet();
    const char *s = (const char *)data;
    const char *nul = memchr(s, 0, size);
    size_t jlen = nul ? (size_t)(nul - s) : size;
    static const char dflt[] = "Hello <mask> world,  <s>héllo</s>\t\n ¿qué?  中文 😀 <unk><pad>x";
    const char *text = nul ? nul + 1 : dflt;
    size_t tlen = nul ? size - jlen - 1 : sizeof dflt - 1;
    json_t *root = json_loadb(s, jlen, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return 0;
    }
    struct ic_tokenizer t;
    if (ic__tok_from_json(&t, root, NULL, "fuzz", 0, NULL) == IC_OK) {
        ic_fuzz_tj_encode(&t, text, tlen);
        ic_tokenizer_free(&t);
    }
    json_decref(root);
    return 0;
}

#ifndef IC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return ic_fuzz_tokjson(data, size);
}
#endif
