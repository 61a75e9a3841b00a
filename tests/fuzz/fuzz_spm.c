/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_spm.c - libFuzzer target for the SentencePiece pieces (src/text/
 * spm.h). The first byte picks the mode (low 3 bits), the rest is:
 *   0  a .model file (protobuf ModelProto): loaded; when accepted, its
 *      pieces build a Unigram model and its charsmap a normaliser, and a
 *      fixed text goes through both
 *   1  a raw precompiled_charsmap, then "\xff\xfe", then a text to normalise
 *   2  a text through a fixed pipeline (a charsmap of our own, Replace
 *      " {2,}", Metaspace, Unigram with and without byte fallback)
 *   3  a Replace rule "pattern\0content\0text" (bit 3 of the first byte:
 *      regex), applied when accepted
 *   4  a base64 string: decoded, re-encoded, compared
 * Checks: no crash or leak; status OK exactly when the text is UTF-8;
 * normalised text is UTF-8; Metaspace words tile its output; ids in range;
 * the same input gives the same ids twice.
 * Follows tests/fuzz/fuzz_common.h (ic_fuzz_spm is replayed by the unit
 * tests).
 *   make fuzz && build/fuzz/fuzz_spm tests/fuzz/corpus/spm
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "intent/ic.h"
#include "text/spm.h"

#define IC_FUZZ_SPM_META "\xe2\x96\x81"

static const char *const ic_fuzz_spm_pieces[] = {
    "<unk>", "<s>", "</s>", IC_FUZZ_SPM_META, "a", "b", "c", "ab", "abc", IC_FUZZ_SPM_META "a",
    IC_FUZZ_SPM_META "ab", "\xc3\xa9", "\xe4\xb8\xad", "<0x41>", "<0xC3>", "<0xA9>", "<0xE2>",
    "<0x96>", "<0x81>", "<0x20>", "<0x00>", "ab"};
static const double ic_fuzz_spm_scores[] = {0, 0, 0, -2, -3, -3.5, -4, -2.5, -2.75, -1.5,
                                            -2.25, -5, -6, -20, -20, -20, -20, -20, -20,
                                            -20, -20, -2.6};
/* maps "A" -> "a", "e\xcc\x81" -> "\xc3\xa9", "\t" -> " " (built with
 * tools/gen_spm_golden.mjs charsmap) */
static const char ic_fuzz_spm_charsmap[] =
    "KAEAAAAAAQBBDQAAAAAAgMwYAgCBBQAAAgAAgAUAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAABlqAMAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAJPQEAYQDDqQAgAA==";

static void ic_fuzz_spm_encode(const struct ic__unigram *u, const char *text, size_t len)
{
    int32_t *ids = NULL, *ids2 = NULL;
    size_t n = 0, n2 = 0, cap = 0, cap2 = 0, bad;
    int rc = ic__unigram_encode_word(u, text, len, &ids, &n, &cap);
    int rc2 = ic__unigram_encode_word(u, text, len, &ids2, &n2, &cap2);
    IC_FUZZ_CHECK(rc == rc2 && n == n2 && (n == 0 || memcmp(ids, ids2, n * sizeof *ids) == 0));
    if (!ic_utf8_valid(text, len, &bad))
        IC_FUZZ_CHECK(rc == IC_ERR_FORMAT);
    for (size_t i = 0; rc == IC_OK && i < n; i++)
        IC_FUZZ_CHECK(ids[i] >= 0 && (size_t)ids[i] < u->n);
    IC_FUZZ_CHECK(rc != IC_OK || len == 0 || n > 0);
    ic_free(ids);
    ic_free(ids2);
}

static void ic_fuzz_spm_norm(const struct ic__spm_norm *nm, const char *text, size_t len)
{
    struct ic_buf out;
    size_t bad;
    ic_buf_init(&out, 0);
    int rc = ic__spm_norm_apply(nm, text, len, &out);
    IC_FUZZ_CHECK((rc == IC_OK) == ic_utf8_valid(text, len, &bad));
    if (rc == IC_OK)
        IC_FUZZ_CHECK(ic_utf8_valid(out.data, out.len, &bad));
    ic_buf_free(&out);
}

static void ic_fuzz_spm_model(const uint8_t *d, size_t n)
{
    char **pieces;
    double *scores;
    int *types;
    size_t np;
    char *cm;
    if (ic__spm_model_load(d, n, "fuzz.model", &pieces, &scores, &types, &np, &cm, NULL) != IC_OK)
        return;
    static const char text[] = IC_FUZZ_SPM_META "Hello" IC_FUZZ_SPM_META "w\xc3\xb6rld\xe4\xb8\xad";
    struct ic__unigram u;
    if (ic__unigram_init(&u, (const char *const *)pieces, scores, np, 0, 1, NULL) == IC_OK) {
        ic_fuzz_spm_encode(&u, text, sizeof text - 1);
        ic__unigram_free(&u);
    }
    struct ic__spm_norm nm;
    if (cm && ic__spm_norm_init(&nm, cm, strlen(cm), NULL) == IC_OK) {
        ic_fuzz_spm_norm(&nm, text, sizeof text - 1);
        ic__spm_norm_free(&nm);
    }
    ic__spm_model_free(pieces, scores, types, np, cm);
}

static void ic_fuzz_spm_charsmap_text(const uint8_t *d, size_t n)
{
    size_t n1, n2;
    const uint8_t *rest;
    ic_fuzz_split(d, n, "\xff\xfe", &n1, &rest, &n2);
    struct ic__spm_norm nm;
    if (ic__spm_norm_init_raw(&nm, d, n1, NULL) != IC_OK)
        return;
    ic_fuzz_spm_norm(&nm, (const char *)rest, n2);
    ic__spm_norm_free(&nm);
}

/* Metaspace words tile the output and each starts with the meta symbol
 * (all but possibly the first). */
static void ic_fuzz_spm_words(const struct ic_buf *norm, const struct ic__unigram *u,
                              const struct ic__unigram *bf)
{
    struct ic_buf out;
    size_t *ends = NULL, nw = 0, cap = 0;
    ic_buf_init(&out, 0);
    IC_FUZZ_CHECK(ic__metaspace_split(norm->data, norm->len, IC_FUZZ_SPM_META, 1, 1, &out, &ends,
                                      &nw, &cap) == IC_OK);
    for (size_t i = 0, start = 0; i < nw; start = ends[i++]) {
        IC_FUZZ_CHECK(ends[i] > start && ends[i] <= out.len);
        IC_FUZZ_CHECK(i == 0 || memcmp(out.data + start, IC_FUZZ_SPM_META, 3) == 0);
        ic_fuzz_spm_encode(u, out.data + start, ends[i] - start);
        ic_fuzz_spm_encode(bf, out.data + start, ends[i] - start);
    }
    IC_FUZZ_CHECK(nw == 0 ? out.len == 0 : ends[nw - 1] == out.len);
    ic_buf_free(&out);
    ic_free(ends);
}

static void ic_fuzz_spm_pipeline(const char *text, size_t len)
{
    struct ic__spm_norm nm;
    struct ic__replace rep;
    struct ic__unigram u, bf;
    size_t np = sizeof ic_fuzz_spm_pieces / sizeof *ic_fuzz_spm_pieces, bad;
    IC_FUZZ_CHECK(ic__spm_norm_init(&nm, ic_fuzz_spm_charsmap, sizeof ic_fuzz_spm_charsmap - 1,
                                    NULL) == IC_OK);
    IC_FUZZ_CHECK(ic__replace_init(&rep, " {2,}", 1, " ", NULL) == IC_OK);
    IC_FUZZ_CHECK(ic__unigram_init(&u, ic_fuzz_spm_pieces, ic_fuzz_spm_scores, np, 0, 0, NULL) ==
                  IC_OK);
    IC_FUZZ_CHECK(ic__unigram_init(&bf, ic_fuzz_spm_pieces, ic_fuzz_spm_scores, np, 0, 1, NULL) ==
                  IC_OK);
    struct ic_buf a, b;
    ic_buf_init(&a, 0);
    ic_buf_init(&b, 0);
    int rc = ic__spm_norm_apply(&nm, text, len, &a);
    IC_FUZZ_CHECK((rc == IC_OK) == ic_utf8_valid(text, len, &bad));
    if (rc == IC_OK) {
        IC_FUZZ_CHECK(ic__replace_apply(&rep, a.data, a.len, &b) == IC_OK);
        IC_FUZZ_CHECK(ic_utf8_valid(b.data, b.len, &bad));
        IC_FUZZ_CHECK(b.len == 0 || !memmem(b.data, b.len, "  ", 2));
        ic_fuzz_spm_words(&b, &u, &bf);
    }
    ic_fuzz_spm_encode(&u, text, len);
    ic_buf_free(&a);
    ic_buf_free(&b);
    ic__unigram_free(&u);
    ic__unigram_free(&bf);
    ic__replace_free(&rep);
    ic__spm_norm_free(&nm);
}

static void ic_fuzz_spm_replace(const uint8_t *d, size_t n, int is_regex)
{
    char *s = ic_xmalloc(n + 1); /* pattern and content end at NULs */
    memcpy(s, d, n);
    s[n] = 0;
    size_t pl = strlen(s);
    const char *content = pl < n ? s + pl + 1 : "";
    size_t cl = pl < n ? strlen(content) : 0;
    size_t off = pl + 1 + cl + 1;
    const char *text = off <= n ? (const char *)d + off : "";
    size_t tl = off <= n ? n - off : 0;
    struct ic__replace r;
    if (ic__replace_init(&r, s, is_regex, content, NULL) == IC_OK) {
        struct ic_buf out;
        ic_buf_init(&out, 0);
        IC_FUZZ_CHECK(ic__replace_apply(&r, text, tl, &out) == IC_OK);
        if (!is_regex && !memmem(text, tl, s, pl))
            IC_FUZZ_CHECK(out.len == tl && (tl == 0 || memcmp(out.data, text, tl) == 0));
        ic_buf_free(&out);
        ic__replace_free(&r);
    }
    ic_free(s);
}

static void ic_fuzz_spm_base64(const uint8_t *d, size_t n)
{
    unsigned char *raw;
    size_t rl;
    if (ic__base64_decode((const char *)d, n, &raw, &rl, NULL) != IC_OK)
        return;
    char *again = ic__base64_encode(raw, rl);
    IC_FUZZ_CHECK(strlen(again) == n && memcmp(again, d, n) == 0);
    ic_free(again);
    ic_free(raw);
}

int ic_fuzz_spm(const uint8_t *data, size_t size);
int ic_fuzz_spm(const uint8_t *data, size_t size)
{
    ic_fuzz_quiet();
    if (size < 1)
        return 0;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    switch (data[0] & 7) {
    case 0: ic_fuzz_spm_model(d, n); break;
    case 1: ic_fuzz_spm_charsmap_text(d, n); break;
    case 2: ic_fuzz_spm_pipeline((const char *)d, n); break;
    case 3: ic_fuzz_spm_replace(d, n, (data[0] >> 3) & 1); break;
    case 4: ic_fuzz_spm_base64(d, n); break;
    default: break;
    }
    return 0;
}

#ifndef IC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return ic_fuzz_spm(data, size);
}
#endif
