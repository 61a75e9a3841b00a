/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pretrain.h - masked-language-model pretraining on unlabelled text: BERT's
 * masking, the unlabelled corpora, and the `intent pretrain` job.
 *
 * The model side (the MLM head with Hugging Face's names, its forward and
 * backward) is a struct ic_bert with cfg.mlm_head set (bert.h, src/nn/mlm.c).
 * docs/pretraining.md describes the job, its defaults and its figures.
 */
#ifndef IC_PRETRAIN_H
#define IC_PRETRAIN_H

#include <signal.h>

#include "intent/ic.h"
#include "intent/config.h"
#include "intent/tokenizer.h"
#include "intent/train.h"

#ifdef __cplusplus
extern "C" {
#endif

// --- masking ----------------------------------------------------------------

/* BERT's masking (Hugging Face DataCollatorForLanguageModeling): each
 * maskable token is chosen with probability prob; a chosen token becomes the
 * target and its input is [MASK] (80%), a random non-special token (10%) or
 * left as it is (10%). Special tokens ([CLS], [SEP], [PAD], [UNK], [MASK] and
 * their equivalents) are never chosen. With whole_word, the choice is made per
 * word (a token that continues a word, "##x" in WordPiece, a BPE or Unigram
 * piece without the word-start mark, goes with the word it continues) and
 * every token of a chosen word is a target. */
struct ic_mask_opts {
    double prob;       /* 0.15 */
    int whole_word;    /* 0 */
};

/* What masking needs to know about a vocabulary: which ids are special and
 * which continue a word. Built once from a tokenizer. */
struct ic_mask_vocab {
    size_t n;                /* vocabulary size */
    int32_t mask_id;         /* the [MASK] / <mask> id */
    unsigned char *special;  /* (n) 1: never chosen, never a random replacement */
    unsigned char *cont;     /* (n) 1: continues the previous token's word */
};
/* IC_ERR_INVAL when the tokenizer has no mask token. */
int ic_mask_vocab_init(struct ic_mask_vocab *mv, const struct ic_tokenizer *t,
                       struct ic_err *err) IC_WUR;
void ic_mask_vocab_free(struct ic_mask_vocab *mv);

/* Masks one sequence of n ids in place: labels[i] = the original id of each
 * target, -100 elsewhere. Returns the number of targets. Deterministic for a
 * given rng state. */
size_t ic_mlm_mask(int32_t *ids, int32_t *labels, size_t n, const struct ic_mask_opts *o,
                   const struct ic_mask_vocab *mv, struct ic_rng *rng);

// --- the job ----------------------------------------------------------------

/* What `intent pretrain` runs. The shared settings come from an ic_config
 * (docs/config.md): model_name (the base, unless from_scratch), output,
 * epochs, learning_rate, batch_size, max_length, seed, threads,
 * weight_decay, warmup_ratio / warmup_steps, max_grad_norm, logging_steps,
 * dropout, arch and scratch_* (from scratch), and the tracking keys. */
struct ic_pretrain_opts {
    const struct ic_config *c;
    const char *const *data;   /* corpora (ic_corpus_load) */
    size_t n_data;
    const char *const *texts;  /* and/or texts in memory (copied), before the files */
    size_t n_texts;
    int from_scratch;          /* 1: a new model with a vocabulary trained on the corpora */
    struct ic_mask_opts mask;  /* {0.15, 0} */
};
void ic_pretrain_default_opts(struct ic_pretrain_opts *o, const struct ic_config *c);

struct ic_pretrain_result {
    int from_scratch;
    char *base_model;          /* resolved base directory, or "scratch" */
    size_t n_texts;            /* texts in the corpora */
    size_t n_truncated;        /* texts cut to max_length */
    int64_t steps;
    double epochs_done;
    double last_epoch_loss;    /* mean masked-LM loss over the last (partial) epoch */
    int interrupted;
    double examples_per_s;
    char *report_json;         /* pretrain_report.json, owned */
    char *output;              /* saved directory, owned */
    char *run_id, *run_where;  /* tracked run, or NULL */
};
void ic_pretrain_result_free(struct ic_pretrain_result *r);

/* Masked-LM training as ic_train_run trains (AdamW, linear warmup and decay,
 * clipping, dropout, seeded shuffling; the same events through cb), with
 * masks drawn afresh every epoch. Saves a Hugging Face directory (config.json
 * with architectures ["BertForMaskedLM"] or the family's, model.safetensors
 * with Hugging Face names, the tokenizer, pretrain_report.json) atomically to
 * c->output; *stop ends training between steps and saves what was trained
 * (IC_ERR_INTERRUPTED). Bit-reproducible for a given seed and thread count. */
int ic_pretrain_run(const struct ic_pretrain_opts *o, const volatile sig_atomic_t *stop,
                    ic_train_cb cb, void *ud, struct ic_pretrain_result *res,
                    struct ic_err *err) IC_WUR;

#ifdef __cplusplus
}
#endif
#endif
