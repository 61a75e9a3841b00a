/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tok_families.c - the tokenizer families (WordPiece, byte-level BPE,
 * Unigram) against goldens from Hugging Face's Rust tokenizer (npm
 * `tokenizers` 0.23.2, tools/gen_tok_golden.mjs families): the real
 * tokenizer files of popular encoders (read from $IC_TOKENIZERS_DIR,
 * default ../shared/tokenizers; skipped when absent) and the small
 * tokenizers committed under tests/golden/tok/ (never skipped). Every text
 * without a limit and with truncation + padding to 16; ids and attention
 * masks exact, tokens exact except that Hugging Face reports an added token
 * with lstrip / rstrip as the text it matched (" <mask>") and a Unigram
 * <unk> as the text it covers, we both as the vocabulary's token.
 * Plus loading the legacy RoBERTa files, saving and reloading, and refusing
 * bad files with a message naming the file and the field.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "intent/ic.h"
#include "intent/tokenizer.h"
#include "test.h"

static const char *tok_root(void)
{
    const char *e = getenv("IC_TOKENIZERS_DIR");
    return e ? e : "../shared/tokenizers";
}

/* Whole gzip file into memory (NUL-terminated). */
static char *read_gz(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = ic_xmalloc(cap);
    for (;;) {
        if (cap - n < 65536) {
            cap *= 2;
            buf = ic_xrealloc(buf, cap);
        }
        int r = gzread(f, buf + n, (unsigned)(cap - n - 1));
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    gzclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

static int is_added_match(const char *want, const char *got)
{
    /* Hugging Face's token for an lstrip/rstrip added token is the matched
     * text, whitespace included */
    size_t wl = strlen(want), gl = strlen(got);
    const char *p = strstr(want, got);
    if (!p || gl == 0 || gl >= wl)
        return 0;
    for (const char *q = want; q < want + wl; q++)
        if ((q < p || q >= p + gl) && *q != ' ' && *q != '\t' && *q != '\n')
            return 0;
    return 1;
}

/* One golden row against our encoding; returns 0 when equal, else writes a
 * message. */
static int check_row(const struct ic_tokenizer *t, struct ic_tok_work *w, json_t *row, int max_len,
                     char *msg, size_t msg_len)
{
    json_t *text = json_object_get(row, "text"), *ids = json_object_get(row, "ids"),
           *toks = json_object_get(row, "tokens"), *mask = json_object_get(row, "attention_mask");
    const char *s = json_string_value(text);
    size_t len = json_string_length(text);
    struct ic_tok_batch b = {0};
    struct ic_err err = {0};
    int pad = max_len ? IC_TOK_PAD_MAX_LENGTH : IC_TOK_PAD_LONGEST;
    if (ic_tokenizer_encode_batch(t, w, &s, &len, 1, max_len, pad, &b, &err) != IC_OK) {
        snprintf(msg, msg_len, "%.60s: %.300s", s, err.msg);
        return 1;
    }
    int bad = (size_t)b.seq_len != json_array_size(ids);
    for (int j = 0; !bad && j < b.seq_len; j++) {
        const char *want = json_string_value(json_array_get(toks, (size_t)j));
        const char *got = ic_tokenizer_token(t, b.ids[j]);
        bad |= b.ids[j] != json_integer_value(json_array_get(ids, (size_t)j));
        bad |= b.attention_mask[j] != json_integer_value(json_array_get(mask, (size_t)j));
        /* Unigram's <unk> is reported by Hugging Face as the text it covers */
        int unk = b.ids[j] == t->unk_id && t->type == IC_TOK_UNIGRAM;
        bad |= !got || (strcmp(want, got) != 0 && !is_added_match(want, got) && !unk);
    }
    if (bad) {
        int n = snprintf(msg, msg_len, "text \"%.60s\": want", s);
        for (size_t j = 0; j < json_array_size(ids) && j < 12 && n > 0 && (size_t)n < msg_len; j++)
            n += snprintf(msg + n, msg_len - (size_t)n, " %lld",
                          (long long)json_integer_value(json_array_get(ids, j)));
        for (int j = 0; j < b.seq_len && j < 12 && n > 0 && (size_t)n < msg_len; j++)
            n += snprintf(msg + n, msg_len - (size_t)n, "%s%d", j ? " " : ", got ", b.ids[j]);
    }
    ic_tok_batch_free(&b);
    return bad;
}

/* Checks every row of golden file name (under tests/golden/tok). Returns
 * the number of mismatches (first in msg); *n_rows = rows checked. */
static int check_golden(const struct ic_tokenizer *t, const char *name, int max_len, int *n_rows,
                        char *msg, size_t msg_len)
{
    char *path = ic_xasprintf("%s/tok/%s", test_golden_dir(), name);
    size_t len = 0;
    char *data = read_gz(path, &len);
    int bad = 0;
    *n_rows = 0;
    if (!data) {
        snprintf(msg, msg_len, "%s: cannot read", path);
        ic_free(path);
        return 1;
    }
    struct ic_tok_work w;
    ic_tok_work_init(&w);
    for (char *line = data; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        json_error_t je;
        json_t *row = json_loadb(line, ll, JSON_ALLOW_NUL, &je);
        line = nl ? nl + 1 : NULL;
        if (!row) {
            if (!bad++)
                snprintf(msg, msg_len, "%s: %s", path, je.text);
            continue;
        }
        char m[512];
        if (check_row(t, &w, row, max_len, m, sizeof m) && !bad++)
            snprintf(msg, msg_len, "%s: %s", name, m);
        (*n_rows)++;
        json_decref(row);
    }
    ic_tok_work_free(&w);
    ic_free(data);
    ic_free(path);
    return bad;
}

/* Both golden files of a family (plain and max16), at least min_rows each. */
static int check_family(const struct ic_tokenizer *t, const char *base, int min_rows, char *msg,
                        size_t msg_len)
{
    char *plain = ic_xasprintf("%s.jsonl.gz", base), *m16 = ic_xasprintf("%s.max16.jsonl.gz", base);
    int n1 = 0, n2 = 0;
    int bad = check_golden(t, plain, 0, &n1, msg, msg_len);
    if (!bad)
        bad = check_golden(t, m16, 16, &n2, msg, msg_len);
    if (!bad && (n1 < min_rows || n2 < min_rows)) {
        snprintf(msg, msg_len, "%s: %d / %d rows, fewer than %d", base, n1, n2, min_rows);
        bad = 1;
    }
    ic_free(plain);
    ic_free(m16);
    return bad;
}

/* Loads a directory of the shared tokenizer files; 1 = skip. */
static int load_shared(struct ic_tokenizer *t, const char *name, char *why, size_t why_len)
{
    char *dir = ic_xasprintf("%s/%s", tok_root(), name);
    struct ic_err err = {0};
    int rc = 1;
    if (!ic_is_dir(dir))
        snprintf(why, why_len, "%s not present (set IC_TOKENIZERS_DIR)", dir);
    else if (ic_tokenizer_load_dir(t, dir, &err) != IC_OK)
        snprintf(why, why_len, "load failed: %s", err.msg), rc = 2;
    else
        rc = 0;
    ic_free(dir);
    return rc;
}

#define FAMILY_TEST(tname, dirname, golden, ttype)                     \
    TEST(tname)                                                        \
    {                                                                  \
        struct ic_tokenizer t = {0};                                   \
        char msg[1024];                                                \
        int r = load_shared(&t, dirname, msg, sizeof msg);             \
        if (r == 1)                                                    \
            SKIP("%s", msg);                                           \
        if (r == 2)                                                    \
            FAIL("%s", msg);                                           \
        ASSERT_EQ(t.type, ttype);                                      \
        int bad = check_family(&t, golden, 400, msg, sizeof msg);      \
        ic_tokenizer_free(&t);                                         \
        if (bad)                                                       \
            FAIL("%d mismatches; first: %s", bad, msg);                \
    }

FAMILY_TEST(tok_roberta_base_golden, "roberta-base", "roberta-base", IC_TOK_BPE)
FAMILY_TEST(tok_roberta_bne_golden, "roberta-bne", "roberta-bne", IC_TOK_BPE)
FAMILY_TEST(tok_xlm_roberta_golden, "xlm-roberta", "xlm-roberta", IC_TOK_UNIGRAM)
FAMILY_TEST(tok_mbert_cased_golden, "mbert-cased", "mbert-cased", IC_TOK_WORDPIECE)

/* BETO: only vocab.txt; uncased, with accent stripping following
 * lowercase and with strip_accents false. */
TEST(tok_beto_golden)
{
    char *vocab = ic_xasprintf("%s/beto-uncased/vocab.txt", tok_root());
    if (!ic_path_exists(vocab)) {
        test_skip("%s not present (set IC_TOKENIZERS_DIR)", vocab);
        ic_free(vocab);
        return;
    }
    for (int accents = 0; accents < 2; accents++) {
        struct ic_tokenizer_opts o;
        struct ic_tokenizer t = {0};
        struct ic_err err = {0};
        char msg[1024];
        ic_tokenizer_default_opts(&o);
        o.strip_accents = accents ? 0 : -1;
        if (ic_tokenizer_load_vocab(&t, vocab, &o, &err) != IC_OK) {
            ic_free(vocab);
            FAIL("%s", err.msg);
        }
        int bad = check_family(&t, accents ? "beto-uncased-accents" : "beto-uncased", 400, msg,
                               sizeof msg);
        ic_tokenizer_free(&t);
        if (bad) {
            ic_free(vocab);
            FAIL("%d mismatches; first: %s", bad, msg);
        }
    }
    ic_free(vocab);
}

static void copy_file(const char *from_dir, const char *to_dir, const char *name)
{
    char *a = ic_path_join(from_dir, name), *b = ic_path_join(to_dir, name);
    char *data = NULL;
    size_t len = 0;
    if (ic_read_file(a, (size_t)64 << 20, &data, &len, NULL) == IC_OK)
        IC_ASSERT(ic_write_file_atomic(b, data, len, NULL) == IC_OK);
    ic_free(data);
    ic_free(a);
    ic_free(b);
}

/* vocab.json + merges.txt (+ configs) without tokenizer.json: the same
 * encodings. */
TEST(tok_roberta_legacy_files)
{
    static const char *const names[] = {"roberta-base", "roberta-bne"};
    for (int k = 0; k < 2; k++) {
        char *src = ic_xasprintf("%s/%s", tok_root(), names[k]);
        if (!ic_is_dir(src)) {
            test_skip("%s not present (set IC_TOKENIZERS_DIR)", src);
            ic_free(src);
            return;
        }
        char *dst = ic_path_join(test_tmpdir(), names[k]);
        IC_ASSERT(ic_mkdirs(dst, NULL) == IC_OK);
        static const char *const files[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                            "special_tokens_map.json"};
        for (int i = 0; i < 4; i++)
            copy_file(src, dst, files[i]);
        struct ic_tokenizer t = {0};
        struct ic_err err = {0};
        char msg[1024];
        int rc = ic_tokenizer_load_dir(&t, dst, &err);
        int bad = rc == IC_OK ? check_family(&t, names[k], 400, msg, sizeof msg) : -1;
        ic_tokenizer_free(&t);
        ic_free(src);
        ic_free(dst);
        if (bad < 0)
            FAIL("%s", err.msg);
        if (bad)
            FAIL("%d mismatches; first: %s", bad, msg);
    }
}

/* Saving writes the family's files; they reload to the same encodings
 * (tokenizer.json, and the legacy files alone). */
TEST(tok_bpe_save_reload)
{
    struct ic_tokenizer t = {0}, u = {0}, v = {0};
    char msg[1024];
    int r = load_shared(&t, "roberta-bne", msg, sizeof msg);
    if (r == 1)
        SKIP("%s", msg);
    if (r == 2)
        FAIL("%s", msg);
    struct ic_err err = {0};
    char *dir = ic_path_join(test_tmpdir(), "saved");
    ASSERT_OK(ic_tokenizer_save_dir(&t, dir, &err));
    ic_tokenizer_free(&t);
    ASSERT_OK(ic_tokenizer_load_dir(&u, dir, &err));
    ASSERT_EQ(u.type, IC_TOK_BPE);
    int bad = check_family(&u, "roberta-bne", 400, msg, sizeof msg);
    ic_tokenizer_free(&u);
    if (bad) {
        ic_free(dir);
        FAIL("reloaded tokenizer.json: %s", msg);
    }
    char *tj = ic_path_join(dir, "tokenizer.json");
    ASSERT(remove(tj) == 0);
    ic_free(tj);
    ASSERT_OK(ic_tokenizer_load_dir(&v, dir, &err));
    bad = check_family(&v, "roberta-bne", 400, msg, sizeof msg);
    ic_tokenizer_free(&v);
    ic_free(dir);
    if (bad)
        FAIL("reloaded legacy files: %s", msg);
}

static int load_golden_dir(struct ic_tokenizer *t, const char *name, struct ic_err *err)
{
    char *dir = ic_xasprintf("%s/tok/%s", test_golden_dir(), name);
    int rc = ic_tokenizer_load_dir(t, dir, err);
    ic_free(dir);
    return rc;
}

/* The small committed BPE (trained by `intent vocab --type bpe` on
 * tests/golden/tok/corpus.jsonl): never skipped. */
TEST(tok_tiny_bpe_golden)
{
    struct ic_tokenizer t = {0};
    struct ic_err err = {0};
    char msg[1024];
    ASSERT_OK(load_golden_dir(&t, "tiny_bpe", &err));
    ASSERT_EQ(t.type, IC_TOK_BPE);
    ASSERT_EQ(t.cls_id, 0);
    ASSERT_EQ(t.sep_id, 2);
    ASSERT_EQ(t.pad_id, 1);
    ASSERT_EQ(t.mask_id, 999);
    int bad = check_family(&t, "tiny_bpe", 400, msg, sizeof msg);
    ic_tokenizer_free(&t);
    if (bad)
        FAIL("%d mismatches; first: %s", bad, msg);
}

TEST(tok_tiny_bpe_legacy_files)
{
    char *src = ic_xasprintf("%s/tok/tiny_bpe", test_golden_dir());
    const char *dst = test_tmpdir();
    static const char *const files[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                        "special_tokens_map.json"};
    for (int i = 0; i < 4; i++)
        copy_file(src, dst, files[i]);
    ic_free(src);
    struct ic_tokenizer t = {0};
    struct ic_err err = {0};
    char msg[1024];
    ASSERT_OK(ic_tokenizer_load_dir(&t, dst, &err));
    int bad = check_family(&t, "tiny_bpe", 400, msg, sizeof msg);
    ic_tokenizer_free(&t);
    if (bad)
        FAIL("%d mismatches; first: %s", bad, msg);
}

/* A legacy merges.txt line whose token is not in vocab.json: refused naming
 * merges.txt, the line (the "#version" header is line 1) and the token. */
TEST(tok_legacy_merges_unknown_token)
{
    char *src = ic_xasprintf("%s/tok/tiny_bpe", test_golden_dir());
    const char *dst = test_tmpdir();
    copy_file(src, dst, "vocab.json");
    copy_file(src, dst, "merges.txt");
    ic_free(src);
    char *mp = ic_path_join(dst, "merges.txt"), *data = NULL;
    size_t len = 0;
    IC_ASSERT(ic_read_file(mp, (size_t)1 << 20, &data, &len, NULL) == IC_OK);
    char *more = ic_xasprintf("%sz z\nzzq qqz\n", data); /* lines 741 and 742 */
    IC_ASSERT(ic_write_file_atomic(mp, more, strlen(more), NULL) == IC_OK);
    ic_free(more);
    ic_free(data);
    ic_free(mp);
    struct ic_tokenizer t = {0};
    struct ic_err err = {0};
    int rc = ic_tokenizer_load_dir(&t, dst, &err);
    ic_tokenizer_free(&t);
    ASSERT_EQ(rc, IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "merges.txt: line 742 \"zzq qqz\": token \"zzq\" is not in the "
                             "vocabulary");
}

/* Texts of tests/golden/tok/corpus.jsonl. */
static char **corpus_texts(size_t *n)
{
    char *path = ic_xasprintf("%s/tok/corpus.jsonl", test_golden_dir()), *data = NULL;
    size_t len = 0;
    char **v = NULL;
    *n = 0;
    IC_ASSERT(ic_read_file(path, (size_t)16 << 20, &data, &len, NULL) == IC_OK);
    for (char *line = data; line && *line;) {
        char *nl = strchr(line, '\n');
        json_t *j = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, NULL);
        line = nl ? nl + 1 : NULL;
        IC_ASSERT(j != NULL);
        v = ic_xrealloc(v, (*n + 1) * sizeof *v);
        v[(*n)++] = ic_xstrdup(json_string_value(json_object_get(j, "text")));
        json_decref(j);
    }
    ic_free(data);
    ic_free(path);
    return v;
}

static int same_file(const char *a_dir, const char *b_dir, const char *name)
{
    char *a = ic_path_join(a_dir, name), *b = ic_path_join(b_dir, name), *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    int same = ic_read_file(a, (size_t)16 << 20, &da, &la, NULL) == IC_OK &&
               ic_read_file(b, (size_t)16 << 20, &db, &lb, NULL) == IC_OK && la == lb &&
               memcmp(da, db, la) == 0;
    ic_free(a);
    ic_free(b);
    ic_free(da);
    ic_free(db);
    return same;
}

/* The trainer is deterministic: the corpus gives the committed tiny_bpe
 * byte for byte. */
TEST(tok_bpe_train_deterministic)
{
    size_t n = 0;
    char **texts = corpus_texts(&n);
    struct ic_tokenizer t = {0};
    struct ic_err err = {0};
    char *dir = ic_path_join(test_tmpdir(), "bpe");
    char *want = ic_xasprintf("%s/tok/tiny_bpe", test_golden_dir());
    int rc = ic_vocab_train_bpe((const char *const *)texts, n, 1000, 1, &t, &err);
    if (rc == IC_OK)
        rc = ic_tokenizer_save_dir(&t, dir, &err);
    ic_tokenizer_free(&t);
    for (size_t i = 0; i < n; i++)
        ic_free(texts[i]);
    ic_free(texts);
    static const char *const files[] = {"vocab.json", "merges.txt", "tokenizer.json",
                                        "tokenizer_config.json", "special_tokens_map.json"};
    int diff = -1;
    for (int i = 0; rc == IC_OK && diff < 0 && i < 5; i++)
        if (!same_file(dir, want, files[i]))
            diff = i;
    ic_free(dir);
    ic_free(want);
    ASSERT_OK(rc);
    if (diff >= 0)
        FAIL("%s differs from tests/golden/tok/tiny_bpe", files[diff]);
    ASSERT_EQ(ic_vocab_train_bpe(NULL, 0, 100, 1, &t, &err), IC_ERR_INVAL);
}

/* A tokenizer.json written to the scratch directory; returns load's rc and
 * the message in err. */
static int load_json_text(const char *json, struct ic_err *err)
{
    char *dir = ic_path_join(test_tmpdir(), "bad");
    char *path = ic_path_join(dir, "tokenizer.json");
    IC_ASSERT(ic_mkdirs(dir, NULL) == IC_OK);
    IC_ASSERT(ic_write_file_atomic(path, json, strlen(json), NULL) == IC_OK);
    struct ic_tokenizer t = {0};
    int rc = ic_tokenizer_load_dir(&t, dir, err);
    ic_tokenizer_free(&t);
    ic_free(path);
    ic_free(dir);
    return rc;
}

#define BPE_JSON(model_extra, norm, pre)                                                      \
    "{\"added_tokens\": [], \"normalizer\": " norm ", \"pre_tokenizer\": " pre ","           \
    " \"post_processor\": {\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 1],"          \
    " \"cls\": [\"<s>\", 0]}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"<s>\": 0,"         \
    " \"</s>\": 1, \"a\": 2, \"b\": 3, \"ab\": 4}" model_extra "}}"

#define WP_JSON(norm, pre)                                                                    \
    "{\"added_tokens\": [], \"normalizer\": " norm ", \"pre_tokenizer\": " pre ","           \
    " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": 0,"  \
    " \"[CLS]\": 1, \"[SEP]\": 2, \"a\": 3}}}"

TEST(tok_bad_tokenizer_json)
{
    static const struct {
        const char *json, *want1, *want2;
        int rc;
    } cases[] = {
        {BPE_JSON(", \"merges\": [\"a b\"]", "null", "{\"type\": \"ByteLevel\"}"), NULL, NULL,
         IC_OK},
        {"{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}", "model.type", "WordLevel",
         IC_ERR_UNSUPPORTED},
        {BPE_JSON(", \"merges\": [\"a b\"]", "{\"type\": \"NFKC\"}", "{\"type\": \"ByteLevel\"}"),
         "normalizer.type", "NFKC", IC_ERR_UNSUPPORTED},
        {BPE_JSON(", \"merges\": [\"a b\"]", "null", "{\"type\": \"Whitespace\"}"),
         "pre_tokenizer.type", "Whitespace", IC_ERR_UNSUPPORTED},
        {BPE_JSON(", \"merges\": [\"a c\"]", "null", "{\"type\": \"ByteLevel\"}"), "merges[0]",
         "\"c\" is not in the vocabulary", IC_ERR_FORMAT},
        {BPE_JSON(", \"merges\": [\"ab\"]", "null", "{\"type\": \"ByteLevel\"}"), "merges[0]",
         "two tokens", IC_ERR_FORMAT},
        {BPE_JSON(", \"merges\": [\"b a\"]", "null", "{\"type\": \"ByteLevel\"}"), "merges[0]",
         "merged token \"ba\"", IC_ERR_FORMAT},
        {BPE_JSON(", \"merges\": 7", "null", "{\"type\": \"ByteLevel\"}"), "model.merges",
         "not an array", IC_ERR_FORMAT},
        {BPE_JSON(", \"merges\": [], \"dropout\": 0.1", "null", "{\"type\": \"ByteLevel\"}"),
         "model.dropout", "", IC_ERR_UNSUPPORTED},
        {WP_JSON("{\"type\": \"BertNormalizer\"}", "{\"type\": \"BertPreTokenizer\"}"), NULL,
         NULL, IC_OK},
        {WP_JSON("{\"type\": \"NFKC\"}", "{\"type\": \"BertPreTokenizer\"}"),
         "normalizer.type \"NFKC\"", "WordPiece", IC_ERR_UNSUPPORTED},
        {WP_JSON("null", "{\"type\": \"Whitespace\"}"), "pre_tokenizer.type \"Whitespace\"",
         "BertPreTokenizer", IC_ERR_UNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ic_err err = {0};
        int rc = load_json_text(cases[i].json, &err);
        if (rc != cases[i].rc)
            FAIL("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err.msg);
        if (!cases[i].want1)
            continue;
        if (!strstr(err.msg, "tokenizer.json") || !strstr(err.msg, cases[i].want1) ||
            !strstr(err.msg, cases[i].want2))
            FAIL("case %zu: message \"%s\" lacks the file, \"%s\" or \"%s\"", i, err.msg,
                 cases[i].want1, cases[i].want2);
    }
}

/* One work struct (whose BPE word cache keeps recent words) used with two
 * BPE tokenizers in turn, and with a tokenizer built where a freed one
 * lived: every encoding equals the one from a fresh work struct. */
TEST(tok_bpe_cache_per_tokenizer)
{
    size_t n = 0;
    char **texts = corpus_texts(&n);
    struct ic_tokenizer a = {0}, b = {0};
    struct ic_err err = {0};
    ASSERT_OK(load_golden_dir(&a, "tiny_bpe", &err));
    ASSERT_OK(ic_vocab_train_bpe((const char *const *)texts, n, 600, 0, &b, &err));
    struct ic_tok_work w;
    ic_tok_work_init(&w);
    int bad = 0;
    for (int round = 0; round < 3 && !bad; round++) {
        for (size_t i = 0; i < n && !bad; i++) {
            const struct ic_tokenizer *t = (i + (size_t)round) % 2 ? &a : &b;
            size_t len = strlen(texts[i]);
            int32_t *x = ic_xmalloc(IC_TOK_MAX_IDS(len) * sizeof *x);
            int32_t *y = ic_xmalloc(IC_TOK_MAX_IDS(len) * sizeof *y);
            int nx = 0, ny = 0;
            struct ic_tok_work fresh;
            ic_tok_work_init(&fresh);
            bad |= ic_tokenizer_encode(t, &w, texts[i], len, 0, x, &nx, NULL) != IC_OK;
            bad |= ic_tokenizer_encode(t, &fresh, texts[i], len, 0, y, &ny, NULL) != IC_OK;
            bad |= nx != ny || memcmp(x, y, (size_t)nx * sizeof *x) != 0;
            ic_tok_work_free(&fresh);
            ic_free(x);
            ic_free(y);
        }
        if (round == 1) {
            /* a new tokenizer, likely at the freed one's address */
            ic_tokenizer_free(&b);
            if (ic_vocab_train_bpe((const char *const *)texts, n, 400, 1, &b, &err) != IC_OK)
                bad = 1;
        }
    }
    ic_tok_work_free(&w);
    ic_tokenizer_free(&a);
    ic_tokenizer_free(&b);
    for (size_t i = 0; i < n; i++)
        ic_free(texts[i]);
    ic_free(texts);
    ASSERT(!bad);
}

/* The small committed Unigram (Replace normalisers, Metaspace "first",
 * <mask> with lstrip): never skipped; saved and reloaded, the same. */
TEST(tok_tiny_unigram_golden)
{
    struct ic_tokenizer t = {0}, u = {0};
    struct ic_err err = {0};
    char msg[1024];
    ASSERT_OK(load_golden_dir(&t, "tiny_unigram", &err));
    ASSERT_EQ(t.type, IC_TOK_UNIGRAM);
    ASSERT_EQ(t.unk_id, 0);
    ASSERT_EQ(t.cls_id, 1);
    ASSERT_EQ(t.sep_id, 2);
    int bad = check_family(&t, "tiny_unigram", 400, msg, sizeof msg);
    if (bad) {
        ic_tokenizer_free(&t);
        FAIL("%d mismatches; first: %s", bad, msg);
    }
    char *dir = ic_path_join(test_tmpdir(), "saved");
    int rc = ic_tokenizer_save_dir(&t, dir, &err);
    ic_tokenizer_free(&t);
    if (rc == IC_OK)
        rc = ic_tokenizer_load_dir(&u, dir, &err);
    ic_free(dir);
    ASSERT_OK(rc);
    bad = check_family(&u, "tiny_unigram", 400, msg, sizeof msg);
    ic_tokenizer_free(&u);
    if (bad)
        FAIL("after save and reload: %d mismatches; first: %s", bad, msg);
}

#define UNI_JSON(norm, pre, vocab)                                                             \
    "{\"added_tokens\": [], \"normalizer\": " norm ", \"pre_tokenizer\": " pre ","             \
    " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\":"   \
    " {\"id\": \"<s>\"}}, {\"Sequence\": {\"id\": \"A\"}}, {\"SpecialToken\": {\"id\": \"</s>\"}}],"   \
    " \"special_tokens\": {\"<s>\": {\"ids\": [0]}, \"</s>\": {\"ids\": [1]}}},"                  \
    " \"model\": {\"type\": \"Unigram\", \"unk_id\": 2, \"vocab\": " vocab "}}"
#define META "{\"type\": \"Metaspace\", \"replacement\": \"_\", \"prepend_scheme\": \"always\"}"
#define GOOD_VOCAB "[[\"<s>\", 0], [\"</s>\", 0], [\"<unk>\", 0], [\"_a\", -1.5]]"

TEST(tok_bad_unigram_json)
{
    static const struct {
        const char *json, *want1, *want2;
        int rc;
    } cases[] = {
        {UNI_JSON("null", META, GOOD_VOCAB), NULL, NULL, IC_OK},
        {UNI_JSON("null", META, "[[\"<s>\", 0], [\"</s>\"], [\"<unk>\", 0]]"), "model.vocab[1]",
         "score is missing", IC_ERR_FORMAT},
        {UNI_JSON("null", META, "[[\"<s>\", 0], [\"</s>\", \"NaN\"], [\"<unk>\", 0]]"),
         "model.vocab[1]", "not a finite number", IC_ERR_FORMAT},
        {UNI_JSON("null", META, "[[\"<s>\", 0], [\"</s>\", null], [\"<unk>\", 0]]"),
         "model.vocab[1]", "score", IC_ERR_FORMAT},
        {UNI_JSON("{\"type\": \"NFKC\"}", META, GOOD_VOCAB), "normalizer.type", "NFKC",
         IC_ERR_UNSUPPORTED},
        {UNI_JSON("{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Lowercase\"}]}", META,
                  GOOD_VOCAB),
         "normalizer.normalizers[0].type", "Lowercase", IC_ERR_UNSUPPORTED},
        {UNI_JSON("null", "{\"type\": \"ByteLevel\"}", GOOD_VOCAB), "pre_tokenizer.type",
         "ByteLevel", IC_ERR_UNSUPPORTED},
        {UNI_JSON("null", META, "{\"a\": 1}"), "model.vocab", "array", IC_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ic_err err = {0};
        int rc = load_json_text(cases[i].json, &err);
        if (rc != cases[i].rc)
            FAIL("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err.msg);
        if (!cases[i].want1)
            continue;
        if (!strstr(err.msg, "tokenizer.json") || !strstr(err.msg, cases[i].want1) ||
            !strstr(err.msg, cases[i].want2))
            FAIL("case %zu: message \"%s\" lacks the file, \"%s\" or \"%s\"", i, err.msg,
                 cases[i].want1, cases[i].want2);
    }
}

/* sentencepiece.bpe.model alone (XLM-R's legacy file; here the small model
 * of the spm fuzz seeds): fairseq ids around the SentencePiece pieces, and
 * the same encoding as the equivalent tokenizer.json that saving writes. */
TEST(tok_spm_model_legacy)
{
    char *src = ic_xasprintf("tests/fuzz/corpus/spm/model_small");
    char *data = NULL;
    size_t len = 0;
    struct ic_err err = {0};
    if (ic_read_file(src, (size_t)1 << 20, &data, &len, &err) != IC_OK) {
        ic_free(src);
        FAIL("%s", err.msg);
    }
    ic_free(src);
    char *dir = ic_path_join(test_tmpdir(), "spm"), *dst = ic_path_join(dir, "sentencepiece.bpe.model");
    IC_ASSERT(ic_mkdirs(dir, NULL) == IC_OK);
    /* the fuzz seed's first byte is the fuzzer's mode; the .model follows */
    IC_ASSERT(len > 1 && ic_write_file_atomic(dst, data + 1, len - 1, NULL) == IC_OK);
    ic_free(data);
    ic_free(dst);
    struct ic_tokenizer t = {0}, u = {0};
    int rc = ic_tokenizer_load_dir(&t, dir, &err);
    if (rc != IC_OK) {
        ic_free(dir);
        FAIL("%s", err.msg);
    }
    ASSERT_EQ(t.type, IC_TOK_UNIGRAM);
    ASSERT(strcmp(ic_tokenizer_token(&t, 0), "<s>") == 0);
    ASSERT(strcmp(ic_tokenizer_token(&t, 1), "<pad>") == 0);
    ASSERT(strcmp(ic_tokenizer_token(&t, 2), "</s>") == 0);
    ASSERT(strcmp(ic_tokenizer_token(&t, 3), "<unk>") == 0);
    ASSERT(strcmp(ic_tokenizer_token(&t, (int32_t)t.n_tokens - 1), "<mask>") == 0);
    ASSERT_EQ(t.cls_id, 0);
    ASSERT_EQ(t.sep_id, 2);
    ASSERT_EQ(t.pad_id, 1);
    ASSERT_EQ(t.unk_id, 3);
    ASSERT_EQ(t.mask_id, (int32_t)t.n_tokens - 1);
    char *saved = ic_path_join(dir, "saved");
    rc = ic_tokenizer_save_dir(&t, saved, &err);
    if (rc == IC_OK)
        rc = ic_tokenizer_load_dir(&u, saved, &err);
    ic_free(saved);
    ic_free(dir);
    if (rc != IC_OK) {
        ic_tokenizer_free(&t);
        FAIL("%s", err.msg);
    }
    static const char *const texts[] = {"hello world", "  Hola,  ¿qué tal?  <mask> x", "", "ｆｕｌｌ"};
    struct ic_tok_work w;
    ic_tok_work_init(&w);
    int same = 1;
    for (size_t i = 0; i < 4; i++) {
        int32_t a[64], b[64];
        int na = 0, nb = 0;
        size_t l = strlen(texts[i]);
        same &= ic_tokenizer_encode(&t, &w, texts[i], l, 64, a, &na, NULL) == IC_OK &&
                ic_tokenizer_encode(&u, &w, texts[i], l, 64, b, &nb, NULL) == IC_OK && na == nb &&
                memcmp(a, b, (size_t)na * sizeof *a) == 0 && na >= 2 && a[0] == 0 && a[na - 1] == 2;
    }
    ic_tok_work_free(&w);
    ic_tokenizer_free(&t);
    ic_tokenizer_free(&u);
    ASSERT(same);
}
