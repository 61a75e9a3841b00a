/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ckpt.h - checkpoint formats: safetensors, PyTorch's torch.save zip archive
 * (zip + the pickle subset a state_dict uses), and Hugging Face config.json.
 *
 * Readers validate everything against the input size before allocating and
 * refuse corrupt input with a status and a message that names the file and
 * the problem (docs/formats.md lists the limits). Writers write atomically
 * (temporary name + rename). All functions are reentrant (no global state).
 */
#ifndef IC_CKPT_H
#define IC_CKPT_H

#include "intent/bert.h"
#include "intent/ic.h"
#include "intent/tensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caps on untrusted sizes (checked before any allocation). */
#define IC_CKPT_MAX_FILE ((size_t)8 << 30)          /* 8 GiB checkpoint file */
#define IC_SAFETENSORS_MAX_HEADER ((size_t)100000000) /* safetensors header, as the reference */
#define IC_CKPT_MAX_TENSORS 100000

/* String key/value pairs (safetensors __metadata__). Owned by whoever built it. */
struct ic_kv {
    char *key;
    char *value;
};

/* ---------------------------------------------------------------------------
 * safetensors */

/* Reads a .safetensors file into out (which must be initialised and is
 * appended to; on failure it is left empty). Tensors are copied (owned).
 * Supported dtypes: F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL; other valid
 * safetensors dtypes give IC_ERR_UNSUPPORTED. meta/n_meta (optional, may be
 * NULL) receive the __metadata__ pairs; free with ic_kv_free. */
int ic_safetensors_load(const char *path, struct ic_tensors *out, struct ic_kv **meta,
                        size_t *n_meta, struct ic_err *err) IC_WUR;
/* Same from memory; data is only read (borrowed), name is used in messages. */
int ic_safetensors_load_mem(const void *data, size_t len, const char *name, struct ic_tensors *out,
                            struct ic_kv **meta, size_t *n_meta, struct ic_err *err) IC_WUR;
/* Same checks, without copying: every tensor's data points into data, which
 * the caller keeps alive (e.g. a mapped file) until out is freed. Used to load
 * a model with one copy of the weights instead of two. */
int ic_safetensors_view(const void *data, size_t len, const char *name, struct ic_tensors *out,
                        struct ic_err *err) IC_WUR;
/* Serialises ts as the reference writer does: tensors sorted by dtype
 * alignment (descending) then name, packed from offset 0, header with
 * "__metadata__" first ({"format": "pt"} plus meta), padded with spaces to a
 * multiple of 8. Duplicate names are IC_ERR_INVAL. out receives the bytes. */
int ic_safetensors_serialize(const struct ic_tensors *ts, const struct ic_kv *meta, size_t n_meta,
                             struct ic_buf *out, struct ic_err *err) IC_WUR;
/* ic_safetensors_serialize then ic_write_file_atomic. */
int ic_safetensors_save(const char *path, const struct ic_tensors *ts, const struct ic_kv *meta,
                        size_t n_meta, struct ic_err *err) IC_WUR;
void ic_kv_free(struct ic_kv *kv, size_t n);

/* ---------------------------------------------------------------------------
 * Python objects, the small model that torch.save archives carry.
 * Every object lives in a struct ic_py_arena and is freed with it (objects
 * may be shared: the pickle memo can reference one object twice). */

enum ic_py_type {
    IC_PY_NONE,
    IC_PY_BOOL,
    IC_PY_INT,
    IC_PY_FLOAT,
    IC_PY_STR,
    IC_PY_LIST,
    IC_PY_TUPLE,
    IC_PY_DICT,   /* dict or collections.OrderedDict (ordered = 1) */
    IC_PY_TENSOR,
    IC_PY_OTHER   /* reader only: a value we do not model (e.g. a storage, torch.Size) */
};

struct ic_py {
    enum ic_py_type type;
    int ordered;           /* dict: pickled as collections.OrderedDict */
    int64_t i;             /* BOOL, INT */
    double f;              /* FLOAT */
    char *s;               /* STR (UTF-8, NUL-terminated; may contain no NUL) */
    size_t slen;
    struct ic_py **items;  /* LIST/TUPLE: n items; DICT: n pairs, items[2k] key, items[2k+1] value */
    size_t n, cap;
    struct ic_tensor t;    /* TENSOR: reader owns data; writer borrows it */
};

struct ic_py_arena {
    struct ic_py **objs;
    size_t n, cap;
};

void ic_py_arena_init(struct ic_py_arena *a);
void ic_py_arena_free(struct ic_py_arena *a);
/* Constructors (abort only on OOM). Strings are copied. */
struct ic_py *ic_py_none(struct ic_py_arena *a);
struct ic_py *ic_py_bool(struct ic_py_arena *a, int v);
struct ic_py *ic_py_int(struct ic_py_arena *a, int64_t v);
struct ic_py *ic_py_float(struct ic_py_arena *a, double v);
struct ic_py *ic_py_str(struct ic_py_arena *a, const char *s);
struct ic_py *ic_py_list(struct ic_py_arena *a);
struct ic_py *ic_py_dict(struct ic_py_arena *a, int ordered);
/* A tensor value that BORROWS t's name-less data (t->data, shape, dtype). */
struct ic_py *ic_py_tensor(struct ic_py_arena *a, const struct ic_tensor *t);
void ic_py_append(struct ic_py *list, struct ic_py *item);
/* Appends key -> value to a dict (no duplicate check: the writer's job). */
void ic_py_set(struct ic_py *dict, struct ic_py *key, struct ic_py *value);
/* Shorthand: string key. */
void ic_py_set_str(struct ic_py_arena *a, struct ic_py *dict, const char *key, struct ic_py *value);
/* Looks up a string key in a dict; NULL if absent or not a dict. */
struct ic_py *ic_py_get(const struct ic_py *dict, const char *key);

/* ---------------------------------------------------------------------------
 * PyTorch checkpoints: torch.save's zip format (torch >= 1.6; stored or
 * deflated records, zip64) and the legacy pre-1.6 format (read only). */

/* Loads any pickled object a weights-only load would accept, plus floats:
 * tensors become IC_PY_TENSOR objects owning contiguous copies of their data
 * (views and strides are resolved). *root points into arena. */
int ic_torch_load_obj(const char *path, struct ic_py_arena *arena, struct ic_py **root,
                      struct ic_err *err) IC_WUR;
int ic_torch_load_obj_mem(const void *data, size_t len, const char *name,
                          struct ic_py_arena *arena, struct ic_py **root,
                          struct ic_err *err) IC_WUR;
/* Loads a state_dict: the root dict if its values are tensors, else the
 * tensor dict under "state_dict" / "model_state_dict" / "model". Tensors are
 * appended to out (owned), named by their keys. */
int ic_torch_load(const char *path, struct ic_tensors *out, struct ic_err *err) IC_WUR;
int ic_torch_load_mem(const void *data, size_t len, const char *name, struct ic_tensors *out,
                      struct ic_err *err) IC_WUR;

/* Serialises root as a torch.save zip archive: <folder>/data.pkl (pickle
 * protocol 2), <folder>/data/<k> (one storage per tensor, 64-byte aligned),
 * <folder>/version ("3\n"), <folder>/byteorder ("little"). folder NULL means
 * "archive". Floats are Python floats (BINFLOAT). Every torch >= 1.6 opens
 * the archive with plain torch.load; torch.load(path, weights_only=True)
 * opens it on torch >= 2.0 (1.13's weights-only unpickler has no BINFLOAT,
 * so there it needs a root without floats). */
int ic_torch_serialize(const struct ic_py *root, const char *folder, struct ic_buf *out,
                       struct ic_err *err) IC_WUR;
int ic_torch_save(const char *path, const struct ic_py *root, struct ic_err *err) IC_WUR;
/* Saves a flat state_dict (OrderedDict name -> tensor), like pytorch_model.bin. */
int ic_torch_save_tensors(const char *path, const struct ic_tensors *ts, struct ic_err *err) IC_WUR;

/* ---------------------------------------------------------------------------
 * Hugging Face config.json (BERT, RoBERTa/XLM-R/CamemBERT, DistilBERT, ELECTRA) */

/* Extra config.json content beyond the BERT shape. */
struct ic_hfconfig {
    struct ic_bert_config cfg;
    char **id2label;       /* cfg.num_labels labels, owned ("LABEL_<i>" when absent) */
    int has_labels;        /* 1: id2label was present in the file */
    char *model_type;      /* as written: "bert", "xlm-roberta", ... (NULL when absent) */
    char *problem_type;    /* NULL when absent or null */
    /* our provenance keys (intent_*), absent in foreign configs */
    char *base_model;      /* intent_base_model, may be NULL */
    int from_scratch;      /* intent_from_scratch */
    int max_length;        /* intent_max_length, 0 when absent */
    char *intent_calib;    /* {"intent_oos": .., "intent_temperature": ..}: those keys as
                            * JSON text (include/intent/calib.h), NULL when absent */
};

void ic_hfconfig_init(struct ic_hfconfig *c);
void ic_hfconfig_free(struct ic_hfconfig *c);
/* Parses config.json text; name is used in messages ("dir/config.json").
 * model_type selects the architecture (cfg.arch) and its keys; missing
 * fields take that config class's defaults; wrong types or nonsense values
 * (negative sizes, hidden_size % heads != 0, unknown hidden_act, id2label
 * keys out of range) are IC_ERR_FORMAT naming the file and the field; an
 * unsupported model_type is IC_ERR_UNSUPPORTED listing the supported ones. */
int ic_hfconfig_parse(const char *text, size_t len, const char *name, struct ic_hfconfig *c,
                      struct ic_err *err) IC_WUR;
int ic_hfconfig_load(const char *path, struct ic_hfconfig *c, struct ic_err *err) IC_WUR;
/* Serialises as transformers' save_pretrained does (architectures and
 * model_type of cfg.arch, the architecture's own keys, id2label/label2id
 * with string keys, problem_type, torch_dtype)
 * plus our intent_* keys; no transformers_version (no transformers release
 * wrote it: intent_version names the writer). Caller frees *json with ic_free. */
int ic_hfconfig_to_json(const struct ic_hfconfig *c, char **json, struct ic_err *err) IC_WUR;

#ifdef __cplusplus
}
#endif
#endif
