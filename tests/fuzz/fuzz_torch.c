/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_torch.c - libFuzzer target for the PyTorch checkpoint reader: zip
 * directory, DEFLATE, the restricted pickle VM and tensor rebuilding
 * (ic_torch_load_obj_mem / ic_torch_load_mem, include/intent/ckpt.h).
 *
 * Any input must load or fail with a message, never crash, hang or leak.
 * An accepted state_dict must hold consistent tensors, and saving it with
 * our writer and reading that back must give the same tensors.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "intent/ckpt.h"

int ic_fuzz_torch(const uint8_t *data, size_t size)
{
    struct ic_py_arena a;
    struct ic_py *root = NULL;
    struct ic_err err;
    memset(&err, 0, sizeof err);
    ic_py_arena_init(&a);
    int rc = ic_torch_load_obj_mem(data, size, "fuzz.pt", &a, &root, &err);
    IC_FUZZ_CHECK(rc == IC_OK ? root != NULL : err.msg[0] != 0);
    ic_py_arena_free(&a);

    struct ic_tensors ts, back;
    ic_tensors_init(&ts);
    ic_tensors_init(&back);
    rc = ic_torch_load_mem(data, size, "fuzz.pt", &ts, &err);
    if (rc != IC_OK) {
        IC_FUZZ_CHECK(err.msg[0] != 0 && ts.n == 0);
        return 0;
    }
    for (size_t i = 0; i < ts.n; i++) {
        const struct ic_tensor *t = &ts.v[i];
        IC_FUZZ_CHECK((size_t)ic_tensor_numel(t) * ic_dtype_size(t->dtype) == t->nbytes);
    }
    struct ic_py_arena w;
    struct ic_buf b;
    ic_py_arena_init(&w);
    ic_buf_init(&b, 0);
    struct ic_py *d = ic_py_dict(&w, 1);
    for (size_t i = 0; i < ts.n; i++)
        ic_py_set_str(&w, d, ts.v[i].name, ic_py_tensor(&w, &ts.v[i]));
    rc = ic_torch_serialize(d, "archive", &b, &err);
    IC_FUZZ_CHECK(rc == IC_OK);
    rc = ic_torch_load_mem(b.data, b.len, "fuzz.rewritten", &back, &err);
    if (rc != IC_OK)
        fprintf(stderr, "rewritten archive refused: %s\n", err.msg);
    IC_FUZZ_CHECK(rc == IC_OK && back.n == ts.n);
    for (size_t i = 0; i < ts.n; i++) {
        const struct ic_tensor *x = &ts.v[i], *y = &back.v[i];
        IC_FUZZ_CHECK(strcmp(x->name, y->name) == 0 && y->dtype == x->dtype &&
                      y->nbytes == x->nbytes &&
                      (x->nbytes == 0 || memcmp(x->data, y->data, x->nbytes) == 0));
    }
    ic_buf_free(&b);
    ic_py_arena_free(&w);
    ic_tensors_free(&ts);
    ic_tensors_free(&back);
    return 0;
}

#ifndef IC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ic_fuzz_quiet();
    return ic_fuzz_torch(data, size);
}
#endif
