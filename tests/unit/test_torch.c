/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_torch.c - PyTorch zip/pickle reader against archives torch 1.13
 * wrote (tests/golden/io, from tools/gen_io_golden.py): views of shared
 * storages, several dtypes, nested containers, DEFLATE-compressed records;
 * and the writer's round trip through our own reader.
 */
#include <math.h>
#include <string.h>

#include "intent/ckpt.h"
#include "test.h"

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

static void check_against_ref(const char *pt)
{
    struct ic_tensors a, b;
    struct ic_err err = {0};
    char p1[512], p2[512], why[256] = "";
    ic_tensors_init(&a);
    ic_tensors_init(&b);
    snprintf(p1, sizeof p1, "%s/io/%s", test_golden_dir(), pt);
    snprintf(p2, sizeof p2, "%s/io/views_ref.safetensors", test_golden_dir());
    int rc1 = ic_torch_load(p1, &a, &err);
    if (rc1) {
        ic_tensors_free(&a);
        FAIL("%s", err.msg);
    }
    ASSERT_OK_ERR(ic_safetensors_load(p2, &b, NULL, NULL, &err), err);
    int same = same_tensors(&a, &b, why, sizeof why);
    ic_tensors_free(&a);
    ic_tensors_free(&b);
    if (!same)
        FAIL("%s vs views_ref.safetensors: %s", pt, why);
}

TEST(torch_views_match_reference) { check_against_ref("views.pt"); }
TEST(torch_deflate_records) { check_against_ref("deflate.pt"); }
TEST(torch_legacy_format) { check_against_ref("legacy.pt"); }
TEST(torch_zip64_records) { check_against_ref("zip64.pt"); }

/* zip64.pt with the classic end record saturated (0xFFFF / 0xFFFFFFFF), so
 * only the zip64 end record gives the directory. */
TEST(torch_zip64_end_record)
{
    char p[512];
    char *data;
    size_t len;
    struct ic_err err = {0};
    struct ic_tensors t;
    snprintf(p, sizeof p, "%s/io/zip64.pt", test_golden_dir());
    ASSERT_OK_ERR(ic_read_file(p, 0, &data, &len, &err), err);
    size_t eocd = len - 22;
    int sig = (unsigned char)data[eocd] == 0x50 && data[eocd + 1] == 0x4b && data[eocd + 2] == 5 &&
              data[eocd + 3] == 6;
    memset(data + eocd + 8, 0xff, 4);  /* entries on disk, total entries */
    memset(data + eocd + 12, 0xff, 8); /* directory size and offset */
    ic_tensors_init(&t);
    int rc = ic_torch_load_mem(data, len, "zip64_saturated.pt", &t, &err);
    size_t n = t.n;
    ic_tensors_free(&t);
    ic_free(data);
    ASSERT(sig);
    ASSERT_OK_ERR(rc, err);
    ASSERT_EQ(n, 13);
}

TEST(torch_nested_values)
{
    struct ic_py_arena a;
    struct ic_py *root = NULL;
    struct ic_err err = {0};
    char p[512];
    ic_py_arena_init(&a);
    snprintf(p, sizeof p, "%s/io/views.pt", test_golden_dir());
    int rc = ic_torch_load_obj(p, &a, &root, &err);
    if (rc) {
        ic_py_arena_free(&a);
        FAIL("%s", err.msg);
    }
    struct ic_py *cfg = ic_py_get(root, "config");
    struct ic_py *eps = ic_py_get(cfg, "eps"), *big = ic_py_get(cfg, "big"),
                 *neg = ic_py_get(cfg, "neg"), *flag = ic_py_get(cfg, "flag"),
                 *none = ic_py_get(cfg, "none"), *list = ic_py_get(cfg, "list"),
                 *tup = ic_py_get(cfg, "tuple"), *name = ic_py_get(cfg, "name"),
                 *n = ic_py_get(cfg, "n");
    struct ic_py *ids = ic_py_get(root, "id_to_intent");
    int ok = eps && eps->type == IC_PY_FLOAT && eps->f == 1e-12 && big && big->i == (int64_t)1 << 40 &&
             neg && neg->i == -7 && flag && flag->type == IC_PY_BOOL && flag->i == 1 && none &&
             none->type == IC_PY_NONE && list && list->type == IC_PY_LIST && list->n == 3 &&
             list->items[1]->type == IC_PY_STR && tup && tup->type == IC_PY_TUPLE && tup->n == 4 &&
             name && !strcmp(name->s, "tiny") && n && n->i == 300 && ids && ids->n == 4 &&
             ids->items[0]->type == IC_PY_INT && ids->items[0]->i == 0 &&
             !strcmp(ids->items[1]->s, "get_news");
    ic_py_arena_free(&a);
    ASSERT(ok);
}

TEST(torch_flat_state_dict)
{
    struct ic_tensors t;
    struct ic_err err = {0};
    char p[512];
    ic_tensors_init(&t);
    snprintf(p, sizeof p, "%s/io/flat.bin", test_golden_dir());
    ASSERT_OK_ERR(ic_torch_load(p, &t, &err), err);
    const struct ic_tensor *b = ic_tensors_find(&t, "a.bias");
    int ok = t.n == 2 && !strcmp(t.v[0].name, "a.weight") && b && b->shape[0] == 4 &&
             ((float *)b->data)[3] == 3.0f;
    ic_tensors_free(&t);
    ASSERT(ok);
}

TEST(torch_writer_roundtrip)
{
    struct ic_py_arena a, b;
    struct ic_py *back = NULL;
    struct ic_buf buf;
    struct ic_err err = {0};
    ic_py_arena_init(&a);
    ic_py_arena_init(&b);
    ic_buf_init(&buf, 0);
    float w[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    struct ic_tensor t = {0};
    t.dtype = IC_DTYPE_F32;
    t.ndim = 2;
    t.shape[0] = 2;
    t.shape[1] = 3;
    t.data = w;
    t.nbytes = sizeof w;
    (void)shape;
    struct ic_py *root = ic_py_dict(&a, 0);
    struct ic_py *sd = ic_py_dict(&a, 1);
    ic_py_set_str(&a, sd, "w", ic_py_tensor(&a, &t));
    ic_py_set_str(&a, root, "state_dict", sd);
    ic_py_set_str(&a, root, "eps", ic_py_float(&a, 1e-12));
    ic_py_set_str(&a, root, "lr", ic_py_float(&a, 0.1));
    ic_py_set_str(&a, root, "big", ic_py_int(&a, -((int64_t)1 << 40)));
    ic_py_set_str(&a, root, "max", ic_py_int(&a, INT64_MAX));
    ic_py_set_str(&a, root, "m1", ic_py_int(&a, -1));
    ic_py_set_str(&a, root, "n", ic_py_int(&a, 70000));
    ic_py_set_str(&a, root, "none", ic_py_none(&a));
    struct ic_py *l = ic_py_list(&a);
    for (int i = 0; i < 300; i++) /* > 256 memo entries are not needed, but many items */
        ic_py_append(l, ic_py_str(&a, "tok"));
    ic_py_set_str(&a, root, "vocab", l);
    struct ic_py *ids = ic_py_dict(&a, 0);
    ic_py_set(ids, ic_py_int(&a, 0), ic_py_str(&a, "get_news"));
    ic_py_set_str(&a, root, "id_to_intent", ids);
    int rc = ic_torch_serialize(root, "archive", &buf, &err);
    if (rc == IC_OK)
        rc = ic_torch_load_obj_mem(buf.data, buf.len, "roundtrip", &b, &back, &err);
    if (rc) {
        ic_buf_free(&buf);
        ic_py_arena_free(&a);
        ic_py_arena_free(&b);
        FAIL("%s", err.msg);
    }
    /* 64-byte alignment of the tensor record: find "archive/data/0" */
    struct ic_py *bw = ic_py_get(ic_py_get(back, "state_dict"), "w");
    struct ic_py *eps = ic_py_get(back, "eps"), *lr = ic_py_get(back, "lr");
    struct ic_py *big = ic_py_get(back, "big"), *mx = ic_py_get(back, "max"),
                 *m1 = ic_py_get(back, "m1"), *n = ic_py_get(back, "n");
    struct ic_py *voc = ic_py_get(back, "vocab"), *bi = ic_py_get(back, "id_to_intent");
    int ok = bw && bw->type == IC_PY_TENSOR && bw->t.shape[1] == 3 &&
             !memcmp(bw->t.data, w, sizeof w) && ic_py_get(back, "state_dict")->ordered && eps &&
             eps->type == IC_PY_FLOAT && eps->f == 1e-12 && lr && lr->type == IC_PY_FLOAT &&
             lr->f == 0.1 &&
             big && big->i == -((int64_t)1 << 40) && mx && mx->i == INT64_MAX && m1 && m1->i == -1 &&
             n && n->i == 70000 && voc && voc->n == 300 && bi && bi->n == 2 &&
             bi->items[0]->i == 0;
    const char *p = memmem(buf.data, buf.len, "archive/data/0", 14);
    size_t data_at = p ? (size_t)(p - buf.data) + 14 : 0;
    /* local header: name then the extra field (4 + pad bytes) */
    size_t xlen = p ? (unsigned char)p[-2] | ((unsigned char)p[-1] << 8) : 0;
    int aligned = p && (data_at + xlen) % 64 == 0 && !memcmp(buf.data + data_at + xlen, w, sizeof w);
    ic_buf_free(&buf);
    ic_py_arena_free(&a);
    ic_py_arena_free(&b);
    ASSERT(ok);
    ASSERT(aligned);
}

/* Floats are pickled as BINFLOAT (opcode 'G' + the big-endian IEEE double),
 * never as strings, and come back bit for bit, specials included. */
TEST(torch_floats_binfloat_exact)
{
    static const double vals[] = {1e-12, 0.1, -0.0, 5e-324, 1.7976931348623157e308, -2.5,
                                  (double)1e-12f, INFINITY, -INFINITY, NAN};
    enum { NV = sizeof vals / sizeof *vals };
    struct ic_py_arena a, b;
    struct ic_py *back = NULL;
    struct ic_buf buf;
    struct ic_err err = {0};
    ic_py_arena_init(&a);
    ic_py_arena_init(&b);
    ic_buf_init(&buf, 0);
    struct ic_py *root = ic_py_list(&a);
    for (size_t i = 0; i < NV; i++)
        ic_py_append(root, ic_py_float(&a, vals[i]));
    int rc = ic_torch_serialize(root, NULL, &buf, &err);
    if (rc == IC_OK)
        rc = ic_torch_load_obj_mem(buf.data, buf.len, "bin", &b, &back, &err);
    int same = rc == IC_OK && back->type == IC_PY_LIST && back->n == NV;
    for (size_t i = 0; same && i < NV; i++)
        same = back->items[i]->type == IC_PY_FLOAT &&
               !memcmp(&back->items[i]->f, &vals[i], sizeof(double));
    /* 0.1 is 0x3fb999999999999a: 'G' then those bytes, big-endian */
    static const unsigned char g01[9] = {'G', 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a};
    int binfloat = rc == IC_OK && memmem(buf.data, buf.len, g01, sizeof g01) != NULL &&
                   memmem(buf.data, buf.len, "1e-12", 5) == NULL;
    ic_buf_free(&buf);
    ic_py_arena_free(&a);
    ic_py_arena_free(&b);
    ASSERT_OK_ERR(rc, err);
    ASSERT(same);
    ASSERT(binfloat);
}
