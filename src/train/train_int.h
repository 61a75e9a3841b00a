/* SPDX-License-Identifier: Apache-2.0 */
/*
 * train_int.h - pieces of the fine-tuning job (train.c) that the
 * pretraining job (pretrain.c) shares (internal).
 */
#ifndef IC_TRAIN_INT_H
#define IC_TRAIN_INT_H

#include "intent/data.h"
#include "intent/model.h"
#include "intent/track.h"
#include "intent/train.h"

/* A randomly initialised model of architecture c->arch (c->scratch_* shape)
 * with a vocabulary trained on texts[n] (RoBERTa: byte-level BPE, others
 * WordPiece): a classifier for labels[n_labels] (NULL: LABEL_i), or with
 * mlm a masked-LM model. */
int ic__build_scratch(struct ic_model *model, const struct ic_config *c, const char *const *texts,
                      size_t n, const char *const *labels, int n_labels, int mlm,
                      struct ic_rng *rng, struct ic_err *err) IC_WUR;

/* Packs sequences sel[0..B) of e into ids/mask (B, T) with T the longest
 * (at least 2), pads with pad_id; labels[b] = e->label. Returns T. */
int ic__pack_batch(const struct ic_encoded *e, const uint32_t *sel, int B, int pad_id,
                   int32_t *ids, int32_t *mask, int32_t *labels);

/* A data file as an MLflow dataset input (path, SHA-256, row count). */
void ic__log_dataset(struct ic_tracker *t, const struct ic_dataset *d, const char *context);

/* From scratch with c->pretrain: ic_pretrain_run on texts[n] (plus
 * c->unlabelled_data, comma-separated files) for c->pretrain_epochs, into
 * dir, untracked; progress steps go to cb. *loss: its last epoch's loss. */
int ic__pretrain_texts(const struct ic_config *c, const char *const *texts, size_t n,
                       const char *dir, const volatile sig_atomic_t *stop, ic_train_cb cb,
                       void *ud, double *loss, struct ic_err *err) IC_WUR;

#endif
