/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - the training configuration: one key table, defaults, the YAML
 * file (libyaml, flat mapping of scalars), INTENT_* environment variables,
 * flags, cross-key checks and --print-config output.
 *
 * It does not read argv itself (src/cli/cmd_train.c does and calls
 * ic_config_set for each flag) and does not decide which file to load.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent/bert.h"
#include "intent/calib.h"
#include "intent/config.h"
#include "core/yamlflat.h"
#include "text/unicode.h"

#define OFF(f) offsetof(struct ic_config, f)
#define S IC_CONFIG_STR
#define I IC_CONFIG_INT
#define F IC_CONFIG_FLOAT
#define B IC_CONFIG_BOOL

/* Documentation order. Defaults: see docs/config.md for the reasons. */
static const struct ic_config_key keys[] = {
    /* data, model, output */
    {"model_name", S, OFF(model_name), "prajjwal1/bert-tiny", 0, 0, NULL,
     "base model: a Hugging Face Hub id (found in the HF cache or downloaded) or a local directory"},
    {"data", S, OFF(data), "data/dataset_v2.json", 0, 0, NULL,
     "training data: JSON array, JSON Lines, CSV or TSV of {text, intent}"},
    {"eval_data", S, OFF(eval_data), "", 0, 0, NULL,
     "separate evaluation file; empty = split eval_fraction off the training data"},
    {"output", S, OFF(output), "final_model", 0, 0, NULL,
     "output directory for the best model (Hugging Face files + intent_classifier.pt + eval_report.json)"},
    {"require_pretrained", B, OFF(require_pretrained), "false", 0, 1, NULL,
     "fail instead of training from scratch when the base model cannot be had"},
    /* hyper-parameters */
    {"epochs", I, OFF(epochs), "30", 1, 100000, NULL, "maximum number of training epochs"},
    {"learning_rate", F, OFF(learning_rate), "0.0005", 1e-8, 1.0, NULL,
     "peak AdamW learning rate (after warmup, then linear decay to 0)"},
    {"batch_size", I, OFF(batch_size), "16", 1, 4096, NULL,
     "examples per optimizer step (also used for evaluation)"},
    {"max_length", I, OFF(max_length), "64", 8, 512, NULL,
     "maximum tokens per text, [CLS] and [SEP] included (longer texts are truncated)"},
    {"seed", I, OFF(seed), "42", 0, 2147483647, NULL,
     "seed for the split, initialisation, shuffling and dropout"},
    {"threads", I, OFF(threads), "0", 0, 1024, NULL, "compute threads; 0 = all cores"},
    {"weight_decay", F, OFF(weight_decay), "0.01", 0, 1, NULL,
     "AdamW decoupled weight decay (not applied to biases and LayerNorm weights)"},
    {"warmup_ratio", F, OFF(warmup_ratio), "0.1", 0, 1, NULL,
     "fraction of the optimizer steps spent warming the learning rate up from 0"},
    {"warmup_steps", I, OFF(warmup_steps), "0", 0, 100000000, NULL,
     "warmup in optimizer steps; > 0 overrides warmup_ratio"},
    {"eval_fraction", F, OFF(eval_fraction), "0.2", 0, 0.9, NULL,
     "fraction of the data held out for evaluation (stratified by intent); 0 = no evaluation"},
    {"early_stopping_patience", I, OFF(early_stopping_patience), "5", 0, 100000, NULL,
     "stop after this many evaluations without improvement of metric_for_best_model; 0 = off"},
    {"logging_steps", I, OFF(logging_steps), "50", 1, 100000000, NULL,
     "log loss, learning rate, gradient norm and speed every N optimizer steps"},
    {"metric_for_best_model", S, OFF(metric_for_best_model), "f1_macro", 0, 0, NULL,
     "evaluation metric that selects the best epoch: f1_macro, accuracy or loss"},
    {"max_grad_norm", F, OFF(max_grad_norm), "1.0", 0, 1e6, NULL,
     "gradient clipping by global L2 norm; 0 = off"},
    {"group_by_length", B, OFF(group_by_length), "false", 0, 1, NULL,
     "batch texts of similar length together (less padding, faster)"},
    {"dropout", F, OFF(dropout), "-1", -1, 0.9, NULL,
     "hidden dropout probability; -1 = the base model's own (0.1 from scratch)"},
    {"attention_dropout", F, OFF(attention_dropout), "-1", -1, 0.9, NULL,
     "attention dropout probability; -1 = the base model's own (0.1 from scratch)"},
    /* calibration and out-of-scope detection */
    {"calibrate", B, OFF(calibrate), "true", 0, 1, NULL,
     "after training, fit the temperature and the out-of-scope scores and thresholds on the evaluation split"},
    {"oos_label", S, OFF(oos_label), "", 0, 0, NULL,
     "intent of the training data that marks out-of-scope examples (e.g. oos); empty = none"},
    {"oos_score", S, OFF(oos_score), "auto", 0, 0, NULL,
     "default out-of-scope score saved with the model: auto, softmax, energy or mahalanobis"},
    {"ambiguity_threshold", F, OFF(ambiguity_threshold), "0.1", 0, 1, NULL,
     "fallback when the top two calibrated probabilities differ by less (saved with the model); 0 = off"},
    {"report", B, OFF(report), "true", 0, 1, NULL,
     "write report.html, confusion_matrix.png and training_curves.png into the output directory "
     "(docs/calibration.md; --no-report turns it off)"},
    /* from-scratch shape */
    {"scratch_hidden_size", I, OFF(scratch_hidden_size), "128", 8, 4096, NULL,
     "from scratch: hidden size"},
    {"scratch_layers", I, OFF(scratch_layers), "2", 1, 48, NULL, "from scratch: encoder layers"},
    {"scratch_heads", I, OFF(scratch_heads), "2", 1, 64, NULL,
     "from scratch: attention heads (must divide scratch_hidden_size)"},
    {"scratch_intermediate_size", I, OFF(scratch_intermediate_size), "512", 8, 16384, NULL,
     "from scratch: feed-forward size"},
    {"scratch_vocab_size", I, OFF(scratch_vocab_size), "8000", 200, 200000, NULL,
     "from scratch: maximum WordPiece vocabulary size trained on the training texts"},
    {"arch", S, OFF(arch), "bert", 0, 0, NULL,
     "from scratch: architecture: bert, roberta (byte-level BPE vocabulary), distilbert or "
     "electra"},
    {"pretrain", B, OFF(pretrain), "false", 0, 1, NULL,
     "from scratch: first pretrain the encoder by masked-LM on the training texts (and "
     "unlabelled_data), then fine-tune (--no-pretrain: off)"},
    {"pretrain_epochs", I, OFF(pretrain_epochs), "20", 1, 100000, NULL,
     "from scratch with pretrain: masked-LM epochs over the texts"},
    {"unlabelled_data", S, OFF(unlabelled_data), "", 0, 0, NULL,
     "from scratch with pretrain: more unlabelled text files (comma-separated; text, JSON, "
     "CSV, .gz) for the pretraining"},
    /* checkpoints and multi-process training (docs/scale-out.md) */
    {"epoch_checkpoint", B, OFF(epoch_checkpoint), "false", 0, 1, NULL,
     "after every epoch, save the whole training state to <output>.ckpt (for resume)"},
    {"resume", B, OFF(resume), "false", 0, 1, NULL,
     "continue from <output>.ckpt when it exists (else start afresh); implies epoch_checkpoint"},
    {"dist_timeout", F, OFF(dist_timeout), "900", 0, 604800, NULL,
     "under mpirun: seconds a rank waits in one exchange (rank 0's evaluation included) "
     "before it exits; 0 = forever"},
    /* tracking */
    {"tracking", B, OFF(tracking), "true", 0, 1, NULL,
     "log the run to MLflow (--no-tracking turns it off)"},
    {"tracking_uri", S, OFF(tracking_uri), "", 0, 0, "MLFLOW_TRACKING_URI",
     "MLflow tracking URI: http(s)://server, a path or file: URI; empty = ./mlruns"},
    {"experiment_name", S, OFF(experiment_name), "", 0, 0, "MLFLOW_EXPERIMENT_NAME",
     "MLflow experiment; empty = \"Default\""},
    {"run_name", S, OFF(run_name), "", 0, 0, NULL, "MLflow run name; empty = generated"},
    {"system_metrics_interval", F, OFF(system_metrics_interval), "10", 0, 86400, NULL,
     "seconds between background system-metrics samples; 0 = only at log steps"},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

#undef S
#undef I
#undef F
#undef B

const struct ic_config_key *ic_config_keys(size_t *n)
{
    _Static_assert(N_KEYS <= IC_CONFIG_MAX_KEYS, "raise IC_CONFIG_MAX_KEYS");
    if (n)
        *n = N_KEYS;
    return keys;
}

static int key_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

static long key_index(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (key_eq(keys[i].name, name))
            return (long)i;
    return -1;
}

const struct ic_config_key *ic_config_find(const char *name)
{
    long i = key_index(name);
    return i < 0 ? NULL : &keys[i];
}

static char **str_field(struct ic_config *c, size_t i)
{
    return (char **)((char *)c + keys[i].offset);
}
static int *int_field(struct ic_config *c, size_t i)
{
    return (int *)((char *)c + keys[i].offset);
}
static double *dbl_field(struct ic_config *c, size_t i)
{
    return (double *)((char *)c + keys[i].offset);
}

static int parse_bool(const char *s, int *out)
{
    static const char *yes[] = {"true", "yes", "on", "1", "True", "TRUE", "Yes", "YES", "On", "ON"};
    static const char *no[] = {"false", "no", "off", "0", "False", "FALSE", "No", "NO", "Off", "OFF"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Parses value for key i into the field; err names `where` and the key. */
static int set_index(struct ic_config *c, size_t i, const char *value,
                     enum ic_config_origin origin, const char *where, struct ic_err *err)
{
    const struct ic_config_key *k = &keys[i];
    switch (k->type) {
    case IC_CONFIG_STR: {
        size_t n = strlen(value);
        if (n > 4096)
            return ic_errf(err, IC_ERR_RANGE, "%s: %s: value is %zu bytes (limit 4096)", where,
                           k->name, n);
        if (!ic_utf8_valid(value, n, NULL))
            return ic_errf(err, IC_ERR_FORMAT, "%s: %s: value is not valid UTF-8", where,
                           k->name);
        char **f = str_field(c, i);
        ic_free(*f);
        *f = ic_xstrdup(value);
        break;
    }
    case IC_CONFIG_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (!*value || errno || *end || isspace((unsigned char)*value))
            return ic_errf(err, IC_ERR_INVAL, "%s: %s: expected an integer, got \"%s\"", where,
                           k->name, value);
        if ((double)v < k->min || (double)v > k->max)
            return ic_errf(err, IC_ERR_RANGE, "%s: %s: %lld is out of range [%.0f, %.0f]", where,
                           k->name, v, k->min, k->max);
        *int_field(c, i) = (int)v;
        break;
    }
    case IC_CONFIG_FLOAT: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (!*value || errno || *end || isspace((unsigned char)*value) || !isfinite(v))
            return ic_errf(err, IC_ERR_INVAL, "%s: %s: expected a number, got \"%s\"", where,
                           k->name, value);
        if (v < k->min || v > k->max)
            return ic_errf(err, IC_ERR_RANGE, "%s: %s: %g is out of range [%g, %g]", where,
                           k->name, v, k->min, k->max);
        *dbl_field(c, i) = v;
        break;
    }
    case IC_CONFIG_BOOL: {
        int v;
        if (parse_bool(value, &v) != 0)
            return ic_errf(err, IC_ERR_INVAL, "%s: %s: expected true or false, got \"%s\"", where,
                           k->name, value);
        *int_field(c, i) = v;
        break;
    }
    }
    c->origin[i] = (unsigned char)origin;
    ic_free(c->origin_detail[i]);
    c->origin_detail[i] = where ? ic_xstrdup(where) : NULL;
    return IC_OK;
}

void ic_config_init(struct ic_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_KEYS; i++) {
        int rc = set_index(c, i, keys[i].def, IC_CONFIG_DEFAULT, NULL, NULL);
        IC_ASSERT(rc == IC_OK);
    }
}

void ic_config_free(struct ic_config *c)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].type == IC_CONFIG_STR)
            ic_free(*str_field(c, i));
        ic_free(c->origin_detail[i]);
    }
    memset(c, 0, sizeof *c);
}

int ic_config_set(struct ic_config *c, const char *key, const char *value,
                  enum ic_config_origin origin, const char *where, struct ic_err *err)
{
    long i = key_index(key);
    if (i < 0)
        return ic_errf(err, IC_ERR_NOTFOUND, "%s: unknown key \"%s\"", where ? where : "config",
                       key);
    return set_index(c, (size_t)i, value ? value : "", origin, where ? where : key, err);
}

// --- YAML file --------------------------------------------------------------

#define CONFIG_FILE_MAX (1u << 20)

struct file_ctx {
    struct ic_config *c;
    const char *path;
    unsigned char seen[N_KEYS];
};

static int file_key(void *ud, char *key, size_t line, struct ic_err *err)
{
    struct file_ctx *f = ud;
    long i = key_index(key);
    /* intent serve's keys share the file (see docs/http_api.md); training
     * reads past them. */
    if (i < 0 && strncmp(key, "serve_", 6) == 0)
        return IC_OK;
    if (i < 0)
        return ic_errf(err, IC_ERR_NOTFOUND, "%s:%zu: unknown key \"%s\"", f->path, line, key);
    if (f->seen[i])
        return ic_errf(err, IC_ERR_FORMAT, "%s:%zu: key \"%s\" given twice", f->path, line, key);
    f->seen[i] = 1;
    memcpy(key, keys[i].name, strlen(keys[i].name)); /* canonical spelling, same length */
    return IC_OK;
}

static int file_pair(void *ud, const char *key, size_t key_line, const char *val,
                     size_t line, int is_null, struct ic_err *err)
{
    struct file_ctx *f = ud;
    long i = key_index(key);
    if (i < 0) /* a serve_* key (file_key let only those through) */
        return IC_OK;
    if (is_null) {
        if (keys[i].type != IC_CONFIG_STR)
            return ic_errf(err, IC_ERR_INVAL, "%s:%zu: key \"%s\": a value is required",
                           f->path, key_line, key);
        val = "";
    }
    char *where = ic_xasprintf("%s:%zu", f->path, line);
    int rc = set_index(f->c, (size_t)i, val, IC_CONFIG_FILE, where, err);
    ic_free(where);
    return rc;
}

int ic_config_load_file(struct ic_config *c, const char *path, struct ic_err *err)
{
    struct file_ctx f = {.c = c, .path = path};
    const struct ic__yaml_flat_opts o = {
        .detailed_errors = 1, .null_document_ok = 1, .on_key = file_key, .on_pair = file_pair};
    return ic__yaml_flat_read(path, CONFIG_FILE_MAX, &o, &f, err);
}

// --- environment ------------------------------------------------------------

int ic_config_apply_env(struct ic_config *c, struct ic_err *err)
{
    /* Aliases first so INTENT_* wins. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < N_KEYS; i++) {
            char name[96];
            if (pass == 0) {
                if (!keys[i].env_alias)
                    continue;
                snprintf(name, sizeof name, "%s", keys[i].env_alias);
            } else {
                size_t o = (size_t)snprintf(name, sizeof name, "INTENT_");
                for (const char *s = keys[i].name; *s && o + 1 < sizeof name; s++)
                    name[o++] = (char)toupper((unsigned char)*s);
                name[o] = 0;
            }
            const char *v = getenv(name);
            if (!v)
                continue;
            if (pass == 0 && !*v)
                continue; /* MLflow treats an empty variable as unset */
            int rc = set_index(c, i, v, IC_CONFIG_ENV, name, err);
            if (rc != IC_OK)
                return rc;
        }
    }
    return IC_OK;
}

// --- checks -----------------------------------------------------------------

int ic_config_best_metric(const char *name, const char **canonical, int *greater_is_better)
{
    static const struct {
        const char *name;
        int greater;
    } m[] = {{"f1_macro", 1}, {"accuracy", 1}, {"loss", 0}, {"precision_macro", 1},
             {"recall_macro", 1}};
    if (!name)
        return IC_ERR_INVAL;
    if (strncmp(name, "eval_", 5) == 0)
        name += 5;
    if (strcmp(name, "f1") == 0 || strcmp(name, "macro_f1") == 0)
        name = "f1_macro";
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        if (strcmp(name, m[i].name) == 0) {
            if (canonical)
                *canonical = m[i].name;
            if (greater_is_better)
                *greater_is_better = m[i].greater;
            return IC_OK;
        }
    }
    return IC_ERR_INVAL;
}

static const char *where_of(const struct ic_config *c, const char *key)
{
    long i = key_index(key);
    if (i < 0 || !c->origin_detail[i])
        return "default";
    return c->origin_detail[i];
}

int ic_config_check(const struct ic_config *c, struct ic_err *err)
{
    if (!c->data || !*c->data)
        return ic_errf(err, IC_ERR_INVAL, "%s: data: a training data file is required",
                       where_of(c, "data"));
    if (!c->output || !*c->output)
        return ic_errf(err, IC_ERR_INVAL, "%s: output: an output directory is required",
                       where_of(c, "output"));
    if (!c->model_name || !*c->model_name)
        return ic_errf(err, IC_ERR_INVAL, "%s: model_name: a base model is required",
                       where_of(c, "model_name"));
    if (ic_config_best_metric(c->metric_for_best_model, NULL, NULL) != IC_OK)
        return ic_errf(err, IC_ERR_INVAL,
                       "%s: metric_for_best_model: unknown metric \"%s\" (use f1_macro, "
                       "accuracy, loss, precision_macro or recall_macro)",
                       where_of(c, "metric_for_best_model"), c->metric_for_best_model);
    enum ic_arch a;
    if (!c->arch || ic_arch_parse(c->arch, &a) != IC_OK ||
        strcmp(c->arch, ic_arch_get(a)->model_type) != 0)
        return ic_errf(err, IC_ERR_INVAL,
                       "%s: arch: unknown architecture \"%s\" (use bert, roberta, distilbert or "
                       "electra)",
                       where_of(c, "arch"), c->arch ? c->arch : "");
    enum ic_oos_score sc;
    if (c->oos_score && strcmp(c->oos_score, "auto") && ic_oos_score_parse(c->oos_score, &sc))
        return ic_errf(err, IC_ERR_INVAL, "%s: oos_score: unknown score \"%s\" (use auto, "
                       "softmax, energy or mahalanobis)", where_of(c, "oos_score"), c->oos_score);
    if (c->scratch_hidden_size % c->scratch_heads != 0)
        return ic_errf(err, IC_ERR_INVAL,
                       "%s: scratch_heads: %d does not divide scratch_hidden_size %d",
                       where_of(c, "scratch_heads"), c->scratch_heads, c->scratch_hidden_size);
    return IC_OK;
}

// --- printing ---------------------------------------------------------------

/* libyaml's "printable" set: anything else must be escaped in a quoted scalar. */
static int yaml_printable(uint32_t c)
{
    return c == 0x0A || (c >= 0x20 && c <= 0x7E) || c == 0x85 || (c >= 0xA0 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD && c != 0xFEFF) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* Appends s as a YAML double-quoted scalar (s is valid UTF-8). */
static int yaml_quote(struct ic_buf *b, const char *s)
{
    int rc = ic_buf_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    while (rc == IC_OK && *p) {
        uint32_t c = 0;
        int n = ic__utf8_decode(p, (size_t)(end - p), &c);
        if (n == 0) /* not UTF-8 (values are checked when set, so not expected) */
            rc = ic_buf_printf(b, "\\x%02X", (unsigned)*p), n = 1;
        else if (c == '"' || c == '\\')
            rc = ic_buf_printf(b, "\\%c", (char)c);
        else if (c == '\n')
            rc = ic_buf_append(b, "\\n", 2);
        else if (c == '\t')
            rc = ic_buf_append(b, "\\t", 2);
        else if (!yaml_printable(c) || c == 0x85)
            rc = c > 0xFFFF ? ic_buf_printf(b, "\\U%08X", (unsigned)c)
                            : ic_buf_printf(b, "\\u%04X", (unsigned)c);
        else
            rc = ic_buf_append(b, p, (size_t)n);
        p += n;
    }
    if (rc == IC_OK)
        rc = ic_buf_append(b, "\"", 1);
    return rc;
}

static int needs_quotes(const char *s)
{
    const unsigned char *s_end = (const unsigned char *)s + strlen(s);
    for (const unsigned char *q = (const unsigned char *)s; *q;) {
        uint32_t c;
        int n = ic__utf8_decode(q, (size_t)(s_end - q), &c);
        if (n == 0 || !yaml_printable(c) || c == 0x85 || c == 0xA0)
            return 1;
        q += n;
    }
    if (!*s)
        return 1;
    int dummy;
    if (parse_bool(s, &dummy) == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0)
        return 1;
    char *end;
    (void)strtod(s, &end);
    if (!*end)
        return 1; /* looks like a number */
    if (strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) || isspace((unsigned char)s[strlen(s) - 1]))
        return 1;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (p[0] == ':' && (p[1] == ' ' || !p[1])) ||
            (p[0] == ' ' && p[1] == '#'))
            return 1;
    return 0;
}

char *ic_config_value_str(const struct ic_config *c, size_t i)
{
    IC_ASSERT(i < N_KEYS);
    struct ic_config *cc = (struct ic_config *)c;
    switch (keys[i].type) {
    case IC_CONFIG_STR:
        return ic_xstrdup(*str_field(cc, i) ? *str_field(cc, i) : "");
    case IC_CONFIG_INT:
        return ic_xasprintf("%d", *int_field(cc, i));
    case IC_CONFIG_BOOL:
        return ic_xstrdup(*int_field(cc, i) ? "true" : "false");
    case IC_CONFIG_FLOAT: {
        double v = *dbl_field(cc, i);
        char tmp[64];
        double a = fabs(v);
        if (v == 0 || (a >= 1e-4 && a < 1e15)) {
            /* plain decimal: the fewest decimals that read back exactly */
            for (int dec = 0; dec <= 20; dec++) {
                snprintf(tmp, sizeof tmp, "%.*f", dec, v);
                if (strtod(tmp, NULL) == v)
                    return ic_xstrdup(tmp);
            }
        }
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                return ic_xstrdup(tmp);
        }
        return ic_xasprintf("%.17g", v);
    }
    }
    return ic_xstrdup("");
}

int ic_config_print(const struct ic_config *c, struct ic_buf *b)
{
    int rc = ic_buf_printf(b, "# intent train: effective configuration (intent %s)\n"
                              "# precedence: default < config file < environment < flag\n",
                           IC_VERSION);
    for (size_t i = 0; i < N_KEYS && rc == IC_OK; i++) {
        char *v = ic_config_value_str(c, i);
        struct ic_buf line;
        ic_buf_init(&line, 0);
        rc = ic_buf_printf(&line, "%s: ", keys[i].name);
        if (rc == IC_OK) {
            if (keys[i].type == IC_CONFIG_STR && needs_quotes(v))
                rc = yaml_quote(&line, v);
            else
                rc = ic_buf_append(&line, v, strlen(v));
        }
        const char *o;
        switch (c->origin[i]) {
        case IC_CONFIG_FILE: o = "file"; break;
        case IC_CONFIG_ENV: o = "env"; break;
        case IC_CONFIG_FLAG: o = "flag"; break;
        default: o = "default"; break;
        }
        if (rc == IC_OK) {
            int pad = 44 - (int)line.len;
            if (pad < 1)
                pad = 1;
            if (c->origin[i] == IC_CONFIG_DEFAULT || !c->origin_detail[i])
                rc = ic_buf_printf(&line, "%*s# %s", pad, "", o);
            else
                rc = ic_buf_printf(&line, "%*s# %s %s", pad, "", o, c->origin_detail[i]);
        }
        if (rc == IC_OK)
            rc = ic_buf_printf(b, "%s\n", line.data);
        ic_buf_free(&line);
        ic_free(v);
    }
    return rc;
}
