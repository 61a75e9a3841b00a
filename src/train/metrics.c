/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - confusion matrix, accuracy, per-intent precision/recall/F1,
 * macro averages (scikit-learn's conventions) and the eval_report.json text.
 */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "intent/train.h"

void ic_metrics_init(struct ic_metrics *m, int n_labels)
{
    memset(m, 0, sizeof *m);
    IC_ASSERT(n_labels > 0);
    size_t L = (size_t)n_labels;
    m->n_labels = n_labels;
    m->confusion = ic_xcalloc(L * L, sizeof *m->confusion);
    m->precision = ic_xcalloc(L, sizeof *m->precision);
    m->recall = ic_xcalloc(L, sizeof *m->recall);
    m->f1 = ic_xcalloc(L, sizeof *m->f1);
    m->support = ic_xcalloc(L, sizeof *m->support);
}

void ic_metrics_reset(struct ic_metrics *m)
{
    size_t L = (size_t)m->n_labels;
    memset(m->confusion, 0, L * L * sizeof *m->confusion);
    m->n = 0;
    m->loss_sum = 0;
}

void ic_metrics_add(struct ic_metrics *m, int t, int p, double loss)
{
    IC_ASSERT(t >= 0 && t < m->n_labels && p >= 0 && p < m->n_labels);
    m->confusion[(size_t)t * (size_t)m->n_labels + (size_t)p]++;
    m->n++;
    m->loss_sum += loss;
}

void ic_metrics_finish(struct ic_metrics *m)
{
    int L = m->n_labels;
    int64_t correct = 0;
    double sp = 0, sr = 0, sf = 0;
    int used = 0;
    for (int i = 0; i < L; i++) {
        int64_t tp = m->confusion[(size_t)i * L + i], row = 0, col = 0;
        for (int j = 0; j < L; j++) {
            row += m->confusion[(size_t)i * L + j];
            col += m->confusion[(size_t)j * L + i];
        }
        correct += tp;
        m->support[i] = row;
        m->precision[i] = col ? (double)tp / (double)col : 0.0;
        m->recall[i] = row ? (double)tp / (double)row : 0.0;
        double d = m->precision[i] + m->recall[i];
        m->f1[i] = d > 0 ? 2 * m->precision[i] * m->recall[i] / d : 0.0;
        if (row || col) {
            used++;
            sp += m->precision[i];
            sr += m->recall[i];
            sf += m->f1[i];
        }
    }
    m->accuracy = m->n ? (double)correct / (double)m->n : 0.0;
    m->precision_macro = used ? sp / used : 0.0;
    m->recall_macro = used ? sr / used : 0.0;
    m->f1_macro = used ? sf / used : 0.0;
    m->loss = m->n ? m->loss_sum / (double)m->n : 0.0;
}

void ic_metrics_copy(struct ic_metrics *dst, const struct ic_metrics *src)
{
    if (dst->n_labels != src->n_labels) {
        ic_metrics_free(dst);
        ic_metrics_init(dst, src->n_labels);
    }
    size_t L = (size_t)src->n_labels;
    int64_t *c = dst->confusion, *s = dst->support;
    double *p = dst->precision, *r = dst->recall, *f = dst->f1;
    *dst = *src;
    dst->confusion = c;
    dst->support = s;
    dst->precision = p;
    dst->recall = r;
    dst->f1 = f;
    memcpy(c, src->confusion, L * L * sizeof *c);
    memcpy(s, src->support, L * sizeof *s);
    memcpy(p, src->precision, L * sizeof *p);
    memcpy(r, src->recall, L * sizeof *r);
    memcpy(f, src->f1, L * sizeof *f);
}

void ic_metrics_free(struct ic_metrics *m)
{
    if (!m)
        return;
    ic_free(m->confusion);
    ic_free(m->precision);
    ic_free(m->recall);
    ic_free(m->f1);
    ic_free(m->support);
    memset(m, 0, sizeof *m);
}

int ic_metrics_get(const struct ic_metrics *m, const char *name, double *out)
{
    if (!name)
        return IC_ERR_INVAL;
    if (strncmp(name, "eval_", 5) == 0)
        name += 5;
    if (!strcmp(name, "f1_macro") || !strcmp(name, "f1") || !strcmp(name, "macro_f1"))
        *out = m->f1_macro;
    else if (!strcmp(name, "accuracy"))
        *out = m->accuracy;
    else if (!strcmp(name, "loss"))
        *out = m->loss;
    else if (!strcmp(name, "precision_macro"))
        *out = m->precision_macro;
    else if (!strcmp(name, "recall_macro"))
        *out = m->recall_macro;
    else
        return IC_ERR_INVAL;
    return IC_OK;
}

/* JSON numbers cannot be NaN/Inf: report those as null. */
static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

char *ic_metrics_report_json(const struct ic_metrics *m, const char *const *labels,
                             const char *extra_json)
{
    int L = m->n_labels;
    json_t *o = json_object();
    json_object_set_new(o, "num_examples", json_integer(m->n));
    json_object_set_new(o, "loss", num(m->loss));
    json_object_set_new(o, "accuracy", num(m->accuracy));
    json_object_set_new(o, "f1_macro", num(m->f1_macro));
    json_object_set_new(o, "precision_macro", num(m->precision_macro));
    json_object_set_new(o, "recall_macro", num(m->recall_macro));
    json_t *per = json_object(), *names = json_array(), *mat = json_array();
    for (int i = 0; i < L; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "precision", num(m->precision[i]));
        json_object_set_new(e, "recall", num(m->recall[i]));
        json_object_set_new(e, "f1", num(m->f1[i]));
        json_object_set_new(e, "support", json_integer(m->support[i]));
        json_object_set_new(per, labels[i], e);
        json_array_append_new(names, json_string(labels[i]));
        json_t *row = json_array();
        for (int j = 0; j < L; j++)
            json_array_append_new(row, json_integer(m->confusion[(size_t)i * L + j]));
        json_array_append_new(mat, row);
    }
    json_object_set_new(o, "per_intent", per);
    json_object_set_new(o, "labels", json_deep_copy(names));
    json_t *cm = json_object();
    json_object_set_new(cm, "labels", names);
    json_object_set_new(cm, "rows", json_string("true"));
    json_object_set_new(cm, "columns", json_string("predicted"));
    json_object_set_new(cm, "matrix", mat);
    json_object_set_new(o, "confusion_matrix", cm);
    if (extra_json) {
        json_t *x = json_loads(extra_json, 0, NULL);
        if (json_is_object(x))
            json_object_update(o, x);
        json_decref(x);
    }
    size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10);
    size_t n = json_dumpb(o, NULL, 0, flags);
    char *r = ic_xmalloc(n + 2);
    n = json_dumpb(o, r, n, flags);
    r[n] = '\n';
    r[n + 1] = 0;
    json_decref(o);
    return r;
}
