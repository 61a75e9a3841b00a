/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tok_unigram.c - the SentencePiece Unigram family (XLM-R, multilingual-e5,
 * paraphrase-multilingual-MiniLM) behind the tokenizer seam: tokenizer.json
 * loading (normalizer Precompiled / Replace / Sequence of them,
 * pre_tokenizer Metaspace, model Unigram with its pieces and scores; the
 * post-processor and added tokens through tok_json.c), encoding (normalise,
 * Metaspace words, Viterbi per word: the engine in spm.h), saving a
 * directory that transformers' AutoTokenizer loads (XLMRobertaTokenizer
 * with tokenizer.json), and the trainer entry point.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent/tokenizer.h"
#include "text/spm.h"
#include "text/tok_internal.h"
#include "text/tok_json.h"

#define MAX_REPLACE 16
/* Placeholder for the vocabulary in the JSON written by saving. */
#define VOCAB_MARK "@vocab@"

struct uni_replace {
    char *pattern, *content;
    int is_regex;
};

struct uni {
    struct ic__unigram u;
    struct ic__spm_norm norm;
    char *charsmap;             /* base64, NULL = no Precompiled step */
    struct ic__replace repl[MAX_REPLACE];
    struct uni_replace repl_src[MAX_REPLACE];
    size_t n_repl;
    char replacement[8];        /* Metaspace replacement (UTF-8) */
    enum ic__metaspace_prepend prepend;
    int split;
};

static void uni_free(void *p)
{
    struct uni *m = p;
    if (!m)
        return;
    ic__unigram_free(&m->u);
    if (m->charsmap)
        ic__spm_norm_free(&m->norm);
    ic_free(m->charsmap);
    for (size_t i = 0; i < m->n_repl; i++) {
        ic__replace_free(&m->repl[i]);
        ic_free(m->repl_src[i].pattern);
        ic_free(m->repl_src[i].content);
    }
    ic_free(m);
}

// --- encoding ---------------------------------------------------------------------

/* Normalises text into *out (one of the work buffers). */
static int uni_normalize(const struct uni *m, struct ic_tok_work *w, const char *text, size_t len,
                         struct ic_buf **out)
{
    struct ic_buf *a = &w->ub[0], *b = &w->ub[1];
    ic_buf_reset(a);
    int rc = m->charsmap ? ic__spm_norm_apply(&m->norm, text, len, a)
                         : ic_buf_append(a, text, len);
    for (size_t i = 0; rc == IC_OK && i < m->n_repl; i++) {
        ic_buf_reset(b);
        rc = ic__replace_apply(&m->repl[i], a->data ? a->data : "", a->len, b);
        struct ic_buf *t = a;
        a = b;
        b = t;
    }
    *out = a;
    return rc;
}

static int uni_encode(const struct ic_tokenizer *t, struct ic_tok_work *w, const char *text,
                      size_t len, size_t base, int first, struct ic_err *err)
{
    const struct uni *m = t->impl->model;
    size_t bad;
    if (!ic_utf8_valid(text, len, &bad))
        return ic_errf(err, IC_ERR_FORMAT, "invalid UTF-8 at byte %zu", base + bad);
    struct ic_buf *norm = NULL;
    int rc = uni_normalize(m, w, text, len, &norm);
    if (rc != IC_OK)
        return ic_errf(err, rc, "text at byte %zu: normalisation failed", base);
    if (norm->len == 0)
        return IC_OK; /* an empty piece is dropped, as Hugging Face does */
    struct ic_buf *words = &w->ub[2];
    ic_buf_reset(words);
    size_t n_words = 0;
    rc = ic__metaspace_split_ex(norm->data, norm->len, m->replacement, m->prepend, first, m->split,
                                words, &w->ends, &n_words, &w->ends_cap);
    for (size_t i = 0, start = 0; rc == IC_OK && i < n_words; i++) {
        rc = ic__unigram_encode_word(&m->u, words->data + start, w->ends[i] - start, &w->ids,
                                     &w->n_ids, &w->ids_cap);
        start = w->ends[i];
    }
    if (rc != IC_OK)
        return ic_errf(err, rc, "text at byte %zu: a character the vocabulary cannot encode",
                       base);
    return IC_OK;
}

static const struct ic__tok_model_ops uni_ops = {"unigram", uni_encode, uni_free};

// --- tokenizer.json ------------------------------------------------------------------

static const char *type_of(json_t *obj)
{
    json_t *ty = json_object_get(obj, "type");
    return json_is_string(ty) ? json_string_value(ty) : NULL;
}

static int add_replace(struct uni *m, json_t *r, const char *path, const char *field,
                       struct ic_err *err)
{
    json_t *pat = json_object_get(r, "pattern"), *content = json_object_get(r, "content");
    json_t *s = json_object_get(pat, "String"), *re = json_object_get(pat, "Regex");
    json_t *p = json_is_string(s) ? s : re;
    if (!json_is_string(p) || !json_is_string(content))
        return ic_errf(err, IC_ERR_FORMAT, "%s: %s: needs pattern.String or pattern.Regex and "
                       "content", path, field);
    if (m->n_repl == MAX_REPLACE)
        return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: %s: more than %d Replace steps", path, field,
                       MAX_REPLACE);
    int rc = ic__replace_init(&m->repl[m->n_repl], json_string_value(p), p == re,
                              json_string_value(content), err);
    if (rc != IC_OK) {
        ic_err_prefix(err, "%s: %s", path, field);
        return rc;
    }
    struct uni_replace src = {ic_xstrdup(json_string_value(p)),
                              ic_xstrdup(json_string_value(content)), p == re};
    m->repl_src[m->n_repl++] = src;
    return IC_OK;
}

static int add_norm_step(struct uni *m, json_t *n, const char *path, const char *field,
                         struct ic_err *err)
{
    const char *ty = type_of(n);
    if (ty && strcmp(ty, "Precompiled") == 0) {
        json_t *cm = json_object_get(n, "precompiled_charsmap");
        if (json_is_null(cm) || (json_is_string(cm) && json_string_length(cm) == 0))
            return IC_OK; /* no map: identity */
        if (!json_is_string(cm))
            return ic_errf(err, IC_ERR_FORMAT, "%s: %s.precompiled_charsmap is not a string",
                           path, field);
        if (m->charsmap || m->n_repl)
            return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: %s: Precompiled must come first, once",
                           path, field);
        int rc = ic__spm_norm_init(&m->norm, json_string_value(cm), json_string_length(cm), err);
        if (rc != IC_OK) {
            ic_err_prefix(err, "%s: %s.precompiled_charsmap", path, field);
            return rc;
        }
        m->charsmap = ic_xstrdup(json_string_value(cm));
        return IC_OK;
    }
    if (ty && strcmp(ty, "Replace") == 0)
        return add_replace(m, n, path, field, err);
    return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: %s.type \"%.40s\" (a Unigram tokenizer supports "
                   "Precompiled, Replace and a Sequence of them)", path, field, ty ? ty : "none");
}

static int read_normalizer(struct uni *m, json_t *root, const char *path, struct ic_err *err)
{
    json_t *n = json_object_get(root, "normalizer");
    if (!n || json_is_null(n))
        return IC_OK;
    const char *ty = type_of(n);
    if (!ty || strcmp(ty, "Sequence") != 0)
        return add_norm_step(m, n, path, "normalizer", err);
    json_t *list = json_object_get(n, "normalizers"), *x;
    size_t i;
    json_array_foreach(list, i, x)
    {
        char field[64];
        snprintf(field, sizeof field, "normalizer.normalizers[%zu]", i);
        int rc = add_norm_step(m, x, path, field, err);
        if (rc != IC_OK)
            return rc;
    }
    return IC_OK;
}

static int read_metaspace(struct uni *m, json_t *root, const char *path, struct ic_err *err)
{
    json_t *p = json_object_get(root, "pre_tokenizer");
    const char *ty = type_of(p);
    if (!ty || strcmp(ty, "Metaspace") != 0)
        return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: pre_tokenizer.type \"%.40s\" (a Unigram "
                       "model needs Metaspace)", path, ty ? ty : "none");
    json_t *r = json_object_get(p, "replacement");
    const char *rs = json_is_string(r) ? json_string_value(r) : "\xE2\x96\x81";
    if (strlen(rs) == 0 || strlen(rs) >= sizeof m->replacement)
        return ic_errf(err, IC_ERR_FORMAT, "%s: pre_tokenizer.replacement: one character needed",
                       path);
    memcpy(m->replacement, rs, strlen(rs) + 1);
    json_t *ps = json_object_get(p, "prepend_scheme"), *ap = json_object_get(p, "add_prefix_space");
    if (json_is_string(ps)) {
        int v = ic__metaspace_prepend_parse(json_string_value(ps));
        if (v < 0)
            return ic_errf(err, IC_ERR_FORMAT, "%s: pre_tokenizer.prepend_scheme \"%.20s\"", path,
                           json_string_value(ps));
        m->prepend = (enum ic__metaspace_prepend)v;
    } else {
        /* older files: add_prefix_space (default true) means "always" */
        m->prepend = json_is_false(ap) ? IC_METASPACE_NEVER : IC_METASPACE_ALWAYS;
    }
    json_t *sp = json_object_get(p, "split");
    m->split = !json_is_false(sp);
    return IC_OK;
}

/* model.vocab: [[piece, score], ...] into the id -> token list and scores. */
static int read_pieces(json_t *model, json_t *added, const char *path, const char ***toks,
                       size_t **lens, double **scores, size_t *n, struct ic_err *err)
{
    json_t *vocab = json_object_get(model, "vocab"), *e;
    if (!json_is_array(vocab) || json_array_size(vocab) == 0)
        return ic_errf(err, IC_ERR_FORMAT, "%s: model.vocab is not a non-empty array", path);
    *n = json_array_size(vocab);
    if (*n > IC_TOK_MAX_VOCAB)
        return ic_errf(err, IC_ERR_RANGE, "%s: model.vocab: more than %d pieces", path,
                       IC_TOK_MAX_VOCAB);
    *toks = ic_xcalloc(*n, sizeof **toks);
    *lens = ic_xcalloc(*n, sizeof **lens);
    *scores = ic_xcalloc(*n, sizeof **scores);
    size_t i;
    json_array_foreach(vocab, i, e)
    {
        json_t *s = json_array_get(e, 0), *sc = json_array_get(e, 1);
        if (!json_is_string(s))
            return ic_errf(err, IC_ERR_FORMAT, "%s: model.vocab[%zu]: not [piece, score]", path, i);
        if (!json_is_number(sc) || !isfinite(json_number_value(sc)))
            return ic_errf(err, IC_ERR_FORMAT, "%s: model.vocab[%zu] \"%.40s\": the score is "
                           "missing or not a finite number", path, i, json_string_value(s));
        (*toks)[i] = json_string_value(s);
        (*lens)[i] = json_string_length(s);
        (*scores)[i] = json_number_value(sc);
    }
    json_array_foreach(added, i, e)
    {
        json_t *id = json_object_get(e, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            (size_t)json_integer_value(id) >= *n)
            return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: added_tokens[%zu]: an id outside "
                           "model.vocab", path, i);
    }
    return IC_OK;
}

static int uni_model(struct ic_tokenizer *t, struct uni *m, json_t *model, const char *path,
                     const double *scores, size_t n, struct ic_err *err)
{
    json_t *unk = json_object_get(model, "unk_id");
    int32_t unk_id = -1;
    if (unk && !json_is_null(unk)) {
        if (!json_is_integer(unk) || json_integer_value(unk) < 0 ||
            (size_t)json_integer_value(unk) >= n)
            return ic_errf(err, IC_ERR_FORMAT, "%s: model.unk_id is not a piece index", path);
        unk_id = (int32_t)json_integer_value(unk);
    }
    const char **p = ic_xcalloc(n, sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = ic_tokenizer_token(t, (int32_t)i);
    int rc = ic__unigram_init(&m->u, p, scores, n, unk_id,
                              json_is_true(json_object_get(model, "byte_fallback")), err);
    ic_free(p);
    if (rc != IC_OK) {
        ic_err_prefix(err, "%s: model.vocab", path);
        return rc;
    }
    t->unk_id = unk_id;
    return IC_OK;
}

int ic__unigram_from_json(struct ic_tokenizer *t, json_t *root, json_t *cfg, const char *path,
                          struct ic_err *err)
{
    json_t *model = json_object_get(root, "model");
    const char **toks = NULL;
    size_t *lens = NULL, n = 0;
    double *scores = NULL;
    struct uni *m = ic_xcalloc(1, sizeof *m);
    int rc = read_normalizer(m, root, path, err);
    if (rc == IC_OK)
        rc = read_metaspace(m, root, path, err);
    if (rc == IC_OK)
        rc = read_pieces(model, json_object_get(root, "added_tokens"), path, &toks, &lens, &scores,
                         &n, err);
    if (rc == IC_OK)
        rc = ic__tok_vocab_build(t, toks, lens, n, 0, path, err);
    if (rc == IC_OK) {
        t->type = IC_TOK_UNIGRAM;
        t->impl->ops = &uni_ops;
        t->impl->model = m;
        m = NULL;
        rc = uni_model(t, t->impl->model, model, path, scores, n, err);
    }
    if (rc == IC_OK)
        rc = ic__tok_finish_json(t, root, cfg, path, err);
    uni_free(m);
    ic_free(toks);
    ic_free(lens);
    ic_free(scores);
    return rc;
}

// --- saving -----------------------------------------------------------------------------

static json_t *normalizer_json(const struct uni *m)
{
    json_t *list = json_array();
    if (m->charsmap) {
        json_t *p = json_object();
        json_object_set_new(p, "type", json_string("Precompiled"));
        json_object_set_new(p, "precompiled_charsmap", json_string(m->charsmap));
        json_array_append_new(list, p);
    }
    for (size_t i = 0; i < m->n_repl; i++) {
        json_t *r = json_object(), *pat = json_object();
        json_object_set_new(r, "type", json_string("Replace"));
        json_object_set_new(pat, m->repl_src[i].is_regex ? "Regex" : "String",
                            json_string(m->repl_src[i].pattern));
        json_object_set_new(r, "pattern", pat);
        json_object_set_new(r, "content", json_string(m->repl_src[i].content));
        json_array_append_new(list, r);
    }
    if (json_array_size(list) == 0) {
        json_decref(list);
        return json_null();
    }
    json_t *seq = json_object();
    json_object_set_new(seq, "type", json_string("Sequence"));
    json_object_set_new(seq, "normalizers", list);
    return seq;
}

static json_t *metaspace_json(const struct uni *m)
{
    static const char *const schemes[] = {"never", "always", "first"};
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("Metaspace"));
    json_object_set_new(o, "replacement", json_string(m->replacement));
    json_object_set_new(o, "prepend_scheme", json_string(schemes[m->prepend]));
    json_object_set_new(o, "split", json_boolean(m->split));
    return o;
}

static json_t *template_json(const char *cls, int32_t cls_id, const char *sep, int32_t sep_id)
{
    json_t *post = json_object(), *single = json_array(), *pair = json_array(), *st = json_object();
    json_object_set_new(post, "type", json_string("TemplateProcessing"));
    json_array_append_new(single, json_pack("{s{sssi}}", "SpecialToken", "id", cls, "type_id", 0));
    json_array_append_new(single, json_pack("{s{sssi}}", "Sequence", "id", "A", "type_id", 0));
    json_array_append_new(single, json_pack("{s{sssi}}", "SpecialToken", "id", sep, "type_id", 0));
    json_array_extend(pair, single);
    json_array_append_new(pair, json_pack("{s{sssi}}", "SpecialToken", "id", sep, "type_id", 0));
    json_array_append_new(pair, json_pack("{s{sssi}}", "Sequence", "id", "B", "type_id", 0));
    json_array_append_new(pair, json_pack("{s{sssi}}", "SpecialToken", "id", sep, "type_id", 0));
    json_object_set_new(post, "single", single);
    json_object_set_new(post, "pair", pair);
    json_object_set_new(st, cls, json_pack("{ss s[i] s[s]}", "id", cls, "ids", cls_id, "tokens",
                                           cls));
    json_object_set_new(st, sep, json_pack("{ss s[i] s[s]}", "id", sep, "ids", sep_id, "tokens",
                                           sep));
    json_object_set_new(post, "special_tokens", st);
    return post;
}

static json_t *unigram_tokenizer_json(const struct ic_tokenizer *t)
{
    const struct uni *m = t->impl->model;
    json_t *root = json_object(), *model = json_object();
    json_object_set_new(root, "version", json_string("1.0"));
    json_object_set_new(root, "truncation", json_null());
    json_object_set_new(root, "padding", json_null());
    json_object_set_new(root, "added_tokens", ic__tok_json_added_array(t));
    json_object_set_new(root, "normalizer", normalizer_json(m));
    json_object_set_new(root, "pre_tokenizer", metaspace_json(m));
    json_object_set_new(root, "post_processor",
                        template_json(ic_tokenizer_token(t, t->cls_id), t->cls_id,
                                      ic_tokenizer_token(t, t->sep_id), t->sep_id));
    json_object_set_new(root, "decoder", metaspace_json(m));
    json_object_set_new(model, "type", json_string("Unigram"));
    json_object_set_new(model, "unk_id", m->u.unk_id >= 0 ? json_integer(m->u.unk_id)
                                                          : json_null());
    json_object_set_new(model, "vocab", json_string(VOCAB_MARK));
    json_object_set_new(model, "byte_fallback", json_boolean(m->u.byte_fallback));
    json_object_set_new(root, "model", model);
    return root;
}

/* Shortest "%.Ng" that reads back as x (what Python and Rust write):
 * Hugging Face's JSON reader does not always round 17-digit numbers to
 * the nearest double, and a score one ulp off can flip a Viterbi tie. */
static int put_score(struct ic_buf *b, double x)
{
    char tmp[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, x);
        if (strtod(tmp, NULL) == x)
            break;
    }
    if (!strpbrk(tmp, ".eEn"))
        strcat(tmp, ".0");
    return ic_buf_append(b, tmp, strlen(tmp));
}

/* tokenizer.json text: the JSON with the vocabulary written by hand in
 * place of VOCAB_MARK, one [piece, score] per line. */
static int tokenizer_json_text(const struct ic_tokenizer *t, struct ic_buf *out)
{
    const struct uni *m = t->impl->model;
    json_t *tj = unigram_tokenizer_json(t);
    char *s = json_dumps(tj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(tj);
    if (!s)
        return IC_ERR_NOMEM;
    const char *mark = strstr(s, "\"" VOCAB_MARK "\"");
    int rc = mark ? ic_buf_append(out, s, (size_t)(mark - s)) : IC_ERR_INVAL;
    if (rc == IC_OK)
        rc = ic_buf_append(out, "[", 1);
    for (size_t i = 0; rc == IC_OK && i < t->n_tokens; i++) {
        const char *piece = ic_tokenizer_token(t, (int32_t)i);
        rc = ic_buf_append(out, i ? ",\n      [" : "\n      [", i ? 9 : 8);
        if (rc == IC_OK)
            rc = ic_buf_json_str(out, piece, strlen(piece));
        if (rc == IC_OK)
            rc = ic_buf_append(out, ", ", 2);
        if (rc == IC_OK)
            rc = put_score(out, m->u.scores[i]);
        if (rc == IC_OK)
            rc = ic_buf_append(out, "]", 1);
    }
    if (rc == IC_OK)
        rc = ic_buf_append(out, "\n    ]", 6);
    if (rc == IC_OK)
        rc = ic_buf_append(out, mark + strlen(VOCAB_MARK) + 2, strlen(mark + strlen(VOCAB_MARK) + 2));
    free(s); /* jansson's allocator */
    return rc;
}

int ic__unigram_save_dir(const struct ic_tokenizer *t, const char *dir, struct ic_err *err)
{
    json_t *cfg = json_object(), *map = json_object();
    struct ic_buf b;
    ic_buf_init(&b, 0);
    int rc = ic_mkdirs(dir, err);
    if (rc == IC_OK && tokenizer_json_text(t, &b) != IC_OK)
        rc = ic_errf(err, IC_ERR_NOMEM, "%s/tokenizer.json: cannot encode the JSON", dir);
    if (rc == IC_OK) {
        char *path = ic_path_join(dir, "tokenizer.json");
        rc = ic_write_file_atomic(path, b.data, b.len, err);
        ic_free(path);
    }
    if (rc == IC_OK) {
        json_object_set_new(cfg, "tokenizer_class", json_string("XLMRobertaTokenizer"));
        if (t->opts.model_max_length > 0)
            json_object_set_new(cfg, "model_max_length", json_integer(t->opts.model_max_length));
        ic__tok_config_specials(t, cfg, 1);
        rc = ic__tok_put_json(dir, "tokenizer_config.json", cfg, err);
    }
    if (rc == IC_OK) {
        ic__tok_config_specials(t, map, 0);
        rc = ic__tok_put_json(dir, "special_tokens_map.json", map, err);
    }
    ic_buf_free(&b);
    json_decref(cfg);
    json_decref(map);
    return rc;
}

// --- trainer ------------------------------------------------------------------------------

/* tokenizer.json in XLM-R's layout (as transformers' XLMRobertaConverter
 * builds it): <s> <pad> </s> <unk>, the pieces, <mask> last (lstrip as
 * mask_lstrip); normaliser: the charsmap when there is one, then space runs
 * collapsed; Metaspace "always"; <s> $A </s>; unk_id 3. */
static json_t *xlmr_json(const char *const *pieces, const double *scores, size_t np,
                         const char *charsmap, int byte_fallback, int mask_lstrip)
{
    static const char *const specials[] = {"<s>", "<pad>", "</s>", "<unk>"};
    json_t *vocab = json_array(), *added = json_array(), *model = json_object();
    for (size_t i = 0; i < 4; i++)
        json_array_append_new(vocab, json_pack("[sf]", specials[i], 0.0));
    for (size_t i = 0; i < np; i++)
        json_array_append_new(vocab, json_pack("[sf]", pieces[i], scores[i]));
    json_array_append_new(vocab, json_pack("[sf]", "<mask>", 0.0));
    for (size_t i = 0; i < 5; i++) {
        json_t *a = json_object();
        json_object_set_new(a, "id", json_integer(i < 4 ? (json_int_t)i : (json_int_t)np + 4));
        json_object_set_new(a, "content", json_string(i < 4 ? specials[i] : "<mask>"));
        json_object_set_new(a, "single_word", json_false());
        json_object_set_new(a, "lstrip", json_boolean(i == 4 && mask_lstrip));
        json_object_set_new(a, "rstrip", json_false());
        json_object_set_new(a, "normalized", json_false());
        json_object_set_new(a, "special", json_true());
        json_array_append_new(added, a);
    }
    struct uni m;
    memset(&m, 0, sizeof m);
    memcpy(m.replacement, "\xE2\x96\x81", 4);
    m.prepend = IC_METASPACE_ALWAYS;
    m.split = 1;
    json_t *root = json_object(), *rep = json_object(), *seq = json_object(), *list = json_array();
    json_object_set_new(root, "version", json_string("1.0"));
    json_object_set_new(root, "added_tokens", added);
    if (charsmap && charsmap[0])
        json_array_append_new(list, json_pack("{ssss}", "type", "Precompiled",
                                              "precompiled_charsmap", charsmap));
    json_object_set_new(rep, "type", json_string("Replace"));
    json_object_set_new(rep, "pattern", json_pack("{ss}", "Regex", " {2,}"));
    json_object_set_new(rep, "content", json_string(" "));
    json_array_append_new(list, rep);
    json_object_set_new(seq, "type", json_string("Sequence"));
    json_object_set_new(seq, "normalizers", list);
    json_object_set_new(root, "normalizer", seq);
    json_object_set_new(root, "pre_tokenizer", metaspace_json(&m));
    json_object_set_new(root, "post_processor", template_json("<s>", 0, "</s>", 2));
    json_object_set_new(root, "decoder", metaspace_json(&m));
    json_object_set_new(model, "type", json_string("Unigram"));
    json_object_set_new(model, "unk_id", json_integer(3));
    json_object_set_new(model, "vocab", vocab);
    json_object_set_new(model, "byte_fallback", json_boolean(byte_fallback));
    json_object_set_new(root, "model", model);
    return root;
}

/* <mask>'s lstrip from tokenizer_config.json (an AddedToken object), else
 * XLMRobertaTokenizer's default (true). */
static int mask_lstrip(json_t *cfg)
{
    json_t *m = json_object_get(cfg, "mask_token");
    return json_is_object(m) ? json_is_true(json_object_get(m, "lstrip")) : 1;
}

static int spm_file_json(const char *path, json_t *cfg, json_t **out, struct ic_err *err)
{
    char *data = NULL, **pieces = NULL, *charsmap = NULL;
    double *scores = NULL;
    int *types = NULL;
    size_t len = 0, n = 0;
    struct ic__spm_model_info info;
    *out = NULL;
    int rc = ic_read_file(path, (size_t)256 << 20, &data, &len, err);
    if (rc == IC_OK)
        rc = ic__spm_model_info(data, len, path, &info, err);
    if (rc == IC_OK && info.model_type != 1)
        rc = ic_errf(err, IC_ERR_UNSUPPORTED, "%s: trainer_spec.model_type %d (only Unigram, 1)",
                     path, info.model_type);
    if (rc == IC_OK)
        rc = ic__spm_model_load(data, len, path, &pieces, &scores, &types, &n, &charsmap, err);
    /* the SentencePiece ids 0..2 (<unk> <s> </s>) give way to fairseq's
     * <s> <pad> </s> <unk>: piece k >= 3 gets id k + 1 */
    if (rc == IC_OK && n < 3)
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: pieces: fewer than 3", path);
    if (rc == IC_OK)
        *out = xlmr_json((const char *const *)pieces + 3, scores + 3, n - 3, charsmap,
                         info.byte_fallback, mask_lstrip(cfg));
    if (pieces)
        ic__spm_model_free(pieces, scores, types, n, charsmap);
    ic_free(data);
    return rc;
}

int ic__unigram_load_spm(struct ic_tokenizer *t, const char *dir, long long model_max_length,
                         struct ic_err *err)
{
    char *path = ic_path_join(dir, "sentencepiece.bpe.model");
    char *cfg_path = ic_path_join(dir, "tokenizer_config.json");
    json_t *cfg = ic_path_exists(cfg_path) ? json_load_file(cfg_path, JSON_DECODE_INT_AS_REAL, NULL)
                                           : NULL;
    json_t *root = NULL;
    memset(t, 0, sizeof *t);
    int rc = spm_file_json(path, cfg, &root, err);
    if (rc == IC_OK)
        rc = ic__tok_from_json(t, root, cfg, path, model_max_length, err);
    json_decref(root);
    json_decref(cfg);
    ic_free(path);
    ic_free(cfg_path);
    return rc;
}

int ic_vocab_train_unigram(const char *const *texts, size_t n, size_t vocab_size,
                           struct ic_tokenizer *out, struct ic_err *err)
{
    memset(out, 0, sizeof *out);
    static const char *const specials[] = {"<s>", "<pad>", "</s>", "<unk>"};
    struct ic__unigram_train_opts o;
    ic__unigram_train_default_opts(&o);
    o.specials = specials;
    o.n_specials = 4;
    char **pieces = NULL;
    double *scores = NULL;
    size_t np = 0;
    if (vocab_size < 6)
        return ic_errf(err, IC_ERR_INVAL, "Unigram vocabulary size %zu: at least 6", vocab_size);
    int rc = ic__unigram_train(texts, n, vocab_size - 1, &o, &pieces, &scores, &np, err);
    if (rc != IC_OK)
        return rc;
    /* the trainer puts the four specials first */
    json_t *root = np >= 4 ? xlmr_json((const char *const *)pieces + 4, scores + 4, np - 4, NULL,
                                       0, 1)
                           : NULL;
    for (size_t i = 0; i < np; i++)
        ic_free(pieces[i]);
    ic_free(pieces);
    ic_free(scores);
    if (!root)
        return ic_errf(err, IC_ERR_NOMEM, "cannot build the trained tokenizer.json");
    rc = ic__tok_from_json(out, root, NULL, "trained Unigram", 0, err);
    json_decref(root);
    return rc;
}
