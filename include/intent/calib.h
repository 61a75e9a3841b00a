/* SPDX-License-Identifier: Apache-2.0 */
/*
 * calib.h - calibrated confidence, out-of-scope scores and the fallback
 * decision, as plain math over arrays (no model, no I/O).
 *
 *   temperature scaling   one scalar T fitted by minimising the negative
 *                         log-likelihood of softmax(logits / T) on held-out
 *                         data (Guo et al. 2017, "On Calibration of Modern
 *                         Neural Networks")
 *   ECE                   expected calibration error over 15 equal-width
 *                         confidence bins, with the reliability table
 *   energy                T * logsumexp(logits / T) (Liu et al. 2020; the
 *                         negative free energy, higher = more in-scope)
 *   Mahalanobis           distance of a feature to the nearest class mean
 *                         under one shared (tied) covariance fitted on the
 *                         training features (Lee et al. 2018, Podolskiy et
 *                         al. 2021), inverted with shrinkage via LAPACK
 *   thresholds            chosen on a dev split: the one that keeps a target
 *                         fraction of in-scope examples, or the one with the
 *                         best F1 of the out-of-scope class; AUROC, FPR at a
 *                         TPR, in-scope accuracy / OOS precision and recall
 *   fallback              Rasa FallbackClassifier semantics: a low score or a
 *                         top-two margin under the ambiguity threshold
 *                         answers with the fallback intent
 *
 * Score convention: every out-of-scope score here is oriented so that HIGHER
 * means MORE in-scope (max probability, energy, minus the Mahalanobis
 * distance); an example is in scope when score >= threshold.
 * Allocation: ic_maha_fit / ic_maha_set (freed by ic_maha_free) and the
 * threshold helpers (a sorted copy, freed before they return). Thread-safe:
 * no global state.
 */
#ifndef IC_CALIB_H
#define IC_CALIB_H

#include <stddef.h>
#include <stdint.h>

#include "intent/ic.h"

#ifdef __cplusplus
extern "C" {
#endif

// --- temperature scaling ----------------------------------------------------

/* Range the fitted temperature is kept in (a separable set would drive T to
 * zero; an uninformative one to infinity). */
#define IC_TEMP_MIN 0.01
#define IC_TEMP_MAX 100.0

/* softmax(logits / T) of one row of L logits into probs[L] (T > 0). */
void ic_softmax_temp(float *probs, const float *logits, int L, double T);

/* Mean negative log-likelihood of labels under softmax(logits / T):
 * logits (n, L) row-major, labels (n) in [0, L). */
double ic_temp_nll(const float *logits, const int32_t *labels, size_t n, int L, double T);

/* Fits T by minimising ic_temp_nll. The NLL is convex in 1/T (a
 * log-partition function minus a linear term), so its derivative is
 * monotone: a safeguarded Newton / bisection search on 1/T finds the global
 * minimum, clamped to [IC_TEMP_MIN, IC_TEMP_MAX]. *T_out receives it.
 * IC_ERR_INVAL for n == 0, L < 2, a label out of range or a non-finite
 * logit (the message names the example). Deterministic. */
int ic_temp_fit(const float *logits, const int32_t *labels, size_t n, int L, double *T_out,
                struct ic_err *err) IC_WUR;

// --- expected calibration error ---------------------------------------------

#define IC_ECE_BINS 15

/* Reliability table: bin b holds confidences in (b/15, (b+1)/15] (bin 0 also
 * takes 0). Empty bins have count 0 and mean values 0. */
struct ic_reliability {
    int64_t count[IC_ECE_BINS];
    double confidence[IC_ECE_BINS]; /* mean confidence in the bin */
    double accuracy[IC_ECE_BINS];   /* fraction correct in the bin */
    int64_t n;
    double ece;                     /* sum_b count_b / n * |accuracy_b - confidence_b| */
};

/* Fills r from n (confidence, correct) pairs; returns r->ece (0 for n = 0). */
double ic_ece(const float *confidence, const uint8_t *correct, size_t n, struct ic_reliability *r);

// --- energy score -----------------------------------------------------------

/* T * logsumexp(logits / T) over L logits: the negative energy, higher =
 * more in-scope. */
double ic_energy_score(const float *logits, int L, double T);

// --- Mahalanobis distance with a tied covariance ----------------------------

struct ic_maha {
    int n_classes, dim;  /* C, D */
    float *means;        /* (C, D) class means */
    float *precision;    /* (D, D) inverse of the shrunk shared covariance, symmetric */
    double *pm;          /* (C, D) precision @ mean_c (derived, for scoring) */
    double *mpm;         /* (C) mean_c' precision mean_c (derived) */
};

/* Fits class means and the pooled within-class covariance
 *     S = 1/n sum_i (x_i - mu_{y_i})(x_i - mu_{y_i})'
 * on n features (n, D) with labels in [0, C), shrinks it towards a scaled
 * identity, S' = (1 - shrinkage) S + shrinkage * trace(S) / D * I, and stores
 * its inverse (Cholesky + inverse, LAPACK dpotrf/dpotri). Classes without
 * an example keep a zero mean and are never the nearest (they are skipped
 * when scoring). shrinkage in [0, 1]. IC_ERR_INVAL for bad sizes, labels or
 * non-finite values, IC_ERR_RANGE when S' is not positive definite (say a
 * zero-variance feature without shrinkage). On failure m is left zeroed. */
int ic_maha_fit(struct ic_maha *m, const float *feats, const int32_t *labels, size_t n, int C,
                int D, double shrinkage, struct ic_err *err) IC_WUR;

/* Takes over means (C, D) and precision (D, D) from storage (copies them)
 * and derives the scoring terms. IC_ERR_INVAL for non-finite values. */
int ic_maha_set(struct ic_maha *m, const float *means, const float *precision, int C, int D,
                struct ic_err *err) IC_WUR;

/* Squared distance min_c (x - mu_c)' P (x - mu_c) of one feature x (D);
 * scratch needs D doubles. *nearest (may be NULL) receives the class. */
double ic_maha_distance(const struct ic_maha *m, const float *x, double *scratch, int *nearest);

void ic_maha_free(struct ic_maha *m); /* safe on a zeroed struct */

// --- thresholds and out-of-scope metrics ------------------------------------

/* The largest threshold that keeps at least keep (0..1] of the n in-scope
 * scores (score >= threshold). n > 0. */
double ic_oos_threshold_keep(const double *in_scores, size_t n, double keep);

/* The threshold that maximises the F1 of the out-of-scope class when an
 * example is called out-of-scope iff score < threshold (is_oos[i] marks the
 * truly out-of-scope examples). Candidates are midpoints between adjacent
 * distinct scores (and just outside the extremes); ties go to the higher
 * threshold. *best_f1 (may be NULL) receives the F1. n > 0. */
double ic_oos_threshold_f1(const double *scores, const uint8_t *is_oos, size_t n,
                           double *best_f1);

/* Area under the ROC curve for telling in-scope (positive, higher score)
 * from out-of-scope: P(score_in > score_oos) + P(equal) / 2. NaN when one
 * side is empty. */
double ic_oos_auroc(const double *scores, const uint8_t *is_oos, size_t n);

/* Fraction of out-of-scope examples accepted (score >= threshold) at the
 * threshold that keeps tpr of the in-scope ones (ic_oos_threshold_keep);
 * "FPR at 95% TPR" for tpr = 0.95. NaN when one side is empty. */
double ic_oos_fpr_at_tpr(const double *scores, const uint8_t *is_oos, size_t n, double tpr);

/* Outcome counts at one threshold. pred[i] is the predicted intent, truth[i]
 * the true one; oos_label (-1: none) is the out-of-scope class id: truth ==
 * oos_label marks out-of-scope examples and pred == oos_label is an
 * out-of-scope answer whatever the score. An example is answered
 * out-of-scope when pred == oos_label or score < threshold. */
struct ic_oos_metrics {
    int64_t n_in, n_oos;
    double in_accuracy;   /* in-scope examples answered with their own intent */
    double oos_recall;    /* out-of-scope examples answered out-of-scope */
    double oos_precision; /* out-of-scope answers that were out-of-scope (0 if none) */
    double oos_f1;
    double in_kept;       /* in-scope examples not answered out-of-scope */
};
void ic_oos_metrics_at(const double *scores, const int32_t *pred, const int32_t *truth, size_t n,
                       int oos_label, double threshold, struct ic_oos_metrics *out);

/* Empirical in-scope CDF used to put unbounded scores (energy, Mahalanobis)
 * on [0, 1]: q[0..K-1] are the quantiles of in-scope reference scores at
 * k / (K - 1); ic_oos_quantiles fills them from n scores (sorted copy made
 * in scratch[n]), ic_oos_cdf maps a score to the (interpolated) fraction of
 * reference scores below it. A threshold t on that value turns away about
 * t of in-scope inputs. */
void ic_oos_quantiles(const double *scores, size_t n, double *scratch, float *q, int K);
double ic_oos_cdf(const float *q, int K, double score);

// --- fallback decision (Rasa FallbackClassifier semantics) ------------------

enum ic_fallback_reason {
    IC_FALLBACK_NONE = 0,
    IC_FALLBACK_LOW_SCORE,  /* score < threshold */
    IC_FALLBACK_AMBIGUOUS,  /* top1 - top2 < ambiguity_threshold */
    IC_FALLBACK_OOS_CLASS,  /* the top intent is the trained out-of-scope class */
};
#define IC_FALLBACK_THRESHOLD_DEFAULT 0.3
#define IC_AMBIGUITY_THRESHOLD_DEFAULT 0.1
#define IC_FALLBACK_INTENT_DEFAULT "nlu_fallback"

/* score: the in-scope score on [0, 1] (calibrated top probability, or the
 * in-scope CDF of energy / Mahalanobis); p1, p2: the two highest
 * probabilities (p2 < 0 when there is one intent only: never ambiguous).
 * A threshold of 0 disables its check. */
enum ic_fallback_reason ic_fallback_decide(double score, double p1, double p2, double threshold,
                                           double ambiguity_threshold);
const char *ic_fallback_reason_name(enum ic_fallback_reason r); /* "low_score", ... */

/* Parses a threshold in [0, 1] ("0.3"); IC_ERR_INVAL naming `what` for a
 * non-number, NaN or a value outside [0, 1]. */
int ic_parse_threshold(const char *s, const char *what, double *out, struct ic_err *err) IC_WUR;

// --- what a model stores (config.json keys + intent_oos.safetensors) -------

/* Out-of-scope scores a model can use; each is mapped onto [0, 1] for the
 * fallback threshold: softmax = the (calibrated) top probability; energy and
 * mahalanobis = the in-scope CDF of the raw score (ic_oos_cdf). */
enum ic_oos_score { IC_OOS_SOFTMAX, IC_OOS_ENERGY, IC_OOS_MAHALANOBIS, IC_OOS_NSCORES };
const char *ic_oos_score_name(enum ic_oos_score s); /* "softmax", "energy", "mahalanobis" */
int ic_oos_score_parse(const char *name, enum ic_oos_score *out);

#define IC_OOS_QUANTILES 101
#define IC_OOS_STATS_FILE "intent_oos.safetensors"
#define IC_OOS_MEANS_TENSOR "intent_oos.class_means"   /* (C, D) F32 */
#define IC_OOS_PRECISION_TENSOR "intent_oos.precision" /* (D, D) F32 */

/* Calibration and out-of-scope settings saved with a model. config.json:
 *   "intent_temperature": T,
 *   "intent_oos": {"score": "mahalanobis", "threshold": t, "ambiguity_threshold": a,
 *                  "thresholds": {"softmax": .., "energy": .., "mahalanobis": ..},
 *                  "quantiles": {"energy": [101 numbers], "mahalanobis": [...]},
 *                  "chosen_by": "...", "oos_label": "oos" | null,
 *                  "stats_file": "intent_oos.safetensors"}
 * and the Mahalanobis statistics in intent_oos.safetensors (docs/formats.md). */
struct ic_calibration {
    int has_temperature;   /* intent_temperature was stored */
    double temperature;    /* 1 when absent */
    int has_oos;           /* intent_oos was stored */
    enum ic_oos_score score;          /* the default score */
    double threshold[IC_OOS_NSCORES]; /* fallback threshold per score, on [0, 1] */
    double ambiguity_threshold;
    int has_quantiles[IC_OOS_NSCORES];
    float quantiles[IC_OOS_NSCORES][IC_OOS_QUANTILES];
    char *chosen_by;       /* how the thresholds were chosen (text), may be NULL */
    char *oos_label;       /* the out-of-scope class of the training data, may be NULL */
    struct ic_maha maha;   /* dim 0 when absent */
};

void ic_calibration_free(struct ic_calibration *c); /* safe on a zeroed struct */
/* Fills c from the JSON text of an object holding intent_temperature and/or
 * intent_oos (NULL or "{}": nothing stored, c zeroed with temperature 1).
 * Bad values are IC_ERR_FORMAT naming `name` and the field. */
int ic_calibration_from_json(struct ic_calibration *c, const char *json, const char *name,
                             struct ic_err *err) IC_WUR;
/* {"intent_oos": {...}, "intent_temperature": T} (only what is stored), or
 * NULL when nothing is. Caller frees with ic_free. */
char *ic_calibration_to_json(const struct ic_calibration *c);
/* Reads dir/intent_oos.safetensors into c->maha when c's intent_oos names
 * it; checks classes == num_labels and dim == hidden. A missing file is not
 * an error (the Mahalanobis score is then unavailable: warned once). */
int ic_calibration_load_stats(struct ic_calibration *c, const char *dir, int num_labels,
                              int hidden, struct ic_err *err) IC_WUR;
struct ic_tensors;
/* Takes the Mahalanobis statistics from ts (tensors IC_OOS_MEANS_TENSOR
 * (num_labels, hidden) and IC_OOS_PRECISION_TENSOR (hidden, hidden), F32):
 * the safetensors file's or the .pt's "intent_oos" dict. IC_ERR_FORMAT
 * naming `name` and the tensor when one is missing or misshapen. */
int ic_calibration_stats_from(struct ic_calibration *c, const struct ic_tensors *ts,
                              int num_labels, int hidden, const char *name,
                              struct ic_err *err) IC_WUR;
/* Adds those two tensors to ts (borrowing c's arrays) when c holds them. */
void ic_calibration_stats_to(const struct ic_calibration *c, struct ic_tensors *ts);
/* Writes dir/intent_oos.safetensors when c holds Mahalanobis statistics. */
int ic_calibration_save_stats(const struct ic_calibration *c, const char *dir,
                              struct ic_err *err) IC_WUR;
/* Whether score s can be computed with what c holds. */
int ic_calibration_can_score(const struct ic_calibration *c, enum ic_oos_score s);

#ifdef __cplusplus
}
#endif
#endif
