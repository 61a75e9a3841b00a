/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tensors.h - a named list of host tensors, the interchange type between the
 * checkpoint readers/writers (safetensors, PyTorch zip/pickle) and the model.
 *
 * A reader fills a struct ic_tensors that owns every name and data buffer;
 * the model copies what it needs out of it (with dtype conversion) and the
 * caller frees it. A writer takes a list whose data it only borrows.
 */
#ifndef IC_TENSORS_H
#define IC_TENSORS_H

#include "intent/ic.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ic_dtype {
    IC_DTYPE_F32,
    IC_DTYPE_F16,
    IC_DTYPE_BF16,
    IC_DTYPE_F64,
    IC_DTYPE_I64,
    IC_DTYPE_I32,
    IC_DTYPE_I16,
    IC_DTYPE_I8,
    IC_DTYPE_U8,
    IC_DTYPE_BOOL,
    IC_DTYPE_COUNT
};
size_t ic_dtype_size(enum ic_dtype dt);
const char *ic_dtype_name(enum ic_dtype dt); /* safetensors spelling: "F32", ... */

#define IC_TENSOR_MAX_DIMS 8

struct ic_tensor {
    char *name;
    enum ic_dtype dtype;
    int ndim;
    int64_t shape[IC_TENSOR_MAX_DIMS];
    void *data;     /* row-major, little-endian, contiguous */
    size_t nbytes;
    int owned;      /* 1: name and data are freed by ic_tensors_free;
                       2: only the name (data borrowed from a mapped file) */
};

struct ic_tensors {
    struct ic_tensor *v;
    size_t n, cap;
};

void ic_tensors_init(struct ic_tensors *ts);
void ic_tensors_free(struct ic_tensors *ts);
int64_t ic_tensor_numel(const struct ic_tensor *t);
/* Appends a tensor. copy=1 copies name and data (owned); copy=0 borrows both. */
struct ic_tensor *ic_tensors_add(struct ic_tensors *ts, const char *name, enum ic_dtype dt,
                                 int ndim, const int64_t *shape, const void *data, int copy);
struct ic_tensor *ic_tensors_find(const struct ic_tensors *ts, const char *name);
/* Converts t's data to float32 into out[numel]; IC_ERR_UNSUPPORTED for ints. */
int ic_tensor_to_f32(const struct ic_tensor *t, float *out, struct ic_err *err);

#ifdef __cplusplus
}
#endif
#endif
