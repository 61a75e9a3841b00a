/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model.c - the saved-model bundle: loading a Hugging Face directory or our
 * intent_classifier.pt, loading a pretrained base for fine-tuning, and
 * saving both forms at once into a directory that replaces the old one
 * only when complete.
 *
 * intent_classifier.pt (docs/formats.md) is a torch.save archive holding
 *   {"format": "intent_classifier", "version": 1,
 *    "state_dict": OrderedDict(HF name -> float32 tensor),
 *    "config": <config.json as a dict, JSON types kept: floats are floats>,
 *    "id_to_intent": {0: "label", ...}, "intent_to_id": {"label": 0, ...},
 *    "tokenizer": {"vocab": [...], "do_lower_case": bool, "strip_accents":
 *                  None|bool, "tokenize_chinese_chars": bool,
 *                  "model_max_length": int, special tokens...,
 *                  "tokenizer_json": str, "tokenizer_config_json": str
 *                  (byte-level BPE and Unigram only: the files' text)},
 *    "max_length": int, "base_model": str|None, "from_scratch": bool}
 * "config" is built from the very JSON written as config.json, so every key
 * it gains reaches the .pt too. Every value is a plain Python type, so
 * torch.load(path, weights_only=True) opens it on torch >= 2.0 (torch 1.13's
 * weights-only unpickler has no BINFLOAT; plain torch.load works there).
 * Files written before floats were floats hold them as decimal strings
 * under the config keys listed in "float_keys"; the reader converts those.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intent/model.h"
#include "io/io.h"
#include "text/tok_json.h"

#define VOCAB_TEXT_MAX ((size_t)256 << 20)

void ic_model_init(struct ic_model *m)
{
    memset(m, 0, sizeof *m);
    m->max_length = IC_MODEL_DEFAULT_MAX_LENGTH;
}

static void free_labels(char **labels, int n)
{
    if (!labels)
        return;
    for (int i = 0; i < n; i++)
        ic_free(labels[i]);
    ic_free(labels);
}

void ic_model_free(struct ic_model *m)
{
    free_labels(m->labels, m->bert.cfg.num_labels);
    ic_bert_free(&m->bert);
    ic_tokenizer_free(&m->tok);
    ic_free(m->base_model);
    ic_calibration_free(&m->calib);
    ic_bert_prepared_free(m->prep);
    memset(m, 0, sizeof *m);
}

int ic_model_set_precision(struct ic_model *m, enum ic_precision p, struct ic_err *err)
{
    struct ic_bert_prepared *pp = NULL;
    int rc = ic_bert_prepare(&pp, &m->bert, p, err);
    if (rc)
        return rc;
    ic_bert_prepared_free(m->prep);
    m->prep = pp;
    return IC_OK;
}

enum ic_precision ic_model_precision(const struct ic_model *m)
{
    return ic_bert_prepared_precision(m->prep);
}

void ic_model_set_labels(struct ic_model *m, const char *const *labels, int n)
{
    IC_ASSERT(n == m->bert.cfg.num_labels);
    char **l = ic_xcalloc((size_t)n, sizeof *l);
    for (int i = 0; i < n; i++)
        l[i] = labels && labels[i] ? ic_xstrdup(labels[i]) : ic_xasprintf("LABEL_%d", i);
    free_labels(m->labels, n);
    m->labels = l;
}

/* max_length: the saved value, else the tokenizer's model_max_length, else
 * 128; never above the position table (ic_bert_max_seq). */
static int pick_max_length(int saved, long long tok_max, int max_position)
{
    int v = IC_MODEL_DEFAULT_MAX_LENGTH;
    if (saved >= 2)
        v = saved;
    else if (tok_max >= 2 && tok_max < 65536)
        v = (int)tok_max;
    if (v > max_position)
        v = max_position;
    return v;
}

/* Builds m->bert from cfg and a tensor list; require_head: error when the
 * head is missing or has another label count. */
static int bert_from_tensors(struct ic_model *m, const struct ic_bert_config *cfg,
                             const struct ic_tensors *ts, const char *source, int require_head,
                             struct ic_rng *rng, int *head_missing, int *head_mismatch,
                             struct ic_err *err)
{
    struct ic_rng local;
    /* Refuse a config that describes a large model (over 64 M parameters)
     * the weights cannot fill, before allocating it: only the pooler and the
     * head may be missing. Smaller mismatches get the per-tensor message. */
    size_t have = 0;
    for (size_t i = 0; i < ts->n; i++)
        have += (size_t)ic_tensor_numel(&ts->v[i]);
    size_t H = (size_t)cfg->hidden_size, N = (size_t)cfg->num_labels;
    size_t need = ic_bert_num_params(cfg);
    size_t optional = H * H + H + N * H + N;
    if (cfg->mlm_head) /* a new masked-LM head */
        optional += H * H + 3 * H + (size_t)cfg->vocab_size;
    if (need > ((size_t)64 << 20) && need - optional > have)
        return ic_errf(err, IC_ERR_FORMAT,
                       "%s: config.json describes a model of %zu parameters but the weights "
                       "hold only %zu values",
                       source, need, have);
    int rc = ic_bert_init(&m->bert, cfg, err);
    if (rc) {
        ic_err_prefix(err, "%s", source);
        return rc;
    }
    if (!rng) {
        ic_rng_seed(&local, 42);
        rng = &local;
    }
    /* No full random initialisation first: every body tensor comes from the
     * checkpoint (a missing pooler is initialised by ic_bert_load_tensors), and
     * the caller gives a missing or mismatched head a fresh one. This keeps
     * loading (and server start-up) at I/O speed. */
    rc = ic_bert_load_tensors(&m->bert, ts, source, head_missing, head_mismatch, err);
    if (rc)
        return rc;
    if (require_head && (*head_missing || *head_mismatch))
        return ic_errf(err, IC_ERR_FORMAT, "%s: no classifier head for %d labels", source,
                       cfg->num_labels);
    return IC_OK;
}

/* The tokenizer's ids must index the embedding table: a vocabulary larger
 * than config.json's vocab_size is refused (a smaller one is legal: models
 * pad their tables). Its pad id must be the model's padding_idx where the
 * positions depend on it (RoBERTa). */
static int check_vocab(const struct ic_model *m, const char *source, struct ic_err *err)
{
    size_t nv = ic_tokenizer_vocab_size(&m->tok);
    const struct ic_bert_config *c = &m->bert.cfg;
    if (nv > (size_t)c->vocab_size)
        return ic_errf(err, IC_ERR_FORMAT,
                       "%s: config.json field \"vocab_size\" is %d but the tokenizer has %zu "
                       "tokens",
                       source, c->vocab_size, nv);
    if (ic_arch_get(c->arch)->pad_positions && m->tok.pad_id >= 0 &&
        m->tok.pad_id != c->pad_token_id)
        return ic_errf(err, IC_ERR_FORMAT,
                       "%s: config.json field \"pad_token_id\" is %d but the tokenizer's pad "
                       "token has id %d",
                       source, c->pad_token_id, (int)m->tok.pad_id);
    return IC_OK;
}

/* Loads weights from dir/model.safetensors, else dir/pytorch_model.bin.
 * safetensors tensors borrow from *map (the mapped file): free ts, then
 * ic__map_free(map). */
static int load_dir_weights(const char *dir, struct ic_tensors *ts, struct ic__map *map,
                            char **source, struct ic_err *err)
{
    char *st = ic_path_join(dir, "model.safetensors");
    char *pt = ic_path_join(dir, "pytorch_model.bin");
    int rc;
    map->data = NULL;
    map->len = 0;
    map->mapped = 0;
    if (ic_path_exists(st)) {
        rc = ic__map_file(st, IC_CKPT_MAX_FILE, map, err);
        if (rc == IC_OK)
            rc = ic_safetensors_view(map->data, map->len, st, ts, err);
        *source = st;
        ic_free(pt);
    } else if (ic_path_exists(pt)) {
        rc = ic_torch_load(pt, ts, err);
        *source = pt;
        ic_free(st);
    } else {
        rc = ic_errf(err, IC_ERR_NOTFOUND, "%s: no model.safetensors or pytorch_model.bin", dir);
        *source = NULL;
        ic_free(st);
        ic_free(pt);
    }
    return rc;
}

/* The calibration keys of config.json (name: for messages) and, from dir
 * (may be NULL), the Mahalanobis statistics. */
static int load_calibration(struct ic_model *m, const char *json, const char *name,
                            const char *dir, struct ic_err *err)
{
    int rc = ic_calibration_from_json(&m->calib, json, name, err);
    if (rc == IC_OK && dir)
        rc = ic_calibration_load_stats(&m->calib, dir, m->bert.cfg.num_labels,
                                       m->bert.cfg.hidden_size, err);
    return rc;
}

/* A .pt's calibration: config's keys, and the Mahalanobis statistics from
 * its "intent_oos" dict of tensors, or (a .pt written before they travelled
 * in it) from intent_oos.safetensors next to it. */
static int load_pt_calibration(struct ic_model *m, const struct ic_py *root, const char *json,
                               const char *path, struct ic_err *err)
{
    const struct ic_py *od = ic_py_get(root, "intent_oos");
    char *pdir = ic_xstrdup(path), *slash = strrchr(pdir, '/');
    if (slash)
        *slash = 0;
    int rc = load_calibration(m, json, path, od ? NULL : slash ? pdir : ".", err);
    ic_free(pdir);
    struct ic_calibration *c = &m->calib;
    if (rc != IC_OK || !od || !c->has_oos || !c->has_quantiles[IC_OOS_MAHALANOBIS])
        return rc;
    if (od->type != IC_PY_DICT)
        return ic_errf(err, IC_ERR_FORMAT, "%s: \"intent_oos\" is not a dict of tensors", path);
    struct ic_tensors ts;
    ic_tensors_init(&ts);
    for (size_t k = 0; k < od->n / 2; k++) {
        const struct ic_py *kk = od->items[2 * k], *vv = od->items[2 * k + 1];
        if (kk->type == IC_PY_STR && vv->type == IC_PY_TENSOR) /* borrowed from the arena */
            ic_tensors_add(&ts, kk->s, vv->t.dtype, vv->t.ndim, vv->t.shape, vv->t.data, 0);
    }
    char *name = ic_xasprintf("%s: intent_oos", path);
    rc = ic_calibration_stats_from(c, &ts, m->bert.cfg.num_labels, m->bert.cfg.hidden_size, name,
                                   err);
    ic_free(name);
    ic_tensors_free(&ts);
    return rc;
}

static int load_hf_dir(struct ic_model *m, const char *dir, struct ic_err *err)
{
    struct ic_hfconfig hc;
    struct ic_tensors ts;
    struct ic__map map = {0};
    char *cfg_path = ic_path_join(dir, "config.json");
    char *source = NULL;
    int hm = 0, hx = 0;
    ic_tensors_init(&ts);
    int rc = ic_hfconfig_load(cfg_path, &hc, err);
    if (rc)
        goto out;
    if ((rc = load_dir_weights(dir, &ts, &map, &source, err)))
        goto out;
    if ((rc = bert_from_tensors(m, &hc.cfg, &ts, source, 1, NULL, &hm, &hx, err)))
        goto out;
    ic_tensors_free(&ts);
    ic__map_free(&map);
    if ((rc = ic_tokenizer_load_dir(&m->tok, dir, err)))
        goto out;
    if ((rc = check_vocab(m, dir, err)))
        goto out;
    m->labels = hc.id2label;
    hc.id2label = NULL;
    m->max_length = pick_max_length(hc.max_length, m->tok.opts.model_max_length,
                                    ic_bert_max_seq(&hc.cfg));
    m->base_model = hc.base_model;
    hc.base_model = NULL;
    m->from_scratch = hc.from_scratch;
    rc = load_calibration(m, hc.intent_calib, cfg_path, dir, err);
out:
    ic_tensors_free(&ts);
    ic__map_free(&map);
    ic_hfconfig_free(&hc);
    ic_free(cfg_path);
    ic_free(source);
    return rc;
}

/* --- intent_classifier.pt -------------------------------------------------- */

/* Old files: is k one of the names in the "float_keys" list (NULL: none)? */
static int is_legacy_float_key(const struct ic_py *float_keys, const char *k)
{
    for (size_t i = 0; float_keys && float_keys->type == IC_PY_LIST && i < float_keys->n; i++) {
        const struct ic_py *x = float_keys->items[i];
        if (x->type == IC_PY_STR && strcmp(x->s, k) == 0)
            return 1;
    }
    return 0;
}

/* JSON value -> Python object (config.json into the .pt). */
static struct ic_py *json_to_py(struct ic_py_arena *a, json_t *v, int depth)
{
    if (depth > 32)
        return ic_py_none(a);
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        struct ic_py *d = ic_py_dict(a, 0);
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            ic_py_set_str(a, d, k, json_to_py(a, x, depth + 1));
        }
        return d;
    }
    case JSON_ARRAY: {
        struct ic_py *l = ic_py_list(a);
        for (size_t i = 0; i < json_array_size(v); i++)
            ic_py_append(l, json_to_py(a, json_array_get(v, i), depth + 1));
        return l;
    }
    case JSON_STRING:
        return ic_py_str(a, json_string_value(v));
    case JSON_INTEGER:
        return ic_py_int(a, json_integer_value(v));
    case JSON_REAL:
        return ic_py_float(a, json_real_value(v));
    case JSON_TRUE:
        return ic_py_bool(a, 1);
    case JSON_FALSE:
        return ic_py_bool(a, 0);
    default:
        return ic_py_none(a);
    }
}

/* Python object -> JSON (the .pt's config back into config.json form).
 * Decimal strings under the keys of an old file's float_keys list become
 * numbers again. Returns NULL for a type JSON cannot hold. */
static json_t *py_to_json(const struct ic_py *o, const char *key, const struct ic_py *float_keys,
                          int depth)
{
    if (depth > 32)
        return NULL;
    switch (o->type) {
    case IC_PY_NONE:
        return json_null();
    case IC_PY_BOOL:
        return json_boolean(o->i);
    case IC_PY_INT:
        return json_integer(o->i);
    case IC_PY_FLOAT:
        return json_real(o->f);
    case IC_PY_STR:
        if (key && is_legacy_float_key(float_keys, key)) {
            char *end;
            double d = strtod(o->s, &end);
            if (end != o->s && *end == 0)
                return json_real(d);
        }
        return json_string(o->s);
    case IC_PY_LIST:
    case IC_PY_TUPLE: {
        json_t *arr = json_array();
        for (size_t i = 0; i < o->n; i++) {
            json_t *x = py_to_json(o->items[i], NULL, float_keys, depth + 1);
            if (!x) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, x);
        }
        return arr;
    }
    case IC_PY_DICT: {
        json_t *obj = json_object();
        for (size_t k = 0; k < o->n / 2; k++) {
            const struct ic_py *kk = o->items[2 * k];
            char buf[32];
            const char *ks;
            if (kk->type == IC_PY_STR) {
                ks = kk->s;
            } else if (kk->type == IC_PY_INT) {
                snprintf(buf, sizeof buf, "%lld", (long long)kk->i);
                ks = buf;
            } else {
                json_decref(obj);
                return NULL;
            }
            json_t *x = py_to_json(o->items[2 * k + 1], ks, float_keys, depth + 1);
            if (!x) {
                json_decref(obj);
                return NULL;
            }
            json_object_set_new(obj, ks, x);
        }
        return obj;
    }
    default:
        return NULL;
    }
}

/* Compact JSON text in an ic_xmalloc'd string (NULL on failure). */
static char *json_text(const json_t *j)
{
    size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
    if (n == 0)
        return NULL;
    char *s = ic_xmalloc(n + 1);
    json_dumpb(j, s, n, JSON_COMPACT);
    s[n] = 0;
    return s;
}

static int get_bool(const struct ic_py *d, const char *key, int dflt)
{
    const struct ic_py *v = ic_py_get(d, key);
    return v && (v->type == IC_PY_BOOL || v->type == IC_PY_INT) ? v->i != 0 : dflt;
}

/* The tokenizer of a .pt that carries tokenizer.json text (BPE, Unigram). */
static int pt_tokenizer_json(struct ic_model *m, const struct ic_py *tk, const struct ic_py *tj,
                             const char *path, long long model_max_length, struct ic_err *err)
{
    const struct ic_py *tc = ic_py_get(tk, "tokenizer_config_json");
    if (tj->type != IC_PY_STR || (tc && tc->type != IC_PY_STR))
        return ic_errf(err, IC_ERR_FORMAT, "%s: \"tokenizer\": tokenizer_json is not a string",
                       path);
    json_error_t jerr;
    json_t *root = json_loadb(tj->s, tj->slen, 0, &jerr);
    json_t *cfg = tc ? json_loadb(tc->s, tc->slen, JSON_DECODE_INT_AS_REAL, &jerr) : NULL;
    char *name = ic_xasprintf("%s: tokenizer_json", path);
    int rc;
    if (!root || (tc && !cfg))
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: line %d: invalid JSON: %s", name, jerr.line,
                     jerr.text);
    else
        rc = ic__tok_from_json(&m->tok, root, cfg, name, model_max_length, err);
    ic_free(name);
    json_decref(root);
    json_decref(cfg);
    return rc;
}

static int load_pt(struct ic_model *m, const char *path, struct ic_err *err)
{
    struct ic_py_arena a;
    struct ic_py *root = NULL;
    struct ic_tensors ts;
    struct ic_hfconfig hc;
    struct ic_buf vocab;
    char *cfg_text = NULL;
    int hm = 0, hx = 0;
    ic_py_arena_init(&a);
    ic_tensors_init(&ts);
    ic_hfconfig_init(&hc);
    ic_buf_init(&vocab, VOCAB_TEXT_MAX);
    int rc = ic_torch_load_obj(path, &a, &root, err);
    if (rc)
        goto out;
    const struct ic_py *fmt = ic_py_get(root, "format");
    if (!fmt || fmt->type != IC_PY_STR || strcmp(fmt->s, "intent_classifier") != 0) {
        rc = ic_errf(err, IC_ERR_FORMAT,
                     "%s: not an intent_classifier.pt (no \"format\": \"intent_classifier\")", path);
        goto out;
    }
    const struct ic_py *ver = ic_py_get(root, "version");
    if (!ver || ver->type != IC_PY_INT || ver->i != 1) {
        rc = ic_errf(err, IC_ERR_UNSUPPORTED, "%s: unsupported intent_classifier version", path);
        goto out;
    }
    /* config: back to JSON and through the config.json parser */
    const struct ic_py *cfg = ic_py_get(root, "config");
    const struct ic_py *float_keys = ic_py_get(root, "float_keys");
    json_t *jc = cfg && cfg->type == IC_PY_DICT ? py_to_json(cfg, NULL, float_keys, 0) : NULL;
    if (!jc) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: \"config\" is missing or not a plain dict", path);
        goto out;
    }
    cfg_text = json_text(jc);
    json_decref(jc);
    if (!cfg_text) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: \"config\" cannot be read", path);
        goto out;
    }
    char *cname = ic_xasprintf("%s: config", path);
    rc = ic_hfconfig_parse(cfg_text, strlen(cfg_text), cname, &hc, err);
    ic_free(cname);
    if (rc)
        goto out;
    /* id_to_intent overrides the config's labels (they are the same when
     * we wrote the file) */
    const struct ic_py *ids = ic_py_get(root, "id_to_intent");
    if (ids) {
        if (ids->type != IC_PY_DICT || (int)(ids->n / 2) != hc.cfg.num_labels) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: \"id_to_intent\" does not have %d entries", path,
                         hc.cfg.num_labels);
            goto out;
        }
        for (size_t k = 0; k < ids->n / 2; k++) {
            const struct ic_py *kk = ids->items[2 * k], *vv = ids->items[2 * k + 1];
            if (kk->type != IC_PY_INT || kk->i < 0 || kk->i >= hc.cfg.num_labels ||
                vv->type != IC_PY_STR) {
                rc = ic_errf(err, IC_ERR_FORMAT, "%s: \"id_to_intent\": bad entry %zu", path, k);
                goto out;
            }
            ic_free(hc.id2label[kk->i]);
            hc.id2label[kk->i] = ic_xstrdup(vv->s);
        }
    }
    /* weights */
    const struct ic_py *sd = ic_py_get(root, "state_dict");
    if (!sd || sd->type != IC_PY_DICT) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: \"state_dict\" is missing", path);
        goto out;
    }
    for (size_t k = 0; k < sd->n / 2; k++) {
        const struct ic_py *kk = sd->items[2 * k], *vv = sd->items[2 * k + 1];
        if (kk->type != IC_PY_STR || vv->type != IC_PY_TENSOR) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: \"state_dict\": entry %zu is not name -> tensor",
                         path, k);
            goto out;
        }
        /* borrow: the arena outlives ts */
        struct ic_tensor *t = ic_tensors_add(&ts, kk->s, vv->t.dtype, vv->t.ndim, vv->t.shape,
                                             vv->t.data, 0);
        (void)t;
    }
    if ((rc = bert_from_tensors(m, &hc.cfg, &ts, path, 1, NULL, &hm, &hx, err)))
        goto out;
    /* tokenizer */
    const struct ic_py *tk = ic_py_get(root, "tokenizer");
    struct ic_tokenizer_opts o;
    ic_tokenizer_default_opts(&o);
    const struct ic_py *mml = ic_py_get(tk, "model_max_length");
    if (mml && mml->type == IC_PY_INT && mml->i > 0)
        o.model_max_length = mml->i;
    const struct ic_py *tj = ic_py_get(tk, "tokenizer_json");
    if (tj) {
        if ((rc = pt_tokenizer_json(m, tk, tj, path, o.model_max_length, err)))
            goto out;
        goto tokenizer_done;
    }
    const struct ic_py *voc = ic_py_get(tk, "vocab");
    if (!voc || voc->type != IC_PY_LIST || voc->n == 0) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: \"tokenizer\" has no \"vocab\" list", path);
        goto out;
    }
    for (size_t i = 0; i < voc->n; i++) {
        const struct ic_py *s = voc->items[i];
        if (s->type != IC_PY_STR || memchr(s->s, '\n', s->slen) ||
            ic_buf_append(&vocab, s->s, s->slen) || ic_buf_append(&vocab, "\n", 1)) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: \"tokenizer\": vocab entry %zu is not a token",
                         path, i);
            goto out;
        }
    }
    o.lowercase = get_bool(tk, "do_lower_case", o.lowercase);
    const struct ic_py *sa = ic_py_get(tk, "strip_accents");
    o.strip_accents = !sa || sa->type == IC_PY_NONE ? -1 : get_bool(tk, "strip_accents", 0);
    o.handle_chinese_chars = get_bool(tk, "tokenize_chinese_chars", o.handle_chinese_chars);
    char *tname = ic_xasprintf("%s: tokenizer", path);
    rc = ic_tokenizer_load_vocab_mem(&m->tok, vocab.data, vocab.len, &o, err);
    if (rc)
        ic_err_prefix(err, "%s", tname);
    ic_free(tname);
    if (rc)
        goto out;
tokenizer_done:
    if ((rc = check_vocab(m, path, err)))
        goto out;
    const struct ic_py *ml = ic_py_get(root, "max_length");
    m->max_length = pick_max_length(ml && ml->type == IC_PY_INT && ml->i < 65536 ? (int)ml->i
                                                                                  : hc.max_length,
                                    o.model_max_length, ic_bert_max_seq(&hc.cfg));
    m->labels = hc.id2label;
    hc.id2label = NULL;
    const struct ic_py *bm = ic_py_get(root, "base_model");
    m->base_model = bm && bm->type == IC_PY_STR ? ic_xstrdup(bm->s) : hc.base_model;
    if (m->base_model == hc.base_model)
        hc.base_model = NULL;
    m->from_scratch = get_bool(root, "from_scratch", hc.from_scratch);
    rc = load_pt_calibration(m, root, hc.intent_calib, path, err);
out:
    ic_free(cfg_text);
    ic_buf_free(&vocab);
    ic_hfconfig_free(&hc);
    ic_tensors_free(&ts);
    ic_py_arena_free(&a);
    return rc;
}

/* Says once per load what a model without (complete) calibration does. */
static void note_calibration(const struct ic_model *m, const char *path)
{
    const struct ic_calibration *c = &m->calib;
    if (!c->has_temperature)
        ic_log(IC_LOG_INFO, "%s: no calibration stored (saved before calibration existed): "
               "confidences are the raw softmax", path);
    if (c->has_oos && !ic_calibration_can_score(c, c->score))
        ic_log(IC_LOG_WARN, "%s: out-of-scope score \"%s\" needs %s, which is missing: "
               "using the softmax score", path, ic_oos_score_name(c->score), IC_OOS_STATS_FILE);
}

int ic_model_load(struct ic_model *m, const char *path, struct ic_err *err)
{
    int rc;
    ic_model_init(m);
    if (ic_is_dir(path)) {
        char *cfg = ic_path_join(path, "config.json");
        char *pt = ic_path_join(path, IC_MODEL_PT_NAME);
        if (ic_path_exists(cfg))
            rc = load_hf_dir(m, path, err);
        else if (ic_path_exists(pt))
            rc = load_pt(m, pt, err);
        else
            rc = ic_errf(err, IC_ERR_NOTFOUND, "%s: no config.json or %s in this directory", path,
                         IC_MODEL_PT_NAME);
        ic_free(cfg);
        ic_free(pt);
    } else if (ic_path_exists(path)) {
        rc = load_pt(m, path, err);
    } else {
        rc = ic_errf(err, IC_ERR_NOTFOUND, "%s: no such file or directory", path);
    }
    if (rc)
        ic_model_free(m);
    else
        note_calibration(m, path);
    return rc;
}

/* " (the head dense layer is kept)" when the head has one and it loaded. */
static const char *head_dense_note(const struct ic_bert *b)
{
    for (size_t i = 0; i < b->n_table; i++)
        if (b->table[i].is_head && !b->table[i].per_label && b->table[i].loaded)
            return " (the head's dense layer is kept)";
    return "";
}

/* A missing or mismatched head, initialised, with one line saying so. */
static void new_head(struct ic_model *m, const char *source, int hx, int old_labels,
                     struct ic_rng *rng)
{
    int num_labels = m->bert.cfg.num_labels;
    /* As transformers' ignore_mismatched_sizes: only the tensors the
     * checkpoint could not fill are new (a head dense of the right shape
     * is kept). */
    ic_bert_init_head_unloaded(&m->bert, rng);
    if (m->bert.cfg.mlm_head)
        ic_log(IC_LOG_INFO,
               "%s: no complete masked-LM head; its missing tensors are initialised", source);
    else if (hx)
        ic_log(IC_LOG_WARN,
               "%s: the classifier head was trained for %d labels; a new classifier "
               "for %d labels is initialised%s",
               source, old_labels, num_labels, head_dense_note(&m->bert));
    else
        ic_log(IC_LOG_INFO, "%s: no classifier head; a new one for %d labels is initialised",
               source, num_labels);
}

/* ic_model_load_pretrained, or with mlm the masked-LM model (num_labels 0:
 * the config's own count, kept for config.json only). */
static int load_base(struct ic_model *m, const char *dir, int num_labels,
                     const char *const *labels, int mlm, struct ic_rng *rng, struct ic_err *err)
{
    struct ic_hfconfig hc;
    struct ic_tensors ts;
    struct ic__map map = {0};
    char *source = NULL;
    int hm = 0, hx = 0;
    struct ic_rng local;
    if (!rng) {
        ic_rng_seed(&local, 42);
        rng = &local;
    }
    ic_model_init(m);
    ic_tensors_init(&ts);
    char *cfg_path = ic_path_join(dir, "config.json");
    int rc = ic_hfconfig_load(cfg_path, &hc, err);
    if (rc)
        goto out;
    if (mlm && num_labels < 1)
        num_labels = hc.cfg.num_labels;
    if (num_labels < 1) {
        rc = ic_errf(err, IC_ERR_INVAL, "%s: num_labels must be >= 1", dir);
        goto out;
    }
    int old_labels = hc.cfg.num_labels;
    struct ic_bert_config cfg = hc.cfg; /* hc keeps its own label count for ic_hfconfig_free */
    cfg.num_labels = num_labels;
    cfg.mlm_head = mlm;
    if ((rc = load_dir_weights(dir, &ts, &map, &source, err)))
        goto out;
    if ((rc = bert_from_tensors(m, &cfg, &ts, source, 0, rng, &hm, &hx, err)))
        goto out;
    ic_tensors_free(&ts);
    ic__map_free(&map);
    if (hm || hx)
        new_head(m, source, hx, old_labels, rng);
    if ((rc = ic_tokenizer_load_dir(&m->tok, dir, err)))
        goto out;
    if ((rc = check_vocab(m, dir, err)))
        goto out;
    ic_model_set_labels(m, labels, num_labels);
    m->max_length = pick_max_length(0, m->tok.opts.model_max_length, ic_bert_max_seq(&hc.cfg));
    m->base_model = ic_xstrdup(dir);
    m->from_scratch = 0;
out:
    ic_tensors_free(&ts);
    ic__map_free(&map);
    ic_hfconfig_free(&hc);
    ic_free(cfg_path);
    ic_free(source);
    if (rc)
        ic_model_free(m);
    return rc;
}

int ic_model_load_pretrained(struct ic_model *m, const char *dir, int num_labels,
                             const char *const *labels, struct ic_rng *rng, struct ic_err *err)
{
    return load_base(m, dir, num_labels, labels, 0, rng, err);
}

int ic_model_load_mlm(struct ic_model *m, const char *dir, struct ic_rng *rng, struct ic_err *err)
{
    return load_base(m, dir, 0, NULL, 1, rng, err);
}

/* --- saving ------------------------------------------------------------------ */

static void model_hfconfig(const struct ic_model *m, struct ic_hfconfig *hc)
{
    memset(hc, 0, sizeof *hc);
    hc->cfg = m->bert.cfg;
    hc->id2label = m->labels; /* borrowed: never freed through hc */
    hc->base_model = m->base_model;
    hc->from_scratch = m->from_scratch;
    hc->max_length = m->max_length;
    hc->intent_calib = ic_calibration_to_json(&m->calib); /* owned: the caller frees it */
}

/* A BPE or Unigram tokenizer travels in the .pt as the text of its
 * tokenizer.json and tokenizer_config.json (the tokenizer's own writer,
 * through a temporary directory next to path). */
static int pt_tokenizer_files(struct ic_py_arena *a, struct ic_py *tk, const struct ic_model *m,
                              const char *path, struct ic_err *err)
{
    static const char *const files[2][2] = {{"tokenizer.json", "tokenizer_json"},
                                            {"tokenizer_config.json", "tokenizer_config_json"}};
    char *dir = ic_xasprintf("%s.tok.XXXXXX", path);
    int rc = IC_OK;
    if (!mkdtemp(dir)) {
        rc = ic_errf(err, IC_ERR_IO, "%s: cannot create a temporary directory: %s", dir,
                     strerror(errno));
        ic_free(dir);
        return rc;
    }
    struct ic_tokenizer t = m->tok; /* shallow copy: only opts differ, never freed */
    t.opts.model_max_length = m->max_length;
    rc = ic_tokenizer_save_dir(&t, dir, err);
    for (int i = 0; i < 2 && rc == IC_OK; i++) {
        char *f = ic_path_join(dir, files[i][0]), *text = NULL;
        size_t len;
        rc = ic_read_file(f, (size_t)1 << 30, &text, &len, err);
        if (rc == IC_OK)
            ic_py_set_str(a, tk, files[i][1], ic_py_str(a, text));
        ic_free(text);
        ic_free(f);
    }
    ic_rmtree(dir);
    ic_free(dir);
    return rc;
}

int ic_model_save_pt(const struct ic_model *m, const char *path, struct ic_err *err)
{
    struct ic_py_arena a;
    struct ic_tensors ts, oos; /* the state dict; the Mahalanobis statistics */
    struct ic_hfconfig hc;
    char *cfg_text = NULL;
    json_t *jc = NULL;
    ic_py_arena_init(&a);
    ic_tensors_init(&ts);
    ic_tensors_init(&oos);
    model_hfconfig(m, &hc);
    int rc = ic_hfconfig_to_json(&hc, &cfg_text, err);
    if (rc)
        goto out;
    json_error_t jerr;
    jc = json_loads(cfg_text, 0, &jerr);
    if (!jc) {
        rc = ic_errf(err, IC_ERR_INVAL, "%s: internal: config JSON: %s", path, jerr.text);
        goto out;
    }
    int n = m->bert.cfg.num_labels;
    struct ic_py *root = ic_py_dict(&a, 0);
    ic_py_set_str(&a, root, "format", ic_py_str(&a, "intent_classifier"));
    ic_py_set_str(&a, root, "version", ic_py_int(&a, 1));
    struct ic_py *sd = ic_py_dict(&a, 1);
    ic_bert_export_tensors(&m->bert, m->bert.params, &ts);
    for (size_t i = 0; i < ts.n; i++)
        ic_py_set_str(&a, sd, ts.v[i].name, ic_py_tensor(&a, &ts.v[i]));
    ic_py_set_str(&a, root, "state_dict", sd);
    ic_calibration_stats_to(&m->calib, &oos);
    struct ic_py *od = oos.n ? ic_py_dict(&a, 0) : NULL;
    for (size_t i = 0; i < oos.n; i++)
        ic_py_set_str(&a, od, oos.v[i].name, ic_py_tensor(&a, &oos.v[i]));
    if (od)
        ic_py_set_str(&a, root, "intent_oos", od);
    ic_py_set_str(&a, root, "config", json_to_py(&a, jc, 0));
    struct ic_py *i2l = ic_py_dict(&a, 0), *l2i = ic_py_dict(&a, 0);
    for (int i = 0; i < n; i++) {
        char tmp[32];
        const char *lab = m->labels ? m->labels[i] : NULL;
        if (!lab) {
            snprintf(tmp, sizeof tmp, "LABEL_%d", i);
            lab = tmp;
        }
        ic_py_set(i2l, ic_py_int(&a, i), ic_py_str(&a, lab));
        ic_py_set_str(&a, l2i, lab, ic_py_int(&a, i));
    }
    ic_py_set_str(&a, root, "id_to_intent", i2l);
    ic_py_set_str(&a, root, "intent_to_id", l2i);
    struct ic_py *tk = ic_py_dict(&a, 0);
    struct ic_py *voc = ic_py_list(&a);
    size_t nv = ic_tokenizer_vocab_size(&m->tok);
    for (size_t i = 0; i < nv; i++) {
        const char *t = ic_tokenizer_token(&m->tok, (int32_t)i);
        ic_py_append(voc, ic_py_str(&a, t ? t : ""));
    }
    ic_py_set_str(&a, tk, "vocab", voc);
    ic_py_set_str(&a, tk, "do_lower_case", ic_py_bool(&a, m->tok.opts.lowercase));
    ic_py_set_str(&a, tk, "strip_accents",
                  m->tok.opts.strip_accents < 0 ? ic_py_none(&a)
                                                : ic_py_bool(&a, m->tok.opts.strip_accents));
    ic_py_set_str(&a, tk, "tokenize_chinese_chars", ic_py_bool(&a, m->tok.opts.handle_chinese_chars));
    ic_py_set_str(&a, tk, "model_max_length", ic_py_int(&a, m->max_length));
    ic_py_set_str(&a, tk, "unk_token", ic_py_str(&a, "[UNK]"));
    ic_py_set_str(&a, tk, "sep_token", ic_py_str(&a, "[SEP]"));
    ic_py_set_str(&a, tk, "pad_token", ic_py_str(&a, "[PAD]"));
    ic_py_set_str(&a, tk, "cls_token", ic_py_str(&a, "[CLS]"));
    ic_py_set_str(&a, tk, "mask_token", ic_py_str(&a, "[MASK]"));
    ic_py_set_str(&a, tk, "tokenizer_class", ic_py_str(&a, "BertTokenizer"));
    if (m->tok.type != IC_TOK_WORDPIECE && (rc = pt_tokenizer_files(&a, tk, m, path, err)))
        goto out;
    ic_py_set_str(&a, root, "tokenizer", tk);
    ic_py_set_str(&a, root, "max_length", ic_py_int(&a, m->max_length));
    ic_py_set_str(&a, root, "base_model",
                  m->base_model ? ic_py_str(&a, m->base_model) : ic_py_none(&a));
    ic_py_set_str(&a, root, "from_scratch", ic_py_bool(&a, m->from_scratch));
    rc = ic_torch_save(path, root, err);
out:
    ic_free(hc.intent_calib);
    json_decref(jc);
    ic_free(cfg_text);
    ic_tensors_free(&ts);
    ic_tensors_free(&oos);
    ic_py_arena_free(&a);
    return rc;
}

/* Removes "<dir>.tmp.<pid>" and "<dir>.old.<pid>" siblings whose process is
 * gone: what a save killed half-way leaves behind. A live process's (or
 * another user's) siblings are left alone. */
static void remove_stale_siblings(const char *dir)
{
    char *parent_buf = ic_xstrdup(dir);
    char *slash = strrchr(parent_buf, '/');
    const char *parent = ".", *base = dir;
    if (slash) {
        *slash = 0;
        parent = slash == parent_buf ? "/" : parent_buf;
        base = dir + (slash - parent_buf) + 1;
    }
    size_t bl = strlen(base);
    DIR *d = opendir(parent);
    if (!d) {
        ic_free(parent_buf);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) != 0)
            continue;
        const char *rest = n + bl;
        if (strncmp(rest, ".tmp.", 5) != 0 && strncmp(rest, ".old.", 5) != 0)
            continue;
        char *end;
        long pid = strtol(rest + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char *path = ic_path_join(parent, n);
        ic_log(IC_LOG_INFO, "%s: removing what an interrupted save left", path);
        ic_rmtree(path);
        ic_free(path);
    }
    closedir(d);
    ic_free(parent_buf);
}

static int valid_extra_name(const char *s)
{
    return s && *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

int ic_model_save(const struct ic_model *m, const char *out_dir, const char *const *extra_names,
                  const char *const *extra_contents, size_t n_extra, struct ic_err *err)
{
    struct ic_tensors ts;
    struct ic_hfconfig hc;
    char *cfg_text = NULL, *p = NULL;
    ic_tensors_init(&ts);
    memset(&hc, 0, sizeof hc);
    size_t ol = strlen(out_dir);
    while (ol > 1 && out_dir[ol - 1] == '/')
        ol--;
    char *dir = ic_xstrndup(out_dir, ol);
    char *tmp = ic_xasprintf("%s.tmp.%ld", dir, (long)getpid());
    char *old = ic_xasprintf("%s.old.%ld", dir, (long)getpid());
    int rc = IC_OK;
    if (ic_path_exists(dir) && !ic_is_dir(dir)) {
        rc = ic_errf(err, IC_ERR_IO, "%s: exists and is not a directory", dir);
        goto out;
    }
    for (size_t i = 0; i < n_extra; i++) {
        if (!valid_extra_name(extra_names[i]) || !extra_contents[i]) {
            rc = ic_errf(err, IC_ERR_INVAL, "%s: bad extra file name \"%s\"", dir,
                         extra_names[i] ? extra_names[i] : "(null)");
            goto out;
        }
    }
    remove_stale_siblings(dir);
    ic_rmtree(tmp);
    if ((rc = ic_mkdirs(tmp, err)))
        goto out;
    model_hfconfig(m, &hc);
    if ((rc = ic_hfconfig_to_json(&hc, &cfg_text, err)))
        goto fail;
    p = ic_path_join(tmp, "config.json");
    if ((rc = ic_write_file_atomic(p, cfg_text, strlen(cfg_text), err)))
        goto fail;
    ic_free(p);
    p = ic_path_join(tmp, "model.safetensors");
    ic_bert_export_tensors(&m->bert, m->bert.params, &ts);
    if ((rc = ic_safetensors_save(p, &ts, NULL, 0, err)))
        goto fail;
    if ((rc = ic_calibration_save_stats(&m->calib, tmp, err)))
        goto fail;
    /* tokenizer files, with model_max_length = the inference max length */
    struct ic_tokenizer tk = m->tok; /* shallow copy: only opts differ, never freed */
    tk.opts.model_max_length = m->max_length;
    if ((rc = ic_tokenizer_save_dir(&tk, tmp, err)))
        goto fail;
    ic_free(p);
    p = ic_path_join(tmp, IC_MODEL_PT_NAME);
    if ((rc = ic_model_save_pt(m, p, err)))
        goto fail;
    for (size_t i = 0; i < n_extra; i++) {
        ic_free(p);
        p = ic_path_join(tmp, extra_names[i]);
        if ((rc = ic_write_file_atomic(p, extra_contents[i], strlen(extra_contents[i]), err)))
            goto fail;
    }
    /* Swap the complete directory in: atomically when the old one exists
     * (RENAME_EXCHANGE), else a plain rename. */
    if (ic_is_dir(dir)) {
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) == 0) {
            ic_rmtree(tmp); /* now the old contents */
        } else {
            ic_rmtree(old);
            if (rename(dir, old) != 0) {
                rc = ic_errf(err, IC_ERR_IO, "%s: rename: %s", dir, strerror(errno));
                goto fail;
            }
            if (rename(tmp, dir) != 0) {
                rc = ic_errf(err, IC_ERR_IO, "%s: rename: %s", dir, strerror(errno));
                if (rename(old, dir) != 0)
                    ic_log(IC_LOG_ERROR, "%s: could not restore the old model from %s", dir, old);
                goto fail;
            }
            ic_rmtree(old);
        }
    } else if (rename(tmp, dir) != 0) {
        rc = ic_errf(err, IC_ERR_IO, "%s: rename: %s", dir, strerror(errno));
        goto fail;
    }
    goto out;
fail:
    ic_rmtree(tmp);
out:
    ic_free(hc.intent_calib);
    ic_free(p);
    ic_free(cfg_text);
    ic_tensors_free(&ts);
    ic_free(tmp);
    ic_free(old);
    ic_free(dir);
    return rc;
}
