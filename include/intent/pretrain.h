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
#include "intent/tokenizer.h"

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

#ifdef __cplusplus
}
#endif
#endif
