/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors reader
 * (ic_safetensors_load_mem, include/intent/ckpt.h).
 *
 * Any input must load or fail with a message, never crash or leak. An
 * accepted file must give consistent tensors (nbytes == numel * dtype
 * size), and writing them back and reading that again must give the same
 * tensors.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "intent/ckpt.h"

int ic_fuzz_safetensors(const uint8_t *data, size_t size)
{
    struct ic_tensors ts, back;
    struct ic_kv *kv = NULL;
    size_t nkv = 0;
    struct ic_err err;
    memset(&err, 0, sizeof err);
    ic_tensors_init(&ts);
    ic_tensors_init(&back);
    int rc = ic_safetensors_load_mem(data, size, "fuzz.safetensors", &ts, &kv, &nkv, &err);
    if (rc != IC_OK) {
        IC_FUZZ_CHECK(err.msg[0] != 0 && ts.n == 0);
        return 0;
    }
    size_t total = 0;
    for (size_t i = 0; i < ts.n; i++) {
        const struct ic_tensor *t = &ts.v[i];
        IC_FUZZ_CHECK((size_t)ic_tensor_numel(t) * ic_dtype_size(t->dtype) == t->nbytes);
        total += t->nbytes;
    }
    IC_FUZZ_CHECK(total <= size);
    struct ic_buf b;
    ic_buf_init(&b, 0);
    rc = ic_safetensors_serialize(&ts, kv, nkv, &b, &err);
    IC_FUZZ_CHECK(rc == IC_OK);
    rc = ic_safetensors_load_mem(b.data, b.len, "fuzz.rewritten", &back, NULL, NULL, &err);
    if (rc != IC_OK)
        fprintf(stderr, "rewritten file refused: %s\n", err.msg);
    IC_FUZZ_CHECK(rc == IC_OK && back.n == ts.n);
    for (size_t i = 0; i < ts.n; i++) {
        const struct ic_tensor *x = &ts.v[i], *y = ic_tensors_find(&back, x->name);
        IC_FUZZ_CHECK(y && y->dtype == x->dtype && y->nbytes == x->nbytes &&
                      (x->nbytes == 0 || memcmp(x->data, y->data, x->nbytes) == 0));
    }
    ic_buf_free(&b);
    ic_kv_free(kv, nkv);
    ic_tensors_free(&ts);
    ic_tensors_free(&back);
    return 0;
}

#ifndef IC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ic_fuzz_quiet();
    return ic_fuzz_safetensors(data, size);
}
#endif
