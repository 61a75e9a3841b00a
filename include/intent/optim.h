/* SPDX-License-Identifier: Apache-2.0 */
/*
 * optim.h - AdamW as torch.optim.AdamW with Hugging Face Trainer's parameter
 * groups (no weight decay on biases and LayerNorm weights), global-norm
 * gradient clipping, and the linear schedule with warmup.
 */
#ifndef IC_OPTIM_H
#define IC_OPTIM_H

#include "intent/bert.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ic_adamw_params {
    float lr;           /* peak learning rate, 5e-5 */
    float beta1;        /* 0.9 */
    float beta2;        /* 0.999 */
    float eps;          /* 1e-8 */
    float weight_decay; /* 0.0 (HF default); applied decoupled, not to no_decay params */
};
struct ic_adamw_params ic_adamw_default_params(void);

/* A run of the parameter block with one weight-decay setting. */
struct ic_adamw_seg {
    size_t lo, hi;      /* [lo, hi) in floats */
    int decay;          /* 1: weight decay applies; 0: bias or LayerNorm */
};

struct ic_adamw {
    struct ic_adamw_params p;
    float *m, *v;       /* parameter layout, num_params floats each */
    float *decay;       /* unused (NULL); the segments below carry the groups */
    struct ic_adamw_seg *segs; /* sorted, covering [0, n) */
    size_t n_segs;
    size_t n;
    int64_t t;          /* steps taken */
};

int ic_adamw_init(struct ic_adamw *o, const struct ic_bert *m, const struct ic_adamw_params *p,
                  struct ic_err *err) IC_WUR;
/* One step at learning rate lr (from the schedule): updates m->params.
 * One pass over the block, split between threads; no allocation. */
void ic_adamw_step(struct ic_adamw *o, struct ic_bert *m, const float *grads, float lr);
/* The same step with every gradient multiplied by grad_scale first (fuses
 * clipping into the step: grads are only read). ic_adamw_step is
 * ic_adamw_step_scaled(..., 1.0f). */
void ic_adamw_step_scaled(struct ic_adamw *o, struct ic_bert *m, const float *grads, float lr,
                          float grad_scale);
void ic_adamw_free(struct ic_adamw *o);

/* Global L2 norm of grads; if above max_norm, scales grads by
 * max_norm / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_. Returns the
 * norm before clipping. max_norm <= 0 disables clipping. */
float ic_grad_clip(float *grads, size_t n, float max_norm);
/* Global L2 norm of grads (accumulated in double), without scaling. */
float ic_grad_norm(const float *grads, size_t n);
/* The factor clip_grad_norm_ would scale by: max_norm / (norm + 1e-6) when
 * that is below 1, else 1 (also 1 when max_norm <= 0). With
 * ic_adamw_step_scaled this replaces ic_grad_clip + ic_adamw_step. */
float ic_grad_clip_coef(float norm, float max_norm);

/* get_linear_schedule_with_warmup: lr at optimizer step `step` (0-based). */
float ic_lr_linear(int64_t step, int64_t warmup, int64_t total, float base_lr);

#ifdef __cplusplus
}
#endif
#endif
