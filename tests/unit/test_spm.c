/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_spm.c - the SentencePiece Unigram pieces (src/text/spm.h) against
 * goldens produced by Hugging Face's Rust tokenizer
 * (tools/gen_spm_golden.mjs): a small vocabulary and charsmap of our own
 * (always run), and the real XLM-R tokenizer.json (../shared, skipped when
 * absent): Precompiled output, Replace output, Metaspace words and Unigram
 * ids, compared exactly. Plus the refusals of bad input.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent/ic.h"
#include "test.h"
#include "text/spm.h"

static char *golden(const char *name)
{
    return ic_xasprintf("%s/spm/%s", test_golden_dir(), name);
}

/* Reads a JSON-lines file into an array of objects (NULL + msg on error). */
static json_t *read_jsonl(const char *file, char *msg, size_t msg_len)
{
    char *data = NULL;
    size_t len = 0;
    struct ic_err err = {0};
    if (ic_read_file(file, (size_t)64 << 20, &data, &len, &err) != IC_OK) {
        snprintf(msg, msg_len, "%s", err.msg);
        return NULL;
    }
    json_t *rows = json_array();
    int lineno = 0;
    for (char *line = data; line && *line; lineno++) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        json_error_t je;
        json_t *j = json_loadb(line, ll, JSON_ALLOW_NUL, &je);
        line = nl ? nl + 1 : NULL;
        if (!j) {
            snprintf(msg, msg_len, "%s: line %d: %s", file, lineno + 1, je.text);
            json_decref(rows);
            rows = NULL;
            break;
        }
        json_array_append_new(rows, j);
    }
    ic_free(data);
    return rows;
}

/* [[piece, score], ...] -> arrays (pieces borrowed from v). */
static size_t vocab_arrays(json_t *v, const char ***pieces, double **scores)
{
    size_t n = json_array_size(v);
    *pieces = ic_xcalloc(n + 256, sizeof **pieces);
    *scores = ic_xcalloc(n + 256, sizeof **scores);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        (*pieces)[i] = json_string_value(json_array_get(e, 0));
        (*scores)[i] = json_number_value(json_array_get(e, 1));
    }
    return n;
}

static int ids_equal(const int32_t *ids, size_t n, json_t *want)
{
    if (json_array_size(want) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (json_integer_value(json_array_get(want, i)) != ids[i])
            return 0;
    return 1;
}

static int str_equal(const struct ic_buf *b, json_t *want)
{
    size_t wl = json_string_length(want);
    return b->len == wl && (wl == 0 || memcmp(b->data, json_string_value(want), wl) == 0);
}

// --- the small vocabulary of our own ---------------------------------------------

static char byte_names[256][8];

static int check_small_unigram(json_t *rows, const struct ic__unigram *plain,
                               const struct ic__unigram *bf, int *n_words, char *msg, size_t ml)
{
    int bad = 0;
    int32_t *ids = NULL;
    size_t n_ids, cap = 0;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i);
        if (strcmp(json_string_value(json_object_get(r, "kind")), "unigram") != 0)
            continue;
        json_t *w = json_object_get(r, "word");
        for (int k = 0; k < 2; k++) {
            n_ids = 0;
            int rc = ic__unigram_encode_word(k ? bf : plain, json_string_value(w),
                                             json_string_length(w), &ids, &n_ids, &cap);
            if (rc || !ids_equal(ids, n_ids, json_object_get(r, k ? "bf" : "ids"))) {
                if (!bad++)
                    snprintf(msg, ml, "word \"%s\" (%s): rc %d, %zu ids", json_string_value(w),
                             k ? "byte_fallback" : "plain", rc, n_ids);
            }
        }
        (*n_words)++;
    }
    ic_free(ids);
    return bad;
}

TEST(spm_small_unigram_golden)
{
    char msg[512] = "";
    char *vf = golden("small_vocab.json"), *cf = golden("small_cases.jsonl");
    json_error_t je;
    json_t *v = json_load_file(vf, 0, &je);
    json_t *rows = read_jsonl(cf, msg, sizeof msg);
    ic_free(vf);
    ic_free(cf);
    if (!v || !rows) {
        json_decref(v);
        json_decref(rows);
        FAIL("golden: %s %s", v ? "" : je.text, msg);
    }
    const char **pieces;
    double *scores;
    size_t n = vocab_arrays(v, &pieces, &scores);
    for (int b = 0; b < 256; b++) {
        snprintf(byte_names[b], sizeof byte_names[b], "<0x%02X>", b);
        pieces[n + (size_t)b] = byte_names[b];
        scores[n + (size_t)b] = -20;
    }
    struct ic__unigram plain, bf;
    struct ic_err err = {0};
    int rc1 = ic__unigram_init(&plain, pieces, scores, n, 0, 0, &err);
    int rc2 = ic__unigram_init(&bf, pieces, scores, n + 256, 0, 1, &err);
    int n_words = 0, bad = -1;
    if (rc1 == IC_OK && rc2 == IC_OK)
        bad = check_small_unigram(rows, &plain, &bf, &n_words, msg, sizeof msg);
    ic__unigram_free(&plain);
    ic__unigram_free(&bf);
    ic_free(pieces);
    ic_free(scores);
    json_decref(v);
    json_decref(rows);
    if (bad < 0)
        FAIL("init: %s", err.msg);
    if (bad)
        FAIL("%d of %d words differ; first: %s", bad, n_words, msg);
    ASSERT(n_words >= 500);
}

static int check_small_norm(json_t *rows, const struct ic__spm_norm *nm, int *n, char *msg,
                            size_t ml)
{
    int bad = 0;
    struct ic_buf out;
    ic_buf_init(&out, 0);
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i);
        if (strcmp(json_string_value(json_object_get(r, "kind")), "precompiled") != 0)
            continue;
        json_t *t = json_object_get(r, "text");
        ic_buf_reset(&out);
        int rc = ic__spm_norm_apply(nm, json_string_value(t), json_string_length(t), &out);
        if (rc || !str_equal(&out, json_object_get(r, "norm"))) {
            if (!bad++)
                snprintf(msg, ml, "\"%s\" -> \"%s\" (rc %d), want \"%s\"", json_string_value(t),
                         out.len ? out.data : "", rc,
                         json_string_value(json_object_get(r, "norm")));
        }
        (*n)++;
    }
    ic_buf_free(&out);
    return bad;
}

TEST(spm_small_precompiled_golden)
{
    char msg[512] = "";
    char *mf = golden("small_charsmap.txt"), *cf = golden("small_cases.jsonl");
    char *b64 = NULL;
    size_t len = 0;
    struct ic_err err = {0};
    int rc = ic_read_file(mf, 1 << 20, &b64, &len, &err);
    json_t *rows = read_jsonl(cf, msg, sizeof msg);
    ic_free(mf);
    ic_free(cf);
    struct ic__spm_norm nm;
    int bad = -1, n = 0;
    while (len && (b64[len - 1] == '\n'))
        len--;
    if (rc == IC_OK && rows && ic__spm_norm_init(&nm, b64, len, &err) == IC_OK) {
        bad = check_small_norm(rows, &nm, &n, msg, sizeof msg);
        ic__spm_norm_free(&nm);
    }
    ic_free(b64);
    json_decref(rows);
    if (bad < 0)
        FAIL("setup: %s %s", err.msg, msg);
    if (bad)
        FAIL("%d of %d texts differ; first: %s", bad, n, msg);
    ASSERT(n >= 20);
}

static int words_equal(const struct ic_buf *out, const size_t *ends, size_t n, json_t *want)
{
    if (json_array_size(want) != n)
        return 0;
    for (size_t i = 0, start = 0; i < n; start = ends[i++]) {
        json_t *w = json_array_get(want, i);
        if (ends[i] - start != json_string_length(w) ||
            memcmp(out->data + start, json_string_value(w), ends[i] - start) != 0)
            return 0;
    }
    return 1;
}

TEST(spm_small_metaspace_golden)
{
    char msg[512] = "";
    char *cf = golden("small_cases.jsonl");
    json_t *rows = read_jsonl(cf, msg, sizeof msg);
    ic_free(cf);
    if (!rows)
        FAIL("%s", msg);
    struct ic_buf out;
    ic_buf_init(&out, 0);
    size_t *ends = NULL, n_words, cap = 0;
    int bad = 0, n = 0;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i);
        if (strcmp(json_string_value(json_object_get(r, "kind")), "metaspace") != 0)
            continue;
        json_t *t = json_object_get(r, "text");
        int scheme = ic__metaspace_prepend_parse(json_string_value(json_object_get(r, "scheme")));
        ic_buf_reset(&out);
        n_words = 0;
        int rc = ic__metaspace_split_ex(json_string_value(t), json_string_length(t), "\xe2\x96\x81",
                                        (enum ic__metaspace_prepend)scheme, 1,
                                        json_is_true(json_object_get(r, "split")), &out, &ends,
                                        &n_words, &cap);
        if (scheme < 0 || rc || !words_equal(&out, ends, n_words, json_object_get(r, "words")))
            if (!bad++)
                snprintf(msg, sizeof msg, "\"%s\" scheme %d: rc %d, %zu words",
                         json_string_value(t), scheme, rc, n_words);
        n++;
    }
    ic_buf_free(&out);
    ic_free(ends);
    json_decref(rows);
    if (bad)
        FAIL("%d of %d cases differ; first: %s", bad, n, msg);
    ASSERT(n >= 60);
}

static int check_replace_row(json_t *r, struct ic_buf *out)
{
    json_t *pat = json_object_get(r, "pattern");
    json_t *re = json_object_get(pat, "Regex");
    const char *p = json_string_value(re ? re : json_object_get(pat, "String"));
    struct ic__replace rep;
    struct ic_err err = {0};
    if (ic__replace_init(&rep, p, re != NULL, json_string_value(json_object_get(r, "content")),
                         &err) != IC_OK)
        return 0;
    json_t *t = json_object_get(r, "text");
    ic_buf_reset(out);
    int rc = ic__replace_apply(&rep, json_string_value(t), json_string_length(t), out);
    ic__replace_free(&rep);
    return rc == IC_OK && str_equal(out, json_object_get(r, "out"));
}

TEST(spm_small_replace_golden)
{
    char msg[512] = "";
    char *cf = golden("small_cases.jsonl");
    json_t *rows = read_jsonl(cf, msg, sizeof msg);
    ic_free(cf);
    if (!rows)
        FAIL("%s", msg);
    struct ic_buf out;
    ic_buf_init(&out, 0);
    int bad = 0, n = 0;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i);
        if (strcmp(json_string_value(json_object_get(r, "kind")), "replace") != 0)
            continue;
        if (!check_replace_row(r, &out) && !bad++)
            snprintf(msg, sizeof msg, "\"%s\"", json_string_value(json_object_get(r, "text")));
        n++;
    }
    ic_buf_free(&out);
    json_decref(rows);
    if (bad)
        FAIL("%d of %d cases differ; first: %s", bad, n, msg);
    ASSERT(n >= 15);
}

// --- the real XLM-R tokenizer.json -----------------------------------------------

struct xlmr {
    struct ic__spm_norm norm;
    struct ic__replace rep;
    struct ic__unigram uni;
    double init_s; /* time to build the Unigram model */
};

static int xlmr_load(struct xlmr *x, const char *path, char *msg, size_t ml)
{
    json_error_t je;
    struct ic_err err = {0};
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        snprintf(msg, ml, "%s: %s", path, je.text);
        return -1;
    }
    json_t *norms = json_object_get(json_object_get(j, "normalizer"), "normalizers");
    json_t *pc = json_object_get(json_array_get(norms, 0), "precompiled_charsmap");
    json_t *rp = json_array_get(norms, 1);
    json_t *model = json_object_get(j, "model");
    const char **pieces;
    double *scores;
    size_t n = vocab_arrays(json_object_get(model, "vocab"), &pieces, &scores);
    int rc = ic__spm_norm_init(&x->norm, json_string_value(pc), json_string_length(pc), &err);
    if (rc == IC_OK)
        rc = ic__replace_init(&x->rep,
                              json_string_value(json_object_get(json_object_get(rp, "pattern"), "Regex")),
                              1, json_string_value(json_object_get(rp, "content")), &err);
    double t0 = ic_time_now();
    if (rc == IC_OK)
        rc = ic__unigram_init(&x->uni, pieces, scores, n,
                              (int32_t)json_integer_value(json_object_get(model, "unk_id")), 0, &err);
    x->init_s = ic_time_now() - t0;
    if (rc)
        snprintf(msg, ml, "%s: %s", path, err.msg);
    ic_free(pieces);
    ic_free(scores);
    json_decref(j);
    return rc ? -1 : 0;
}

struct work {
    struct ic_buf pre, norm, words;
    size_t *ends, n_words, cap;
    int32_t *ids;
    size_t n_ids, ids_cap;
};

/* One golden row through the pipeline; 0 when all stages agree, else the
 * stage that differs (1 pre, 2 norm, 3 words, 4 ids, 5 full). */
static int xlmr_row(const struct xlmr *x, struct work *w, json_t *r)
{
    json_t *t = json_object_get(r, "text");
    const char *s = json_string_value(t);
    ic_buf_reset(&w->pre);
    ic_buf_reset(&w->norm);
    ic_buf_reset(&w->words);
    w->n_words = 0;
    if (ic__spm_norm_apply(&x->norm, s, json_string_length(t), &w->pre) ||
        !str_equal(&w->pre, json_object_get(r, "pre")))
        return 1;
    if (ic__replace_apply(&x->rep, w->pre.data, w->pre.len, &w->norm) ||
        !str_equal(&w->norm, json_object_get(r, "norm")))
        return 2;
    if (ic__metaspace_split(w->norm.data, w->norm.len, "\xe2\x96\x81", 1, 1, &w->words, &w->ends,
                            &w->n_words, &w->cap) ||
        !words_equal(&w->words, w->ends, w->n_words, json_object_get(r, "words")))
        return 3;
    json_t *want = json_object_get(r, "ids");
    w->n_ids = 0;
    for (size_t i = 0, start = 0; i < w->n_words; start = w->ends[i++]) {
        size_t before = w->n_ids;
        if (ic__unigram_encode_word(&x->uni, w->words.data + start, w->ends[i] - start, &w->ids,
                                    &w->n_ids, &w->ids_cap) ||
            !ids_equal(w->ids + before, w->n_ids - before, json_array_get(want, i)))
            return 4;
    }
    /* <s> ids </s> when no special-token string is in the text */
    static const char *const specials[] = {"<s>", "</s>", "<unk>", "<pad>", "<mask>"};
    for (int k = 0; k < 5; k++)
        if (memmem(s, json_string_length(t), specials[k], strlen(specials[k])))
            return 0;
    json_t *full = json_object_get(r, "full");
    if (json_array_size(full) != w->n_ids + 2 || json_integer_value(json_array_get(full, 0)) != 0)
        return 5;
    for (size_t i = 0; i < w->n_ids; i++)
        if (json_integer_value(json_array_get(full, i + 1)) != w->ids[i])
            return 5;
    return 0;
}

static void work_free(struct work *w)
{
    ic_buf_free(&w->pre);
    ic_buf_free(&w->norm);
    ic_buf_free(&w->words);
    ic_free(w->ends);
    ic_free(w->ids);
}

/* Every text of tests/golden/spm/xlmr_cases.jsonl (or $IC_SPM_CASES)
 * through the real XLM-R tokenizer.json ($IC_XLMR_TOKENIZER, default
 * ../shared/tokenizers/xlm-roberta/tokenizer.json). */
TEST(spm_xlmr_golden)
{
    const char *p = getenv("IC_XLMR_TOKENIZER");
    if (!p)
        p = "../shared/tokenizers/xlm-roberta/tokenizer.json";
    if (!ic_path_exists(p))
        SKIP("%s not present (set IC_XLMR_TOKENIZER to XLM-R's tokenizer.json)", p);
    char msg[1024] = "";
    char *cf = getenv("IC_SPM_CASES") ? ic_xstrdup(getenv("IC_SPM_CASES")) : golden("xlmr_cases.jsonl");
    json_t *rows = read_jsonl(cf, msg, sizeof msg);
    ic_free(cf);
    struct xlmr x;
    memset(&x, 0, sizeof x);
    if (!rows || xlmr_load(&x, p, msg, sizeof msg)) {
        json_decref(rows);
        ic__spm_norm_free(&x.norm);
        ic__replace_free(&x.rep);
        FAIL("%s", msg);
    }
    struct work w;
    memset(&w, 0, sizeof w);
    ic_buf_init(&w.pre, 0);
    ic_buf_init(&w.norm, 0);
    ic_buf_init(&w.words, 0);
    size_t n = json_array_size(rows);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int stage = xlmr_row(&x, &w, json_array_get(rows, i));
        if (stage && !bad++)
            snprintf(msg, sizeof msg, "row %zu (stage %d: %s): \"%s\"", i + 1, stage,
                     stage == 1 ? "precompiled" : stage == 2 ? "replace" : stage == 3 ? "metaspace" : stage == 4 ? "unigram" : "full",
                     json_string_value(json_object_get(json_array_get(rows, i), "text")));
    }
    if (getenv("IC_SPM_VERBOSE"))
        fprintf(stderr, "spm_xlmr_golden: %zu texts, %zu exact; unigram init %.3f s\n", n,
                n - (size_t)bad, x.init_s);
    work_free(&w);
    ic__spm_norm_free(&x.norm);
    ic__replace_free(&x.rep);
    ic__unigram_free(&x.uni);
    json_decref(rows);
    if (bad)
        FAIL("%d of %zu texts differ; first: %s", bad, n, msg);
    ASSERT(n >= 400);
}

// --- bad input -------------------------------------------------------------------

TEST(spm_unigram_refuses_bad_vocab)
{
    const char *pieces[] = {"<unk>", "a", "b", "ab"};
    double scores[] = {0, -1, -2, NAN};
    struct ic__unigram u;
    struct ic_err err = {0};
    ASSERT_EQ(ic__unigram_init(&u, pieces, scores, 4, 0, 0, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "piece 3");
    ASSERT_CONTAINS(err.msg, "NaN");
    scores[3] = INFINITY;
    ASSERT_EQ(ic__unigram_init(&u, pieces, scores, 4, 0, 0, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "infinite");
    scores[3] = -1.5;
    ASSERT_EQ(ic__unigram_init(&u, pieces, scores, 0, -1, 0, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "empty");
    ASSERT_EQ(ic__unigram_init(&u, pieces, scores, 4, 4, 0, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "unk_id 4");
    const char *bad_utf8[] = {"<unk>", "a\xff"};
    ASSERT_EQ(ic__unigram_init(&u, bad_utf8, scores, 2, 0, 0, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "piece 1");
    const char *empty[] = {"<unk>", ""};
    ASSERT_EQ(ic__unigram_init(&u, empty, scores, 2, 0, 0, &err), IC_ERR_FORMAT);
    const char *with_null[] = {"<unk>", NULL};
    ASSERT_EQ(ic__unigram_init(&u, with_null, scores, 2, 0, 0, &err), IC_ERR_FORMAT);
}

/* Without an unk piece an unknown character is an error (tokenizers:
 * MissingUnkId); with one, runs of unknown characters become one <unk>,
 * and an over-long or invalid word is refused, not crashed on. */
TEST(spm_unigram_unknown_characters)
{
    const char *pieces[] = {"<unk>", "a", "b", "ab", "\xe2\x96\x81"};
    double scores[] = {0, -1, -2, -1.5, -3};
    struct ic__unigram u;
    struct ic_err err = {0};
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    ASSERT_OK_ERR(ic__unigram_init(&u, pieces, scores, 5, -1, 0, &err), err);
    ASSERT_EQ(ic__unigram_encode_word(&u, "abx", 3, &ids, &n, &cap), IC_ERR_FORMAT);
    n = 0;
    ASSERT_OK(ic__unigram_encode_word(&u, "aab", 3, &ids, &n, &cap));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(ids[0], 1);
    ASSERT_EQ(ids[1], 3);
    ic__unigram_free(&u);
    ASSERT_OK_ERR(ic__unigram_init(&u, pieces, scores, 5, 0, 0, &err), err);
    n = 0;
    ASSERT_OK(ic__unigram_encode_word(&u, "axy\xc3\xa9" "b", 6, &ids, &n, &cap));
    ASSERT_EQ(n, 3);
    ASSERT_EQ(ids[0], 1);
    ASSERT_EQ(ids[1], 0);
    ASSERT_EQ(ids[2], 2);
    n = 0;
    ASSERT_EQ(ic__unigram_encode_word(&u, "a\xc3", 2, &ids, &n, &cap), IC_ERR_FORMAT);
    ASSERT_EQ(ic__unigram_piece_id(&u, "ab", 2), 3);
    ASSERT_EQ(ic__unigram_piece_id(&u, "abc", 3), -1);
    ic__unigram_free(&u);
    ic_free(ids);
}

TEST(spm_charsmap_refuses_bad_input)
{
    struct ic__spm_norm nm;
    struct ic_err err = {0};
    ASSERT_EQ(ic__spm_norm_init(&nm, "AAA", 3, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "precompiled_charsmap");
    ASSERT_EQ(ic__spm_norm_init(&nm, "AA*A", 4, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "offset 2");
    ASSERT_EQ(ic__spm_norm_init(&nm, "AAAAAA==", 8, &err), IC_ERR_FORMAT); /* 4 zero bytes: empty trie */
    ASSERT_CONTAINS(err.msg, "empty");
    /* trie size 16 bytes but only 4 present */
    const unsigned char trunc[] = {16, 0, 0, 0, 1, 2, 3, 4};
    ASSERT_EQ(ic__spm_norm_init_raw(&nm, trunc, sizeof trunc, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "past the end");
    const unsigned char badblob[] = {4, 0, 0, 0, 0, 0, 0, 0, 'a', 0xff, 0};
    ASSERT_EQ(ic__spm_norm_init_raw(&nm, badblob, sizeof badblob, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "UTF-8");
    /* garbage units: lookups stay inside the array and text comes out */
    unsigned char junk[4 + 64 * 4 + 4];
    struct ic_rng r;
    ic_rng_seed(&r, 7);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)ic_rng_u64(&r);
    junk[0] = 0;
    junk[1] = 1; /* 256 bytes of trie */
    junk[2] = junk[3] = 0;
    memcpy(junk + 4 + 256, "ok\0", 4);
    ASSERT_OK_ERR(ic__spm_norm_init_raw(&nm, junk, sizeof junk, &err), err);
    struct ic_buf out;
    ic_buf_init(&out, 0);
    for (int k = 0; k < 200; k++) {
        char text[16];
        for (size_t i = 0; i < sizeof text; i++)
            text[i] = (char)(ic_rng_below(&r, 96) + 32);
        ASSERT_OK(ic__spm_norm_apply(&nm, text, sizeof text, &out));
    }
    ASSERT_EQ(ic__spm_norm_apply(&nm, "\xc3(", 2, &out), IC_ERR_FORMAT);
    ic_buf_free(&out);
    ic__spm_norm_free(&nm);
}

TEST(spm_replace_refuses_unsupported_patterns)
{
    static const char *const bad[] = {"a|b", "\\s+", "\\d", "\\p{L}", ".", "a*?", "(?i)x", "[^a]",
                                      "x*", "^a", "\xc3\xa9+", "[\xc3\xa9]", "a{2", ""};
    struct ic__replace r;
    struct ic_err err = {0};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = ic__replace_init(&r, bad[i], 1, " ", &err);
        if (rc == IC_OK) {
            ic__replace_free(&r);
            FAIL("pattern \"%s\" accepted", bad[i]);
        }
        ASSERT_EQ(rc, IC_ERR_UNSUPPORTED);
    }
    ASSERT_OK_ERR(ic__replace_init(&r, " {2,}", 1, " ", &err), err);
    struct ic_buf out;
    ic_buf_init(&out, 0);
    ASSERT_OK(ic__replace_apply(&r, "a  b\0  c", 8, &out)); /* NUL inside: REG_STARTEND */
    ASSERT_EQ(out.len, 6);
    ASSERT(memcmp(out.data, "a b\0 c", 6) == 0);
    ic_buf_free(&out);
    ic__replace_free(&r);
}

// --- .model files ------------------------------------------------------------------

static void pb_put_varint(struct ic_buf *b, uint64_t v)
{
    unsigned char c[10];
    size_t n = 0;
    do {
        c[n] = (unsigned char)(v & 0x7F);
        v >>= 7;
        if (v)
            c[n] |= 0x80;
        n++;
    } while (v);
    IC_ASSERT(ic_buf_append(b, c, n) == IC_OK);
}

static void pb_put_bytes(struct ic_buf *b, uint32_t field, const void *p, size_t n)
{
    pb_put_varint(b, (uint64_t)field << 3 | 2);
    pb_put_varint(b, n);
    IC_ASSERT(ic_buf_append(b, p, n) == IC_OK);
}

static void pb_put_float(struct ic_buf *b, uint32_t field, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    unsigned char c[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                          (unsigned char)(u >> 24)};
    pb_put_varint(b, (uint64_t)field << 3 | 5);
    IC_ASSERT(ic_buf_append(b, c, 4) == IC_OK);
}

/* A ModelProto of our own: pieces, trainer_spec, normalizer_spec with a
 * charsmap, and an unknown field to skip. */
static void build_model(struct ic_buf *m, const char *const *pieces, const float *scores,
                        const int *types, size_t n, const void *charsmap, size_t cm_len)
{
    struct ic_buf sub;
    ic_buf_init(&sub, 0);
    for (size_t i = 0; i < n; i++) {
        ic_buf_reset(&sub);
        pb_put_bytes(&sub, 1, pieces[i], strlen(pieces[i]));
        pb_put_float(&sub, 2, scores[i]);
        pb_put_varint(&sub, 3 << 3 | 0);
        pb_put_varint(&sub, (uint64_t)types[i]);
        pb_put_bytes(m, 1, sub.data, sub.len);
    }
    ic_buf_reset(&sub);
    pb_put_varint(&sub, 3 << 3 | 0);
    pb_put_varint(&sub, 1);
    pb_put_varint(&sub, 35 << 3 | 0);
    pb_put_varint(&sub, 1);
    pb_put_bytes(&sub, 7, "ignored", 7);
    pb_put_bytes(m, 2, sub.data, sub.len);
    ic_buf_reset(&sub);
    pb_put_bytes(&sub, 1, "nmt_nfkc", 8);
    pb_put_bytes(&sub, 2, charsmap, cm_len);
    pb_put_varint(&sub, 3 << 3 | 0);
    pb_put_varint(&sub, 0);
    pb_put_bytes(m, 3, sub.data, sub.len);
    pb_put_bytes(m, 99, "x", 1);
    ic_buf_free(&sub);
}

static const char *const model_pieces[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "\xe2\x96\x81" "ab"};
static const float model_scores[] = {0, 0, 0, -2.5f, -3.25f, -1.0f / 3};
static const int model_types[] = {2, 3, 3, 1, 1, 1};
static const unsigned char model_charsmap[] = {4, 0, 0, 0, 0, 0, 0, 0, 'x', 0};

TEST(spm_model_roundtrip)
{
    struct ic_buf m;
    ic_buf_init(&m, 0);
    build_model(&m, model_pieces, model_scores, model_types, 6, model_charsmap,
                sizeof model_charsmap);
    char **pieces;
    double *scores;
    int *types;
    size_t n;
    char *cm;
    struct ic_err err = {0};
    ASSERT_OK_ERR(ic__spm_model_load(m.data, m.len, "t.model", &pieces, &scores, &types, &n, &cm,
                                     &err), err);
    int ok = n == 6 && cm && strcmp(cm, "BAAAAAAAAAB4AA==") == 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = strcmp(pieces[i], model_pieces[i]) == 0 && scores[i] == (double)model_scores[i] &&
             types[i] == model_types[i];
    ic__spm_model_free(pieces, scores, types, n, cm);
    struct ic__spm_model_info info;
    ASSERT_OK_ERR(ic__spm_model_info(m.data, m.len, "t.model", &info, &err), err);
    ic_buf_free(&m);
    ASSERT(ok);
    ASSERT_EQ(info.model_type, 1);
    ASSERT_EQ(info.byte_fallback, 1);
    ASSERT_EQ(info.add_dummy_prefix, 0);
    ASSERT_EQ(info.remove_extra_whitespaces, 1);
    ASSERT_EQ(info.unk_id, 0);
}

static int load_err(const void *d, size_t len, struct ic_err *err)
{
    char **pieces;
    double *scores;
    int *types;
    size_t n;
    char *cm;
    int rc = ic__spm_model_load(d, len, "bad.model", &pieces, &scores, &types, &n, &cm, err);
    ic__spm_model_free(pieces, scores, types, n, cm);
    return rc;
}

TEST(spm_model_refuses_malformed)
{
    struct ic_buf m;
    struct ic_err err = {0};
    ic_buf_init(&m, 0);
    build_model(&m, model_pieces, model_scores, model_types, 6, model_charsmap,
                sizeof model_charsmap);
    /* every truncation either ends on a field boundary or names the file */
    for (size_t cut = 0; cut < m.len; cut++) {
        int rc = load_err(m.data, cut, &err);
        if (rc != IC_OK) {
            ASSERT_EQ(rc, IC_ERR_FORMAT);
            ASSERT_CONTAINS(err.msg, "bad.model");
        }
    }
    ASSERT_EQ(load_err("", 0, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "no pieces");
    ASSERT_EQ(load_err("\x0a\x05\x0a\x01", 4, &err), IC_ERR_FORMAT); /* length past the end */
    ASSERT_EQ(load_err("\x0b\x00", 2, &err), IC_ERR_FORMAT);         /* group wire type */
    ASSERT_EQ(load_err("\x08\x01", 2, &err), IC_ERR_FORMAT);         /* pieces as varint */
    ASSERT_CONTAINS(err.msg, "pieces");
    ASSERT_EQ(load_err("\x0a\x02\x10\x01", 4, &err), IC_ERR_FORMAT); /* piece without text */
    ASSERT_CONTAINS(err.msg, "pieces[0]");
    const unsigned char nan_score[] = {0x0a, 0x08, 0x0a, 0x01, 'a', 0x15, 0, 0, 0xc0, 0x7f};
    ASSERT_EQ(load_err(nan_score, sizeof nan_score, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "NaN");
    const unsigned char bad_utf8[] = {0x0a, 0x03, 0x0a, 0x01, 0xff};
    ASSERT_EQ(load_err(bad_utf8, sizeof bad_utf8, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "UTF-8");
    const unsigned char long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    ASSERT_EQ(load_err(long_varint, sizeof long_varint, &err), IC_ERR_FORMAT);
    ic_buf_free(&m);
}

// --- trainer ---------------------------------------------------------------------

static json_t *train_texts(const char ***texts, size_t *n)
{
    char *f = ic_xasprintf("%s/data/train_small.json", test_golden_dir());
    json_error_t je;
    json_t *j = json_load_file(f, 0, &je);
    ic_free(f);
    *n = json_array_size(j);
    *texts = ic_xcalloc(*n + 1, sizeof **texts);
    for (size_t i = 0; i < *n; i++)
        (*texts)[i] = json_string_value(json_object_get(json_array_get(j, i), "text"));
    return j;
}

static void free_trained(char **p, double *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ic_free(p[i]);
    ic_free(p);
    ic_free(s);
}

/* 1 when every Metaspace word of text encodes without <unk> (id 3). */
static int covers(const struct ic__unigram *u, const char *text)
{
    struct ic_buf out;
    size_t *ends = NULL, nw = 0, cap = 0, ni = 0, icap = 0;
    int32_t *ids = NULL;
    int ok = 1;
    ic_buf_init(&out, 0);
    IC_ASSERT(ic__metaspace_split(text, strlen(text), "\xe2\x96\x81", 1, 1, &out, &ends, &nw,
                                  &cap) == IC_OK);
    for (size_t i = 0, start = 0; i < nw; start = ends[i++])
        ok &= ic__unigram_encode_word(u, out.data + start, ends[i] - start, &ids, &ni, &icap) ==
              IC_OK;
    for (size_t k = 0; k < ni; k++)
        ok &= ids[k] != 3;
    ic_buf_free(&out);
    ic_free(ends);
    ic_free(ids);
    return ok;
}

/* The trained vocabulary as text: "piece<TAB>score" lines, 6 decimals. */
static char *trained_text(char **p, const double *s, size_t n)
{
    struct ic_buf b;
    ic_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++)
        IC_ASSERT(ic_buf_printf(&b, "%s\t%.6f\n", p[i], s[i]) == IC_OK);
    return ic_buf_take(&b);
}

/* Deterministic, specials first, every character kept, at most vocab_size
 * pieces sorted by score, usable as a model that covers its own texts; the
 * result equals the committed tests/golden/spm/trained_small.tsv. */
TEST(spm_unigram_train)
{
    const char **texts;
    size_t n;
    json_t *j = train_texts(&texts, &n);
    if (!j || n < 10) {
        json_decref(j);
        ic_free(texts);
        FAIL("golden data/train_small.json missing");
    }
    struct ic__unigram_train_opts o;
    ic__unigram_train_default_opts(&o);
    static const char *const sp[] = {"<s>", "<pad>", "</s>", "<unk>"};
    o.specials = sp;
    o.n_specials = 4;
    char **p1, **p2;
    double *s1, *s2;
    size_t n1, n2;
    struct ic_err err = {0};
    int rc1 = ic__unigram_train(texts, n, 150, &o, &p1, &s1, &n1, &err);
    int rc2 = ic__unigram_train(texts, n, 150, &o, &p2, &s2, &n2, &err);
    char *t1 = rc1 ? NULL : trained_text(p1, s1, n1), *t2 = rc2 ? NULL : trained_text(p2, s2, n2);
    char *gf = golden("trained_small.tsv"), *want = NULL;
    size_t wl = 0;
    int have = ic_read_file(gf, 1 << 20, &want, &wl, NULL) == IC_OK;
    if (getenv("IC_SPM_WRITE_TRAINED") && t1)
        IC_ASSERT(ic_write_file_atomic(gf, t1, strlen(t1), NULL) == IC_OK);
    ic_free(gf);
    int ok = rc1 == IC_OK && rc2 == IC_OK && n1 == n2 && strcmp(t1, t2) == 0;
    int same = ok && have && strcmp(t1, want) == 0;
    struct ic__unigram u;
    int model_ok = ok && ic__unigram_init(&u, (const char *const *)p1, s1, n1, 3, 0, &err) == IC_OK;
    int covered = model_ok;
    for (size_t i = 4; covered && i < n1; i++)
        covered = isfinite(s1[i]) && (i == 4 || s1[i] <= s1[i - 1]);
    for (size_t i = 0; model_ok && i < n; i++)
        covered &= covers(&u, texts[i]);
    if (model_ok)
        ic__unigram_free(&u);
    ic_free(t1);
    ic_free(t2);
    ic_free(want);
    if (rc1 == IC_OK)
        free_trained(p1, s1, n1);
    if (rc2 == IC_OK)
        free_trained(p2, s2, n2);
    json_decref(j);
    ic_free(texts);
    ASSERT_OK_ERR(rc1, err);
    ASSERT(ok);
    ASSERT(model_ok);
    ASSERT(covered);
    ASSERT(n1 <= 150 && n1 > 50);
    ASSERT(same);
}

TEST(spm_unigram_train_refuses_bad_input)
{
    const char *texts[] = {"ok text", "bad \xff utf8"};
    char **p;
    double *s;
    size_t n;
    struct ic_err err = {0};
    ASSERT_EQ(ic__unigram_train(texts, 2, 100, NULL, &p, &s, &n, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "text 1");
    ASSERT_EQ(ic__unigram_train(texts, 0, 100, NULL, &p, &s, &n, &err), IC_ERR_INVAL);
    struct ic__unigram_train_opts o;
    ic__unigram_train_default_opts(&o);
    static const char *const sp[] = {"<unk>"};
    o.specials = sp;
    o.n_specials = 1;
    ASSERT_EQ(ic__unigram_train(texts, 1, 1, &o, &p, &s, &n, &err), IC_ERR_INVAL);
    ASSERT(p == NULL && n == 0);
}
