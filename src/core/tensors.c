/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tensors.c - the named tensor list shared by checkpoint I/O and the model.
 */
#include <string.h>

#include "intent/tensors.h"

static const size_t dtype_sizes[IC_DTYPE_COUNT] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};
static const char *dtype_names[IC_DTYPE_COUNT] = {"F32", "F16", "BF16", "F64", "I64",
                                                  "I32", "I16", "I8",   "U8",  "BOOL"};

size_t ic_dtype_size(enum ic_dtype dt)
{
    return (unsigned)dt < IC_DTYPE_COUNT ? dtype_sizes[dt] : 0;
}

const char *ic_dtype_name(enum ic_dtype dt)
{
    return (unsigned)dt < IC_DTYPE_COUNT ? dtype_names[dt] : "?";
}

void ic_tensors_init(struct ic_tensors *ts)
{
    ts->v = NULL;
    ts->n = ts->cap = 0;
}

void ic_tensors_free(struct ic_tensors *ts)
{
    for (size_t i = 0; i < ts->n; i++) {
        if (ts->v[i].owned) {
            ic_free(ts->v[i].name);
            if (ts->v[i].owned == 1)
                ic_free(ts->v[i].data);
        }
    }
    ic_free(ts->v);
    ic_tensors_init(ts);
}

int64_t ic_tensor_numel(const struct ic_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

struct ic_tensor *ic_tensors_add(struct ic_tensors *ts, const char *name, enum ic_dtype dt,
                                 int ndim, const int64_t *shape, const void *data, int copy)
{
    IC_ASSERT(ndim >= 0 && ndim <= IC_TENSOR_MAX_DIMS);
    if (ts->n == ts->cap) {
        ts->cap = ts->cap ? ts->cap * 2 : 16;
        ts->v = ic_xrealloc(ts->v, ts->cap * sizeof *ts->v);
    }
    struct ic_tensor *t = &ts->v[ts->n++];
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->nbytes = (size_t)ic_tensor_numel(t) * ic_dtype_size(dt);
    t->owned = copy;
    if (copy) {
        t->name = ic_xstrdup(name);
        t->data = ic_xmalloc(t->nbytes);
        if (data && t->nbytes)
            memcpy(t->data, data, t->nbytes);
    } else {
        t->name = (char *)name;
        t->data = (void *)data;
    }
    return t;
}

struct ic_tensor *ic_tensors_find(const struct ic_tensors *ts, const char *name)
{
    for (size_t i = 0; i < ts->n; i++)
        if (strcmp(ts->v[i].name, name) == 0)
            return &ts->v[i];
    return NULL;
}

static float half_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3FF;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp - 15 + 127) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int ic_tensor_to_f32(const struct ic_tensor *t, float *out, struct ic_err *err)
{
    size_t n = (size_t)ic_tensor_numel(t);
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case IC_DTYPE_F32:
        memcpy(out, p, n * 4);
        return IC_OK;
    case IC_DTYPE_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            out[i] = (float)d;
        }
        return IC_OK;
    case IC_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = half_to_f32(h);
        }
        return IC_OK;
    case IC_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            uint32_t bits = (uint32_t)h << 16;
            memcpy(&out[i], &bits, 4);
        }
        return IC_OK;
    default:
        return ic_errf(err, IC_ERR_UNSUPPORTED, "tensor %s: dtype %s is not a float type",
                       t->name, ic_dtype_name(t->dtype));
    }
}
