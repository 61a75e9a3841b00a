/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unigram_train.c - the Unigram vocabulary trainer (see spm.h).
 */
#include <string.h>

#include "text/spm.h"

void ic__unigram_train_default_opts(struct ic__unigram_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_piece_chars = 16;
    o->seed_size = 1000000;
    o->shrinking_factor = 0.75;
    o->em_iters = 2;
}

int ic__unigram_train(const char *const *texts, size_t n, size_t vocab_size,
                      const struct ic__unigram_train_opts *o, char ***pieces, double **scores,
                      size_t *n_pieces, struct ic_err *err)
{
    *pieces = NULL;
    *scores = NULL;
    *n_pieces = 0;
    return ic_errf(err, IC_ERR_UNSUPPORTED, "unigram training is not available yet");
}
