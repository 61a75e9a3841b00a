/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report.h - the evaluation report people look at: one self-contained HTML
 * page (inline CSS and SVG, no script, nothing fetched) and PNG images,
 * written into a directory by `intent eval --report DIR` and, by default,
 * by training into the model's folder (config key `report`).
 *
 *   report.html            summary; the confusion matrix as a heat map
 *                          (svg#confusion, one rect.cell per true x
 *                          predicted pair); per-intent precision, recall,
 *                          F1 and support (table#per-intent); the
 *                          reliability diagram (svg#reliability, 15
 *                          rect.bin); the threshold curve (svg#threshold-
 *                          curve: threshold -> in-scope accuracy, in-scope
 *                          kept, OOS recall); the out-of-scope scores
 *                          (table#oos-methods); the most confused pairs with
 *                          example utterances (table#confused); the training
 *                          curves (svg#training-curves) when known
 *   confusion_matrix.png   the heat map (rows true, columns predicted)
 *   training_curves.png    training loss, evaluation loss, accuracy and
 *                          macro-F1 per epoch (only with a history)
 *
 * Every text taken from the data (intent names, utterances, paths) is
 * HTML-escaped. Files are written atomically; docs/calibration.md.
 */
#ifndef IC_REPORT_H
#define IC_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "intent/ic.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IC_REPORT_HTML "report.html"
#define IC_REPORT_CONFUSION_PNG "confusion_matrix.png"
#define IC_REPORT_CURVES_PNG "training_curves.png"

/* One epoch of training (eval_report.json "history"). */
struct ic_epoch_stat {
    int epoch;
    double train_loss;    /* mean training loss over the epoch's steps */
    double eval_loss;     /* NAN when the epoch was not evaluated */
    double eval_accuracy;
    double eval_f1_macro;
};

struct ic_report_input {
    const char *title;         /* shown at the top (say, the model), may be NULL */
    const char *report_json;   /* the evaluation report (eval_report.json layout):
                                * labels, per_intent, confusion_matrix, calibration,
                                * out_of_scope (threshold_sweep for the curve) */
    const char *const *texts;  /* (n) the evaluated texts, may be NULL */
    const int32_t *truth;      /* (n) true label ids; >= the number of labels: out of scope */
    const int32_t *pred;       /* (n) predicted label ids (argmax) */
    size_t n;                  /* 0: the confused pairs come without examples */
    const struct ic_epoch_stat *epochs; /* training history, may be NULL */
    int n_epochs;
};

/* Writes report.html, confusion_matrix.png and (with a history)
 * training_curves.png into dir (created if missing). IC_ERR_FORMAT when
 * report_json lacks the labels or the confusion matrix. */
int ic_report_write(const char *dir, const struct ic_report_input *in, struct ic_err *err) IC_WUR;

/* The history as a JSON array text [{"epoch", "train_loss", "eval_loss",
 * "eval_accuracy", "eval_f1_macro"}] (NaN as null; caller frees). */
char *ic_report_history_json(const struct ic_epoch_stat *e, int n);
/* Reads "history" from an eval_report.json text into *out (caller frees
 * with ic_free; *n = 0 and *out = NULL when there is none). */
void ic_report_history_parse(const char *report_json, struct ic_epoch_stat **out, int *n);

#ifdef __cplusplus
}
#endif
#endif
