/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tokenizer_io.c - tokenizer files of a Hugging Face checkpoint directory.
 * Reads tokenizer.json (WordPiece model, BertNormalizer options, added
 * tokens) or vocab.txt, plus tokenizer_config.json; writes vocab.txt,
 * tokenizer_config.json and special_tokens_map.json for BertTokenizer.
 * Limits: files over 64 MiB are refused; a tokenizer.json vocabulary must
 * use the ids 0..n-1 exactly once each.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "intent/tokenizer.h"
#include "text/tok_internal.h"
#include "text/tok_json.h"

#define MAX_JSON_FILE ((size_t)64 << 20)

/* Reads a boolean option; absent or null leaves *v. Returns IC_OK or
 * IC_ERR_FORMAT. null_value: value for an explicit null (-2 = keep). */
static int opt_bool(json_t *obj, const char *key, int *v, int null_value, const char *path,
                    struct ic_err *err)
{
    json_t *j = json_object_get(obj, key);
    if (!j)
        return IC_OK;
    if (json_is_null(j)) {
        if (null_value != -2)
            *v = null_value;
        return IC_OK;
    }
    if (!json_is_boolean(j))
        return ic_errf(err, IC_ERR_FORMAT, "%s: \"%s\" is not a boolean", path, key);
    *v = json_is_true(j);
    return IC_OK;
}

static int read_config(const char *path, struct ic_tokenizer_opts *o, struct ic_err *err)
{
    json_t *root = NULL;
    /* reals: transformers writes model_max_length 1e30 as a 31-digit
     * integer, beyond jansson's integers */
    int rc = ic__tok_load_json(path, MAX_JSON_FILE, JSON_DECODE_INT_AS_REAL, &root, err);
    if (rc != IC_OK)
        return rc;
    rc = opt_bool(root, "do_lower_case", &o->lowercase, -2, path, err);
    if (rc == IC_OK)
        rc = opt_bool(root, "strip_accents", &o->strip_accents, -1, path, err);
    if (rc == IC_OK)
        rc = opt_bool(root, "tokenize_chinese_chars", &o->handle_chinese_chars, -2, path, err);
    json_t *m = json_object_get(root, "model_max_length");
    if (rc == IC_OK && m && !json_is_null(m)) {
        if (!json_is_number(m)) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: \"model_max_length\" is not a number", path);
        } else {
            double v = json_number_value(m);
            /* transformers writes 1e30 (VERY_LARGE_INTEGER) for "no limit" */
            o->model_max_length = (v >= 1e18 || v < 2) ? 0 : (long long)v;
        }
    }
    json_decref(root);
    return rc;
}

/* Reads one AddedToken flag (absent = 0). */
static int added_flag(json_t *tok, const char *key, unsigned char *v, const char *path, size_t i,
                      struct ic_err *err)
{
    json_t *j = json_object_get(tok, key);
    *v = 0;
    if (!j || json_is_null(j))
        return IC_OK;
    if (!json_is_boolean(j))
        return ic_errf(err, IC_ERR_FORMAT, "%s: added_tokens[%zu].%s is not a boolean", path, i,
                       key);
    *v = json_is_true(j);
    return IC_OK;
}

int ic__tok_json_added(struct ic_tokenizer *t, json_t *root, const char *path, struct ic_err *err)
{
    json_t *added = json_object_get(root, "added_tokens");
    if (!added || json_is_null(added))
        return IC_OK;
    if (!json_is_array(added))
        return ic_errf(err, IC_ERR_FORMAT, "%s: added_tokens is not an array", path);
    size_t n = json_array_size(added), i;
    struct ic__tok_added *a = ic_xcalloc(n ? n : 1, sizeof *a);
    int rc = IC_OK;
    json_t *val;
    json_array_foreach(added, i, val)
    {
        json_t *c = json_object_get(val, "content");
        json_t *id = json_object_get(val, "id");
        if (!json_is_string(c) || !json_is_integer(id) || json_string_length(c) == 0) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: added_tokens[%zu]: needs content and id", path, i);
            break;
        }
        const char *s = json_string_value(c);
        a[i].s = (char *)s;
        a[i].len = json_string_length(c);
        json_int_t v = json_integer_value(id);
        const char *tok = v >= 0 && v < (json_int_t)t->n_tokens ? ic_tokenizer_token(t, (int32_t)v)
                                                                 : NULL;
        if (!tok || strlen(tok) != a[i].len || memcmp(tok, s, a[i].len) != 0) {
            rc = ic_errf(err, IC_ERR_UNSUPPORTED,
                         "%s: added_tokens[%zu] \"%.40s\": not the vocabulary's token of id %lld",
                         path, i, s, (long long)v);
            break;
        }
        a[i].id = (int32_t)v;
        rc = added_flag(val, "lstrip", &a[i].lstrip, path, i, err);
        if (rc == IC_OK)
            rc = added_flag(val, "rstrip", &a[i].rstrip, path, i, err);
        if (rc == IC_OK)
            rc = added_flag(val, "single_word", &a[i].single_word, path, i, err);
        if (rc == IC_OK)
            rc = added_flag(val, "normalized", &a[i].normalized, path, i, err);
        if (rc == IC_OK)
            rc = added_flag(val, "special", &a[i].special, path, i, err);
        if (rc != IC_OK)
            break;
    }
    if (rc == IC_OK)
        rc = ic__tok_set_added(t, a, n, err);
    if (rc != IC_OK)
        ic_err_prefix(err, "%s", path);
    ic_free(a);
    return rc;
}

/* A tokenizer.json of another family: tok_json.c, with the config file
 * for the special-token names. */
static int read_other_json(struct ic_tokenizer *t, json_t *root, const char *path,
                           const char *cfg_path, long long model_max_length, struct ic_err *err)
{
    json_t *cfg = NULL;
    int rc = IC_OK;
    if (cfg_path && ic_path_exists(cfg_path))
        rc = ic__tok_load_json(cfg_path, MAX_JSON_FILE, JSON_DECODE_INT_AS_REAL, &cfg, err);
    if (rc == IC_OK)
        rc = ic__tok_from_json(t, root, cfg, path, model_max_length, err);
    json_decref(cfg);
    return rc;
}

/* A WordPiece tokenizer.json's normaliser (BertNormalizer, or none) and
 * pre-tokenizer (BertPreTokenizer): any other type would split or normalise
 * differently from transformers, so it is refused naming the field and type. */
static int wp_pipeline(json_t *root, struct ic_tokenizer_opts *o, const char *path,
                       struct ic_err *err)
{
    json_t *norm = json_object_get(root, "normalizer");
    if (!norm || json_is_null(norm)) {
        o->lowercase = 0;
        o->strip_accents = 0;
        o->handle_chinese_chars = 0;
        o->clean_text = 0;
    } else {
        const char *nt = json_string_value(json_object_get(norm, "type"));
        if (!nt || strcmp(nt, "BertNormalizer") != 0)
            return ic_errf(err, IC_ERR_UNSUPPORTED,
                           "%s: normalizer.type \"%.40s\" is not supported with a WordPiece "
                           "model (supported: BertNormalizer or none)",
                           path, nt ? nt : "(missing)");
        int rc = opt_bool(norm, "clean_text", &o->clean_text, -2, path, err);
        if (rc == IC_OK)
            rc = opt_bool(norm, "handle_chinese_chars", &o->handle_chinese_chars, -2, path, err);
        if (rc == IC_OK)
            rc = opt_bool(norm, "strip_accents", &o->strip_accents, -1, path, err);
        if (rc == IC_OK)
            rc = opt_bool(norm, "lowercase", &o->lowercase, -2, path, err);
        if (rc != IC_OK)
            return rc;
    }
    json_t *pre = json_object_get(root, "pre_tokenizer");
    const char *pt = json_string_value(json_object_get(pre, "type"));
    if (!pre || json_is_null(pre)) /* lenient: files written by hand */
        ic_log(IC_LOG_WARN, "%s: no pre_tokenizer; splitting as BertPreTokenizer", path);
    else if (!pt || strcmp(pt, "BertPreTokenizer") != 0)
        return ic_errf(err, IC_ERR_UNSUPPORTED,
                       "%s: pre_tokenizer.type \"%.40s\" is not supported with a WordPiece "
                       "model (supported: BertPreTokenizer)",
                       path, pt ? pt : "(missing)");
    return IC_OK;
}

static int read_tokenizer_json(struct ic_tokenizer *t, const char *path, const char *cfg_path,
                               struct ic_tokenizer_opts *o, const struct ic_tokenizer_opts *cfg,
                               const int *cfg_has, struct ic_err *err)
{
    json_t *root = NULL;
    const char **toks = NULL;
    size_t *lens = NULL;
    int rc = ic__tok_load_json(path, MAX_JSON_FILE, 0, &root, err);
    if (rc != IC_OK)
        return rc;
    if (!ic__tok_json_is_wordpiece(root)) {
        rc = read_other_json(t, root, path, cfg_path, cfg->model_max_length, err);
        json_decref(root);
        return rc;
    }
    json_t *model = json_object_get(root, "model");
    json_t *type = json_object_get(model, "type");
    if (!json_is_object(model) || !json_is_string(type)) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: no \"model\" with a \"type\"", path);
        goto out;
    }
    if (strcmp(json_string_value(type), "WordPiece") != 0) {
        rc = ic_errf(err, IC_ERR_UNSUPPORTED, "%s: model type \"%s\" (only WordPiece)", path,
                     json_string_value(type));
        goto out;
    }
    json_t *prefix = json_object_get(model, "continuing_subword_prefix");
    if (prefix && (!json_is_string(prefix) || strcmp(json_string_value(prefix), "##") != 0)) {
        rc = ic_errf(err, IC_ERR_UNSUPPORTED, "%s: continuing_subword_prefix is not \"##\"", path);
        goto out;
    }
    json_t *unk = json_object_get(model, "unk_token");
    if (unk && (!json_is_string(unk) || strcmp(json_string_value(unk), "[UNK]") != 0)) {
        rc = ic_errf(err, IC_ERR_UNSUPPORTED, "%s: unk_token is not \"[UNK]\"", path);
        goto out;
    }
    json_t *mc = json_object_get(model, "max_input_chars_per_word");
    if (mc && !json_is_null(mc)) {
        if (!json_is_integer(mc) || json_integer_value(mc) < 1 ||
            json_integer_value(mc) > IC_TOK_MAX_WORD_LIMIT) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: max_input_chars_per_word not in [1, %d]", path,
                         IC_TOK_MAX_WORD_LIMIT);
            goto out;
        }
        o->max_input_chars_per_word = (int)json_integer_value(mc);
    }
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: model.vocab is not an object", path);
        goto out;
    }
    size_t n = json_object_size(vocab);
    if (n > IC_TOK_MAX_VOCAB) {
        rc = ic_errf(err, IC_ERR_RANGE, "%s: %zu tokens, more than %d", path, n, IC_TOK_MAX_VOCAB);
        goto out;
    }
    toks = ic_xcalloc(n ? n : 1, sizeof *toks);
    lens = ic_xcalloc(n ? n : 1, sizeof *lens);
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val)
    {
        if (!json_is_integer(val) || json_integer_value(val) < 0 ||
            (size_t)json_integer_value(val) >= n) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: model.vocab[\"%.40s\"]: id not in [0, %zu)", path,
                         key, n);
            goto out;
        }
        size_t id = (size_t)json_integer_value(val);
        if (toks[id]) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: model.vocab: id %zu used twice", path, id);
            goto out;
        }
        toks[id] = key;
        lens[id] = strlen(key);
    }

    rc = wp_pipeline(root, o, path, err);
    if (rc != IC_OK)
        goto out;
    /* tokenizer_config.json options win (transformers rebuilds the
     * normaliser from them) */
    if (cfg_has[0])
        o->lowercase = cfg->lowercase;
    if (cfg_has[1])
        o->strip_accents = cfg->strip_accents;
    if (cfg_has[2])
        o->handle_chinese_chars = cfg->handle_chinese_chars;
    o->model_max_length = cfg->model_max_length;

    rc = ic__tok_build(t, toks, lens, n, o, path, err);
    if (rc != IC_OK)
        goto out;
    rc = ic__tok_json_added(t, root, path, err);
out:
    if (rc != IC_OK)
        ic_tokenizer_free(t);
    ic_free(toks);
    ic_free(lens);
    json_decref(root);
    return rc;
}

int ic_tokenizer_load_dir(struct ic_tokenizer *t, const char *dir, struct ic_err *err)
{
    char *cfg_path = ic_path_join(dir, "tokenizer_config.json");
    char *json_path = ic_path_join(dir, "tokenizer.json");
    char *vocab_path = ic_path_join(dir, "vocab.txt");
    char *bpe_vocab = ic_path_join(dir, "vocab.json");
    char *bpe_merges = ic_path_join(dir, "merges.txt");
    char *spm_model = ic_path_join(dir, "sentencepiece.bpe.model");
    struct ic_tokenizer_opts o, cfg;
    int has[3] = {0, 0, 0};
    int rc = IC_OK;
    memset(t, 0, sizeof *t);
    ic_tokenizer_default_opts(&o);
    if (ic_path_exists(cfg_path)) {
        /* which keys the config sets: read it over two different bases */
        struct ic_tokenizer_opts a, b;
        ic_tokenizer_default_opts(&a);
        ic_tokenizer_default_opts(&b);
        b.lowercase = 2;
        b.strip_accents = 2;
        b.handle_chinese_chars = 2;
        rc = read_config(cfg_path, &a, err);
        if (rc == IC_OK)
            rc = read_config(cfg_path, &b, err);
        if (rc != IC_OK)
            goto out;
        has[0] = a.lowercase == b.lowercase;
        has[1] = a.strip_accents == b.strip_accents;
        has[2] = a.handle_chinese_chars == b.handle_chinese_chars;
        cfg = a;
    } else {
        ic_tokenizer_default_opts(&cfg);
    }
    if (ic_path_exists(json_path)) {
        rc = read_tokenizer_json(t, json_path, cfg_path, &o, &cfg, has, err);
    } else if (ic_path_exists(vocab_path)) {
        if (has[0])
            o.lowercase = cfg.lowercase;
        if (has[1])
            o.strip_accents = cfg.strip_accents;
        if (has[2])
            o.handle_chinese_chars = cfg.handle_chinese_chars;
        o.model_max_length = cfg.model_max_length;
        rc = ic_tokenizer_load_vocab(t, vocab_path, &o, err);
    } else if (ic_path_exists(bpe_vocab) && ic_path_exists(bpe_merges)) {
        rc = ic__bpe_load_legacy(t, dir, cfg.model_max_length, err);
    } else if (ic_path_exists(spm_model)) {
        rc = ic__unigram_load_spm(t, dir, cfg.model_max_length, err);
    } else {
        rc = ic_errf(err, IC_ERR_NOTFOUND, "%s: no tokenizer.json, vocab.txt, vocab.json + "
                     "merges.txt or sentencepiece.bpe.model", dir);
    }
out:
    ic_free(cfg_path);
    ic_free(json_path);
    ic_free(vocab_path);
    ic_free(bpe_vocab);
    ic_free(bpe_merges);
    ic_free(spm_model);
    return rc;
}

static void add_specials(const struct ic_tokenizer *t, json_t *obj)
{
    static const char *const keys[] = {"unk_token", "sep_token", "pad_token", "cls_token",
                                       "mask_token"};
    int32_t ids[] = {t->unk_id, t->sep_id, t->pad_id, t->cls_id, t->mask_id};
    for (int i = 0; i < 5; i++)
        if (ids[i] >= 0)
            json_object_set_new(obj, keys[i], json_string(ic_tokenizer_token(t, ids[i])));
}

json_t *ic__tok_json_added_array(const struct ic_tokenizer *t)
{
    const struct ic__tok_impl *m = t->impl;
    json_t *added = json_array();
    /* in id order */
    for (size_t id = 0; id < t->n_tokens; id++) {
        for (size_t i = 0; i < m->n_added; i++) {
            const struct ic__tok_added *x = &m->added[i];
            if ((size_t)x->id != id)
                continue;
            json_t *a = json_object();
            json_object_set_new(a, "id", json_integer((json_int_t)id));
            json_object_set_new(a, "content", json_string(x->s));
            json_object_set_new(a, "single_word", json_boolean(x->single_word));
            json_object_set_new(a, "lstrip", json_boolean(x->lstrip));
            json_object_set_new(a, "rstrip", json_boolean(x->rstrip));
            json_object_set_new(a, "normalized", json_boolean(x->normalized));
            json_object_set_new(a, "special", json_boolean(x->special));
            json_array_append_new(added, a);
        }
    }
    return added;
}

static json_t *special_step(const char *kind, const char *id)
{
    json_t *o = json_object(), *inner = json_object();
    json_object_set_new(inner, "id", json_string(id));
    json_object_set_new(inner, "type_id", json_integer(0));
    json_object_set_new(o, kind, inner);
    return o;
}

/* tokenizer.json as Hugging Face's `tokenizers` writes it for BERT, or NULL
 * when the vocabulary cannot be one (duplicate tokens). */
static json_t *tokenizer_json(const struct ic_tokenizer *t)
{
    const struct ic_tokenizer_opts *o = &t->opts;
    json_t *vocab = json_object();
    for (size_t i = 0; i < t->n_tokens; i++) {
        const char *tok = ic_tokenizer_token(t, (int32_t)i);
        if (json_object_get(vocab, tok)) {
            json_decref(vocab);
            return NULL;
        }
        json_object_set_new(vocab, tok, json_integer((json_int_t)i));
    }
    json_t *root = json_object();
    json_object_set_new(root, "version", json_string("1.0"));
    json_object_set_new(root, "truncation", json_null());
    json_object_set_new(root, "padding", json_null());
    json_object_set_new(root, "added_tokens", ic__tok_json_added_array(t));
    json_t *norm = json_object();
    json_object_set_new(norm, "type", json_string("BertNormalizer"));
    json_object_set_new(norm, "clean_text", json_boolean(o->clean_text));
    json_object_set_new(norm, "handle_chinese_chars", json_boolean(o->handle_chinese_chars));
    json_object_set_new(norm, "strip_accents",
                        o->strip_accents < 0 ? json_null() : json_boolean(o->strip_accents));
    json_object_set_new(norm, "lowercase", json_boolean(o->lowercase));
    json_object_set_new(root, "normalizer", norm);
    json_t *pre = json_object();
    json_object_set_new(pre, "type", json_string("BertPreTokenizer"));
    json_object_set_new(root, "pre_tokenizer", pre);
    const char *cls = ic_tokenizer_token(t, t->cls_id), *sep = ic_tokenizer_token(t, t->sep_id);
    json_t *post = json_object();
    json_object_set_new(post, "type", json_string("TemplateProcessing"));
    json_t *single = json_array();
    json_array_append_new(single, special_step("SpecialToken", cls));
    json_array_append_new(single, special_step("Sequence", "A"));
    json_array_append_new(single, special_step("SpecialToken", sep));
    json_object_set_new(post, "single", single);
    json_t *pair = json_array();
    json_array_append_new(pair, special_step("SpecialToken", cls));
    json_array_append_new(pair, special_step("Sequence", "A"));
    json_array_append_new(pair, special_step("SpecialToken", sep));
    json_t *b = special_step("Sequence", "B");
    json_object_set_new(json_object_get(b, "Sequence"), "type_id", json_integer(1));
    json_array_append_new(pair, b);
    json_t *s2 = special_step("SpecialToken", sep);
    json_object_set_new(json_object_get(s2, "SpecialToken"), "type_id", json_integer(1));
    json_array_append_new(pair, s2);
    json_object_set_new(post, "pair", pair);
    json_t *st = json_object();
    const char *names[2] = {cls, sep};
    int32_t sids[2] = {t->cls_id, t->sep_id};
    for (int i = 0; i < 2; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "id", json_string(names[i]));
        json_t *ia = json_array();
        json_array_append_new(ia, json_integer(sids[i]));
        json_object_set_new(e, "ids", ia);
        json_t *ta = json_array();
        json_array_append_new(ta, json_string(names[i]));
        json_object_set_new(e, "tokens", ta);
        json_object_set_new(st, names[i], e);
    }
    json_object_set_new(post, "special_tokens", st);
    json_object_set_new(root, "post_processor", post);
    json_t *dec = json_object();
    json_object_set_new(dec, "type", json_string("WordPiece"));
    json_object_set_new(dec, "prefix", json_string("##"));
    json_object_set_new(dec, "cleanup", json_true());
    json_object_set_new(root, "decoder", dec);
    json_t *model = json_object();
    json_object_set_new(model, "type", json_string("WordPiece"));
    json_object_set_new(model, "unk_token", json_string(ic_tokenizer_token(t, t->unk_id)));
    json_object_set_new(model, "continuing_subword_prefix", json_string("##"));
    json_object_set_new(model, "max_input_chars_per_word",
                        json_integer(o->max_input_chars_per_word));
    json_object_set_new(model, "vocab", vocab);
    json_object_set_new(root, "model", model);
    return root;
}

int ic_tokenizer_save_dir(const struct ic_tokenizer *t, const char *dir, struct ic_err *err)
{
    struct ic_buf b;
    json_t *cfg = NULL, *map = NULL, *tj = NULL;
    char *vocab_path = NULL;
    if (t->type == IC_TOK_BPE)
        return ic__bpe_save_dir(t, dir, err);
    if (t->type == IC_TOK_UNIGRAM)
        return ic__unigram_save_dir(t, dir, err);
    ic_buf_init(&b, 0);
    int rc = ic_mkdirs(dir, err);
    if (rc != IC_OK)
        goto out;
    rc = ic_tokenizer_vocab_text(t, &b);
    if (rc != IC_OK) {
        rc = ic_errf(err, rc, "%s: cannot build vocab.txt", dir);
        goto out;
    }
    vocab_path = ic_path_join(dir, "vocab.txt");
    rc = ic_write_file_atomic(vocab_path, b.data ? b.data : "", b.len, err);
    if (rc != IC_OK)
        goto out;
    const struct ic_tokenizer_opts *o = &t->opts;
    cfg = json_object();
    json_object_set_new(cfg, "tokenizer_class", json_string("BertTokenizer"));
    json_object_set_new(cfg, "do_lower_case", json_boolean(o->lowercase));
    json_object_set_new(cfg, "strip_accents",
                        o->strip_accents < 0 ? json_null() : json_boolean(o->strip_accents));
    json_object_set_new(cfg, "tokenize_chinese_chars", json_boolean(o->handle_chinese_chars));
    if (o->model_max_length > 0)
        json_object_set_new(cfg, "model_max_length", json_integer(o->model_max_length));
    json_object_set_new(cfg, "clean_up_tokenization_spaces", json_true());
    add_specials(t, cfg);
    rc = ic__tok_put_json(dir, "tokenizer_config.json", cfg, err);
    if (rc != IC_OK)
        goto out;
    map = json_object();
    add_specials(t, map);
    rc = ic__tok_put_json(dir, "special_tokens_map.json", map, err);
    if (rc != IC_OK)
        goto out;
    tj = tokenizer_json(t);
    if (tj) {
        rc = ic__tok_put_json(dir, "tokenizer.json", tj, err);
    } else {
        /* a stale tokenizer.json would win over the new vocab.txt */
        char *p = ic_path_join(dir, "tokenizer.json");
        remove(p);
        ic_free(p);
        ic_log(IC_LOG_WARN, "%s: duplicate tokens in the vocabulary: no tokenizer.json written",
               dir);
    }
out:
    json_decref(cfg);
    json_decref(map);
    json_decref(tj);
    ic_free(vocab_path);
    ic_buf_free(&b);
    return rc;
}
