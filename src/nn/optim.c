/*
 * optim.c - AdamW exactly as torch.optim.AdamW (single-tensor path of torch
 * 1.13/2.x) with Hugging Face Trainer's no-decay groups, clip_grad_norm_,
 * and get_linear_schedule_with_warmup. One fused pass over the flat
 * parameter block, split between threads; no allocation in a step.
 */
#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "intent/optim.h"

struct ic_adamw_params ic_adamw_default_params(void)
{
    struct ic_adamw_params p = {5e-5f, 0.9f, 0.999f, 1e-8f, 0.0f};
    return p;
}

int ic_adamw_init(struct ic_adamw *o, const struct ic_bert *m, const struct ic_adamw_params *p,
                  struct ic_err *err)
{
    memset(o, 0, sizeof *o);
    if (!(p->lr >= 0.0f) || !(p->beta1 >= 0.0f && p->beta1 < 1.0f) ||
        !(p->beta2 >= 0.0f && p->beta2 < 1.0f) || !(p->eps >= 0.0f) ||
        !(p->weight_decay >= 0.0f))
        return ic_errf(err, IC_ERR_RANGE,
                       "adamw: invalid hyper-parameters (lr %g, betas %g %g, eps %g, wd %g)",
                       (double)p->lr, (double)p->beta1, (double)p->beta2, (double)p->eps,
                       (double)p->weight_decay);
    o->p = *p;
    o->n = m->num_params;
    o->m = ic_alloc_aligned(o->n * sizeof(float));
    o->v = ic_alloc_aligned(o->n * sizeof(float));
    /* Per-float decay mask (1: decayed, 0: bias/LayerNorm), from the table. */
    o->decay = ic_alloc_aligned(o->n * sizeof(float));
    for (size_t i = 0; i < m->n_table; i++) {
        const struct ic_param *t = &m->table[i];
        float f = t->no_decay ? 0.0f : 1.0f;
        for (size_t j = 0; j < t->numel; j++)
            o->decay[t->offset + j] = f;
    }
    o->t = 0;
    return IC_OK;
}

void ic_adamw_free(struct ic_adamw *o)
{
    ic_free_aligned(o->m);
    ic_free_aligned(o->v);
    ic_free_aligned(o->decay);
    memset(o, 0, sizeof *o);
}

void ic_adamw_step(struct ic_adamw *o, struct ic_bert *m, const float *grads, float lr)
{
    IC_ASSERT(o->n == m->num_params);
    o->t++;
    const float b1 = o->p.beta1, b2 = o->p.beta2, eps = o->p.eps;
    /* torch computes these in Python floats (double). */
    double bc1 = 1.0 - pow((double)b1, (double)o->t);
    double bc2 = 1.0 - pow((double)b2, (double)o->t);
    const float step_size = (float)((double)lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float wd = lr * o->p.weight_decay;
    float *p = m->params, *mm = o->m, *vv = o->v;
    const float *dm = o->decay;
    size_t n = o->n;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        float pi = p[i] * (1.0f - wd * dm[i]);
        float mi = mm[i] * b1 + (1.0f - b1) * g;
        float vi = vv[i] * b2 + (1.0f - b2) * g * g;
        mm[i] = mi;
        vv[i] = vi;
        p[i] = pi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}

float ic_grad_clip(float *grads, size_t n, float max_norm)
{
    double ss = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : ss) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        ss += (double)grads[i] * grads[i];
    float norm = (float)sqrt(ss);
    if (max_norm > 0.0f) {
        float coef = max_norm / (norm + 1e-6f);
        if (coef < 1.0f) {
#pragma omp parallel for schedule(static) if (n > 65536)
            for (size_t i = 0; i < n; i++)
                grads[i] *= coef;
        }
    }
    return norm;
}

float ic_lr_linear(int64_t step, int64_t warmup, int64_t total, float base_lr)
{
    double f;
    if (step < warmup)
        f = (double)step / (double)(warmup > 1 ? warmup : 1);
    else {
        int64_t d = total - warmup;
        f = (double)(total - step) / (double)(d > 1 ? d : 1);
        if (f < 0.0)
            f = 0.0;
    }
    return (float)(f * base_lr);
}
