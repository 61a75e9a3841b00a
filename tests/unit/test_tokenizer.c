/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tokenizer.c - the BERT tokenizer against goldens produced by Hugging
 * Face's Rust tokenizer (tools/gen_tok_golden.mjs): per-code-point Unicode
 * behaviour, hand-written and dataset texts (uncased, cased, max_length 8),
 * plus loading, saving, errors, batches and the vocabulary trainer.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent/ic.h"
#include "intent/tokenizer.h"
#include "test.h"
#include "text/unicode.h"

static char *golden(const char *name)
{
    return ic_xasprintf("%s/tokenizer/%s", test_golden_dir(), name);
}

static int load_subset(struct ic_tokenizer *t, int lowercase, struct ic_err *err)
{
    struct ic_tokenizer_opts o;
    ic_tokenizer_default_opts(&o);
    o.lowercase = lowercase;
    char *p = golden("vocab_subset.txt");
    int rc = ic_tokenizer_load_vocab(t, p, &o, err);
    ic_free(p);
    return rc;
}

/* Compares every line of a golden JSON-lines file with our encoding.
 * Returns the number of mismatches (reported in msg for the first). */
static int check_golden_ex(const struct ic_tokenizer *t, const char *file, int max_len,
                           int tokens_only, int *n_cases, char *msg, size_t msg_len)
{
    char *data = NULL;
    size_t len = 0;
    struct ic_err err = {0};
    int bad = 0;
    *n_cases = 0;
    if (ic_read_file(file, (size_t)16 << 20, &data, &len, &err) != IC_OK) {
        snprintf(msg, msg_len, "%s", err.msg);
        return 1;
    }
    struct ic_tok_work w;
    ic_tok_work_init(&w);
    int32_t *ids = NULL;
    size_t ids_cap = 0;
    int lineno = 0;
    for (char *line = data; line && *line; lineno++) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        json_error_t je;
        json_t *j = json_loadb(line, ll, JSON_ALLOW_NUL, &je);
        line = nl ? nl + 1 : NULL;
        if (!j) {
            if (!bad++)
                snprintf(msg, msg_len, "%s: line %d: %s", file, lineno + 1, je.text);
            continue;
        }
        json_t *text = json_object_get(j, "text");
        json_t *want = json_object_get(j, "ids");
        json_t *want_tok = json_object_get(j, "tokens");
        json_t *want_mask = json_object_get(j, "attention_mask");
        size_t tl = json_string_length(text);
        if (IC_TOK_MAX_IDS(tl) > ids_cap) {
            ids_cap = IC_TOK_MAX_IDS(tl) + 64;
            ids = ic_xrealloc(ids, ids_cap * sizeof *ids);
        }
        int n = 0;
        int rc;
        int32_t *mask = NULL;
        struct ic_tok_batch b = {0};
        if (max_len > 0) {
            const char *texts[1] = {json_string_value(text)};
            rc = ic_tokenizer_encode_batch(t, &w, texts, &tl, 1, max_len, IC_TOK_PAD_MAX_LENGTH, &b,
                                           &err);
            if (rc == IC_OK) {
                n = b.seq_len;
                memcpy(ids, b.ids, (size_t)n * sizeof *ids);
                mask = b.attention_mask;
            }
        } else {
            rc = ic_tokenizer_encode(t, &w, json_string_value(text), tl, 0, ids, &n, &err);
        }
        int ok = rc == IC_OK && (size_t)n == json_array_size(want);
        for (int i = 0; ok && i < n; i++) {
            ok = tokens_only || ids[i] == json_integer_value(json_array_get(want, (size_t)i));
            const char *tok = ic_tokenizer_token(t, ids[i]);
            ok = ok && tok && strcmp(tok, json_string_value(json_array_get(want_tok, (size_t)i))) == 0;
            if (ok && want_mask)
                ok = mask[i] == json_integer_value(json_array_get(want_mask, (size_t)i));
        }
        if (!ok && !bad++) {
            struct ic_buf got;
            ic_buf_init(&got, 0);
            for (int i = 0; i < n; i++)
                if (ic_buf_printf(&got, "%s%s", i ? " " : "", ic_tokenizer_token(t, ids[i])))
                    break;
            char *wj = json_dumps(want_tok, JSON_COMPACT);
            snprintf(msg, msg_len, "%s: line %d (rc %d %s): got [%s] want %s", file, lineno + 1, rc,
                     err.msg, got.data ? got.data : "", wj);
            free(wj);
            ic_buf_free(&got);
        }
        ic_tok_batch_free(&b);
        (*n_cases)++;
        json_decref(j);
    }
    ic_free(ids);
    ic_tok_work_free(&w);
    ic_free(data);
    return bad;
}

static int check_golden(const struct ic_tokenizer *t, const char *file, int max_len, int *n_cases,
                        char *msg, size_t msg_len)
{
    return check_golden_ex(t, file, max_len, 0, n_cases, msg, msg_len);
}

TEST(tokenizer_golden_uncased)
{
    struct ic_tokenizer t;
    struct ic_err err = {0};
    char msg[2048] = "";
    int n;
    ASSERT_OK_ERR(load_subset(&t, 1, &err), err);
    char *f = golden("uncased.jsonl");
    int bad = check_golden(&t, f, 0, &n, msg, sizeof msg);
    ic_free(f);
    ic_tokenizer_free(&t);
    if (bad)
        FAIL("%d of %d cases differ; first: %s", bad, n, msg);
    ASSERT(n >= 500);
}

TEST(tokenizer_golden_cased)
{
    struct ic_tokenizer t;
    struct ic_err err = {0};
    char msg[2048] = "";
    int n;
    ASSERT_OK_ERR(load_subset(&t, 0, &err), err);
    char *f = golden("cased.jsonl");
    int bad = check_golden(&t, f, 0, &n, msg, sizeof msg);
    ic_free(f);
    ic_tokenizer_free(&t);
    if (bad)
        FAIL("%d of %d cases differ; first: %s", bad, n, msg);
    ASSERT(n >= 200);
}

TEST(tokenizer_golden_maxlen8)
{
    struct ic_tokenizer t;
    struct ic_err err = {0};
    char msg[2048] = "";
    int n;
    ASSERT_OK_ERR(load_subset(&t, 1, &err), err);
    char *f = golden("maxlen8.jsonl");
    int bad = check_golden(&t, f, 8, &n, msg, sizeof msg);
    ic_free(f);
    ic_tokenizer_free(&t);
    if (bad)
        FAIL("%d of %d cases differ; first: %s", bad, n, msg);
    ASSERT(n >= 50);
}

/* The goldens of the real bert-base-uncased vocabulary, tokens only, with the
 * committed subset: the subset holds every token those encodings produce
 * and is part of the real vocabulary, so greedy longest match picks the
 * same pieces (the generator checked that the tokens agree). Ids need the
 * real vocabulary (next test). */
TEST(tokenizer_golden_full_vocab_tokens)
{
    for (int lower = 1; lower >= 0; lower--) {
        struct ic_tokenizer t;
        struct ic_err err = {0};
        char msg[2048] = "";
        int n;
        ASSERT_OK_ERR(load_subset(&t, lower, &err), err);
        char *f = golden(lower ? "full_uncased.jsonl" : "full_cased.jsonl");
        int bad = check_golden_ex(&t, f, 0, 1, &n, msg, sizeof msg);
        ic_free(f);
        ic_tokenizer_free(&t);
        if (bad)
            FAIL("%d of %d cases differ; first: %s", bad, n, msg);
        ASSERT(n >= 200);
    }
}

/* The same texts with the real bert-base-uncased vocabulary (not committed:
 * 230 KB); runs where ../shared/vocab/bert-base-uncased.txt or
 * $IC_BERT_VOCAB exists. */
TEST(tokenizer_golden_full_vocab)
{
    const char *p = getenv("IC_BERT_VOCAB");
    if (!p)
        p = "../shared/vocab/bert-base-uncased.txt";
    if (!ic_path_exists(p))
        SKIP("%s not present (set IC_BERT_VOCAB to the bert-base-uncased vocab.txt)", p);
    for (int lower = 1; lower >= 0; lower--) {
        struct ic_tokenizer t;
        struct ic_err err = {0};
        struct ic_tokenizer_opts o;
        char msg[2048] = "";
        int n;
        ic_tokenizer_default_opts(&o);
        o.lowercase = lower;
        ASSERT_OK_ERR(ic_tokenizer_load_vocab(&t, p, &o, &err), err);
        ASSERT_EQ(ic_tokenizer_vocab_size(&t), 30522);
        ASSERT_EQ(t.cls_id, 101);
        char *f = golden(lower ? "full_uncased.jsonl" : "full_cased.jsonl");
        int bad = check_golden(&t, f, 0, &n, msg, sizeof msg);
        ic_free(f);
        ic_tokenizer_free(&t);
        if (bad)
            FAIL("%d of %d cases differ; first: %s", bad, n, msg);
    }
}

/* Every code point through every normaliser stage, as the Rust tokenizer
 * does it (tests/golden/tokenizer/rust_unicode.txt). */
enum { K_DEL = 1, K_SPACE = 2, K_CJK = 4, K_WS = 8, K_PUNCT = 16, K_MN = 32 };

TEST(tokenizer_unicode_all_code_points)
{
    char *f = golden("rust_unicode.txt");
    FILE *fp = fopen(f, "r");
    ic_free(f);
    ASSERT(fp != NULL);
    unsigned char *cls = ic_xcalloc(0x110000, 1);
    struct map {
        uint32_t cp, n, m[8];
    };
    struct map *S = ic_xcalloc(8192, sizeof *S), *L = ic_xcalloc(4096, sizeof *L);
    unsigned char *K = ic_xcalloc(0x110000, 1); /* combining classes */
    size_t nS = 0, nL = 0, nK = 0;
    char line[512];
    int bad = 0;
    char msg[256] = "";
    while (fgets(line, sizeof line, fp)) {
        char k;
        unsigned lo, hi;
        if (line[0] == '#')
            continue;
        if (line[0] == 'S' || line[0] == 'L') {
            struct map *m = line[0] == 'S' ? &S[nS++] : &L[nL++];
            char *p = line + 2;
            m->cp = (uint32_t)strtoul(p, &p, 16);
            m->n = 0;
            while (*p == ' ' && m->n < 8)
                m->m[m->n++] = (uint32_t)strtoul(p, &p, 16);
            if (nS >= 8192 || nL >= 4096)
                break;
            continue;
        }
        if (sscanf(line, "%c %x %x", &k, &lo, &hi) != 3 || hi > 0x10FFFF)
            continue;
        if (k == 'K') { /* "K cp class", class in decimal */
            unsigned cc = 0;
            if (sscanf(line, "K %x %u", &lo, &cc) == 2 && lo <= 0x10FFFF && cc < 256) {
                K[lo] = (unsigned char)cc;
                nK++;
            }
            continue;
        }
        unsigned char bit = k == 'C' ? K_DEL : k == 'Z' ? K_SPACE : k == 'J' ? K_CJK
                          : k == 'W' ? K_WS : k == 'P' ? K_PUNCT : k == 'M' ? K_MN : 0;
        for (unsigned c = lo; c <= hi; c++)
            cls[c] |= bit;
    }
    fclose(fp);
    size_t si = 0, li = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        int del = ic__uni_is_removed(cp);
        int space = !del && ic__uni_is_space(cp) && cp != ' ';
        int ws = ic__uni_is_space(cp);
        int punct = !ws && ic__uni_is_punct(cp);
        uint32_t d[IC_UNI_MAX_MAP], s[IC_UNI_MAX_MAP];
        int nd = ic__uni_nfd(cp, d), ns = 0;
        for (int i = 0; i < nd; i++)
            if (!ic__uni_is_mn(d[i]))
                s[ns++] = d[i];
        uint32_t l[IC_UNI_MAX_MAP];
        int nl = ic__uni_lower(cp, l);
        int ok = del == !!(cls[cp] & K_DEL) && space == !!(cls[cp] & K_SPACE) &&
                 ic__uni_is_cjk(cp) == !!(cls[cp] & K_CJK) && ws == !!(cls[cp] & K_WS) &&
                 punct == !!(cls[cp] & K_PUNCT);
        /* accent stripping */
        if (cp >= 0xAC00 && cp <= 0xD7A3) {
            uint32_t si_ = cp - 0xAC00;
            uint32_t want[3] = {0x1100 + si_ / 588, 0x1161 + (si_ % 588) / 28, 0x11A7 + si_ % 28};
            int wn = si_ % 28 ? 3 : 2;
            ok = ok && ns == wn && memcmp(s, want, (size_t)wn * 4) == 0;
        } else if (cls[cp] & K_MN) {
            ok = ok && ns == 0;
        } else if (si < nS && S[si].cp == cp) {
            ok = ok && (uint32_t)ns == S[si].n && memcmp(s, S[si].m, (size_t)ns * 4) == 0;
            si++;
        } else {
            ok = ok && ns == 1 && s[0] == cp;
        }
        if (li < nL && L[li].cp == cp) {
            ok = ok && (uint32_t)nl == L[li].n && memcmp(l, L[li].m, (size_t)nl * 4) == 0;
            li++;
        } else {
            ok = ok && nl == 1 && l[0] == cp;
        }
        /* combining class, as the probe reads it (quantised to the
         * reference classes) for characters without a decomposition */
        if (nd == 1 && d[0] == cp) {
            static const unsigned char refs[] = {1, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
                19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 84, 91, 103,
                107, 118, 122, 129, 130, 132, 202, 214, 216, 218, 220, 222, 224, 226, 228, 230,
                232, 233, 234, 240};
            int c = ic__uni_ccc(cp), q = 0;
            for (size_t r = 0; c && r < sizeof refs; r++)
                if (refs[r] <= c)
                    q = refs[r];
            if (c && !q)
                q = 1;
            ok = ok && q == K[cp];
        }
        if (!ok && !bad++)
            snprintf(msg, sizeof msg, "U+%04X differs from the Rust tokenizer", cp);
    }
    ic_free(cls);
    ic_free(S);
    ic_free(L);
    ic_free(K);
    if (bad)
        FAIL("%d code points differ; first %s", bad, msg);
    ASSERT_EQ(si, nS);
    ASSERT_EQ(li, nL);
    ASSERT(nS > 1000 && nL > 1000 && nK > 500);
}

static struct ic_tokenizer tiny(int lowercase)
{
    static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n!\n,\nun\n##aff\n"
                                "##able\nplay\n##ing\na\nb\n##b\n##c\nHello\n";
    struct ic_tokenizer t;
    struct ic_tokenizer_opts o;
    ic_tokenizer_default_opts(&o);
    o.lowercase = lowercase;
    IC_ASSERT(ic_tokenizer_load_vocab_mem(&t, vocab, sizeof vocab - 1, &o, NULL) == IC_OK);
    return t;
}

static int enc(const struct ic_tokenizer *t, const char *s, int max_len, int32_t *ids)
{
    struct ic_tok_work w;
    int n = -1;
    ic_tok_work_init(&w);
    if (ic_tokenizer_encode(t, &w, s, strlen(s), max_len, ids, &n, NULL) != IC_OK)
        n = -1;
    ic_tok_work_free(&w);
    return n;
}

TEST(tokenizer_basic_wordpiece)
{
    struct ic_tokenizer t = tiny(1);
    int32_t ids[64];
    ASSERT_EQ(ic_tokenizer_vocab_size(&t), 19);
    ASSERT_EQ(t.pad_id, 0);
    ASSERT_EQ(t.unk_id, 1);
    ASSERT_EQ(t.mask_id, 4);
    ASSERT_EQ(ic_tokenizer_id(&t, "##aff", 5), 10);
    ASSERT_EQ(ic_tokenizer_id(&t, "aff", 3), -1);
    ASSERT_STR_EQ(ic_tokenizer_token(&t, 5), "hello");
    ASSERT(ic_tokenizer_token(&t, 19) == NULL);
    ASSERT_EQ(enc(&t, "Unaffable HELLO, world!", 0, ids), 9);
    int32_t want[] = {2, 9, 10, 11, 5, 8, 6, 7, 3};
    for (int i = 0; i < 9; i++)
        ASSERT_EQ(ids[i], want[i]);
    /* any failing part makes the whole word [UNK] */
    ASSERT_EQ(enc(&t, "playingx abc", 0, ids), 6);
    ASSERT_EQ(ids[1], 1);
    ASSERT_EQ(ids[2], 14);
    ASSERT_EQ(ids[3], 16);
    ASSERT_EQ(ids[4], 17);
    /* truncation keeps [CLS] and [SEP] */
    ASSERT_EQ(enc(&t, "hello world hello world", 4, ids), 4);
    ASSERT_EQ(ids[0], 2);
    ASSERT_EQ(ids[1], 5);
    ASSERT_EQ(ids[2], 6);
    ASSERT_EQ(ids[3], 3);
    ASSERT_EQ(enc(&t, "hello", 2, ids), 2);
    ASSERT_EQ(enc(&t, "hello", 1, ids), -1);
    ic_tokenizer_free(&t);
    /* cased: "Hello" exists, "HELLO" does not */
    t = tiny(0);
    ASSERT_EQ(enc(&t, "Hello HELLO", 0, ids), 4);
    ASSERT_EQ(ids[1], 18);
    ASSERT_EQ(ids[2], 1);
    ic_tokenizer_free(&t);
}

TEST(tokenizer_model_max_length)
{
    static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\na\n";
    struct ic_tokenizer t;
    struct ic_tokenizer_opts o;
    int32_t ids[16];
    ic_tokenizer_default_opts(&o);
    o.model_max_length = 5;
    ASSERT_OK(ic_tokenizer_load_vocab_mem(&t, vocab, sizeof vocab - 1, &o, NULL));
    ASSERT_EQ(enc(&t, "a a a a a a a a", 0, ids), 5);
    ASSERT_EQ(enc(&t, "a a a a a a a a", 8, ids), 8);
    ic_tokenizer_free(&t);
}

TEST(tokenizer_invalid_utf8)
{
    static const char *const bad[] = {
        "\xff", "abc\x80", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "ok [CLS] \xc3(", "\xf0\x9f\x98", "[SEP]\xfe",
    };
    struct ic_tokenizer t = tiny(1);
    struct ic_tok_work w;
    struct ic_err err = {0};
    int32_t ids[64];
    int n = 7;
    ic_tok_work_init(&w);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = ic_tokenizer_encode(&t, &w, bad[i], strlen(bad[i]), 0, ids, &n, &err);
        ASSERT_EQ(rc, IC_ERR_FORMAT);
        ASSERT_EQ(n, 0);
        ASSERT_CONTAINS(err.msg, "invalid UTF-8");
    }
    ASSERT_OK(ic_tokenizer_encode(&t, &w, "a\0b", 3, 0, ids, &n, &err));
    ASSERT_EQ(n, 4); /* NUL removed: "ab" -> [CLS] a ##b [SEP] */
    ic_tok_work_free(&w);
    ic_tokenizer_free(&t);
}

TEST(tokenizer_load_errors)
{
    struct ic_tokenizer t;
    struct ic_err err = {0};
    ASSERT_EQ(ic_tokenizer_load_vocab_mem(&t, "[CLS]\n[SEP]\na\n", 14, NULL, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "[UNK]");
    ASSERT(t.impl == NULL);
    ASSERT_EQ(ic_tokenizer_load_vocab_mem(&t, "[UNK]\n[CLS]\n[SEP]\n\xff\n", 19, NULL, &err),
              IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "line 4");
    ASSERT_EQ(ic_tokenizer_load_vocab(&t, "/nonexistent/vocab.txt", NULL, &err), IC_ERR_NOTFOUND);
    ASSERT_CONTAINS(err.msg, "/nonexistent/vocab.txt");
    ASSERT_EQ(ic_tokenizer_load_dir(&t, test_tmpdir(), &err), IC_ERR_NOTFOUND);
    /* CRLF line ends are tolerated (as Rust's trim_end does) */
    static const char crlf[] = "[UNK]\r\n[CLS]\r\n[SEP]\r\nx";
    ASSERT_OK_ERR(ic_tokenizer_load_vocab_mem(&t, crlf, sizeof crlf - 1, NULL, &err), err);
    ASSERT_EQ(t.unk_id, 0);
    ASSERT_EQ(ic_tokenizer_id(&t, "x", 1), 3);
    ic_tokenizer_free(&t);
    ic_tokenizer_free(&t); /* twice is fine */
}

static void write(const char *dir, const char *name, const char *text)
{
    char *p = ic_path_join(dir, name);
    IC_ASSERT(ic_write_file_atomic(p, text, strlen(text), NULL) == IC_OK);
    ic_free(p);
}

TEST(tokenizer_save_load_dir)
{
    struct ic_tokenizer t = tiny(0), u;
    struct ic_err err = {0};
    t.opts.model_max_length = 128;
    char *dir = ic_path_join(test_tmpdir(), "model");
    ASSERT_OK_ERR(ic_tokenizer_save_dir(&t, dir, &err), err);
    ASSERT_OK_ERR(ic_tokenizer_load_dir(&u, dir, &err), err);
    ASSERT_EQ(ic_tokenizer_vocab_size(&u), ic_tokenizer_vocab_size(&t));
    for (size_t i = 0; i < ic_tokenizer_vocab_size(&t); i++)
        ASSERT_STR_EQ(ic_tokenizer_token(&u, (int32_t)i), ic_tokenizer_token(&t, (int32_t)i));
    ASSERT_EQ(u.opts.lowercase, 0);
    ASSERT_EQ(u.opts.model_max_length, 128);
    char *cfg = NULL, *p = ic_path_join(dir, "tokenizer_config.json");
    size_t len;
    ASSERT_OK(ic_read_file(p, 1 << 20, &cfg, &len, NULL));
    ASSERT_CONTAINS(cfg, "\"tokenizer_class\": \"BertTokenizer\"");
    ASSERT_CONTAINS(cfg, "\"do_lower_case\": false");
    ASSERT_CONTAINS(cfg, "\"mask_token\": \"[MASK]\"");
    ic_free(cfg);
    ic_free(p);
    p = ic_path_join(dir, "special_tokens_map.json");
    ASSERT(ic_path_exists(p));
    ic_free(p);
    /* tokenizer.json (what the Rust tokenizer loads) is there and is the
     * one load_dir read: encodings agree */
    p = ic_path_join(dir, "tokenizer.json");
    ASSERT(ic_path_exists(p));
    ic_free(p);
    int32_t a[32], b2[32];
    int na = enc(&t, "Hello unaffable HELLO [MASK]!", 0, a), nb = enc(&u, "Hello unaffable HELLO [MASK]!", 0, b2);
    ASSERT_EQ(na, nb);
    ASSERT(na > 2 && memcmp(a, b2, (size_t)na * sizeof *a) == 0);
    ic_tokenizer_free(&u);
    ic_tokenizer_free(&t);
    ic_free(dir);
}

TEST(tokenizer_load_dir_tokenizer_json)
{
    const char *dir = test_tmpdir();
    struct ic_tokenizer t;
    struct ic_err err = {0};
    int32_t ids[32];
    write(dir, "tokenizer.json",
          "{\"added_tokens\": [{\"id\": 0, \"content\": \"[UNK]\", \"special\": true},"
          " {\"id\": 1, \"content\": \"[CLS]\", \"special\": true},"
          " {\"id\": 2, \"content\": \"[SEP]\", \"special\": true}],"
          " \"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true,"
          " \"handle_chinese_chars\": true, \"strip_accents\": null, \"lowercase\": false},"
          " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
          " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\","
          " \"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 4,"
          " \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2, \"A\": 3, \"a\": 4, \"##a\": 5,"
          " \"é\": 6}}}");
    ASSERT_OK_ERR(ic_tokenizer_load_dir(&t, dir, &err), err);
    ASSERT_EQ(t.pad_id, -1);
    ASSERT_EQ(t.opts.lowercase, 0);
    ASSERT_EQ(t.opts.max_input_chars_per_word, 4);
    ASSERT_EQ(enc(&t, "A aaaa aaaaa é", 0, ids), 9);
    int32_t want[] = {1, 3, 4, 5, 5, 5, 0, 6, 2};
    for (int i = 0; i < 9; i++)
        ASSERT_EQ(ids[i], want[i]);
    ASSERT_EQ(ids[6], 0); /* 5 chars > 4: [UNK] */
    ASSERT_EQ(ids[7], 6); /* cased: accents kept */
    ic_tokenizer_free(&t);
    /* tokenizer_config.json wins: lower-case and strip accents */
    write(dir, "tokenizer_config.json",
          "{\"do_lower_case\": true, \"model_max_length\": 1000000000000000019884624838656}");
    ASSERT_OK_ERR(ic_tokenizer_load_dir(&t, dir, &err), err);
    ASSERT_EQ(t.opts.lowercase, 1);
    ASSERT_EQ(t.opts.model_max_length, 0);
    ASSERT_EQ(enc(&t, "A é", 0, ids), 4);
    ASSERT_EQ(ids[1], 4);
    ASSERT_EQ(ids[2], 0); /* é -> e, not in the vocabulary */
    ic_tokenizer_free(&t);
    write(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\"}}");
    ASSERT_EQ(ic_tokenizer_load_dir(&t, dir, &err), IC_ERR_UNSUPPORTED);
    write(dir, "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 7}}}");
    ASSERT_EQ(ic_tokenizer_load_dir(&t, dir, &err), IC_ERR_FORMAT);
    write(dir, "tokenizer.json", "{\"model\": ");
    ASSERT_EQ(ic_tokenizer_load_dir(&t, dir, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "tokenizer.json");
}

TEST(tokenizer_batch)
{
    struct ic_tokenizer t = tiny(1);
    struct ic_tok_work w;
    struct ic_tok_batch b = {0};
    struct ic_err err = {0};
    const char *texts[] = {"hello", "hello world !", "", "\xff"};
    ic_tok_work_init(&w);
    ASSERT_OK_ERR(ic_tokenizer_encode_batch(&t, &w, texts, NULL, 3, 0, IC_TOK_PAD_LONGEST, &b, &err),
                  err);
    ASSERT_EQ(b.n, 3);
    ASSERT_EQ(b.seq_len, 5);
    ASSERT_EQ(b.lengths[0], 3);
    ASSERT_EQ(b.ids[3], 0);
    ASSERT_EQ(b.attention_mask[2], 1);
    ASSERT_EQ(b.attention_mask[3], 0);
    ASSERT_EQ(b.ids[5 + 4], 3);
    ASSERT_EQ(b.attention_mask[10 + 1], 1);
    ASSERT_EQ(b.attention_mask[10 + 2], 0);
    ASSERT_EQ(b.token_type_ids[14], 0);
    ASSERT_OK(ic_tokenizer_encode_batch(&t, &w, texts, NULL, 2, 4, IC_TOK_PAD_MAX_LENGTH, &b, &err));
    ASSERT_EQ(b.seq_len, 4);
    ASSERT_EQ(b.ids[4 + 3], 3); /* truncated row ends with [SEP] */
    ASSERT_EQ(ic_tokenizer_encode_batch(&t, &w, texts, NULL, 4, 4, IC_TOK_PAD_MAX_LENGTH, &b, &err),
              IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "text 3");
    ASSERT(b.ids == NULL);
    ic_tok_batch_free(&b);
    ic_tok_work_free(&w);
    ic_tokenizer_free(&t);
}

TEST(tokenizer_threads_share_one_tokenizer)
{
    struct ic_tokenizer t;
    struct ic_err err = {0};
    ASSERT_OK_ERR(load_subset(&t, 1, &err), err);
    static const char *const texts[] = {"¿Dónde está la estación?", "hello world!!", "中文 😀 [CLS]",
                                        "Ponme una alarma a las 6 y media"};
    int32_t ref[4][64];
    int nref[4];
    for (int i = 0; i < 4; i++)
        nref[i] = enc(&t, texts[i], 64, ref[i]);
    int bad = 0;
#pragma omp parallel for reduction(+ : bad)
    for (int k = 0; k < 400; k++) {
        struct ic_tok_work w;
        int32_t ids[64];
        int n = 0;
        ic_tok_work_init(&w);
        for (int r = 0; r < 10; r++) {
            int i = (k + r) % 4;
            if (ic_tokenizer_encode(&t, &w, texts[i], strlen(texts[i]), 64, ids, &n, NULL) != IC_OK ||
                n != nref[i] || memcmp(ids, ref[i], (size_t)n * sizeof *ids) != 0)
                bad++;
        }
        ic_tok_work_free(&w);
    }
    ic_tokenizer_free(&t);
    ASSERT_EQ(bad, 0);
}

TEST(tokenizer_vocab_train)
{
    static const char *const texts[] = {
        "Pon una alarma para mañana", "pon la alarma a las siete", "¿Qué tiempo hará mañana?",
        "recuérdame llamar a mamá", "Cancela la alarma", "alarmas alarmas alarma",
    };
    struct ic_tokenizer a, b;
    struct ic_err err = {0};
    ASSERT_OK_ERR(ic_vocab_train(texts, 6, 60, NULL, &a, &err), err);
    ASSERT_OK_ERR(ic_vocab_train(texts, 6, 60, NULL, &b, &err), err);
    ASSERT_EQ(ic_tokenizer_vocab_size(&a), 60);
    static const char *const sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++)
        ASSERT_STR_EQ(ic_tokenizer_token(&a, i), sp[i]);
    for (size_t i = 0; i < 60; i++)
        ASSERT_STR_EQ(ic_tokenizer_token(&a, (int32_t)i), ic_tokenizer_token(&b, (int32_t)i));
    /* normalised like the tokenizer: no upper case, no accents */
    ASSERT_EQ(ic_tokenizer_id(&a, "P", 1), -1);
    ASSERT_EQ(ic_tokenizer_id(&a, "á", 2), -1);
    ASSERT(ic_tokenizer_id(&a, "alarma", 6) >= 0);
    /* every training text encodes without [UNK] */
    for (int i = 0; i < 6; i++) {
        int32_t ids[64];
        int n = enc(&a, texts[i], 0, ids);
        ASSERT(n > 2);
        for (int k = 0; k < n; k++)
            ASSERT(ids[k] != a.unk_id);
    }
    ic_tokenizer_free(&b);
    /* a larger size than there are merges: stops early */
    ASSERT_OK(ic_vocab_train(texts, 6, 5000, NULL, &b, &err));
    ASSERT(ic_tokenizer_vocab_size(&b) < 5000);
    ASSERT(ic_tokenizer_vocab_size(&b) > 60);
    ic_tokenizer_free(&b);
    ic_tokenizer_free(&a);
    const char *badt[] = {"ok", "\xc3"};
    ASSERT_EQ(ic_vocab_train(badt, 2, 50, NULL, &a, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "text 1");
    ASSERT_EQ(ic_vocab_train(texts, 6, 4, NULL, &a, &err), IC_ERR_INVAL);
    /* no words at all: just the special tokens */
    const char *blank[] = {"", "  \t "};
    ASSERT_OK(ic_vocab_train(blank, 2, 50, NULL, &a, &err));
    ASSERT_EQ(ic_tokenizer_vocab_size(&a), 5);
    ic_tokenizer_free(&a);
}

/* Replays the fuzzer's corpus (seeds and any input that once crashed). */
TEST(tokenizer_fuzz_corpus_replay)
{
    struct ic_tokenizer t = tiny(1);
    struct ic_tok_work w;
    DIR *d = opendir("tests/fuzz/corpus/tokenizer");
    if (!d) {
        ic_tokenizer_free(&t);
        SKIP("tests/fuzz/corpus/tokenizer not found");
    }
    ic_tok_work_init(&w);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *p = ic_xasprintf("tests/fuzz/corpus/tokenizer/%s", e->d_name);
        char *data = NULL;
        size_t len = 0;
        if (ic_read_file(p, 1 << 20, &data, &len, NULL) == IC_OK) {
            int32_t *ids = ic_xmalloc(IC_TOK_MAX_IDS(len) * sizeof *ids);
            int n = 0;
            int rc = ic_tokenizer_encode(&t, &w, data, len, 0, ids, &n, NULL);
            size_t bad;
            if ((rc == IC_OK) != ic_utf8_valid(data, len, &bad))
                test_fail(__FILE__, __LINE__, "%s: status %d", p, rc);
            ic_free(ids);
            files++;
        }
        ic_free(data);
        ic_free(p);
    }
    closedir(d);
    ic_tok_work_free(&w);
    ic_tokenizer_free(&t);
    ASSERT(files > 0);
}
