/* SPDX-License-Identifier: Apache-2.0 */
/*
 * train.h - fine-tuning and evaluating a BERT intent classifier, as Hugging
 * Face's Trainer does it: seeded per-epoch shuffling, dynamic padding,
 * dropout, AdamW with linear warmup and decay, gradient clipping, a log
 * every logging_steps, an evaluation at each epoch end, the best model kept
 * by a chosen metric, early stopping, and a clean stop on request (Ctrl-C).
 *
 * The library never prints: progress, logs and evaluations reach the caller
 * through a callback (struct ic_train_event); the CLI draws the progress bar.
 * docs/training.md describes the loop and the defaults.
 */
#ifndef IC_TRAIN_H
#define IC_TRAIN_H

#include <signal.h>

#include "intent/config.h"
#include "intent/data.h"
#include "intent/ic.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ic_model;
struct ic_bert_state;

// --- metrics ----------------------------------------------------------------

/* Classification metrics over one pass. Macro averages are taken over the
 * labels that occur in the true or the predicted labels (as scikit-learn's
 * average="macro"); a precision or recall with a zero denominator is 0. */
struct ic_metrics {
    int n_labels;
    int64_t n;                 /* examples seen */
    double loss_sum;           /* sum of per-example cross-entropy */
    int64_t *confusion;        /* (n_labels, n_labels): [true][predicted] */
    /* filled by ic_metrics_finish: */
    double loss;               /* mean cross-entropy */
    double accuracy, f1_macro, precision_macro, recall_macro;
    double *precision, *recall, *f1; /* (n_labels) */
    int64_t *support;          /* (n_labels) true examples per label */
};

void ic_metrics_init(struct ic_metrics *m, int n_labels);
void ic_metrics_reset(struct ic_metrics *m);
void ic_metrics_add(struct ic_metrics *m, int true_label, int pred_label, double loss);
void ic_metrics_finish(struct ic_metrics *m);
/* Copies src into dst (dst initialised with the same n_labels, or zeroed). */
void ic_metrics_copy(struct ic_metrics *dst, const struct ic_metrics *src);
void ic_metrics_free(struct ic_metrics *m);
/* Value of a metric by name (f1_macro, accuracy, loss, precision_macro,
 * recall_macro; "eval_" prefix accepted). IC_ERR_INVAL if unknown. */
int ic_metrics_get(const struct ic_metrics *m, const char *name, double *out);

/* The evaluation report as JSON text (caller frees with ic_free):
 *   {"num_examples", "loss", "accuracy", "f1_macro", "precision_macro",
 *    "recall_macro", "per_intent": {name: {"precision","recall","f1","support"}},
 *    "labels": [names in id order],
 *    "confusion_matrix": {"labels": [...], "rows": "true", "columns": "predicted",
 *                         "matrix": [[...], ...]}}
 * plus the members of `extra` (a JSON object text, may be NULL) merged at
 * the top level (e.g. data path, model, epoch). */
char *ic_metrics_report_json(const struct ic_metrics *m, const char *const *labels,
                             const char *extra_json);

// --- tokenized data ---------------------------------------------------------

/* Texts turned into token ids ([CLS] ... [SEP], truncated to max_length),
 * packed one after another. */
struct ic_encoded {
    int32_t *ids;     /* all sequences concatenated */
    size_t *off;      /* (n) start of sequence i in ids */
    int32_t *len;     /* (n) length of sequence i */
    int32_t *label;   /* (n) */
    size_t n;
    int max_len;      /* longest sequence */
};

/* Encodes d->ex[idx[i]] for i < n_idx (idx NULL: every example) with m's
 * tokenizer. Free with ic_encoded_free. */
int ic_encode(const struct ic_model *m, const struct ic_dataset *d, const uint32_t *idx,
              size_t n_idx, int max_length, struct ic_encoded *out, struct ic_err *err) IC_WUR;
void ic_encoded_free(struct ic_encoded *e);

/* Evaluates m on e in batches of batch_size (no dropout) into out (which
 * this initialises; free with ic_metrics_free). s may be NULL (a state is
 * allocated for the call) or a state of at least batch_size x e->max_len
 * for m's config. Deterministic. */
int ic_evaluate(const struct ic_model *m, const struct ic_encoded *e, int batch_size,
                struct ic_bert_state *s, struct ic_metrics *out, struct ic_err *err) IC_WUR;

// --- calibration and out-of-scope scores (src/train/calibrate.c) ------------

struct ic_infer_opts;

/* Runs m over e in batches (no dropout) and copies each example's logits
 * (e->n, num_labels) and classifier-input features (e->n, hidden) into the
 * given arrays (either may be NULL). s as for ic_evaluate. */
int ic_forward_collect(const struct ic_model *m, const struct ic_encoded *e, int batch_size,
                       struct ic_bert_state *s, float *logits, float *feats,
                       struct ic_err *err) IC_WUR;

struct ic_calib_opts {
    const char *oos_label;      /* the data's out-of-scope class (a trained class), NULL: none */
    const char *score;          /* default score: "auto" (the best AUROC on the eval data
                                 * when it has out-of-scope examples, else mahalanobis),
                                 * "softmax", "energy" or "mahalanobis" */
    double keep;                /* without out-of-scope eval examples: the in-scope
                                 * fraction the thresholds keep (0.95) */
    double shrinkage;           /* Mahalanobis covariance shrinkage (0.01) */
    double ambiguity_threshold; /* stored with the model (0.1, Rasa's default) */
};
void ic_calib_default_opts(struct ic_calib_opts *o);

/* After training: fits the temperature on eval (NLL), the Mahalanobis
 * statistics on train's features (out-of-scope class left out), the in-scope
 * CDFs and a fallback threshold per score on eval, and stores them in
 * m->calib. *report receives the JSON text of an object with "calibration"
 * (temperature, NLL and ECE before/after, reliability tables) and
 * "out_of_scope" (per score: threshold, AUROC, FPR at 95% TPR, in-scope
 * accuracy, OOS precision/recall/F1) for eval_report.json (caller frees).
 * Eval rows labelled num_labels or more are out-of-scope examples that are
 * no class of m (used for the thresholds and the report only).
 * IC_ERR_INVAL when eval is empty. */
int ic_calibrate_model(struct ic_model *m, const struct ic_encoded *train,
                       const struct ic_encoded *eval, int batch_size, struct ic_bert_state *s,
                       const struct ic_calib_opts *o, char **report, struct ic_err *err) IC_WUR;

/* At evaluation: the same report for labelled logits/feats (n rows) under
 * m's stored calibration and the fallback settings of io (NULL: defaults).
 * labels[i] >= num_labels (or == oos_class) marks an out-of-scope example;
 * oos_class is the model's out-of-scope class or -1. With sweep, adds
 * "threshold_sweep": [{threshold, in_scope_accuracy, oos_recall, ...}]. */
int ic_calibration_report(const struct ic_model *m, const float *logits, const float *feats,
                          const int32_t *labels, size_t n, int oos_class,
                          const struct ic_infer_opts *io, int sweep, char **report,
                          struct ic_err *err) IC_WUR;

// --- training ---------------------------------------------------------------

enum ic_train_event_kind {
    IC_TRAIN_EV_BEGIN, /* before the first step (sizes known) */
    IC_TRAIN_EV_STEP,  /* after every optimizer step (for a progress bar) */
    IC_TRAIN_EV_LOG,   /* every logging_steps steps: loss, lr, grad norm, speed */
    IC_TRAIN_EV_EVAL,  /* after each epoch's evaluation */
    IC_TRAIN_EV_END    /* training loop done (before saving) */
};

struct ic_train_event {
    enum ic_train_event_kind kind;
    int64_t step, total_steps;  /* optimizer steps done / planned */
    double epoch;               /* fractional epoch */
    int epochs;                 /* planned */
    size_t n_train, n_eval;
    double loss;                /* LOG: mean train loss since the last log */
    double learning_rate;       /* LOG: lr used by the last step */
    double grad_norm;           /* LOG: pre-clip global norm of the last step */
    double examples_per_s;      /* LOG: since the last log; END: whole run */
    const struct ic_metrics *eval; /* EVAL */
    int is_best;                /* EVAL: this evaluation is the best so far */
    int bad_evals;              /* EVAL: evaluations without improvement */
};

typedef void (*ic_train_cb)(const struct ic_train_event *ev, void *ud);

struct ic_train_result {
    int from_scratch;           /* 1: no pretrained model could be had */
    char *base_model;           /* resolved base (directory) or "scratch" */
    size_t n_train, n_eval;
    int n_labels;
    int64_t steps;
    double epochs_done;
    int best_epoch;             /* 0 when nothing was evaluated */
    double best_metric;
    int early_stopped;
    int interrupted;            /* stopped by *stop */
    double train_runtime_s, train_examples_per_s;
    char *report_json;          /* eval_report.json contents, owned */
    char *output;               /* saved model directory, owned */
    char *run_id;               /* the MLflow run, owned; NULL: tracking off or no run */
    char *run_where;            /* where to look at it (ic_tracker_run_where), owned */
};

void ic_train_result_free(struct ic_train_result *r);

/* Runs the whole job the configuration describes: loads and splits the data,
 * resolves the base model (or builds one from scratch), trains, evaluates,
 * keeps the best parameters, saves them to c->output with eval_report.json,
 * and tracks the run. stop (may be NULL) is polled before every step: when
 * it becomes non-zero the loop ends, the best model so far is saved, the run
 * is marked KILLED and IC_ERR_INTERRUPTED is returned (res is filled).
 * Not reentrant (sets the kernel thread count). */
int ic_train_run(const struct ic_config *c, const volatile sig_atomic_t *stop, ic_train_cb cb,
                 void *ud, struct ic_train_result *res, struct ic_err *err) IC_WUR;

/* Started by mpirun (a build with MPI), ic_train_run is one rank of a
 * data-parallel job (docs/scale-out.md): each rank trains on its shard of
 * every batch, rank 0 alone evaluates, tracks and saves (res->output is
 * NULL on the others). Call ic_train_dist_end(exit_code) once afterwards,
 * before the process exits: 0 leaves the job (MPI_Finalize), anything else
 * ends every rank with that code (MPI_Abort), so none waits for this one.
 * A no-op in a single process. */
void ic_train_dist_end(int exit_code);

#ifdef __cplusplus
}
#endif
#endif
