/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io.h - internals shared by the checkpoint readers and writers in src/io/:
 * read-only file mapping, little-endian helpers, CRC-32, the zip container
 * (reader and writer) and the pickle VM / emitter used by torch.c.
 */
#ifndef IC_IO_INTERNAL_H
#define IC_IO_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "intent/ckpt.h"

/* --- whole-file read-only mapping (mmap, or a read for non-regular files) */
struct ic__map {
    const uint8_t *data;
    size_t len;
    int mapped; /* 1: munmap, 0: ic_free */
};
int ic__map_file(const char *path, size_t max_size, struct ic__map *m, struct ic_err *err);
void ic__map_free(struct ic__map *m);

static inline uint16_t ic__rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t ic__rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t ic__rd64(const uint8_t *p)
{
    return (uint64_t)ic__rd32(p) | ((uint64_t)ic__rd32(p + 4) << 32);
}
static inline void ic__wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void ic__wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ic__wr64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t ic__crc32(uint32_t crc, const void *data, size_t n);

/* --- zip reader: central directory, stored and deflated entries, zip64 */
#define IC_ZIP_MAX_ENTRIES 1000000
struct ic__zip_entry {
    char *name;
    uint64_t data_off;  /* of the (possibly compressed) data in the file */
    uint64_t csize;     /* compressed size */
    uint64_t size;      /* uncompressed size */
    uint32_t crc;
    int method;         /* 0 stored, 8 deflate */
};
struct ic__zip {
    const uint8_t *data;
    size_t len;
    const char *name;   /* file name for messages (borrowed) */
    struct ic__zip_entry *e;
    size_t n;
    int sorted; /* 1: e is sorted by name (ic__zip_find bisects) */
};
/* Parses the directory of a zip held in memory (borrowed). Every offset and
 * size is checked against len. */
int ic__zip_open(struct ic__zip *z, const void *data, size_t len, const char *name,
                 struct ic_err *err);
const struct ic__zip_entry *ic__zip_find(const struct ic__zip *z, const char *name);
/* Gives the entry's bytes: *out borrows the mapping for stored entries
 * (*owned = NULL) or is a fresh buffer for deflated ones (*owned = it, free
 * with ic_free). Checks the CRC. */
int ic__zip_get(const struct ic__zip *z, const struct ic__zip_entry *e, const uint8_t **out,
                uint8_t **owned, struct ic_err *err);
void ic__zip_close(struct ic__zip *z);

/* --- zip writer: stored entries, data 64-byte aligned via the extra field */
struct ic__zipw {
    struct ic_buf out;
    struct ic_buf cd;
    size_t n;
};
void ic__zipw_init(struct ic__zipw *w);
int ic__zipw_add(struct ic__zipw *w, const char *name, const void *data, size_t len,
                 struct ic_err *err);
/* Appends the central directory and end record; w->out holds the archive. */
int ic__zipw_finish(struct ic__zipw *w, struct ic_err *err);
void ic__zipw_free(struct ic__zipw *w);

/* --- inflate (RFC 1951), for deflated zip entries */
int ic__inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len, size_t *produced);

#endif

/* --- pickle (pickle.c) ---------------------------------------------------
 * IC_PY_OTHER objects made by the VM carry a tag in ->i: */
enum ic__py_tag {
    IC__TAG_NONE,
    IC__TAG_ORDEREDDICT,   /* collections.OrderedDict (the class) */
    IC__TAG_REBUILD_V2,    /* torch._utils._rebuild_tensor_v2 */
    IC__TAG_REBUILD_V1,    /* torch._utils._rebuild_tensor */
    IC__TAG_REBUILD_PARAM, /* torch._utils._rebuild_parameter(_with_state) */
    IC__TAG_STORAGE_TYPE,  /* torch.<X>Storage class; t.dtype */
    IC__TAG_STORAGE        /* a loaded storage: t.data (borrowed or owned), t.shape[0] = numel */
};

/* Persistent-id loader: pid is the tuple ('storage', type, key, location,
 * numel, ...); returns an IC__TAG_STORAGE object in *out. */
typedef int (*ic__persid_fn)(void *ud, const struct ic_py *pid, struct ic_py **out,
                             struct ic_err *err);

/* Runs the pickle VM over data[len] (borrowed). name is used in messages.
 * Allowed globals: collections.OrderedDict, torch._utils rebuild functions,
 * torch.*Storage classes; anything else is IC_ERR_FORMAT "disallowed global".
 * Tensor memory is capped by tensor_budget bytes in total. Stops at the
 * first STOP; *consumed (if not NULL) gets the bytes read. */
int ic__unpickle(const uint8_t *data, size_t len, const char *name, struct ic_py_arena *a,
                 ic__persid_fn persid, void *ud, size_t tensor_budget, struct ic_py **root,
                 size_t *consumed, struct ic_err *err);
/* A storage whose t.data is NULL is a placeholder (legacy format, first
 * pass): tensors rebuilt from it are checked but get no data. */

/* Pickles root (protocol 2, only opcodes torch 2.x's weights-only
 * unpickler knows: torch 1.13's set plus BINFLOAT). Every tensor met is
 * appended (borrowed) to storages; its storage key is its index there. */
int ic__pickle_dump(const struct ic_py *root, struct ic_buf *out, struct ic_tensors *storages,
                    struct ic_err *err);
struct ic_py *ic__py_new(struct ic_py_arena *a, enum ic_py_type type);
