/* SPDX-License-Identifier: Apache-2.0 */
/*
 * optim.c - AdamW exactly as torch.optim.AdamW (single-tensor path of torch
 * 1.13/2.x) with Hugging Face Trainer's no-decay groups, clip_grad_norm_,
 * and get_linear_schedule_with_warmup. One fused pass over the flat
 * parameter block, split between threads; no allocation in a step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "intent/optim.h"
#include "nn/ops.h"

struct ic_adamw_params ic_adamw_default_params(void)
{
    struct ic_adamw_params p = {5e-5f, 0.9f, 0.999f, 1e-8f, 0.0f};
    return p;
}

static int seg_cmp(const void *a, const void *b)
{
    size_t x = ((const struct ic_adamw_seg *)a)->lo, y = ((const struct ic_adamw_seg *)b)->lo;
    return x < y ? -1 : x > y;
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
    /* Decay groups as sorted runs of the block (the table is in HF order,
     * not block order); adjacent runs with the same setting are merged. */
    struct ic_adamw_seg *tmp = ic_xcalloc(m->n_table, sizeof *tmp);
    for (size_t i = 0; i < m->n_table; i++) {
        tmp[i].lo = m->table[i].offset;
        tmp[i].hi = m->table[i].offset + m->table[i].numel;
        tmp[i].decay = !m->table[i].no_decay;
    }
    qsort(tmp, m->n_table, sizeof *tmp, seg_cmp);
    o->segs = ic_xcalloc(m->n_table, sizeof *o->segs);
    for (size_t i = 0; i < m->n_table; i++) {
        struct ic_adamw_seg *last = o->n_segs ? &o->segs[o->n_segs - 1] : NULL;
        if (last && last->hi == tmp[i].lo && last->decay == tmp[i].decay)
            last->hi = tmp[i].hi;
        else
            o->segs[o->n_segs++] = tmp[i];
    }
    ic_free(tmp);
    IC_ASSERT(o->n_segs > 0 && o->segs[0].lo == 0 && o->segs[o->n_segs - 1].hi == o->n);
    return IC_OK;
}

void ic_adamw_free(struct ic_adamw *o)
{
    ic_free_aligned(o->m);
    ic_free_aligned(o->v);
    ic_free(o->segs);
    memset(o, 0, sizeof *o);
}

/* Splits [0, n) into one contiguous range per thread of the current team. */
static void my_range(size_t n, size_t *lo, size_t *hi)
{
#ifdef _OPENMP
    size_t nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num();
#else
    size_t nt = 1, id = 0;
#endif
    size_t per = (n + nt - 1) / nt;
    per = (per + 15) & ~(size_t)15;
    *lo = id * per < n ? id * per : n;
    *hi = *lo + per < n ? *lo + per : n;
}

IC_CLONES static void adamw_range(float *p, const float *g, float *m, float *v, size_t n,
                                  float gs, float b1, float b2, float eps, float keep,
                                  float step_size, float bc2_sqrt)
{
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * gs;
        float pi = p[i] * keep;
        float mi = m[i] * b1 + (1.0f - b1) * gi;
        float vi = v[i] * b2 + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}

void ic_adamw_step(struct ic_adamw *o, struct ic_bert *m, const float *grads, float lr)
{
    ic_adamw_step_scaled(o, m, grads, lr, 1.0f);
}

void ic_adamw_step_scaled(struct ic_adamw *o, struct ic_bert *m, const float *grads, float lr,
                          float grad_scale)
{
    IC_ASSERT(o->n == m->num_params);
    o->t++;
    const float b1 = o->p.beta1, b2 = o->p.beta2, eps = o->p.eps;
    /* torch computes these in Python floats (double). */
    double bc1 = 1.0 - pow((double)b1, (double)o->t);
    double bc2 = 1.0 - pow((double)b2, (double)o->t);
    const float step_size = (float)((double)lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float keep = 1.0f - lr * o->p.weight_decay; /* decoupled: p *= 1 - lr * wd */
    const struct ic_adamw_seg *segs = o->segs;
    size_t n = o->n, ns = o->n_segs;
#pragma omp parallel if (n > 65536)
    {
        size_t lo, hi;
        my_range(n, &lo, &hi);
        for (size_t k = 0; k < ns && lo < hi; k++) {
            size_t a = segs[k].lo > lo ? segs[k].lo : lo;
            size_t b = segs[k].hi < hi ? segs[k].hi : hi;
            if (a < b)
                adamw_range(m->params + a, grads + a, o->m + a, o->v + a, b - a, grad_scale, b1,
                            b2, eps, segs[k].decay ? keep : 1.0f, step_size, bc2_sqrt);
        }
    }
}

/* Sum of squares: 16 float lanes per block of 4096, blocks summed in double. */
IC_CLONES static double sumsq_range(const float *g, size_t n)
{
    double total = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += 4096) {
        size_t i1 = i0 + 4096 < n ? i0 + 4096 : n, i = i0;
        float acc[16] = {0};
        for (; i + 16 <= i1; i += 16)
            for (int k = 0; k < 16; k++)
                acc[k] += g[i + k] * g[i + k];
        float sum = 0.0f;
        for (int k = 0; k < 16; k++)
            sum += acc[k];
        for (; i < i1; i++)
            sum += g[i] * g[i];
        total += sum;
    }
    return total;
}

IC_CLONES static void scale_range(float *g, size_t n, float c)
{
    for (size_t i = 0; i < n; i++)
        g[i] *= c;
}

float ic_grad_norm(const float *grads, size_t n)
{
    double ss = 0.0;
#pragma omp parallel reduction(+ : ss) if (n > 65536)
    {
        size_t lo, hi;
        my_range(n, &lo, &hi);
        ss += sumsq_range(grads + lo, hi - lo);
    }
    return (float)sqrt(ss);
}

float ic_grad_clip_coef(float norm, float max_norm)
{
    if (!(max_norm > 0.0f))
        return 1.0f;
    float coef = max_norm / (norm + 1e-6f);
    return coef < 1.0f ? coef : 1.0f;
}

float ic_grad_clip(float *grads, size_t n, float max_norm)
{
    float norm = ic_grad_norm(grads, n);
    float coef = ic_grad_clip_coef(norm, max_norm);
    if (coef < 1.0f) {
#pragma omp parallel if (n > 65536)
        {
            size_t lo, hi;
            my_range(n, &lo, &hi);
            scale_range(grads + lo, hi - lo, coef);
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
