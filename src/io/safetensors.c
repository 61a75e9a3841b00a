/* SPDX-License-Identifier: Apache-2.0 */
/*
 * safetensors.c - reader and writer for the safetensors format.
 *
 * Layout: u64 little-endian N, N bytes of UTF-8 JSON header, then the data
 * buffer. Header: {"__metadata__": {str: str}, "<name>": {"dtype": "F32",
 * "shape": [d0, ...], "data_offsets": [begin, end]}, ...}; offsets are
 * relative to the buffer, end exclusive.
 * The reader enforces what the reference implementation does (N <= 1e8,
 * 8 + N <= file size, valid UTF-8 + JSON, tensors tile the buffer exactly
 * with no hole or overlap, size == prod(shape) * dtype size, nothing after
 * the last tensor) plus duplicate-name detection (jansson's
 * JSON_REJECT_DUPLICATES). Every size is checked before allocating.
 * The writer sorts by dtype alignment then name, packs from offset 0, puts
 * "__metadata__" first ({"format": "pt"}) and pads the header with spaces
 * to a multiple of 8, as the reference does.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

/* All dtypes the format defines; the ones ic_tensors cannot hold are
 * refused as unsupported, anything else is malformed. */
static const char *const known_dtypes[] = {"U16", "U32", "U64", "C64", "F8_E4M3", "F8_E5M2",
                                           "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2"};

static int parse_dtype(const char *s, enum ic_dtype *dt)
{
    for (int d = 0; d < IC_DTYPE_COUNT; d++) {
        if (strcmp(s, ic_dtype_name((enum ic_dtype)d)) == 0) {
            *dt = (enum ic_dtype)d;
            return IC_OK;
        }
    }
    for (size_t i = 0; i < sizeof known_dtypes / sizeof *known_dtypes; i++)
        if (strcmp(s, known_dtypes[i]) == 0)
            return IC_ERR_UNSUPPORTED;
    return IC_ERR_FORMAT;
}

void ic_kv_free(struct ic_kv *kv, size_t n)
{
    if (!kv)
        return;
    for (size_t i = 0; i < n; i++) {
        ic_free(kv[i].key);
        ic_free(kv[i].value);
    }
    ic_free(kv);
}

struct st_entry {
    const char *name; /* borrowed from the JSON */
    enum ic_dtype dtype;
    int ndim;
    int64_t shape[IC_TENSOR_MAX_DIMS];
    uint64_t begin, end;
};

static int cmp_entry_off(const void *a, const void *b)
{
    const struct st_entry *x = *(const struct st_entry *const *)a;
    const struct st_entry *y = *(const struct st_entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Reads a non-negative JSON integer. */
static int json_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static int parse_entry(const char *name, const char *key, json_t *v, uint64_t buf_len,
                       struct st_entry *e, struct ic_err *err)
{
    if (!json_is_object(v))
        return ic_errf(err, IC_ERR_FORMAT, "%s: tensor \"%s\": header entry is not an object",
                       name, key);
    json_t *jd = json_object_get(v, "dtype");
    json_t *js = json_object_get(v, "shape");
    json_t *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd))
        return ic_errf(err, IC_ERR_FORMAT, "%s: tensor \"%s\": missing or non-string \"dtype\"",
                       name, key);
    if (!json_is_array(js))
        return ic_errf(err, IC_ERR_FORMAT, "%s: tensor \"%s\": missing or non-array \"shape\"",
                       name, key);
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return ic_errf(err, IC_ERR_FORMAT,
                       "%s: tensor \"%s\": \"data_offsets\" must be an array [begin, end]", name,
                       key);
    e->name = key;
    int rc = parse_dtype(json_string_value(jd), &e->dtype);
    if (rc == IC_ERR_UNSUPPORTED)
        return ic_errf(err, rc, "%s: tensor \"%s\": dtype %s is not supported", name, key,
                       json_string_value(jd));
    if (rc)
        return ic_errf(err, rc, "%s: tensor \"%s\": unknown dtype \"%s\"", name, key,
                       json_string_value(jd));
    size_t nd = json_array_size(js);
    if (nd > IC_TENSOR_MAX_DIMS)
        return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: tensor \"%s\": %zu dimensions (at most %d)",
                       name, key, nd, IC_TENSOR_MAX_DIMS);
    e->ndim = (int)nd;
    /* prod(shape) * size, overflow-checked; nothing is allocated from it
     * (the data is copied only once it matches the offsets, which are
     * bounded by the file size). */
    uint64_t bytes = ic_dtype_size(e->dtype);
    int zero = 0, overflow = 0;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (!json_u64(json_array_get(js, i), &d))
            return ic_errf(err, IC_ERR_FORMAT,
                           "%s: tensor \"%s\": shape[%zu] is not a non-negative integer", name,
                           key, i);
        if (d > (uint64_t)INT64_MAX / 2)
            return ic_errf(err, IC_ERR_RANGE, "%s: tensor \"%s\": shape[%zu] = %llu is absurd",
                           name, key, i, (unsigned long long)d);
        e->shape[i] = (int64_t)d;
        if (d == 0)
            zero = 1;
        else if (bytes > UINT64_MAX / d)
            overflow = 1;
        else
            bytes *= d;
    }
    if (overflow && !zero)
        return ic_errf(err, IC_ERR_RANGE, "%s: tensor \"%s\": shape needs more bytes than the file holds",
                       name, key);
    if (zero)
        bytes = 0;
    if (!json_u64(json_array_get(jo, 0), &e->begin) || !json_u64(json_array_get(jo, 1), &e->end))
        return ic_errf(err, IC_ERR_FORMAT,
                       "%s: tensor \"%s\": data_offsets are not non-negative integers", name, key);
    if (e->end < e->begin)
        return ic_errf(err, IC_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] end before begin",
                       name, key, (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > buf_len)
        return ic_errf(err, IC_ERR_FORMAT,
                       "%s: tensor \"%s\": data_offsets [%llu, %llu] out of range (data buffer is "
                       "%llu bytes)",
                       name, key, (unsigned long long)e->begin, (unsigned long long)e->end,
                       (unsigned long long)buf_len);
    if (bytes != e->end - e->begin)
        return ic_errf(err, IC_ERR_FORMAT,
                       "%s: tensor \"%s\": shape and dtype %s need %llu bytes but data_offsets "
                       "span %llu",
                       name, key, ic_dtype_name(e->dtype), (unsigned long long)bytes,
                       (unsigned long long)(e->end - e->begin));
    return IC_OK;
}

static int load_mem(const void *data, size_t len, const char *name, struct ic_tensors *out,
                    struct ic_kv **meta, size_t *n_meta, int copy, struct ic_err *err)
{
    const uint8_t *p = data;
    json_t *root = NULL;
    struct st_entry *ents = NULL;
    struct st_entry **order = NULL;
    struct ic_kv *kv = NULL;
    size_t nkv = 0, n = 0;
    int rc = IC_OK;
    if (!name)
        name = "<memory>";
    if (meta)
        *meta = NULL;
    if (n_meta)
        *n_meta = 0;

    if (len < 8)
        return ic_errf(err, IC_ERR_FORMAT, "%s: %zu bytes, too small for a safetensors header",
                       name, len);
    uint64_t hlen = ic__rd64(p);
    if (hlen > IC_SAFETENSORS_MAX_HEADER)
        return ic_errf(err, IC_ERR_RANGE, "%s: header length %llu is over the limit of %zu",
                       name, (unsigned long long)hlen, IC_SAFETENSORS_MAX_HEADER);
    if (hlen > len - 8)
        return ic_errf(err, IC_ERR_FORMAT,
                       "%s: header length %llu goes past the end of the file (%zu bytes)", name,
                       (unsigned long long)hlen, len);
    if (hlen < 2)
        return ic_errf(err, IC_ERR_FORMAT, "%s: header length %llu is too small", name,
                       (unsigned long long)hlen);
    const char *hdr = (const char *)p + 8;
    size_t bad;
    if (!ic_utf8_valid(hdr, (size_t)hlen, &bad))
        return ic_errf(err, IC_ERR_FORMAT, "%s: header is not valid UTF-8 (byte %zu)", name,
                       bad + 8);
    if (hdr[0] != '{')
        return ic_errf(err, IC_ERR_FORMAT, "%s: header does not start with '{'", name);
    json_error_t jerr;
    root = json_loadb(hdr, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (strstr(jerr.text, "duplicate"))
            return ic_errf(err, IC_ERR_FORMAT, "%s: header: duplicate tensor name (%s)", name,
                           jerr.text);
        return ic_errf(err, IC_ERR_FORMAT, "%s: header is not valid JSON: %s (column %d)", name,
                       jerr.text, jerr.column);
    }
    if (!json_is_object(root)) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: header is not a JSON object", name);
        goto out;
    }
    size_t count = json_object_size(root);
    if (count > IC_CKPT_MAX_TENSORS + 1) {
        rc = ic_errf(err, IC_ERR_RANGE, "%s: %zu tensors, over the limit of %d", name, count,
                     IC_CKPT_MAX_TENSORS);
        goto out;
    }
    uint64_t buf_len = len - 8 - hlen;
    ents = ic_xcalloc(count ? count : 1, sizeof *ents);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                rc = ic_errf(err, IC_ERR_FORMAT, "%s: \"__metadata__\" is not an object", name);
                goto out;
            }
            kv = ic_xcalloc(json_object_size(v) + 1, sizeof *kv);
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv)) {
                    rc = ic_errf(err, IC_ERR_FORMAT,
                                 "%s: __metadata__ value for \"%s\" is not a string", name, mk);
                    goto out;
                }
                kv[nkv].key = ic_xstrdup(mk);
                kv[nkv].value = ic_xstrdup(json_string_value(mv));
                nkv++;
            }
            continue;
        }
        rc = parse_entry(name, key, v, buf_len, &ents[n], err);
        if (rc)
            goto out;
        n++;
    }
    /* The tensors must tile the buffer: sorted by offsets, each begins where
     * the previous ended, the first at 0 and the last at the end. */
    order = ic_xcalloc(n ? n : 1, sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = &ents[i];
    qsort(order, n, sizeof *order, cmp_entry_off);
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (order[i]->begin < pos) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: tensor \"%s\" overlaps tensor \"%s\" (offset %llu)",
                         name, order[i]->name, order[i - 1]->name,
                         (unsigned long long)order[i]->begin);
            goto out;
        }
        if (order[i]->begin > pos) {
            rc = ic_errf(err, IC_ERR_FORMAT,
                         "%s: hole in the data buffer before tensor \"%s\" (bytes %llu..%llu unused)",
                         name, order[i]->name, (unsigned long long)pos,
                         (unsigned long long)order[i]->begin);
            goto out;
        }
        pos = order[i]->end;
    }
    if (pos != buf_len) {
        rc = ic_errf(err, IC_ERR_FORMAT,
                     "%s: %llu trailing bytes after the last tensor (data buffer is %llu bytes, "
                     "tensors end at %llu)",
                     name, (unsigned long long)(buf_len - pos), (unsigned long long)buf_len,
                     (unsigned long long)pos);
        goto out;
    }
    /* Valid: copy out, in header (file) order. */
    const uint8_t *buf = p + 8 + hlen;
    for (size_t i = 0; i < n; i++) {
        struct st_entry *e = &ents[i];
        if (!copy) {
            struct ic_tensor *t =
                ic_tensors_add(out, e->name, e->dtype, e->ndim, e->shape, buf + e->begin, 0);
            t->name = ic_xstrdup(e->name);
            t->owned = 2;
            continue;
        }
        struct ic_tensor *t =
            ic_tensors_add(out, e->name, e->dtype, e->ndim, e->shape, NULL, 1);
        if (t->nbytes)
            memcpy(t->data, buf + e->begin, t->nbytes);
    }
    if (meta) {
        *meta = kv;
        kv = NULL;
    }
    if (n_meta)
        *n_meta = nkv;
out:
    if (rc) {
        ic_tensors_free(out);
        ic_tensors_init(out);
    }
    ic_kv_free(kv, nkv);
    ic_free(order);
    ic_free(ents);
    json_decref(root);
    return rc;
}

int ic_safetensors_load_mem(const void *data, size_t len, const char *name, struct ic_tensors *out,
                            struct ic_kv **meta, size_t *n_meta, struct ic_err *err)
{
    return load_mem(data, len, name, out, meta, n_meta, 1, err);
}

int ic_safetensors_view(const void *data, size_t len, const char *name, struct ic_tensors *out,
                        struct ic_err *err)
{
    return load_mem(data, len, name, out, NULL, NULL, 0, err);
}

int ic_safetensors_load(const char *path, struct ic_tensors *out, struct ic_kv **meta,
                        size_t *n_meta, struct ic_err *err)
{
    struct ic__map m;
    int rc = ic__map_file(path, IC_CKPT_MAX_FILE, &m, err);
    if (rc)
        return rc;
    rc = ic_safetensors_load_mem(m.data, m.len, path, out, meta, n_meta, err);
    ic__map_free(&m);
    return rc;
}

/* --- writer -------------------------------------------------------------- */

static int cmp_write(const void *a, const void *b)
{
    const struct ic_tensor *x = *(const struct ic_tensor *const *)a;
    const struct ic_tensor *y = *(const struct ic_tensor *const *)b;
    size_t ax = ic_dtype_size(x->dtype), ay = ic_dtype_size(y->dtype);
    if (ax != ay)
        return ax > ay ? -1 : 1;
    return strcmp(x->name, y->name);
}

int ic_safetensors_serialize(const struct ic_tensors *ts, const struct ic_kv *meta, size_t n_meta,
                             struct ic_buf *out, struct ic_err *err)
{
    int rc = IC_OK;
    const struct ic_tensor **order = ic_xcalloc(ts->n ? ts->n : 1, sizeof *order);
    json_t *root = json_object();
    json_t *md = json_object();
    char *hdr = NULL;
    json_object_set_new(md, "format", json_string("pt"));
    for (size_t i = 0; i < n_meta; i++) {
        if (strcmp(meta[i].key, "format") == 0)
            continue;
        json_object_set_new(md, meta[i].key, json_string(meta[i].value));
    }
    json_object_set_new(root, "__metadata__", md);
    for (size_t i = 0; i < ts->n; i++) {
        const struct ic_tensor *t = &ts->v[i];
        if ((size_t)ic_tensor_numel(t) * ic_dtype_size(t->dtype) != t->nbytes) {
            rc = ic_errf(err, IC_ERR_INVAL, "safetensors: tensor \"%s\": nbytes does not match shape",
                         t->name);
            goto out;
        }
        order[i] = t;
    }
    qsort(order, ts->n, sizeof *order, cmp_write);
    uint64_t off = 0;
    for (size_t i = 0; i < ts->n; i++) {
        const struct ic_tensor *t = order[i];
        if (strcmp(t->name, "__metadata__") == 0 || json_object_get(root, t->name)) {
            rc = ic_errf(err, IC_ERR_INVAL, "safetensors: duplicate or reserved tensor name \"%s\"",
                         t->name);
            goto out;
        }
        json_t *e = json_object();
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(e, "dtype", json_string(ic_dtype_name(t->dtype)));
        json_object_set_new(e, "shape", shape);
        json_t *offs = json_array();
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + t->nbytes)));
        json_object_set_new(e, "data_offsets", offs);
        if (json_object_set_new(root, t->name, e) != 0) {
            rc = ic_errf(err, IC_ERR_INVAL, "safetensors: invalid tensor name \"%s\"", t->name);
            goto out;
        }
        off += t->nbytes;
    }
    size_t hl = json_dumpb(root, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (hl == 0) {
        rc = ic_errf(err, IC_ERR_INVAL, "safetensors: cannot serialise the header");
        goto out;
    }
    hdr = ic_xmalloc(hl);
    json_dumpb(root, hdr, hl, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t padded = (hl + 7) / 8 * 8;
    uint8_t lenbuf[8];
    ic__wr64(lenbuf, padded);
    ic_buf_reset(out);
    if (ic_buf_append(out, lenbuf, 8) || ic_buf_append(out, hdr, hl) ||
        ic_buf_append(out, "        ", padded - hl)) {
        rc = ic_errf(err, IC_ERR_RANGE, "safetensors: output too large");
        goto out;
    }
    for (size_t i = 0; i < ts->n; i++) {
        if (order[i]->nbytes && ic_buf_append(out, order[i]->data, order[i]->nbytes)) {
            rc = ic_errf(err, IC_ERR_RANGE, "safetensors: output too large");
            goto out;
        }
    }
out:
    ic_free(hdr);
    json_decref(root);
    ic_free(order);
    return rc;
}

int ic_safetensors_save(const char *path, const struct ic_tensors *ts, const struct ic_kv *meta,
                        size_t n_meta, struct ic_err *err)
{
    struct ic_buf b;
    ic_buf_init(&b, 0);
    int rc = ic_safetensors_serialize(ts, meta, n_meta, &b, err);
    if (rc == IC_OK)
        rc = ic_write_file_atomic(path, b.data, b.len, err); /* its message names path */
    else if (err)
        ic_err_prefix(err, "%s", path);
    ic_buf_free(&b);
    return rc;
}
