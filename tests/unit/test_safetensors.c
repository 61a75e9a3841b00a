/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_safetensors.c - safetensors writer/reader round trip, the writer's
 * layout (sorted, packed, header padded to 8, __metadata__ format pt) and
 * reading files written independently by tools/gen_io_golden.py.
 */
#include <string.h>

#include "intent/ckpt.h"
#include "test.h"

static void add_sample(struct ic_tensors *ts)
{
    static const float f[6] = {1, -2, 3.5f, 0, 1e-20f, -7};
    static const int64_t l[3] = {1, -1, (int64_t)1 << 50};
    static const uint16_t h[2] = {0x3c00, 0xc000};
    static const float sc = 42;
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s2[1] = {2}, s04[2] = {0, 4};
    ic_tensors_add(ts, "w.weight", IC_DTYPE_F32, 2, s23, f, 1);
    ic_tensors_add(ts, "ids", IC_DTYPE_I64, 1, s3, l, 1);
    ic_tensors_add(ts, "half", IC_DTYPE_F16, 1, s2, h, 1);
    ic_tensors_add(ts, "scalar", IC_DTYPE_F32, 0, NULL, &sc, 1);
    ic_tensors_add(ts, "empty", IC_DTYPE_F32, 2, s04, NULL, 1);
}

/* Same names, dtypes, shapes and bytes (order-insensitive). */
static int same_tensors(const struct ic_tensors *a, const struct ic_tensors *b, char *why, size_t n)
{
    if (a->n != b->n) {
        snprintf(why, n, "count %zu vs %zu", a->n, b->n);
        return 0;
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct ic_tensor *x = &a->v[i], *y = ic_tensors_find(b, x->name);
        if (!y) {
            snprintf(why, n, "%s missing", x->name);
            return 0;
        }
        if (x->dtype != y->dtype || x->ndim != y->ndim || x->nbytes != y->nbytes ||
            memcmp(x->shape, y->shape, sizeof(int64_t) * (size_t)x->ndim) != 0 ||
            (x->nbytes && memcmp(x->data, y->data, x->nbytes) != 0)) {
            snprintf(why, n, "%s differs", x->name);
            return 0;
        }
    }
    return 1;
}

TEST(safetensors_roundtrip)
{
    struct ic_tensors a, b;
    struct ic_err err = {0};
    ic_tensors_init(&a);
    ic_tensors_init(&b);
    add_sample(&a);
    char path[512];
    snprintf(path, sizeof path, "%s/t.safetensors", test_tmpdir());
    struct ic_kv meta[1] = {{"intent_note", "hello"}};
    ASSERT_OK_ERR(ic_safetensors_save(path, &a, meta, 1, &err), err);
    struct ic_kv *kv = NULL;
    size_t nkv = 0;
    ASSERT_OK_ERR(ic_safetensors_load(path, &b, &kv, &nkv, &err), err);
    char why[256];
    int same = same_tensors(&a, &b, why, sizeof why);
    int fmt_pt = 0, note = 0;
    for (size_t i = 0; i < nkv; i++) {
        fmt_pt |= !strcmp(kv[i].key, "format") && !strcmp(kv[i].value, "pt");
        note |= !strcmp(kv[i].key, "intent_note") && !strcmp(kv[i].value, "hello");
    }
    ic_kv_free(kv, nkv);
    ic_tensors_free(&a);
    ic_tensors_free(&b);
    if (!same)
        FAIL("round trip: %s", why);
    ASSERT(fmt_pt);
    ASSERT(note);
}

TEST(safetensors_writer_layout)
{
    struct ic_tensors a;
    struct ic_buf buf;
    struct ic_err err = {0};
    ic_tensors_init(&a);
    ic_buf_init(&buf, 0);
    add_sample(&a);
    int rc = ic_safetensors_serialize(&a, NULL, 0, &buf, &err);
    ic_tensors_free(&a);
    if (rc) {
        ic_buf_free(&buf);
        FAIL("serialize: %s", err.msg);
    }
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n |= (uint64_t)(unsigned char)buf.data[i] << (8 * i);
    char *hdr = ic_xstrndup(buf.data + 8, (size_t)n);
    size_t total = buf.len;
    ic_buf_free(&buf);
    /* padded with spaces to a multiple of 8, metadata first, then the
     * 8-byte dtype (I64) before the 4-byte ones, names sorted within a dtype
     * size, F16 last; offsets packed from 0. */
    int ok_pad = n % 8 == 0 && hdr[n - 1] != 0;
    const char *md = strstr(hdr, "\"__metadata__\":{\"format\":\"pt\"}");
    const char *ids = strstr(hdr, "\"ids\""), *empty = strstr(hdr, "\"empty\""),
               *sc = strstr(hdr, "\"scalar\""), *w = strstr(hdr, "\"w.weight\""),
               *half = strstr(hdr, "\"half\"");
    int order = md && ids && empty && sc && w && half && md < ids && ids < empty && empty < sc &&
                sc < w && w < half;
    int packed = strstr(hdr, "\"ids\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]}") != NULL;
    ic_free(hdr);
    ASSERT(ok_pad);
    ASSERT(order);
    ASSERT(packed);
    ASSERT_EQ(total, 8 + n + 24 + 0 + 4 + 24 + 4);
}

TEST(safetensors_writer_rejects_duplicates)
{
    struct ic_tensors a;
    struct ic_buf buf;
    struct ic_err err = {0};
    float x = 1;
    int64_t s1[1] = {1};
    ic_tensors_init(&a);
    ic_buf_init(&buf, 0);
    ic_tensors_add(&a, "x", IC_DTYPE_F32, 1, s1, &x, 0);
    ic_tensors_add(&a, "x", IC_DTYPE_F32, 1, s1, &x, 0);
    int rc = ic_safetensors_serialize(&a, NULL, 0, &buf, &err);
    ic_tensors_free(&a);
    ic_buf_free(&buf);
    ASSERT_EQ(rc, IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "duplicate");
}

TEST(safetensors_reads_independent_writer)
{
    struct ic_tensors t;
    struct ic_err err = {0};
    char path[512];
    ic_tensors_init(&t);
    snprintf(path, sizeof path, "%s/io/views_ref.safetensors", test_golden_dir());
    ASSERT_OK_ERR(ic_safetensors_load(path, &t, NULL, NULL, &err), err);
    const struct ic_tensor *l = ic_tensors_find(&t, "long");
    const struct ic_tensor *bf = ic_tensors_find(&t, "bf16");
    const struct ic_tensor *e = ic_tensors_find(&t, "empty");
    const struct ic_tensor *s = ic_tensors_find(&t, "scalar");
    int ok = l && l->dtype == IC_DTYPE_I64 && ((int64_t *)l->data)[2] == (int64_t)3 << 40 && bf &&
             bf->dtype == IC_DTYPE_BF16 && e && e->ndim == 2 && e->shape[0] == 0 && s &&
             s->ndim == 0 && ((float *)s->data)[0] == 3.5f;
    size_t n = t.n;
    ic_tensors_free(&t);
    ASSERT(ok);
    ASSERT_EQ(n, 13);
}

TEST(safetensors_view_borrows_the_buffer)
{
    /* ic_safetensors_view gives the same tensors as the copying loader, with
     * data pointing into the caller's buffer, and frees only the names. */
    struct ic_tensors a, copied, viewed;
    struct ic_buf buf;
    struct ic_err err = {0};
    ic_tensors_init(&a);
    ic_tensors_init(&copied);
    ic_tensors_init(&viewed);
    ic_buf_init(&buf, 0);
    add_sample(&a);
    int rc = ic_safetensors_serialize(&a, NULL, 0, &buf, &err);
    ic_tensors_free(&a);
    if (rc == IC_OK)
        rc = ic_safetensors_load_mem(buf.data, buf.len, "mem", &copied, NULL, NULL, &err);
    if (rc == IC_OK)
        rc = ic_safetensors_view(buf.data, buf.len, "mem", &viewed, &err);
    int same = rc == IC_OK && copied.n == viewed.n && copied.n > 0;
    int inside = same;
    for (size_t i = 0; same && i < copied.n; i++) {
        const struct ic_tensor *c = &copied.v[i], *v = &viewed.v[i];
        same = strcmp(c->name, v->name) == 0 && c->nbytes == v->nbytes &&
               (c->nbytes == 0 || memcmp(c->data, v->data, c->nbytes) == 0);
        inside = inside && v->owned == 2 &&
                 (v->nbytes == 0 || ((const char *)v->data >= buf.data &&
                                     (const char *)v->data + v->nbytes <= buf.data + buf.len));
    }
    /* a truncated buffer is refused by the view exactly as by the loader */
    struct ic_tensors bad;
    ic_tensors_init(&bad);
    int rc_bad = rc == IC_OK ? ic_safetensors_view(buf.data, buf.len - 1, "cut", &bad, &err)
                             : IC_OK;
    ic_tensors_free(&bad);
    ic_tensors_free(&copied);
    ic_tensors_free(&viewed);
    ic_buf_free(&buf);
    ASSERT_OK(rc);
    ASSERT(same);
    ASSERT(inside);
    ASSERT_EQ(rc_bad, IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "cut");
}
