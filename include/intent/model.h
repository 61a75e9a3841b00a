/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model.h - the saved-model bundle used by train, eval, predict and serve:
 * BERT weights + tokenizer + label names + inference settings + provenance.
 *
 * On disk a model is either
 *   - a Hugging Face directory: config.json, model.safetensors (or
 *     pytorch_model.bin), vocab.txt (or tokenizer.json), tokenizer_config.json,
 *     special_tokens_map.json; we also write intent_classifier.pt there;
 *   - or our single self-contained intent_classifier.pt (a PyTorch archive
 *     holding the state_dict, config, label maps and tokenizer).
 * docs/formats.md describes both. Loading never trusts the files: every
 * problem is a status plus a message naming the file and the field.
 */
#ifndef IC_MODEL_H
#define IC_MODEL_H

#include "intent/bert.h"
#include "intent/calib.h"
#include "intent/ic.h"
#include "intent/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ic_model {
    struct ic_bert bert;     /* weights and config (bert.cfg.num_labels labels) */
    struct ic_tokenizer tok; /* WordPiece tokenizer */
    char **labels;           /* id2label: bert.cfg.num_labels strings, owned */
    int max_length;          /* max sequence length for inference (tokenizer_config
                              * model_max_length or the saved value), default 128 */
    char *base_model;        /* provenance ("prajjwal1/bert-tiny", a path, ...), may be NULL */
    int from_scratch;        /* 1: randomly initialised BERT + vocabulary trained on the data */
    struct ic_calibration calib; /* temperature and out-of-scope settings (config.json
                              * intent_temperature / intent_oos, intent_oos.safetensors);
                              * has_temperature = 0 for a model saved before them */
    struct ic_bert_prepared *prep; /* low-precision Linear weights for inference
                              * (ic_model_set_precision), owned; NULL = fp32 */
};

#define IC_MODEL_DEFAULT_MAX_LENGTH 128
#define IC_MODEL_PT_NAME "intent_classifier.pt"

/* Zeroes m (so ic_model_free is safe on it). */
void ic_model_init(struct ic_model *m);

/* Loads a saved model. path is either a Hugging Face directory (config.json +
 * model.safetensors or pytorch_model.bin + vocab.txt or tokenizer.json;
 * tokenizer_config.json optional) or our single intent_classifier.pt file.
 * A directory with only intent_classifier.pt in it also works.
 * m must be zeroed (ic_model_init) or freed; on failure m is left freed.
 * Errors: IC_ERR_IO / IC_ERR_NOTFOUND (missing file), IC_ERR_FORMAT / IC_ERR_RANGE
 * (corrupt or inconsistent files); err names the file and the problem.
 * Not thread-safe on the same m; distinct models may load concurrently. */
int ic_model_load(struct ic_model *m, const char *path, struct ic_err *err) IC_WUR;

/* Loads a pretrained base checkpoint directory for fine-tuning on num_labels
 * labels (labels[num_labels], copied; NULL gives "LABEL_<i>"): config.json,
 * weights from model.safetensors, else pytorch_model.bin, the tokenizer from
 * the directory. A checkpoint without a classifier head (BertModel, with or
 * without the "bert." prefix; pretraining heads ignored) gets a new head
 * initialised as Hugging Face does (normal(0, initializer_range), bias 0)
 * from rng. A head for a different number of labels is treated as
 * transformers' ignore_mismatched_sizes does: only the tensors whose shape
 * differs (classifier, classifier.out_proj) are new; the head's dense layer
 * (classifier.dense, pre_classifier) is loaded; a warning is logged.
 * A missing pooler is initialised the same way. base_model is set to dir. */
int ic_model_load_pretrained(struct ic_model *m, const char *dir, int num_labels,
                             const char *const *labels, struct ic_rng *rng,
                             struct ic_err *err) IC_WUR;

/* The same checkpoint as a masked-LM model (bert.cfg.mlm_head): encoder plus
 * the masked-LM head of BertForMaskedLM / RobertaForMaskedLM /
 * DistilBertForMaskedLM (cls.predictions.*, lm_head.*, vocab_*); a
 * checkpoint without one (a classifier, a BertModel) or with part of one
 * gets the missing tensors initialised from rng, said once. Pooler and
 * classifier are ignored. ELECTRA has none: IC_ERR_UNSUPPORTED. */
int ic_model_load_mlm(struct ic_model *m, const char *dir, struct ic_rng *rng,
                      struct ic_err *err) IC_WUR;

/* Saves m as out_dir/ config.json, model.safetensors, the tokenizer files
 * (vocab.txt, tokenizer_config.json, special_tokens_map.json and whatever
 * else ic_tokenizer_save_dir writes), intent_classifier.pt, plus
 * n_extra extra files (extra_names[i] -> extra_contents[i], NUL-terminated
 * text, e.g. "eval_report.json"). Everything is written into a temporary
 * sibling directory which is then renamed over out_dir: an existing out_dir
 * is replaced only once the new one is complete (its old contents are
 * removed). Does not modify m. */
int ic_model_save(const struct ic_model *m, const char *out_dir, const char *const *extra_names,
                  const char *const *extra_contents, size_t n_extra, struct ic_err *err) IC_WUR;

/* Writes only intent_classifier.pt (atomically) to path. */
int ic_model_save_pt(const struct ic_model *m, const char *path, struct ic_err *err) IC_WUR;

/* Prepares m for inference at precision p (int8, bf16; fp32 drops any
 * prepared weights): builds m->prep once from the fp32 weights, which stay.
 * Contexts created afterwards (ic_infer_init) run at that precision.
 * IC_ERR_RANGE naming the tensor when a weight is NaN or infinite. */
int ic_model_set_precision(struct ic_model *m, enum ic_precision p, struct ic_err *err) IC_WUR;
/* The precision contexts of m run at. */
enum ic_precision ic_model_precision(const struct ic_model *m);

/* Sets m->labels to a copy of labels[n] (n must equal bert.cfg.num_labels). */
void ic_model_set_labels(struct ic_model *m, const char *const *labels, int n);

/* Releases everything; m is left zeroed. Safe on a zeroed model. */
void ic_model_free(struct ic_model *m);

#ifdef __cplusplus
}
#endif
#endif
