/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hfconfig.c - Hugging Face config.json for BERT (BertConfig plus the
 * PretrainedConfig fields a classifier uses) and our provenance keys.
 *
 * Reading: missing fields take BertConfig defaults; old configs without
 * model_type (prajjwal1/bert-tiny) are fine; id2label gives the labels and
 * num_labels (when num_labels is absent); classifier_dropout null means
 * "use hidden_dropout_prob". Wrong JSON types, unknown activations, models
 * that are not BERT, inconsistent label maps and out-of-range sizes are
 * errors naming the file and the field.
 * Writing: the keys transformers' save_pretrained writes for
 * BertForSequenceClassification, sorted as it sorts them, with floats in
 * their shortest form, plus intent_* keys.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

#define HF_CONFIG_MAX_BYTES ((size_t)16 << 20)

void ic_hfconfig_init(struct ic_hfconfig *c)
{
    memset(c, 0, sizeof *c);
    ic_bert_config_default(&c->cfg);
}

void ic_hfconfig_free(struct ic_hfconfig *c)
{
    if (c->id2label)
        for (int i = 0; i < c->cfg.num_labels; i++)
            ic_free(c->id2label[i]);
    ic_free(c->id2label);
    ic_free(c->model_type);
    ic_free(c->problem_type);
    ic_free(c->base_model);
    memset(c, 0, sizeof *c);
}

static int get_int(json_t *root, const char *key, int lo, int hi, int *out, const char *name,
                   struct ic_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return IC_OK;
    if (!json_is_integer(v))
        return ic_errf(err, IC_ERR_FORMAT, "%s: field \"%s\" must be an integer", name, key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return ic_errf(err, IC_ERR_RANGE, "%s: field \"%s\" = %lld is outside [%d, %d]", name, key,
                       (long long)x, lo, hi);
    *out = (int)x;
    return IC_OK;
}

static int get_float(json_t *root, const char *key, float *out, int allow_null, const char *name,
                     struct ic_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!v)
        return IC_OK;
    if (json_is_null(v)) {
        if (allow_null) {
            *out = -1.0f;
            return IC_OK;
        }
        return ic_errf(err, IC_ERR_FORMAT, "%s: field \"%s\" must be a number, not null", name, key);
    }
    if (!json_is_number(v))
        return ic_errf(err, IC_ERR_FORMAT, "%s: field \"%s\" must be a number", name, key);
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0 || !isfinite((float)d))
        return ic_errf(err, IC_ERR_RANGE,
                       "%s: field \"%s\" = %g must be >= 0 and fit a float32", name, key, d);
    *out = (float)d;
    return IC_OK;
}

static int get_str(json_t *root, const char *key, char **out, const char *name, struct ic_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return IC_OK;
    if (!json_is_string(v))
        return ic_errf(err, IC_ERR_FORMAT, "%s: field \"%s\" must be a string", name, key);
    ic_free(*out);
    *out = ic_xstrdup(json_string_value(v));
    return IC_OK;
}

/* Strict decimal id ("0", "12"; no sign, no leading zeros). */
static int parse_id(const char *s, long *out)
{
    if (!*s || (s[0] == '0' && s[1]) || strlen(s) > 9)
        return 0;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ic_hfconfig_parse(const char *text, size_t len, const char *name, struct ic_hfconfig *c,
                      struct ic_err *err)
{
    json_error_t jerr;
    int rc = IC_OK;
    char *act = NULL, *pet = NULL;
    if (!name)
        name = "config.json";
    ic_hfconfig_init(c);
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ic_errf(err, IC_ERR_FORMAT, "%s: line %d: invalid JSON: %s", name, jerr.line,
                       jerr.text);
    if (!json_is_object(root)) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: not a JSON object", name);
        goto out;
    }
    struct ic_bert_config *b = &c->cfg;
    if ((rc = get_str(root, "model_type", &c->model_type, name, err)))
        goto out;
    if (c->model_type && strcmp(c->model_type, "bert") != 0) {
        rc = ic_errf(err, IC_ERR_UNSUPPORTED, "%s: field \"model_type\" is \"%s\"; only BERT models are supported",
                     name, c->model_type);
        goto out;
    }
    json_t *arch = json_object_get(root, "architectures");
    if (arch && !json_is_null(arch)) {
        if (!json_is_array(arch)) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: field \"architectures\" must be a list", name);
            goto out;
        }
        for (size_t i = 0; i < json_array_size(arch); i++) {
            const char *a = json_string_value(json_array_get(arch, i));
            if (!a || strncmp(a, "Bert", 4) != 0) {
                rc = ic_errf(err, IC_ERR_UNSUPPORTED,
                             "%s: field \"architectures\" names %s; only Bert* architectures are supported",
                             name, a ? a : "a non-string");
                goto out;
            }
        }
    }
    if ((rc = get_int(root, "vocab_size", 1, 4000000, &b->vocab_size, name, err)) ||
        (rc = get_int(root, "hidden_size", 1, 16384, &b->hidden_size, name, err)) ||
        (rc = get_int(root, "num_hidden_layers", 1, 256, &b->num_layers, name, err)) ||
        (rc = get_int(root, "num_attention_heads", 1, 1024, &b->num_heads, name, err)) ||
        (rc = get_int(root, "intermediate_size", 1, 131072, &b->intermediate_size, name, err)) ||
        (rc = get_int(root, "max_position_embeddings", 1, 65536, &b->max_position, name, err)) ||
        (rc = get_int(root, "type_vocab_size", 1, 1024, &b->type_vocab_size, name, err)) ||
        (rc = get_int(root, "pad_token_id", 0, 4000000, &b->pad_token_id, name, err)) ||
        (rc = get_float(root, "hidden_dropout_prob", &b->hidden_dropout, 0, name, err)) ||
        (rc = get_float(root, "attention_probs_dropout_prob", &b->attention_dropout, 0, name, err)) ||
        (rc = get_float(root, "initializer_range", &b->initializer_range, 0, name, err)) ||
        (rc = get_float(root, "layer_norm_eps", &b->layer_norm_eps, 0, name, err)) ||
        (rc = get_float(root, "classifier_dropout", &b->classifier_dropout, 1, name, err)) ||
        (rc = get_str(root, "hidden_act", &act, name, err)) ||
        (rc = get_str(root, "position_embedding_type", &pet, name, err)) ||
        (rc = get_str(root, "problem_type", &c->problem_type, name, err)) ||
        (rc = get_str(root, "intent_base_model", &c->base_model, name, err)) ||
        (rc = get_int(root, "intent_max_length", 2, 65536, &c->max_length, name, err)))
        goto out;
    if (act && ic_act_parse(act, &b->act) != 0) {
        rc = ic_errf(err, IC_ERR_UNSUPPORTED,
                     "%s: field \"hidden_act\" = \"%s\" is not supported (gelu, gelu_new, relu)",
                     name, act);
        goto out;
    }
    if (pet && strcmp(pet, "absolute") != 0) {
        rc = ic_errf(err, IC_ERR_UNSUPPORTED,
                     "%s: field \"position_embedding_type\" = \"%s\" is not supported (absolute)",
                     name, pet);
        goto out;
    }
    if (c->problem_type && strcmp(c->problem_type, "single_label_classification") != 0) {
        rc = ic_errf(err, IC_ERR_UNSUPPORTED,
                     "%s: field \"problem_type\" = \"%s\" is not supported "
                     "(single_label_classification)",
                     name, c->problem_type);
        goto out;
    }
    json_t *fs = json_object_get(root, "intent_from_scratch");
    if (fs && !json_is_null(fs)) {
        if (!json_is_boolean(fs)) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: field \"intent_from_scratch\" must be true or false",
                         name);
            goto out;
        }
        c->from_scratch = json_is_true(fs);
    }
    /* Labels: num_labels if given, else the size of id2label, else 2. */
    json_t *jn = json_object_get(root, "num_labels");
    json_t *id2 = json_object_get(root, "id2label");
    json_t *l2i = json_object_get(root, "label2id");
    if (id2 && !json_is_null(id2) && !json_is_object(id2)) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: field \"id2label\" must be an object", name);
        goto out;
    }
    if (l2i && !json_is_null(l2i) && !json_is_object(l2i)) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: field \"label2id\" must be an object", name);
        goto out;
    }
    int nl = 2;
    if (json_is_object(id2))
        nl = (int)json_object_size(id2);
    if (jn && !json_is_null(jn)) {
        if ((rc = get_int(root, "num_labels", 1, 100000, &nl, name, err)))
            goto out;
        if (json_is_object(id2) && (size_t)nl != json_object_size(id2)) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: field \"num_labels\" = %d but id2label has %zu entries",
                         name, nl, json_object_size(id2));
            goto out;
        }
    }
    if (nl < 1 || nl > 100000) {
        rc = ic_errf(err, IC_ERR_RANGE, "%s: field \"id2label\" has %d entries", name, nl);
        goto out;
    }
    b->num_labels = nl;
    c->id2label = ic_xcalloc((size_t)nl, sizeof *c->id2label);
    if (json_is_object(id2) && nl > 0) {
        const char *k;
        json_t *v;
        json_object_foreach(id2, k, v) {
            long id;
            if (!parse_id(k, &id) || id >= nl) {
                rc = ic_errf(err, IC_ERR_FORMAT, "%s: field \"id2label\": key \"%s\" is not an id in [0, %d)",
                             name, k, nl);
                goto out;
            }
            if (!json_is_string(v) || !json_string_length(v)) {
                rc = ic_errf(err, IC_ERR_FORMAT, "%s: field \"id2label\": label %s is not a non-empty string",
                             name, k);
                goto out;
            }
            if (c->id2label[id]) {
                rc = ic_errf(err, IC_ERR_FORMAT, "%s: field \"id2label\": id %ld appears twice", name, id);
                goto out;
            }
            c->id2label[id] = ic_xstrdup(json_string_value(v));
        }
        c->has_labels = 1;
        /* Duplicate names: sort a copy of the pointers (n log n: num_labels
         * may be up to 100000) and compare neighbours. */
        char **sorted = ic_xcalloc((size_t)nl, sizeof *sorted);
        memcpy(sorted, c->id2label, (size_t)nl * sizeof *sorted);
        qsort(sorted, (size_t)nl, sizeof *sorted, cmp_str);
        for (int i = 1; i < nl && rc == IC_OK; i++)
            if (strcmp(sorted[i], sorted[i - 1]) == 0)
                rc = ic_errf(err, IC_ERR_FORMAT, "%s: field \"id2label\": label \"%s\" appears twice",
                             name, sorted[i]);
        ic_free(sorted);
        if (rc)
            goto out;
    } else {
        for (int i = 0; i < nl; i++)
            c->id2label[i] = ic_xasprintf("LABEL_%d", i);
    }
    if (json_is_object(l2i) && c->has_labels) {
        const char *k;
        json_t *v;
        json_object_foreach(l2i, k, v) {
            json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
            if (id < 0 || id >= nl || strcmp(c->id2label[id], k) != 0) {
                rc = ic_errf(err, IC_ERR_FORMAT, "%s: field \"label2id\": \"%s\" does not match id2label",
                             name, k);
                goto out;
            }
        }
    }
    rc = ic_bert_config_check(b, err);
    if (rc)
        ic_err_prefix(err, "%s", name);
out:
    ic_free(act);
    ic_free(pet);
    json_decref(root);
    if (rc)
        ic_hfconfig_free(c);
    return rc;
}

int ic_hfconfig_load(const char *path, struct ic_hfconfig *c, struct ic_err *err)
{
    char *text;
    size_t len;
    ic_hfconfig_init(c);
    int rc = ic_read_file(path, HF_CONFIG_MAX_BYTES, &text, &len, err);
    if (rc)
        return rc;
    rc = ic_hfconfig_parse(text, len, path, c, err);
    ic_free(text);
    return rc;
}

/* Shortest decimal that reads back as the same float32 ("1e-12", "0.1"). */
static void float32_str(float f, char *out, size_t n)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(out, n, "%.*g", prec, (double)f);
        if ((float)strtod(out, NULL) == f)
            break;
    }
    if (!strpbrk(out, ".e"))
        strncat(out, ".0", n - strlen(out) - 1);
}

/* label2id is written sorted by label; equal labels (refused on parse) keep
 * id order. */
struct label_id {
    const char *label;
    int id;
};

static int cmp_label_id(const void *a, const void *b)
{
    const struct label_id *x = a, *y = b;
    int c = strcmp(x->label, y->label);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

int ic_hfconfig_to_json(const struct ic_hfconfig *c, char **json, struct ic_err *err)
{
    const struct ic_bert_config *b = &c->cfg;
    struct ic_buf o;
    char f1[32], f2[32], f3[32], f4[32], f5[32];
    int rc = 0;
    *json = NULL;
    ic_buf_init(&o, 0);
    float32_str(b->attention_dropout, f1, sizeof f1);
    float32_str(b->hidden_dropout, f2, sizeof f2);
    float32_str(b->initializer_range, f3, sizeof f3);
    float32_str(b->layer_norm_eps, f4, sizeof f4);
    if (b->classifier_dropout < 0)
        snprintf(f5, sizeof f5, "null");
    else
        float32_str(b->classifier_dropout, f5, sizeof f5);
    const char *bm = c->base_model ? c->base_model : "";
    rc |= ic_buf_printf(&o, "{\n  \"_name_or_path\": ");
    rc |= ic_buf_json_str(&o, bm, strlen(bm));
    rc |= ic_buf_printf(&o,
                        ",\n  \"architectures\": [\n    \"BertForSequenceClassification\"\n  ],\n"
                        "  \"attention_probs_dropout_prob\": %s,\n"
                        "  \"classifier_dropout\": %s,\n"
                        "  \"hidden_act\": \"%s\",\n"
                        "  \"hidden_dropout_prob\": %s,\n"
                        "  \"hidden_size\": %d,\n"
                        "  \"id2label\": {",
                        f1, f5, ic_act_name(b->act), f2, b->hidden_size);
    /* transformers sorts keys: "0", "1", "10", "2", ... (string order) */
    int n = b->num_labels;
    char **keys = ic_xcalloc((size_t)n, sizeof *keys);
    for (int i = 0; i < n; i++)
        keys[i] = ic_xasprintf("%d", i);
    qsort(keys, (size_t)n, sizeof *keys, cmp_str);
    for (int k = 0; k < n; k++) {
        int i = (int)strtol(keys[k], NULL, 10);
        const char *lab = c->id2label ? c->id2label[i] : NULL;
        char tmp[32];
        if (!lab) {
            snprintf(tmp, sizeof tmp, "LABEL_%d", i);
            lab = tmp;
        }
        rc |= ic_buf_printf(&o, "%s\n    \"%d\": ", k ? "," : "", i);
        rc |= ic_buf_json_str(&o, lab, strlen(lab));
    }
    rc |= ic_buf_printf(&o, "\n  },\n  \"initializer_range\": %s,\n  \"intent_base_model\": ", f3);
    if (c->base_model)
        rc |= ic_buf_json_str(&o, c->base_model, strlen(c->base_model));
    else
        rc |= ic_buf_printf(&o, "null");
    rc |= ic_buf_printf(&o,
                        ",\n  \"intent_from_scratch\": %s,\n"
                        "  \"intent_max_length\": %d,\n"
                        "  \"intent_version\": \"%s\",\n"
                        "  \"intermediate_size\": %d,\n"
                        "  \"label2id\": {",
                        c->from_scratch ? "true" : "false",
                        c->max_length > 0 ? c->max_length : 128, IC_VERSION, b->intermediate_size);
    /* label2id sorted by label */
    char **labs = ic_xcalloc((size_t)n, sizeof *labs);
    for (int i = 0; i < n; i++)
        labs[i] = c->id2label && c->id2label[i] ? ic_xstrdup(c->id2label[i]) : ic_xasprintf("LABEL_%d", i);
    struct label_id *sorted = ic_xcalloc((size_t)n, sizeof *sorted);
    for (int i = 0; i < n; i++) {
        sorted[i].label = labs[i];
        sorted[i].id = i;
    }
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_label_id);
    for (int k = 0; k < n; k++) {
        rc |= ic_buf_printf(&o, "%s\n    ", k ? "," : "");
        rc |= ic_buf_json_str(&o, sorted[k].label, strlen(sorted[k].label));
        rc |= ic_buf_printf(&o, ": %d", sorted[k].id);
    }
    rc |= ic_buf_printf(&o,
                        "\n  },\n"
                        "  \"layer_norm_eps\": %s,\n"
                        "  \"max_position_embeddings\": %d,\n"
                        "  \"model_type\": \"bert\",\n"
                        "  \"num_attention_heads\": %d,\n"
                        "  \"num_hidden_layers\": %d,\n"
                        "  \"pad_token_id\": %d,\n"
                        "  \"position_embedding_type\": \"absolute\",\n"
                        "  \"problem_type\": \"single_label_classification\",\n"
                        "  \"torch_dtype\": \"float32\",\n"
                        "  \"type_vocab_size\": %d,\n"
                        "  \"use_cache\": true,\n"
                        "  \"vocab_size\": %d\n}\n",
                        f4, b->max_position, b->num_heads, b->num_layers, b->pad_token_id,
                        b->type_vocab_size, b->vocab_size);
    for (int i = 0; i < n; i++) {
        ic_free(keys[i]);
        ic_free(labs[i]);
    }
    ic_free(keys);
    ic_free(labs);
    ic_free(sorted);
    if (rc) {
        ic_buf_free(&o);
        return ic_errf(err, IC_ERR_RANGE, "config.json: too large");
    }
    *json = ic_buf_take(&o);
    return IC_OK;
}
