/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.h - the training configuration, in one place.
 *
 * Every setting is a key of one table (ic_config_keys): its name, type,
 * default, range and documentation. A value comes from, in increasing order
 * of precedence:
 *   1. the built-in default,
 *   2. a YAML file (`intent.yaml` in the working directory, or --config FILE):
 *      a flat mapping `key: value`,
 *   3. an environment variable INTENT_<KEY> (key upper-cased), and for the
 *      MLflow keys also MLflow's own MLFLOW_TRACKING_URI /
 *      MLFLOW_EXPERIMENT_NAME (INTENT_* wins over MLFLOW_*),
 *   4. a command-line flag --<key> with '-' for '_' (--learning-rate 3e-4).
 * The struct remembers where each value came from, so --print-config can say.
 * Unknown keys and bad values are errors that name the file, line and key (or
 * the variable, or the flag). docs/config.md lists every key.
 */
#ifndef IC_CONFIG_H
#define IC_CONFIG_H

#include "intent/ic.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ic_config_type { IC_CONFIG_STR, IC_CONFIG_INT, IC_CONFIG_FLOAT, IC_CONFIG_BOOL };
enum ic_config_origin { IC_CONFIG_DEFAULT, IC_CONFIG_FILE, IC_CONFIG_ENV, IC_CONFIG_FLAG };

/* One documented key. */
struct ic_config_key {
    const char *name;        /* "learning_rate" (flag --learning-rate, env INTENT_LEARNING_RATE) */
    enum ic_config_type type;
    size_t offset;           /* of the field in struct ic_config (char *, int or double) */
    const char *def;         /* default, as text ("" = empty/unset for strings) */
    double min, max;         /* range for numbers (inclusive) */
    const char *env_alias;   /* extra environment variable (MLflow's), or NULL */
    const char *doc;         /* one line */
};

#define IC_CONFIG_MAX_KEYS 64

struct ic_config {
    /* --- data, model, output */
    char *model_name;        /* base model: Hub id or local directory */
    char *data;              /* training data file */
    char *eval_data;         /* "" = split eval_fraction off data */
    char *output;            /* output directory */
    int require_pretrained;  /* 1: fail when the base model cannot be had */
    /* --- hyper-parameters */
    int epochs;
    double learning_rate;
    int batch_size;
    int max_length;
    int seed;
    int threads;             /* 0 = all cores */
    double weight_decay;
    double warmup_ratio;
    int warmup_steps;        /* > 0 overrides warmup_ratio */
    double eval_fraction;
    int early_stopping_patience; /* 0 = off */
    int logging_steps;
    char *metric_for_best_model; /* f1_macro, accuracy or loss (eval_ prefix accepted) */
    double max_grad_norm;    /* <= 0: no clipping */
    int group_by_length;     /* 1: length-bucketed batches */
    double dropout;          /* hidden dropout; < 0 = the base model's own */
    double attention_dropout;/* < 0 = the base model's own */
    int calibrate;           /* fit temperature and out-of-scope scores after training */
    int report;              /* write report.html and the PNG images into output */
    char *oos_label;         /* out-of-scope class of the data ("" = none) */
    char *oos_score;         /* auto, softmax, energy, mahalanobis */
    double ambiguity_threshold; /* stored with the model */
    /* --- from-scratch model shape (used when no pretrained model can be had) */
    int scratch_hidden_size;
    int scratch_layers;
    int scratch_heads;
    int scratch_intermediate_size;
    int scratch_vocab_size;
    char *arch;              /* bert, roberta, distilbert or electra */
    int pretrain;            /* from scratch: masked-LM pretraining on the texts first */
    int pretrain_epochs;
    char *unlabelled_data;   /* comma-separated extra corpora for that pretraining */
    /* --- checkpoints and multi-process training */
    int epoch_checkpoint;    /* write <output>.ckpt after every epoch */
    int resume;              /* continue from <output>.ckpt (and write it) */
    double dist_timeout;     /* seconds one MPI exchange may wait; 0 = forever */
    /* --- tracking */
    int tracking;            /* 0 = --no-tracking */
    char *tracking_uri;      /* "" = ./mlruns */
    char *experiment_name;   /* "" = MLflow's "Default" */
    char *run_name;          /* "" = generated */
    double system_metrics_interval; /* seconds; <= 0 disables the background sampler */

    /* Where each value came from (index = key index in ic_config_keys). */
    unsigned char origin[IC_CONFIG_MAX_KEYS];   /* enum ic_config_origin */
    char *origin_detail[IC_CONFIG_MAX_KEYS];    /* "intent.yaml:12", "INTENT_EPOCHS", "--epochs" */
};

/* The key table (n entries, in documentation order). Static, never freed. */
const struct ic_config_key *ic_config_keys(size_t *n);
/* Finds a key by name; '-' and '_' are interchangeable. NULL if unknown. */
const struct ic_config_key *ic_config_find(const char *name);

/* Fills c with the defaults. Free with ic_config_free. */
void ic_config_init(struct ic_config *c);
void ic_config_free(struct ic_config *c);

/* Sets key (name as in the table, '-' accepted for '_') from text. Numbers are
 * parsed strictly and range-checked; booleans accept true/false, yes/no,
 * on/off, 1/0. `where` describes the source for --print-config and for error
 * messages ("intent.yaml:3", "INTENT_EPOCHS", "--epochs"). On error c is
 * unchanged and err says "<where>: <key>: ...". IC_ERR_NOTFOUND: unknown key. */
int ic_config_set(struct ic_config *c, const char *key, const char *value,
                  enum ic_config_origin origin, const char *where, struct ic_err *err) IC_WUR;

/* Reads a YAML file: a flat mapping of known keys to scalars (an empty file or
 * an empty document is fine). Errors name the file, the line and the key:
 * "intent.yaml:7: unknown key \"lerning_rate\"". */
int ic_config_load_file(struct ic_config *c, const char *path, struct ic_err *err) IC_WUR;

/* Applies INTENT_<KEY> variables (and the MLflow aliases) from the
 * environment. Errors name the variable. */
int ic_config_apply_env(struct ic_config *c, struct ic_err *err) IC_WUR;

/* Cross-key checks (e.g. heads divide hidden size, metric name known,
 * data set). Call after all layers are applied. */
int ic_config_check(const struct ic_config *c, struct ic_err *err) IC_WUR;

/* The canonical metric key for metric_for_best_model ("f1_macro",
 * "accuracy", "loss", ...) and whether greater is better. IC_ERR_INVAL for
 * an unknown metric. */
int ic_config_best_metric(const char *name, const char **canonical, int *greater_is_better);

/* Appends the configuration as YAML to b, each line commented with where the
 * value came from ("# default", "# intent.yaml:3", "# env INTENT_EPOCHS",
 * "# flag --epochs"). The output loads back with ic_config_load_file. */
int ic_config_print(const struct ic_config *c, struct ic_buf *b) IC_WUR;

/* The value of key i as text (numbers printed so they parse back to the same
 * value). Caller frees with ic_free. */
char *ic_config_value_str(const struct ic_config *c, size_t i);

#ifdef __cplusplus
}
#endif
#endif
