/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resume.h - the epoch checkpoint of a training run (`<output>.ckpt`):
 * everything the loop needs to continue after epoch `epoch` exactly as an
 * uninterrupted run would (weights, AdamW m, v and step, the data order and
 * the shuffle and dropout streams, the best epoch so far with its weights
 * and confusion matrix). Written atomically (temporary file, fsync, rename).
 *
 * File: "INTENTCK" magic, u32 version, then the int64/double header fields
 * of struct ic__resume in order, then order (ntr u32), params, m, v and,
 * when have_best, best_params (num_params f32 each) and the best
 * confusion matrix (n_labels^2 i64); native byte order (the file moves
 * between runs on one kind of machine, not between architectures).
 */
#ifndef IC_RESUME_H
#define IC_RESUME_H

#include <stdint.h>

#include "intent/ic.h"

struct ic__resume {
    /* what the run must match (checked on load, errors name the field) */
    int64_t ntr, num_params, n_labels, batch_size, seed, nproc;
    /* where the loop stands */
    int64_t epoch, step, opt_t, have_best, best_epoch, bad_evals, best_n;
    double best_val, best_loss_sum;
    struct ic_rng shuffle, drop;
    /* arrays: caller-owned, sized by the fields above */
    uint32_t *order;               /* (ntr) */
    float *params, *m, *v;         /* (num_params) */
    float *best_params;            /* (num_params), read/written when have_best */
    int64_t *best_confusion;       /* (n_labels, n_labels), when have_best */
};

/* "<output>.ckpt" (caller frees). */
char *ic__resume_path(const char *output);
int ic__resume_save(const char *path, const struct ic__resume *ck, struct ic_err *err) IC_WUR;
/* Reads path into ck, whose match fields and arrays the caller filled:
 * IC_ERR_NOTFOUND when there is no file, IC_ERR_INVAL naming the first
 * field that differs, IC_ERR_FORMAT for a damaged file. */
int ic__resume_load(const char *path, struct ic__resume *ck, struct ic_err *err) IC_WUR;

#endif
