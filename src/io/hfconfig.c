/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hfconfig.c - Hugging Face config.json for the encoder architectures
 * (BertConfig, RobertaConfig / XLMRobertaConfig / CamembertConfig,
 * DistilBertConfig, ElectraConfig, plus the PretrainedConfig fields a
 * classifier uses) and our provenance keys.
 *
 * Reading: model_type picks the architecture and its key list (one table
 * per architecture, below, used for reading and writing); missing fields
 * take that configuration class's defaults; old configs without model_type
 * (prajjwal1/bert-tiny) are BERT unless "architectures" says otherwise;
 * id2label gives the labels and num_labels (when num_labels is absent);
 * classifier_dropout null means "use hidden_dropout_prob". Wrong JSON
 * types, unknown activations, unsupported model types (the message lists
 * the supported ones), architectures that contradict model_type,
 * inconsistent label maps and out-of-range sizes are errors naming the file
 * and the field.
 * Writing: the keys transformers' save_pretrained writes for
 * <Arch>ForSequenceClassification, sorted as it sorts them, with floats in
 * their shortest form, plus intent_* keys.
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
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
    ic_free(c->intent_calib);
    memset(c, 0, sizeof *c);
}

/* intent_temperature and intent_oos pass through as JSON text; calib_io.c
 * checks them. */
static void keep_calib_keys(json_t *root, struct ic_hfconfig *c)
{
    json_t *t = json_object_get(root, "intent_temperature"), *o = json_object_get(root, "intent_oos");
    if (!t && !o)
        return;
    json_t *k = json_object();
    if (t)
        json_object_set(k, "intent_temperature", t);
    if (o)
        json_object_set(k, "intent_oos", o);
    char *s = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(k);
    c->intent_calib = s ? ic_xstrdup(s) : NULL;
    free(s);
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

/* --- per-architecture keys -------------------------------------------------- */

/* One config.json key and the ic_bert_config field it fills; the same list
 * drives reading and writing. */
enum key_kind { KEY_INT, KEY_FLOAT, KEY_FLOAT_NULL, KEY_ACT };
struct hf_key {
    const char *key;
    enum key_kind kind;
    size_t off;
    int lo, hi;
};
#define KI(k, f, lo, hi) {k, KEY_INT, offsetof(struct ic_bert_config, f), lo, hi}
#define KF(k, f) {k, KEY_FLOAT, offsetof(struct ic_bert_config, f), 0, 0}
#define KFN(k, f) {k, KEY_FLOAT_NULL, offsetof(struct ic_bert_config, f), 0, 0}
#define KA(k) {k, KEY_ACT, offsetof(struct ic_bert_config, act), 0, 0}
#define BERT_KEYS                                                                              \
    KI("vocab_size", vocab_size, 1, 4000000), KI("hidden_size", hidden_size, 1, 16384),         \
        KI("num_hidden_layers", num_layers, 1, 256),                                           \
        KI("num_attention_heads", num_heads, 1, 1024),                                         \
        KI("intermediate_size", intermediate_size, 1, 131072),                                 \
        KI("max_position_embeddings", max_position, 1, 65536),                                 \
        KI("type_vocab_size", type_vocab_size, 1, 1024),                                       \
        KI("pad_token_id", pad_token_id, 0, 4000000), KF("hidden_dropout_prob", hidden_dropout), \
        KF("attention_probs_dropout_prob", attention_dropout),                                 \
        KF("initializer_range", initializer_range), KF("layer_norm_eps", layer_norm_eps),       \
        KFN("classifier_dropout", classifier_dropout), KA("hidden_act")

static const struct hf_key k_bert[] = {BERT_KEYS, {NULL, KEY_INT, 0, 0, 0}};
static const struct hf_key k_electra[] = {BERT_KEYS,
                                          KI("embedding_size", embedding_size, 1, 16384),
                                          {NULL, KEY_INT, 0, 0, 0}};
/* DistilBertConfig's own names (layer_norm_eps is fixed at 1e-12 there) */
static const struct hf_key k_distilbert[] = {
    KI("vocab_size", vocab_size, 1, 4000000), KI("dim", hidden_size, 1, 16384),
    KI("n_layers", num_layers, 1, 256), KI("n_heads", num_heads, 1, 1024),
    KI("hidden_dim", intermediate_size, 1, 131072),
    KI("max_position_embeddings", max_position, 1, 65536),
    KI("pad_token_id", pad_token_id, 0, 4000000), KF("dropout", hidden_dropout),
    KF("attention_dropout", attention_dropout), KF("initializer_range", initializer_range),
    KF("seq_classif_dropout", classifier_dropout), KA("activation"), {NULL, KEY_INT, 0, 0, 0}};

static const struct hf_key *arch_keys(enum ic_arch a)
{
    switch (a) {
    case IC_ARCH_DISTILBERT: return k_distilbert;
    case IC_ARCH_ELECTRA: return k_electra;
    default: return k_bert;
    }
}

/* Each configuration class's defaults (BertConfig, RobertaConfig, ...). */
static void arch_defaults(struct ic_bert_config *b, enum ic_arch a)
{
    ic_bert_config_default(b);
    b->arch = a;
    if (a == IC_ARCH_ROBERTA) {
        b->vocab_size = 50265;
        b->pad_token_id = 1;
    } else if (a == IC_ARCH_DISTILBERT) {
        b->num_layers = 6;
        b->classifier_dropout = 0.2f;
    } else if (a == IC_ARCH_ELECTRA) {
        b->embedding_size = 128;
        b->hidden_size = 256;
        b->num_heads = 4;
        b->intermediate_size = 1024;
    }
}

/* Reads every key of the architecture's list into b. */
static int parse_keys(json_t *root, struct ic_bert_config *b, const char *name, struct ic_err *err)
{
    for (const struct hf_key *k = arch_keys(b->arch); k->key; k++) {
        void *f = (char *)b + k->off;
        int rc = IC_OK;
        char *act = NULL;
        if (k->kind == KEY_INT)
            rc = get_int(root, k->key, k->lo, k->hi, f, name, err);
        else if (k->kind == KEY_ACT)
            rc = get_str(root, k->key, &act, name, err);
        else
            rc = get_float(root, k->key, f, k->kind == KEY_FLOAT_NULL, name, err);
        if (!rc && act && (ic_act_parse(act, &b->act) != 0 || b->act == IC_ACT_TANH))
            rc = ic_errf(err, IC_ERR_UNSUPPORTED,
                         "%s: field \"%s\" = \"%s\" is not supported (gelu, gelu_new, relu)",
                         name, k->key, act);
        ic_free(act);
        if (rc)
            return rc;
    }
    return IC_OK;
}

/* transformers class name prefixes ("RobertaForSequenceClassification"). */
static const struct {
    const char *prefix;
    enum ic_arch arch;
} k_classes[] = {{"Bert", IC_ARCH_BERT},         {"Roberta", IC_ARCH_ROBERTA},
                 {"XLMRoberta", IC_ARCH_ROBERTA}, {"Camembert", IC_ARCH_ROBERTA},
                 {"DistilBert", IC_ARCH_DISTILBERT}, {"Electra", IC_ARCH_ELECTRA}};

/* The architecture of a class name: a known prefix followed by "For...",
 * "Model" or "LMHeadModel" (so XLMRobertaXL..., RobertaPreLayerNorm... are not
 * RoBERTa). -1 when unknown. */
static int class_arch(const char *cls)
{
    for (size_t i = 0; i < sizeof k_classes / sizeof k_classes[0]; i++) {
        size_t n = strlen(k_classes[i].prefix);
        const char *r = cls + n;
        if (strncmp(cls, k_classes[i].prefix, n) == 0 &&
            (strncmp(r, "For", 3) == 0 || strcmp(r, "Model") == 0 ||
             strcmp(r, "LMHeadModel") == 0))
            return (int)k_classes[i].arch;
    }
    return -1;
}

/* model_type and architectures -> b->arch (and the variant's name); a
 * config without model_type (old BERT exports) takes architectures, else BERT. */
static int parse_arch(json_t *root, struct ic_hfconfig *c, const char *name, struct ic_err *err)
{
    int rc = get_str(root, "model_type", &c->model_type, name, err);
    if (rc)
        return rc;
    enum ic_arch a = IC_ARCH_BERT;
    if (c->model_type && ic_arch_parse(c->model_type, &a) != IC_OK)
        return ic_errf(err, IC_ERR_UNSUPPORTED,
                       "%s: field \"model_type\" is \"%s\"; supported model types: %s", name,
                       c->model_type, ic_arch_supported());
    json_t *arch = json_object_get(root, "architectures");
    if (arch && !json_is_null(arch)) {
        if (!json_is_array(arch))
            return ic_errf(err, IC_ERR_FORMAT, "%s: field \"architectures\" must be a list", name);
        for (size_t i = 0; i < json_array_size(arch); i++) {
            const char *cls = json_string_value(json_array_get(arch, i));
            int ca = cls ? class_arch(cls) : -1;
            if (ca < 0)
                return ic_errf(err, IC_ERR_UNSUPPORTED,
                               "%s: field \"architectures\" names %s; supported model types: %s",
                               name, cls ? cls : "a non-string", ic_arch_supported());
            if (!c->model_type && i == 0)
                a = (enum ic_arch)ca;
            if (ca != (int)a)
                return ic_errf(err, IC_ERR_FORMAT,
                               "%s: field \"architectures\" names %s but field \"model_type\" "
                               "is \"%s\"",
                               name, cls, c->model_type ? c->model_type : ic_arch_get(a)->model_type);
        }
    }
    arch_defaults(&c->cfg, a);
    if (c->model_type && strcmp(c->model_type, ic_arch_get(a)->model_type) != 0)
        snprintf(c->cfg.model_type, sizeof c->cfg.model_type, "%s", c->model_type);
    return IC_OK;
}

/* Positions and embeddings the modelling code has no variant of. */
static int parse_unsupported(json_t *root, const struct ic_bert_config *b, const char *name,
                             struct ic_err *err)
{
    char *pet = NULL;
    int rc = get_str(root, "position_embedding_type", &pet, name, err);
    if (!rc && pet && strcmp(pet, "absolute") != 0)
        rc = ic_errf(err, IC_ERR_UNSUPPORTED,
                     "%s: field \"position_embedding_type\" = \"%s\" is not supported (absolute)",
                     name, pet);
    ic_free(pet);
    json_t *sin = json_object_get(root, "sinusoidal_pos_embds");
    if (!rc && b->arch == IC_ARCH_DISTILBERT && json_is_true(sin))
        rc = ic_errf(err, IC_ERR_UNSUPPORTED,
                     "%s: field \"sinusoidal_pos_embds\" is true; only learned position "
                     "embeddings are supported",
                     name);
    return rc;
}

int ic_hfconfig_parse(const char *text, size_t len, const char *name, struct ic_hfconfig *c,
                      struct ic_err *err)
{
    json_error_t jerr;
    int rc = IC_OK;
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
    if ((rc = parse_arch(root, c, name, err)) || (rc = parse_keys(root, b, name, err)) ||
        (rc = parse_unsupported(root, b, name, err)) ||
        (rc = get_str(root, "problem_type", &c->problem_type, name, err)) ||
        (rc = get_str(root, "intent_base_model", &c->base_model, name, err)) ||
        (rc = get_int(root, "intent_max_length", 2, 65536, &c->max_length, name, err)))
        goto out;
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
    keep_calib_keys(root, c);
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

/* --- writing ------------------------------------------------------------------ */

/* config.json is written as transformers writes it: keys sorted, two-space
 * indent. Each entry is a key and its value's JSON text. */
struct kv {
    const char *key;
    char *val; /* owned */
};
struct kvs {
    struct kv v[64];
    size_t n;
};

static void put(struct kvs *o, const char *key, char *val)
{
    IC_ASSERT(o->n < sizeof o->v / sizeof o->v[0]);
    o->v[o->n].key = key;
    o->v[o->n++].val = val;
}

static char *float_json(float f)
{
    char t[32];
    float32_str(f, t, sizeof t);
    return ic_xstrdup(t);
}

static char *str_json(const char *s)
{
    struct ic_buf b;
    ic_buf_init(&b, 0);
    if (ic_buf_json_str(&b, s, strlen(s))) {
        ic_buf_free(&b);
        return ic_xstrdup("\"\"");
    }
    return ic_buf_take(&b);
}

/* The architecture's own keys from its key list. */
static void put_arch_keys(struct kvs *o, const struct ic_bert_config *b)
{
    for (const struct hf_key *k = arch_keys(b->arch); k->key; k++) {
        const void *f = (const char *)b + k->off;
        if (k->off == offsetof(struct ic_bert_config, embedding_size) && b->embedding_size <= 0)
            put(o, k->key, ic_xasprintf("%d", b->hidden_size)); /* ELECTRA: E = H */
        else if (k->kind == KEY_INT)
            put(o, k->key, ic_xasprintf("%d", *(const int *)f));
        else if (k->kind == KEY_ACT)
            put(o, k->key, ic_xasprintf("\"%s\"", ic_act_name(b->act)));
        else if (k->kind == KEY_FLOAT_NULL && *(const float *)f < 0)
            put(o, k->key, ic_xstrdup("null"));
        else if (*(const float *)f < 0) /* seq_classif_dropout: the effective value */
            put(o, k->key, float_json(b->hidden_dropout));
        else
            put(o, k->key, float_json(*(const float *)f));
    }
    if (b->arch == IC_ARCH_DISTILBERT) {
        put(o, "qa_dropout", float_json(b->hidden_dropout));
        put(o, "sinusoidal_pos_embds", ic_xstrdup("false"));
    } else {
        put(o, "position_embedding_type", ic_xstrdup("\"absolute\""));
        put(o, "use_cache", ic_xstrdup("true"));
    }
    if (b->arch == IC_ARCH_ROBERTA) {
        put(o, "bos_token_id", ic_xstrdup("0"));
        put(o, "eos_token_id", ic_xstrdup("2"));
    }
}

/* model_type and the class transformers should build. */
static void put_arch_names(struct kvs *o, const struct ic_bert_config *b)
{
    const struct ic_arch_info *ai = ic_arch_get(b->arch);
    const char *mt = b->model_type[0] ? b->model_type : ai->model_type;
    const char *cls = ai->hf_class;
    if (strcmp(mt, "xlm-roberta") == 0)
        cls = "XLMRobertaForSequenceClassification";
    else if (strcmp(mt, "camembert") == 0)
        cls = "CamembertForSequenceClassification";
    size_t stem = strlen(cls) - strlen("ForSequenceClassification");
    if (b->mlm_head) /* BertForMaskedLM, RobertaForMaskedLM, ... */
        put(o, "architectures", ic_xasprintf("[\n    \"%.*sForMaskedLM\"\n  ]", (int)stem, cls));
    else
        put(o, "architectures", ic_xasprintf("[\n    \"%s\"\n  ]", cls));
    put(o, "model_type", str_json(mt));
}

/* id2label with string keys in string order ("0", "1", "10", "2", ...). */
static char *id2label_json(const struct ic_hfconfig *c)
{
    int n = c->cfg.num_labels;
    struct ic_buf o;
    ic_buf_init(&o, 0);
    char **keys = ic_xcalloc((size_t)n, sizeof *keys);
    for (int i = 0; i < n; i++)
        keys[i] = ic_xasprintf("%d", i);
    qsort(keys, (size_t)n, sizeof *keys, cmp_str);
    int rc = ic_buf_printf(&o, "{");
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
    rc |= ic_buf_printf(&o, "\n  }");
    for (int i = 0; i < n; i++)
        ic_free(keys[i]);
    ic_free(keys);
    if (rc) {
        ic_buf_free(&o);
        return NULL;
    }
    return ic_buf_take(&o);
}

/* label2id sorted by label. */
static char *label2id_json(const struct ic_hfconfig *c)
{
    int n = c->cfg.num_labels;
    struct ic_buf o;
    ic_buf_init(&o, 0);
    char **labs = ic_xcalloc((size_t)n, sizeof *labs);
    for (int i = 0; i < n; i++)
        labs[i] = c->id2label && c->id2label[i] ? ic_xstrdup(c->id2label[i])
                                                : ic_xasprintf("LABEL_%d", i);
    struct label_id *sorted = ic_xcalloc((size_t)n, sizeof *sorted);
    for (int i = 0; i < n; i++) {
        sorted[i].label = labs[i];
        sorted[i].id = i;
    }
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_label_id);
    int rc = ic_buf_printf(&o, "{");
    for (int k = 0; k < n; k++) {
        rc |= ic_buf_printf(&o, "%s\n    ", k ? "," : "");
        rc |= ic_buf_json_str(&o, sorted[k].label, strlen(sorted[k].label));
        rc |= ic_buf_printf(&o, ": %d", sorted[k].id);
    }
    rc |= ic_buf_printf(&o, "\n  }");
    for (int i = 0; i < n; i++)
        ic_free(labs[i]);
    ic_free(labs);
    ic_free(sorted);
    if (rc) {
        ic_buf_free(&o);
        return NULL;
    }
    return ic_buf_take(&o);
}

/* A calibration key's value as config.json text, indented one level. */
static char *calib_value_json(json_t *v)
{
    char *t = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(9) |
                                JSON_ENCODE_ANY);
    struct ic_buf b;
    ic_buf_init(&b, 0);
    int rc = 0;
    for (const char *p = t ? t : "null"; *p; p++)
        rc |= *p == '\n' ? ic_buf_append(&b, "\n  ", 3) : ic_buf_append(&b, p, 1);
    free(t);
    if (rc) {
        ic_buf_free(&b);
        return NULL;
    }
    return ic_buf_take(&b);
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const struct kv *)a)->key, ((const struct kv *)b)->key);
}

int ic_hfconfig_to_json(const struct ic_hfconfig *c, char **json, struct ic_err *err)
{
    struct kvs o;
    struct ic_buf out;
    int rc = 0;
    *json = NULL;
    o.n = 0;
    const char *bm = c->base_model ? c->base_model : "";
    put(&o, "_name_or_path", str_json(bm));
    put_arch_names(&o, &c->cfg);
    put_arch_keys(&o, &c->cfg);
    put(&o, "id2label", id2label_json(c));
    put(&o, "label2id", label2id_json(c));
    put(&o, "intent_base_model", c->base_model ? str_json(c->base_model) : ic_xstrdup("null"));
    put(&o, "intent_from_scratch", ic_xstrdup(c->from_scratch ? "true" : "false"));
    put(&o, "intent_max_length", ic_xasprintf("%d", c->max_length > 0 ? c->max_length : 128));
    put(&o, "intent_version", ic_xasprintf("\"%s\"", IC_VERSION));
    /* intent_temperature, intent_oos: their keys live in calib until the end */
    json_t *calib = c->intent_calib ? json_loads(c->intent_calib, 0, NULL) : NULL, *cv;
    const char *ck;
    json_object_foreach(calib, ck, cv)
        put(&o, ck, calib_value_json(cv));
    put(&o, "problem_type", ic_xstrdup("\"single_label_classification\""));
    put(&o, "torch_dtype", ic_xstrdup("\"float32\""));
    qsort(o.v, o.n, sizeof o.v[0], cmp_kv);
    ic_buf_init(&out, 0);
    rc |= ic_buf_printf(&out, "{");
    for (size_t i = 0; i < o.n; i++) {
        if (!o.v[i].val) {
            rc = 1;
            continue;
        }
        rc |= ic_buf_printf(&out, "%s\n  \"%s\": %s", i ? "," : "", o.v[i].key, o.v[i].val);
    }
    rc |= ic_buf_printf(&out, "\n}\n");
    for (size_t i = 0; i < o.n; i++)
        ic_free(o.v[i].val);
    json_decref(calib);
    if (rc) {
        ic_buf_free(&out);
        return ic_errf(err, IC_ERR_RANGE, "config.json: too large");
    }
    *json = ic_buf_take(&out);
    return IC_OK;
}
