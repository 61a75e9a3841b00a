/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tok_json.c - tokenizer.json of the families other than WordPiece (which
 * tokenizer_io.c reads): the model (BPE, Unigram), the normaliser and
 * pre-tokenizer they need, the post-processor (RobertaProcessing,
 * BertProcessing, TemplateProcessing "<s> $A </s>"), added tokens and the
 * special ids; the legacy RoBERTa files (vocab.json + merges.txt +
 * tokenizer_config.json / special_tokens_map.json); and writing a BPE
 * directory that transformers' AutoTokenizer reloads.
 * Anything not understood is refused naming the file and the field.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "intent/tokenizer.h"
#include "text/bpe.h"
#include "text/tok_internal.h"
#include "text/tok_json.h"

#define MAX_FILE ((size_t)256 << 20)

static const char *type_of(json_t *obj)
{
    json_t *ty = json_object_get(obj, "type");
    return json_is_string(ty) ? json_string_value(ty) : NULL;
}

/* The model's family: "type", or for files without it the fields that
 * tell (Hugging Face deserialises the untagged model the same way). */
static const char *model_type(json_t *model)
{
    const char *ty = type_of(model);
    if (ty)
        return ty;
    if (json_object_get(model, "merges"))
        return "BPE";
    if (json_is_array(json_object_get(model, "vocab")))
        return "Unigram";
    if (json_object_get(model, "continuing_subword_prefix"))
        return "WordPiece";
    return "";
}

// --- vocabulary -------------------------------------------------------------------

struct vocab_list {
    const char **toks;
    size_t *lens;
    size_t n;
};

static void vocab_list_free(struct vocab_list *v)
{
    ic_free(v->toks);
    ic_free(v->lens);
    memset(v, 0, sizeof *v);
}

/* Places one (token, id); a hole or a clash is an error. */
static int vocab_put(struct vocab_list *v, const char *s, size_t len, json_int_t id,
                     const char *path, const char *field, struct ic_err *err)
{
    if (id < 0 || (size_t)id >= v->n)
        return ic_errf(err, IC_ERR_FORMAT, "%s: %s \"%.40s\": id %lld out of range", path, field, s,
                       (long long)id);
    if (v->toks[id] && (v->lens[id] != len || memcmp(v->toks[id], s, len) != 0))
        return ic_errf(err, IC_ERR_FORMAT, "%s: %s: id %lld is both \"%.40s\" and \"%.40s\"", path,
                       field, (long long)id, v->toks[id], s);
    v->toks[id] = s;
    v->lens[id] = len;
    return IC_OK;
}

/* Size of the id space: 1 + the largest id of vocab entries and added
 * tokens. */
static int vocab_size(json_t *vocab, json_t *added, const char *path, size_t *n,
                      struct ic_err *err)
{
    json_int_t top = -1;
    const char *key;
    json_t *val;
    size_t i;
    if (json_is_object(vocab)) {
        json_object_foreach(vocab, key, val)
        {
            if (!json_is_integer(val) || json_integer_value(val) < 0 ||
                json_integer_value(val) >= IC_TOK_MAX_VOCAB)
                return ic_errf(err, IC_ERR_FORMAT, "%s: model.vocab[\"%.40s\"]: id not in [0, %d)",
                               path, key, IC_TOK_MAX_VOCAB);
            if (json_integer_value(val) > top)
                top = json_integer_value(val);
        }
    } else {
        top = (json_int_t)json_array_size(vocab) - 1;
        if (json_array_size(vocab) > IC_TOK_MAX_VOCAB)
            return ic_errf(err, IC_ERR_RANGE, "%s: model.vocab: more than %d pieces", path,
                           IC_TOK_MAX_VOCAB);
    }
    json_array_foreach(added, i, val)
    {
        json_t *id = json_object_get(val, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= IC_TOK_MAX_VOCAB)
            return ic_errf(err, IC_ERR_FORMAT, "%s: added_tokens[%zu].id not in [0, %d)", path, i,
                           IC_TOK_MAX_VOCAB);
        if (json_integer_value(id) > top)
            top = json_integer_value(id);
    }
    *n = (size_t)(top + 1);
    return IC_OK;
}

/* id -> token for an object vocabulary ({token: id}) plus the added
 * tokens; every id below the largest must have a token. */
static int vocab_from_object(json_t *vocab, json_t *added, const char *path,
                             struct vocab_list *v, struct ic_err *err)
{
    memset(v, 0, sizeof *v);
    if (!json_is_object(vocab))
        return ic_errf(err, IC_ERR_FORMAT, "%s: model.vocab is not an object", path);
    int rc = vocab_size(vocab, added, path, &v->n, err);
    if (rc != IC_OK)
        return rc;
    v->toks = ic_xcalloc(v->n ? v->n : 1, sizeof *v->toks);
    v->lens = ic_xcalloc(v->n ? v->n : 1, sizeof *v->lens);
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val)
    {
        rc = vocab_put(v, key, strlen(key), json_integer_value(val), path, "model.vocab", err);
        if (rc != IC_OK)
            return rc;
    }
    size_t i;
    json_array_foreach(added, i, val)
    {
        json_t *c = json_object_get(val, "content");
        if (!json_is_string(c))
            return ic_errf(err, IC_ERR_FORMAT, "%s: added_tokens[%zu].content is not a string",
                           path, i);
        rc = vocab_put(v, json_string_value(c), json_string_length(c),
                       json_integer_value(json_object_get(val, "id")), path, "added_tokens", err);
        if (rc != IC_OK)
            return rc;
    }
    for (size_t id = 0; id < v->n; id++)
        if (!v->toks[id])
            return ic_errf(err, IC_ERR_FORMAT, "%s: model.vocab: no token has id %zu", path, id);
    return IC_OK;
}

// --- post-processor and special ids ----------------------------------------------------

/* Id of a special given as ["<s>", 0] (RobertaProcessing / BertProcessing). */
static int pair_special(json_t *pp, const char *key, const struct ic_tokenizer *t,
                        const char *path, int32_t *id, struct ic_err *err)
{
    json_t *p = json_object_get(pp, key);
    json_t *s = json_array_get(p, 0), *i = json_array_get(p, 1);
    if (!json_is_string(s) || !json_is_integer(i))
        return ic_errf(err, IC_ERR_FORMAT, "%s: post_processor.%s is not [token, id]", path, key);
    int32_t got = ic_tokenizer_id(t, json_string_value(s), json_string_length(s));
    if (got < 0 || got != json_integer_value(i))
        return ic_errf(err, IC_ERR_FORMAT, "%s: post_processor.%s: \"%.40s\" is not token %lld",
                       path, key, json_string_value(s), (long long)json_integer_value(i));
    *id = got;
    return IC_OK;
}

/* TemplateProcessing "single": exactly SpecialToken, Sequence A,
 * SpecialToken. */
static int template_specials(json_t *pp, struct ic_tokenizer *t, const char *path,
                             struct ic_err *err)
{
    json_t *single = json_object_get(pp, "single");
    json_t *st = json_object_get(pp, "special_tokens");
    int32_t ids[2] = {-1, -1};
    if (!json_is_array(single) || json_array_size(single) != 3 ||
        !json_is_object(json_object_get(json_array_get(single, 1), "Sequence")))
        return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: post_processor.single: only \"<start> $A "
                       "<end>\" templates are supported", path);
    for (int k = 0; k < 2; k++) {
        json_t *sp = json_object_get(json_array_get(single, k ? 2 : 0), "SpecialToken");
        json_t *name = json_object_get(sp, "id");
        json_t *ent = json_is_string(name) ? json_object_get(st, json_string_value(name)) : NULL;
        json_t *list = json_object_get(ent, "ids");
        if (!json_is_array(list) || json_array_size(list) != 1 ||
            !json_is_integer(json_array_get(list, 0)))
            return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: post_processor.single[%d]: a special "
                           "token with exactly one id is needed", path, k ? 2 : 0);
        json_int_t id = json_integer_value(json_array_get(list, 0));
        if (id < 0 || (size_t)id >= t->n_tokens)
            return ic_errf(err, IC_ERR_FORMAT, "%s: post_processor.special_tokens: id %lld out of "
                           "range", path, (long long)id);
        ids[k] = (int32_t)id;
    }
    t->cls_id = ids[0];
    t->sep_id = ids[1];
    return IC_OK;
}

static int read_post(json_t *root, struct ic_tokenizer *t, const char *path, struct ic_err *err)
{
    json_t *pp = json_object_get(root, "post_processor");
    const char *ty = type_of(pp);
    if (ty && strcmp(ty, "Sequence") == 0) {
        /* [ByteLevel (offsets only), the template] */
        json_t *list = json_object_get(pp, "processors"), *p, *found = NULL;
        size_t i;
        json_array_foreach(list, i, p)
        {
            const char *pt = type_of(p);
            if (pt && strcmp(pt, "ByteLevel") != 0)
                found = p;
        }
        pp = found;
        ty = type_of(pp);
    }
    if (!ty)
        return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: post_processor: none or of no type; a "
                       "start and an end token are needed", path);
    if (strcmp(ty, "RobertaProcessing") == 0 || strcmp(ty, "BertProcessing") == 0) {
        int rc = pair_special(pp, "cls", t, path, &t->cls_id, err);
        return rc != IC_OK ? rc : pair_special(pp, "sep", t, path, &t->sep_id, err);
    }
    if (strcmp(ty, "TemplateProcessing") == 0)
        return template_specials(pp, t, path, err);
    return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: post_processor.type \"%.40s\" (supported: "
                   "RobertaProcessing, BertProcessing, TemplateProcessing)", path, ty);
}

/* Name of a special token in tokenizer_config.json / special_tokens_map.json
 * (a string or an AddedToken object), or NULL. */
static const char *cfg_token(json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    if (json_is_object(v))
        v = json_object_get(v, "content");
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int32_t special_id(const struct ic_tokenizer *t, json_t *cfg, const char *key,
                          const char *dflt, const char *dflt2)
{
    const char *names[3] = {cfg_token(cfg, key), dflt, dflt2};
    for (int i = 0; i < 3; i++) {
        if (!names[i])
            continue;
        int32_t id = ic_tokenizer_id(t, names[i], strlen(names[i]));
        if (id >= 0)
            return id;
    }
    return -1;
}

/* pad / unk / mask from the config, else the usual strings. */
void ic__tok_pick_specials(struct ic_tokenizer *t, json_t *cfg, int32_t model_unk)
{
    t->pad_id = special_id(t, cfg, "pad_token", "<pad>", "[PAD]");
    t->unk_id = model_unk >= 0 ? model_unk : special_id(t, cfg, "unk_token", "<unk>", "[UNK]");
    t->mask_id = special_id(t, cfg, "mask_token", "<mask>", "[MASK]");
}

int ic__tok_finish_json(struct ic_tokenizer *t, json_t *root, json_t *cfg, const char *path,
                        struct ic_err *err)
{
    int rc = read_post(root, t, path, err);
    if (rc == IC_OK)
        rc = ic__tok_json_added(t, root, path, err);
    if (rc == IC_OK)
        ic__tok_pick_specials(t, cfg, t->type == IC_TOK_BPE ? ic__bpe_unk(t) : t->unk_id);
    return rc;
}

// --- BPE from tokenizer.json ------------------------------------------------------------

static int bpe_pre(json_t *root, const char *path, int *add_prefix_space, struct ic_err *err)
{
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm))
        return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: normalizer.type \"%.40s\": a byte-level BPE "
                       "with a normaliser is not supported", path,
                       type_of(norm) ? type_of(norm) : "?");
    json_t *pre = json_object_get(root, "pre_tokenizer");
    const char *ty = type_of(pre);
    if (!ty || strcmp(ty, "ByteLevel") != 0)
        return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: pre_tokenizer.type \"%.40s\" (a BPE model "
                       "needs ByteLevel)", path, ty ? ty : "none");
    json_t *ur = json_object_get(pre, "use_regex");
    if (ur && json_is_false(ur))
        return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: pre_tokenizer.use_regex false", path);
    json_t *ap = json_object_get(pre, "add_prefix_space");
    if (ap && !json_is_boolean(ap))
        return ic_errf(err, IC_ERR_FORMAT, "%s: pre_tokenizer.add_prefix_space is not a boolean",
                       path);
    *add_prefix_space = json_is_true(ap);
    return IC_OK;
}

static int bpe_model_opts(json_t *model, const char *path, struct ic__bpe_opts *o,
                          struct ic_err *err)
{
    static const char *const empty_keys[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(model, empty_keys[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0))
            return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: model.%s must be empty for byte-level BPE",
                           path, empty_keys[i]);
    }
    json_t *d = json_object_get(model, "dropout");
    if (d && !json_is_null(d) && !(json_is_number(d) && json_number_value(d) == 0))
        return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: model.dropout (BPE dropout is not supported)",
                       path);
    if (json_is_true(json_object_get(model, "byte_fallback")) ||
        json_is_true(json_object_get(model, "ignore_merges")))
        return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: model.byte_fallback / ignore_merges true "
                       "(not supported)", path);
    json_t *unk = json_object_get(model, "unk_token");
    if (unk && !json_is_null(unk) && !json_is_string(unk))
        return ic_errf(err, IC_ERR_FORMAT, "%s: model.unk_token is not a string", path);
    o->unk_token = json_is_string(unk) ? json_string_value(unk) : NULL;
    o->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
    return IC_OK;
}

/* merges as "a b" strings; the newer ["a", "b"] form is joined. */
static int bpe_merges(json_t *model, const char *path, char ***out, size_t **lens, size_t *n,
                      struct ic_err *err)
{
    json_t *merges = json_object_get(model, "merges");
    *out = NULL;
    *lens = NULL;
    *n = 0;
    if (!json_is_array(merges))
        return ic_errf(err, IC_ERR_FORMAT, "%s: model.merges is not an array", path);
    size_t cnt = json_array_size(merges), i;
    *out = ic_xcalloc(cnt ? cnt : 1, sizeof **out);
    *lens = ic_xcalloc(cnt ? cnt : 1, sizeof **lens);
    json_t *m;
    json_array_foreach(merges, i, m)
    {
        if (json_is_string(m)) {
            (*out)[i] = ic_xstrdup(json_string_value(m));
            (*lens)[i] = json_string_length(m);
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            (*out)[i] = ic_xasprintf("%s %s", json_string_value(json_array_get(m, 0)),
                                     json_string_value(json_array_get(m, 1)));
            (*lens)[i] = strlen((*out)[i]);
        } else {
            *n = i;
            return ic_errf(err, IC_ERR_FORMAT, "%s: model.merges[%zu] is not \"a b\" or [a, b]",
                           path, i);
        }
        *n = i + 1;
    }
    return IC_OK;
}

static void free_strings(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ic_free(s[i]);
    ic_free(s);
}

static int bpe_from_json(struct ic_tokenizer *t, json_t *root, json_t *cfg, const char *path,
                         struct ic_err *err)
{
    json_t *model = json_object_get(root, "model");
    json_t *added = json_object_get(root, "added_tokens");
    struct ic__bpe_opts o = {0, NULL, 0, NULL};
    struct vocab_list v = {0};
    char **merges = NULL;
    size_t *mlens = NULL, nm = 0;
    int rc = bpe_pre(root, path, &o.add_prefix_space, err);
    if (rc == IC_OK)
        rc = bpe_model_opts(model, path, &o, err);
    if (rc == IC_OK)
        rc = vocab_from_object(json_object_get(model, "vocab"), added, path, &v, err);
    if (rc == IC_OK)
        rc = bpe_merges(model, path, &merges, &mlens, &nm, err);
    if (rc == IC_OK)
        rc = ic__tok_vocab_build(t, v.toks, v.lens, v.n, 0, path, err);
    if (rc == IC_OK)
        rc = ic__bpe_build(t, (const char *const *)merges, mlens, nm, &o, path, err);
    if (rc == IC_OK)
        rc = ic__tok_finish_json(t, root, cfg, path, err);
    vocab_list_free(&v);
    free_strings(merges, nm);
    ic_free(mlens);
    return rc;
}

int ic__tok_from_json(struct ic_tokenizer *t, json_t *root, json_t *cfg, const char *path,
                      long long model_max_length, struct ic_err *err)
{
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model))
        return ic_errf(err, IC_ERR_FORMAT, "%s: no \"model\" object", path);
    const char *ty = model_type(model);
    int rc;
    memset(t, 0, sizeof *t);
    if (strcmp(ty, "BPE") == 0) {
        rc = bpe_from_json(t, root, cfg, path, err);
    } else if (strcmp(ty, "Unigram") == 0) {
        rc = ic__unigram_from_json(t, root, cfg, path, err);
    } else {
        rc = ic_errf(err, IC_ERR_UNSUPPORTED, "%s: model.type \"%.40s\" (supported: WordPiece, "
                     "BPE, Unigram)", path, ty);
    }
    if (rc == IC_OK) {
        t->opts.model_max_length = model_max_length;
        if (t->cls_id < 0 || t->sep_id < 0)
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: no start / end token", path);
    }
    if (rc != IC_OK)
        ic_tokenizer_free(t);
    return rc;
}

int ic__tok_json_is_wordpiece(json_t *root)
{
    json_t *model = json_object_get(root, "model");
    return json_is_object(model) && strcmp(model_type(model), "WordPiece") == 0;
}

// --- legacy RoBERTa files -------------------------------------------------------------------

int ic__tok_load_json(const char *path, size_t max, size_t flags, json_t **out,
                      struct ic_err *err)
{
    char *data = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = ic_read_file(path, max, &data, &len, err);
    if (rc != IC_OK)
        return rc;
    json_error_t je;
    *out = json_loadb(data, len, JSON_REJECT_DUPLICATES | flags, &je);
    ic_free(data);
    if (!*out)
        return ic_errf(err, IC_ERR_FORMAT, "%s: line %d: %s", path, je.line, je.text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return ic_errf(err, IC_ERR_FORMAT, "%s: not a JSON object", path);
    }
    return IC_OK;
}

/* merges.txt: "#version" lines skipped, then one "a b" per line; (*lines)[i]
 * is merge i's line number (1-based). */
static int read_merges_txt(const char *path, char **data, char ***merges, size_t **lens,
                           size_t **lines, size_t *n, struct ic_err *err)
{
    size_t len = 0, cap = 0, line = 0;
    *merges = NULL;
    *lens = NULL;
    *lines = NULL;
    *n = 0;
    int rc = ic_read_file(path, MAX_FILE, data, &len, err);
    if (rc != IC_OK)
        return rc;
    size_t bad;
    if (!ic_utf8_valid(*data, len, &bad))
        return ic_errf(err, IC_ERR_FORMAT, "%s: invalid UTF-8 at byte %zu", path, bad);
    for (size_t pos = 0; pos < len;) {
        char *nl = memchr(*data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - *data) : len, l = end - pos;
        if (l > 0 && (*data)[pos + l - 1] == '\r')
            l--;
        (*data)[pos + l] = 0;
        line++;
        if (strncmp(*data + pos, "#version", 8) != 0 && !(l == 0 && end == len)) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 1024;
                *merges = ic_xrealloc(*merges, cap * sizeof **merges);
                *lens = ic_xrealloc(*lens, cap * sizeof **lens);
                *lines = ic_xrealloc(*lines, cap * sizeof **lines);
            }
            (*merges)[*n] = *data + pos;
            (*lens)[*n] = l;
            (*lines)[*n] = line;
            (*n)++;
        }
        pos = end + 1;
    }
    return IC_OK;
}

/* One legacy special token: flags from its AddedToken object in the
 * config, else RobertaTokenizer's defaults (<mask> strips on the left). */
static void legacy_added(json_t *cfg, const char *key, const char *dflt, int lstrip,
                         const struct ic_tokenizer *t, struct ic__tok_added *a, size_t *n)
{
    const char *name = cfg_token(cfg, key);
    if (!name)
        name = dflt;
    int32_t id = ic_tokenizer_id(t, name, strlen(name));
    if (id < 0 || !name[0])
        return;
    for (size_t i = 0; i < *n; i++)
        if (a[i].id == id)
            return;
    json_t *o = json_object_get(cfg, key);
    struct ic__tok_added x = {(char *)name, strlen(name), id, (unsigned char)lstrip, 0, 0, 1, 1};
    if (json_is_object(o)) {
        x.lstrip = json_is_true(json_object_get(o, "lstrip"));
        x.rstrip = json_is_true(json_object_get(o, "rstrip"));
        x.single_word = json_is_true(json_object_get(o, "single_word"));
        x.normalized = !json_is_false(json_object_get(o, "normalized"));
    }
    a[(*n)++] = x;
}

static int legacy_post(struct ic_tokenizer *t, json_t *cfg, const char *dir, struct ic_err *err)
{
    static const char *const keys[] = {"bos_token", "pad_token", "eos_token", "unk_token",
                                       "mask_token", "cls_token", "sep_token"};
    static const char *const dflt[] = {"<s>", "<pad>", "</s>", "<unk>", "<mask>", "<s>", "</s>"};
    struct ic__tok_added a[7];
    size_t n = 0;
    for (int i = 0; i < 7; i++)
        legacy_added(cfg, keys[i], dflt[i], i == 4, t, a, &n);
    int rc = ic__tok_set_added(t, a, n, err);
    if (rc != IC_OK)
        return rc;
    ic__tok_pick_specials(t, cfg, -1);
    t->cls_id = special_id(t, cfg, "cls_token", "<s>", NULL);
    t->sep_id = special_id(t, cfg, "sep_token", "</s>", NULL);
    if (t->cls_id < 0 || t->sep_id < 0)
        return ic_errf(err, IC_ERR_FORMAT, "%s: vocab.json lacks the cls_token / sep_token (<s>, "
                       "</s>)", dir);
    return IC_OK;
}

/* tokenizer_config.json merged over special_tokens_map.json (new ref). */
static int legacy_config(const char *dir, json_t **cfg, struct ic_err *err)
{
    static const char *const names[] = {"special_tokens_map.json", "tokenizer_config.json"};
    *cfg = json_object();
    for (int i = 0; i < 2; i++) {
        char *p = ic_path_join(dir, names[i]);
        json_t *j = NULL;
        /* reals: model_max_length may be 1e30 written as an integer */
        int rc = ic_path_exists(p) ? ic__tok_load_json(p, MAX_FILE, JSON_DECODE_INT_AS_REAL, &j, err) : IC_OK;
        ic_free(p);
        if (rc != IC_OK)
            return rc;
        if (j)
            json_object_update(*cfg, j);
        json_decref(j);
    }
    return IC_OK;
}

int ic__bpe_load_legacy(struct ic_tokenizer *t, const char *dir, long long model_max_length,
                        struct ic_err *err)
{
    char *vpath = ic_path_join(dir, "vocab.json"), *mpath = ic_path_join(dir, "merges.txt");
    json_t *vocab = NULL, *cfg = NULL;
    char *mdata = NULL, **merges = NULL;
    size_t *mlens = NULL, *mlines = NULL, nm = 0;
    struct vocab_list v = {0};
    memset(t, 0, sizeof *t);
    int rc = ic__tok_load_json(vpath, MAX_FILE, 0, &vocab, err);
    if (rc == IC_OK)
        rc = legacy_config(dir, &cfg, err);
    if (rc == IC_OK)
        rc = vocab_from_object(vocab, NULL, vpath, &v, err);
    if (rc == IC_OK)
        rc = read_merges_txt(mpath, &mdata, &merges, &mlens, &mlines, &nm, err);
    if (rc == IC_OK)
        rc = ic__tok_vocab_build(t, v.toks, v.lens, v.n, 0, vpath, err);
    if (rc == IC_OK) {
        json_t *ap = json_object_get(cfg, "add_prefix_space");
        struct ic__bpe_opts o = {json_is_true(ap), NULL, 0, mlines};
        rc = ic__bpe_build(t, (const char *const *)merges, mlens, nm, &o, mpath, err);
    }
    if (rc == IC_OK)
        rc = legacy_post(t, cfg, dir, err);
    if (rc == IC_OK)
        t->opts.model_max_length = model_max_length;
    else
        ic_tokenizer_free(t);
    vocab_list_free(&v);
    ic_free(merges);
    ic_free(mlens);
    ic_free(mlines);
    ic_free(mdata);
    json_decref(vocab);
    json_decref(cfg);
    ic_free(vpath);
    ic_free(mpath);
    return rc;
}

// --- saving BPE -----------------------------------------------------------------------------

int ic__tok_put_json(const char *dir, const char *name, json_t *j, struct ic_err *err)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s)
        return ic_errf(err, IC_ERR_NOMEM, "%s/%s: cannot encode the JSON", dir, name);
    char *path = ic_path_join(dir, name);
    int rc = ic_write_file_atomic(path, s, strlen(s), err);
    free(s); /* jansson's allocator */
    ic_free(path);
    return rc;
}

static const char *tok_or_null(const struct ic_tokenizer *t, int32_t id)
{
    return id >= 0 ? ic_tokenizer_token(t, id) : NULL;
}

/* An AddedToken object as transformers writes it in tokenizer_config.json. */
static json_t *added_obj(const struct ic_tokenizer *t, int32_t id)
{
    const struct ic__tok_impl *m = t->impl;
    json_t *o = json_object();
    json_object_set_new(o, "__type", json_string("AddedToken"));
    json_object_set_new(o, "content", json_string(ic_tokenizer_token(t, id)));
    int ls = 0, rs = 0, sw = 0, nz = 0;
    for (size_t i = 0; i < m->n_added; i++) {
        if (m->added[i].id == id) {
            ls = m->added[i].lstrip;
            rs = m->added[i].rstrip;
            sw = m->added[i].single_word;
            nz = m->added[i].normalized;
        }
    }
    json_object_set_new(o, "lstrip", json_boolean(ls));
    json_object_set_new(o, "normalized", json_boolean(nz));
    json_object_set_new(o, "rstrip", json_boolean(rs));
    json_object_set_new(o, "single_word", json_boolean(sw));
    json_object_set_new(o, "special", json_true());
    return o;
}

void ic__tok_config_specials(const struct ic_tokenizer *t, json_t *obj, int as_objects)
{
    static const char *const keys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                       "pad_token", "cls_token", "mask_token"};
    int32_t ids[] = {t->cls_id, t->sep_id, t->unk_id, t->sep_id, t->pad_id, t->cls_id, t->mask_id};
    for (int i = 0; i < 7; i++) {
        const char *s = tok_or_null(t, ids[i]);
        if (!s)
            continue;
        json_object_set_new(obj, keys[i], as_objects ? added_obj(t, ids[i]) : json_string(s));
    }
}

static json_t *pair_json(const struct ic_tokenizer *t, int32_t id)
{
    json_t *a = json_array();
    json_array_append_new(a, json_string(ic_tokenizer_token(t, id)));
    json_array_append_new(a, json_integer(id));
    return a;
}

static json_t *bpe_tokenizer_json(const struct ic_tokenizer *t, json_t *vocab, json_t *merges)
{
    int ap = ic__bpe_add_prefix_space(t);
    json_t *root = json_object();
    json_object_set_new(root, "version", json_string("1.0"));
    json_object_set_new(root, "truncation", json_null());
    json_object_set_new(root, "padding", json_null());
    json_object_set_new(root, "added_tokens", ic__tok_json_added_array(t));
    json_object_set_new(root, "normalizer", json_null());
    json_t *pre = json_object();
    json_object_set_new(pre, "type", json_string("ByteLevel"));
    json_object_set_new(pre, "add_prefix_space", json_boolean(ap));
    json_object_set_new(pre, "trim_offsets", json_true());
    json_object_set_new(pre, "use_regex", json_true());
    json_object_set_new(root, "pre_tokenizer", pre);
    json_t *post = json_object();
    json_object_set_new(post, "type", json_string("RobertaProcessing"));
    json_object_set_new(post, "sep", pair_json(t, t->sep_id));
    json_object_set_new(post, "cls", pair_json(t, t->cls_id));
    json_object_set_new(post, "trim_offsets", json_true());
    json_object_set_new(post, "add_prefix_space", json_boolean(ap));
    json_object_set_new(root, "post_processor", post);
    json_t *dec = json_object();
    json_object_set_new(dec, "type", json_string("ByteLevel"));
    json_object_set_new(dec, "add_prefix_space", json_true());
    json_object_set_new(dec, "trim_offsets", json_true());
    json_object_set_new(dec, "use_regex", json_true());
    json_object_set_new(root, "decoder", dec);
    json_t *model = json_object();
    int32_t unk = ic__bpe_unk(t);
    json_object_set_new(model, "type", json_string("BPE"));
    json_object_set_new(model, "dropout", json_null());
    json_object_set_new(model, "unk_token", unk >= 0 ? json_string(ic_tokenizer_token(t, unk))
                                                     : json_null());
    json_object_set_new(model, "continuing_subword_prefix", json_string(""));
    json_object_set_new(model, "end_of_word_suffix", json_string(""));
    json_object_set_new(model, "fuse_unk", json_false());
    json_object_set_new(model, "byte_fallback", json_false());
    json_object_set_new(model, "vocab", json_incref(vocab));
    json_object_set_new(model, "merges", json_incref(merges));
    json_object_set_new(root, "model", model);
    return root;
}

static int write_merges_txt(const struct ic_tokenizer *t, const char *dir, json_t *merges,
                            struct ic_err *err)
{
    struct ic_buf b;
    ic_buf_init(&b, 0);
    int rc = ic_buf_append(&b, "#version: 0.2\n", 14);
    size_t n = ic__bpe_n_merges(t);
    for (size_t r = 0; rc == IC_OK && r < n; r++) {
        int32_t a, c;
        ic__bpe_merge(t, r, &a, &c);
        rc = ic_buf_printf(&b, "%s %s\n", ic_tokenizer_token(t, a), ic_tokenizer_token(t, c));
        if (rc == IC_OK)
            json_array_append_new(merges, json_sprintf("%s %s", ic_tokenizer_token(t, a),
                                                       ic_tokenizer_token(t, c)));
    }
    char *path = ic_path_join(dir, "merges.txt");
    if (rc == IC_OK)
        rc = ic_write_file_atomic(path, b.data ? b.data : "", b.len, err);
    else
        rc = ic_errf(err, rc, "%s: merges too large", path);
    ic_free(path);
    ic_buf_free(&b);
    return rc;
}

int ic__bpe_save_dir(const struct ic_tokenizer *t, const char *dir, struct ic_err *err)
{
    json_t *vocab = json_object(), *merges = json_array(), *cfg = json_object(),
           *map = json_object(), *tj = NULL;
    int rc = ic_mkdirs(dir, err);
    for (size_t i = 0; i < t->n_tokens; i++) {
        const char *s = ic_tokenizer_token(t, (int32_t)i);
        if (!json_object_get(vocab, s))
            json_object_set_new(vocab, s, json_integer((json_int_t)i));
    }
    if (rc == IC_OK)
        rc = ic__tok_put_json(dir, "vocab.json", vocab, err);
    if (rc == IC_OK)
        rc = write_merges_txt(t, dir, merges, err);
    if (rc == IC_OK) {
        tj = bpe_tokenizer_json(t, vocab, merges);
        rc = ic__tok_put_json(dir, "tokenizer.json", tj, err);
    }
    if (rc == IC_OK) {
        json_object_set_new(cfg, "tokenizer_class", json_string("RobertaTokenizer"));
        json_object_set_new(cfg, "add_prefix_space", json_boolean(ic__bpe_add_prefix_space(t)));
        json_object_set_new(cfg, "errors", json_string("replace"));
        json_object_set_new(cfg, "trim_offsets", json_true());
        if (t->opts.model_max_length > 0)
            json_object_set_new(cfg, "model_max_length", json_integer(t->opts.model_max_length));
        ic__tok_config_specials(t, cfg, 1);
        rc = ic__tok_put_json(dir, "tokenizer_config.json", cfg, err);
    }
    if (rc == IC_OK) {
        ic__tok_config_specials(t, map, 0);
        rc = ic__tok_put_json(dir, "special_tokens_map.json", map, err);
    }
    json_decref(vocab);
    json_decref(merges);
    json_decref(cfg);
    json_decref(map);
    json_decref(tj);
    return rc;
}
