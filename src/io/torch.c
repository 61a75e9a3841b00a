/* SPDX-License-Identifier: Apache-2.0 */
/*
 * torch.c - PyTorch checkpoints written by torch.save (zip format, torch
 * >= 1.6): <folder>/data.pkl (the pickled object), <folder>/data/<key> (raw
 * little-endian storage bytes), <folder>/version, <folder>/byteorder.
 *
 * Reading: the zip directory is validated (zip.c), data.pkl runs through the
 * restricted pickle VM (pickle.c) whose persistent ids resolve to storage
 * records here (missing record or a record shorter than numel * element
 * size is an error), tensors become contiguous copies. Tensor memory in
 * total is capped at max(16 x file size, 64 MiB) so that overlapping
 * strides cannot ask for absurd memory. Big-endian archives are refused.
 * Writing: ic__pickle_dump + one stored, 64-byte aligned record per tensor.
 * The pre-1.6 legacy format (concatenated pickles) is read too (below).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

struct tload {
    struct ic__zip z;
    char folder[256];
    struct ic_py_arena *a;
    struct ic_py **cache; /* per zip entry: loaded storage */
};

static int persid(void *ud, const struct ic_py *pid, struct ic_py **out, struct ic_err *err)
{
    struct tload *L = ud;
    const struct ic_py *ty = pid->items[1], *key = pid->items[2], *numel = pid->items[4];
    if (ty->type != IC_PY_OTHER || ty->i != IC__TAG_STORAGE_TYPE || key->type != IC_PY_STR ||
        numel->type != IC_PY_INT || numel->i < 0)
        return ic_errf(err, IC_ERR_FORMAT, "bad storage reference");
    char rec[600];
    snprintf(rec, sizeof rec, "%s/data/%s", L->folder, key->s);
    const struct ic__zip_entry *e = ic__zip_find(&L->z, rec);
    if (!e)
        return ic_errf(err, IC_ERR_FORMAT, "missing data record %s", rec);
    size_t es = ic_dtype_size(ty->t.dtype);
    if ((uint64_t)numel->i > e->size / es)
        return ic_errf(err, IC_ERR_FORMAT,
                       "data record %s holds %llu bytes, the storage needs %lld elements of %zu bytes",
                       rec, (unsigned long long)e->size, (long long)numel->i, es);
    size_t idx = (size_t)(e - L->z.e);
    struct ic_py *c = L->cache[idx];
    if (c && c->t.dtype == ty->t.dtype && c->t.shape[0] == numel->i) {
        *out = c;
        return IC_OK;
    }
    const uint8_t *bytes;
    uint8_t *owned;
    int rc = ic__zip_get(&L->z, e, &bytes, &owned, err);
    if (rc)
        return rc;
    struct ic_py *o = ic__py_new(L->a, IC_PY_OTHER);
    o->i = IC__TAG_STORAGE;
    o->t.dtype = ty->t.dtype;
    o->t.ndim = 1;
    o->t.shape[0] = numel->i;
    o->t.data = (void *)bytes;
    o->t.nbytes = (size_t)numel->i * es;
    o->t.owned = owned != NULL;
    if (!c)
        L->cache[idx] = o;
    *out = o;
    return IC_OK;
}


/* --- legacy format (torch < 1.6) ------------------------------------------
 * Five pickles back to back: the magic number 0x1950a86a20f9469cfc6c, the
 * protocol version 1001, sys_info {little_endian, type_sizes...}, the object
 * (persistent ids ('storage', type, key, location, numel, view_metadata)),
 * the list of storage keys; then for each key in that list an int64 element
 * count and the raw bytes. The object refers to storages that come after
 * it, so it is run twice: first with placeholder storages to learn each
 * key's dtype (hence the record sizes), then for real. */

static const uint8_t legacy_magic[15] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                         0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

struct lstore {
    const char *key;     /* borrowed from the pass-1 arena */
    enum ic_dtype dtype;
    const uint8_t *data; /* pass 2 */
    uint64_t numel;
};

struct lload {
    struct lstore *s;
    size_t n, cap;
    int pass;
    struct ic_py_arena *a;
};

static struct lstore *lfind(struct lload *L, const char *key)
{
    for (size_t i = 0; i < L->n; i++)
        if (strcmp(L->s[i].key, key) == 0)
            return &L->s[i];
    return NULL;
}

static int lpersid(void *ud, const struct ic_py *pid, struct ic_py **out, struct ic_err *err)
{
    struct lload *L = ud;
    const struct ic_py *ty = pid->items[1], *key = pid->items[2], *numel = pid->items[4];
    const struct ic_py *view = pid->n > 5 ? pid->items[5] : NULL;
    if (ty->type != IC_PY_OTHER || ty->i != IC__TAG_STORAGE_TYPE || key->type != IC_PY_STR ||
        numel->type != IC_PY_INT || numel->i < 0)
        return ic_errf(err, IC_ERR_FORMAT, "bad storage reference");
    size_t es = ic_dtype_size(ty->t.dtype);
    struct lstore *st = lfind(L, key->s);
    if (L->pass == 1) {
        if (!st) {
            if (L->n >= IC_CKPT_MAX_TENSORS)
                return ic_errf(err, IC_ERR_RANGE, "too many storages");
            if (L->n == L->cap) {
                L->cap = L->cap ? L->cap * 2 : 16;
                L->s = ic_xrealloc(L->s, L->cap * sizeof *L->s);
            }
            st = &L->s[L->n++];
            memset(st, 0, sizeof *st);
            st->key = key->s;
            st->dtype = ty->t.dtype;
        } else if (st->dtype != ty->t.dtype) {
            return ic_errf(err, IC_ERR_FORMAT, "storage %s used with two dtypes", key->s);
        }
    } else if (!st || !st->data || st->dtype != ty->t.dtype) {
        return ic_errf(err, IC_ERR_FORMAT, "missing data for storage %s", key->s);
    }
    uint64_t off = 0, n = (uint64_t)numel->i;
    if (view && view->type != IC_PY_NONE) {
        /* (view_key, offset, view_size), in elements of the root storage */
        if (view->type != IC_PY_TUPLE || view->n != 3 || view->items[1]->type != IC_PY_INT ||
            view->items[2]->type != IC_PY_INT || view->items[1]->i < 0 || view->items[2]->i < 0)
            return ic_errf(err, IC_ERR_FORMAT, "bad storage view of %s", key->s);
        off = (uint64_t)view->items[1]->i;
        n = (uint64_t)view->items[2]->i;
    }
    struct ic_py *o = ic__py_new(L->a, IC_PY_OTHER);
    o->i = IC__TAG_STORAGE;
    o->t.dtype = ty->t.dtype;
    o->t.ndim = 1;
    if (L->pass == 2) {
        if (off > st->numel || n > st->numel - off || (uint64_t)numel->i > st->numel)
            return ic_errf(err, IC_ERR_FORMAT, "storage %s: view past its %llu elements", key->s,
                           (unsigned long long)st->numel);
        o->t.data = (void *)(st->data + off * es);
    } else if (n > ((uint64_t)1 << 62) / (es ? es : 1)) {
        return ic_errf(err, IC_ERR_RANGE, "storage %s: absurd size", key->s);
    }
    o->t.shape[0] = (int64_t)n;
    o->t.nbytes = (size_t)(n * es);
    *out = o;
    return IC_OK;
}

static int load_legacy(const uint8_t *p, size_t len, const char *name, struct ic_py_arena *arena,
                       struct ic_py **root, struct ic_err *err)
{
    struct ic_py_arena tmp;
    struct lload L;
    struct ic_py *o = NULL;
    size_t pos = sizeof legacy_magic, used = 0, obj_at, obj_len;
    size_t budget = len * 16 > ((size_t)64 << 20) ? len * 16 : ((size_t)64 << 20);
    char *pname = ic_xasprintf("%s (legacy format)", name);
    memset(&L, 0, sizeof L);
    ic_py_arena_init(&tmp);
    L.a = &tmp;
    int rc = ic__unpickle(p + pos, len - pos, pname, &tmp, NULL, NULL, 0, &o, &used, err);
    if (rc)
        goto out;
    if (o->type != IC_PY_INT || o->i != 1001) {
        rc = ic_errf(err, IC_ERR_UNSUPPORTED, "%s: unsupported legacy protocol version", name);
        goto out;
    }
    pos += used;
    if ((rc = ic__unpickle(p + pos, len - pos, pname, &tmp, NULL, NULL, 0, &o, &used, err)))
        goto out;
    const struct ic_py *le = ic_py_get(o, "little_endian");
    if (!le || le->type != IC_PY_BOOL || !le->i) {
        rc = ic_errf(err, IC_ERR_UNSUPPORTED, "%s: only little-endian checkpoints are supported",
                     name);
        goto out;
    }
    pos += used;
    obj_at = pos;
    L.pass = 1;
    if ((rc = ic__unpickle(p + pos, len - pos, pname, &tmp, lpersid, &L, budget, &o, &used, err)))
        goto out;
    obj_len = used;
    pos += used;
    if ((rc = ic__unpickle(p + pos, len - pos, pname, &tmp, NULL, NULL, 0, &o, &used, err)))
        goto out;
    pos += used;
    if (o->type != IC_PY_LIST) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: legacy storage key list missing", name);
        goto out;
    }
    for (size_t i = 0; i < o->n; i++) {
        const struct ic_py *k = o->items[i];
        struct lstore *st = k->type == IC_PY_STR ? lfind(&L, k->s) : NULL;
        if (!st) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: storage key %zu is not used by the object", name, i);
            goto out;
        }
        if (len - pos < 8) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: truncated (storage %s)", name, st->key);
            goto out;
        }
        uint64_t n = ic__rd64(p + pos);
        size_t es = ic_dtype_size(st->dtype);
        pos += 8;
        if (n > (len - pos) / es) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: storage %s (%llu elements) runs past the end",
                         name, st->key, (unsigned long long)n);
            goto out;
        }
        st->data = p + pos;
        st->numel = n;
        pos += (size_t)(n * es);
    }
    L.pass = 2;
    L.a = arena;
    rc = ic__unpickle(p + obj_at, obj_len, pname, arena, lpersid, &L, budget, root, NULL, err);
    /* storages borrow the input: drop them now that tensors are copies */
    for (size_t i = 0; i < arena->n; i++) {
        struct ic_py *x = arena->objs[i];
        if (x->type == IC_PY_OTHER && x->i == IC__TAG_STORAGE && !x->t.owned)
            x->t.data = NULL;
    }
out:
    if (rc)
        *root = NULL;
    ic_free(L.s);
    ic_py_arena_free(&tmp);
    ic_free(pname);
    return rc;
}

static int cmp_entry_name(const void *a, const void *b)
{
    return strcmp(((const struct ic__zip_entry *)a)->name, ((const struct ic__zip_entry *)b)->name);
}

int ic_torch_load_obj_mem(const void *data, size_t len, const char *name,
                          struct ic_py_arena *arena, struct ic_py **root, struct ic_err *err)
{
    struct tload L;
    memset(&L, 0, sizeof L);
    L.a = arena;
    *root = NULL;
    if (!name)
        name = "<memory>";
    const uint8_t *p = data;
    if (len >= sizeof legacy_magic && memcmp(p, legacy_magic, sizeof legacy_magic) == 0)
        return load_legacy(p, len, name, arena, root, err);
    int rc = ic__zip_open(&L.z, data, len, name, err);
    if (rc)
        return rc;
    if (L.z.n == 0) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: empty zip archive", name);
        goto out;
    }
    /* The folder is the first entry's top-level directory. */
    const char *slash = strchr(L.z.e[0].name, '/');
    size_t fl = slash ? (size_t)(slash - L.z.e[0].name) : 0;
    if (!slash || fl == 0 || fl >= sizeof L.folder) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: not a PyTorch archive (no top-level folder)", name);
        goto out;
    }
    memcpy(L.folder, L.z.e[0].name, fl);
    L.folder[fl] = 0;
    qsort(L.z.e, L.z.n, sizeof *L.z.e, cmp_entry_name);
    L.z.sorted = 1;
    for (size_t i = 1; i < L.z.n; i++) {
        if (strcmp(L.z.e[i - 1].name, L.z.e[i].name) == 0) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: duplicate zip entry %s", name, L.z.e[i].name);
            goto out;
        }
    }
    L.cache = ic_xcalloc(L.z.n, sizeof *L.cache);
    char rec[600];
    snprintf(rec, sizeof rec, "%s/byteorder", L.folder);
    const struct ic__zip_entry *e = ic__zip_find(&L.z, rec);
    if (e) {
        const uint8_t *b;
        uint8_t *owned;
        if ((rc = ic__zip_get(&L.z, e, &b, &owned, err)))
            goto out;
        int little = e->size == 6 && memcmp(b, "little", 6) == 0;
        ic_free(owned);
        if (!little) {
            rc = ic_errf(err, IC_ERR_UNSUPPORTED, "%s: %s: only little-endian archives are supported",
                         name, rec);
            goto out;
        }
    }
    snprintf(rec, sizeof rec, "%s/data.pkl", L.folder);
    e = ic__zip_find(&L.z, rec);
    if (!e) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: missing record %s", name, rec);
        goto out;
    }
    const uint8_t *pk;
    uint8_t *pk_owned;
    if ((rc = ic__zip_get(&L.z, e, &pk, &pk_owned, err)))
        goto out;
    size_t budget = len * 16 > ((size_t)64 << 20) ? len * 16 : ((size_t)64 << 20);
    char *pname = ic_xasprintf("%s: %s", name, rec);
    rc = ic__unpickle(pk, (size_t)e->size, pname, arena, persid, &L, budget, root, NULL, err);
    ic_free(pname);
    ic_free(pk_owned);
out:
    /* Storages that borrow the mapping must not outlive it: tensors are
     * copies, so drop the storage pointers now. */
    for (size_t i = 0; i < arena->n; i++) {
        struct ic_py *o = arena->objs[i];
        if (o->type == IC_PY_OTHER && o->i == IC__TAG_STORAGE && !o->t.owned)
            o->t.data = NULL;
    }
    ic_free(L.cache);
    ic__zip_close(&L.z);
    if (rc)
        *root = NULL;
    return rc;
}

int ic_torch_load_obj(const char *path, struct ic_py_arena *arena, struct ic_py **root,
                      struct ic_err *err)
{
    struct ic__map m;
    int rc = ic__map_file(path, IC_CKPT_MAX_FILE, &m, err);
    if (rc)
        return rc;
    rc = ic_torch_load_obj_mem(m.data, m.len, path, arena, root, err);
    ic__map_free(&m);
    return rc;
}

static int is_tensor_dict(const struct ic_py *d)
{
    if (!d || d->type != IC_PY_DICT || d->n == 0)
        return 0;
    for (size_t k = 0; k < d->n / 2; k++)
        if (d->items[2 * k]->type != IC_PY_STR || d->items[2 * k + 1]->type != IC_PY_TENSOR)
            return 0;
    return 1;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ic_torch_load_mem(const void *data, size_t len, const char *name, struct ic_tensors *out,
                      struct ic_err *err)
{
    struct ic_py_arena a;
    struct ic_py *root;
    ic_py_arena_init(&a);
    if (!name)
        name = "<memory>";
    int rc = ic_torch_load_obj_mem(data, len, name, &a, &root, err);
    if (rc)
        goto out;
    struct ic_py *sd = NULL;
    if (is_tensor_dict(root)) {
        sd = root;
    } else {
        static const char *const keys[] = {"state_dict", "model_state_dict", "model"};
        for (size_t k = 0; k < 3 && !sd; k++)
            if (is_tensor_dict(ic_py_get(root, keys[k])))
                sd = ic_py_get(root, keys[k]);
    }
    if (!sd) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: no state_dict (a dict of name -> tensor) found",
                     name);
        goto out;
    }
    size_t n = sd->n / 2;
    const char **names = ic_xmalloc(n * sizeof *names);
    for (size_t k = 0; k < n; k++)
        names[k] = sd->items[2 * k]->s;
    qsort(names, n, sizeof *names, cmp_tensor_name);
    for (size_t k = 1; k < n; k++) {
        if (strcmp(names[k - 1], names[k]) == 0) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: duplicate tensor name \"%s\"", name, names[k]);
            break;
        }
    }
    ic_free(names);
    if (rc)
        goto out;
    for (size_t k = 0; k < n; k++) {
        struct ic_py *v = sd->items[2 * k + 1];
        struct ic_tensor *t = ic_tensors_add(out, "", v->t.dtype, v->t.ndim, v->t.shape, NULL, 0);
        t->name = ic_xstrdup(sd->items[2 * k]->s);
        t->owned = 1;
        if (v->t.owned) { /* move the data out of the arena */
            t->data = v->t.data;
            v->t.owned = 0;
        } else { /* the same tensor twice: copy */
            t->data = ic_xmalloc(t->nbytes ? t->nbytes : 1);
            memcpy(t->data, v->t.data, t->nbytes);
        }
    }
out:
    if (rc) {
        ic_tensors_free(out);
        ic_tensors_init(out);
    }
    ic_py_arena_free(&a);
    return rc;
}

int ic_torch_load(const char *path, struct ic_tensors *out, struct ic_err *err)
{
    struct ic__map m;
    int rc = ic__map_file(path, IC_CKPT_MAX_FILE, &m, err);
    if (rc)
        return rc;
    rc = ic_torch_load_mem(m.data, m.len, path, out, err);
    ic__map_free(&m);
    return rc;
}

/* --- writer -------------------------------------------------------------- */

int ic_torch_serialize(const struct ic_py *root, const char *folder, struct ic_buf *out,
                       struct ic_err *err)
{
    struct ic_buf pk;
    struct ic_tensors st;
    struct ic__zipw w;
    ic_buf_init(&pk, 0);
    ic_tensors_init(&st);
    ic__zipw_init(&w);
    if (!folder)
        folder = "archive";
    char rec[300];
    int rc = ic__pickle_dump(root, &pk, &st, err);
    if (rc)
        goto out;
    snprintf(rec, sizeof rec, "%s/data.pkl", folder);
    if ((rc = ic__zipw_add(&w, rec, pk.data, pk.len, err)))
        goto out;
    snprintf(rec, sizeof rec, "%s/byteorder", folder);
    if ((rc = ic__zipw_add(&w, rec, "little", 6, err)))
        goto out;
    for (size_t i = 0; i < st.n; i++) {
        snprintf(rec, sizeof rec, "%s/data/%zu", folder, i);
        if ((rc = ic__zipw_add(&w, rec, st.v[i].data, st.v[i].nbytes, err)))
            goto out;
    }
    snprintf(rec, sizeof rec, "%s/version", folder);
    if ((rc = ic__zipw_add(&w, rec, "3\n", 2, err)))
        goto out;
    if ((rc = ic__zipw_finish(&w, err)))
        goto out;
    ic_buf_free(out);
    *out = w.out;
    ic_buf_init(&w.out, 0);
out:
    ic__zipw_free(&w);
    ic_tensors_free(&st);
    ic_buf_free(&pk);
    return rc;
}

int ic_torch_save(const char *path, const struct ic_py *root, struct ic_err *err)
{
    struct ic_buf b;
    ic_buf_init(&b, 0);
    /* torch names the folder after the file stem; "archive" is what it uses
     * for file-like targets and what every reader accepts. */
    int rc = ic_torch_serialize(root, "archive", &b, err);
    if (rc == IC_OK)
        rc = ic_write_file_atomic(path, b.data, b.len, err);
    else
        ic_err_prefix(err, "%s", path);
    ic_buf_free(&b);
    return rc;
}

int ic_torch_save_tensors(const char *path, const struct ic_tensors *ts, struct ic_err *err)
{
    struct ic_py_arena a;
    ic_py_arena_init(&a);
    struct ic_py *d = ic_py_dict(&a, 1);
    for (size_t i = 0; i < ts->n; i++)
        ic_py_set_str(&a, d, ts->v[i].name, ic_py_tensor(&a, &ts->v[i]));
    int rc = ic_torch_save(path, d, err);
    ic_py_arena_free(&a);
    return rc;
}
