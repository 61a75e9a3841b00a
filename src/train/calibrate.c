/* SPDX-License-Identifier: Apache-2.0 */
/*
 * calibrate.c - what a trained model learns about its own confidence: the
 * temperature (fitted on the evaluation split), the Mahalanobis statistics
 * (training features), the in-scope CDF of each out-of-scope score and a
 * fallback threshold per score (evaluation split), and the report of all
 * that (ECE before/after, reliability tables, out-of-scope metrics, the
 * threshold sweep) for eval_report.json and `intent eval`.
 *
 * The math lives in calib.c; this file runs the model and does the
 * bookkeeping. Scores on [0, 1] follow infer.c exactly (softmax: the
 * calibrated top probability; energy, mahalanobis: the in-scope CDF).
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "intent/calib.h"
#include "intent/infer.h"
#include "intent/model.h"
#include "intent/train.h"

#define SWEEP_STEPS 20 /* thresholds 0, 0.05, ..., 1 */

void ic_calib_default_opts(struct ic_calib_opts *o)
{
    o->oos_label = NULL;
    o->score = "auto";
    o->keep = 0.95;
    o->shrinkage = 0.01;
    o->ambiguity_threshold = IC_AMBIGUITY_THRESHOLD_DEFAULT;
}

/* Per-example values every report needs. */
struct scored {
    size_t n;
    int N;
    int32_t *pred;        /* argmax of the calibrated probabilities */
    float *p1, *p1_raw;   /* calibrated / raw top probability */
    double *p2;           /* second calibrated probability (-1 with one label) */
    double *raw[IC_OOS_NSCORES]; /* raw scores (higher = in scope); softmax: p1 */
    double *unit[IC_OOS_NSCORES]; /* on [0, 1] (filled by unit_scores) */
    uint8_t *is_oos, *correct, *correct_raw;
    uint8_t *in_model;    /* the label is one of the model's classes */
};

static void scored_free(struct scored *s)
{
    ic_free(s->pred);
    ic_free(s->p1);
    ic_free(s->p1_raw);
    ic_free(s->p2);
    for (int k = 0; k < IC_OOS_NSCORES; k++) {
        ic_free(s->raw[k]);
        ic_free(s->unit[k]);
    }
    ic_free(s->is_oos);
    ic_free(s->correct);
    ic_free(s->correct_raw);
    ic_free(s->in_model);
    memset(s, 0, sizeof *s);
}

static void top2(const float *p, int N, int *best, double *second)
{
    int b = 0;
    double s2 = -1;
    for (int j = 1; j < N; j++) {
        if (p[j] > p[b]) {
            s2 = p[b];
            b = j;
        } else if (p[j] > s2) {
            s2 = p[j];
        }
    }
    *best = b;
    *second = s2;
}

/* Probabilities at T and at 1, predictions, raw scores (Mahalanobis when
 * maha has statistics). labels >= N or == oos_class are out of scope. */
static void score_rows(struct scored *s, const float *logits, const float *feats, int H,
                       const int32_t *labels, size_t n, int N, int oos_class, double T,
                       const struct ic_maha *maha)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->N = N;
    s->pred = ic_xmalloc((n ? n : 1) * sizeof *s->pred);
    s->p1 = ic_xmalloc((n ? n : 1) * sizeof *s->p1);
    s->p1_raw = ic_xmalloc((n ? n : 1) * sizeof *s->p1_raw);
    s->p2 = ic_xmalloc((n ? n : 1) * sizeof *s->p2);
    for (int k = 0; k < IC_OOS_NSCORES; k++) {
        s->raw[k] = ic_xcalloc(n ? n : 1, sizeof *s->raw[k]);
        s->unit[k] = ic_xcalloc(n ? n : 1, sizeof *s->unit[k]);
    }
    s->is_oos = ic_xmalloc(n ? n : 1);
    s->correct = ic_xmalloc(n ? n : 1);
    s->correct_raw = ic_xmalloc(n ? n : 1);
    s->in_model = ic_xmalloc(n ? n : 1);
    float *p = ic_xmalloc((size_t)N * sizeof *p);
    double *scratch = ic_xmalloc((size_t)(H > 0 ? H : 1) * sizeof *scratch);
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * (size_t)N;
        int b, braw;
        double p2, p2raw;
        ic_softmax_temp(p, z, N, 1.0);
        top2(p, N, &braw, &p2raw);
        s->p1_raw[i] = p[braw];
        ic_softmax_temp(p, z, N, T);
        top2(p, N, &b, &p2);
        s->pred[i] = b;
        s->p1[i] = p[b];
        s->p2[i] = p2;
        s->is_oos[i] = labels[i] >= N || labels[i] < 0 || labels[i] == oos_class;
        s->correct[i] = b == labels[i];
        s->correct_raw[i] = braw == labels[i];
        s->in_model[i] = labels[i] >= 0 && labels[i] < N;
        s->raw[IC_OOS_SOFTMAX][i] = p[b];
        s->raw[IC_OOS_ENERGY][i] = ic_energy_score(z, N, 1.0);
        if (maha && maha->dim > 0 && feats)
            s->raw[IC_OOS_MAHALANOBIS][i] =
                -ic_maha_distance(maha, feats + i * (size_t)H, scratch, NULL);
    }
    ic_free(p);
    ic_free(scratch);
}

/* unit[k] from raw[k]: softmax as is, the others through cal's CDFs. */
static void unit_scores(struct scored *s, const struct ic_calibration *cal)
{
    for (size_t i = 0; i < s->n; i++) {
        s->unit[IC_OOS_SOFTMAX][i] = s->raw[IC_OOS_SOFTMAX][i];
        for (int k = IC_OOS_ENERGY; k < IC_OOS_NSCORES; k++)
            s->unit[k][i] = cal->has_quantiles[k]
                            ? ic_oos_cdf(cal->quantiles[k], IC_OOS_QUANTILES, s->raw[k][i])
                            : 0.0;
    }
}

/* The score the fallback acts on: -1 (always turned away) where the
 * ambiguity check or the out-of-scope class already answers the fallback. */
static double *effective(const struct scored *s, int k, double amb, int oos_class)
{
    double *e = ic_xmalloc((s->n ? s->n : 1) * sizeof *e);
    for (size_t i = 0; i < s->n; i++) {
        int ambiguous = amb > 0 && s->p2[i] >= 0 && s->p1[i] - s->p2[i] < amb;
        e[i] = ambiguous || (oos_class >= 0 && s->pred[i] == oos_class) ? -1.0 : s->unit[k][i];
    }
    return e;
}

static size_t count_oos(const struct scored *s)
{
    size_t c = 0;
    for (size_t i = 0; i < s->n; i++)
        c += s->is_oos[i];
    return c;
}

// --- JSON pieces --------------------------------------------------------------

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *reliability_json(const struct ic_reliability *r)
{
    json_t *a = json_array();
    for (int b = 0; b < IC_ECE_BINS; b++) {
        json_t *o = json_object();
        json_object_set_new(o, "bin_lower", json_real((double)b / IC_ECE_BINS));
        json_object_set_new(o, "bin_upper", json_real((double)(b + 1) / IC_ECE_BINS));
        json_object_set_new(o, "count", json_integer(r->count[b]));
        json_object_set_new(o, "confidence", num(r->count[b] ? r->confidence[b] : NAN));
        json_object_set_new(o, "accuracy", num(r->count[b] ? r->accuracy[b] : NAN));
        json_array_append_new(a, o);
    }
    return a;
}

/* ECE and reliability before (raw softmax) and after (temperature T) over
 * the examples whose label is a class of the model. */
static json_t *calibration_json(const struct scored *s, double T, double nll_before,
                                double nll_after)
{
    float *c0 = ic_xmalloc((s->n ? s->n : 1) * sizeof *c0);
    float *c1 = ic_xmalloc((s->n ? s->n : 1) * sizeof *c1);
    uint8_t *k0 = ic_xmalloc(s->n ? s->n : 1), *k1 = ic_xmalloc(s->n ? s->n : 1);
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->in_model[i])
            continue; /* no right answer among the model's classes */
        c0[m] = s->p1_raw[i];
        c1[m] = s->p1[i];
        k0[m] = s->correct_raw[i];
        k1[m] = s->correct[i];
        m++;
    }
    struct ic_reliability before, after;
    ic_ece(c0, k0, m, &before);
    ic_ece(c1, k1, m, &after);
    json_t *o = json_object();
    json_object_set_new(o, "temperature", json_real(T));
    json_object_set_new(o, "num_examples", json_integer((json_int_t)m));
    if (isfinite(nll_before)) {
        json_object_set_new(o, "nll_before", num(nll_before));
        json_object_set_new(o, "nll_after", num(nll_after));
    }
    json_object_set_new(o, "ece_before", num(before.ece));
    json_object_set_new(o, "ece_after", num(after.ece));
    json_object_set_new(o, "ece_bins", json_integer(IC_ECE_BINS));
    json_object_set_new(o, "reliability_before", reliability_json(&before));
    json_object_set_new(o, "reliability_after", reliability_json(&after));
    ic_free(c0);
    ic_free(c1);
    ic_free(k0);
    ic_free(k1);
    return o;
}

/* Out-of-scope metrics of one score at threshold thr. */
static json_t *method_json(const struct scored *s, const int32_t *labels, int k, double thr,
                           double amb, int oos_class)
{
    double *e = effective(s, k, amb, oos_class);
    struct ic_oos_metrics m;
    int32_t *truth = ic_xmalloc((s->n ? s->n : 1) * sizeof *truth);
    const int OOS = s->N; /* one id for "out of scope", past the model's classes */
    for (size_t i = 0; i < s->n; i++)
        truth[i] = s->is_oos[i] ? OOS : labels[i];
    ic_oos_metrics_at(e, s->pred, truth, s->n, OOS, thr, &m);
    json_t *o = json_object();
    json_object_set_new(o, "threshold", json_real(thr));
    if (count_oos(s) && count_oos(s) < s->n) {
        json_object_set_new(o, "auroc", num(ic_oos_auroc(s->raw[k], s->is_oos, s->n)));
        json_object_set_new(o, "fpr_at_95_tpr",
                            num(ic_oos_fpr_at_tpr(s->raw[k], s->is_oos, s->n, 0.95)));
    }
    json_object_set_new(o, "in_scope_accuracy", num(m.in_accuracy));
    json_object_set_new(o, "in_scope_kept", num(m.in_kept));
    if (m.n_oos) {
        json_object_set_new(o, "oos_recall", num(m.oos_recall));
        json_object_set_new(o, "oos_precision", num(m.oos_precision));
        json_object_set_new(o, "oos_f1", num(m.oos_f1));
    }
    ic_free(truth);
    ic_free(e);
    return o;
}

/* The trained out-of-scope class alone (CLINC150's oos-train): threshold 0. */
static json_t *oos_class_json(const struct scored *s, const int32_t *labels, int oos_class)
{
    json_t *o = method_json(s, labels, IC_OOS_SOFTMAX, 0.0, 0.0, oos_class);
    json_object_del(o, "auroc");
    json_object_del(o, "fpr_at_95_tpr");
    return o;
}

static json_t *sweep_json(const struct scored *s, const int32_t *labels, int k, double amb,
                          int oos_class)
{
    json_t *a = json_array();
    for (int t = 0; t <= SWEEP_STEPS; t++) {
        json_t *o = method_json(s, labels, k, (double)t / SWEEP_STEPS, amb, oos_class);
        json_object_del(o, "auroc");
        json_object_del(o, "fpr_at_95_tpr");
        json_array_append_new(a, o);
    }
    return a;
}

static char *dump(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    char *r = s ? ic_xstrdup(s) : ic_xstrdup("{}");
    free(s);
    return r;
}

/* NLL before and after over the rows with a class of the model. */
static void add_nll(json_t *cal, const float *lg, const struct ic_encoded *ev, int N, double T)
{
    double b = 0, a = 0;
    size_t k = 0;
    for (size_t i = 0; i < ev->n; i++) {
        if (ev->label[i] < 0 || ev->label[i] >= N)
            continue;
        b += ic_temp_nll(lg + i * (size_t)N, ev->label + i, 1, N, 1.0);
        a += ic_temp_nll(lg + i * (size_t)N, ev->label + i, 1, N, T);
        k++;
    }
    json_object_set_new(cal, "nll_before", num(k ? b / (double)k : NAN));
    json_object_set_new(cal, "nll_after", num(k ? a / (double)k : NAN));
}

// --- fitting ------------------------------------------------------------------

static int label_index(const struct ic_model *m, const char *name)
{
    for (int i = 0; name && *name && i < m->bert.cfg.num_labels; i++)
        if (m->labels && m->labels[i] && !strcmp(m->labels[i], name))
            return i;
    return -1;
}

/* The temperature on the eval rows whose label is a class of the model
 * (out-of-scope rows outside the label set have no right answer). */
static int fit_temperature(const float *lg, const struct ic_encoded *ev, int N, double *T,
                           struct ic_err *err)
{
    float *z = ic_xmalloc(ev->n * (size_t)N * sizeof *z);
    int32_t *y = ic_xmalloc(ev->n * sizeof *y);
    size_t k = 0;
    for (size_t i = 0; i < ev->n; i++) {
        if (ev->label[i] < 0 || ev->label[i] >= N)
            continue;
        memcpy(z + k * (size_t)N, lg + i * (size_t)N, (size_t)N * sizeof *z);
        y[k++] = ev->label[i];
    }
    int rc = ic_temp_fit(z, y, k, N, T, err);
    ic_free(z);
    ic_free(y);
    return rc;
}

/* Mahalanobis statistics on the training features, the out-of-scope class
 * left out (its mean stays empty). */
static int fit_maha(struct ic_model *m, const float *feats, const struct ic_encoded *tr,
                    int oos_class, double shrinkage, struct ic_err *err)
{
    size_t H = (size_t)m->bert.cfg.hidden_size, k = 0;
    float *x = ic_xmalloc((tr->n ? tr->n : 1) * H * sizeof *x);
    int32_t *y = ic_xmalloc((tr->n ? tr->n : 1) * sizeof *y);
    for (size_t i = 0; i < tr->n; i++) {
        if (tr->label[i] == oos_class || tr->label[i] < 0 ||
            tr->label[i] >= m->bert.cfg.num_labels)
            continue;
        memcpy(x + k * H, feats + i * H, H * sizeof *x);
        y[k++] = tr->label[i];
    }
    int rc = k ? ic_maha_fit(&m->calib.maha, x, y, k, m->bert.cfg.num_labels, (int)H, shrinkage,
                             err)
               : ic_errf(err, IC_ERR_INVAL, "no in-scope training example to fit on");
    ic_free(x);
    ic_free(y);
    return rc;
}

/* In-scope CDFs of energy and Mahalanobis from the in-scope eval rows. */
static void fit_quantiles(struct ic_calibration *cal, const struct scored *s)
{
    double *v = ic_xmalloc((s->n ? s->n : 1) * sizeof *v);
    double *scratch = ic_xmalloc((s->n ? s->n : 1) * sizeof *scratch);
    for (int k = IC_OOS_ENERGY; k < IC_OOS_NSCORES; k++) {
        if (k == IC_OOS_MAHALANOBIS && cal->maha.dim <= 0)
            continue;
        size_t c = 0;
        for (size_t i = 0; i < s->n; i++)
            if (!s->is_oos[i])
                v[c++] = s->raw[k][i];
        if (!c)
            continue;
        ic_oos_quantiles(v, c, scratch, cal->quantiles[k], IC_OOS_QUANTILES);
        cal->has_quantiles[k] = 1;
    }
    ic_free(v);
    ic_free(scratch);
}

/* A threshold per score: the best out-of-scope F1 when eval has out-of-scope
 * examples, else the one keeping `keep` of the in-scope ones. */
static void choose_thresholds(struct ic_calibration *cal, const struct scored *s, double keep,
                              int oos_class)
{
    size_t n_oos = count_oos(s);
    double *in = ic_xmalloc((s->n ? s->n : 1) * sizeof *in);
    for (int k = 0; k < IC_OOS_NSCORES; k++) {
        if (!ic_calibration_can_score(cal, (enum ic_oos_score)k))
            continue;
        double *e = effective(s, k, cal->ambiguity_threshold, oos_class), t;
        if (n_oos) {
            t = ic_oos_threshold_f1(e, s->is_oos, s->n, NULL);
        } else {
            size_t c = 0;
            for (size_t i = 0; i < s->n; i++)
                in[c++] = e[i];
            t = ic_oos_threshold_keep(in, c, keep);
        }
        cal->threshold[k] = t < 0 ? 0 : (t > 1 ? 1 : t);
        ic_free(e);
    }
    ic_free(in);
    char buf[160];
    if (n_oos)
        snprintf(buf, sizeof buf, "best out-of-scope F1 on the evaluation split (%zu out-of-scope "
                 "of %zu)", n_oos, s->n);
    else
        snprintf(buf, sizeof buf, "keep %.3g of the in-scope examples of the evaluation split",
                 keep);
    ic_free(cal->chosen_by);
    cal->chosen_by = ic_xstrdup(buf);
}

/* The default score: as asked, or the best AUROC with out-of-scope data. */
static int choose_score(struct ic_calibration *cal, const struct scored *s, const char *want,
                        struct ic_err *err)
{
    /* Without out-of-scope data: Mahalanobis, the best AUROC on CLINC150's dev
     * split (docs/calibration.md), when it could be fitted. */
    enum ic_oos_score k = ic_calibration_can_score(cal, IC_OOS_MAHALANOBIS) ? IC_OOS_MAHALANOBIS
                          : IC_OOS_SOFTMAX;
    if (want && strcmp(want, "auto") != 0) {
        if (ic_oos_score_parse(want, &k) != IC_OK)
            return ic_errf(err, IC_ERR_INVAL, "oos_score \"%s\": expected auto, softmax, energy "
                           "or mahalanobis", want);
        if (!ic_calibration_can_score(cal, k))
            return ic_errf(err, IC_ERR_INVAL, "oos_score \"%s\" could not be fitted", want);
    } else if (count_oos(s) && count_oos(s) < s->n) {
        double best = -1;
        for (int j = 0; j < IC_OOS_NSCORES; j++) {
            double a = ic_calibration_can_score(cal, (enum ic_oos_score)j)
                       ? ic_oos_auroc(s->raw[j], s->is_oos, s->n) : -1;
            if (a > best) {
                best = a;
                k = (enum ic_oos_score)j;
            }
        }
    }
    cal->score = k;
    return IC_OK;
}

static json_t *oos_json(const struct ic_calibration *cal, const struct scored *s,
                        const int32_t *labels, int oos_class, double amb, const double *thr,
                        enum ic_oos_score active)
{
    json_t *o = json_object(), *methods = json_object();
    json_object_set_new(o, "score", json_string(ic_oos_score_name(active)));
    json_object_set_new(o, "threshold", json_real(thr[active]));
    json_object_set_new(o, "ambiguity_threshold", json_real(amb));
    if (cal->chosen_by)
        json_object_set_new(o, "chosen_by", json_string(cal->chosen_by));
    json_object_set_new(o, "num_out_of_scope", json_integer((json_int_t)count_oos(s)));
    for (int k = 0; k < IC_OOS_NSCORES; k++)
        if (ic_calibration_can_score(cal, (enum ic_oos_score)k))
            json_object_set_new(methods, ic_oos_score_name((enum ic_oos_score)k),
                                method_json(s, labels, k, thr[k], amb, oos_class));
    if (oos_class >= 0)
        json_object_set_new(methods, "oos_class", oos_class_json(s, labels, oos_class));
    json_object_set_new(o, "methods", methods);
    return o;
}

int ic_calibrate_model(struct ic_model *m, const struct ic_encoded *train,
                       const struct ic_encoded *eval, int batch_size, struct ic_bert_state *st,
                       const struct ic_calib_opts *o, char **report, struct ic_err *err)
{
    *report = NULL;
    int N = m->bert.cfg.num_labels, H = m->bert.cfg.hidden_size;
    int oos_class = label_index(m, o->oos_label); /* -1: not a class (rows >= N are) */
    if (!eval || eval->n == 0)
        return ic_errf(err, IC_ERR_INVAL, "calibration needs an evaluation split");
    struct ic_calibration *cal = &m->calib;
    ic_calibration_free(cal);
    float *lg = ic_xmalloc(eval->n * (size_t)N * sizeof *lg);
    float *fe = ic_xmalloc(eval->n * (size_t)H * sizeof *fe);
    float *ft = ic_xmalloc((train->n ? train->n : 1) * (size_t)H * sizeof *ft);
    struct scored s;
    memset(&s, 0, sizeof s);
    double T = 1;
    int rc = ic_forward_collect(m, eval, batch_size, st, lg, fe, err);
    if (rc == IC_OK)
        rc = ic_forward_collect(m, train, batch_size, st, NULL, ft, err);
    if (rc == IC_OK)
        rc = fit_temperature(lg, eval, N, &T, err);
    if (rc == IC_OK && fit_maha(m, ft, train, oos_class, o->shrinkage, err) != IC_OK) {
        ic_log(IC_LOG_WARN, "no Mahalanobis statistics: %s", err ? err->msg : "fit failed");
        rc = IC_OK;
    }
    if (rc != IC_OK)
        goto out;
    cal->has_temperature = 1;
    cal->temperature = T;
    cal->has_oos = 1;
    cal->ambiguity_threshold = o->ambiguity_threshold;
    cal->oos_label = oos_class >= 0 ? ic_xstrdup(o->oos_label) : NULL;
    score_rows(&s, lg, fe, H, eval->label, eval->n, N, oos_class, T, &cal->maha);
    fit_quantiles(cal, &s);
    unit_scores(&s, cal);
    choose_thresholds(cal, &s, o->keep, oos_class);
    rc = choose_score(cal, &s, o->score, err);
    if (rc != IC_OK)
        goto out;
    json_t *r = json_object();
    json_object_set_new(r, "calibration", calibration_json(&s, T, NAN, NAN));
    add_nll(json_object_get(r, "calibration"), lg, eval, N, T);
    json_object_set_new(r, "out_of_scope", oos_json(cal, &s, eval->label, oos_class,
                                                    cal->ambiguity_threshold, cal->threshold,
                                                    cal->score));
    json_object_set_new(json_object_get(r, "out_of_scope"), "threshold_sweep",
                        sweep_json(&s, eval->label, cal->score, cal->ambiguity_threshold,
                                   oos_class));
    *report = dump(r);
    json_decref(r);
out:
    if (rc != IC_OK)
        ic_calibration_free(cal);
    scored_free(&s);
    ic_free(lg);
    ic_free(fe);
    ic_free(ft);
    return rc;
}

// --- the evaluation-time report ---------------------------------------------

int ic_calibration_report(const struct ic_model *m, const float *logits, const float *feats,
                          const int32_t *labels, size_t n, int oos_class,
                          const struct ic_infer_opts *io, int sweep, char **report,
                          struct ic_err *err)
{
    struct ic_infer_opts def;
    if (!io) {
        ic_infer_default_opts(&def);
        io = &def;
    }
    const struct ic_calibration *cal = &m->calib;
    int N = m->bert.cfg.num_labels;
    double T = io->no_calibration || !cal->has_temperature ? 1.0 : cal->temperature;
    enum ic_oos_score k = cal->has_oos && ic_calibration_can_score(cal, cal->score) ? cal->score
                          : IC_OOS_SOFTMAX;
    if (io->oos_score >= 0) {
        if (io->oos_score >= IC_OOS_NSCORES || !ic_calibration_can_score(cal, io->oos_score))
            return ic_errf(err, IC_ERR_INVAL, "out-of-scope score \"%s\": the model stores no "
                           "statistics for it", ic_oos_score_name(io->oos_score));
        k = (enum ic_oos_score)io->oos_score;
    }
    double thr[IC_OOS_NSCORES];
    for (int j = 0; j < IC_OOS_NSCORES; j++)
        thr[j] = io->fallback_threshold >= 0 ? io->fallback_threshold
                 : cal->has_oos ? cal->threshold[j] : 0;
    double amb = io->ambiguity_threshold >= 0 ? io->ambiguity_threshold
                 : cal->has_oos ? cal->ambiguity_threshold : 0;
    struct scored s;
    score_rows(&s, logits, feats, m->bert.cfg.hidden_size, labels, n, N, oos_class, T, &cal->maha);
    unit_scores(&s, cal);
    json_t *r = json_object();
    json_object_set_new(r, "calibration", calibration_json(&s, T, NAN, NAN));
    json_object_set_new(r, "out_of_scope", oos_json(cal, &s, labels, oos_class, amb, thr, k));
    if (sweep)
        json_object_set_new(json_object_get(r, "out_of_scope"), "threshold_sweep",
                            sweep_json(&s, labels, k, amb, oos_class));
    *report = dump(r);
    json_decref(r);
    scored_free(&s);
    return IC_OK;
}
