/* SPDX-License-Identifier: Apache-2.0 */
/*
 * calib_io.c - the calibration and out-of-scope settings a model carries:
 * config.json's intent_temperature / intent_oos (as JSON text that
 * hfconfig.c passes through) and the Mahalanobis statistics file
 * intent_oos.safetensors beside model.safetensors (docs/formats.md).
 * Loading validates every value and names the file and field at fault.
 */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "intent/calib.h"
#include "intent/ckpt.h"

static const char *const score_names[IC_OOS_NSCORES] = {"softmax", "energy", "mahalanobis"};

const char *ic_oos_score_name(enum ic_oos_score s)
{
    return s >= 0 && s < IC_OOS_NSCORES ? score_names[s] : "?";
}

int ic_oos_score_parse(const char *name, enum ic_oos_score *out)
{
    for (int i = 0; i < IC_OOS_NSCORES; i++)
        if (name && !strcmp(name, score_names[i])) {
            *out = (enum ic_oos_score)i;
            return IC_OK;
        }
    return IC_ERR_INVAL;
}

void ic_calibration_free(struct ic_calibration *c)
{
    if (!c)
        return;
    ic_free(c->chosen_by);
    ic_free(c->oos_label);
    ic_maha_free(&c->maha);
    memset(c, 0, sizeof *c);
    c->temperature = 1.0;
}

int ic_calibration_can_score(const struct ic_calibration *c, enum ic_oos_score s)
{
    if (s == IC_OOS_SOFTMAX)
        return 1;
    if (!c->has_quantiles[s])
        return 0;
    return s != IC_OOS_MAHALANOBIS || c->maha.dim > 0;
}

// --- JSON -------------------------------------------------------------------

static int get_unit(json_t *o, const char *key, double *out, const char *name, const char *where,
                    struct ic_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return IC_OK;
    double x = json_number_value(v);
    if (!json_is_number(v) || !(x >= 0 && x <= 1))
        return ic_errf(err, IC_ERR_FORMAT, "%s: field \"%s.%s\" must be a number in [0, 1]", name,
                       where, key);
    *out = x;
    return IC_OK;
}

static int get_text(json_t *o, const char *key, char **out, const char *name, struct ic_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return IC_OK;
    if (!json_is_string(v))
        return ic_errf(err, IC_ERR_FORMAT, "%s: field \"intent_oos.%s\" must be a string", name,
                       key);
    *out = ic_xstrdup(json_string_value(v));
    return IC_OK;
}

static int parse_quantiles(struct ic_calibration *c, json_t *q, const char *name,
                           struct ic_err *err)
{
    if (!q || json_is_null(q))
        return IC_OK;
    if (!json_is_object(q))
        return ic_errf(err, IC_ERR_FORMAT, "%s: field \"intent_oos.quantiles\" must be an object",
                       name);
    for (int s = IC_OOS_ENERGY; s < IC_OOS_NSCORES; s++) {
        json_t *a = json_object_get(q, score_names[s]);
        if (!a || json_is_null(a))
            continue;
        if (!json_is_array(a) || json_array_size(a) != IC_OOS_QUANTILES)
            return ic_errf(err, IC_ERR_FORMAT,
                           "%s: field \"intent_oos.quantiles.%s\" must be an array of %d numbers",
                           name, score_names[s], IC_OOS_QUANTILES);
        for (int k = 0; k < IC_OOS_QUANTILES; k++) {
            json_t *v = json_array_get(a, (size_t)k);
            double x = json_number_value(v);
            if (!json_is_number(v) || !isfinite(x) || (k && (float)x < c->quantiles[s][k - 1]))
                return ic_errf(err, IC_ERR_FORMAT,
                               "%s: field \"intent_oos.quantiles.%s\"[%d] must be a finite number "
                               "not below the one before", name, score_names[s], k);
            c->quantiles[s][k] = (float)x;
        }
        c->has_quantiles[s] = 1;
    }
    return IC_OK;
}

static int parse_oos(struct ic_calibration *c, json_t *o, const char *name, struct ic_err *err)
{
    if (!json_is_object(o))
        return ic_errf(err, IC_ERR_FORMAT, "%s: field \"intent_oos\" must be an object", name);
    c->has_oos = 1;
    json_t *sc = json_object_get(o, "score");
    if (sc && ic_oos_score_parse(json_string_value(sc), &c->score) != IC_OK)
        return ic_errf(err, IC_ERR_FORMAT,
                       "%s: field \"intent_oos.score\" must be \"softmax\", \"energy\" or "
                       "\"mahalanobis\"", name);
    json_t *th = json_object_get(o, "thresholds");
    if (th && !json_is_null(th) && !json_is_object(th))
        return ic_errf(err, IC_ERR_FORMAT, "%s: field \"intent_oos.thresholds\" must be an object",
                       name);
    int rc = IC_OK;
    for (int s = 0; s < IC_OOS_NSCORES && rc == IC_OK && json_is_object(th); s++)
        rc = get_unit(th, score_names[s], &c->threshold[s], name, "intent_oos.thresholds", err);
    if (rc == IC_OK)
        rc = get_unit(o, "threshold", &c->threshold[c->score], name, "intent_oos", err);
    if (rc == IC_OK)
        rc = get_unit(o, "ambiguity_threshold", &c->ambiguity_threshold, name, "intent_oos", err);
    if (rc == IC_OK)
        rc = get_text(o, "chosen_by", &c->chosen_by, name, err);
    if (rc == IC_OK)
        rc = get_text(o, "oos_label", &c->oos_label, name, err);
    if (rc == IC_OK)
        rc = parse_quantiles(c, json_object_get(o, "quantiles"), name, err);
    if (rc == IC_OK && c->score != IC_OOS_SOFTMAX && !c->has_quantiles[c->score])
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: field \"intent_oos.score\" is \"%s\" but "
                     "\"intent_oos.quantiles.%s\" is missing", name, score_names[c->score],
                     score_names[c->score]);
    return rc;
}

int ic_calibration_from_json(struct ic_calibration *c, const char *json, const char *name,
                             struct ic_err *err)
{
    memset(c, 0, sizeof *c);
    c->temperature = 1.0;
    c->ambiguity_threshold = IC_AMBIGUITY_THRESHOLD_DEFAULT;
    for (int s = 0; s < IC_OOS_NSCORES; s++)
        c->threshold[s] = s == IC_OOS_SOFTMAX ? IC_FALLBACK_THRESHOLD_DEFAULT : 0.05;
    if (!json)
        return IC_OK;
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        return ic_errf(err, IC_ERR_FORMAT, "%s: calibration keys are not a JSON object", name);
    }
    int rc = IC_OK;
    json_t *t = json_object_get(root, "intent_temperature");
    if (t && !json_is_null(t)) {
        double T = json_number_value(t);
        if (!json_is_number(t) || !(T >= IC_TEMP_MIN && T <= IC_TEMP_MAX))
            rc = ic_errf(err, IC_ERR_FORMAT,
                         "%s: field \"intent_temperature\" must be a number in [%g, %g]", name,
                         IC_TEMP_MIN, IC_TEMP_MAX);
        c->temperature = T;
        c->has_temperature = 1;
    }
    json_t *o = json_object_get(root, "intent_oos");
    if (rc == IC_OK && o && !json_is_null(o))
        rc = parse_oos(c, o, name, err);
    json_decref(root);
    if (rc != IC_OK)
        ic_calibration_free(c);
    return rc;
}

static json_t *quantiles_json(const struct ic_calibration *c)
{
    json_t *q = json_object();
    for (int s = IC_OOS_ENERGY; s < IC_OOS_NSCORES; s++) {
        if (!c->has_quantiles[s])
            continue;
        json_t *a = json_array();
        for (int k = 0; k < IC_OOS_QUANTILES; k++)
            json_array_append_new(a, json_real(c->quantiles[s][k]));
        json_object_set_new(q, score_names[s], a);
    }
    return q;
}

char *ic_calibration_to_json(const struct ic_calibration *c)
{
    if (!c->has_temperature && !c->has_oos)
        return NULL;
    json_t *root = json_object();
    if (c->has_oos) {
        json_t *o = json_object(), *th = json_object();
        json_object_set_new(o, "score", json_string(score_names[c->score]));
        json_object_set_new(o, "threshold", json_real(c->threshold[c->score]));
        json_object_set_new(o, "ambiguity_threshold", json_real(c->ambiguity_threshold));
        for (int s = 0; s < IC_OOS_NSCORES; s++)
            json_object_set_new(th, score_names[s], json_real(c->threshold[s]));
        json_object_set_new(o, "thresholds", th);
        json_object_set_new(o, "quantiles", quantiles_json(c));
        json_object_set_new(o, "chosen_by", c->chosen_by ? json_string(c->chosen_by) : json_null());
        json_object_set_new(o, "oos_label", c->oos_label ? json_string(c->oos_label) : json_null());
        json_object_set_new(o, "stats_file",
                            c->maha.dim > 0 ? json_string(IC_OOS_STATS_FILE) : json_null());
        json_object_set_new(root, "intent_oos", o);
    }
    if (c->has_temperature)
        json_object_set_new(root, "intent_temperature", json_real(c->temperature));
    char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    json_decref(root);
    char *r = s ? ic_xstrdup(s) : NULL;
    free(s);
    return r;
}

// --- intent_oos.safetensors -------------------------------------------------

static int stats_tensor(const struct ic_tensors *ts, const char *tname, int64_t rows, int64_t cols,
                        const char *path, float **out, struct ic_err *err)
{
    const struct ic_tensor *t = ic_tensors_find(ts, tname);
    if (!t)
        return ic_errf(err, IC_ERR_FORMAT, "%s: tensor \"%s\" is missing", path, tname);
    if (t->dtype != IC_DTYPE_F32 || t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols)
        return ic_errf(err, IC_ERR_FORMAT, "%s: tensor \"%s\" must be F32 of shape [%lld, %lld]",
                       path, tname, (long long)rows, (long long)cols);
    *out = (float *)t->data;
    return IC_OK;
}

int ic_calibration_load_stats(struct ic_calibration *c, const char *dir, int num_labels,
                              int hidden, struct ic_err *err)
{
    if (!c->has_oos || !c->has_quantiles[IC_OOS_MAHALANOBIS])
        return IC_OK;
    char *path = ic_path_join(dir, IC_OOS_STATS_FILE);
    if (!ic_path_exists(path)) {
        ic_free(path);
        return IC_OK;
    }
    struct ic_tensors ts;
    ic_tensors_init(&ts);
    int rc = ic_safetensors_load(path, &ts, NULL, NULL, err);
    if (rc == IC_OK)
        rc = ic_calibration_stats_from(c, &ts, num_labels, hidden, path, err);
    ic_tensors_free(&ts);
    ic_free(path);
    return rc;
}

int ic_calibration_stats_from(struct ic_calibration *c, const struct ic_tensors *ts,
                              int num_labels, int hidden, const char *name, struct ic_err *err)
{
    float *means = NULL, *prec = NULL;
    int rc = stats_tensor(ts, IC_OOS_MEANS_TENSOR, num_labels, hidden, name, &means, err);
    if (rc == IC_OK)
        rc = stats_tensor(ts, IC_OOS_PRECISION_TENSOR, hidden, hidden, name, &prec, err);
    if (rc == IC_OK) {
        rc = ic_maha_set(&c->maha, means, prec, num_labels, hidden, err);
        if (rc != IC_OK)
            ic_err_prefix(err, "%s", name);
    }
    return rc;
}

void ic_calibration_stats_to(const struct ic_calibration *c, struct ic_tensors *ts)
{
    if (c->maha.dim <= 0)
        return;
    int64_t ms[2] = {c->maha.n_classes, c->maha.dim}, ps[2] = {c->maha.dim, c->maha.dim};
    ic_tensors_add(ts, IC_OOS_MEANS_TENSOR, IC_DTYPE_F32, 2, ms, c->maha.means, 0);
    ic_tensors_add(ts, IC_OOS_PRECISION_TENSOR, IC_DTYPE_F32, 2, ps, c->maha.precision, 0);
}

int ic_calibration_save_stats(const struct ic_calibration *c, const char *dir, struct ic_err *err)
{
    if (c->maha.dim <= 0)
        return IC_OK;
    struct ic_tensors ts;
    ic_tensors_init(&ts);
    ic_calibration_stats_to(c, &ts);
    char *path = ic_path_join(dir, IC_OOS_STATS_FILE);
    int rc = ic_safetensors_save(path, &ts, NULL, 0, err);
    ic_free(path);
    ic_tensors_free(&ts);
    return rc;
}
